/* test_sync_go.c -- the rest of Go 1.19's sync tests that test_sync.c does
 * not port (mutex_test.go: fairness for a plain thread, TestMutexMisuse's
 * variants; rwmutex_test.go: TestRWMutex's hammer, writer preference,
 * TestRLocker; waitgroup_test.go: TestWaitGroup's reuse, TestWaitGroupMisuse,
 * TestWaitGroupRace; once_test.go; cond_test.go: TestCondSignalGenerations,
 * TestCondBroadcast, TestRace, TestCondSignalStealing), and
 * golang.org/x/sync's semaphore_test.go (TestWeighted, TestWeightedTryAcquire,
 * TestWeightedAcquire, TestWeightedDoesntBlockIfTooBig,
 * TestLargeAcquireDoesntStarve, TestAllocCancelDoesntStarve) and
 * errgroup_test.go (TestZeroGroup, TestWithContext, the limit), written from
 * their documented behaviour. Goroutines and plain pthreads share every
 * object somewhere. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

#define MS CSP_MILLISECOND
#define US CSP_MICROSECOND
#define WG_INIT { 0, 0, 0, NULL }

/* Waits (politely) until *p reaches want or `limit` ns pass; true if it did. */
static bool wait_count(int *p, int want, int64_t limit) {
    int64_t t0 = csp_now();
    while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
        if (csp_now() - t0 > limit) return false;
        csp_sleep(100 * US);
    }
    return true;
}
static void spin(int n) { for (volatile int i = 0; i < n; i++) {} }
/* A plain thread running fn(arg), for the mixed tests. */
typedef struct { csp_fn fn; void *arg; } thread_job;
static void *thread_main(void *p) {
    thread_job *j = (thread_job *)p;
    j->fn(j->arg);
    free(j);
    return NULL;
}
static pthread_t start_thread(csp_fn fn, void *arg) {
    thread_job *j = (thread_job *)malloc(sizeof *j);
    j->fn = fn;
    j->arg = arg;
    pthread_t th;
    if (pthread_create(&th, NULL, thread_main, j) != 0) { free(j); csp_panic("pthread_create failed"); }
    return th;
}

/* ==== Mutex ===================================================================== */

/* TestMutexFairness with a plain thread on either side: a greedy holder that
 * re-locks at once must not starve a modest locker (starvation mode hands
 * the lock over after 1 ms of waiting), whether the waiter sleeps in the
 * kernel (plain thread) or parks (goroutine). */
static csp_mutex fair;
static int fair_stop;
static void greedy(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&fair_stop, __ATOMIC_ACQUIRE)) {
        csp_mutex_lock(&fair);
        csp_sleep(100 * US);
        csp_mutex_unlock(&fair);
    }
}
static int modest_done;
static void modest(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) {
        csp_sleep(100 * US);
        csp_mutex_lock(&fair);
        csp_mutex_unlock(&fair);
    }
    __atomic_store_n(&modest_done, 1, __ATOMIC_RELEASE);
}
TEST(mutex_fairness_goroutines_and_plain_threads) {
    for (int round = 0; round < 3; round++) {
        __atomic_store_n(&fair_stop, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&modest_done, 0, __ATOMIC_RELEASE);
        csp_waitgroup wg = WG_INIT;
        pthread_t th;
        if (round == 0) {   /* greedy goroutines, modest thread */
            csp_wg_go(&wg, greedy, NULL);
            csp_wg_go(&wg, greedy, NULL);
            th = start_thread(modest, NULL);
        } else if (round == 1) {   /* greedy thread, modest goroutine */
            th = start_thread(greedy, NULL);
            csp_wg_go(&wg, modest, NULL);
        } else {            /* Go's own case: goroutines on both sides */
            csp_wg_go(&wg, greedy, NULL);
            csp_wg_go(&wg, modest, NULL);
        }
        EXPECT(wait_count(&modest_done, 1, 10 * CSP_SECOND), "round %d: the modest locker got the lock 10 times within 10 s", round);
        __atomic_store_n(&fair_stop, 1, __ATOMIC_RELEASE);
        csp_wg_wait(&wg);
        if (round < 2) pthread_join(th, NULL);
    }
}

/* TestMutexMisuse's variants, in a goroutine and on a plain thread (the
 * panic names who panicked). */
static void mm_unlock2(void *a) { (void)a; csp_mutex m = { 0, 0 }; csp_mutex_lock(&m); csp_mutex_unlock(&m); csp_mutex_unlock(&m); }
static void mm_rw_unlock2(void *a) { (void)a; csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_rlock(&m); csp_rwmutex_unlock(&m); }
static void mm_rw_unlock3(void *a) { (void)a; csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_lock(&m); csp_rwmutex_unlock(&m); csp_rwmutex_unlock(&m); }
static void mm_rw_runlock2(void *a) { (void)a; csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_lock(&m); csp_rwmutex_runlock(&m); }
static void mm_rw_runlock3(void *a) { (void)a; csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_rlock(&m); csp_rwmutex_runlock(&m); csp_rwmutex_runlock(&m); }
static void in_goroutine(csp_fn fn) {
    csp_waitgroup wg = WG_INIT;
    csp_go_opts o = { 0, "misuser" };
    csp_wg_add(&wg, 1);
    csp_go_ex(fn, NULL, &o);
    csp_wg_wait(&wg);   /* never returns: fn panics */
}
static void on_thread(csp_fn fn) { pthread_join(start_thread(fn, NULL), NULL); }
CHILD(mm_unlock2_g) { in_goroutine(mm_unlock2); }
CHILD(mm_unlock2_t) { on_thread(mm_unlock2); }
CHILD(mm_rw_unlock2_g) { in_goroutine(mm_rw_unlock2); }
CHILD(mm_rw_unlock3_t) { on_thread(mm_rw_unlock3); }
CHILD(mm_rw_runlock2_t) { on_thread(mm_rw_runlock2); }
CHILD(mm_rw_runlock3_g) { in_goroutine(mm_rw_runlock3); }
TEST(mutex_misuse_variants) {
    static const struct { const char *child, *msg, *who; } cases[] = {
        { "mm_unlock2_g", "panic: sync: unlock of unlocked mutex", "goroutine " },
        { "mm_unlock2_t", "panic: sync: unlock of unlocked mutex", "thread " },
        { "mm_rw_unlock2_g", "panic: sync: Unlock of unlocked RWMutex", "goroutine " },
        { "mm_rw_unlock3_t", "panic: sync: Unlock of unlocked RWMutex", "thread " },
        { "mm_rw_runlock2_t", "panic: sync: RUnlock of unlocked RWMutex", "thread " },
        { "mm_rw_runlock3_g", "panic: sync: RUnlock of unlocked RWMutex", "goroutine " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 2);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].msg);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].who);
        if (cases[i].who[0] == 'g') EXPECT_CHILD_OUTPUT_HAS(r, "\"misuser\"");
        csp_test_child_free(&r);
    }
}

