/* goroutines.c -- creating, scheduling and parking goroutines: the C side of
 * bench/go/goroutines.go. Every row does the work its twin's comment names,
 * with the same counts and GOMAXPROCS (csp_maxprocs) as the twin.
 *
 * Go collects channels; here whoever may still be inside a channel call
 * when its owner could conclude that the work is over holds a reference of
 * its own (csp_chan_retain before the spawn, csp_chan_release at the end).
 * That costs a few atomics per RUN, never per op. */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

static void die(const char *what) {
    fprintf(stderr, "goroutines: %s failed\n", what);
    exit(1);
}
static void go_or_die(csp_fn fn, void *arg) {
    if (csp_go(fn, arg) != 0) die("csp_go");
}
static void go_copy_or_die(csp_fn fn, const void *arg, size_t size) {
    if (csp_go_copy(fn, arg, size) != 0) die("csp_go_copy");
}
static csp_chan *chan_or_die(size_t elem, size_t cap) {
    csp_chan *c = csp_chan_make(elem, cap);
    if (!c) die("csp_chan_make");
    return c;
}

/* ---- go/create, go/create_parallel -------------------------------------------
 * Twin: createGoroutines(n, procs). f(k): k == 0 sends true on the
 * unbuffered channel c and returns; otherwise `go f(k-1)`. procs chains of
 * n/procs, started by main, which then receives procs times. Per op: one
 * goroutine created, run and exited. c is the closure's captured variable
 * (here a file-scope one); the goroutine that will send on it gets its own
 * reference from whoever spawns it. */
static csp_chan *create_c;

static void create_f(void *arg) {
    long k = (long)(intptr_t)arg;
    if (k == 0) {
        csp_chan *c = create_c;   /* main may reset create_c once we sent */
        bool t = true;
        csp_send(c, &t);
        csp_chan_release(c);
        return;
    }
    if (k - 1 == 0) csp_chan_retain(create_c);   /* for the sender, f(0) */
    go_or_die(create_f, (void *)(intptr_t)(k - 1));
}

static void create_goroutines(long n, int procs) {
    create_c = chan_or_die(sizeof(bool), 0);
    for (int i = 0; i < procs; i++) {
        if (n / procs == 0) csp_chan_retain(create_c);
        go_or_die(create_f, (void *)(intptr_t)(n / procs));
    }
    for (int i = 0; i < procs; i++) csp_recv(create_c, NULL);
    csp_chan_release(create_c);
    create_c = NULL;
}

static void go_create(long n, void *arg) {
    (void)arg;
    create_goroutines(n, 1);
}
static void go_create_parallel(long n, void *arg) {
    (void)arg;
    create_goroutines(n, csp_maxprocs(0));
}

/* ---- go/spawn_wait ------------------------------------------------------------
 * Twin: spawnWait(n). Per op: wg.Add(1); go func() { wg.Done() }(); one
 * wg.Wait() after all n. */
static void spawn_done(void *arg) { csp_wg_done((csp_waitgroup *)arg); }

static void go_spawn_wait(long n, void *arg) {
    (void)arg;
    csp_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    for (long i = 0; i < n; i++) {
        csp_wg_add(&wg, 1);
        go_or_die(spawn_done, &wg);
    }
    csp_wg_wait(&wg);
}

/* ---- go/pingpong_hog ----------------------------------------------------------
 * Twin: pingPongHog(n), under GOMAXPROCS(1) set and restored inside the call
 * (the twin's defer), so in both passes, as in Go. The hog spins on
 * select { case <-stop: done <- true; return; default: }: Go compiles that
 * 1-case select with default to selectnbrecv, which is csp_try_recv. Two
 * goroutines ping-pong a bool over two unbuffered channels: A does n times
 * pong <- <-ping, then close(stop), done <- true; B does n times
 * ping <- <-pong, then done <- true. Main: ping <- true; <-stop; <-ping;
 * <-done three times. Timed as the model (b.ResetTimer ... b.StopTimer)
 * and the twin (benchRunPart): from ping <- true until <-stop returns; the
 * maxprocs switch, the spawns, the last <-ping and the <-dones are not
 * (run_part below). Each goroutine gets a copy of the channels
 * (csp_go_copy, Go's closure capture): main's frame ends once it has its
 * three dones, maybe before the senders' last lines ran. */
