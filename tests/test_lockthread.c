/* test_lockthread.c -- csp_lock_os_thread / csp_unlock_os_thread
 * (runtime.LockOSThread): a locked goroutine keeps its thread across every
 * kind of blocking call, no other goroutine runs on that thread meanwhile,
 * nesting counts, a goroutine that ends locked takes its thread down, and a
 * locked goroutine parked forever is still seen by the deadlock detector.
 * Ideas from Go's runtime/proc_test.go (TestLockOSThreadNesting,
 * TestLockOSThreadExit) and runtime/testdata/testprog/lockosthread.go. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include <sys/syscall.h>
#include <sys/stat.h>

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

/* A thread-local a thread-affine C library would keep. */
static __thread int tls_token;

/* ---- others never run on the locked thread ----------------------------------------
 * While `locked_tid` is set, a goroutine that reads it and then finds itself
 * on that thread ran there during the lock (it cannot have switched between
 * the two reads: no runtime call), which is the violation. */
static pid_t locked_tid;
static long trespass;
static int others_stop;

static void other_worker(void *arg) {
    csp_chan *c = (csp_chan *)arg;
    long v = 0;
    while (!__atomic_load_n(&others_stop, __ATOMIC_ACQUIRE)) {
        pid_t lt = __atomic_load_n(&locked_tid, __ATOMIC_SEQ_CST);
        if (lt != 0 && tid() == lt) __atomic_fetch_add(&trespass, 1, __ATOMIC_RELAXED);
        (void)csp_try_send(c, &v);
        (void)csp_try_recv(c, &v, NULL);
        csp_yield();   /* cooperative: a pure hog would hold its P for sysmon's 10 ms */
    }
}

typedef struct {
    int iters;
    csp_chan *req, *rep;     /* a partner goroutine answers on rep */
    csp_mutex mu;            /* contended with a plain thread */
    csp_waitgroup done;
    long moved, tls_lost, bad;
} locked_arg;

static void partner(void *arg) {
    locked_arg *a = (locked_arg *)arg;
    long v;
    while (csp_recv(a->req, &v)) { v++; csp_send(a->rep, &v); }
}

static void locked_body(void *arg) {
    locked_arg *a = (locked_arg *)arg;
    csp_lock_os_thread();
    pthread_t self = pthread_self();
    pid_t me = tid();
    tls_token = (int)me;
    __atomic_store_n(&locked_tid, me, __ATOMIC_SEQ_CST);
    for (int i = 0; i < a->iters; i++) {
        long v = i;
        switch (i % 5) {
        case 0:   /* channel round trip with a goroutine */
            csp_send(a->req, &v);
            csp_recv(a->rep, &v);
            if (v != i + 1) a->bad++;
            break;
        case 1: csp_sleep(20 * CSP_MICROSECOND); break;
        case 2: csp_mutex_lock(&a->mu); csp_mutex_unlock(&a->mu); break;
        case 3: csp_yield(); break;
        case 4: {   /* a blocking section long enough for sysmon to take the P */
            csp_block_begin();
            struct timespec ts = { 0, (i % 50 == 4) ? 300 * 1000 : 1000 };
            nanosleep(&ts, NULL);
            csp_block_end();
            break;
        }
        }
        if (!pthread_equal(pthread_self(), self) || tid() != me) a->moved++;
        if (tls_token != (int)me) a->tls_lost++;
    }
    __atomic_store_n(&locked_tid, 0, __ATOMIC_SEQ_CST);
    csp_unlock_os_thread();
    csp_wg_done(&a->done);
}

static int mu_thread_stop;
static void *mu_thread(void *arg) {
    csp_mutex *mu = (csp_mutex *)arg;
    while (!__atomic_load_n(&mu_thread_stop, __ATOMIC_ACQUIRE)) {
        csp_mutex_lock(mu);
        struct timespec ts = { 0, 2000 };
        nanosleep(&ts, NULL);
        csp_mutex_unlock(mu);
        sched_yield();
    }
    return NULL;
}

