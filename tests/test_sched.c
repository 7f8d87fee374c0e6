/* test_sched.c -- the M:N scheduler: goroutines, parking, run queues,
 * plain threads, sysmon hand-offs, deadlock detection, diagnostics.
 * Ported in spirit from Go's test/chan/goroutines.go and runtime/proc_test.go. */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include "csp_test.h"
#include "sched_util.h"

/* ---- daisy chain (Go: test/chan/goroutines.go, "whispers") ----------------- */
typedef struct { box *left, *right; } link_t;
static void whisper(void *arg) {
    link_t *l = (link_t *)arg;
    box_put(l->left, box_get(l->right) + 1);
}
TEST(daisy_chain) {
    long n = T_COUNT(10000, 2000);
    box *boxes = (box *)calloc((size_t)n + 1, sizeof *boxes);
    link_t *links = (link_t *)calloc((size_t)n, sizeof *links);
    REQUIRE(boxes && links);
    for (long i = 0; i < n; i++) {
        links[i].left = &boxes[i];
        links[i].right = &boxes[i + 1];
        REQUIRE_EQ(csp_go(whisper, &links[i]), 0);
    }
    box_put(&boxes[n], 1);
    EXPECT_EQ(box_get(&boxes[0]), n + 1, "the whisper passed through %ld goroutines", n);
    free(boxes); free(links);
}

/* ---- a tree of 511 goroutines ------------------------------------------------ */
typedef struct { int depth; latch *done; long *count; } tree_arg;
static void tree_node(void *arg) {
    tree_arg *t = (tree_arg *)arg;
    __atomic_fetch_add(t->count, 1, __ATOMIC_RELAXED);
    if (t->depth > 1) {
        latch kids;
        latch_init(&kids, 2);
        tree_arg a = { t->depth - 1, &kids, t->count };
        csp_go_copy(tree_node, &a, sizeof a);
        csp_go_copy(tree_node, &a, sizeof a);
        latch_wait(&kids);
    }
    latch_done(t->done);
}
TEST(tree_of_511) {
    latch done;
    latch_init(&done, 1);
    long count = 0;
    tree_arg a = { 9, &done, &count };
    REQUIRE_EQ(csp_go_copy(tree_node, &a, sizeof a), 0);
    latch_wait(&done);
    EXPECT_EQ(count, 511);
}

/* ---- very many parked goroutines ------------------------------------------- */
static gate park_gate;
static latch park_done;
static void parker(void *arg) { (void)arg; gate_wait(&park_gate); latch_done(&park_done); }
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) { if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0; fclose(f); }
    return res * (long)(sysconf(_SC_PAGESIZE) / 1024);
}
TEST(million_parked_goroutines) {
    long n = T_COUNT(1000000, 4000);
    latch_init(&park_done, n);
    long rss0 = rss_kb();
    for (long i = 0; i < n; i++) REQUIRE_EQ(csp_go(parker, NULL), 0, "goroutine %ld", i);
    /* All of them must reach the gate (yield until they have). */
    int64_t t0 = csp_now();
    while (gate_waiting(&park_gate) < n && csp_now() - t0 < 120 * CSP_SECOND) csp_sleep(CSP_MILLISECOND);
    EXPECT_EQ(gate_waiting(&park_gate), n, "goroutines parked at once");
    EXPECT_EQ(csp_num_goroutines(), n + 1);
    long per = (rss_kb() - rss0) * 1024 / n;
    printf("    %ld goroutines parked: %ld bytes of RSS each\n", n, per);
    if (!csp_test_short()) EXPECT_LE(per, 4400, "RSS per parked goroutine (one page)");
    gate_open(&park_gate);
    latch_wait(&park_done);
}