typedef struct hog_ctx {
    csp_chan *stop, *done, *ping, *pong;
    long n;
} hog_ctx;

static void hog_spin(void *arg) {
    hog_ctx h = *(hog_ctx *)arg;   /* csp_go_copy's copy: main's frame dies once we sent */
    for (;;) {
        if (csp_try_recv(h.stop, NULL, NULL)) {
            bool t = true;
            csp_send(h.done, &t);
            csp_chan_release(h.stop);
            csp_chan_release(h.done);
            return;
        }
    }
}

static void hog_a(void *arg) {
    hog_ctx h = *(hog_ctx *)arg;
    for (long j = 0; j < h.n; j++) {
        bool v;
        csp_recv(h.ping, &v);
        csp_send(h.pong, &v);
    }
    csp_close(h.stop);
    bool t = true;
    csp_send(h.done, &t);
    csp_chan_release(h.ping);
    csp_chan_release(h.pong);
    csp_chan_release(h.stop);
    csp_chan_release(h.done);
}

static void hog_b(void *arg) {
    hog_ctx h = *(hog_ctx *)arg;
    for (long i = 0; i < h.n; i++) {
        bool v;
        csp_recv(h.pong, &v);
        csp_send(h.ping, &v);
    }
    bool t = true;
    csp_send(h.done, &t);
    csp_chan_release(h.ping);
    csp_chan_release(h.pong);
    csp_chan_release(h.done);
}

static int64_t go_pingpong_hog(long n) {
    int old = csp_maxprocs(1);
    hog_ctx h;
    h.stop = chan_or_die(sizeof(bool), 0);
    h.done = chan_or_die(sizeof(bool), 0);
    h.n = n;
    csp_chan_retain(h.stop);
    csp_chan_retain(h.done);
    go_copy_or_die(hog_spin, &h, sizeof h);
    h.ping = chan_or_die(sizeof(bool), 0);
    h.pong = chan_or_die(sizeof(bool), 0);
    csp_chan_retain(h.ping); csp_chan_retain(h.pong);
    csp_chan_retain(h.stop); csp_chan_retain(h.done);
    go_copy_or_die(hog_a, &h, sizeof h);
    csp_chan_retain(h.ping); csp_chan_retain(h.pong);
    csp_chan_retain(h.done);
    go_copy_or_die(hog_b, &h, sizeof h);
    bool t = true;
    int64_t t0 = bench_ns();
    csp_send(h.ping, &t);
    csp_recv(h.stop, NULL);
    int64_t dt = bench_ns() - t0;
    csp_recv(h.ping, NULL);
    csp_recv(h.done, NULL);
    csp_recv(h.done, NULL);
    csp_recv(h.done, NULL);
    csp_chan_release(h.stop);
    csp_chan_release(h.done);
    csp_chan_release(h.ping);
    csp_chan_release(h.pong);
    csp_maxprocs(old);
    return dt;
}

/* bench_run for a row that times only a part of its work (the twin's
 * benchRunPart): warm-up fn(max(n/10, 1)), then fn(n); fn returns the ns
 * of its timed part. */
static void run_part(const char *row, long n, int64_t (*fn)(long n)) {
    if (!bench_want(row)) return;
    fn(n / 10 > 0 ? n / 10 : 1);
    int64_t dt = fn(n);
    bench_report(row, (double)dt / (double)n, "ns/op");
}

/* ---- go/daisy_100k -------------------------------------------------------------
 * Twin: daisy(n) and whisper(left, right): left <- 1 + <-right on
 * unbuffered chan int. Main makes a channel and spawns a whisper n times
 * (the pair is copied to the new goroutine, as Go copies the arguments of
 * `go whisper(left, right)`), a last goroutine sends 1 into the rightmost
 * channel, main receives n+1 from the leftmost. Each channel has two users,
 * its receiver and its sender; each holds a reference and drops it after
 * its one operation (Go's GC frees them). */
