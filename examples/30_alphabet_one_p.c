/* Go in Action, ch. 6 "Concurrency", section 6.2 "Goroutines", listings 6.1-6.3: two goroutines, one logical processor.
 *
 * csp_maxprocs(1) is runtime.GOMAXPROCS(1): one processor (P) runs
 * goroutines, so they take turns on it. Printing an alphabet takes so
 * little time that the first goroutine to run finishes before anything
 * makes it give the processor up, and the two run one after the other.
 * main waits for both with a WaitGroup; without it, main could return (and
 * the process end) before either goroutine ran.
 *
 * Go's fmt.Printf writes straight to the file descriptor; C's stdout is
 * buffered, which changes nothing here: both goroutines write into the
 * same buffer, in the order they run.
 *
 * What to notice: the capital letters usually come first, as in the book's
 * listing 6.2: the goroutine started last runs first (the scheduler keeps
 * the newest goroutine in a "run next" slot, as Go's does). Usually, not
 * always: on a loaded machine main may be held up long enough (10 ms) for
 * the runtime to take it for a hog and run the other goroutine first, as
 * Go's preemption would. Either way each alphabet is printed whole and in
 * order: one processor runs one goroutine at a time.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static csp_waitgroup wg;

static void lowercase(void *arg) {
    (void)arg;
    for (int count = 0; count < 3; count++)   /* display the alphabet three times */
        for (char c = 'a'; c < 'a' + 26; c++) printf("%c ", c);
    csp_wg_done(&wg);   /* defer wg.Done() */
}

static void uppercase(void *arg) {
    (void)arg;
    for (int count = 0; count < 3; count++)
        for (char c = 'A'; c < 'A' + 26; c++) printf("%c ", c);
    csp_wg_done(&wg);
}

int main(void) {
    csp_maxprocs(1);   /* allocate 1 logical processor for the scheduler to use */
    csp_wg_add(&wg, 2);
    printf("Start Goroutines\n");
    csp_go(lowercase, NULL);
    csp_go(uppercase, NULL);
    printf("Waiting To Finish\n");
    csp_wg_wait(&wg);
    printf("\nTerminating Program\n");
    return 0;
}
