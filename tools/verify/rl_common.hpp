/* rl_common.hpp -- what every Relacy model of csp.h shares.
 *
 * The models mirror csp.h's lock-free code line by line, with the SAME memory
 * orders (cited next to each operation). csp.h uses the __atomic builtins; here
 * every such variable is an rl::atomic and every plain field that the orders
 * must publish is an rl::var, so Relacy reports a data race when an order is
 * too weak, and RL_ASSERT checks the invariants each model states at its top.
 *
 * Mutations: -DCSP_MUTATE=N weakens the one operation tagged N in the model
 * (MO(N, real, weak) below); the driver (run.sh) expects Relacy to report a
 * failure for every N a model lists in its "MUTATIONS:" line.
 *
 * Relacy note: include <relacy/relacy.hpp>, not relacy_std.hpp (whose `using
 * rl::atomic` clashes with libstdc++ 12's std::atomic), and build with
 * -std=c++11. */
#ifndef CSP_VERIFY_RL_COMMON_HPP
#define CSP_VERIFY_RL_COMMON_HPP

#include <relacy/relacy.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#ifndef CSP_MUTATE
#define CSP_MUTATE 0
#endif

/* The order csp.h uses, unless mutation n is selected. */
#define MO(n, real, weak) (((n) != 0 && CSP_MUTATE == (n)) ? rl::weak : rl::real)
/* A logic mutation (not an order): true when mutation n is selected. */
#define MUT(n) ((n) != 0 && CSP_MUTATE == (n))

/* csp__cas: strong CAS, failure order relaxed (csp.h >>platform: atomics). */
template <typename T>
static bool csp_cas(rl::atomic<T> &a, T &expected, T desired, rl::memory_order mo, rl::debug_info_param info) {
    return a.compare_exchange(rl::bool_t<false>(), expected, desired, mo, rl::mo_relaxed, info);
}
/* csp__cas_weak: may fail spuriously. */
template <typename T>
static bool csp_cas_weak(rl::atomic<T> &a, T &expected, T desired, rl::memory_order mo, rl::debug_info_param info) {
    return a.compare_exchange(rl::bool_t<true>(), expected, desired, mo, rl::mo_relaxed, info);
}
#define CAS(a, e, d, mo) csp_cas((a), (e), (d), (mo), $)
#define CAS_WEAK(a, e, d, mo) csp_cas_weak((a), (e), (d), (mo), $)

/* csp__futex_wait/csp__futex_wake on Relacy's futex waitset (as its own
 * rl_futex does): the wait parks only if the word still holds val, checked
 * atomically with parking (the kernel's hash-bucket lock); a timed wait may
 * time out. Unlike rl_futex, no spurious wake-ups: every caller in csp.h
 * re-checks its word in a loop anyway, and with them a tree search never
 * ends (a sleeper may wake spuriously forever). Returns 0, RL_ETIMEDOUT or
 * RL_EWOULDBLOCK. */
static int futex_wait(rl::atomic<int> *addr, int val, bool timed, rl::debug_info_param info) {
    rl::context &c = rl::ctx();
    c.sched();
    c.atomic_thread_fence_seq_cst();
    int v0;
    {
        rl::preemption_disabler pd(c);
        v0 = addr->load(rl::mo_acquire, info);
    }
    if (v0 != val) return rl::RL_EWOULDBLOCK;
    rl::unpark_reason r = addr->wait(c, timed, false, info);
    return r == rl::unpark_reason_timeout ? rl::RL_ETIMEDOUT : 0;
}
static void futex_wake(rl::atomic<int> *addr, int n, rl::debug_info_param info) {
    rl::context &c = rl::ctx();
    c.sched();
    c.atomic_thread_fence_seq_cst();
    addr->wake(c, n, info);
}
#define FUTEX_WAIT_(a, v, timed) futex_wait((a), (v), (timed), $)
#define FUTEX_WAKE_(a, n) futex_wake((a), (n), $)

/* csp__lock_t (csp.h >>runtime lock): 0 free, 1 held, 2 held with sleepers.
 * csp.h spins 64 times before sleeping; one spin here keeps the state space
 * small and still takes both the spin and the futex paths. MUTATE_UNLOCK
 * names the mutation number a model gives to csp__unlock's release (0: none). */
#ifndef MUTATE_UNLOCK
#define MUTATE_UNLOCK 0
#endif
struct csp_lock_t {
    rl::atomic<int> v;
    void init() { v.store(0, rl::mo_relaxed, $); }
    void lock_slow() {
        for (int i = 0; i < 1; i++) {
            int z = 0;
            /* csp__lock_slow: relaxed peek, then CAS(ACQUIRE). */
            if (v.load(rl::mo_relaxed, $) == 0 && CAS(v, z, 1, rl::mo_acquire)) return;
            rl::yield(1, $);   /* csp__cpu_relax */
        }
        /* xchg(2, ACQUIRE), futex_wait(2) while it was held. */
        while (v.exchange(2, rl::mo_acquire, $) != 0) FUTEX_WAIT_(&v, 2, false);
    }
    void lock() {
        int z = 0;
        if (CAS(v, z, 1, rl::mo_acquire)) return;   /* csp__lock: CAS(ACQUIRE) */
        lock_slow();
    }
    void unlock() {
        /* csp__unlock: xchg(0, RELEASE); wake one sleeper if there were any. */
        if (v.exchange(0, MO(MUTATE_UNLOCK, mo_release, mo_relaxed), $) == 2) FUTEX_WAKE_(&v, 1);
    }
};

/* Runs one test suite: an exhaustive search of every schedule with at most
 * `bound` preemptions (Relacy's context-bound scheduler; 0: skipped), then
 * `iters` random schedules (0: skipped). Prints one line per search; returns
 * true when Relacy found no failure. */
template <typename Test>
static bool run_one(const char *name, rl::scheduler_type_e sched, unsigned iters, unsigned bound) {
    rl::test_params p;
    p.search_type = sched;
    p.iteration_count = iters;
    p.context_bound = bound;
    p.execution_depth_limit = 4000;
    /* Relacy replaces operator new/delete: a std::ostringstream here would
     * free through the wrong allocator, so the report goes to std::cout and
     * the progress lines nowhere (a stream without a buffer). */
    static std::ostream null_out(0);
    p.output_stream = &std::cout;
    p.progress_stream = &null_out;
    bool ok = rl::simulate<Test>(p);
    std::cout.flush();
    if (!ok) {
        std::printf("model %s: FAILED (%s, %s, iteration %llu)\n", name, rl::test_result_str(p.test_result),
                    rl::format(sched), (unsigned long long)p.stop_iteration);
    } else if (sched == rl::sched_bound) {
        std::printf("model %s: ok (every schedule with <= %u preemptions: %llu)\n", name, bound,
                    (unsigned long long)p.stop_iteration);
    } else {
        std::printf("model %s: ok (%llu random schedules)\n", name, (unsigned long long)p.stop_iteration);
    }
    std::fflush(stdout);
    return ok;
}
template <typename Test>
static bool run_suite(const char *name, unsigned bound, unsigned iters) {
    if (bound && !run_one<Test>(name, rl::sched_bound, 1, bound)) return false;
    if (iters && !run_one<Test>(name, rl::sched_random, iters, 0)) return false;
    return true;
}

/* argv[1], if given, scales the random iterations (percent). */
static unsigned scaled(int argc, char **argv, unsigned iters) {
    if (argc > 1) return (unsigned)((unsigned long long)iters * (unsigned)std::atoi(argv[1]) / 100);
    return iters;
}

#endif
