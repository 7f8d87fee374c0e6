/* test_chan_go.c -- the ideas of Go 1.19's channel tests that test_chan.c
 * does not carry yet, ported to csp.h: test/chan/{select2..select8,
 * doubleselect, sieve1, sieve2, powser1, zerosize, sendstmt}.go and, from
 * runtime/chan_test.go, TestChan (capacities 0..199), the non-blocking races,
 * TestSelfSelect, TestSelectStress, TestMultiConsumer, TestChanSendInterface
 * and TestSelectDuplicateChannel; then the misuse panics and bad inputs of
 * issue #5 (perm.go's direction errors are compile-time in Go: nothing to
 * port). Where Go sleeps to let a goroutine block, these tests wait until
 * the goroutine is really queued on the channel (queued() below). */

/* select2 counts the runtime's allocations: route them through counters. */
static void *cnt_malloc(__SIZE_TYPE__ n);
static void *cnt_calloc(__SIZE_TYPE__ n, __SIZE_TYPE__ size);
static void cnt_free(void *p);
#define CSP_MALLOC(n) cnt_malloc(n)
#define CSP_CALLOC(n, s) cnt_calloc((n), (s))
#define CSP_FREE(p) cnt_free(p)
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include <limits.h>

static long n_alloc, n_free;
static void *cnt_malloc(size_t n) {
    void *p = malloc(n);
    if (p) __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
    return p;
}
static void *cnt_calloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (p) __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
    return p;
}
static void cnt_free(void *p) {
    if (p) __atomic_fetch_add(&n_free, 1, __ATOMIC_RELAXED);
    free(p);
}
static long allocs(void) { return __atomic_load_n(&n_alloc, __ATOMIC_RELAXED); }
static long frees(void) { return __atomic_load_n(&n_free, __ATOMIC_RELAXED); }

/* ---- helpers ------------------------------------------------------------------ */

/* Waiters queued on c (op: which queue), read under the channel's lock: a
 * test can wait until a goroutine has really parked instead of sleeping.
 * (Runtime internals: this file includes the implementation.) */
static int queued(csp_chan *c, int op) {
    int n = 0;
    csp__lock(&c->lock);
    for (csp__sudog *s = op == CSP_OP_RECV ? c->recvq.first : c->sendq.first; s; s = s->next) n++;
    csp__unlock(&c->lock);
    return n;
}
/* Until at least n waiters are queued (false after 10 s: a test failure). */
static bool await_queued(csp_chan *c, int op, int n) {
    int64_t end = csp_now() + 10 * CSP_SECOND;
    while (queued(c, op) < n) {
        if (csp_now() > end) return false;
        csp_yield();
    }
    return true;
}

/* One channel operation in a goroutine of its own, observable from outside. */
enum { BG_SEND, BG_RECV, BG_SEL_SEND, BG_SEL_RECV };
typedef struct {
    csp_chan *c;
    int op, val, got;
    bool ok;
    int done;            /* atomic: the operation returned */
    csp_waitgroup *wg;
} bg_op;
static void bg_run(void *arg) {
    bg_op *o = (bg_op *)arg;
    if (o->op == BG_SEND) {
        csp_send(o->c, &o->val);
    } else if (o->op == BG_RECV) {
        o->ok = csp_recv(o->c, &o->got);
    } else {
        csp_case k = o->op == BG_SEL_SEND ? CSP_SEND(o->c, &o->val) : CSP_RECV(o->c, &o->got);
        if (csp_select(&k, 1, CSP_FOREVER) == 0) o->ok = o->op == BG_SEL_SEND || k.ok;
    }
    __atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
    csp_wg_done(o->wg);
}
static void bg_start(bg_op *o, csp_waitgroup *wg, csp_chan *c, int op, int val) {
    *o = (bg_op){ c, op, val, -1, false, 0, wg };
    csp_wg_add(wg, 1);
    if (csp_go(bg_run, o) != 0) csp_panic("test: csp_go failed");
}
static int bg_done(bg_op *o) { return __atomic_load_n(&o->done, __ATOMIC_ACQUIRE); }

/* Sends first, first+1, ..., first+n-1 on c. */
typedef struct { csp_chan *c; int first, n; csp_waitgroup *wg; } range_arg;
static void send_range(void *arg) {
    range_arg *a = (range_arg *)arg;
    for (int i = 0; i < a->n; i++) { int v = a->first + i; csp_send(a->c, &v); }
    if (a->wg) csp_wg_done(a->wg);
}

/* TSAN_OPTIONS for a child: the inherited ones plus `extra`, without TSan's
 * default sleep of a second at exit (every panic would cost one). */
static const char *child_tsan_env(const char *extra) {
    static char buf[1024];
    const char *o = getenv("TSAN_OPTIONS");
    snprintf(buf, sizeof buf, "TSAN_OPTIONS=%s%satexit_sleep_ms=0%s%s", o ? o : "", o && *o ? ":" : "",
             extra ? ":" : "", extra ? extra : "");
    return buf;
}

static bool is_prime(int n) {
    if (n < 2) return false;
    for (int d = 2; d * d <= n; d++) if (n % d == 0) return false;
    return true;
}
static int next_prime(int n) { do n++; while (!is_prime(n)); return n; }

/* ---- TestChan: every capacity 0..199 ------------------------------------------- */
typedef struct { csp_chan *c; int n; int counts[1000]; csp_waitgroup *wg; } count_arg;
static void recv_counting(void *arg) {
    count_arg *a = (count_arg *)arg;
    for (int i = 0; i < a->n; i++) {
        int v = -1;
        if (csp_recv(a->c, &v) && v >= 0 && v < 1000) a->counts[v]++;
    }
    csp_wg_done(a->wg);
}
static count_arg tc_counters[4];

static bool chan_one_capacity(int cap) {
    bool good = true;
    csp_waitgroup wg = {0};
    int v, zero = 0;
    {   /* receive from an empty channel blocks; non-blocking receives do not */
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)cap);
        bg_op r1, r2;
        bg_start(&r1, &wg, c, BG_RECV, 0);
        bg_start(&r2, &wg, c, BG_SEL_RECV, 0);
        good &= EXPECT(await_queued(c, CSP_OP_RECV, 2), "cap %d: receivers never parked", cap);
        good &= EXPECT(!bg_done(&r1) && !bg_done(&r2), "cap %d: receive from empty chan", cap);
        good &= EXPECT(!csp_try_recv(c, &v, NULL), "cap %d", cap);
        csp_case k = CSP_RECV(c, &v);
        good &= EXPECT_EQ(csp_select(&k, 1, 0), CSP_SELECT_TIMEOUT, "cap %d", cap);
        csp_send(c, &zero);
        csp_send(c, &zero);
        csp_wg_wait(&wg);
        good &= EXPECT(r1.ok && r1.got == 0 && r2.ok && r2.got == 0, "cap %d", cap);
        csp_chan_release(c);
    }
    {   /* send to a full channel blocks; the parked sender's value goes last */
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)cap);
        for (int i = 0; i < cap; i++) csp_send(c, &i);
        bg_op s;
        bg_start(&s, &wg, c, BG_SEND, 1000 + cap);
        good &= EXPECT(await_queued(c, CSP_OP_SEND, 1), "cap %d: sender never parked", cap);
        good &= EXPECT(!bg_done(&s), "cap %d: send to full chan", cap);
        int x = 5;
        good &= EXPECT(!csp_try_send(c, &x), "cap %d", cap);
        csp_case k = CSP_SEND(c, &x);
        good &= EXPECT_EQ(csp_select(&k, 1, 0), CSP_SELECT_TIMEOUT, "cap %d", cap);
        v = -1;
        csp_recv(c, &v);
        good &= EXPECT_EQ(v, cap ? 0 : 1000 + cap, "cap %d: first value", cap);
        csp_wg_wait(&wg);
        for (int i = 1; i < cap; i++) { v = -1; csp_recv(c, &v); good &= EXPECT_EQ(v, i, "cap %d", cap); }
        if (cap) { v = -1; csp_recv(c, &v); good &= EXPECT_EQ(v, 1000 + cap, "cap %d: the parked sender's value", cap); }
        good &= EXPECT_EQ_U(csp_len(c), 0u, "cap %d", cap);
        csp_chan_release(c);
    }
    {   /* a closed channel yields its buffered values, then zero, false */
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)cap);
        for (int i = 0; i < cap; i++) csp_send(c, &i);
        csp_close(c);
        for (int i = 0; i < cap; i++) { v = -1; good &= EXPECT(csp_recv(c, &v) && v == i, "cap %d: value %d", cap, i); }
        v = 9;
        good &= EXPECT(!csp_recv(c, &v) && v == 0, "cap %d: closed and drained", cap);
        csp_case k = CSP_RECV(c, &v);
        v = 9;
        good &= EXPECT(csp_select(&k, 1, CSP_FOREVER) == 0 && !k.ok && v == 0, "cap %d", cap);
        csp_chan_release(c);
    }
    {   /* close unblocks a receiver */
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)cap);
        bg_op r;
        bg_start(&r, &wg, c, BG_RECV, 0);
        good &= EXPECT(await_queued(c, CSP_OP_RECV, 1), "cap %d", cap);
        csp_close(c);
        csp_wg_wait(&wg);
        good &= EXPECT(!r.ok && r.got == 0, "cap %d: close woke the receiver with zero, false", cap);
        csp_chan_release(c);
    }
    {   /* 100 values in FIFO order, twice; then 4 senders x 4 receivers */
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)cap);
        for (int round = 0; round < 2; round++) {
            range_arg ra = { c, 0, 100, &wg };
            csp_wg_add(&wg, 1);
            csp_go(send_range, &ra);
            for (int i = 0; i < 100; i++) {
                v = -1;
                bool ok;
                if (round == 0) ok = csp_recv(c, &v);
                else { csp_case k = CSP_RECV(c, &v); ok = csp_select(&k, 1, CSP_FOREVER) == 0 && k.ok; }
                good &= EXPECT(ok && v == i, "cap %d: round %d: got %d, want %d", cap, round, v, i);
            }
            csp_wg_wait(&wg);
        }
        enum { P = 4, L = 1000 };
        range_arg ra[P];
        for (int p = 0; p < P; p++) {
            ra[p] = (range_arg){ c, 0, L, &wg };
            csp_wg_add(&wg, 1);
            csp_go(send_range, &ra[p]);
            memset(&tc_counters[p], 0, sizeof tc_counters[p]);
            tc_counters[p].c = c; tc_counters[p].n = L; tc_counters[p].wg = &wg;
            csp_wg_add(&wg, 1);
            csp_go(recv_counting, &tc_counters[p]);
        }
        csp_wg_wait(&wg);
        int wrong = 0;
        for (int i = 0; i < L; i++) {
            int n = 0;
            for (int p = 0; p < P; p++) n += tc_counters[p].counts[i];
            wrong += n != P;
        }
        good &= EXPECT_EQ(wrong, 0, "cap %d: values not received exactly %d times", cap, P);
        csp_chan_release(c);
    }
    {   /* len and cap */
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)cap);
        good &= EXPECT(csp_len(c) == 0 && csp_cap(c) == (size_t)cap, "cap %d", cap);
        for (int i = 0; i < cap; i++) csp_send(c, &i);
        good &= EXPECT(csp_len(c) == (size_t)cap && csp_cap(c) == (size_t)cap, "cap %d", cap);
        csp_chan_release(c);
    }
    return good;
}
TEST(chan_every_capacity) {
    int n = T_COUNT(200, 20);
    for (int cap = 0; cap < n; cap++)
        if (!chan_one_capacity(cap)) break;   /* one capacity's failures are enough */
}

