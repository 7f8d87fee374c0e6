/* test_servers.c -- the two example servers tested for real (issue #8):
 * examples/70_echo_server and examples/71_http_backpressure, started with
 * --serve as processes on 127.0.0.1 (an ephemeral port, read from their first
 * line), driven by curl and by a bounded HTTP load generator written here with
 * csp.h (http_load: C connections x R keep-alive requests, each under a
 * context deadline, the whole run under one too).
 *
 * What is asserted: 71 answers 200 with its body, keeps connections alive,
 * answers 400 to bad requests and survives them; under overload (every token
 * held by /slow requests waiting on the server's gate, which the test opens
 * with /open once /stats says they all wait there) every other request gets
 * 429 at once, and the slow ones get 200 when the gate opens; without
 * overload (concurrency <= tokens) not one 429 and not one error in thousands
 * of requests. 70 echoes; closes an idle client no earlier than its idle
 * timeout while an active one stays; on SIGTERM stops accepting, serves its
 * open connections to their end and exits 0.
 *
 * The binaries are those `make test` builds into build/examples/ (env
 * CSP_EXAMPLES_DIR, as for test_examples.c); without it (the other matrices, or
 * a run by hand) every test is SKIPPED, visibly; by hand:
 *     make build/gcc/test_servers build/examples/70_echo_server build/examples/71_http_backpressure
 *     CSP_EXAMPLES_DIR=build/examples build/gcc/test_servers
 * The curl tests need /usr/bin/curl (else SKIPPED). A server runs in a process
 * group of its own, under CSP_TEST_EXEC_WRAPPER if set, with PR_SET_PDEATHSIG
 * (it dies with this process); at the end of each test, and on every failure,
 * its group is killed. Every wait has a deadline; nothing sleeps to
 * synchronise (conditions are polled until a deadline). Loopback only. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define MS CSP_MILLISECOND
#define CURL "/usr/bin/curl"

enum {
    START_TIMEOUT_MS = 10000,   /* until a server has printed its port */
    EXIT_TIMEOUT_MS = 10000,    /* until a server (or curl) has exited */
    REQ_TIMEOUT_MS = 5000,      /* one HTTP request, one echo */
    PROC_MAX = 16,
};

/* A check that also marks the test failed, so that the server's output is shown. */
static int failed;
static int noted(int ok) { if (!ok) failed = 1; return ok; }
#define CHECK(...) noted(EXPECT(__VA_ARGS__))
#define MUST(...) do { if (!CHECK(__VA_ARGS__)) return; } while (0)

/* ---- child processes ---------------------------------------------------------------- */

typedef struct proc {
    const char *label;
    pid_t pid;                 /* its process group too */
    int out;                   /* read end of its stdout+stderr (non-blocking); -1 at EOF */
    char *buf;                 /* its output so far, NUL-terminated */
    size_t len, cap;
    int reaped, status;        /* waitpid's status once reaped */
} proc;

static proc *live[PROC_MAX];   /* started, not reaped */

static void live_add(proc *p) {
    for (int i = 0; i < PROC_MAX; i++) if (!live[i]) { live[i] = p; return; }
}
static void live_drop(proc *p) {
    for (int i = 0; i < PROC_MAX; i++) if (live[i] == p) live[i] = NULL;
}
static void kill_live_at_exit(void) {
    for (int i = 0; i < PROC_MAX; i++) if (live[i] && !live[i]->reaped) kill(-live[i]->pid, SIGKILL);
}

static void buf_add(proc *p, const char *s, size_t n) {   /* csp_test.h's string builder */
    struct csp_test_sb_ b = { p->buf, p->len, p->cap };
    csp_test_sb_add_(&b, s, n);
    p->buf = b.p;
    p->len = b.len;
    p->cap = b.cap;
}

/* The file a command word names: itself if it has a '/', else found in PATH. */
static char *find_program(const char *w) {
    if (strchr(w, '/')) return strdup(w);
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    for (const char *d = path; *d;) {
        size_t n = strcspn(d, ":");
        char *f = malloc(n + strlen(w) + 2);
        if (!f) return NULL;
        snprintf(f, n + strlen(w) + 2, "%.*s/%s", (int)n, d, w);
        if (access(f, X_OK) == 0) return f;
        free(f);
        d += n;
        if (*d == ':') d++;
    }
    return NULL;
}

/* The goroutine that forks must stay on one thread: PR_SET_PDEATHSIG fires when
 * the thread that forked ends. Only main forks; locked, its thread lives on. */
static void pin_main(void) {
    static int pinned;
    if (!pinned) { csp_lock_os_thread(); pinned = 1; atexit(kill_live_at_exit); }
}

/* Starts argv (NULL-terminated) as p: [CSP_TEST_EXEC_WRAPPER...] argv... if
 * `wrapped`, in a process group of its own, stdin /dev/null, stdout and stderr
 * into one pipe, every signal at its default and none blocked. 0 or -errno. */
