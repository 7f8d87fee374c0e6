/* test_runner_selftest.c -- proves that the test runner (csp_test.h) works, without
 * csp.h: checks that pass, checks that fail (in a second run of this binary, where
 * the env-gated tests exist), child processes that exit, crash, hang or talk a lot. */
#include "csp_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add(int a, int b) { return a + b; }

/* The last line of a child's output, without its newline, in `buf`. */
static const char *last_line(const csp_test_child *r, char *buf, size_t n) {
    size_t end = r->output_len, start;
    while (end > 0 && r->output[end - 1] == '\n') end--;
    start = end;
    while (start > 0 && r->output[start - 1] != '\n') start--;
    if (end - start >= n) start = end - (n - 1);
    memcpy(buf, r->output + start, end - start);
    buf[end - start] = '\0';
    return buf;
}

/* ---- checks that pass ------------------------------------------------------- */

TEST(passing_checks) {
    int a = 3, i = 0, r;
    unsigned long long big = 18446744073709551615ull;
    char buf[8] = "abc";
    const char *null_str = NULL;

    EXPECT(a == 3);
    EXPECT(a == 3, "a is %d", a);
    EXPECT_EQ(a, 3);
    EXPECT_EQ(a, 3, "with a message: %s", "fine");
    EXPECT_NE(a, 4);
    EXPECT_LT(a, 4);
    EXPECT_LE(a, 3);
    EXPECT_GT(a, 2);
    EXPECT_GE(a, 3, "%d >= %d", a, 3);
    EXPECT_EQ(-1, (long)-1);
    EXPECT_LT(-5, 2, "signed comparison");
    EXPECT_EQ((size_t)5, sizeof "abcd");
    EXPECT_EQ_U(big, UINT64_MAX);
    EXPECT_GT_U(big, 1u, "above INT64_MAX");
    EXPECT_NE_U(big, 0u);
    EXPECT_LT_U(1u, big);
    EXPECT_LE_U(big, big);
    EXPECT_GE_U(big, big);
    EXPECT_STREQ("abc", "abc");
    EXPECT_STREQ(buf, "abc", "buf holds %s", buf);
    EXPECT_STREQ(null_str, NULL);
    EXPECT_MEM_EQ(buf, "abc", 4);
    EXPECT_MEM_EQ(buf, "abc", 3, "the first %d bytes", 3);
    EXPECT_MEM_EQ(NULL, buf, 0, "zero bytes are always equal");
    REQUIRE(a == 3);
    REQUIRE(a == 3, "a is %d", a);
    REQUIRE_EQ(a, 3);
    REQUIRE_NE(a, 4, "with a message");
    REQUIRE_LT(a, 4);
    REQUIRE_LE(a, 3);
    REQUIRE_GT(a, 2);
    REQUIRE_GE(a, 3);

    /* Checks are expressions worth 1 when they hold. */
    r = EXPECT_EQ(1, 1);
    EXPECT_EQ(r, 1);
    EXPECT(EXPECT(1) == 1);
    /* Operands are evaluated exactly once. */
    EXPECT_EQ(i++, 0);
    EXPECT_EQ(i, 1);
    /* Commas inside calls and a message with many arguments. */
    EXPECT_EQ(add(1, 2), 3, "%d%d%d%d%d%d%d%d%d%d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    if (a == 3) EXPECT(a); else EXPECT(0, "unreachable");

    EXPECT_EQ(T_COUNT(100, 10), csp_test_short() ? 10 : 100);
    EXPECT_LE(csp_test_now_ms(), csp_test_now_ms());
}

struct thread_arg { int n; };
static void *checking_thread(void *p) {
    struct thread_arg *arg = (struct thread_arg *)p;
    int i;
    for (i = 0; i < 1000; i++) EXPECT_EQ(arg->n, 7);
    return NULL;
}

TEST(checks_from_threads) {
    pthread_t t[4];
    struct thread_arg arg = { 7 };
    int i;
    for (i = 0; i < 4; i++) REQUIRE_EQ(pthread_create(&t[i], NULL, checking_thread, &arg), 0);
    for (i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

/* ---- children ----------------------------------------------------------------- */

CHILD(exit_three) {
    printf("hello from the child\n");
    fflush(stdout);
    fprintf(stderr, "and its stderr\n");
    exit(3);
}

TEST(child_exit_code_and_output) {
    csp_test_child r = RUN_CHILD(exit_three, 30000);
    EXPECT_CHILD_EXIT(r, 3);
    EXPECT(r.exited && !r.signaled && !r.timed_out && !r.spawn_error);
    EXPECT_STREQ(r.name, "exit_three");
    EXPECT_CHILD_OUTPUT_HAS(r, "hello from the child\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "and its stderr");
    EXPECT_CHILD_OUTPUT_LACKS(r, "goodbye");
    EXPECT_EQ(r.output_len, strlen(r.output));
    csp_test_child_free(&r);
    EXPECT(r.output == NULL);
}

CHILD(returns) { printf("returning\n"); }

TEST(child_returning_exits_zero) {
    csp_test_child r = RUN_CHILD(returns, 30000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_STREQ(r.output, "returning\n");
    csp_test_child_free(&r);
}

CHILD(segv) {
    /* Sanitizers catch SIGSEGV and exit(1): put back the default action. */
    signal(SIGSEGV, SIG_DFL);
    printf("about to crash\n");
    fflush(stdout);
    raise(SIGSEGV);
    printf("still alive\n");
}

TEST(child_killed_by_signal) {
    csp_test_child r = RUN_CHILD(segv, 30000);
    EXPECT_CHILD_SIGNALED(r, SIGSEGV);
    EXPECT_CHILD_SIGNALED(r, 0);
    EXPECT(r.signaled && !r.exited && !r.timed_out);
    EXPECT_EQ(r.signo, SIGSEGV);
    EXPECT_CHILD_OUTPUT_HAS(r, "about to crash");
    EXPECT_CHILD_OUTPUT_LACKS(r, "still alive");
    csp_test_child_free(&r);
}

CHILD(sleeper) {
    printf("going to sleep\n");
    fflush(stdout);
    sleep(60);
    printf("woke up\n");
}

TEST(child_timeout) {
    int64_t t0 = csp_test_now_ms();
    csp_test_child r = RUN_CHILD(sleeper, 500);
    int64_t took = csp_test_now_ms() - t0;
    EXPECT(r.timed_out);
    EXPECT(r.signaled && r.signo == SIGKILL, "a timed-out child is killed with SIGKILL");
    EXPECT(!r.exited);
    EXPECT_GE(took, 500);
    EXPECT_LT(took, 20000, "the timeout is enforced");
    EXPECT_GE(r.elapsed_ms, 500);
    EXPECT_CHILD_OUTPUT_HAS(r, "going to sleep");
    EXPECT_CHILD_OUTPUT_LACKS(r, "woke up");
    csp_test_child_free(&r);
}

/* More than 64 KiB, most of it through stdout, the end through stderr. */
enum { BIG_LINES = 6000 };
static size_t big_expected(char *buf) {
    size_t n = 0;
    int i;
    for (i = 0; i < BIG_LINES; i++) {
        int k = snprintf(buf ? buf + n : NULL, buf ? 64 : 0, "line %06d abcdefghijklmnopqrstuvwxyz\n", i);
        n += (size_t)k;
    }
    if (buf) memcpy(buf + n, "END-OF-OUTPUT\n", 15);
    return n + 14;
}

CHILD(big_output) {
    int i;
    for (i = 0; i < BIG_LINES; i++) printf("line %06d abcdefghijklmnopqrstuvwxyz\n", i);
    fflush(stdout);
    fputs("END-OF-OUTPUT\n", stderr);
}

TEST(child_big_output) {
    size_t n = big_expected(NULL);
    char *want = (char *)malloc(n + 64);
    csp_test_child r = RUN_CHILD(big_output, 60000);
    REQUIRE(want != NULL);
    big_expected(want);
    EXPECT_GT(n, 65536, "the test must produce more than 64 KiB");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_EQ(r.output_len, n);
    EXPECT(!r.truncated);
    if (r.output_len == n) EXPECT_MEM_EQ(r.output, want, n);
    EXPECT_EQ(r.output[r.output_len], 0, "the output is NUL-terminated");
    csp_test_child_free(&r);
    free(want);
}

CHILD(env_echo) {
    const char *names[] = { "CSP_SELFTEST_A", "CSP_SELFTEST_B", "CSP_SELFTEST_C",
                            "CSP_SELFTEST_D", "CSP_SELFTEST_E" };
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        printf("%s=%s\n", names[i], v ? v : "(unset)");
    }
}

TEST(child_environment) {
    csp_test_child r;
    setenv("CSP_SELFTEST_C", "from the parent", 1);
    setenv("CSP_SELFTEST_D", "inherited", 1);
    setenv("CSP_SELFTEST_E", "to be removed", 1);
    r = RUN_CHILD_ENV(env_echo, 30000, "CSP_SELFTEST_A=alpha", "CSP_SELFTEST_B=beta two",
                      "CSP_SELFTEST_C=from the child", "CSP_SELFTEST_E");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_A=alpha\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_B=beta two\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_C=from the child\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_D=inherited\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_E=(unset)\n");
    csp_test_child_free(&r);
    /* A trailing NULL of the caller's own is harmless. */
    r = RUN_CHILD_ENV(env_echo, 30000, "CSP_SELFTEST_A=again", NULL);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_A=again\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "CSP_SELFTEST_B=(unset)\n");
    csp_test_child_free(&r);
    unsetenv("CSP_SELFTEST_C");
    unsetenv("CSP_SELFTEST_D");
    unsetenv("CSP_SELFTEST_E");
}

CHILD(failing_check) { EXPECT_EQ(1, 2, "inside a child"); }

TEST(child_failed_check_exits_one) {
    csp_test_child r = RUN_CHILD(failing_check, 30000);
    EXPECT_CHILD_EXIT(r, 1);
    EXPECT_CHILD_OUTPUT_HAS(r, "[  FAILED  ] ");
    EXPECT_CHILD_OUTPUT_HAS(r, "EXPECT_EQ(1, 2): 1 vs 2: inside a child");
    csp_test_child_free(&r);
}

/* ---- failures, counted by a second run of this binary -------------------------- */

/* Registered only when env CSP_TEST_SELFTEST_FAIL is set: every check fails once. */
static void *failing_thread(void *p) {
    (void)p;
    EXPECT(0, "from a thread");
    return NULL;
}

static void deliberate_failure(void) {
    int x = 2;
    unsigned long long big = 18446744073709551615ull;
    const char *s = "abd";
    unsigned char m1[6] = { 1, 2, 3, 4, 5, 6 }, m2[6] = { 1, 2, 3, 4, 0xff, 6 };
    pthread_t t;
    EXPECT(0);
    EXPECT(x == 3, "x was %d", x);
    EXPECT_EQ(x, 3);
    EXPECT_NE(x, 2, "ne");
    EXPECT_LT(x, 1);
    EXPECT_LE(x, -7);
    EXPECT_GT(add(x, -1), 5);
    EXPECT_GE(x, 100, "ge %s", "message");
    EXPECT_EQ_U(big, 1u);
    EXPECT_STREQ(s, "abc");
    EXPECT_STREQ(s, NULL, "null");
    EXPECT_MEM_EQ(m1, m2, sizeof m1);
    if (pthread_create(&t, NULL, failing_thread, NULL) == 0) pthread_join(t, NULL);
    REQUIRE(x == 4, "stop here");
    EXPECT(0, "after REQUIRE");
}

/* Registered only when env CSP_TEST_SELFTEST_SKIP is set. */
static void deliberate_skip(void) {
    SKIP("skipped on purpose: %d", 42);
    EXPECT(0, "after SKIP");
}

__attribute__((constructor)) static void register_env_gated(void) {
    if (getenv("CSP_TEST_SELFTEST_FAIL"))
        csp_test_register_("deliberate_failure", deliberate_failure, __FILE__, __LINE__, 0);
    if (getenv("CSP_TEST_SELFTEST_SKIP"))
        csp_test_register_("deliberate_skip", deliberate_skip, __FILE__, __LINE__, 0);
}

TEST(failures_are_counted) {
    static const char *const args[] = { "deliberate_failure", NULL };
    char last[128];
    csp_test_child r = csp_test_run_self_(args, 60000, "CSP_TEST_SELFTEST_FAIL=1",
                                          "CSP_TEST_FILTER", (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 1);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "0 passed, 1 failed");
    EXPECT_CHILD_OUTPUT_HAS(r, "[ RUN      ] test_runner_selftest.deliberate_failure\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "[  FAILED  ] deliberate_failure (");
    EXPECT_CHILD_OUTPUT_HAS(r, "test_runner_selftest.c:");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT(0)\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT(x == 3): x was 2\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_EQ(x, 3): x = 2 vs 3\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_NE(x, 2): x = 2 vs 2: ne\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_LT(x, 1): x = 2 vs 1\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_LE(x, -7): x = 2 vs -7\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_GT(add(x, -1), 5): add(x, -1) = 1 vs 5\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_GE(x, 100): x = 2 vs 100: ge message\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_EQ_U(big, 1u): big = 18446744073709551615 (0xffffffffffffffff) vs 1u = 1\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_STREQ(s, \"abc\"): s = \"abd\" vs \"abc\"\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_STREQ(s, NULL): s = \"abd\" vs NULL: null\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT_MEM_EQ(m1, m2, sizeof m1): first difference at byte 4 of 6; m1[0..6] = 01 02 03 04 05 06 vs m2[0..6] = 01 02 03 04 ff 06\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": EXPECT(0): from a thread\n");
    EXPECT_CHILD_OUTPUT_HAS(r, ": REQUIRE(x == 4): stop here\n");
    EXPECT_CHILD_OUTPUT_LACKS(r, "after REQUIRE");
    EXPECT_CHILD_OUTPUT_HAS(r, "failed tests of test_runner_selftest:\n    deliberate_failure\n");
    csp_test_child_free(&r);
}

TEST(skips_are_reported) {
    static const char *const args[] = { "deliberate_skip", NULL };
    char last[128];
    csp_test_child r = csp_test_run_self_(args, 60000, "CSP_TEST_SELFTEST_SKIP=1",
                                          "CSP_TEST_SELFTEST_FAIL", "CSP_TEST_FILTER",
                                          (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "0 passed, 0 failed");
    EXPECT_CHILD_OUTPUT_HAS(r, ": skipped on purpose: 42\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "[  SKIPPED ] deliberate_skip (");
    EXPECT_CHILD_OUTPUT_HAS(r, "1 skipped\n");
    EXPECT_CHILD_OUTPUT_LACKS(r, "after SKIP");
    csp_test_child_free(&r);
}

TEST(filters_and_list) {
    static const char *const list[] = { "--list", NULL };
    static const char *const none[] = { "no_such_test_xyz", NULL };
    static const char *const glob[] = { "passing_c*", NULL };
    static const char *const full[] = { "test_runner_selftest.passing_*", NULL };
    static const char *const alts[] = { "passing_checks,child_returning", NULL };
    static const char *const noargs[] = { NULL };
    static const char *const nochild[] = { "--child", "no_such_child", NULL };
    char last[128];
    csp_test_child r;

    r = csp_test_run_self_(list, 30000, "CSP_TEST_SELFTEST_FAIL", "CSP_TEST_FILTER",
                           (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "passing_checks\nchecks_from_threads\nchild_exit_code_and_output\n");
    EXPECT_CHILD_OUTPUT_LACKS(r, "deliberate");
    csp_test_child_free(&r);

    r = csp_test_run_self_(none, 30000, (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "0 passed, 0 failed");
    csp_test_child_free(&r);

    r = csp_test_run_self_(glob, 30000, (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "1 passed, 0 failed");
    EXPECT_CHILD_OUTPUT_HAS(r, "[ RUN      ] test_runner_selftest.passing_checks\n");
    EXPECT_CHILD_OUTPUT_HAS(r, "[       OK ] passing_checks (");
    csp_test_child_free(&r);

    r = csp_test_run_self_(full, 30000, (const char *)NULL);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "1 passed, 0 failed");
    csp_test_child_free(&r);

    r = csp_test_run_self_(alts, 30000, (const char *)NULL);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "2 passed, 0 failed");
    csp_test_child_free(&r);

    r = csp_test_run_self_(noargs, 30000, "CSP_TEST_FILTER=child_returning", (const char *)NULL);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "1 passed, 0 failed");
    csp_test_child_free(&r);

    /* Exclusions: alone (every other test), and with a positive pattern. */
    r = csp_test_run_self_(noargs, 30000, "CSP_TEST_FILTER=passing_*,-passing_checks", (const char *)NULL);
    EXPECT_STREQ(last_line(&r, last, sizeof last), "0 passed, 0 failed");
    csp_test_child_free(&r);
    r = csp_test_run_self_(list, 30000, "CSP_TEST_SELFTEST_FAIL", "CSP_TEST_FILTER=-passing_checks,-child",
                           (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "checks_from_threads\n");
    EXPECT_CHILD_OUTPUT_LACKS(r, "passing_checks");
    EXPECT_CHILD_OUTPUT_LACKS(r, "child_exit_code_and_output");
    csp_test_child_free(&r);

    r = csp_test_run_self_(nochild, 30000, (const char *)NULL);
    EXPECT_CHILD_EXIT(r, 126);
    EXPECT_CHILD_OUTPUT_HAS(r, "has no CHILD(no_such_child)");
    csp_test_child_free(&r);
}
