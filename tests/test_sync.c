/* test_sync.c -- Mutex, RWMutex, Once, Cond: exclusion under contention,
 * fairness (starvation mode), Go's misuse panics, plain threads, wait
 * reasons. Ideas from Go's sync/mutex_test.go, rwmutex_test.go,
 * once_test.go, cond_test.go. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

static void wg_zero(csp_waitgroup *wg) { memset(wg, 0, sizeof *wg); }

/* ---- Mutex ------------------------------------------------------------------ */
static csp_mutex hm;
static long hcount;
static int hinside;
static int hviol;
static void hammer_mutex(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        csp_mutex_lock(&hm);
        if (__atomic_fetch_add(&hinside, 1, __ATOMIC_RELAXED) != 0) hviol++;
        hcount++;
        if (i % 64 == 0) csp_yield();   /* hold it across a reschedule now and then */
        __atomic_fetch_sub(&hinside, 1, __ATOMIC_RELAXED);
        csp_mutex_unlock(&hm);
    }
}
static void *hammer_thread(void *arg) { hammer_mutex(arg); return NULL; }
TEST(mutex_excludes_goroutines_and_threads) {
    int n = T_COUNT(20000, 2000);
    csp_waitgroup wg; wg_zero(&wg);
    for (int g = 0; g < 8; g++) REQUIRE_EQ(csp_wg_go(&wg, hammer_mutex, &n), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, hammer_thread, &n);
    csp_wg_wait(&wg);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    EXPECT_EQ(hcount, 10L * n);
    EXPECT_EQ(hviol, 0, "two holders at once");
}
TEST(mutex_trylock_and_foreign_unlock) {
    csp_mutex m = { 0, 0 };
    EXPECT(csp_mutex_trylock(&m));
    EXPECT(!csp_mutex_trylock(&m), "held");
    csp_mutex_unlock(&m);
    EXPECT(csp_mutex_trylock(&m));
    csp_mutex_unlock(&m);
}
static csp_mutex fm;
static void unlock_other(void *arg) { (void)arg; csp_mutex_unlock(&fm); }
TEST(mutex_unlocked_by_another_goroutine) {
    csp_mutex_lock(&fm);
    csp_waitgroup wg; wg_zero(&wg);
    csp_wg_go(&wg, unlock_other, NULL);
    csp_wg_wait(&wg);
    EXPECT(csp_mutex_trylock(&fm), "unlocked by the other goroutine (allowed, as in Go)");
    csp_mutex_unlock(&fm);
}
/* Go's TestMutexFairness: tests/test_sync_go.c (goroutines and plain threads). */
/* Sync objects on the stack: gone as soon as the last lock returns. */
static void lock_then_unlock_later(void *arg) {
    csp_mutex *m = *(csp_mutex **)arg;
    csp_mutex_unlock(m);   /* wakes the waiter; must not touch m afterwards */
}
static void stack_mutex_round(void) {
    csp_mutex m = { 0, 0 };
    csp_mutex_lock(&m);
    csp_mutex *pm = &m;
    csp_go_copy(lock_then_unlock_later, &pm, sizeof pm);
    csp_mutex_lock(&m);   /* the last lock: after it returns, m goes out of scope */
}
TEST(mutex_on_the_stack) {
    for (int i = 0; i < T_COUNT(5000, 500); i++) stack_mutex_round();
}