static int proc_start(proc *p, const char *label, const char *const *argv_in, int wrapped) {
    static const char *const drop[] = { "CSP_SEED", "CSP_SEED_VIRTUAL_TIME", "CSP_MAXPROCS", NULL };
    const char *wrapper = wrapped ? getenv("CSP_TEST_EXEC_WRAPPER") : NULL;
    char *words = wrapper && *wrapper ? strdup(wrapper) : NULL, *save = NULL;
    size_t n = 0, nenv = 0, k = 0, nwords = 0;
    while (argv_in[n]) n++;
    while (environ[nenv]) nenv++;
    for (const char *w = words; w && *w; w++) nwords += *w != ' ' && *w != '\t' && (w == words || w[-1] == ' ' || w[-1] == '\t');
    char **argv = calloc(nwords + n + 1, sizeof *argv);
    char **envp = calloc(nenv + 1, sizeof *envp);
    memset(p, 0, sizeof *p);
    p->label = label;
    p->out = -1;
    p->pid = -1;
    buf_add(p, "", 0);
    if (!argv || !envp) { free(argv); free(envp); free(words); return -ENOMEM; }
    if (words)
        for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) argv[k++] = w;
    for (size_t i = 0; i < n; i++) argv[k++] = (char *)argv_in[i];
    argv[k] = NULL;
    k = 0;
    for (size_t i = 0; i < nenv; i++) {
        int dropped = 0;
        for (int j = 0; drop[j]; j++) {
            size_t l = strlen(drop[j]);
            dropped |= strncmp(environ[i], drop[j], l) == 0 && environ[i][l] == '=';
        }
        if (!dropped) envp[k++] = environ[i];
    }
    envp[k] = NULL;
    char *file = find_program(argv[0]);
    int fds[2], rc = 0;
    if (!file) rc = -ENOENT;
    else if (pipe2(fds, O_CLOEXEC) != 0) rc = -errno;
    if (rc == 0) {
        pin_main();
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigset_t none;
        sigemptyset(&none);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {   /* async-signal-safe calls only, up to exec */
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(127);
            int nul = open("/dev/null", O_RDONLY);
            if (nul < 0 || dup2(nul, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0) _exit(127);
            for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
            sigprocmask(SIG_SETMASK, &none, NULL);
            execve(file, argv, envp);
            static const char msg[] = "test_servers: exec failed\n";
            if (write(2, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
            _exit(127);
        }
        if (pid < 0) {
            rc = -errno;
            close(fds[0]);
        } else {
            setpgid(pid, pid);   /* also here: no race with a kill(-pid) */
            p->pid = pid;
            p->out = fds[0];
            fcntl(p->out, F_SETFL, fcntl(p->out, F_GETFL) | O_NONBLOCK);
            live_add(p);
        }
        close(fds[1]);
    }
    free(file);
    free(argv);
    free(envp);
    free(words);
    return rc;
}

/* Reaps p if it has ended (without waiting). */
static void proc_poll_exit(proc *p) {
    if (p->reaped || p->pid <= 0) return;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) { p->reaped = 1; p->status = st; live_drop(p); }
}

/* Reads what p has written, waiting up to `wait` ns for something. */
static void proc_pump(proc *p, int64_t wait) {
    if (p->out >= 0 && wait > 0) {
        csp_ctx *ctx = csp_ctx_with_timeout(NULL, wait);
        csp_fd_wait(p->out, CSP_READABLE, ctx);   /* a hint: the reads below say */
        csp_ctx_release(ctx);
    }
    while (p->out >= 0) {
        char tmp[4096];
        ssize_t r = read(p->out, tmp, sizeof tmp);
        if (r > 0) { buf_add(p, tmp, (size_t)r); continue; }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        csp_fd_close(p->out);   /* EOF (or an error) */
        p->out = -1;
    }
    proc_poll_exit(p);
}

/* Until p's output has `needle`: true, or false at the deadline or when p ends. */
static bool proc_wait_output(proc *p, const char *needle, int timeout_ms) {
    int64_t deadline = csp_now() + timeout_ms * MS;
    for (;;) {
        if (strstr(p->buf, needle)) return true;
        if (p->out < 0 || csp_now() >= deadline) return false;
        proc_pump(p, deadline - csp_now());
    }
}

/* Until p has exited (its output read to the end): true, or false at the deadline. */
static bool proc_wait_exit(proc *p, int timeout_ms) {
    int64_t deadline = csp_now() + timeout_ms * MS;
    for (;;) {
        proc_pump(p, p->out >= 0 ? deadline - csp_now() : 0);
        if (p->reaped && p->out < 0) return true;
        if (csp_now() >= deadline) return false;
        if (p->out < 0) csp_sleep(MS);   /* EOF seen: polling for the exit status */
    }
}
static bool proc_exited_with(const proc *p, int code) {
    return p->reaped && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code;
}

/* Kills p's group (if it still runs), reaps it, reads the rest of its output. */
static void proc_end(proc *p) {
    if (p->pid > 0 && !p->reaped) {
        kill(-p->pid, SIGKILL);
        int st;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {}
        p->reaped = 1;
        p->status = st;
        live_drop(p);
    }
    for (int i = 0; i < 100 && p->out >= 0; i++) proc_pump(p, 10 * MS);
    if (p->out >= 0) { csp_fd_close(p->out); p->out = -1; }
}
static void proc_show(const proc *p) {
    printf("    output of %s (pid %d):\n", p->label, (int)p->pid);
    for (const char *s = p->buf; *s;) {
        size_t n = strcspn(s, "\n");
        printf("    | %.*s\n", (int)n, s);
        s += n + (s[n] == '\n');
    }
    if (!*p->buf) printf("    | (none)\n");
    fflush(stdout);
}
static void proc_free(proc *p) {
    proc_end(p);
    free(p->buf);
    p->buf = NULL;
}

/* ---- the servers ---------------------------------------------------------------------- */

typedef struct {
    proc p;
    int port;
    struct sockaddr_in addr;
    char url[64];   /* http://127.0.0.1:PORT */
} server;

/* Starts $CSP_EXAMPLES_DIR/NAME --serve ARGS... (under `prlimit --nofile=N:N`
 * if nofile > 0) and reads its port from its first line ("... on
 * 127.0.0.1:PORT ..."). */
#define PRLIMIT "/usr/bin/prlimit"
static bool server_start_limited(server *s, const char *dir, const char *name, const char *args, int nofile) {
    char path[4096], words[256], lim[32];
    const char *argv[18];
    int n = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(words, sizeof words, "%s", args);
    if (nofile > 0) {
        snprintf(lim, sizeof lim, "--nofile=%d:%d", nofile, nofile);
        argv[n++] = PRLIMIT;
        argv[n++] = lim;
    }
    argv[n++] = path;
    argv[n++] = "--serve";
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w && n < 17; w = strtok_r(NULL, " ", &save)) argv[n++] = w;
    argv[n] = NULL;
    memset(s, 0, sizeof *s);
    int rc = proc_start(&s->p, name, argv, 1);
    if (!CHECK(rc == 0, "cannot start %s: %s", path, strerror(-rc))) return false;
    if (!CHECK(proc_wait_output(&s->p, "\n", START_TIMEOUT_MS), "%s printed no first line in %d ms", name, START_TIMEOUT_MS))
        return false;
    const char *at = strstr(s->p.buf, "127.0.0.1:");
    if (!CHECK(at && sscanf(at, "127.0.0.1:%d", &s->port) == 1 && s->port > 0 && s->port < 65536,
               "no 127.0.0.1:PORT in %s's first line", name))
        return false;
    s->addr.sin_family = AF_INET;
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->addr.sin_port = htons((uint16_t)s->port);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return true;
}
static bool server_start(server *s, const char *dir, const char *name, const char *args) {
    return server_start_limited(s, dir, name, args, 0);
}

#define SKIP_MESSAGE                                                                      \
    "env CSP_EXAMPLES_DIR is not set: `make test` builds the example servers and runs "  \
    "them (by hand: make build/examples/70_echo_server build/examples/71_http_backpressure " \
    "build/gcc/test_servers, then CSP_EXAMPLES_DIR=build/examples build/gcc/test_servers)"

/* SERVER_TEST(name, example, args) { body with `server *s` }: the body runs with
 * the example started (--serve args); afterwards the server's group is killed
 * (and its output shown if a check failed). */
#define SERVER_TEST(name, example, args)                                                  \
    static void name##_body(server *s);                                                   \
    TEST(name) {                                                                          \
        static server srv;                                                                \
        const char *dir = getenv("CSP_EXAMPLES_DIR");                                     \
        if (!dir || !*dir) SKIP(SKIP_MESSAGE);                                            \
        failed = 0;                                                                       \
        if (server_start(&srv, dir, example, args)) name##_body(&srv);                    \
        proc_end(&srv.p);                                                                 \
        if (failed) proc_show(&srv.p);                                                    \
        proc_free(&srv.p);                                                                \
    }                                                                                     \
    static void name##_body(server *s)

