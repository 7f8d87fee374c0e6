/* Learning Go, ch. 12 "Concurrency in Go", section "Put Your Concurrent Tools Together": GatherAndProcess.
 *
 * Call services A and B at the same time, feed both results to service C,
 * and give up if the whole thing takes more than 50 ms. GatherAndProcess
 * reads like sequential code; the concurrency is in two small types:
 *   - abProcessor starts one goroutine per service; each writes its result
 *     or its error to a buffered channel, so it can always finish and exit;
 *     wait selects over outA, outB, errs and ctx's Done channel until it has
 *     both results, an error, or the deadline;
 *   - cProcessor does the same for C alone.
 * The context made by csp_ctx_with_timeout carries the deadline to every
 * goroutine; GatherAndProcess cancels it when it returns (defer cancel()),
 * so that a service still running gives up at once.
 *
 * The services are simulated: each "answers" after a delay unless its
 * context is done first; each run's delays travel in its context, as a
 * value. Errors are strings (NULL is nil), and the goroutines hold their own
 * references to the channels and the context they use.
 *
 * What to notice: the fast run returns C's result after ~30 ms; a slow B,
 * or a slow C, ends with "context deadline exceeded" at 50 ms; a failing A
 * returns its error as soon as it happens, without waiting for B.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

typedef struct { int a, b; } input;
typedef struct { int value; } a_out, b_out, c_out;
typedef struct { a_out a; b_out b; } c_in;

/* How the simulated services behave in a run: the run's context carries it
 * as a value (csp_ctx_with_value), as request-scoped data goes in Go. */
typedef struct { const char *what; int64_t a, b, c; const char *a_fails; } simulation;
static const int sim_key;   /* its address is the key */

static const simulation *sim(csp_ctx *ctx) { return csp_ctx_value(ctx, &sim_key); }

static const char *ctx_error(csp_ctx *ctx) {
    return csp_ctx_err(ctx) == CSP_DEADLINE_EXCEEDED ? "context deadline exceeded" : "context canceled";
}

/* Wait `takes`, unless ctx is done first. */
static const char *call_service(csp_ctx *ctx, int64_t takes) {
    csp_case done = CSP_RECV(csp_ctx_done(ctx), NULL);
    return csp_select(&done, 1, takes) == 0 ? ctx_error(ctx) : NULL;
}

static const char *get_result_a(csp_ctx *ctx, int in, a_out *out) {
    const char *err = call_service(ctx, sim(ctx)->a);
    if (!err && sim(ctx)->a_fails) err = sim(ctx)->a_fails;
    out->value = in * 2;
    return err;
}

static const char *get_result_b(csp_ctx *ctx, int in, b_out *out) {
    out->value = in + 1;
    return call_service(ctx, sim(ctx)->b);
}

static const char *get_result_c(csp_ctx *ctx, c_in in, c_out *out) {
    out->value = in.a.value * in.b.value;
    return call_service(ctx, sim(ctx)->c);
}

/* ---- abProcessor ------------------------------------------------------------ */
typedef struct { csp_chan *out_a, *out_b, *errs; } ab_processor;

static ab_processor new_ab_processor(void) {
    return (ab_processor){
        csp_chan_make(sizeof(a_out), 1),
        csp_chan_make(sizeof(b_out), 1),
        csp_chan_make(sizeof(const char *), 2),   /* room for both errors */
    };
}

typedef struct { csp_ctx *ctx; csp_chan *out, *errs; input data; } ab_job;

static void job_done(ab_job *j) {
    csp_ctx_release(j->ctx);
    csp_chan_release(j->out);
    csp_chan_release(j->errs);
}

static void run_a(void *arg) {
    ab_job *j = arg;
    a_out a;
    const char *err = get_result_a(j->ctx, j->data.a, &a);
    if (err) csp_send(j->errs, &err);
    else csp_send(j->out, &a);
    job_done(j);
}

static void run_b(void *arg) {
    ab_job *j = arg;
    b_out b;
    const char *err = get_result_b(j->ctx, j->data.b, &b);
    if (err) csp_send(j->errs, &err);
    else csp_send(j->out, &b);
    job_done(j);
}

static void ab_start(ab_processor *p, csp_ctx *ctx, input data) {
    ab_job a = { csp_ctx_retain(ctx), csp_chan_retain(p->out_a), csp_chan_retain(p->errs), data };
    csp_go_copy(run_a, &a, sizeof a);
    ab_job b = { csp_ctx_retain(ctx), csp_chan_retain(p->out_b), csp_chan_retain(p->errs), data };
    csp_go_copy(run_b, &b, sizeof b);
}

