/* channels.c -- channel send/receive, after Go's runtime/chan_test.go: the C
 * side of bench/go/channels.go. Every row does the work its twin's comment
 * names, with the same counts, grain (bench_parallel) and GOMAXPROCS (the
 * default). Go's `chan int` is a channel of 8-byte elements here (long); a
 * receive whose value Go discards (`<-myc`) passes NULL, as Go passes nil.
 *
 * Go collects channels; here whoever may still be inside a channel call
 * when its owner could conclude that the work is over holds a reference of
 * its own (csp_chan_retain before the spawn, csp_chan_release at the end).
 * That costs a few atomics per RUN, never per op. */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

static void die(const char *what) {
    fprintf(stderr, "channels: %s failed\n", what);
    exit(1);
}
static void go_or_die(csp_fn fn, void *arg) {
    if (csp_go(fn, arg) != 0) die("csp_go");
}
static csp_chan *chan_or_die(size_t elem, size_t cap) {
    csp_chan *c = csp_chan_make(elem, cap);
    if (!c) die("csp_chan_make");
    return c;
}

enum { CALLS_PER_SCHED = 1000 };

/* ---- chan/sync -----------------------------------------------------------------
 * Twin: chanSync(n). 2 goroutines, one unbuffered channel myc; they claim
 * blocks from N = n/1000/2*2 (atomic decrement, new value); a block with an
 * even index does 1000 x { <-myc; myc <- 0 }, an odd one 1000 x
 * { myc <- 0; <-myc }. Each then sends true on c (cap 2); main receives 2. */
typedef struct sync_ctx {
    int32_t N;   /* atomic */
    csp_chan *c, *myc;
} sync_ctx;

static void sync_worker(void *arg) {
    sync_ctx *s = (sync_ctx *)arg;   /* main's frame: alive until we sent on c */
    csp_chan *c = s->c, *myc = s->myc;
    for (;;) {
        int32_t i = __atomic_sub_fetch(&s->N, 1, __ATOMIC_SEQ_CST);
        if (i < 0) break;
        for (int g = 0; g < CALLS_PER_SCHED; g++) {
            long zero = 0;
            if (i % 2 == 0) {
                csp_recv(myc, NULL);
                csp_send(myc, &zero);
            } else {
                csp_send(myc, &zero);
                csp_recv(myc, NULL);
            }
        }
    }
    bool t = true;
    csp_send(c, &t);
    csp_chan_release(c);
}

static void chan_sync(long n, void *arg) {
    (void)arg;
    const int procs = 2;
    sync_ctx s;
    s.N = (int32_t)(n / CALLS_PER_SCHED / procs * procs);
    s.c = chan_or_die(sizeof(bool), (size_t)procs);
    s.myc = chan_or_die(sizeof(long), 0);
    for (int p = 0; p < procs; p++) {
        csp_chan_retain(s.c);
        go_or_die(sync_worker, &s);
    }
    for (int p = 0; p < procs; p++) csp_recv(s.c, NULL);
    csp_chan_release(s.c);
    csp_chan_release(s.myc);
}

/* ---- chan/prodcons/{0,10,100} ----------------------------------------------
 * Twin: chanProdCons(n, chanSize). myc of capacity chanSize; GOMAXPROCS
 * producers and consumers, spawned in pairs (producer, consumer). A
 * producer claims blocks of 1000 sends of 1 from N = n/1000 while the
 * decremented N >= 0, then sends one 0; a consumer receives until it gets
 * 0. Each then sends true on c (cap 2*procs); main receives 2*procs. */
typedef struct prodcons_ctx {
    int32_t N;   /* atomic */
    csp_chan *c, *myc;
} prodcons_ctx;

static void prodcons_producer(void *arg) {
    prodcons_ctx *s = (prodcons_ctx *)arg;   /* main's frame: alive until we sent on c */
    csp_chan *c = s->c, *myc = s->myc;
    while (__atomic_sub_fetch(&s->N, 1, __ATOMIC_SEQ_CST) >= 0) {
        for (int g = 0; g < CALLS_PER_SCHED; g++) {
            long one = 1;
            csp_send(myc, &one);
        }
    }
    long zero = 0;
    csp_send(myc, &zero);
    bool t = true;
    csp_send(c, &t);
    csp_chan_release(c);
}

