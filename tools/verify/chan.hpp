/* chan.hpp -- the mirror of csp.h's plain-thread park/ready, channels and
 * select (>>scheduler "park and ready", >>channels, >>select), shared by
 * chan_model.cpp, select_model.cpp and park_model.cpp.
 *
 * The waiters here are plain threads (CSP__GF_THREAD: csp__park sleeps on
 * g->parkword with a futex; csp__ready stores 1 and wakes it). Goroutine
 * parking (the hook run by the successor, the run queue) is modelled in
 * park_model.cpp. csp__enter/csp__leave do nothing on a plain thread, and
 * csp__hb_release/acquire are TSan annotations: both are left out.
 *
 * Element values are ints held in rl::var, so a hand-off whose orders do not
 * publish the copied value is a data race for Relacy. A model may define the
 * mutation numbers below (0: none). */
#ifndef CSP_VERIFY_CHAN_HPP
#define CSP_VERIFY_CHAN_HPP

#include "rl_common.hpp"

#ifndef PK_MUT_READY
#define PK_MUT_READY 0         /* csp__ready: parkword store RELEASE */
#endif
#ifndef PK_MUT_PARK
#define PK_MUT_PARK 0          /* csp__park: parkword load ACQUIRE */
#endif
#ifndef CH_MUT_CLOSED_LOAD
#define CH_MUT_CLOSED_LOAD 0   /* chanrecv fast path: closed load ACQUIRE */
#endif
#ifndef CH_MUT_FREE_NOLOCK
#define CH_MUT_FREE_NOLOCK 0   /* csp_chan_release: the lock taken once before the free */
#endif
#ifndef CH_MUT_CLOSED_STORE
#define CH_MUT_CLOSED_STORE 0  /* csp_close: closed store RELEASE */
#endif
#ifndef SEL_MUT_CAS_ORDER
#define SEL_MUT_CAS_ORDER 0    /* selectdone CAS ACQ_REL -> relaxed */
#endif
#ifndef SEL_MUT_CAS_SPLIT
#define SEL_MUT_CAS_SPLIT 0    /* selectdone CAS split into a load and a store */
#endif

enum { G_RUNNING, G_WAITING };

struct Sudog;

/* A plain thread's context (csp__g with CSP__GF_THREAD). */
struct Gt {
    rl::atomic<int> parkword;     /* futex word of csp__park */
    rl::atomic<int> status;
    rl::atomic<int> selectdone;
    rl::var<Sudog *> param;       /* set by the waker */
    rl::var<bool> park_deadline;  /* select with a timeout */
    rl::atomic<int> parks;        /* test bookkeeping: csp__park calls that waited */
    rl::atomic<int> readied;      /*   csp__ready calls */
    rl::atomic<int> timedout;     /*   parks ended by the thread's own deadline */
    rl::atomic<int> wins;         /*   selectdone 0 -> 1 transitions won */
    void init() {
        parkword.store(0, rl::mo_relaxed, $);
        status.store(G_RUNNING, rl::mo_relaxed, $);
        selectdone.store(0, rl::mo_relaxed, $);
        param($) = 0;
        park_deadline($) = false;
        parks.store(0, rl::mo_relaxed, $);
        readied.store(0, rl::mo_relaxed, $);
        timedout.store(0, rl::mo_relaxed, $);
        wins.store(0, rl::mo_relaxed, $);
    }
    /* No lost and no double wake: every park that waited ended by exactly
     * one csp__ready or by its own deadline (checked after the threads). */
    bool wakes_balanced() {
        return parks.load(rl::mo_relaxed, $) ==
               readied.load(rl::mo_relaxed, $) + timedout.load(rl::mo_relaxed, $);
    }
};

typedef bool (*unlockf_t)(Gt *g, void *arg);

/* The win of g's select: csp.h's CAS(selectdone, 0 -> 1, ACQ_REL). */
static bool selectdone_win(Gt *g) {
    bool won;
    if (MUT(SEL_MUT_CAS_SPLIT)) {
        /* Mutation: check-then-set instead of one atomic CAS. */
        won = g->selectdone.load(rl::mo_acquire, $) == 0;
        if (won) g->selectdone.store(1, rl::mo_release, $);
    } else {
        int z = 0;
        won = CAS(g->selectdone, z, 1, MO(SEL_MUT_CAS_ORDER, mo_acq_rel, mo_relaxed));
    }
    if (won) g->wins.fetch_add(1, rl::mo_relaxed, $);
    return won;
}

/* csp__park, plain-thread branch. Time is abstract: the deadline can only
 * pass while the thread waits (a timed futex wait that times out). */
