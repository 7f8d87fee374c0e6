/* sync.c -- the sync package, after the benchmarks of Go's sync package
 * tests: the C side of bench/go/sync.go. Every row does the work its twin's
 * comment names, with the same counts, grain (bench_parallel) and
 * GOMAXPROCS (the default). */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

static void die(const char *what) {
    fprintf(stderr, "sync: %s failed\n", what);
    exit(1);
}

/* Where the workers of the *_work rows leave their foo (one atomic add per
 * worker per run), so that the work is kept on both sides: Go's workSink. */
static long work_sink;

/* ---- sync/mutex_uncontended -------------------------------------------------------
 * Twin: mutexUncontended(n) (grain 10000). Each worker has its own mutex
 * padded with 128 bytes (no false sharing). Per op: Lock + Unlock. */
typedef struct padded_mutex {
    csp_mutex mu;
    uint8_t pad[128];
} padded_mutex;

static void mutex_uncontended_body(bench_pb *pb, void *arg) {
    (void)arg;
    padded_mutex mu;
    memset(&mu, 0, sizeof mu);
    while (bench_pb_next(pb)) {
        csp_mutex_lock(&mu.mu);
        csp_mutex_unlock(&mu.mu);
    }
}

static void mutex_uncontended(long n, void *arg) {
    (void)arg;
    bench_parallel(n, 10000, mutex_uncontended_body, NULL);
}

/* ---- sync/mutex ------------------------------------------------------------------
 * Twin: mutexContended(n) (grain 5000). One shared mutex; per op: Lock +
 * Unlock. */
static void mutex_body(bench_pb *pb, void *arg) {
    csp_mutex *mu = (csp_mutex *)arg;
    while (bench_pb_next(pb)) {
        csp_mutex_lock(mu);
        csp_mutex_unlock(mu);
    }
}

static void mutex_contended(long n, void *arg) {
    (void)arg;
    csp_mutex mu;
    memset(&mu, 0, sizeof mu);
    bench_parallel(n, 5000, mutex_body, &mu);
}

/* ---- sync/mutex_slack ------------------------------------------------------------
 * Twin: mutexSlack(n) (grain 1000). sync/mutex with b.SetParallelism(10):
 * 10 x GOMAXPROCS workers on one shared mutex; per op: Lock + Unlock. */
static void mutex_slack(long n, void *arg) {
    (void)arg;
    csp_mutex mu;
    memset(&mu, 0, sizeof mu);
    bench_parallel_p(n, 1000, 10, mutex_body, &mu);
}

/* ---- sync/mutex_work -------------------------------------------------------------
 * Twin: mutexWork(n) (grain 1000). One shared mutex; per op: Lock + Unlock,
 * then 100 steps of local work outside the lock (bench_local_work), on a foo of
 * the worker's own that is added to work_sink at the end. */
static void mutex_work_body(bench_pb *pb, void *arg) {
    csp_mutex *mu = (csp_mutex *)arg;
    long foo = 0;
    while (bench_pb_next(pb)) {
        csp_mutex_lock(mu);
        csp_mutex_unlock(mu);
        foo = bench_local_work(foo, 100);
    }
    __atomic_add_fetch(&work_sink, foo, __ATOMIC_RELAXED);
}

static void mutex_work(long n, void *arg) {
    (void)arg;
    csp_mutex mu;
    memset(&mu, 0, sizeof mu);
    bench_parallel(n, 1000, mutex_work_body, &mu);
}

/* ---- sync/mutex_spin -------------------------------------------------------------
 * Twin: mutexSpin(n) (grain 100). One shared mutex guarding two uint64
 * (acc0, acc1); each worker has its own zeroed [16 << 10]uint64 (128 KiB,
 * Go: on its stack; here calloc'd: a goroutine stack is 256 KiB). Per op:
 * Lock; acc0 -= 100; acc1 += 100; Unlock; then data[i]++ for every 4th of
 * the 16384 words (4096 increments, 32-byte stride). */
enum { SPIN_DATA = 16 << 10 };

typedef struct spin_ctx {
    csp_mutex m;
    uint64_t acc0, acc1;
} spin_ctx;

