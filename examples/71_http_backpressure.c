/* 71_http_backpressure.c -- Learning Go, ch. 12, "Backpressure": an HTTP
 * server whose handler runs only if a PressureGauge (a buffered channel of
 * tokens) has a token, and answers 429 Too Many Requests otherwise.
 * A minimal HTTP/1.1 of our own: partial reads, keep-alive, pipelining, 400
 * for a bad request, never a crash. The demo is deterministic: the slow
 * handler waits on a gate that main opens only after it has seen every
 * token taken.
 * Notice: with 2 tokens, requests 3-5 get 429 at once; 1-2 get 200 when the
 * gate opens; a keep-alive connection serves two requests; garbage gets 400.
 *
 * `--serve [--port N] [--tokens N]` runs the server alone on 127.0.0.1 (port
 * 0, the default, picks a free one; 2 tokens by default) until SIGTERM or
 * SIGINT; its first line names the port. Its paths:
 *     /slow    takes a token and holds it until the gate opens
 *     /open    opens the gate: every /slow waiting now finishes (later ones
 *              wait for the next /open); answers "released N"
 *     /stats   "tokens=N in_use=N waiting=N": tokens taken, /slow requests
 *              waiting at the gate
 *     any other path: takes a token and answers at once.
 * /open and /stats need no token, so a client (a test) can fill the gauge,
 * know it is full, and let it drain: overload on demand, e.g.
 *     ./71_http_backpressure --serve --port 8080 &
 *     curl localhost:8080/slow & curl localhost:8080/slow &
 *     curl localhost:8080/stats; curl -i localhost:8080/; curl localhost:8080/open */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the PressureGauge ------------------------------------------------------- */
typedef struct { csp_chan *tokens; } pressure_gauge;
static pressure_gauge new_gauge(int limit) {
    pressure_gauge g = { csp_chan_make(0, (size_t)limit) };
    for (int i = 0; i < limit; i++) csp_send(g.tokens, NULL);
    return g;
}
/* Process: run f if a token is free, else report "no more capacity". */
static bool gauge_process(pressure_gauge *g, void (*f)(void *), void *arg) {
    if (!csp_try_recv(g->tokens, NULL, NULL)) return false;
    f(arg);
    csp_send(g->tokens, NULL);
    return true;
}
static int gauge_in_use(pressure_gauge *g) { return (int)(csp_cap(g->tokens) - csp_len(g->tokens)); }

static pressure_gauge gauge;

/* ---- the gate: a channel that is closed to open it, and replaced at once --------- */
static csp_mutex gate_mu;
static csp_chan *gate;      /* the one the next /slow waits on (gate_mu) */
static int waiting;         /* /slow handlers waiting on it (gate_mu) */

static void wait_at_gate(void *arg) {   /* the expensive part of /slow */
    (void)arg;
    csp_mutex_lock(&gate_mu);
    csp_chan *g = csp_chan_retain(gate);
    waiting++;
    csp_mutex_unlock(&gate_mu);
    csp_recv(g, NULL);   /* returns when g is closed */
    csp_chan_release(g);
}
/* Lets every handler waiting now go on; returns how many. */
static int open_gate(void) {
    csp_chan *fresh = csp_chan_make(0, 0);
    csp_mutex_lock(&gate_mu);
    csp_chan *old = gate;
    int n = waiting;
    gate = fresh;
    waiting = 0;
    csp_mutex_unlock(&gate_mu);
    csp_close(old);
    csp_chan_release(old);
    return n;
}
static int at_gate(void) {
    csp_mutex_lock(&gate_mu);
    int n = waiting;
    csp_mutex_unlock(&gate_mu);
    return n;
}
static void answer_at_once(void *arg) { (void)arg; }

/* ---- minimal HTTP/1.1 ------------------------------------------------------------ */
static void reply(int fd, int code, const char *status, const char *body, bool keep) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n%s",
                     code, status, strlen(body), keep ? "keep-alive" : "close", body);
    csp_write(fd, buf, (size_t)n);
}
/* Does the header block h (n bytes, after the request line) have "name: value"?
 * Names and values compare without case, as HTTP says. */
