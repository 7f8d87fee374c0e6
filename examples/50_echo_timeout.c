/* Go in Practice, ch. 3 "Concurrency in Go", section 3.2 "Working with goroutines", listing 3.1: echo stdin for 30 s.
 *
 * A goroutine copies standard input to standard output (Go's io.Copy)
 * while main sleeps; when main wakes up it prints "Timed out." and exits,
 * which ends the echo goroutine wherever it is, as in Go.
 *
 * The goroutine reads with csp_read, which may wait for as long as nobody
 * types. Only the goroutine waits: for a pipe or a socket the poller
 * watches the fd; stdin (fd 0, shared with the parent, so csp.h leaves its
 * flags alone), terminals and files are read inside a blocking section,
 * as csp_block_begin()/csp_block_end() around a plain read(2) would do
 * (52_compress.c does that by hand): the processor goes to the other
 * goroutines, here main's sleep and wake-up, while the read blocks.
 *
 * The duration is an argument, in seconds (default 30, as in the book), so
 * that the tour can run it for half a second with stdin from /dev/null:
 *     50_echo_timeout [SECONDS]
 *     printf 'Hello.\nMy name is Inigo Montoya\n' | build/examples/50_echo_timeout 1
 *
 * What to notice: whatever comes in goes out again, and after the given
 * time "Timed out." ends the program, even while the echo is blocked in
 * read(2) waiting for more input.
 */
/* tour: args=0.5 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void echo(void *arg) {   /* io.Copy(out, in) */
    (void)arg;
    char buf[4096];
    ssize_t n;
    while ((n = csp_read(STDIN_FILENO, buf, sizeof buf)) > 0)   /* 0: end of input; < 0: -errno */
        if (csp_write(STDOUT_FILENO, buf, (size_t)n) < 0) break;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 30;
    csp_go(echo, NULL);
    csp_sleep((int64_t)(seconds * CSP_SECOND));
    printf("Timed out.\n");
    return 0;   /* os.Exit(0): the echo goroutine ends with the process */
}
