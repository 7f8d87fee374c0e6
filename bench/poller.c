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
#include <stdatomic.h>
#include <stdint.h>
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

/* A listener on 127.0.0.1, an ephemeral port; its address in *sa. */
static int listen_loopback(struct sockaddr_in *sa, int backlog) {
    int ln = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ln < 0) die("socket");
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof *sa;
    if (bind(ln, (struct sockaddr *)sa, sizeof *sa) != 0) die("bind");
    if (listen(ln, backlog) != 0) die("listen");
    if (getsockname(ln, (struct sockaddr *)sa, &salen) != 0) die("getsockname");
    return ln;
}

static void tcp_pingpong(long n, void *arg) {
    (void)arg;
    struct sockaddr_in sa;
    int ln = listen_loopback(&sa, 16);

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

/* ---- poll/echo_many ------------------------------------------------------------
 * Twin: echoMany(n). Listen on 127.0.0.1:0 (backlog SOMAXCONN; Go's is the
 * kernel's somaxconn); an acceptor goroutine loops csp_accept, sets
 * TCP_NODELAY on each new connection and starts one echo handler per
 * connection (csp_wg_go on the servers WaitGroup), until the listener is
 * closed. A handler loops { read exactly 64 bytes; write them back } until
 * EOF, then csp_fd_close's its connection. EM_CLIENTS (64) client goroutines
 * (csp_wg_go on the clients WaitGroup) each socket + csp_connect, set
 * TCP_NODELAY, do their share of the n round trips (n / 64, the first n % 64
 * clients one more): fill 64 bytes from (client, round), write them, read
 * exactly 64 back and compare (a wrong echo dies); then csp_fd_close. Main
 * waits for the clients, marks the listener closing, csp_fd_close's it (the
 * acceptor's csp_accept returns -EBADF) and waits for the acceptor and the
 * handlers. All of it -- listen, the 64 connects and accepts, the closes --
 * is inside the timed call, as in poll/tcp_pingpong. Any other error dies
 * (exit 1). fds: 64 clients + 64 server sides + the listener. */
enum { EM_CLIENTS = 64 };

static void die_rc(const char *what, long rc) {
    fprintf(stderr, "poller: poll/echo_many: %s failed: %s\n", what,
            rc < 0 ? strerror((int)-rc) : "short or end of file");
    exit(1);
}

/* Read exactly n bytes: 1, or 0 at EOF before the first byte; dies on an
 * error or an EOF inside the message. */
static int read_msg(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = csp_read(fd, (char *)buf + got, n - got);
        if (r == 0 && got == 0) return 0;
        if (r <= 0) die_rc("csp_read", (long)r);
        got += (size_t)r;
    }
    return 1;
}

static void em_handler_main(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    while (read_msg(fd, buf, MSG)) {
        ssize_t w = csp_write(fd, buf, MSG);
        if (w != MSG) die_rc("csp_write (handler)", (long)w);
    }
    csp_fd_close(fd);
}

typedef struct em_acceptor { int ln; csp_waitgroup *servers; atomic_int *closing; } em_acceptor;

static void em_acceptor_main(void *arg) {
    em_acceptor *a = (em_acceptor *)arg;   /* main's, alive until servers is done */
    for (;;) {
        int fd = csp_accept(a->ln, NULL, NULL);
        if (fd < 0) {
            if (atomic_load(a->closing)) return;   /* the listener was closed */
            die_rc("csp_accept", fd);
        }
        nodelay(fd);
        if (csp_wg_go(a->servers, em_handler_main, (void *)(intptr_t)fd) != 0)
            die("csp_wg_go (handler)");
    }
}

typedef struct em_client {
    int id;
    long rounds;
    struct sockaddr_in sa;
} em_client;

static void em_fill(char *msg, int id, long round) {
    for (int j = 0; j < MSG; j++) msg[j] = (char)(id * 31 + round + j);
}

static void em_client_main(void *arg) {
    const em_client *c = (const em_client *)arg;   /* main's, alive until clients is done */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int r = csp_connect(fd, (const struct sockaddr *)&c->sa, sizeof c->sa);
    if (r != 0) die_rc("csp_connect", r);
    nodelay(fd);
    char msg[MSG], buf[MSG];
    for (long i = 0; i < c->rounds; i++) {
        em_fill(msg, c->id, i);
        ssize_t w = csp_write(fd, msg, MSG);
        if (w != MSG) die_rc("csp_write (client)", (long)w);
        if (!read_msg(fd, buf, MSG)) die_rc("csp_read (client)", 0);
        if (memcmp(msg, buf, MSG) != 0) {
            fprintf(stderr, "poller: poll/echo_many: client %d round %ld: wrong echo\n",
                    c->id, i);
            exit(1);
        }
    }
    csp_fd_close(fd);
}

static void echo_many(long n, void *arg) {
    (void)arg;
    struct sockaddr_in sa;
    int ln = listen_loopback(&sa, SOMAXCONN);

    csp_waitgroup servers = { 0 }, clients = { 0 };
    atomic_int closing = 0;
    em_acceptor ac = { ln, &servers, &closing };
    if (csp_wg_go(&servers, em_acceptor_main, &ac) != 0) die("csp_wg_go (acceptor)");
    em_client cs[EM_CLIENTS];
    for (int i = 0; i < EM_CLIENTS; i++) {
        cs[i].id = i;
        cs[i].rounds = n / EM_CLIENTS + (i < n % EM_CLIENTS ? 1 : 0);
        cs[i].sa = sa;
        if (csp_wg_go(&clients, em_client_main, &cs[i]) != 0) die("csp_wg_go (client)");
    }
    csp_wg_wait(&clients);
    atomic_store(&closing, 1);
    csp_fd_close(ln);
    csp_wg_wait(&servers);
}

int main(int argc, char **argv) {
    bench_init(argc, argv);
    bench_run("poll/pipe_pingpong", bench_n(30000, 3000), pipe_pingpong, NULL);
    bench_run("poll/tcp_pingpong", bench_n(20000, 2000), tcp_pingpong, NULL);
    bench_run("poll/echo_many", bench_n(64000, 6400), echo_many, NULL);
    return 0;
}
