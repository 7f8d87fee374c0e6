/* Learning Go, ch. 12 "Concurrency in Go", sections "Using for-range and Channels" and "Closing a Channel".
 *
 *     for v := range ch { ... }   int v; while (csp_recv(ch, &v)) { ... }
 *     close(ch)                   csp_close(ch);
 *     v, ok := <-ch               bool ok = csp_recv(ch, &v);
 *
 * csp_recv returns Go's `ok`: true with a value, false once the channel is
 * closed and its buffer is empty (then v is set to the zero value). So the
 * for-range loop is a while loop on csp_recv, and it ends when the writer
 * closes the channel: closing is the writer's job.
 *
 * What to notice: the loop prints 1..5 and stops by itself when the
 * producer closes the channel; values still buffered when a channel is
 * closed are read in order, then every read returns 0 with ok = false.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static void producer(void *arg) {
    csp_chan *ch = arg;
    for (int i = 1; i <= 5; i++) csp_send(ch, &i);
    csp_close(ch);   /* "there is nothing more": ends the reader's loop */
    csp_chan_release(ch);
}

int main(void) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0);
    csp_go(producer, csp_chan_retain(ch));   /* the producer's own reference */
    int v;
    while (csp_recv(ch, &v))   /* for v := range ch */
        printf("range: %d\n", v);
    printf("range: the loop ended: ch is closed\n");
    csp_chan_release(ch);

    csp_chan *buf = csp_chan_make(sizeof(int), 3);
    csp_send(buf, &(int){ 10 });
    csp_send(buf, &(int){ 20 });
    csp_close(buf);
    for (int i = 0; i < 4; i++) {
        bool ok = csp_recv(buf, &v);   /* v, ok := <-buf */
        printf("comma ok: v = %d, ok = %s\n", v, ok ? "true" : "false");
    }
    csp_chan_release(buf);
    return 0;
}
