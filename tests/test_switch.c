/* test_switch.c -- the foundation: the asm context switch and goroutine
 * stacks, exercised directly through the runtime's private layer
 * (csp__g_alloc, csp__gswitch, ...), before any scheduler is involved. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include <execinfo.h>
#include <fenv.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

/* ---- helpers ------------------------------------------------------------ */

/* Switch with a happens-before edge for TSan: these tests hand control
 * back and forth on purpose (the runtime's own switches are no_sync and its
 * hand-offs carry their own edges). */
static void hb_switch(csp__g *from, csp__g *to) {
    csp__hb_release(to);
    csp__gswitch(from, to);
    csp__hb_acquire(from);
}

/* One coroutine body per test: runs `body`, then returns to `back`. */
typedef struct co { csp__g *g, *back; void (*body)(struct co *); void *p; long n; } co;

static void co_entry(void *arg) {
    co *c = (co *)arg;
    c->body(c);
    csp__hb_release(c->back);
    csp__gswitch_last(c->g, c->back);
}

static co *co_new(size_t stack, void (*body)(co *), void *p) {
    co *c = (co *)calloc(1, sizeof *c);
    int err = 0;
    c->g = csp__g_alloc(stack, &err);
    if (!c->g) { free(c); return NULL; }
    c->back = csp__native_g();
    c->body = body; c->p = p;
    csp__g_init_ctx(c->g, co_entry, c);
    return c;
}
static void co_run(co *c) { hb_switch(c->back, c->g); }      /* native -> co */
static void co_yield(co *c) { hb_switch(c->g, c->back); }    /* co -> native */
static void co_free(co *c) { csp__g_free(c->g); free(c); }

/* ---- a plain ping-pong ---------------------------------------------------- */
static void counter_body(co *c) {
    for (int i = 0; i < 1000; i++) { c->n++; co_yield(c); }
}
TEST(switch_ping_pong) {
    co *c = co_new(0, counter_body, NULL);
    REQUIRE(c != NULL);
    for (int i = 0; i < 1000; i++) {
        co_run(c);
        EXPECT_EQ(c->n, i + 1, "after %d round trips", i);
    }
    co_run(c);   /* the body returns: co_entry switches back for the last time */
    EXPECT_EQ(c->n, 1000);
    co_free(c);
}

/* ---- every callee-saved register survives a switch ------------------------
 * regs_switch(from, to, seed, out, fn) fills every callee-saved register with
 * seed+1, seed+2, ..., calls fn(from, to) (which switches away and, later,
 * back), then stores the registers to out[] and restores the caller's. */
#if defined(__x86_64__)
#define NREGS 6
__asm__(
    ".text\n.p2align 4\n"
    "regs_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  pushq %rcx\n"
    "  leaq 1(%rdx), %rbx\n  leaq 2(%rdx), %rbp\n  leaq 3(%rdx), %r12\n"
    "  leaq 4(%rdx), %r13\n  leaq 5(%rdx), %r14\n  leaq 6(%rdx), %r15\n"
    "  callq *%r8\n"
    "  popq %rcx\n"
    "  movq %rbx, 0(%rcx)\n  movq %rbp, 8(%rcx)\n  movq %r12, 16(%rcx)\n"
    "  movq %r13, 24(%rcx)\n  movq %r14, 32(%rcx)\n  movq %r15, 40(%rcx)\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n");
