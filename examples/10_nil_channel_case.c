/* Learning Go, ch. 12 "Concurrency in Go", section "Turn Off a case in a select": readFromTwoChannels.
 *
 * A closed channel is always ready: a select that keeps a case on it would
 * pick it again and again, reading zero values. Reading a nil channel, on
 * the other hand, never proceeds, so setting the channel variable to nil
 * (NULL here) turns its case off. The loop ends when both inputs are closed.
 *
 * What to notice: all 30 values arrive (10..90 from one goroutine, 20 down
 * to 0 from the other), interleaved in an order that changes from run to
 * run, and the loop stops by itself once both channels are closed.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static void tens(void *arg) {
    csp_chan *in1 = arg;
    for (int i = 10; i < 100; i += 10) csp_send(in1, &i);
    csp_close(in1);
    csp_chan_release(in1);
}

static void countdown(void *arg) {
    csp_chan *in2 = arg;
    for (int i = 20; i >= 0; i--) csp_send(in2, &i);
    csp_close(in2);
    csp_chan_release(in2);
}

/* Returns how many values it stored in out. */
static int read_from_two_channels(csp_chan *in, csp_chan *in2, int *out) {
    int n = 0;
    for (int count = 0; count < 2;) {
        int v;
        csp_case cases[] = { CSP_RECV(in, &v), CSP_RECV(in2, &v) };
        int k = csp_select(cases, 2, CSP_FOREVER);
        if (!cases[k].ok) {   /* closed */
            if (k == 0) in = NULL;    /* the case will never succeed again! */
            else in2 = NULL;
            count++;
            continue;
        }
        out[n++] = v;   /* process the v that was read */
    }
    return n;
}

int main(void) {
    csp_chan *in1 = csp_chan_make(sizeof(int), 0), *in2 = csp_chan_make(sizeof(int), 0);
    csp_go(tens, csp_chan_retain(in1));
    csp_go(countdown, csp_chan_retain(in2));
    int result[64];
    int n = read_from_two_channels(in1, in2, result);
    printf("[");
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", result[i]);
    printf("]\n%d values\n", n);
    csp_chan_release(in1);
    csp_chan_release(in2);
    return 0;
}
