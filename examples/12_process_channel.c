/* Learning Go, ch. 12 "Concurrency in Go", section "Know When to Use Buffered and Unbuffered Channels": processChannel.
 *
 * processChannel wants the first 10 results: it launches exactly 10
 * goroutines, each of which reads one value, processes it and writes the
 * result to a channel with one slot per goroutine. No write can block, so
 * every goroutine exits as soon as its work is done, whether or not anyone
 * is still reading; the function then reads exactly 10 results.
 *
 * As in the book, main's producer offers 15 values and only 10 are taken:
 * the producer is left waiting on its 11th write when main returns (the
 * process ends and takes it along).
 *
 * What to notice: 10 doubled values out of the 15, in an order that
 * depends on which goroutine ran first.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static int process(int i) {
    return i * 2;   /* this should be a more complicated operation to make concurrency worthwhile */
}

typedef struct { csp_chan *ch, *results; } pair;

static void one(void *arg) {
    pair *p = arg;
    int v;
    csp_recv(p->ch, &v);
    csp_send(p->results, &(int){ process(v) });   /* never blocks: there is a slot for each goroutine */
    csp_chan_release(p->ch);
    csp_chan_release(p->results);
}

enum { CONC = 10 };

static void process_channel(csp_chan *ch, int out[CONC]) {
    csp_chan *results = csp_chan_make(sizeof(int), CONC);
    for (int i = 0; i < CONC; i++) {
        pair p = { csp_chan_retain(ch), csp_chan_retain(results) };
        csp_go_copy(one, &p, sizeof p);
    }
    for (int i = 0; i < CONC; i++) csp_recv(results, &out[i]);
    csp_chan_release(results);
}

static void producer(void *arg) {
    csp_chan *ch = arg;
    for (int v = 1; v <= 15; v++) csp_send(ch, &v);
    csp_chan_release(ch);   /* not reached: nobody reads the 11th value */
}

int main(void) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0);
    csp_go(producer, csp_chan_retain(ch));
    int result[CONC];
    process_channel(ch, result);
    printf("[");
    for (int i = 0; i < CONC; i++) printf(i ? " %d" : "%d", result[i]);
    printf("]\n");
    csp_chan_release(ch);
    return 0;
}
