/* test_poll.c -- the network poller: sockets and pipes block only the
 * goroutine; errors come back as -errno; connections over AF_UNIX and TCP
 * on 127.0.0.1 (loopback only, bounded in count and time); csp_fd_wait with
 * contexts; csp_fd_close wakes waiters; fd reuse after a plain close(2). */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/eventfd.h>

#define MS CSP_MILLISECOND

/* ---- ping-pong over a socketpair with one P: the poller does not block the thread */
static void pp_server(void *arg) {
    int fd = *(int *)arg;
    char c;
    while (csp_read(fd, &c, 1) == 1) { c++; if (csp_write(fd, &c, 1) != 1) break; }
    close(fd);
}
static long spin_count;
static int spin_stop;
static void spinner(void *arg) {   /* keeps calling into the runtime: shares the P */
    (void)arg;
    while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) { __atomic_fetch_add(&spin_count, 1, __ATOMIC_RELAXED); csp_yield(); }
}
CHILD(pingpong_one_p) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(9);
    csp_go_copy(pp_server, &sv[1], sizeof sv[1]);
    csp_go(spinner, NULL);
    char c = 0;
    for (int i = 0; i < 1000; i++) {
        if (csp_write(sv[0], &c, 1) != 1) exit(8);
        if (csp_read(sv[0], &c, 1) != 1) exit(7);
    }
    __atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
    printf("final %d maxprocs %d spinner ran %s\n", (unsigned char)c, csp_maxprocs(0), __atomic_load_n(&spin_count, __ATOMIC_RELAXED) > 0 ? "yes" : "no");
    fflush(stdout);
    close(sv[0]);
}
TEST(socketpair_pingpong_with_one_p) {
    csp_test_child r = RUN_CHILD_ENV(pingpong_one_p, 30000, "CSP_MAXPROCS=1");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "final 232 maxprocs 1 spinner ran yes");   /* 1000 increments mod 256 */
    csp_test_child_free(&r);
}