/* ---- csp_go_copy: the loop-variable capture bug, solved ------------------------ */
static int seen[100];
static latch copy_done;
static void record(void *arg) { int i = *(int *)arg; __atomic_fetch_add(&seen[i], 1, __ATOMIC_RELAXED); latch_done(&copy_done); }
TEST(go_copy_captures_each_value) {
    latch_init(&copy_done, 100);
    for (int i = 0; i < 100; i++) REQUIRE_EQ(csp_go_copy(record, &i, sizeof i), 0);
    latch_wait(&copy_done);
    for (int i = 0; i < 100; i++) EXPECT_EQ(seen[i], 1, "value %d seen once", i);
}
typedef struct { char bytes[37]; } odd_t;
static int align_ok, content_ok;
static latch align_done;
static void check_copy(void *arg) {
    align_ok = (uintptr_t)arg % _Alignof(max_align_t) == 0;
    odd_t *o = (odd_t *)arg;
    content_ok = 1;
    for (int i = 0; i < 37; i++) if (o->bytes[i] != (char)i) content_ok = 0;
    latch_done(&align_done);
}
TEST(go_copy_is_aligned_and_taken_at_once) {
    latch_init(&align_done, 1);
    odd_t o;
    for (int i = 0; i < 37; i++) o.bytes[i] = (char)i;
    REQUIRE_EQ(csp_go_copy(check_copy, &o, sizeof o), 0);
    memset(&o, 0x55, sizeof o);   /* the goroutine must not see this */
    latch_wait(&align_done);
    EXPECT(align_ok, "copy aligned for max_align_t");
    EXPECT(content_ok, "copy made before csp_go_copy returned");
    char big[1];
    EXPECT_EQ(csp_go_copy(check_copy, big, (size_t)CSP_DEFAULT_STACK_SIZE), -ENOMEM, "a copy larger than the stack allows");
}

/* ---- ids: unique, main is 1, stable across migration ---------------------------- */
#define NID 64
static uint64_t ids[NID];
static int id_stable[NID];
static latch id_done;
static void id_worker(void *arg) {
    int k = *(int *)arg;
    uint64_t id = csp_id();
    ids[k] = id;
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        if (i % 3 == 0) csp_sleep(10 * CSP_MICROSECOND); else csp_yield();
        if (csp_id() != id) ok = 0;
    }
    id_stable[k] = ok;
    latch_done(&id_done);
}
TEST(ids_unique_and_stable) {
    EXPECT_EQ_U(csp_id(), 1u, "main is goroutine 1");
    latch_init(&id_done, NID);
    for (int k = 0; k < NID; k++) REQUIRE_EQ(csp_go_copy(id_worker, &k, sizeof k), 0);
    latch_wait(&id_done);
    for (int k = 0; k < NID; k++) {
        EXPECT(id_stable[k], "goroutine %d kept its id", k);
        EXPECT_GT_U(ids[k], 1u);
        for (int j = 0; j < k; j++) EXPECT_NE_U(ids[k], ids[j], "ids of %d and %d", j, k);
    }
    EXPECT_EQ_U(csp_id(), 1u);
}

/* ---- csp_num_goroutines is exact ------------------------------------------------- */
static gate ng_gate;
static latch ng_done;
static void ng_worker(void *arg) { (void)arg; gate_wait(&ng_gate); latch_done(&ng_done); }
TEST(num_goroutines_exact) {
    /* Goroutines of earlier tests may still be on their way out (their
     * threads may be descheduled on a loaded machine): poll, bounded. */
    for (int64_t t0 = csp_now(); csp_num_goroutines() != 1 && csp_now() - t0 < 10 * CSP_SECOND;) csp_sleep(CSP_MILLISECOND);
    int base = csp_num_goroutines();
    EXPECT_EQ(base, 1, "only main");
    latch_init(&ng_done, 50);
    for (int i = 0; i < 50; i++) {
        REQUIRE_EQ(csp_go(ng_worker, NULL), 0);
        EXPECT_EQ(csp_num_goroutines(), base + i + 1, "counted from the moment csp_go returns");
    }
    gate_open(&ng_gate);
    latch_wait(&ng_done);
    /* They have signalled; let them finish exiting. */
    for (int64_t t0 = csp_now(); csp_num_goroutines() != base && csp_now() - t0 < 10 * CSP_SECOND;) csp_sleep(CSP_MILLISECOND);
    EXPECT_EQ(csp_num_goroutines(), base);
}