#define NEED_CURL()                                                                       \
    do {                                                                                  \
        if (access(CURL, X_OK) != 0)                                                      \
            SKIP("%s is missing (apt-get install curl): the curl tests need it", CURL);   \
    } while (0)

/* ---- curl ------------------------------------------------------------------------------- */

/* Runs curl ARGS... (no config file, no proxy, silent) to its end; its output
 * in c->buf. */
static bool curl_run(proc *c, const char *const *args) {
    const char *argv[24] = { CURL, "-q", "-s", "-S", "--noproxy", "*", "--max-time", "20" };
    int n = 8;
    for (int i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
    argv[n] = NULL;
    int rc = proc_start(c, "curl", argv, 0);
    if (!CHECK(rc == 0, "cannot start curl: %s", strerror(-rc))) return false;
    return true;
}
static bool curl_finish(proc *c) {
    bool done = proc_wait_exit(c, 30000);
    CHECK(done, "curl did not end in 30 s");
    proc_end(c);
    return done && CHECK(proc_exited_with(c, 0), "curl did not exit 0 (status 0x%x): %s", c->status, c->buf);
}
/* curl ARGS... run to its end: its output (malloc'd, "" on failure). */
static char *curl(const char *const *args) {
    proc c;
    char *out = NULL;
    if (curl_run(&c, args)) {
        curl_finish(&c);
        out = c.buf;
        c.buf = NULL;
    }
    proc_free(&c);
    return out ? out : strdup("");
}
#define CURL_OUT(...) curl((const char *const[]){ __VA_ARGS__, NULL })

/* ---- an HTTP/1.1 client with deadlines ---------------------------------------------- */

/* Connects to a (with ctx's deadline): a non-blocking fd, or -errno. */
static int dial(const struct sockaddr_in *a, csp_ctx *ctx) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) == 0) return fd;
    int rc = -errno;
    while (rc == -EINPROGRESS || rc == -EALREADY) {
        rc = csp_fd_wait(fd, CSP_WRITABLE, ctx);
        if (rc < 0) break;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) { rc = -errno; break; }
        if (err) { rc = -err; break; }
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) return fd;
        rc = errno == ENOTCONN ? -EINPROGRESS : -errno;   /* not yet: wait again */
    }
    csp_fd_close(fd);
    return rc;
}

/* Sends all of p (with ctx's deadline): 0 or -errno. */
static int send_all(int fd, const void *p, size_t n, csp_ctx *ctx) {
    const char *s = (const char *)p;
    while (n > 0) {
        ssize_t r = send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) { s += r; n -= (size_t)r; continue; }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = csp_fd_wait(fd, CSP_WRITABLE, ctx);
            if (rc < 0) return rc;
            continue;
        }
        return r < 0 ? -errno : -EIO;
    }
    return 0;
}
static int send_str(int fd, const char *s, csp_ctx *ctx) { return send_all(fd, s, strlen(s), ctx); }

/* Receives into buf[0..max): the count, 0 at EOF, or -errno (-ETIMEDOUT: ctx's
 * deadline). The system call first, then the wait: csp_fd_wait's readiness is
 * a hint. */
static ssize_t recv_some(int fd, void *buf, size_t max, csp_ctx *ctx) {
    for (;;) {
        ssize_t r = recv(fd, buf, max, MSG_DONTWAIT);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int rc = csp_fd_wait(fd, CSP_READABLE, ctx);
        if (rc < 0) return rc;
    }
}

typedef struct {
    int fd;
    size_t have;          /* bytes in buf not yet consumed */
    char buf[8192];
} hconn;

typedef struct {
    int code;             /* the status */
    int keep;             /* the connection stays open (HTTP/1.1 without Connection: close) */
    size_t len;           /* Content-Length */
    char body[512];       /* its first bytes, NUL-terminated */
} hresp;

/* The value of header `name` in head[0..n) (without case), into out; false if none. */
static bool header_value(const char *head, size_t n, const char *name, char *out, size_t max) {
    size_t nl = strlen(name);
    const char *p = memmem(head, n, "\r\n", 2), *end = head + n;
    while (p && p + 2 < end) {
        p += 2;
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && *v == ' ') v++;
            snprintf(out, max, "%.*s", (int)(eol - v), v);
            return true;
        }
        p = eol;
    }
    return false;
}

/* Reads one response from c: 0, or -errno (-EPROTO: not HTTP; -ECONNRESET: EOF
 * before its end; -ETIMEDOUT: ctx's deadline). */
static int read_response(hconn *c, hresp *r, csp_ctx *ctx) {
    char *end;
    memset(r, 0, sizeof *r);
    while (!(end = memmem(c->buf, c->have, "\r\n\r\n", 4))) {
        if (c->have == sizeof c->buf) return -EPROTO;
        ssize_t n = recv_some(c->fd, c->buf + c->have, sizeof c->buf - c->have, ctx);
        if (n < 0) return (int)n;
        if (n == 0) return -ECONNRESET;
        c->have += (size_t)n;
    }
    size_t hlen = (size_t)(end - c->buf) + 4;
    int minor = -1;
    char v[64];
    if (sscanf(c->buf, "HTTP/1.%d %d ", &minor, &r->code) != 2) return -EPROTO;
    if (header_value(c->buf, hlen - 2, "Content-Length", v, sizeof v)) r->len = (size_t)strtoul(v, NULL, 10);
    bool close_it = header_value(c->buf, hlen - 2, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0;
    r->keep = minor == 1 && !close_it;
    if (r->len > sizeof c->buf - hlen) return -EPROTO;
    while (c->have < hlen + r->len) {
        ssize_t n = recv_some(c->fd, c->buf + c->have, sizeof c->buf - c->have, ctx);
        if (n < 0) return (int)n;
        if (n == 0) return -ECONNRESET;
        c->have += (size_t)n;
    }
    size_t keep = r->len < sizeof r->body - 1 ? r->len : sizeof r->body - 1;
    memcpy(r->body, c->buf + hlen, keep);
    r->body[keep] = '\0';
    c->have -= hlen + r->len;
    memmove(c->buf, c->buf + hlen + r->len, c->have);
    return 0;
}

static int hconn_open(hconn *c, const server *s, csp_ctx *ctx) {
    c->have = 0;
    c->fd = dial(&s->addr, ctx);
    return c->fd < 0 ? c->fd : 0;
}
static void hconn_close(hconn *c) {
    if (c->fd >= 0) csp_fd_close(c->fd);
    c->fd = -1;
}

/* A request `raw` (sent as it is) on a new connection, one response read: 0 or
 * -errno. With eof, *eof says whether the server then closed the connection
 * (EOF, or a reset: a close with unread input sends RST). */
static int raw_request(const server *s, const char *raw, hresp *r, int *eof) {
    static hconn c;
    memset(r, 0, sizeof *r);
    if (eof) *eof = 0;
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, REQ_TIMEOUT_MS * MS);
    int rc = hconn_open(&c, s, ctx);
    if (rc == 0) rc = send_str(c.fd, raw, ctx);
    if (rc == 0) rc = read_response(&c, r, ctx);
    if (rc == 0 && eof) {
        char x;
        ssize_t n = recv_some(c.fd, &x, 1, ctx);
        *eof = c.have == 0 && (n == 0 || n == -ECONNRESET);
    }
    hconn_close(&c);
    csp_ctx_release(ctx);
    return rc;
}
/* GET path on a new connection: the status, or -errno. */
static int get(const server *s, const char *path, hresp *r) {
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    int rc = raw_request(s, req, r, NULL);
    return rc < 0 ? rc : r->code;
}

