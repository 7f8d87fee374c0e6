/* select.c -- select, after Go's runtime/chan_test.go: the C side of
 * bench/go/select.go. Every row does the work its twin's comment names, with
 * the same counts, grain (bench_parallel) and GOMAXPROCS (the default). Go's
 * `chan int` is a channel of 8-byte elements here (long); a case whose value
 * Go discards (`case <-c:`) has a NULL elem, as Go's scase has a nil one. The
 * cases are filled in before every select, as Go's compiled code fills its
 * scase array. A 1-case select with default is, in Go, compiled to
 * selectnbrecv/selectnbsend: csp_try_recv/csp_try_send here.
 *
 * Go collects channels; here a goroutine that outlives the call that made
 * its channels holds references of its own (a few atomics per RUN). */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

static void die(const char *what) {
    fprintf(stderr, "select: %s failed\n", what);
    exit(1);
}
static csp_chan *chan_or_die(size_t elem, size_t cap) {
    csp_chan *c = csp_chan_make(elem, cap);
    if (!c) die("csp_chan_make");
    return c;
}

static const long zero = 0;

/* ---- select/uncontended ---------------------------------------------------------
 * Twin: selectUncontended(n) (grain 1000). Each worker: two chan int of
 * capacity 1, the first holding one value. Per op: select { case <-myc1:
 * myc2 <- 0; case <-myc2: myc1 <- 0 }. */
static void uncontended_body(bench_pb *pb, void *arg) {
    (void)arg;
    csp_chan *myc1 = chan_or_die(sizeof(long), 1);
    csp_chan *myc2 = chan_or_die(sizeof(long), 1);
    csp_send(myc1, &zero);
    while (bench_pb_next(pb)) {
        csp_case cs[2] = { CSP_RECV(myc1, NULL), CSP_RECV(myc2, NULL) };
        switch (csp_select(cs, 2, CSP_FOREVER)) {
        case 0: csp_send(myc2, &zero); break;
        case 1: csp_send(myc1, &zero); break;
        default: die("select/uncontended: select");
        }
    }
    csp_chan_release(myc1);
    csp_chan_release(myc2);
}

static void select_uncontended(long n, void *arg) {
    (void)arg;
    bench_parallel(n, 1000, uncontended_body, NULL);
}

/* ---- select/sync_contended ------------------------------------------------------
 * Twin: selectSyncContended(n) (grain 100). Three shared unbuffered chan
 * int and a done channel. Each worker first starts a helper looping on
 * select { case myc1 <- 0: case myc2 <- 0: case myc3 <- 0: case <-done:
 * return }, then per op: select { case <-myc1: case <-myc2: case <-myc3: }.
 * After the workers end, close(done) (timed; the helpers' exit is not
 * waited for, as in Go). */
typedef struct sync_ctx { csp_chan *myc1, *myc2, *myc3, *done; } sync_ctx;

static void sync_helper(void *arg) {
    sync_ctx s = *(sync_ctx *)arg;   /* a copy: csp_go_copy's, on our stack */
    for (;;) {
        csp_case cs[4] = { CSP_SEND(s.myc1, &zero), CSP_SEND(s.myc2, &zero),
                           CSP_SEND(s.myc3, &zero), CSP_RECV(s.done, NULL) };
        if (csp_select(cs, 4, CSP_FOREVER) == 3) break;
    }
    csp_chan_release(s.myc1);
    csp_chan_release(s.myc2);
    csp_chan_release(s.myc3);
    csp_chan_release(s.done);
}

static void sync_body(bench_pb *pb, void *arg) {
    sync_ctx *s = (sync_ctx *)arg;
    csp_chan_retain(s->myc1);   /* the helper's references */
    csp_chan_retain(s->myc2);
    csp_chan_retain(s->myc3);
    csp_chan_retain(s->done);
    if (csp_go_copy(sync_helper, s, sizeof *s) != 0) die("csp_go_copy");
    while (bench_pb_next(pb)) {
        csp_case cs[3] = { CSP_RECV(s->myc1, NULL), CSP_RECV(s->myc2, NULL),
                           CSP_RECV(s->myc3, NULL) };
        csp_select(cs, 3, CSP_FOREVER);
    }
}