/* ---- maxprocs ----------------------------------------------------------------- */
CHILD(print_maxprocs) {
    printf("maxprocs=%d\n", csp_maxprocs(0));
    fflush(stdout);
}
TEST(maxprocs_from_environment) {
    static const struct { const char *env; int want; } cases[] = {
        { "CSP_MAXPROCS=1", 1 }, { "CSP_MAXPROCS=3", 3 }, { "CSP_MAXPROCS=5000", 1024 },
        { "CSP_MAXPROCS=abc", -1 }, { "CSP_MAXPROCS=0", -1 }, { "CSP_MAXPROCS=-2", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = RUN_CHILD_ENV(print_maxprocs, 20000, cases[i].env);
        char want[64];
        snprintf(want, sizeof want, "maxprocs=%d\n", cases[i].want > 0 ? cases[i].want : csp_num_cpu());
        EXPECT_CHILD_EXIT(r, 0);
        EXPECT_CHILD_OUTPUT_HAS(r, want);
        csp_test_child_free(&r);
    }
}
TEST(maxprocs_set_and_query) {
    int n0 = csp_maxprocs(0);
    EXPECT_EQ(n0, csp_num_cpu(), "default is the number of CPUs");
    EXPECT_EQ(csp_maxprocs(3), n0, "returns the previous value");
    EXPECT_EQ(csp_maxprocs(-1), 3, "n <= 0 only queries");
    EXPECT_EQ(csp_maxprocs(100000), 3);
    EXPECT_EQ(csp_maxprocs(0), 1024, "clamped to 1024");
    EXPECT_EQ(csp_maxprocs(1), 1024);
    /* Work still gets done on 1 P, then back to the default. */
    latch_init(&copy_done, 100);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 100; i++) REQUIRE_EQ(csp_go_copy(record, &i, sizeof i), 0);
    latch_wait(&copy_done);
    EXPECT_EQ(csp_maxprocs(n0), 1);
}

/* ---- plain threads and goroutines wake each other ------------------------------- */
static box to_thread, to_goroutine;
static pthread_barrier_t thread_barrier;
static void *plain_thread(void *arg) {
    (void)arg;
    /* A plain thread counts for deadlock detection from its first runtime
     * call: make one (csp_id) before main's side can all be asleep. */
    csp_id();
    pthread_barrier_wait(&thread_barrier);
    for (int i = 0; i < 1000; i++) box_put(&to_goroutine, box_get(&to_thread) + 1);
    return NULL;
}
static latch echo_done;
static long echo_sum;
static void echo_goroutine(void *arg) {
    (void)arg;
    long sum = 0;
    for (int i = 0; i < 1000; i++) { box_put(&to_thread, i); sum += box_get(&to_goroutine); }
    echo_sum = sum;
    latch_done(&echo_done);
}
TEST(plain_thread_and_goroutine_wake_each_other) {
    EXPECT_EQ_U(csp_id(), 1u);
    pthread_t th;
    pthread_barrier_init(&thread_barrier, NULL, 2);
    REQUIRE_EQ(pthread_create(&th, NULL, plain_thread, NULL), 0);
    pthread_barrier_wait(&thread_barrier);
    latch_init(&echo_done, 1);
    REQUIRE_EQ(csp_go(echo_goroutine, NULL), 0);
    latch_wait(&echo_done);
    pthread_join(th, NULL);
    EXPECT_EQ(echo_sum, 1000L * 999 / 2 + 1000);
}
static uint64_t thread_id_seen = 99;
static void *id_thread(void *arg) { (void)arg; thread_id_seen = csp_id(); return NULL; }
TEST(plain_thread_has_id_zero) {
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, id_thread, NULL), 0);
    pthread_join(th, NULL);
    EXPECT_EQ_U(thread_id_seen, 0u);
}

/* Main blocks before any goroutine exists, woken by a plain thread that used
 * the runtime first. */
