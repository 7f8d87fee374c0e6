/* test_det.c -- the deterministic mode (CSP_SEED, CSP_SEED_VIRTUAL_TIME):
 * a real interleaving bug shows for some seeds and not others, a failing
 * seed fails every time with the same output, select's choices follow the
 * seed, virtual time completes sleeps in order without waiting, and the
 * whole program stays on one thread. Every program runs in a child process
 * with the seed in its environment. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include <sys/syscall.h>

/* ---- a counter guarded by a channel "mutex", with one step missing ----------
 * The token channel (capacity 1) is the lock: send to take it, receive to
 * give it back. Worker 0 forgets to take it. Between reading and writing the
 * counter each worker logs the step on a channel (a scheduling point), so
 * whether worker 0's update is lost depends on who runs next: on the seed. */
enum { DET_WORKERS = 3, DET_ROUNDS = 2 };
static csp_chan *det_token, *det_log;
static long det_counter;
static csp_waitgroup det_wg;

static void det_worker(void *arg) {
    long id = (long)(intptr_t)arg;
    int careless = id == 0 && !getenv("DET_FIXED");
    for (int r = 0; r < DET_ROUNDS; r++) {
        char t = 1;
        if (!careless) csp_send(det_token, &t);
        long v = det_counter;
        long entry = id * 100 + r;
        csp_send(det_log, &entry);   /* a scheduling point inside the section */
        det_counter = v + 1;
        if (!careless) csp_recv(det_token, &t);
    }
    csp_wg_done(&det_wg);
}
static void det_logger(void *arg) {
    (void)arg;
    long e;
    while (csp_recv(det_log, &e)) printf(" %ld", e);
}
CHILD(lost_update) {
    det_token = csp_chan_make(1, 1);
    det_log = csp_chan_make(sizeof(long), 0);
    csp_go(det_logger, NULL);
    printf("order:");
    csp_wg_add(&det_wg, DET_WORKERS);
    for (long i = 0; i < DET_WORKERS; i++) csp_go(det_worker, (void *)(intptr_t)i);
    csp_wg_wait(&det_wg);
    csp_close(det_log);
    csp_yield();
    printf("\ncounter %ld of %d\n", det_counter, DET_WORKERS * DET_ROUNDS);
    fflush(stdout);
    exit(det_counter == DET_WORKERS * DET_ROUNDS ? 0 : 1);
}

/* The careless worker's race is real: TSan reports it for every seed (the
 * switches carry no happens-before); here we look at outcomes, so TSan's
 * reports are off for that variant (the fixed one keeps them). */
#define DET_RACY_ENV "TSAN_OPTIONS=report_bugs=0:atexit_sleep_ms=0"
static csp_test_child run_seed(int seed, const char *fixed) {
    char env[64];
    snprintf(env, sizeof env, "CSP_SEED=%d", seed);
    return RUN_CHILD_ENV(lost_update, 20000, env, fixed);
}

TEST(seeds_find_the_lost_update_and_replay_it) {
    int nseeds = (int)T_COUNT(64, 24);
    int fails = 0, passes = 0, first_fail = -1, first_pass = -1;
    for (int s = 1; s <= nseeds; s++) {
        csp_test_child r = run_seed(s, DET_RACY_ENV);
        REQUIRE(r.exited, "seed %d: child did not exit normally", s);
        if (r.exit_code == 1) { fails++; if (first_fail < 0) first_fail = s; }
        else if (r.exit_code == 0) { passes++; if (first_pass < 0) first_pass = s; }
        else EXPECT_EQ(r.exit_code, 0, "seed %d: unexpected status", s);
        csp_test_child_free(&r);
    }
    EXPECT(fails > 0, "no seed of %d shows the lost update", nseeds);
    EXPECT(passes > 0, "every seed of %d shows the lost update", nseeds);
    /* A seed gives the same run every time: same output, same verdict. */
    int seeds[2] = { first_fail, first_pass };
    for (int k = 0; k < 2; k++) {
        if (seeds[k] < 0) continue;
        csp_test_child a = run_seed(seeds[k], DET_RACY_ENV);
        for (int rep = 0; rep < 3; rep++) {
            csp_test_child b = run_seed(seeds[k], DET_RACY_ENV);
            EXPECT_EQ(b.exit_code, a.exit_code, "seed %d rerun %d", seeds[k], rep);
            EXPECT(a.output && b.output && a.output_len == b.output_len &&
                   memcmp(a.output, b.output, a.output_len) == 0,
                   "seed %d rerun %d: output differs:\n%s\n---\n%s", seeds[k], rep,
                   a.output ? a.output : "", b.output ? b.output : "");
            csp_test_child_free(&b);
        }
        csp_test_child_free(&a);
    }
}

TEST(correct_protocol_passes_every_seed) {
    int nseeds = (int)T_COUNT(32, 12);
    for (int s = 1; s <= nseeds; s++) {
        csp_test_child r = run_seed(s, "DET_FIXED=1");
        EXPECT_CHILD_EXIT(r, 0);
        csp_test_child_free(&r);
    }
}