/* ---- 4 MiB written in full, EOF, errors ------------------------------------------ */
typedef struct { int fd; size_t n; uint64_t sum; } reader_arg;
static void slow_reader(void *arg) {
    reader_arg *a = (reader_arg *)arg;
    char buf[4096];
    for (;;) {
        ssize_t r = csp_read(a->fd, buf, sizeof buf);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++) a->sum += (unsigned char)buf[i];
        a->n += (size_t)r;
    }
}
TEST(write_4mib_in_full_then_eof) {
    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    size_t n = 4u << 20;
    char *big = (char *)malloc(n);
    uint64_t want = 0;
    for (size_t i = 0; i < n; i++) { big[i] = (char)(i * 31 + 7); want += (unsigned char)big[i]; }
    reader_arg a = { sv[1], 0, 0 };
    csp_waitgroup wg; memset(&wg, 0, sizeof wg);
    csp_wg_go(&wg, slow_reader, &a);
    EXPECT_EQ(csp_write(sv[0], big, n), (ssize_t)n, "all of it");
    close(sv[0]);   /* the reader sees EOF */
    csp_wg_wait(&wg);
    EXPECT_EQ_U(a.n, n);
    EXPECT_EQ_U(a.sum, want);
    close(sv[1]);
    free(big);
}
TEST(errors_come_back_as_negative_errno) {
    char c = 0;
    EXPECT_EQ(csp_read(-1, &c, 1), -EBADF);
    EXPECT_EQ(errno, EBADF);
    int fds[2];
    REQUIRE_EQ(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    EXPECT_EQ(csp_write(fds[1], "x", 1), -EPIPE, "pipe with no reader");
    close(fds[1]);
    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    signal(SIGPIPE, SIG_DFL);   /* a socket must not raise it */
    ssize_t w = 0;
    for (int i = 0; i < 3 && w >= 0; i++) w = csp_write(sv[0], "xyz", 3);
    EXPECT_EQ(w, -EPIPE, "socket: -EPIPE, no SIGPIPE");
    close(sv[0]);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(1);   /* nobody listens on port 1 */
    EXPECT_EQ(csp_connect(s, (struct sockaddr *)&sa, sizeof sa), -ECONNREFUSED);
    close(s);
    EXPECT_EQ(csp_fd_wait(-5, CSP_READABLE, NULL), -EBADF);
}

/* ---- accept / connect over AF_UNIX and TCP ------------------------------------------ */
typedef struct { int lfd; int n; } acc_arg;
static void echo_conn(void *arg) {
    int fd = *(int *)arg;
    char buf[256];
    ssize_t r;
    while ((r = csp_read(fd, buf, sizeof buf)) > 0) if (csp_write(fd, buf, (size_t)r) != r) break;
    csp_fd_close(fd);
}
/* A TCP listener on 127.0.0.1 at an ephemeral port (*sa: its address), or
 * -1 (the failure reported). */
static int listen_tcp_loopback(struct sockaddr_in *sa, int backlog) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof *sa;
    bool ok = l >= 0 && bind(l, (struct sockaddr *)sa, sizeof *sa) == 0 &&
              getsockname(l, (struct sockaddr *)sa, &sl) == 0 && listen(l, backlog) == 0;
    EXPECT(ok, "a listener on 127.0.0.1: %s", strerror(errno));
    if (!ok && l >= 0) close(l);
    return ok ? l : -1;
}
static void acceptor(void *arg) {
    acc_arg a = *(acc_arg *)arg;   /* csp_go_copy'd: our own */
    for (int i = 0; i < a.n; i++) {
        int c = csp_accept(a.lfd, NULL, NULL);
        if (c < 0) break;
        csp_go_copy(echo_conn, &c, sizeof c);
    }
}
static int roundtrip(int fd, const char *msg) {
    size_t n = strlen(msg);
    if (csp_write(fd, msg, n) != (ssize_t)n) return 0;
    char buf[256];
    size_t got = 0;
    while (got < n) { ssize_t r = csp_read(fd, buf + got, sizeof buf - got); if (r <= 0) return 0; got += (size_t)r; }
    return memcmp(buf, msg, n) == 0;
}
TEST(accept_connect_unix_and_tcp) {
    /* AF_UNIX, abstract name */
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un su;
    memset(&su, 0, sizeof su);
    su.sun_family = AF_UNIX;
    snprintf(su.sun_path + 1, sizeof su.sun_path - 1, "csp-test-%d", (int)getpid());
    socklen_t sul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(su.sun_path + 1));
    REQUIRE_EQ(bind(l, (struct sockaddr *)&su, sul), 0);
    REQUIRE_EQ(listen(l, 16), 0);
    acc_arg a = { l, 3 };
    csp_go_copy(acceptor, &a, sizeof a);
    for (int i = 0; i < 3; i++) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        EXPECT_EQ(csp_connect(c, (struct sockaddr *)&su, sul), 0);
        EXPECT(roundtrip(c, "hello over unix"));
        csp_fd_close(c);
    }
    /* TCP on 127.0.0.1, an ephemeral port */
    struct sockaddr_in sa;
    int t = listen_tcp_loopback(&sa, 64);
    REQUIRE(t >= 0);
    acc_arg b = { t, 5 };
    csp_go_copy(acceptor, &b, sizeof b);
    for (int i = 0; i < 5; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_EQ(csp_connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
        EXPECT(roundtrip(c, "hello over tcp"));
        csp_fd_close(c);
    }
    csp_fd_close(l);
    csp_fd_close(t);
}

