/* switch.c -- the raw context switch: two contexts on one thread pass control
 * back and forth; reported per ONE switch (a round trip / 2). Twin:
 * bench/peers/fcontext.cpp (Boost.Context); Go has no raw switch to compare. */
#define CSP_IMPLEMENTATION
#include "../csp.h"
#include <fnmatch.h>

static csp__g *main_g, *co_g;
static volatile long iters;

static void body(void *arg) {
    (void)arg;
    for (;;) csp__gswitch(co_g, main_g);
}

static int selected(const char *row) {
    const char *p = getenv("BENCH");
    if (!p || !*p) return 1;
    if (strpbrk(p, "*?[")) return fnmatch(p, row, 0) == 0;
    return strstr(row, p) != NULL;
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (!selected("switch/raw")) return 0;
    long n = quick ? 2000000 : 20000000;
    int err = 0;
    main_g = csp__native_g();
    co_g = csp__g_alloc(0, &err);
    if (!co_g) { fprintf(stderr, "alloc: %d\n", err); return 1; }
    csp__g_init_ctx(co_g, body, NULL);
    for (long i = 0; i < n / 10; i++) csp__gswitch(main_g, co_g);   /* warm up */
    int64_t t0 = csp_now();
    for (long i = 0; i < n; i++) csp__gswitch(main_g, co_g);
    int64_t t1 = csp_now();
    printf("switch/raw %.2f ns/op\n", (double)(t1 - t0) / (2.0 * (double)n));
    return 0;
}