static void select_sync_contended(long n, void *arg) {
    (void)arg;
    sync_ctx s;
    s.myc1 = chan_or_die(sizeof(long), 0);
    s.myc2 = chan_or_die(sizeof(long), 0);
    s.myc3 = chan_or_die(sizeof(long), 0);
    s.done = chan_or_die(sizeof(long), 0);
    bench_parallel(n, 100, sync_body, &s);
    csp_close(s.done);
    csp_chan_release(s.myc1);
    csp_chan_release(s.myc2);
    csp_chan_release(s.myc3);
    csp_chan_release(s.done);
}

/* ---- select/async_contended -----------------------------------------------------
 * Twin: selectAsyncContended(n) (grain 500). Two SHARED chan int of
 * capacity GOMAXPROCS; each worker first puts one value into myc1, then per
 * op: select { case <-myc1: myc2 <- 0; case <-myc2: myc1 <- 0 }. */
typedef struct async_ctx { csp_chan *myc1, *myc2; } async_ctx;

static void async_body(bench_pb *pb, void *arg) {
    async_ctx *a = (async_ctx *)arg;
    csp_send(a->myc1, &zero);
    while (bench_pb_next(pb)) {
        csp_case cs[2] = { CSP_RECV(a->myc1, NULL), CSP_RECV(a->myc2, NULL) };
        switch (csp_select(cs, 2, CSP_FOREVER)) {
        case 0: csp_send(a->myc2, &zero); break;
        case 1: csp_send(a->myc1, &zero); break;
        default: die("select/async_contended: select");
        }
    }
}

static void select_async_contended(long n, void *arg) {
    (void)arg;
    size_t procs = (size_t)csp_maxprocs(0);
    async_ctx a;
    a.myc1 = chan_or_die(sizeof(long), procs);
    a.myc2 = chan_or_die(sizeof(long), procs);
    bench_parallel(n, 500, async_body, &a);
    csp_chan_release(a.myc1);
    csp_chan_release(a.myc2);
}

/* ---- select/nonblock -----------------------------------------------------------
 * Twin: selectNonblock(n) (grain 10000). Four shared channels, empty at the
 * start: myc1, myc2 unbuffered, myc3, myc4 of capacity 1. Per op, four
 * 1-case selects with default: recv myc1, send myc2, recv myc3, send myc4
 * (only the very first send on myc4 succeeds). */
typedef struct nonblock_ctx { csp_chan *myc1, *myc2, *myc3, *myc4; } nonblock_ctx;

static void nonblock_body(bench_pb *pb, void *arg) {
    nonblock_ctx *c = (nonblock_ctx *)arg;
    while (bench_pb_next(pb)) {
        csp_try_recv(c->myc1, NULL, NULL);
        csp_try_send(c->myc2, &zero);
        csp_try_recv(c->myc3, NULL, NULL);
        csp_try_send(c->myc4, &zero);
    }
}

static void select_nonblock(long n, void *arg) {
    (void)arg;
    nonblock_ctx c;
    c.myc1 = chan_or_die(sizeof(long), 0);
    c.myc2 = chan_or_die(sizeof(long), 0);
    c.myc3 = chan_or_die(sizeof(long), 1);
    c.myc4 = chan_or_die(sizeof(long), 1);
    bench_parallel(n, 10000, nonblock_body, &c);
    csp_chan_release(c.myc1);
    csp_chan_release(c.myc2);
    csp_chan_release(c.myc3);
    csp_chan_release(c.myc4);
}

/* ---- select/2case --------------------------------------------------------------
 * Twin: select2Case(n), one goroutine. `ready` of capacity 1 and an
 * unbuffered `never` nobody sends on. Per op: ready <- i (the refill), then
 * select { case v := <-ready: got += v & 1; case <-never: panic }. */
static volatile long sink;

static void select_2case(long n, void *arg) {
    (void)arg;
    csp_chan *ready = chan_or_die(sizeof(long), 1);
    csp_chan *never = chan_or_die(sizeof(long), 0);
    long got = 0;
    for (long i = 0; i < n; i++) {
        long v;
        csp_send(ready, &i);
        csp_case cs[2] = { CSP_RECV(ready, &v), CSP_RECV(never, NULL) };
        if (csp_select(cs, 2, CSP_FOREVER) != 0) die("select/2case: impossible case");
        got += v & 1;
    }
    sink += got;
    csp_chan_release(ready);
    csp_chan_release(never);
}

