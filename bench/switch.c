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

int main(int argc, char **argv) {
    bench_init(argc, argv);
    int err = 0;
    main_g = csp__native_g();
    co_g = csp__g_alloc(0, &err);
    if (!co_g) { fprintf(stderr, "csp__g_alloc: %d\n", err); return 1; }
    csp__g_init_ctx(co_g, body, NULL);
    bench_run("switch/raw", bench_n(40000000, 4000000), switches, NULL);
    return 0;
}
