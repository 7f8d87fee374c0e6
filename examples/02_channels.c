/* Learning Go, ch. 12 "Concurrency in Go", section "Channels: Reading, Writing, and Buffering".
 *
 *     ch := make(chan int)       csp_chan *ch = csp_chan_make(sizeof(int), 0);
 *     ch := make(chan int, 10)   csp_chan *ch = csp_chan_make(sizeof(int), 10);
 *     a := <-ch                  csp_recv(ch, &a);
 *     ch <- b                    csp_send(ch, &b);
 *     len(ch), cap(ch)           csp_len(ch), csp_cap(ch)
 *
 * A channel carries copies of fixed-size values (here an int); a NULL
 * csp_chan * is Go's nil channel. The creator owns one reference and drops
 * it with csp_chan_release.
 *
 * What to notice: a write to an unbuffered channel pauses the writer until
 * somebody reads (about 50 ms here, while main sleeps first); a buffered
 * channel takes writes without a reader until it is full, and len/cap tell
 * how full it is (both are 0 for an unbuffered channel); each value written
 * is read exactly once, even with three readers.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static void writer(void *arg) {
    csp_chan *ch = arg;
    int64_t t0 = csp_now();
    csp_send(ch, &(int){ 42 });
    printf("writer: my write of 42 returned after %lld ms, when main read it\n",
           (long long)((csp_now() - t0) / CSP_MILLISECOND));
}

typedef struct { int id; csp_chan *ch, *done; } reader_args;

static void reader(void *arg) {
    reader_args *r = arg;
    int v, count = 0;
    while (csp_recv(r->ch, &v)) {
        count++;
        csp_sleep(CSP_MILLISECOND);   /* work on it */
    }
    printf("reader %d read %d values\n", r->id, count);
    csp_send(r->done, &count);
    csp_chan_release(r->ch);
    csp_chan_release(r->done);
}

int main(void) {
    /* Unbuffered: the writer waits for a reader. */
    csp_chan *ch = csp_chan_make(sizeof(int), 0);
    csp_waitgroup wg = {0};
    csp_wg_go(&wg, writer, ch);   /* wg.Add(1); go func() { defer wg.Done(); writer(ch) }() */
    csp_sleep(50 * CSP_MILLISECOND);
    int a;
    csp_recv(ch, &a);
    csp_wg_wait(&wg);             /* until the writer has printed its line */
    printf("main: read %d; unbuffered len %zu cap %zu\n", a, csp_len(ch), csp_cap(ch));
    csp_chan_release(ch);

    /* Buffered: writes go into the buffer until it is full. */
    csp_chan *buf = csp_chan_make(sizeof(int), 10);
    for (int i = 1; i <= 3; i++) csp_send(buf, &i);
    printf("buffered: after 3 writes and no reads: len %zu cap %zu\n", csp_len(buf), csp_cap(buf));
    csp_recv(buf, &a);
    printf("buffered: read %d (the first one written); now len %zu\n", a, csp_len(buf));
    csp_chan_release(buf);

    /* Several readers: each value goes to exactly one of them. */
    csp_chan *work = csp_chan_make(sizeof(int), 0), *done = csp_chan_make(sizeof(int), 3);
    for (int id = 1; id <= 3; id++) {
        reader_args r = { id, csp_chan_retain(work), csp_chan_retain(done) };
        csp_go_copy(reader, &r, sizeof r);
    }
    for (int i = 0; i < 30; i++) csp_send(work, &i);
    csp_close(work);
    int total = 0;
    for (int id = 1; id <= 3; id++) {
        int n;
        csp_recv(done, &n);
        total += n;
    }
    printf("30 values written, %d read in all\n", total);
    csp_chan_release(work);
    csp_chan_release(done);
    return 0;
}
