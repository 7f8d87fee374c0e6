/* Go in Practice, ch. 3 "Concurrency in Go", technique 13, listing 3.8: pausing with Sleep and with After.
 *
 *     time.Sleep(5 * time.Second)          csp_sleep(5 * CSP_SECOND);
 *     sleep := time.After(5 * time.Second) csp_chan *sleep = csp_after(5 * CSP_SECOND);
 *     <-sleep                              csp_recv(sleep, NULL);
 *
 * Both park the goroutine until the time has passed (its thread runs other
 * goroutines meanwhile). The channel from csp_after is more useful than it
 * looks: a select can wait on it together with other channels (see
 * 54_echo_select.c). csp_after's caller owns the channel it returns. The
 * book waits 5 s each way; here 250 ms, to keep the tour short.
 *
 * What to notice: both ways take 250 ms (a little more, never less); the
 * value received is the instant the timer fired, on csp_now()'s clock.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

int main(void) {
    int64_t t0 = csp_now();
    csp_sleep(250 * CSP_MILLISECOND);   /* blocks for 250 ms */
    printf("csp_sleep:          %.1f ms\n", (csp_now() - t0) / 1e6);

    t0 = csp_now();
    csp_chan *sleep = csp_after(250 * CSP_MILLISECOND);   /* a channel that gets a value in 250 ms */
    int64_t fired;
    csp_recv(sleep, &fired);                              /* block until it does */
    printf("csp_after and recv: %.1f ms (fired at +%.1f ms)\n", (csp_now() - t0) / 1e6, (fired - t0) / 1e6);
    csp_chan_release(sleep);
    return 0;
}
