/* Go in Practice, ch. 3 "Concurrency in Go", section 3.2 "Working with goroutines", listing 3.1: echo stdin for 30 s.
 *
 * A goroutine copies standard input to standard output (Go's io.Copy)
 * while main sleeps; when main wakes up it prints "Timed out." and exits,
 * which ends the echo goroutine wherever it is, as in Go.
 *
 * csp.h has no network poller yet (csp_read is still to come), so the
 * goroutine reads stdin with a plain read(2) that may block for as long as
 * nobody types. It tells the runtime so: a call inside csp_block_begin() /
 * csp_block_end() gives up its processor while it blocks, and the other
 * goroutines (here main's sleep and wake-up) go on meanwhile.
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
    for (;;) {
        csp_block_begin();
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        csp_block_end();
        if (n <= 0) return;   /* end of input (or an error): nothing more to copy */
        for (ssize_t off = 0; off < n;) {
            csp_block_begin();
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
            csp_block_end();
            if (w <= 0) return;
            off += w;
        }
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 30;
    csp_go(echo, NULL);
    csp_sleep((int64_t)(seconds * CSP_SECOND));
    printf("Timed out.\n");
    return 0;   /* os.Exit(0): the echo goroutine ends with the process */
}