/* ==== RWMutex =================================================================== */

/* TestRWMutex's HammerRWMutex: readers add 1 to an activity count, writers
 * 10000; a reader must see 1..9999, a writer exactly 10000. Goroutines and
 * plain threads, with 1 and 4 processors. */
static csp_rwmutex hrw;
static int32_t activity;
static int hrw_bad, hrw_iters;
static void hammer_reader(void *arg) {
    (void)arg;
    for (int i = 0; i < hrw_iters; i++) {
        csp_rwmutex_rlock(&hrw);
        int32_t n = __atomic_add_fetch(&activity, 1, __ATOMIC_ACQ_REL);
        if (n < 1 || n >= 10000) __atomic_fetch_add(&hrw_bad, 1, __ATOMIC_RELAXED);
        spin(100);
        if (i % 8 == 0) csp_yield();
        __atomic_sub_fetch(&activity, 1, __ATOMIC_ACQ_REL);
        csp_rwmutex_runlock(&hrw);
    }
}
static void hammer_writer(void *arg) {
    (void)arg;
    for (int i = 0; i < hrw_iters; i++) {
        csp_rwmutex_lock(&hrw);
        int32_t n = __atomic_add_fetch(&activity, 10000, __ATOMIC_ACQ_REL);
        if (n != 10000) __atomic_fetch_add(&hrw_bad, 1, __ATOMIC_RELAXED);
        spin(100);
        if (i % 8 == 0) csp_yield();
        __atomic_sub_fetch(&activity, 10000, __ATOMIC_ACQ_REL);
        csp_rwmutex_unlock(&hrw);
    }
}
TEST(rwmutex_hammer_goroutines_and_threads) {
    static const int procs[] = { 1, 4 };
    hrw_iters = T_COUNT(2000, 200);
    for (size_t k = 0; k < 2; k++) {
        int old = csp_maxprocs(procs[k]);
        csp_waitgroup wg = WG_INIT;
        pthread_t tr = start_thread(hammer_reader, NULL), tw = start_thread(hammer_writer, NULL);
        csp_wg_go(&wg, hammer_writer, NULL);
        for (int i = 0; i < 6; i++) csp_wg_go(&wg, hammer_reader, NULL);
        csp_wg_go(&wg, hammer_writer, NULL);
        csp_wg_wait(&wg);
        pthread_join(tr, NULL);
        pthread_join(tw, NULL);
        csp_maxprocs(old);
        EXPECT_EQ(hrw_bad, 0, "with %d processors", procs[k]);
        EXPECT_EQ(activity, 0);
    }
}

/* Writer preference: with a reader inside and a writer waiting, a new
 * reader (here a plain thread and a goroutine) waits until the writer has
 * had its turn. The log records who got in, in order. */
static csp_rwmutex wp;
static char wp_log[8];
static int wp_n, wp_in;
static void wp_note(char c) { wp_log[__atomic_fetch_add(&wp_n, 1, __ATOMIC_ACQ_REL)] = c; }
static void wp_writer(void *arg) {
    (void)arg;
    csp_rwmutex_lock(&wp);
    wp_note('W');
    csp_sleep(5 * MS);   /* readers that got in now would be logged after W anyway */
    csp_rwmutex_unlock(&wp);
}
static void wp_reader(void *arg) {
    (void)arg;
    __atomic_fetch_add(&wp_in, 1, __ATOMIC_ACQ_REL);
    csp_rwmutex_rlock(&wp);
    wp_note('R');
    csp_rwmutex_runlock(&wp);
}
TEST(rwmutex_pending_writer_blocks_new_readers) {
    csp_rwmutex_rlock(&wp);   /* the reader inside */
    csp_waitgroup wg = WG_INIT;
    csp_wg_go(&wg, wp_writer, NULL);
    /* The writer is waiting once a try-read fails (public API only). */
    int64_t t0 = csp_now();
    while (csp_rwmutex_tryrlock(&wp)) {
        csp_rwmutex_runlock(&wp);
        REQUIRE(csp_now() - t0 < 10 * CSP_SECOND, "the writer never announced itself");
        csp_sleep(100 * US);
    }
    pthread_t th = start_thread(wp_reader, NULL);
    csp_wg_go(&wg, wp_reader, NULL);
    EXPECT(wait_count(&wp_in, 2, 10 * CSP_SECOND));
    csp_sleep(30 * MS);   /* proving that the new readers do NOT get in */
    EXPECT_EQ(__atomic_load_n(&wp_n, __ATOMIC_ACQUIRE), 0, "someone got in past a waiting writer: %.*s", wp_n, wp_log);
    csp_rwmutex_runlock(&wp);
    csp_wg_wait(&wg);
    pthread_join(th, NULL);
    EXPECT_EQ(wp_n, 3);
    EXPECT(wp_log[0] == 'W', "the waiting writer went first: %.3s", wp_log);
}

/* TestRLocker: a read lock taken twice (no writer waiting then), released by
 * another thread one at a time: the writer behind it gets in only after the
 * second release, and while it holds the lock no reader does. The locking
 * side is a plain thread. */
