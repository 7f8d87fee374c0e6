/* chan_model.cpp -- csp.h's channel fast paths and direct hand-off under Relacy.
 *
 * Mirrors (csp.h >>channels, through chan.hpp): csp__chan_full/csp__chan_empty
 * and the lock-free early returns of csp__chan_send/csp__chan_recv for
 * non-blocking calls (Go's chansend/chanrecv fast path), csp_close, the
 * locked paths, and the direct hand-off csp__chan_send_direct /
 * csp__chan_recv_direct: value copied under the lock, then csp__ready
 * (plain-thread waiters: parkword store-release + futex wake; csp__park's
 * acquire load of parkword). The channel lock is csp__lock_t (rl_common.hpp).
 *
 * Suites and invariants:
 *   close_fastpath (buffered, cap 2): a sender sends 1, 2 then closes; a
 *     receiver polls with csp_try_recv. It must get 1 then 2, and may report
 *     "closed" only after both (a value sent before close is never lost):
 *     the closed load-acquire pairs with close's store-release, so the
 *     second empty() sees qcount as of the close.
 *   handoff (unbuffered, 3 threads): two senders (try_send, then a blocking
 *     send) and a receiver of two values: each value arrives exactly once,
 *     intact (a data race otherwise), via a parked receiver or a parked
 *     sender; no lost wake-up (Relacy reports a deadlock: a thread asleep
 *     in the futex forever).
 *   full_buffer (cap 1): a sender blocked on a full buffer is taken by
 *     recv_direct (head to the receiver, the sender's value to the tail):
 *     FIFO order 1, 2.
 *   close_then_free (unbuffered): one thread closes, holding no reference
 *     (the semaphore's notifier); the other polls with csp_try_recv and,
 *     once it sees the close (lock-free), releases the last reference:
 *     csp_chan_release takes the lock once, so the closer's accesses up to
 *     its unlock happen before the free (a data race otherwise: a use after
 *     free).
 *
 * MUTATIONS: 1 2 3 4 5 6
 *   1 chanrecv fast path: load of closed ACQUIRE -> relaxed
 *   2 csp_close: store of closed RELEASE -> relaxed
 *   3 csp__ready: parkword store RELEASE -> relaxed
 *   4 csp__park: parkword load ACQUIRE -> relaxed
 *   5 csp__unlock: exchange RELEASE -> relaxed
 *   6 csp_chan_release: free without taking the lock once (use after free) */
#define CH_MUT_CLOSED_LOAD 1
#define CH_MUT_CLOSED_STORE 2
#define PK_MUT_READY 3
#define PK_MUT_PARK 4
#define MUTATE_UNLOCK 5
#define CH_MUT_FREE_NOLOCK 6
#include "chan.hpp"

struct close_fastpath : rl::test_suite<close_fastpath, 2> {
    Chan c;
    Gt g[2];
    void before() { c.init(2); g[0].init(); g[1].init(); }
    void thread(unsigned idx) {
        if (idx == 0) {
            rl::var<int> v;
            v($) = 1; chan_send(&g[0], &c, &v, true);
            v($) = 2; chan_send(&g[0], &c, &v, true);
            chan_close(&c);
        } else {
            rl::var<int> v;
            int got = 0;
            for (int k = 0; k < 6; k++) {
                bool ok = false;
                if (chan_recv(&g[1], &c, &v, false, &ok)) {
                    if (ok) { RL_ASSERT(v($) == got + 1); got++; }
                    else { RL_ASSERT(got == 2 && "closed reported before the buffered values"); break; }
                } else {
                    rl::yield(1, $);
                }
            }
        }
    }
};

struct close_then_free : rl::test_suite<close_then_free, 2> {
    Chan c;
    Gt g[2];
    void before() { c.init(0); g[0].init(); g[1].init(); }
    void thread(unsigned idx) {
        if (idx == 0) {
            chan_close(&c);
        } else {
            for (int k = 0; k < 8; k++) {
                bool ok = true;
                if (chan_recv(&g[1], &c, 0, false, &ok)) {
                    RL_ASSERT(!ok);
                    chan_free(&c);   /* saw the close: the last reference released */
                    return;
                }
                rl::yield(1, $);
            }
        }
    }
};

struct handoff : rl::test_suite<handoff, 3> {
    Chan c;
    Gt g[3];
    void before() { c.init(0); for (int i = 0; i < 3; i++) g[i].init(); }
    void thread(unsigned idx) {
        if (idx == 0) {
            rl::var<int> v;
            int sum = 0;
            for (int k = 0; k < 2; k++) {
                bool ok = false;
                RL_ASSERT(chan_recv(&g[0], &c, &v, true, &ok));
                RL_ASSERT(ok);
                int x = v($);
                RL_ASSERT(x == 42 || x == 7);
                sum += x;
            }
            RL_ASSERT(sum == 49);   /* each value once */
        } else {
            rl::var<int> v;
            v($) = idx == 1 ? 42 : 7;
            if (!chan_send(&g[idx], &c, &v, false)) chan_send(&g[idx], &c, &v, true);
        }
    }
    void after() {
        for (int i = 0; i < 3; i++) RL_ASSERT(g[i].wakes_balanced());
        RL_ASSERT(c.recvq.first.load(rl::mo_relaxed, $) == 0 && c.sendq.first.load(rl::mo_relaxed, $) == 0);
    }
};

struct full_buffer : rl::test_suite<full_buffer, 2> {
    Chan c;
    Gt g[2];
    void before() { c.init(1); g[0].init(); g[1].init(); }
    void thread(unsigned idx) {
        rl::var<int> v;
        if (idx == 0) {
            v($) = 1; chan_send(&g[0], &c, &v, true);
            v($) = 2; chan_send(&g[0], &c, &v, true);   /* may block: buffer full */
        } else {
            for (int k = 1; k <= 2; k++) {
                bool ok = false;
                RL_ASSERT(chan_recv(&g[1], &c, &v, true, &ok) && ok);
                RL_ASSERT(v($) == k);
            }
        }
    }
};

int main(int argc, char **argv) {
    bool ok = run_suite<close_fastpath>("chan/close_fastpath", 3, scaled(argc, argv, 100000));
    ok = ok && run_suite<handoff>("chan/handoff", 2, scaled(argc, argv, 100000));
    ok = ok && run_suite<full_buffer>("chan/full_buffer", 3, scaled(argc, argv, 100000));
    ok = ok && run_suite<close_then_free>("chan/close_then_free", 2, scaled(argc, argv, 100000));
    return ok ? 0 : 1;
}
