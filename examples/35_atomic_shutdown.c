/* Go in Action, ch. 6 "Concurrency", section 6.4.1 "Atomic functions", listing 6.15: a shutdown flag with atomic load and store.
 *
 * Two goroutines work in a loop and check a flag after every round; main
 * sets it after a while. atomic.StoreInt64 / LoadInt64 are atomic_store /
 * atomic_load: the flag is read and written safely, without a lock, and
 * every goroutine sees the store. (A plain int here would be a data race,
 * and the compiler could even hoist the load out of the loop.)
 *
 * The book's main sleeps 1 s and each round of work 250 ms; here 500 ms and
 * 125 ms, for a shorter tour.
 *
 * What to notice: A and B each work four times, then both shut down after
 * "Shutdown Now".
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdatomic.h>
#include <stdio.h>

static atomic_long shutdown_flag;   /* a flag to alert running goroutines to shut down */
static csp_waitgroup wg;

static void do_work(void *arg) {
    const char *name = arg;
    for (;;) {
        printf("Doing %s Work\n", name);
        csp_sleep(125 * CSP_MILLISECOND);
        if (atomic_load(&shutdown_flag) == 1) {   /* do we need to shut down? */
            printf("Shutting %s Down\n", name);
            break;
        }
    }
    csp_wg_done(&wg);
}

int main(void) {
    csp_wg_add(&wg, 2);
    csp_go(do_work, "A");
    csp_go(do_work, "B");
    csp_sleep(440 * CSP_MILLISECOND);   /* give the goroutines time to run */
    printf("Shutdown Now\n");
    atomic_store(&shutdown_flag, 1);         /* safely flag it is time to shut down */
    csp_wg_wait(&wg);
    return 0;
}