/* ---- the non-blocking races ------------------------------------------------------- */
typedef struct { csp_chan *c, *c2, *done; int *bad; csp_waitgroup *wg; int *started; } probe_arg;
/* Main spins a little (without yielding its thread) until the probe runs
 * elsewhere, so that the probe's look at the channel overlaps main's
 * changes; with one processor the probe simply runs later. */
static void await_start(int *started) {
    if (csp_maxprocs(0) == 1) return;
    for (int i = 0; i < 5000 && !__atomic_load_n(started, __ATOMIC_ACQUIRE); i++) __asm__ __volatile__("" ::: "memory");
}
static void nb_recv_probe(void *arg) {
    probe_arg *a = (probe_arg *)arg;
    csp_case k = CSP_RECV(a->c, NULL);
    __atomic_store_n(a->started, 1, __ATOMIC_RELEASE);
    /* a->c2 set: the lock-free try_recv; else a select with default */
    bool ready = a->c2 ? csp_try_recv(a->c, NULL, NULL) : csp_select(&k, 1, 0) == 0;
    if (!ready) __atomic_fetch_add(a->bad, 1, __ATOMIC_RELAXED);
    csp_chan_release(a->c);
    csp_wg_done(a->wg);
}
TEST(nonblock_recv_race) {
    /* A buffered value, then close: at every instant a receive can proceed. */
    static int bad;
    csp_waitgroup wg = {0};
    int n = T_COUNT(10000, 1000), one = 1;
    for (int i = 0; i < n; i++) {
        csp_chan *c = csp_chan_make(sizeof(int), 1);
        csp_send(c, &one);
        static int started;
        __atomic_store_n(&started, 0, __ATOMIC_RELAXED);
        probe_arg a = { csp_chan_retain(c), i % 2 ? c : NULL, NULL, &bad, &wg, &started };
        csp_wg_add(&wg, 1);
        REQUIRE_EQ(csp_go_copy(nb_recv_probe, &a, sizeof a), 0);
        await_start(&started);
        csp_close(c);
        csp_recv(c, NULL);
        csp_chan_release(c);
    }
    csp_wg_wait(&wg);
    EXPECT_EQ(bad, 0, "a non-blocking receive found nothing ready, of %d", n);
}
static void nb_select_probe(void *arg) {
    probe_arg *a = (probe_arg *)arg;
    csp_case k[2] = { CSP_RECV(a->c, NULL), CSP_RECV(a->c2, NULL) };
    __atomic_store_n(a->started, 1, __ATOMIC_RELEASE);
    bool ready = csp_select(k, 2, 0) != CSP_SELECT_TIMEOUT;
    csp_send(a->done, &ready);
}
/* One moment's state: from the probe's start on, c1 or c2 is always ready.
 * close2: c2 is unbuffered and gets closed instead of a value. */
static void run_nonblock_select_race(bool close2) {
    int n = T_COUNT(50000, 1000), bad = 0, one = 1;
    csp_chan *done = csp_chan_make(sizeof(bool), 1);
    for (int i = 0; i < n; i++) {
        csp_chan *c1 = csp_chan_make(sizeof(int), 1), *c2 = csp_chan_make(sizeof(int), close2 ? 0 : 1);
        csp_send(c1, &one);
        static int started;
        __atomic_store_n(&started, 0, __ATOMIC_RELAXED);
        probe_arg a = { c1, c2, done, NULL, NULL, &started };
        REQUIRE_EQ(csp_go_copy(nb_select_probe, &a, sizeof a), 0);
        await_start(&started);
        if (close2) csp_close(c2); else csp_send(c2, &one);
        csp_case k = CSP_RECV(c1, NULL);
        csp_select(&k, 1, 0);
        bool ready = false;
        csp_recv(done, &ready);   /* the probe is done with c1 and c2 */
        bad += !ready;
        csp_chan_release(c1);
        csp_chan_release(c2);
    }
    EXPECT_EQ(bad, 0, "the select saw neither channel ready, of %d", n);
    csp_chan_release(done);
}
TEST(nonblock_select_race) { run_nonblock_select_race(false); }
TEST(nonblock_select_race_with_close) { run_nonblock_select_race(true); }

/* ---- TestSelfSelect: send and receive on one channel in one select ---------------- */
typedef struct { csp_chan *c; int p, cap, iters; int sends, recvs, self; csp_waitgroup *wg; } self_arg;
static void self_selector(void *arg) {
    self_arg *a = (self_arg *)arg;
    for (int i = 0; i < a->iters; i++) {
        int v = -1, mine = a->p;
        csp_case k[2];
        int si = (a->p == 0 || i % 2 == 0) ? 0 : 1;   /* the send case first or second */
        k[si] = CSP_SEND(a->c, &mine);
        k[1 - si] = CSP_RECV(a->c, &v);
        int r = csp_select(k, 2, CSP_FOREVER);
        if (r == si) a->sends++;
        else { a->recvs++; if (a->cap == 0 && v == a->p) a->self++; }
    }
    csp_wg_done(a->wg);
}
TEST(select_send_and_receive_on_the_same_channel) {
    static const int caps[] = { 0, 10 };
    int iters = T_COUNT(5000, 1000);
    for (size_t ci = 0; ci < 2; ci++) {
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)caps[ci]);
        csp_waitgroup wg = {0};
        self_arg a[2];
        for (int p = 0; p < 2; p++) {
            a[p] = (self_arg){ c, p, caps[ci], iters, 0, 0, 0, &wg };
            csp_wg_add(&wg, 1);
            csp_go(self_selector, &a[p]);
        }
        csp_wg_wait(&wg);
        EXPECT_EQ(a[0].self + a[1].self, 0, "cap %d: a select received its own send", caps[ci]);
        if (caps[ci] == 0) {
            EXPECT_EQ(a[0].sends, a[1].recvs, "unbuffered: every send met the other's receive");
            EXPECT_EQ(a[1].sends, a[0].recvs);
        } else {
            EXPECT_EQ_U((size_t)(a[0].sends + a[1].sends - a[0].recvs - a[1].recvs), csp_len(c), "cap 10: what is left is buffered");
        }
        csp_chan_release(c);
    }
}

/* ---- TestSelectStress ----------------------------------------------------------------- */
enum { SS_CH = 4 };
static csp_chan *ss_c[SS_CH];
static long ss_sent[SS_CH], ss_got[SS_CH];   /* sums of the values, atomic */
static int ss_n;
static void ss_plain_sender(void *arg) {
    int k = *(int *)arg;
    long sum = 0;
    for (int i = 1; i <= ss_n; i++) { csp_send(ss_c[k], &i); sum += i; }
    __atomic_fetch_add(&ss_sent[k], sum, __ATOMIC_RELAXED);
}
static void ss_plain_receiver(void *arg) {
    int k = *(int *)arg;
    long sum = 0;
    for (int i = 0; i < ss_n; i++) { int v = 0; csp_recv(ss_c[k], &v); sum += v; }
    __atomic_fetch_add(&ss_got[k], sum, __ATOMIC_RELAXED);
}
/* One select over all four channels, each dropped (nil) once it had N; the
 * sender lists its cases in reverse order (as TestSelectStress does). */
static void ss_select_side(bool send) {
    csp_chan *c1[SS_CH];
    int n[SS_CH] = { 0 }, val[SS_CH];
    long sum[SS_CH] = { 0 };
    memcpy(c1, ss_c, sizeof c1);
    for (int i = 0; i < SS_CH * ss_n; i++) {
        csp_case k[SS_CH];
        for (int j = 0; j < SS_CH; j++) {
            if (send) { val[j] = 1000000 + i; k[j] = CSP_SEND(c1[3 - j], &val[j]); }
            else { val[j] = 0; k[j] = CSP_RECV(c1[j], &val[j]); }
        }
        int r = csp_select(k, SS_CH, CSP_FOREVER);
        int ch = send ? 3 - r : r;
        sum[ch] += val[r];
        if (++n[ch] == ss_n) c1[ch] = NULL;
    }
    for (int j = 0; j < SS_CH; j++) __atomic_fetch_add(send ? &ss_sent[j] : &ss_got[j], sum[j], __ATOMIC_RELAXED);
}
static void ss_select_sender(void *arg) { (void)arg; ss_select_side(true); }
static void ss_select_receiver(void *arg) { (void)arg; ss_select_side(false); }
TEST(select_stress) {
    static const size_t caps[SS_CH] = { 0, 0, 2, 3 };
    static int ids[SS_CH] = { 0, 1, 2, 3 };
    ss_n = T_COUNT(100000, 5000);
    for (int k = 0; k < SS_CH; k++) { ss_c[k] = csp_chan_make(sizeof(int), caps[k]); ss_sent[k] = ss_got[k] = 0; }
    csp_waitgroup wg = {0};
    for (int k = 0; k < SS_CH; k++) {
        csp_wg_go(&wg, ss_plain_sender, &ids[k]);
        csp_wg_go(&wg, ss_plain_receiver, &ids[k]);
    }
    csp_wg_go(&wg, ss_select_sender, NULL);
    csp_wg_go(&wg, ss_select_receiver, NULL);
    csp_wg_wait(&wg);   /* a lost wake-up shows as the runtime's deadlock report */
    for (int k = 0; k < SS_CH; k++) {
        EXPECT_EQ(ss_got[k], ss_sent[k], "channel %d: the values received are the values sent", k);
        EXPECT_EQ_U(csp_len(ss_c[k]), 0u);
        csp_chan_release(ss_c[k]);
    }
}

