/* test_chan.c -- channels, select and WaitGroup: Go's channel semantics
 * table, FIFO and no lost/duplicated values under stress, select fairness
 * and timeouts, plain threads, panics in child processes. Ideas ported from
 * Go's test/chan/{select*,fifo,nonblock,sieve1}.go and runtime/chan_test.go. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

/* ---- basics ------------------------------------------------------------------ */
static void send_n(void *arg) {
    csp_chan *c = *(csp_chan **)arg;
    for (int i = 0; i < 1000; i++) csp_send(c, &i);
}
TEST(unbuffered_fifo_between_goroutines) {
    csp_chan *c = csp_chan_make(sizeof(int), 0);
    REQUIRE(c != NULL);
    REQUIRE_EQ(csp_go_copy(send_n, &c, sizeof c), 0);
    int bad = 0;
    for (int i = 0; i < 1000; i++) { int v = -1; EXPECT(csp_recv(c, &v)); bad += v != i; }
    EXPECT_EQ(bad, 0, "values out of order");
    EXPECT_EQ_U(csp_len(c), 0u); EXPECT_EQ_U(csp_cap(c), 0u);
    csp_chan_release(c);
}
TEST(buffered_fifo_len_cap) {
    csp_chan *c = csp_chan_make(sizeof(long), 5);
    REQUIRE(c != NULL);
    for (long i = 0; i < 5; i++) { csp_send(c, &i); EXPECT_EQ_U(csp_len(c), (size_t)i + 1); }
    EXPECT_EQ_U(csp_cap(c), 5u);
    long extra = 99;
    EXPECT(!csp_try_send(c, &extra), "full buffer: try_send fails");
    for (long i = 0; i < 5; i++) { long v = -1; EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, i); }
    bool ok = true;
    long v = 7;
    EXPECT(!csp_try_recv(c, &v, &ok), "empty: try_recv fails");
    EXPECT_EQ(v, 7, "untouched when nothing was received");
    csp_chan_release(c);
}
/* A full buffer with a blocked sender: the receive that frees a slot moves
 * the sender's value in (Go's recv on a full channel), so the buffered fast
 * path cannot slip a later send ahead of it: 1, 2, 3, and 4 finds it full. */
