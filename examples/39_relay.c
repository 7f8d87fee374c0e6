/* Go in Action, ch. 6 "Concurrency", section 6.5.1 "Unbuffered channels", listings 6.22-6.23: a relay race.
 *
 * The baton is an int passed on an unbuffered channel: each exchange needs
 * the runner who has it and the next one, both at the channel at once.
 * Each runner, on getting the baton, sends the next runner to the line (a
 * new goroutine, waiting in csp_recv), runs its lap (100 ms), then hands
 * the baton over. The last runner tells main the race is over.
 *
 * What to notice: the exchanges happen strictly in order, 1 to 4, each
 * about 100 ms after the previous one (the race takes ~400 ms).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static csp_waitgroup wg;

static void runner(void *arg) {
    csp_chan *baton = arg;
    int me, next = 0;
    csp_recv(baton, &me);   /* wait to receive the baton */
    printf("Runner %d Running With Baton\n", me);
    if (me != 4) {          /* new runner to the line */
        next = me + 1;
        printf("Runner %d To The Line\n", next);
        csp_go(runner, baton);
    }
    csp_sleep(100 * CSP_MILLISECOND);   /* running around the track */
    if (me == 4) {          /* is the race over? */
        printf("Runner %d Finished, Race Over\n", me);
        csp_wg_done(&wg);
        return;
    }
    printf("Runner %d Exchange With Runner %d\n", me, next);
    csp_send(baton, &next);   /* exchange the baton for the next runner */
}

int main(void) {
    csp_chan *baton = csp_chan_make(sizeof(int), 0);   /* an unbuffered channel */
    csp_wg_add(&wg, 1);        /* a count of one, for the last runner */
    csp_go(runner, baton);     /* first runner to his mark */
    csp_send(baton, &(int){ 1 });   /* start the race */
    csp_wg_wait(&wg);          /* wait for the race to finish */
    csp_chan_release(baton);
    return 0;
}