/* ---- csp_fd_wait with a context; csp_fd_close wakes waiters ------------------------ */
TEST(fd_wait_with_context) {
    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int64_t t0 = csp_now();
    csp_ctx *t = csp_ctx_with_timeout(NULL, 20 * MS);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, t), -ETIMEDOUT);
    EXPECT_GE(csp_now() - t0, 20 * MS);
    csp_ctx_release(t);
    csp_ctx *c = csp_ctx_with_cancel(NULL);
    csp_ctx_cancel(c);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, c), -ECANCELED);
    csp_ctx_release(c);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_WRITABLE, NULL), 0, "a socket with room is writable");
    if (write(sv[1], "z", 1) != 1) { EXPECT(0, "write"); }
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, NULL), 0);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE | CSP_WRITABLE, NULL), 0);
    int fl = fcntl(sv[0], F_GETFL);
    EXPECT(fl & O_NONBLOCK, "switched to non-blocking");
    close(sv[0]); close(sv[1]);
    char path[] = "/tmp/csp_poll_XXXXXX";
    int f = mkstemp(path);
    unlink(path);
    EXPECT_EQ(csp_fd_wait(f, CSP_READABLE, NULL), 0, "a regular file is always ready");
    EXPECT_EQ(csp_write(f, "abc", 3), 3);
    lseek(f, 0, SEEK_SET);
    char buf[4] = { 0 };
    EXPECT_EQ(csp_read(f, buf, 3), 3);
    EXPECT_STREQ(buf, "abc");
    close(f);
}
enum { CLOSE_READERS = 100 };
static int closed_rc[CLOSE_READERS];
static int close_fd;
static void wait_then_report(void *arg) {
    int i = (int)(intptr_t)arg;
    char c;
    closed_rc[i] = (int)csp_read(close_fd, &c, 1);
}
/* Issue #12: close of an fd with 100 waiting readers wakes all of them. */
TEST(fd_close_wakes_waiters_with_ebadf) {
    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close_fd = sv[0];
    csp_waitgroup wg; memset(&wg, 0, sizeof wg);
    for (int i = 0; i < CLOSE_READERS; i++) { closed_rc[i] = 1; csp_wg_go(&wg, wait_then_report, (void *)(intptr_t)i); }
    for (int64_t t0 = csp_now(); csp__load(&csp__sched.nwaitio, CSP__RELAXED) < CLOSE_READERS && csp_now() - t0 < 5 * CSP_SECOND;) csp_sleep(MS);
    EXPECT_EQ(csp__load(&csp__sched.nwaitio, CSP__RELAXED), (int64_t)CLOSE_READERS, "all readers parked on the fd");
    EXPECT_EQ(csp_fd_close(sv[0]), 0);
    csp_wg_wait(&wg);
    int bad = 0;
    for (int i = 0; i < CLOSE_READERS; i++) bad += closed_rc[i] != -EBADF;
    EXPECT_EQ(bad, 0, "readers that did not get -EBADF (first: %d)", closed_rc[0]);
    close(sv[1]);
}
/* A plain close(2), the number reused by a new pipe: no stale wake-up for
 * the new file, and waiting on it works (re-registration). */
TEST(fd_reuse_after_plain_close) {
    for (int round = 0; round < 50; round++) {
        int sv[2];
        REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        if (write(sv[1], "a", 1) != 1) { EXPECT(0); }
        char c;
        EXPECT_EQ(csp_read(sv[0], &c, 1), 1);   /* registered, an edge seen */
        if (write(sv[1], "b", 1) != 1) { EXPECT(0); }   /* another edge, unread */
        int old = sv[0];
        close(sv[0]); close(sv[1]);
        int p[2];
        REQUIRE_EQ(pipe(p), 0);
        int rfd = p[0] == old ? p[0] : p[1] == old ? p[1] : p[0];
        if (rfd != p[0]) { close(p[0]); close(p[1]); continue; }   /* number not reused this time */
        /* Nothing written to the new pipe: a read must wait (a stale edge
         * would make it return EAGAIN-and-spin or wake early). */
        csp_ctx *t = csp_ctx_with_timeout(NULL, 10 * MS);
        EXPECT_EQ(csp_fd_wait(p[0], CSP_READABLE, t), -ETIMEDOUT, "round %d: no stale wake-up", round);
        csp_ctx_release(t);
        if (write(p[1], "c", 1) != 1) { EXPECT(0); }
        EXPECT_EQ(csp_read(p[0], &c, 1), 1);
        EXPECT_EQ(c, 'c');
        close(p[0]); close(p[1]);
    }
}

/* The poller remembers which fds are sockets (one syscall per read or
 * write); a number reused by another kind of file after a plain close(2)
 * (dup2 here, to reuse it for certain) is looked at again. */