/* ---- TestMultiConsumer ------------------------------------------------------------------ */
static const int mc_pn[] = { 2, 3, 7, 11, 13, 17, 19, 23, 27, 31 };
typedef struct { csp_chan *q, *r; int w; csp_waitgroup *wg; } mc_worker_arg;
static void mc_worker(void *arg) {
    mc_worker_arg *a = (mc_worker_arg *)arg;
    int v;
    while (csp_recv(a->q, &v)) {
        if (mc_pn[a->w % 10] == v) csp_yield();   /* disturb the FIFO-ish order */
        csp_send(a->r, &v);
    }
    csp_wg_done(a->wg);
}
typedef struct { csp_chan *q, *r; int niter; long expect; csp_waitgroup *wg; } mc_feed_arg;
static void mc_feeder(void *arg) {
    mc_feed_arg *a = (mc_feed_arg *)arg;
    for (int i = 0; i < a->niter; i++) { int v = mc_pn[i % 10]; a->expect += v; csp_send(a->q, &v); }
    csp_close(a->q);        /* no more work */
    csp_wg_wait(a->wg);     /* the workers are done */
    csp_close(a->r);        /* so no more results can come */
}
TEST(multi_consumer) {
    enum { NWORK = 23 };
    csp_chan *q = csp_chan_make(sizeof(int), NWORK * 3), *r = csp_chan_make(sizeof(int), NWORK * 3);
    csp_waitgroup wg = {0};
    mc_worker_arg wa[NWORK];
    for (int i = 0; i < NWORK; i++) {
        wa[i] = (mc_worker_arg){ q, r, i, &wg };
        csp_wg_add(&wg, 1);
        csp_go(mc_worker, &wa[i]);
    }
    mc_feed_arg fa = { q, r, T_COUNT(271828, 27183), 0, &wg };
    csp_go(mc_feeder, &fa);
    long n = 0, s = 0;
    int v;
    while (csp_recv(r, &v)) { n++; s += v; }
    /* r is closed after the feeder's last write of fa.expect */
    EXPECT_EQ(n, fa.niter);
    EXPECT_EQ(s, fa.expect);
    csp_chan_release(q);
    csp_chan_release(r);
}

/* ---- TestChanSendInterface: pointer elements, a full channel ----------------------------- */
TEST(select_sends_on_a_full_channel_of_pointers) {
    struct mt { int x; } m = { 1 }, other = { 2 };
    csp_chan *c = csp_chan_make(sizeof(struct mt *), 1);
    struct mt *pm = &m, *po = &other;
    csp_send(c, &pm);
    csp_case k1 = CSP_SEND(c, &pm);
    EXPECT_EQ(csp_select(&k1, 1, 0), CSP_SELECT_TIMEOUT);
    csp_case k2[2] = { CSP_SEND(c, &pm), CSP_SEND(c, &po) };
    EXPECT_EQ(csp_select(k2, 2, 0), CSP_SELECT_TIMEOUT);
    struct mt *got = NULL;
    EXPECT(csp_recv(c, &got));
    EXPECT(got == &m && got->x == 1, "the first pointer, intact");
    EXPECT_EQ_U(csp_len(c), 0u);
    csp_chan_release(c);
}

/* ---- TestSelectDuplicateChannel: one goroutine queued twice on a channel ----------------- */
typedef struct { csp_chan *c, *d, *e; int r, v; csp_waitgroup *wg; } dup_arg;
static void dup_selector(void *arg) {
    dup_arg *a = (dup_arg *)arg;
    int x = -1, y = -1, z = -1;
    csp_case k[3] = { CSP_RECV(a->c, &x), CSP_RECV(a->c, &y), CSP_RECV(a->d, &z) };
    a->r = csp_select(k, 3, CSP_FOREVER);
    a->v = a->r == 2 ? z : -1;
    int nine = 9;
    csp_send(a->e, &nine);
    csp_wg_done(a->wg);
}
TEST(select_duplicate_channel_queued) {
    int rounds = T_COUNT(300, 30);
    for (int round = 0; round < rounds; round++) {
        csp_chan *c = csp_chan_make(sizeof(int), 0), *d = csp_chan_make(sizeof(int), 0), *e = csp_chan_make(sizeof(int), 0);
        csp_waitgroup wg = {0};
        dup_arg a = { c, d, e, -9, -9, &wg };
        csp_wg_add(&wg, 1);
        csp_go(dup_selector, &a);
        REQUIRE(await_queued(c, CSP_OP_RECV, 2), "A queued twice on c first");
        bg_op b;
        bg_start(&b, &wg, c, BG_RECV, 0);
        REQUIRE(await_queued(c, CSP_OP_RECV, 3), "then B");
        int seven = 7, eight = 8, v = 0;
        csp_send(d, &seven);   /* wakes A, which unlinks both of its waits on c */
        csp_recv(e, &v);
        EXPECT_EQ(v, 9);
        EXPECT_EQ(a.r, 2, "A won on d");
        EXPECT_EQ(a.v, 7);
        int left = queued(c, CSP_OP_RECV);
        EXPECT_EQ(left, 1, "only B is left on c");
        csp_send(c, &eight);   /* must reach B, not A's stale record */
        csp_wg_wait(&wg);
        EXPECT(b.ok && b.got == 8, "B got %d", b.got);
        csp_chan_release(c); csp_chan_release(d); csp_chan_release(e);
        if (a.r != 2 || b.got != 8 || left != 1) break;
    }
}

/* ---- select2: many selects, no memory growth ---------------------------------------------- */
static void s2_sender(void *arg) {
    range_arg *a = (range_arg *)arg;
    int one = 1;
    for (int i = 0; i < a->n; i++) csp_send(a->c, &one);
    csp_wg_done(a->wg);
}
static int s2_receive(csp_chan *c, csp_chan *dummy, int n) {
    int wrong = 0, v;
    for (int i = 0; i < n; i++) {
        csp_case k[2] = { CSP_RECV(c, &v), CSP_RECV(dummy, &v) };
        wrong += csp_select(k, 2, CSP_FOREVER) != 0;
    }
    return wrong;
}
TEST(select2_selects_do_not_allocate) {
    int n = T_COUNT(100000, 10000);
    csp_chan *c = csp_chan_make(sizeof(int), 0), *dummy = csp_chan_make(sizeof(int), 0);
    csp_waitgroup wg = {0};
    range_arg a = { c, 0, n, &wg };
    csp_wg_add(&wg, 1);
    csp_go(s2_sender, &a);   /* warm up */
    EXPECT_EQ(s2_receive(c, dummy, n), 0, "the dummy case won");
    csp_wg_wait(&wg);
    long a0 = allocs(), f0 = frees();
    csp_wg_add(&wg, 1);
    csp_go(s2_sender, &a);
    EXPECT_EQ(s2_receive(c, dummy, n), 0);
    csp_wg_wait(&wg);
    long da = allocs() - a0, df = frees() - f0;
    /* A goroutine record or a thread's state may be allocated meanwhile; one
     * allocation per select would be n. */
    EXPECT_LT(da, n / 100 + 16, "allocations during %d selects", n);
    EXPECT_LT(da - df, 16, "memory kept after %d selects", n);
    /* More cases than fit on the stack: the heap is used, and given back. */
    enum { K = 12 };
    csp_chan *many[K];
    for (int i = 0; i < K; i++) many[i] = csp_chan_make(sizeof(int), 1);
    a0 = allocs(); f0 = frees();
    int m = n / 10, wrong = 0, v = 3;
    for (int i = 0; i < m; i++) {
        csp_send(many[i % K], &v);
        csp_case k[K];
        for (int j = 0; j < K; j++) k[j] = CSP_RECV(many[j], &v);
        wrong += csp_select(k, K, CSP_FOREVER) != i % K;
    }
    da = allocs() - a0; df = frees() - f0;
    EXPECT_EQ(wrong, 0, "the one ready case won");
    EXPECT_GE(da, m, "a %d-case select takes its arrays from the heap", K);
    EXPECT_LT(da - df, 16, "and gives them back");
    for (int i = 0; i < K; i++) csp_chan_release(many[i]);
    csp_chan_release(c);
    csp_chan_release(dummy);
}

/* ---- select3: what blocks, what does not, what panics ------------------------------------- */
TEST(select3_rules_in_process) {
    int seven = 7, v;
    csp_chan *closed = csp_chan_make(sizeof(int), 0);
    csp_close(closed);
    /* nil channels inside a select with default are never selected; their
     * elem is never touched (an address that would fault) */
    void *wild = (void *)(uintptr_t)8;
    csp_case k1 = CSP_SEND(NULL, wild);
    EXPECT_EQ(csp_select(&k1, 1, 0), CSP_SELECT_TIMEOUT);
    csp_case k2 = CSP_RECV(NULL, wild);
    EXPECT_EQ(csp_select(&k2, 1, 0), CSP_SELECT_TIMEOUT);
    /* a send with room in the buffer does not block */
    csp_chan *async = csp_chan_make(sizeof(int), 1);
    csp_send(async, &seven);
    EXPECT_EQ_U(csp_len(async), 1u);
    csp_chan_release(async);
    /* a closed channel never blocks a receiver: zero, false, every time */
    for (int i = 0; i < 10; i++) {
        v = 5;
        EXPECT(!csp_recv(closed, &v) && v == 0);
        bool ok = true;
        v = 5;
        EXPECT(csp_try_recv(closed, &v, &ok) && !ok && v == 0);
    }
    /* a receive, and a select, on a channel nobody serves block */
    csp_waitgroup wg = {0};
    csp_chan *ch = csp_chan_make(sizeof(int), 0), *ch2 = csp_chan_make(sizeof(int), 0);
    bg_op r, s;
    bg_start(&r, &wg, ch, BG_RECV, 0);
    bg_start(&s, &wg, ch2, BG_SEL_RECV, 0);
    EXPECT(await_queued(ch, CSP_OP_RECV, 1));
    EXPECT(await_queued(ch2, CSP_OP_RECV, 1));
    EXPECT(!bg_done(&r) && !bg_done(&s), "a receive from a channel nobody sends on returned");
    csp_close(ch);
    csp_send(ch2, &seven);
    csp_wg_wait(&wg);
    EXPECT(!r.ok && r.got == 0);
    EXPECT(s.ok && s.got == 7);
    csp_chan_release(ch); csp_chan_release(ch2);
    /* selects with a default clause do not block */
    EXPECT_EQ(csp_select(NULL, 0, 0), CSP_SELECT_TIMEOUT);
    csp_case k3[2] = { CSP_RECV(NULL, wild), CSP_SEND(NULL, wild) };
    EXPECT_EQ(csp_select(k3, 2, 0), CSP_SELECT_TIMEOUT);
    /* ready channels are selected, with or without default */
    csp_chan *a1 = csp_chan_make(sizeof(int), 1);
    csp_case k4 = CSP_SEND(a1, &seven);
    EXPECT_EQ(csp_select(&k4, 1, 0), 0);
    v = 0;
    csp_case k5 = CSP_RECV(a1, &v);
    EXPECT_EQ(csp_select(&k5, 1, 0), 0);
    EXPECT(k5.ok && v == 7);
    csp_chan_release(a1);
    /* a closed channel in a select behaves as a receive would */
    csp_case k6 = CSP_RECV(closed, NULL);
    EXPECT_EQ(csp_select(&k6, 1, CSP_FOREVER), 0);
    EXPECT(!k6.ok);
    v = 4;
    csp_case k7[2] = { CSP_RECV(closed, &v), CSP_RECV(NULL, wild) };
    EXPECT_EQ(csp_select(k7, 2, CSP_FOREVER), 0);
    EXPECT(!k7[0].ok && v == 0);
    csp_chan_release(closed);
}
/* A select sending and receiving on one unbuffered channel parks (it does
 * not meet itself); a partner's receive then takes its send. */
