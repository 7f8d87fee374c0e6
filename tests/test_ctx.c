/* test_ctx.c -- context, the weighted semaphore and errgroup. Context tests
 * follow Go's context/context_test.go (TestBackground, TestWithCancel,
 * TestParentFinishesChild, TestChildFinishesFirst, TestDeadline,
 * TestTimeout, TestCanceledTimeout, TestValues, TestSimultaneousCancels,
 * TestInterlockedCancels, TestLayersCancel, TestLayersTimeout,
 * TestCancelRemoves, TestWithCancelCanceledParent); the semaphore and
 * errgroup tests check golang.org/x/sync's documented semantics. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

#define MS CSP_MILLISECOND
static bool is_done(csp_ctx *c) { return csp_try_recv(csp_ctx_done(c), NULL, NULL); }
static int nchildren(csp_ctx *c) { int n = 0; csp__spin_lock(&c->lock); for (csp_ctx *x = c->children; x; x = x->next_sib) n++; csp__spin_unlock(&c->lock); return n; }

TEST(background) {
    csp_ctx *bg = csp_ctx_background();
    EXPECT(bg == csp_ctx_background(), "the same object");
    EXPECT(csp_ctx_done(bg) == NULL, "never canceled: nil done");
    EXPECT_EQ(csp_ctx_err(bg), 0);
    EXPECT(!csp_ctx_deadline(bg, NULL));
    csp_ctx_cancel(bg); csp_ctx_retain(bg); csp_ctx_release(bg); csp_ctx_release(bg);
    EXPECT_EQ(csp_ctx_err(NULL), 0, "NULL is background");
}
TEST(with_cancel_cancels_children) {
    csp_ctx *c1 = csp_ctx_with_cancel(NULL);
    csp_ctx *o = csp_ctx_with_value(c1, "k", "v");
    csp_ctx *c2 = csp_ctx_with_cancel(o);
    csp_ctx *c3 = csp_ctx_with_timeout(c2, 10 * CSP_SECOND);
    csp_ctx *all[] = { c1, o, c2, c3 };
    for (int i = 0; i < 4; i++) { EXPECT(!is_done(all[i])); EXPECT_EQ(csp_ctx_err(all[i]), 0); }
    EXPECT_EQ(nchildren(c1), 1, "c2 listed under c1 (through the value context)");
    csp_ctx_cancel(c1);
    for (int i = 0; i < 4; i++) { EXPECT(is_done(all[i]), "ctx %d done", i); EXPECT_EQ(csp_ctx_err(all[i]), CSP_CANCELED, "ctx %d", i); }
    EXPECT_EQ(nchildren(c1), 0);
    for (int i = 3; i >= 0; i--) csp_ctx_release(all[i]);
}
TEST(parent_finishes_child_child_finishes_first) {
    csp_ctx *p = csp_ctx_with_cancel(NULL);
    csp_ctx *a = csp_ctx_with_cancel(p), *b = csp_ctx_with_timeout(p, 10 * CSP_SECOND);
    EXPECT_EQ(nchildren(p), 2);
    csp_ctx_cancel(a);
    EXPECT_EQ(nchildren(p), 1, "a child canceled first detaches");
    EXPECT_EQ(csp_ctx_err(p), 0, "without canceling its parent");
    csp_ctx_cancel(p);
    EXPECT_EQ(csp_ctx_err(b), CSP_CANCELED);
    csp_ctx *late = csp_ctx_with_cancel(p);
    EXPECT_EQ(csp_ctx_err(late), CSP_CANCELED, "child of a canceled parent is born canceled");
    EXPECT(is_done(late));
    csp_ctx_release(late); csp_ctx_release(a); csp_ctx_release(b); csp_ctx_release(p);
}
TEST(deadline_and_timeout) {
    int64_t t0 = csp_now();
    csp_ctx *c = csp_ctx_with_deadline(NULL, t0 + 30 * MS);
    int64_t d = 0;
    EXPECT(csp_ctx_deadline(c, &d)); EXPECT_EQ(d, t0 + 30 * MS);
    csp_recv(csp_ctx_done(c), NULL);
    EXPECT_GE(csp_now() - t0, 30 * MS);
    EXPECT_EQ(csp_ctx_err(c), CSP_DEADLINE_EXCEEDED);
    csp_ctx *t = csp_ctx_with_timeout(c, CSP_SECOND);
    EXPECT_EQ(csp_ctx_err(t), CSP_DEADLINE_EXCEEDED, "born canceled with the parent's error");
    csp_ctx *past = csp_ctx_with_deadline(NULL, csp_now() - CSP_SECOND);
    EXPECT_EQ(csp_ctx_err(past), CSP_DEADLINE_EXCEEDED, "a passed deadline");
    csp_ctx *outer = csp_ctx_with_timeout(NULL, 20 * MS);
    csp_ctx *inner = csp_ctx_with_timeout(outer, 10 * CSP_SECOND);
    EXPECT(csp_ctx_deadline(inner, &d)); EXPECT_LE(d, csp_now() + 20 * MS, "the parent's sooner deadline wins");
    csp_recv(csp_ctx_done(inner), NULL);
    EXPECT_EQ(csp_ctx_err(inner), CSP_DEADLINE_EXCEEDED);
    csp_ctx_release(inner); csp_ctx_release(outer); csp_ctx_release(past); csp_ctx_release(t); csp_ctx_release(c);
}
TEST(canceled_timeout_stops_its_timer) {
    csp_ctx *c = csp_ctx_with_timeout(NULL, CSP_SECOND);
    csp_ctx_cancel(c);
    EXPECT_EQ(csp_ctx_err(c), CSP_CANCELED);
    EXPECT_EQ(c->timer.idx, -1, "the deadline timer left the heap");
    csp_ctx_release(c);
}
TEST(values) {
    static const char k1[] = "k1", k2[] = "k2", k3[] = "k3";
    csp_ctx *c1 = csp_ctx_with_value(NULL, k1, "c1k1");
    csp_ctx *c2 = csp_ctx_with_value(c1, k2, "c2k2");
    csp_ctx *c3 = csp_ctx_with_value(c2, k1, "c3k1");
    csp_ctx *c4 = csp_ctx_with_cancel(c3);
    EXPECT_STREQ((char *)csp_ctx_value(c4, k1), "c3k1", "nearest wins");
    EXPECT_STREQ((char *)csp_ctx_value(c4, k2), "c2k2");
    EXPECT(csp_ctx_value(c4, k3) == NULL);
    EXPECT(csp_ctx_value(c1, k2) == NULL);
    char copy[3] = "k1";
    EXPECT(csp_ctx_value(c4, copy) == NULL, "keys compare as pointers");
    csp_ctx_release(c4); csp_ctx_release(c3); csp_ctx_release(c2); csp_ctx_release(c1);
}
static csp_ctx *sim_root;
static void sim_cancel(void *arg) { csp_ctx_cancel(*(csp_ctx **)arg); }
TEST(simultaneous_and_interlocked_cancels) {
    sim_root = csp_ctx_with_cancel(NULL);
    enum { N = 100 };
    csp_ctx *kids[N];
    for (int i = 0; i < N; i++) kids[i] = csp_ctx_with_cancel(i % 2 == 0 ? sim_root : kids[i - 1]);
    csp_waitgroup wg; memset(&wg, 0, sizeof wg);
    for (int i = 0; i < N; i += 3) csp_wg_go(&wg, sim_cancel, &kids[i]);
    csp_wg_go(&wg, sim_cancel, &sim_root);
    csp_wg_wait(&wg);
    for (int i = 0; i < N; i++) EXPECT_EQ(csp_ctx_err(kids[i]), CSP_CANCELED, "kid %d", i);
    for (int i = N - 1; i >= 0; i--) csp_ctx_release(kids[i]);
    csp_ctx_release(sim_root);
}
TEST(layers) {   /* TestLayersCancel / TestLayersTimeout */
    for (int timeout = 0; timeout < 2; timeout++) {
        csp_ctx *layers[10];
        csp_ctx *c = timeout ? csp_ctx_with_timeout(NULL, 20 * MS) : csp_ctx_with_cancel(NULL);
        layers[0] = c;
        for (int i = 1; i < 10; i++) {
            static int key;
            layers[i] = i % 3 == 0 ? csp_ctx_with_value(layers[i - 1], &key, NULL)
                      : i % 3 == 1 ? csp_ctx_with_cancel(layers[i - 1])
                                   : csp_ctx_with_timeout(layers[i - 1], CSP_SECOND);
        }
        if (!timeout) csp_ctx_cancel(c);
        csp_recv(csp_ctx_done(layers[9]), NULL);
        for (int i = 0; i < 10; i++)
            EXPECT_EQ(csp_ctx_err(layers[i]), timeout ? CSP_DEADLINE_EXCEEDED : CSP_CANCELED, "layer %d", i);
        for (int i = 9; i >= 0; i--) csp_ctx_release(layers[i]);
    }
}
TEST(release_rules) {
    csp_ctx *p = csp_ctx_with_cancel(NULL);
    csp_ctx *c = csp_ctx_with_cancel(p);
    csp_ctx *held = csp_ctx_retain(c);
    EXPECT(held == c, "retain returns its argument");
    csp_ctx_release(p);   /* the child still holds p: p lives, not canceled */
    EXPECT_EQ(csp_ctx_err(p), 0);
    csp_ctx_release(c);
    EXPECT_EQ(csp_ctx_err(c), 0, "one reference left");
    csp_chan *done = csp_chan_retain(csp_ctx_done(c));
    csp_ctx_release(held);   /* the last: canceled, freed, then p freed too */
    EXPECT(csp_try_recv(done, NULL, NULL), "the last release canceled it");
    csp_chan_release(done);
    csp_ctx *t = csp_ctx_with_timeout(NULL, MS);
    csp_ctx_release(t);   /* frees while its timer may be firing */
    csp_sleep(5 * MS);
}
TEST(done_is_selectable) {
    csp_ctx *c = csp_ctx_with_timeout(NULL, 10 * MS);
    csp_chan *never = csp_chan_make(0, 0);
    csp_case k[2] = { CSP_RECV(never, NULL), CSP_RECV(csp_ctx_done(c), NULL) };
    EXPECT_EQ(csp_select(k, 2, CSP_FOREVER), 1);
    EXPECT(!k[1].ok, "done is closed");
    csp_chan_release(never);
    csp_ctx_release(c);
}