static box early;
static void *early_thread(void *arg) {
    (void)arg;
    csp_sleep(20 * CSP_MILLISECOND);
    box_put(&early, 7);
    return NULL;
}
CHILD(main_blocks_first) {
    pthread_t th;
    pthread_create(&th, NULL, early_thread, NULL);
    long v = box_get(&early);
    printf("got %ld id %llu\n", v, (unsigned long long)csp_id());
    fflush(stdout);
    pthread_join(th, NULL);
}
TEST(main_blocks_before_any_goroutine) {
    csp_test_child r = RUN_CHILD(main_blocks_first, 20000);
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "got 7 id 1");
    csp_test_child_free(&r);
}

/* ---- sysmon: hogs and blocking sections do not stop the others ---------------------- */
static int hog_stop;
static latch hog_done;
static void hog(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&hog_stop, __ATOMIC_ACQUIRE)) { __asm__ __volatile__("" ::: "memory"); }
    latch_done(&hog_done);
}
static box ping, pong;
static void ponger(void *arg) {
    long n = *(long *)arg;
    for (long i = 0; i < n; i++) box_put(&pong, box_get(&ping));
}
CHILD(hog_does_not_stop_pingpong) {
    latch_init(&hog_done, 1);
    csp_go(hog, NULL);
    csp_yield();   /* let the hog take the only P */
    long n = 1000;
    csp_go_copy(ponger, &n, sizeof n);
    long sum = 0;
    for (long i = 0; i < n; i++) { box_put(&ping, i); sum += box_get(&pong); }
    __atomic_store_n(&hog_stop, 1, __ATOMIC_RELEASE);
    latch_wait(&hog_done);
    printf("pingpong sum %ld maxprocs %d\n", sum, csp_maxprocs(0));
    fflush(stdout);
}
TEST(spinning_goroutine_does_not_stop_others) {
    csp_test_child r = RUN_CHILD_ENV(hog_does_not_stop_pingpong, 30000, "CSP_MAXPROCS=1");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "pingpong sum 499500 maxprocs 1");
    csp_test_child_free(&r);
}

static int blk_pipe[2];
static void blocked_reader(void *arg) {
    (void)arg;
    char c;
    csp_block_begin();
    ssize_t r = read(blk_pipe[0], &c, 1);   /* blocks the thread, not the others */
    csp_block_end();
    latch_done(&hog_done);
    (void)r;
}
CHILD(blocking_read_does_not_stop_pingpong) {
    latch_init(&hog_done, 1);
    if (pipe(blk_pipe) != 0) exit(9);
    csp_go(blocked_reader, NULL);
    csp_yield();
    long n = 1000;
    csp_go_copy(ponger, &n, sizeof n);
    long sum = 0;
    for (long i = 0; i < n; i++) { box_put(&ping, i); sum += box_get(&pong); }
    if (write(blk_pipe[1], "x", 1) != 1) exit(8);
    latch_wait(&hog_done);
    printf("pingpong sum %ld\n", sum);
    fflush(stdout);
}
TEST(blocking_section_does_not_stop_others) {
    csp_test_child r = RUN_CHILD_ENV(blocking_read_does_not_stop_pingpong, 30000, "CSP_MAXPROCS=1");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "pingpong sum 499500");
    csp_test_child_free(&r);
}

/* A ping-pong pair on one P must not starve a third goroutine (runnext). */
static int third_ran;
static void third(void *arg) { (void)arg; __atomic_store_n(&third_ran, 1, __ATOMIC_RELEASE); }
static void pp_until(void *arg) {
    (void)arg;
    while (box_get(&ping) >= 0) box_put(&pong, 0);
}
CHILD(runnext_fairness) {
    csp_go(pp_until, NULL);
    csp_go(third, NULL);
    long rounds = 0;
    while (!__atomic_load_n(&third_ran, __ATOMIC_ACQUIRE) && rounds < 10000000) {
        box_put(&ping, 1); box_get(&pong); rounds++;
    }
    box_put(&ping, -1);
    printf("third ran: %d after %ld rounds\n", third_ran, rounds);
    fflush(stdout);
}
TEST(pingpong_pair_does_not_starve_the_queue) {
    csp_test_child r = RUN_CHILD_ENV(runnext_fairness, 60000, "CSP_MAXPROCS=1");
    EXPECT_CHILD_EXIT(r, 0);
    EXPECT_CHILD_OUTPUT_HAS(r, "third ran: 1");
    csp_test_child_free(&r);
}