static void s3_self_select(void *arg) {
    bg_op *o = (bg_op *)arg;
    int mine = 1, got = -1;
    csp_case k[2] = { CSP_SEND(o->c, &mine), CSP_RECV(o->c, &got) };
    o->got = csp_select(k, 2, CSP_FOREVER);
    __atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
    csp_wg_done(o->wg);
}
TEST(select3_does_not_pair_with_itself) {
    csp_chan *c = csp_chan_make(sizeof(int), 0);
    csp_waitgroup wg = {0};
    bg_op o = { c, 0, 0, -1, false, 0, &wg };
    csp_wg_add(&wg, 1);
    csp_go(s3_self_select, &o);
    EXPECT(await_queued(c, CSP_OP_SEND, 1) && await_queued(c, CSP_OP_RECV, 1), "both cases queued");
    EXPECT(!bg_done(&o), "the select met itself");
    int v = 0;
    EXPECT(csp_recv(c, &v));
    csp_wg_wait(&wg);
    EXPECT_EQ(v, 1);
    EXPECT_EQ(o.got, 0, "the send case won");
    EXPECT_EQ(queued(c, CSP_OP_RECV) + queued(c, CSP_OP_SEND), 0, "the losing case was unlinked");
    csp_chan_release(c);
}
/* Operations that block forever (nil channels, empty selects): in a child,
 * which exits with them still parked, as a Go program may. */
static int s3_proceeded;
static void s3_nil_send(void *a) { (void)a; int v = 7; csp_send(NULL, &v); __atomic_fetch_add(&s3_proceeded, 1, __ATOMIC_RELAXED); }
static void s3_nil_recv(void *a) { (void)a; int v; csp_recv(NULL, &v); __atomic_fetch_add(&s3_proceeded, 1, __ATOMIC_RELAXED); }
static void s3_empty_select(void *a) { (void)a; csp_select(NULL, 0, CSP_FOREVER); __atomic_fetch_add(&s3_proceeded, 1, __ATOMIC_RELAXED); }
static void s3_nil_select(void *a) {
    int which = *(int *)a, v = 7;
    csp_case k[2] = { CSP_RECV(NULL, &v), CSP_SEND(NULL, &v) };
    if (which == 0) csp_select(&k[0], 1, CSP_FOREVER);
    else if (which == 1) csp_select(&k[1], 1, CSP_FOREVER);
    else csp_select(k, 2, CSP_FOREVER);
    __atomic_fetch_add(&s3_proceeded, 1, __ATOMIC_RELAXED);
}
CHILD(select3_blocks_forever) {
    static int which[3] = { 0, 1, 2 };
    static const struct { csp_fn fn; void *arg; const char *name, *want; } g[] = {
        { s3_nil_send, NULL, "nilsend", "\"nilsend\" [chan send (nil chan)" },
        { s3_nil_recv, NULL, "nilrecv", "\"nilrecv\" [chan receive (nil chan)" },
        { s3_empty_select, NULL, "emptysel", "\"emptysel\" [select (no cases)" },
        { s3_nil_select, &which[0], "nilselr", "\"nilselr\" [select (no cases)" },
        { s3_nil_select, &which[1], "nilsels", "\"nilsels\" [select (no cases)" },
        { s3_nil_select, &which[2], "nilsel2", "\"nilsel2\" [select (no cases)" },
    };
    enum { NG = sizeof g / sizeof g[0] };
    for (int i = 0; i < NG; i++) {
        csp_go_opts o = { 0, g[i].name };
        REQUIRE_EQ(csp_go_ex(g[i].fn, g[i].arg, &o), 0);
    }
    /* Poll the goroutine dump until every one is parked with its reason. */
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    static char buf[1 << 16];
    int found = 0;
    for (int64_t end = csp_now() + 10 * CSP_SECOND; found < NG && csp_now() < end; csp_yield()) {
        rewind(f);
        REQUIRE_EQ(ftruncate(fileno(f), 0), 0);
        csp_dump(fileno(f));
        ssize_t n = pread(fileno(f), buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        found = 0;
        for (int i = 0; i < NG; i++) found += strstr(buf, g[i].want) != NULL;
    }
    EXPECT_EQ(found, NG, "parked with Go's wait reasons; the dump:\n%s", buf);
    csp_sleep(20 * CSP_MILLISECOND);   /* proving that none proceeds */
    EXPECT_EQ(__atomic_load_n(&s3_proceeded, __ATOMIC_RELAXED), 0);
    printf("select3: %d goroutines parked for good\n", found);
    fclose(f);
}
TEST(select3_nil_channels_and_empty_selects_block) {
    csp_test_child r = RUN_CHILD_ENV(select3_blocks_forever, 30000, child_tsan_env(NULL));
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "select3: 6 goroutines parked for good");
    csp_test_child_free(&r);
}

/* ---- select4: a select proceeds with the ready case; the others' destinations stay ---------- */
TEST(select4_the_ready_case_proceeds) {
    for (int i = 0; i < 100; i++) {
        csp_chan *c = csp_chan_make(sizeof(int), 1), *c1 = csp_chan_make(sizeof(int), 0);
        int fortytwo = 42, trap = -7;
        struct { int a; } x = { 0 };
        csp_send(c, &fortytwo);
        csp_case k[2];
        int ready = i % 2;   /* the ready case first or second */
        k[ready] = CSP_RECV(c, &x.a);
        k[1 - ready] = CSP_RECV(c1, &trap);
        int r = csp_select(k, 2, CSP_FOREVER);
        EXPECT_EQ(r, ready);
        EXPECT(k[ready].ok && x.a == 42, "got %d", x.a);
        EXPECT_EQ(trap, -7, "the losing case's destination is untouched");
        EXPECT_EQ(queued(c1, CSP_OP_RECV), 0);
        csp_chan_release(c); csp_chan_release(c1);
        if (r != ready) break;
    }
}

/* ---- select5: every generated select combination, as a table walk --------------------------- */
/* Go generates one function per way of writing a single real send or
 * receive on c (buffered, 1): the real case among extra cases that must not
 * proceed (a send and a receive on a channel nobody serves, a send and a
 * receive on nil), with or without default, plus the all-extras selects
 * that must take default. Here: the same space as loops. */
enum { X_DUMMY_SEND, X_DUMMY_RECV, X_NIL_SEND, X_NIL_RECV, NX };
enum { REAL_RECV, REAL_RECV_DISCARD, REAL_SEND, REAL_NONE };
TEST(select5_generated_combinations) {
    csp_chan *c = csp_chan_make(sizeof(int), 1), *dummy = csp_chan_make(sizeof(int), 0);
    void *wild = (void *)(uintptr_t)8;   /* nil cases' elem: never read or written */
    int n = 1, count = 0, bad = 0;
    for (int real = REAL_RECV; real <= REAL_NONE; real++)
    for (int mask = 0; mask < 1 << NX; mask++) {
        int nextra = __builtin_popcount((unsigned)mask);
        for (int pos = 0; pos <= (real == REAL_NONE ? 0 : nextra); pos++)
        for (int def = real == REAL_NONE ? 1 : 0; def <= 1; def++) {
            csp_case k[NX + 1];
            int dsend = -1000, drecv = -2000, x = -1, nk = 0, realidx = -1;
            for (int e = 0; e <= NX; e++) {
                if (real != REAL_NONE && nk == pos && realidx < 0) {
                    realidx = nk;
                    k[nk++] = real == REAL_SEND ? CSP_SEND(c, &n) : CSP_RECV(c, real == REAL_RECV ? &x : NULL);
                }
                if (e == NX || !(mask & 1 << e)) continue;
                switch (e) {
                case X_DUMMY_SEND: k[nk++] = CSP_SEND(dummy, &dsend); break;
                case X_DUMMY_RECV: k[nk++] = CSP_RECV(dummy, &drecv); break;
                case X_NIL_SEND: k[nk++] = CSP_SEND(NULL, wild); break;
                default: k[nk++] = CSP_RECV(NULL, wild); break;
                }
            }
            if (real == REAL_RECV || real == REAL_RECV_DISCARD) csp_send(c, &n);
            int r = csp_select(k, nk, def ? 0 : CSP_FOREVER);
            bool good = r == (real == REAL_NONE ? CSP_SELECT_TIMEOUT : realidx) && dsend == -1000 && drecv == -2000;
            if (real == REAL_RECV) good = good && k[realidx].ok && x == n;
            if (real == REAL_RECV_DISCARD) good = good && k[realidx].ok && x == -1;
            if (real == REAL_SEND) { int y = -1; good = good && csp_try_recv(c, &y, NULL) && y == n; }
            if (real == REAL_NONE) good = good && x == -1;
            good = good && csp_len(c) == 0;
            if (!good && bad++ < 5)
                EXPECT(good, "real %d, extras %#x, at %d, default %d: select returned %d, x %d", real, mask, pos, def, r, x);
            n++;
            count++;
        }
    }
    /* 16 extra sets, 48 positions in all, 2 defaults: 96 per real case, and
     * 16 all-extras selects with default. */
    EXPECT_EQ(count, 3 * 96 + 16, "the walk covered every combination");
    EXPECT_EQ(bad, 0);
    csp_chan_release(c); csp_chan_release(dummy);
}

/* ---- select6: a select's failed cases leave the other waiters' queue intact (issue 2075) ------ */
typedef struct { csp_chan *c1, *c2, *c3; int bad; csp_waitgroup *wg; } s6_arg;
static void s6_plain(void *arg) { s6_arg *a = (s6_arg *)arg; csp_recv(a->c1, NULL); csp_wg_done(a->wg); }
static void s6_selector(void *arg) {
    s6_arg *a = (s6_arg *)arg;
    bool t = true;
    csp_case k[2] = { CSP_RECV(a->c1, NULL), CSP_RECV(a->c2, NULL) };
    if (csp_select(k, 2, CSP_FOREVER) == 0) a->bad++;
    else csp_send(a->c3, &t);
    csp_recv(a->c1, NULL);
    csp_wg_done(a->wg);
}
static void s6_sender(void *arg) { s6_arg *a = (s6_arg *)arg; bool t = true; csp_send(a->c2, &t); csp_wg_done(a->wg); }
TEST(select6_failed_cases_do_not_corrupt_queues) {
    int rounds = T_COUNT(2000, 200);
    for (int i = 0; i < rounds; i++) {
        csp_waitgroup wg = {0};
        s6_arg a = { csp_chan_make(sizeof(bool), 0), csp_chan_make(sizeof(bool), 0), csp_chan_make(sizeof(bool), 0), 0, &wg };
        csp_wg_add(&wg, 3);
        csp_go(s6_plain, &a);
        REQUIRE(await_queued(a.c1, CSP_OP_RECV, 1));
        csp_go(s6_selector, &a);   /* the select is last in c1's queue */
        REQUIRE(await_queued(a.c1, CSP_OP_RECV, 2));
        csp_go(s6_sender, &a);
        bool t = true;
        csp_recv(a.c3, NULL);
        csp_send(a.c1, &t);
        csp_send(a.c1, &t);
        csp_wg_wait(&wg);
        EXPECT_EQ(a.bad, 0);
        csp_chan_release(a.c1); csp_chan_release(a.c2); csp_chan_release(a.c3);
        if (a.bad) break;
    }
}

