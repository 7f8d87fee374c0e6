/* select_model.cpp -- csp.h's select win under Relacy.
 *
 * Mirrors (csp.h >>select: csp__select_impl, csp__sel_lock/unlock,
 * csp__sel_unlockf(_timer), csp__sel_timeout_fire; >>channels:
 * csp__wq_dequeue's CAS of g->selectdone (C3); >>scheduler: csp__park's
 * deadline branch for plain threads), through chan.hpp, with csp.h's orders.
 *
 * Thread 0 selects on {recv c1, send c2} (both unbuffered) with a timeout.
 * Thread 1 try_sends 10 on c1, thread 2 try_recvs from c2 (each tries twice):
 * partners that find the select's sudog race for it through selectdone.
 *   deadline: the selecting thread is a plain thread: csp__park's timed
 *     futex wait gives up and the thread tries the same CAS itself.
 *   timer: the timeout is a timer (a third competitor thread) armed by the
 *     park's unlock function after the channel locks are released, as
 *     csp__sel_unlockf_timer does; the select deletes it afterwards or waits
 *     for it to finish running (csp__timer_del / csp__timer_wait_idle). The
 *     waiting itself is the plain-thread park here; goroutine parking is
 *     park_model.cpp's.
 *
 * Invariants checked:
 *   - exactly one selectdone 0 -> 1 transition per blocking select: one
 *     winner among the partners and the timeout;
 *   - exactly one case completes: the select's result is the winner's case
 *     (param), a partner reports success iff it won, the value moved is the
 *     one sent (a data race if not published), the timeout completes no case;
 *   - losers unregister: after the select, no sudog is left in any queue;
 *   - no lost or double wake (Gt::wakes_balanced, "double wake" assertion).
 *
 * MUTATIONS: 1 2 3
 *   1 csp__ready: parkword store RELEASE -> relaxed (param/value unpublished)
 *   2 csp__park: parkword load ACQUIRE -> relaxed
 *   3 selectdone's CAS split into a load and a store (two winners)
 * (selectdone's ACQ_REL CAS itself weakened to relaxed passes: every reader
 * of what a winner writes is ordered by a channel lock or by the wake-up, so
 * the CAS needs only its atomicity; see README.) */
#define PK_MUT_READY 1
#define PK_MUT_PARK 2
#define SEL_MUT_CAS_SPLIT 3
#include "chan.hpp"

enum { OP_RECV, OP_SEND };
enum { SELECT_TIMEOUT = -1 };
struct Case {
    Chan *c;
    int op;
    rl::var<int> *elem;
    bool ok;
};

/* The timer: armed under tlock by the unlock function, fired by thread 3. */
struct Timer {
    csp_lock_t tlock;
    rl::var<int> state;        /* 0 idle, 1 armed (in the heap), 2 running, 3 done */
    rl::atomic<int> kick;      /* the timer thread sleeps here until armed */
    rl::atomic<int> idle;      /* csp__timer_wait_idle's word: 1 once the callback ran */
    Gt *g;
    void init(Gt *g_) {
        tlock.init(); state($) = 0; g = g_;
        kick.store(0, rl::mo_relaxed, $); idle.store(0, rl::mo_relaxed, $);
    }
};

struct Sel {
    Chan **lockorder;
    int nlock;
    Timer *t;
};
static void sel_lock(Sel *s) { for (int i = 0; i < s->nlock; i++) s->lockorder[i]->lock.lock(); }
static void sel_unlock(Sel *s) { for (int i = s->nlock - 1; i >= 0; i--) s->lockorder[i]->lock.unlock(); }
static bool sel_unlockf(Gt *, void *arg) { sel_unlock((Sel *)arg); return true; }
static bool sel_unlockf_timer(Gt *, void *arg) {
    Sel *s = (Sel *)arg;
    sel_unlock(s);
    /* Off our stack: now the timer may fire (csp__timer_add under tlock). */
    s->t->tlock.lock();
    s->t->state($) = 1;
    s->t->tlock.unlock();
    /* Waking the thread that runs timers is the scheduler's business
     * (csp__wake_timer_sleeper): abstracted as a futex kick. */
    s->t->kick.store(1, rl::mo_seq_cst, $);
    FUTEX_WAKE_(&s->t->kick, 1);
    return true;
}

