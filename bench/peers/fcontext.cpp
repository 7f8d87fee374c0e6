// Peer for the switch area: Boost.Context's low-level fcontext switch, the
// assembly context switch Boost.Coroutine2 and Boost.Fiber build on.
//
// bench-requires: boost/context/detail/fcontext.hpp
// bench-libs: -lboost_context
// bench-install: apt-get install libboost-context-dev
//
// Row switch/raw: ns per ONE switch direction. The main context and one
// context made with make_fcontext on a 64 KiB malloc'd stack bounce with
// jump_fcontext; N round trips (N = 20,000,000, quick 2,000,000) are 2N
// switches, and the row is the elapsed time / 2N. As in bench/switch.c
// (which prints the same row for csp's raw switch; Go has no twin), the
// stack and the context are made once, untimed, before the warm-up of N/10
// round trips, and both passes bounce the same context.
#include "bench/bench.h"

#include <boost/context/detail/fcontext.hpp>
#include <boost/version.hpp>
#include <cstdlib>

namespace ctx = boost::context::detail;

static void bouncer(ctx::transfer_t t)
{
    // Every jump back to main returns here with main's new context.
    for (;;) t = ctx::jump_fcontext(t.fctx, t.data);
}

static ctx::fcontext_t bounce; // the bouncer, as the last jump left it

// n round trips (2n switches) between main and the bouncer.
static void raw_switch(long n)
{
    ctx::fcontext_t c = bounce;
    for (long i = 0; i < n; i++) c = ctx::jump_fcontext(c, nullptr).fctx;
    bounce = c;
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    if (bench_want("switch/raw")) {
        const std::size_t size = 64 * 1024;
        void *stack = std::malloc(size);
        if (!stack) std::abort();
        // make_fcontext wants the TOP of the stack (it grows down on x86-64/arm64).
        bounce = ctx::make_fcontext(static_cast<char *>(stack) + size, size, bouncer);
        long n = bench_n(20000000, 2000000);
        raw_switch(n / 10 > 0 ? n / 10 : 1); // warm-up, as bench_run does
        int64_t t0 = bench_ns();
        raw_switch(n);
        int64_t dt = bench_ns() - t0;
        bench_report("switch/raw", (double)dt / (2.0 * (double)n), "ns/op");
        // The bouncer is parked inside jump_fcontext; dropping its stack is
        // fine (nothing on it owns resources).
        std::free(stack);
    }
    printf("# peer: Boost.Context %d.%d jump_fcontext/make_fcontext\n",
           BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
    return 0;
}