static bool has_header(const char *h, size_t n, const char *name, const char *value) {
    size_t nl = strlen(name), vl = strlen(value);
    for (const char *p = h, *end = h + n; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && *v == ' ') v++;
            if ((size_t)(eol - v) == vl && strncasecmp(v, value, vl) == 0) return true;
        }
        if (eol == end) break;
        p = eol + 2;
    }
    return false;
}
/* One request (its head: request line and headers) answered; false: close. */
static bool handle(int fd, const char *head, size_t hlen) {
    char method[16], path[256], version[16], line[300];
    const char *eol = memmem(head, hlen, "\r\n", 2);   /* the request line, on its own */
    size_t ll = (size_t)(eol - head);
    if (ll >= sizeof line) ll = sizeof line - 1;
    memcpy(line, head, ll);
    line[ll] = '\0';
    char extra;
    if (sscanf(line, "%15s %255s %15s %c", method, path, version, &extra) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
        reply(fd, 400, "Bad Request", "bad request\n", false);
        return false;
    }
    const char *hdrs = eol + 2;
    size_t hn = hlen - (size_t)(hdrs - head);
    bool keep = strcmp(version, "HTTP/1.1") == 0 ? !has_header(hdrs, hn, "Connection", "close")
                                                 : has_header(hdrs, hn, "Connection", "keep-alive");
    path[strcspn(path, "?")] = '\0';
    char body[128];
    if (strcmp(path, "/stats") == 0) {   /* no token needed */
        snprintf(body, sizeof body, "tokens=%zu in_use=%d waiting=%d\n", csp_cap(gauge.tokens), gauge_in_use(&gauge), at_gate());
        reply(fd, 200, "OK", body, keep);
    } else if (strcmp(path, "/open") == 0) {   /* no token needed */
        snprintf(body, sizeof body, "released %d\n", open_gate());
        reply(fd, 200, "OK", body, keep);
    } else if (gauge_process(&gauge, strcmp(path, "/slow") == 0 ? wait_at_gate : answer_at_once, NULL)) {
        reply(fd, 200, "OK", "Hello, World!\n", keep);
    } else {
        reply(fd, 429, "Too Many Requests", "Too many requests\n", keep);
    }
    return keep;
}
static void serve_conn(void *arg) {
    int fd = *(int *)arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {   /* partial reads */
            if (have == sizeof buf) { reply(fd, 431, "Request Header Fields Too Large", "", false); goto out; }
            ssize_t r = csp_read(fd, buf + have, sizeof buf - have);
            if (r <= 0) goto out;
            have += (size_t)r;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        bool keep = handle(fd, buf, hlen - 2);   /* the head with its last line's "\r\n" */
        memmove(buf, buf + hlen, have - hlen);   /* pipelined requests stay */
        have -= hlen;
        if (!keep) break;
    }
out:
    csp_fd_close(fd);
}
static void server(void *arg) {
    int l = *(int *)arg;
    for (;;) {
        int c = csp_accept(l, NULL, NULL);
        if (c == -EMFILE || c == -ENFILE || c == -ENOBUFS || c == -ENOMEM) {
            /* Out of fds or memory for now: retry soon, do not stop serving. */
            fprintf(stderr, "server: accept: %s; retrying in 10 ms\n", strerror(-c));
            csp_sleep(10 * CSP_MILLISECOND);
            continue;
        }
        if (c < 0) return;   /* the listener was closed */
        csp_go_copy(serve_conn, &c, sizeof c);
    }
}