static csp_rwmutex rlk;
static csp_chan *rlocked, *wlocked;
static void rlocker_side(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        csp_rwmutex_rlock(&rlk);
        csp_rwmutex_rlock(&rlk);
        csp_send(rlocked, &(bool){ true });
        csp_rwmutex_lock(&rlk);
        csp_send(wlocked, &(bool){ true });
    }
}
TEST(rwmutex_read_lock_released_by_another_thread) {
    int n = 10;
    rlocked = csp_chan_make(sizeof(bool), 1);
    wlocked = csp_chan_make(sizeof(bool), 1);
    pthread_t th = start_thread(rlocker_side, &n);
    for (int i = 0; i < n; i++) {
        csp_recv(rlocked, NULL);
        csp_rwmutex_runlock(&rlk);
        csp_sleep(MS);   /* proving that the writer does NOT get in with one read lock left */
        EXPECT(!csp_try_recv(wlocked, NULL, NULL), "round %d: the double read lock did not hold", i);
        csp_rwmutex_runlock(&rlk);
        csp_recv(wlocked, NULL);
        EXPECT(!csp_try_recv(rlocked, NULL, NULL), "round %d: a reader got in past the write lock", i);
        csp_rwmutex_unlock(&rlk);
    }
    pthread_join(th, NULL);
    csp_chan_release(rlocked);
    csp_chan_release(wlocked);
}

/* ==== WaitGroup ================================================================= */

/* TestWaitGroup: wg1 tells the test all n have arrived; they then wait on
 * wg2, which the test counts down: none may leave before the last Done.
 * The same two WaitGroups serve 8 rounds (reuse); two of the n are plain
 * threads. */
static csp_waitgroup wg1, wg2;
static csp_chan *wg_exited;
static void wg_participant(void *arg) {
    (void)arg;
    csp_wg_done(&wg1);
    csp_wg_wait(&wg2);
    csp_send(wg_exited, &(bool){ true });
}
TEST(waitgroup_reuse_with_threads) {
    enum { N = 16 };
    wg_exited = csp_chan_make(sizeof(bool), N);
    for (int round = 0; round < 8; round++) {
        csp_wg_add(&wg1, N);
        csp_wg_add(&wg2, N);
        pthread_t th[2];
        for (int i = 0; i < N; i++) {
            if (i < 2) th[i] = start_thread(wg_participant, NULL);
            else csp_go(wg_participant, NULL);
        }
        csp_wg_wait(&wg1);
        for (int i = 0; i < N; i++) {
            EXPECT(!csp_try_recv(wg_exited, NULL, NULL), "round %d: WaitGroup released the group too soon", round);
            csp_wg_done(&wg2);
        }
        for (int i = 0; i < N; i++) csp_recv(wg_exited, NULL);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    }
    csp_chan_release(wg_exited);
}

/* TestWaitGroupMisuse, where the counter goes negative in a goroutine and
 * on a plain thread. */
static void wg_misuse(void *arg) { (void)arg; csp_waitgroup wg = WG_INIT; csp_wg_add(&wg, 1); csp_wg_done(&wg); csp_wg_done(&wg); }
static void wg_negative_add(void *arg) { (void)arg; csp_waitgroup wg = WG_INIT; csp_wg_add(&wg, 3); csp_wg_add(&wg, -4); }
CHILD(wg_misuse_g) { in_goroutine(wg_misuse); }
CHILD(wg_misuse_t) { on_thread(wg_misuse); }
CHILD(wg_negative_add_g) { in_goroutine(wg_negative_add); }
TEST(waitgroup_misuse_panics) {
    static const struct { const char *child, *who; } cases[] = {
        { "wg_misuse_g", "goroutine " }, { "wg_misuse_t", "thread " }, { "wg_negative_add_g", "goroutine " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 2);
        EXPECT_CHILD_OUTPUT_HAS(r, "panic: sync: negative WaitGroup counter");
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].who);
        csp_test_child_free(&r);
    }
}

/* TestWaitGroupRace: Add(2), two workers increment and Done, Wait sees 2.
 * One worker is a goroutine, the other a long-lived plain thread served
 * through a channel; the WaitGroup lives on the waiter's stack and dies as
 * soon as Wait returns (the last Done must not touch it any more). */
typedef struct { csp_waitgroup *wg; int *n; } wgr_job;
static csp_chan *wgr_jobs;
static void wgr_inc(void *arg) { wgr_job *j = (wgr_job *)arg; __atomic_fetch_add(j->n, 1, __ATOMIC_ACQ_REL); csp_wg_done(j->wg); }
static void wgr_server(void *arg) {
    (void)arg;
    wgr_job j;
    while (csp_recv(wgr_jobs, &j)) wgr_inc(&j);
}
static bool wgr_round(void) {
    csp_waitgroup wg = WG_INIT;
    int n = 0;
    wgr_job j = { &wg, &n };
    csp_wg_add(&wg, 2);
    csp_send(wgr_jobs, &j);
    csp_go_copy(wgr_inc, &j, sizeof j);
    csp_wg_wait(&wg);
    return __atomic_load_n(&n, __ATOMIC_ACQUIRE) == 2;
}
TEST(waitgroup_race_goroutine_and_thread) {
    wgr_jobs = csp_chan_make(sizeof(wgr_job), 0);
    pthread_t th = start_thread(wgr_server, NULL);
    int bad = 0, rounds = T_COUNT(1000, 200);
    for (int i = 0; i < rounds; i++) bad += !wgr_round();
    csp_close(wgr_jobs);
    pthread_join(th, NULL);
    csp_chan_release(wgr_jobs);
    EXPECT_EQ(bad, 0, "Wait returned before both Dones");
}

/* Many waiters, goroutines and plain threads, on one WaitGroup counted down
 * by goroutines: every waiter returns, and only after the last Done. */