/* The done channel is made at the first csp_ctx_done; a context canceled
 * before that, or born under a canceled parent, still reads as closed, and
 * the channel never changes once given out. */
static void done_asker(void *arg) {
    void **slot = (void **)arg;   /* [0]: the context, [1]: what done returned */
    slot[1] = csp_ctx_done((csp_ctx *)slot[0]);
}
static void done_waiter(void *arg) {
    void **a = (void **)arg;   /* [0]: done, [1]: result channel */
    bool ok = true;
    csp_recv((csp_chan *)a[0], NULL);
    csp_send((csp_chan *)a[1], &ok);
}
TEST(done_made_at_first_ask) {
    csp_ctx *c = csp_ctx_with_cancel(NULL);
    csp_ctx_cancel(c);
    csp_chan *d = csp_ctx_done(c);
    REQUIRE(d != NULL);
    bool ok = true;
    EXPECT(csp_try_recv(d, NULL, &ok), "canceled before the first Done: closed");
    EXPECT(!ok, "a receive from it reports closed");
    EXPECT(csp_ctx_done(c) == d, "Done returns the same channel every time");
    csp_ctx *child = csp_ctx_with_cancel(c);   /* born canceled */
    EXPECT_EQ(csp_ctx_err(child), CSP_CANCELED);
    EXPECT(is_done(child), "a child of a canceled parent is done");
    csp_ctx *grand = csp_ctx_with_timeout(child, 3600 * CSP_SECOND);
    EXPECT_EQ(csp_ctx_err(grand), CSP_CANCELED, "born canceled, deadline or not");
    EXPECT(is_done(grand), "done");
    csp_ctx_release(grand);
    csp_ctx_release(child);
    csp_ctx_release(c);

    /* Asked before the cancel: a waiter on it wakes at the cancel. */
    csp_ctx *c2 = csp_ctx_with_cancel(NULL);
    csp_chan *d2 = csp_ctx_done(c2);
    EXPECT(!csp_try_recv(d2, NULL, NULL), "not canceled: open");
    csp_chan *res = csp_chan_make(sizeof(bool), 0);
    void *wa[2] = { d2, res };
    REQUIRE_EQ(csp_go(done_waiter, wa), 0);
    csp_ctx_cancel(c2);
    bool got = false;
    csp_recv(res, &got);
    EXPECT(got, "the waiter woke at the cancel");
    EXPECT(csp_ctx_done(c2) == d2, "the cancel closed the channel given out");
    csp_chan_release(res);
    csp_ctx_release(c2);

    /* Two goroutines asking first at the same time get one channel. */
    for (int round = 0; round < 200; round++) {
        csp_ctx *c3 = csp_ctx_with_cancel(NULL);
        void *s1[2] = { c3, NULL }, *s2[2] = { c3, NULL };
        csp_waitgroup wg = { 0 };
        REQUIRE_EQ(csp_wg_go(&wg, done_asker, s1), 0);
        REQUIRE_EQ(csp_wg_go(&wg, done_asker, s2), 0);
        csp_wg_wait(&wg);
        REQUIRE(s1[1] != NULL && s1[1] == s2[1], "round %d: %p vs %p", round, s1[1], s2[1]);
        if (round & 1) csp_ctx_cancel(c3);
        EXPECT(is_done(c3) == ((round & 1) != 0), "round %d", round);
        csp_ctx_release(c3);
    }
}