static void prodcons_consumer(void *arg) {
    prodcons_ctx *s = (prodcons_ctx *)arg;
    csp_chan *c = s->c, *myc = s->myc;
    for (;;) {
        long v = -1;
        csp_recv(myc, &v);
        if (v == 0) break;
    }
    bool t = true;
    csp_send(c, &t);
    csp_chan_release(c);
}

static void prodcons_run(long n, size_t chan_size, csp_fn producer, csp_fn consumer) {
    int procs = csp_maxprocs(0);
    prodcons_ctx s;
    s.N = (int32_t)(n / CALLS_PER_SCHED);
    s.c = chan_or_die(sizeof(bool), 2 * (size_t)procs);
    s.myc = chan_or_die(sizeof(long), chan_size);
    for (int p = 0; p < procs; p++) {
        csp_chan_retain(s.c);
        go_or_die(producer, &s);
        csp_chan_retain(s.c);
        go_or_die(consumer, &s);
    }
    for (int p = 0; p < procs; p++) {
        csp_recv(s.c, NULL);
        csp_recv(s.c, NULL);
    }
    csp_chan_release(s.c);
    csp_chan_release(s.myc);
}

static void chan_prodcons(long n, size_t chan_size) {
    prodcons_run(n, chan_size, prodcons_producer, prodcons_consumer);
}

static void chan_prodcons0(long n, void *arg) { (void)arg; chan_prodcons(n, 0); }
static void chan_prodcons10(long n, void *arg) { (void)arg; chan_prodcons(n, 10); }
static void chan_prodcons100(long n, void *arg) { (void)arg; chan_prodcons(n, 100); }

/* ---- chan/prodcons_work/{0,10,100} -----------------------------------------
 * Twin: chanProdConsWork(n, chanSize). chan/prodcons/N plus Go's local
 * work of 100 steps (bench_local_work, bench/bench.h) in each goroutine: a producer does
 * it before each send of 1, a consumer after each receive of a non-zero
 * value. Each goroutine keeps its own foo (from 0) and finally sends
 * foo == 42 on c instead of true. */
enum { PRODCONS_WORK = 100 };

static void prodcons_work_producer(void *arg) {
    prodcons_ctx *s = (prodcons_ctx *)arg;   /* main's frame: alive until we sent on c */
    csp_chan *c = s->c, *myc = s->myc;
    long foo = 0;
    while (__atomic_sub_fetch(&s->N, 1, __ATOMIC_SEQ_CST) >= 0) {
        for (int g = 0; g < CALLS_PER_SCHED; g++) {
            foo = bench_local_work(foo, PRODCONS_WORK);
            long one = 1;
            csp_send(myc, &one);
        }
    }
    long zero = 0;
    csp_send(myc, &zero);
    bool r = foo == 42;
    csp_send(c, &r);
    csp_chan_release(c);
}

static void prodcons_work_consumer(void *arg) {
    prodcons_ctx *s = (prodcons_ctx *)arg;
    csp_chan *c = s->c, *myc = s->myc;
    long foo = 0;
    for (;;) {
        long v = -1;
        csp_recv(myc, &v);
        if (v == 0) break;
        foo = bench_local_work(foo, PRODCONS_WORK);
    }
    bool r = foo == 42;
    csp_send(c, &r);
    csp_chan_release(c);
}

static void chan_prodcons_work(long n, size_t chan_size) {
    prodcons_run(n, chan_size, prodcons_work_producer, prodcons_work_consumer);
}

static void chan_prodcons_work0(long n, void *arg) { (void)arg; chan_prodcons_work(n, 0); }
static void chan_prodcons_work10(long n, void *arg) { (void)arg; chan_prodcons_work(n, 10); }
static void chan_prodcons_work100(long n, void *arg) { (void)arg; chan_prodcons_work(n, 100); }

/* ---- chan/uncontended, chan/contended -------------------------------------
 * Twins: chanUncontended(n) (grain 50): each worker makes its own chan int
 * of capacity 100; per op 100 sends then 100 receives on it. chanContended
 * (grain 10): the same on ONE channel of capacity 100*GOMAXPROCS. */
enum { UNC_C = 100 };

static void uncontended_body(bench_pb *pb, void *arg) {
    (void)arg;
    csp_chan *myc = chan_or_die(sizeof(long), UNC_C);
    while (bench_pb_next(pb)) {
        for (int i = 0; i < UNC_C; i++) {
            long zero = 0;
            csp_send(myc, &zero);
        }
        for (int i = 0; i < UNC_C; i++) csp_recv(myc, NULL);
    }
    csp_chan_release(myc);
}

