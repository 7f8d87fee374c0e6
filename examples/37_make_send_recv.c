/* Go in Action, ch. 6 "Concurrency", section 6.5 "Channels", listings 6.17-6.19: making a channel, sending and receiving.
 *
 *     unbuffered := make(chan int)          csp_chan_make(sizeof(int), 0)
 *     buffered := make(chan string, 10)     csp_chan_make(sizeof(const char *), 10)
 *     buffered <- "Gopher"                  csp_send(buffered, &(const char *){ "Gopher" })
 *     value := <-buffered                   csp_recv(buffered, &value)
 *
 * A channel copies values of one fixed size. A Go string is a small value
 * (a pointer and a length) and so is a C string pointer: what travels is
 * the pointer, so the characters it points to must stay valid until the
 * receiver is done with them (a string literal always is).
 *
 * What to notice: the buffered send returns at once, with nobody
 * receiving yet (len 1); the receive gets "Gopher" back.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

int main(void) {
    csp_chan *unbuffered = csp_chan_make(sizeof(int), 0);          /* unbuffered channel of integers */
    csp_chan *buffered = csp_chan_make(sizeof(const char *), 10);  /* buffered channel of strings */
    printf("unbuffered: len %zu, cap %zu\n", csp_len(unbuffered), csp_cap(unbuffered));

    csp_send(buffered, &(const char *){ "Gopher" });   /* send a string through the channel */
    printf("buffered after the send: len %zu, cap %zu\n", csp_len(buffered), csp_cap(buffered));

    const char *value;
    csp_recv(buffered, &value);   /* receive a string from the channel */
    printf("received: %s\n", value);

    csp_chan_release(unbuffered);
    csp_chan_release(buffered);
    return 0;
}