/* ---- select's choices follow the seed ------------------------------------------- */
CHILD(select_choices) {
    csp_chan *a = csp_chan_make(sizeof(int), 64), *b = csp_chan_make(sizeof(int), 64);
    int v = 0;
    char out[65];
    for (int i = 0; i < 64; i++) {
        csp_send(a, &v); csp_send(b, &v);
        csp_case cs[2] = { CSP_RECV(a, &v), CSP_RECV(b, &v) };
        int k = csp_select(cs, 2, CSP_FOREVER);
        out[i] = (char)('a' + k);
        csp_recv(k == 0 ? b : a, &v);   /* drain the other */
    }
    out[64] = 0;
    printf("picks %s\n", out);
    printf("maxprocs %d\n", csp_maxprocs(8));
    printf("maxprocs %d\n", csp_maxprocs(0));
    csp_chan_release(a); csp_chan_release(b);
}
TEST(select_follows_the_seed) {
    csp_test_child r1 = RUN_CHILD_ENV(select_choices, 20000, "CSP_SEED=7");
    csp_test_child r2 = RUN_CHILD_ENV(select_choices, 20000, "CSP_SEED=7");
    csp_test_child r3 = RUN_CHILD_ENV(select_choices, 20000, "CSP_SEED=8");
    EXPECT_CHILD_EXIT(r1, 0);
    EXPECT_CHILD_EXIT(r3, 0);
    REQUIRE(r1.output && r2.output && r3.output);
    EXPECT(strcmp(r1.output, r2.output) == 0, "same seed, different picks:\n%s\n%s", r1.output, r2.output);
    EXPECT(strcmp(r1.output, r3.output) != 0, "seeds 7 and 8 picked alike:\n%s", r1.output);
    EXPECT(strstr(r1.output, "picks ") && strchr(strstr(r1.output, "picks "), 'a') && strchr(strstr(r1.output, "picks "), 'b'),
           "both cases picked: %s", r1.output);
    EXPECT_CHILD_OUTPUT_HAS(r1, "maxprocs 1\nmaxprocs 1\n");   /* stays 1 */
    csp_test_child_free(&r1); csp_test_child_free(&r2); csp_test_child_free(&r3);
}

/* ---- one thread only -------------------------------------------------------------- */
static long det_tids[64];
static void record_tid(void *arg) {
    long i = (long)(intptr_t)arg;
    for (int k = 0; k < 10; k++) csp_yield();
    det_tids[i] = (long)syscall(SYS_gettid);
    csp_block_begin();   /* a blocking section gives nothing to another thread here */
    usleep(1000);
    csp_block_end();
    if ((long)syscall(SYS_gettid) != det_tids[i]) det_tids[i] = -1;
    csp_wg_done(&det_wg);
}
static int count_threads(void) {
    int threads = 0;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) if (strncmp(line, "Threads:", 8) == 0) threads = atoi(line + 8);
    if (f) fclose(f);
    return threads;
}
CHILD(one_thread) {
    int before = count_threads();   /* qemu-user has a thread of its own */
    csp_wg_add(&det_wg, 64);
    for (long i = 0; i < 64; i++) csp_go(record_tid, (void *)(intptr_t)i);
    csp_wg_wait(&det_wg);
    int other = 0;
    for (int i = 0; i < 64; i++) if (det_tids[i] != (long)getpid()) other++;
    printf("off the main thread %d, threads added %d\n", other, count_threads() - before);
}
TEST(whole_program_on_one_thread) {
    csp_test_child r = RUN_CHILD_ENV(one_thread, 20000, "CSP_SEED=3");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "off the main thread 0, threads added 0");
    csp_test_child_free(&r);
}

/* ---- virtual time ----------------------------------------------------------------- */
typedef struct { int64_t d; csp_chan *out; } sleeper_arg;
static void det_sleeper(void *arg) {
    sleeper_arg *a = (sleeper_arg *)arg;
    csp_sleep(a->d);
    long d = (long)(a->d / CSP_SECOND);
    csp_send(a->out, &d);
}
CHILD(virtual_sleeps) {
    int64_t t0 = csp_now(), w0 = csp__mono();
    csp_chan *out = csp_chan_make(sizeof(long), 16);
    static const int secs[8] = { 50, 10, 3600, 30, 20, 40, 1, 86400 };
    sleeper_arg args[8];
    for (int i = 0; i < 8; i++) { args[i].d = secs[i] * CSP_SECOND; args[i].out = out; csp_go(det_sleeper, &args[i]); }
    printf("woke:");
    for (int i = 0; i < 8; i++) { long d; csp_recv(out, &d); printf(" %ld", d); }
    /* A timeout in virtual time. */
    csp_chan *never = csp_chan_make(0, 0);
    csp_case c = CSP_RECV(never, NULL);
    int k = csp_select(&c, 1, 5 * CSP_SECOND);
    int64_t virt = csp_now() - t0, wall = csp__mono() - w0;
    printf("\nselect %d virtual %lld s wall-under-5s %d\n", k, (long long)(virt / CSP_SECOND), wall < 5 * CSP_SECOND);
    csp_chan_release(out); csp_chan_release(never);
}
TEST(virtual_time_sleeps_in_order_without_waiting) {
    csp_test_child r = RUN_CHILD_ENV(virtual_sleeps, 20000, "CSP_SEED=11", "CSP_SEED_VIRTUAL_TIME=1");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "woke: 1 10 20 30 40 50 3600 86400");
    EXPECT_CHILD_OUTPUT_HAS(r, "select -1 virtual 86405 s wall-under-5s 1");
    csp_test_child_free(&r);
}

/* ---- a deadlock is reported at once (no grace needed: one thread) ------------------ */
CHILD(det_deadlock) {
    csp_chan *c = csp_chan_make(0, 0);
    csp_recv(c, NULL);
}
TEST(deadlock_reported_in_deterministic_mode) {
    csp_test_child r = RUN_CHILD_ENV(det_deadlock, 20000, "CSP_SEED=5");
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "all goroutines are asleep - deadlock!");
    csp_test_child_free(&r);
}
