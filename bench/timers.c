/* timers.c -- the clock, sleeping and timers, after Go's time/sleep_test.go
 * and time/tick_test.go: the C side of bench/go/timers.go. Every row does
 * the work its twin's comment names, with the same counts, grain
 * (bench_parallel) and GOMAXPROCS (the default). Go collects timers; here
 * their owner releases them, inside the timed part where Go's garbage would
 * be made. */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

#define HOUR (3600 * CSP_SECOND)

static void die(const char *what) {
    fprintf(stderr, "timers: %s failed\n", what);
    exit(1);
}
static void go_or_die(csp_fn fn, void *arg) {
    if (csp_go(fn, arg) != 0) die("csp_go");
}
static void noop(void *arg) { (void)arg; }   /* Go's AfterFunc(Hour, nil) never runs it either */

/* ---- time/now ----------------------------------------------------------------
 * Twin: now(n). Per op: acc += csp_now() - t0 (Go: time.Since(t0)). */
static int64_t sink;

static void now_loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = csp_now(), acc = 0;
    for (long i = 0; i < n; i++) acc += csp_now() - t0;
    sink += acc;
}

/* ---- time/sleep_100k_idle ----------------------------------------------------
 * Twin: sleepIdle(100000). Each goroutine: started.Done; <-gate;
 * asleep++; sleep 1 s; finished.Done. Main: wait started, close the gate
 * at g, poll asleep every 1 ms until all, 20 ms more, then the process's
 * CPU time over [now, g + 950 ms]. */
typedef struct idle_ctx {
    csp_waitgroup started, finished;
    int32_t asleep;   /* atomic */
    csp_chan *gate;
} idle_ctx;

static void idle_sleeper(void *arg) {
    idle_ctx *s = (idle_ctx *)arg;   /* main's frame: alive until finished.Wait */
    csp_wg_done(&s->started);
    csp_recv(s->gate, NULL);
    __atomic_add_fetch(&s->asleep, 1, __ATOMIC_SEQ_CST);
    csp_sleep(CSP_SECOND);
    csp_wg_done(&s->finished);
}

static void sleep_idle(int n) {
    idle_ctx s;
    memset(&s, 0, sizeof s);
    s.gate = csp_chan_make(0, 0);
    if (!s.gate) die("csp_chan_make");
    csp_wg_add(&s.started, n);
    csp_wg_add(&s.finished, n);
    for (int i = 0; i < n; i++) go_or_die(idle_sleeper, &s);
    csp_wg_wait(&s.started);
    int64_t g = csp_now();
    csp_close(s.gate);
    while (__atomic_load_n(&s.asleep, __ATOMIC_SEQ_CST) < n) csp_sleep(CSP_MILLISECOND);
    csp_sleep(20 * CSP_MILLISECOND);
    int64_t c0 = bench_cpu_ns(), w0 = bench_ns();
    int64_t d = g + 950 * CSP_MILLISECOND - csp_now();
    if (d > 0) csp_sleep(d);
    int64_t c1 = bench_cpu_ns(), w1 = bench_ns();
    printf("# time/sleep_100k_idle: window %.3f ms, cpu %.3f ms\n", (w1 - w0) / 1e6, (c1 - c0) / 1e6);
    if (w1 - w0 < 500 * CSP_MILLISECOND)
        printf("# time/sleep_100k_idle: idle window only %.3f ms\n", (w1 - w0) / 1e6);
    bench_report("time/sleep_100k_idle", (double)(c1 - c0) / (double)(w1 - w0) * 100, "%cpu");
    csp_wg_wait(&s.finished);
    csp_chan_release(s.gate);
}

/* ---- the harness of time's benchmark() -----------------------------------------
 * Twin: timerBench / benchRunTimer. Before timing, each of csp_maxprocs(0)
 * goroutines makes 1<<15 garbage timers, csp_after_func(1 hour); then
 * bench_parallel(n/1000, grain 1) with bench(1000) per op, timed alone;
 * then the garbage is stopped and released (untimed). The row is total
 * time / n: ns per ONE of the 1000. */
enum { GARBAGE = 1 << 15, K = 1000 };

typedef struct garbage_ctx {
    csp_timer **timers;
    csp_waitgroup *wg;
} garbage_ctx;

static void garbage_maker(void *arg) {
    garbage_ctx *g = (garbage_ctx *)arg;
    csp_waitgroup *wg = g->wg;
    for (int j = 0; j < GARBAGE; j++) {
        g->timers[j] = csp_after_func(HOUR, noop, NULL);
        if (!g->timers[j]) die("csp_after_func");
    }
    csp_wg_done(wg);
}

typedef struct timer_job { void (*bench)(int k); } timer_job;

static void timer_body(bench_pb *pb, void *arg) {
    timer_job *j = (timer_job *)arg;
    while (bench_pb_next(pb)) j->bench(K);
}

static int64_t timer_bench(long n, void (*bench)(int k)) {
    int procs = csp_maxprocs(0);
    garbage_ctx *gs = (garbage_ctx *)calloc((size_t)procs, sizeof *gs);
    csp_waitgroup wg = { 0 };
    if (!gs) die("calloc");
    csp_wg_add(&wg, procs);
    for (int i = 0; i < procs; i++) {
        gs[i].timers = (csp_timer **)calloc(GARBAGE, sizeof(csp_timer *));
        if (!gs[i].timers) die("calloc");
        gs[i].wg = &wg;
        go_or_die(garbage_maker, &gs[i]);
    }
    csp_wg_wait(&wg);
    timer_job job = { bench };
    int64_t t0 = bench_ns();
    bench_parallel(n / K, 1, timer_body, &job);
    int64_t dt = bench_ns() - t0;
    for (int i = 0; i < procs; i++) {
        for (int j = 0; j < GARBAGE; j++) {
            csp_timer_stop(gs[i].timers[j]);
            csp_timer_release(gs[i].timers[j]);
        }
        free(gs[i].timers);
    }
    free(gs);
    return dt;
}

