/* parked.c -- the program tests/gdb/run.sh debugs with tools/csp-gdb.py.
 *
 * Starts 100 goroutines, 20 of each kind, each parked in a function of its
 * own (park_in_recv, park_in_mutex, park_in_sleep, park_in_wg, park_in_select)
 * plus one goroutine that computes forever on another thread (spin_on_cpu),
 * waits until csp_dump reports all 100 waiting, then calls all_parked(),
 * where gdb stops. Run alone, it prints "all parked" and exits 0.
 * first_id[k] holds the id of the first goroutine of kind k (for gdb's
 * `eval "goroutine %d bt", first_id[k]`). */
#define CSP_IMPLEMENTATION
#include "csp.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

/* Keep each park_in_* a real frame of its own: no inlining, no cloned
 * ".constprop" copies, no tail call into the library (the volatile sink
 * after the call). */
#if defined(__clang__)
#define PARK_FN __attribute__((noinline, used))
#else
#define PARK_FN __attribute__((noinline, noclone, used))
#endif

enum { KIND_RECV, KIND_MUTEX, KIND_SLEEP, KIND_WG, KIND_SELECT, NKIND, PER_KIND = 20 };
static const char *const kind_name[NKIND] = { "recv", "mutex", "sleep", "wg", "select" };

volatile uint64_t first_id[NKIND];
volatile int sink;
static csp_chan *never, *never2;
static csp_mutex held;
static csp_waitgroup pending;
static int spinning;   /* atomic: the spinner runs */

PARK_FN void park_in_recv(void) {
    int v = 0;
    csp_recv(never, &v);
    sink += v;
}

PARK_FN void park_in_mutex(void) {
    csp_mutex_lock(&held);
    sink++;
    csp_mutex_unlock(&held);
}

PARK_FN void park_in_sleep(void) {
    csp_sleep(3600 * CSP_SECOND);
    sink++;
}

PARK_FN void park_in_wg(void) {
    csp_wg_wait(&pending);
    sink++;
}

PARK_FN void park_in_select(void) {
    int a = 0, b = 0;
    csp_case c[] = { CSP_RECV(never, &a), CSP_RECV(never2, &b) };
    sink += csp_select(c, 2, CSP_FOREVER);
}

PARK_FN void spin_on_cpu(void) {
    __atomic_store_n(&spinning, 1, __ATOMIC_RELEASE);
    for (;;) sink++;   /* computes forever; the process ends around it */
}

/* gdb's breakpoint. */
PARK_FN void all_parked(void) {
    __asm__ __volatile__("" ::: "memory");
}

typedef struct { int kind, index; } job;

static void body(void *p) {
    job j = *(job *)p;
    if (j.index == 0) first_id[j.kind] = csp_id();
    switch (j.kind) {
    case KIND_RECV: park_in_recv(); break;
    case KIND_MUTEX: park_in_mutex(); break;
    case KIND_SLEEP: park_in_sleep(); break;
    case KIND_WG: park_in_wg(); break;
    default: park_in_select(); break;
    }
}

static void spinner(void *p) {
    (void)p;
    spin_on_cpu();
}

/* How many of our goroutines csp_dump shows waiting (its lines read
 * `goroutine N "recv-3" [chan receive...`). */
static int count_waiting(void) {
    int fd = memfd_create("csp-dump", 0);
    if (fd < 0) { perror("memfd_create"); exit(3); }
    csp_dump(fd);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    if (!text || pread(fd, text, (size_t)len, 0) != len) { perror("pread"); exit(3); }
    close(fd);
    static const char *const reason[NKIND] = { "chan receive", "sync.Mutex.Lock", "sleep",
                                               "sync.WaitGroup.Wait", "select" };
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        for (int k = 0; k < NKIND; k++) {
            char want[64];
            snprintf(want, sizeof want, "\"%s-", kind_name[k]);
            char *at = strstr(line, want), *br = strchr(line, '[');
            if (at && br && strncmp(br + 1, reason[k], strlen(reason[k])) == 0) n++;
        }
    free(text);
    return n;
}

int main(void) {
    never = csp_chan_make(sizeof(int), 0);
    never2 = csp_chan_make(sizeof(int), 0);
    csp_mutex_lock(&held);
    csp_wg_add(&pending, 1);
    static job jobs[NKIND * PER_KIND];
    for (int k = 0; k < NKIND; k++)
        for (int i = 0; i < PER_KIND; i++) {
            char name[32];
            snprintf(name, sizeof name, "%s-%d", kind_name[k], i);
            job *j = &jobs[k * PER_KIND + i];
            j->kind = k;
            j->index = i;
            csp_go_opts o = { 0, name };
            if (csp_go_ex(body, j, &o) != 0) { fprintf(stderr, "csp_go_ex failed\n"); return 3; }
        }
    csp_go_opts so = { 0, "spinner" };
    if (csp_go_ex(spinner, NULL, &so) != 0) { fprintf(stderr, "csp_go_ex failed\n"); return 3; }
    /* Polls with yields (not sleeps): done once every goroutine is parked. */
    int64_t deadline = csp_now() + 10 * CSP_SECOND;
    while (count_waiting() < NKIND * PER_KIND || !__atomic_load_n(&spinning, __ATOMIC_ACQUIRE)) {
        if (csp_now() > deadline) { fprintf(stderr, "parked: goroutines did not park in 10 s\n"); return 3; }
        csp_yield();
    }
    all_parked();
    printf("all parked\n");
    return 0;
}
