/* Learning Go, ch. 12 "Concurrency in Go", section "select": the for-select loop, and default.
 *
 *     for {                                for (;;) {
 *         select {                             csp_case cases[] = { CSP_RECV(done, NULL), CSP_RECV(ch, &v) };
 *         case <-done:                         int k = csp_select(cases, 2, CSP_FOREVER);
 *             return                           if (k == 0) return;
 *         case v := <-ch:                      printf("%d\n", v);
 *             fmt.Println(v)               }
 *         }
 *     }
 *
 * A timeout of 0 makes csp_select a select with a default clause: it
 * returns CSP_SELECT_TIMEOUT at once when no case is ready (csp_try_recv
 * and csp_try_send are the one-case shorthands).
 *
 * What to notice: the loop prints what the producer sends and returns when
 * it closes done; the non-blocking read takes the default branch while ch
 * is empty; and a default clause inside a for-select loop turns it into a
 * busy loop: it runs hundreds of thousands of times in 10 ms, burning a CPU
 * for nothing, which is why the book says it is almost always wrong.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

typedef struct { csp_chan *ch, *done; } chans;

static void producer(void *arg) {
    chans *c = arg;
    for (int i = 1; i <= 3; i++) csp_send(c->ch, &(int){ i * 100 });
    csp_close(c->done);   /* we are done */
    csp_chan_release(c->ch);
    csp_chan_release(c->done);
}

static void for_select(csp_chan *ch, csp_chan *done) {
    for (;;) {
        int v;
        csp_case cases[] = { CSP_RECV(done, NULL), CSP_RECV(ch, &v) };
        switch (csp_select(cases, 2, CSP_FOREVER)) {
        case 0: printf("done\n"); return;
        case 1: printf("%d\n", v); break;
        }
    }
}

static void nonblocking_read(csp_chan *ch) {
    int v;
    csp_case cases[] = { CSP_RECV(ch, &v) };
    if (csp_select(cases, 1, 0) == 0)
        printf("read from ch: %d\n", v);
    else
        printf("no value written to ch\n");
}

int main(void) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0), *done = csp_chan_make(0, 0);
    chans c = { csp_chan_retain(ch), csp_chan_retain(done) };   /* the producer's references */
    csp_go_copy(producer, &c, sizeof c);
    for_select(ch, done);
    csp_chan_release(ch);
    csp_chan_release(done);

    ch = csp_chan_make(sizeof(int), 1);
    nonblocking_read(ch);
    csp_send(ch, &(int){ 7 });
    nonblocking_read(ch);

    /* The wrong thing: for { select { case v := <-ch: ...; default: } } */
    csp_chan *timeout = csp_after(10 * CSP_MILLISECOND);
    long spins = 0;
    for (;;) {
        int v;
        csp_case cases[] = { CSP_RECV(timeout, NULL), CSP_RECV(ch, &v) };
        int k = csp_select(cases, 2, 0);
        if (k == 0) break;
        if (k == CSP_SELECT_TIMEOUT) spins++;   /* default: nothing to do, go round again */
    }
    printf("a for-select loop with default went round %ld times in 10 ms, doing nothing\n", spins);
    csp_chan_release(timeout);
    csp_chan_release(ch);
    return 0;
}