static void chan_uncontended(long n, void *arg) {
    (void)arg;
    bench_parallel(n, 50, uncontended_body, NULL);
}

static void contended_body(bench_pb *pb, void *arg) {
    csp_chan *myc = (csp_chan *)arg;
    while (bench_pb_next(pb)) {
        for (int i = 0; i < UNC_C; i++) {
            long zero = 0;
            csp_send(myc, &zero);
        }
        for (int i = 0; i < UNC_C; i++) csp_recv(myc, NULL);
    }
}

static void chan_contended(long n, void *arg) {
    (void)arg;
    csp_chan *myc = chan_or_die(sizeof(long), (size_t)UNC_C * (size_t)csp_maxprocs(0));
    bench_parallel(n, 10, contended_body, myc);
    csp_chan_release(myc);
}

/* ---- chan/creation -------------------------------------------------------------
 * Twin: chanCreation(n) (grain 1000). Per op: make a chan int of capacity
 * 1, one send, one receive, release it (Go: garbage). */
static void creation_body(bench_pb *pb, void *arg) {
    (void)arg;
    while (bench_pb_next(pb)) {
        csp_chan *myc = chan_or_die(sizeof(long), 1);
        long zero = 0;
        csp_send(myc, &zero);
        csp_recv(myc, NULL);
        csp_chan_release(myc);
    }
}

static void chan_creation(long n, void *arg) {
    (void)arg;
    bench_parallel(n, 1000, creation_body, NULL);
}

/* ---- chan/sem -----------------------------------------------------------------
 * Twin: chanSem(n) (grain 1000). One chan struct{} (elements of 0
 * bytes) of capacity GOMAXPROCS, so with GOMAXPROCS workers a send never
 * blocks. Per op: one send and one receive on it (NULL elements). */
static void sem_body(bench_pb *pb, void *arg) {
    csp_chan *myc = (csp_chan *)arg;
    while (bench_pb_next(pb)) {
        csp_send(myc, NULL);
        csp_recv(myc, NULL);
    }
}

static void chan_sem(long n, void *arg) {
    (void)arg;
    csp_chan *myc = chan_or_die(0, (size_t)csp_maxprocs(0));
    bench_parallel(n, 1000, sem_body, myc);
    csp_chan_release(myc);
}

/* ---- chan/pingpong -------------------------------------------------------------
 * Twin: chanPingPong(n). Two unbuffered chan int; the goroutine does
 * for v := range ping { pong <- v }; main, per op, ping <- i; <-pong; then
 * close(ping) (the goroutine's exit is not waited for). */
typedef struct pingpong_ctx { csp_chan *ping, *pong; } pingpong_ctx;

static void pingpong_echo(void *arg) {
    pingpong_ctx *p = (pingpong_ctx *)arg;
    csp_chan *ping = p->ping, *pong = p->pong;   /* p lives on main's stack */
    long v;
    while (csp_recv(ping, &v)) csp_send(pong, &v);
    csp_chan_release(ping);
    csp_chan_release(pong);
}

static void chan_pingpong(long n, void *arg) {
    (void)arg;
    pingpong_ctx p;
    p.ping = chan_or_die(sizeof(long), 0);
    p.pong = chan_or_die(sizeof(long), 0);
    csp_chan_retain(p.ping);
    csp_chan_retain(p.pong);
    if (csp_go_copy(pingpong_echo, &p, sizeof p) != 0) die("csp_go_copy");
    for (long i = 0; i < n; i++) {
        csp_send(p.ping, &i);
        csp_recv(p.pong, NULL);
    }
    csp_close(p.ping);
    csp_chan_release(p.ping);
    csp_chan_release(p.pong);
}

/* ---- chan/nonblocking ----------------------------------------------------------
 * Twin: chanNonblocking(n) (grain 10000), one unbuffered chan int nobody
 * sends on. Per op: select { case <-myc: default: } = csp_try_recv, which
 * always takes the default. */
static void nonblocking_body(bench_pb *pb, void *arg) {
    csp_chan *myc = (csp_chan *)arg;
    while (bench_pb_next(pb)) csp_try_recv(myc, NULL, NULL);
}

static void chan_nonblocking(long n, void *arg) {
    (void)arg;
    csp_chan *myc = chan_or_die(sizeof(long), 0);
    bench_parallel(n, 10000, nonblocking_body, myc);
    csp_chan_release(myc);
}