/* ---- semaphore ------------------------------------------------------------------ */
static csp_sema *sem;
static csp_chan *order;
static int sem_nwaiters(void) {   /* peek under the semaphore's lock */
    csp__lock(&sem->lock);
    int n = 0;
    for (csp__semaw *w = sem->head; w; w = w->next) n++;
    csp__unlock(&sem->lock);
    return n;
}
static int64_t sem_cur(void) { csp__lock(&sem->lock); int64_t c = sem->cur; csp__unlock(&sem->lock); return c; }
static void acquirer(void *arg) {
    int64_t n = *(int64_t *)arg;
    if (csp_sema_acquire(sem, n, NULL) == 0) { csp_send(order, &n); }
}
TEST(sema_fifo_without_barging) {
    sem = csp_sema_new(10);
    order = csp_chan_make(sizeof(int64_t), 8);
    EXPECT_EQ(csp_sema_acquire(sem, 10, NULL), 0);
    EXPECT(!csp_sema_try_acquire(sem, 1));
    int64_t big = 8, small = 1;
    csp_go_copy(acquirer, &big, sizeof big);
    while (sem_nwaiters() < 1) csp_yield();
    csp_go_copy(acquirer, &small, sizeof small);
    while (sem_nwaiters() < 2) csp_yield();
    csp_sema_release(sem, 3);   /* 3 free: the head wants 8, the 1 behind it must not barge */
    csp_sleep(20 * MS);   /* proving that the small one does NOT get in */
    EXPECT_EQ_U(csp_len(order), 0u);
    EXPECT(!csp_sema_try_acquire(sem, 1), "try_acquire does not barge either");
    csp_sema_release(sem, 7);
    int64_t first = 0, second = 0;
    csp_recv(order, &first); csp_recv(order, &second);
    EXPECT_EQ(first + second, 9, "both acquired once the head fit");
    csp_sema_release(sem, 9);
    csp_chan_release(order);
    csp_sema_free(sem);
}
TEST(sema_canceled_head_lets_the_next_through) {
    sem = csp_sema_new(2);
    order = csp_chan_make(sizeof(int64_t), 8);
    EXPECT_EQ(csp_sema_acquire(sem, 1, NULL), 0);
    csp_ctx *ctx = csp_ctx_with_timeout(NULL, 20 * MS);
    int64_t one = 1;
    csp_go_copy(acquirer, &one, sizeof one);
    int64_t got = 0;
    csp_recv(order, &got);   /* the 1 fits (2 of 2 used now) */
    EXPECT_EQ(got, 1);
    int rc_head = csp_sema_acquire(sem, 2, ctx);   /* waits; times out: nothing acquired */
    EXPECT_EQ(rc_head, -ETIMEDOUT);
    EXPECT_EQ(sem_cur(), 2, "no side effect");
    csp_sema_release(sem, 2);
    EXPECT(csp_sema_try_acquire(sem, 2));
    csp_sema_release(sem, 2);
    csp_ctx *c2 = csp_ctx_with_cancel(NULL);
    csp_ctx_cancel(c2);
    EXPECT_EQ(csp_sema_acquire(sem, 5, c2), -ECANCELED, "more than the capacity: waits for ctx only");
    csp_ctx_release(c2);
    csp_ctx_release(ctx);
    csp_chan_release(order);
    csp_sema_free(sem);
}
static void head_waiter(void *arg) {
    csp_ctx *ctx = *(csp_ctx **)arg;
    int rc = csp_sema_acquire(sem, 2, ctx);
    int64_t v = rc == 0 ? 2 : -1;
    csp_send(order, &v);
}
TEST(sema_cancel_of_head_waiter_wakes_next) {
    sem = csp_sema_new(2);
    order = csp_chan_make(sizeof(int64_t), 8);
    EXPECT_EQ(csp_sema_acquire(sem, 1, NULL), 0);
    csp_ctx *ctx = csp_ctx_with_cancel(NULL);
    csp_go_copy(head_waiter, &ctx, sizeof ctx);
    while (sem_nwaiters() < 1) csp_yield();
    int64_t one = 1;
    csp_go_copy(acquirer, &one, sizeof one);
    while (sem_nwaiters() < 2) csp_yield();
    csp_ctx_cancel(ctx);   /* the head leaves; the 1 behind it fits */
    int64_t a = 0, b = 0;
    csp_recv(order, &a); csp_recv(order, &b);
    EXPECT((a == -1 && b == 1) || (a == 1 && b == -1), "head canceled (%lld), next acquired (%lld)", (long long)a, (long long)b);
    csp_sema_release(sem, 2);
    csp_ctx_release(ctx);
    csp_chan_release(order);
    csp_sema_free(sem);
}
CHILD(sema_over_release) { csp_sema *s = csp_sema_new(1); csp_sema_release(s, 1); }