static void mutex_spin_body(bench_pb *pb, void *arg) {
    spin_ctx *s = (spin_ctx *)arg;
    uint64_t *data = (uint64_t *)calloc(SPIN_DATA, sizeof *data);
    if (!data) die("calloc");
    while (bench_pb_next(pb)) {
        csp_mutex_lock(&s->m);
        s->acc0 -= 100;
        s->acc1 += 100;
        csp_mutex_unlock(&s->m);
        for (int i = 0; i < SPIN_DATA; i += 4) data[i]++;
        bench_use(data);   /* the stores happen, as Go's do */
    }
    free(data);
}

static void mutex_spin(long n, void *arg) {
    (void)arg;
    spin_ctx s;
    memset(&s, 0, sizeof s);
    bench_parallel(n, 100, mutex_spin_body, &s);
}

/* ---- sync/rwmutex_uncontended ----------------------------------------------------
 * Twin: rwmutexUncontended(n) (grain 4000). Each worker has its own RWMutex
 * padded with 32 uint32 (128 bytes). Per op: RLock, RLock, RUnlock,
 * RUnlock, Lock, Unlock. */
typedef struct padded_rwmutex {
    csp_rwmutex rwm;
    uint32_t pad[32];
} padded_rwmutex;

static void rwmutex_uncontended_body(bench_pb *pb, void *arg) {
    (void)arg;
    padded_rwmutex rwm;
    memset(&rwm, 0, sizeof rwm);
    while (bench_pb_next(pb)) {
        csp_rwmutex_rlock(&rwm.rwm);
        csp_rwmutex_rlock(&rwm.rwm);
        csp_rwmutex_runlock(&rwm.rwm);
        csp_rwmutex_runlock(&rwm.rwm);
        csp_rwmutex_lock(&rwm.rwm);
        csp_rwmutex_unlock(&rwm.rwm);
    }
}

static void rwmutex_uncontended(long n, void *arg) {
    (void)arg;
    bench_parallel(n, 4000, rwmutex_uncontended_body, NULL);
}

/* ---- sync/rwmutex_write100 -------------------------------------------------------
 * Twin: rwmutexWrite100(n) (grain 5000). One shared RWMutex; each worker
 * counts its ops from 1: every 100th is Lock + Unlock, the others RLock +
 * RUnlock. */
static void rwmutex_body(bench_pb *pb, void *arg) {
    csp_rwmutex *rwm = (csp_rwmutex *)arg;
    long foo = 0;
    while (bench_pb_next(pb)) {
        foo++;
        if (foo % 100 == 0) {
            csp_rwmutex_lock(rwm);
            csp_rwmutex_unlock(rwm);
        } else {
            csp_rwmutex_rlock(rwm);
            csp_rwmutex_runlock(rwm);
        }
    }
}

static void rwmutex_write100(long n, void *arg) {
    (void)arg;
    csp_rwmutex rwm;
    memset(&rwm, 0, sizeof rwm);
    bench_parallel(n, 5000, rwmutex_body, &rwm);
}

/* ---- sync/rwmutex_work -----------------------------------------------------------
 * Twin: rwmutexWork(n) (grain 1000). sync/rwmutex_write100 with 100 steps
 * of local work (bench_local_work) on the counter foo inside each RLock (foo
 * stays what it was: x*2/2 = x): every 100th op (counted from 1 by foo) is
 * Lock + Unlock, the others RLock; work; RUnlock. */
static void rwmutex_work_body(bench_pb *pb, void *arg) {
    csp_rwmutex *rwm = (csp_rwmutex *)arg;
    long foo = 0;
    while (bench_pb_next(pb)) {
        foo++;
        if (foo % 100 == 0) {
            csp_rwmutex_lock(rwm);
            csp_rwmutex_unlock(rwm);
        } else {
            csp_rwmutex_rlock(rwm);
            foo = bench_local_work(foo, 100);
            csp_rwmutex_runlock(rwm);
        }
    }
}

