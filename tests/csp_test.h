/* csp_test.h -- the test runner of csp.h: one header, C11 or C++17, libc and POSIX
 * only (it does not include csp.h).
 *
 * >>usage ====================================================================
 * Every tests/test_*.c is a program of its own:
 *
 *     #define CSP_IMPLEMENTATION
 *     #include "csp.h"
 *     #include "csp_test.h"           // defines main()
 *
 *     TEST(chan_fifo) {
 *         int got = 41 + 1;
 *         EXPECT(got > 0);
 *         EXPECT_EQ(got, 42, "after %d sends", 7);
 *     }
 *
 * TEST(name) { ... }       defines `static void name(void)` and registers it. Tests
 *                          run in definition order (at most CSP_TEST_MAX, 512).
 * CHILD(name) { ... }      a body that runs only in a child process (see below).
 *
 * Checks. Each is an expression worth 1 if it held and 0 if not. A failed check prints
 *     [  FAILED  ] file:line: MACRO(args): values: message
 * and fails the running test, which goes on. The message (printf-style) is optional
 * everywhere; a macro takes at most 32 arguments in all. Checks are thread-safe.
 *   EXPECT(cond [, fmt, ...])
 *   EXPECT_EQ, EXPECT_NE, EXPECT_LT, EXPECT_LE, EXPECT_GT, EXPECT_GE (a, b [, fmt, ...])
 *                          compare as intmax_t (integers, pointers; a floating-point
 *                          value would be truncated: use EXPECT for those).
 *   EXPECT_EQ_U, _NE_U, _LT_U, _LE_U, _GT_U, _GE_U (a, b [, fmt, ...])
 *                          compare as uintmax_t (uint64_t values above INT64_MAX).
 *   EXPECT_STREQ(a, b [, fmt, ...])          strcmp; either may be NULL.
 *   EXPECT_MEM_EQ(a, b, n [, fmt, ...])      memcmp of n bytes; shows the first
 *                                            differing bytes.
 *   REQUIRE(cond [, fmt, ...]), REQUIRE_EQ ... REQUIRE_GE (a, b [, fmt, ...])
 *                          statements: like EXPECT*, and on failure `return;` from
 *                          the void function they are in (the test or child body).
 *   SKIP(fmt, ...)         statement: marks the running test skipped and returns.
 *                          A skipped test counts as neither passed nor failed.
 *
 * Helpers.
 *   bool-ish int csp_test_short(void)  1 when env CSP_TEST_SHORT is set and not "0"
 *                                      (the ASan, TSan and qemu matrices set it).
 *   T_COUNT(full, short)               `short` in short mode, else `full`.
 *   int64_t csp_test_now_ms(void)      CLOCK_MONOTONIC in milliseconds.
 *
 * Child processes, for what must be seen from outside (a crash, an exit status):
 *
 *     CHILD(overflow) { recurse_forever(); }
 *     TEST(overflow_is_reported) {
 *         csp_test_child r = RUN_CHILD(overflow, 20000);
 *         EXPECT_CHILD_EXIT(r, 2);
 *         EXPECT_CHILD_OUTPUT_HAS(r, "stack overflow");
 *         csp_test_child_free(&r);
 *     }
 *
 *   RUN_CHILD(name, timeout_ms)
 *   RUN_CHILD_ENV(name, timeout_ms, "VAR=value", ...)
 *       re-execute this binary (readlink("/proc/self/exe")) as `BINARY --child name`
 *       with posix_spawn, stdin from /dev/null, stdout and stderr merged into one pipe,
 *       and wait for it. The macro appends the NULL that ends the variable list, so
 *       a trailing NULL of yours is harmless. "VAR=value" adds or replaces VAR in the
 *       inherited environment; a bare "VAR" removes it. timeout_ms <= 0: no timeout.
 *       After the timeout the child gets SIGKILL (then timed_out = signaled = 1).
 *       If env CSP_TEST_EXEC_WRAPPER is set (words split on blanks, e.g.
 *       "qemu-aarch64"), the command is `WRAPPER... BINARY --child name` (the wrapper
 *       is looked up in PATH).
 *       In the child the body runs, and when it returns the child exits with 0, or
 *       with 1 if a check failed in it. Core dumps are off in a child (set env
 *       CSP_TEST_CORE=1 to keep them). An unknown child name exits with 126.
 *   The result, a csp_test_child, holds:
 *       int exited, exit_code;    the child exited (returned or called exit)
 *       int signaled, signo;      the child was killed by a signal
 *       int timed_out;            it outlived its timeout and was killed
 *       int spawn_error;          errno of a failed spawn (then output says why)
 *       char *output;             stdout+stderr, NUL-terminated, never NULL
 *       size_t output_len;        bytes in output (it may hold NUL bytes)
 *       int truncated;            output beyond CSP_TEST_OUTPUT_MAX (16 MiB) dropped
 *       int64_t elapsed_ms;       wall-clock time from spawn to reaping
 *       const char *name;         the child's name
 *   void csp_test_child_free(csp_test_child *r)    frees output (sets it to NULL)
 *   EXPECT_CHILD_EXIT(r, code)                     exited with `code`
 *   EXPECT_CHILD_SIGNALED(r, signo)                killed by `signo` (0: by any)
 *   EXPECT_CHILD_OUTPUT_HAS(r, "text"), EXPECT_CHILD_OUTPUT_LACKS(r, "text")
 *       On failure these print the child's status and its output.
 *   Under AddressSanitizer a SIGSEGV is caught by ASan, which prints a report and
 *   exits with status 1: a child that must die of SIGSEGV should reset the signal
 *   (signal(SIGSEGV, SIG_DFL)) first, or the test should accept both outcomes.
 *
 * Any program, caught the same way (RUN_CHILD uses it; so does test_examples.c):
 *
 *     csp_test_spawn_opts o;
 *     memset(&o, 0, sizeof o);
 *     o.arg_words = "one two";
 *     o.timeout_ms = 30000;
 *     csp_test_child r = csp_test_spawn("echo", "/bin/echo", &o);
 *
 *   csp_test_child csp_test_spawn(const char *label, const char *path,
 *                                 const csp_test_spawn_opts *o)
 *       runs `[WRAPPER...] path args... arg_words...` with posix_spawn (posix_spawnp
 *       with a wrapper, as above), stdin from /dev/null, stdout and stderr in one
 *       pipe, an empty signal mask, and waits for it; the result is as RUN_CHILD's,
 *       with name = label. A NULL path fails with ENOMEM (for a path that could not
 *       be made). A failed spawn sets spawn_error and leaves output empty: saying
 *       why is the caller's. The options, a csp_test_spawn_opts (o NULL or all
 *       zero: none of them):
 *       const char *const *args;    NULL-terminated arguments after path
 *       const char *arg_words;      more arguments, after those: its blank-separated
 *                                   words
 *       const char *const *env;     NULL-terminated changes to the inherited
 *                                   environment: "VAR=value" adds or replaces VAR,
 *                                   a bare "VAR" removes it
 *       int timeout_ms;             <= 0: no timeout; after it, SIGKILL
 *       int own_group;              a process group of its own (its id the child's
 *                                   pid): the timeout's SIGKILL goes to the whole
 *                                   group, and once the child has ended what is left
 *                                   of the group gets SIGKILL too
 *       const sigset_t *sigdefault; the signals set to SIG_DFL in the child; NULL:
 *                                   SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD,
 *                                   SIGUSR1, SIGUSR2, SIGALRM and SIGXFSZ
 *       size_t output_max;          bytes of output kept (the first ones; beyond,
 *                                   truncated = 1); 0: CSP_TEST_OUTPUT_MAX
 *
 * Running a test binary:
 *     build/gcc/test_chan [--list] [FILTER]
 *     build/gcc/test_chan --child NAME
 *   FILTER (or env CSP_TEST_FILTER when there is no FILTER argument) selects tests:
 *   a comma-separated list of patterns; a pattern with * ? or [ is an fnmatch glob
 *   matched against the test name and against "binary.name", any other pattern is a
 *   substring of the test name; a pattern led by '-' leaves out the tests it
 *   matches (only exclusions: every other test). Output per test:
 *       [ RUN      ] test_chan.chan_fifo
 *       [       OK ] chan_fifo (3 ms)            or  [  FAILED  ] / [  SKIPPED  ]
 *   and the last line is exactly "N passed, N failed". The exit status is 0 iff no
 *   test failed.
 *
 * Advanced: csp_test_run_self_(args, timeout_ms, env..., NULL) runs this binary with
 * the NULL-terminated argument list `args` (for tests of the runner itself);
 * CSP_TEST_NO_MAIN leaves main() out (call csp_test_main(argc, argv) yourself).
 * Names ending in an underscore are internal.
 *
 * The header needs POSIX 2008 declarations: include it first, or after csp.h's
 * implementation (which defines _GNU_SOURCE), or compile with -D_GNU_SOURCE. */