/* ---- errgroup ------------------------------------------------------------------ */
static int fail_with(csp_ctx *ctx, void *arg) { (void)ctx; csp_sleep(MS); return (int)(intptr_t)arg; }
static int wait_for_cancel(csp_ctx *ctx, void *arg) { (void)arg; csp_recv(csp_ctx_done(ctx), NULL); return 0; }
TEST(errgroup_first_error_and_cancel) {
    csp_errgroup *g = csp_errgroup_new(NULL);
    csp_errgroup_go(g, wait_for_cancel, NULL);
    csp_errgroup_go(g, fail_with, (void *)(intptr_t)7);
    EXPECT_EQ(csp_errgroup_wait(g), 7);
    EXPECT_EQ(csp_ctx_err(csp_errgroup_ctx(g)), CSP_CANCELED, "canceled on the first error");
    csp_errgroup_free(g);
    g = csp_errgroup_new(NULL);
    for (int i = 0; i < 10; i++) csp_errgroup_go(g, fail_with, (void *)0);
    EXPECT_EQ(csp_errgroup_wait(g), 0);
    EXPECT_EQ(csp_ctx_err(csp_errgroup_ctx(g)), CSP_CANCELED, "canceled when wait returns");
    csp_errgroup_free(g);
}
static int active, max_active;
static int limited(csp_ctx *ctx, void *arg) {
    (void)ctx; (void)arg;
    int a = __atomic_add_fetch(&active, 1, __ATOMIC_RELAXED);
    int m = __atomic_load_n(&max_active, __ATOMIC_RELAXED);
    while (a > m && !__atomic_compare_exchange_n(&max_active, &m, a, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    csp_sleep(MS);
    __atomic_sub_fetch(&active, 1, __ATOMIC_RELAXED);
    return 0;
}
TEST(errgroup_set_limit) {
    csp_errgroup *g = csp_errgroup_new(NULL);
    csp_errgroup_set_limit(g, 3);
    for (int i = 0; i < 30; i++) csp_errgroup_go(g, limited, NULL);
    EXPECT_EQ(csp_errgroup_wait(g), 0);
    EXPECT_LE(max_active, 3, "never more than the limit");
    EXPECT_GE(max_active, 2);
    csp_errgroup_set_limit(g, -1);
    csp_errgroup_free(g);
}
static int block_forever(csp_ctx *ctx, void *arg) { (void)arg; csp_recv(csp_ctx_done(ctx), NULL); return 0; }
CHILD(errgroup_limit_while_active) {
    csp_errgroup *g = csp_errgroup_new(NULL);
    csp_errgroup_go(g, block_forever, NULL);
    csp_errgroup_set_limit(g, 1);
}
TEST(xsync_panics) {
    csp_test_child r = RUN_CHILD(sema_over_release, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: semaphore: released more than held");
    csp_test_child_free(&r);
    r = RUN_CHILD(errgroup_limit_while_active, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: errgroup: modify limit while 1 goroutines in the group are still active");
    csp_test_child_free(&r);
}