#else
#define NREGS 18
__asm__(
    ".text\n.p2align 4\n"
    "regs_switch:\n"
    "  stp x29, x30, [sp, #-176]!\n"
    "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n  stp d14, d15, [sp, #144]\n"
    "  str x3, [sp, #160]\n"
    "  add x19, x2, #1\n  add x20, x2, #2\n  add x21, x2, #3\n  add x22, x2, #4\n  add x23, x2, #5\n"
    "  add x24, x2, #6\n  add x25, x2, #7\n  add x26, x2, #8\n  add x27, x2, #9\n  add x28, x2, #10\n"
    "  add x9, x2, #11\n  fmov d8, x9\n  add x9, x2, #12\n  fmov d9, x9\n"
    "  add x9, x2, #13\n  fmov d10, x9\n  add x9, x2, #14\n  fmov d11, x9\n"
    "  add x9, x2, #15\n  fmov d12, x9\n  add x9, x2, #16\n  fmov d13, x9\n"
    "  add x9, x2, #17\n  fmov d14, x9\n  add x9, x2, #18\n  fmov d15, x9\n"
    "  blr x4\n"
    "  ldr x3, [sp, #160]\n"
    "  stp x19, x20, [x3, #0]\n  stp x21, x22, [x3, #16]\n  stp x23, x24, [x3, #32]\n"
    "  stp x25, x26, [x3, #48]\n  stp x27, x28, [x3, #64]\n"
    "  stp d8, d9, [x3, #80]\n  stp d10, d11, [x3, #96]\n  stp d12, d13, [x3, #112]\n  stp d14, d15, [x3, #128]\n"
    "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n  ldp d14, d15, [sp, #144]\n"
    "  ldp x29, x30, [sp], #176\n"
    "  ret\n");
#endif
void regs_switch(csp__g *from, csp__g *to, uint64_t seed, uint64_t *out, void (*fn)(csp__g *, csp__g *)) __asm__("regs_switch");

static void do_switch(csp__g *from, csp__g *to) { hb_switch(from, to); }
#define SEED_MAIN 0x1111000011110000ull
#define SEED_CO   0x7777000077770000ull
static uint64_t regs_co[NREGS];
static void regs_body(co *c) {
    /* Fill our registers with other values and switch back to main. */
    regs_switch(c->g, c->back, SEED_CO, regs_co, do_switch);
}
TEST(switch_preserves_callee_saved_registers) {
    co *c = co_new(0, regs_body, NULL);
    REQUIRE(c != NULL);
    uint64_t regs_main[NREGS];
    memset(regs_co, 0, sizeof regs_co);
    regs_switch(c->back, c->g, SEED_MAIN, regs_main, do_switch);
    for (int i = 0; i < NREGS; i++)
        EXPECT_EQ_U(regs_main[i], SEED_MAIN + (uint64_t)i + 1, "main's register #%d", i);
    co_run(c);   /* resume the coroutine inside its regs_switch */
    for (int i = 0; i < NREGS; i++)
        EXPECT_EQ_U(regs_co[i], SEED_CO + (uint64_t)i + 1, "coroutine's register #%d", i);
    co_free(c);
}

/* ---- floating-point control state belongs to each context ---------------- */
static int seen_round;
#if defined(__x86_64__)
static unsigned seen_mxcsr_rc;
static unsigned short seen_x87_cw;
#endif
static void round_body(co *c) {
    seen_round = fegetround();
#if defined(__x86_64__)
    seen_mxcsr_rc = _mm_getcsr() & 0x6000u;
    __asm__ __volatile__("fnstcw %0" : "=m"(seen_x87_cw));
#endif
    fesetround(FE_DOWNWARD);
    co_yield(c);
    seen_round = fegetround();
}
TEST(switch_keeps_rounding_mode_per_context) {
    co *c = co_new(0, round_body, NULL);
    REQUIRE(c != NULL);
    REQUIRE(fesetround(FE_UPWARD) == 0);
    co_run(c);
    EXPECT_EQ(seen_round, FE_TONEAREST, "a fresh context starts with round-to-nearest");
#if defined(__x86_64__)
    EXPECT_EQ(seen_mxcsr_rc, 0, "fresh MXCSR rounding bits");
    EXPECT_EQ(seen_x87_cw & 0x0c00, 0, "fresh x87 rounding bits");
#endif
    EXPECT_EQ(fegetround(), FE_UPWARD, "the coroutine's FE_DOWNWARD leaked into main");
#if defined(__x86_64__)
    EXPECT_EQ(_mm_getcsr() & 0x6000u, 0x4000u, "MXCSR rounding bits of main");
#endif
    volatile double one = 1.0, three = 3.0;
    volatile double up = one / three;
    fesetround(FE_TONEAREST);
    volatile double near = one / three;
    EXPECT(up > near, "FE_UPWARD in effect for main's arithmetic");
    fesetround(FE_UPWARD);
    co_run(c);
    EXPECT_EQ(seen_round, FE_DOWNWARD, "the coroutine's own mode was restored");
    EXPECT_EQ(fegetround(), FE_UPWARD);
    fesetround(FE_TONEAREST);
    co_free(c);
}