/* ---- RWMutex ------------------------------------------------------------------ */
static csp_rwmutex rw;
static int readers_in, writers_in, rw_viol;
static void rw_reader(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        csp_rwmutex_rlock(&rw);
        __atomic_fetch_add(&readers_in, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&writers_in, __ATOMIC_RELAXED)) rw_viol++;
        if (i % 32 == 0) csp_yield();
        __atomic_fetch_sub(&readers_in, 1, __ATOMIC_RELAXED);
        csp_rwmutex_runlock(&rw);
    }
}
static void rw_writer(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        csp_rwmutex_lock(&rw);
        if (__atomic_fetch_add(&writers_in, 1, __ATOMIC_RELAXED) != 0 || __atomic_load_n(&readers_in, __ATOMIC_RELAXED)) __atomic_fetch_add(&rw_viol, 1, __ATOMIC_RELAXED);
        if (i % 16 == 0) csp_yield();
        __atomic_fetch_sub(&writers_in, 1, __ATOMIC_RELAXED);
        csp_rwmutex_unlock(&rw);
    }
}
TEST(rwmutex_writers_exclude_everyone) {
    int nr = T_COUNT(5000, 500), nw = T_COUNT(1000, 100);
    csp_waitgroup wg; wg_zero(&wg);
    for (int i = 0; i < 6; i++) csp_wg_go(&wg, rw_reader, &nr);
    for (int i = 0; i < 2; i++) csp_wg_go(&wg, rw_writer, &nw);
    csp_wg_wait(&wg);
    EXPECT_EQ(rw_viol, 0);
}
/* Go's TestParallelReaders: readers hold the lock together. */
static csp_rwmutex pr;
static csp_chan *pr_in, *pr_out;
static void parallel_reader(void *arg) {
    (void)arg;
    csp_rwmutex_rlock(&pr);
    csp_send(pr_in, NULL);
    csp_recv(pr_out, NULL);
    csp_rwmutex_runlock(&pr);
}
TEST(rwmutex_parallel_readers) {
    pr_in = csp_chan_make(0, 0); pr_out = csp_chan_make(0, 0);
    csp_waitgroup wg; wg_zero(&wg);
    for (int i = 0; i < 10; i++) csp_wg_go(&wg, parallel_reader, NULL);
    for (int i = 0; i < 10; i++) csp_recv(pr_in, NULL);   /* all 10 inside at once */
    EXPECT(!csp_rwmutex_trylock(&pr), "readers hold it");
    EXPECT(csp_rwmutex_tryrlock(&pr), "another reader may join");
    csp_rwmutex_runlock(&pr);
    for (int i = 0; i < 10; i++) csp_send(pr_out, NULL);
    csp_wg_wait(&wg);
    EXPECT(csp_rwmutex_trylock(&pr));
    EXPECT(!csp_rwmutex_tryrlock(&pr), "a writer holds it");
    csp_rwmutex_unlock(&pr);
    csp_chan_release(pr_in); csp_chan_release(pr_out);
}
static csp_rwmutex wp;
static csp_chan *wp_locked;
static void waiting_writer(void *arg) { (void)arg; csp_rwmutex_lock(&wp); csp_send(wp_locked, NULL); csp_rwmutex_unlock(&wp); }
TEST(rwmutex_waiting_writer_stops_new_readers) {
    wp_locked = csp_chan_make(0, 1);
    csp_rwmutex_rlock(&wp);
    csp_waitgroup wg; wg_zero(&wg);
    csp_wg_go(&wg, waiting_writer, NULL);
    /* Wait until the writer has announced itself (reader_count went negative). */
    for (int64_t t0 = csp_now(); csp__load(&wp.csp__reader_count, CSP__RELAXED) >= 0 && csp_now() - t0 < 10 * CSP_SECOND;) csp_yield();
    EXPECT(!csp_rwmutex_tryrlock(&wp), "tryrlock fails while a writer waits");
    csp_rwmutex_runlock(&wp);
    csp_recv(wp_locked, NULL);
    csp_wg_wait(&wg);
    csp_chan_release(wp_locked);
}

/* ---- Once ------------------------------------------------------------------- */
static csp_once once;
static int once_runs, once_seen_done;
static void once_fn(void *arg) { (void)arg; csp_sleep(2 * CSP_MILLISECOND); __atomic_fetch_add(&once_runs, 1, __ATOMIC_RELAXED); }
static void once_caller(void *arg) {
    (void)arg;
    csp_once_do(&once, once_fn, NULL);
    if (__atomic_load_n(&once_runs, __ATOMIC_RELAXED) == 1) __atomic_fetch_add(&once_seen_done, 1, __ATOMIC_RELAXED);
}
TEST(once_runs_once_and_everyone_waits_for_it) {
    csp_waitgroup wg; wg_zero(&wg);
    for (int i = 0; i < 20; i++) csp_wg_go(&wg, once_caller, NULL);
    csp_wg_wait(&wg);
    EXPECT_EQ(once_runs, 1);
    EXPECT_EQ(once_seen_done, 20, "every caller returned after fn finished");
}
static csp_once rec;
static void recursive(void *arg) { (void)arg; csp_once_do(&rec, recursive, NULL); }
CHILD(once_recursive) { csp_once_do(&rec, recursive, NULL); }

