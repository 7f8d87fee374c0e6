/* test_time.c -- Timer, Ticker, After, AfterFunc with Go 1.19 semantics.
 * Ported from Go's time/sleep_test.go and time/tick_test.go (TestSleep,
 * TestAfter, TestAfterTick, TestAfterStop, TestAfterQueuing, TestReset,
 * TestTimerStopStress, TestZeroTimer, TestTimerModifiedEarlier,
 * TestAdjustTimers, TestOverflowSleep, TestTicker, TestTeardown). Times are
 * lower bounds only (never "fast enough"): the machine is shared. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

#define MS CSP_MILLISECOND

TEST(sleep_is_at_least_its_duration) {
    int64_t t0 = csp_now();
    csp_sleep(30 * MS);
    EXPECT_GE(csp_now() - t0, 30 * MS);
}
TEST(after_delivers_the_fire_instant) {
    int64_t t0 = csp_now();
    csp_chan *c = csp_after(20 * MS);
    REQUIRE(c != NULL);
    int64_t at = 0;
    EXPECT(csp_recv(c, &at));
    EXPECT_GE(at - t0, 20 * MS, "fire instant never before the deadline");
    EXPECT_GE(csp_now(), at);
    EXPECT_EQ_U(csp_cap(c), 1u);
    csp_chan_release(c);
}
TEST(after_tick) {   /* TestAfterTick: 10 sequential Afters */
    int64_t t0 = csp_now();
    for (int i = 0; i < 10; i++) { csp_chan *c = csp_after(2 * MS); csp_recv(c, NULL); csp_chan_release(c); }
    EXPECT_GE(csp_now() - t0, 20 * MS);
}
static int afterfunc_ran;
static void set_flag(void *arg) { __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE); }
TEST(after_stop) {   /* TestAfterStop */
    csp_timer *f = csp_after_func(100 * MS, set_flag, &afterfunc_ran);
    csp_timer *t = csp_timer_new(100 * MS);
    REQUIRE(f && t);
    EXPECT(csp_timer_chan(f) == NULL, "AfterFunc has no channel");
    EXPECT(csp_timer_stop(f), "stopped a pending AfterFunc");
    EXPECT(csp_timer_stop(t), "stopped a pending timer");
    EXPECT(!csp_timer_stop(t), "second stop: not pending");
    csp_chan *a = csp_after(200 * MS);
    csp_recv(a, NULL);
    csp_chan_release(a);
    EXPECT(!__atomic_load_n(&afterfunc_ran, __ATOMIC_ACQUIRE), "stopped AfterFunc did not run");
    EXPECT(!csp_try_recv(csp_timer_chan(t), NULL, NULL), "stopped timer did not send");
    csp_timer_release(t);
    csp_timer_release(f);
}
TEST(after_func_runs_in_a_goroutine) {
    int flag = 0;
    csp_timer *f = csp_after_func(5 * MS, set_flag, &flag);
    for (int i = 0; i < 20000 && !__atomic_load_n(&flag, __ATOMIC_ACQUIRE); i++) csp_sleep(MS / 10);
    EXPECT(__atomic_load_n(&flag, __ATOMIC_ACQUIRE), "AfterFunc ran");
    EXPECT(!csp_timer_stop(f), "stop after it ran: false");
    __atomic_store_n(&flag, 0, __ATOMIC_RELEASE);
    EXPECT(!csp_timer_reset(f, 5 * MS), "reset after it ran returns false");
    for (int i = 0; i < 20000 && !__atomic_load_n(&flag, __ATOMIC_ACQUIRE); i++) csp_sleep(MS / 10);
    EXPECT(__atomic_load_n(&flag, __ATOMIC_ACQUIRE), "re-armed AfterFunc ran again");
    csp_timer_release(f);
}
/* A due AfterFunc (0 or negative) fires at once: its fn runs exactly once,
 * stop then reports it fired, reset re-arms it; from main and a plain thread. */