/* ---- a million contexts alive at once ----------------------------------- */
static void tiny_body(co *c) { c->n = 1; co_yield(c); c->n = 2; }
TEST(switch_million_contexts) {
    long n = T_COUNT(1000000, 4000);
    csp__g **gs = (csp__g **)calloc((size_t)n, sizeof *gs);
    co *cs = (co *)calloc((size_t)n, sizeof *cs);
    REQUIRE(gs && cs);
    csp__g *me = csp__native_g();
    size_t maps_before = csp__stk.mappings;
    long made = 0;
    for (long i = 0; i < n; i++) {
        int err = 0;
        cs[i].g = csp__g_alloc(0, &err);
        if (!cs[i].g) { EXPECT_EQ(err, -ENOMEM); break; }
        cs[i].back = me; cs[i].body = tiny_body;
        csp__g_init_ctx(cs[i].g, co_entry, &cs[i]);
        made++;
    }
    EXPECT_EQ(made, n, "contexts created");
    EXPECT_LT((long)(csp__stk.mappings - maps_before), 400, "mappings for %ld stacks", made);
    long ok1 = 0, ok2 = 0;
    for (long i = 0; i < made; i++) { hb_switch(me, cs[i].g); ok1 += cs[i].n == 1; }
    for (long i = 0; i < made; i++) { hb_switch(me, cs[i].g); ok2 += cs[i].n == 2; }
    EXPECT_EQ(ok1, made); EXPECT_EQ(ok2, made);
    for (long i = 0; i < made; i++) csp__g_free(cs[i].g);
    free(gs); free(cs);
}

/* ---- stack overflow is reported, never silent ------------------------------ */
static volatile int keep_going = 1;
static CSP__NOINLINE long recurse_forever(long d) {
    volatile char pad[512];
    pad[0] = (char)d; pad[511] = (char)d;
    if (!keep_going) return d;   /* never true: hides the recursion from -Winfinite-recursion */
    return recurse_forever(d + 1) + pad[0] + pad[511];
}
static void overflow_body(co *c) { c->n = recurse_forever(0); }
CHILD(overflow_child) {
    co *c = co_new(0, overflow_body, NULL);
    if (!c) exit(9);
    c->g->id = 42;
    co_run(c);
    exit(0);   /* not reached */
}
TEST(stack_overflow_is_reported) {
    csp_test_child r = RUN_CHILD(overflow_child, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "goroutine 42: stack overflow (stack size 262144");
    EXPECT_CHILD_OUTPUT_HAS(r, "fatal error: stack overflow");
    EXPECT_CHILD_OUTPUT_HAS(r, "stack used: all of it");
    csp_test_child_free(&r);
}
TEST(stack_overflow_is_reported_with_mprotect_guards) {
    csp_test_child r = RUN_CHILD_ENV(overflow_child, 20000, "CSP_GUARD_MODE=mprotect", NULL);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "goroutine 42: stack overflow");
    csp_test_child_free(&r);
}
/* Recurse until a frame lies below `limit` (addresses decide, not frame
 * counts: frame sizes differ between compilers and sanitizers). */
static CSP__NOINLINE long recurse_until(long d, char *limit) {
    volatile char pad[512];
    pad[0] = (char)d; pad[511] = (char)d;
    if ((char *)__builtin_frame_address(0) < limit) return d;
    long depth = recurse_until(d + 1, limit);
    pad[511] = (char)(pad[0] + 1);   /* live after the call: no tail call */
    return depth;
}
/* Canary mode: an overflow that stays within the (unprotected) guard zone is
 * caught at the next switch away. */
/* Like recurse_until, but every byte of every frame is written, as real
 * code that overflows with arrays does. */
