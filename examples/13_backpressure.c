/* Learning Go, ch. 12 "Concurrency in Go", section "Implement Backpressure": PressureGauge.
 *
 * A buffered channel of empty values (chan struct{}: element size 0) holds
 * up to `limit` tokens. Process tries to put a token in without blocking
 * (select with default; csp_try_send is its one-case form): if it can, it
 * runs the function and takes its token back; if the buffer is full, it
 * refuses at once with "no more capacity" instead of queueing more work.
 *
 * The book puts the gauge in front of an HTTP handler and answers 429 Too
 * Many Requests; 71_http_backpressure.c does that with a real server on
 * csp.h's network poller. Here the gauge is on its own: the requests are 15
 * goroutines that arrive at once, and the limited work sleeps 200 ms
 * instead of 2 s.
 *
 * What to notice: with a limit of 10, exactly 10 requests are done and 5
 * are refused, whichever they are; once the first ones have finished there
 * is capacity again.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <errno.h>
#include <stdio.h>

typedef struct { csp_chan *ch; } pressure_gauge;

static pressure_gauge new_pressure_gauge(int limit) {
    return (pressure_gauge){ csp_chan_make(0, (size_t)limit) };
}

/* 0 when f ran, -EBUSY ("no more capacity") when it did not. */
static int pg_process(pressure_gauge *pg, void (*f)(void *), void *arg) {
    if (!csp_try_send(pg->ch, NULL))   /* select { case pg.ch <- struct{}{}: ... default: } */
        return -EBUSY;
    f(arg);
    csp_recv(pg->ch, NULL);
    return 0;
}

static void do_thing_that_should_be_limited(void *arg) {
    csp_sleep(200 * CSP_MILLISECOND);
    *(const char **)arg = "done";
}

static pressure_gauge pg;
static const char *answer[16];
static csp_waitgroup wg;

static void request(void *arg) {
    int id = *(int *)arg;
    if (pg_process(&pg, do_thing_that_should_be_limited, &answer[id]) != 0)
        answer[id] = "429 Too many requests";
    csp_wg_done(&wg);
}

int main(void) {
    pg = new_pressure_gauge(10);
    csp_wg_add(&wg, 15);
    for (int id = 1; id <= 15; id++) csp_go_copy(request, &id, sizeof id);
    csp_wg_wait(&wg);
    int done = 0;
    for (int id = 1; id <= 15; id++) {
        printf("request %2d: %s\n", id, answer[id]);
        done += answer[id][0] == 'd';
    }
    printf("%d done, %d refused\n", done, 15 - done);

    csp_wg_add(&wg, 1);
    csp_go_copy(request, &(int){ 1 }, sizeof(int));
    csp_wg_wait(&wg);
    printf("a request after they finished: %s\n", answer[1]);
    csp_chan_release(pg.ch);
    return 0;
}