/* ---- Cond ------------------------------------------------------------------- */
static csp_mutex cm;
static csp_cond cv;
static int cond_ready, cond_woken;
static void cond_waiter(void *arg) {
    (void)arg;
    csp_mutex_lock(&cm);
    cond_ready++;
    csp_cond_wait(&cv, &cm);
    cond_woken++;
    csp_mutex_unlock(&cm);
}
static int waiting_count(void) { csp_mutex_lock(&cm); int r = cond_ready; csp_mutex_unlock(&cm); return r; }
static int woken_count(void) { csp_mutex_lock(&cm); int r = cond_woken; csp_mutex_unlock(&cm); return r; }
TEST(cond_signal_wakes_one_broadcast_wakes_all) {
    csp_waitgroup wg; wg_zero(&wg);
    for (int i = 0; i < 5; i++) csp_wg_go(&wg, cond_waiter, NULL);
    while (waiting_count() < 5) csp_yield();
    csp_cond_signal(&cv);
    for (int64_t t0 = csp_now(); woken_count() < 1 && csp_now() - t0 < 10 * CSP_SECOND;) csp_yield();
    EXPECT_EQ(woken_count(), 1, "one signal, one waiter");
    csp_sleep(20 * CSP_MILLISECOND);   /* proving that no second waiter wakes */
    EXPECT_EQ(woken_count(), 1);
    csp_cond_broadcast(&cv);
    csp_wg_wait(&wg);
    EXPECT_EQ(cond_woken, 5);
}
TEST(cond_signal_is_not_remembered) {
    cond_ready = cond_woken = 0;
    csp_cond_signal(&cv);   /* nobody waits: lost */
    csp_cond_broadcast(&cv);
    csp_waitgroup wg; wg_zero(&wg);
    csp_wg_go(&wg, cond_waiter, NULL);
    while (waiting_count() < 1) csp_yield();
    csp_sleep(20 * CSP_MILLISECOND);   /* proving that it does NOT wake by itself */
    EXPECT_EQ(woken_count(), 0, "an earlier signal woke a later waiter");
    csp_cond_signal(&cv);
    csp_wg_wait(&wg);
    EXPECT_EQ(cond_woken, 1);
}

/* ---- misuse and deadlocks ------------------------------------------------------ */
CHILD(unlock_unlocked) { csp_mutex m = { 0, 0 }; csp_mutex_unlock(&m); }
CHILD(runlock_unlocked) { csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_runlock(&m); }
CHILD(unlock_unlocked_rw) { csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_unlock(&m); }
CHILD(deadlock_mutex) { csp_mutex m = { 0, 0 }; csp_mutex_lock(&m); csp_mutex_lock(&m); }
CHILD(deadlock_rlock) { csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_lock(&m); csp_rwmutex_rlock(&m); }
CHILD(deadlock_rwlock) { csp_rwmutex m; memset(&m, 0, sizeof m); csp_rwmutex_rlock(&m); csp_rwmutex_lock(&m); }
CHILD(deadlock_cond) { csp_mutex m = { 0, 0 }; csp_cond c; memset(&c, 0, sizeof c); csp_mutex_lock(&m); csp_cond_wait(&c, &m); }
TEST(misuse_panics_and_wait_reasons) {
    static const struct { const char *child, *msg; int code; } cases[] = {
        { "unlock_unlocked", "panic: sync: unlock of unlocked mutex", 2 },
        { "runlock_unlocked", "panic: sync: RUnlock of unlocked RWMutex", 2 },
        { "unlock_unlocked_rw", "panic: sync: Unlock of unlocked RWMutex", 2 },
        { "deadlock_mutex", "[sync.Mutex.Lock]", 2 },
        { "deadlock_rlock", "[sync.RWMutex.RLock]", 2 },
        { "deadlock_rwlock", "[sync.RWMutex.Lock]", 2 },
        { "deadlock_cond", "[sync.Cond.Wait]", 2 },
        { "once_recursive", "[sync.Once.Do]", 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, cases[i].code);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].msg);
        csp_test_child_free(&r);
    }
}
