/* context.c -- contexts, after Go's context/benchmark_test.go: the C side of
 * bench/go/context.go. Every row does the work its twin's comment names,
 * with the same counts, grain (bench_parallel) and GOMAXPROCS (the
 * default). Go collects contexts; here each one made is released
 * (csp_ctx_release) inside the timed part, where Go makes its garbage. */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

#define HOUR (3600 * CSP_SECOND)

static void die(const char *what) {
    fprintf(stderr, "context: %s failed\n", what);
    exit(1);
}
static csp_ctx *ctx_or_die(csp_ctx *c) {
    if (!c) die("csp_ctx_with_*");
    return c;
}

/* ---- ctx/common_parent_cancel ----------------------------------------------------
 * Twin: commonParentCancel(n) (grain 200). root = with_value(background,
 * &key, "value"); shared = with_cancel(root). Per op: ctx =
 * with_cancel(shared); value(ctx, &key) must be "value"; 100 x { x /= x+1 };
 * cancel; 100 x { x /= x+1 }; release. x goes through an empty asm before
 * each division so that the compiler cannot fold them away (x stays 0, as
 * in Go, whose compiler does not fold them). */
static const char key_str[] = "key";   /* its address is the key */
static char value_str[] = "value";

static void common_parent_body(bench_pb *pb, void *arg) {
    csp_ctx *shared = (csp_ctx *)arg;
    long x = 0;
    while (bench_pb_next(pb)) {
        csp_ctx *ctx = ctx_or_die(csp_ctx_with_cancel(shared));
        const char *v = (const char *)csp_ctx_value(ctx, key_str);
        if (!v || strcmp(v, "value") != 0) die("ctx/common_parent_cancel: Value");
        for (int i = 0; i < 100; i++) {
            __asm__ __volatile__("" : "+r"(x));
            x /= x + 1;
        }
        csp_ctx_cancel(ctx);
        for (int i = 0; i < 100; i++) {
            __asm__ __volatile__("" : "+r"(x));
            x /= x + 1;
        }
        csp_ctx_release(ctx);
    }
    bench_use(&x);
}

static void common_parent_cancel(long n, void *arg) {
    (void)arg;
    csp_ctx *root = ctx_or_die(csp_ctx_with_value(csp_ctx_background(), key_str, value_str));
    csp_ctx *shared = ctx_or_die(csp_ctx_with_cancel(root));
    bench_parallel(n, 200, common_parent_body, shared);
    csp_ctx_cancel(shared);
    csp_ctx_release(shared);
    csp_ctx_release(root);
}

/* ---- ctx/with_timeout/{40,4000} ----------------------------------------------------
 * Twin: withTimeout(n, concurrency) (grain 20), timed part only. Setup:
 * csp_maxprocs(0) goroutines each make concurrency/procs with_timeout(bg,
 * 1 hour) and keep them. Per op: 10 x with_timeout(bg, 1 hour), then
 * cancel + release of the 10 in order. Teardown: cancel + release the
 * setup's contexts. */
typedef struct timeout_setup {
    csp_ctx **ctxs;
    int count;
    csp_waitgroup *wg;
} timeout_setup;

static void timeout_maker(void *arg) {
    timeout_setup *s = (timeout_setup *)arg;
    csp_waitgroup *wg = s->wg;
    for (int j = 0; j < s->count; j++)
        s->ctxs[j] = ctx_or_die(csp_ctx_with_timeout(csp_ctx_background(), HOUR));
    csp_wg_done(wg);
}

static void with_timeout_body(bench_pb *pb, void *arg) {
    (void)arg;
    csp_ctx *wcf[10];
    while (bench_pb_next(pb)) {
        for (int i = 0; i < 10; i++) wcf[i] = ctx_or_die(csp_ctx_with_timeout(csp_ctx_background(), HOUR));
        for (int i = 0; i < 10; i++) {
            csp_ctx_cancel(wcf[i]);
            csp_ctx_release(wcf[i]);
        }
    }
}

static int64_t with_timeout(long n, int concurrency) {
    int procs = csp_maxprocs(0);
    int per = concurrency / procs;
    timeout_setup *ss = (timeout_setup *)calloc((size_t)procs, sizeof *ss);
    csp_waitgroup wg = { 0 };
    if (!ss) die("calloc");
    csp_wg_add(&wg, procs);
    for (int i = 0; i < procs; i++) {
        ss[i].ctxs = (csp_ctx **)calloc((size_t)per + 1, sizeof(csp_ctx *));
        if (!ss[i].ctxs) die("calloc");
        ss[i].count = per;
        ss[i].wg = &wg;
        if (csp_go(timeout_maker, &ss[i]) != 0) die("csp_go");
    }
    csp_wg_wait(&wg);
    int64_t t0 = bench_ns();
    bench_parallel(n, 20, with_timeout_body, NULL);
    int64_t dt = bench_ns() - t0;
    for (int i = 0; i < procs; i++) {
        for (int j = 0; j < per; j++) {
            csp_ctx_cancel(ss[i].ctxs[j]);
            csp_ctx_release(ss[i].ctxs[j]);
        }
        free(ss[i].ctxs);
    }
    free(ss);
    return dt;
}

static void bench_run_with_timeout(const char *row, long n, int concurrency) {
    if (!bench_want(row)) return;
    with_timeout(n / 10 > 0 ? n / 10 : 1, concurrency);
    int64_t dt = with_timeout(n, concurrency);
    bench_report(row, (double)dt / (double)n, "ns/op");
}

