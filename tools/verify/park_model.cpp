/* park_model.cpp -- csp.h's park/wake handshake under Relacy.
 *
 * Mirrors (csp.h >>scheduler, "park and ready" and "switching with hooks"):
 *   thread: csp__park's plain-thread branch (parkword = 0 relaxed, unlockf,
 *     then load-acquire / futex_wait until 1) against csp__ready's
 *     store-release of 1 + futex_wake (chan.hpp). The waker writes g->param
 *     outside any lock before readying, as csp__sel_timeout_fire does.
 *   goroutine: csp__park's goroutine branch: status WAITING, m->hook = PARK
 *     with the unlock function, the switch saves the context, and only then
 *     does the successor on that thread (csp__after_switch) run unlockf,
 *     which releases the object's lock; the waker takes the lock, finds g,
 *     and csp__ready puts it in its own P's runnext (csp__runq_put(next),
 *     CAS-release); g is then run by that P's owner (csp__runq_get) or stolen
 *     by a thief (csp__runq_grab with steal_next), who switches to it and
 *     reads the saved context. Run queue: runq.hpp.
 * The object waited on is a tiny semaphore (one waiter slot and a pending
 * flag under a csp__lock_t), like csp.h's sync objects.
 *
 * Invariants checked:
 *   - no lost wake-up: the waiter always returns (Relacy reports a deadlock
 *     if it sleeps forever) / the goroutine always ends up run or runnable;
 *   - no double wake: one csp__ready per park (assertion), the goroutine is
 *     run at most once and taken from the run queue at most once;
 *   - what the waker wrote before readying (param) and what the parker
 *     saved before its lock was released (the context) are visible to whoever
 *     runs it next: plain variables, a data race otherwise.
 *
 * MUTATIONS: 1 2 3 4 5
 *   1 csp__ready: parkword store RELEASE -> relaxed
 *   2 csp__park: parkword load ACQUIRE -> relaxed
 *   3 csp__unlock: exchange RELEASE -> relaxed
 *   4 (logic) unlockf run before the switch instead of by the successor
 *   5 csp__runq_put(next): runnext CAS RELEASE -> relaxed */
#define PK_MUT_READY 1
#define PK_MUT_PARK 2
#define MUTATE_UNLOCK 3
#define PK_MUT_HOOK_EARLY 4
#define RQ_MUT_NEXT_PUT 5
#include "chan.hpp"
#include "runq.hpp"

/* ---- plain threads ---------------------------------------------------------- */
struct Sema {
    csp_lock_t lock;
    rl::var<Gt *> waiter;
    rl::var<bool> pending;
    void init() { lock.init(); waiter($) = 0; pending($) = false; }
};
static bool unlock_sema(Gt *, void *arg) { ((Sema *)arg)->lock.unlock(); return true; }

struct park_thread : rl::test_suite<park_thread, 3> {
    Sema s;
    Gt g[3];
    Sudog token;
    void before() { s.init(); for (int i = 0; i < 3; i++) g[i].init(); token.init(0, 0, -1, false); }
    void thread(unsigned idx) {
        if (idx == 0) {
            s.lock.lock();
            if (s.pending($)) { s.pending($) = false; s.lock.unlock(); return; }
            s.waiter($) = &g[0];
            csp_park(&g[0], unlock_sema, &s);
            RL_ASSERT(g[0].param($) == &token);
        } else {
            /* Two wakers: the first to find the waiter readies it; one that
             * finds none leaves a pending wake-up, the other does nothing. */
            s.lock.lock();
            Gt *w = s.waiter($);
            s.waiter($) = 0;
            if (!w && idx == 1) s.pending($) = true;
            s.lock.unlock();
            if (w) {
                w->param($) = &token;   /* outside the lock, then ready */
                csp_ready(w);
            }
        }
    }
    void after() { RL_ASSERT(g[0].wakes_balanced()); }
};