static csp_waitgroup mw;
static int mw_dones, mw_early, mw_back;
static void mw_waiter(void *arg) {
    (void)arg;
    csp_wg_wait(&mw);
    if (__atomic_load_n(&mw_dones, __ATOMIC_ACQUIRE) != 10) __atomic_fetch_add(&mw_early, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&mw_back, 1, __ATOMIC_ACQ_REL);
}
static void mw_worker(void *arg) {
    (void)arg;
    csp_sleep(2 * MS);
    __atomic_fetch_add(&mw_dones, 1, __ATOMIC_ACQ_REL);   /* before Done: a waiter must see it */
    csp_wg_done(&mw);
}
TEST(waitgroup_many_waiters_goroutines_and_threads) {
    csp_wg_add(&mw, 10);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) th[i] = start_thread(mw_waiter, NULL);
    for (int i = 0; i < 5; i++) csp_go(mw_waiter, NULL);
    for (int i = 0; i < 10; i++) csp_go(mw_worker, NULL);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    EXPECT(wait_count(&mw_back, 8, 10 * CSP_SECOND), "%d of 8 waiters returned", mw_back);
    EXPECT_EQ(mw_early, 0, "a waiter returned before the counter reached zero");
}

/* ==== Once ====================================================================== */

/* TestOnce with plain threads among the callers: one run, and nobody returns
 * before it finished; a different function on a done Once never runs. */
static csp_once once;
static int once_runs, once_seen, once_other;
static void once_fn(void *arg) { (void)arg; csp_sleep(5 * MS); __atomic_fetch_add(&once_runs, 1, __ATOMIC_ACQ_REL); }
static void once_other_fn(void *arg) { (void)arg; __atomic_fetch_add(&once_other, 1, __ATOMIC_ACQ_REL); }
static void once_caller(void *arg) {
    (void)arg;
    csp_once_do(&once, once_fn, NULL);
    if (__atomic_load_n(&once_runs, __ATOMIC_ACQUIRE) == 1) __atomic_fetch_add(&once_seen, 1, __ATOMIC_ACQ_REL);
}
TEST(once_with_plain_threads) {
    pthread_t th[4];
    csp_waitgroup wg = WG_INIT;
    for (int i = 0; i < 4; i++) th[i] = start_thread(once_caller, NULL);
    for (int i = 0; i < 16; i++) csp_wg_go(&wg, once_caller, NULL);
    csp_wg_wait(&wg);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    EXPECT_EQ(once_runs, 1);
    EXPECT_EQ(once_seen, 20, "every caller returned after the function finished");
    csp_once_do(&once, once_other_fn, NULL);
    EXPECT_EQ(once_other, 0, "a done Once runs nothing");
}

/* ==== Cond ====================================================================== */

/* TestCondSignalGenerations: waiter i arrives, is signalled, and only it
 * wakes (i, not an older or newer one). */
static csp_mutex gm;
static csp_cond gc;
static csp_chan *g_running, *g_awake;
static void gen_waiter(void *arg) {
    int i = *(int *)arg;
    csp_mutex_lock(&gm);
    csp_send(g_running, &(bool){ true });
    csp_cond_wait(&gc, &gm);
    csp_send(g_awake, &i);
    csp_mutex_unlock(&gm);
}
TEST(cond_signal_generations) {
    int n = T_COUNT(100, 30);
    g_running = csp_chan_make(sizeof(bool), (size_t)n);
    g_awake = csp_chan_make(sizeof(int), (size_t)n);
    for (int i = 0; i < n; i++) {
        csp_go_copy(gen_waiter, &i, sizeof i);
        if (i > 0) {
            int a = -1;
            csp_recv(g_awake, &a);
            EXPECT_EQ(a, i - 1, "the wrong goroutine woke up");
        }
        csp_recv(g_running, NULL);
        csp_mutex_lock(&gm);
        csp_cond_signal(&gc);
        csp_mutex_unlock(&gm);
    }
    int a = -1;
    csp_recv(g_awake, &a);
    EXPECT_EQ(a, n - 1);
    csp_chan_release(g_running);
    csp_chan_release(g_awake);
}

/* TestCondBroadcast: n waiters, n rounds; in each, every one of them is
 * asleep before the broadcast and every one wakes exactly once. */
static csp_mutex bm;
static csp_cond bc;
static csp_chan *b_running, *b_awake;
static bool b_exit;
static void bcast_waiter(void *arg) {
    int g = *(int *)arg;
    csp_mutex_lock(&bm);
    while (!b_exit) {
        csp_send(b_running, &g);
        csp_cond_wait(&bc, &bm);
        csp_send(b_awake, &g);
    }
    csp_mutex_unlock(&bm);
}
TEST(cond_broadcast) {
    int n = T_COUNT(200, 30);
    b_running = csp_chan_make(sizeof(int), (size_t)n);
    b_awake = csp_chan_make(sizeof(int), (size_t)n);
    bool *seen = (bool *)calloc((size_t)n, sizeof *seen);
    for (int i = 0; i < n; i++) csp_go_copy(bcast_waiter, &i, sizeof i);
    int twice = 0, asleep_bad = 0;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < n; i++) csp_recv(b_running, NULL);   /* stuck unless all n run */
        if (r == n - 1) { csp_mutex_lock(&bm); b_exit = true; csp_mutex_unlock(&bm); }
        asleep_bad += csp_try_recv(b_awake, NULL, NULL);
        csp_mutex_lock(&bm);
        csp_cond_broadcast(&bc);
        csp_mutex_unlock(&bm);
        memset(seen, 0, (size_t)n);
        for (int i = 0; i < n; i++) {
            int g = 0;
            csp_recv(b_awake, &g);
            twice += seen[g];
            seen[g] = true;
        }
    }
    EXPECT_EQ(asleep_bad, 0, "a goroutine was not asleep before the broadcast");
    EXPECT_EQ(twice, 0, "a goroutine woke twice from one broadcast");
    csp_sleep(5 * MS);
    EXPECT(!csp_try_recv(b_running, NULL, NULL), "a goroutine did not exit");
    free(seen);
    csp_chan_release(b_running);
    csp_chan_release(b_awake);
}