static void send_three(void *arg) { csp_chan *c = *(csp_chan **)arg; int v = 3; csp_send(c, &v); }
TEST(full_buffer_keeps_a_blocked_sender_first) {
    csp_chan *c = csp_chan_make(sizeof(int), 2);
    REQUIRE(c != NULL);
    int a = 1, b = 2, d = 4, v = 0;
    csp_send(c, &a);
    csp_send(c, &b);
    REQUIRE_EQ(csp_go_copy(send_three, &c, sizeof c), 0);
    while (!csp__load(&c->sendq.first, CSP__ACQUIRE)) csp_yield();   /* it blocked */
    EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, 1);
    EXPECT(!csp_try_send(c, &d), "the blocked sender's value took the freed slot");
    EXPECT_EQ_U(csp_len(c), 2u);
    EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, 2);
    EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, 3);
    EXPECT(csp_try_send(c, &d));
    EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, 4);
    csp_chan_release(c);
}
TEST(closed_channel_drains_then_zero_false) {
    csp_chan *c = csp_chan_make(sizeof(int), 3);
    int a = 1, b = 2;
    csp_send(c, &a); csp_send(c, &b);
    csp_close(c);
    int v = 0;
    EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, 1);
    EXPECT(csp_recv(c, &v)); EXPECT_EQ(v, 2);
    v = 55;
    EXPECT(!csp_recv(c, &v), "closed and drained");
    EXPECT_EQ(v, 0, "zero-filled");
    bool ok = true;
    v = 55;
    EXPECT(csp_try_recv(c, &v, &ok), "try_recv on closed: a receive happens");
    EXPECT(!ok); EXPECT_EQ(v, 0);
    EXPECT(!csp_recv(c, NULL), "NULL destination");
    csp_chan_release(c);
}
TEST(nil_channel_details) {
    EXPECT_EQ_U(csp_len(NULL), 0u);
    EXPECT_EQ_U(csp_cap(NULL), 0u);
    int v = 3;
    EXPECT(!csp_try_send(NULL, &v));
    bool ok = true;
    EXPECT(!csp_try_recv(NULL, &v, &ok));
    csp_case cs[2] = { CSP_RECV(NULL, &v), CSP_SEND(NULL, &v) };
    EXPECT_EQ(csp_select(cs, 2, 0), CSP_SELECT_TIMEOUT, "all disabled + default");
    EXPECT_EQ(csp_select(NULL, 0, 0), CSP_SELECT_TIMEOUT, "empty select with default");
    int64_t t0 = csp_now();
    EXPECT_EQ(csp_select(cs, 2, 5 * CSP_MILLISECOND), CSP_SELECT_TIMEOUT);
    EXPECT_GE(csp_now() - t0, 5 * CSP_MILLISECOND, "all disabled with a timeout waits for it");
    EXPECT_EQ(csp_chan_retain(NULL), (csp_chan *)NULL);
    csp_chan_release(NULL);
}
TEST(struct_and_large_elements) {
    csp_chan *z = csp_chan_make(0, 2);
    REQUIRE(z != NULL);
    csp_send(z, NULL); csp_send(z, NULL);
    EXPECT_EQ_U(csp_len(z), 2u);
    EXPECT(csp_recv(z, NULL));
    csp_chan_release(z);
    enum { BIG = 8192 };
    csp_chan *c = csp_chan_make(BIG, 1);
    REQUIRE(c != NULL);
    static char in[BIG], out[BIG];
    for (int i = 0; i < BIG; i++) in[i] = (char)(i * 7);
    csp_send(c, in);
    EXPECT(csp_recv(c, out));
    EXPECT_MEM_EQ(in, out, BIG);
    csp_chan_release(c);
    EXPECT(csp_chan_make((size_t)1 << 40, (size_t)1 << 40) == NULL, "size overflow is out of memory");
    EXPECT(csp_chan_make(SIZE_MAX, 2) == NULL);
}
static void reply_on(void *arg) {
    csp_chan *req = *(csp_chan **)arg;
    csp_chan *rc;
    while (csp_recv(req, &rc)) { int v = 42; csp_send(rc, &v); csp_chan_release(rc); }
    csp_chan_release(req);   /* the reference main gave us */
}
TEST(channel_of_channels) {
    csp_chan *req = csp_chan_make(sizeof(csp_chan *), 0);
    csp_chan *theirs = csp_chan_retain(req);
    REQUIRE_EQ(csp_go_copy(reply_on, &theirs, sizeof theirs), 0);
    for (int i = 0; i < 100; i++) {
        csp_chan *rc = csp_chan_make(sizeof(int), 0);
        csp_chan *give = csp_chan_retain(rc);
        csp_send(req, &give);
        int v = 0;
        EXPECT(csp_recv(rc, &v)); EXPECT_EQ(v, 42);
        csp_chan_release(rc);
    }
    csp_close(req);
    csp_chan_release(req);
}

