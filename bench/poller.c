/* poller.c -- waiting on file descriptors through the poller (ours: Go has no
 * benchmark of exactly this): the C side of bench/go/poller.go. Every row
 * does the work its twin's comment names, with the same counts and
 * GOMAXPROCS (the default). */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void die(const char *what) {
    fprintf(stderr, "poller: %s failed\n", what);
    exit(1);
}

/* Read exactly n bytes (io.ReadFull): 0, or -1 at EOF or on an error. */
static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = csp_read(fd, (char *)buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* ---- poll/pipe_pingpong --------------------------------------------------------
 * Twin: pipePingPong(n). Pipes a and b; the echo goroutine loops { read 1
 * byte from a; write it to b } until EOF, then closes done; main, per op:
 * write 1 byte to a, read 1 byte from b; then closes a's write end, waits
 * for done and closes the rest. */
typedef struct pipe_echo { int ar, bw; csp_chan *done; } pipe_echo;

static void pipe_echo_main(void *arg) {
    pipe_echo e = *(pipe_echo *)arg;   /* csp_go_copy: our own copy */
    char buf[1];
    for (;;) {
        if (csp_read(e.ar, buf, 1) <= 0) break;
        if (csp_write(e.bw, buf, 1) < 0) break;
    }
    csp_close(e.done);
    csp_chan_release(e.done);
}

static void pipe_pingpong(long n, void *arg) {
    (void)arg;
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) die("pipe");
    csp_chan *done = csp_chan_make(0, 0);
    if (!done) die("csp_chan_make");
    pipe_echo e = { a[0], b[1], csp_chan_retain(done) };
    if (csp_go_copy(pipe_echo_main, &e, sizeof e) != 0) die("csp_go_copy");
    char buf[1] = { 'x' };
    for (long i = 0; i < n; i++) {
        if (csp_write(a[1], buf, 1) != 1) die("csp_write");
        if (read_full(b[0], buf, 1) != 0) die("csp_read");
    }
    csp_fd_close(a[1]);
    csp_recv(done, NULL);
    csp_chan_release(done);
    csp_fd_close(a[0]);
    csp_fd_close(b[0]);
    csp_fd_close(b[1]);
}

/* ---- poll/tcp_pingpong ---------------------------------------------------------
 * Twin: tcpPingPong(n). Listen on 127.0.0.1:0; a goroutine accepts one
 * connection and hands it over on a channel; main connects (csp_connect);
 * TCP_NODELAY on both sides (Go's default). The echo goroutine loops {
 * read exactly 64 bytes; write them back } until EOF, then closes done;
 * main, per op: write 64 bytes, read exactly 64. Then main closes its side,
 * waits for done, closes the server side and the listener. */
enum { MSG = 64 };

typedef struct acceptor { int ln; csp_chan *accepted; } acceptor;

static void acceptor_main(void *arg) {
    acceptor a = *(acceptor *)arg;
    int fd = csp_accept(a.ln, NULL, NULL);
    if (fd < 0) die("csp_accept");
    csp_send(a.accepted, &fd);
    csp_chan_release(a.accepted);
}

typedef struct tcp_echo { int fd; csp_chan *done; } tcp_echo;

static void tcp_echo_main(void *arg) {
    tcp_echo e = *(tcp_echo *)arg;
    char buf[MSG];
    for (;;) {
        if (read_full(e.fd, buf, MSG) != 0) break;
        if (csp_write(e.fd, buf, MSG) < 0) break;
    }
    csp_close(e.done);
    csp_chan_release(e.done);
}

static void nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("TCP_NODELAY");
}

static void tcp_pingpong(long n, void *arg) {
    (void)arg;
    int ln = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ln < 0) die("socket");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof sa;
    if (bind(ln, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind");
    if (listen(ln, 16) != 0) die("listen");
    if (getsockname(ln, (struct sockaddr *)&sa, &salen) != 0) die("getsockname");

    csp_chan *accepted = csp_chan_make(sizeof(int), 0);
    if (!accepted) die("csp_chan_make");
    acceptor ac = { ln, csp_chan_retain(accepted) };
    if (csp_go_copy(acceptor_main, &ac, sizeof ac) != 0) die("csp_go_copy");
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client < 0) die("socket");
    if (csp_connect(client, (struct sockaddr *)&sa, sizeof sa) != 0) die("csp_connect");
    nodelay(client);
    int server = -1;
    csp_recv(accepted, &server);
    csp_chan_release(accepted);
    nodelay(server);

    csp_chan *done = csp_chan_make(0, 0);
    if (!done) die("csp_chan_make");
    tcp_echo e = { server, csp_chan_retain(done) };
    if (csp_go_copy(tcp_echo_main, &e, sizeof e) != 0) die("csp_go_copy");
    char msg[MSG], buf[MSG];
    for (int i = 0; i < MSG; i++) msg[i] = (char)i;
    for (long i = 0; i < n; i++) {
        if (csp_write(client, msg, MSG) != MSG) die("csp_write");
        if (read_full(client, buf, MSG) != 0) die("csp_read");
    }
    csp_fd_close(client);
    csp_recv(done, NULL);
    csp_chan_release(done);
    csp_fd_close(server);
    csp_fd_close(ln);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("poll/pipe_pingpong", bench_n(30000, 3000), pipe_pingpong, NULL);
    bench_run("poll/tcp_pingpong", bench_n(20000, 2000), tcp_pingpong, NULL);
    return 0;
}
