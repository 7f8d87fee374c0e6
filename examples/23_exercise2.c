/* Learning Go, ch. 12 "Concurrency in Go", Exercise 2: two channels, one for-select loop.
 *
 * "Create a function that launches two goroutines. Each goroutine writes 10
 * numbers to its own channel. Use a for-select loop to read from both
 * channels, printing out the number and the goroutine that wrote the
 * value. Make sure that your function exits after all values are read and
 * that none of your goroutines leak."
 *
 * Each writer closes its own channel when it is done; the loop turns off
 * the case of a closed channel by setting it to NULL (a nil channel, see
 * 10_nil_channel_case.c) and ends when both are off.
 *
 * What to notice: 20 lines, each value with the goroutine that wrote it,
 * the two goroutines' values interleaved in a different way each run.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

typedef struct { csp_chan *ch; int base; } writer_args;

static void writer(void *arg) {
    writer_args *w = arg;
    for (int i = 1; i <= 10; i++) csp_send(w->ch, &(int){ w->base + i });
    csp_close(w->ch);
    csp_chan_release(w->ch);
}

static void two_goroutines(void) {
    csp_chan *ch[2] = { csp_chan_make(sizeof(int), 0), csp_chan_make(sizeof(int), 0) };
    csp_go_copy(writer, &(writer_args){ csp_chan_retain(ch[0]), 0 }, sizeof(writer_args));
    csp_go_copy(writer, &(writer_args){ csp_chan_retain(ch[1]), 100 }, sizeof(writer_args));
    csp_chan *in[2] = { ch[0], ch[1] };
    for (int open = 2; open > 0;) {
        int v;
        csp_case cases[] = { CSP_RECV(in[0], &v), CSP_RECV(in[1], &v) };
        int k = csp_select(cases, 2, CSP_FOREVER);
        if (!cases[k].ok) {
            in[k] = NULL;   /* closed: turn the case off */
            open--;
            continue;
        }
        printf("goroutine %d wrote %d\n", k + 1, v);
    }
    csp_chan_release(ch[0]);
    csp_chan_release(ch[1]);
}

int main(void) {
    two_goroutines();
    return 0;
}
