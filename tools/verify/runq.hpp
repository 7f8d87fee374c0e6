/* runq.hpp -- the mirror of csp.h's per-P run queue (>>scheduler, "local run
 * queue": csp__runq_put, csp__runq_put_slow, csp__runq_get, csp__runq_grab,
 * csp__globrunq_put_locked), shared by runq_model.cpp and park_model.cpp.
 * Same orders as csp.h; the ring has RUNQ_N slots instead of 256 so that a
 * few goroutines wrap it and overflow it. A model may define the RQ_MUT_*
 * numbers to weaken one operation (0: none). */
#ifndef CSP_VERIFY_RUNQ_HPP
#define CSP_VERIFY_RUNQ_HPP

#include "rl_common.hpp"

#ifndef RUNQ_N
#define RUNQ_N 4u
#endif
#ifndef RQ_MUT_TAIL_STORE
#define RQ_MUT_TAIL_STORE 0   /* runq_put: tail store RELEASE */
#endif
#ifndef RQ_MUT_GRAB_TAIL
#define RQ_MUT_GRAB_TAIL 0    /* runq_grab: tail load ACQUIRE */
#endif
#ifndef RQ_MUT_NEXT_PUT
#define RQ_MUT_NEXT_PUT 0     /* runq_put(next): runnext CAS RELEASE */
#endif
#ifndef RQ_MUT_NEXT_GRAB
#define RQ_MUT_NEXT_GRAB 0    /* runq_grab: runnext load ACQUIRE (and its CAS ACQUIRE) */
#endif
#ifndef RQ_MUT_HEAD_CAS
#define RQ_MUT_HEAD_CAS 0     /* runq_grab: head CAS RELEASE */
#endif

enum { P_IDLE, P_RUNNING };

/* A goroutine: `state` stands for everything written before it is queued
 * (its saved context, status, param): whoever takes it reads it. */
struct G {
    int id;
    rl::var<int> state;
    rl::var<G *> schedlink;    /* global queue link (sched.lock) */
    rl::atomic<int> taken;     /* test bookkeeping: times dequeued */
};

struct P {
    rl::atomic<unsigned> head;      /* runqhead */
    rl::atomic<unsigned> tail;      /* runqtail, owner writes */
    rl::atomic<G *> runq[RUNQ_N];   /* relaxed slots (R4) */
    rl::atomic<G *> runnext;
    rl::atomic<unsigned> streak;    /* runnext_streak, owner only */
    rl::atomic<int> status;
    void init() {
        head.store(0, rl::mo_relaxed, $);
        tail.store(0, rl::mo_relaxed, $);
        for (unsigned i = 0; i < RUNQ_N; i++) runq[i].store((G *)0, rl::mo_relaxed, $);
        runnext.store((G *)0, rl::mo_relaxed, $);
        streak.store(0, rl::mo_relaxed, $);
        status.store(P_RUNNING, rl::mo_relaxed, $);
    }
};

/* The global run queue under sched.lock (csp.h keeps it as a ring of
 * pointers, this model as a list: both FIFO under the one lock). */
struct GlobalQ {
    csp_lock_t lock;
    rl::var<G *> qhead, qtail;
    rl::atomic<long> size;          /* runqsize: relaxed reads without the lock */
    void init() {
        lock.init();
        qhead($) = 0; qtail($) = 0;
        size.store(0, rl::mo_relaxed, $);
    }
    void put_locked(G *g) {         /* csp__globrunq_put_locked */
        g->schedlink($) = 0;
        if (qtail($)) qtail($)->schedlink($) = g; else qhead($) = g;
        qtail($) = g;
        size.store(size.load(rl::mo_relaxed, $) + 1, rl::mo_relaxed, $);
    }
    G *get_locked() {               /* one goroutine off the head */
        G *g = qhead($);
        if (!g) return 0;
        qhead($) = g->schedlink($);
        if (!qhead($)) qtail($) = 0;
        size.store(size.load(rl::mo_relaxed, $) - 1, rl::mo_relaxed, $);
        return g;
    }
};

