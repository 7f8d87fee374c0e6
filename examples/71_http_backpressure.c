/* 71_http_backpressure.c -- Learning Go, ch. 12, "Backpressure": an HTTP
 * server whose handler runs only if a PressureGauge (a buffered channel of
 * tokens) has a token, and answers 429 Too Many Requests otherwise.
 * A minimal HTTP/1.1 of our own: partial reads, keep-alive, 400 for a bad
 * request, never a crash. The demo is deterministic: the handler waits on a
 * gate that main opens only after it has seen every token taken.
 * Notice: with 2 tokens, requests 3-5 get 429 at once; 1-2 get 200 when the
 * gate opens; a keep-alive connection serves two requests; garbage gets 400. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static pressure_gauge gauge;
static csp_chan *gate;   /* closed by main: the handlers may finish */

static void do_work(void *arg) {   /* the expensive part of the handler */
    (void)arg;
    csp_recv(gate, NULL);
}

/* ---- minimal HTTP/1.1 ------------------------------------------------------------ */
static void reply(int fd, int code, const char *status, const char *body, bool keep) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n%s",
                     code, status, strlen(body), keep ? "keep-alive" : "close", body);
    csp_write(fd, buf, (size_t)n);
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
        char method[16], path[256], version[16];
        if (sscanf(buf, "%15s %255s %15s", method, path, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
            reply(fd, 400, "Bad Request", "bad request\n", false);
            goto out;
        }
        bool keep = strcmp(version, "HTTP/1.1") == 0 && !memmem(buf, hlen, "Connection: close", 17);
        if (gauge_process(&gauge, do_work, NULL)) reply(fd, 200, "OK", "Hello, World!\n", keep);
        else reply(fd, 429, "Too Many Requests", "Too many requests\n", keep);
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
        if (c < 0) return;
        csp_go_copy(serve_conn, &c, sizeof c);
    }
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
    int code = roundtrip(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    int msg[2] = { id, code };
    csp_send(results, msg);
    csp_fd_close(fd);
}

int main(void) {
    gauge = new_gauge(2);
    gate = csp_chan_make(0, 0);
    results = csp_chan_make(sizeof(int[2]), 8);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof addr;
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 64) != 0) { perror("listen"); return 1; }
    getsockname(l, (struct sockaddr *)&addr, &sl);
    printf("HTTP server on 127.0.0.1:%d with a PressureGauge of 2 tokens\n", ntohs(addr.sin_port));
    csp_go_copy(server, &l, sizeof l);

    int ok = 1;
    for (int id = 1; id <= 2; id++) csp_go_copy(slow_client, &id, sizeof id);
    while (csp_len(gauge.tokens) > 0) csp_sleep(CSP_MILLISECOND);   /* both tokens taken */
    for (int id = 3; id <= 5; id++) {
        int fd = dial();
        int code = roundtrip(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        printf("request %d: %d%s\n", id, code, code == 429 ? " Too Many Requests" : "");
        ok &= code == 429;
        csp_fd_close(fd);
    }
    csp_close(gate);   /* the two slow handlers finish */
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