/* ---- close wakes everyone ------------------------------------------------------- */
static csp_waitgroup close_wg;
static int close_zero_ok;
static void blocked_receiver(void *arg) {
    csp_chan *c = *(csp_chan **)arg;
    int v = 9;
    if (!csp_recv(c, &v) && v == 0) __atomic_fetch_add(&close_zero_ok, 1, __ATOMIC_RELAXED);
    csp_wg_done(&close_wg);
}
TEST(close_wakes_every_receiver) {
    csp_chan *c = csp_chan_make(sizeof(int), 0);
    csp_wg_add(&close_wg, 20);
    for (int i = 0; i < 20; i++) REQUIRE_EQ(csp_go_copy(blocked_receiver, &c, sizeof c), 0);
    for (int i = 0; i < 1000; i++) csp_yield();
    csp_close(c);
    csp_wg_wait(&close_wg);
    EXPECT_EQ(close_zero_ok, 20);
    csp_chan_release(c);
}
static csp_chan *pc;
static void sender_forever(void *arg) { (void)arg; int v = 1; csp_send(pc, &v); }
CHILD(send_blocked_then_closed) {
    pc = csp_chan_make(sizeof(int), 0);
    csp_go(sender_forever, NULL);
    for (int i = 0; i < 100; i++) csp_yield();
    csp_sleep(10 * CSP_MILLISECOND);
    csp_close(pc);
    csp_sleep(1 * CSP_SECOND);
}
CHILD(send_on_closed) { csp_chan *c = csp_chan_make(1, 1); csp_close(c); char x = 0; csp_send(c, &x); }
CHILD(try_send_on_closed) { csp_chan *c = csp_chan_make(1, 1); csp_close(c); char x = 0; csp_try_send(c, &x); }
CHILD(close_closed) { csp_chan *c = csp_chan_make(1, 1); csp_close(c); csp_close(c); }
CHILD(close_nil) { csp_close(NULL); }
CHILD(select_send_closed) { csp_chan *c = csp_chan_make(1, 0); csp_close(c); char x = 0; csp_case k = CSP_SEND(c, &x); csp_select(&k, 1, 0); }
CHILD(select_negative) { csp_select(NULL, -1, 0); }
CHILD(select_null_cases) { csp_select(NULL, 2, 0); }
CHILD(select_bad_op) { csp_chan *c = csp_chan_make(1, 1); csp_case k = { c, 7, NULL, false }; csp_select(&k, 1, 0); }
CHILD(wg_negative) { csp_waitgroup wg = { 0, 0, 0, NULL }; csp_wg_add(&wg, 1); csp_wg_done(&wg); csp_wg_done(&wg); }
TEST(panics_with_gos_words) {
    static const struct { const char *child, *msg; } cases[] = {
        { "send_blocked_then_closed", "panic: send on closed channel" },
        { "send_on_closed", "panic: send on closed channel" },
        { "try_send_on_closed", "panic: send on closed channel" },
        { "close_closed", "panic: close of closed channel" },
        { "close_nil", "panic: close of nil channel" },
        { "select_send_closed", "panic: send on closed channel" },
        { "select_negative", "panic: select with a negative number of cases" },
        { "select_null_cases", "panic: select with NULL cases" },
        { "select_bad_op", "panic: select: case 0 has op 7" },
        { "wg_negative", "panic: sync: negative WaitGroup counter" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 2);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].msg);
        csp_test_child_free(&r);
    }
}

/* ---- deadlocks name the channel waits ------------------------------------------ */
CHILD(deadlock_recv) { csp_chan *c = csp_chan_make(4, 0); int v; csp_recv(c, &v); }
CHILD(deadlock_nil_send) { int v = 0; csp_send(NULL, &v); }
CHILD(deadlock_select) { csp_chan *a = csp_chan_make(4, 0); int v; csp_case k[1] = { CSP_RECV(a, &v) }; csp_select(k, 1, CSP_FOREVER); }
CHILD(deadlock_empty_select) { csp_select(NULL, 0, CSP_FOREVER); }
CHILD(deadlock_wg) { csp_waitgroup wg = { 0, 0, 0, NULL }; csp_wg_add(&wg, 1); csp_wg_wait(&wg); }
TEST(deadlocks_name_the_wait) {
    static const struct { const char *child, *reason; } cases[] = {
        { "deadlock_recv", "[chan receive]" },
        { "deadlock_nil_send", "[chan send (nil chan)]" },
        { "deadlock_select", "[select]" },
        { "deadlock_empty_select", "[select (no cases)]" },
        { "deadlock_wg", "[sync.WaitGroup.Wait]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 2);
        EXPECT_CHILD_OUTPUT_HAS(r, "fatal error: all goroutines are asleep - deadlock!");
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].reason);
        csp_test_child_free(&r);
    }
}

