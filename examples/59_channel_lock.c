/* Go in Practice, ch. 3 "Concurrency in Go", technique 15 "Locking with buffered channels", listing 3.12: a channel as a lock.
 *
 * A channel with a buffer of one is a lock: sending into the empty slot
 * takes the lock, and anyone else's send waits until the holder takes its
 * value back out (the unlock). An unbuffered channel could not do this, as
 * its send waits for a receiver. A buffer of two would let two holders in
 * at once: a semaphore (csp_sema is the weighted one).
 *
 * The book holds the lock 500 ms and has main sleep 10 s to let the six
 * workers finish; here each holds it 100 ms and main waits for them with a
 * WaitGroup.
 *
 * What to notice: all six want the lock at once, but "has the lock" and
 * "is releasing the lock" strictly alternate: one holder at a time, in an
 * order that changes from run to run.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static csp_waitgroup wg;
static csp_chan *lock;

static void worker(void *arg) {
    int id = (int)(intptr_t)arg;
    printf("%d wants the lock\n", id);
    csp_send(lock, &(bool){ true });   /* takes the one space, or waits for it */
    printf("%d has the lock\n", id);
    csp_sleep(100 * CSP_MILLISECOND);  /* the space between the send and the receive is "locked" */
    printf("%d is releasing the lock\n", id);
    csp_recv(lock, NULL);              /* frees the space for the next one */
    csp_wg_done(&wg);
}

int main(void) {
    lock = csp_chan_make(sizeof(bool), 1);   /* a buffered channel with one space */
    for (int i = 1; i < 7; i++) {
        csp_wg_add(&wg, 1);
        csp_go(worker, (void *)(intptr_t)i);
    }
    csp_wg_wait(&wg);
    csp_chan_release(lock);
    return 0;
}