/* ---- select/prodcons -----------------------------------------------------------
 * Twin: selectProdCons(n). As chan/prodcons_work (bench/channels.c): myc of
 * capacity 128, GOMAXPROCS producers and consumers spawned in pairs, blocks
 * of 1000 claimed from N = n/1000, 100 steps of local work per message on
 * each side, foo == 42 sent on c (cap 2*procs) at the end; but every send
 * and receive on myc is a 3-case select beside the goroutine's own
 * csp_after(1 hour) channel (Go: time.After(time.Hour), made at the start
 * of the goroutine and never firing) and a shared unbuffered myclose that
 * nobody closes: producer: work, then select { myc <- 1, <-mytimer,
 * <-myclose }; consumer: select { v = <-myc (0: stop), <-mytimer,
 * <-myclose }, then work. A producer ends with a plain myc <- 0. */
enum { CALLS_PER_SCHED = 1000, PRODCONS_WORK = 100 };

typedef struct prodcons_ctx {
    int32_t N;   /* atomic */
    csp_chan *c, *myc, *myclose;
} prodcons_ctx;

static const int64_t HOUR = 3600 * CSP_SECOND;

static void prodcons_producer(void *arg) {
    prodcons_ctx *s = (prodcons_ctx *)arg;   /* main's frame: alive until we sent on c */
    csp_chan *c = s->c, *myc = s->myc, *myclose = s->myclose;
    long foo = 0;
    csp_chan *mytimer = csp_after(HOUR);
    if (!mytimer) die("csp_after");
    while (__atomic_sub_fetch(&s->N, 1, __ATOMIC_SEQ_CST) >= 0) {
        for (int g = 0; g < CALLS_PER_SCHED; g++) {
            foo = bench_local_work(foo, PRODCONS_WORK);
            long one = 1;
            csp_case cs[3] = { CSP_SEND(myc, &one), CSP_RECV(mytimer, NULL),
                               CSP_RECV(myclose, NULL) };
            csp_select(cs, 3, CSP_FOREVER);
        }
    }
    csp_send(myc, &zero);
    csp_chan_release(mytimer);
    bool r = foo == 42;
    csp_send(c, &r);
    csp_chan_release(c);
}

static void prodcons_consumer(void *arg) {
    prodcons_ctx *s = (prodcons_ctx *)arg;
    csp_chan *c = s->c, *myc = s->myc, *myclose = s->myclose;
    long foo = 0;
    csp_chan *mytimer = csp_after(HOUR);
    if (!mytimer) die("csp_after");
    for (;;) {
        long v = -1;
        csp_case cs[3] = { CSP_RECV(myc, &v), CSP_RECV(mytimer, NULL),
                           CSP_RECV(myclose, NULL) };
        if (csp_select(cs, 3, CSP_FOREVER) == 0 && v == 0) break;
        foo = bench_local_work(foo, PRODCONS_WORK);
    }
    csp_chan_release(mytimer);
    bool r = foo == 42;
    csp_send(c, &r);
    csp_chan_release(c);
}

static void select_prodcons(long n, void *arg) {
    (void)arg;
    int procs = csp_maxprocs(0);
    prodcons_ctx s;
    s.N = (int32_t)(n / CALLS_PER_SCHED);
    s.c = chan_or_die(sizeof(bool), 2 * (size_t)procs);
    s.myc = chan_or_die(sizeof(long), 128);
    s.myclose = chan_or_die(sizeof(bool), 0);
    for (int p = 0; p < procs; p++) {
        csp_chan_retain(s.c);
        if (csp_go(prodcons_producer, &s) != 0) die("csp_go");
        csp_chan_retain(s.c);
        if (csp_go(prodcons_consumer, &s) != 0) die("csp_go");
    }
    for (int p = 0; p < procs; p++) {
        csp_recv(s.c, NULL);
        csp_recv(s.c, NULL);
    }
    csp_chan_release(s.c);
    csp_chan_release(s.myc);
    csp_chan_release(s.myclose);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("select/uncontended", bench_n(10000000, 1000000), select_uncontended, NULL);
    bench_run("select/sync_contended", bench_n(500000, 50000), select_sync_contended, NULL);
    bench_run("select/async_contended", bench_n(3000000, 300000), select_async_contended, NULL);
    bench_run("select/nonblock", bench_n(50000000, 5000000), select_nonblock, NULL);
    bench_run("select/2case", bench_n(10000000, 1000000), select_2case, NULL);
    bench_run("select/prodcons", bench_n(1000000, 100000), select_prodcons, NULL);
    return 0;
}