static void csp_park(Gt *g, unlockf_t unlockf, void *arg) {
    g->parkword.store(0, rl::mo_relaxed, $);
    g->status.store(G_WAITING, rl::mo_relaxed, $);
    g->parks.fetch_add(1, rl::mo_relaxed, $);
    if (unlockf && !unlockf(g, arg)) {
        g->parks.fetch_sub(1, rl::mo_relaxed, $);
        g->status.store(G_RUNNING, rl::mo_relaxed, $);
        return;
    }
    bool deadline = g->park_deadline($);
    bool expired = false;
    while (g->parkword.load(MO(PK_MUT_PARK, mo_acquire, mo_relaxed), $) == 0) {
        if (deadline) {
            /* Timed out: win our own select, unless a waker did first. */
            if (expired && selectdone_win(g)) {
                g->param($) = 0;
                g->timedout.fetch_add(1, rl::mo_relaxed, $);
                break;
            }
            if (expired) { deadline = false; continue; }
            if (FUTEX_WAIT_(&g->parkword, 0, true) == rl::RL_ETIMEDOUT) expired = true;
        } else {
            FUTEX_WAIT_(&g->parkword, 0, false);
        }
    }
    g->status.store(G_RUNNING, rl::mo_relaxed, $);
}

/* csp__ready, plain-thread branch. */
static void csp_ready(Gt *g) {
    /* The waker found g registered under the object's lock, after g
     * counted its park: a second wake for one park is a double wake. */
    int r = g->readied.fetch_add(1, rl::mo_relaxed, $) + 1;
    RL_ASSERT(r <= g->parks.load(rl::mo_relaxed, $) && "double wake");
    g->parkword.store(1, MO(PK_MUT_READY, mo_release, mo_relaxed), $);
    FUTEX_WAKE_(&g->parkword, 1);
}

/* ---- channels (csp__sudog, csp__waitq, csp_chan) ------------------------- */
struct Sudog {
    Gt *g;
    rl::var<Sudog *> next, prev;
    rl::var<int> *elem;           /* value to send, or destination */
    int caseidx;
    bool isselect;
    rl::var<bool> inq;
    rl::var<bool> success;
    void init(Gt *g_, rl::var<int> *e, int ci, bool sel) {
        g = g_; elem = e; caseidx = ci; isselect = sel;
        next($) = 0; prev($) = 0; inq($) = false; success($) = false;
    }
};

struct WaitQ {
    rl::atomic<Sudog *> first;    /* atomic: read by the fast paths */
    rl::var<Sudog *> last;
    void init() { first.store((Sudog *)0, rl::mo_relaxed, $); last($) = 0; }
    void push(Sudog *s) {         /* csp__wq_push */
        s->next($) = 0;
        s->prev($) = last($);
        if (last($)) last($)->next($) = s; else first.store(s, rl::mo_relaxed, $);
        last($) = s;
        s->inq($) = true;
    }
    void remove(Sudog *s) {       /* csp__wq_remove */
        if (!s->inq($)) return;
        if (s->prev($)) s->prev($)->next($) = s->next($); else first.store(s->next($), rl::mo_relaxed, $);
        if (s->next($)) s->next($)->prev($) = s->prev($); else last($) = s->prev($);
        s->next($) = 0; s->prev($) = 0;
        s->inq($) = false;
    }
    Sudog *dequeue() {            /* csp__wq_dequeue: skips lost selects (C3) */
        for (;;) {
            Sudog *s = first.load(rl::mo_relaxed, $);   /* under the lock */
            if (!s) return 0;
            remove(s);
            if (s->isselect && !selectdone_win(s->g)) continue;
            return s;
        }
    }
};

#define CHAN_MAXCAP 2
struct Chan {
    csp_lock_t lock;
    rl::atomic<int> closed;
    unsigned cap;
    rl::atomic<unsigned> qcount;  /* written under the lock, read by fast paths */
    rl::var<unsigned> sendx, recvx;
    rl::var<int> buf[CHAN_MAXCAP];
    rl::var<int> mem;             /* the channel's memory, as its free would write it */
    WaitQ recvq, sendq;
    void init(unsigned cap_) {
        lock.init();
        closed.store(0, rl::mo_relaxed, $);
        cap = cap_;
        qcount.store(0, rl::mo_relaxed, $);
        sendx($) = 0; recvx($) = 0;
        for (unsigned i = 0; i < CHAN_MAXCAP; i++) buf[i]($) = 0;
        mem($) = 0;
        recvq.init(); sendq.init();
    }
};

static bool unlock_chan(Gt *, void *arg) { ((Chan *)arg)->lock.unlock(); return true; }

/* csp__chan_full / csp__chan_empty: no lock, relaxed. */
static bool chan_full(Chan *c) {
    if (c->cap == 0) return c->recvq.first.load(rl::mo_relaxed, $) == 0;
    return c->qcount.load(rl::mo_relaxed, $) == c->cap;
}
static bool chan_empty(Chan *c) {
    if (c->cap == 0) return c->sendq.first.load(rl::mo_relaxed, $) == 0;
    return c->qcount.load(rl::mo_relaxed, $) == 0;
}