static CSP__NOINLINE long recurse_writing(long d, char *limit) {
    char pad[512];
    memset(pad, (int)d, sizeof pad);
    __asm__ __volatile__("" : : "r"(pad) : "memory");
    if ((char *)__builtin_frame_address(0) < limit) return d;
    long depth = recurse_writing(d + 1, limit);
    __asm__ __volatile__("" : : "r"(pad) : "memory");
    return depth + pad[3];
}
static void bounded_overflow_body(co *c) {
    c->n = recurse_writing(0, c->g->stack_lo - 16 * 1024);
    co_yield(c);
}
CHILD(canary_child) {
    co *c = co_new(0, bounded_overflow_body, NULL);
    if (!c) exit(9);
    c->g->id = 43;
    co_run(c);
    exit(0);
}
TEST(stack_overflow_is_reported_with_canary) {
    csp_test_child r = RUN_CHILD_ENV(canary_child, 20000, "CSP_GUARD_MODE=canary", NULL);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "goroutine 43: stack overflow");
    csp_test_child_free(&r);
}

/* ---- deep legal recursion on a big stack ----------------------------------- */
static void deep_body(co *c) { c->n = recurse_until(0, c->g->stack_lo + c->n); }
TEST(deep_recursion_on_big_stack) {
    co *c = co_new(8u << 20, deep_body, NULL);
    REQUIRE(c != NULL);
    c->n = 4096;   /* stop 4 KiB above the bottom: ~8 MiB of frames */
    co_run(c);
    EXPECT_GT(c->n, 10000, "frames of recursion on an 8 MiB stack");
    co_free(c);
}
TEST(usable_stack_is_size_less_reserve) {
    /* 64 KiB asked: all of it but the reserve is usable (1 KiB margin for
     * the last frame). */
    co *c = co_new(64u * 1024u, deep_body, NULL);
    REQUIRE(c != NULL);
#if defined(CSP__ASAN) || defined(CSP__TSAN)
    c->n = 8192;   /* sanitizer runtimes need deeper frames of their own */
#else
    c->n = 1024;
#endif
    co_run(c);
    EXPECT_GT(c->n, 40);
    co_free(c);
}

/* ---- reuse, and memory given back --------------------------------------- */
TEST(stack_reuse_and_give_back) {
    int err = 0;
    csp__g *a = csp__g_alloc(0, &err);
    REQUIRE(a != NULL);
    char *resv = a->resv;
    csp__g_free(a);
    csp__g *b = csp__g_alloc(0, &err);
    REQUIRE(b != NULL);
    EXPECT(b->resv == resv, "a freed stack is reused first");
    csp__g_free(b);

    /* Fill the global list past its warm reserve: its coldest entries (at
     * the bottom of the stack) give their pages back, the warm ones keep
     * theirs. */
    enum { FILL = CSP__STK_WARM + 4 * CSP__STKCACHE };
    csp__g **fill = (csp__g **)calloc(FILL, sizeof *fill);
    REQUIRE(fill != NULL);
    for (int i = 0; i < FILL; i++) {
        fill[i] = csp__g_alloc(0, &err);
        REQUIRE(fill[i] != NULL);
        memset((char *)fill[i] - 16384, 0xab, 16384 - 64);   /* touch 4 pages */
    }
    for (int i = 0; i < FILL; i++) csp__g_free(fill[i]);
    free(fill);
    /* What sysmon's scavenger does a batch per tick (no runtime runs here). */
    EXPECT_EQ(csp__stk.released, 0u, "freeing a stack gives no pages back by itself");
    while (csp__stk_scavenge(256, false)) {}
    size_t pg = csp__pagesize();
    pthread_mutex_lock(&csp__stk.lock);
    size_t released = csp__stk.released, nfree = csp__stk.nfree;
    int cold_empty = 0, checked = 0, warm_resident = 0;
    for (size_t i = 0; i < released && checked < 64; i++, checked++) {
        char *lo = (char *)(csp__stk.free[i] & ~(uintptr_t)1) + CSP__GUARD_ZONE;
        unsigned char vec[CSP_DEFAULT_STACK_SIZE / 4096];
        if (mincore(lo, (size_t)CSP_DEFAULT_STACK_SIZE, vec) != 0) continue;
        size_t res = 0;
        for (size_t k = 0; k < (size_t)CSP_DEFAULT_STACK_SIZE / pg; k++) res += vec[k] & 1;
        cold_empty += res == 0;
    }
    for (size_t i = nfree; i > released && i > nfree - 8; i--) {
        char *lo = (char *)(csp__stk.free[i - 1] & ~(uintptr_t)1) + CSP__GUARD_ZONE;
        unsigned char vec[CSP_DEFAULT_STACK_SIZE / 4096];
        if (mincore(lo, (size_t)CSP_DEFAULT_STACK_SIZE, vec) != 0) continue;
        size_t res = 0;
        for (size_t k = 0; k < (size_t)CSP_DEFAULT_STACK_SIZE / pg; k++) res += vec[k] & 1;
        warm_resident += res > 0;
    }
    pthread_mutex_unlock(&csp__stk.lock);
    EXPECT_GT_U(released, 0u, "beyond the warm reserve, pages were given back");
    EXPECT_EQ(cold_empty, checked, "the coldest free stacks have no resident pages");
    EXPECT_GT(warm_resident, 0, "the warmest free stacks keep theirs (reuse costs no page fault)");
}

