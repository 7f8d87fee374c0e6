/* Learning Go, ch. 12 "Concurrency in Go", section "Goroutines": processConcurrently.
 *
 * The business logic (process) knows nothing about concurrency; the small
 * function run as a goroutine (worker) does the bookkeeping: it reads values
 * from one channel, calls process, and writes the result to another. Five
 * workers share the two channels; a sixth goroutine loads the input.
 *
 * C has no closures, so what Go's closure captures travels in a struct that
 * csp_go_copy copies into the new goroutine. And C has no garbage collector:
 * each goroutine that keeps using a channel holds a reference of its own
 * (csp_chan_retain before csp_go_copy, csp_chan_release when it is done).
 *
 * What to notice: every input comes back doubled, but not in input order:
 * the workers run concurrently (on several threads) and finish in any order.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static int process(int val) {
    return val * 2;   /* do something with val */
}

typedef struct { csp_chan *in, *out; } pipes;

static void worker(void *arg) {
    pipes *p = arg;   /* our own copy of the struct */
    int val;
    while (csp_recv(p->in, &val))        /* for val := range in */
        csp_send(p->out, &(int){ process(val) });
    csp_chan_release(p->in);
    csp_chan_release(p->out);
}

typedef struct { csp_chan *in; const int *vals; int n; } loader_args;

static void loader(void *arg) {
    loader_args *a = arg;
    for (int i = 0; i < a->n; i++) csp_send(a->in, &a->vals[i]);
    csp_close(a->in);   /* the writer closes: the workers' loops end */
    csp_chan_release(a->in);
}

/* Fills out[0..n) with process(v) for every v of in_vals (in any order). */
static void process_concurrently(const int *in_vals, int n, int *out) {
    csp_chan *in = csp_chan_make(sizeof(int), 5);
    csp_chan *results = csp_chan_make(sizeof(int), 5);
    for (int i = 0; i < 5; i++) {
        pipes p = { csp_chan_retain(in), csp_chan_retain(results) };
        csp_go_copy(worker, &p, sizeof p);
    }
    loader_args la = { csp_chan_retain(in), in_vals, n };
    csp_go_copy(loader, &la, sizeof la);
    for (int i = 0; i < n; i++) csp_recv(results, &out[i]);
    csp_chan_release(in);
    csp_chan_release(results);
}

int main(void) {
    int vals[12], out[12];
    for (int i = 0; i < 12; i++) vals[i] = i + 1;
    process_concurrently(vals, 12, out);
    printf("in:  ");
    for (int i = 0; i < 12; i++) printf(" %d", vals[i]);
    printf("\nout: ");
    for (int i = 0; i < 12; i++) printf(" %d", out[i]);
    printf("\n");
    return 0;
}
