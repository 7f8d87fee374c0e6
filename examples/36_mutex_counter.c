/* Go in Action, ch. 6 "Concurrency", section 6.4.2 "Mutexes", listing 6.16: the counter fixed with a mutex.
 *
 * A csp_mutex makes the read-increment-write a critical section: only one
 * goroutine at a time is between csp_mutex_lock and csp_mutex_unlock. The
 * yield inside it still lets the scheduler run the other goroutine, but
 * that one waits at csp_mutex_lock (it parks, its thread runs something
 * else), so the update is never interrupted by another update. The braces
 * only make the critical section easy to see, as in the book. A zeroed
 * csp_mutex (static storage here) is unlocked and ready.
 *
 * What to notice: "Final Counter: 4", every time; ThreadSanitizer reports
 * nothing.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static int counter;          /* incremented by all goroutines */
static csp_waitgroup wg;
static csp_mutex mutex;      /* defines a critical section of code */

static void inc_counter(void *arg) {
    (void)arg;
    for (int count = 0; count < 2; count++) {
        /* Only allow one goroutine through this critical section at a time. */
        csp_mutex_lock(&mutex);
        {
            int value = counter;   /* capture the value of counter */
            csp_yield();           /* yield the thread and be placed back in queue */
            value++;               /* increment our local value of counter */
            counter = value;       /* store the value back into counter */
        }
        csp_mutex_unlock(&mutex);   /* release the lock and allow any waiting goroutine through */
    }
    csp_wg_done(&wg);
}

int main(void) {
    csp_wg_add(&wg, 2);
    csp_go(inc_counter, (void *)1);
    csp_go(inc_counter, (void *)2);
    csp_wg_wait(&wg);
    printf("Final Counter: %d\n", counter);
    return 0;
}