/* ---- select7: receives that discard the value, against every kind of send ------------------- */
typedef struct { csp_chan *c; int how; bool ok; csp_waitgroup *wg; } s7_arg;
static void s7_recv(void *arg) {
    s7_arg *a = (s7_arg *)arg;
    if (a->how == 0) {
        a->ok = csp_recv(a->c, NULL);
    } else if (a->how == 1) {
        csp_case k = CSP_RECV(a->c, NULL);
        a->ok = csp_select(&k, 1, CSP_FOREVER) == 0 && k.ok;
    } else {
        csp_chan *c2 = csp_chan_make(sizeof(int), 0);
        csp_case k[2] = { CSP_RECV(a->c, NULL), CSP_RECV(c2, NULL) };
        a->ok = csp_select(k, 2, CSP_FOREVER) == 0 && k[0].ok;
        csp_chan_release(c2);
    }
    csp_wg_done(a->wg);
}
TEST(select7_discarding_receives) {
    int rounds = T_COUNT(200, 40), bad = 0;
    for (int i = 0; i < rounds; i++)
    for (int rhow = 0; rhow < 3; rhow++)
    for (int show = 0; show < 3; show++) {
        csp_waitgroup wg = {0};
        s7_arg a = { csp_chan_make(sizeof(int), 0), rhow, false, &wg };
        csp_wg_add(&wg, 1);
        csp_go(s7_recv, &a);
        if (i % 2 == 0 && !await_queued(a.c, CSP_OP_RECV, 1)) bad++;   /* else: a race */
        int one = 1, r = 0;
        if (show == 0) {
            csp_send(a.c, &one);
        } else if (show == 1) {
            csp_case k = CSP_SEND(a.c, &one);
            r = csp_select(&k, 1, CSP_FOREVER);
        } else {
            csp_chan *c2 = csp_chan_make(sizeof(int), 0);
            csp_case k[2] = { CSP_SEND(a.c, &one), CSP_SEND(c2, &one) };
            r = csp_select(k, 2, CSP_FOREVER);
            csp_chan_release(c2);
        }
        csp_wg_wait(&wg);
        if (r != 0 || !a.ok) bad++;
        csp_chan_release(a.c);
    }
    EXPECT_EQ(bad, 0, "of %d", rounds * 9);
}

/* ---- select8: one-, two- and three-case selects, with and without default ------------------- */
typedef struct { csp_chan *ch, *quit; long sent; } s8_arg;
static void s8_sender(void *arg) {
    s8_arg *a = (s8_arg *)arg;
    int five = 5;
    for (;;) {
        csp_case k[2] = { CSP_SEND(a->ch, &five), CSP_RECV(a->quit, NULL) };
        if (csp_select(k, 2, CSP_FOREVER) == 1) break;
        a->sent++;
    }
}
TEST(select8_small_selects) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0), *quit = csp_chan_make(0, 0);
    csp_waitgroup wg = {0};
    s8_arg a = { ch, quit, 0 };
    csp_wg_go(&wg, s8_sender, &a);
    long got = 0;
    int rounds = T_COUNT(2000, 200), bad = 0;
    for (int i = 0; i < rounds; i++) {
        int v = 0, ten = 10;
        csp_case k1 = CSP_RECV(ch, &v);
        if (csp_select(&k1, 1, CSP_FOREVER) != 0 || v != 5) bad++; else got++;
        if (csp_select(NULL, 0, 0) != CSP_SELECT_TIMEOUT) bad++;
        v = 0;
        csp_case k2 = CSP_RECV(ch, &v);
        int r = csp_select(&k2, 1, 0);
        if (r == 0) { got++; if (v != 5) bad++; } else if (r != CSP_SELECT_TIMEOUT) bad++;
        v = 0;
        csp_case k3[2] = { CSP_RECV(ch, &v), CSP_SEND(ch, &ten) };   /* nobody receives: the send never proceeds */
        r = csp_select(k3, 2, 0);
        if (r == 0) { got++; if (v != 5) bad++; } else if (r != CSP_SELECT_TIMEOUT) bad++;
        v = 0;
        r = csp_select(k3, 2, CSP_FOREVER);
        if (r != 0 || v != 5) bad++; else got++;
    }
    csp_close(quit);
    csp_wg_wait(&wg);
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(a.sent, got, "every value sent was received once");
    csp_chan_release(ch); csp_chan_release(quit);
}

/* ---- doubleselect: a select's value is sent once, on one channel only ------------------------ */
enum { DS_CH = 4 };
typedef struct { csp_chan *in[DS_CH], *out, *done; int n; } ds_state;
static void ds_sender(void *arg) {
    ds_state *s = (ds_state *)arg;
    for (int i = 0; i < s->n; i++) {
        csp_case k[DS_CH];
        for (int j = 0; j < DS_CH; j++) k[j] = CSP_SEND(s->in[j], &i);
        csp_select(k, DS_CH, CSP_FOREVER);
    }
    for (int j = 0; j < DS_CH; j++) csp_close(s->in[j]);
}
typedef struct { ds_state *s; int j; } ds_mux_arg;
static void ds_mux(void *arg) {
    ds_mux_arg *a = (ds_mux_arg *)arg;
    int v;
    bool t = true;
    while (csp_recv(a->s->in[a->j], &v)) csp_send(a->s->out, &v);
    csp_send(a->s->done, &t);
}
static void ds_closer(void *arg) {
    ds_state *s = (ds_state *)arg;
    for (int j = 0; j < DS_CH; j++) csp_recv(s->done, NULL);
    csp_close(s->out);
}
TEST(doubleselect_no_value_twice) {
    static ds_state s;
    static ds_mux_arg ma[DS_CH];
    s.n = T_COUNT(100000, 10000);
    for (int j = 0; j < DS_CH; j++) s.in[j] = csp_chan_make(sizeof(int), 0);
    s.out = csp_chan_make(sizeof(int), 0);
    s.done = csp_chan_make(sizeof(bool), 0);
    csp_waitgroup wg = {0};
    csp_wg_go(&wg, ds_sender, &s);
    for (int j = 0; j < DS_CH; j++) { ma[j] = (ds_mux_arg){ &s, j }; csp_wg_go(&wg, ds_mux, &ma[j]); }
    csp_wg_go(&wg, ds_closer, &s);
    unsigned char *seen = (unsigned char *)calloc((size_t)s.n, 1);
    REQUIRE(seen != NULL);
    int v, dups = 0, foreign = 0, count = 0;
    while (csp_recv(s.out, &v)) {
        count++;
        if (v < 0 || v >= s.n) foreign++;
        else if (seen[v]++) dups++;
    }
    csp_wg_wait(&wg);
    EXPECT_EQ(dups, 0, "values received twice");
    EXPECT_EQ(foreign, 0);
    EXPECT_EQ(count, s.n);
    free(seen);
    for (int j = 0; j < DS_CH; j++) csp_chan_release(s.in[j]);
    csp_chan_release(s.out); csp_chan_release(s.done);
}

/* ---- sieve1: the daisy chain of filters ------------------------------------------------------- */
/* Shut down by closing: the generator stops when told, each filter closes
 * its output when its input is closed and drained, and the sieve closes
 * the primes channel at the end of the chain. */
static csp_waitgroup s1_wg;
static csp_chan **s1_chans;
static int s1_nchans;
static csp_chan *s1_make(void) {
    csp_chan *c = csp_chan_make(sizeof(int), 0);
    csp_chan **n = (csp_chan **)realloc(s1_chans, (size_t)(s1_nchans + 1) * sizeof *n);
    if (!c || !n) csp_panic("test: out of memory");
    s1_chans = n;
    s1_chans[s1_nchans++] = c;
    return c;
}
typedef struct { csp_chan *in, *out; int prime; } s1_arg;
static void s1_generate(void *arg) {
    s1_arg *a = (s1_arg *)arg;   /* in: the stop channel */
    for (int i = 2;; i++) {
        csp_case k[2] = { CSP_SEND(a->out, &i), CSP_RECV(a->in, NULL) };
        if (csp_select(k, 2, CSP_FOREVER) == 1) break;
    }
    csp_close(a->out);
    csp_wg_done(&s1_wg);
}
static void s1_filter(void *arg) {
    s1_arg *a = (s1_arg *)arg;
    int i;
    while (csp_recv(a->in, &i))
        if (i % a->prime != 0) csp_send(a->out, &i);
    csp_close(a->out);
    csp_wg_done(&s1_wg);
}
static void s1_sieve(void *arg) {
    s1_arg *a = (s1_arg *)arg;   /* in: the stop channel, out: the primes */
    csp_chan *ch = s1_make();
    s1_arg g = { a->in, ch, 0 };
    csp_wg_add(&s1_wg, 1);
    csp_go_copy(s1_generate, &g, sizeof g);
    int prime;
    while (csp_recv(ch, &prime)) {
        csp_send(a->out, &prime);
        csp_chan *ch1 = s1_make();
        s1_arg f = { ch, ch1, prime };
        csp_wg_add(&s1_wg, 1);
        if (csp_go_copy(s1_filter, &f, sizeof f) != 0) csp_panic("test: csp_go failed");
        ch = ch1;
    }
    csp_close(a->out);
    csp_wg_done(&s1_wg);
}
TEST(sieve1_daisy_chain) {
    int want = T_COUNT(200, 25);
    csp_chan *primes = csp_chan_make(sizeof(int), 0), *stop = csp_chan_make(0, 0);
    s1_arg a = { stop, primes, 0 };
    csp_wg_add(&s1_wg, 1);
    csp_go_copy(s1_sieve, &a, sizeof a);
    int x, p = 1, n = 0, bad = 0;
    for (int i = 0; i < want; i++) {
        p = next_prime(p);
        if (!csp_recv(primes, &x) || x != p) { bad++; EXPECT_EQ(x, p, "prime %d", i); break; }
        n++;
    }
    csp_close(stop);
    while (csp_recv(primes, &x)) {   /* what was still in the chain: the next primes, in order */
        p = next_prime(p);
        if (x != p && bad++ < 3) EXPECT_EQ(x, p, "after the stop");
        n++;
    }
    csp_wg_wait(&s1_wg);
    EXPECT_EQ(bad, 0);
    EXPECT_GE(n, want);
    EXPECT_EQ(s1_nchans, n + 1, "one channel per filter, and the generator's");
    for (int i = 0; i < s1_nchans; i++) csp_chan_release(s1_chans[i]);
    free(s1_chans);
    s1_chans = NULL; s1_nchans = 0;
    csp_chan_release(primes); csp_chan_release(stop);
}