typedef struct kind_reader_arg { int fd; csp_chan *res; } kind_reader_arg;
static void kind_one_reader(void *arg) {
    kind_reader_arg *a = (kind_reader_arg *)arg;
    char c = 0;
    ssize_t r = csp_read(a->fd, &c, 1);
    int v = r == 1 ? c : (int)r;
    csp_send(a->res, &v);
}
TEST(fd_kind_relearnt_after_reuse) {
    int sv[2], p[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char c = 0;
    EXPECT_EQ(csp_write(sv[0], "s", 1), 1);
    EXPECT_EQ(csp_read(sv[1], &c, 1), 1);   /* both ends known as sockets now */
    EXPECT_EQ(c, 's');
    REQUIRE_EQ(pipe(p), 0);   /* a blocking pipe */
    REQUIRE_EQ(dup2(p[0], sv[1]), sv[1]);   /* sv[1] is now the pipe's read end */
    close(p[0]);
    if (write(p[1], "x", 1) != 1) { EXPECT(0); }
    EXPECT_EQ(csp_read(sv[1], &c, 1), 1, "a pipe under a socket's number");
    EXPECT_EQ(c, 'x');
    /* Nothing there: the read waits in the poller (non-blocking now). */
    csp_ctx *t = csp_ctx_with_timeout(NULL, 10 * MS);
    EXPECT_EQ(csp_fd_wait(sv[1], CSP_READABLE, t), -ETIMEDOUT);
    csp_ctx_release(t);
    int fl = fcntl(sv[1], F_GETFL);
    EXPECT(fl >= 0 && (fl & O_NONBLOCK), "switched to non-blocking");
    kind_reader_arg ra = { sv[1], csp_chan_make(sizeof(int), 0) };
    REQUIRE_EQ(csp_go(kind_one_reader, &ra), 0);
    EXPECT_EQ(csp_write(p[1], "y", 1), 1, "a pipe's write end (O_WRONLY)");
    int v = 0;
    csp_recv(ra.res, &v);
    EXPECT_EQ(v, 'y');
    csp_chan_release(ra.res);

    /* The other way: a pipe's write end, known, replaced by a socket whose
     * peer is gone: -EPIPE, and no SIGPIPE (it would end this process). */
    int q[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, q), 0);
    REQUIRE_EQ(dup2(q[0], p[1]), p[1]);
    close(q[0]);
    close(q[1]);
    EXPECT_EQ(csp_write(p[1], "z", 1), (ssize_t)-EPIPE);
    EXPECT_EQ(errno, EPIPE);
    csp_fd_close(p[1]);
    csp_fd_close(sv[0]);
    csp_fd_close(sv[1]);
}

/* A number that was waited on (registered), plain-closed and reused while
 * a goroutine waits on it: the wait trusts the old registration at first;
 * the poller's later check registers the new file, and the waiter gets its
 * data, with no spurious return meanwhile. */
TEST(reused_number_waited_on_is_rechecked) {
    for (int round = 0; round < 3; round++) {
        int sv[2], p[2];
        REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        kind_reader_arg ra = { sv[0], csp_chan_make(sizeof(int), 0) };
        REQUIRE_EQ(csp_go(kind_one_reader, &ra), 0);
        csp_sleep(5 * MS);   /* let it park (registers sv[0]); not needed for correctness */
        EXPECT_EQ(csp_write(sv[1], "a", 1), 1);
        int v = 0;
        csp_recv(ra.res, &v);
        EXPECT_EQ(v, 'a');
        /* sv[0]'s number now holds a pipe's read end (plain close by dup2). */
        REQUIRE_EQ(pipe(p), 0);
        REQUIRE_EQ(dup2(p[0], sv[0]), sv[0]);
        close(p[0]);
        close(sv[1]);
        if (round == 0) {   /* csp_fd_wait: times out, never returns early */
            int64_t t0 = csp_now();   /* before the deadline is set from the clock */
            csp_ctx *t = csp_ctx_with_timeout(NULL, 60 * MS);
            EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, t), -ETIMEDOUT);
            EXPECT_GE(csp_now() - t0, 60 * MS);
            csp_ctx_release(t);
        }
        REQUIRE_EQ(csp_go(kind_one_reader, &ra), 0);
        csp_sleep(30 * MS);   /* proving a "not": no early return */
        EXPECT(!csp_try_recv(ra.res, &v, NULL), "round %d: the reader returned with nothing written", round);
        if (write(p[1], "b", 1) != 1) { EXPECT(0); }
        csp_case sc[1] = { CSP_RECV(ra.res, &v) };
        EXPECT_EQ(csp_select(sc, 1, 5000 * MS), 0, "round %d: the reader got its data", round);
        EXPECT_EQ(v, 'b');
        csp_chan_release(ra.res);
        csp_fd_close(sv[0]);
        close(p[1]);
    }
}