/* 71's /stats: tokens, in use, waiting at the gate. */
typedef struct { int tokens, in_use, waiting; } stats;
static bool get_stats(const server *s, stats *st) {
    hresp r;
    return get(s, "/stats", &r) == 200 &&
           sscanf(r.body, "tokens=%d in_use=%d waiting=%d", &st->tokens, &st->in_use, &st->waiting) == 3;
}
/* Polls /stats until `waiting` handlers wait at the gate and `in_use` tokens
 * are taken (-1: any), or the deadline. */
static bool wait_stats(const server *s, int in_use, int waiting, stats *st) {
    int64_t deadline = csp_now() + 10 * CSP_SECOND;
    for (;;) {
        bool ok = get_stats(s, st);
        if (ok && (in_use < 0 || st->in_use == in_use) && (waiting < 0 || st->waiting == waiting)) return true;
        if (csp_now() >= deadline) return false;
        csp_sleep(2 * MS);
    }
}

/* ---- http_load: a bounded HTTP load generator ---------------------------------------- */

typedef struct {
    const server *s;
    const char *path;
    int conns, reqs;          /* conns connections, reqs keep-alive requests on each */
    int req_timeout_ms;       /* per request (connecting included) */
    int total_timeout_ms;     /* the whole run: later requests are not sent */
} load_spec;

typedef struct {
    long n200, n429, other, errors, unsent, connects;
    int other_code, first_error;   /* one of each, for the message */
    int64_t max_ns, elapsed_ns;    /* the slowest request; the whole run */
} load_result;

typedef struct {
    const load_spec *spec;
    csp_ctx *run;
    csp_waitgroup *wg;
    load_result r;
    hconn c;
} load_worker;

static void load_conn(void *arg) {
    load_worker *w = (load_worker *)arg;
    const load_spec *sp = w->spec;
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", sp->path);
    w->c.fd = -1;
    for (int i = 0; i < sp->reqs; i++) {
        if (csp_ctx_err(w->run)) { w->r.unsent += sp->reqs - i; break; }
        csp_ctx *ctx = csp_ctx_with_timeout(w->run, sp->req_timeout_ms * MS);
        int64_t t0 = csp_now();
        int rc = 0;
        hresp r;
        if (w->c.fd < 0) {
            rc = hconn_open(&w->c, sp->s, ctx);
            if (rc == 0) w->r.connects++;
        }
        if (rc == 0) rc = send_str(w->c.fd, req, ctx);
        if (rc == 0) rc = read_response(&w->c, &r, ctx);
        int64_t took = csp_now() - t0;
        if (took > w->r.max_ns) w->r.max_ns = took;
        csp_ctx_cancel(ctx);
        csp_ctx_release(ctx);
        if (rc < 0) {
            if (!w->r.first_error) w->r.first_error = -rc;
            w->r.errors++;
            hconn_close(&w->c);
            continue;
        }
        if (r.code == 200) w->r.n200++;
        else if (r.code == 429) w->r.n429++;
        else { w->r.other++; w->r.other_code = r.code; }
        if (!r.keep) hconn_close(&w->c);
    }
    hconn_close(&w->c);
    csp_wg_done(w->wg);
}

static load_result http_load(const load_spec *sp) {
    load_result t;
    csp_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    load_worker *ws = calloc((size_t)sp->conns, sizeof *ws);
    memset(&t, 0, sizeof t);
    if (!ws) { t.errors = 1; t.first_error = ENOMEM; return t; }
    int64_t t0 = csp_now();
    csp_ctx *run = csp_ctx_with_timeout(NULL, sp->total_timeout_ms * MS);
    for (int i = 0; i < sp->conns; i++) {
        ws[i].spec = sp;
        ws[i].run = run;
        ws[i].wg = &wg;
        csp_wg_add(&wg, 1);
        if (csp_go(load_conn, &ws[i]) != 0) { csp_wg_done(&wg); ws[i].r.unsent = sp->reqs; }
    }
    csp_wg_wait(&wg);
    t.elapsed_ns = csp_now() - t0;
    csp_ctx_cancel(run);
    csp_ctx_release(run);
    for (int i = 0; i < sp->conns; i++) {
        load_result *r = &ws[i].r;
        t.n200 += r->n200; t.n429 += r->n429; t.other += r->other;
        t.errors += r->errors; t.unsent += r->unsent; t.connects += r->connects;
        if (r->other_code) t.other_code = r->other_code;
        if (r->first_error && !t.first_error) t.first_error = r->first_error;
        if (r->max_ns > t.max_ns) t.max_ns = r->max_ns;
    }
    free(ws);
    printf("    load: %d x %d GET %s: %ld x 200, %ld x 429, %ld other%s%d, %ld errors%s%s, %ld unsent, "
           "%ld connects, %lld ms (slowest %.1f ms)\n",
           sp->conns, sp->reqs, sp->path, t.n200, t.n429, t.other, t.other ? " e.g. " : " ", t.other_code,
           t.errors, t.errors ? " e.g. " : "", t.errors ? strerror(t.first_error) : "", t.unsent, t.connects,
           (long long)(t.elapsed_ns / MS), (double)t.max_ns / (double)MS);
    fflush(stdout);
    return t;
}

/* ---- 71: curl ---------------------------------------------------------------------------- */

SERVER_TEST(http_curl_get, "71_http_backpressure", "--tokens 4") {
    NEED_CURL();
    char url[96];
    snprintf(url, sizeof url, "%s/", s->url);
    char *out = CURL_OUT("-i", url);
    CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "curl -i %s: %s", url, out);
    CHECK(strstr(out, "\r\nContent-Length: 14\r\n") && strstr(out, "\r\nConnection: keep-alive\r\n"), "headers: %s", out);
    const char *body = strstr(out, "\r\n\r\n");
    CHECK(body && strcmp(body + 4, "Hello, World!\n") == 0, "the body: %s", out);
    free(out);
    snprintf(url, sizeof url, "%s/some/path?x=1", s->url);
    out = CURL_OUT("-w", "%{http_code}\n", url);
    CHECK(strcmp(out, "Hello, World!\n200\n") == 0, "another path: %s", out);
    free(out);
}