/* csp__sel_timeout_fire, run by the timer thread. */
static void sel_timeout_fire(Timer *t) {
    Gt *g = t->g;
    if (selectdone_win(g)) {
        g->param($) = 0;   /* NULL: the timeout won */
        csp_ready(g);
    }
}

/* csp__select_impl for 2 cases, pollorder random, lockorder by address. */
static int select2(Gt *self, Case *cases, Sudog *sgs, Timer *timer) {
    const int n = 2;
    int pollorder[2];
    int j = (int)rl::rand(2);
    pollorder[0] = j; pollorder[1] = 1 - j;
    Chan *lockorder[2];
    int nl = 0;
    for (int k = 0; k < n; k++) {
        Chan *c = cases[pollorder[k]].c;
        int pos = nl;
        bool dup = false;
        for (int q = 0; q < nl; q++) if (lockorder[q] == c) dup = true;
        if (dup) continue;
        while (pos > 0 && (uintptr_t)lockorder[pos - 1] > (uintptr_t)c) { lockorder[pos] = lockorder[pos - 1]; pos--; }
        lockorder[pos] = c;
        nl++;
    }
    Sel sel = { lockorder, nl, timer };
    sel_lock(&sel);
    /* Pass 1: a ready case, in poll order. */
    for (int k = 0; k < n; k++) {
        int i = pollorder[k];
        Chan *c = cases[i].c;
        if (cases[i].op == OP_RECV) {
            Sudog *sg = c->sendq.dequeue();
            if (sg) {
                for (int q = nl - 1; q >= 0; q--) if (lockorder[q] != c) lockorder[q]->lock.unlock();
                chan_recv_direct(c, sg, cases[i].elem);
                cases[i].ok = true;
                return i;
            }
            if (c->closed.load(rl::mo_relaxed, $)) {
                (*cases[i].elem)($) = 0; cases[i].ok = false;
                sel_unlock(&sel);
                return i;
            }
        } else {
            RL_ASSERT(!c->closed.load(rl::mo_relaxed, $) && "send on closed channel");
            Sudog *sg = c->recvq.dequeue();
            if (sg) {
                for (int q = nl - 1; q >= 0; q--) if (lockorder[q] != c) lockorder[q]->lock.unlock();
                chan_send_direct(c, sg, cases[i].elem);
                return i;
            }
        }
        /* (buffered cases: the channels here are unbuffered) */
    }
    /* Pass 2: wait on every case, queued in poll order. */
    self->selectdone.store(0, rl::mo_relaxed, $);
    self->param($) = 0;
    for (int k = 0; k < n; k++) {
        int i = pollorder[k];
        Sudog *sg = &sgs[k];
        sg->init(self, cases[i].elem, i, true);
        (cases[i].op == OP_RECV ? cases[i].c->recvq : cases[i].c->sendq).push(sg);
    }
    if (!timer) {
        self->park_deadline($) = true;    /* a plain thread: its own deadline */
        csp_park(self, sel_unlockf, &sel);
        self->park_deadline($) = false;
    } else {
        csp_park(self, sel_unlockf_timer, &sel);
    }
    Sudog *won = self->param($);
    if (timer) {
        /* csp__timer_del; if it is running, csp__timer_wait_idle. */
        timer->tlock.lock();
        int st = timer->state($);
        if (st == 1) timer->state($) = 0;
        timer->tlock.unlock();
        if (st == 2) while (timer->idle.load(rl::mo_acquire, $) == 0) FUTEX_WAIT_(&timer->idle, 0, false);
    }
    sel_lock(&sel);
    for (int k = 0; k < n; k++) {
        Sudog *sg = &sgs[k];
        if (sg == won) continue;
        Chan *c = cases[sg->caseidx].c;
        (cases[sg->caseidx].op == OP_RECV ? c->recvq : c->sendq).remove(sg);
    }
    sel_unlock(&sel);
    if (!won) return SELECT_TIMEOUT;
    int i = won->caseidx;
    if (cases[i].op == OP_RECV) cases[i].ok = won->success($);
    else RL_ASSERT(won->success($) && "send on closed channel");
    return i;
}

