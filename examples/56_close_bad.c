/* Go in Practice, ch. 3 "Concurrency in Go", technique 14 "Closing channels", listing 3.9: closing from the receiver (wrong).
 *
 * main receives the messages and, when its time is up, closes the channel
 * it receives on. But the sender does not know: its next send is on a
 * closed channel, and that panics, "send on closed channel", which ends
 * the program with exit status 2. Only a sender should close a channel,
 * and only once it will send no more (58_done_channel.c shows how).
 *
 * The panic would end this example too, so the broken program runs in a
 * child process (child.h: this program again, with an argument); its
 * "hello" lines share our stdout, and this side prints its stderr and exit
 * status. The book's timings are 5 s and 500 ms; here 500 ms and 50 ms,
 * and main waits two of the sender's periods after the close (not one), so
 * the failure always shows.
 *
 * What to notice: ten or so "hello", then the child's
 *     panic: send on closed channel
 *     goroutine N [running]
 * and its exit status 2.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include "child.h"

#include <stdio.h>
#include <string.h>

static void sender(void *arg) {
    csp_chan *ch = arg;
    for (;;) {
        csp_send(ch, &(const char *){ "hello" });
        csp_sleep(50 * CSP_MILLISECOND);
    }
}

static int bad(void) {
    csp_chan *msg = csp_chan_make(sizeof(const char *), 0);
    csp_chan *until = csp_after(500 * CSP_MILLISECOND);
    csp_go(sender, msg);
    for (;;) {
        const char *m;
        csp_case cases[] = { CSP_RECV(msg, &m), CSP_RECV(until, NULL) };
        switch (csp_select(cases, 2, CSP_FOREVER)) {
        case 0:
            printf("%s\n", m);
            break;
        case 1:
            csp_close(msg);                     /* wrong: the receiver closes */
            csp_sleep(100 * CSP_MILLISECOND);   /* see the failure before main returns */
            return 0;
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "bad")) return bad();
    char err[1024];
    int status = run_child("bad", err, sizeof err);
    printf("the program's stderr:\n");
    print_child_stderr(err);
    printf("exit status %d\n", status);
    return 0;
}
