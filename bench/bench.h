/* bench.h: the benchmark protocol for the C programs in bench/ (see
 * bench/README.md). bench/go/benchlib.go is the same thing for the Go twins;
 * keep the two in step, they define how C and Go do identical work.
 *
 *   prog [--quick]            env BENCH=pattern selects rows (bench_want)
 *   one line per row:         <row> <value> <unit>      ('#' lines: comments)
 *   fixed iteration counts:   bench_n(full, quick)
 *
 * Use, in a program that includes csp.h FIRST (csp.h wants to come before
 * any system header), then this file:
 *
 *     #define CSP_STATIC
 *     #include "csp.h"
 *     #include "bench/bench.h"      (the Makefile passes -I..)
 *
 *     static void chan_sync(long n, void *arg) { ... n ops ... }
 *     int main(int argc, char **argv) {
 *         bench_init(argc, argv);
 *         bench_run("chan/sync", bench_n(2000000, 200000), chan_sync, NULL);
 *     }
 *
 * bench_run(row, n, fn, arg): if the row is selected, fn(max(n/10, 1), arg)
 * untimed (warm-up; Go's twin runs runtime.GC() around it), then fn(n, arg)
 * timed with CLOCK_MONOTONIC; prints `row <ns per iteration> ns/op`.
 *
 * bench_parallel(n, grain, body, arg) is testing.B.RunParallel with a fixed
 * grain (needs csp.h): csp_maxprocs(0) goroutines each call body(pb, arg);
 * in body, `while (bench_pb_next(pb)) { one op }` claims iterations from one
 * shared counter, `grain` at a time, until n have been claimed. It returns
 * when every body has returned; the caller times it (inside bench_run).
 * Use the grain the Go twin's row passes to benchParallel.
 * bench_parallel_p(n, grain, p, body, arg): the same with p goroutines per
 * processor (b.SetParallelism(p)); bench_parallel is p = 1.
 *
 * Header-only, every function static; C11 or C++11 (the Boost peer uses it).
 */
#ifndef CSP_BENCH_H
#define CSP_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* clock_gettime, getrusage under -std=c11 (if first) */
#endif

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* every function: static, and no warning when a program does not use it */
#define BENCH_FN static __attribute__((unused))

/* Go's local work (ChanProdConsWork, SelectProdCons, MutexWork ...): `for i
 * := 0; i < w; i++ { foo *= 2; foo /= 2 }` on an int whose value is used
 * afterwards. Go 1.19 compiles it as written, foo in a register: SHL, then
 * SHR/LEA/SAR for the signed halving. gcc would fold foo*2/2 to foo (signed
 * overflow is undefined) and drop the loop, so an empty asm after each step
 * makes foo opaque to it: the same instructions, in a register, with no
 * memory traffic (a volatile foo would add a load and a store per step that
 * Go does not do). */
BENCH_FN long bench_local_work(long foo, int w)
{
    for (int i = 0; i < w; i++) {
        foo *= 2;
        __asm__("" : "+r"(foo));
        foo /= 2;
        __asm__("" : "+r"(foo));
    }
    return foo;
}

static int bench_quick_;
static const char *bench_pattern_;

/* Parses [--quick] and BENCH; prints a comment line naming the program. */
BENCH_FN void bench_init(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0 || strcmp(argv[i], "-quick") == 0) {
            bench_quick_ = 1;
        } else {
            fprintf(stderr, "usage: %s [--quick]   (env BENCH=pattern selects rows)\n",
                    argv[0]);
            exit(2);
        }
    }
    bench_pattern_ = getenv("BENCH");
    const char *base = strrchr(argv[0], '/');
    printf("# %s quick=%s\n", base ? base + 1 : argv[0], bench_quick_ ? "true" : "false");
    fflush(stdout);
}

/* One alternative of BENCH, the bytes [p, p+len), against a row name: a
 * glob (fnmatch with no flags: '*' also matches '/') if it holds one of
 * '*', '?', '[', else a substring. */
BENCH_FN int bench_match_one_(const char *p, size_t len, const char *row)
{
    char buf[256];
    while (len > 0 && (*p == ' ' || *p == '\t')) p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == 0) return 0;
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (strpbrk(buf, "*?[")) return fnmatch(buf, row, 0) == 0;
    return strstr(row, buf) != NULL;
}

/* Is the row selected? BENCH unset or empty (or only commas): every row.
 * Otherwise a comma-separated list of alternatives; one match selects. */