/* ---- ctx/cancel_tree/{background,open,closed} --------------------------------------
 * Twins: cancelTree{Background,Open,Closed}(n). Per op a chain of 100
 * with_cancel contexts, each the child of the one before, on
 *   background: the background context;
 *   open:       root = with_cancel(bg); build; cancel(root);
 *   closed:     root = with_cancel(bg); cancel(root); build.
 * Then release the root and the 100 in order (Go: garbage). */
enum { TREE_DEPTH = 100 };

static void build_context_tree(csp_ctx *root, csp_ctx **chain) {
    for (int d = 0; d < TREE_DEPTH; d++) root = chain[d] = ctx_or_die(csp_ctx_with_cancel(root));
}
static void release_chain(csp_ctx **chain) {
    for (int d = 0; d < TREE_DEPTH; d++) csp_ctx_release(chain[d]);
}

static void cancel_tree_background(long n, void *arg) {
    (void)arg;
    csp_ctx *chain[TREE_DEPTH];
    for (long i = 0; i < n; i++) {
        build_context_tree(csp_ctx_background(), chain);
        release_chain(chain);
    }
}

static void cancel_tree_open(long n, void *arg) {
    (void)arg;
    csp_ctx *chain[TREE_DEPTH];
    for (long i = 0; i < n; i++) {
        csp_ctx *root = ctx_or_die(csp_ctx_with_cancel(csp_ctx_background()));
        build_context_tree(root, chain);
        csp_ctx_cancel(root);
        csp_ctx_release(root);
        release_chain(chain);
    }
}

static void cancel_tree_closed(long n, void *arg) {
    (void)arg;
    csp_ctx *chain[TREE_DEPTH];
    for (long i = 0; i < n; i++) {
        csp_ctx *root = ctx_or_die(csp_ctx_with_cancel(csp_ctx_background()));
        csp_ctx_cancel(root);
        build_context_tree(root, chain);
        csp_ctx_release(root);
        release_chain(chain);
    }
}

/* ---- ctx/check_canceled/{err,done} --------------------------------------------------
 * Twins: checkCanceledErr(n), checkCanceledDone(n). ctx = with_cancel(bg),
 * canceled before timing. Per op: csp_ctx_err(ctx); or
 * csp_try_recv(csp_ctx_done(ctx)) (finds it closed). Go 1.19's Err takes
 * the context's mutex (Lock, read err, Unlock); csp_ctx_err is an acquire
 * load: the row measures that difference, the work is the same call. */
static volatile int sink_err;

static void check_canceled_err(long n, void *arg) {
    (void)arg;
    csp_ctx *ctx = ctx_or_die(csp_ctx_with_cancel(csp_ctx_background()));
    csp_ctx_cancel(ctx);
    int err = 0;
    for (long i = 0; i < n; i++) {
        __asm__ __volatile__("" : : : "memory");   /* one call per op: not hoisted out of the loop */
        err = csp_ctx_err(ctx);
    }
    sink_err = err;
    csp_ctx_release(ctx);
}

static void check_canceled_done(long n, void *arg) {
    (void)arg;
    csp_ctx *ctx = ctx_or_die(csp_ctx_with_cancel(csp_ctx_background()));
    csp_ctx_cancel(ctx);
    for (long i = 0; i < n; i++) csp_try_recv(csp_ctx_done(ctx), NULL, NULL);
    csp_ctx_release(ctx);
}

/* ---- ctx/value_depth10 ---------------------------------------------------------------
 * Twin: valueDepth10(n). 10 with_value layers with keys &keys[0..9];
 * per op: csp_ctx_value of &keys[10], which is not there. */
static char keys[11];

static void value_depth10(long n, void *arg) {
    (void)arg;
    csp_ctx *layers[10];
    csp_ctx *ctx = csp_ctx_background();
    for (int i = 0; i < 10; i++) ctx = layers[i] = ctx_or_die(csp_ctx_with_value(ctx, &keys[i], &keys[i]));
    long hits = 0;
    for (long i = 0; i < n; i++) {
        __asm__ __volatile__("" : : : "memory");
        if (csp_ctx_value(ctx, &keys[10]) != NULL) hits++;
    }
    if (hits != 0) die("ctx/value_depth10: found a key that is not there");
    for (int i = 0; i < 10; i++) csp_ctx_release(layers[i]);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("ctx/common_parent_cancel", bench_n(400000, 40000), common_parent_cancel, NULL);
    bench_run_with_timeout("ctx/with_timeout/40", bench_n(50000, 5000), 40);
    bench_run_with_timeout("ctx/with_timeout/4000", bench_n(50000, 5000), 4000);
    bench_run("ctx/cancel_tree/background", bench_n(5000, 500), cancel_tree_background, NULL);
    bench_run("ctx/cancel_tree/open", bench_n(5000, 500), cancel_tree_open, NULL);
    bench_run("ctx/cancel_tree/closed", bench_n(5000, 500), cancel_tree_closed, NULL);
    bench_run("ctx/check_canceled/err", bench_n(20000000, 2000000), check_canceled_err, NULL);
    bench_run("ctx/check_canceled/done", bench_n(20000000, 2000000), check_canceled_done, NULL);
    bench_run("ctx/value_depth10", bench_n(10000000, 1000000), value_depth10, NULL);
    return 0;
}