/* ---- deadlock detection ---------------------------------------------------------- */
static box never;
CHILD(deadlock_main_alone) { box_get(&never); }
static void wait_never(void *arg) { (void)arg; box_get(&never); }
CHILD(deadlock_with_goroutines) {
    csp_go_ex(wait_never, NULL, &(csp_go_opts){ 0, "stuck-worker" });
    csp_go(wait_never, NULL);
    latch l;
    latch_init(&l, 1);
    latch_wait(&l);
}
static latch gor_latch;
static void wait_and_done(void *arg) { (void)arg; box_get(&never); latch_done(&gor_latch); }
CHILD(deadlock_main_waits_for_stuck_goroutine) {
    latch_init(&gor_latch, 1);
    csp_go(wait_and_done, NULL);
    latch_wait(&gor_latch);
}
TEST(deadlock_is_detected) {
    static const struct { const char *child; const char *has[3]; } cases[] = {
        { "deadlock_main_alone", { "goroutine 1 \"main\" [box]", NULL, NULL } },
        { "deadlock_with_goroutines", { "goroutine 1 \"main\" [latch]", "\"stuck-worker\" [box]", NULL } },
        { "deadlock_main_waits_for_stuck_goroutine", { "[latch]", "[box]", NULL } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 2);
        EXPECT_CHILD_OUTPUT_HAS(r, "fatal error: all goroutines are asleep - deadlock!");
        for (int k = 0; k < 3 && cases[i].has[k]; k++) EXPECT_CHILD_OUTPUT_HAS(r, cases[i].has[k]);
        csp_test_child_free(&r);
    }
}
/* ...and not while something could still wake someone. */
static box later;
static void sleeper_then_put(void *arg) { (void)arg; csp_sleep(100 * CSP_MILLISECOND); box_put(&later, 1); }
CHILD(no_deadlock_timer) { csp_go(sleeper_then_put, NULL); printf("woke %ld\n", box_get(&later)); fflush(stdout); }
static void section_then_put(void *arg) {
    (void)arg;
    csp_block_begin();
    usleep(100000);
    csp_block_end();
    box_put(&later, 2);
}
CHILD(no_deadlock_blocking_section) { csp_go(section_then_put, NULL); printf("woke %ld\n", box_get(&later)); fflush(stdout); }
static void *thread_then_put(void *arg) { (void)arg; csp_id(); usleep(100000); box_put(&later, 3); return NULL; }
CHILD(no_deadlock_plain_thread) {
    pthread_t th;
    pthread_create(&th, NULL, thread_then_put, NULL);
    printf("woke %ld\n", box_get(&later));
    fflush(stdout);
    pthread_join(th, NULL);
}
/* The thread's first runtime call is a buffered send that needs nobody (the
 * lock-only fast path): it must count as a plain thread from then on, or
 * main's wait for its second send (after the grace) looks like a deadlock. */