TEST(bad_stack_sizes) {
    int err = 0;
    csp__g *g = csp__g_alloc((size_t)-1, &err);
    EXPECT(g == NULL, "an absurd stack size fails");
    EXPECT_EQ(err, -ENOMEM);
    g = csp__g_alloc(((size_t)1 << 46) + 1, &err);
    EXPECT(g == NULL); EXPECT_EQ(err, -ENOMEM);
    g = csp__g_alloc(1, &err);
    REQUIRE(g != NULL, "a tiny size is rounded up");
    EXPECT_EQ(g->stack_size, (size_t)16384);
    csp__g_free(g);
    g = csp__g_alloc(0, &err);
    REQUIRE(g != NULL);
    EXPECT_EQ(g->stack_size, (size_t)CSP_DEFAULT_STACK_SIZE, "0 means the default");
    csp__g_free(g);
    g = csp__g_alloc(20000, &err);
    REQUIRE(g != NULL);
    EXPECT_EQ(g->stack_size % csp__pagesize(), (size_t)0, "rounded to pages");
    csp__g_free(g);
}

/* ---- unwinding stops at the trampoline ------------------------------------ */
static int bt_n;
static void *bt_frames[64];
static CSP__NOINLINE void bt_leaf(void) { bt_n = backtrace(bt_frames, 64); __asm__ __volatile__(""); }
static void bt_body(co *c) { (void)c; bt_leaf(); }
TEST(backtrace_ends_at_trampoline) {
    co *c = co_new(0, bt_body, NULL);
    REQUIRE(c != NULL);
    co_run(c);
    EXPECT_GT(bt_n, 1);
    EXPECT_LT(bt_n, 12, "a coroutine's backtrace is short: it ends at its first frame");
    if (bt_n > 0) {
        uintptr_t last = (uintptr_t)bt_frames[bt_n - 1];
        EXPECT(last >= (uintptr_t)csp__tramp && last <= (uintptr_t)csp__tramp_end,
               "last frame %p in the trampoline [%#lx, %#lx]", bt_frames[bt_n - 1],
               (unsigned long)(uintptr_t)csp__tramp, (unsigned long)(uintptr_t)csp__tramp_end);
    }
    co_free(c);
}

TEST(guard_mode_probe) {
    int err = 0;
    csp__g *g = csp__g_alloc(0, &err);
    REQUIRE(g != NULL);
    const char *names[] = { "unknown", "madvise", "mprotect", "canary" };
    printf("    guard mode: %s\n", names[csp__stk.mode]);
    EXPECT(csp__stk.mode != CSP__GUARD_UNKNOWN);
    csp__g_free(g);
}