static void run_locked_case(int iters) {
    locked_arg a;
    memset(&a, 0, sizeof a);
    a.iters = iters;
    a.req = csp_chan_make(sizeof(long), 0);
    a.rep = csp_chan_make(sizeof(long), 0);
    csp_chan *noise = csp_chan_make(sizeof(long), 4);
    REQUIRE(a.req && a.rep && noise);
    __atomic_store_n(&others_stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&mu_thread_stop, 0, __ATOMIC_RELEASE);
    csp_waitgroup ow = {0};
    for (int i = 0; i < 4; i++) REQUIRE_EQ(csp_wg_go(&ow, other_worker, noise), 0);
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, mu_thread, &a.mu), 0);
    REQUIRE_EQ(csp_go(partner, &a), 0);
    csp_wg_add(&a.done, 1);
    REQUIRE_EQ(csp_go(locked_body, &a), 0);
    csp_wg_wait(&a.done);
    __atomic_store_n(&others_stop, 1, __ATOMIC_RELEASE);
    csp_wg_wait(&ow);
    __atomic_store_n(&mu_thread_stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    csp_close(a.req);
    EXPECT_EQ(a.moved, 0, "the locked goroutine changed threads");
    EXPECT_EQ(a.tls_lost, 0, "a thread-local changed under the locked goroutine");
    EXPECT_EQ(a.bad, 0, "round trips answered wrong");
    EXPECT_EQ(__atomic_load_n(&trespass, __ATOMIC_RELAXED), 0, "another goroutine ran on the locked thread");
    csp_chan_release(a.req); csp_chan_release(a.rep); csp_chan_release(noise);
}

TEST(locked_goroutine_keeps_its_thread) {
    run_locked_case((int)T_COUNT(1000, 200));
}

CHILD(locked_maxprocs1) {
    run_locked_case(300);
    printf("done maxprocs %d fails %d\n", csp_maxprocs(0), __atomic_load_n(&csp_test_failures_, __ATOMIC_SEQ_CST));
    fflush(stdout);
}
/* With one processor, the locked goroutine's P must move to another thread
 * whenever it parks, or its partner never runs. */
TEST(locked_goroutine_maxprocs_1) {
    csp_test_child r = RUN_CHILD_ENV(locked_maxprocs1, 60000, "CSP_MAXPROCS=1");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "done maxprocs 1 fails 0");
    csp_test_child_free(&r);
}

/* ---- two locked goroutines talk to each other -------------------------------------- */
typedef struct { csp_chan *in, *out; int n, first; long sum, moved; csp_waitgroup *wg; } pp_arg;
static void locked_pinger(void *arg) {
    pp_arg *a = (pp_arg *)arg;
    csp_lock_os_thread();
    pid_t me = tid();
    long v = 0;
    for (int i = 0; i < a->n; i++) {
        if (a->first) { v = i; csp_send(a->out, &v); csp_recv(a->in, &v); a->sum += v; }
        else { csp_recv(a->in, &v); v *= 2; csp_send(a->out, &v); }
        if (tid() != me) a->moved++;
    }
    csp_unlock_os_thread();
    csp_wg_done(a->wg);
}
TEST(two_locked_goroutines_pingpong) {
    int n = (int)T_COUNT(3000, 300);
    csp_chan *ab = csp_chan_make(sizeof(long), 0), *ba = csp_chan_make(sizeof(long), 0);
    REQUIRE(ab && ba);
    csp_waitgroup wg = {0};
    pp_arg a = { ba, ab, n, 1, 0, 0, &wg }, b = { ab, ba, n, 0, 0, 0, &wg };
    csp_wg_add(&wg, 2);
    REQUIRE_EQ(csp_go(locked_pinger, &a), 0);
    REQUIRE_EQ(csp_go(locked_pinger, &b), 0);
    csp_wg_wait(&wg);
    EXPECT_EQ(a.sum, (long)n * (n - 1), "sum of 2*i over %d rounds", n);
    EXPECT_EQ(a.moved + b.moved, 0);
    csp_chan_release(ab); csp_chan_release(ba);
}

/* ---- nesting ---------------------------------------------------------------------- */
static void nested_body(void *arg) {
    long *res = (long *)arg;
    csp_lock_os_thread();
    csp_lock_os_thread();
    pid_t me = tid();
    csp_unlock_os_thread();   /* still locked once */
    for (int i = 0; i < 200; i++) {
        csp_sleep(10 * CSP_MICROSECOND);
        if (tid() != me) res[0]++;
    }
    csp_unlock_os_thread();
    csp_unlock_os_thread();   /* one too many: no effect (Go) */
    res[1] = 1;
}
TEST(lock_nesting_counts) {
    long res[2] = { 0, 0 };
    csp_waitgroup wg = {0};
    REQUIRE_EQ(csp_wg_go(&wg, nested_body, res), 0);
    csp_wg_wait(&wg);
    EXPECT_EQ(res[1], 1);
    EXPECT_EQ(res[0], 0, "moved while still locked once");
}