SERVER_TEST(http_curl_keep_alive, "71_http_backpressure", "--tokens 4") {
    NEED_CURL();
    char u1[96], u2[96];
    snprintf(u1, sizeof u1, "%s/one", s->url);
    snprintf(u2, sizeof u2, "%s/two", s->url);
    /* Two URLs in one curl: the second reuses the connection (0 new connects). */
    char *out = CURL_OUT("-w", "|%{http_code} %{num_connects}\n", u1, u2);
    CHECK(strcmp(out, "Hello, World!\n|200 1\nHello, World!\n|200 0\n") == 0, "keep-alive: %s", out);
    free(out);
    /* HTTP/1.0 without keep-alive: the server answers Connection: close, each URL connects. */
    out = CURL_OUT("--http1.0", "-w", "|%{http_code} %{num_connects}\n", u1, u2);
    CHECK(strcmp(out, "Hello, World!\n|200 1\nHello, World!\n|200 1\n") == 0, "HTTP/1.0: %s", out);
    free(out);
    /* Connection: close asked by the client, and honoured. */
    out = CURL_OUT("-H", "Connection: close", "-w", "|%{http_code} %{num_connects}\n", u1, u2);
    CHECK(strcmp(out, "Hello, World!\n|200 1\nHello, World!\n|200 1\n") == 0, "Connection: close: %s", out);
    free(out);
}

SERVER_TEST(http_curl_bad_request, "71_http_backpressure", "--tokens 4") {
    NEED_CURL();
    char url[96];
    snprintf(url, sizeof url, "%s/", s->url);
    /* "BAD METHOD / HTTP/1.1": four words in the request line. */
    char *out = CURL_OUT("-X", "BAD METHOD", "-w", "|%{http_code}\n", url);
    CHECK(strcmp(out, "bad request\n|400\n") == 0, "curl -X 'BAD METHOD': %s", out);
    free(out);
    out = CURL_OUT("-w", "|%{http_code}\n", url);   /* still serving */
    CHECK(strcmp(out, "Hello, World!\n|200\n") == 0, "after the bad request: %s", out);
    free(out);
}

/* Overload by curl alone: two curl /slow take both tokens; /stats says they wait
 * at the gate; then curl gets 429 on / and /slow; curl /open; both slow curls
 * get 200. */
SERVER_TEST(http_curl_overload, "71_http_backpressure", "--tokens 2") {
    NEED_CURL();
    char slow[96], fast[96], open[96];
    snprintf(slow, sizeof slow, "%s/slow", s->url);
    snprintf(fast, sizeof fast, "%s/", s->url);
    snprintf(open, sizeof open, "%s/open", s->url);
    static proc bg[2];
    int started = 0, opened = 0;
    for (; started < 2; started++)
        if (!curl_run(&bg[started], (const char *const[]){ "-w", "|%{http_code}\n", slow, NULL })) break;
    stats st = {0};
    bool full = started == 2 && wait_stats(s, 2, 2, &st);
    if (started == 2 && CHECK(full, "not both /slow at the gate: in_use %d waiting %d", st.in_use, st.waiting)) {
        char *out = CURL_OUT("-w", "|%{http_code}\n", fast);
        CHECK(strcmp(out, "Too many requests\n|429\n") == 0, "/ under overload: %s", out);
        free(out);
        out = CURL_OUT("-w", "|%{http_code}\n", slow);
        CHECK(strcmp(out, "Too many requests\n|429\n") == 0, "/slow under overload: %s", out);
        free(out);
        bool got = get_stats(s, &st);
        CHECK(got && st.in_use == 2 && st.waiting == 2, "after the 429s: in_use %d waiting %d", st.in_use, st.waiting);
        for (int i = 0; i < 2; i++) {
            proc_pump(&bg[i], 0);
            CHECK(!bg[i].reaped && !strstr(bg[i].buf, "|"), "slow curl %d answered before the gate opened: %s", i, bg[i].buf);
        }
        out = CURL_OUT("-w", "|%{http_code}\n", open);
        opened = CHECK(strcmp(out, "released 2\n|200\n") == 0, "/open: %s", out);
        free(out);
    }
    if (!opened) {   /* let the slow curls go, whatever went wrong */
        hresp r;
        get(s, "/open", &r);
    }
    for (int i = 0; i < started; i++) {
        if (curl_finish(&bg[i])) CHECK(strcmp(bg[i].buf, "Hello, World!\n|200\n") == 0, "slow curl %d: %s", i, bg[i].buf);
        proc_free(&bg[i]);
    }
    bool back = wait_stats(s, 0, 0, &st);
    CHECK(back, "tokens not back: in_use %d waiting %d", st.in_use, st.waiting);
}

/* ---- 71: raw requests --------------------------------------------------------------------- */

SERVER_TEST(http_raw_requests, "71_http_backpressure", "--tokens 4") {
    hresp r;
    int eof = 0;
    /* Garbage: 400, and the connection is closed. */
    MUST(raw_request(s, "garbage\r\n\r\n", &r, &eof) == 0, "garbage: no response");
    CHECK(r.code == 400 && !r.keep && eof && strcmp(r.body, "bad request\n") == 0, "garbage: %d keep %d eof %d", r.code, r.keep, eof);
    MUST(raw_request(s, "GET / HTTP/2.0\r\n\r\n", &r, &eof) == 0, "HTTP/2.0: no response");
    CHECK(r.code == 400 && eof, "HTTP/2.0: %d", r.code);
    MUST(raw_request(s, "GET / HTTP/1.1 extra\r\n\r\n", &r, &eof) == 0, "four words: no response");
    CHECK(r.code == 400 && eof, "four words: %d", r.code);
    /* A head larger than the server's buffer: 431. */
    char big[6000];
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'x', sizeof big - 20);
    big[sizeof big - 1] = '\0';
    MUST(raw_request(s, big, &r, &eof) == 0, "huge head: no response");
    CHECK(r.code == 431 && eof, "huge head: %d eof %d", r.code, eof);
    /* HTTP/1.0: answered, then closed. */
    MUST(raw_request(s, "GET / HTTP/1.0\r\n\r\n", &r, &eof) == 0, "HTTP/1.0: no response");
    CHECK(r.code == 200 && !r.keep && eof, "HTTP/1.0: %d keep %d eof %d", r.code, r.keep, eof);

    /* One request a byte at a time (partial reads), then two pipelined in one send. */
    static hconn c;
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, REQ_TIMEOUT_MS * MS);
    int rc = hconn_open(&c, s, ctx);
    if (CHECK(rc == 0, "connect: %s", strerror(-rc))) {
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const char *req = "GET /bytes HTTP/1.1\r\nHost: x\r\n\r\n";
        for (const char *p = req; *p && rc == 0; p++) rc = send_all(c.fd, p, 1, ctx);
        if (rc == 0) rc = read_response(&c, &r, ctx);
        CHECK(rc == 0 && r.code == 200 && r.keep && strcmp(r.body, "Hello, World!\n") == 0, "byte by byte: rc %d code %d", rc, r.code);
        rc = send_str(c.fd, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n", ctx);
        for (int i = 0; i < 2 && rc == 0; i++) {
            rc = read_response(&c, &r, ctx);
            CHECK(rc == 0 && r.code == 200 && r.keep, "pipelined %d: rc %d code %d", i + 1, rc, r.code);
        }
        CHECK(rc == 0, "pipelined: %s", strerror(-rc));
    }
    hconn_close(&c);
    csp_ctx_release(ctx);
    CHECK(get(s, "/", &r) == 200, "the server no longer answers");
}

