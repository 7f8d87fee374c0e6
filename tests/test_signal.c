/* test_signal.c -- csp_signal_notify / csp_signal_stop (os/signal): delivery
 * without blocking, several watchers, stop restores the old disposition,
 * bad signals, and the deadlock rule while a signal is watched. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"

TEST(notify_delivers_to_every_watcher) {
    csp_chan *a = csp_chan_make(sizeof(int), 4), *b = csp_chan_make(sizeof(int), 4);
    EXPECT_EQ(csp_signal_notify(a, SIGUSR1), 0);
    EXPECT_EQ(csp_signal_notify(b, SIGUSR1), 0);
    EXPECT_EQ(csp_signal_notify(a, SIGUSR1), 0, "twice is once");
    kill(getpid(), SIGUSR1);
    int s1 = 0, s2 = 0;
    csp_case k1[1] = { CSP_RECV(a, &s1) };
    csp_case k2[1] = { CSP_RECV(b, &s2) };
    EXPECT_EQ(csp_select(k1, 1, 5 * CSP_SECOND), 0);
    EXPECT_EQ(csp_select(k2, 1, 5 * CSP_SECOND), 0);
    EXPECT_EQ(s1, SIGUSR1); EXPECT_EQ(s2, SIGUSR1);
    EXPECT(!csp_try_recv(a, NULL, NULL), "one delivery per watcher");
    csp_signal_stop(a);
    csp_signal_stop(b);
    csp_chan_release(a); csp_chan_release(b);
}
TEST(a_full_channel_drops_the_signal) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    EXPECT_EQ(csp_signal_notify(c, SIGUSR2), 0);
    for (int i = 0; i < 5; i++) { kill(getpid(), SIGUSR2); csp_sleep(5 * CSP_MILLISECOND); }
    int s = 0;
    EXPECT(csp_recv(c, &s));
    EXPECT_EQ(s, SIGUSR2);
    csp_sleep(20 * CSP_MILLISECOND);
    EXPECT_LE_U(csp_len(c), 1u, "never more than the channel holds; delivery did not block");
    csp_signal_stop(c);
    csp_chan_release(c);
}
TEST(bad_signals) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    EXPECT_EQ(csp_signal_notify(c, SIGKILL), -EINVAL);
    EXPECT_EQ(csp_signal_notify(c, SIGSTOP), -EINVAL);
    EXPECT_EQ(csp_signal_notify(c, 0), -EINVAL);
    EXPECT_EQ(csp_signal_notify(c, 1000), -EINVAL);
    csp_signal_stop(c);   /* not watching anything: nothing to do */
    csp_chan_release(c);
}
CHILD(stop_restores_default) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    csp_signal_notify(c, SIGUSR1);
    kill(getpid(), SIGUSR1);
    int s;
    csp_recv(c, &s);
    printf("caught %d\n", s);
    fflush(stdout);
    csp_signal_stop(c);
    kill(getpid(), SIGUSR1);   /* the default action again: the process dies */
    csp_sleep(CSP_SECOND);
    printf("still alive\n");
}
TEST(stop_gives_back_the_previous_disposition) {
    csp_test_child r = RUN_CHILD(stop_restores_default, 20000);
    EXPECT_CHILD_SIGNALED(r, SIGUSR1);
    EXPECT_CHILD_OUTPUT_HAS(r, "caught 10");
    EXPECT_CHILD_OUTPUT_LACKS(r, "still alive");
    csp_test_child_free(&r);
}
static void send_later(void *arg) { (void)arg; csp_sleep(100 * CSP_MILLISECOND); kill(getpid(), SIGUSR2); }
CHILD(watched_signal_is_not_a_deadlock) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    csp_signal_notify(c, SIGUSR2);
    /* The only thing that can wake main is the signal (sent by a goroutine
     * that then exits). */
    csp_go(send_later, NULL);
    int s;
    csp_recv(c, &s);
    printf("woke by %d\n", s);
    csp_signal_stop(c);
    fflush(stdout);
}
CHILD(deadlock_after_stop) {
    csp_chan *c = csp_chan_make(sizeof(int), 1);
    csp_signal_notify(c, SIGUSR2);
    csp_signal_stop(c);
    csp_recv(c, NULL);
}
TEST(deadlock_rules_with_signals) {
    csp_test_child r = RUN_CHILD(watched_signal_is_not_a_deadlock, 20000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "woke by 12");
    csp_test_child_free(&r);
    r = RUN_CHILD(deadlock_after_stop, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "all goroutines are asleep - deadlock!");
    csp_test_child_free(&r);
}
