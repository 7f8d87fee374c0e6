/* Go in Action, ch. 6 "Concurrency", section 6.2 "Goroutines", listings 6.6-6.8: two logical processors, in parallel.
 *
 * csp_maxprocs(2) gives the scheduler two processors, so two goroutines can
 * run at the same time on two OS threads (csp_maxprocs(csp_num_cpu()) is
 * Go's runtime.GOMAXPROCS(runtime.NumCPU()), and the default).
 *
 * Like Go's fmt.Printf, each printf here goes straight to the file
 * descriptor (stdout is unbuffered), so letters printed at the same time
 * from two threads mix. On the book's 8-core machine they mixed at once.
 * Here, printing 78 letters takes about as long as waking a second thread
 * for the second processor, so in the first run below the first goroutine
 * often finishes before the second starts. The second run makes the
 * parallelism visible: each goroutine first waits at a start line until
 * the other one is running too, spinning on an atomic counter without
 * calling the runtime, which can only end if both really run at once.
 *
 * What to notice: in the second run the capital and small letters usually
 * interleave: two goroutines printing at the same moment on two threads
 * (how finely depends on how the kernel runs the threads: on a busy
 * machine one may still get most of its letters out first).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdatomic.h>
#include <stdio.h>

static csp_waitgroup wg;
static atomic_int at_start_line;
static bool use_start_line;

static void alphabet(void *arg) {
    char first = *(const char *)arg;
    if (use_start_line) {
        atomic_fetch_add(&at_start_line, 1);
        while (atomic_load(&at_start_line) < 2) {}   /* until the other one runs too */
    }
    for (int count = 0; count < 3; count++)   /* display the alphabet three times */
        for (char c = first; c < first + 26; c++) printf("%c ", c);
    csp_wg_done(&wg);
}

static void run(void) {
    csp_wg_add(&wg, 2);
    printf("Start Goroutines\n");
    csp_go(alphabet, "a");
    csp_go(alphabet, "A");
    printf("Waiting To Finish\n");
    csp_wg_wait(&wg);
    printf("\nTerminating Program\n");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);   /* like os.Stdout: every printf is a write(2) */
    csp_maxprocs(2);                    /* allocate two logical processors for the scheduler to use */
    printf("--- the book's program\n");
    run();
    printf("--- with a start line\n");
    use_start_line = true;
    run();
    return 0;
}
