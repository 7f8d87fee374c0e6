/* switch.c -- the raw context switch: two contexts on one thread pass control
 * back and forth; reported per ONE switch (a round trip / 2), as the peer
 * bench/peers/fcontext.cpp (Boost.Context) does. Go has no raw switch. */
#define CSP_STATIC
#include "csp.h"
#include "bench/bench.h"

static csp__g *main_g, *co_g;

static void body(void *arg) {
    (void)arg;
    for (;;) csp__gswitch(co_g, main_g);
}

/* n switches: n/2 round trips (each round trip is two switches). */
static void switches(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n / 2; i++) csp__gswitch(main_g, co_g);
}

#if defined(__x86_64__)
/* switch/stmxcsr: what one STMXCSR costs on its own (a dependent chain of
 * them through memory, as a switch issues one). It is the floor the FP
 * control state puts under switch/raw on x86-64: the switch must read the
 * outgoing goroutine's MXCSR, and no cheaper instruction reads it. */
static void stmxcsr_loop(long n, void *arg) {
    (void)arg;
    uint32_t v = 0;
    for (long i = 0; i < n; i++) __asm__ __volatile__("stmxcsr %0" : "=m"(v) : : "memory");
    (void)v;
}
#endif

int main(int argc, char **argv) {
    bench_init(argc, argv);
    int err = 0;
    main_g = csp__native_g();
    co_g = csp__g_alloc(0, &err);
    if (!co_g) { fprintf(stderr, "csp__g_alloc: %d\n", err); return 1; }
    csp__g_init_ctx(co_g, body, NULL);
    bench_run("switch/raw", bench_n(40000000, 4000000), switches, NULL);
#if defined(__x86_64__)
    bench_run("switch/stmxcsr", bench_n(40000000, 4000000), stmxcsr_loop, NULL);
#endif
    return 0;
}
