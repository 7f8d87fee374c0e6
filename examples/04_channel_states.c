/* Learning Go, ch. 12 "Concurrency in Go", section "Understanding How Channels Behave": every cell of Table 12-1.
 *
 *                 unbuffered, open   unbuffered, closed   buffered, open        buffered, closed           nil
 *     read        pause until write  zero value, ok=false pause if empty        remaining values, then     hang forever
 *                                                                               zero value, ok=false
 *     write       pause until read   PANIC                pause if full         PANIC                      hang forever
 *     close       works              PANIC                works, values stay    PANIC                      PANIC
 *
 * A panic ends a Go program (exit status 2), and so does csp_panic. To show
 * every PANIC cell and still go on, this program runs itself again in a
 * child process for each of them (child.h: posix_spawn of /proc/self/exe
 * with the cell's name as argument) and prints the child's stderr and exit
 * status. "Hang forever" is shown twice: in this process a select with a
 * 50 ms timeout gives up waiting; in a child where main is the only
 * goroutine, nothing can ever wake it, and the runtime says so as Go does.
 *
 * What to notice: the "paused" cells wait about 30 ms, until a helper
 * goroutine acts; the five PANIC cells print Go's panic messages and exit
 * with status 2; the nil cells end the child with "fatal error: all
 * goroutines are asleep - deadlock!" and the wait reason of goroutine 1.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include "child.h"

#include <stdio.h>
#include <string.h>

#define PAUSE (30 * CSP_MILLISECOND)

/* The children: each does the one thing its cell says. */
static int child_main(const char *cell) {
    csp_chan *unbuf = csp_chan_make(sizeof(int), 0), *buf = csp_chan_make(sizeof(int), 1);
    int v = 1;
    if (!strcmp(cell, "write-unbuffered-closed")) { csp_close(unbuf); csp_send(unbuf, &v); }
    if (!strcmp(cell, "write-buffered-closed"))   { csp_close(buf); csp_send(buf, &v); }
    if (!strcmp(cell, "close-unbuffered-closed")) { csp_close(unbuf); csp_close(unbuf); }
    if (!strcmp(cell, "close-buffered-closed"))   { csp_close(buf); csp_close(buf); }
    if (!strcmp(cell, "close-nil"))               csp_close(NULL);
    if (!strcmp(cell, "read-nil"))                csp_recv(NULL, &v);
    if (!strcmp(cell, "write-nil"))               csp_send(NULL, &v);
    return 0;   /* not reached */
}

static void show_child(const char *label, const char *cell) {
    char err[1024];
    int status = run_child(cell, err, sizeof err);
    printf("%-26s child exited with status %d:\n", label, status);
    print_child_stderr(err);
}

/* Helpers that act on a channel after PAUSE. */
static void send_later(void *arg) { csp_sleep(PAUSE); csp_send(arg, &(int){ 7 }); }
static void recv_later(void *arg) { csp_sleep(PAUSE); csp_recv(arg, NULL); }

static long ms_since(int64_t t0) { return (long)((csp_now() - t0 + CSP_MILLISECOND / 2) / CSP_MILLISECOND); }

int main(int argc, char **argv) {
    if (argc > 1) return child_main(argv[1]);
    int v;
    bool ok;
    int64_t t0;

    printf("--- read\n");
    csp_chan *c = csp_chan_make(sizeof(int), 0);
    t0 = csp_now();
    csp_go(send_later, c);
    csp_recv(c, &v);
    printf("%-26s paused %ld ms, until a goroutine wrote %d\n", "unbuffered, open:", ms_since(t0), v);
    csp_close(c);
    ok = csp_recv(c, &v);
    printf("%-26s returned at once: v = %d, ok = %s\n", "unbuffered, closed:", v, ok ? "true" : "false");
    csp_chan_release(c);

    c = csp_chan_make(sizeof(int), 2);
    t0 = csp_now();
    csp_go(send_later, c);
    csp_recv(c, &v);
    printf("%-26s buffer empty: paused %ld ms, until a goroutine wrote %d\n", "buffered, open:", ms_since(t0), v);
    csp_send(c, &(int){ 5 });
    csp_recv(c, &v);
    printf("%-26s buffer not empty: returned %d at once\n", "", v);
    csp_send(c, &(int){ 5 });
    csp_close(c);
    ok = csp_recv(c, &v);
    printf("%-26s returned the remaining value: v = %d, ok = %s\n", "buffered, closed:", v, ok ? "true" : "false");
    ok = csp_recv(c, &v);
    printf("%-26s then the zero value:          v = %d, ok = %s\n", "", v, ok ? "true" : "false");
    csp_chan_release(c);

    csp_case rnil = CSP_RECV(NULL, &v);
    int r = csp_select(&rnil, 1, 50 * CSP_MILLISECOND);
    printf("%-26s %s\n", "nil:", r == CSP_SELECT_TIMEOUT ? "a select on it gave up after 50 ms" : "?!");
    show_child("", "read-nil");

    printf("--- write\n");
    c = csp_chan_make(sizeof(int), 0);
    t0 = csp_now();
    csp_go(recv_later, c);
    csp_send(c, &(int){ 1 });
    printf("%-26s paused %ld ms, until a goroutine read\n", "unbuffered, open:", ms_since(t0));
    csp_chan_release(c);
    show_child("unbuffered, closed:", "write-unbuffered-closed");

    c = csp_chan_make(sizeof(int), 1);
    csp_send(c, &(int){ 1 });
    printf("%-26s buffer not full: returned at once (len %zu, cap %zu)\n", "buffered, open:", csp_len(c), csp_cap(c));
    t0 = csp_now();
    csp_go(recv_later, c);
    csp_send(c, &(int){ 2 });
    printf("%-26s buffer full: paused %ld ms, until a goroutine read\n", "", ms_since(t0));
    csp_chan_release(c);
    show_child("buffered, closed:", "write-buffered-closed");

    csp_case snil = CSP_SEND(NULL, &v);
    r = csp_select(&snil, 1, 50 * CSP_MILLISECOND);
    printf("%-26s %s\n", "nil:", r == CSP_SELECT_TIMEOUT ? "a select on it gave up after 50 ms" : "?!");
    show_child("", "write-nil");

    printf("--- close\n");
    c = csp_chan_make(sizeof(int), 0);
    csp_close(c);
    printf("%-26s works\n", "unbuffered, open:");
    csp_chan_release(c);
    show_child("unbuffered, closed:", "close-unbuffered-closed");
    c = csp_chan_make(sizeof(int), 2);
    csp_send(c, &(int){ 3 });
    csp_close(c);
    ok = csp_recv(c, &v);
    printf("%-26s works, the value stays: read %d (ok = %s) after the close\n", "buffered, open:", v, ok ? "true" : "false");
    csp_chan_release(c);
    show_child("buffered, closed:", "close-buffered-closed");
    show_child("nil:", "close-nil");
    return 0;
}
