/* Learning Go, ch. 12 "Concurrency in Go", section "Goroutines, for Loops, and Varying Variables".
 *
 * Before Go 1.22 every iteration of `for _, v := range a` reused one
 * variable v, so goroutines that captured it all saw its last value. In C
 * the same bug is passing &v to csp_go: every goroutine gets the address of
 * the one variable the loop keeps changing. (Declaring `int v = a[i];`
 * inside the loop body is no fix in C: that v dies at the end of each
 * iteration, and the goroutines would read a dead variable.)
 *
 * The two fixes of the book, in C:
 *   - give each goroutine its own copy: csp_go_copy(fn, &v, sizeof v) copies
 *     v into the new goroutine before it returns (Go's `v := v`);
 *   - pass the value itself as the argument: csp_go(fn, (void *)(intptr_t)v)
 *     (Go's `go func(val int) { ... }(v)`).
 *
 * To make the bug show every time, the buggy goroutines wait for `start`
 * to be closed, after the loop. That also keeps the program free of a data
 * race: the loop's writes to v happen before the close, which happens before
 * every goroutine's read.
 *
 * What to notice: the buggy version prints 20 five times; both fixes print
 * 4, 8, 12, 16 and 20, in an order that changes from run to run.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdint.h>
#include <stdio.h>

static csp_chan *ch, *start;

static void shared_v(void *arg) {
    csp_recv(start, NULL);   /* wait until the loop is over */
    int *v = arg;
    csp_send(ch, &(int){ *v * 2 });
}

static void own_copy(void *arg) {
    int *v = arg;   /* points into this goroutine's own stack */
    csp_send(ch, &(int){ *v * 2 });
}

static void by_value(void *arg) {
    int val = (int)(intptr_t)arg;
    csp_send(ch, &(int){ val * 2 });
}

static void print_all(const char *what, int n) {
    printf("%-34s", what);
    for (int i = 0; i < n; i++) {
        int x;
        csp_recv(ch, &x);
        printf(" %d", x);
    }
    printf("\n");
}

int main(void) {
    int a[] = { 2, 4, 6, 8, 10 };
    ch = csp_chan_make(sizeof(int), 5);   /* make(chan int, len(a)) */

    start = csp_chan_make(0, 0);
    int v;   /* one variable for the whole loop, like Go before 1.22 */
    for (int i = 0; i < 5; i++) {
        v = a[i];
        csp_go(shared_v, &v);
    }
    csp_close(start);
    print_all("every goroutine shares v:", 5);

    for (int i = 0; i < 5; i++) {
        v = a[i];
        csp_go_copy(own_copy, &v, sizeof v);
    }
    print_all("csp_go_copy (v := v):", 5);

    for (int i = 0; i < 5; i++) csp_go(by_value, (void *)(intptr_t)a[i]);
    print_all("passed by value (func(val int)):", 5);

    csp_chan_release(start);
    csp_chan_release(ch);
    return 0;
}