static void bench_run_timer(const char *row, long n, void (*bench)(int k)) {
    if (!bench_want(row)) return;
    timer_bench(n / 10, bench);
    int64_t dt = timer_bench(n, bench);
    bench_report(row, (double)dt / (double)n, "ns/op");
}

/* ---- time/after_func -----------------------------------------------------------
 * Twin: startStop(k). k x csp_after_func(1 hour) into an array, then stop
 * each (and release it: Go's garbage). */
static void start_stop(int k) {
    csp_timer *timers[K];
    for (int i = 0; i < k; i++) {
        timers[i] = csp_after_func(HOUR, noop, NULL);
        if (!timers[i]) die("csp_after_func");
    }
    for (int i = 0; i < k; i++) {
        csp_timer_stop(timers[i]);
        csp_timer_release(timers[i]);
    }
}

/* ---- time/after_func_fire ------------------------------------------------------
 * Twin: afterFuncFire(k). A chain of k+1 csp_after_func(0, f): f does
 * i = --n; while i >= 0 it arms the next link, else it sends on c; the
 * caller waits on c. Each link's timer is stored in links[i] by the f that
 * made it; f's successor may run before that store lands, so the caller
 * waits for each slot to be filled before releasing it (after <-c, still
 * timed: Go's garbage).
 * time/after_func_fire_1ns: the same chain with csp_after_func(1 ns), so
 * each link goes through the timer heap (a due AfterFunc, the 0 above,
 * starts its goroutine at once without it). */
static int64_t chain_delay;   /* 0 or 1 ns, set before the row runs */
typedef struct chain_ctx {
    long n;                    /* touched by one link at a time: each f arms the next */
    csp_chan *c;
    csp_timer *links[K + 1];   /* atomic stores/loads */
} chain_ctx;

static void chain_link(void *arg) {
    chain_ctx *s = (chain_ctx *)arg;   /* the caller's frame: alive until it drained links */
    long i = --s->n;
    if (i >= 0) {
        csp_timer *t = csp_after_func(chain_delay, chain_link, s);
        if (!t) die("csp_after_func");
        __atomic_store_n(&s->links[i], t, __ATOMIC_RELEASE);
    } else {
        bool v = true;
        csp_send(s->c, &v);
    }
}

static void after_func_fire(int k) {
    chain_ctx *s = (chain_ctx *)malloc(sizeof *s);
    if (!s) die("malloc");
    s->n = k;
    s->c = csp_chan_make(sizeof(bool), 0);
    if (!s->c) die("csp_chan_make");
    for (int i = 0; i <= k; i++) s->links[i] = NULL;
    csp_timer *first = csp_after_func(chain_delay, chain_link, s);
    if (!first) die("csp_after_func");
    __atomic_store_n(&s->links[k], first, __ATOMIC_RELEASE);
    csp_recv(s->c, NULL);
    for (int i = 0; i <= k; i++) {
        csp_timer *t;
        while (!(t = __atomic_load_n(&s->links[i], __ATOMIC_ACQUIRE))) csp_yield();
        csp_timer_release(t);
    }
    csp_chan_release(s->c);
    free(s);
}

/* ---- time/sleep ----------------------------------------------------------------
 * Twin: sleepGoroutines(k). wg.Add(k); k x go { csp_sleep(1 ns);
 * wg.Done }; wg.Wait. */
static void sleeper(void *arg) {
    csp_waitgroup *wg = (csp_waitgroup *)arg;
    csp_sleep(1);
    csp_wg_done(wg);
}

static void sleep_goroutines(int k) {
    csp_waitgroup wg = { 0 };
    csp_wg_add(&wg, k);
    for (int i = 0; i < k; i++) go_or_die(sleeper, &wg);
    csp_wg_wait(&wg);
}

/* ---- time/ticker ---------------------------------------------------------------
 * Twin: tickerRecv(k). A 1 ns ticker; k receives from its channel; stop. */
static void ticker_recv(int k) {
    csp_ticker *t = csp_ticker_new(1);
    if (!t) die("csp_ticker_new");
    csp_chan *c = csp_ticker_chan(t);
    for (int i = 0; i < k; i++) csp_recv(c, NULL);
    csp_ticker_stop(t);
    csp_ticker_release(t);
}

/* ---- time/ticker_reset ---------------------------------------------------------
 * Twin: tickerReset(k). A 1 ns ticker; k x reset to 2 ns; stop. */
static void ticker_reset(int k) {
    csp_ticker *t = csp_ticker_new(1);
    if (!t) die("csp_ticker_new");
    for (int i = 0; i < k; i++) csp_ticker_reset(t, 2);
    csp_ticker_stop(t);
    csp_ticker_release(t);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("time/now", bench_n(10000000, 1000000), now_loop, NULL);
    if (bench_want("time/sleep_100k_idle")) sleep_idle(100000);
    bench_run_timer("time/after_func", bench_n(2000000, 200000), start_stop);
    bench_run_timer("time/after_func_fire", bench_n(500000, 50000), after_func_fire);
    chain_delay = 1;
    bench_run_timer("time/after_func_fire_1ns", bench_n(500000, 50000), after_func_fire);
    bench_run_timer("time/sleep", bench_n(500000, 50000), sleep_goroutines);
    bench_run_timer("time/ticker", bench_n(500000, 50000), ticker_recv);
    bench_run_timer("time/ticker_reset", bench_n(2000000, 200000), ticker_reset);
    bench_use(&sink);
    return 0;
}
