/* Go in Action, ch. 6 "Concurrency", section 6.4.1 "Atomic functions", listings 6.13-6.14: the counter fixed with an atomic add.
 *
 * atomic.AddInt64(&counter, 1) is atomic_fetch_add(&counter, 1) in C11: the
 * read, the increment and the write happen as one indivisible operation,
 * so no goroutine can slip in between and no increment is lost, whatever
 * the scheduler does at the yield. (csp.h does not wrap atomics: C11's
 * <stdatomic.h> is the API.)
 *
 * What to notice: "Final Counter: 4", every time; and ThreadSanitizer
 * (clang -fsanitize=thread) reports nothing.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdatomic.h>
#include <stdio.h>

static atomic_long counter;   /* incremented by all goroutines */
static csp_waitgroup wg;

static void inc_counter(void *arg) {
    (void)arg;
    for (int count = 0; count < 2; count++) {
        atomic_fetch_add(&counter, 1);   /* safely add one to counter */
        csp_yield();                     /* yield the thread and be placed back in queue */
    }
    csp_wg_done(&wg);
}

int main(void) {
    csp_wg_add(&wg, 2);
    csp_go(inc_counter, (void *)1);
    csp_go(inc_counter, (void *)2);
    csp_wg_wait(&wg);
    printf("Final Counter: %ld\n", atomic_load(&counter));
    return 0;
}