/* ---- stress: every value exactly once, FIFO per sender --------------------------- */
typedef struct { csp_chan *c; int id, n; } prod_arg;
static void producer(void *arg) {
    prod_arg *a = (prod_arg *)arg;
    for (int i = 0; i < a->n; i++) { long v = (long)a->id << 32 | i; csp_send(a->c, &v); }
}
typedef struct { csp_chan *c; long *last; int nprod; long count; long bad; csp_waitgroup *wg; } cons_arg;
static void consumer(void *arg) {
    cons_arg *a = (cons_arg *)arg;
    long v;
    while (csp_recv(a->c, &v)) {
        int id = (int)(v >> 32), seq = (int)(v & 0xffffffff);
        if (id < 0 || id >= a->nprod || seq <= a->last[id]) a->bad++;   /* FIFO per sender, as seen by this consumer */
        else a->last[id] = seq;
        a->count++;
    }
    csp_wg_done(a->wg);
}
static void run_pipeline(size_t cap, int np, int nc, int per, long *got, long *bad) {
    csp_chan *c = csp_chan_make(sizeof(long), cap);
    csp_waitgroup pw = { 0, 0, 0, NULL }, cw = { 0, 0, 0, NULL };
    prod_arg *pa = (prod_arg *)calloc((size_t)np, sizeof *pa);
    cons_arg *ca = (cons_arg *)calloc((size_t)nc, sizeof *ca);
    for (int j = 0; j < nc; j++) {
        ca[j].c = c; ca[j].nprod = np; ca[j].wg = &cw;
        ca[j].last = (long *)malloc((size_t)np * sizeof(long));
        for (int i = 0; i < np; i++) ca[j].last[i] = -1;
        csp_wg_add(&cw, 1);
        csp_go(consumer, &ca[j]);
    }
    for (int i = 0; i < np; i++) { pa[i].c = c; pa[i].id = i; pa[i].n = per; csp_wg_go(&pw, producer, &pa[i]); }
    csp_wg_wait(&pw);
    csp_close(c);
    csp_wg_wait(&cw);
    *got = 0; *bad = 0;
    for (int j = 0; j < nc; j++) { *got += ca[j].count; *bad += ca[j].bad; free(ca[j].last); }
    free(pa); free(ca);
    csp_chan_release(c);
}
TEST(stress_no_lost_or_duplicated_values) {
    static const struct { size_t cap; int np, nc; } cases[] = {
        { 0, 1, 1 }, { 0, 4, 4 }, { 1, 4, 1 }, { 1, 1, 4 }, { 64, 8, 8 }, { 1000, 3, 5 },
    };
    int per = T_COUNT(20000, 2000);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got, bad;
        run_pipeline(cases[i].cap, cases[i].np, cases[i].nc, per, &got, &bad);
        EXPECT_EQ(got, (long)cases[i].np * per, "cap=%zu %dx%d", cases[i].cap, cases[i].np, cases[i].nc);
        EXPECT_EQ(bad, 0, "cap=%zu %dx%d: out-of-order or foreign values", cases[i].cap, cases[i].np, cases[i].nc);
    }
}

/* A completed partner no longer touches the channel (API.md): release right
 * after the receive; ASan sees any late touch. */
static void send_once(void *arg) { csp_chan *c = *(csp_chan **)arg; int v = 5; csp_send(c, &v); }
static void recv_once(void *arg) { csp_chan *c = *(csp_chan **)arg; int v; csp_recv(c, &v); }
TEST(partner_does_not_touch_channel_after_completion) {
    int n = T_COUNT(20000, 2000);
    for (int i = 0; i < n; i++) {
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)(i % 2));
        REQUIRE_EQ(csp_go_copy(send_once, &c, sizeof c), 0);
        int v = 0;
        REQUIRE(csp_recv(c, &v));
        csp_chan_release(c);
        csp_chan *d = csp_chan_make(sizeof(int), 0);
        REQUIRE_EQ(csp_go_copy(recv_once, &d, sizeof d), 0);
        v = 6;
        csp_send(d, &v);
        csp_chan_release(d);
    }
}