/* A known pipe's number reused by a regular file or an eventfd (neither
 * takes the pipe's path): csp_read reads them as what they are. */
TEST(pipe_number_reused_by_a_file_or_eventfd) {
    int p[2];
    REQUIRE_EQ(pipe(p), 0);
    char c = 0;
    EXPECT_EQ(csp_write(p[1], "q", 1), 1);
    EXPECT_EQ(csp_read(p[0], &c, 1), 1);   /* p[0] known as a pipe */
    EXPECT_EQ(c, 'q');
    char path[] = "/tmp/csp_test_poll_XXXXXX";
    int f = mkstemp(path);
    REQUIRE(f >= 0);
    unlink(path);
    if (write(f, "file", 4) != 4) { EXPECT(0); }
    REQUIRE_EQ(lseek(f, 0, SEEK_SET), 0);
    REQUIRE_EQ(dup2(f, p[0]), p[0]);
    close(f);
    char buf[8] = { 0 };
    EXPECT_EQ(csp_read(p[0], buf, sizeof buf), 4, "a regular file under a pipe's number");
    EXPECT(memcmp(buf, "file", 4) == 0);
    EXPECT_EQ(csp_read(p[0], buf, sizeof buf), 0, "its end");
    int e = eventfd(0, EFD_NONBLOCK);
    REQUIRE(e >= 0);
    REQUIRE_EQ(dup2(e, p[0]), p[0]);
    close(e);
    uint64_t one = 7, got = 0;
    if (write(p[0], &one, sizeof one) != (ssize_t)sizeof one) { EXPECT(0); }
    EXPECT_EQ(csp_read(p[0], &got, sizeof got), (ssize_t)sizeof got, "an eventfd under the number");
    EXPECT_EQ(got, 7u);
    csp_fd_close(p[0]);
    close(p[1]);
}

/* csp_fd_wait has level semantics: data already buffered is "readable"
 * (an echo loop of fd_wait + a short read must not stall on the rest), an
 * old edge whose data is gone is not, and READABLE|WRITABLE wakes on either. */
