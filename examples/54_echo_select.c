/* Go in Practice, ch. 3 "Concurrency in Go", technique 13 "Using multiple channels", listing 3.7: echo with time.After and select.
 *
 * Listing 3.1 (50_echo_timeout.c) again, with channels: a goroutine reads
 * standard input and sends each chunk it reads on the echo channel; main
 * loops on a select between that channel and the one csp_after made, which
 * receives a value once the time is up (time.After).
 *
 *     done := time.After(30 * time.Second)   csp_chan *done = csp_after(30 * CSP_SECOND);
 *
 * A chunk travels by value: the channel's element is a struct holding the
 * bytes and their count. csp_read waits for input without holding up the
 * other goroutines (see 50_echo_timeout.c). The book's readStdin loops for
 * ever; at end of input (0 bytes) Go's loop would spin, so this one stops
 * reading instead.
 *
 *     54_echo_select [SECONDS]   (default 30)
 *     printf 'test 1\ntest 2\n' | build/examples/54_echo_select 1
 *
 * What to notice: the input is echoed; "Timed out" comes after the given
 * time, from the select, however busy or idle the input is.
 */
/* tour: args=0.5 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct { size_t len; char data[1024]; } chunk;

static void read_stdin(void *arg) {
    csp_chan *out = arg;   /* only sends on it: chan<- []byte */
    for (;;) {
        chunk c;
        ssize_t l = csp_read(STDIN_FILENO, c.data, sizeof c.data);   /* waits until it receives data */
        if (l <= 0) break;
        c.len = (size_t)l;
        csp_send(out, &c);
    }
    csp_chan_release(out);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 30;
    csp_chan *done = csp_after((int64_t)(seconds * CSP_SECOND));
    csp_chan *echo = csp_chan_make(sizeof(chunk), 0);
    csp_go(read_stdin, csp_chan_retain(echo));
    for (;;) {
        chunk buf;
        csp_case cases[] = { CSP_RECV(echo, &buf), CSP_RECV(done, NULL) };
        switch (csp_select(cases, 2, CSP_FOREVER)) {
        case 0:
            csp_write(STDOUT_FILENO, buf.data, buf.len);   /* os.Stdout.Write(buf) */
            break;
        case 1:
            printf("Timed out\n");
            csp_chan_release(echo);
            csp_chan_release(done);
            return 0;   /* os.Exit(0): read_stdin ends with the process */
        }
    }
}