BENCH_FN int bench_want(const char *row)
{
    const char *s = bench_pattern_;
    int any = 0;
    if (!s) return 1;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *q = s;
        size_t l = len;
        while (l > 0 && (*q == ' ' || *q == '\t')) q++, l--;
        if (l > 0) {
            any = 1;
            if (bench_match_one_(s, len, row)) return 1;
        }
        if (!e) break;
        s = e + 1;
    }
    return !any;
}

BENCH_FN long bench_n(long full, long quick) { return bench_quick_ ? quick : full; }
BENCH_FN int bench_is_quick(void) { return bench_quick_; }

BENCH_FN void bench_report(const char *row, double value, const char *unit)
{
    printf("%s %.6g %s\n", row, value, unit);
    fflush(stdout);
}

/* CLOCK_MONOTONIC in ns. */
BENCH_FN int64_t bench_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* User + system CPU time of the whole process (all threads), ns. */
BENCH_FN int64_t bench_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Resident set size in KiB, from /proc/self/statm (as the Go twins read it). */
BENCH_FN double bench_rss_kb(void)
{
    long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = 0;
    fclose(f);
    return (double)rss * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

/* Keeps a value alive so the optimiser cannot drop the work behind it. */
BENCH_FN void bench_use(const void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

BENCH_FN void bench_run(const char *row, long n, void (*fn)(long n, void *arg), void *arg)
{
    if (!bench_want(row)) return;
    long w = n / 10 > 0 ? n / 10 : 1;
    fn(w, arg);
    int64_t t0 = bench_ns();
    fn(n, arg);
    int64_t dt = bench_ns() - t0;
    bench_report(row, (double)dt / (double)n, "ns/op");
}

/* testing.PB: bench_pb_next claims `grain` iterations at a time. */
typedef struct bench_pb {
    uint64_t *next; /* shared, atomic */
    uint64_t total, grain, cache;
} bench_pb;

BENCH_FN int bench_pb_next(bench_pb *pb)
{
    if (pb->cache == 0) {
        uint64_t n = __atomic_add_fetch(pb->next, pb->grain, __ATOMIC_SEQ_CST);
        if (n <= pb->total)
            pb->cache = pb->grain;
        else if (n < pb->total + pb->grain)
            pb->cache = pb->total + pb->grain - n;
        else
            return 0;
    }
    pb->cache--;
    return 1;
}

#ifdef CSP_VERSION_MAJOR /* csp.h was included: the goroutine helpers */

typedef struct bench_worker_ {
    void (*body)(bench_pb *pb, void *arg);
    void *arg;
    uint64_t *next;
    uint64_t total, grain;
    csp_waitgroup *wg;
} bench_worker_;

BENCH_FN void bench_worker_main_(void *p)
{
    bench_worker_ *w = (bench_worker_ *)p;
    bench_pb pb = { w->next, w->total, w->grain, 0 };
    csp_waitgroup *wg = w->wg;
    w->body(&pb, w->arg);
    csp_wg_done(wg);
}

/* RunParallel with b.SetParallelism(p): p * csp_maxprocs(0) goroutines
 * share n iterations (Go's benchParallelP). Each worker's bench_pb lives
 * on its own stack: a per-op counter in a shared array would put workers'
 * counters on one cache line. */
BENCH_FN void bench_parallel_p(long n, long grain, int p,
                               void (*body)(bench_pb *pb, void *arg), void *arg)
{
    int procs = (p > 0 ? p : 1) * csp_maxprocs(0);
    uint64_t next = 0;
    csp_waitgroup wg = { 0 };
    bench_worker_ *ws = (bench_worker_ *)calloc((size_t)procs, sizeof *ws);
    if (!ws) {
        fprintf(stderr, "bench_parallel: out of memory\n");
        exit(2);
    }
    csp_wg_add(&wg, procs);
    for (int i = 0; i < procs; i++) {
        ws[i].body = body;
        ws[i].arg = arg;
        ws[i].next = &next;
        ws[i].total = (uint64_t)n;
        ws[i].grain = (uint64_t)(grain > 0 ? grain : 1);
        ws[i].wg = &wg;
        if (csp_go(bench_worker_main_, &ws[i]) != 0) {
            fprintf(stderr, "bench_parallel: csp_go failed\n");
            exit(2);
        }
    }
    csp_wg_wait(&wg);
    free(ws);
}

/* RunParallel: csp_maxprocs(0) goroutines share n iterations. */
BENCH_FN void bench_parallel(long n, long grain, void (*body)(bench_pb *pb, void *arg),
                             void *arg)
{
    bench_parallel_p(n, grain, 1, body, arg);
}

#endif /* CSP_VERSION_MAJOR */

#endif /* CSP_BENCH_H */