/* --serve: until SIGTERM or SIGINT. Connections still open are dropped. */
static int serve_until_signal(int l) {
    csp_chan *sigs = csp_chan_make(sizeof(int), 1);   /* buffered: a signal is never lost */
    csp_signal_notify(sigs, SIGTERM);
    csp_signal_notify(sigs, SIGINT);
    csp_go_copy(server, &l, sizeof l);
    int sig = 0;
    csp_recv(sigs, &sig);
    csp_signal_stop(sigs);
    csp_fd_close(l);
    printf("server: got %s, bye\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    csp_chan_release(sigs);
    return 0;
}

/* ---- the demo's clients --------------------------------------------------------------- */
static struct sockaddr_in addr;
static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (csp_connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); exit(1); }
    return fd;
}
/* Send `req`, read one response; returns the status code. */
static int roundtrip(int fd, const char *req) {
    csp_write(fd, req, strlen(req));
    char buf[1024];
    size_t have = 0;
    while (!memmem(buf, have, "\r\n\r\n", 4) && have < sizeof buf) {
        ssize_t r = csp_read(fd, buf + have, sizeof buf - have);
        if (r <= 0) break;
        have += (size_t)r;
    }
    int code = 0;
    sscanf(buf, "HTTP/1.1 %d", &code);
    /* The body follows the headers; read it (Content-Length bytes). */
    char *h = memmem(buf, have, "\r\n\r\n", 4);
    size_t clen = 0;
    char *cl = memmem(buf, have, "Content-Length: ", 16);
    if (cl) clen = (size_t)atol(cl + 16);
    size_t body = h ? have - (size_t)(h + 4 - buf) : 0;
    while (body < clen) { char tmp[256]; ssize_t r = csp_read(fd, tmp, sizeof tmp); if (r <= 0) break; body += (size_t)r; }
    return code;
}
static csp_chan *results;
static void slow_client(void *arg) {
    int id = *(int *)arg;
    int fd = dial();
    int code = roundtrip(fd, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    int msg[2] = { id, code };
    csp_send(results, msg);
    csp_fd_close(fd);
}

int main(int argc, char **argv) {
    int serve_only = 0, port = 0, tokens = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--serve") == 0) serve_only = 1;
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) tokens = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--serve [--port N] [--tokens N]]\n", argv[0]); return 2; }
    }
    if (port < 0 || port > 65535 || tokens < 1 || tokens > 100000 || (!serve_only && (port || tokens != 2))) {
        fprintf(stderr, "%s: --port 0..65535 and --tokens 1..100000, with --serve only\n", argv[0]);
        return 2;
    }
    gauge = new_gauge(tokens);
    gate = csp_chan_make(0, 0);
    results = csp_chan_make(sizeof(int[2]), 8);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    socklen_t sl = sizeof addr;
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 64) != 0) { perror("listen"); return 1; }
    getsockname(l, (struct sockaddr *)&addr, &sl);
    printf("HTTP server on 127.0.0.1:%d with a PressureGauge of %d tokens\n", ntohs(addr.sin_port), tokens);
    fflush(stdout);
    if (serve_only) return serve_until_signal(l);
    csp_go_copy(server, &l, sizeof l);

    int ok = 1;
    for (int id = 1; id <= 2; id++) csp_go_copy(slow_client, &id, sizeof id);
    while (at_gate() < 2) csp_sleep(CSP_MILLISECOND);   /* both tokens taken, both at the gate */
    for (int id = 3; id <= 5; id++) {
        int fd = dial();
        int code = roundtrip(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        printf("request %d: %d%s\n", id, code, code == 429 ? " Too Many Requests" : "");
        ok &= code == 429;
        csp_fd_close(fd);
    }
    open_gate();   /* the two slow handlers finish */
    for (int i = 0; i < 2; i++) {
        int msg[2];
        csp_recv(results, msg);
        printf("request %d: %d%s\n", msg[0], msg[1], msg[1] == 200 ? " OK" : "");
        ok &= msg[1] == 200;
    }
    int fd = dial();   /* keep-alive: two requests on one connection */
    int a = roundtrip(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    int b = roundtrip(fd, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    printf("keep-alive connection: %d, %d\n", a, b);
    ok &= a == 200 && b == 200;
    csp_fd_close(fd);
    fd = dial();
    int bad = roundtrip(fd, "garbage\r\n\r\n");
    printf("garbage request: %d\n", bad);
    ok &= bad == 400;
    csp_fd_close(fd);
    csp_fd_close(l);
    printf("%s\n", ok ? "all as expected" : "UNEXPECTED RESULTS");
    return ok ? 0 : 1;
}
