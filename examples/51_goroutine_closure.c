/* Go in Practice, ch. 3 "Concurrency in Go", technique 10 "Using goroutine closures", listing 3.2: an anonymous goroutine and Gosched.
 *
 * `go func() { ... }()` starts a function written in place. C has no
 * anonymous functions, so the goroutine is a small named function next to
 * its use; what a closure would capture goes through csp_go's argument.
 *
 * A new goroutine is only queued: it runs when a processor gets to it. If
 * main returned right away, the process could end before it ever ran.
 * csp_yield() (runtime.Gosched) lets the scheduler run other goroutines
 * first, here the new one, before main goes on. As the book warns, a yield
 * gives no guarantee: another processor may have picked the goroutine up
 * and still be on its way; to wait for a goroutine, use a WaitGroup
 * (technique 11, 52_compress.c).
 *
 * The book's point ("you can almost be sure that it won't run
 * immediately") is about a program with one processor: this one asks for
 * one with csp_maxprocs(1). With several, an idle processor may pick the
 * new goroutine up at once, and "Inside a goroutine" may come first.
 *
 * What to notice: "Inside a goroutine" comes after "Outside again": the
 * goroutine did not run when it was created, but at the yield. Usually:
 * on a loaded machine the runtime may take a held-up main for a hog and
 * run the goroutine earlier, which is the book's "almost" (the test of
 * this example accepts both orders).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static void inside(void *arg) {
    (void)arg;
    printf("Inside a goroutine\n");
}

int main(void) {
    csp_maxprocs(1);
    printf("Outside a goroutine.\n");
    csp_go(inside, NULL);
    printf("Outside again.\n");
    csp_yield();
    return 0;
}
