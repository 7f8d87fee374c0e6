/* Go in Action, ch. 6 "Concurrency", section 6.3 "Race conditions", listings 6.9-6.12: a data race, ON PURPOSE.
 *
 * THIS PROGRAM IS WRONG ON PURPOSE: two goroutines read, increment and write
 * the shared `counter` with no synchronisation at all. It is the one
 * example of this directory that has a data race; 34_atomic_counter.c and
 * 36_mutex_counter.c are the fixes.
 *
 * Each goroutine copies counter, yields (csp_yield is runtime.Gosched) and
 * writes back its copy plus one, overwriting what the other goroutine wrote
 * meanwhile. With one processor, as in the book's run, the two take turns
 * exactly at the yield, and two of the four increments are always lost.
 *
 * Go's race detector (go build -race) is ThreadSanitizer; C compilers have
 * it too, and csp.h tells it about every goroutine switch:
 *     clang -fsanitize=thread -g -O1 -pthread -I. examples/33_race.c -o race && setarch -R ./race
 * prints "WARNING: ThreadSanitizer: data race", with the write at
 * `counter = value` and the earlier read at `value = counter`, by two
 * different goroutines (TSan calls them threads T1, T2, ...).
 *
 * What to notice: "Final Counter: 2", not 4.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static int counter;          /* incremented by all goroutines: the race */
static csp_waitgroup wg;

static void inc_counter(void *arg) {
    (void)arg;
    for (int count = 0; count < 2; count++) {
        int value = counter;   /* capture the value of counter */
        csp_yield();           /* yield the thread and be placed back in queue */
        value++;               /* increment our local value of counter */
        counter = value;       /* store the value back into counter */
    }
    csp_wg_done(&wg);
}

int main(void) {
    csp_maxprocs(1);   /* one logical processor, as in the book's run */
    csp_wg_add(&wg, 2);
    csp_go(inc_counter, (void *)1);
    csp_go(inc_counter, (void *)2);
    csp_wg_wait(&wg);
    printf("Final Counter: %d\n", counter);
    return 0;
}