static csp_chan *buffered_later;
static int first_sent;   /* atomic */
static void *thread_buffered_then_send(void *arg) {
    (void)arg;
    int v = 4;
    csp_send(buffered_later, &v);
    __atomic_store_n(&first_sent, 1, __ATOMIC_RELEASE);
    usleep(300000);
    v = 5;
    csp_send(buffered_later, &v);
    return NULL;
}
CHILD(no_deadlock_plain_thread_buffered) {
    buffered_later = csp_chan_make(sizeof(int), 4);
    pthread_t th;
    pthread_create(&th, NULL, thread_buffered_then_send, NULL);
    while (!__atomic_load_n(&first_sent, __ATOMIC_ACQUIRE)) sched_yield();   /* no runtime call before it */
    int a = 0, b = 0;
    csp_recv(buffered_later, &a);
    csp_recv(buffered_later, &b);
    printf("woke %d\n", a * 10 + b);
    fflush(stdout);
    pthread_join(th, NULL);
}
TEST(no_deadlock_while_something_can_wake) {
    static const struct { const char *child; const char *out; } cases[] = {
        { "no_deadlock_timer", "woke 1" },
        { "no_deadlock_blocking_section", "woke 2" },
        { "no_deadlock_plain_thread", "woke 3" },
        { "no_deadlock_plain_thread_buffered", "woke 45" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csp_test_child r = csp_test_run_child_(cases[i].child, NULL, 20000, (const char *)NULL);
        EXPECT_CHILD_EXIT(r, 0);
        EXPECT_CHILD_OUTPUT_HAS(r, cases[i].out);
        EXPECT_CHILD_OUTPUT_LACKS(r, "deadlock");
        csp_test_child_free(&r);
    }
}

/* ---- dump, panic, bad input ---------------------------------------------------------- */
/* csp_dump's text, through a temporary file. */
static ssize_t dump_to(char *buf, size_t size) {
    char path[] = "/tmp/csp_dump_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    csp_dump(fd);
    ssize_t n = pread(fd, buf, size - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n;
}
static gate dump_gate;
static latch dump_done;
static void dump_worker(void *arg) { (void)arg; gate_wait(&dump_gate); latch_done(&dump_done); }
TEST(dump_lists_goroutines) {
    latch_init(&dump_done, 2);
    REQUIRE_EQ(csp_go_ex(dump_worker, NULL, &(csp_go_opts){ 0, "dumpee" }), 0);
    REQUIRE_EQ(csp_go(dump_worker, NULL), 0);
    while (gate_waiting(&dump_gate) < 2) csp_yield();
    char buf[8192];
    REQUIRE(dump_to(buf, sizeof buf) > 0);
    EXPECT(strstr(buf, "goroutine 1 \"main\" [running]") != NULL, "dump: %s", buf);
    EXPECT(strstr(buf, "\"dumpee\" [gate") != NULL, "dump: %s", buf);
    gate_open(&dump_gate);
    latch_wait(&dump_done);
}
/* Ended goroutines' descriptors are reused by later spawns (a P's cache):
 * a reused one must carry nothing of its last life into the dump or its id. */
#define NREUSE 40
static uint64_t reuse_ids[2 * NREUSE];
static int reuse_idx[2 * NREUSE];
static latch reuse_done;
static void reuse_gone(void *arg) { reuse_ids[*(int *)arg] = csp_id(); latch_done(&reuse_done); }
static gate reuse_gates[3], *reuse_gate;
static void reuse_waiter(void *arg) { reuse_ids[*(int *)arg] = csp_id(); gate_wait(reuse_gate); latch_done(&reuse_done); }
TEST(reused_goroutines_start_clean) {
    int base = csp_num_goroutines();
    for (int round = 0; round < 3; round++) {
        latch_init(&reuse_done, NREUSE);
        for (int k = 0; k < NREUSE; k++) {
            char name[64];
            snprintf(name, sizeof name, "gone-%d-a-rather-long-name", k);
            reuse_idx[k] = k;
            REQUIRE_EQ(csp_go_ex(reuse_gone, &reuse_idx[k], &(csp_go_opts){ 0, name }), 0);
            csp_yield();   /* most end before the next spawn: their descriptors get reused */
        }
        latch_wait(&reuse_done);
        /* Each has counted down but may still be on its way out (on the
         * other P: a dump then shows it running, under its name). */
        while (csp_num_goroutines() > base) csp_yield();
        reuse_gate = &reuse_gates[round];
        latch_init(&reuse_done, NREUSE);
        for (int k = NREUSE; k < 2 * NREUSE; k++) {
            REQUIRE_EQ(csp_go_copy(reuse_waiter, &k, sizeof k), 0);
        }
        while (gate_waiting(reuse_gate) < NREUSE) csp_yield();
        static char buf[65536];
        REQUIRE(dump_to(buf, sizeof buf) > 0);
        EXPECT(strstr(buf, "gone-") == NULL, "round %d: a reused goroutine kept its old name: %s", round, buf);
        int lines = 0;
        for (char *q = buf; (q = strstr(q, "[gate")) != NULL; q++) lines++;
        EXPECT_EQ(lines, NREUSE, "round %d: goroutines waiting on the gate in the dump", round);
        for (int k = 0; k < 2 * NREUSE; k++)
            for (int j = 0; j < k; j++) EXPECT_NE_U(reuse_ids[k], reuse_ids[j], "round %d: ids of %d and %d", round, j, k);
        gate_open(reuse_gate);
        latch_wait(&reuse_done);
    }
}
CHILD(go_nil) { csp_go(NULL, NULL); }
static void named_panicker(void *arg) { (void)arg; csp_panic("boom %d", 42); }
CHILD(panic_in_goroutine) {
    csp_go_ex(named_panicker, NULL, &(csp_go_opts){ 0, "kaboom" });
    latch l; latch_init(&l, 1); latch_wait(&l);
}
static void *thread_panics(void *arg) { (void)arg; printf("buffered before the panic\n"); csp_panic("from a thread"); return NULL; }
CHILD(panic_in_thread) { pthread_t th; pthread_create(&th, NULL, thread_panics, NULL); pthread_join(th, NULL); }
TEST(panics) {
    csp_test_child r = RUN_CHILD(go_nil, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: go of nil func value");
    EXPECT_CHILD_OUTPUT_HAS(r, "goroutine 1");
    csp_test_child_free(&r);
    r = RUN_CHILD(panic_in_goroutine, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: boom 42");
    EXPECT_CHILD_OUTPUT_HAS(r, "\"kaboom\"");
    csp_test_child_free(&r);
    r = RUN_CHILD(panic_in_thread, 20000);
    EXPECT_CHILD_EXIT(r, 2);
    EXPECT_CHILD_OUTPUT_HAS(r, "buffered before the panic");
    EXPECT_CHILD_OUTPUT_HAS(r, "panic: from a thread");
    EXPECT_CHILD_OUTPUT_HAS(r, "thread ");
    csp_test_child_free(&r);
}
static latch oom_done;
static void oom_ok(void *arg) { (void)arg; latch_done(&oom_done); }
TEST(absurd_stack_is_enomem_and_runtime_survives) {
    csp_go_opts o = { (size_t)1 << 60, "huge" };
    EXPECT_EQ(csp_go_ex(oom_ok, NULL, &o), -ENOMEM);
    o.stack_size = (size_t)-1;
    EXPECT_EQ(csp_go_ex(oom_ok, NULL, &o), -ENOMEM);
    latch_init(&oom_done, 1);
    EXPECT_EQ(csp_go(oom_ok, NULL), 0);
    latch_wait(&oom_done);
}
static size_t used_stack;
static latch big_done;
static void big_stack_user(void *arg) {
    size_t n = *(size_t *)arg;
    char *buf = (char *)alloca(n);
    memset(buf, 1, n);
    used_stack = n;
    latch_done(&big_done);
}
TEST(goroutine_gets_the_stack_it_asked_for) {
    latch_init(&big_done, 1);
    size_t want = 4u << 20;
    struct { size_t n; } a = { want - CSP_STACK_RESERVE - 16384 };
    /* csp_go_ex has no copy: pass a static. */
    static size_t n;
    n = a.n;
    REQUIRE_EQ(csp_go_ex(big_stack_user, &n, &(csp_go_opts){ want, "big" }), 0);
    latch_wait(&big_done);
    EXPECT_EQ_U(used_stack, n);
}

/* ---- sleep ------------------------------------------------------------------------- */
TEST(sleep_lasts_at_least_its_duration) {
    static const int64_t ds[] = { 1 * CSP_MILLISECOND, 5 * CSP_MILLISECOND, 20 * CSP_MILLISECOND };
    for (size_t i = 0; i < 3; i++) {
        int64_t t0 = csp_now();
        csp_sleep(ds[i]);
        EXPECT_GE(csp_now() - t0, ds[i], "sleep(%lld)", (long long)ds[i]);
    }
    int64_t t0 = csp_now();
    csp_sleep(0);
    csp_sleep(-5);
    EXPECT_LT(csp_now() - t0, 100 * CSP_MILLISECOND, "non-positive sleeps only yield");
}
static latch sl_done;
static int64_t sl_late[16];
static void sleepy(void *arg) {
    int k = *(int *)arg;
    int64_t d = (k % 4 + 1) * 3 * CSP_MILLISECOND;
    int64_t t0 = csp_now();
    csp_sleep(d);
    sl_late[k] = csp_now() - t0 - d;
    latch_done(&sl_done);
}
TEST(many_sleepers_wake_on_time) {
    latch_init(&sl_done, 16);
    for (int k = 0; k < 16; k++) REQUIRE_EQ(csp_go_copy(sleepy, &k, sizeof k), 0);
    latch_wait(&sl_done);
    for (int k = 0; k < 16; k++) EXPECT_GE(sl_late[k], 0, "sleeper %d woke early", k);
}

/* ---- sysmon's scavenger gives free stacks' pages back in the background ------------ */
static void touch_and_park(void *arg) {
    volatile char buf[12000];
    memset((char *)buf, 1, sizeof buf);   /* a few resident stack pages */
    gate_wait((gate *)arg);
}
TEST(scavenger_gives_free_stack_pages_back) {
    static gate g;
    long n = CSP__STK_WARM + 2000;
    csp_waitgroup wg = {0};
    for (long i = 0; i < n; i++) REQUIRE_EQ(csp_wg_go(&wg, touch_and_park, &g), 0);
    while (gate_waiting(&g) < n) csp_sleep(100 * CSP_MICROSECOND);
    gate_open(&g);
    csp_wg_wait(&wg);
    /* Exits gave no pages back themselves; sysmon does it soon after
     * (bounded poll of the allocator's state: nothing to wait on). */
    size_t released = 0;
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&csp__stk.lock);
        released = csp__stk.released;
        pthread_mutex_unlock(&csp__stk.lock);
        if (released >= 1000) break;
        csp_sleep(CSP_MILLISECOND);
    }
    EXPECT_GE_U(released, 1000u, "free stacks beyond the warm %d given back by sysmon", CSP__STK_WARM);
}

/* ---- stack high-water in csp_dump ----------------------------------------------------- */
static gate hw_gate;
static CSP__NOINLINE void hw_deep(void *arg) {
    volatile char buf[100 * 1024];   /* about 100 KiB of this stack, touched */
    memset((char *)buf, 7, sizeof buf);
    gate_wait((gate *)arg);
    __asm__ __volatile__("" :: "r"(buf) : "memory");
}
TEST(dump_shows_stack_high_water) {
    /* A non-default size gets a fresh mapping: the count is exact. */
    REQUIRE_EQ(csp_go_ex(hw_deep, &hw_gate, &(csp_go_opts){ 384 * 1024, "deep" }), 0);
    while (gate_waiting(&hw_gate) < 1) csp_yield();
    char buf[8192];
    REQUIRE(dump_to(buf, sizeof buf) > 0);
    const char *line = strstr(buf, "\"deep\"");
    REQUIRE(line != NULL, "dump: %s", buf);
    long used = -1, total = -1;
    const char *st = strstr(line, " stack ");
    REQUIRE(st != NULL, "no high-water on: %s", line);
    REQUIRE_EQ(sscanf(st, " stack %ld KiB of %ld KiB used", &used, &total), 2, "%s", st);
    EXPECT_EQ(total, 384L);
    EXPECT_GE(used, 100L, "touched 100 KiB: %s", line);
    EXPECT_LE(used, 100L + 24, "touched 100 KiB (plus frames, the descriptor and a page): %s", line);
    gate_open(&hw_gate);
}