/* TestRace: three goroutines hand x along 1 -> 2 -> 3 with a Cond; a signal
 * given before a goroutine waits must not be taken by it. */
static csp_mutex rm;
static csp_cond rc;
static int rx, r_bad;
static csp_waitgroup r_wg;
static void race1(void *arg) {
    (void)arg;
    csp_mutex_lock(&rm);
    rx = 1;
    csp_cond_wait(&rc, &rm);
    if (rx != 2) r_bad++;
    rx = 3;
    csp_cond_signal(&rc);
    csp_mutex_unlock(&rm);
}
static void race2(void *arg) {
    (void)arg;
    csp_mutex_lock(&rm);
    for (;;) {
        if (rx == 1) { rx = 2; csp_cond_signal(&rc); break; }
        csp_mutex_unlock(&rm);
        csp_yield();
        csp_mutex_lock(&rm);
    }
    csp_mutex_unlock(&rm);
}
static void race3(void *arg) {
    (void)arg;
    csp_mutex_lock(&rm);
    for (;;) {
        if (rx == 2) { csp_cond_wait(&rc, &rm); if (rx != 3) r_bad++; break; }
        if (rx == 3) break;
        csp_mutex_unlock(&rm);
        csp_yield();
        csp_mutex_lock(&rm);
    }
    csp_mutex_unlock(&rm);
}
TEST(cond_race) {
    int iters = T_COUNT(300, 30);
    for (int i = 0; i < iters; i++) {
        rx = 0;
        csp_wg_go(&r_wg, race1, NULL);
        csp_wg_go(&r_wg, race2, NULL);
        csp_wg_go(&r_wg, race3, NULL);
        csp_wg_wait(&r_wg);
    }
    EXPECT_EQ(r_bad, 0, "a waiter woke to the wrong value of x");
}

/* TestCondSignalStealing: a broadcast racing a new waiter must wake the
 * waiter that was already asleep. The objects are new every round and live
 * until both goroutines are done with them. */
typedef struct { csp_mutex m; csp_cond c; csp_chan *ch; bool done; csp_waitgroup wg; } steal_t;
static void steal_first(void *arg) {
    steal_t *s = (steal_t *)arg;
    csp_mutex_lock(&s->m);
    csp_send(s->ch, NULL);
    csp_cond_wait(&s->c, &s->m);
    csp_mutex_unlock(&s->m);
    csp_send(s->ch, NULL);
}
static void steal_bcast(void *arg) { csp_cond_broadcast(&((steal_t *)arg)->c); }
static void steal_second(void *arg) {
    steal_t *s = (steal_t *)arg;
    csp_mutex_lock(&s->m);
    while (!s->done) csp_cond_wait(&s->c, &s->m);
    csp_mutex_unlock(&s->m);
}
TEST(cond_signal_stealing) {
    int iters = T_COUNT(1000, 100), missed = 0;
    for (int it = 0; it < iters && !missed; it++) {
        steal_t *s = (steal_t *)calloc(1, sizeof *s);
        s->ch = csp_chan_make(0, 0);
        csp_wg_go(&s->wg, steal_first, s);
        csp_recv(s->ch, NULL);
        csp_mutex_lock(&s->m);     /* the first waiter is inside csp_cond_wait now */
        csp_mutex_unlock(&s->m);
        csp_wg_go(&s->wg, steal_bcast, s);
        csp_wg_go(&s->wg, steal_second, s);
        csp_case k[1] = { CSP_RECV(s->ch, NULL) };
        if (csp_select(k, 1, 10 * CSP_SECOND) != 0) missed = it + 1;
        csp_mutex_lock(&s->m);
        s->done = true;
        csp_mutex_unlock(&s->m);
        csp_cond_broadcast(&s->c);
        if (missed) { csp_cond_broadcast(&s->c); csp_recv(s->ch, NULL); }
        csp_wg_wait(&s->wg);
        csp_chan_release(s->ch);
        free(s);
    }
    EXPECT_EQ(missed, 0, "round %d: the first waiter did not get the broadcast", missed - 1);
}

/* A bounded buffer on one mutex and two Conds, with plain-thread and
 * goroutine producers and consumers: every item arrives exactly once. */
enum { BB_CAP = 4 };
static csp_mutex bbm;
static csp_cond bb_notfull, bb_notempty;
static long bb_buf[BB_CAP];
static int bb_head, bb_len, bb_items;
static long bb_sum;
static int bb_taken;
static void bb_producer(void *arg) {
    long base = *(long *)arg;
    for (int i = 1; i <= bb_items; i++) {
        csp_mutex_lock(&bbm);
        while (bb_len == BB_CAP) csp_cond_wait(&bb_notfull, &bbm);
        bb_buf[(bb_head + bb_len++) % BB_CAP] = base + i;
        csp_cond_signal(&bb_notempty);
        csp_mutex_unlock(&bbm);
    }
}
static void bb_consumer(void *arg) {
    int total = *(int *)arg;
    for (;;) {
        csp_mutex_lock(&bbm);
        while (bb_len == 0 && bb_taken < total) csp_cond_wait(&bb_notempty, &bbm);
        if (bb_taken == total) { csp_cond_broadcast(&bb_notempty); csp_mutex_unlock(&bbm); return; }
        bb_sum += bb_buf[bb_head];
        bb_head = (bb_head + 1) % BB_CAP;
        bb_len--;
        bb_taken++;
        csp_cond_signal(&bb_notfull);
        if (bb_taken == total) csp_cond_broadcast(&bb_notempty);
        csp_mutex_unlock(&bbm);
    }
}
TEST(cond_bounded_buffer_goroutines_and_threads) {
    bb_items = T_COUNT(5000, 500);
    static long bases[4] = { 0, 1000000, 2000000, 3000000 };
    int total = 4 * bb_items;
    csp_waitgroup wg = WG_INIT;
    pthread_t tp = start_thread(bb_producer, &bases[0]), tc = start_thread(bb_consumer, &total);
    for (int i = 1; i < 4; i++) csp_wg_go(&wg, bb_producer, &bases[i]);
    for (int i = 0; i < 3; i++) csp_wg_go(&wg, bb_consumer, &total);
    csp_wg_wait(&wg);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    long want = 0;
    for (int p = 0; p < 4; p++) want += (long)bb_items * bases[p] + (long)bb_items * (bb_items + 1) / 2;
    EXPECT_EQ(bb_taken, total);
    EXPECT_EQ(bb_sum, want, "every item exactly once");
}

