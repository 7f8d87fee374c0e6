/* Go in Action, ch. 6 "Concurrency", section 6.2 "Goroutines", listings 6.4-6.5: long goroutines on one logical processor.
 *
 * Two goroutines search for primes with csp_maxprocs(1). In the book, Go's
 * scheduler stops the first one in the middle of its work ("Goroutines
 * Swapped") and lets the other run, back and forth, on one thread.
 *
 * What really happens here is different, and this example shows it
 * honestly. csp.h's scheduler is not preemptive: nothing can stop a
 * goroutine that computes without calling into the runtime. Instead its
 * monitor thread (sysmon) notices a processor whose goroutine has not
 * called the runtime for ~10 ms while other goroutines wait, and hands that
 * processor to another OS thread. The long goroutine keeps running on its
 * own thread, without a processor, until its next runtime call; the other
 * one starts on the new thread. So after the hand-off the two run at the
 * same time, in parallel, although csp_maxprocs is 1. (A goroutine that
 * blocks, or calls csp_yield, gives its processor up at once.)
 *
 * The book's search (primes below 5,000) takes ~3 ms here: the first
 * goroutine is done long before the monitor steps in, and the two run one
 * after the other. A search up to 20,000 takes long enough to see the
 * hand-off. Printing 4,500 lines would bury the point: the goroutines log
 * what they would print, with the time and the thread, and main prints the
 * log condensed (usage: 31_prime_timeslice [LIMIT...], default 5000 20000).
 *
 * What to notice: with 5,000, B runs, completes, then A; with 20,000, A
 * starts ~10 ms after B, on another thread, while B is still running, and
 * from then on their lines interleave: they overlap in time.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct { char who; int prime; int64_t at; pid_t tid; } line;   /* prime 0: "Completed" */

static line lines[6000];
static atomic_int nlines;
static int64_t t0;
static int limit;
static csp_waitgroup wg;

static void emit(char who, int prime) {
    int i = atomic_fetch_add(&nlines, 1);
    if (i < 6000) lines[i] = (line){ who, prime, csp_now() - t0, gettid() };
}

static void print_prime(void *arg) {
    char prefix = *(const char *)arg;
    for (int outer = 2; outer < limit; outer++) {
        int inner;
        for (inner = 2; inner < outer; inner++)
            if (outer % inner == 0) break;   /* continue next */
        if (inner == outer) emit(prefix, outer);   /* fmt.Printf("%s:%d\n", prefix, outer) */
    }
    emit(prefix, 0);   /* fmt.Println("Completed", prefix) */
    csp_wg_done(&wg);
}

static void show(int i, const char *note) {
    const line *l = &lines[i];
    if (l->prime) printf("%c:%-6d   ", l->who, l->prime);
    else printf("Completed %c", l->who);
    printf("  %6.1f ms  thread %d%s\n", l->at / 1e6, (int)l->tid, note);
}

/* The first and last lines of lines[from..to), with "..." between. */
static void show_run(int from, int to, const char *note) {
    for (int i = from; i < to; i++) {
        if (i == from + 2 && to - from > 4) { printf("...\n"); i = to - 2; }
        show(i, i == from ? note : "");
    }
}

static void print_log(void) {
    int n = atomic_load(&nlines), swap = 1, changes = 0;
    while (swap < n && lines[swap].who == lines[0].who) swap++;
    for (int i = 1; i < n; i++) changes += lines[i].who != lines[i - 1].who;
    int64_t begin[2] = { -1, -1 }, end[2] = { 0, 0 };
    for (int i = 0; i < n; i++) {
        int k = lines[i].who - 'A';
        if (begin[k] < 0) begin[k] = lines[i].at;
        end[k] = lines[i].at;
    }
    show_run(0, swap, "");
    if (changes == 1) {   /* one after the other */
        show_run(swap, n, "");
        printf("one after the other, on one thread\n");
        return;
    }
    for (int i = swap; i < n && i < swap + 6; i++)
        show(i, i == swap ? "   ** Goroutines Swapped: the processor went to another thread" : "");
    printf("... from here on both run at the same time (their lines alternate %d times in all)\n", changes);
    for (int i = swap + 6; i < n; i++)
        if (lines[i].prime == 0) show(i, "");
    int64_t both = (end[0] < end[1] ? end[0] : end[1]) - (begin[0] > begin[1] ? begin[0] : begin[1]);
    printf("A ran from %.1f to %.1f ms, B from %.1f to %.1f ms: both at once for %.1f ms, with csp_maxprocs(1)\n",
           begin[0] / 1e6, end[0] / 1e6, begin[1] / 1e6, end[1] / 1e6, both / 1e6);
}

static void run(int lim) {
    limit = lim;
    atomic_store(&nlines, 0);
    printf("--- primes below %d\n", limit);
    printf("Create Goroutines\n");
    t0 = csp_now();
    csp_wg_add(&wg, 2);
    csp_go(print_prime, "A");
    csp_go(print_prime, "B");
    printf("Waiting To Finish\n");
    csp_wg_wait(&wg);
    print_log();
    printf("Terminating Program\n");
}

int main(int argc, char **argv) {
    csp_maxprocs(1);   /* one logical processor */
    if (argc > 1)
        for (int i = 1; i < argc; i++) run(atoi(argv[i]) > 20000 ? 20000 : atoi(argv[i]));
    else {
        run(5000);
        run(20000);
    }
    return 0;
}
