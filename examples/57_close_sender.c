/* Go in Practice, ch. 3 "Concurrency in Go", technique 14 "Closing channels", listing 3.10: the sender closes, and a select keeps reading.
 *
 * Closing from the sender cannot panic, but it has a surprise: a closed
 * channel is always ready, and a receive on it returns at once with the
 * zero value (false, for a bool) and ok = false. The select below has a
 * case on the closed channel, so from then on it takes that case again
 * and again, as fast as it can, until the time-out: the book's "thousands
 * more" lines of "Got message.".
 *
 * Printing each of them would bury the tour: after the first one, they
 * are only counted.
 *
 * What to notice: a few "*yawn*" (the default clause, every 100 ms); one
 * real message (true); "Sent and closed"; then "Got message." a huge
 * number of times, every one of them false with ok = false, and no more
 * yawns, until "Time out" at 600 ms.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static void sender(void *arg) {
    csp_chan *ch = arg;
    csp_sleep(120 * CSP_MILLISECOND);
    csp_send(ch, &(bool){ true });
    csp_close(ch);
    printf("Sent and closed\n");
    csp_chan_release(ch);
}

int main(void) {
    csp_chan *ch = csp_chan_make(sizeof(bool), 0);
    csp_chan *timeout = csp_after(600 * CSP_MILLISECOND);
    csp_go(sender, csp_chan_retain(ch));
    long closed_reads = 0;
    for (;;) {
        bool v;
        csp_case cases[] = { CSP_RECV(ch, &v), CSP_RECV(timeout, NULL) };
        int k = csp_select(cases, 2, 0);   /* with a default clause */
        if (k == 0) {
            if (cases[0].ok) printf("Got message. (%s)\n", v ? "true" : "false");
            else if (closed_reads++ == 0) printf("Got message. (false, and ok = false: ch is closed)\n");
        } else if (k == 1) {
            if (closed_reads > 1) printf("... \"Got message.\" %ld more times, all of them false\n", closed_reads - 1);
            printf("Time out\n");
            break;
        } else {   /* default */
            printf("*yawn*\n");
            csp_sleep(100 * CSP_MILLISECOND);
        }
    }
    csp_chan_release(ch);
    csp_chan_release(timeout);
    return 0;
}