#ifndef CSP_TEST_H
#define CSP_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "csp_test.h needs POSIX 2008 declarations: include it before any system header, or after csp.h with CSP_IMPLEMENTATION, or compile with -D_GNU_SOURCE"
#endif

#ifdef __cplusplus
extern "C" {
#endif
extern char **environ;
#ifdef __cplusplus
}
#endif

#ifndef CSP_TEST_MAX
#define CSP_TEST_MAX 512
#endif
#ifndef CSP_TEST_OUTPUT_MAX
#define CSP_TEST_OUTPUT_MAX ((size_t)16 << 20)
#endif

#define CSP_TEST_FN_ static __attribute__((unused))
#define CSP_TEST_PRINTF_(f, a) __attribute__((format(printf, f, a)))

/* >>registration ============================================================= */

typedef void (*csp_test_fn_)(void);

struct csp_test_entry_ {
    const char *name, *file;
    csp_test_fn_ fn;
    int line, order;
};

static __attribute__((unused)) struct csp_test_entry_ csp_test_tests_[CSP_TEST_MAX];
static __attribute__((unused)) struct csp_test_entry_ csp_test_children_[CSP_TEST_MAX];
static __attribute__((unused)) int csp_test_ntests_, csp_test_nchildren_, csp_test_overflow_;
/* Every failed check of the process so far, from any thread (atomic). */
static __attribute__((unused)) int csp_test_failures_;
/* Set by SKIP during the running test (atomic). */
static __attribute__((unused)) int csp_test_skipped_;
/* Serialises the runner's output lines between threads. */
static __attribute__((unused)) pthread_mutex_t csp_test_out_lock_ = PTHREAD_MUTEX_INITIALIZER;
static __attribute__((unused)) const char *csp_test_argv0_ = "";
static __attribute__((unused)) char csp_test_binary_[256] = "test";

CSP_TEST_FN_ void csp_test_register_(const char *name, csp_test_fn_ fn, const char *file,
                                     int line, int child) {
    struct csp_test_entry_ *table = child ? csp_test_children_ : csp_test_tests_;
    int *n = child ? &csp_test_nchildren_ : &csp_test_ntests_;
    if (*n >= CSP_TEST_MAX) { csp_test_overflow_ = 1; return; }
    table[*n].name = name;
    table[*n].fn = fn;
    table[*n].file = file;
    table[*n].line = line;
    table[*n].order = *n;
    (*n)++;
}

#define TEST(name)                                                                 \
    static void name(void);                                                        \
    __attribute__((constructor)) static void csp_test_reg_##name##_(void) {        \
        csp_test_register_(#name, name, __FILE__, __LINE__, 0);                    \
    }                                                                              \
    static void name(void)

#define CHILD(name)                                                                \
    static void csp_test_child_##name##_(void);                                    \
    __attribute__((constructor)) static void csp_test_creg_##name##_(void) {       \
        csp_test_register_(#name, csp_test_child_##name##_, __FILE__, __LINE__, 1);\
    }                                                                              \
    static void csp_test_child_##name##_(void)

/* >>small helpers ============================================================= */

CSP_TEST_FN_ int64_t csp_test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

CSP_TEST_FN_ int csp_test_short(void) {
    const char *s = getenv("CSP_TEST_SHORT");
    return s && *s && strcmp(s, "0") != 0;
}

#define T_COUNT(full_, short_) (csp_test_short() ? (short_) : (full_))

/* A growing, always NUL-terminated byte string. */
struct csp_test_sb_ { char *p; size_t len, cap; };

CSP_TEST_FN_ void csp_test_sb_grow_(struct csp_test_sb_ *b, size_t extra) {
    size_t cap;
    char *p;
    if (b->len + extra + 1 <= b->cap) return;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    p = (char *)realloc(b->p, cap);
    if (!p) { fputs("csp_test: out of memory\n", stderr); exit(99); }
    b->p = p;
    b->cap = cap;
}