typedef struct whisper_args { csp_chan *left, *right; } whisper_args;

static void whisper(void *arg) {
    whisper_args *a = (whisper_args *)arg;
    long v;
    csp_recv(a->right, &v);
    csp_chan_release(a->right);
    v = 1 + v;
    csp_send(a->left, &v);
    csp_chan_release(a->left);
}

static void whisper_first(void *arg) {
    csp_chan *c = (csp_chan *)arg;
    long one = 1;
    csp_send(c, &one);
    csp_chan_release(c);
}

static void go_daisy(long n, void *arg) {
    (void)arg;
    csp_chan *leftmost = chan_or_die(sizeof(long), 0);
    csp_chan_retain(leftmost);   /* main's (receiver) + the first whisper's (sender) */
    csp_chan *left = leftmost, *right = leftmost;
    for (long i = 0; i < n; i++) {
        right = chan_or_die(sizeof(long), 0);
        csp_chan_retain(right);   /* this whisper's (receiver) + the next sender's */
        whisper_args a = { left, right };
        go_copy_or_die(whisper, &a, sizeof a);
        left = right;
    }
    go_or_die(whisper_first, right);
    long v = 0;
    csp_recv(leftmost, &v);
    csp_chan_release(leftmost);
    if (v != n + 1) {
        fprintf(stderr, "goroutines: daisy chain lost a whisper (%ld, want %ld)\n", v, n + 1);
        exit(1);
    }
}

/* ---- go/park_1m, go/park_1m_rss ----------------------------------------------
 * Twin: park(n). n goroutines, each started.Done(); <-ch; finished.Done()
 * on one unbuffered channel nobody sends on. Timed from the first spawn
 * until started.Wait() returns: ns per spawn + park; RSS growth per parked
 * goroutine in KiB (Go runs a GC before the first RSS read; C has nothing
 * to collect). Then close(ch) and finished.Wait(), untimed. No warm-up. The
 * closure's captured variables: one context shared by all. */
typedef struct park_ctx {
    csp_waitgroup started, finished;
    csp_chan *ch;
} park_ctx;

static void park_body(void *arg) {
    park_ctx *p = (park_ctx *)arg;
    csp_wg_done(&p->started);
    csp_recv(p->ch, NULL);
    csp_wg_done(&p->finished);
}

static park_ctx park_state;   /* static: zero-initialised WaitGroups */

static void go_park(long n) {
    park_ctx *p = &park_state;
    p->ch = chan_or_die(0, 0);   /* chan struct{} */
    csp_wg_add(&p->started, n);
    csp_wg_add(&p->finished, n);
    double rss0 = bench_rss_kb();
    int64_t t0 = bench_ns();
    for (long i = 0; i < n; i++) go_or_die(park_body, p);
    csp_wg_wait(&p->started);
    int64_t dt = bench_ns() - t0;
    double rss1 = bench_rss_kb();
    if (bench_want("go/park_1m")) bench_report("go/park_1m", (double)dt / (double)n, "ns/op");
    if (bench_want("go/park_1m_rss"))
        bench_report("go/park_1m_rss", (rss1 - rss0) / (double)n, "KB/goroutine");
    csp_close(p->ch);
    csp_wg_wait(&p->finished);
    csp_chan_release(p->ch);
    p->ch = NULL;
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("go/create", bench_n(2000000, 200000), go_create, NULL);
    bench_run("go/create_parallel", bench_n(2000000, 200000), go_create_parallel, NULL);
    bench_run("go/spawn_wait", bench_n(2000000, 200000), go_spawn_wait, NULL);
    run_part("go/pingpong_hog", bench_n(500000, 50000), go_pingpong_hog);
    bench_run("go/daisy_100k", bench_n(100000, 10000), go_daisy, NULL);
    if (bench_want("go/park_1m") || bench_want("go/park_1m_rss")) go_park(bench_n(200000, 100000));
    return 0;
}