/* ---- select ----------------------------------------------------------------------- */
TEST(select_is_uniform_among_ready_cases) {
    /* Three of four ready (Go's TestSelectFairness idea). A random start
     * index would give case 1 half of the wins here. */
    enum { N = 30000 };
    csp_chan *c[4];
    for (int i = 0; i < 4; i++) c[i] = csp_chan_make(sizeof(int), 1);
    int counts[4] = { 0 };
    int v = 1;
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < 3; i++) csp_try_send(c[i], &v);
        csp_case cs[4] = { CSP_RECV(c[0], &v), CSP_RECV(c[1], &v), CSP_RECV(c[2], &v), CSP_RECV(c[3], &v) };
        int r = csp_select(cs, 4, 0);
        REQUIRE(r >= 0 && r < 3);
        counts[r]++;
    }
    for (int i = 0; i < 3; i++) EXPECT(counts[i] > N / 3 - N / 20 && counts[i] < N / 3 + N / 20, "case %d won %d of %d", i, counts[i], N);
    EXPECT_EQ(counts[3], 0);
    for (int i = 0; i < 4; i++) csp_chan_release(c[i]);
}
static csp_chan *rs_chan;
static int rs_counts[2];
static csp_waitgroup rs_wg;
static void rs_receiver(void *arg) {
    int n = *(int *)arg, v;
    for (int i = 0; i < n; i++) { csp_recv(rs_chan, &v); rs_counts[v]++; }
    csp_wg_done(&rs_wg);
}
TEST(select_two_sends_on_one_unbuffered_channel_is_random) {
    /* Go's PseudoRandomSend: the receiver is already waiting, or the select
     * queues both sends in random order; either way both must win. */
    rs_chan = csp_chan_make(sizeof(int), 0);
    int n = 2000;
    csp_wg_add(&rs_wg, 1);
    struct { int n; } a = { n };
    csp_go_copy(rs_receiver, &a, sizeof a);
    for (int i = 0; i < n; i++) {
        int zero = 0, one = 1;
        csp_case cs[2] = { CSP_SEND(rs_chan, &zero), CSP_SEND(rs_chan, &one) };
        csp_select(cs, 2, CSP_FOREVER);
    }
    csp_wg_wait(&rs_wg);
    EXPECT(rs_counts[0] > n / 10 && rs_counts[1] > n / 10, "wins %d / %d", rs_counts[0], rs_counts[1]);
    csp_chan_release(rs_chan);
}
TEST(select_default_and_timeouts) {
    csp_chan *c = csp_chan_make(sizeof(int), 0);
    int v;
    csp_case k[1] = { CSP_RECV(c, &v) };
    EXPECT_EQ(csp_select(k, 1, 0), CSP_SELECT_TIMEOUT, "default");
    EXPECT_EQ(csp_select(k, 1, -5), CSP_SELECT_TIMEOUT, "a deadline already passed");
    int64_t t0 = csp_now();
    EXPECT_EQ(csp_select(k, 1, 20 * CSP_MILLISECOND), CSP_SELECT_TIMEOUT);
    int64_t dt = csp_now() - t0;
    EXPECT_GE(dt, 20 * CSP_MILLISECOND, "not before the timeout");
    EXPECT_LT(dt, 2 * CSP_SECOND);
    csp_chan_release(c);
}
static void delayed_send(void *arg) { csp_chan *c = *(csp_chan **)arg; csp_sleep(5 * CSP_MILLISECOND); int v = 77; csp_send(c, &v); }
TEST(select_wakes_on_the_ready_case_before_its_timeout) {
    for (int round = 0; round < 50; round++) {
        csp_chan *a = csp_chan_make(sizeof(int), 0), *b = csp_chan_make(sizeof(int), 0);
        REQUIRE_EQ(csp_go_copy(delayed_send, &b, sizeof b), 0);
        int va = 0, vb = 0;
        csp_case k[2] = { CSP_RECV(a, &va), CSP_RECV(b, &vb) };
        int r = csp_select(k, 2, 5 * CSP_SECOND);
        EXPECT_EQ(r, 1); EXPECT_EQ(vb, 77); EXPECT(k[1].ok);
        csp_chan_release(a); csp_chan_release(b);
    }
}
TEST(select_recv_from_closed_and_duplicates) {
    csp_chan *c = csp_chan_make(sizeof(int), 2);
    int one = 1, v = 5;
    csp_send(c, &one);
    csp_case k[3] = { CSP_RECV(c, &v), CSP_RECV(c, &v), CSP_SEND(c, &one) };
    int r = csp_select(k, 3, CSP_FOREVER);
    EXPECT(r >= 0 && r <= 2, "duplicate channel in one select");
    while (csp_try_recv(c, NULL, NULL)) {}
    csp_close(c);
    csp_case k2[1] = { CSP_RECV(c, &v) };
    v = 5;
    EXPECT_EQ(csp_select(k2, 1, CSP_FOREVER), 0);
    EXPECT(!k2[0].ok, "closed: ok false");
    EXPECT_EQ(v, 0);
    csp_chan_release(c);
}
/* Many selecting goroutines over several channels: every value once. */
typedef struct { csp_chan **cs; int nch; long sum, count; csp_waitgroup *wg; } sel_arg;
static void selector(void *arg) {
    sel_arg *a = (sel_arg *)arg;
    /* Until every channel is closed and drained (a closed case is disabled:
     * a nil channel). Stopping on a separate quit channel would lose the
     * values still buffered when it fires: select picks among ready cases
     * at random. */
    csp_chan *mine[5];
    int open = a->nch;
    for (int i = 0; i < a->nch; i++) mine[i] = a->cs[i];
    while (open > 0) {
        long v[5];
        csp_case k[5];
        for (int i = 0; i < a->nch; i++) k[i] = CSP_RECV(mine[i], &v[i]);
        int r = csp_select(k, a->nch, CSP_FOREVER);
        if (!k[r].ok) { mine[r] = NULL; open--; continue; }
        a->sum += v[r]; a->count++;
    }
    csp_wg_done(a->wg);
}
static void chan_feeder(void *arg) {
    prod_arg *p = (prod_arg *)arg;
    for (int i = 1; i <= p->n; i++) { long v = i; csp_send(p->c, &v); }
}
TEST(select_stress_every_value_once) {
    enum { NCH = 5, NSEL = 6 };
    int per = T_COUNT(20000, 2000);
    csp_chan *cs[NCH];
    for (int i = 0; i < NCH; i++) cs[i] = csp_chan_make(sizeof(long), (size_t)(i % 2 ? 0 : 3));
    csp_waitgroup sw = { 0, 0, 0, NULL }, fw = { 0, 0, 0, NULL };
    sel_arg sa[NSEL];
    for (int j = 0; j < NSEL; j++) {
        sa[j] = (sel_arg){ cs, NCH, 0, 0, &sw };
        csp_wg_add(&sw, 1);
        csp_go(selector, &sa[j]);
    }
    prod_arg pa[NCH];
    for (int i = 0; i < NCH; i++) { pa[i] = (prod_arg){ cs[i], i, per }; csp_wg_go(&fw, chan_feeder, &pa[i]); }
    csp_wg_wait(&fw);
    for (int i = 0; i < NCH; i++) csp_close(cs[i]);   /* every send is done */
    csp_wg_wait(&sw);
    long sum = 0, count = 0;
    for (int j = 0; j < NSEL; j++) { sum += sa[j].sum; count += sa[j].count; }
    EXPECT_EQ(count, (long)NCH * per);
    EXPECT_EQ(sum, (long)NCH * per * (per + 1) / 2);
    for (int i = 0; i < NCH; i++) csp_chan_release(cs[i]);
}

