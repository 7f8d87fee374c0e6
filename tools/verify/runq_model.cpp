/* runq_model.cpp -- csp.h's per-P run queue under Relacy.
 *
 * Mirrors (csp.h >>scheduler, "local run queue"): csp__runq_put (with and
 * without `next`), csp__runq_put_slow (overflow to the global queue),
 * csp__runq_get (owner, with the runnext streak) and csp__runq_grab (thieves,
 * including stealing runnext), through runq.hpp, with csp.h's orders.
 *
 * Threads: 0 owns P and puts/gets; 1 and 2 are thieves, each grabbing twice.
 * The ring has 4 slots, so 8 goroutines wrap it, overflow it and reuse slots.
 *
 * Invariants checked:
 *   - every goroutine is taken exactly once (owner get, a thief's grab, the
 *     global queue, or left queued at the end): nothing lost, nothing run
 *     twice (R1, R2: a slot is not reused before the CAS that claimed it);
 *   - whoever takes a goroutine sees what the owner wrote before queueing it
 *     (g->state is a plain variable: Relacy reports a data race otherwise),
 *     through the tail store-release / acquire loads (R3) and runnext's
 *     CAS-release / acquire load;
 *   - h/t consistency: a thief never takes more than half (the retry).
 *
 * MUTATIONS: 1 2 3 4
 *   1 runq_put's store of tail RELEASE -> relaxed
 *   2 runq_grab's load of tail ACQUIRE -> relaxed
 *   3 runq_put(next)'s CAS of runnext RELEASE -> relaxed
 *   4 runq_grab's loads and CAS of runnext ACQUIRE -> relaxed
 * (Not mutated, because Relacy cannot tell: head's CAS-release and the
 * owner's head load-acquire (R2/R3) only forbid a thief's earlier relaxed
 * slot load from reading the owner's LATER rewrite of the slot -- load
 * buffering, which Relacy does not simulate. The weakened versions pass.) */
#define RQ_MUT_TAIL_STORE 1
#define RQ_MUT_GRAB_TAIL 2
#define RQ_MUT_NEXT_PUT 3
#define RQ_MUT_NEXT_GRAB 4
#include "runq.hpp"

#define NG 8

struct runq_test : rl::test_suite<runq_test, 3> {
    P p;
    GlobalQ gq;
    G gs[NG];

    void before() {
        p.init();
        gq.init();
        for (int i = 0; i < NG; i++) {
            gs[i].id = i;
            gs[i].state($) = 0;
            gs[i].schedlink($) = 0;
            gs[i].taken.store(0, rl::mo_relaxed, $);
        }
    }

    /* "Run" g: read what the owner wrote before queueing it. */
    void consume(G *g) {
        RL_ASSERT(g != 0);
        RL_ASSERT(g->state($) == 10 * g->id + 1);
        g->taken.fetch_add(1, rl::mo_relaxed, $);
    }
    void put(int i, bool next) {
        gs[i].state($) = 10 * i + 1;   /* the goroutine's context, status... */
        runq_put(&p, &gq, &gs[i], next);
    }
    void get_one() {
        G *g = runq_get(&p);
        if (g) consume(g);
    }

    void thread(unsigned idx) {
        if (idx == 0) {
            put(0, true);              /* runnext only: stealable as runnext */
            put(1, false);
            put(2, false);
            put(3, false);
            put(4, true);              /* kicks g0 to the tail */
            put(5, false);             /* ring may be full: overflow */
            get_one();
            get_one();
            put(6, false);             /* slots reused (wrap) */
            put(7, true);
            for (int k = 0; k < NG; k++) get_one();
            gq.lock.lock();            /* the scheduler's global-queue pick */
            G *g;
            while ((g = gq.get_locked()) != 0) consume(g);
            gq.lock.unlock();
        } else {
            for (int round = 0; round < 2; round++) {
                G *batch[RUNQ_N / 2];
                unsigned n = runq_grab(&p, batch, true);
                RL_ASSERT(n <= RUNQ_N / 2);
                for (unsigned i = 0; i < n; i++) consume(batch[i]);
            }
        }
    }

    void after() {
        /* Whatever is still queued counts as taken once. */
        unsigned h = p.head.load(rl::mo_relaxed, $), t = p.tail.load(rl::mo_relaxed, $);
        RL_ASSERT(t - h <= RUNQ_N);
        for (unsigned i = h; i != t; i++) p.runq[i % RUNQ_N].load(rl::mo_relaxed, $)->taken.fetch_add(1, rl::mo_relaxed, $);
        G *n = p.runnext.load(rl::mo_relaxed, $);
        if (n) n->taken.fetch_add(1, rl::mo_relaxed, $);
        G *g;
        while ((g = gq.get_locked()) != 0) g->taken.fetch_add(1, rl::mo_relaxed, $);
        for (int i = 0; i < NG; i++) RL_ASSERT(gs[i].taken.load(rl::mo_relaxed, $) == 1);
    }
};

int main(int argc, char **argv) {
    return run_suite<runq_test>("runq", 1, scaled(argc, argv, 300000)) ? 0 : 1;
}
