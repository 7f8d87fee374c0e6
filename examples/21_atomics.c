/* Learning Go, ch. 12 "Concurrency in Go", section "Atoms—You Probably Don't Need These": sync/atomic as C11 <stdatomic.h>.
 *
 * Go's sync/atomic offers add, swap, load, store and compare-and-swap on a
 * value that fits in a register; C11 has the same operations built in, and
 * csp.h does not wrap them: a goroutine may use any of them, as a thread
 * would. (The book's advice stands: unless you are an expert chasing the
 * last nanosecond, use channels and mutexes.)
 *
 *     atomic.AddInt64(&n, 1)            atomic_fetch_add(&n, 1)
 *     atomic.LoadInt64(&n)              atomic_load(&n)
 *     atomic.StoreInt64(&n, v)          atomic_store(&n, v)
 *     atomic.SwapInt64(&n, v)           atomic_exchange(&n, v)
 *     atomic.CompareAndSwapInt64(&n, old, new)
 *                                       atomic_compare_exchange_strong(&n, &old, new)
 *
 * What to notice: 8 goroutines add 100,000 each and the total is exactly
 * 800,000; a compare-and-swap loop keeps the largest value any goroutine
 * saw; a swap hands over the last value stored and resets it in one step.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdatomic.h>
#include <stdio.h>

static atomic_long counter;
static atomic_long largest;
static atomic_long last;
static csp_waitgroup wg;

static void store_max(long v) {
    long old = atomic_load(&largest);
    while (v > old && !atomic_compare_exchange_weak(&largest, &old, v)) {
        /* another goroutine changed it: old now holds its value; try again */
    }
}

static void work(void *arg) {
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < 100000; i++) {
        long now = atomic_fetch_add(&counter, 1) + 1;   /* our increment, and the value it made */
        store_max(now);
    }
    atomic_store(&last, id);
    csp_wg_done(&wg);
}

int main(void) {
    csp_wg_add(&wg, 8);
    for (long id = 1; id <= 8; id++) csp_go(work, (void *)(intptr_t)id);
    csp_wg_wait(&wg);
    printf("counter: %ld\n", atomic_load(&counter));
    printf("largest value seen: %ld\n", atomic_load(&largest));
    long was = atomic_exchange(&last, 0);
    printf("the last goroutine to store its id: %ld (swapped out; now %ld)\n", was, atomic_load(&last));
    return 0;
}