/* ---- goroutines -------------------------------------------------------------- */
struct GSema {
    csp_lock_t lock;
    rl::var<G *> waiter;
    rl::var<bool> pending;
    void init() { lock.init(); waiter($) = 0; pending($) = false; }
};

enum { GS_RUNNING, GS_WAITING, GS_RUNNABLE };

struct park_goroutine : rl::test_suite<park_goroutine, 3> {
    GSema s;
    P p1, p2;
    GlobalQ gq;
    G gr;                       /* the goroutine; gr.state is its saved context */
    rl::atomic<int> status;     /* g->status (relaxed, as in csp.h) */
    rl::atomic<int> runs;       /* test bookkeeping */
    bool parked;                /*   gr parked (did not take a pending wake) */

    void before() {
        s.init(); p1.init(); p2.init(); gq.init();
        gr.id = 0; gr.state($) = 0; gr.schedlink($) = 0; gr.taken.store(0, rl::mo_relaxed, $);
        status.store(GS_RUNNING, rl::mo_relaxed, $);
        runs.store(0, rl::mo_relaxed, $);
        parked = false;
    }
    /* csp__switch_to(g) by whoever took g from a run queue. */
    void run(G *g) {
        RL_ASSERT(g == &gr);
        RL_ASSERT(g->state($) == 1 && "switched to a context that was not saved");
        RL_ASSERT(status.load(rl::mo_relaxed, $) == GS_RUNNABLE);
        status.store(GS_RUNNING, rl::mo_relaxed, $);   /* csp__mark_running */
        RL_ASSERT(runs.fetch_add(1, rl::mo_relaxed, $) == 0 && "run twice");
    }
    void thread(unsigned idx) {
        if (idx == 0) {
            /* M1: gr runs here and waits on s. */
            s.lock.lock();
            if (s.pending($)) { s.pending($) = false; s.lock.unlock(); return; }
            s.waiter($) = &gr;
            parked = true;
            status.store(GS_WAITING, rl::mo_relaxed, $);
            if (MUT(PK_MUT_HOOK_EARLY)) s.lock.unlock();   /* mutation: unlockf before the switch */
            /* m->hook = PARK; csp__gswitch saves gr's context ... */
            gr.state($) = 1;
            /* ... and the successor (g0 of M1) runs csp__after_switch: */
            if (!MUT(PK_MUT_HOOK_EARLY)) s.lock.unlock();
            G *g = runq_get(&p1);   /* M1 looks for work on its own P */
            RL_ASSERT(g == 0);
        } else if (idx == 1) {
            /* M2, owner of P2: the waker. */
            s.lock.lock();
            G *w = s.waiter($);
            s.waiter($) = 0;
            if (!w) s.pending($) = true;
            s.lock.unlock();
            if (w) {
                /* csp__ready from a goroutine on P2: RUNNABLE, then runnext. */
                status.store(GS_RUNNABLE, rl::mo_relaxed, $);
                runq_put(&p2, &gq, w, true);
                G *g = runq_get(&p2);   /* M2 switches to it at its next park */
                if (g) run(g);
            }
        } else {
            /* M3: a spinning thief. */
            for (int k = 0; k < 2; k++) {
                G *batch[RUNQ_N / 2];
                unsigned n = runq_grab(&p2, batch, true);
                RL_ASSERT(n <= 1);
                if (n == 1) { run(batch[0]); break; }
                rl::yield(1, $);
            }
        }
    }
    void after() {
        /* Readied exactly when it parked, and then run once or still runnable. */
        int queued = p2.runnext.load(rl::mo_relaxed, $) == &gr ? 1 : 0;
        RL_ASSERT(s.waiter($) == 0);
        RL_ASSERT(runs.load(rl::mo_relaxed, $) + queued == (parked ? 1 : 0));
    }
};

int main(int argc, char **argv) {
    bool ok = run_suite<park_thread>("park/thread", 3, scaled(argc, argv, 100000));
    ok = ok && run_suite<park_goroutine>("park/goroutine", 3, scaled(argc, argv, 100000));
    return ok ? 0 : 1;
}