/* ---- sieve2: Eratosthenes with merged multiples and a growing proxy ---------------------------- */
/* Every goroutine's operations also watch a quit channel, so the whole
 * network winds down when the test has its primes. */
static csp_chan *s2_quit;
static csp_waitgroup s2_wg;
static csp_mutex s2_lock;
static csp_chan **s2_chans;
static int s2_nchans, s2_proxy_max;
static csp_chan *s2_make(size_t cap) {
    csp_chan *c = csp_chan_make(sizeof(int), cap);
    csp_mutex_lock(&s2_lock);
    csp_chan **n = (csp_chan **)realloc(s2_chans, (size_t)(s2_nchans + 1) * sizeof *n);
    if (!c || !n) csp_panic("test: out of memory");
    s2_chans = n;
    s2_chans[s2_nchans++] = c;
    csp_mutex_unlock(&s2_lock);
    return c;
}
static bool q_send(csp_chan *c, int v) {
    csp_case k[2] = { CSP_SEND(c, &v), CSP_RECV(s2_quit, NULL) };
    return csp_select(k, 2, CSP_FOREVER) == 0;
}
static bool q_recv(csp_chan *c, int *v) {
    csp_case k[2] = { CSP_RECV(c, v), CSP_RECV(s2_quit, NULL) };
    return csp_select(k, 2, CSP_FOREVER) == 0 && k[0].ok;
}
static void s2_go(csp_fn fn, const void *arg, size_t size) {
    csp_wg_add(&s2_wg, 1);
    if (csp_go_copy(fn, arg, size) != 0) csp_panic("test: csp_go failed");
}
typedef struct { csp_chan *out, *in; int start, step; } s2_arg;
/* start, start+step, ...: the odd numbers from 5, or a prime's odd multiples from p*p */
static void s2_counter(void *arg) {
    s2_arg *a = (s2_arg *)arg;
    for (int n = a->start; q_send(a->out, n); n += a->step) {}
    csp_wg_done(&s2_wg);
}
static csp_chan *s2_multiples(int p) {
    s2_arg a = { s2_make(10), NULL, p * p, 2 * p };
    s2_go(s2_counter, &a, sizeof a);
    return a.out;
}
/* Forwards in to out through a buffer that grows, so sends to in never
 * block: out's case is disabled (nil) while the buffer is empty. */
static void s2_proxy(void *arg) {
    s2_arg *a = (s2_arg *)arg;
    int cap = 16, head = 0, len = 0, *ring = (int *)malloc((size_t)cap * sizeof *ring);
    for (;;) {
        int in = 0, first = len ? ring[head] : 0;
        csp_case k[3] = { CSP_RECV(a->in, &in), CSP_SEND(len ? a->out : NULL, &first), CSP_RECV(s2_quit, NULL) };
        int r = csp_select(k, 3, CSP_FOREVER);
        if (r == 2) break;
        if (r == 0) {
            if (len == cap) {   /* full: double it, unrolling the ring */
                int *n = (int *)malloc((size_t)cap * 2 * sizeof *n);
                for (int i = 0; i < len; i++) n[i] = ring[(head + i) % cap];
                free(ring);
                ring = n; head = 0; cap *= 2;
            }
            ring[(head + len++) % cap] = in;
            if (len > s2_proxy_max) s2_proxy_max = len;
        } else {
            head = (head + 1) % cap;
            len--;
        }
    }
    free(ring);
    csp_wg_done(&s2_wg);
}
typedef struct { int head; csp_chan *ch; } s2_peek;
typedef struct { s2_peek *v; int n, cap; } s2_heap;
static void heap_push(s2_heap *h, s2_peek p) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->v = (s2_peek *)realloc(h->v, (size_t)h->cap * sizeof *h->v);
        if (!h->v) csp_panic("test: out of memory");
    }
    int i = h->n++;
    for (; i > 0 && h->v[(i - 1) / 2].head > p.head; i = (i - 1) / 2) h->v[i] = h->v[(i - 1) / 2];
    h->v[i] = p;
}
static s2_peek heap_pop(s2_heap *h) {
    s2_peek top = h->v[0], last = h->v[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1].head < h->v[c].head) c++;
        if (h->v[c].head >= last.head) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}
/* Merges the multiples of every prime it is given into composites, in
 * increasing order. */
static void s2_merger(void *arg) {
    s2_arg *a = (s2_arg *)arg;   /* in: primes, out: composites */
    s2_heap h = { NULL, 0, 0 };
    int min = 15, p, head;
    for (;;) {
        if (!q_recv(a->in, &p)) break;
        csp_chan *m = s2_multiples(p);
        if (!q_recv(m, &head)) break;
        bool quit = false;
        while (!quit && min < head) {
            s2_peek mc;
            if (!q_send(a->out, min)) { quit = true; break; }
            mc = heap_pop(&h);
            min = mc.head;
            if (!q_recv(mc.ch, &mc.head)) { quit = true; break; }
            heap_push(&h, mc);
        }
        while (!quit && min == head) {
            s2_peek mc = heap_pop(&h);
            min = mc.head;
            if (!q_recv(mc.ch, &mc.head)) { quit = true; break; }
            heap_push(&h, mc);
        }
        s2_peek mine = { 0, m };
        if (quit || !q_send(a->out, head) || !q_recv(m, &mine.head)) break;
        heap_push(&h, mine);
    }
    free(h.v);
    csp_wg_done(&s2_wg);
}
/* Sieves the composites out of the odd candidates; every prime found also
 * goes back to the merger, through the proxy. */
typedef struct { csp_chan *composites, *out, *primes; } s2_sift_arg;
static void s2_sift(void *arg) {
    s2_sift_arg *a = (s2_sift_arg *)arg;
    s2_arg pa = { a->primes, s2_make(10), 0, 0 };   /* the proxy: out = primes, in = its own */
    s2_go(s2_proxy, &pa, sizeof pa);
    s2_arg oa = { s2_make(50), NULL, 5, 2 };
    s2_go(s2_counter, &oa, sizeof oa);
    int p, c;
    if (!q_recv(oa.out, &p)) goto out;
    for (;;) {
        if (!q_recv(a->composites, &c)) goto out;
        while (p < c) {
            if (!q_send(pa.in, p) || !q_send(a->out, p) || !q_recv(oa.out, &p)) goto out;
        }
        if (p == c && !q_recv(oa.out, &p)) goto out;
    }
out:
    csp_wg_done(&s2_wg);
}
TEST(sieve2_eratosthenes) {
    int want = T_COUNT(2000, 100);
    s2_quit = csp_chan_make(0, 0);
    csp_chan *out = s2_make(10), *composites = s2_make(50), *primes = s2_make(10);
    int two = 2, three = 3;
    csp_send(out, &two);
    csp_send(out, &three);
    csp_send(primes, &three);
    s2_arg ma = { composites, primes, 0, 0 };
    s2_go(s2_merger, &ma, sizeof ma);
    s2_sift_arg sa = { composites, out, primes };
    s2_go(s2_sift, &sa, sizeof sa);
    int p = 1, bad = 0;
    for (int i = 0; i < want; i++) {
        int x = -1;
        p = next_prime(p);
        csp_recv(out, &x);
        if (x != p) { EXPECT_EQ(x, p, "prime %d", i); bad++; break; }
    }
    csp_close(s2_quit);
    csp_wg_wait(&s2_wg);
    EXPECT_EQ(bad, 0);
    if (!csp_test_short()) EXPECT_GT(s2_proxy_max, 16, "the proxy's buffer grew");
    for (int i = 0; i < s2_nchans; i++) csp_chan_release(s2_chans[i]);
    free(s2_chans);
    s2_chans = NULL; s2_nchans = 0;
    csp_chan_release(s2_quit);
}

/* ---- zerosize: channels of zero-sized elements ------------------------------------------------ */
static void zs_sender(void *arg) {
    range_arg *a = (range_arg *)arg;
    for (int i = 0; i < a->n; i++) csp_send(a->c, NULL);
    csp_close(a->c);
    csp_wg_done(a->wg);
}
TEST(zerosize_elements) {
    /* make(chan struct{}), make(chan struct{}, 1), and the [0]byte twins */
    csp_chan *u = csp_chan_make(0, 0), *b = csp_chan_make(0, 1);
    REQUIRE(u != NULL && b != NULL);
    EXPECT(csp_cap(u) == 0 && csp_cap(b) == 1);
    char untouched = 'z';
    EXPECT(csp_try_send(b, &untouched), "a non-NULL element is fine too");
    EXPECT(!csp_try_send(b, NULL), "full");
    EXPECT_EQ_U(csp_len(b), 1u);
    EXPECT(csp_recv(b, &untouched));
    EXPECT_EQ(untouched, 'z', "nothing is copied");
    csp_case k[2] = { CSP_SEND(b, NULL), CSP_RECV(u, NULL) };
    EXPECT_EQ(csp_select(k, 2, 0), 0, "a zero-size send case with a NULL element");
    /* unbuffered hand-offs, then close ends a range loop */
    csp_waitgroup wg = {0};
    int n = T_COUNT(10000, 1000), got = 0;
    range_arg a = { u, 0, n, &wg };
    csp_wg_add(&wg, 1);
    csp_go(zs_sender, &a);
    while (csp_recv(u, NULL)) got++;
    csp_wg_wait(&wg);
    EXPECT_EQ(got, n);
    csp_chan_release(u);
    csp_chan_release(b);
    /* no buffer to allocate: any capacity is possible (Go allows it too) */
    csp_chan *huge = csp_chan_make(0, SIZE_MAX);
    REQUIRE(huge != NULL, "elem_size 0: elem_size * cap cannot overflow");
    EXPECT_EQ_U(csp_cap(huge), SIZE_MAX);
    for (int i = 0; i < 1000; i++) csp_send(huge, NULL);
    EXPECT_EQ_U(csp_len(huge), 1000u);
    csp_close(huge);
    got = 0;
    while (csp_recv(huge, NULL)) got++;
    EXPECT_EQ(got, 1000);
    csp_chan_release(huge);
}

/* ---- sendstmt: a send on a channel received from a channel; a computed value ------------------ */
TEST(sendstmt_channel_of_channels_and_values) {
    csp_chan *cc = csp_chan_make(sizeof(csp_chan *), 1), *c = csp_chan_make(sizeof(int), 1);
    csp_send(cc, &c);
    csp_chan *inner = NULL;
    REQUIRE(csp_recv(cc, &inner));                 /* case <-cc <- 2: */
    int two = 2;
    csp_case k = CSP_SEND(inner, &two);
    EXPECT_EQ(csp_select(&k, 1, 0), 0, "the send must not take default");
    int v = 0;
    EXPECT(csp_recv(c, &v) && v == 2);
    csp_chan *bc = csp_chan_make(sizeof(bool), 1);
    bool f = false, t = true, x = false;
    bool y = f || t;                               /* c <- false || true */
    csp_send(bc, &y);
    EXPECT(csp_recv(bc, &x) && x);
    csp_chan_release(cc); csp_chan_release(c); csp_chan_release(bc);
}