template <bool TIMER>
struct select_test : rl::test_suite<select_test<TIMER>, TIMER ? 4 : 3> {
    Chan c1, c2;
    Gt g[3];
    Timer timer;
    rl::var<int> recvd;        /* case 0's destination */
    rl::var<int> tosend;       /* case 1's value */
    int result;
    bool s1_ok, s2_ok;
    int s2_val;

    void before() {
        c1.init(0); c2.init(0);
        for (int i = 0; i < 3; i++) g[i].init();
        timer.init(&g[0]);
        recvd($) = 0; tosend($) = 0;
        result = -2; s1_ok = s2_ok = false; s2_val = 0;
    }
    void thread(unsigned idx) {
        if (idx == 0) {
            Case cases[2];
            cases[0].c = &c1; cases[0].op = OP_RECV; cases[0].elem = &recvd; cases[0].ok = false;
            tosend($) = 20;
            cases[1].c = &c2; cases[1].op = OP_SEND; cases[1].elem = &tosend; cases[1].ok = false;
            Sudog sgs[2];
            result = select2(&g[0], cases, sgs, TIMER ? &timer : 0);
            if (result == 0) { RL_ASSERT(cases[0].ok); RL_ASSERT(recvd($) == 10); }
        } else if (idx == 1) {
            rl::var<int> v;
            v($) = 10;
            for (int k = 0; k < 2 && !s1_ok; k++) {
                s1_ok = chan_send(&g[1], &c1, &v, false);
                if (!s1_ok) rl::yield(1, $);
            }
        } else if (idx == 2) {
            rl::var<int> v;
            v($) = 0;
            for (int k = 0; k < 2 && !s2_ok; k++) {
                bool ok = false;
                s2_ok = chan_recv(&g[2], &c2, &v, false, &ok);
                if (s2_ok) { RL_ASSERT(ok); s2_val = v($); }
                else rl::yield(1, $);
            }
        } else {
            /* The timer thread: sleep until armed, then run it once. */
            while (timer.kick.load(rl::mo_seq_cst, $) == 0) FUTEX_WAIT_(&timer.kick, 0, false);
            timer.tlock.lock();
            bool run = timer.state($) == 1;
            if (run) timer.state($) = 2;
            timer.tlock.unlock();
            if (run) {
                sel_timeout_fire(&timer);
                timer.tlock.lock();
                timer.state($) = 3;
                timer.tlock.unlock();
                timer.idle.store(1, rl::mo_release, $);
                FUTEX_WAKE_(&timer.idle, 1);
            }
        }
    }
    void after() {
        /* The select always parks (the partners never wait): one winner. */
        RL_ASSERT(g[0].wins.load(rl::mo_relaxed, $) == 1);
        int completed = (s1_ok ? 1 : 0) + (s2_ok ? 1 : 0);
        if (result == SELECT_TIMEOUT) RL_ASSERT(completed == 0);
        else RL_ASSERT(completed == 1);
        RL_ASSERT(s1_ok == (result == 0));
        RL_ASSERT(s2_ok == (result == 1));
        if (s2_ok) RL_ASSERT(s2_val == 20);
        /* Losers unregistered. */
        RL_ASSERT(c1.recvq.first.load(rl::mo_relaxed, $) == 0 && c1.sendq.first.load(rl::mo_relaxed, $) == 0);
        RL_ASSERT(c2.recvq.first.load(rl::mo_relaxed, $) == 0 && c2.sendq.first.load(rl::mo_relaxed, $) == 0);
        for (int i = 0; i < 3; i++) RL_ASSERT(g[i].wakes_balanced());
    }
};

int main(int argc, char **argv) {
    /* The deadline suite gets random schedules only: a timed futex wait
     * may time out at any step, which the context-bound search does not
     * count as a preemption, so its tree does not end in useful time. */
    bool ok = run_suite<select_test<false> >("select/deadline", 0, scaled(argc, argv, 300000));
    ok = ok && run_suite<select_test<true> >("select/timer", 1, scaled(argc, argv, 100000));
    return ok ? 0 : 1;
}