/* csp__runq_put_slow: half of the ring and g go to the global queue. */
static bool runq_put_slow(P *p, GlobalQ *gq, G *g, unsigned h, unsigned t) {
    G *batch[RUNQ_N / 2 + 1];
    unsigned n = (t - h) / 2;
    for (unsigned i = 0; i < n; i++) batch[i] = p->runq[(h + i) % RUNQ_N].load(rl::mo_relaxed, $);
    if (!CAS(p->head, h, h + n, rl::mo_release)) return false;
    batch[n] = g;
    gq->lock.lock();
    for (unsigned i = 0; i <= n; i++) gq->put_locked(batch[i]);
    gq->lock.unlock();
    return true;
}

/* csp__runq_put: owner only. */
static void runq_put(P *p, GlobalQ *gq, G *g, bool next) {
    if (next) {
        G *old = p->runnext.load(rl::mo_relaxed, $);
        while (!CAS_WEAK(p->runnext, old, g, MO(RQ_MUT_NEXT_PUT, mo_release, mo_relaxed))) {}
        if (!old) return;
        g = old;
    }
    for (;;) {
        unsigned h = p->head.load(rl::mo_acquire, $);
        unsigned t = p->tail.load(rl::mo_relaxed, $);
        if (t - h < RUNQ_N) {
            p->runq[t % RUNQ_N].store(g, rl::mo_relaxed, $);
            p->tail.store(t + 1, MO(RQ_MUT_TAIL_STORE, mo_release, mo_relaxed), $);
            return;
        }
        if (runq_put_slow(p, gq, g, h, t)) return;
    }
}

/* csp__runq_get: owner only (32-pick runnext streak as in csp.h). */
static G *runq_get(P *p) {
    G *next = p->runnext.load(rl::mo_relaxed, $);
    unsigned streak = p->streak.load(rl::mo_relaxed, $);
    if (next && (streak < 32 || p->tail.load(rl::mo_relaxed, $) == p->head.load(rl::mo_relaxed, $))) {
        if (CAS(p->runnext, next, (G *)0, rl::mo_acquire)) {
            p->streak.store(streak + 1, rl::mo_relaxed, $);
            return next;
        }
    }
    p->streak.store(0u, rl::mo_relaxed, $);
    for (;;) {
        unsigned h = p->head.load(rl::mo_acquire, $);
        unsigned t = p->tail.load(rl::mo_acquire, $);
        if (t == h) break;
        G *g = p->runq[h % RUNQ_N].load(rl::mo_relaxed, $);
        if (CAS(p->head, h, h + 1, rl::mo_release)) return g;
    }
    next = p->runnext.load(rl::mo_relaxed, $);
    if (next && CAS(p->runnext, next, (G *)0, rl::mo_acquire)) return next;
    return 0;
}

/* csp__runq_grab: a thief takes half of p2's ring into batch (or runnext). */
static unsigned runq_grab(P *p2, G **batch, bool steal_next) {
    for (;;) {
        unsigned h = p2->head.load(rl::mo_acquire, $);
        unsigned t = p2->tail.load(MO(RQ_MUT_GRAB_TAIL, mo_acquire, mo_relaxed), $);
        unsigned n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (steal_next) {
                G *next = p2->runnext.load(MO(RQ_MUT_NEXT_GRAB, mo_acquire, mo_relaxed), $);
                if (next && p2->status.load(rl::mo_acquire, $) == P_RUNNING) {
                    rl::yield(1, $);   /* csp.h: usleep(3), the owner may take it */
                    next = p2->runnext.load(MO(RQ_MUT_NEXT_GRAB, mo_acquire, mo_relaxed), $);
                }
                if (next && CAS(p2->runnext, next, (G *)0, MO(RQ_MUT_NEXT_GRAB, mo_acquire, mo_relaxed))) {
                    batch[0] = next;
                    return 1;
                }
            }
            return 0;
        }
        if (n > RUNQ_N / 2) continue;   /* inconsistent h/t: retry */
        for (unsigned i = 0; i < n; i++) batch[i] = p2->runq[(h + i) % RUNQ_N].load(rl::mo_relaxed, $);
        if (CAS(p2->head, h, h + n, MO(RQ_MUT_HEAD_CAS, mo_release, mo_relaxed))) return n;
    }
}

#endif