/* ==== golang.org/x/sync/semaphore ============================================== */

/* TestWeighted: workers of weight 1..n on a semaphore of n hammer it; what is
 * held never exceeds n. One worker is a plain thread. */
static csp_sema *hs;
static int64_t hs_held, hs_cap;
static int hs_bad, hs_loops;
static void hs_worker(void *arg) {
    int64_t w = *(int64_t *)arg;
    for (int i = 0; i < hs_loops; i++) {
        if (csp_sema_acquire(hs, w, NULL) != 0) { __atomic_fetch_add(&hs_bad, 1, __ATOMIC_RELAXED); return; }
        if (__atomic_add_fetch(&hs_held, w, __ATOMIC_ACQ_REL) > hs_cap) __atomic_fetch_add(&hs_bad, 1, __ATOMIC_RELAXED);
        if (i % 4 == 0) csp_sleep((int64_t)(i % 7) * 10 * US);
        __atomic_sub_fetch(&hs_held, w, __ATOMIC_ACQ_REL);
        csp_sema_release(hs, w);
    }
}
TEST(sema_weighted_hammer) {
    hs_cap = 4;
    hs_loops = T_COUNT(2000, 200);
    hs = csp_sema_new(hs_cap);
    static int64_t weights[4] = { 1, 2, 3, 4 };
    csp_waitgroup wg = WG_INIT;
    pthread_t th = start_thread(hs_worker, &weights[3]);
    for (int i = 0; i < 3; i++) csp_wg_go(&wg, hs_worker, &weights[i]);
    csp_wg_wait(&wg);
    pthread_join(th, NULL);
    EXPECT_EQ(hs_bad, 0, "more held than the capacity");
    EXPECT(csp_sema_try_acquire(hs, hs_cap), "all of it free at the end");
    csp_sema_release(hs, hs_cap);
    csp_sema_free(hs);
}

/* TestWeightedTryAcquire. */
TEST(sema_try_acquire) {
    csp_sema *s = csp_sema_new(2);
    bool tries[4];
    EXPECT_EQ(csp_sema_acquire(s, 1, NULL), 0);
    tries[0] = csp_sema_try_acquire(s, 1);
    tries[1] = csp_sema_try_acquire(s, 1);
    csp_sema_release(s, 2);
    tries[2] = csp_sema_try_acquire(s, 1);
    EXPECT_EQ(csp_sema_acquire(s, 1, NULL), 0);
    tries[3] = csp_sema_try_acquire(s, 1);
    static const bool want[4] = { true, false, true, false };
    for (int i = 0; i < 4; i++) EXPECT_EQ(tries[i], want[i], "try %d", i);
    csp_sema_release(s, 2);
    csp_sema_free(s);
}

/* TestWeightedAcquire: Acquire under a 10 ms timeout succeeds while there is
 * room, and otherwise fails with -ETIMEDOUT after (never before) 10 ms. The
 * same from a plain thread, and a cancel from a plain thread. */
static csp_sema *ta_s;
static int timed_acquire(int64_t n) {
    int64_t t0 = csp_now();   /* before the deadline is set from the clock */
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, 10 * MS);
    int rc = csp_sema_acquire(ta_s, n, ctx);
    if (rc == -ETIMEDOUT && csp_now() - t0 < 10 * MS) rc = -EINTR;   /* gave up early: wrong */
    csp_ctx_cancel(ctx);
    csp_ctx_release(ctx);
    return rc;
}
static void ta_sequence(void *arg) {
    int *rcs = (int *)arg;
    rcs[0] = csp_sema_acquire(ta_s, 1, NULL);
    rcs[1] = timed_acquire(1);
    rcs[2] = timed_acquire(1);
    csp_sema_release(ta_s, 2);
    rcs[3] = timed_acquire(1);
    rcs[4] = csp_sema_acquire(ta_s, 1, NULL);
    rcs[5] = timed_acquire(1);
    csp_sema_release(ta_s, 2);
}
static csp_ctx *ta_ctx;
static void ta_canceler(void *arg) { (void)arg; csp_sleep(5 * MS); csp_ctx_cancel(ta_ctx); }
TEST(sema_acquire_with_timeout_and_cancel) {
    static const int want[6] = { 0, 0, -ETIMEDOUT, 0, 0, -ETIMEDOUT };
    ta_s = csp_sema_new(2);
    for (int round = 0; round < 3; round++) {   /* a goroutine (main), then a plain thread */
        int rcs[6] = { 1, 1, 1, 1, 1, 1 };
        if (round == 0) ta_sequence(rcs);
        else pthread_join(start_thread(ta_sequence, rcs), NULL);
        for (int i = 0; i < 6; i++) EXPECT_EQ(rcs[i], want[i], "%s, step %d", round ? "plain thread" : "goroutine", i);
    }
    EXPECT_EQ(csp_sema_acquire(ta_s, 2, NULL), 0);
    ta_ctx = csp_ctx_with_cancel(NULL);
    pthread_t th = start_thread(ta_canceler, NULL);
    EXPECT_EQ(csp_sema_acquire(ta_s, 1, ta_ctx), -ECANCELED, "canceled by a plain thread");
    pthread_join(th, NULL);
    csp_ctx_release(ta_ctx);
    csp_sema_release(ta_s, 2);
    EXPECT(csp_sema_try_acquire(ta_s, 2), "nothing leaked");
    csp_sema_release(ta_s, 2);
    csp_sema_free(ta_s);
}

