/* Learning Go, ch. 12 "Concurrency in Go", section "select": Example 12-1 (deadlock) and 12-2 (select avoids it).
 *
 * Example 12-1: the goroutine writes ch1 and then reads ch2; main writes
 * ch2 and then reads ch1. Each waits for the other: nothing can ever run
 * again, and the runtime ends the program as Go's does,
 *     fatal error: all goroutines are asleep - deadlock!
 * with the list of goroutines and what they wait for, exit status 2. It runs
 * here in a child process (child.h), so that this program can go on.
 *
 * Example 12-2 wraps main's write and read in a select: the read of ch1 can
 * go ahead, so there is no deadlock ("main: 2 1"), but the goroutine is left
 * waiting on ch2 for ever: a leaked goroutine. The last part is the fixed
 * program: main loops until both of its cases have happened, and waits for
 * the goroutine with a WaitGroup.
 *
 * What to notice: the child's deadlock report (two goroutines, both in
 * "chan send"); 2 goroutines alive after Example 12-2; the fixed program
 * prints both lines, "main: 2 1" and "goroutine: 1 2" (in either order).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include "child.h"

#include <stdio.h>
#include <string.h>

typedef struct { csp_chan *ch1, *ch2; csp_waitgroup *wg; } chans;

static void in_goroutine(void *arg) {
    chans *c = arg;
    int in_goroutine = 1, from_main;
    csp_send(c->ch1, &in_goroutine);
    csp_recv(c->ch2, &from_main);
    printf("goroutine: %d %d\n", in_goroutine, from_main);
    if (c->wg) csp_wg_done(c->wg);
}

/* Example 12-1, run in the child. */
static int deadlock(void) {
    chans c = { csp_chan_make(sizeof(int), 0), csp_chan_make(sizeof(int), 0), NULL };
    csp_go_copy(in_goroutine, &c, sizeof c);
    int in_main = 2, from_goroutine;
    csp_send(c.ch2, &in_main);
    csp_recv(c.ch1, &from_goroutine);
    printf("main: %d %d\n", in_main, from_goroutine);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "deadlock")) return deadlock();

    printf("Example 12-1, in a child process:\n");
    char err[2048];
    int status = run_child("deadlock", err, sizeof err);
    print_child_stderr(err);
    printf("    (exit status %d)\n", status);

    printf("Example 12-2:\n");
    chans c = { csp_chan_make(sizeof(int), 0), csp_chan_make(sizeof(int), 0), NULL };
    csp_go_copy(in_goroutine, &c, sizeof c);   /* never returns: it keeps ch1 and ch2 */
    int in_main = 2, from_goroutine = 0;
    csp_case cases[] = { CSP_SEND(c.ch2, &in_main), CSP_RECV(c.ch1, &from_goroutine) };
    csp_select(cases, 2, CSP_FOREVER);
    printf("main: %d %d\n", in_main, from_goroutine);
    printf("    goroutines alive: %d (the other one waits on ch2 for ever)\n", csp_num_goroutines());

    printf("Fixed:\n");
    csp_waitgroup wg = {0};
    chans f = { csp_chan_make(sizeof(int), 0), csp_chan_make(sizeof(int), 0), &wg };
    csp_wg_add(&wg, 1);
    csp_go_copy(in_goroutine, &f, sizeof f);
    from_goroutine = 0;
    for (int count = 0; count < 2; count++) {
        csp_case both[] = { CSP_SEND(f.ch2, &in_main), CSP_RECV(f.ch1, &from_goroutine) };
        csp_select(both, 2, CSP_FOREVER);   /* either case: count++ */
    }
    printf("main: %d %d\n", in_main, from_goroutine);
    csp_wg_wait(&wg);
    csp_chan_release(f.ch1);
    csp_chan_release(f.ch2);
    return 0;
}
