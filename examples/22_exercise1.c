/* Learning Go, ch. 12 "Concurrency in Go", Exercise 1: two writers, one reader, no leaks.
 *
 * "Create a function that launches three goroutines that communicate using
 * a channel. The first two goroutines each write 10 numbers to the channel.
 * The third goroutine reads all the numbers from the channel and prints
 * them out. The function should exit when all values have been printed
 * out. Make sure that none of the goroutines leak."
 *
 * Two writers share the channel, so neither may close it: a fourth
 * goroutine waits for both on a WaitGroup and closes it once. The reader's
 * loop ends at the close; it then closes `done`, which the function waits
 * for. Every goroutine has returned when the function does.
 *
 * What to notice: the writers' numbers (1-10 and 101-110) interleave, all
 * 20 are printed, and the goroutine count is back to 1 at the end.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

typedef struct { csp_chan *ch; int first; csp_waitgroup *wg; } writer_args;

static void writer(void *arg) {
    writer_args *w = arg;
    for (int i = 0; i < 10; i++) csp_send(w->ch, &(int){ w->first + i });
    csp_chan_release(w->ch);
    csp_wg_done(w->wg);
}

static void closer(void *arg) {
    writer_args *w = arg;
    csp_wg_wait(w->wg);
    csp_close(w->ch);
    csp_chan_release(w->ch);
}

typedef struct { csp_chan *ch, *done; } reader_args;

static void reader(void *arg) {
    reader_args *r = arg;
    int v, n = 0;
    while (csp_recv(r->ch, &v)) printf(n++ % 10 == 9 ? "%4d\n" : "%4d", v);
    csp_close(r->done);
    csp_chan_release(r->ch);
    csp_chan_release(r->done);
}

static void three_goroutines(void) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0), *done = csp_chan_make(0, 0);
    csp_waitgroup wg = {0};
    csp_wg_add(&wg, 2);
    /* Each goroutine gets its own references to the channels it uses. */
    csp_go_copy(writer, &(writer_args){ csp_chan_retain(ch), 1, &wg }, sizeof(writer_args));
    csp_go_copy(writer, &(writer_args){ csp_chan_retain(ch), 101, &wg }, sizeof(writer_args));
    csp_go_copy(closer, &(writer_args){ csp_chan_retain(ch), 0, &wg }, sizeof(writer_args));
    csp_go_copy(reader, &(reader_args){ csp_chan_retain(ch), csp_chan_retain(done) }, sizeof(reader_args));
    csp_recv(done, NULL);
    csp_chan_release(ch);
    csp_chan_release(done);
}

int main(void) {
    three_goroutines();
    for (int i = 0; i < 100 && csp_num_goroutines() > 1; i++) csp_sleep(CSP_MILLISECOND);
    printf("goroutines left: %d\n", csp_num_goroutines());
    return 0;
}
