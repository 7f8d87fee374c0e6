/* Learning Go, ch. 12 "Concurrency in Go", section "Use WaitGroups": processAndGather, closing a channel exactly once.
 *
 * num workers read from `in` and all write to `out`. Which of them should
 * close out? None: a monitoring goroutine waits on a WaitGroup until every
 * worker is done, then closes out once, which ends the gathering loop.
 * (Go's generic T and R are ints here; processor is a function pointer.)
 *
 * What to notice: the 20 doubled values come back in a scrambled order
 * (three workers run at once), and the function returns as soon as the last
 * one is gathered, with no goroutine left behind.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

typedef struct {
    csp_chan *in, *out;
    int (*processor)(int);
    csp_waitgroup *wg;
} work;

static void worker(void *arg) {
    work *w = arg;
    int v;
    while (csp_recv(w->in, &v))   /* for v := range in */
        csp_send(w->out, &(int){ w->processor(v) });
    csp_chan_release(w->in);
    csp_chan_release(w->out);
    csp_wg_done(w->wg);   /* defer wg.Done() */
}

static void monitor(void *arg) {
    work *w = arg;
    csp_wg_wait(w->wg);
    csp_close(w->out);   /* once, after every writer has finished */
    csp_chan_release(w->out);
}

/* Stores the results in result[] (room for max) and returns how many. */
static int process_and_gather(csp_chan *in, int (*processor)(int), int num, int *result, int max) {
    csp_chan *out = csp_chan_make(sizeof(int), (size_t)num);
    csp_waitgroup wg = {0};
    csp_wg_add(&wg, num);
    for (int i = 0; i < num; i++) {
        work w = { csp_chan_retain(in), csp_chan_retain(out), processor, &wg };
        csp_go_copy(worker, &w, sizeof w);
    }
    work m = { NULL, csp_chan_retain(out), NULL, &wg };
    csp_go_copy(monitor, &m, sizeof m);
    int n = 0, v;
    while (csp_recv(out, &v))
        if (n < max) result[n++] = v;
    csp_chan_release(out);
    return n;   /* out is closed: the monitor's csp_wg_wait has returned, wg is free to go */
}

static int twice(int i) { return i * 2; }

static void producer(void *arg) {
    csp_chan *ch = arg;
    for (int i = 0; i < 20; i++) csp_send(ch, &i);
    csp_close(ch);
    csp_chan_release(ch);
}

int main(void) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0);
    csp_go(producer, csp_chan_retain(ch));
    int results[20];
    int n = process_and_gather(ch, twice, 3, results, 20);
    printf("[");
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", results[i]);
    printf("]\n");
    csp_chan_release(ch);
    return 0;
}