TEST(fd_wait_sees_data_already_buffered) {
    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char buf[1000];
    memset(buf, 'd', sizeof buf);
    EXPECT_EQ(csp_write(sv[1], buf, sizeof buf), (ssize_t)sizeof buf);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, NULL), 0);
    EXPECT_EQ(csp_read(sv[0], buf, 512), 512);
    csp_ctx *t = csp_ctx_with_timeout(NULL, 2000 * MS);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, t), 0, "488 bytes are still there");
    csp_ctx_release(t);
    EXPECT_EQ(csp_read(sv[0], buf, sizeof buf), 488);
    csp_fd_close(sv[0]);
    csp_fd_close(sv[1]);
}
TEST(fd_wait_ignores_an_edge_whose_data_is_gone) {
    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    csp_ctx *t = csp_ctx_with_timeout(NULL, 20 * MS);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, t), -ETIMEDOUT);   /* registered now */
    csp_ctx_release(t);
    if (write(sv[1], "e", 1) != 1) { EXPECT(0); }   /* an edge nobody waits for */
    char c;
    EXPECT_EQ(recv(sv[0], &c, 1, MSG_DONTWAIT), 1);   /* its data taken behind the poller's back */
    int64_t t0 = csp_now();   /* before the deadline is set from the clock */
    t = csp_ctx_with_timeout(NULL, 100 * MS);
    EXPECT_EQ(csp_fd_wait(sv[0], CSP_READABLE, t), -ETIMEDOUT, "nothing to read: no wake-up");
    EXPECT_GE(csp_now() - t0, 100 * MS);
    csp_ctx_release(t);
    csp_fd_close(sv[0]);
    csp_fd_close(sv[1]);
}
typedef struct drain_arg { int fd; csp_waitgroup wg; } drain_arg;
static void drain_later(void *arg) {
    drain_arg *a = (drain_arg *)arg;
    char buf[65536];
    csp_sleep(50 * MS);   /* not needed for correctness: the wait may begin before or after */
    while (recv(a->fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {}
    csp_wg_done(&a->wg);
}
TEST(fd_wait_either_direction_wakes_on_writable) {
    for (int events = CSP_WRITABLE; events <= (CSP_READABLE | CSP_WRITABLE); events |= CSP_READABLE) {
        int sv[2];
        REQUIRE_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        char buf[4096] = { 0 };
        REQUIRE_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        while (send(sv[0], buf, sizeof buf, MSG_DONTWAIT) > 0) {}   /* full */
        EXPECT(errno == EAGAIN || errno == EWOULDBLOCK);
        drain_arg da = { sv[1], { 0 } };
        csp_wg_add(&da.wg, 1);
        REQUIRE_EQ(csp_go(drain_later, &da), 0);
        csp_ctx *t = csp_ctx_with_timeout(NULL, 5000 * MS);
        EXPECT_EQ(csp_fd_wait(sv[0], events, t), 0, "events %d: writable once the peer drained", events);
        csp_ctx_release(t);
        csp_wg_wait(&da.wg);
        csp_fd_close(sv[0]);
        csp_fd_close(sv[1]);
        if (events == (CSP_READABLE | CSP_WRITABLE)) break;
    }
}

/* TCP reads that drained the socket skip the next recv (TCP_INQ) and wait
 * for the poller: data that comes later must wake them, and an end of file
 * that came with the last data (no edge of its own) must not be slept
 * through. A pair of connected TCP sockets on 127.0.0.1. */
static void tcp_pair(int sv[2]) {
    struct sockaddr_in sa;
    int l = listen_tcp_loopback(&sa, 4);
    REQUIRE(l >= 0);
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE_EQ(csp_connect(sv[0], (struct sockaddr *)&sa, sizeof sa), 0);
    sv[1] = csp_accept(l, NULL, NULL);
    REQUIRE(sv[1] >= 0);
    close(l);
    int one = 1;
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
typedef struct drained_arg { int fd; csp_chan *res; } drained_arg;
static void drained_reader(void *arg) {   /* echoes every byte but 'Z'; counts to the end */
    drained_arg *a = (drained_arg *)arg;
    int got = 0;
    char c;
    ssize_t r;
    while ((r = csp_read(a->fd, &c, 1)) == 1) {
        got++;
        if (c != 'Z' && csp_write(a->fd, &c, 1) != 1) { r = -1; break; }
    }
    int v = r == 0 ? got : -1;
    csp_send(a->res, &v);
}
TEST(tcp_drained_reads_wait_for_later_data_and_see_the_end) {
    for (int round = 0; round < T_COUNT(100, 20); round++) {
        int sv[2] = { -1, -1 };
        tcp_pair(sv);
        drained_arg a = { sv[1], csp_chan_make(sizeof(int), 0) };
        REQUIRE_EQ(csp_go(drained_reader, &a), 0);
        enum { ROUNDS = 20 };
        for (int i = 0; i < ROUNDS; i++) {   /* each of the reader's reads drains the socket */
            char c = (char)('a' + i), back = 0;
            EXPECT_EQ(csp_write(sv[0], &c, 1), 1);
            EXPECT_EQ(csp_read(sv[0], &back, 1), 1);
            EXPECT_EQ(back, c);
        }
        /* The end alone, or a last byte with the end right behind it. */
        if (round % 2) { char c = 'Z'; EXPECT_EQ(write(sv[0], &c, 1), 1); }
        shutdown(sv[0], SHUT_WR);
        int v = 0;
        csp_case k[1] = { CSP_RECV(a.res, &v) };
        int r = csp_select(k, 1, 10000 * MS);
        EXPECT_EQ(r, 0, "round %d: the reader saw the end of file", round);
        if (r != 0) break;   /* it still uses a.res */
        EXPECT_EQ(v, ROUNDS + round % 2, "round %d: bytes read before the end", round);
        csp_chan_release(a.res);
        csp_fd_close(sv[0]);
        csp_fd_close(sv[1]);
    }
}

/* EMFILE on accept does not end the listener: csp_accept reports -EMFILE
 * (errno EMFILE), the connection waits in the backlog, and once an fd is
 * free the same listener accepts it. In a child: it lowers its fd limit. */
/* A child with a limit of 64 fds takes every free one (dup of 0) into fds;
 * *nf of them. Each must give them back before exiting: LeakSanitizer's
 * exit check needs fds. */
static void take_every_fd(int fds[64], int *nf) {
    struct rlimit rl = { 64, 64 };
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) exit(9);
    *nf = 0;
    for (;;) { int d = dup(0); if (d < 0) break; fds[(*nf)++] = d; }
}
CHILD(accept_emfile_then_recover) {
    struct sockaddr_in sa;
    int l = listen_tcp_loopback(&sa, 8);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || c < 0 || csp_connect(c, (struct sockaddr *)&sa, sizeof sa) != 0) exit(8);
    int fds[64], nf;
    take_every_fd(fds, &nf);
    int r = csp_accept(l, NULL, NULL);
    printf("accept: %s errno %s\n", r == -EMFILE ? "-EMFILE" : "other", errno == EMFILE ? "EMFILE" : "other");
    close(fds[--nf]);
    r = csp_accept(l, NULL, NULL);
    printf("then: %s\n", r >= 0 ? "accepted" : strerror(-r));
    if (r >= 0 && csp_write(c, "e", 1) == 1) {
        char ch = 0;
        ssize_t got = csp_read(r, &ch, 1);
        printf("read: %zd %c\n", got, ch);
    }
    fflush(stdout);
    while (nf > 0) close(fds[--nf]);   /* LeakSanitizer's exit check needs fds */
}
TEST(accept_emfile_then_recover) {
    csp_test_child r = RUN_CHILD(accept_emfile_then_recover, 20000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "accept: -EMFILE errno EMFILE\nthen: accepted\nread: 1 e\n");
    csp_test_child_free(&r);
}

/* Out of fds before the poller ever started (it needs two): the wait fails
 * with -EMFILE instead of killing the process, and the poller starts at a
 * later wait, once fds are free. In a child: it lowers its fd limit. */
static void late_write(void *arg) { csp_sleep(20 * MS); if (write(*(int *)arg, "x", 1) != 1) {} }
CHILD(poller_start_emfile_then_recover) {
    static int p[2];
    if (pipe(p) != 0) exit(8);
    int fds[64], nf;
    take_every_fd(fds, &nf);
    char c = 0;
    ssize_t r = csp_read(p[0], &c, 1);
    printf("first: %s\n", r == -EMFILE ? "-EMFILE" : "other");
    for (int i = 0; i < 8 && nf > 0; i++) close(fds[--nf]);
    csp_go(late_write, &p[1]);
    r = csp_read(p[0], &c, 1);
    printf("then: %zd %c\n", r, c);
    fflush(stdout);
    while (nf > 0) close(fds[--nf]);   /* LeakSanitizer's exit check needs fds */
}
TEST(poller_start_emfile_then_recover) {
    csp_test_child r = RUN_CHILD(poller_start_emfile_then_recover, 20000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "first: -EMFILE\nthen: 1 x\n");
    csp_test_child_free(&r);
}

/* ---- deadlock rules ------------------------------------------------------------------ */
static void *late_writer(void *arg) { int fd = *(int *)arg; usleep(150000); if (write(fd, "w", 1) != 1) {} return NULL; }
CHILD(io_wait_is_not_a_deadlock) {
    static int p[2];
    if (pipe(p) != 0) exit(9);
    /* The writer is a plain thread that never calls the runtime: only the
     * fd wait keeps the detector quiet. */
    pthread_t th;
    pthread_create(&th, NULL, late_writer, &p[1]);
    char c = 0;
    ssize_t r = csp_read(p[0], &c, 1);
    printf("read %zd %c\n", r, c);
    fflush(stdout);
    pthread_join(th, NULL);
}
TEST(io_wait_is_not_a_deadlock) {
    csp_test_child r = RUN_CHILD(io_wait_is_not_a_deadlock, 20000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "read 1 w");
    csp_test_child_free(&r);
}

/* ---- many connections held open by many goroutines -------------------------------- */
static int bump_nofile(long want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = (rlim_t)want < rl.rlim_max ? (rlim_t)want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur >= want;
}
static int nconns;
static struct sockaddr_in many_addr;
CHILD(many_clients) {   /* the clients live in their own process (fd limits) */
    int n = atoi(getenv("CSP_TEST_NCONN"));
    if (!bump_nofile(n + 64)) exit(7);
    int *fds = (int *)calloc((size_t)n, sizeof(int));
    const char *port = getenv("CSP_TEST_PORT");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)atoi(port));
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || csp_connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0) { printf("connect %d failed\n", i); exit(6); }
    }
    /* Every connection gets a byte and waits for the echo: all concurrently held. */
    for (int i = 0; i < n; i++) if (csp_write(fds[i], "k", 1) != 1) exit(5);
    int ok = 0;
    for (int i = 0; i < n; i++) { char c; if (csp_read(fds[i], &c, 1) == 1 && c == 'k') ok++; }
    printf("clients ok %d\n", ok);
    fflush(stdout);
    for (int i = 0; i < n; i++) close(fds[i]);
    free(fds);
}
static csp_waitgroup held_wg;
static int held_open, held_max;
static void holder(void *arg) {
    int fd = *(int *)arg;
    int h = __atomic_add_fetch(&held_open, 1, __ATOMIC_RELAXED);
    int m = __atomic_load_n(&held_max, __ATOMIC_RELAXED);
    while (h > m && !__atomic_compare_exchange_n(&held_max, &m, h, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    char c;
    if (csp_read(fd, &c, 1) == 1) csp_write(fd, &c, 1);
    char d;
    csp_read(fd, &d, 1);   /* EOF when the client closes */
    __atomic_sub_fetch(&held_open, 1, __ATOMIC_RELAXED);
    csp_fd_close(fd);
    csp_wg_done(&held_wg);
}
static void many_acceptor(void *arg) {
    int l = *(int *)arg;
    for (int i = 0; i < nconns; i++) {
        int c = csp_accept(l, NULL, NULL);
        if (c < 0) break;
        csp_wg_add(&held_wg, 1);
        csp_go_copy(holder, &c, sizeof c);
    }
}
TEST(ten_thousand_connections) {
    nconns = T_COUNT(10000, 1000);
    REQUIRE(bump_nofile(nconns + 64), "RLIMIT_NOFILE for %d connections", nconns);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&many_addr, 0, sizeof many_addr);
    many_addr.sin_family = AF_INET;
    many_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE_EQ(bind(l, (struct sockaddr *)&many_addr, sizeof many_addr), 0);
    socklen_t sl = sizeof many_addr;
    getsockname(l, (struct sockaddr *)&many_addr, &sl);
    REQUIRE_EQ(listen(l, 4096), 0);
    csp_go_copy(many_acceptor, &l, sizeof l);
    char nv[64], pv[64];
    snprintf(nv, sizeof nv, "CSP_TEST_NCONN=%d", nconns);
    snprintf(pv, sizeof pv, "CSP_TEST_PORT=%d", ntohs(many_addr.sin_port));
    csp_block_begin();   /* waitpid inside the runner blocks this thread */
    csp_test_child r = RUN_CHILD_ENV(many_clients, 120000, nv, pv);
    csp_block_end();
    char want[64];
    snprintf(want, sizeof want, "clients ok %d", nconns);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, want);
    csp_test_child_free(&r);
    csp_wg_wait(&held_wg);
    printf("    %d connections held by %d goroutines at once (max seen)\n", nconns, held_max);
    EXPECT_GE(held_max, nconns / 2, "held open concurrently");
    csp_fd_close(l);
}