/* ---- chan/popular --------------------------------------------------------------
 * Twin: chanPopular(n). One unbuffered chan bool c nobody sends on and
 * 1000 goroutines, each with its own unbuffered chan bool d; wg.Add(1000)
 * first. Each goroutine does n x select { case <-c: case <-d: }, then
 * wg.Done(). Main does n x (d <- true for each of the 1000 d, in order),
 * then wg.Wait(). Per op: 1000 sends, each completing a 2-case select
 * that was (usually) parked on the shared c as well as on its own d. */
enum { POPULAR_G = 1000 };

typedef struct popular_w {
    csp_chan *c, *d;
    long n;
    csp_waitgroup *wg;
} popular_w;

static void popular_routine(void *arg) {
    popular_w *w = (popular_w *)arg;   /* main's array: alive until wg.Wait returned */
    csp_chan *c = w->c, *d = w->d;
    csp_waitgroup *wg = w->wg;
    for (long i = 0, n = w->n; i < n; i++) {
        csp_case cs[2] = { CSP_RECV(c, NULL), CSP_RECV(d, NULL) };
        csp_select(cs, 2, CSP_FOREVER);
    }
    csp_wg_done(wg);
}

static void chan_popular(long n, void *arg) {
    (void)arg;
    csp_chan *c = chan_or_die(sizeof(bool), 0);
    popular_w *a = (popular_w *)calloc(POPULAR_G, sizeof *a);
    if (!a) die("calloc");
    csp_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    csp_wg_add(&wg, POPULAR_G);
    for (int j = 0; j < POPULAR_G; j++) {
        a[j].c = c;
        a[j].d = chan_or_die(sizeof(bool), 0);
        a[j].n = n;
        a[j].wg = &wg;
        go_or_die(popular_routine, &a[j]);
    }
    for (long i = 0; i < n; i++) {
        for (int j = 0; j < POPULAR_G; j++) {
            bool t = true;
            csp_send(a[j].d, &t);
        }
    }
    csp_wg_wait(&wg);
    for (int j = 0; j < POPULAR_G; j++) csp_chan_release(a[j].d);
    free(a);
    csp_chan_release(c);
}

/* ---- chan/closed ---------------------------------------------------------------
 * Twin: chanClosed(n) (grain 10000). One closed chan struct{}. Per op:
 * select { case <-c: default: unreachable } = csp_try_recv, which always
 * receives (closed: true, with ok false). */
static void closed_body(bench_pb *pb, void *arg) {
    csp_chan *c = (csp_chan *)arg;
    while (bench_pb_next(pb)) {
        bool ok;
        if (!csp_try_recv(c, NULL, &ok)) die("chan/closed: unreachable default");
    }
}

static void chan_closed(long n, void *arg) {
    (void)arg;
    csp_chan *c = chan_or_die(0, 0);
    csp_close(c);
    bench_parallel(n, 10000, closed_body, c);
    csp_chan_release(c);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("chan/sync", bench_n(2000000, 200000), chan_sync, NULL);
    bench_run("chan/prodcons/0", bench_n(1000000, 100000), chan_prodcons0, NULL);
    bench_run("chan/prodcons/10", bench_n(2000000, 200000), chan_prodcons10, NULL);
    bench_run("chan/prodcons/100", bench_n(2000000, 200000), chan_prodcons100, NULL);
    bench_run("chan/prodcons_work/0", bench_n(1000000, 100000), chan_prodcons_work0, NULL);
    bench_run("chan/prodcons_work/10", bench_n(1000000, 100000), chan_prodcons_work10, NULL);
    bench_run("chan/prodcons_work/100", bench_n(1000000, 100000), chan_prodcons_work100, NULL);
    bench_run("chan/uncontended", bench_n(200000, 20000), chan_uncontended, NULL);
    bench_run("chan/contended", bench_n(50000, 5000), chan_contended, NULL);
    bench_run("chan/creation", bench_n(5000000, 500000), chan_creation, NULL);
    bench_run("chan/sem", bench_n(5000000, 500000), chan_sem, NULL);
    bench_run("chan/pingpong", bench_n(1000000, 100000), chan_pingpong, NULL);
    bench_run("chan/nonblocking", bench_n(50000000, 5000000), chan_nonblocking, NULL);
    bench_run("chan/popular", bench_n(600, 60), chan_popular, NULL);
    bench_run("chan/closed", bench_n(100000000, 10000000), chan_closed, NULL);
    return 0;
}
