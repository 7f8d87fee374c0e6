/* Go in Practice, ch. 3 "Concurrency in Go", technique 14 "Closing channels", listing 3.11: a done channel, and the sender closes.
 *
 * The fix for 56_close_bad.c: the receiver, main, is the one that knows
 * when to stop, but it must not close the channel it receives on. It tells
 * the sender instead, on a second channel (done); the sender, on seeing
 * it, closes its own channel and returns. Both sides stop cleanly and
 * nothing panics. The direction of each channel is only a comment in C:
 * sender() only sends on ch and only receives on done.
 *
 * The book's timings are 5 s and 500 ms; here 1 s and 150 ms. The period
 * does not divide the time-out on purpose: the book's sender does its
 * blocking `ch <- "hello"` in the select's default branch, and if main's
 * `done <- true` came just as the sender entered that send, each would
 * wait for the other for ever. Here the sender is asleep when main says
 * done, and sees it when it wakes.
 *
 * What to notice: seven "hello", then "Done" from the sender, and a clean
 * exit.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

typedef struct { csp_chan *ch, *done; } chans;

static void sender(void *arg) {   /* ch chan<- string, done <-chan bool */
    chans *c = arg;
    for (;;) {
        csp_case done = CSP_RECV(c->done, NULL);
        if (csp_select(&done, 1, 0) == 0) {   /* case <-done: */
            printf("Done\n");
            csp_close(c->ch);
            break;
        }
        /* default: */
        csp_send(c->ch, &(const char *){ "hello" });
        csp_sleep(150 * CSP_MILLISECOND);
    }
    csp_chan_release(c->ch);
    csp_chan_release(c->done);
}

int main(void) {
    csp_chan *msg = csp_chan_make(sizeof(const char *), 0);
    csp_chan *done = csp_chan_make(sizeof(bool), 0);
    csp_chan *until = csp_after(1 * CSP_SECOND);
    chans c = { csp_chan_retain(msg), csp_chan_retain(done) };
    csp_go_copy(sender, &c, sizeof c);
    for (bool running = true; running;) {
        const char *m;
        csp_case cases[] = { CSP_RECV(msg, &m), CSP_RECV(until, NULL) };
        switch (csp_select(cases, 2, CSP_FOREVER)) {
        case 0:
            printf("%s\n", m);
            break;
        case 1:
            csp_send(done, &(bool){ true });    /* let send know the process is done */
            csp_sleep(100 * CSP_MILLISECOND);
            running = false;
            break;
        }
    }
    csp_chan_release(msg);
    csp_chan_release(done);
    csp_chan_release(until);
    return 0;
}