/* csp__chan_send_direct: c->lock held; unlocks (C4). */
static void chan_send_direct(Chan *c, Sudog *sg, rl::var<int> *ep) {
    if (sg->elem) (*sg->elem)($) = (*ep)($);
    sg->success($) = true;
    Gt *g = sg->g;
    g->param($) = sg;
    c->lock.unlock();
    csp_ready(g);
}
/* csp__chan_recv_direct: c->lock held; unlocks. */
static void chan_recv_direct(Chan *c, Sudog *sg, rl::var<int> *ep) {
    if (c->cap == 0) {
        if (ep) (*ep)($) = (*sg->elem)($);
    } else {   /* full buffer: take the head, the sender's value goes to the tail */
        unsigned x = c->recvx($);
        if (ep) (*ep)($) = c->buf[x]($);
        c->buf[x]($) = (*sg->elem)($);
        if (++x == c->cap) x = 0;
        c->recvx($) = x;
        c->sendx($) = x;
    }
    sg->success($) = true;
    Gt *g = sg->g;
    g->param($) = sg;
    c->lock.unlock();
    csp_ready(g);
}

/* csp__chan_send (the panic "send on closed channel" is an assertion). */
static bool chan_send(Gt *self, Chan *c, rl::var<int> *ep, bool block) {
    if (!block && !c->closed.load(rl::mo_relaxed, $) && chan_full(c)) return false;
    c->lock.lock();
    RL_ASSERT(!c->closed.load(rl::mo_relaxed, $) && "send on closed channel");
    Sudog *sg = c->recvq.dequeue();
    if (sg) { chan_send_direct(c, sg, ep); return true; }
    unsigned q = c->qcount.load(rl::mo_relaxed, $);
    if (q < c->cap) {
        unsigned x = c->sendx($);
        c->buf[x]($) = (*ep)($);
        if (++x == c->cap) x = 0;
        c->sendx($) = x;
        c->qcount.store(q + 1, rl::mo_relaxed, $);
        c->lock.unlock();
        return true;
    }
    if (!block) { c->lock.unlock(); return false; }
    Sudog me;
    me.init(self, ep, -1, false);
    c->sendq.push(&me);
    csp_park(self, unlock_chan, c);
    bool ok = me.success($);
    RL_ASSERT(ok && "send on closed channel");
    return true;
}

/* csp__chan_recv: returns "selected"; *okp: a real value. */
static bool chan_recv(Gt *self, Chan *c, rl::var<int> *ep, bool block, bool *okp) {
    if (!block && chan_empty(c)) {
        if (!c->closed.load(MO(CH_MUT_CLOSED_LOAD, mo_acquire, mo_relaxed), $)) return false;
        if (chan_empty(c)) {   /* closed and (still) empty: a zero value */
            if (ep) (*ep)($) = 0;
            *okp = false;
            return true;
        }
    }
    c->lock.lock();
    if (c->closed.load(rl::mo_relaxed, $) && c->qcount.load(rl::mo_relaxed, $) == 0) {
        c->lock.unlock();
        if (ep) (*ep)($) = 0;
        *okp = false;
        return true;
    }
    Sudog *sg = c->sendq.dequeue();
    if (sg) { chan_recv_direct(c, sg, ep); *okp = true; return true; }
    unsigned q = c->qcount.load(rl::mo_relaxed, $);
    if (q > 0) {
        unsigned x = c->recvx($);
        if (ep) (*ep)($) = c->buf[x]($);
        c->buf[x]($) = 0;
        if (++x == c->cap) x = 0;
        c->recvx($) = x;
        c->qcount.store(q - 1, rl::mo_relaxed, $);
        c->lock.unlock();
        *okp = true;
        return true;
    }
    if (!block) { c->lock.unlock(); return false; }
    Sudog me;
    me.init(self, ep, -1, false);
    c->recvq.push(&me);
    csp_park(self, unlock_chan, c);
    *okp = me.success($);
    return true;
}

/* csp_chan_release of the last reference: the lock once, then the free (a
 * write to the channel's memory). */
static void chan_free(Chan *c) {
    if (!MUT(CH_MUT_FREE_NOLOCK)) { c->lock.lock(); c->lock.unlock(); }
    c->mem($) = 1;
}

/* csp_close. */
static void chan_close(Chan *c) {
    c->lock.lock();
    RL_ASSERT(!c->closed.load(rl::mo_relaxed, $) && "close of closed channel");
    c->closed.store(1, MO(CH_MUT_CLOSED_STORE, mo_release, mo_relaxed), $);
    Sudog *wake = 0, *sg;
    while ((sg = c->recvq.dequeue()) != 0) {
        if (sg->elem) (*sg->elem)($) = 0;
        sg->success($) = false;
        sg->g->param($) = sg;
        sg->next($) = wake; wake = sg;
    }
    while ((sg = c->sendq.dequeue()) != 0) {
        sg->success($) = false;
        sg->g->param($) = sg;
        sg->next($) = wake; wake = sg;
    }
    c->mem($) = 2;   /* the closer still writes the channel until its unlock (the lock word) */
    c->lock.unlock();
    while (wake) {   /* read next before readying: the sudog dies with its wake-up */
        Sudog *n = wake->next($);
        csp_ready(wake->g);
        wake = n;
    }
}

#endif