/* ---- 71: overload and none ---------------------------------------------------------------- */

enum { TOKENS = 4 };

/* Every token held by a /slow request (raw connections), /stats says all wait at
 * the gate; then every request gets 429 at once (the load generator on /, one
 * /slow); /open; the slow ones get 200; the tokens come back and / answers 200
 * again. */
static void overload(server *s, hconn *slow, csp_ctx *ctx, int *opened) {
    hresp r;
    stats st = {0};
    int rc = 0;
    for (int i = 0; i < TOKENS && rc == 0; i++) {
        rc = hconn_open(&slow[i], s, ctx);
        if (rc == 0) rc = send_str(slow[i].fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", ctx);
    }
    MUST(rc == 0, "slow requests: %s", strerror(-rc));
    bool full = wait_stats(s, TOKENS, TOKENS, &st);
    MUST(full, "not all %d /slow at the gate: in_use %d waiting %d", TOKENS, st.in_use, st.waiting);

    load_spec sp = { s, "/", 8, 25, REQ_TIMEOUT_MS, 20000 };
    load_result lr = http_load(&sp);
    CHECK(lr.n429 == 8 * 25 && lr.n200 == 0 && lr.other == 0 && lr.errors == 0 && lr.unsent == 0,
          "overloaded: %ld x 429 of %d", lr.n429, 8 * 25);
    CHECK(lr.connects == 8, "429 keeps the connection alive: %ld connects for 8 connections", lr.connects);
    CHECK(lr.max_ns < 2 * CSP_SECOND, "a 429 took %lld ms: not at once", (long long)(lr.max_ns / MS));
    int code = get(s, "/slow", &r);
    CHECK(code == 429 && strcmp(r.body, "Too many requests\n") == 0, "/slow when full: %d", code);
    bool got = get_stats(s, &st);
    CHECK(got && st.in_use == TOKENS && st.waiting == TOKENS, "after the 429s: in_use %d waiting %d", st.in_use, st.waiting);
    for (int i = 0; i < TOKENS; i++) {   /* still nothing for the slow ones */
        char x;
        CHECK(recv(slow[i].fd, &x, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "slow request %d answered before the gate opened", i);
    }

    code = get(s, "/open", &r);
    CHECK(code == 200 && strcmp(r.body, "released 4\n") == 0, "/open: %d %s", code, code == 200 ? r.body : "");
    *opened = 1;
    for (int i = 0; i < TOKENS; i++) {
        rc = read_response(&slow[i], &r, ctx);
        CHECK(rc == 0 && r.code == 200 && strcmp(r.body, "Hello, World!\n") == 0, "slow request %d: rc %d code %d", i, rc, r.code);
    }
    bool back = wait_stats(s, 0, 0, &st);
    MUST(back, "tokens not back: in_use %d waiting %d", st.in_use, st.waiting);
    load_spec again = { s, "/", TOKENS, 50, REQ_TIMEOUT_MS, 20000 };
    lr = http_load(&again);
    CHECK(lr.n200 == TOKENS * 50 && lr.n429 == 0 && lr.errors == 0, "after the overload: %ld x 200 of %d", lr.n200, TOKENS * 50);
}
SERVER_TEST(http_overload_gives_429, "71_http_backpressure", "--tokens 4") {
    static hconn slow[TOKENS];
    hresp r;
    int opened = 0;
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, 30 * CSP_SECOND);
    for (int i = 0; i < TOKENS; i++) slow[i].fd = -1;
    overload(s, slow, ctx, &opened);
    if (!opened) get(s, "/open", &r);
    for (int i = 0; i < TOKENS; i++) hconn_close(&slow[i]);
    csp_ctx_release(ctx);
}

/* Concurrency <= tokens on the fast path: a few thousand requests, not one 429,
 * not one error, each connection kept alive throughout. */
SERVER_TEST(http_no_overload_no_429, "71_http_backpressure", "--tokens 4") {
    int reqs = T_COUNT(1000, 100);
    for (int conns = 1; conns <= TOKENS; conns += TOKENS - 1) {
        load_spec sp = { s, "/", conns, reqs, REQ_TIMEOUT_MS, 60000 };
        load_result lr = http_load(&sp);
        CHECK(lr.n200 == (long)conns * reqs && lr.n429 == 0 && lr.other == 0 && lr.errors == 0 && lr.unsent == 0,
              "%d connections: %ld x 200 of %d, %ld x 429, %ld errors", conns, lr.n200, conns * reqs, lr.n429, lr.errors);
        CHECK(lr.connects == conns, "%ld connects for %d connections", lr.connects, conns);
    }
    stats st = {0};
    bool got = get_stats(s, &st);
    CHECK(got && st.tokens == TOKENS && st.in_use == 0 && st.waiting == 0,
          "after the load: tokens %d in_use %d waiting %d", st.tokens, st.in_use, st.waiting);
}

/* SIGTERM: exit 0 at once, even with an idle keep-alive connection open. */
SERVER_TEST(http_sigterm_exits_0, "71_http_backpressure", "") {
    static hconn c;
    hresp r;
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, REQ_TIMEOUT_MS * MS);
    int rc = hconn_open(&c, s, ctx);
    if (rc == 0) rc = send_str(c.fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ctx);
    if (rc == 0) rc = read_response(&c, &r, ctx);
    CHECK(rc == 0 && r.code == 200 && r.keep, "keep-alive request: rc %d code %d", rc, r.code);
    csp_ctx_release(ctx);
    CHECK(kill(s->p.pid, SIGTERM) == 0, "kill: %s", strerror(errno));
    CHECK(proc_wait_exit(&s->p, EXIT_TIMEOUT_MS), "still running %d ms after SIGTERM", EXIT_TIMEOUT_MS);
    CHECK(proc_exited_with(&s->p, 0), "status 0x%x after SIGTERM", s->p.status);
    CHECK(strstr(s->p.buf, "server: got SIGTERM, bye\n") != NULL, "no \"got SIGTERM\" line");
    hconn_close(&c);
}

/* ---- 70: the echo server --------------------------------------------------------------------- */

/* Sends msg and reads it back in full (with ctx's deadline): 0 or -errno (-EPROTO:
 * other bytes came back). */