static void rwmutex_work(long n, void *arg) {
    (void)arg;
    csp_rwmutex rwm;
    memset(&rwm, 0, sizeof rwm);
    bench_parallel(n, 1000, rwmutex_work_body, &rwm);
}

/* ---- sync/waitgroup_uncontended ------------------------------------------------
 * Twin: waitGroupUncontended(n) (grain 10000). Each worker has its own
 * WaitGroup padded with 128 bytes. Per op: Add(1), Done(), Wait() (which
 * finds the counter at 0 and returns). */
typedef struct padded_waitgroup {
    csp_waitgroup wg;
    uint8_t pad[128];
} padded_waitgroup;

static void waitgroup_uncontended_body(bench_pb *pb, void *arg) {
    (void)arg;
    padded_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    while (bench_pb_next(pb)) {
        csp_wg_add(&wg.wg, 1);
        csp_wg_done(&wg.wg);
        csp_wg_wait(&wg.wg);
    }
}

static void waitgroup_uncontended(long n, void *arg) {
    (void)arg;
    bench_parallel(n, 10000, waitgroup_uncontended_body, NULL);
}

/* ---- sync/waitgroup_adddone -------------------------------------------------------
 * Twin: waitGroupAddDone(n) (grain 5000). One shared WaitGroup; per op:
 * Add(1) + Done() (the counter returns to 0 often, with no waiter). */
static void waitgroup_adddone_body(bench_pb *pb, void *arg) {
    csp_waitgroup *wg = (csp_waitgroup *)arg;
    while (bench_pb_next(pb)) {
        csp_wg_add(wg, 1);
        csp_wg_done(wg);
    }
}

static void waitgroup_adddone(long n, void *arg) {
    (void)arg;
    csp_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    bench_parallel(n, 5000, waitgroup_adddone_body, &wg);
}

/* ---- sync/waitgroup_wait ----------------------------------------------------------
 * Twin: waitGroupWait(n) (grain 10000). One shared WaitGroup whose counter
 * is 0; per op: Wait() (returns at once). */
static void waitgroup_wait_body(bench_pb *pb, void *arg) {
    csp_waitgroup *wg = (csp_waitgroup *)arg;
    while (bench_pb_next(pb)) csp_wg_wait(wg);
}

static void waitgroup_wait(long n, void *arg) {
    (void)arg;
    csp_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    bench_parallel(n, 10000, waitgroup_wait_body, &wg);
}

/* ---- sync/cond1, sync/cond16, sync/cond32 ---------------------------------------
 * Twins: cond(n, 1), cond(n, 16), cond(n, 32), i.e. W = 1, 16, 32 waiters.
 * One Cond on a Mutex, an int id; W+1 goroutines each loop n times: Lock;
 * if id == -1 { Unlock; break }; id++; if id == W+1 { id = 0; Broadcast }
 * else { Wait }; Unlock. After its loop a goroutine
 * does Lock; id = -1; Broadcast; Unlock and sends true on the unbuffered
 * done channel (holding its own reference to it); main receives W+1. */
typedef struct cond_ctx {
    csp_mutex mu;
    csp_cond c;
    long id;
    long n;
    int waiters;
    csp_chan *done;
} cond_ctx;

static void cond_routine(void *arg) {
    cond_ctx *s = (cond_ctx *)arg;
    for (long i = 0; i < s->n; i++) {
        csp_mutex_lock(&s->mu);
        if (s->id == -1) {
            csp_mutex_unlock(&s->mu);
            break;
        }
        s->id++;
        if (s->id == s->waiters + 1) {
            s->id = 0;
            csp_cond_broadcast(&s->c);
        } else {
            csp_cond_wait(&s->c, &s->mu);
        }
        csp_mutex_unlock(&s->mu);
    }
    csp_mutex_lock(&s->mu);
    s->id = -1;
    csp_cond_broadcast(&s->c);
    csp_mutex_unlock(&s->mu);
    bool t = true;
    csp_chan *done = s->done;
    csp_send(done, &t);
    csp_chan_release(done);
}