/* ---- main locks itself --------------------------------------------------------------- */
static void echo_once(void *arg) {
    csp_chan *c = (csp_chan *)arg;
    long v;
    while (csp_recv(c, &v)) { v += 1; csp_send(c, &v); }
    csp_chan_release(c);   /* its own reference */
}
TEST(main_goroutine_locked) {
    csp_chan *c = csp_chan_make(sizeof(long), 0);
    REQUIRE(c);
    REQUIRE_EQ(csp_go(echo_once, csp_chan_retain(c)), 0);
    csp_lock_os_thread();
    pid_t me = tid();
    long moved = 0, bad = 0;
    for (long i = 0; i < T_COUNT(500, 100); i++) {
        long v = i;
        csp_send(c, &v);
        csp_recv(c, &v);
        if (v != i + 1) bad++;
        if (tid() != me) moved++;
    }
    csp_unlock_os_thread();
    csp_close(c);
    EXPECT_EQ(moved, 0);
    EXPECT_EQ(bad, 0);
    csp_chan_release(c);
}

/* ---- a goroutine that ends locked takes its thread with it -------------------------- */
static void exit_locked(void *arg) {
    csp_chan *c = (csp_chan *)arg;
    csp_lock_os_thread();
    long t = tid();
    csp_send(c, &t);
    /* returns while locked */
}
static int task_alive(long t) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld", t);
    struct stat st;
    return stat(path, &st) == 0;
}
static void count_up(void *arg) { __atomic_fetch_add((long *)arg, 1, __ATOMIC_RELAXED); }
TEST(exit_while_locked_ends_the_thread) {
    csp_chan *c = csp_chan_make(sizeof(long), 1);
    REQUIRE(c);
    long threads[4];
    for (int k = 0; k < 4; k++) {
        REQUIRE_EQ(csp_go(exit_locked, c), 0);
        REQUIRE(csp_recv(c, &threads[k]));
        /* On the main thread (which runs goroutines too) the thread cannot
         * end: it sleeps for good, and the rest goes on without it. */
        if (threads[k] == getpid()) continue;
        /* The thread ends soon after the goroutine does (bounded poll of
         * OS state: nothing in the runtime to wait on). */
        int alive = 1;
        for (int i = 0; i < 5000 && (alive = task_alive(threads[k])); i++) csp_sleep(CSP_MILLISECOND);
        EXPECT_EQ(alive, 0, "thread %ld still exists 5 s after its locked goroutine ended", threads[k]);
    }
    /* The runtime goes on with replacement threads. */
    long n = 0;
    csp_waitgroup wg = {0};
    for (int i = 0; i < 1000; i++) REQUIRE_EQ(csp_wg_go(&wg, count_up, &n), 0);
    csp_wg_wait(&wg);
    EXPECT_EQ(n, 1000);
    csp_chan_release(c);
}

/* ---- deadlock with a locked goroutine parked ---------------------------------------- */
static void locked_forever(void *arg) {
    csp_chan *c = (csp_chan *)arg;
    csp_lock_os_thread();
    long v;
    csp_recv(c, &v);
}
CHILD(locked_deadlock) {
    csp_chan *c = csp_chan_make(sizeof(long), 0);
    csp_go(locked_forever, c);
    csp_sleep(10 * CSP_MILLISECOND);
    long v;
    csp_recv(c, &v);   /* nobody will ever send */
}
TEST(deadlock_seen_with_locked_goroutine) {
    csp_test_child r = RUN_CHILD(locked_deadlock, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "all goroutines are asleep - deadlock!");
    csp_test_child_free(&r);
}

/* ---- plain threads: the calls count and do nothing else ----------------------------- */
static void *plain_locker(void *arg) {
    csp_chan *c = (csp_chan *)arg;
    csp_lock_os_thread();
    csp_lock_os_thread();
    long v = 5;
    csp_send(c, &v);
    csp_unlock_os_thread();
    csp_unlock_os_thread();
    csp_unlock_os_thread();
    v = 6;
    csp_send(c, &v);
    return NULL;
}
TEST(plain_thread_lock_is_harmless) {
    csp_chan *c = csp_chan_make(sizeof(long), 0);
    REQUIRE(c);
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, plain_locker, c), 0);
    long v = 0;
    EXPECT(csp_recv(c, &v));
    EXPECT_EQ(v, 5);
    EXPECT(csp_recv(c, &v));
    EXPECT_EQ(v, 6);
    pthread_join(th, NULL);
    csp_chan_release(c);
}