CSP_TEST_FN_ void csp_test_sb_add_(struct csp_test_sb_ *b, const char *s, size_t n) {
    csp_test_sb_grow_(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

CSP_TEST_FN_ void csp_test_sb_str_(struct csp_test_sb_ *b, const char *s) {
    csp_test_sb_add_(b, s, strlen(s));
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(2, 0)
void csp_test_sb_vprintf_(struct csp_test_sb_ *b, const char *fmt, va_list ap) {
    va_list ap2;
    int n;
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0) { csp_test_sb_grow_(b, 0); b->p[b->len] = '\0'; return; }
    csp_test_sb_grow_(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(2, 3)
void csp_test_sb_printf_(struct csp_test_sb_ *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    csp_test_sb_vprintf_(b, fmt, ap);
    va_end(ap);
}

/* Writes `s` as one piece, under the output lock, and flushes. */
CSP_TEST_FN_ void csp_test_emit_(const char *s, size_t n) {
    pthread_mutex_lock(&csp_test_out_lock_);
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&csp_test_out_lock_);
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(1, 2) void csp_test_printf_(const char *fmt, ...) {
    struct csp_test_sb_ b = { NULL, 0, 0 };
    va_list ap;
    va_start(ap, fmt);
    csp_test_sb_vprintf_(&b, fmt, ap);
    va_end(ap);
    csp_test_emit_(b.p, b.len);
    free(b.p);
}

/* The first `nitems` top-level comma-separated items of a stringified macro argument
 * list: item i starts at s + start[i] and has len[i] bytes (blanks trimmed). Commas
 * inside brackets and inside string or character literals do not split. */
CSP_TEST_FN_ int csp_test_items_(const char *s, int nitems, size_t *start, size_t *len) {
    int depth = 0, k = 0;
    char quote = 0;
    size_t i, from = 0;
    if (nitems <= 0) return 0;
    for (i = 0;; i++) {
        char c = s[i];
        if (quote && c) {
            if (c == '\\' && s[i + 1]) i++;
            else if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'') quote = c;
        else if (c == '(' || c == '[' || c == '{') depth++;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
        else if ((c == ',' && depth == 0) || c == '\0') {
            size_t a = from, z = i;
            while (a < z && (s[a] == ' ' || s[a] == '\t')) a++;
            while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t')) z--;
            start[k] = a;
            len[k] = z - a;
            if (++k == nitems || c == '\0') return k;
            from = i + 1;
        }
    }
}

/* Prints one failure and counts it. `values` and `msg` may be NULL or empty. */
CSP_TEST_FN_ void csp_test_report_(const char *file, int line, const char *macro,
                                   const char *text, int nitems, const char *values,
                                   const char *msg) {
    struct csp_test_sb_ b = { NULL, 0, 0 };
    size_t st[4], ln[4];
    int k = csp_test_items_(text, nitems, st, ln), i;
    csp_test_sb_printf_(&b, "[  FAILED  ] %s:%d: %s(", file, line, macro);
    for (i = 0; i < k; i++) {
        if (i) csp_test_sb_str_(&b, ", ");
        csp_test_sb_add_(&b, text + st[i], ln[i]);
    }
    csp_test_sb_str_(&b, ")");
    if (values && *values) { csp_test_sb_str_(&b, ": "); csp_test_sb_str_(&b, values); }
    if (msg && *msg) { csp_test_sb_str_(&b, ": "); csp_test_sb_str_(&b, msg); }
    csp_test_sb_str_(&b, "\n");
    __atomic_fetch_add(&csp_test_failures_, 1, __ATOMIC_SEQ_CST);
    csp_test_emit_(b.p, b.len);
    free(b.p);
}

/* Formats a check's optional message (the macros pass "%s", "" when there is none). */
CSP_TEST_FN_ CSP_TEST_PRINTF_(1, 0) char *csp_test_vformat_(const char *fmt, va_list ap) {
    struct csp_test_sb_ b = { NULL, 0, 0 };
    csp_test_sb_vprintf_(&b, fmt, ap);
    return b.p;
}

/* ">text< = value", or just "value" when the expression is its own value. */
CSP_TEST_FN_ void csp_test_sb_named_(struct csp_test_sb_ *b, const char *text, size_t st,
                                     size_t ln, const char *value) {
    if (!(strlen(value) == ln && memcmp(text + st, value, ln) == 0)) {
        csp_test_sb_add_(b, text + st, ln);
        csp_test_sb_str_(b, " = ");
    }
    csp_test_sb_str_(b, value);
}

CSP_TEST_FN_ void csp_test_sb_pair_(struct csp_test_sb_ *b, const char *text,
                                    const char *va, const char *vb) {
    size_t st[2] = { 0, 0 }, ln[2] = { 0, 0 };
    csp_test_items_(text, 2, st, ln);
    csp_test_sb_named_(b, text, st[0], ln[0], va);
    csp_test_sb_str_(b, " vs ");
    csp_test_sb_named_(b, text, st[1], ln[1], vb);
}

/* >>checks ==================================================================== */

/* Argument counting: CSP_TEST_MOREk_(...) is 1 when there are more than k arguments
 * (so a message follows), else 0. At most 32 arguments. */
#define CSP_TEST_CAT_(a, b) a##b
#define CSP_TEST_CAT(a, b) CSP_TEST_CAT_(a, b)
#define CSP_TEST_PICK_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,   \
                       a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26,    \
                       a27, a28, a29, a30, a31, a32, n, ...) n
#define CSP_TEST_PICK(...) CSP_TEST_PICK_(__VA_ARGS__)
#define CSP_TEST_ONES29_ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  \
                         1, 1, 1, 1, 1, 1, 1, 1, 1
#define CSP_TEST_MORE1_(...) CSP_TEST_PICK(__VA_ARGS__, CSP_TEST_ONES29_, 1, 1, 0, 0)
#define CSP_TEST_MORE2_(...) CSP_TEST_PICK(__VA_ARGS__, CSP_TEST_ONES29_, 1, 0, 0, 0)
#define CSP_TEST_MORE3_(...) CSP_TEST_PICK(__VA_ARGS__, CSP_TEST_ONES29_, 0, 0, 0, 0)

/* Each public check stringifies its whole argument list at the outermost level (so
 * the text is what was written, unexpanded) and dispatches on the argument count. */
#define CSP_TEST_EXPECT_0(macro, text, cond)                                         \
    csp_test_cond_((cond) ? 1 : 0, __FILE__, __LINE__, macro, text, "%s", "")
#define CSP_TEST_EXPECT_1(macro, text, cond, ...)                                    \
    csp_test_cond_((cond) ? 1 : 0, __FILE__, __LINE__, macro, text, __VA_ARGS__)
#define CSP_TEST_EXPECT_(macro, ...)                                                 \
    CSP_TEST_CAT(CSP_TEST_EXPECT_, CSP_TEST_MORE1_(__VA_ARGS__))

#define EXPECT(...) CSP_TEST_EXPECT_("EXPECT", __VA_ARGS__)("EXPECT", #__VA_ARGS__, __VA_ARGS__)
#define REQUIRE(...)                                                                 \
    do {                                                                             \
        if (!CSP_TEST_EXPECT_("REQUIRE", __VA_ARGS__)("REQUIRE", #__VA_ARGS__,       \
                                                      __VA_ARGS__))                  \
            return;                                                                  \
    } while (0)

#define CSP_TEST_CMP_0(f, T, op, macro, text, a, b)                                  \
    f(op, (T)(a), (T)(b), __FILE__, __LINE__, macro, text, "%s", "")
#define CSP_TEST_CMP_1(f, T, op, macro, text, a, b, ...)                             \
    f(op, (T)(a), (T)(b), __FILE__, __LINE__, macro, text, __VA_ARGS__)
#define CSP_TEST_CMP_(...) CSP_TEST_CAT(CSP_TEST_CMP_, CSP_TEST_MORE2_(__VA_ARGS__))

#define CSP_TEST_OP_EQ 0
#define CSP_TEST_OP_NE 1
#define CSP_TEST_OP_LT 2
#define CSP_TEST_OP_LE 3
#define CSP_TEST_OP_GT 4
#define CSP_TEST_OP_GE 5

#define CSP_TEST_ICMP_(op, macro, text, ...)                                         \
    CSP_TEST_CMP_(__VA_ARGS__)(csp_test_cmpi_, intmax_t, op, macro, text, __VA_ARGS__)
#define CSP_TEST_UCMP_(op, macro, text, ...)                                         \
    CSP_TEST_CMP_(__VA_ARGS__)(csp_test_cmpu_, uintmax_t, op, macro, text, __VA_ARGS__)

#define EXPECT_EQ(...) CSP_TEST_ICMP_(CSP_TEST_OP_EQ, "EXPECT_EQ", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_NE(...) CSP_TEST_ICMP_(CSP_TEST_OP_NE, "EXPECT_NE", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_LT(...) CSP_TEST_ICMP_(CSP_TEST_OP_LT, "EXPECT_LT", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_LE(...) CSP_TEST_ICMP_(CSP_TEST_OP_LE, "EXPECT_LE", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_GT(...) CSP_TEST_ICMP_(CSP_TEST_OP_GT, "EXPECT_GT", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_GE(...) CSP_TEST_ICMP_(CSP_TEST_OP_GE, "EXPECT_GE", #__VA_ARGS__, __VA_ARGS__)

#define EXPECT_EQ_U(...) CSP_TEST_UCMP_(CSP_TEST_OP_EQ, "EXPECT_EQ_U", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_NE_U(...) CSP_TEST_UCMP_(CSP_TEST_OP_NE, "EXPECT_NE_U", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_LT_U(...) CSP_TEST_UCMP_(CSP_TEST_OP_LT, "EXPECT_LT_U", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_LE_U(...) CSP_TEST_UCMP_(CSP_TEST_OP_LE, "EXPECT_LE_U", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_GT_U(...) CSP_TEST_UCMP_(CSP_TEST_OP_GT, "EXPECT_GT_U", #__VA_ARGS__, __VA_ARGS__)
#define EXPECT_GE_U(...) CSP_TEST_UCMP_(CSP_TEST_OP_GE, "EXPECT_GE_U", #__VA_ARGS__, __VA_ARGS__)

#define CSP_TEST_REQ_(check) do { if (!(check)) return; } while (0)
#define REQUIRE_EQ(...) CSP_TEST_REQ_(CSP_TEST_ICMP_(CSP_TEST_OP_EQ, "REQUIRE_EQ", #__VA_ARGS__, __VA_ARGS__))
#define REQUIRE_NE(...) CSP_TEST_REQ_(CSP_TEST_ICMP_(CSP_TEST_OP_NE, "REQUIRE_NE", #__VA_ARGS__, __VA_ARGS__))
#define REQUIRE_LT(...) CSP_TEST_REQ_(CSP_TEST_ICMP_(CSP_TEST_OP_LT, "REQUIRE_LT", #__VA_ARGS__, __VA_ARGS__))
#define REQUIRE_LE(...) CSP_TEST_REQ_(CSP_TEST_ICMP_(CSP_TEST_OP_LE, "REQUIRE_LE", #__VA_ARGS__, __VA_ARGS__))
#define REQUIRE_GT(...) CSP_TEST_REQ_(CSP_TEST_ICMP_(CSP_TEST_OP_GT, "REQUIRE_GT", #__VA_ARGS__, __VA_ARGS__))
#define REQUIRE_GE(...) CSP_TEST_REQ_(CSP_TEST_ICMP_(CSP_TEST_OP_GE, "REQUIRE_GE", #__VA_ARGS__, __VA_ARGS__))

#define CSP_TEST_STR_0(macro, text, a, b)                                            \
    csp_test_streq_((a), (b), __FILE__, __LINE__, macro, text, "%s", "")
#define CSP_TEST_STR_1(macro, text, a, b, ...)                                       \
    csp_test_streq_((a), (b), __FILE__, __LINE__, macro, text, __VA_ARGS__)
#define EXPECT_STREQ(...)                                                            \
    CSP_TEST_CAT(CSP_TEST_STR_, CSP_TEST_MORE2_(__VA_ARGS__))("EXPECT_STREQ",        \
                                                              #__VA_ARGS__, __VA_ARGS__)

#define CSP_TEST_MEM_0(macro, text, a, b, n)                                         \
    csp_test_memeq_((a), (b), (size_t)(n), __FILE__, __LINE__, macro, text, "%s", "")
#define CSP_TEST_MEM_1(macro, text, a, b, n, ...)                                    \
    csp_test_memeq_((a), (b), (size_t)(n), __FILE__, __LINE__, macro, text, __VA_ARGS__)
#define EXPECT_MEM_EQ(...)                                                           \
    CSP_TEST_CAT(CSP_TEST_MEM_, CSP_TEST_MORE3_(__VA_ARGS__))("EXPECT_MEM_EQ",       \
                                                              #__VA_ARGS__, __VA_ARGS__)

#define SKIP(...) do { csp_test_skip_(__FILE__, __LINE__, __VA_ARGS__); return; } while (0)

CSP_TEST_FN_ CSP_TEST_PRINTF_(6, 7)
int csp_test_cond_(int ok, const char *file, int line, const char *macro, const char *text,
                   const char *fmt, ...) {
    va_list ap;
    char *msg;
    if (ok) return 1;
    va_start(ap, fmt);
    msg = csp_test_vformat_(fmt, ap);
    va_end(ap);
    csp_test_report_(file, line, macro, text, 1, NULL, msg);
    free(msg);
    return 0;
}

CSP_TEST_FN_ int csp_test_holds_(int op, int c) {
    switch (op) {
    case CSP_TEST_OP_EQ: return c == 0;
    case CSP_TEST_OP_NE: return c != 0;
    case CSP_TEST_OP_LT: return c < 0;
    case CSP_TEST_OP_LE: return c <= 0;
    case CSP_TEST_OP_GT: return c > 0;
    default: return c >= 0;
    }
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(8, 9)
int csp_test_cmpi_(int op, intmax_t a, intmax_t b, const char *file, int line,
                   const char *macro, const char *text, const char *fmt, ...) {
    struct csp_test_sb_ v = { NULL, 0, 0 };
    char va[32], vb[32], *msg;
    va_list ap;
    if (csp_test_holds_(op, a < b ? -1 : a > b ? 1 : 0)) return 1;
    snprintf(va, sizeof va, "%" PRIdMAX, a);
    snprintf(vb, sizeof vb, "%" PRIdMAX, b);
    csp_test_sb_pair_(&v, text, va, vb);
    va_start(ap, fmt);
    msg = csp_test_vformat_(fmt, ap);
    va_end(ap);
    csp_test_report_(file, line, macro, text, 2, v.p, msg);
    free(msg);
    free(v.p);
    return 0;
}

CSP_TEST_FN_ void csp_test_fmt_u_(char *buf, size_t n, uintmax_t x) {
    if (x > 0xffff) snprintf(buf, n, "%" PRIuMAX " (0x%" PRIxMAX ")", x, x);
    else snprintf(buf, n, "%" PRIuMAX, x);
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(8, 9)
int csp_test_cmpu_(int op, uintmax_t a, uintmax_t b, const char *file, int line,
                   const char *macro, const char *text, const char *fmt, ...) {
    struct csp_test_sb_ v = { NULL, 0, 0 };
    char va[64], vb[64], *msg;
    va_list ap;
    if (csp_test_holds_(op, a < b ? -1 : a > b ? 1 : 0)) return 1;
    csp_test_fmt_u_(va, sizeof va, a);
    csp_test_fmt_u_(vb, sizeof vb, b);
    csp_test_sb_pair_(&v, text, va, vb);
    va_start(ap, fmt);
    msg = csp_test_vformat_(fmt, ap);
    va_end(ap);
    csp_test_report_(file, line, macro, text, 2, v.p, msg);
    free(msg);
    free(v.p);
    return 0;
}

/* Appends `s` as a C string literal (escaped, at most `max` bytes shown). */
CSP_TEST_FN_ void csp_test_sb_quote_(struct csp_test_sb_ *b, const char *s, size_t max) {
    size_t i;
    if (!s) { csp_test_sb_str_(b, "NULL"); return; }
    csp_test_sb_str_(b, "\"");
    for (i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') csp_test_sb_printf_(b, "\\%c", c);
        else if (c == '\n') csp_test_sb_str_(b, "\\n");
        else if (c == '\t') csp_test_sb_str_(b, "\\t");
        else if (c < 0x20 || c == 0x7f) csp_test_sb_printf_(b, "\\x%02x", c);
        else csp_test_sb_add_(b, (const char *)&s[i], 1);
    }
    csp_test_sb_str_(b, "\"");
    if (s[i]) csp_test_sb_printf_(b, "... (%zu bytes)", strlen(s));
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(7, 8)
int csp_test_streq_(const char *a, const char *b, const char *file, int line,
                    const char *macro, const char *text, const char *fmt, ...) {
    struct csp_test_sb_ qa = { NULL, 0, 0 }, qb = { NULL, 0, 0 }, v = { NULL, 0, 0 };
    char *msg;
    va_list ap;
    if (a == b || (a && b && strcmp(a, b) == 0)) return 1;
    csp_test_sb_quote_(&qa, a, 1000);
    csp_test_sb_quote_(&qb, b, 1000);
    csp_test_sb_pair_(&v, text, qa.p, qb.p);
    va_start(ap, fmt);
    msg = csp_test_vformat_(fmt, ap);
    va_end(ap);
    csp_test_report_(file, line, macro, text, 2, v.p, msg);
    free(msg);
    free(v.p);
    free(qa.p);
    free(qb.p);
    return 0;
}

CSP_TEST_FN_ void csp_test_sb_hex_(struct csp_test_sb_ *b, const unsigned char *p,
                                   size_t from, size_t to) {
    size_t i;
    for (i = from; i < to; i++) csp_test_sb_printf_(b, i > from ? " %02x" : "%02x", p[i]);
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(8, 9)
int csp_test_memeq_(const void *a, const void *b, size_t n, const char *file, int line,
                    const char *macro, const char *text, const char *fmt, ...) {
    const unsigned char *pa = (const unsigned char *)a, *pb = (const unsigned char *)b;
    struct csp_test_sb_ v = { NULL, 0, 0 };
    size_t st[3] = { 0, 0, 0 }, ln[3] = { 0, 0, 0 }, off = 0, from, to;
    char *msg;
    va_list ap;
    if (n == 0 || a == b) return 1;
    if (a && b) {
        if (memcmp(a, b, n) == 0) return 1;
        while (pa[off] == pb[off]) off++;
        from = off > 4 ? off - 4 : 0;
        to = from + 16 < n ? from + 16 : n;
        csp_test_items_(text, 3, st, ln);
        csp_test_sb_printf_(&v, "first difference at byte %zu of %zu; ", off, n);
        csp_test_sb_add_(&v, text + st[0], ln[0]);
        csp_test_sb_printf_(&v, "[%zu..%zu] = ", from, to);
        csp_test_sb_hex_(&v, pa, from, to);
        csp_test_sb_str_(&v, " vs ");
        csp_test_sb_add_(&v, text + st[1], ln[1]);
        csp_test_sb_printf_(&v, "[%zu..%zu] = ", from, to);
        csp_test_sb_hex_(&v, pb, from, to);
    } else {
        csp_test_sb_printf_(&v, "%s is NULL (n = %zu)", a ? "the second" : "the first", n);
    }
    va_start(ap, fmt);
    msg = csp_test_vformat_(fmt, ap);
    va_end(ap);
    csp_test_report_(file, line, macro, text, 3, v.p, msg);
    free(msg);
    free(v.p);
    return 0;
}

CSP_TEST_FN_ CSP_TEST_PRINTF_(3, 4) void csp_test_skip_(const char *file, int line,
                                                          const char *fmt, ...) {
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    msg = csp_test_vformat_(fmt, ap);
    va_end(ap);
    __atomic_store_n(&csp_test_skipped_, 1, __ATOMIC_SEQ_CST);
    csp_test_printf_("[  SKIPPED ] %s:%d: %s\n", file, line, msg);
    free(msg);
}

/* >>child processes =========================================================== */

typedef struct csp_test_child {
    int exited, exit_code;
    int signaled, signo;
    int timed_out;
    int spawn_error;
    char *output;
    size_t output_len;
    int truncated;
    int64_t elapsed_ms;
    const char *name;
} csp_test_child;

CSP_TEST_FN_ void csp_test_child_free(csp_test_child *r) {
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

/* Reads what `fd` (non-blocking) has now, keeping at most `max` bytes in `b`. Returns 1
 * at end of file or on an error. */
CSP_TEST_FN_ int csp_test_drain_(int fd, struct csp_test_sb_ *b, size_t max, int *truncated) {
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            size_t keep = (size_t)n;
            if (b->len + keep > max) {
                keep = b->len < max ? max - b->len : 0;
                *truncated = 1;
            }
            csp_test_sb_add_(b, buf, keep);
            continue;
        }
        if (n == 0) return 1;
        if (errno == EINTR) continue;
        return !(errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

/* This binary's path, malloc'd. Under qemu-user, /proc/self/exe names the guest
 * binary (qemu answers for it), which is what the wrapper needs. */
CSP_TEST_FN_ char *csp_test_self_path_(void) {
    size_t cap = 256;
    for (;;) {
        char *p = (char *)malloc(cap);
        ssize_t n;
        if (!p) return NULL;
        n = readlink("/proc/self/exe", p, cap);
        if (n < 0) {
            size_t l = strlen(csp_test_argv0_);
            char *q = (char *)realloc(p, l + 1);
            if (!q) { free(p); return NULL; }
            memcpy(q, csp_test_argv0_, l + 1);
            return q;
        }
        if ((size_t)n < cap) { p[n] = '\0'; return p; }
        free(p);
        cap *= 2;
    }
}

CSP_TEST_FN_ void csp_test_sleep_ms_(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Does environment entry `e` ("NAME=value") have the same NAME as `x` ("NAME=..." or
 * "NAME")? */
CSP_TEST_FN_ int csp_test_same_var_(const char *e, const char *x) {
    size_t le = strcspn(e, "="), lx = strcspn(x, "=");
    return le == lx && memcmp(e, x, le) == 0;
}

/* How many blank-separated words `s` has (NULL: none). */
CSP_TEST_FN_ size_t csp_test_nwords_(const char *s) {
    size_t n = 0, i;
    for (i = 0; s && s[i]; i++)
        n += s[i] != ' ' && s[i] != '\t' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t');
    return n;
}

/* A malloc'd copy of `s`, or NULL (also for s NULL). */
CSP_TEST_FN_ char *csp_test_dup_(const char *s) {
    size_t l = s ? strlen(s) + 1 : 0;
    char *p = s ? (char *)malloc(l) : NULL;
    if (p) memcpy(p, s, l);
    return p;
}

/* The options of csp_test_spawn; all zero: none. See the usage notes at the top. */
typedef struct csp_test_spawn_opts {
    const char *const *args;     /* NULL-terminated arguments after the program */
    const char *arg_words;       /* more arguments, after those: this string's words */
    const char *const *env;      /* NULL-terminated: "VAR=value" sets VAR, "VAR" drops it */
    int timeout_ms;              /* <= 0: none */
    int own_group;               /* a process group of its own, killed as a whole */
    const sigset_t *sigdefault;  /* reset to SIG_DFL in the child; NULL: the runner's list */
    size_t output_max;           /* bytes of output kept; 0: CSP_TEST_OUTPUT_MAX */
} csp_test_spawn_opts;

/* Runs [wrapper...] path args... arg_words... and waits for it; see the usage notes. */
CSP_TEST_FN_ csp_test_child csp_test_spawn(const char *label, const char *path,
                                           const csp_test_spawn_opts *opts) {
    csp_test_child r;
    csp_test_spawn_opts o;
    struct csp_test_sb_ out = { NULL, 0, 0 };
    const char *wrapper = getenv("CSP_TEST_EXEC_WRAPPER");
    char *words = NULL, *more = NULL, **argv = NULL, **envp = NULL, *save = NULL, *w;
    size_t nargs = 0, nextra = 0, nenv = 0, max, i, j, k;
    int fds[2] = { -1, -1 }, status = 0, reaped = 0, eof = 0, rc;
    int64_t t0 = csp_test_now_ms(), deadline;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;

    if (opts) o = *opts;
    else memset(&o, 0, sizeof o);
    deadline = o.timeout_ms > 0 ? t0 + o.timeout_ms : -1;
    max = o.output_max ? o.output_max : CSP_TEST_OUTPUT_MAX;
    memset(&r, 0, sizeof r);
    r.name = label;
    r.exit_code = -1;
    if (wrapper && !*wrapper) wrapper = NULL;

    /* The command line: the wrapper's words, path, args, arg_words' words. */
    while (o.args && o.args[nargs]) nargs++;
    words = csp_test_dup_(wrapper);
    more = csp_test_dup_(o.arg_words);
    argv = (char **)calloc(csp_test_nwords_(wrapper) + 1 + nargs + csp_test_nwords_(o.arg_words) + 1,
                           sizeof *argv);
    /* The environment: the inherited one, changed by o.env. */
    while (o.env && o.env[nextra]) nextra++;
    while (environ && environ[nenv]) nenv++;
    envp = (char **)calloc(nenv + nextra + 1, sizeof *envp);
    if (!path || !argv || !envp || (wrapper && !words) || (o.arg_words && !more)) {
        r.spawn_error = ENOMEM;
        goto done;
    }
    k = 0;
    if (words)
        for (w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
            argv[k++] = w;
    argv[k++] = (char *)path;
    for (i = 0; i < nargs; i++) argv[k++] = (char *)o.args[i];
    if (more)
        for (w = strtok_r(more, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
            argv[k++] = w;
    argv[k] = NULL;
    k = 0;
    for (i = 0; i < nenv; i++) {
        int replaced = 0;
        for (j = 0; j < nextra && !replaced; j++) replaced = csp_test_same_var_(environ[i], o.env[j]);
        if (!replaced) envp[k++] = environ[i];
    }
    for (j = 0; j < nextra; j++)
        if (strchr(o.env[j], '=')) envp[k++] = (char *)o.env[j];
    envp[k] = NULL;

#ifdef __USE_GNU
    if (pipe2(fds, O_CLOEXEC) != 0) { r.spawn_error = errno; goto done; }
#else
    if (pipe(fds) != 0) { r.spawn_error = errno; goto done; }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    if (o.sigdefault) {
        dfl = *o.sigdefault;
    } else {
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        sigaddset(&dfl, SIGINT);
        sigaddset(&dfl, SIGTERM);
        sigaddset(&dfl, SIGHUP);
        sigaddset(&dfl, SIGQUIT);
        sigaddset(&dfl, SIGCHLD);
        sigaddset(&dfl, SIGUSR1);
        sigaddset(&dfl, SIGUSR2);
        sigaddset(&dfl, SIGALRM);
        sigaddset(&dfl, SIGXFSZ);
    }
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    if (o.own_group) {
        posix_spawnattr_setpgroup(&at, 0);
        flags |= POSIX_SPAWN_SETPGROUP;
    }
    posix_spawnattr_setflags(&at, flags);
    if (words) rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
    else rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[1]);
    fds[1] = -1;
    if (rc != 0) { r.spawn_error = rc; goto done; }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);

    /* Read until the child is gone and the pipe is drained, or the deadline. */
    for (;;) {
        if (!eof) {
            struct pollfd p;
            int wait_ms = 50;
            if (deadline >= 0) {
                int64_t left = deadline - csp_test_now_ms();
                if (left < wait_ms) wait_ms = left < 0 ? 0 : (int)left;
            }
            p.fd = fds[0];
            p.events = POLLIN;
            p.revents = 0;
            poll(&p, 1, wait_ms);
            eof = csp_test_drain_(fds[0], &out, max, &r.truncated);
        } else {
            csp_test_sleep_ms_(2);
        }
        if (!reaped) {
            pid_t got = waitpid(pid, &status, WNOHANG);
            if (got == pid) reaped = 1;
            else if (got < 0 && errno != EINTR) reaped = 2;   /* ECHILD: status lost */
        }
        if (reaped) {
            /* The child is gone: what it wrote is in the pipe now. A grandchild may
             * still hold the pipe open; do not wait for it (in a group of its own,
             * end it). */
            if (!eof) csp_test_drain_(fds[0], &out, max, &r.truncated);
            if (o.own_group) kill(-pid, SIGKILL);
            break;
        }
        if (deadline >= 0 && csp_test_now_ms() >= deadline) {
            kill(o.own_group ? -pid : pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            reaped = 1;
            r.timed_out = 1;
            if (!eof) csp_test_drain_(fds[0], &out, max, &r.truncated);
            break;
        }
    }
    if (reaped == 1) {
        if (WIFEXITED(status)) { r.exited = 1; r.exit_code = WEXITSTATUS(status); }
        else if (WIFSIGNALED(status)) { r.signaled = 1; r.signo = WTERMSIG(status); }
    }

done:
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    csp_test_sb_grow_(&out, 0);
    out.p[out.len] = '\0';
    r.output = out.p;
    r.output_len = out.len;
    r.elapsed_ms = csp_test_now_ms() - t0;
    free(words);
    free(more);
    free(argv);
    free(envp);
    return r;
}

/* Runs this binary with `args` and the environment changed by `env` (a va_list of
 * const char * ending with NULL); see RUN_CHILD. */
CSP_TEST_FN_ csp_test_child csp_test_spawn_(const char *label, const char *const *args,
                                            int timeout_ms, va_list env) {
    const char *wrapper = getenv("CSP_TEST_EXEC_WRAPPER");
    char *exe = csp_test_self_path_();
    const char **extra;
    size_t nextra = 0, i, skip, n;
    csp_test_spawn_opts o;
    csp_test_child r;
    va_list ap;

    va_copy(ap, env);
    while (va_arg(ap, const char *)) nextra++;
    va_end(ap);
    extra = (const char **)calloc(nextra + 1, sizeof *extra);
    for (i = 0; extra && i < nextra; i++) extra[i] = va_arg(env, const char *);
    memset(&o, 0, sizeof o);
    o.args = args;
    o.env = extra;
    o.timeout_ms = timeout_ms;
    r = csp_test_spawn(label, extra ? exe : NULL, &o);
    if (r.spawn_error) {
        /* Named by the wrapper's first word, or else this binary. */
        struct csp_test_sb_ b = { r.output, r.output_len, r.output_len + 1 };
        skip = wrapper ? strspn(wrapper, " \t") : 0;
        n = wrapper ? strcspn(wrapper + skip, " \t") : 0;
        if (n) csp_test_sb_printf_(&b, "csp_test: cannot spawn %.*s for child '%s': %s\n",
                                   (int)n, wrapper + skip, label, strerror(r.spawn_error));
        else csp_test_sb_printf_(&b, "csp_test: cannot spawn %s for child '%s': %s\n",
                                 exe ? exe : "(this binary)", label, strerror(r.spawn_error));
        r.output = b.p;
        r.output_len = b.len;
    }
    free(exe);
    free(extra);
    return r;
}

CSP_TEST_FN_ __attribute__((sentinel))
csp_test_child csp_test_run_child_(const char *name, csp_test_fn_ fn, int timeout_ms, ...) {
    const char *args[3];
    csp_test_child r;
    va_list ap;
    (void)fn;
    args[0] = "--child";
    args[1] = name;
    args[2] = NULL;
    va_start(ap, timeout_ms);
    r = csp_test_spawn_(name, args, timeout_ms, ap);
    va_end(ap);
    return r;
}

CSP_TEST_FN_ __attribute__((sentinel))
csp_test_child csp_test_run_self_(const char *const *args, int timeout_ms, ...) {
    csp_test_child r;
    va_list ap;
    va_start(ap, timeout_ms);
    r = csp_test_spawn_(args[0] ? args[0] : "(self)", args, timeout_ms, ap);
    va_end(ap);
    return r;
}

#define RUN_CHILD(name, timeout_ms)                                                  \
    csp_test_run_child_(#name, csp_test_child_##name##_, (timeout_ms), (const char *)NULL)
#define RUN_CHILD_ENV(name, timeout_ms, ...)                                         \
    csp_test_run_child_(#name, csp_test_child_##name##_, (timeout_ms), __VA_ARGS__,  \
                        (const char *)NULL)

/* "exited with status 3", "killed by signal 11 (Segmentation fault)", ... */
CSP_TEST_FN_ void csp_test_sb_status_(struct csp_test_sb_ *b, const csp_test_child *r) {
    csp_test_sb_printf_(b, "child '%s' ", r->name ? r->name : "?");
    if (r->spawn_error) csp_test_sb_printf_(b, "could not be spawned (%s)", strerror(r->spawn_error));
    else if (r->timed_out) csp_test_sb_printf_(b, "timed out after %" PRId64 " ms and was killed", r->elapsed_ms);
    else if (r->exited) csp_test_sb_printf_(b, "exited with status %d", r->exit_code);
    else if (r->signaled) csp_test_sb_printf_(b, "was killed by signal %d (%s)", r->signo, strsignal(r->signo));
    else csp_test_sb_str_(b, "ended with an unknown status (was SIGCHLD ignored?)");
}

/* Appends the child's output, each line behind "    | ", its middle cut if long. */
CSP_TEST_FN_ void csp_test_sb_output_(struct csp_test_sb_ *b, const csp_test_child *r) {
    const size_t keep = 4096;
    const char *o = r->output ? r->output : "";
    size_t n = r->output ? r->output_len : 0, i, line = 0;
    csp_test_sb_printf_(b, "; its output (%zu bytes%s):", n, r->truncated ? ", truncated" : "");
    if (n == 0) { csp_test_sb_str_(b, " none"); return; }
    for (i = 0; i < n; i++) {
        if (n > 2 * keep && i == keep) {
            size_t skip = n - 2 * keep;
            csp_test_sb_printf_(b, "\n    | ... (%zu bytes left out) ...", skip);
            i += skip;
            line = 0;
        }
        if (line == 0) csp_test_sb_str_(b, "\n    | ");
        if (o[i] == '\n') { line = 0; continue; }
        csp_test_sb_add_(b, o[i] ? &o[i] : "\\0", o[i] ? 1 : 2);
        line++;
    }
}

CSP_TEST_FN_ void csp_test_child_fail_(const csp_test_child *r, const char *file, int line,
                                       const char *macro, const char *text, const char *want) {
    struct csp_test_sb_ v = { NULL, 0, 0 };
    csp_test_sb_status_(&v, r);
    csp_test_sb_printf_(&v, "; wanted: %s", want);
    csp_test_sb_output_(&v, r);
    csp_test_report_(file, line, macro, text, 2, v.p, NULL);
    free(v.p);
}

CSP_TEST_FN_ int csp_test_child_exit_(const csp_test_child *r, int code, const char *file,
                                      int line, const char *text) {
    char want[64];
    if (r->exited && !r->timed_out && r->exit_code == code) return 1;
    snprintf(want, sizeof want, "exit status %d", code);
    csp_test_child_fail_(r, file, line, "EXPECT_CHILD_EXIT", text, want);
    return 0;
}

CSP_TEST_FN_ int csp_test_child_signaled_(const csp_test_child *r, int signo, const char *file,
                                          int line, const char *text) {
    char want[96];
    if (r->signaled && !r->timed_out && (signo == 0 || r->signo == signo)) return 1;
    if (signo) snprintf(want, sizeof want, "killed by signal %d (%s)", signo, strsignal(signo));
    else snprintf(want, sizeof want, "killed by a signal");
    csp_test_child_fail_(r, file, line, "EXPECT_CHILD_SIGNALED", text, want);
    return 0;
}

/* memmem, without needing _GNU_SOURCE. */
CSP_TEST_FN_ int csp_test_contains_(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle), i;
    if (m == 0) return 1;
    if (!hay || n < m) return 0;
    for (i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

CSP_TEST_FN_ int csp_test_child_output_(const csp_test_child *r, const char *needle, int want,
                                        const char *file, int line, const char *text) {
    struct csp_test_sb_ w = { NULL, 0, 0 };
    if (csp_test_contains_(r->output, r->output_len, needle) == want) return 1;
    csp_test_sb_str_(&w, want ? "output with " : "output without ");
    csp_test_sb_quote_(&w, needle, 1000);
    csp_test_child_fail_(r, file, line,
                         want ? "EXPECT_CHILD_OUTPUT_HAS" : "EXPECT_CHILD_OUTPUT_LACKS",
                         text, w.p);
    free(w.p);
    return 0;
}

#define EXPECT_CHILD_EXIT(r, code)                                                   \
    csp_test_child_exit_(&(r), (code), __FILE__, __LINE__, #r ", " #code)
#define EXPECT_CHILD_SIGNALED(r, signo)                                              \
    csp_test_child_signaled_(&(r), (signo), __FILE__, __LINE__, #r ", " #signo)
#define EXPECT_CHILD_OUTPUT_HAS(r, text)                                             \
    csp_test_child_output_(&(r), (text), 1, __FILE__, __LINE__, #r ", " #text)
#define EXPECT_CHILD_OUTPUT_LACKS(r, text)                                           \
    csp_test_child_output_(&(r), (text), 0, __FILE__, __LINE__, #r ", " #text)

/* >>main ====================================================================== */

/* Does the test `name` pass the filter? See the usage notes at the top. */
CSP_TEST_FN_ int csp_test_match_(const char *filter, const char *name) {
    char full[512], pat[256];
    const char *p = filter;
    int positives = 0, hit = 0;
    if (!filter || !*filter) return 1;
    snprintf(full, sizeof full, "%s.%s", csp_test_binary_, name);
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof pat) {
            memcpy(pat, p, n);
            pat[n] = '\0';
            int neg = pat[0] == '-';   /* -PATTERN: leave out what it matches */
            const char *q = pat + neg;
            int m = strpbrk(q, "*?[") ? (fnmatch(q, name, 0) == 0 || fnmatch(q, full, 0) == 0)
                                      : strstr(name, q) != NULL;
            if (neg && m) return 0;
            if (!neg) { positives++; hit |= m; }
        }
        p += n;
        if (*p == ',') p++;
    }
    return positives ? hit : 1;
}

/* Orders the tests as they were defined: by file (first appearance), then line. */
CSP_TEST_FN_ void csp_test_sort_(struct csp_test_entry_ *t, int n) {
    int rank[CSP_TEST_MAX], i, j;
    for (i = 0; i < n; i++) {
        rank[i] = i;
        for (j = 0; j < i; j++)
            if (strcmp(t[j].file, t[i].file) == 0) { rank[i] = rank[j]; break; }
    }
    for (i = 1; i < n; i++) {
        struct csp_test_entry_ e = t[i];
        int re = rank[i];
        for (j = i - 1; j >= 0 && (rank[j] > re || (rank[j] == re && t[j].line > e.line)); j--) {
            t[j + 1] = t[j];
            rank[j + 1] = rank[j];
        }
        t[j + 1] = e;
        rank[j + 1] = re;
    }
}

CSP_TEST_FN_ int csp_test_main(int argc, char **argv) {
    const char *filter = NULL, *base;
    const char *failed_names[CSP_TEST_MAX];
    int i, list = 0, passed = 0, failed = 0, skipped = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    csp_test_argv0_ = argc > 0 && argv[0] ? argv[0] : "test";
    base = strrchr(csp_test_argv0_, '/');
    snprintf(csp_test_binary_, sizeof csp_test_binary_, "%s", base ? base + 1 : csp_test_argv0_);
    if (csp_test_overflow_) {
        fprintf(stderr, "csp_test: more than %d tests or children in %s: raise CSP_TEST_MAX\n",
                CSP_TEST_MAX, csp_test_binary_);
        return 2;
    }

    if (argc >= 2 && strcmp(argv[1], "--child") == 0) {
        if (argc < 3) { fprintf(stderr, "csp_test: --child needs a name\n"); return 126; }
        for (i = 0; i < csp_test_nchildren_; i++) {
            if (strcmp(csp_test_children_[i].name, argv[2]) == 0) {
                const char *core = getenv("CSP_TEST_CORE");
                if (!(core && *core && strcmp(core, "0") != 0)) {
                    struct rlimit rl;
                    rl.rlim_cur = 0;
                    rl.rlim_max = 0;
                    setrlimit(RLIMIT_CORE, &rl);
                }
                csp_test_children_[i].fn();
                fflush(stdout);
                fflush(stderr);
                return __atomic_load_n(&csp_test_failures_, __ATOMIC_SEQ_CST) ? 1 : 0;
            }
        }
        fprintf(stderr, "csp_test: %s has no CHILD(%s)\n", csp_test_binary_, argv[2]);
        return 126;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) list = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: %s [--list] [FILTER]\n       %s --child NAME\n"
                   "FILTER (or env CSP_TEST_FILTER): comma-separated substrings of test\n"
                   "names, or globs (* ? [) on NAME or BINARY.NAME; -PATTERN leaves out\n",
                   csp_test_binary_, csp_test_binary_);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "csp_test: unknown option %s (try --help)\n", argv[i]);
            return 2;
        } else if (!filter) {
            filter = argv[i];
        }
    }
    if (!filter) filter = getenv("CSP_TEST_FILTER");

    csp_test_sort_(csp_test_tests_, csp_test_ntests_);
    if (list) {
        for (i = 0; i < csp_test_ntests_; i++)
            if (csp_test_match_(filter, csp_test_tests_[i].name)) printf("%s\n", csp_test_tests_[i].name);
        return 0;
    }
    for (i = 0; i < csp_test_ntests_; i++) {
        struct csp_test_entry_ *t = &csp_test_tests_[i];
        int before;
        int64_t t0, ms;
        if (!csp_test_match_(filter, t->name)) continue;
        csp_test_printf_("[ RUN      ] %s.%s\n", csp_test_binary_, t->name);
        __atomic_store_n(&csp_test_skipped_, 0, __ATOMIC_SEQ_CST);
        before = __atomic_load_n(&csp_test_failures_, __ATOMIC_SEQ_CST);
        t0 = csp_test_now_ms();
        t->fn();
        ms = csp_test_now_ms() - t0;
        if (__atomic_load_n(&csp_test_failures_, __ATOMIC_SEQ_CST) != before) {
            csp_test_printf_("[  FAILED  ] %s (%" PRId64 " ms)\n", t->name, ms);
            /* Deterministic mode: the seed reproduces this failure exactly. */
            if (getenv("CSP_SEED") && *getenv("CSP_SEED"))
                csp_test_printf_("             rerun: CSP_SEED=%s%s %s (make test SEED=%s T='%s')\n",
                                 getenv("CSP_SEED"),
                                 getenv("CSP_SEED_VIRTUAL_TIME") ? " CSP_SEED_VIRTUAL_TIME=1" : "",
                                 csp_test_argv0_, getenv("CSP_SEED"), t->name);
            failed_names[failed++] = t->name;
        } else if (__atomic_load_n(&csp_test_skipped_, __ATOMIC_SEQ_CST)) {
            csp_test_printf_("[  SKIPPED ] %s (%" PRId64 " ms)\n", t->name, ms);
            skipped++;
        } else {
            csp_test_printf_("[       OK ] %s (%" PRId64 " ms)\n", t->name, ms);
            passed++;
        }
    }
    if (failed) {
        csp_test_printf_("failed tests of %s:\n", csp_test_binary_);
        for (i = 0; i < failed; i++) csp_test_printf_("    %s\n", failed_names[i]);
    }
    if (skipped) csp_test_printf_("%d skipped\n", skipped);
    csp_test_printf_("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#ifndef CSP_TEST_NO_MAIN
int main(int argc, char **argv) { return csp_test_main(argc, argv); }
#endif

#endif /* CSP_TEST_H */