static void cond_run(long n, int waiters) {
    cond_ctx s;
    memset(&s, 0, sizeof s);
    s.n = n;
    s.waiters = waiters;
    s.done = csp_chan_make(sizeof(bool), 0);
    if (!s.done) die("csp_chan_make");
    for (int routine = 0; routine < waiters + 1; routine++) {
        csp_chan_retain(s.done);
        if (csp_go(cond_routine, &s) != 0) die("csp_go");
    }
    for (int routine = 0; routine < waiters + 1; routine++) csp_recv(s.done, NULL);
    csp_chan_release(s.done);
}

static void cond1(long n, void *arg) {
    (void)arg;
    cond_run(n, 1);
}

static void cond16(long n, void *arg) {
    (void)arg;
    cond_run(n, 16);
}

static void cond32(long n, void *arg) {
    (void)arg;
    cond_run(n, 32);
}

/* ---- sync/once -------------------------------------------------------------------
 * Twin: once(n) (grain 10000). One shared Once; per op: once.Do(f) with f
 * empty (after the first call: the fast path). */
static void once_f(void *arg) { (void)arg; }

static void once_body(bench_pb *pb, void *arg) {
    csp_once *o = (csp_once *)arg;
    while (bench_pb_next(pb)) csp_once_do(o, once_f, NULL);
}

static void once(long n, void *arg) {
    (void)arg;
    csp_once o;
    memset(&o, 0, sizeof o);
    bench_parallel(n, 10000, once_body, &o);
}

/* ---- sync/sema -------------------------------------------------------------------
 * Twin: sema(n) (grain 400). One csp_sema of capacity 1 (a weighted
 * semaphore used as a lock: with GOMAXPROCS workers the others wait in its
 * FIFO, which is the part of x/sync's algorithm that is more than a mutex);
 * per op: csp_sema_acquire(s, 1, NULL) (background context: Go's
 * context.Background()) + csp_sema_release(s, 1). The semaphore is made and
 * freed outside the loop. */
static void sema_body(bench_pb *pb, void *arg) {
    csp_sema *s = (csp_sema *)arg;
    while (bench_pb_next(pb)) {
        if (csp_sema_acquire(s, 1, NULL) != 0) die("csp_sema_acquire");
        csp_sema_release(s, 1);
    }
}

static void sema(long n, void *arg) {
    (void)arg;
    csp_sema *s = csp_sema_new(1);
    if (!s) die("csp_sema_new");
    bench_parallel(n, 400, sema_body, s);
    csp_sema_free(s);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("sync/mutex_uncontended", bench_n(50000000, 5000000), mutex_uncontended, NULL);
    bench_run("sync/mutex", bench_n(20000000, 2000000), mutex_contended, NULL);
    bench_run("sync/mutex_slack", bench_n(10000000, 1000000), mutex_slack, NULL);
    bench_run("sync/mutex_work", bench_n(3000000, 300000), mutex_work, NULL);
    bench_run("sync/mutex_spin", bench_n(300000, 30000), mutex_spin, NULL);
    bench_run("sync/rwmutex_uncontended", bench_n(10000000, 1000000), rwmutex_uncontended, NULL);
    bench_run("sync/rwmutex_write100", bench_n(20000000, 2000000), rwmutex_write100, NULL);
    bench_run("sync/rwmutex_work", bench_n(3000000, 300000), rwmutex_work, NULL);
    bench_run("sync/waitgroup_uncontended", bench_n(30000000, 3000000), waitgroup_uncontended, NULL);
    bench_run("sync/waitgroup_adddone", bench_n(20000000, 2000000), waitgroup_adddone, NULL);
    bench_run("sync/waitgroup_wait", bench_n(300000000, 30000000), waitgroup_wait, NULL);
    bench_run("sync/cond1", bench_n(3000000, 300000), cond1, NULL);
    bench_run("sync/cond16", bench_n(200000, 20000), cond16, NULL);
    bench_run("sync/cond32", bench_n(100000, 10000), cond32, NULL);
    bench_run("sync/once", bench_n(200000000, 20000000), once, NULL);
    bench_run("sync/sema", bench_n(2000000, 200000), sema, NULL);
    return 0;
}