static int due_runs;
static void count_run(void *arg) { (void)arg; __atomic_fetch_add(&due_runs, 1, __ATOMIC_ACQ_REL); }
static void *due_from_thread(void *arg) {
    (void)arg;
    csp_timer *f = csp_after_func(-5, count_run, NULL);
    for (int i = 0; i < 20000 && __atomic_load_n(&due_runs, __ATOMIC_ACQUIRE) < 3; i++) csp_sleep(MS / 10);
    csp_timer_release(f);
    return NULL;
}
TEST(due_after_func_fires_once_at_once) {
    __atomic_store_n(&due_runs, 0, __ATOMIC_RELEASE);
    csp_timer *f = csp_after_func(0, count_run, NULL);
    REQUIRE(f != NULL);
    EXPECT(csp_timer_chan(f) == NULL);
    for (int i = 0; i < 20000 && __atomic_load_n(&due_runs, __ATOMIC_ACQUIRE) < 1; i++) csp_sleep(MS / 10);
    EXPECT_EQ(__atomic_load_n(&due_runs, __ATOMIC_ACQUIRE), 1);
    EXPECT(!csp_timer_stop(f), "it fired: stop returns false");
    EXPECT(!csp_timer_reset(f, 0), "reset of a fired AfterFunc returns false and re-arms it");
    for (int i = 0; i < 20000 && __atomic_load_n(&due_runs, __ATOMIC_ACQUIRE) < 2; i++) csp_sleep(MS / 10);
    EXPECT_EQ(__atomic_load_n(&due_runs, __ATOMIC_ACQUIRE), 2);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, due_from_thread, NULL) == 0);
    pthread_join(th, NULL);
    EXPECT_EQ(__atomic_load_n(&due_runs, __ATOMIC_ACQUIRE), 3);
    csp_sleep(5 * MS);   /* nothing more may run: proving a "not" */
    EXPECT_EQ(__atomic_load_n(&due_runs, __ATOMIC_ACQUIRE), 3, "each firing ran fn once");
    csp_timer_release(f);
}
TEST(after_queuing) {   /* TestAfterQueuing: they fire in duration order */
    static const int64_t slots[] = { 5, 3, 6, 6, 6, 1, 1, 2, 7, 9, 4, 8, 0 };
    enum { N = sizeof slots / sizeof slots[0] };
    csp_chan *res = csp_chan_make(sizeof(int64_t), N);
    csp_timer *ts[N];
    for (int i = 0; i < N; i++) {
        ts[i] = csp_timer_new(slots[i] * 20 * MS);
    }
    /* Collect in firing order with a select over all of them. */
    int64_t got[N];
    for (int k = 0; k < N; k++) {
        csp_case cs[N];
        int64_t v[N];
        for (int i = 0; i < N; i++) cs[i] = CSP_RECV(ts[i] ? csp_timer_chan(ts[i]) : NULL, &v[i]);
        int r = csp_select(cs, N, CSP_FOREVER);
        REQUIRE(r >= 0);
        got[k] = slots[r];
        csp_timer_release(ts[r]);
        ts[r] = NULL;
    }
    for (int k = 1; k < N; k++) EXPECT_LE(got[k - 1], got[k], "timer %d fired out of order", k);
    csp_chan_release(res);
}
TEST(reset_return_values) {   /* TestReset, Go 1.19 */
    csp_timer *t = csp_timer_new(50 * MS);
    EXPECT(csp_timer_reset(t, 20 * MS), "reset of a pending timer: true");
    int64_t at;
    EXPECT(csp_recv(csp_timer_chan(t), &at));
    EXPECT(!csp_timer_reset(t, 10 * MS), "reset of a fired timer: false");
    EXPECT(csp_recv(csp_timer_chan(t), &at), "re-armed, it fires again");
    EXPECT(!csp_timer_stop(t));
    csp_timer_release(t);
}
TEST(stop_after_fire_leaves_the_value) {
    csp_timer *t = csp_timer_new(1 * MS);
    csp_sleep(20 * MS);
    EXPECT(!csp_timer_stop(t), "already fired");
    EXPECT_EQ_U(csp_len(csp_timer_chan(t)), 1u, "its value is still in the channel");
    csp_timer_release(t);
}
TEST(timer_stop_stress) {   /* TestTimerStopStress */
    for (int i = 0; i < 100; i++) {
        csp_timer *t = csp_timer_new(200 * MS + i * MS);
        EXPECT(csp_timer_stop(t));
        csp_timer_release(t);
    }
    csp_sleep(300 * MS);
}
TEST(zero_and_negative_timers_fire_at_once) {   /* TestZeroTimer */
    for (int i = 0; i < 100; i++) {
        csp_timer *t = csp_timer_new(i % 2 ? 0 : -5 * CSP_SECOND);
        int64_t at;
        EXPECT(csp_recv(csp_timer_chan(t), &at));
        csp_timer_release(t);
    }
}
TEST(timer_modified_earlier) {   /* TestTimerModifiedEarlier */
    int64_t t0 = csp_now();
    csp_timer *t = csp_timer_new(10 * CSP_SECOND);
    csp_timer_stop(t);
    csp_timer_reset(t, 5 * MS);
    int64_t at;
    csp_case k[1] = { CSP_RECV(csp_timer_chan(t), &at) };
    EXPECT_EQ(csp_select(k, 1, 5 * CSP_SECOND), 0, "fired at its earlier time");
    EXPECT_GE(at - t0, 5 * MS);
    csp_timer_release(t);
}
TEST(adjust_timers) {   /* TestAdjustTimers: many resets, all fire in order */
    enum { N = 50 };
    csp_timer *ts[N];
    for (int i = 0; i < N; i++) ts[i] = csp_timer_new(CSP_SECOND);
    int64_t set[N];
    for (int i = 0; i < N; i++) { set[i] = csp_now(); csp_timer_reset(ts[i], (int64_t)(N - i) * MS); }
    int64_t last = 0;
    for (int i = N - 1; i >= 0; i--) {
        int64_t at;
        EXPECT(csp_recv(csp_timer_chan(ts[i]), &at));
        EXPECT_GE(at, set[i] + (int64_t)(N - i) * MS, "timer %d fired early", i);
        /* In order, within what a loaded 2-CPU machine makes of 1 ms: the
         * timers sit on different processors once their receiver has moved
         * (they follow it), and a processor's thread may wake late. */
        EXPECT_GE(at + 10 * MS, last, "timer %d fired well before the one due 1 ms earlier", i);
        last = at;
    }
    for (int i = 0; i < N; i++) csp_timer_release(ts[i]);
}
TEST(overflow_durations) {   /* TestOverflowSleep */
    csp_chan *never = csp_after(CSP_FOREVER);
    csp_chan *soon = csp_after(25 * MS);
    csp_case k[2] = { CSP_RECV(never, NULL), CSP_RECV(soon, NULL) };
    EXPECT_EQ(csp_select(k, 2, CSP_FOREVER), 1, "INT64_MAX never fires");
    csp_chan *neg = csp_after(INT64_MIN);
    csp_case k2[1] = { CSP_RECV(neg, NULL) };
    EXPECT_EQ(csp_select(k2, 1, CSP_SECOND), 0, "a negative duration fires at once");
    csp_chan_release(never); csp_chan_release(soon); csp_chan_release(neg);
    csp_timer *t = csp_timer_new(CSP_FOREVER);
    EXPECT(csp_timer_stop(t), "an INT64_MAX timer is pending, and stoppable");
    csp_timer_release(t);
}
TEST(ticker_ticks_and_resets) {   /* TestTicker */
    csp_ticker *tk = csp_ticker_new(10 * MS);
    REQUIRE(tk != NULL);
    int64_t t0 = csp_now(), at = 0;
    for (int i = 0; i < 5; i++) EXPECT(csp_recv(csp_ticker_chan(tk), &at));
    EXPECT_GE(csp_now() - t0, 50 * MS - MS, "5 ticks of 10 ms");
    csp_ticker_reset(tk, 20 * MS);
    while (csp_try_recv(csp_ticker_chan(tk), NULL, NULL)) {}
    t0 = csp_now();
    for (int i = 0; i < 3; i++) EXPECT(csp_recv(csp_ticker_chan(tk), &at));
    EXPECT_GE(csp_now() - t0, 40 * MS, "reset period in effect");
    csp_ticker_stop(tk);
    while (csp_try_recv(csp_ticker_chan(tk), NULL, NULL)) {}
    csp_sleep(60 * MS);   /* proving that a stopped ticker does NOT tick */
    EXPECT(!csp_try_recv(csp_ticker_chan(tk), NULL, NULL));
    csp_ticker_release(tk);
}
TEST(ticker_drops_ticks_for_slow_readers) {
    csp_ticker *tk = csp_ticker_new(1 * MS);
    csp_sleep(50 * MS);
    EXPECT_LE_U(csp_len(csp_ticker_chan(tk)), 1u, "at most one tick waits");
    csp_ticker_release(tk);
}
TEST(ticker_teardown) {   /* TestTeardown */
    for (int i = 0; i < 100; i++) {
        csp_ticker *tk = csp_ticker_new(MS);
        csp_recv(csp_ticker_chan(tk), NULL);
        csp_ticker_stop(tk);
        csp_ticker_release(tk);
    }
}
CHILD(ticker_zero) { csp_ticker_new(0); }
CHILD(ticker_reset_negative) { csp_ticker *t = csp_ticker_new(MS); csp_ticker_reset(t, -1); }
static void stop_me(void *arg) { (void)arg; }
CHILD(pending_timer_is_not_a_deadlock) {
    csp_timer *t = csp_after_func(200 * MS, stop_me, NULL);
    csp_timer *t2 = csp_timer_new(300 * MS);
    csp_recv(csp_timer_chan(t2), NULL);
    printf("woke\n");
    csp_timer_release(t2);
    csp_timer_release(t);
}
CHILD(stopped_timer_does_not_hide_deadlock) {
    static csp_timer *t;
    t = csp_timer_new(CSP_SECOND);
    csp_timer_stop(t);
    static csp_chan *c;
    c = csp_chan_make(0, 0);
    csp_recv(c, NULL);
}
TEST(ticker_panics_and_deadlock_rules) {
    csp_test_child r = RUN_CHILD(ticker_zero, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: non-positive interval for NewTicker");
    csp_test_child_free(&r);
    r = RUN_CHILD(ticker_reset_negative, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: non-positive interval for Ticker.Reset");
    csp_test_child_free(&r);
    r = RUN_CHILD(pending_timer_is_not_a_deadlock, 20000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "woke");
    csp_test_child_free(&r);
    r = RUN_CHILD(stopped_timer_does_not_hide_deadlock, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "all goroutines are asleep - deadlock!");
    csp_test_child_free(&r);
}
static void *thread_timer(void *arg) {
    (void)arg;
    csp_timer *t = csp_timer_new(10 * MS);
    int64_t at = 0;
    bool ok = csp_recv(csp_timer_chan(t), &at);
    csp_timer_release(t);
    return (void *)(intptr_t)ok;
}
/* A goroutine that parks on an owned timer's channel brings the timer to
 * its own P's heap (so the fire readies it where it waits). Owners stop
 * and reset while their receivers park, usually on the other P: a pending
 * timer's stop still says true and leaves nothing pending (a second stop
 * says false), each short reset delivers exactly one value, and a stopped
 * ticker never ticks again. Receivers alternate csp_recv and csp_select,
 * the two places that move a timer. */
typedef struct follow_pair {
    csp_timer *t;      /* one-shot pairs */
    csp_ticker *tk;    /* ticker pairs */
    csp_chan *ready;   /* receiver -> owner: about to park (one-shot; capacity 1) */
    csp_chan *ack;     /* receiver -> owner: got the value (one-shot) */
    csp_chan *quit;    /* owner -> receiver (ticker) */
    csp_waitgroup *wg;
    int rounds;
    long got;          /* written by the receiver, read after wg */
} follow_pair;
static void follow_timer_recv(void *arg) {
    follow_pair *fp = (follow_pair *)arg;
    csp_chan *c = csp_timer_chan(fp->t);
    for (int r = 0; r < fp->rounds; r++) {
        int64_t at = 0;
        csp_send(fp->ready, NULL);
        if (r & 1) {
            if (csp_recv(c, &at)) fp->got++;
        } else {
            csp_case k[1] = { CSP_RECV(c, &at) };
            if (csp_select(k, 1, CSP_FOREVER) == 0) fp->got++;
        }
        csp_send(fp->ack, NULL);
    }
    csp_wg_done(fp->wg);
}
static void follow_timer_owner(void *arg) {
    follow_pair *fp = (follow_pair *)arg;
    for (int r = 0; r < fp->rounds; r++) {
        /* The receiver is parking now, maybe on the other P: race it
         * (polling, so that this goroutine is not parked and handed over
         * to the receiver's P, which would put the two in turn). */
        while (!csp_try_recv(fp->ready, NULL, NULL)) csp_yield();
        EXPECT(csp_timer_stop(fp->t), "round %d: a pending timer's stop says true", r);
        EXPECT(!csp_timer_stop(fp->t), "round %d: nothing pending after a stop", r);
        EXPECT(!csp_timer_reset(fp->t, 1000), "round %d: reset of a stopped timer says false", r);
        csp_recv(fp->ack, NULL);
        EXPECT(!csp_timer_reset(fp->t, (3600 * CSP_SECOND)), "round %d: reset after the fire says false", r);
    }
    EXPECT(csp_timer_stop(fp->t), "the last reset is pending");
    EXPECT(!csp_try_recv(csp_timer_chan(fp->t), NULL, NULL), "no value beyond one per short reset");
    csp_wg_done(fp->wg);
}
static void follow_ticker_recv(void *arg) {
    follow_pair *fp = (follow_pair *)arg;
    csp_chan *c = csp_ticker_chan(fp->tk);
    for (long i = 0;; i++) {
        int64_t at = 0;
        csp_case k[2] = { CSP_RECV(c, &at), CSP_RECV(fp->quit, NULL) };
        if (i & 1) {
            if (csp_select(k, 2, CSP_FOREVER) == 1) break;
            fp->got++;
        } else if (csp_select(k + 1, 1, 0) == 0) {
            break;
        } else if (csp_recv(c, &at)) {   /* the owner's last reset keeps it ticking until quit */
            fp->got++;
        }
    }
    csp_wg_done(fp->wg);
}
static void follow_ticker_owner(void *arg) {
    follow_pair *fp = (follow_pair *)arg;
    for (int r = 0; r < fp->rounds; r++) {
        csp_sleep(50 * CSP_MICROSECOND);
        if (r % 7 == 3) csp_ticker_stop(fp->tk);
        csp_ticker_reset(fp->tk, (20 + r % 50) * CSP_MICROSECOND);
    }
    csp_sleep(MS);
    csp_close(fp->quit);
    csp_wg_done(fp->wg);
}
TEST(timers_follow_their_receivers_through_stop_and_reset) {
    enum { PAIRS = 6 };
    int rounds = T_COUNT(1500, 200);
    follow_pair fp[2 * PAIRS];
    csp_waitgroup wg = { 0 };
    memset(fp, 0, sizeof fp);
    for (int i = 0; i < 2 * PAIRS; i++) {
        fp[i].wg = &wg;
        fp[i].rounds = rounds;
        if (i < PAIRS) {
            REQUIRE((fp[i].t = csp_timer_new((3600 * CSP_SECOND))) != NULL);
            REQUIRE((fp[i].ready = csp_chan_make(0, 1)) != NULL);
            REQUIRE((fp[i].ack = csp_chan_make(0, 0)) != NULL);
        } else {
            REQUIRE((fp[i].tk = csp_ticker_new(30 * CSP_MICROSECOND)) != NULL);
            REQUIRE((fp[i].quit = csp_chan_make(0, 0)) != NULL);
        }
    }
    csp_wg_add(&wg, 4 * PAIRS);
    for (int i = 0; i < 2 * PAIRS; i++) {
        REQUIRE_EQ(csp_go(i < PAIRS ? follow_timer_recv : follow_ticker_recv, &fp[i]), 0);
        REQUIRE_EQ(csp_go(i < PAIRS ? follow_timer_owner : follow_ticker_owner, &fp[i]), 0);
    }
    csp_wg_wait(&wg);
    for (int i = 0; i < 2 * PAIRS; i++) {
        if (i < PAIRS) {
            EXPECT_EQ(fp[i].got, (long)rounds, "pair %d: one value per short reset", i);
            csp_timer_release(fp[i].t);
            csp_chan_release(fp[i].ready);
            csp_chan_release(fp[i].ack);
        } else {
            EXPECT_GT(fp[i].got, 0L, "pair %d ticked", i);
            csp_ticker_stop(fp[i].tk);
            csp_try_recv(csp_ticker_chan(fp[i].tk), NULL, NULL);   /* at most one left from before the stop */
        }
    }
    csp_sleep(5 * MS);   /* proving that stopped tickers do NOT tick */
    for (int i = PAIRS; i < 2 * PAIRS; i++) {
        EXPECT(!csp_try_recv(csp_ticker_chan(fp[i].tk), NULL, NULL), "pair %d: a stopped ticker ticked", i);
        csp_ticker_release(fp[i].tk);
        csp_chan_release(fp[i].quit);
    }
}
TEST(timers_from_a_plain_thread) {
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, thread_timer, NULL), 0);
    void *ok = NULL;
    pthread_join(th, &ok);
    EXPECT(ok == (void *)1);
}
/* Sleepers wake in deadline order, never early. */
static csp_chan *order_ch;
static void ordered_sleeper(void *arg) {
    int k = *(int *)arg;
    int64_t d = (int64_t)(k + 1) * 4 * MS;
    int64_t t0 = csp_now();
    csp_sleep(d);
    int64_t late = csp_now() - t0 - d;
    int msg[2] = { k, late >= 0 };
    csp_send(order_ch, msg);
}
TEST(sleepers_never_wake_early) {
    order_ch = csp_chan_make(sizeof(int[2]), 32);
    for (int k = 0; k < 32; k++) csp_go_copy(ordered_sleeper, &k, sizeof k);
    int early = 0;
    for (int k = 0; k < 32; k++) { int msg[2]; csp_recv(order_ch, msg); early += !msg[1]; }
    EXPECT_EQ(early, 0);
    csp_chan_release(order_ch);
}

