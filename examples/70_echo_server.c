/* 70_echo_server.c -- a TCP echo server with an idle timeout: each
 * connection is one goroutine that waits for data with csp_fd_wait and a
 * context deadline, and hangs up after --idle milliseconds of silence (Go in
 * Practice, ch. 3, uses 30 s: `./70_echo_server --idle 30000`).
 * The demo runs its own clients on 127.0.0.1: two talk, one stays silent.
 * Notice: the silent client is dropped after the idle timeout while the
 * others keep going; every socket wait parks only its goroutine.
 * Graceful shutdown: SIGTERM or SIGINT (csp_signal_notify) makes the server
 * stop accepting and wait for the connections it has to end. The demo
 * sends itself SIGTERM while its clients are still talking; `--serve` runs
 * the server alone until you press Ctrl-C. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t idle_ns = 300 * CSP_MILLISECOND;
static csp_waitgroup conns;   /* connections being served */

static void serve(void *arg) {
    int fd = *(int *)arg;
    char buf[512];
    for (;;) {
        csp_ctx *idle = csp_ctx_with_timeout(NULL, idle_ns);
        int rc = csp_fd_wait(fd, CSP_READABLE, idle);
        csp_ctx_release(idle);
        if (rc == -ETIMEDOUT) { printf("server: fd %d idle for %lld ms, closing\n", fd, (long long)(idle_ns / CSP_MILLISECOND)); break; }
        if (rc < 0) break;
        ssize_t n = csp_read(fd, buf, sizeof buf);
        if (n <= 0) { printf("server: fd %d closed by the client\n", fd); break; }
        if (csp_write(fd, buf, (size_t)n) != n) break;
    }
    csp_fd_close(fd);
    csp_wg_done(&conns);
}

static void acceptor(void *arg) {
    int l = *(int *)arg;
    for (;;) {
        int c = csp_accept(l, NULL, NULL);
        if (c == -EMFILE || c == -ENFILE || c == -ENOBUFS || c == -ENOMEM) {
            /* Out of fds or memory for now: the client waits in the backlog;
             * try again soon instead of giving up (as Go's http.Server does). */
            fprintf(stderr, "server: accept: %s; retrying in 10 ms\n", strerror(-c));
            csp_sleep(10 * CSP_MILLISECOND);
            continue;
        }
        if (c < 0) return;   /* the listener was closed: shutting down */
        csp_wg_add(&conns, 1);
        csp_go_copy(serve, &c, sizeof c);
    }
}

typedef struct { struct sockaddr_in addr; const char *name; int lines; csp_waitgroup *wg, *first; } client_arg;
static void client(void *arg) {
    client_arg *a = (client_arg *)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (csp_connect(fd, (struct sockaddr *)&a->addr, sizeof a->addr) != 0) { perror("connect"); exit(1); }
    for (int i = 0; i < a->lines; i++) {
        char line[64], back[64];
        int n = snprintf(line, sizeof line, "%s line %d\n", a->name, i);
        csp_write(fd, line, (size_t)n);
        ssize_t got = 0;
        while (got < n) { ssize_t r = csp_read(fd, back + got, sizeof back - (size_t)got); if (r <= 0) break; got += r; }
        printf("%s: echoed \"%.*s\"\n", a->name, (int)got - 1, back);
        if (i == 0 && a->first) csp_wg_done(a->first);
        csp_sleep(idle_ns / 3);   /* talks often enough to stay connected */
    }
    if (a->lines == 0) {   /* the silent one: wait for the server to hang up */
        char c;
        ssize_t r = csp_read(fd, &c, 1);
        printf("%s: server hung up (read returned %zd)\n", a->name, r);
    }
    csp_fd_close(fd);
    csp_wg_done(a->wg);
}

/* Stop on SIGTERM/SIGINT: no new connections; the live ones end on their own. */
static void shutdown_on_signal(int l, csp_chan *sigs) {
    int sig = 0;
    csp_recv(sigs, &sig);
    printf("server: got %s, no longer accepting; waiting for open connections\n",
           sig == SIGTERM ? "SIGTERM" : "SIGINT");
    csp_signal_stop(sigs);
    csp_fd_close(l);       /* wakes the acceptor with -EBADF */
    csp_wg_wait(&conns);   /* every connection has ended */
    printf("server: all connections closed, bye\n");
}

static void send_sigterm(void *arg) {
    csp_wg_wait((csp_waitgroup *)arg);   /* once both talkers got their first echo */
    printf("demo: kill(getpid(), SIGTERM)\n");
    kill(getpid(), SIGTERM);
}

int main(int argc, char **argv) {
    int serve_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc) idle_ns = atoll(argv[++i]) * CSP_MILLISECOND;
        else if (strcmp(argv[i], "--serve") == 0) serve_only = 1;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, SOMAXCONN) != 0) { perror("listen"); return 1; }
    getsockname(l, (struct sockaddr *)&sa, &sl);
    printf("echo server on 127.0.0.1:%d, idle timeout %lld ms\n", ntohs(sa.sin_port), (long long)(idle_ns / CSP_MILLISECOND));
    fflush(stdout);
    csp_chan *sigs = csp_chan_make(sizeof(int), 1);   /* buffered: a signal is never lost while we are busy */
    csp_signal_notify(sigs, SIGTERM);
    csp_signal_notify(sigs, SIGINT);
    csp_go_copy(acceptor, &l, sizeof l);
    if (serve_only) { shutdown_on_signal(l, sigs); csp_chan_release(sigs); return 0; }

    csp_waitgroup wg, first;
    memset(&wg, 0, sizeof wg);
    memset(&first, 0, sizeof first);
    client_arg cs[3] = { { sa, "alice", 3, &wg, &first }, { sa, "bob", 2, &wg, &first }, { sa, "quiet", 0, &wg, NULL } };
    csp_wg_add(&first, 2);
    for (int i = 0; i < 3; i++) { csp_wg_add(&wg, 1); csp_go(client, &cs[i]); }
    csp_go(send_sigterm, &first);
    shutdown_on_signal(l, sigs);   /* returns once alice, bob and quiet are done */
    csp_wg_wait(&wg);
    csp_chan_release(sigs);
    return 0;
}