static const char *ab_wait(ab_processor *p, csp_ctx *ctx, c_in *c_data) {
    *c_data = (c_in){ { 0 }, { 0 } };
    for (int count = 0; count < 2; count++) {
        a_out a;
        b_out b;
        const char *err;
        csp_case cases[] = {
            CSP_RECV(p->out_a, &a), CSP_RECV(p->out_b, &b),
            CSP_RECV(p->errs, &err), CSP_RECV(csp_ctx_done(ctx), NULL),
        };
        switch (csp_select(cases, 4, CSP_FOREVER)) {
        case 0: c_data->a = a; break;
        case 1: c_data->b = b; break;
        case 2: return err;
        case 3: return ctx_error(ctx);
        }
    }
    return NULL;
}

static void ab_free(ab_processor *p) {
    csp_chan_release(p->out_a);
    csp_chan_release(p->out_b);
    csp_chan_release(p->errs);
}

/* ---- cProcessor --------------------------------------------------------------- */
typedef struct { csp_chan *out_c, *errs; } c_processor;

static c_processor new_c_processor(void) {
    return (c_processor){ csp_chan_make(sizeof(c_out), 1), csp_chan_make(sizeof(const char *), 1) };
}

typedef struct { csp_ctx *ctx; csp_chan *out, *errs; c_in in; } c_job;

static void run_c(void *arg) {
    c_job *j = arg;
    c_out out;
    const char *err = get_result_c(j->ctx, j->in, &out);
    if (err) csp_send(j->errs, &err);
    else csp_send(j->out, &out);
    csp_ctx_release(j->ctx);
    csp_chan_release(j->out);
    csp_chan_release(j->errs);
}

static void c_start(c_processor *p, csp_ctx *ctx, c_in in) {
    c_job j = { csp_ctx_retain(ctx), csp_chan_retain(p->out_c), csp_chan_retain(p->errs), in };
    csp_go_copy(run_c, &j, sizeof j);
}

static const char *c_wait(c_processor *p, csp_ctx *ctx, c_out *out) {
    const char *err;
    csp_case cases[] = { CSP_RECV(p->out_c, out), CSP_RECV(p->errs, &err), CSP_RECV(csp_ctx_done(ctx), NULL) };
    switch (csp_select(cases, 3, CSP_FOREVER)) {
    case 0: return NULL;
    case 1: return err;
    default: return ctx_error(ctx);
    }
}

static void c_free(c_processor *p) {
    csp_chan_release(p->out_c);
    csp_chan_release(p->errs);
}

/* ---- GatherAndProcess ------------------------------------------------------------ */
static const char *gather_and_process(csp_ctx *parent, input data, c_out *out) {
    csp_ctx *ctx = csp_ctx_with_timeout(parent, 50 * CSP_MILLISECOND);
    const char *err;
    *out = (c_out){ 0 };

    ab_processor ab = new_ab_processor();
    ab_start(&ab, ctx, data);
    c_in input_c;
    err = ab_wait(&ab, ctx, &input_c);
    ab_free(&ab);
    if (!err) {
        c_processor c = new_c_processor();
        c_start(&c, ctx, input_c);
        err = c_wait(&c, ctx, out);
        c_free(&c);
    }
    csp_ctx_cancel(ctx);   /* defer cancel() */
    csp_ctx_release(ctx);
    return err;
}

int main(void) {
    static const simulation runs[] = {
        { "A 10 ms, B 20 ms, C 10 ms:", 10 * CSP_MILLISECOND, 20 * CSP_MILLISECOND, 10 * CSP_MILLISECOND, NULL },
        { "B takes 80 ms:", 10 * CSP_MILLISECOND, 80 * CSP_MILLISECOND, 10 * CSP_MILLISECOND, NULL },
        { "C takes 40 ms:", 10 * CSP_MILLISECOND, 20 * CSP_MILLISECOND, 40 * CSP_MILLISECOND, NULL },
        { "A fails after 5 ms:", 5 * CSP_MILLISECOND, 20 * CSP_MILLISECOND, 10 * CSP_MILLISECOND, "service A: bad input" },
    };
    for (int i = 0; i < 4; i++) {
        csp_ctx *ctx = csp_ctx_with_value(NULL, &sim_key, (void *)&runs[i]);
        c_out out;
        int64_t t0 = csp_now();
        const char *err = gather_and_process(ctx, (input){ 3, 6 }, &out);
        printf("%-28s COut{%d} %-27s after %lld ms\n", runs[i].what, out.value, err ? err : "<nil>",
               (long long)((csp_now() - t0) / CSP_MILLISECOND));
        csp_ctx_release(ctx);
    }
    return 0;
}
