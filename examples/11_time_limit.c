/* Learning Go, ch. 12 "Concurrency in Go", section "Time Out Code": timeLimit.
 *
 * The worker runs in a goroutine that writes its result to a channel with a
 * buffer of one; timeLimit selects between that channel and the Done
 * channel of a context made with csp_ctx_with_timeout. The buffer matters:
 * when the time is up nobody will ever read the result, and the worker's
 * write must still complete so that its goroutine can exit. (In C the
 * worker also holds its own reference to the channel, since it may outlive
 * timeLimit's.) Go's generic T is an int here.
 *
 * The book's doSomeWork returns at once half of the time and sleeps 10 s
 * the other half, with a limit of 2 s; here the limit is 200 ms and the slow
 * path sleeps 1 s, so that the example stays short.
 *
 * What to notice: each call prints either a random number and "<nil>", or
 * "0 work timed out" after 200 ms; which one is random.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { int (*worker)(void); csp_chan *out; } job;

static void run_worker(void *arg) {
    job *j = arg;
    csp_send(j->out, &(int){ j->worker() });   /* out <- worker(): never blocks (buffer of 1) */
    csp_chan_release(j->out);
}

/* 0 with *result set, or -ETIMEDOUT once limit has passed. */
static int time_limit(int (*worker)(void), int64_t limit, int *result) {
    csp_chan *out = csp_chan_make(sizeof(int), 1);
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, limit);
    job j = { worker, csp_chan_retain(out) };
    csp_go_copy(run_worker, &j, sizeof j);
    csp_case cases[] = { CSP_RECV(out, result), CSP_RECV(csp_ctx_done(ctx), NULL) };
    int k = csp_select(cases, 2, CSP_FOREVER);
    csp_ctx_cancel(ctx);   /* defer cancel() */
    csp_ctx_release(ctx);
    csp_chan_release(out);
    if (k == 0) return 0;
    *result = 0;   /* var zero T */
    return -ETIMEDOUT;
}

static int do_some_work(void) {
    int x = rand();
    if (x % 2 == 0) return x;
    csp_sleep(1 * CSP_SECOND);
    return 100;
}

int main(void) {
    srand((unsigned)csp_now());
    for (int i = 0; i < 4; i++) {
        int result;
        int err = time_limit(do_some_work, 200 * CSP_MILLISECOND, &result);
        printf("%d %s\n", result, err ? "work timed out" : "<nil>");
    }
    return 0;
}