/* ---- powser1: power series over demand channels (McIlroy) ---------------------------------------- */
/* A series is a pair of unbuffered channels: a request (int) and the reply
 * (a rational). Every operator is a goroutine that asks its operands for
 * terms when asked for one. The network is never shut down (as in Go): it
 * runs in a child process, which exits with the goroutines parked. */
typedef struct { int64_t num, den; } rat;   /* den 0: the end of a finite series */
typedef struct { csp_chan *req, *dat; } ps;
static int ps_seqno;
static const rat r_zero = { 0, 1 }, r_one = { 1, 1 }, r_finis = { 1, 0 };
static int64_t gcd64(int64_t u, int64_t v) {
    if (u < 0) return gcd64(-u, v);
    return u == 0 ? v : gcd64(v % u, u);
}
static rat i2tor(int64_t u, int64_t v) {
    int64_t g = gcd64(u, v);
    rat r = v > 0 ? (rat){ u / g, v / g } : (rat){ -u / g, -v / g };
    return r;
}
static rat itor(int64_t u) { return i2tor(u, 1); }
static bool r_end(rat u) { return u.den == 0; }
static bool r_eq(rat a, rat b) { return a.num == b.num && a.den == b.den; }
static rat r_add(rat u, rat v) {
    int64_t g = gcd64(u.den, v.den);
    return i2tor(u.num * (v.den / g) + v.num * (u.den / g), u.den * (v.den / g));
}
static rat r_mul(rat u, rat v) {
    int64_t g1 = gcd64(u.num, v.den), g2 = gcd64(u.den, v.num);
    return (rat){ (u.num / g1) * (v.num / g2), (u.den / g2) * (v.den / g1) };
}
static rat r_neg(rat u) { return i2tor(-u.num, u.den); }
static rat r_inv(rat u) {
    if (u.num == 0) csp_panic("zero divide in inv");
    return i2tor(u.den, u.num);
}

static ps *mkps(void) {
    ps *d = (ps *)malloc(sizeof *d);
    if (!d) csp_panic("test: out of memory");
    d->req = csp_chan_make(sizeof(int), 0);
    d->dat = csp_chan_make(sizeof(rat), 0);
    if (!d->req || !d->dat) csp_panic("test: out of memory");
    return d;
}
static ps **mkps2(void) {
    ps **d = (ps **)malloc(2 * sizeof *d);
    if (!d) csp_panic("test: out of memory");
    d[0] = mkps(); d[1] = mkps();
    return d;
}
static void ps_spawn(csp_fn fn, const void *arg, size_t size) {
    if (csp_go_copy(fn, arg, size) != 0) csp_panic("test: csp_go failed");
}
static rat get(ps *in) {
    int s = __atomic_add_fetch(&ps_seqno, 1, __ATOMIC_RELAXED);
    rat r = r_finis;
    csp_send(in->req, &s);
    csp_recv(in->dat, &r);
    return r;
}
static void put(rat r, ps *out) { csp_recv(out->req, NULL); csp_send(out->dat, &r); }
static void copy_ps(ps *in, ps *out) {
    for (;;) { csp_recv(out->req, NULL); rat r = get(in); csp_send(out->dat, &r); }
}
/* One term from each of two series, asking both at once: four cases, each
 * disabled (nil) once done. */
static void get2(ps *a, ps *b, rat out[2]) {
    ps *in[2] = { a, b };
    csp_chan *req[2] = { a->req, b->req }, *dat[2] = { NULL, NULL };
    rat it[2];
    for (int n = 4; n > 0; n--) {
        int s = __atomic_add_fetch(&ps_seqno, 1, __ATOMIC_RELAXED);
        csp_case k[4] = { CSP_SEND(req[0], &s), CSP_SEND(req[1], &s), CSP_RECV(dat[0], &it[0]), CSP_RECV(dat[1], &it[1]) };
        int r = csp_select(k, 4, CSP_FOREVER);
        if (r < 2) { dat[r] = in[r]->dat; req[r] = NULL; }
        else { out[r - 2] = it[r - 2]; dat[r - 2] = NULL; }
    }
}

/* split: one series read by two consumers at their own pace. Each
 * generation serves one term to both outputs; the newest serves out[0]
 * (the outputs swap when the other asked first). */
typedef struct { ps *in; ps **out; csp_chan *wait; } split_arg;
static void dosplit(void *arg) {
    split_arg a = *(split_arg *)arg;
    bool both = false;
    csp_case k[2] = { CSP_RECV(a.out[0]->req, NULL), CSP_RECV(a.wait, NULL) };
    if (csp_select(k, 2, CSP_FOREVER) == 1) {
        both = true;
        csp_case k2[2] = { CSP_RECV(a.out[0]->req, NULL), CSP_RECV(a.out[1]->req, NULL) };
        if (csp_select(k2, 2, CSP_FOREVER) == 1) { ps *t = a.out[0]; a.out[0] = a.out[1]; a.out[1] = t; }
    }
    int s = __atomic_add_fetch(&ps_seqno, 1, __ATOMIC_RELAXED), zero = 0;
    csp_send(a.in->req, &s);
    split_arg next = { a.in, a.out, csp_chan_make(sizeof(int), 0) };
    ps_spawn(dosplit, &next, sizeof next);
    rat d;
    csp_recv(a.in->dat, &d);
    csp_send(a.out[0]->dat, &d);
    if (!both) csp_recv(a.wait, NULL);
    csp_recv(a.out[1]->req, NULL);
    csp_send(a.out[1]->dat, &d);
    csp_send(next.wait, &zero);
}
static void split(ps *in, ps **out) {
    split_arg a = { in, out, csp_chan_make(sizeof(int), 0) };
    int zero = 0;
    ps_spawn(dosplit, &a, sizeof a);
    csp_send(a.wait, &zero);
}
static void split_body(void *arg) { split_arg *a = (split_arg *)arg; split(a->in, a->out); }
static ps **Split(ps *u) {
    split_arg a = { u, mkps2(), NULL };
    ps_spawn(split_body, &a, sizeof a);
    return a.out;
}

typedef struct { ps *u, *v, *z; rat c; int n; } op_arg;
static ps *op_start(csp_fn fn, ps *u, ps *v, rat c, int n) {
    op_arg a = { u, v, mkps(), c, n };
    ps_spawn(fn, &a, sizeof a);
    return a.z;
}
static void rep_body(void *arg) { op_arg *a = (op_arg *)arg; for (;;) put(a->c, a->z); }
static ps *Rep(rat c) { return op_start(rep_body, NULL, NULL, c, 0); }
static void add_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    for (;;) {
        csp_recv(a.z->req, NULL);
        rat uv[2];
        get2(a.u, a.v, uv);
        switch (r_end(uv[0]) + 2 * r_end(uv[1])) {
        case 0: { rat s = r_add(uv[0], uv[1]); csp_send(a.z->dat, &s); break; }
        case 1: csp_send(a.z->dat, &uv[1]); copy_ps(a.v, a.z); break;
        case 2: csp_send(a.z->dat, &uv[0]); copy_ps(a.u, a.z); break;
        default: csp_send(a.z->dat, &r_finis); break;
        }
    }
}
static ps *Add(ps *u, ps *v) { return op_start(add_body, u, v, r_zero, 0); }
static void cmul_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    for (;;) {
        csp_recv(a.z->req, NULL);
        rat u = get(a.u);
        if (r_end(u)) break;
        rat m = r_mul(a.c, u);
        csp_send(a.z->dat, &m);
    }
    csp_send(a.z->dat, &r_finis);
}
static ps *Cmul(rat c, ps *u) { return op_start(cmul_body, u, NULL, c, 0); }
static ps *Sub(ps *u, ps *v) { return Add(u, Cmul(r_neg(r_one), v)); }
static void shift_body(void *arg) { op_arg a = *(op_arg *)arg; put(a.c, a.z); copy_ps(a.u, a.z); }
static ps *Shift(rat c, ps *u) { return op_start(shift_body, u, NULL, c, 0); }
/* (u + x UU)(v + x VV) = uv + x (u VV + v UU) + x^2 UU VV */
static ps *Mul(ps *u, ps *v);
static void mul_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    csp_recv(a.z->req, NULL);
    rat uv[2];
    get2(a.u, a.v, uv);
    if (r_end(uv[0]) || r_end(uv[1])) { csp_send(a.z->dat, &r_finis); return; }
    rat m = r_mul(uv[0], uv[1]);
    csp_send(a.z->dat, &m);
    ps **UU = Split(a.u), **VV = Split(a.v);
    ps *w = Add(Cmul(uv[0], VV[0]), Cmul(uv[1], UU[0]));
    csp_recv(a.z->req, NULL);
    rat w0 = get(w);
    csp_send(a.z->dat, &w0);
    copy_ps(Add(w, Mul(UU[1], VV[1])), a.z);
}
static ps *Mul(ps *u, ps *v) { return op_start(mul_body, u, v, r_zero, 0); }
static void diff_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    csp_recv(a.z->req, NULL);
    rat u = get(a.u);
    if (!r_end(u)) {
        for (int64_t i = 1;; i++) {
            u = get(a.u);
            if (r_end(u)) break;
            rat d = r_mul(itor(i), u);
            csp_send(a.z->dat, &d);
            csp_recv(a.z->req, NULL);
        }
    }
    csp_send(a.z->dat, &r_finis);
}
static ps *Diff(ps *u) { return op_start(diff_body, u, NULL, r_zero, 0); }
static void integ_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    put(a.c, a.z);
    for (int64_t i = 1;; i++) {
        csp_recv(a.z->req, NULL);
        rat u = get(a.u);
        rat t = r_end(u) ? r_finis : r_mul(i2tor(1, i), u);
        csp_send(a.z->dat, &t);
        if (r_end(u)) return;
    }
}
static ps *Integ(rat c, ps *u) { return op_start(integ_body, u, NULL, c, 0); }
/* exp(U) = Z where Z' = Z U', Z(0) = 1: a feedback loop through split */
static ps *Exp(ps *u) {
    ps **zz = mkps2();
    split(Integ(r_one, Mul(zz[0], Diff(u))), zz);
    return zz[1];
}
/* U(c x^n): each term times c^i, then n-1 zeros */
static void monsubst_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    rat c = r_one;
    for (;;) {
        csp_recv(a.z->req, NULL);
        rat u = get(a.u);
        rat t = r_mul(u, c);
        csp_send(a.z->dat, &t);
        c = r_mul(c, a.c);
        if (r_end(u)) { csp_send(a.z->dat, &r_finis); return; }
        for (int i = 1; i < a.n; i++) { csp_recv(a.z->req, NULL); csp_send(a.z->dat, &r_zero); }
    }
}
static ps *MonSubst(ps *u, rat c0, int n) { return op_start(monsubst_body, u, NULL, c0, n); }
/* 1/U: Z = z + x ZZ with z = 1/u and ZZ = -z (UU Z): another feedback loop */
static void recip_body(void *arg) {
    op_arg a = *(op_arg *)arg;
    ps **zz = mkps2();
    csp_recv(a.z->req, NULL);
    rat z = r_inv(get(a.u));
    csp_send(a.z->dat, &z);
    split(Mul(Cmul(r_neg(z), a.u), Shift(z, zz[0])), zz);
    copy_ps(zz[1], a.z);
}
static ps *Recip(ps *u) { return op_start(recip_body, u, NULL, r_zero, 0); }