/* An idle process costs no CPU: sleepers wait in the kernel until their
 * deadline (one timed futex wait), and sysmon backs off. Bounded at 10% of
 * a core (the benchmark reports the real figure). */
static csp_waitgroup idle_started, idle_done;
static csp_chan *idle_gate;
static void idle_sleeper(void *arg) {
    (void)arg;
    csp_wg_done(&idle_started);
    csp_recv(idle_gate, NULL);   /* all start their sleep together */
    csp_sleep(CSP_SECOND);
    csp_wg_done(&idle_done);
}
static int64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}
TEST(sleeping_goroutines_cost_no_cpu) {
    int n = T_COUNT(10000, 2000);
    idle_gate = csp_chan_make(0, 0);
    csp_wg_add(&idle_started, n);
    csp_wg_add(&idle_done, n);
    for (int i = 0; i < n; i++) REQUIRE_EQ(csp_go(idle_sleeper, NULL), 0);
    csp_wg_wait(&idle_started);
    csp_close(idle_gate);
    csp_sleep(150 * MS);   /* they wake from the gate and fall asleep */
    int64_t c0 = cpu_ns(), t0 = csp_now();
    csp_sleep(600 * MS);   /* the window: everyone is asleep */
    int64_t c1 = cpu_ns(), t1 = csp_now();
    csp_wg_wait(&idle_done);
    csp_chan_release(idle_gate);
    double share = (double)(c1 - c0) / (double)(t1 - t0);
    printf("    %d sleeping goroutines: %.2f%% of a core\n", n, 100.0 * share);
    EXPECT(share < 0.10, "CPU share while idle: %.3f", share);
}