static int echo(int fd, const char *msg, size_t n, csp_ctx *ctx) {
    char buf[4096];
    size_t got = 0;
    int rc = send_all(fd, msg, n, ctx);
    while (rc == 0 && got < n) {
        size_t want = n - got < sizeof buf ? n - got : sizeof buf;
        ssize_t r = recv_some(fd, buf, want, ctx);
        if (r <= 0) return r == 0 ? -ECONNRESET : (int)r;
        if (memcmp(buf, msg + got, (size_t)r) != 0) return -EPROTO;
        got += (size_t)r;
    }
    return rc;
}
static int echo_str(int fd, const char *msg) {
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, REQ_TIMEOUT_MS * MS);
    int rc = echo(fd, msg, strlen(msg), ctx);
    csp_ctx_release(ctx);
    return rc;
}
static int echo_dial(const server *s) {
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, REQ_TIMEOUT_MS * MS);
    int fd = dial(&s->addr, ctx);
    csp_ctx_release(ctx);
    return fd;
}

/* Waits for the server to hang up on fd (read returns 0): 0, or -errno (data
 * came: -EPROTO; the deadline: -ETIMEDOUT). */
static int wait_hangup(int fd, int64_t timeout) {
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, timeout);
    char x[64];
    ssize_t r = recv_some(fd, x, sizeof x, ctx);
    csp_ctx_release(ctx);
    return r == 0 ? 0 : r > 0 ? -EPROTO : (int)r;
}

typedef struct { const server *s; int id, lines, rc; csp_waitgroup *wg; } talker;
static void talk(void *arg) {
    talker *t = (talker *)arg;
    int fd = echo_dial(t->s);
    t->rc = fd < 0 ? fd : 0;
    for (int i = 0; i < t->lines && t->rc == 0; i++) {
        char line[64];
        snprintf(line, sizeof line, "client %d line %d\n", t->id, i);
        t->rc = echo_str(fd, line);
    }
    if (fd >= 0) csp_fd_close(fd);
    csp_wg_done(t->wg);
}

/* Eight clients at once, twenty lines each, each echo checked; then 64 KiB
 * echoed in chunks. */
SERVER_TEST(echo_round_trip, "70_echo_server", "--idle 10000") {
    enum { N = 8 };
    static talker ts[N];
    csp_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    for (int i = 0; i < N; i++) {
        ts[i] = (talker){ s, i, 20, 0, &wg };
        csp_wg_add(&wg, 1);
        if (csp_go(talk, &ts[i]) != 0) { ts[i].rc = -ENOMEM; csp_wg_done(&wg); }
    }
    csp_wg_wait(&wg);
    for (int i = 0; i < N; i++) CHECK(ts[i].rc == 0, "client %d: %s", i, strerror(-ts[i].rc));

    /* 64 KiB in lock-step chunks of 1..512 bytes (the server reads 512 at a time). */
    int fd = echo_dial(s);
    MUST(fd >= 0, "connect: %s", strerror(-fd));
    static char chunk[512];
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, 20 * CSP_SECOND);
    size_t sent = 0;
    int rc = 0;
    for (int k = 0; sent < (64 << 10) && rc == 0; k++) {
        size_t n = 1 + (size_t)(k * 37) % sizeof chunk;
        for (size_t i = 0; i < n; i++) chunk[i] = (char)('a' + (sent + i) % 26);
        rc = echo(fd, chunk, n, ctx);
        sent += n;
    }
    CHECK(rc == 0, "64 KiB in chunks: %s after %zu bytes", strerror(-rc), sent);
    csp_ctx_release(ctx);
    csp_fd_close(fd);
}

/* A burst larger than the server's 512-byte buffer comes back whole: 70's
 * csp_fd_wait-then-csp_read loop relies on csp_fd_wait seeing data that is
 * already buffered (level semantics). */
SERVER_TEST(echo_burst_larger_than_its_buffer, "70_echo_server", "--idle 1000") {
    enum { BURST = 4096 };
    static char burst[BURST], back[BURST];
    for (int i = 0; i < BURST; i++) burst[i] = (char)('A' + i % 26);
    int fd = echo_dial(s);
    MUST(fd >= 0, "connect: %s", strerror(-fd));
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, 4000 * MS);
    int64_t t0 = csp_now();
    int rc = send_all(fd, burst, BURST, ctx);   /* one send: one segment on loopback */
    size_t got = 0;
    ssize_t r = 0;
    while (rc == 0 && got < BURST && (r = recv_some(fd, back + got, BURST - got, ctx)) > 0) got += (size_t)r;
    int64_t ms = (csp_now() - t0) / MS;
    csp_ctx_release(ctx);
    csp_fd_close(fd);
    MUST(rc == 0, "sending %d bytes: %s", BURST, strerror(-rc));
    CHECK(got == BURST, "%zu of %d bytes echoed (%s after %lld ms)", got, BURST,
          r < 0 ? strerror((int)-r) : r == 0 ? "EOF" : "ok", (long long)ms);
    CHECK(got == BURST && memcmp(back, burst, BURST) == 0, "the burst came back changed");
}

typedef struct { int fd, rc; int64_t at; csp_chan *done; } hangup_watch;
static void watch_hangup(void *arg) {
    hangup_watch *w = (hangup_watch *)arg;
    w->rc = wait_hangup(w->fd, 20 * CSP_SECOND);
    w->at = csp_now();
    csp_close(w->done);
}

enum { IDLE_MS = 300, PING_MS = 20, LATE_MS = 3000 };

/* A silent client is hung up on no earlier than the idle timeout after it
 * connected (and not much later), while a client that talks every PING_MS stays
 * served past several timeouts; once it falls silent it is hung up on in turn,
 * no earlier than the timeout after its last line. */