static int ps_checked;
static void check_terms(ps *u, const rat *want, int n, const char *what) {
    for (int i = 0; i < n; i++) {
        rat r = get(u);
        if (!EXPECT(r_eq(r, want[i]), "%s: term %d is %lld/%lld, want %lld/%lld", what, i,
                    (long long)r.num, (long long)r.den, (long long)want[i].num, (long long)want[i].den))
            return;
        ps_checked++;
    }
}
static void check_const(ps *u, rat c, int n, const char *what) {
    rat want[16];
    for (int i = 0; i < n; i++) want[i] = c;
    check_terms(u, want, n, what);
}
CHILD(powser) {
    enum { N = 10 };
    int n = T_COUNT(N, 7);
    rat a[N];
    ps *ones = Rep(r_one), *twos = Rep(itor(2));
    check_const(ones, r_one, 5, "Ones");
    check_const(Add(ones, ones), itor(2), n, "Add(Ones, Ones)");
    check_const(Add(ones, twos), itor(3), n, "Add(Ones, Twos)");
    for (int i = 0; i < N; i++) a[i] = itor(i + 1);
    check_terms(Diff(ones), a, n, "Diff(Ones)");                      /* 1 2 3 4 5 */
    a[0] = r_zero;
    for (int i = 1; i < N; i++) a[i] = i2tor(1, i);
    check_terms(Integ(r_zero, ones), a, n, "Integ(0, Ones)");         /* 0 1 1/2 1/3 */
    check_const(Cmul(r_neg(r_one), twos), itor(-2), n, "Cmul(-1, Twos)");
    check_const(Sub(ones, twos), itor(-1), n, "Sub(Ones, Twos)");
    for (int i = 0; i < N; i++) a[i] = itor(i + 1);
    check_terms(Mul(ones, ones), a, n, "Mul(Ones, Ones)");            /* 1/(1-x)^2 */
    static const int64_t exp_ones[N][2] = { { 1, 1 }, { 1, 1 }, { 3, 2 }, { 13, 6 }, { 73, 24 }, { 167, 40 },
                                            { 4051, 720 }, { 37633, 5040 }, { 43817, 4480 }, { 4596553, 362880 } };
    for (int i = 0; i < N; i++) a[i] = i2tor(exp_ones[i][0], exp_ones[i][1]);
    check_terms(Exp(ones), a, n, "Exp(Ones)");                        /* e^(x/(1-x)) */
    for (int i = 0, c = 1; i < N; i++) {
        if (i % 2 == 0) a[i] = r_zero;
        else { a[i] = i2tor(c, i); c = -c; }
    }
    check_terms(Integ(r_zero, MonSubst(ones, r_neg(r_one), 2)), a, n, "ATan");   /* 0 1 0 -1/3 0 1/5 */
    a[0] = r_one; a[1] = itor(-1);
    for (int i = 2; i < N; i++) a[i] = r_zero;
    check_terms(Recip(ones), a, n, "Recip(Ones)");                    /* 1 - x */
    printf("powser: %d terms checked, %d goroutines\n", ps_checked, csp_num_goroutines());
}
TEST(powser1_power_series) {
    /* The child leaves its network parked: no leak report for that. */
    csp_test_child r = RUN_CHILD_ENV(powser, 60000, "ASAN_OPTIONS=detect_leaks=0", child_tsan_env(NULL));
    char want[64];
    snprintf(want, sizeof want, "powser: %d terms checked", 5 + 10 * T_COUNT(10, 7));   /* Ones, then 10 series */
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, want);
    csp_test_child_free(&r);
}

/* ---- misuse: Go's panics, in child processes ------------------------------------------------------ */
static csp_chan *mu_c;
static void mu_blocked_select_send(void *arg) {
    (void)arg;
    int v = 1;
    csp_case k[2] = { CSP_SEND(mu_c, &v), CSP_RECV(NULL, NULL) };
    csp_select(k, 2, CSP_FOREVER);
}
CHILD(select_parked_send_then_closed) {
    mu_c = csp_chan_make(sizeof(int), 0);
    csp_go(mu_blocked_select_send, NULL);
    if (!await_queued(mu_c, CSP_OP_SEND, 1)) return;
    csp_close(mu_c);   /* the parked select wakes to panic */
    csp_select(NULL, 0, 5 * CSP_SECOND);
    printf("no panic\n");
}
CHILD(close_closed_buffered) {
    csp_chan *c = csp_chan_make(sizeof(int), 2);
    int v = 1;
    csp_send(c, &v);
    csp_close(c);
    csp_close(c);
}
static void *mu_thread_close_nil(void *arg) { (void)arg; csp_close(NULL); return NULL; }
CHILD(close_nil_on_plain_thread) {
    pthread_t t;
    if (pthread_create(&t, NULL, mu_thread_close_nil, NULL) == 0) pthread_join(t, NULL);
}
static void mu_goroutine_send_closed(void *arg) { (void)arg; int v = 1; csp_send(mu_c, &v); }
CHILD(send_on_closed_in_named_goroutine) {
    mu_c = csp_chan_make(sizeof(int), 4);
    csp_close(mu_c);
    csp_go_opts o = { 0, "closer-victim" };
    csp_go_ex(mu_goroutine_send_closed, NULL, &o);
    csp_select(NULL, 0, 5 * CSP_SECOND);
}
CHILD(send_on_closed_zero_size) { csp_chan *c = csp_chan_make(0, 1); csp_close(c); csp_send(c, NULL); }
CHILD(select_send_closed_among_blocked) {
    csp_chan *c = csp_chan_make(sizeof(int), 0), *idle = csp_chan_make(sizeof(int), 0);
    int v = 1;
    csp_close(c);
    csp_case k[3] = { CSP_RECV(idle, &v), CSP_SEND(c, &v), CSP_RECV(NULL, NULL) };
    csp_select(k, 3, CSP_FOREVER);
}
CHILD(select_int_min_cases) { csp_select(NULL, INT_MIN, 0); }
CHILD(select_null_cases_one) { csp_select(NULL, 1, CSP_FOREVER); }
CHILD(select_zero_op) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    csp_case k = { 0 };
    k.chan = c;   /* a zero-initialised case with only its channel set */
    csp_select(&k, 1, 0);
}
CHILD(select_op_both_bits) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    int v = 0;
    csp_case k[3] = { CSP_RECV(c, &v), CSP_SEND(c, &v), { c, CSP_OP_SEND | CSP_OP_RECV, &v, false } };
    csp_select(k, 3, 0);
}
TEST(misuse_panics_with_gos_words) {
    static const struct { const char *child, *msg, *also; } cases[] = {
        { "select_parked_send_then_closed", "panic: send on closed channel", "goroutine " },
        { "close_closed_buffered", "panic: close of closed channel", "goroutine 1" },
        { "close_nil_on_plain_thread", "panic: close of nil channel", "thread " },
        { "send_on_closed_in_named_goroutine", "panic: send on closed channel", "\"closer-victim\"" },
        { "send_on_closed_zero_size", "panic: send on closed channel", "goroutine 1" },
        { "select_send_closed_among_blocked", "panic: send on closed channel", "goroutine 1" },
        { "select_int_min_cases", "panic: select with a negative number of cases", "-2147483648" },
        { "select_null_cases_one", "panic: select with NULL cases", "n = 1" },
        { "select_zero_op", "panic: select: case 0 has op 0", "goroutine 1" },
        { "select_op_both_bits", "panic: select: case 2 has op 3", "goroutine 1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, child_tsan_env(NULL), (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 2);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].msg);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].also);
        EXPECT_CHILD_OUTPUT_LACKS(r, "no panic");
        csp_test_child_free(&r);
    }
}

/* ---- bad inputs that are not misuse -------------------------------------------------------------- */
TEST(select_bad_op_on_a_disabled_case_is_ignored) {
    int v = 0;
    csp_case k[2] = { { NULL, 0, &v, false }, { NULL, 99, (void *)(uintptr_t)8, false } };
    EXPECT_EQ(csp_select(k, 2, 0), CSP_SELECT_TIMEOUT, "a nil channel's case is never looked at");
    EXPECT_EQ(csp_select(NULL, 0, 0), CSP_SELECT_TIMEOUT, "n = 0 with NULL cases");
    EXPECT_EQ(csp_select(k, 0, 0), CSP_SELECT_TIMEOUT);
}
TEST(chan_make_size_overflow_is_null) {
    static const struct { size_t elem, cap; } cases[] = {
        { SIZE_MAX / 8 + 1, 8 },        /* just past the product's range */
        { 8, SIZE_MAX / 8 + 1 },
        { SIZE_MAX / 3 + 1, 3 },
        { SIZE_MAX, SIZE_MAX },
        { (size_t)1 << 32, (size_t)1 << 32 },
        { 3, SIZE_MAX / 3 },            /* exactly SIZE_MAX bytes: no room for the header */
        { 1, SIZE_MAX },
        { 2, SIZE_MAX / 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        EXPECT(csp_chan_make(cases[i].elem, cases[i].cap) == NULL, "elem %zu x cap %zu", cases[i].elem, cases[i].cap);
    csp_chan *c = csp_chan_make(sizeof(int), 4);   /* and the runtime goes on */
    REQUIRE(c != NULL);
    int v = 3;
    csp_send(c, &v);
    EXPECT(csp_recv(c, &v) && v == 3);
    csp_chan_release(c);
}
/* A buffer no address space holds (2^50 bytes) fails as out of memory. In a
 * child, where the sanitizers' allocators may return NULL instead of
 * reporting the request. */
static csp_chan *volatile oom_sink;
CHILD(chan_make_out_of_memory) {
    /* Through a volatile: a compiler may elide an allocation nobody uses,
     * and take it as having succeeded (clang does, inlining csp_chan_make). */
    oom_sink = csp_chan_make(1, (size_t)1 << 50);
    csp_chan *c = oom_sink;
    EXPECT(c == NULL, "a 1 PiB buffer");
    c = csp_chan_make(sizeof(int), 1);
    REQUIRE(c != NULL);
    int v = 4;
    csp_send(c, &v);
    EXPECT(csp_recv(c, &v) && v == 4);
    csp_chan_release(c);
    printf("oom: NULL, then fine\n");
}
TEST(chan_make_out_of_memory_is_null) {
    csp_test_child r = RUN_CHILD_ENV(chan_make_out_of_memory, 20000,
                                     "ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0",
                                     child_tsan_env("allocator_may_return_null=1"));
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "oom: NULL, then fine");
    csp_test_child_free(&r);
}