/* ---- plain threads ----------------------------------------------------------------- */
static void *thread_echo(void *arg) {
    csp_chan **ch = (csp_chan **)arg;
    int v;
    while (csp_recv(ch[0], &v)) { v *= 2; csp_send(ch[1], &v); }
    /* select with a timeout on a plain thread */
    csp_case k[1] = { CSP_RECV(ch[1], &v) };
    int r = csp_select(k, 1, 10 * CSP_MILLISECOND);
    return (void *)(intptr_t)(r == CSP_SELECT_TIMEOUT);
}
TEST(plain_thread_channels_and_select) {
    csp_chan *ch[2] = { csp_chan_make(sizeof(int), 0), csp_chan_make(sizeof(int), 0) };
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, thread_echo, ch), 0);
    long sum = 0;
    for (int i = 0; i < 500; i++) { int v = i; csp_send(ch[0], &v); csp_recv(ch[1], &v); sum += v; }
    csp_close(ch[0]);
    void *timed_out = NULL;
    pthread_join(th, &timed_out);
    EXPECT_EQ(sum, 2L * 499 * 500 / 2);
    EXPECT(timed_out == (void *)1, "a plain thread's select timed out");
    csp_chan_release(ch[0]); csp_chan_release(ch[1]);
}

/* ---- WaitGroup ------------------------------------------------------------------ */
static void wg_worker(void *arg) { long *c = (long *)arg; __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static void wg_on_stack(void) {
    csp_waitgroup wg = { 0, 0, 0, NULL };
    long count = 0;
    for (int i = 0; i < 8; i++) csp_wg_go(&wg, wg_worker, &count);
    csp_wg_wait(&wg);   /* then wg leaves scope: the last Done must not touch it */
}
TEST(waitgroup_reuse_and_on_stack) {
    csp_waitgroup wg = { 0, 0, 0, NULL };
    for (int round = 0; round < 50; round++) {
        long count = 0;
        for (int i = 0; i < 20; i++) REQUIRE_EQ(csp_wg_go(&wg, wg_worker, &count), 0);
        csp_wg_wait(&wg);
        EXPECT_EQ(count, 20, "round %d", round);
    }
    csp_wg_wait(&wg);   /* zero: returns at once */
    for (int i = 0; i < T_COUNT(2000, 200); i++) wg_on_stack();
}

/* A receiver that sees a close may free the channel at once, while the closer
 * (holding no reference, as the semaphore's notifier) is still inside
 * csp_close: a non-blocking receive or a select that finds the channel closed
 * goes through its lock, which the closer releases last (ASan and TSan catch
 * the free racing the closer's unlock otherwise). */
static void close_borrowed(void *arg) { csp_close((csp_chan *)arg); }
TEST(seen_closed_then_freed_at_once) {
    for (int round = 0; round < T_COUNT(3000, 500); round++) {
        csp_chan *c = csp_chan_make(sizeof(int), (size_t)(round & 1));
        REQUIRE(c != NULL);
        REQUIRE_EQ(csp_go(close_borrowed, c), 0);
        int v = 7;
        bool ok = true;
        if (round & 2) {
            while (!csp_try_recv(c, &v, &ok)) csp_yield();
        } else {
            csp_chan *never = csp_chan_make(0, 0);
            csp_case k[2] = { CSP_RECV(never, NULL), CSP_RECV(c, &v) };
            int r;
            while ((r = csp_select(k, 2, 0)) == CSP_SELECT_TIMEOUT) csp_yield();
            EXPECT_EQ(r, 1, "round %d", round);
            ok = k[1].ok;
            csp_chan_release(never);
        }
        EXPECT(!ok, "round %d: a closed channel's receive reports !ok", round);
        EXPECT_EQ(v, 0, "round %d: zero value", round);
        csp_chan_release(c);   /* the last reference: freed now */
    }
}