/* TestWeightedDoesntBlockIfTooBig: a request above the capacity waits for its
 * context only and holds back nobody. */
static csp_sema *tb_s;
static int tb_small(csp_ctx *ctx, void *arg) {
    (void)arg;
    int rc = csp_sema_acquire(tb_s, 1, ctx);
    if (rc == 0) { csp_sleep(MS); csp_sema_release(tb_s, 1); }
    return rc;
}
static int tb_big(csp_ctx *ctx, void *arg) {
    (void)arg;
    return csp_sema_acquire(tb_s, 3, ctx) == -ECANCELED ? 0 : 99;
}
TEST(sema_too_big_does_not_block) {
    tb_s = csp_sema_new(2);
    csp_ctx *bctx = csp_ctx_with_cancel(NULL);
    csp_errgroup *big = csp_errgroup_new(bctx);
    csp_errgroup_go(big, tb_big, NULL);
    csp_sleep(MS);
    csp_errgroup *g = csp_errgroup_new(NULL);
    for (int i = 0; i < 6; i++) csp_errgroup_go(g, tb_small, NULL);
    EXPECT_EQ(csp_errgroup_wait(g), 0, "the small ones all got through");
    csp_ctx_cancel(bctx);
    EXPECT_EQ(csp_errgroup_wait(big), 0, "the big one ended with -ECANCELED");
    csp_errgroup_free(g);
    csp_errgroup_free(big);
    csp_ctx_release(bctx);
    csp_sema_free(tb_s);
}

/* TestLargeAcquireDoesntStarve: n holders keep releasing and re-taking one
 * token each; a request for all n queues first and must get them (no
 * barging past it). One holder is a plain thread. */
static csp_sema *la_s;
static int la_running;
static void la_holder(void *arg) {
    (void)arg;
    while (__atomic_load_n(&la_running, __ATOMIC_ACQUIRE)) {
        csp_sleep(MS);
        csp_sema_release(la_s, 1);
        csp_sema_acquire(la_s, 1, NULL);
    }
    csp_sema_release(la_s, 1);
}
TEST(sema_large_acquire_does_not_starve) {
    enum { N = 4 };
    la_s = csp_sema_new(N);
    __atomic_store_n(&la_running, 1, __ATOMIC_RELEASE);
    csp_waitgroup wg = WG_INIT;
    pthread_t th = pthread_self();
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(csp_sema_acquire(la_s, 1, NULL), 0);
        if (i == 0) th = start_thread(la_holder, NULL);
        else csp_wg_go(&wg, la_holder, NULL);
    }
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, 10 * CSP_SECOND);
    EXPECT_EQ(csp_sema_acquire(la_s, N, ctx), 0, "the large request got through within 10 s");
    __atomic_store_n(&la_running, 0, __ATOMIC_RELEASE);
    csp_sema_release(la_s, N);
    csp_wg_wait(&wg);
    pthread_join(th, NULL);
    EXPECT(csp_sema_try_acquire(la_s, N), "all tokens back");
    csp_ctx_release(ctx);
    csp_sema_free(la_s);
}

/* TestAllocCancelDoesntStarve: a request for 10 of 10 (one held) waits at the
 * head; it is canceled (by a plain thread) while a request for 1 queues
 * behind it: the 1 must get through. */
static csp_sema *ac_s;
static csp_ctx *ac_ctx;
static int ac_big_rc = 1;
static void ac_big(void *arg) { (void)arg; ac_big_rc = csp_sema_acquire(ac_s, 10, ac_ctx); }
static void ac_cancel(void *arg) { (void)arg; csp_ctx_cancel(ac_ctx); }
TEST(sema_canceled_head_does_not_starve_the_next) {
    int rounds = T_COUNT(50, 10), bad = 0;
    for (int r = 0; r < rounds; r++) {
        ac_s = csp_sema_new(10);
        EXPECT_EQ(csp_sema_acquire(ac_s, 1, NULL), 0);
        ac_ctx = csp_ctx_with_cancel(NULL);
        csp_waitgroup wg = WG_INIT;
        csp_wg_go(&wg, ac_big, NULL);
        /* The big request waits once a try for 1 fails (no barging). */
        while (csp_sema_try_acquire(ac_s, 1)) { csp_sema_release(ac_s, 1); csp_yield(); }
        pthread_t th = start_thread(ac_cancel, NULL);
        csp_ctx *limit = csp_ctx_with_timeout(NULL, 10 * CSP_SECOND);
        bad += csp_sema_acquire(ac_s, 1, limit) != 0;
        csp_wg_wait(&wg);
        pthread_join(th, NULL);
        bad += ac_big_rc != -ECANCELED;
        csp_sema_release(ac_s, 2);
        bad += !csp_sema_try_acquire(ac_s, 10);
        csp_ctx_release(limit);
        csp_ctx_release(ac_ctx);
        csp_sema_free(ac_s);
    }
    EXPECT_EQ(bad, 0, "the request behind a canceled head starved, or tokens leaked");
}

/* A grant racing the waiter's timeout: whatever Acquire answers, the tokens
 * are accounted for (held when it returned 0, not held otherwise). */
static csp_sema *gr_s;
static void gr_release_soon(void *arg) { int64_t d = *(int64_t *)arg; csp_sleep(d); csp_sema_release(gr_s, 1); }
TEST(sema_grant_racing_the_timeout) {
    gr_s = csp_sema_new(1);
    int rounds = T_COUNT(300, 50), got = 0;
    for (int r = 0; r < rounds; r++) {
        EXPECT_EQ(csp_sema_acquire(gr_s, 1, NULL), 0);
        int64_t d = 1 * MS + (int64_t)(r % 5) * 100 * US;   /* about the timeout */
        csp_waitgroup wg = WG_INIT;
        csp_wg_go(&wg, gr_release_soon, &d);
        csp_ctx *ctx = csp_ctx_with_timeout(NULL, 1200 * US);
        int rc = csp_sema_acquire(gr_s, 1, ctx);
        csp_wg_wait(&wg);
        if (rc == 0) { got++; csp_sema_release(gr_s, 1); }
        else EXPECT_EQ(rc, -ETIMEDOUT);
        csp_ctx_release(ctx);
        if (!EXPECT(csp_sema_try_acquire(gr_s, 1), "round %d (rc %d): the token is lost", r, rc)) break;
        csp_sema_release(gr_s, 1);
    }
    printf("    %d of %d acquired before the timeout\n", got, rounds);
    csp_sema_free(gr_s);
}

