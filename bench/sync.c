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

/* ---- sync/cond32 -----------------------------------------------------------------
 * Twin: cond(n, 32). One Cond on a Mutex, an int id; 33 goroutines each
 * loop n times: Lock; if id == -1 { Unlock; break }; id++; if id == 33
 * { id = 0; Broadcast } else { Wait }; Unlock. After its loop a goroutine
 * does Lock; id = -1; Broadcast; Unlock and sends true on the unbuffered
 * done channel (holding its own reference to it); main receives 33. */
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

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("sync/mutex_uncontended", bench_n(50000000, 5000000), mutex_uncontended, NULL);
    bench_run("sync/mutex", bench_n(20000000, 2000000), mutex_contended, NULL);
    bench_run("sync/rwmutex_write100", bench_n(20000000, 2000000), rwmutex_write100, NULL);
    bench_run("sync/waitgroup_adddone", bench_n(20000000, 2000000), waitgroup_adddone, NULL);
    bench_run("sync/cond32", bench_n(100000, 10000), cond32, NULL);
    bench_run("sync/once", bench_n(200000000, 20000000), once, NULL);
    return 0;
}
