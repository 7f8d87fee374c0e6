/* sched_util.h -- tiny blocking objects for the scheduler tests, built
 * directly on the runtime's parking primitive (csp__park / csp__ready), so
 * that the scheduler is tested before (and apart from) channels and sync.
 *   latch: count down to zero; one waiter.
 *   box:   an unbounded FIFO mailbox of longs; one waiting receiver.
 *   gate:  many waiters, opened once for all. */
#ifndef SCHED_UTIL_H
#define SCHED_UTIL_H

static __attribute__((unused)) bool su_unlock(csp__g *g, void *a) { (void)g; csp__unlock((csp__lock_t *)a); return true; }

typedef struct { csp__lock_t l; long n; csp__g *w; } latch;
static __attribute__((unused)) void latch_init(latch *s, long n) { memset(s, 0, sizeof *s); s->n = n; }
static __attribute__((unused)) void latch_done(latch *s) {
    csp__enter();
    csp__lock(&s->l);
    csp__g *w = NULL;
    if (--s->n == 0) { w = s->w; s->w = NULL; }
    csp__unlock(&s->l);
    if (w) csp__ready(w);
    csp__leave();
}
static __attribute__((unused)) void latch_wait(latch *s) {
    csp__g *g = csp__self();
    csp__enter();
    csp__lock(&s->l);
    if (s->n == 0) { csp__unlock(&s->l); csp__leave(); return; }
    s->w = g;
    csp__park(su_unlock, &s->l, "latch", &s->l);
    csp__leave();
}

#define BOX_CAP 1024
typedef struct { csp__lock_t l; long v[BOX_CAP]; unsigned h, t; csp__g *w; } box;
static __attribute__((unused)) void box_put(box *b, long v) {
    csp__enter();
    csp__lock(&b->l);
    if (b->t - b->h == BOX_CAP) { csp__unlock(&b->l); csp__fatal("test box overflow"); }
    b->v[b->t++ % BOX_CAP] = v;
    csp__g *w = b->w;
    b->w = NULL;
    csp__unlock(&b->l);
    if (w) csp__ready(w);
    csp__leave();
}
static __attribute__((unused)) long box_get(box *b) {
    csp__g *g = csp__self();
    csp__enter();
    csp__lock(&b->l);
    while (b->t == b->h) {
        b->w = g;
        csp__park(su_unlock, &b->l, "box", &b->l);
        csp__lock(&b->l);
    }
    long v = b->v[b->h++ % BOX_CAP];
    csp__unlock(&b->l);
    csp__leave();
    return v;
}

typedef struct gwait { csp__g *g; struct gwait *next; } gwait;
typedef struct { csp__lock_t l; int open; gwait *list; long nwait; } gate;
static __attribute__((unused)) void gate_wait(gate *gt) {
    csp__g *g = csp__self();
    csp__enter();
    csp__lock(&gt->l);
    if (gt->open) { csp__unlock(&gt->l); csp__leave(); return; }
    gwait w = { g, gt->list };
    gt->list = &w;
    gt->nwait++;
    csp__park(su_unlock, &gt->l, "gate", &gt->l);
    csp__leave();
}
static __attribute__((unused)) void gate_open(gate *gt) {
    csp__enter();
    csp__lock(&gt->l);
    gt->open = 1;
    gwait *w = gt->list;
    gt->list = NULL;
    csp__unlock(&gt->l);
    while (w) { gwait *n = w->next; csp__ready(w->g); w = n; }
    csp__leave();
}
static __attribute__((unused)) long gate_waiting(gate *gt) {
    csp__lock(&gt->l);
    long n = gt->nwait;
    csp__unlock(&gt->l);
    return n;
}
#endif