/* ==== golang.org/x/sync/errgroup =============================================== */

/* TestZeroGroup (a group without a parent context): Wait after every Go
 * returns the first error so far; the group is reused after Wait. */
static int ret_arg(csp_ctx *ctx, void *arg) { (void)ctx; return (int)(intptr_t)arg; }
TEST(errgroup_zero_group) {
    static const int cases[][3] = { { 0, 0, 0 }, { 0, 0, 0 }, { 1, 0, 0 }, { 1, 0, 0 }, { 1, 0, 2 } };
    static const int lens[] = { 0, 1, 1, 2, 3 };
    for (int c = 0; c < 5; c++) {
        csp_errgroup *g = csp_errgroup_new(NULL);
        int first = 0;
        for (int i = 0; i < lens[c]; i++) {
            int e = cases[c][i];
            csp_errgroup_go(g, ret_arg, (void *)(intptr_t)e);
            if (!first && e) first = e;
            EXPECT_EQ(csp_errgroup_wait(g), first, "case %d, after %d goroutines", c, i + 1);
        }
        csp_errgroup_free(g);
    }
}

/* TestWithContext: the group's context is done once Wait returned, error or
 * not; derived from a parent, it ends with the parent too. */
TEST(errgroup_with_context) {
    static const int cases[][2] = { { 0, 0 }, { 0, 0 }, { 1, 0 }, { 1, 0 }, { 0, 1 } };
    static const int lens[] = { 0, 1, 1, 2, 2 };
    for (int c = 0; c < 5; c++) {
        csp_errgroup *g = csp_errgroup_new(csp_ctx_background());
        int first = 0;
        for (int i = 0; i < lens[c]; i++) {
            csp_errgroup_go(g, ret_arg, (void *)(intptr_t)cases[c][i]);
            if (!first) first = cases[c][i];   /* at most one error per case: no race for "first" */
        }
        EXPECT_EQ(csp_errgroup_wait(g), first, "case %d", c);
        csp_case k[1] = { CSP_RECV(csp_ctx_done(csp_errgroup_ctx(g)), NULL) };
        EXPECT_EQ(csp_select(k, 1, 0), 0, "case %d: the context is done after Wait", c);
        csp_errgroup_free(g);
    }
    csp_ctx *parent = csp_ctx_with_cancel(NULL);
    csp_errgroup *g = csp_errgroup_new(parent);
    EXPECT_EQ(csp_ctx_err(csp_errgroup_ctx(g)), 0);
    csp_ctx_cancel(parent);
    EXPECT_EQ(csp_ctx_err(csp_errgroup_ctx(g)), CSP_CANCELED, "canceled with its parent");
    csp_errgroup_free(g);
    csp_ctx_release(parent);
}

/* The first error is the first to happen: the second fails only after it
 * saw the group's context canceled (by the first error). */
static int fail_first(csp_ctx *ctx, void *arg) { (void)ctx; (void)arg; csp_sleep(2 * MS); return 11; }
static int fail_after_cancel(csp_ctx *ctx, void *arg) { (void)arg; csp_recv(csp_ctx_done(ctx), NULL); return 22; }
TEST(errgroup_keeps_the_first_error) {
    csp_errgroup *g = csp_errgroup_new(NULL);
    for (int i = 0; i < 3; i++) csp_errgroup_go(g, fail_after_cancel, NULL);
    csp_errgroup_go(g, fail_first, NULL);
    EXPECT_EQ(csp_errgroup_wait(g), 11);
    csp_errgroup_free(g);
}

/* SetLimit: at the limit, Go blocks (here from a goroutine and from a plain
 * thread) until a running function returns; Wait from a plain thread. */
static csp_chan *lim_release;
static int lim_returned;
static csp_errgroup *lim_g;
static int lim_blocker(csp_ctx *ctx, void *arg) { (void)ctx; (void)arg; csp_recv(lim_release, NULL); return 0; }
static int lim_quick(csp_ctx *ctx, void *arg) { (void)ctx; (void)arg; return 0; }
static void lim_adder(void *arg) {
    (void)arg;
    csp_errgroup_go(lim_g, lim_quick, NULL);
    __atomic_fetch_add(&lim_returned, 1, __ATOMIC_ACQ_REL);
}
static int lim_wait_rc = -1;
static void lim_waiter(void *arg) { (void)arg; lim_wait_rc = csp_errgroup_wait(lim_g); }
TEST(errgroup_go_blocks_at_the_limit) {
    lim_release = csp_chan_make(0, 0);
    lim_g = csp_errgroup_new(NULL);
    csp_errgroup_set_limit(lim_g, 1);
    csp_errgroup_go(lim_g, lim_blocker, NULL);
    csp_waitgroup wg = WG_INIT;
    csp_wg_go(&wg, lim_adder, NULL);
    pthread_t th = start_thread(lim_adder, NULL);
    csp_sleep(30 * MS);   /* proving that both Go calls do NOT return at the limit */
    EXPECT_EQ(__atomic_load_n(&lim_returned, __ATOMIC_ACQUIRE), 0, "Go returned while the group was at its limit");
    csp_send(lim_release, NULL);   /* the blocker returns: one Go at a time gets through */
    csp_wg_wait(&wg);
    pthread_join(th, NULL);
    EXPECT_EQ(lim_returned, 2);
    pthread_join(start_thread(lim_waiter, NULL), NULL);
    EXPECT_EQ(lim_wait_rc, 0, "Wait from a plain thread");
    csp_errgroup_free(lim_g);
    csp_chan_release(lim_release);
}