SERVER_TEST(echo_idle_timeout, "70_echo_server", "--idle 300") {
    int64_t t0 = csp_now();   /* before connect: the server's clock starts later */
    int quiet = echo_dial(s);
    int talker_fd = echo_dial(s);
    MUST(quiet >= 0 && talker_fd >= 0, "connect: %s", strerror(-(quiet < 0 ? quiet : talker_fd)));
    int one = 1;
    setsockopt(talker_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static hangup_watch w;
    w = (hangup_watch){ quiet, 1, 0, csp_chan_make(0, 0) };
    csp_go(watch_hangup, &w);

    /* Talk every PING_MS until the silent one is hung up on, and on to 3 timeouts. */
    int pings = 0, rc = 0, hung = 0;
    int64_t last_send = t0, deadline = t0 + (IDLE_MS + LATE_MS + 3 * IDLE_MS) * MS;
    while (rc == 0 && csp_now() < deadline && !(hung && csp_now() - t0 >= 3 * IDLE_MS * MS)) {
        csp_case c[1] = { CSP_RECV(hung ? NULL : w.done, NULL) };
        if (csp_select(c, 1, PING_MS * MS) == 0) { hung = 1; continue; }
        char line[32];
        snprintf(line, sizeof line, "ping %d\n", pings++);
        last_send = csp_now();
        rc = echo_str(talker_fd, line);
    }
    if (!hung) { csp_recv(w.done, NULL); hung = 1; }   /* the watcher ends by its own deadline */
    CHECK(rc == 0, "the talking client was not served (after %d pings): %s", pings, strerror(-rc));
    CHECK(w.rc == 0, "the silent client: %s", w.rc == -ETIMEDOUT ? "never hung up on" : strerror(-w.rc));
    int64_t quiet_ms = (w.at - t0) / MS;
    CHECK(w.at - t0 >= IDLE_MS * MS, "the silent client was hung up on after %lld ms, before the %d ms timeout", (long long)quiet_ms, IDLE_MS);
    CHECK(quiet_ms <= IDLE_MS + LATE_MS, "the silent client was hung up on after %lld ms", (long long)quiet_ms);
    CHECK(csp_now() - t0 >= 3 * IDLE_MS * MS && pings >= 3 * IDLE_MS / PING_MS / 2,
          "the talker talked for %lld ms (%d pings)", (long long)((csp_now() - t0) / MS), pings);
    printf("    silent client hung up on after %lld ms; the talker sent %d pings\n", (long long)quiet_ms, pings);

    /* Now the talker falls silent. */
    if (rc == 0) {
        rc = wait_hangup(talker_fd, (IDLE_MS + LATE_MS + 1000) * MS);
        int64_t after = (csp_now() - last_send) / MS;
        CHECK(rc == 0, "the talker, silent: %s", rc == -ETIMEDOUT ? "never hung up on" : strerror(-rc));
        CHECK(after >= IDLE_MS && after <= IDLE_MS + LATE_MS, "the talker was hung up on %lld ms after its last line", (long long)after);
    }
    csp_fd_close(quiet);
    csp_fd_close(talker_fd);
    csp_chan_release(w.done);

    /* Its log, flushed when it exits: two idle hang-ups. */
    CHECK(kill(s->p.pid, SIGTERM) == 0, "kill: %s", strerror(errno));
    CHECK(proc_wait_exit(&s->p, EXIT_TIMEOUT_MS) && proc_exited_with(&s->p, 0), "no clean exit after SIGTERM");
    const char *p = s->p.buf;
    int idles = 0;
    while ((p = strstr(p, "idle for 300 ms, closing\n"))) { idles++; p++; }
    CHECK(idles == 2, "%d \"idle for 300 ms, closing\" lines, wanted 2", idles);
}

/* SIGTERM: the server stops accepting (a connect is refused), still serves the
 * connection it has, and exits 0 when that one ends. */
SERVER_TEST(echo_sigterm_graceful, "70_echo_server", "--idle 20000") {
    int fd = echo_dial(s);
    MUST(fd >= 0, "connect: %s", strerror(-fd));
    CHECK(echo_str(fd, "before\n") == 0, "echo before SIGTERM");
    MUST(kill(s->p.pid, SIGTERM) == 0, "kill: %s", strerror(errno));
    /* Until a connect is refused: the listener is closed. (A connect that the
     * kernel completed just before the close is reset: try again.) */
    int64_t deadline = csp_now() + 10 * CSP_SECOND;
    int probe = 0, probes = 0;
    while (csp_now() < deadline) {
        probe = echo_dial(s);
        probes++;
        if (probe == -ECONNREFUSED || (probe < 0 && probe != -ECONNRESET)) break;
        if (probe >= 0) csp_fd_close(probe);
        csp_sleep(2 * MS);
    }
    CHECK(probe == -ECONNREFUSED, "still accepting 10 s after SIGTERM (%d probes; last: %s)", probes,
          probe < 0 ? strerror(-probe) : "connected");
    CHECK(echo_str(fd, "after\n") == 0, "the open connection is not served after SIGTERM");
    proc_pump(&s->p, 0);
    CHECK(!s->p.reaped, "exited with a connection still open");
    /* Prove it waits: it is still there a while later. */
    csp_sleep(100 * MS);
    proc_pump(&s->p, 0);
    CHECK(!s->p.reaped, "exited with a connection still open (after 100 ms)");
    CHECK(echo_str(fd, "still\n") == 0, "the open connection is not served 100 ms after SIGTERM");
    csp_fd_close(fd);
    CHECK(proc_wait_exit(&s->p, EXIT_TIMEOUT_MS), "not ended %d ms after its last connection", EXIT_TIMEOUT_MS);
    CHECK(proc_exited_with(&s->p, 0), "status 0x%x", s->p.status);
    CHECK(strstr(s->p.buf, "server: got SIGTERM, no longer accepting; waiting for open connections\n") &&
          strstr(s->p.buf, "server: all connections closed, bye\n"), "the shutdown lines are missing");
}

/* EMFILE does not stop the server: 70 runs with 24 fds, 30 clients connect
 * at once. Its accept fails with EMFILE for the last ones (they wait in the
 * backlog), it says so and keeps trying; once the first clients hang up,
 * every one of the others is echoed. */
TEST(echo_emfile_does_not_stop_the_server) {
    static server srv;
    const char *dir = getenv("CSP_EXAMPLES_DIR");
    if (!dir || !*dir) SKIP(SKIP_MESSAGE);
    if (access(PRLIMIT, X_OK) != 0) SKIP(PRLIMIT " is missing (util-linux)");
    failed = 0;
    if (server_start_limited(&srv, dir, "70_echo_server", "--idle 20000", 24)) {
        enum { N = 30 };
        int fds[N];
        for (int i = 0; i < N; i++) {
            fds[i] = echo_dial(&srv);
            CHECK(fds[i] >= 0, "client %d: connect: %s", i, strerror(-fds[i]));
        }
        for (int i = 0; i < N; i++)   /* each sends a line; those accepted answer */
            if (fds[i] >= 0) CHECK(send_all(fds[i], "hi\n", 3, NULL) == 0, "client %d: send", i);
        CHECK(proc_wait_output(&srv.p, "Too many open files", 10000), "the server never reported EMFILE");
        int served = 0;
        for (int i = 0; i < N && served < 8; i++) {   /* hang up 8 that were served */
            char b[3];
            csp_ctx *t = csp_ctx_with_timeout(NULL, 200 * MS);
            ssize_t r = fds[i] >= 0 ? recv_some(fds[i], b, 3, t) : -1;
            csp_ctx_release(t);
            if (r > 0) { csp_fd_close(fds[i]); fds[i] = -1; served++; }
        }
        CHECK(served == 8, "only %d clients were served at first", served);
        for (int i = 0; i < N; i++) {   /* every other one gets its echo now */
            if (fds[i] < 0) continue;
            char b[3] = { 0 };
            size_t got = 0;
            csp_ctx *t = csp_ctx_with_timeout(NULL, 10000 * MS);
            while (got < 3) {
                ssize_t r = recv_some(fds[i], b + got, 3 - got, t);
                if (r <= 0) break;
                got += (size_t)r;
            }
            csp_ctx_release(t);
            CHECK(got == 3 && memcmp(b, "hi\n", 3) == 0, "client %d: no echo after fds were freed", i);
            csp_fd_close(fds[i]);
        }
    }
    proc_end(&srv.p);
    if (failed) proc_show(&srv.p);
    proc_free(&srv.p);
}
