/* csp.h -- Go's concurrency model for C, in one header.
 *
 * >>manual ==================================================================
 *
 * WHAT IT IS
 *   Goroutines on an M:N work-stealing scheduler, channels, select, context,
 *   timers, sync primitives and a network poller, for C11 programs on Linux
 *   (x86-64 and AArch64), with nothing beyond libc and pthreads.
 *
 *   Copy this file into your project. In exactly ONE .c file write
 *
 *       #define CSP_IMPLEMENTATION
 *       #include "csp.h"
 *
 *   before any system header (or compile that file with -D_GNU_SOURCE: the
 *   implementation needs Linux declarations). Every other file includes csp.h
 *   plainly. Link with -pthread.
 *
 * QUICK START
 *
 *     #define CSP_IMPLEMENTATION
 *     #include "csp.h"
 *     #include <stdio.h>
 *
 *     static csp_chan *results;                      // chan int
 *     static void square(void *arg) {                // go square(i)
 *         int n = *(int *)arg;                       // its own copy
 *         csp_send(results, &(int){ n * n });        // results <- n*n
 *     }
 *     int main(void) {
 *         results = csp_chan_make(sizeof(int), 0);   // make(chan int)
 *         for (int i = 1; i <= 10; i++) csp_go_copy(square, &i, sizeof i);
 *         int sum = 0, v;
 *         for (int i = 0; i < 10; i++) { csp_recv(results, &v); sum += v; }
 *         printf("%d\n", sum);                       // 385
 *         csp_chan_release(results);
 *     }
 *
 *   cc -std=c11 -pthread quick.c. No init call: the runtime starts on first
 *   use; main is goroutine 1; when main returns the process exits, as in Go.
 *
 * WHAT IS HERE
 *   goroutines (csp_go*), the M:N scheduler (csp_maxprocs, csp_yield,
 *   csp_block_begin/end), channels and select, timers (csp_sleep, Timer,
 *   Ticker, After, AfterFunc), context, sync (Mutex, RWMutex, WaitGroup,
 *   Once, Cond), the weighted semaphore and errgroup, diagnostics
 *   (csp_panic, csp_dump, the deadlock detector, stack overflow reports),
 *   the network poller (csp_fd_wait, csp_read, csp_write, csp_accept,
 *   csp_connect, csp_fd_close), goroutines locked to their thread
 *   (csp_lock_os_thread) and signals on channels (csp_signal_notify).
 *
 * BUILD MACROS (define before including)
 *   CSP_IMPLEMENTATION   compile the implementation in this translation unit.
 *   CSP_STATIC           implies CSP_IMPLEMENTATION and makes every function
 *                        static (a single-TU program); warning-free even when
 *                        nothing is used.
 *   CSP_API              decoration of every public function (default extern).
 *   CSP_MALLOC(n), CSP_FREE(p), CSP_CALLOC(n, s)
 *                        allocator hooks (default malloc/free/calloc).
 *                        Channels (with their buffer), timers, tickers,
 *                        contexts, semaphores and errgroups are one
 *                        CSP_CALLOC each, 64 bytes over their size rounded
 *                        up to 64: each gets cache lines of its own, so two
 *                        threads' objects never share one.
 *   CSP_DEFAULT_STACK_SIZE
 *                        bytes reserved for a goroutine stack (default 256 KiB,
 *                        at least 64 KiB). Only touched pages cost memory.
 *   CSP_VALGRIND         register goroutine stacks with Valgrind.
 *
 * STACKS
 *   Each goroutine stack is a reservation of virtual memory carved from large
 *   arenas (a million stacks do not need a million mappings). Below every
 *   stack lies a guard zone of 64 KiB of address space: a fault there is
 *   reported as "goroutine N: stack overflow (stack size S)" and the process
 *   exits with status 2. The guard is a kernel guard region
 *   (MADV_GUARD_INSTALL, Linux 6.13+) where that works, else mprotect while
 *   the mapping budget allows, else a canary checked at every switch. Build
 *   your code with -fstack-clash-protection so that a frame larger than a
 *   page cannot jump the guard. The descriptor of a goroutine lives at the
 *   top of its own stack: the usable stack is the requested size less
 *   CSP_STACK_RESERVE bytes. Stacks of ended goroutines are reused (a
 *   processor keeps up to 32 ready for its next spawns, a thread up to 64
 *   free ones; beyond that they go to a global list whose pages are given
 *   back once unused for about a second); a fresh stack has its top page
 *   mapped ahead, in batches (MADV_POPULATE_WRITE), so at most 32 pages of
 *   RSS wait for goroutines not spawned yet.
 *
 * THE RULES A USER MUST KNOW
 *   - Ownership: channels and contexts are reference counted (the creator
 *     owns one reference: *_release; keep one longer with *_retain); timers,
 *     tickers, semaphores and errgroups have one owner (*_release or *_free).
 *     Accessors (csp_timer_chan, csp_ctx_done, ...) return borrowed pointers.
 *     A completed send/receive leaves its partner no longer touching the
 *     channel, and a woken waiter's sync object is no longer touched by its
 *     waker: objects may live on the stack (POSIX's rule for mutexes).
 *   - Blocking: every blocking call parks the calling goroutine (its thread
 *     runs other goroutines) or, on a plain thread, sleeps in the kernel. A
 *     call the runtime cannot see (read(2) of a file, a blocking library)
 *     belongs inside csp_block_begin()/csp_block_end(); a goroutine that
 *     computes for long without runtime calls has its processor handed to
 *     another thread after ~10 ms (there is no signal-based preemption) and
 *     gets one back at its next call that may block or wake someone (a
 *     buffered send or receive that needs no partner is neither).
 *   - Thread-locals: a goroutine may resume on another OS thread after any
 *     call that can block. Do not keep the address of a thread-local (or of
 *     errno) across such a call; read errors from return values.
 *   - Plain threads count for deadlock detection from their first call into
 *     the runtime (call csp_id() at the start of a thread that will use the
 *     runtime later); a suspected deadlock must hold for 100 ms before it is
 *     reported (also in deterministic mode, in real time).
 *   - fork() after the runtime started: the child may only exec or _exit.
 *   - Floating-point control state (rounding mode, x87 precision, AArch64
 *     FPCR) belongs to the goroutine: it is saved and restored at switches.
 *   - Panics (Go's words) and fatal errors print to stderr and exit with
 *     status 2.
 *
 * ENVIRONMENT
 *   CSP_MAXPROCS=n       processors (csp_maxprocs' default).
 *   CSP_SEED=n           deterministic mode: the whole program on one thread
 *                        and one processor, every scheduling choice (next
 *                        goroutine, select's order, timer ties) drawn from a
 *                        generator seeded with n. Same seed, program and
 *                        input: same interleaving and output. Deadlocks are
 *                        reported after the usual 100 ms (real time). Plain
 *                        threads still run on their own (and make a program
 *                        non-deterministic); a goroutine blocked outside the
 *                        runtime (pthread_join, a plain read) stops all the
 *                        others, and the timers, in this mode: there is no
 *                        second thread and no sysmon to take over.
 *   CSP_SEED_VIRTUAL_TIME=1
 *                        with CSP_SEED: csp_now() is virtual; it jumps to the
 *                        next timer whenever no goroutine can run, so sleeps
 *                        and timeouts complete in order at once.
 *   The test runner prints the seed of a failing test; tests/fuzz_sched.sh
 *   (make fuzz-sched) runs a test under many seeds.
 *
 * PLATFORMS
 *   Linux x86-64 (SysV ABI) and Linux AArch64 (AAPCS64), gcc or clang, C11 or
 *   later, and C++11 or later. AddressSanitizer, ThreadSanitizer and Valgrind
 *   are told about every switch.
 *
 * LICENSE: MIT, at the end of this file.
 */
#ifndef CSP_H
#define CSP_H

#if defined(CSP_STATIC) && !defined(CSP_IMPLEMENTATION)
#define CSP_IMPLEMENTATION
#endif

/* The implementation needs GNU/Linux declarations; they must be requested
 * before the first system header is read. */
#if defined(CSP_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#if defined(_FEATURES_H) || defined(_STDIO_H) || defined(_STDLIB_H)
#error "csp.h: the implementation (CSP_IMPLEMENTATION) needs _GNU_SOURCE: include csp.h before any system header, or compile with -D_GNU_SOURCE"
#endif
#define _GNU_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>      /* ssize_t */
/* struct sockaddr and socklen_t for the poller's declarations, without
 * <sys/socket.h> (which would claim names like send, shutdown and accept
 * in every file that includes csp.h). The guard is glibc's own. */
struct sockaddr;
#ifndef __socklen_t_defined
typedef __socklen_t socklen_t;
#define __socklen_t_defined
#endif

#ifndef CSP_API
#ifdef CSP_STATIC
#define CSP_API static __attribute__((unused))
#else
#define CSP_API extern
#endif
#endif

#ifdef __cplusplus
#define CSP_NORETURN [[noreturn]]
extern "C" {
#else
#define CSP_NORETURN _Noreturn
#endif

/* >>version ---------------------------------------------------------------- */
#define CSP_VERSION_MAJOR 0
#define CSP_VERSION_MINOR 1
#define CSP_VERSION_PATCH 0
#define CSP_VERSION "0.1.0"

/* >>time ------------------------------------------------------------------- */
#define CSP_NANOSECOND  ((int64_t)1)
#define CSP_MICROSECOND ((int64_t)1000)
#define CSP_MILLISECOND ((int64_t)1000000)
#define CSP_SECOND      ((int64_t)1000000000)
#define CSP_FOREVER     INT64_MAX   /* "no timeout": never fires, never expires */

/* csp_now: the monotonic clock in nanoseconds (CLOCK_MONOTONIC). Never
 * blocks; thread-safe; callable before anything else. */
CSP_API int64_t csp_now(void);

/* csp_sleep: pause the calling goroutine for at least `ns` nanoseconds
 * (time.Sleep). Parks the goroutine (its thread runs others meanwhile); a
 * plain thread sleeps in the kernel. ns <= 0 yields (csp_yield). */
CSP_API void csp_sleep(int64_t ns);

typedef struct csp_chan csp_chan;   /* a NULL csp_chan * is Go's nil channel */
typedef void (*csp_fn)(void *arg);

/* csp_timer: time.Timer. csp_timer_new(ns) fires once, ns from now (<= 0:
 * at once; CSP_FOREVER: never), sending the fire instant (int64_t, csp_now()
 * when it fired, never before the deadline) on its channel of capacity 1.
 * NULL when out of memory. One owner, who ends it with csp_timer_release.
 * A pending timer counts as something that can still wake the process
 * (no deadlock is reported while one is pending); a stopped one does not. */
typedef struct csp_timer csp_timer;
CSP_API csp_timer *csp_timer_new(int64_t ns);
/* The timer's channel (borrowed: valid while the timer lives). NULL for
 * csp_after_func timers. */
CSP_API csp_chan *csp_timer_chan(csp_timer *t);
/* Stop: true if it stopped a pending timer; false if it had already fired
 * (its value stays in the channel) or was stopped. */
CSP_API bool csp_timer_stop(csp_timer *t);
/* Reset: re-arm ns from now; returns true if the timer had been pending
 * (Go 1.19: the channel is not drained). */
CSP_API bool csp_timer_reset(csp_timer *t, int64_t ns);
/* Release: stop it and free it (a running csp_after_func fn finishes). */
CSP_API void csp_timer_release(csp_timer *t);

/* csp_ticker: time.Ticker: sends the instant every period_ns on a channel
 * of capacity 1, dropping ticks for slow readers. period_ns <= 0 panics
 * "non-positive interval for NewTicker". */
typedef struct csp_ticker csp_ticker;
CSP_API csp_ticker *csp_ticker_new(int64_t period_ns);
CSP_API csp_chan *csp_ticker_chan(csp_ticker *t);
/* Reset: new period from now; period_ns <= 0 panics. */
CSP_API void csp_ticker_reset(csp_ticker *t, int64_t period_ns);
/* Stop: no more ticks (a tick already in the channel stays). */
CSP_API void csp_ticker_stop(csp_ticker *t);
CSP_API void csp_ticker_release(csp_ticker *t);

/* csp_after: time.After: a channel that receives the instant ns from now.
 * The caller owns the returned channel (csp_chan_release); the timer behind
 * it cleans up after itself. NULL when out of memory. */
CSP_API csp_chan *csp_after(int64_t ns);
/* csp_after_func: time.AfterFunc: fn(arg) runs in a goroutine of its own
 * once ns have passed. Stop/reset/release as a timer; its channel is NULL.
 * With ns <= 0 it is due: the goroutine starts at once (a later stop
 * returns false). */
CSP_API csp_timer *csp_after_func(int64_t ns, csp_fn fn, void *arg);

/* >>goroutines ------------------------------------------------------------- */

/* csp_go: start fn(arg) in a new goroutine (Go's `go fn(arg)`). Returns 0, or
 * -ENOMEM when no stack can be had (the runtime stays usable). Never blocks.
 * fn == NULL panics. Callable from any goroutine or plain thread. */
CSP_API int csp_go(csp_fn fn, void *arg);

/* csp_go_copy: like csp_go, but first copies `size` bytes at `arg` into the
 * new goroutine (on its own stack, aligned for any type); fn receives a
 * pointer to that copy. The copy is taken before csp_go_copy returns: the
 * C answer to Go's loop-variable capture bug. size larger than a quarter of
 * the stack: -ENOMEM. */
CSP_API int csp_go_copy(csp_fn fn, const void *arg, size_t size);

typedef struct csp_go_opts {
    size_t      stack_size;   /* 0 = default; rounded up to whole pages, at least 16 KiB */
    const char *name;         /* shown by csp_dump and in panics; copied (first 63 bytes); may be NULL */
} csp_go_opts;

/* csp_go_ex: csp_go with options (NULL: defaults). A stack size no address
 * space could hold fails with -ENOMEM. */
CSP_API int csp_go_ex(csp_fn fn, void *arg, const csp_go_opts *opts);

/* csp_yield: let other goroutines run (runtime.Gosched); the caller stays
 * runnable. On a plain thread: sched_yield(). */
CSP_API void csp_yield(void);

/* csp_id: the current goroutine's id (main is 1); 0 on a plain thread. */
CSP_API uint64_t csp_id(void);

/* csp_maxprocs: runtime.GOMAXPROCS. n > 0 sets the number of processors
 * (clamped to 1024) and returns the previous value; n <= 0 only queries.
 * Default: csp_num_cpu(), or the environment variable CSP_MAXPROCS (a
 * positive integer; larger than 1024 is clamped; anything else ignored). */
CSP_API int csp_maxprocs(int n);

/* csp_num_cpu: CPUs this process may run on (runtime.NumCPU). */
CSP_API int csp_num_cpu(void);

/* csp_num_goroutines: goroutines that exist now, main included
 * (runtime.NumGoroutine). A new goroutine counts from the moment csp_go
 * returns. */
CSP_API int csp_num_goroutines(void);

/* csp_block_begin / csp_block_end: bracket a call that blocks in a way the
 * runtime cannot see (file I/O, a blocking C library): the processor is
 * handed to another thread after ~20 us, so the other goroutines keep
 * running (Go's entersyscall/exitsyscall). Sections nest. On a plain thread
 * they do nothing. csp calls inside a section are allowed (the runtime takes
 * a processor back for them). */
CSP_API void csp_block_begin(void);
CSP_API void csp_block_end(void);

/* csp_lock_os_thread: runtime.LockOSThread. The calling goroutine runs only
 * on the OS thread it runs on now, and no other goroutine runs there, until
 * it has called csp_unlock_os_thread as many times (calls nest, as in Go
 * 1.10+). When it blocks, its thread sleeps (its processor goes to another
 * thread); when it is woken, the thread that woke it hands it a processor.
 * So pthread_self() and the thread-locals of a thread-affine C library
 * (OpenGL contexts, errno-like state, per-thread handles) stay the same
 * across blocking calls. A goroutine that ends while locked takes its
 * thread down with it (Go's rule: the thread may be in a state nobody else
 * should inherit); the runtime starts another when it needs one. On the
 * main thread, which cannot end, that thread sleeps for good instead.
 * Hand-offs cost two thread wake-ups per block: lock only what needs it.
 * On a plain thread both calls only count (it is its own thread). */
CSP_API void csp_lock_os_thread(void);

/* csp_unlock_os_thread: undo one csp_lock_os_thread; the goroutine is free
 * to move once the count is back to zero. More unlocks than locks do
 * nothing (as in Go). */
CSP_API void csp_unlock_os_thread(void);

/* csp_panic: print "panic: " + the formatted message and a line naming the
 * goroutine (id and name) or plain thread (tid) that panicked to stderr,
 * after flushing stdio; exit status 2. */
CSP_NORETURN CSP_API void csp_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* csp_dump: write every goroutine (id, name, state, wait reason, how long it
 * has waited, and how deep its stack has been used: "stack 12 KiB of 256
 * KiB used", from the resident pages; a stack reused from the cache may
 * show its earlier owners' depth too, so size stack_size from the largest
 * values) to fd. Does not stop the world: a snapshot under a lock. */
CSP_API void csp_dump(int fd);

/* >>channels --------------------------------------------------------------- */

/* csp_chan_make: a channel of elements of elem_size bytes (0: chan struct{})
 * with a buffer of cap elements (0: unbuffered). The caller owns one
 * reference (csp_chan_release). NULL when out of memory, or when
 * elem_size * cap overflows. Thread-safe, never blocks. */
CSP_API csp_chan *csp_chan_make(size_t elem_size, size_t cap);
/* csp_chan_retain: take another reference; returns c. NULL: NULL. */
CSP_API csp_chan *csp_chan_retain(csp_chan *c);
/* csp_chan_release: drop a reference; the last one frees the channel.
 * References may be dropped in any order, by any thread. NULL: nothing. */
CSP_API void csp_chan_release(csp_chan *c);

/* csp_send: ch <- *elem. Blocks (parks the goroutine, or sleeps a plain
 * thread) until a receiver takes the value or there is room in the buffer.
 * An unbuffered send hands the value straight to a waiting receiver, which
 * runs next. c == NULL blocks forever ("chan send (nil chan)"). A closed
 * channel panics "send on closed channel", also for a sender that was
 * blocked when the channel was closed. */
CSP_API void csp_send(csp_chan *c, const void *elem);
/* csp_recv: v, ok := <-ch. Blocks until a value is there or c is closed.
 * Returns true with the value in *out (out may be NULL: discarded); false
 * once c is closed and drained, with *out zero-filled. c == NULL blocks
 * forever ("chan receive (nil chan)"). */
CSP_API bool csp_recv(csp_chan *c, void *out);
/* csp_close: close(ch). Wakes every blocked receiver (they get zero, false)
 * and every blocked sender (they panic). Values already buffered are still
 * received. Closing a closed channel or NULL panics. */
CSP_API void csp_close(csp_chan *c);
/* csp_len / csp_cap: len(ch), cap(ch); 0 for NULL. Never block. */
CSP_API size_t csp_len(const csp_chan *c);
CSP_API size_t csp_cap(const csp_chan *c);
/* csp_try_send: select { case ch <- v: default: }: true if sent. NULL:
 * false. Closed: panic. */
CSP_API bool csp_try_send(csp_chan *c, const void *elem);
/* csp_try_recv: select { case v, ok := <-ch: default: }: true if a receive
 * happened (on a closed, drained channel: true with *ok false). NULL: false.
 * out and ok may be NULL. */
CSP_API bool csp_try_recv(csp_chan *c, void *out, bool *ok);

/* >>select ----------------------------------------------------------------- */
enum { CSP_OP_SEND = 1, CSP_OP_RECV = 2 };
typedef struct csp_case {
    csp_chan *chan;   /* NULL disables the case (nil channel) */
    int       op;     /* CSP_OP_SEND or CSP_OP_RECV */
    void     *elem;   /* value to send, or where to store the received value (may be NULL) */
    bool      ok;     /* set for a completed receive: false when the channel was closed */
} csp_case;
#ifdef __cplusplus
#define CSP_SEND(ch, ptr) (csp_case{ (ch), CSP_OP_SEND, (void *)(ptr), false })
#define CSP_RECV(ch, ptr) (csp_case{ (ch), CSP_OP_RECV, (void *)(ptr), false })
#else
#define CSP_SEND(ch, ptr) ((csp_case){ (ch), CSP_OP_SEND, (void *)(ptr), false })
#define CSP_RECV(ch, ptr) ((csp_case){ (ch), CSP_OP_RECV, (void *)(ptr), false })
#endif
#define CSP_SELECT_TIMEOUT (-1)

/* csp_select: Go's select over n cases. Returns the index of the case that
 * proceeded; among ready cases one is chosen uniformly at random, and a
 * waiting select registers its cases in random order too. timeout_ns <= 0
 * is a default clause (CSP_SELECT_TIMEOUT at once when nothing is ready);
 * CSP_FOREVER blocks; otherwise CSP_SELECT_TIMEOUT after timeout_ns. No
 * enabled case and CSP_FOREVER: blocks forever ("select (no cases)"). A send
 * case on a closed channel panics. n < 0, cases == NULL with n > 0, or an
 * enabled case with another op: panic. */
CSP_API int csp_select(csp_case *cases, int n, int64_t timeout_ns);

/* >>sync ------------------------------------------------------------------- */
/* csp_waitgroup: sync.WaitGroup. Zero-initialised is ready; no destroy.
 * Do not copy after first use. May be discarded as soon as csp_wg_wait
 * returned (the csp_wg_done that woke it touches it no more). */
typedef struct csp_waitgroup {
    uint64_t csp__state;     /* counter << 32 | waiters */
    uint32_t csp__lock;
    uint32_t csp__sema;      /* wake-ups owed to waiters */
    void    *csp__waiters;
} csp_waitgroup;
/* csp_wg_add: add delta (may be negative) to the counter; when it reaches
 * zero every waiter is released. A negative counter panics "sync: negative
 * WaitGroup counter". Never blocks. */
CSP_API void csp_wg_add(csp_waitgroup *wg, int64_t delta);
/* csp_wg_done: csp_wg_add(wg, -1). */
CSP_API void csp_wg_done(csp_waitgroup *wg);
/* csp_wg_wait: block until the counter is zero ("sync.WaitGroup.Wait"). */
CSP_API void csp_wg_wait(csp_waitgroup *wg);
/* csp_wg_go: csp_wg_add(wg, 1); go { fn(arg); csp_wg_done(wg); }. Returns
 * csp_go's result (on failure the counter is restored). */
CSP_API int csp_wg_go(csp_waitgroup *wg, csp_fn fn, void *arg);

/* csp_mutex: sync.Mutex. Zero-initialised is unlocked; no destroy; do not
 * copy after first use. Lock blocks (parks) while another holds it; waiters
 * that wait longer than 1 ms switch the mutex to hand-off (starvation) mode,
 * so no waiter starves. Unlock of an unlocked mutex panics "sync: unlock of
 * unlocked mutex"; another goroutine than the locker may unlock it. */
typedef struct csp_mutex { int32_t csp__state; uint32_t csp__sema; } csp_mutex;
CSP_API void csp_mutex_lock(csp_mutex *m);
CSP_API bool csp_mutex_trylock(csp_mutex *m);   /* never blocks */
CSP_API void csp_mutex_unlock(csp_mutex *m);

/* csp_rwmutex: sync.RWMutex, writer-preferring: a waiting writer stops new
 * readers. Misuse panics with Go's words ("sync: RUnlock of unlocked
 * RWMutex", "sync: Unlock of unlocked RWMutex"). csp_rwmutex_tryrlock fails
 * while a writer holds or waits for the lock. */
typedef struct csp_rwmutex {
    csp_mutex csp__w;
    uint32_t csp__writer_sem, csp__reader_sem;
    int32_t csp__reader_count, csp__reader_wait;
} csp_rwmutex;
CSP_API void csp_rwmutex_lock(csp_rwmutex *m);
CSP_API void csp_rwmutex_unlock(csp_rwmutex *m);
CSP_API void csp_rwmutex_rlock(csp_rwmutex *m);
CSP_API void csp_rwmutex_runlock(csp_rwmutex *m);
CSP_API bool csp_rwmutex_trylock(csp_rwmutex *m);
CSP_API bool csp_rwmutex_tryrlock(csp_rwmutex *m);

/* csp_once: sync.Once. csp_once_do runs fn(arg) once; every caller returns
 * only after it finished. Calling csp_once_do on the same once from inside
 * fn is a deadlock (reported as "sync.Once.Do"). */
typedef struct csp_once { uint32_t csp__done; csp_mutex csp__m; } csp_once;
CSP_API void csp_once_do(csp_once *o, csp_fn fn, void *arg);

/* csp_cond: sync.Cond. csp_cond_wait atomically unlocks m, parks until a
 * signal or broadcast that comes after it started waiting, then relocks m.
 * A signal wakes one goroutine waiting at that time; none is remembered. */
typedef struct csp_cond {
    uint32_t csp__wait, csp__notify, csp__lock;
    void *csp__head, *csp__tail;
} csp_cond;
CSP_API void csp_cond_wait(csp_cond *c, csp_mutex *m);
CSP_API void csp_cond_signal(csp_cond *c);
CSP_API void csp_cond_broadcast(csp_cond *c);

/* >>I/O without blocking the thread (the network poller) ----------------------
 * Sockets, pipes and FIFOs are switched to O_NONBLOCK and waited on by one
 * edge-triggered epoll instance: only the goroutine waits, its thread runs
 * others. fds 0, 1 and 2 (shared with the parent process) keep their flags;
 * they, regular files and terminals are read and written inside a blocking
 * section (csp_block_begin). Errors come back as -errno (errno is set too,
 * on the thread the call returns on: read the return value). Close an fd
 * that goroutines may wait on with csp_fd_close; an fd number reused after
 * a plain close(2) never receives a wake-up meant for the old file. */
typedef struct csp_ctx csp_ctx;
enum { CSP_READABLE = 1, CSP_WRITABLE = 2 };
/* Wait until fd is readable and/or writable (events: CSP_READABLE |
 * CSP_WRITABLE): 0 when ready, -ECANCELED / -ETIMEDOUT when ctx ends first
 * (NULL: no cancellation), -EBADF if fd is closed by csp_fd_close meanwhile
 * or is not open. A regular file is always ready. Level semantics: data
 * already buffered is readable at once. */
CSP_API int csp_fd_wait(int fd, int events, csp_ctx *ctx);
/* read(2), but only the goroutine waits: the count, 0 at EOF, or -errno.
 * (A TCP socket read this way gets TCP_INQ turned on: a recvmsg(2) of your
 * own with a control buffer then also receives TCP_CM_INQ messages.) */
CSP_API ssize_t csp_read(int fd, void *buf, size_t n);
/* write(2) of all n bytes (waiting as needed): n, or -errno (a socket
 * returns -EPIPE, never raises SIGPIPE). */
CSP_API ssize_t csp_write(int fd, const void *buf, size_t n);
/* accept(2): a new non-blocking, close-on-exec fd, or -errno. */
CSP_API int csp_accept(int fd, struct sockaddr *addr, socklen_t *len);
/* connect(2), completed through the poller: 0 or -errno (-ECONNREFUSED...). */
CSP_API int csp_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* close(2) that first wakes every goroutine waiting on fd (their calls
 * return -EBADF) and forgets fd in the poller: 0 or -errno. */
CSP_API int csp_fd_close(int fd);

/* >>signals (os/signal) ------------------------------------------------------- */
/* csp_signal_notify: signal.Notify: every arrival of sig is sent on c
 * (element: int, the signal number) without blocking: a full c drops it.
 * Several channels may watch one signal. 0, or -EINVAL for SIGKILL,
 * SIGSTOP or a number out of range. c is retained until csp_signal_stop.
 * While any signal is watched no deadlock is reported. */
CSP_API int csp_signal_notify(csp_chan *c, int sig);
/* csp_signal_stop: signal.Stop: no more deliveries to c; a signal nobody
 * watches any more gets back the disposition it had before. */
CSP_API void csp_signal_stop(csp_chan *c);

/* >>context (context.Context) ---------------------------------------------------
 * Contexts are reference counted: a constructor's caller owns one reference
 * and ends it with csp_ctx_release; the last release cancels the context (if
 * it was not) and frees it. A derived context holds a reference to its
 * parent until it is freed. Every function treats NULL as the background
 * context. All are thread-safe and never block. */
enum { CSP_CANCELED = 1, CSP_DEADLINE_EXCEEDED = 2 };
/* The background context: the same object every call; never canceled;
 * retain/release/cancel of it do nothing. */
CSP_API csp_ctx *csp_ctx_background(void);
/* A child canceled by csp_ctx_cancel, or when its parent is. A child of a
 * canceled parent is born canceled. NULL when out of memory. */
CSP_API csp_ctx *csp_ctx_with_cancel(csp_ctx *parent);
/* Canceled with CSP_DEADLINE_EXCEEDED timeout_ns from now (or with its
 * parent); a deadline already passed: born canceled. */
CSP_API csp_ctx *csp_ctx_with_timeout(csp_ctx *parent, int64_t timeout_ns);
CSP_API csp_ctx *csp_ctx_with_deadline(csp_ctx *parent, int64_t deadline); /* a csp_now() instant */
/* A child carrying key -> value (keys compare as pointers). */
CSP_API csp_ctx *csp_ctx_with_value(csp_ctx *parent, const void *key, void *value);
/* Cancel ctx and every descendant, synchronously; idempotent; nothing for a
 * context with no cancel of its own (background, with_value). */
CSP_API void csp_ctx_cancel(csp_ctx *ctx);
/* Closed when ctx is canceled (select on it); NULL (nil) if it never can be.
 * Borrowed: valid while ctx lives. Made at the first call (a context
 * nobody waits on never has one); out of memory there aborts. */
CSP_API csp_chan *csp_ctx_done(csp_ctx *ctx);
/* 0, CSP_CANCELED or CSP_DEADLINE_EXCEEDED. */
CSP_API int csp_ctx_err(csp_ctx *ctx);
/* true and *deadline set if ctx (or an ancestor) has a deadline. */
CSP_API bool csp_ctx_deadline(csp_ctx *ctx, int64_t *deadline);
/* The value of the nearest ancestor (or ctx) with this key, else NULL. */
CSP_API void *csp_ctx_value(csp_ctx *ctx, const void *key);
CSP_API csp_ctx *csp_ctx_retain(csp_ctx *ctx);
CSP_API void csp_ctx_release(csp_ctx *ctx);

/* >>semaphore and errgroup (golang.org/x/sync) ------------------------------- */
/* csp_sema: a weighted semaphore: FIFO acquisition without barging (a large
 * request at the head holds back smaller ones behind it). */
typedef struct csp_sema csp_sema;
CSP_API csp_sema *csp_sema_new(int64_t capacity);             /* NULL on OOM */
/* Acquire n: 0, or -ECANCELED / -ETIMEDOUT when ctx ends first (then
 * nothing was acquired). n larger than the capacity waits for ctx only. */
CSP_API int  csp_sema_acquire(csp_sema *s, int64_t n, csp_ctx *ctx);
CSP_API bool csp_sema_try_acquire(csp_sema *s, int64_t n);    /* never blocks */
/* Release n; more than is held panics "semaphore: released more than held". */
CSP_API void csp_sema_release(csp_sema *s, int64_t n);
CSP_API void csp_sema_free(csp_sema *s);

/* csp_errgroup: errgroup.Group with its context (errgroup.WithContext). */
typedef struct csp_errgroup csp_errgroup;
typedef int (*csp_errfn)(csp_ctx *ctx, void *arg);           /* 0 = success */
/* A group whose context is canceled on the first error and when
 * csp_errgroup_wait returns. NULL on OOM. */
CSP_API csp_errgroup *csp_errgroup_new(csp_ctx *parent);
CSP_API csp_ctx *csp_errgroup_ctx(csp_errgroup *g);           /* borrowed */
/* At most n goroutines at once (n < 0: no limit). Changing it while
 * goroutines of the group run panics, as in Go. */
CSP_API void csp_errgroup_set_limit(csp_errgroup *g, int n);
/* Run fn(ctx, arg) in a new goroutine; blocks while the limit is reached.
 * Returns csp_go's result. */
CSP_API int  csp_errgroup_go(csp_errgroup *g, csp_errfn fn, void *arg);
/* Wait for all; returns the first non-zero error (0 if none). */
CSP_API int  csp_errgroup_wait(csp_errgroup *g);
CSP_API void csp_errgroup_free(csp_errgroup *g);

#ifdef __cplusplus
}
#endif
#endif /* CSP_H */

/* ========================================================================= */
/* >>implementation                                                           */
/* ========================================================================= */
#if defined(CSP_IMPLEMENTATION) && !defined(CSP_IMPLEMENTATION_DONE)
#define CSP_IMPLEMENTATION_DONE

#if !defined(__linux__) || !(defined(__x86_64__) || defined(__aarch64__))
#error "csp.h supports Linux on x86-64 and AArch64"
#endif

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#ifndef TCP_INQ
#define TCP_INQ 36
#endif
#ifndef TCP_CM_INQ
#define TCP_CM_INQ TCP_INQ
#endif

#ifndef CSP_MALLOC
#define CSP_MALLOC(n) malloc(n)
#endif
#ifndef CSP_FREE
#define CSP_FREE(p) free(p)
#endif
#ifndef CSP_CALLOC
#define CSP_CALLOC(n, s) calloc((n), (s))
#endif
#ifndef CSP_DEFAULT_STACK_SIZE
#define CSP_DEFAULT_STACK_SIZE (256u * 1024u)
#endif

/* Bytes at the top of every goroutine stack taken by its descriptor (csp__g)
 * and the first frames of the runtime: the usable stack is the requested size
 * less this. Documented in the manual. */
#define CSP_STACK_RESERVE 2048u
#define CSP__GUARD_ZONE   (64u * 1024u)
#define CSP__MIN_STACK    (16u * 1024u)

#ifdef __cplusplus
#define CSP__STATIC_ASSERT(c, m) static_assert(c, m)
extern "C" {
#else
#define CSP__STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Every private function is static; `unused` keeps a CSP_STATIC build (and a
 * build that does not reach some helper) warning-free. */
#define CSP__FN static __attribute__((unused))
#define CSP__NOINLINE __attribute__((noinline))
/* For the few small helpers of the hottest paths that gcc would otherwise
 * call (they have many callers): element copies, the buffer's put and take,
 * the channel wrappers, select's first pass. */
#define CSP__INLINE __attribute__((always_inline)) inline
#define CSP__LIKELY(x) __builtin_expect(!!(x), 1)
#define CSP__UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifdef CSP_STATIC
#define CSP__DEF static __attribute__((unused))
#else
#define CSP__DEF
#endif

/* >>platform: sanitizers ---------------------------------------------------- */
#if defined(__SANITIZE_ADDRESS__)
#define CSP__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSP__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CSP__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CSP__TSAN 1
#endif
#endif

#ifdef CSP__ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __lsan_register_root_region(const void *p, size_t size);
void __lsan_unregister_root_region(const void *p, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif
#ifdef CSP__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_set_fiber_name(void *fiber, const char *name);
#ifndef __tsan_switch_to_fiber_no_sync
#define CSP__TSAN_NO_SYNC 1u /* __tsan_switch_to_fiber_no_sync */
#endif
#endif
#ifdef CSP__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
/* Happens-before edges TSan cannot see: switches are no_sync, so a hand-off
 * between goroutines (ready -> resume) is announced explicitly, in the
 * waker's fiber (release) and in the resumed goroutine's fiber (acquire). */
#define csp__hb_release(p) __tsan_release((void *)(p))
#define csp__hb_acquire(p) __tsan_acquire((void *)(p))
void AnnotateIgnoreReadsBegin(const char *f, int l);
void AnnotateIgnoreReadsEnd(const char *f, int l);
void AnnotateIgnoreWritesBegin(const char *f, int l);
void AnnotateIgnoreWritesEnd(const char *f, int l);
void AnnotateIgnoreSyncBegin(const char *f, int l);
void AnnotateIgnoreSyncEnd(const char *f, int l);
/* Work a context does on behalf of the one that switched to it (m->hook):
 * neither its accesses nor its synchronisation are its own. The parker
 * releases what the hook publishes (csp__park's hb argument). */
static __thread int csp__tsan_hook;   /* inside a hook (atomics: every fiber of the thread sees it) */
#define CSP__TSAN_HOOK_BEGIN() (__atomic_store_n(&csp__tsan_hook, 1, __ATOMIC_RELAXED), AnnotateIgnoreReadsBegin(__FILE__, __LINE__), AnnotateIgnoreWritesBegin(__FILE__, __LINE__), AnnotateIgnoreSyncBegin(__FILE__, __LINE__))
#define CSP__TSAN_HOOK_END() (AnnotateIgnoreSyncEnd(__FILE__, __LINE__), AnnotateIgnoreWritesEnd(__FILE__, __LINE__), AnnotateIgnoreReadsEnd(__FILE__, __LINE__), __atomic_store_n(&csp__tsan_hook, 0, __ATOMIC_RELAXED))
/* A hook may start a thread (a sleeper's timer wakes a P: csp__newm). The
 * new thread's only edges are the M's recycling (sched.lock) and
 * pthread_create, which the hook's ignores would hide: the thread's first
 * writes to a reused M then looked like races. csp__newm lifts the ignores. */
#define CSP__TSAN_UNHOOK_BEGIN() int unhook_ = __atomic_load_n(&csp__tsan_hook, __ATOMIC_RELAXED); if (unhook_) CSP__TSAN_HOOK_END()
#define CSP__TSAN_UNHOOK_END() if (unhook_) CSP__TSAN_HOOK_BEGIN()
/* Reading the descriptor of the context we switch to: the runtime's own
 * business, ordered by the switch itself (which TSan must not see as sync). */
#define CSP__TSAN_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define CSP__TSAN_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
/* errno is the thread's, shared by every goroutine that runs there: the
 * library sets it as a courtesy after a failure (the return value is the
 * error), and those stores are not races between goroutines. */
#define csp__set_errno(e) (AnnotateIgnoreWritesBegin(__FILE__, __LINE__), errno = (e), AnnotateIgnoreWritesEnd(__FILE__, __LINE__))
#else
#define csp__set_errno(e) ((void)(errno = (e)))
#define CSP__TSAN_HOOK_BEGIN() ((void)0)
#define CSP__TSAN_HOOK_END() ((void)0)
#define CSP__TSAN_UNHOOK_BEGIN() ((void)0)
#define CSP__TSAN_UNHOOK_END() ((void)0)
#define CSP__TSAN_READS_BEGIN() ((void)0)
#define CSP__TSAN_READS_END() ((void)0)
#define csp__hb_release(p) ((void)0)
#define csp__hb_acquire(p) ((void)0)
#endif
#ifdef CSP_VALGRIND
#include <valgrind/valgrind.h>
#endif

/* >>platform: atomics, futex, clocks ---------------------------------------
 * The __atomic builtins (not <stdatomic.h>) so that the implementation also
 * compiles as C++. */
#define CSP__RELAXED __ATOMIC_RELAXED
#define CSP__ACQUIRE __ATOMIC_ACQUIRE
#define CSP__RELEASE __ATOMIC_RELEASE
#define CSP__ACQREL  __ATOMIC_ACQ_REL
#define CSP__SEQCST  __ATOMIC_SEQ_CST
#define csp__load(p, o)      __atomic_load_n((p), (o))
#define csp__store(p, v, o)  __atomic_store_n((p), (v), (o))
#define csp__xchg(p, v, o)   __atomic_exchange_n((p), (v), (o))
#define csp__fadd(p, v, o)   __atomic_fetch_add((p), (v), (o))
#define csp__fsub(p, v, o)   __atomic_fetch_sub((p), (v), (o))
#define csp__cas(p, e, d, o) __atomic_compare_exchange_n((p), (e), (d), false, (o), __ATOMIC_RELAXED)
#define csp__cas_weak(p, e, d, o) __atomic_compare_exchange_n((p), (e), (d), true, (o), __ATOMIC_RELAXED)

#if defined(__x86_64__)
#define csp__cpu_relax() __asm__ __volatile__("pause" ::: "memory")
#else
#define csp__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#endif

CSP__FN int csp__futex_wait(uint32_t *addr, uint32_t val, const struct timespec *rel) {
#ifdef CSP__TSAN
    /* TSan runs a signal handler when the signal's thread next enters one
     * of its interceptors; a raw futex syscall is none, so a thread asleep
     * here would hold a signal (csp_signal_notify's) forever. Under TSan a
     * wait lasts 10 ms at most (every caller re-checks and waits again) and
     * ends in an intercepted call that runs what is pending. */
    struct timespec cap = { 0, 10 * 1000 * 1000 };
    if (!rel || rel->tv_sec > 0 || rel->tv_nsec > cap.tv_nsec) rel = &cap;
    int r = (int)syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
    struct timespec zero = { 0, 0 };
    nanosleep(&zero, NULL);
    return r;
#else
    return (int)syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
#endif
}
CSP__FN int csp__futex_wake(uint32_t *addr, int n) {
    return (int)syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The deterministic mode's switches (>>deterministic mode), read here by the
 * clock. virt: csp_now() is the virtual clock vnow. */
static struct csp__det_t {
    int on, virt;            /* written once, in csp__rt_init, before any goroutine */
    uint64_t seed;
    uint64_t rand;           /* the one generator (atomic relaxed) */
    int64_t vnow;            /* virtual clock (atomic) */
} csp__det;

/* The real monotonic clock, whatever the mode. */
CSP__FN int64_t csp__mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
CSP__DEF int64_t csp_now(void) {
    if (CSP__UNLIKELY(csp__det.virt)) return __atomic_load_n(&csp__det.vnow, __ATOMIC_ACQUIRE);
    return csp__mono();
}

/* Async-signal-safe output: used by the fatal paths (stack overflow from a
 * signal handler, panics after the heap may be corrupt). */
CSP__FN void csp__write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) { if (errno == EINTR) continue; return; }
        s += w; n -= (size_t)w;
    }
}
CSP__FN void csp__write_str(int fd, const char *s) { csp__write_all(fd, s, strlen(s)); }
CSP__FN void csp__write_u64(int fd, uint64_t v) {
    char buf[24]; int i = 23; buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    csp__write_str(fd, buf + i);
}

/* fatal: runtime failures Go reports with "fatal error:" (out of memory,
 * deadlock, broken invariants); flushes stdio, exits 2. */
CSP_NORETURN CSP__FN void csp__fatal(const char *msg) {
    fflush(NULL);
    csp__write_str(2, "fatal error: ");
    csp__write_str(2, msg);
    csp__write_str(2, "\n");
    _exit(2);
}

CSP__FN void *csp__xmalloc(size_t n) {
    void *p = CSP_MALLOC(n);
    if (!p) csp__fatal("out of memory");
    return p;
}

/* A zeroed block of n bytes that starts a cache line and is alone on every
 * line it touches. Runtime objects are written by the threads that use
 * them (a channel's lock and indices, a timer's state, a P's queues); from
 * plain malloc they share lines with whatever it put next to them, often
 * another thread's hot object: time/ticker ran at half speed in half its
 * runs because its two goroutines' tickers shared lines. Go gets this from
 * per-P allocation spans. One CSP_CALLOC of n rounded up to a line, plus a
 * line to align in; the byte before the block holds its offset from the
 * raw pointer (1..64). aligned_alloc costs 3x malloc in glibc 2.36 (no
 * tcache), this costs one malloc. */
#define CSP__LINE 64
CSP__FN void *csp__line_alloc(size_t n) {
    if (n > SIZE_MAX - 2 * CSP__LINE) return NULL;
    size_t r = (n + CSP__LINE - 1) & ~(size_t)(CSP__LINE - 1);
    char *raw = (char *)CSP_CALLOC(1, r + CSP__LINE);
    if (!raw) return NULL;
    char *p = (char *)(((uintptr_t)raw + CSP__LINE) & ~(uintptr_t)(CSP__LINE - 1));
    p[-1] = (char)(unsigned char)(p - raw);
    return p;
}
CSP__FN void csp__line_free(void *p) {
    if (!p) return;
    char *q = (char *)p;
    CSP_FREE(q - (unsigned char)q[-1]);
}

static size_t csp__pagesize_v;
CSP__FN size_t csp__pagesize(void) {
    size_t p = csp__load(&csp__pagesize_v, CSP__RELAXED);
    if (CSP__UNLIKELY(!p)) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        csp__store(&csp__pagesize_v, p, CSP__RELAXED);
    }
    return p;
}

/* >>context switch ==========================================================
 * csp__switch(from, to): saves the callee-saved state of the running context
 * on its own stack, stores the stack pointer in from->sp, loads to->sp and
 * restores the state found there. It returns into `to`.
 *
 * Saved frame, x86-64 (from the stack pointer up):
 *   [0]  MXCSR (4 bytes) | x87 control word (2 bytes) | 0 (2 bytes)
 *   [8]  r15  [16] r14  [24] r13  [32] r12  [40] rbx  [48] rbp  [56] return
 * AArch64 (176 bytes): x19..x28, x29, x30 at [0..88], d8..d15 at [96..152],
 *   FPCR at [160].
 * Floating-point control state belongs to the goroutine. On AArch64 FPCR is
 * written only when the incoming value differs (msr fpcr can serialise). On
 * x86-64 MXCSR and the x87 control word are saved and reloaded every time.
 * Measured on this AMD EPYC (Zen 3) with a ping-pong of two contexts, one
 * switch: 2.5 ns for the registers alone; fnstcw + fldcw add 0.45 ns;
 * stmxcsr adds 3 ns by itself (a dozen cycles, and it holds up what
 * follows), ldmxcsr after it only 0.2 ns more; so the save costs, not the
 * reload, and a compare-and-skip of the reload is slower (7.8 ns: reading
 * back what stmxcsr stored stalls). Nothing reads MXCSR more cheaply
 * (vstmxcsr is the same, an xsave 37 ns), so a switch that keeps MXCSR per
 * goroutine costs about 6 ns here (bench rows switch/raw, switch/stmxcsr).
 * Also measured: this one shared `jmp *%rdx`, whose target alternates
 * between the two contexts, costs 2.8 ns more than a copy of the switch per
 * call site would without FP state (5.3 vs 2.5 ns), and nothing once
 * stmxcsr is there; so there is one copy.
 *
 * A fresh context starts in csp__tramp with the argument in r12/x19 and the
 * entry function in r13/x20. Its CFI marks the return address undefined, so
 * unwinders (gdb, backtrace(), sanitizers) stop at the goroutine's first
 * frame. The entry function never returns. */
typedef struct csp__ctx { void *sp; } csp__ctx;

extern void csp__switch(csp__ctx *from, csp__ctx *to) __asm__("csp__switch");
extern void csp__tramp(void) __asm__("csp__tramp");
extern void csp__tramp_end(void) __asm__("csp__tramp_end");

#if defined(__x86_64__)
#define CSP__FRAME_SIZE 64
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl csp__switch\n"
    ".hidden csp__switch\n"
    ".type csp__switch,@function\n"
    "csp__switch:\n"
    ".cfi_startproc\n"
    "    pushq %rbp\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %rbx\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %r12\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %r13\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %r14\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %r15\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    subq $8, %rsp\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq (%rsi), %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %r15\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %r14\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %r13\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %r12\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %rbx\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %rbp\n"
    ".cfi_adjust_cfa_offset -8\n"
    /* pop + jmp, not ret: the return stack buffer cannot predict a return
     * into another context (measured here: 10 ns with ret, 3.6 ns without). */
    "    popq %rdx\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    jmpq *%rdx\n"
    ".cfi_endproc\n"
    ".size csp__switch, .-csp__switch\n"
    "\n"
    ".p2align 4\n"
    ".globl csp__tramp\n"
    ".hidden csp__tramp\n"
    ".type csp__tramp,@function\n"
    "csp__tramp:\n"
    ".cfi_startproc\n"
    ".cfi_undefined rip\n"
    "    movq %r12, %rdi\n"
    "    callq *%r13\n"
    "    ud2\n"
    ".cfi_endproc\n"
    ".globl csp__tramp_end\n"
    ".hidden csp__tramp_end\n"
    "csp__tramp_end:\n"
    ".size csp__tramp, .-csp__tramp\n"
);
/* Default FP control state of a fresh goroutine: MXCSR 0x1f80 (all
 * exceptions masked, round to nearest), x87 control word 0x037f. */
#define CSP__FPCTL_INIT ((uint64_t)0x1f80u | ((uint64_t)0x037fu << 32))
#elif defined(__aarch64__)
#define CSP__FRAME_SIZE 176
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl csp__switch\n"
    ".hidden csp__switch\n"
    ".type csp__switch,%function\n"
    "csp__switch:\n"
    ".cfi_startproc\n"
    "    sub sp, sp, #176\n"
    ".cfi_adjust_cfa_offset 176\n"
    "    stp x19, x20, [sp, #0]\n"
    "    stp x21, x22, [sp, #16]\n"
    "    stp x23, x24, [sp, #32]\n"
    "    stp x25, x26, [sp, #48]\n"
    "    stp x27, x28, [sp, #64]\n"
    "    stp x29, x30, [sp, #80]\n"
    "    stp d8, d9, [sp, #96]\n"
    "    stp d10, d11, [sp, #112]\n"
    "    stp d12, d13, [sp, #128]\n"
    "    stp d14, d15, [sp, #144]\n"
    "    mrs x9, fpcr\n"
    "    str x9, [sp, #160]\n"
    "    mov x10, sp\n"
    "    str x10, [x0]\n"
    "    ldr x10, [x1]\n"
    "    mov sp, x10\n"
    "    ldr x11, [sp, #160]\n"
    "    cmp x9, x11\n"
    "    b.ne 2f\n"
    "1:  ldp x19, x20, [sp, #0]\n"
    "    ldp x21, x22, [sp, #16]\n"
    "    ldp x23, x24, [sp, #32]\n"
    "    ldp x25, x26, [sp, #48]\n"
    "    ldp x27, x28, [sp, #64]\n"
    "    ldp x29, x30, [sp, #80]\n"
    "    ldp d8, d9, [sp, #96]\n"
    "    ldp d10, d11, [sp, #112]\n"
    "    ldp d12, d13, [sp, #128]\n"
    "    ldp d14, d15, [sp, #144]\n"
    "    add sp, sp, #176\n"
    ".cfi_adjust_cfa_offset -176\n"
    "    ret\n"
    ".cfi_adjust_cfa_offset 176\n"
    "2:  msr fpcr, x11\n"
    "    b 1b\n"
    ".cfi_endproc\n"
    ".size csp__switch, .-csp__switch\n"
    "\n"
    ".p2align 4\n"
    ".globl csp__tramp\n"
    ".hidden csp__tramp\n"
    ".type csp__tramp,%function\n"
    "csp__tramp:\n"
    ".cfi_startproc\n"
    ".cfi_undefined x30\n"
    "    mov x0, x19\n"
    "    blr x20\n"
    "    brk #0\n"
    ".cfi_endproc\n"
    ".globl csp__tramp_end\n"
    ".hidden csp__tramp_end\n"
    "csp__tramp_end:\n"
    ".size csp__tramp, .-csp__tramp\n"
);
#define CSP__FPCTL_INIT ((uint64_t)0)
#endif

/* csp__ctx_make: prepare `c` so that the first csp__switch to it runs
 * entry(arg) on the stack whose (exclusive) top is `top`. */
CSP__FN void csp__ctx_make(csp__ctx *c, char *top, void (*entry)(void *), void *arg) {
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* ret slot at t-24 so that csp__tramp starts with rsp % 16 == 0 and the
     * entry function sees the ABI's rsp % 16 == 8 after the call. */
    uint64_t *f = (uint64_t *)(t - 24 - 56);
    f[0] = CSP__FPCTL_INIT;            /* fp control */
    f[1] = 0;                          /* r15 */
    f[2] = 0;                          /* r14 */
    f[3] = (uint64_t)(uintptr_t)entry; /* r13 */
    f[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
    f[5] = 0;                          /* rbx */
    f[6] = 0;                          /* rbp */
    f[7] = (uint64_t)(uintptr_t)csp__tramp; /* return address */
    c->sp = f;
#else
    uint64_t *f = (uint64_t *)(t - CSP__FRAME_SIZE);
    memset(f, 0, CSP__FRAME_SIZE);
    f[0] = (uint64_t)(uintptr_t)arg;   /* x19 */
    f[1] = (uint64_t)(uintptr_t)entry; /* x20 */
    f[11] = (uint64_t)(uintptr_t)csp__tramp; /* x30 */
    f[20] = CSP__FPCTL_INIT;           /* fpcr */
    c->sp = f;
#endif
}

/* >>goroutine descriptor and thread-local state ============================
 * A csp__g is one execution context: a goroutine (its descriptor sits at the
 * top of its own stack reservation) or the native context of an OS thread
 * (malloc'd, flag CSP__GF_NATIVE). The scheduler adds its fields below. */
typedef struct csp__g csp__g;
enum {
    CSP__GF_NATIVE = 1u,     /* runs on an OS thread's own stack */
    CSP__GF_CANARY = 2u,     /* no guard: canary checked at switches */
    CSP__GF_THREAD = 4u,     /* a plain thread's context (parks on a futex) */
    CSP__GF_G0 = 8u,         /* an M's scheduler context */
    CSP__GF_MAIN = 16u       /* goroutine 1: main, on the main thread's stack */
};
#define CSP__CANARY 0x6373702e68e1c5a7ull

struct csp__g {
    csp__ctx ctx;            /* saved stack pointer while switched out: asm offset 0 */
    uint64_t id;             /* goroutine id; 0 for a native thread context */
    uint32_t flags;          /* CSP__GF_*, written once before first use */
    uint32_t status;         /* scheduler state (atomic) */
    char *stack_lo;          /* lowest usable stack byte */
    size_t stack_size;       /* the size asked for (usable: less CSP_STACK_RESERVE) */
    char *resv;              /* reservation base: the guard zone starts here */
    size_t resv_size;        /* guard zone + stack */
    uintptr_t slot;          /* arena slot entry (base | guard bit), 0 if dedicated */
    void (*entry)(void *);   /* first function run on this context */
    void *entry_arg;
#ifdef CSP__ASAN
    void *asan_fake;         /* ASan's fake stack while switched out */
    const void *asan_bottom; size_t asan_size;
#endif
#ifdef CSP__TSAN
    void *tsan_fiber;
#endif
#ifdef CSP_VALGRIND
    unsigned vg_id;
#endif
    /* scheduler (>>scheduler): */
    csp__g *schedlink;       /* run queue link: global queue (sched lock) or hand-off lists */
    struct csp__m *m;        /* the M running it, while running */
    csp_fn fn;               /* goroutine body */
    void *arg;
    const char *waitreason;  /* while waiting: Go's words ("chan receive", ...) */
    int64_t waitsince;       /* coarse instant the wait began */
    uint32_t parkword;       /* plain threads: futex word of csp__park (atomic) */
    int blockdepth;          /* csp_block_begin nesting */
    void *param;             /* set by the waker (select: the case that fired) */
    uint32_t selectdone;     /* atomic: 1 once a select of this goroutine was won */
    int64_t park_deadline;   /* plain threads: csp__park gives up at this instant (0: never) */
    struct csp__m *lockedm;  /* csp_lock_os_thread: the only M that may run it (atomic) */
    uint32_t lockcount;      /* csp_lock_os_thread nesting (by the goroutine itself) */
    csp__g *allnext, *allprev;  /* all goroutines: the list gl (its lock) */
    struct csp__glist *gl;      /* the list it is on: its spawner's P's, or the global one */
    csp__g *deadnext;        /* gl->dead: ended elsewhere, waiting for gl's P to unlink it */
    char name[64];
};
CSP__STATIC_ASSERT(offsetof(csp__g, ctx) == 0, "asm: csp__g.ctx at offset 0");
CSP__STATIC_ASSERT(offsetof(csp__ctx, sp) == 0, "asm: csp__ctx.sp at offset 0");
CSP__STATIC_ASSERT(sizeof(csp__g) + 256 <= CSP_STACK_RESERVE, "descriptor fits the reserve");

#define CSP__STKCACHE 64
typedef struct csp__tls_t {
    csp__g *cur;             /* context running on this thread */
    struct csp__m *m;        /* this thread's M, if it runs goroutines */
    int plain;               /* a plain thread counted in csp__sched.nplain */
    csp__g *native;          /* this thread's own context, once made */
    int nstk;                /* per-thread cache of free arena slots */
    uintptr_t stk[CSP__STKCACHE];
    void *altstack;
} csp__tls_t;
static __thread csp__tls_t csp__tls_v;

/* The only way the runtime reaches its thread-local state. A goroutine may
 * resume on another thread after a switch, so the address must be computed
 * afresh: the call is not inlined and the empty asm hides its result from
 * the optimiser (no CSE across switches, even on AArch64 where tpidr_el0
 * would otherwise be read once per function). */
CSP__FN CSP__NOINLINE csp__tls_t *csp__tls(void) {
    csp__tls_t *t = &csp__tls_v;
    __asm__ __volatile__("" : "+r"(t));
    return t;
}

/* TSan: a thread's own context publishes its thread-local state once it is
 * set up, for the goroutines (other fibers) that will run on the thread. */
#define csp__tls_publish(t) csp__hb_release(t)

/* >>stacks ===================================================================
 * A stack slot is [guard zone | usable stack ... descriptor]. Slots of the
 * default size are carved from arenas (one mapping of many slots, doubling up
 * to 4096 slots), so the number of mappings grows with log(goroutines), not
 * with goroutines; other sizes get a mapping of their own. Reservations are
 * MAP_NORESERVE: only touched pages cost memory.
 * Guard zone: a kernel guard region (MADV_GUARD_INSTALL) when a probe shows
 * that it really faults (qemu-user accepts the call and installs nothing);
 * else mprotect(PROT_NONE) while the mapping budget allows (each one splits a
 * mapping: ~32k of them would exhaust vm.max_map_count); else a canary word
 * at the bottom of the stack, checked at every switch away from it.
 * Free default-size slots go to a per-thread cache, then to a global list;
 * beyond CSP__STK_WARM slots there, the coldest that stayed unused for
 * CSP__STK_AGE give their pages back (MADV_DONTNEED, one call per run of
 * adjacent slots), in the background:
 * sysmon's scavenger (csp__stk_scavenge), a batch per tick and outside the
 * lock, because each call flushes every CPU's TLB (50+ us here) and a
 * goroutine's exit must not pay for it.
 * Lock: csp__stk.lock guards the arenas, the bump pointer and the global
 * list; the per-thread cache is touched only by its thread. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
enum { CSP__GUARD_UNKNOWN, CSP__GUARD_MADV, CSP__GUARD_MPROTECT, CSP__GUARD_CANARY };

static struct {
    pthread_mutex_t lock;
    int mode;                /* CSP__GUARD_*, decided once */
    long mprotect_budget;    /* guards mprotect may still add (atomic: taken outside the lock) */
    char *bump, *bump_end;   /* uncarved part of the newest arena */
    size_t next_slots;       /* slots in the next arena */
    uintptr_t *free;         /* global free list (slot entries), a stack */
    size_t nfree, capfree;
    size_t released;         /* bottom entries whose pages were given back */
    size_t mappings;         /* arenas + dedicated stacks, for tests */
    int scavenging;          /* a scavenger holds entries outside the list */
    size_t low;              /* the fewest free entries since `epoch` */
    size_t cold;             /* bottom entries unused for a whole epoch: may be given back */
    int64_t epoch;           /* start of the current epoch (csp__mono) */
} csp__stk = { PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, NULL, 16, NULL, 0, 0, 0, 0, 0, 0, 0, 0 };

CSP__FN size_t csp__slot_size(void) {
    return CSP__GUARD_ZONE + (size_t)CSP_DEFAULT_STACK_SIZE;
}

/* Does a kernel guard region really fault? A write(2) from it must fail with
 * EFAULT; qemu-user returns 0 from madvise and installs nothing. */
CSP__FN bool csp__probe_madv_guard(void) {
    size_t pg = csp__pagesize();
    char *p = (char *)mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    bool ok = false;
    if (madvise(p, pg, MADV_GUARD_INSTALL) == 0) {
        int fds[2];
        if (pipe(fds) == 0) {
            ssize_t w = write(fds[1], p, 1);
            ok = (w < 0 && errno == EFAULT);
            close(fds[0]); close(fds[1]);
        }
    }
    munmap(p, 2 * pg);
    return ok;
}

CSP__FN void csp__stack_mode_init(void) {   /* under csp__stk.lock */
    if (csp__stk.mode != CSP__GUARD_UNKNOWN) return;
    const char *force = getenv("CSP_GUARD_MODE");  /* test hook: madv|mprotect|canary */
    long maxmap = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) { if (fscanf(f, "%ld", &maxmap) != 1) maxmap = 65530; fclose(f); }
    /* Leave three quarters of the map budget to the program itself. */
    csp__stk.mprotect_budget = maxmap / 8;
    if (force && strcmp(force, "canary") == 0) csp__stk.mode = CSP__GUARD_CANARY;
    else if (force && strcmp(force, "mprotect") == 0) csp__stk.mode = CSP__GUARD_MPROTECT;
    else csp__stk.mode = csp__probe_madv_guard() ? CSP__GUARD_MADV : CSP__GUARD_MPROTECT;
}

/* Protect the guard zone at `base`: true if a real guard is in place. The
 * mode is decided (csp__stack_mode_init, under the lock) before any caller
 * gets here; the call itself needs no lock. */
CSP__FN bool csp__guard(char *base) {
    if (csp__stk.mode == CSP__GUARD_MADV)
        return madvise(base, CSP__GUARD_ZONE, MADV_GUARD_INSTALL) == 0;
    if (csp__stk.mode == CSP__GUARD_MPROTECT && __atomic_fetch_sub(&csp__stk.mprotect_budget, 1, __ATOMIC_RELAXED) > 0) {
        if (mprotect(base, CSP__GUARD_ZONE, PROT_NONE) == 0) return true;
        __atomic_fetch_add(&csp__stk.mprotect_budget, 1, __ATOMIC_RELAXED);
    }
    return false;
}

CSP__FN void csp__stk_push_free(uintptr_t e) {   /* under csp__stk.lock */
    if (csp__stk.nfree == csp__stk.capfree) {
        size_t nc = csp__stk.capfree ? csp__stk.capfree * 2 : 256;
        uintptr_t *nf = (uintptr_t *)realloc(csp__stk.free, nc * sizeof *nf);
        if (!nf) {   /* cannot remember it: give it back to the kernel entirely */
            munmap((void *)(e & ~(uintptr_t)1), csp__slot_size());
            return;
        }
        csp__stk.free = nf; csp__stk.capfree = nc;
    }
    csp__stk.free[csp__stk.nfree++] = e;
}

/* Fresh slots: map the page each new goroutine touches first (the top one,
 * its descriptor's) for a whole batch in one call. A first-touch fault is
 * far dearer than populating: measured here (a paravirtualised VM), 17 us a
 * fault against 0.8 us a page populated in a batch (plus a ~6 us first
 * access that no method avoids); on bare metal the ratio is smaller but the
 * same way round. process_madvise on ourselves (Linux 6.13+, PIDFD_SELF
 * 6.15+) takes the batch as one list; older kernels get one madvise a slot
 * (still cheaper than the fault), and kernels without MADV_POPULATE_WRITE
 * (before 5.14) nothing. Only a hint: every failure is ignored. The batch
 * costs at most CSP__STKCACHE/2 pages of RSS for slots not used yet. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static int csp__populate_mode;   /* 0: process_madvise, 1: madvise, 2: none (relaxed: a hint) */
CSP__FN void csp__slots_populate(uintptr_t first, const uintptr_t *e, int n) {
    int mode = __atomic_load_n(&csp__populate_mode, __ATOMIC_RELAXED);
    if (mode == 2) return;
    int saved = errno;   /* csp_go leaves errno alone (written back only if changed:
                          * to TSan, errno is shared by every goroutine of the thread) */
    size_t pg = csp__pagesize(), ss = csp__slot_size();
    struct iovec iov[CSP__STKCACHE / 2 + 1];
    int k = 0;
    iov[k].iov_base = (char *)(first & ~(uintptr_t)1) + ss - pg; iov[k++].iov_len = pg;
    for (int i = 0; i < n && k < (int)(sizeof iov / sizeof iov[0]); i++) {
        iov[k].iov_base = (char *)(e[i] & ~(uintptr_t)1) + ss - pg; iov[k++].iov_len = pg;
    }
#if defined(SYS_process_madvise)
    if (mode == 0) {
        if (syscall(SYS_process_madvise, -10000 /* PIDFD_SELF */, iov, (size_t)k, MADV_POPULATE_WRITE, 0) >= 0) {
            if (errno != saved) errno = saved;
            return;
        }
        __atomic_store_n(&csp__populate_mode, mode = 1, __ATOMIC_RELAXED);
    }
#endif
    for (int i = 0; i < k; i++) {
        if (madvise(iov[i].iov_base, pg, MADV_POPULATE_WRITE) != 0 && errno == EINVAL) {
            __atomic_store_n(&csp__populate_mode, 2, __ATOMIC_RELAXED);
            break;
        }
    }
    if (errno != saved) errno = saved;
}

/* A default-size slot entry: base address | 1 if guarded. 0 when out of memory. */
/* The per-thread cache is touched by whichever context runs on the thread;
 * the hb edges tell TSan that the thread owns it. */
CSP__FN uintptr_t csp__slot_get(void) {
    csp__tls_t *t = csp__tls();
    csp__hb_acquire(t->stk);
    if (t->nstk > 0) { uintptr_t e = t->stk[--t->nstk]; csp__hb_release(t->stk); return e; }
    csp__hb_release(t->stk);
    uintptr_t e = 0;
    pthread_mutex_lock(&csp__stk.lock);
    csp__stack_mode_init();
    if (csp__stk.nfree > 0) {
        /* A batch: half a cache's worth, so that a thread that spawns what
         * others end takes the lock once per 32 spawns, not per spawn. */
        e = csp__stk.free[--csp__stk.nfree];
        int more = CSP__STKCACHE / 2 - 1;
        csp__hb_acquire(t->stk);
        while (more-- > 0 && csp__stk.nfree > 0 && t->nstk < CSP__STKCACHE)
            t->stk[t->nstk++] = csp__stk.free[--csp__stk.nfree];
        csp__hb_release(t->stk);
        if (csp__stk.released > csp__stk.nfree) csp__stk.released = csp__stk.nfree;
        if (csp__stk.cold > csp__stk.nfree) csp__stk.cold = csp__stk.nfree;
        if (csp__stk.low > csp__stk.nfree) csp__stk.low = csp__stk.nfree;
    } else {
        size_t ss = csp__slot_size();
        int more = CSP__STKCACHE / 2;   /* a batch, as from the global list */
        csp__hb_acquire(t->stk);
        carve:
        if (csp__stk.bump == csp__stk.bump_end) {
            size_t n = csp__stk.next_slots;
            void *a = mmap(NULL, n * ss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (a == MAP_FAILED && n > 16) { n = 16; a = mmap(NULL, n * ss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0); }
            if (a != MAP_FAILED) {
                /* Transparent huge pages would turn the first touch of a
                 * stack into a 2 MiB zero-fill (and 2 MiB of RSS). */
                madvise(a, n * ss, MADV_NOHUGEPAGE);
                csp__stk.bump = (char *)a; csp__stk.bump_end = (char *)a + n * ss;
                csp__stk.mappings++;
                if (csp__stk.next_slots < 4096) csp__stk.next_slots *= 2;
            }
        }
        if (csp__stk.bump != csp__stk.bump_end) {
            uintptr_t f = (uintptr_t)csp__stk.bump;
            csp__stk.bump += ss;
            if (!e) e = f;
            else t->stk[t->nstk++] = f;   /* t->stk is ours and was empty */
            if (--more > 0 && csp__stk.bump != csp__stk.bump_end) goto carve;
        }
        pthread_mutex_unlock(&csp__stk.lock);
        /* The batch is ours alone now: guards and pages outside the lock (a
         * syscall each for the guards, ~1.7 us here). */
        if (e) {
            e |= csp__guard((char *)e) ? 1u : 0u;
            for (int i = 0; i < t->nstk; i++) t->stk[i] |= csp__guard((char *)t->stk[i]) ? 1u : 0u;
            csp__slots_populate(e, t->stk, t->nstk);
        }
        csp__hb_release(t->stk);
        return e;
    }
    pthread_mutex_unlock(&csp__stk.lock);
    return e;
}

/* Give the pages of `n` free slots back to the kernel, one madvise per run
 * of adjacent slots: on virtual machines a TLB flush per call is the
 * expensive part (measured here: 55 us per slot one by one, 10 us per slot
 * as one range). Guard regions survive MADV_DONTNEED. */
CSP__FN int csp__uptr_cmp(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}
CSP__FN void csp__slots_release_pages(uintptr_t *e, int n) {
    size_t ss = csp__slot_size();
    qsort(e, (size_t)n, sizeof *e, csp__uptr_cmp);
    for (int i = 0; i < n;) {
        char *lo = (char *)(e[i] & ~(uintptr_t)1) + CSP__GUARD_ZONE;
        char *hi = (char *)(e[i] & ~(uintptr_t)1) + ss;
        int j = i + 1;
        while (j < n && (char *)(e[j] & ~(uintptr_t)1) == hi) { hi += ss; j++; }
        madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
        i = j;
    }
}

/* Free slots kept warm in the global list before pages are given back:
 * re-faulting a page is far dearer than keeping it (20 us a page here). */
#define CSP__STK_WARM 1024

/* The global list is a stack (LIFO: the warmest slots are reused first).
 * Beyond CSP__STK_WARM entries, the coldest ones, at the bottom, give their
 * pages back; csp__stk.released counts the bottom entries already given
 * back (under the lock: an entry above it may be popped at any time).
 * Only slots unused for a whole epoch (CSP__STK_AGE) go: the low-water
 * mark of the list over an epoch says how many bottom entries nobody
 * popped. A program that makes and ends many goroutines again and again
 * keeps its stacks' pages (re-faulting one costs 5-20 us here, more than
 * a goroutine's whole life); one that stopped gets them back an epoch or
 * two later. */
#define CSP__STK_AGE (500 * CSP_MILLISECOND)
static int csp__stk_inline_scavenge;   /* no sysmon (deterministic mode): scavenge here */
CSP__FN bool csp__stk_scavenge(int max, bool aged);
CSP__FN void csp__stk_move_to_global(uintptr_t *e, int n) {
    pthread_mutex_lock(&csp__stk.lock);
    for (int i = 0; i < n; i++) csp__stk_push_free(e[i]);
    pthread_mutex_unlock(&csp__stk.lock);
    if (csp__stk_inline_scavenge) while (csp__stk_scavenge(256, false)) {}
}

/* csp__stk_scavenge: give back the pages of up to `max` of the coldest free
 * slots beyond the warm ones (aged: only those unused for an epoch); true
 * if more remain now. The batch leaves the list while madvise runs (nobody
 * can pop a slot being zeroed), then goes back at the bottom, where the
 * released entries live. One scavenger at a time. */
CSP__FN bool csp__stk_scavenge(int max, bool aged) {
    pthread_mutex_lock(&csp__stk.lock);
    size_t limit = csp__stk.nfree > CSP__STK_WARM ? csp__stk.nfree - CSP__STK_WARM : 0;
    if (aged) {
        int64_t now = csp__mono();
        if (now - csp__stk.epoch >= CSP__STK_AGE) {
            csp__stk.cold = csp__stk.low;   /* [0, low) stayed in the list all epoch */
            csp__stk.low = csp__stk.nfree;
            csp__stk.epoch = now;
        }
        if (csp__stk.cold < limit) limit = csp__stk.cold;
    }
    if (csp__stk.scavenging || limit <= csp__stk.released) {
        pthread_mutex_unlock(&csp__stk.lock);
        return false;
    }
    size_t from = csp__stk.released, n = limit - from;
    if (n > (size_t)max) n = (size_t)max;
    uintptr_t batch[256];
    if (n > sizeof batch / sizeof batch[0]) n = sizeof batch / sizeof batch[0];
    memcpy(batch, csp__stk.free + from, n * sizeof batch[0]);
    memmove(csp__stk.free + from, csp__stk.free + from + n, (csp__stk.nfree - from - n) * sizeof batch[0]);
    csp__stk.nfree -= n;
    /* Entries above the batch moved down n places (back up when it returns). */
    csp__stk.cold = csp__stk.cold >= n ? csp__stk.cold - n : 0;
    csp__stk.low = csp__stk.low >= n ? csp__stk.low - n : 0;
    csp__stk.scavenging = 1;
    pthread_mutex_unlock(&csp__stk.lock);
    csp__slots_release_pages(batch, (int)n);
    pthread_mutex_lock(&csp__stk.lock);
    /* Back in at the bottom (pops may have eaten into the released part:
     * slot_get clamps `released`). The list has room: n entries left it. */
    size_t r = csp__stk.released;
    if (csp__stk.nfree + n > csp__stk.capfree) {   /* frees meanwhile filled it */
        size_t nc = (csp__stk.nfree + n) * 2;
        uintptr_t *nf = (uintptr_t *)realloc(csp__stk.free, nc * sizeof *nf);
        if (!nf) {   /* cannot remember them: give them back entirely */
            for (size_t i = 0; i < n; i++) munmap((void *)(batch[i] & ~(uintptr_t)1), csp__slot_size());
            csp__stk.scavenging = 0;
            pthread_mutex_unlock(&csp__stk.lock);
            return false;
        }
        csp__stk.free = nf; csp__stk.capfree = nc;
    }
    memmove(csp__stk.free + n, csp__stk.free, csp__stk.nfree * sizeof batch[0]);
    memcpy(csp__stk.free, batch, n * sizeof batch[0]);
    csp__stk.nfree += n;
    csp__stk.released = r + n;
    csp__stk.cold += n;
    csp__stk.low += n;
    if (csp__stk.cold > csp__stk.nfree) csp__stk.cold = csp__stk.nfree;
    if (csp__stk.low > csp__stk.nfree) csp__stk.low = csp__stk.nfree;
    csp__stk.scavenging = 0;
    size_t lim2 = csp__stk.nfree > CSP__STK_WARM ? csp__stk.nfree - CSP__STK_WARM : 0;
    if (aged && csp__stk.cold < lim2) lim2 = csp__stk.cold;
    bool more = lim2 > csp__stk.released;
    pthread_mutex_unlock(&csp__stk.lock);
    return more;
}

CSP__FN void csp__slot_put(uintptr_t e) {
    csp__tls_t *t = csp__tls();
    csp__hb_acquire(t->stk);
    if (t->nstk == CSP__STKCACHE) {
        /* Full: the older half goes to the global list. */
        int half = CSP__STKCACHE / 2;
        csp__stk_move_to_global(t->stk, half);
        memmove(t->stk, t->stk + half, (size_t)(CSP__STKCACHE - half) * sizeof t->stk[0]);
        t->nstk = CSP__STKCACHE - half;
    }
    t->stk[t->nstk++] = e;
    csp__hb_release(t->stk);
}

/* A thread that ends hands its cache to the global list. */
static pthread_key_t csp__tls_key;
static pthread_once_t csp__tls_once = PTHREAD_ONCE_INIT;
CSP__FN void csp__thread_exit_hook(void *p);
CSP__FN void csp__tls_key_init(void) { (void)pthread_key_create(&csp__tls_key, csp__thread_exit_hook); }
CSP__FN void csp__stk_flush_cache(csp__tls_t *t) {
    if (t->nstk == 0) return;
    csp__stk_move_to_global(t->stk, t->nstk);
    t->nstk = 0;
}

/* csp__stack_size_norm: the reservation (without guard) for a requested
 * size: 0 means the default; rounded up to pages; at least 16 KiB. Returns 0
 * for sizes no address space could hold. */
CSP__FN size_t csp__stack_size_norm(size_t req) {
    size_t pg = csp__pagesize();
    if (req == 0) req = CSP_DEFAULT_STACK_SIZE;
    if (req < CSP__MIN_STACK) req = CSP__MIN_STACK;
    if (req > ((size_t)1 << 46)) return 0;   /* larger than any user address space */
    return (req + pg - 1) & ~(pg - 1);
}

static void csp__segv_install(void);

/* csp__g_alloc: a context with a fresh stack of `req` bytes (0: default),
 * its descriptor at the top. NULL with *err = -ENOMEM when the stack cannot
 * be had. The context does not run until csp__g_init_ctx + a switch. */
/* Zero a descriptor (64-byte aligned). On x86-64 with 16-byte stores: gcc
 * turns the memset into `rep stos`, whose start-up costs more than the
 * ~300 bytes (6 ns of a 80 ns spawn+exit, measured here). */
CSP__FN void csp__zero_g(csp__g *g) {
#if defined(__x86_64__) && defined(__SSE2__) && !defined(__cplusplus)
    typedef long long csp__v2 __attribute__((vector_size(16)));
    csp__v2 *v = (csp__v2 *)(void *)g, z = { 0, 0 };
    for (size_t i = 0; i < sizeof(csp__g) / 16; i++) {
        __asm__("" : "+r"(i));   /* keep it a loop of stores, not a memset */
        v[i] = z;
    }
    if (sizeof(csp__g) % 16) memset((char *)g + sizeof(csp__g) / 16 * 16, 0, sizeof(csp__g) % 16);
#else
    memset(g, 0, sizeof *g);
#endif
}
CSP__FN csp__g *csp__g_alloc(size_t req, int *err) {
    size_t size = csp__stack_size_norm(req);
    if (size == 0) { *err = -ENOMEM; return NULL; }
    csp__segv_install();
    char *base; uintptr_t slot = 0; bool guarded;
    if (size == (size_t)CSP_DEFAULT_STACK_SIZE) {
        slot = csp__slot_get();
        if (!slot) { *err = -ENOMEM; return NULL; }
        base = (char *)(slot & ~(uintptr_t)1);
        guarded = slot & 1u;
    } else {
        void *a = mmap(NULL, CSP__GUARD_ZONE + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a == MAP_FAILED) { *err = -ENOMEM; return NULL; }
        madvise(a, CSP__GUARD_ZONE + size, MADV_NOHUGEPAGE);
        base = (char *)a;
        pthread_mutex_lock(&csp__stk.lock);
        csp__stack_mode_init();
        guarded = csp__guard(base);
        csp__stk.mappings++;
        pthread_mutex_unlock(&csp__stk.lock);
    }
    char *lo = base + CSP__GUARD_ZONE;
    csp__g *g = (csp__g *)(((uintptr_t)(lo + size) - sizeof(csp__g)) & ~(uintptr_t)63);
#ifdef CSP__ASAN
    /* A reused stack may still carry the poison of frames that never returned. */
    __asan_unpoison_memory_region(lo, size);
#endif
    /* TSan: a reused slot's last goroutine released it as it finished
     * (csp__gswitch_last); everyone who touched its descriptor did so
     * before handing it on to it. */
    csp__hb_acquire(g);
#ifdef CSP__TSAN
    /* The schedulers that ran the last goroutine of this slot read its
     * descriptor from their own fibers: the slot's reuse is ordered after
     * them by the run queues, which TSan only partly sees. */
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
    csp__zero_g(g);
#ifdef CSP__TSAN
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
    g->stack_lo = lo;
    g->stack_size = size;
    g->resv = base;
    g->resv_size = CSP__GUARD_ZONE + size;
    g->slot = slot;
    if (!guarded) {
        g->flags |= CSP__GF_CANARY;
        *(volatile uint64_t *)lo = CSP__CANARY;
    }
#ifdef CSP__ASAN
    g->asan_bottom = lo; g->asan_size = (size_t)((char *)g - lo);
    __lsan_register_root_region(lo, (size_t)((char *)g - lo));
#endif
#ifdef CSP__TSAN
    g->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef CSP_VALGRIND
    g->vg_id = VALGRIND_STACK_REGISTER(lo, lo + size);
#endif
    *err = 0;
    return g;
}

/* csp__g_free: release a context made by csp__g_alloc. It must not be the
 * running one (its stack is the one being given back). */
CSP__FN void csp__g_free(csp__g *g) {
    csp__hb_acquire(g);
#ifdef CSP__ASAN
    __lsan_unregister_root_region(g->stack_lo, (size_t)((char *)g - g->stack_lo));
#endif
#ifdef CSP__TSAN
    __tsan_destroy_fiber(g->tsan_fiber);
#endif
#ifdef CSP_VALGRIND
    VALGRIND_STACK_DEREGISTER(g->vg_id);
#endif
    uintptr_t slot = g->slot;
    if (slot) {
        csp__slot_put(slot);
    } else {
        size_t rs = g->resv_size;
        char *base = g->resv;
        if (munmap(base, rs) == 0) {
            pthread_mutex_lock(&csp__stk.lock);
            csp__stk.mappings--;
            pthread_mutex_unlock(&csp__stk.lock);
        }
    }
}

/* >>switching contexts ======================================================
 * csp__gswitch(from, to): run `to` on this thread; returns when something
 * switches back to `from`. Tells the sanitizers first: ASan's fiber API (so
 * its stack bookkeeping follows us), TSan's fiber API with no_sync (a switch
 * itself is not a synchronisation: races between goroutines sharing a thread
 * stay visible; the runtime's atomics provide the real happens-before). */
CSP_NORETURN CSP__FN void csp__stack_overflow(csp__g *g);

CSP__FN void csp__g_start(void *p) {
    csp__g *g = (csp__g *)p;
#ifdef CSP__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    csp__hb_acquire(g);   /* pairs with the creator's release of g */
    csp__hb_acquire(csp__tls());
    g->entry(g->entry_arg);
    csp__fatal("a context's entry function returned");
}

/* csp__g_init_ctx: the first switch to g runs entry(arg) on g's stack. */
CSP__FN void csp__g_init_ctx(csp__g *g, void (*entry)(void *), void *arg) {
    g->entry = entry;
    g->entry_arg = arg;
    csp__ctx_make(&g->ctx, (char *)g, csp__g_start, g);
    csp__hb_release(g);
}

/* Canary mode: the word at the bottom must be intact, and we must not be
 * standing below it right now. */
#define CSP__CANARY_CHECK(g)                                                     \
    do {                                                                         \
        if (((g)->flags & CSP__GF_CANARY) &&                                     \
            CSP__UNLIKELY(*(volatile uint64_t *)(g)->stack_lo != CSP__CANARY ||  \
                          (char *)__builtin_frame_address(0) < (g)->stack_lo))   \
            csp__stack_overflow(g);                                              \
    } while (0)

/* What both switches do first: the canary, the thread's current context,
 * the sanitizers' fiber switch (last: `from` never runs again, so ASan
 * drops its fake stack and TSan gets our last touch of it released). A
 * macro, not a function: TSan's fiber switch must happen in the frame that
 * switches (a return after it would pop the other fiber's shadow stack). */
#ifdef CSP__ASAN
#define CSP__ASAN_START_SWITCH(from, to, last) \
    __sanitizer_start_switch_fiber((last) ? NULL : &(from)->asan_fake, (to)->asan_bottom, (to)->asan_size)
#else
#define CSP__ASAN_START_SWITCH(from, to, last) ((void)0)
#endif
#ifdef CSP__TSAN
#define CSP__TSAN_SWITCH(to)                        \
    do {                                            \
        CSP__TSAN_READS_BEGIN();                    \
        void *fiber_ = (to)->tsan_fiber;            \
        CSP__TSAN_READS_END();                      \
        __tsan_switch_to_fiber(fiber_, CSP__TSAN_NO_SYNC); \
    } while (0)
#else
#define CSP__TSAN_SWITCH(to) ((void)0)
#endif
#define CSP__GSWITCH_BEGIN(from, to, last)                                       \
    do {                                                                         \
        CSP__CANARY_CHECK(from);                                                 \
        /* Relaxed atomic: written by whichever context runs on this thread     \
         * (TSan sees each goroutine as a fiber of its own). */                 \
        csp__store(&csp__tls()->cur, (to), CSP__RELAXED);                        \
        if (last) csp__hb_release(from);   /* our last touch: csp__g_free acquires it */ \
        CSP__ASAN_START_SWITCH(from, to, last);                                  \
        CSP__TSAN_SWITCH(to);                                                    \
    } while (0)

CSP__FN void csp__gswitch(csp__g *from, csp__g *to) {
    CSP__GSWITCH_BEGIN(from, to, false);
    csp__switch(&from->ctx, &to->ctx);
#ifdef CSP__ASAN
    __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
    /* TSan: we may be on another thread now; its thread-local state was made
     * before that thread released it (csp__tls_publish). */
    csp__hb_acquire(csp__tls());
}

/* csp__gswitch_last: like csp__gswitch for a context that will never run
 * again (ASan then drops its fake stack). */
CSP__FN void csp__gswitch_last(csp__g *from, csp__g *to) {
    CSP__GSWITCH_BEGIN(from, to, true);
    csp__switch(&from->ctx, &to->ctx);
    csp__fatal("a finished context was resumed");
}

/* csp__native_g: this thread's own context (its pthread stack), made on
 * first use together with the thread's signal stack. */
CSP__FN void csp__altstack_install(csp__tls_t *t);
CSP__FN csp__g *csp__native_g(void) {
    csp__tls_t *t = csp__tls();
    if (CSP__LIKELY(t->native != NULL)) return t->native;
    csp__g *g = (csp__g *)CSP_CALLOC(1, sizeof *g);
    if (!g) csp__fatal("out of memory");
    g->flags = CSP__GF_NATIVE;
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *addr; size_t sz;
        if (pthread_attr_getstack(&a, &addr, &sz) == 0) { g->stack_lo = (char *)addr; g->stack_size = sz; }
        pthread_attr_destroy(&a);
    }
#ifdef CSP__ASAN
    g->asan_bottom = g->stack_lo; g->asan_size = g->stack_size;
#endif
#ifdef CSP__TSAN
    g->tsan_fiber = __tsan_get_current_fiber();
#endif
    t->native = g;
    if (!csp__load(&t->cur, CSP__RELAXED)) csp__store(&t->cur, g, CSP__RELAXED);
    csp__segv_install();
    csp__altstack_install(t);
    pthread_once(&csp__tls_once, csp__tls_key_init);
    pthread_setspecific(csp__tls_key, t);
    csp__tls_publish(t);
    return g;
}

/* >>stack overflow ===========================================================
 * SIGSEGV/SIGBUS on an alternate signal stack: a fault inside the guard zone
 * of the context running on this thread is a stack overflow; anything else
 * goes to the handler that was there before us (ASan's, the user's) or to the
 * default action. */
static struct sigaction csp__old_segv, csp__old_bus;
static pthread_once_t csp__segv_once = PTHREAD_ONCE_INIT;
#define CSP__ALTSTACK_SIZE (64u * 1024u)

CSP_NORETURN CSP__FN void csp__stack_overflow(csp__g *g) {
    csp__write_str(2, "fatal error: stack overflow\n\ngoroutine ");
    csp__write_u64(2, g->id);
    csp__write_str(2, ": stack overflow (stack size ");
    csp__write_u64(2, g->stack_size);
    csp__write_str(2, " bytes");
    if (g->name[0]) { csp__write_str(2, ", name \""); csp__write_str(2, g->name); csp__write_str(2, "\""); }
    csp__write_str(2, ")\n");
    /* The high-water is the whole stack here; say how to size it. */
    csp__write_str(2, "stack used: all of it; give this goroutine a larger csp_go_opts.stack_size "
                      "(csp_dump shows each goroutine's high-water: \"stack N KiB of M KiB used\")\n");
    _exit(2);
}

static void csp__segv_handler(int sig, siginfo_t *si, void *uc) {
    csp__g *g = csp__load(&csp__tls_v.cur, CSP__RELAXED);
    char *a = (char *)si->si_addr;
    if (g && g->resv && a >= g->resv && a < g->stack_lo + 256) csp__stack_overflow(g);
    struct sigaction *old = sig == SIGSEGV ? &csp__old_segv : &csp__old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) { old->sa_sigaction(sig, si, uc); return; }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig); return;
    }
    /* Default action: restore it and let the faulting instruction run again. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
}

CSP__FN void csp__segv_install_once(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = csp__segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &csp__old_segv);
    sigaction(SIGBUS, &sa, &csp__old_bus);
}
static void csp__segv_install(void) { pthread_once(&csp__segv_once, csp__segv_install_once); }

/* Every thread that runs goroutines needs an alternate signal stack for the
 * overflow report; one already installed (ASan's) is kept. */
CSP__FN void csp__altstack_install(csp__tls_t *t) {
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE)) return;
    void *p = mmap(NULL, CSP__ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = p; ss.ss_size = CSP__ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) == 0) t->altstack = p;
    else munmap(p, CSP__ALTSTACK_SIZE);
}

CSP__FN void csp__plain_exit(void);
CSP__FN void csp__thread_exit_hook(void *p) {
    csp__tls_t *t = (csp__tls_t *)p;
    csp__stk_flush_cache(t);
    if (t->plain) { t->plain = 0; csp__plain_exit(); }
    if (t->altstack) {
        stack_t ss;
        memset(&ss, 0, sizeof ss);
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
        munmap(t->altstack, CSP__ALTSTACK_SIZE);
        t->altstack = NULL;
    }
    if (t->native) { CSP_FREE(t->native); t->native = NULL; }
    csp__store(&t->cur, (csp__g *)NULL, CSP__RELAXED);
}


/* >>runtime lock ==============================================================
 * csp__lock_t: a futex mutex (0 free, 1 held, 2 held with sleepers). Unlike a
 * pthread mutex it may be released by another context than the one that
 * took it: a goroutine that parks holding a channel's lock has it released
 * by whoever runs next on its thread, once the goroutine is off its stack.
 * Spins briefly (the holder is runtime code, never user code), then sleeps. */
typedef struct csp__lock_t { uint32_t v; } csp__lock_t;

/* Contended: poll the lock word a few times, far apart, then sleep on the
 * futex. Far apart is what matters: a waiter that reads the lock's cache
 * line every pause (as this did: 64 polls, one PAUSE apart) steals the line
 * from the holder, whose unlock and data (a channel's fields share the
 * line) then miss; a waiter that keeps off lets the holder finish, and
 * often run several critical sections in a row with the line in its cache.
 * Measured here (2 cores, PAUSE = 20 ns): chan/contended 21 -> 5.5 us,
 * select/sync_contended 1260 -> 340 ns, chan/prodcons/100 220 -> 55 ns.
 * The whole spin is ~16 us at most before the futex: less than a futex
 * sleep and wake-up cost a waiter in this VM.
 * One early poll first (8 pauses): a holder between two stretches of user
 * work (a producer's send between computations) is usually done by then,
 * and waiting the full 200 pauses for it was 40% of the CPU time of
 * chan/prodcons_work/100. Same binaries, medians of 5 (ns): prodcons_work
 * /100 235 -> 165, /10 265 -> 223, select/prodcons 303 -> 227; the
 * hammering rows (chan/contended, prodcons/N, select/sync_contended) level.
 * More early polls (a doubling backoff from 8) cost the hammering rows
 * 20-27% (stop 20). */
#ifndef CSP__LOCK_SPINS
#define CSP__LOCK_SPINS 5
#endif
#ifndef CSP__LOCK_FIRST
#define CSP__LOCK_FIRST 8
#endif
#ifndef CSP__LOCK_PAUSES
#define CSP__LOCK_PAUSES 200
#endif
CSP__FN CSP__NOINLINE void csp__lock_slow(csp__lock_t *l) {
    for (int i = 0; i < CSP__LOCK_SPINS; i++) {
        int np = i == 0 ? CSP__LOCK_FIRST : CSP__LOCK_PAUSES;
        for (int k = 0; k < np; k++) csp__cpu_relax();
        uint32_t z = 0;
        if (csp__load(&l->v, CSP__RELAXED) == 0 && csp__cas(&l->v, &z, 1, CSP__ACQUIRE)) return;
    }
    while (csp__xchg(&l->v, 2, CSP__ACQUIRE) != 0) csp__futex_wait(&l->v, 2, NULL);
}
CSP__FN void csp__lock(csp__lock_t *l) {
    uint32_t z = 0;
    if (CSP__LIKELY(csp__cas(&l->v, &z, 1, CSP__ACQUIRE))) return;
    csp__lock_slow(l);
}
CSP__FN bool csp__trylock(csp__lock_t *l) {
    uint32_t z = 0;
    return csp__cas(&l->v, &z, 1, CSP__ACQUIRE);
}
CSP__FN void csp__unlock(csp__lock_t *l) {
    if (CSP__UNLIKELY(csp__xchg(&l->v, 0, CSP__RELEASE) == 2)) csp__futex_wake(&l->v, 1);
}
/* A spin lock for critical sections of a few stores that are almost never
 * contended (a P's goroutine list: its holder, and now and then a dump):
 * the release is a plain store, where the futex lock's must be an xchg to
 * learn whether to wake (one locked instruction less per spawn and exit). */
typedef struct csp__spin_t { uint32_t v; } csp__spin_t;
CSP__FN CSP__NOINLINE void csp__spin_lock_slow(csp__spin_t *l) {
    for (int i = 0;; i++) {
        uint32_t z = 0;
        if (csp__load(&l->v, CSP__RELAXED) == 0 && csp__cas(&l->v, &z, 1, CSP__ACQUIRE)) return;
        if (i < 100) csp__cpu_relax(); else sched_yield();
    }
}
CSP__FN void csp__spin_lock(csp__spin_t *l) {
    uint32_t z = 0;
    if (CSP__LIKELY(csp__cas(&l->v, &z, 1, CSP__ACQUIRE))) return;
    csp__spin_lock_slow(l);
}
CSP__FN void csp__spin_unlock(csp__spin_t *l) { csp__store(&l->v, 0u, CSP__RELEASE); }

/* >>scheduler =================================================================
 * Go's G/M/P model.
 *   G  a goroutine (csp__g above), or the context of a plain thread that
 *      called a blocking function (CSP__GF_THREAD: it parks on a futex).
 *   M  an OS thread that runs goroutines. Its g0 is its scheduler context
 *      (the thread's own stack; for the main thread, whose stack is
 *      goroutine 1's, a stack of its own).
 *   P  a processor: the right to run goroutines. csp_maxprocs() of them. An M
 *      needs a P to run a goroutine; each P has a local run queue.
 *
 * Switching. A goroutine that parks, yields or exits switches DIRECTLY to the
 * next runnable goroutine of its P when there is one (one switch per
 * hand-off, not two through g0), else to g0, which looks for work (global
 * queue, other Ps' queues, timers) and sleeps when there is none. What must
 * happen only once the old goroutine is off its stack (release the lock of
 * the object it waits on, free it, queue it) is left in m->hook and done by
 * whoever runs next on that thread (csp__after_switch): Go's gopark with its
 * unlockf, with the unlock done by the successor instead of by g0.
 *
 * Run queues (Go's runqput/runqget/runqgrab). Local: a ring of 256 with
 * `head` (consumers: owner and thieves, CAS) and `tail` (owner only,
 * store-release), plus `runnext`, a slot for the goroutine that the running
 * one just woke (ping-pong runs without touching the ring).
 *   R1 only the owner writes ring slots, and only in [tail, head+256);
 *   R2 a consumer reads slots [head, tail) and then claims them by CAS on
 *      head (release): a slot is not reused before the CAS that claimed it;
 *   R3 the owner loads head with acquire before reusing slots (pairs with
 *      R2's release), and publishes slots by a release store of tail, which
 *      thieves load with acquire;
 *   R4 slots are atomics (relaxed): a thief may read a slot that is being
 *      rewritten, but its CAS on head then fails and it retries.
 *   runnext is taken by CAS (owner or thief) and filled only by the owner:
 *   an empty one with a plain store-release (no one else can fill it), a
 *   full one by CAS (a thief may be taking the old one). Fairness: after 32 hand-offs
 *   in a row through runnext, the next pick comes from the ring's head, so
 *   a ping-pong pair cannot starve the rest of the queue; thieves may also
 *   steal runnext.
 * Global queue: a list under sched.lock, for plain threads, overflow and
 *   goroutines that lost their P. Checked every 61st schedule (Go's rule).
 * Spinning (Go's wakep): a newly runnable goroutine wakes an idle M only if
 *   there is an idle P and no M is spinning already; at most half the busy
 *   Ps' worth of Ms spin. A spinning M that finds nothing drops its P,
 *   decrements nmspinning, then rechecks every run queue (the other half of
 *   the Dekker pair with the producer's wakep), and only then sleeps.
 *   A producer on a P may miss a spinner; its own P runs the work then.
 * P states: IDLE (on the idle list or in hand-off), RUNNING (owned by m),
 *   SYSCALL (m is in a blocking section: anyone may CAS it away), RETAKING
 *   (sysmon is taking it from a goroutine that has not called the runtime
 *   for 10 ms; see sysmon). m->p is the M's P; it is valid only while the
 *   status says RUNNING for this M and m->p_lost is clear.
 * Lock order: sched.lock, then p->tlock (timers), then alllock. A channel or
 *   sync object's lock comes before all of them. */
enum { CSP__G_IDLE, CSP__G_RUNNABLE, CSP__G_RUNNING, CSP__G_WAITING, CSP__G_DEAD };
enum { CSP__P_IDLE, CSP__P_RUNNING, CSP__P_SYSCALL, CSP__P_RETAKING };
enum { CSP__HOOK_NONE, CSP__HOOK_PARK, CSP__HOOK_YIELD, CSP__HOOK_EXIT, CSP__HOOK_GLOBAL };
#define CSP__RUNQ 256u
#define CSP__MAXPROCS 1024

typedef struct csp__tmr csp__tmr;
typedef struct csp__p csp__p;
typedef bool (*csp__unlockf)(csp__g *g, void *arg);

typedef struct csp__m {
    csp__g *g0;              /* scheduler context */
    csp__g *curg;            /* goroutine running here (or NULL on g0) */
    csp__p *p;               /* attached P, see "P states" */
    csp__p *nextp;           /* handed over by the M that woke us (sched.lock) */
    uint32_t park;           /* futex: set to 1 to wake an idle M */
    uint32_t inrt;           /* 1 while in runtime code (sysmon's retake handshake) */
    uint32_t np_defer;       /* this M polls without a P: csp__ready does not wake an M (it will run them) */
    uint32_t p_lost;         /* sysmon took our P while we were in user code */
    bool spinning;           /* looking for work, counted in sched.nmspinning */
    bool idle;               /* on sched.midle */
    struct csp__m *schedlink;/* sched.midle */
    int64_t sleep_until;     /* idle with a timeout for the nearest timer */
    int id;
    uint64_t rand;           /* per-M PRNG (steal order, select) */
    int hook;                /* CSP__HOOK_*: work left by the context that switched here */
    csp__g *hook_g;
    csp__unlockf hook_f;
    void *hook_arg;
    /* csp_lock_os_thread (see csp__stoplockedm): */
    csp__g *lockedg;         /* the goroutine locked to this M (atomic) */
    csp__g *lockhand;        /* dequeued here, locked to another M: g0 hands it over (atomic) */
    uint32_t exiting;        /* its locked goroutine ended: the thread ends (atomic) */
    bool lockwait;           /* sleeping in csp__stoplockedm (sched.lock) */
    struct csp__m *mfree;    /* sched.mfree: ended Ms, reused by csp__m_new */
} csp__m;


/* A list of goroutines with its own lock: one per P and one global (main's
 * and plain threads' spawns). A spawn adds to its P's list, so the lock
 * stays in that P's cache; one list shared by all Ps was bounced between
 * CPUs at every spawn and exit. A goroutine that ends on its list's P is
 * unlinked there; one that ends on another P is pushed on the list's
 * `dead` stack (one CAS), and the list's P unlinks it and frees its stack
 * at its next spawn or when it goes idle (csp__glist_drain): an exit on
 * another CPU never takes the lock. Dead goroutines still on a list read
 * as dead. `live` counts goroutines spawned minus ended on this P (it may
 * go negative: ends are counted where they happen); each P's is written
 * only by its holder, the global one atomically; the sum is the number of
 * goroutines. Lock order: after sched.alllock (which only serialises
 * dumps). */
typedef struct csp__glist {
    csp__spin_t lock;
    csp__g *head;
    int64_t live;            /* see above; atomic reads */
    csp__g *dead;            /* atomic: a stack linked by deadnext */
} csp__glist;
struct csp__p {
    int id;
    uint32_t status;         /* CSP__P_* (atomic) */
    bool retired;            /* id >= maxprocs: off the idle list (sched.lock) */
    bool inidle;             /* on sched.pidle (sched.lock) */
    csp__m *m;
    csp__p *link;            /* sched.pidle */
    uint32_t runqhead;       /* atomic, see R1-R4 */
    uint32_t runqtail;       /* atomic, written by the owner only */
    csp__g *runq[CSP__RUNQ]; /* atomic slots */
    csp__g *runnext;         /* atomic */
    uint32_t runnext_streak; /* owner only: consecutive runnext picks */
    uint32_t schedtick;      /* atomic: incremented at every schedule, by the P's owner only */
    uint32_t syscalltick;    /* atomic: incremented at every blocking section */
    /* timers: a 4-ary min-heap on `when`, under tlock */
    csp__lock_t tlock;
    struct csp__tment *theap;
    int ntimers, tcap;
    int64_t timer0;          /* atomic: earliest `when`, INT64_MAX if none */
    int64_t tfired;          /* tlock: the latest instant a fire here reported */
    /* sysmon's last observation of this P */
    uint32_t sm_schedtick, sm_syscalltick;
    int64_t sm_when;
    /* goroutines spawned here (see csp__glist), on a line of their own */
    csp__glist gl __attribute__((aligned(64)));
    uint64_t goid_next, goid_end;   /* owner only: a batch of ids from sched.goidgen */
    csp__g *gcache;          /* owner only: ended goroutines kept for reuse (see csp__gcache_put) */
    int ngcache;
};

static struct csp__sched_t {
    pthread_once_t once;
    int started;
    csp__lock_t lock;        /* protects what follows, up to `allg` */
    csp__g **runq;           /* the global queue: a ring of runq_cap (a power of 2) */
    int64_t runq_head, runq_cap;
    int64_t runqsize;        /* atomic reads without the lock */
    csp__p *pidle;
    int32_t npidle;          /* atomic */
    csp__m *midle;
    int32_t nmidle;
    int32_t mcount;          /* Ms made (sysmon excluded) */
    int32_t nmspinning;      /* atomic */
    int32_t maxprocs;        /* atomic */
    int32_t nallp;           /* atomic: Ps allocated (>= maxprocs after a shrink) */
    csp__p *allp[CSP__MAXPROCS];
    csp__m *timer_sleeper;   /* the idle M sleeping until the nearest timer */
    csp__lock_t alllock;     /* serialises dumps */
    csp__glist gl;           /* goroutines spawned without a P, and main */
    uint64_t goidgen;        /* atomic */
    int32_t nplain;          /* atomic: live plain threads that used the runtime */
    int64_t nwaitio;         /* atomic: goroutines waiting on fds (deadlock detection) */
    int32_t mid;             /* atomic: M ids */
    int membarrier;          /* MEMBARRIER_CMD_PRIVATE_EXPEDITED registered */
    int64_t coarse_now;      /* atomic: sysmon's clock, for wait durations */
    uint32_t sysmon_wake;    /* futex: sysmon sleeps here while the process is idle */
    int32_t sysmon_idle;     /* atomic: 1 while sysmon sleeps without a timeout */
    csp__m *m0;              /* the main thread's M */
    csp__g *g1;              /* goroutine 1 */
    int deadlock_checks;     /* disabled while the process dies */
    int64_t sm_stranded;     /* sysmon: since when work waits with an idle P */
    int32_t nmlocked;        /* Ms asleep for their locked goroutine (sched.lock) */
    csp__m *mfree;           /* ended Ms (sched.lock): their memory is reused, never freed,
                                because sysmon may still read an M it saw on a P */
} csp__sched = { PTHREAD_ONCE_INIT, 0, {0}, NULL, 0, 0, 0, NULL, 0, NULL, 0, 0, 0, 0, 0,
                 {NULL}, NULL, {0}, {{0}, NULL, 0, NULL}, 1, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 1, 0, 0, NULL };

static int64_t csp__dead_since;   /* sched.lock: when a deadlock was first suspected */
/* The poller's state the scheduler looks at (>>poller). */
static uint32_t csp__np_polling_flag;   /* atomic: an M blocks in epoll_wait */
static int64_t csp__np_poll_until;      /* atomic: until when */
static int64_t csp__np_lastpoll;        /* atomic: last poll */
CSP__FN int csp__netpoll(int64_t timeout_ns);
CSP__FN void csp__netpoll_break(void);
CSP__FN bool csp__np_waiters(void);
CSP__FN int csp__np_try_block(csp__m *m, int64_t until, bool spin);
CSP__FN bool csp__np_after_block(csp__m *m, int woke);

CSP__FN csp__m *csp__getm(void) { return csp__tls()->m; }

CSP__FN uint32_t csp__det_rand(void);
CSP__FN uint32_t csp__rand32(csp__m *m) {   /* xorshift64*, per M */
    if (CSP__UNLIKELY(csp__det.on)) return csp__det_rand();
    /* Relaxed atomics: every goroutine on this M uses it (one at a time). */
    uint64_t x = csp__load(&m->rand, CSP__RELAXED);
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    csp__store(&m->rand, x, CSP__RELAXED);
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static CSP__NOINLINE void csp__rt_init(void);
CSP__FN void csp__rt_init_once(void) { pthread_once(&csp__sched.once, csp__rt_init); }
CSP__FN csp__g *csp__self(void);
/* Start the runtime (once). Deterministic mode also adopts the main thread
 * as goroutine 1 at its first runtime call, whatever that call is: a main
 * not yet adopted is neither a goroutine nor a plain thread, and the one M
 * that a timer started for it then jumped the virtual clock past the
 * timer and declared a deadlock while main still ran. */
CSP__FN void csp__rt_start(void) {
    csp__rt_init_once();
    if (CSP__UNLIKELY(csp__det.on) && !__atomic_load_n(&csp__sched.g1, __ATOMIC_ACQUIRE) &&
        (pid_t)syscall(SYS_gettid) == getpid())
        csp__self();
}

/* >>deterministic mode ===========================================================
 * CSP_SEED=n (environment): the whole program runs on one thread with one
 * processor, and every scheduling choice comes from one generator seeded
 * with n: which runnable goroutine runs next (drawn uniformly from all of
 * them, not FIFO), select's case order and pick, timer ties. No sysmon (no
 * retakes, no hand-offs to other threads), no extra threads (csp_maxprocs
 * stays 1, csp_lock_os_thread only counts). So the same seed, program and
 * input give the same interleaving and output, byte for byte.
 * CSP_SEED_VIRTUAL_TIME=1 in addition: csp_now() is a virtual clock that
 * moves only when no goroutine can run, straight to the next timer: sleeps
 * and timeouts complete in order, without waiting, and do not depend on
 * how fast the machine is. Plain threads (pthreads that call csp) still run
 * on their own, so programs that use them are not deterministic; their own
 * timed waits use the real clock. Network readiness comes from the kernel.
 * Implementation: every run queue operation goes to one array (the "run
 * set", under its lock because plain threads may ready goroutines), and a
 * pick swaps a random element out. */
static struct { csp__lock_t lock; csp__g **q; int n, cap; } csp__dset;

CSP__FN uint32_t csp__det_rand(void) {
    uint64_t x = __atomic_load_n(&csp__det.rand, __ATOMIC_RELAXED);
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    __atomic_store_n(&csp__det.rand, x, __ATOMIC_RELAXED);
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}
CSP__FN void csp__det_push(csp__g *g) {
    csp__lock(&csp__dset.lock);
    if (csp__dset.n == csp__dset.cap) {
        int nc = csp__dset.cap ? csp__dset.cap * 2 : 256;
        csp__g **nq = (csp__g **)realloc(csp__dset.q, (size_t)nc * sizeof *nq);
        if (!nq) csp__fatal("out of memory");
        csp__dset.q = nq; csp__dset.cap = nc;
    }
    csp__dset.q[csp__dset.n] = g;
    __atomic_store_n(&csp__dset.n, csp__dset.n + 1, __ATOMIC_RELEASE);
    csp__unlock(&csp__dset.lock);
}
CSP__FN csp__g *csp__det_pick(void) {
    if (__atomic_load_n(&csp__dset.n, __ATOMIC_ACQUIRE) == 0) return NULL;
    csp__lock(&csp__dset.lock);
    csp__g *g = NULL;
    if (csp__dset.n > 0) {
        int i = (int)(csp__det_rand() % (uint32_t)csp__dset.n);
        g = csp__dset.q[i];
        csp__dset.q[i] = csp__dset.q[csp__dset.n - 1];
        __atomic_store_n(&csp__dset.n, csp__dset.n - 1, __ATOMIC_RELEASE);
    }
    csp__unlock(&csp__dset.lock);
    return g;
}
CSP__FN bool csp__det_empty(void) { return __atomic_load_n(&csp__dset.n, __ATOMIC_ACQUIRE) == 0; }

/* ---- local run queue ------------------------------------------------------- */
/* The global queue is a ring of pointers, not a list through the Gs: a
 * batch taken under sched.lock is a copy, where a list walk took a cache
 * miss per G (each lives on its own stack's page) with the lock held
 * (time/sleep: 10% of its time there, the other P waiting on the lock). */
CSP__FN void csp__globrunq_put_locked(csp__g *g) {
    if (CSP__UNLIKELY(csp__det.on)) { csp__det_push(g); return; }
    int64_t sz = csp__sched.runqsize, cap = csp__sched.runq_cap;
    if (sz == cap) {   /* grow: unwrap into a ring twice the size */
        int64_t nc = cap ? 2 * cap : 256;
        csp__g **nq = (csp__g **)CSP_MALLOC((size_t)nc * sizeof *nq);
        if (!nq) csp__fatal("out of memory");
        for (int64_t i = 0; i < sz; i++) nq[i] = csp__sched.runq[(csp__sched.runq_head + i) & (cap - 1)];
        CSP_FREE(csp__sched.runq);
        csp__sched.runq = nq;
        csp__sched.runq_head = 0;
        csp__sched.runq_cap = cap = nc;
    }
    csp__sched.runq[(csp__sched.runq_head + sz) & (cap - 1)] = g;
    csp__store(&csp__sched.runqsize, sz + 1, CSP__RELAXED);
}

/* Overflow: move half of the ring and g to the global queue. */
CSP__FN bool csp__runq_put_slow(csp__p *p, csp__g *g, uint32_t h, uint32_t t) {
    csp__g *batch[CSP__RUNQ / 2 + 1];
    uint32_t n = (t - h) / 2;
    for (uint32_t i = 0; i < n; i++) batch[i] = csp__load(&p->runq[(h + i) % CSP__RUNQ], CSP__RELAXED);
    if (!csp__cas(&p->runqhead, &h, h + n, CSP__RELEASE)) return false;
    batch[n] = g;
    csp__lock(&csp__sched.lock);
    for (uint32_t i = 0; i <= n; i++) csp__globrunq_put_locked(batch[i]);
    csp__unlock(&csp__sched.lock);
    return true;
}

/* csp__runq_put: owner only. next: put g in runnext (kicking the previous
 * one to the tail). */
CSP__FN void csp__runq_put(csp__p *p, csp__g *g, bool next) {
    if (CSP__UNLIKELY(csp__det.on)) { csp__det_push(g); return; }
    if (next) {
        csp__g *old = csp__load(&p->runnext, CSP__RELAXED);
        /* Empty: only the owner (us) fills it, so a plain store; full: a
         * thief may take `old` meanwhile, and the CAS tells who has it. */
        if (!old) { csp__store(&p->runnext, g, CSP__RELEASE); return; }
        while (!csp__cas_weak(&p->runnext, &old, g, CSP__RELEASE)) {}
        if (!old) return;
        g = old;
    }
    for (;;) {
        uint32_t h = csp__load(&p->runqhead, CSP__ACQUIRE);
        uint32_t t = csp__load(&p->runqtail, CSP__RELAXED);
        if (t - h < CSP__RUNQ) {
            csp__store(&p->runq[t % CSP__RUNQ], g, CSP__RELAXED);
            csp__store(&p->runqtail, t + 1, CSP__RELEASE);
            return;
        }
        if (csp__runq_put_slow(p, g, h, t)) return;
    }
}

/* csp__runq_get: owner only. */
CSP__FN csp__g *csp__runq_get(csp__p *p) {
    if (CSP__UNLIKELY(csp__det.on)) return csp__det_pick();
    csp__g *next = csp__load(&p->runnext, CSP__RELAXED);
    uint32_t streak = csp__load(&p->runnext_streak, CSP__RELAXED);
    if (next && (streak < 32 || csp__load(&p->runqtail, CSP__RELAXED) == csp__load(&p->runqhead, CSP__RELAXED))) {
        if (csp__cas(&p->runnext, &next, (csp__g *)NULL, CSP__ACQUIRE)) {
            csp__store(&p->runnext_streak, streak + 1, CSP__RELAXED);
            return next;
        }
    }
    csp__store(&p->runnext_streak, 0u, CSP__RELAXED);
    for (;;) {
        uint32_t h = csp__load(&p->runqhead, CSP__ACQUIRE);
        /* acquire although we are the owner: another goroutine on this P
         * (another TSan fiber) may have queued the slot we are about to read. */
        uint32_t t = csp__load(&p->runqtail, CSP__ACQUIRE);
        if (t == h) break;
        csp__g *g = csp__load(&p->runq[h % CSP__RUNQ], CSP__RELAXED);
        if (csp__cas(&p->runqhead, &h, h + 1, CSP__RELEASE)) return g;
    }
    /* The ring is empty; runnext may still hold one (after a long streak). */
    next = csp__load(&p->runnext, CSP__RELAXED);
    if (next && csp__cas(&p->runnext, &next, (csp__g *)NULL, CSP__ACQUIRE)) return next;
    return NULL;
}

CSP__FN bool csp__runq_empty(csp__p *p) {
    if (CSP__UNLIKELY(csp__det.on)) return csp__det_empty();
    for (;;) {
        uint32_t h = csp__load(&p->runqhead, CSP__ACQUIRE);
        uint32_t t = csp__load(&p->runqtail, CSP__ACQUIRE);
        csp__g *n = csp__load(&p->runnext, CSP__ACQUIRE);
        if (t == csp__load(&p->runqtail, CSP__ACQUIRE)) return h == t && n == NULL;
    }
}

/* Take half of p2's queue into batch[] (Go's runqgrab). */
CSP__FN uint32_t csp__runq_grab(csp__p *p2, csp__g **batch, bool steal_next) {
    if (CSP__UNLIKELY(csp__det.on)) return 0;   /* one P: nothing to steal from */
    for (;;) {
        uint32_t h = csp__load(&p2->runqhead, CSP__ACQUIRE);
        uint32_t t = csp__load(&p2->runqtail, CSP__ACQUIRE);
        uint32_t n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (steal_next) {
                csp__g *next = csp__load(&p2->runnext, CSP__ACQUIRE);
                if (next && csp__load(&p2->status, CSP__ACQUIRE) == CSP__P_RUNNING) {
                    /* Go's back-off: its owner is about to run it (a hand-off
                     * in progress); stealing it would bounce the pair between
                     * threads. */
                    usleep(3);
                    next = csp__load(&p2->runnext, CSP__ACQUIRE);
                }
                if (next && csp__cas(&p2->runnext, &next, (csp__g *)NULL, CSP__ACQUIRE)) { batch[0] = next; return 1; }
            }
            return 0;
        }
        if (n > CSP__RUNQ / 2) continue;   /* inconsistent h/t: retry */
        for (uint32_t i = 0; i < n; i++) batch[i] = csp__load(&p2->runq[(h + i) % CSP__RUNQ], CSP__RELAXED);
        if (csp__cas(&p2->runqhead, &h, h + n, CSP__RELEASE)) return n;
    }
}

/* Steal half of p2's work into p (owned by the caller); returns one to run. */
CSP__FN csp__g *csp__runq_steal(csp__p *p, csp__p *p2, bool steal_next) {
    csp__g *batch[CSP__RUNQ / 2];
    uint32_t n = csp__runq_grab(p2, batch, steal_next);
    if (n == 0) return NULL;
    for (uint32_t i = 1; i < n; i++) csp__runq_put(p, batch[i], false);
    return batch[0];
}

/* Take a batch from the global queue (sched.lock held): one to run, some
 * more into p's ring. */
CSP__FN csp__g *csp__globrunq_get_locked(csp__p *p, int max) {
    if (CSP__UNLIKELY(csp__det.on)) return csp__det_pick();
    int64_t sz = csp__sched.runqsize;
    if (sz == 0) return NULL;
    int64_t n = sz / csp__load(&csp__sched.maxprocs, CSP__RELAXED) + 1;
    if (n > sz) n = sz;
    if (max > 0 && n > max) n = max;
    if (n > (int64_t)CSP__RUNQ / 2) n = CSP__RUNQ / 2;
    csp__store(&csp__sched.runqsize, sz - n, CSP__RELAXED);
    int64_t h = csp__sched.runq_head, mask = csp__sched.runq_cap - 1;
    csp__g *g = csp__sched.runq[h & mask];
    for (int64_t i = 1; i < n; i++) csp__runq_put(p, csp__sched.runq[(h + i) & mask], false);
    csp__sched.runq_head = (h + n) & mask;
    return g;
}

/* ---- idle Ps and Ms (sched.lock) ---------------------------------------------- */
CSP__FN void csp__pidle_put(csp__p *p) {
    csp__store(&p->m, (csp__m *)NULL, CSP__RELAXED);
    csp__store(&p->status, (uint32_t)CSP__P_IDLE, CSP__RELEASE);
    if (p->inidle) csp__fatal("scheduler: P put on the idle list twice");
    if (p->id >= csp__sched.maxprocs) {   /* above maxprocs (a shrink): retire it */
        p->retired = true;
        return;
    }
    p->retired = false;
    p->inidle = true;
    p->link = csp__sched.pidle;
    csp__sched.pidle = p;
    csp__fadd(&csp__sched.npidle, 1, CSP__SEQCST);
}
CSP__FN csp__p *csp__pidle_get(void) {
    csp__p **pp = &csp__sched.pidle;
    int maxp = csp__load(&csp__sched.maxprocs, CSP__RELAXED);
    while (*pp) {   /* Ps above maxprocs (after a shrink) are not handed out */
        csp__p *p = *pp;
        if (p->id < maxp) {
            *pp = p->link;
            p->inidle = false;
            csp__fsub(&csp__sched.npidle, 1, CSP__SEQCST);
            return p;
        }
        pp = &p->link;
    }
    return NULL;
}

CSP__FN void csp__sysmon_kick(void) {   /* a P got busy: sysmon must watch it */
    if (csp__load(&csp__sched.sysmon_idle, CSP__ACQUIRE)) {
        csp__store(&csp__sched.sysmon_wake, 1u, CSP__RELEASE);
        csp__futex_wake(&csp__sched.sysmon_wake, 1);
    }
}
CSP__FN void csp__acquirep(csp__m *m, csp__p *p) {
    csp__store(&m->p, (csp__p *)(p), CSP__RELAXED);
    csp__store(&p->m, m, CSP__RELAXED);
    csp__store(&m->p_lost, 0u, CSP__RELAXED);
    csp__store(&p->status, (uint32_t)CSP__P_RUNNING, CSP__RELEASE);
    csp__hb_acquire(p);
    csp__sysmon_kick();
}
CSP__FN csp__p *csp__releasep(csp__m *m) {
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    csp__hb_release(p);
    csp__store(&m->p, (csp__p *)(NULL), CSP__RELAXED);
    return p;
}

static void *csp__mstart(void *arg);
CSP__FN csp__m *csp__m_new(void) {
    csp__lock(&csp__sched.lock);
    csp__m *m = csp__sched.mfree;
    if (m) csp__sched.mfree = m->mfree;
    csp__unlock(&csp__sched.lock);
    if (m) memset(m, 0, sizeof *m);
    else m = (csp__m *)csp__line_alloc(sizeof *m);
    if (!m) csp__fatal("out of memory");
    m->id = csp__fadd(&csp__sched.mid, 1, CSP__RELAXED);
    m->rand = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(uintptr_t)m * 0xBF58476D1CE4E5B9ull) ^ (uint64_t)csp_now();
    if (!m->rand) m->rand = 1;
    m->inrt = 1;
    return m;
}

/* Start an OS thread for m (which will take m->nextp). */
CSP__FN void csp__newm(csp__p *p, bool spinning) {
    CSP__TSAN_UNHOOK_BEGIN();
    csp__m *m = csp__m_new();
    m->nextp = p;
    m->spinning = spinning;
    csp__lock(&csp__sched.lock);
    csp__sched.mcount++;
    csp__unlock(&csp__sched.lock);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &a, csp__mstart, m);
    pthread_attr_destroy(&a);
    if (rc != 0) csp__fatal("cannot create a thread (pthread_create failed)");
    CSP__TSAN_UNHOOK_END();
}

/* startm: run p (or an idle P) on an idle M, or on a new one. */
CSP__FN void csp__startm(csp__p *p, bool spinning) {
    csp__lock(&csp__sched.lock);
    if (!p) {
        p = csp__pidle_get();
        if (!p) {
            csp__unlock(&csp__sched.lock);
            if (spinning) csp__fsub(&csp__sched.nmspinning, 1, CSP__SEQCST);
            return;
        }
    }
    csp__m *m = csp__sched.midle;
    if (m) {
        csp__sched.midle = m->schedlink;
        csp__sched.nmidle--;
        m->idle = false;
        if (csp__sched.timer_sleeper == m) csp__sched.timer_sleeper = NULL;
        m->spinning = spinning;
        m->nextp = p;
        csp__unlock(&csp__sched.lock);
        csp__store(&m->park, 1u, CSP__RELEASE);
        csp__futex_wake(&m->park, 1);
        return;
    }
    if (CSP__UNLIKELY(csp__det.on) && csp__sched.mcount > 0) {
        /* One thread only: the busy M will find the work itself. */
        csp__pidle_put(p);
        csp__unlock(&csp__sched.lock);
        if (spinning) csp__fsub(&csp__sched.nmspinning, 1, CSP__SEQCST);
        return;
    }
    csp__unlock(&csp__sched.lock);
    csp__newm(p, spinning);
}

/* wakep: more work appeared; get an M spinning if there is an idle P and
 * nobody spins already. */
CSP__FN void csp__wakep(void) {
    if (csp__load(&csp__sched.npidle, CSP__SEQCST) == 0) return;
    int32_t z = 0;
    if (csp__load(&csp__sched.nmspinning, CSP__SEQCST) != 0 ||
        !csp__cas(&csp__sched.nmspinning, &z, 1, CSP__SEQCST)) return;
    csp__startm(NULL, true);
}

CSP__FN bool csp__p_has_work(csp__p *p) {
    return !csp__runq_empty(p) || csp__load(&csp__sched.runqsize, CSP__RELAXED) > 0;
}

CSP__FN void csp__wake_timer_sleeper(int64_t when);

/* handoffp: p was taken from an M (blocking section, hog): give it to an M
 * if there is work for it, else make it idle. */
CSP__FN void csp__handoffp(csp__p *p) {
    if (csp__p_has_work(p)) { csp__startm(p, false); return; }
    if (csp__load(&csp__sched.nmspinning, CSP__SEQCST) + csp__load(&csp__sched.npidle, CSP__SEQCST) == 0) {
        int32_t z = 0;
        if (csp__cas(&csp__sched.nmspinning, &z, 1, CSP__SEQCST)) { csp__startm(p, true); return; }
    }
    int64_t t0 = csp__load(&p->timer0, CSP__ACQUIRE);
    csp__lock(&csp__sched.lock);
    csp__pidle_put(p);
    csp__unlock(&csp__sched.lock);
    if (t0 != INT64_MAX) csp__wake_timer_sleeper(t0);
}

/* ---- goroutine lists -------------------------------------------------------- */
/* Count a spawn (+1) or an end (-1) on p (NULL: the global count). */
CSP__FN void csp__live_add(csp__p *p, int64_t d) {
    /* p's holder only (a load and a store, no RMW: the line stays ours);
     * atomic because TSan sees each goroutine as a thread of its own. */
    if (p) csp__store(&p->gl.live, csp__load(&p->gl.live, CSP__RELAXED) + d, CSP__RELAXED);
    else csp__fadd(&csp__sched.gl.live, d, CSP__RELAXED);
}
/* Add g to p's list (NULL: the global one); counted unless it is main,
 * counted from the runtime's start (before the main thread is adopted). */
CSP__FN void csp__allg_add(csp__g *g, csp__p *p, bool count) {
    csp__glist *l = p ? &p->gl : &csp__sched.gl;
    g->gl = l;
    csp__spin_lock(&l->lock);
    g->allprev = NULL;
    g->allnext = l->head;
    if (l->head) l->head->allprev = g;
    l->head = g;
    csp__spin_unlock(&l->lock);
    if (count) csp__live_add(p, 1);
}
CSP__FN void csp__allg_unlink(csp__g *g) {
    csp__glist *l = g->gl;
    csp__spin_lock(&l->lock);
    if (g->allprev) g->allprev->allnext = g->allnext; else l->head = g->allnext;
    if (g->allnext) g->allnext->allprev = g->allprev;
    csp__spin_unlock(&l->lock);
}
/* ---- reusing ended goroutines ---------------------------------------------------
 * An ended goroutine of p's list, with a default-size stack, may stay on the
 * list (dead) and in p's cache instead of being unlinked and freed; a spawn
 * on p takes it back with its stack and its place on the list: no list lock
 * at either end (two locked instructions a spawn, 15% of go/create), no
 * descriptor zeroing beyond the scheduler's fields. Go keeps its dead Gs in
 * allgs the same way. p's holder only; the hb edges give TSan the owner's
 * view (each goroutine is a thread of its own to it). A dump may read a
 * cached descriptor while a spawn refills it: what a dump reads (status,
 * id, name, waitreason, waitsince) is written with atomics, the status
 * last and with release, and a dump skips the dead. */
#define CSP__GCACHE 32
CSP__FN bool csp__gcache_put(csp__p *p, csp__g *g) {   /* g is on p's list */
    csp__hb_acquire(g);   /* before reading it: its spawner and its last run released it */
    if (!g->slot || (g->flags & ~(uint32_t)CSP__GF_CANARY) != 0) return false;
    csp__hb_acquire(&p->gcache);
    if (p->ngcache >= CSP__GCACHE) { csp__hb_release(&p->gcache); return false; }
#ifdef CSP__TSAN
    __tsan_destroy_fiber(g->tsan_fiber);   /* a new goroutine gets a fresh history */
    g->tsan_fiber = NULL;
#endif
    g->deadnext = p->gcache;
    p->gcache = g;
    p->ngcache++;
    /* Both edges, g's and the cache's: the cache's alone left TSan seeing
     * two spawns that reused g as unordered (fibers destroyed and made
     * again between them). */
    csp__hb_release(g);
    csp__hb_release(&p->gcache);
    return true;
}
/* A cached descriptor, reset for a new goroutine (or NULL). Its stack,
 * guard, flags, list place and sanitizer registrations stay as they were. */
CSP__FN csp__g *csp__gcache_get(csp__p *p) {
    csp__hb_acquire(&p->gcache);
    csp__g *g = p->gcache;
    if (g) { p->gcache = g->deadnext; p->ngcache--; }
    csp__hb_release(&p->gcache);
    if (!g) return NULL;
    csp__hb_acquire(g);
#ifdef CSP__ASAN
    __asan_unpoison_memory_region(g->stack_lo, g->stack_size);
#endif
#ifdef CSP__TSAN
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);   /* as in csp__g_alloc */
#endif
    /* The fields between `schedlink` and `allnext`; a dump reads two of them. */
    memset(&g->schedlink, 0, offsetof(csp__g, waitreason) - offsetof(csp__g, schedlink));
    csp__store(&g->waitreason, (const char *)NULL, CSP__RELAXED);
    csp__store(&g->waitsince, (int64_t)0, CSP__RELAXED);
    memset(&g->parkword, 0, offsetof(csp__g, allnext) - offsetof(csp__g, parkword));
    g->deadnext = NULL;
#ifdef CSP__ASAN
    g->asan_fake = NULL;
#endif
#ifdef CSP__TSAN
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    g->tsan_fiber = __tsan_create_fiber(0);
#endif
    if (g->flags & CSP__GF_CANARY) *(volatile uint64_t *)g->stack_lo = CSP__CANARY;
    return g;
}
/* Put a descriptor the spawn could not use back where it came from. */
CSP__FN void csp__g_free(csp__g *g);
CSP__FN void csp__spawn_undo(csp__g *g, csp__p *p, bool cached) {
    if (cached && csp__gcache_put(p, g)) return;
    if (cached) csp__allg_unlink(g);
    csp__hb_release(g);
    csp__g_free(g);
}
/* Names are written and read a byte at a time with atomics: a dump may
 * read a cached descriptor's name while a spawn rewrites it. */
CSP__FN void csp__g_set_name(csp__g *g, const char *name) {
    size_t i = 0;
    if (name) for (; i < sizeof g->name - 1 && name[i]; i++) csp__store(&g->name[i], name[i], CSP__RELAXED);
    if (i > 0 || csp__load(&g->name[0], CSP__RELAXED)) csp__store(&g->name[i], (char)0, CSP__RELAXED);
}
CSP__FN void csp__g_get_name(csp__g *g, char *out) {
    size_t i = 0;
    for (; i < sizeof g->name - 1; i++) {
        char c = csp__load(&g->name[i], CSP__RELAXED);
        if (!c) break;
        out[i] = c;
    }
    out[i] = 0;
}

/* p's holder: unlink and free the goroutines that ended elsewhere. */
CSP__FN void csp__glist_drain(csp__p *p) {
    if (CSP__LIKELY(!csp__load(&p->gl.dead, CSP__RELAXED))) return;
    csp__g *g = __atomic_exchange_n(&p->gl.dead, (csp__g *)NULL, __ATOMIC_ACQUIRE);
    while (g) {
        /* TSan: the push (csp__gfree) runs in a hook, whose edges TSan
         * ignores; g's own clock holds the last write of deadnext that it
         * saw (a csp__gcache_put here, before g was reused). */
        csp__hb_acquire(g);
        csp__g *next = g->deadnext;
        if (!csp__gcache_put(p, g)) {
            csp__allg_unlink(g);
            csp__g_free(g);
        }
        g = next;
    }
}
/* Goroutines alive: the sum of the counts (exact once spawns and exits
 * are ordered before the call). */
CSP__FN int64_t csp__ngoroutines(void) {
    int64_t n = csp__load(&csp__sched.gl.live, CSP__ACQUIRE);
    int np = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
    for (int i = 0; i < np; i++) n += csp__load(&csp__load(&csp__sched.allp[i], CSP__ACQUIRE)->gl.live, CSP__ACQUIRE);
    return n;
}
/* A goroutine id: from the P's batch (one shared counter bumped per spawn
 * bounced between CPUs, as Go's goidcache avoids), else one at a time. */
#define CSP__GOID_BATCH 16
CSP__FN uint64_t csp__goid(csp__p *p) {
    if (!p) return csp__fadd(&csp__sched.goidgen, 1, CSP__RELAXED);
    /* p's holder only; relaxed atomics because TSan sees each goroutine
     * as a thread of its own. */
    uint64_t id = csp__load(&p->goid_next, CSP__RELAXED);
    if (id == csp__load(&p->goid_end, CSP__RELAXED)) {
        id = csp__fadd(&csp__sched.goidgen, CSP__GOID_BATCH, CSP__RELAXED);
        csp__store(&p->goid_end, id + CSP__GOID_BATCH, CSP__RELAXED);
    }
    csp__store(&p->goid_next, id + 1, CSP__RELAXED);
    return id;
}

/* ---- switching with hooks ------------------------------------------------------ */
CSP__FN void csp__ready(csp__g *g);
CSP__FN void csp__gfree(csp__g *g);

CSP__FN int64_t csp__run_timers(csp__p *p, int64_t now);
/* Due timers of m's P, from a context that holds no lock: goroutines that
 * hand the P to each other directly (ping-pong, yield loops) never pass
 * through findrunnable, and a sleeper on their P must still wake (Go runs
 * checkTimers in every schedule). The clock is read only while the P has a
 * timer. */
CSP__FN void csp__poll_timers(csp__m *m) {
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    if (!p) return;
    int64_t t0 = csp__load(&p->timer0, CSP__RELAXED);
    if (CSP__LIKELY(t0 == INT64_MAX)) return;
    /* Every 8th schedule: a clock read per switch would cost more than the
     * switch (switches come every few ns in a hand-off chain). */
    if (csp__load(&p->schedtick, CSP__RELAXED) & 7u) return;
    int64_t now = csp_now();
    if (t0 <= now) csp__run_timers(p, now);
}

/* One more schedule on m's P. Only the P's owner writes schedtick (sysmon
 * only reads it), so a load and a store: Go's pp.schedtick++. A locked
 * add here was one locked instruction per switch. */
CSP__FN void csp__schedtick_inc(csp__m *m) {
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    csp__store(&p->schedtick, csp__load(&p->schedtick, CSP__RELAXED) + 1u, CSP__RELAXED);
}

/* Run what the context that switched to us left to do. */
CSP__FN void csp__after_switch_hook(csp__m *m);
CSP__FN void csp__after_switch(void) {
    csp__m *m = csp__getm();
    if (CSP__UNLIKELY(csp__load(&m->hook, CSP__RELAXED) != CSP__HOOK_NONE)) csp__after_switch_hook(m);
    csp__poll_timers(m);
}
CSP__FN void csp__after_switch_hook(csp__m *m) {
    int hook = csp__load(&m->hook, CSP__RELAXED);
    CSP__TSAN_HOOK_BEGIN();
    csp__g *g = csp__load(&m->hook_g, CSP__RELAXED);
    csp__store(&m->hook, (int)CSP__HOOK_NONE, CSP__RELAXED);
    switch (hook) {
    case CSP__HOOK_PARK:
        if (csp__load(&m->hook_f, CSP__RELAXED) && !csp__load(&m->hook_f, CSP__RELAXED)(g, csp__load(&m->hook_arg, CSP__RELAXED))) {
            /* unlockf says: do not park after all. */
            csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELAXED);
            csp__runq_put(csp__load(&m->p, CSP__RELAXED), g, true);
        }
        break;
    case CSP__HOOK_YIELD:
        csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELAXED);
        if (csp__load(&m->p, CSP__RELAXED)) csp__runq_put(csp__load(&m->p, CSP__RELAXED), g, false);
        else { csp__lock(&csp__sched.lock); csp__globrunq_put_locked(g); csp__unlock(&csp__sched.lock); }
        break;
    case CSP__HOOK_GLOBAL:   /* g lost its P: it waits on the global queue */
        csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELAXED);
        csp__lock(&csp__sched.lock);
        csp__globrunq_put_locked(g);
        csp__unlock(&csp__sched.lock);
        csp__wakep();
        break;
    case CSP__HOOK_EXIT:
        csp__gfree(g);
        break;
    }
    CSP__TSAN_HOOK_END();
}

/* Switch from the running goroutine `from` to `to` (a goroutine, or m->g0)
 * on m. `to` becomes m->curg. Returns when `from` runs again, on whatever M
 * it then runs. */
CSP__FN void csp__mark_running(csp__g *g) {   /* by g itself, once it runs */
    csp__store(&g->m, csp__getm(), CSP__RELAXED);
    csp__store(&g->status, (uint32_t)CSP__G_RUNNING, CSP__RELAXED);
}
CSP__FN uint32_t csp__peek_flags(csp__g *g) {   /* set once at creation */
    CSP__TSAN_READS_BEGIN();
    uint32_t f = g->flags;
    CSP__TSAN_READS_END();
    return f;
}
CSP__FN void csp__switch_to(csp__m *m, csp__g *from, csp__g *to) {
    if (!(csp__peek_flags(to) & CSP__GF_G0)) {
        csp__store(&m->curg, (csp__g *)(to), CSP__RELAXED);
        csp__schedtick_inc(m);
    } else {
        csp__store(&m->curg, (csp__g *)(NULL), CSP__RELAXED);
    }
    /* TSan: switches are no_sync, so a goroutine's touches of m (curg,
     * schedtick, lockedg, hooks) are released here for csp__mexit, which
     * acquires m before the M's memory is recycled. Only mexit acquires it:
     * goroutines sharing this thread stay unordered with each other. */
    if (!(from->flags & CSP__GF_G0)) csp__hb_release(m);
    csp__gswitch(from, to);
    if (!(from->flags & CSP__GF_G0)) csp__mark_running(from);
    csp__after_switch();
}

/* The next goroutine of m's P, without blocking: the global queue every 61st
 * schedule, else the local queue. */
CSP__FN csp__g *csp__next_local_raw(csp__m *m) {
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    if (CSP__UNLIKELY(csp__load(&p->schedtick, CSP__RELAXED) % 61 == 0) && csp__load(&csp__sched.runqsize, CSP__RELAXED) > 0) {
        csp__lock(&csp__sched.lock);
        csp__g *g = csp__globrunq_get_locked(p, 1);
        csp__unlock(&csp__sched.lock);
        if (g) return g;
    }
    if (CSP__UNLIKELY(p->id >= csp__load(&csp__sched.maxprocs, CSP__RELAXED))) return NULL;  /* g0 drops it */
    return csp__runq_get(p);
}
/* A goroutine locked to another M is not run here: it is left in
 * m->lockhand for g0, which gives it our P (csp__startlockedm). */
/* g, dequeued to run on m, unless it is locked to another thread: then it
 * is m's to hand over (m->lockhand, by g0) and NULL is returned. */
CSP__FN csp__g *csp__runnable_here(csp__m *m, csp__g *g) {
    csp__m *lm = g ? csp__load(&g->lockedm, CSP__RELAXED) : NULL;
    if (CSP__UNLIKELY(lm && lm != m)) {
        csp__store(&m->lockhand, g, CSP__RELAXED);
        return NULL;
    }
    return g;
}
CSP__FN csp__g *csp__next_local(csp__m *m) { return csp__runnable_here(m, csp__next_local_raw(m)); }

/* ---- entering and leaving the runtime ------------------------------------------
 * Every public call that uses the scheduler brackets its work with
 * csp__enter()/csp__leave(). enter makes sure the M owns its P (sysmon may
 * have taken it while we ran user code; a blocking section gives it up), so
 * that runtime code never runs on a P it does not own.
 * Hog retake handshake (sysmon, below): the M stores inrt = 1, then loads its
 * P's status; sysmon CASes the status RUNNING -> RETAKING, then runs a
 * process-wide barrier (membarrier), then loads inrt. Either sysmon sees
 * inrt == 1 (it reverts the status) or the M sees RETAKING (it waits for
 * sysmon's verdict). Without membarrier both sides use seq_cst fences. */
CSP__FN void csp__reacquire_p(csp__m *m, csp__g *g);
CSP__FN csp__g *csp__self(void);
CSP__FN void csp__exitsyscall(csp__m *m, csp__g *g);
CSP__FN void csp__entersyscall(csp__m *m);

CSP__FN CSP__NOINLINE void csp__enter_slow(csp__m *m, csp__g *g) {
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    if (g && g->blockdepth > 0) { csp__exitsyscall(m, g); return; }
    if (p) {
        uint32_t st;
        while ((st = csp__load(&p->status, CSP__ACQUIRE)) == CSP__P_RETAKING) csp__cpu_relax();
        if (!csp__load(&m->p_lost, CSP__ACQUIRE) && st == CSP__P_RUNNING) return;   /* sysmon reverted */
    }
    csp__store(&m->p, (csp__p *)(NULL), CSP__RELAXED);
    csp__store(&m->p_lost, 0u, CSP__RELAXED);
    csp__reacquire_p(m, g);
}

/* Returns the current M with a usable P, or NULL on a plain thread. */
CSP__FN csp__m *csp__enter_m(csp__m *m);
CSP__FN csp__m *csp__enter(void) {
    csp__m *m = csp__getm();
    if (CSP__UNLIKELY(!m)) {
        csp__self();   /* the main thread's first call adopts it */
        m = csp__getm();
        if (!m) return NULL;
    }
    return csp__enter_m(m);
}
/* csp__enter_g: csp__self() then csp__enter(), with one thread-local read
 * for both (every blocking call makes the pair). *gp: the caller's
 * context. The M returned stays the caller's until it parks or yields;
 * until then it may be passed to csp__ready_m and csp__leave_m. */
CSP__FN csp__m *csp__enter_g(csp__g **gp) {
    csp__tls_t *t = csp__tls();
    csp__g *g = csp__load(&t->cur, CSP__RELAXED);
    csp__m *m = t->m;
    if (CSP__LIKELY(g != NULL && m != NULL)) { *gp = g; return csp__enter_m(m); }
    *gp = csp__self();
    return csp__enter();
}
CSP__FN csp__m *csp__enter_m(csp__m *m) {
    csp__store(&m->inrt, 1u, CSP__RELAXED);
    if (csp__sched.membarrier) __atomic_signal_fence(__ATOMIC_SEQ_CST);
    else __atomic_thread_fence(__ATOMIC_SEQ_CST);
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    if (CSP__UNLIKELY(!p || (g && g->blockdepth > 0) ||
                      csp__load(&p->status, CSP__ACQUIRE) != CSP__P_RUNNING ||
                      csp__load(&m->p_lost, CSP__RELAXED))) {
        csp__enter_slow(m, g);
        m = csp__getm();   /* getting a P back may have moved us to another thread */
    }
    return m;
}

/* csp__leave_m: csp__leave for a caller that has not parked or yielded
 * since csp__enter_g gave it m (so m is still its thread's). */
CSP__FN void csp__leave_m(csp__m *m) {
    if (!m) return;
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    if (!g) return;   /* g0 (timer callbacks): always in the runtime */
    if (g->blockdepth > 0) { csp__entersyscall(m); return; }
    csp__store(&m->inrt, 0u, CSP__RELEASE);
}
CSP__FN void csp__leave(void) { csp__leave_m(csp__getm()); }   /* re-read: we may have migrated */

/* ---- park and ready ---------------------------------------------------------------
 * csp__park(unlockf, arg, reason): the one way anything in the library
 * waits. The caller has registered the current context (csp__self()) as a
 * waiter of some object and holds that object's lock; unlockf(g, arg) runs
 * once g is off its stack (for a plain thread: right away) and releases the
 * lock; if it returns false, g does not park after all. Whoever finds the
 * waiter later calls csp__ready(g) exactly once. The waiter may be a
 * goroutine (it gives its thread to other goroutines) or a plain thread (it
 * sleeps on g->parkword). Call it between csp__enter and csp__leave.
 * hb: an address TSan should see released by the parker (the object's lock),
 * so that whoever takes that lock next is ordered after us. */
CSP__FN csp__g *csp__self(void);

CSP__FN void csp__park_m(csp__m *m, csp__unlockf unlockf, void *arg, const char *reason, void *hb);
CSP__FN void csp__park(csp__unlockf unlockf, void *arg, const char *reason, void *hb) {
    csp__park_m(csp__getm(), unlockf, arg, reason, hb);
}
/* csp__park_m: csp__park by a caller that knows its M (csp__enter_g's). */
CSP__FN void csp__park_m(csp__m *m, csp__unlockf unlockf, void *arg, const char *reason, void *hb) {
    if (!m) {
        csp__g *g = csp__self();
        csp__store(&g->waitreason, reason, CSP__RELAXED);
        csp__store(&g->parkword, 0u, CSP__RELAXED);
        csp__store(&g->status, (uint32_t)CSP__G_WAITING, CSP__RELAXED);
        (void)hb;
        if (unlockf && !unlockf(g, arg)) { csp__store(&g->status, (uint32_t)CSP__G_RUNNING, CSP__RELAXED); return; }
        int64_t deadline = g->park_deadline;
        if (deadline && CSP__UNLIKELY(csp__det.virt)) {   /* plain threads wait in real time */
            int64_t left = deadline - csp_now(), now = csp__mono();
            deadline = left <= 0 ? now : (left > INT64_MAX - now ? INT64_MAX : now + left);
        }
        while (csp__load(&g->parkword, CSP__ACQUIRE) == 0) {
            if (deadline) {
                int64_t left = deadline - csp__mono();
                uint32_t z = 0;
                /* Timed out: win our own select, unless a waker did first. */
                if (left <= 0 && csp__cas(&g->selectdone, &z, 1u, CSP__ACQREL)) { g->param = NULL; break; }
                if (left <= 0) { deadline = 0; continue; }
                struct timespec ts = { (time_t)(left / 1000000000), (long)(left % 1000000000) };
                csp__futex_wait(&g->parkword, 0, &ts);
            } else {
                csp__futex_wait(&g->parkword, 0, NULL);
            }
        }
        csp__store(&g->status, (uint32_t)CSP__G_RUNNING, CSP__RELAXED);
        csp__hb_acquire(g);
        return;
    }
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    csp__store(&g->waitreason, reason, CSP__RELAXED);
    csp__store(&g->waitsince, CSP__UNLIKELY(csp__det.on) ? csp_now()   /* no sysmon to keep the coarse clock */
                              : csp__load(&csp__sched.coarse_now, CSP__RELAXED), CSP__RELAXED);
    csp__store(&g->status, (uint32_t)CSP__G_WAITING, CSP__RELAXED);
    if (hb) csp__hb_release(hb);
    csp__store(&m->hook, (int)CSP__HOOK_PARK, CSP__RELAXED);
    csp__store(&m->hook_g, (csp__g *)(g), CSP__RELAXED);
    csp__store(&m->hook_f, (csp__unlockf)(unlockf), CSP__RELAXED);
    csp__store(&m->hook_arg, (void *)(arg), CSP__RELAXED);
    /* Locked to this thread: g0 gives our P away and the thread sleeps. */
    csp__g *next = csp__load(&m->lockedg, CSP__RELAXED) ? NULL : csp__next_local(m);
    csp__switch_to(m, g, next ? next : m->g0);
    csp__hb_acquire(g);
}

/* csp__ready: make a parked g runnable (Go's goready). From anywhere: a
 * goroutine (g goes to the caller's runnext: it runs next, as Go does), an M
 * without P or a plain thread (global queue). */
CSP__FN void csp__ready_m(csp__m *m, csp__g *g);
CSP__FN void csp__ready(csp__g *g) { csp__ready_m(csp__getm(), g); }
/* csp__ready_m: csp__ready by a caller that knows its M (csp__enter_g's). */
CSP__FN void csp__ready_m(csp__m *m, csp__g *g) {
    if (g->flags & CSP__GF_THREAD) {
        csp__hb_release(g);
        csp__store(&g->parkword, 1u, CSP__RELEASE);
        csp__futex_wake(&g->parkword, 1);
        return;
    }
    csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELAXED);
    csp__hb_release(g);   /* after our last write to g; g acquires it when it runs */
    csp__p *p = m ? csp__load(&m->p, CSP__RELAXED) : NULL;
    if (p && csp__load(&m->inrt, CSP__RELAXED) &&
        csp__load(&p->status, CSP__RELAXED) == CSP__P_RUNNING && csp__load(&p->m, CSP__RELAXED) == m) {
        csp__runq_put(p, g, true);
    } else {
        csp__lock(&csp__sched.lock);
        csp__globrunq_put_locked(g);
        csp__unlock(&csp__sched.lock);
    }
    /* A poller without a P readies onto the global queue and then takes a
     * P to run them itself (Go's netpoll list in findRunnable): waking
     * another thread for them would cost it two futex calls for nothing. */
    if (!m || !csp__load(&m->np_defer, CSP__RELAXED)) csp__wakep();
}

/* ---- goroutine creation and exit ----------------------------------------------- */
CSP__FN void csp__goexit(void);

CSP__FN void csp__goroutine_main(void *arg) {
    csp__g *g = (csp__g *)arg;
    csp__mark_running(g);
    csp__after_switch();
    csp__leave();
    g->fn(g->arg);
    csp__goexit();
}

/* Free an exited goroutine's stack (run by its successor, off its stack). */
/* Off its stack, by whoever runs next on its M: unlink it (its own P's
 * list, or the global one) and free its stack, or leave both to its list's
 * P (see csp__glist). */
CSP__FN void csp__gfree(csp__g *g) {
    /* TSan: we take over g's descriptor, whose last users (its spawner, a
     * cache it came from, its own run) released it; the CAS below passes
     * all that on to the draining P, which reads deadnext. */
    csp__hb_acquire(g);
    csp__glist *l = g->gl;
    csp__m *m = csp__getm();
    csp__p *p = m ? csp__load(&m->p, CSP__RELAXED) : NULL;
    if (l == &csp__sched.gl || (p && l == &p->gl)) {
        if (p && l == &p->gl && csp__gcache_put(p, g)) return;
        csp__allg_unlink(g);
        csp__g_free(g);
        return;
    }
    csp__hb_release(g);   /* our last touch: the draining P acquires the stack */
    csp__g *h = csp__load(&l->dead, CSP__RELAXED);
    do g->deadnext = h;
    while (!__atomic_compare_exchange_n(&l->dead, &h, g, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

CSP__FN void csp__goexit(void) {
    csp__m *m = csp__enter();
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    csp__store(&g->status, (uint32_t)CSP__G_DEAD, CSP__RELAXED);
    csp__live_add(csp__load(&m->p, CSP__RELAXED), -1);   /* counted where it ends (our P) */
    csp__store(&m->hook, (int)CSP__HOOK_EXIT, CSP__RELAXED);
    csp__store(&m->hook_g, (csp__g *)(g), CSP__RELAXED);
    csp__g *next = NULL;
    if (CSP__UNLIKELY(csp__load(&m->lockedg, CSP__RELAXED) == g)) {
        /* Ended while locked: the thread ends too (g0, csp__mexit). */
        csp__store(&m->lockedg, (csp__g *)NULL, CSP__RELAXED);
        csp__store(&g->lockedm, (csp__m *)NULL, CSP__RELAXED);
        csp__store(&m->exiting, 1u, CSP__RELAXED);
    } else {
        next = csp__next_local(m);
    }
    csp__g *to = next ? next : m->g0;
    if (next) {
        csp__store(&m->curg, (csp__g *)(to), CSP__RELAXED);
        csp__schedtick_inc(m);
    } else {
        csp__store(&m->curg, (csp__g *)(NULL), CSP__RELAXED);
    }
    /* TSan: our last touch of m, for csp__mexit (see csp__switch_to). */
    csp__hb_release(m);
    csp__gswitch_last(g, to);
}

CSP__FN int csp__spawn(csp_fn fn, void *arg, const void *copy, size_t copy_size, const csp_go_opts *opts) {
    if (!fn) csp_panic("go of nil func value");
    csp__rt_start();
    int err = 0;
    csp__m *m = csp__enter();
    csp__p *p = m ? csp__load(&m->p, CSP__RELAXED) : NULL;   /* ours while entered */
    csp__g *g = NULL;
    if (p) {
        csp__glist_drain(p);   /* goroutines that ended elsewhere: freed, or into the cache */
        if (!opts || csp__stack_size_norm(opts->stack_size) == (size_t)CSP_DEFAULT_STACK_SIZE) g = csp__gcache_get(p);
    }
    bool cached = g != NULL;
    if (!cached) {
        /* Making a stack may take syscalls: outside the runtime. */
        if (m) csp__leave();
        g = csp__g_alloc(opts ? opts->stack_size : 0, &err);
        if (!g) return err;
        m = csp__enter();
        p = m ? csp__load(&m->p, CSP__RELAXED) : NULL;
    }
    char *top = (char *)g;
    if (copy_size > 0) {
        if (copy_size > g->stack_size / 4) {
            csp__spawn_undo(g, p, cached);
            if (m) csp__leave();
            return -ENOMEM;
        }
        top = (char *)(((uintptr_t)top - copy_size) & ~(uintptr_t)(__alignof__(max_align_t) - 1));
        memcpy(top, copy, copy_size);
        arg = top;
    }
    g->fn = fn;
    g->arg = arg;
    csp__g_set_name(g, opts ? opts->name : NULL);
    g->entry = csp__goroutine_main;
    g->entry_arg = g;
    csp__ctx_make(&g->ctx, top, csp__g_start, g);
    csp__store(&g->id, csp__goid(p), CSP__RELAXED);
    if (cached) {
        csp__live_add(p, 1);
        csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELEASE);   /* last: a dump's acquire */
    } else {
        csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELAXED);
        csp__allg_add(g, p, true);   /* its lock publishes the fields */
    }
    csp__ready(g);   /* releases g for TSan; runnext of our P, or the global queue */
    if (m) csp__leave();
    return 0;
}

CSP__DEF int csp_go(csp_fn fn, void *arg) { return csp__spawn(fn, arg, NULL, 0, NULL); }
CSP__DEF int csp_go_ex(csp_fn fn, void *arg, const csp_go_opts *opts) { return csp__spawn(fn, arg, NULL, 0, opts); }
CSP__DEF int csp_go_copy(csp_fn fn, const void *arg, size_t size) {
    if (size == 0) return csp__spawn(fn, NULL, NULL, 0, NULL);
    return csp__spawn(fn, NULL, arg, size, NULL);
}

CSP__DEF void csp_yield(void) {
    csp__self();
    csp__m *m = csp__enter();
    if (!m) { sched_yield(); return; }
    csp__poll_timers(m);   /* a goroutine alone on its P, yielding until a timer fires */
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    bool locked = csp__load(&m->lockedg, CSP__RELAXED) != NULL;
    csp__g *next = csp__next_local(m);
    if (!next && !csp__load(&m->lockhand, CSP__RELAXED) && csp__load(&csp__sched.runqsize, CSP__RELAXED) > 0) {
        csp__lock(&csp__sched.lock);
        next = csp__globrunq_get_locked(csp__load(&m->p, CSP__RELAXED), 0);
        csp__unlock(&csp__sched.lock);
        next = csp__runnable_here(m, next);
    }
    if (!next && !csp__load(&m->lockhand, CSP__RELAXED) && csp__np_waiters() && !csp__load(&csp__np_polling_flag, CSP__ACQUIRE) && csp__netpoll(0) > 0)
        next = csp__next_local(m);   /* an fd became ready: that goroutine runs */
    /* A locked goroutine never hands its thread to another: with other work
     * it queues itself and g0 passes the P on (csp__stoplockedm); the one
     * dequeued (next) goes back first. A goroutine dequeued for another
     * thread (lockhand) is handed over by g0. */
    if (next && locked) { csp__runq_put(csp__load(&m->p, CSP__RELAXED), next, false); next = m->g0; }
    else if (!next && csp__load(&m->lockhand, CSP__RELAXED)) next = m->g0;
    /* A yield is a schedule even when nothing else can run: sysmon must not
     * take this goroutine for a hog. */
    if (!next) csp__schedtick_inc(m);
    if (next) {
        csp__store(&m->hook, (int)CSP__HOOK_YIELD, CSP__RELAXED);
        csp__store(&m->hook_g, (csp__g *)(g), CSP__RELAXED);
        csp__hb_release(g);
        csp__switch_to(m, g, next);
        csp__hb_acquire(g);
    }
    csp__leave();
}

/* ---- timers (the heap; Timer, Ticker and friends build on it) --------------------
 * Each P has a 4-ary min-heap of csp__tmr (Go 1.14+), under p->tlock. A
 * timer is in at most one heap (t->p, t->idx >= 0). p->timer0 mirrors the
 * earliest `when` so that schedulers can peek without the lock. Due timers
 * run in the scheduler (g0 or a parking goroutine's successor) of any M that
 * holds a P: their callbacks must not block. A P's timer0 != INT64_MAX
 * means a timer is pending: the process is not deadlocked. */
struct csp__tmr {
    int64_t when;
    int64_t period;          /* > 0: re-armed after each firing */
    void (*f)(csp__tmr *t, int64_t now);
    void *arg;
    csp__p *p;               /* heap it is in (p->tlock) */
    int idx;                 /* index in that heap, -1 when not in one */
    uint64_t seq;            /* bumped at every (re)arm: stale fires are ignored */
    uint32_t waited;         /* its owner waits for a running f before reusing it */
    uint32_t running;        /* atomic: f is running (only when `waited`) */
    uint32_t tie;            /* order among equal `when`s: 0, or random in deterministic mode */
};
/* A heap entry carries its timer's deadline: a sift compares entries in
 * the array (four children on one cache line) instead of following a
 * pointer to each timer (with 32k timers in a heap, a cache miss each).
 * Heap order: by deadline, ties broken by the timer's `tie`. */
typedef struct csp__tment { int64_t when; csp__tmr *t; } csp__tment;
#define csp__tment_before(a, b) ((a).when < (b).when || ((a).when == (b).when && (a).t->tie < (b).t->tie))

CSP__FN void csp__theap_up(csp__p *p, int i) {
    csp__tment e = p->theap[i];
    while (i > 0) {
        int parent = (i - 1) / 4;
        if (!csp__tment_before(e, p->theap[parent])) break;
        p->theap[i] = p->theap[parent]; p->theap[i].t->idx = i;
        i = parent;
    }
    p->theap[i] = e; e.t->idx = i;
}
CSP__FN void csp__theap_down(csp__p *p, int i) {
    int n = p->ntimers;
    csp__tment e = p->theap[i];
    for (;;) {
        int c = 4 * i + 1;
        if (c >= n) break;
        int best = c;
        for (int k = c + 1; k < c + 4 && k < n; k++)
            if (csp__tment_before(p->theap[k], p->theap[best])) best = k;
        if (!csp__tment_before(p->theap[best], e)) break;
        p->theap[i] = p->theap[best]; p->theap[i].t->idx = i;
        i = best;
    }
    p->theap[i] = e; e.t->idx = i;
}
CSP__FN void csp__theap_sync0(csp__p *p) {
    csp__store(&p->timer0, p->ntimers ? p->theap[0].when : INT64_MAX, CSP__RELEASE);
}
/* Add t to p's heap (t not in any heap). */
CSP__FN void csp__timer_add(csp__p *p, csp__tmr *t) {
    csp__lock(&p->tlock);
    if (p->ntimers == p->tcap) {
        int nc = p->tcap ? p->tcap * 2 : 64;
        csp__tment *nh = (csp__tment *)realloc(p->theap, (size_t)nc * sizeof *nh);
        if (!nh) csp__fatal("out of memory");
        p->theap = nh; p->tcap = nc;
    }
    csp__store(&t->p, p, CSP__RELEASE);   /* read without tlock by csp__timer_del */
    t->tie = CSP__UNLIKELY(csp__det.on) ? csp__det_rand() : 0u;
    p->theap[p->ntimers].when = t->when;
    p->theap[p->ntimers++].t = t;
    csp__theap_up(p, p->ntimers - 1);
    csp__theap_sync0(p);
    csp__unlock(&p->tlock);
}
CSP__FN void csp__theap_remove_locked(csp__p *p, csp__tmr *t) {
    int i = t->idx;
    int last = --p->ntimers;
    if (i != last) {
        csp__tmr *moved = p->theap[last].t;
        p->theap[i] = p->theap[last]; moved->idx = i;
        csp__theap_down(p, i);
        csp__theap_up(p, moved->idx);
    }
    t->idx = -1;
    csp__store(&t->p, (csp__p *)NULL, CSP__RELEASE);
    csp__theap_sync0(p);
}
/* Wait until a `waited` timer's f is no longer running (f is short and
 * never blocks: a CAS and a csp__ready). */
CSP__FN void csp__timer_wait_idle(csp__tmr *t) {
    for (int i = 0; csp__load(&t->running, CSP__ACQUIRE); i++) {
        if (i < 100) csp__cpu_relax(); else sched_yield();
    }
}
/* Remove t from its heap; true if it was in one (i.e. had not fired). */
CSP__FN bool csp__timer_del(csp__tmr *t) {
    for (;;) {
        csp__p *p = csp__load(&t->p, CSP__ACQUIRE);
        if (!p) return false;
        csp__lock(&p->tlock);
        if (csp__load(&t->p, CSP__RELAXED) == p && t->idx >= 0) {
            csp__theap_remove_locked(p, t);
            csp__unlock(&p->tlock);
            return true;
        }
        csp__unlock(&p->tlock);
        if (csp__load(&t->p, CSP__ACQUIRE) == NULL) return false;
    }
}

/* Run p's due timers; returns p's next deadline (INT64_MAX: none). */
CSP__FN int64_t csp__run_timers(csp__p *p, int64_t now) {
    int64_t w = csp__load(&p->timer0, CSP__ACQUIRE);
    if (w > now) return w;
    csp__lock(&p->tlock);
    while (p->ntimers > 0 && p->theap[0].when <= now) {
        csp__tmr *t = p->theap[0].t;
        bool waited = t->waited != 0;
        /* An owned timer is claimed (running = 1) before it leaves the heap,
         * under tlock: whoever then fails to find it in a heap (stop, reset,
         * release) sees it running and waits. A ticker whose previous
         * callback still runs (on another thread: Ms also run idle Ps'
         * timers) skips this tick, so one timer's callback never runs twice
         * at once and ticks stay in order. */
        bool fire = true;
        if (waited) { uint32_t z = 0; fire = csp__cas(&t->running, &z, 1u, CSP__ACQUIRE); }
        if (t->period > 0) {
            /* Tickers: next fire one period later (skipping missed ones),
             * saturating: a deadline past the end of time never comes. Re-
             * armed in place: a ticker never leaves its heap (t->p stays
             * set), so a stop or reset racing with this sees it armed and
             * removes it itself, instead of missing it and arming it twice. */
            int64_t next = t->period > INT64_MAX - t->when ? INT64_MAX : t->when + t->period;
            if (next <= now) {
                int64_t skip = t->period - (now - t->when) % t->period;
                next = skip > INT64_MAX - now ? INT64_MAX : now + skip;
            }
            t->when = next;
            p->theap[t->idx].when = next;
            csp__theap_down(p, t->idx);
            csp__theap_sync0(p);
        } else {
            csp__theap_remove_locked(p, t);
        }
        if (!fire) continue;
        void (*f)(csp__tmr *, int64_t) = t->f;
        /* The instant a fire reports: never before one this heap reported
         * (its timers leave in deadline order). Two threads may run one P's
         * timers; one whose clock read is older (preempted before it took
         * tlock) would otherwise stamp a later timer with an earlier time. */
        int64_t at = now > p->tfired ? now : p->tfired;
        p->tfired = at;
        csp__unlock(&p->tlock);
        f(t, at);   /* may end t's life, unless its owner waits for `running` */
        if (waited) csp__store(&t->running, 0u, CSP__RELEASE);
        csp__lock(&p->tlock);
    }
    int64_t next = p->ntimers ? p->theap[0].when : INT64_MAX;
    csp__unlock(&p->tlock);
    return next;
}

/* The earliest deadline over all Ps (unowned: only over the Ps nobody
 * runs, what an M without a P sleeps until). A running P's holder runs its
 * own timers at its next schedules (Go: stopm has no timeout); counting
 * them made an M without a P spin through stopm while a 1 ns ticker ran on
 * a busy P, a third runnable thread on two cores. A P that goes idle after
 * this scan is covered by its own M, which computes this after giving it
 * up; a hog that never schedules is sysmon's (csp__retake, the late-timer
 * net). */
CSP__FN int64_t csp__next_timer(bool unowned) {
    int64_t w = INT64_MAX;
    int n = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
    for (int i = 0; i < n; i++) {
        csp__p *p = csp__load(&csp__sched.allp[i], CSP__ACQUIRE);
        int64_t t = csp__load(&p->timer0, CSP__ACQUIRE);
        if (t < w && (!unowned || csp__load(&p->status, CSP__ACQUIRE) != CSP__P_RUNNING)) w = t;
    }
    return w;
}

/* A timer was added at `when`: make sure some M will be awake for it (Go's
 * wakeNetPoller). The running P that added it would see it at its next
 * schedule anyway; this covers idle Ps and busy ones. */
CSP__FN void csp__wake_timer_sleeper(int64_t when) {
    if (csp__load(&csp__np_polling_flag, CSP__ACQUIRE) && when < csp__load(&csp__np_poll_until, CSP__ACQUIRE))
        csp__netpoll_break();   /* the poller sleeps past `when` */
    csp__lock(&csp__sched.lock);
    csp__m *ts = csp__sched.timer_sleeper;
    if (ts && when < ts->sleep_until) {
        csp__sched.timer_sleeper = NULL;
        ts->sleep_until = 0;
        csp__unlock(&csp__sched.lock);
        csp__store(&ts->park, 1u, CSP__RELEASE);   /* wakes it to recompute; it has no nextp */
        csp__futex_wake(&ts->park, 1);
        return;
    }
    bool none = ts == NULL;
    csp__unlock(&csp__sched.lock);
    if (none) csp__wakep();
}

/* A timer went into p's heap (or moved earlier in it) at `when`, by m: the
 * one place that decides whether a thread must be woken for it. m's own
 * running P sees its timers at its next schedules; an idle P, or P 0
 * filled by a plain thread, needs a thread awake (and any idle P could
 * otherwise sleep past it). */
CSP__FN void csp__timer_added(csp__m *m, csp__p *p, int64_t when) {
    if (!m || csp__load(&m->p, CSP__RELAXED) != p || csp__load(&csp__sched.npidle, CSP__RELAXED) > 0)
        csp__wake_timer_sleeper(when);
}

CSP__FN void csp__sleep_fire(csp__tmr *t, int64_t now) {
    (void)now;
    csp__ready((csp__g *)t->arg);
}
CSP__FN bool csp__sleep_arm(csp__g *g, void *arg) {
    (void)g;
    csp__tmr *t = (csp__tmr *)arg;
    csp__m *m = csp__getm();
    int64_t when = t->when;
    csp__timer_add(csp__load(&m->p, CSP__RELAXED), t);
    csp__timer_added(m, csp__load(&m->p, CSP__RELAXED), when);
    return true;
}

CSP__FN int64_t csp__deadline(int64_t ns) {   /* now + ns, saturating */
    int64_t now = csp_now();
    if (ns > INT64_MAX - now) return INT64_MAX;
    return now + ns;
}

CSP__DEF void csp_sleep(int64_t ns) {
    if (ns <= 0) { csp_yield(); return; }
    csp__g *g = csp__self();
    csp__m *m = csp__enter();
    if (!m) {   /* a plain thread sleeps in the kernel (real time, always) */
        int64_t now = csp__mono();
        int64_t until = ns > INT64_MAX - now ? INT64_MAX : now + ns;
        (void)g;
        for (;;) {
            int64_t left = until - csp__mono();
            if (left <= 0) break;
            struct timespec ts = { (time_t)(left / 1000000000), (long)(left % 1000000000) };
            nanosleep(&ts, NULL);
        }
        return;
    }
    csp__tmr t;
    memset(&t, 0, sizeof t);
    t.when = csp__deadline(ns);
    t.f = csp__sleep_fire;
    t.arg = csp__load(&m->curg, CSP__RELAXED);
    t.idx = -1;
    csp__park(csp__sleep_arm, &t, "sleep", &csp__load(&m->p, CSP__RELAXED)->tlock);
    csp__leave();
}

/* ---- finding work and sleeping ------------------------------------------------- */

CSP__FN void csp__checkdead_locked(void);

/* stopm: m has no P and nothing to do: sleep until an M hands us a P
 * (m->nextp), or until `until` (the nearest timer) passes. Returns with m->p
 * set, or with m->p NULL after a timeout (the caller retries). */
CSP__FN void csp__stopm(csp__m *m, int64_t until) {
    csp__lock(&csp__sched.lock);
    if (m->nextp) {   /* handed a P while we were getting here */
        csp__p *p = m->nextp; m->nextp = NULL;
        csp__unlock(&csp__sched.lock);
        csp__acquirep(m, p);
        return;
    }
    csp__store(&m->park, 0u, CSP__RELAXED);
    m->idle = true;
    m->schedlink = csp__sched.midle;
    csp__sched.midle = m;
    csp__sched.nmidle++;
    m->sleep_until = 0;
    if (until != INT64_MAX && (!csp__sched.timer_sleeper || until < csp__sched.timer_sleeper->sleep_until)) {
        if (csp__sched.timer_sleeper) {   /* the old sleeper may sleep on; we are earlier */
            csp__sched.timer_sleeper->sleep_until = 0;
        }
        csp__sched.timer_sleeper = m;
        m->sleep_until = until;
    }
    /* Deterministic mode: a waker's csp__startm finds no idle M while we
     * are between our last look at the run set and the list above, and
     * leaves the work to "the busy M" (there is only one thread): us. So
     * look again, now that we are listed (under the lock a waker takes). */
    if (CSP__UNLIKELY(csp__det.on) && !csp__det_empty()) csp__store(&m->park, 1u, CSP__RELAXED);
    csp__checkdead_locked();
    int64_t my_until = m->sleep_until;
    /* Deterministic mode has no sysmon: while a deadlock is suspected, its
     * idle M wakes every 10 ms (real time) to look again (the grace). */
    int64_t recheck = csp__det.on && csp__load(&csp__dead_since, CSP__RELAXED) ? csp__mono() + 10 * CSP_MILLISECOND : 0;
    csp__unlock(&csp__sched.lock);
    for (;;) {
        if (csp__load(&m->park, CSP__ACQUIRE)) break;
        int64_t left = INT64_MAX;
        if (my_until) {
            left = my_until - csp_now();
            if (left <= 0) break;
        }
        if (recheck) {
            int64_t r = recheck - csp__mono();
            if (r <= 0) break;
            if (r < left) left = r;
        }
        if (left != INT64_MAX) {
            struct timespec ts = { (time_t)(left / 1000000000), (long)(left % 1000000000) };
            csp__futex_wait(&m->park, 0, &ts);
        } else {
            csp__futex_wait(&m->park, 0, NULL);
        }
    }
    csp__lock(&csp__sched.lock);
    if (m->idle) {   /* timed out (or woken to recompute): take ourselves off the list */
        csp__m **pp = &csp__sched.midle;
        while (*pp && *pp != m) pp = &(*pp)->schedlink;
        if (*pp) { *pp = m->schedlink; csp__sched.nmidle--; }
        m->idle = false;
    }
    if (csp__sched.timer_sleeper == m) csp__sched.timer_sleeper = NULL;
    m->sleep_until = 0;
    csp__p *p = m->nextp;
    m->nextp = NULL;
    if (!p) p = csp__pidle_get();   /* a timer is due: we need a P to run it */
    csp__unlock(&csp__sched.lock);
    if (p) csp__acquirep(m, p);
}

/* A P above maxprocs (after a shrink) gives its work away and is retired. */
CSP__FN void csp__drop_p(csp__m *m) {
    csp__glist_drain(csp__load(&m->p, CSP__RELAXED));
    csp__p *p = csp__releasep(m);
    csp__g *g;
    csp__lock(&csp__sched.lock);
    while ((g = csp__runq_get(p)) != NULL) csp__globrunq_put_locked(g);
    csp__pidle_put(p);   /* retires it, unless maxprocs grew back meanwhile */
    csp__unlock(&csp__sched.lock);
    csp__wakep();
}

/* An M without a P takes an idle one, if there is one. */
CSP__FN bool csp__take_idle_p(csp__m *m) {
    csp__lock(&csp__sched.lock);
    csp__p *p = csp__pidle_get();
    csp__unlock(&csp__sched.lock);
    if (p) csp__acquirep(m, p);
    return p != NULL;
}
CSP__FN void csp__resetspinning(csp__m *m) {
    m->spinning = false;
    if (csp__fsub(&csp__sched.nmspinning, 1, CSP__SEQCST) == 1) csp__wakep();
}

/* findrunnable: block until there is a goroutine to run (Go's findRunnable).
 * Called on g0 with m->p held; returns with m->p held. */
CSP__FN csp__g *csp__findrunnable(csp__m *m) {
    for (;;) {
        while (!csp__load(&m->p, CSP__RELAXED)) {
            if (m->spinning) {   /* a spinner without a P is not spinning */
                m->spinning = false;
                csp__fsub(&csp__sched.nmspinning, 1, CSP__SEQCST);
            }
            /* No P for us: if goroutines wait on fds and nobody polls, poll
             * (the Ps' holders take what we ready from the global queue). */
            int nw;
            if (csp__np_waiters() && (nw = csp__np_try_block(m, csp__next_timer(true), false)) >= 0) {
                if (!csp__np_after_block(m, nw)) csp__stopm(m, csp__next_timer(true));
                continue;
            }
            csp__stopm(m, csp__next_timer(true));
        }
        csp__p *p = csp__load(&m->p, CSP__RELAXED);
        if (p->id >= csp__load(&csp__sched.maxprocs, CSP__RELAXED)) { csp__drop_p(m); continue; }
        /* The clock only when a timer is pending: a read costs ~25 ns here. */
        if (csp__load(&p->timer0, CSP__RELAXED) != INT64_MAX) csp__run_timers(p, csp_now());
        csp__g *g = csp__runq_get(p);
        if (g) { if (m->spinning) csp__resetspinning(m); return g; }
        if (csp__load(&csp__sched.runqsize, CSP__RELAXED) > 0) {
            csp__lock(&csp__sched.lock);
            g = csp__globrunq_get_locked(p, 0);
            csp__unlock(&csp__sched.lock);
            if (g) { if (m->spinning) csp__resetspinning(m); return g; }
        }
        /* Network: goroutines whose fds became ready (no blocking). */
        if (csp__np_waiters() && !csp__load(&csp__np_polling_flag, CSP__ACQUIRE) && csp__netpoll(0) > 0) {
            g = csp__runq_get(p);
            if (g) { if (m->spinning) csp__resetspinning(m); return g; }
        }
        /* Steal, if not too many are spinning already. */
        int32_t maxp = csp__load(&csp__sched.maxprocs, CSP__RELAXED);
        int32_t busy = maxp - csp__load(&csp__sched.npidle, CSP__SEQCST);
        if (m->spinning || 2 * csp__load(&csp__sched.nmspinning, CSP__SEQCST) < busy) {
            if (!m->spinning) { m->spinning = true; csp__fadd(&csp__sched.nmspinning, 1, CSP__SEQCST); }
            int n = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
            for (int round = 0; round < 4 && !g; round++) {
                uint32_t start = csp__rand32(m);
                for (int k = 0; k < n && !g; k++) {
                    csp__p *p2 = csp__load(&csp__sched.allp[(start + (uint32_t)k) % (uint32_t)n], CSP__ACQUIRE);
                    if (p2 == p) continue;
                    if (round == 3 && csp__load(&p2->timer0, CSP__RELAXED) != INT64_MAX)
                        csp__run_timers(p2, csp_now());   /* an idle P's timers */
                    if (p2->id < maxp) g = csp__runq_steal(p, p2, round == 3);
                }
                if (!g) g = csp__runq_get(p);   /* timers may have readied some here */
            }
            if (g) { csp__resetspinning(m); return g; }
        }
        /* Nothing: give up the P (and free what ended elsewhere first). */
        csp__glist_drain(p);
        csp__lock(&csp__sched.lock);
        if (csp__sched.runqsize > 0) {
            g = csp__globrunq_get_locked(p, 0);
            csp__unlock(&csp__sched.lock);
            if (m->spinning) csp__resetspinning(m);
            return g;
        }
        csp__releasep(m);
        csp__pidle_put(p);
        csp__unlock(&csp__sched.lock);
        bool was_spinning = m->spinning;
        if (m->spinning) {
            m->spinning = false;
            csp__fsub(&csp__sched.nmspinning, 1, CSP__SEQCST);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
        }
        /* Recheck every queue: work may have been queued by someone who saw
         * us spinning and did not wake anybody. */
        int n = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
        bool work = csp__load(&csp__sched.runqsize, CSP__SEQCST) > 0;
        for (int i = 0; i < n && !work; i++) {
            csp__p *p2 = csp__load(&csp__sched.allp[i], CSP__ACQUIRE);
            if (p2->id < maxp && !csp__runq_empty(p2)) work = true;
        }
        if (work && csp__take_idle_p(m)) {
            if (was_spinning) { m->spinning = true; csp__fadd(&csp__sched.nmspinning, 1, CSP__SEQCST); }
            continue;
        }
        int64_t until = csp__next_timer(true);
        if (CSP__UNLIKELY(csp__det.virt) && until != INT64_MAX) {
            /* Virtual time: nothing can run, so time jumps to the next
             * timer (after a look at the network, which may have work). */
            if (!(csp__np_waiters() && csp__netpoll(0) > 0) &&
                until > __atomic_load_n(&csp__det.vnow, __ATOMIC_RELAXED))
                __atomic_store_n(&csp__det.vnow, until, __ATOMIC_RELEASE);
        }
        /* A timer is due: take a P back to run it. */
        if (((until != INT64_MAX && until <= csp_now()) || (csp__det.on && !csp__det_empty())) && csp__take_idle_p(m)) continue;
        /* Someone waits on an fd: one idle thread blocks in the poller
         * (until the nearest timer) instead of sleeping on its futex. */
        int nw;
        if (csp__np_waiters() && (nw = csp__np_try_block(m, until, true)) >= 0) {
            if (!csp__np_after_block(m, nw)) csp__stopm(m, csp__next_timer(true));
            continue;
        }
        csp__stopm(m, until);
    }
}

/* ---- goroutines locked to their thread (csp_lock_os_thread; Go's
 * stoplockedm / startlockedm) ---------------------------------------------------
 * While g is locked to m (g->lockedm == m, m->lockedg == g) m runs nothing
 * else. g parks like any goroutine, but always switches to m's g0, which
 * gives m's P away (handoffp) and sleeps until someone hands it a P through
 * m->nextp. g is readied into a run queue as usual; the M that dequeues it to
 * run it sees g->lockedm != itself, gives its own P to g's M and wakes it
 * (startlockedm), then looks for work without a P (it sleeps). So exactly
 * one M runs g, and the P count stays maxprocs. The M sleeping for its
 * locked goroutine counts in sched.nmlocked, not as running: a deadlock
 * still shows. */
CSP__FN void csp__startlockedm(csp__m *m, csp__g *g) {
    csp__m *lm = csp__load(&g->lockedm, CSP__RELAXED);
    csp__p *p = csp__releasep(m);
    csp__lock(&csp__sched.lock);
    if (lm->nextp) csp__fatal("scheduler: a locked thread was handed two processors");
    lm->nextp = p;
    csp__unlock(&csp__sched.lock);
    csp__store(&lm->park, 1u, CSP__RELEASE);
    csp__futex_wake(&lm->park, 1);
}

CSP__FN void csp__stoplockedm(csp__m *m) {
    csp__g *g = csp__load(&m->lockedg, CSP__RELAXED);
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    if (p) {
        /* Readied already, into our own runnext (a park whose unlockf said
         * no, or a waker on this P): run it without a hand-off. */
        csp__g *n = csp__load(&p->runnext, CSP__RELAXED);
        if (n == g && csp__cas(&p->runnext, &n, (csp__g *)NULL, CSP__ACQUIRE)) return;
        csp__releasep(m);
        csp__handoffp(p);
    }
    csp__lock(&csp__sched.lock);
    /* A loop: a wake-up meant for an earlier sleep of this M (a timer
     * sleeper's, see csp__wake_timer_sleeper) may land here late. */
    while (!m->nextp) {
        csp__store(&m->park, 0u, CSP__RELAXED);
        m->lockwait = true;
        csp__sched.nmlocked++;
        csp__checkdead_locked();
        csp__unlock(&csp__sched.lock);
        while (!csp__load(&m->park, CSP__ACQUIRE)) csp__futex_wait(&m->park, 0, NULL);
        csp__lock(&csp__sched.lock);
        m->lockwait = false;
        csp__sched.nmlocked--;
    }
    p = m->nextp;
    m->nextp = NULL;
    csp__unlock(&csp__sched.lock);
    csp__acquirep(m, p);
}

/* The locked goroutine of m ended: m's thread ends (its P goes on). The
 * main thread cannot end (goroutine 1 lives on its stack): it sleeps for
 * good. */
CSP__FN void csp__mexit(csp__m *m) {
    csp__hb_acquire(m);
    if (csp__load(&m->p, CSP__RELAXED)) csp__handoffp(csp__releasep(m));
    csp__lock(&csp__sched.lock);
    csp__sched.mcount--;
    csp__checkdead_locked();
    bool m0 = m == csp__sched.m0;
    if (!m0) { m->mfree = csp__sched.mfree; csp__sched.mfree = m; }
    csp__unlock(&csp__sched.lock);
    if (m0) {
        uint32_t never = 0;
        for (;;) csp__futex_wait(&never, 0, NULL);
    }
}

/* g0's loop: run goroutines, until the thread must end (csp__mexit). */
CSP__FN void csp__schedule_loop(csp__m *m) {
    for (;;) {
        /* TSan: take the exiting goroutine's release of m (csp__goexit)
         * before csp__after_switch frees its fiber; once a destroyed
         * fiber's id is reused TSan may drop its clock entry, and the M's
         * recycling then looked like a race with that goroutine. */
        if (CSP__UNLIKELY(csp__load(&m->exiting, CSP__RELAXED))) csp__hb_acquire(m);
        csp__after_switch();
        if (CSP__UNLIKELY(csp__load(&m->exiting, CSP__RELAXED))) { csp__mexit(m); return; }
        csp__g *hg = csp__load(&m->lockhand, CSP__RELAXED);
        if (CSP__UNLIKELY(hg != NULL)) {   /* dequeued by a goroutine of ours */
            csp__g *lg = hg;
            csp__store(&m->lockhand, (csp__g *)NULL, CSP__RELAXED);
            csp__startlockedm(m, lg);
            continue;
        }
        csp__g *lg = csp__load(&m->lockedg, CSP__RELAXED);
        if (CSP__UNLIKELY(lg != NULL)) {
            csp__stoplockedm(m);
            csp__switch_to(m, m->g0, lg);
            continue;
        }
        csp__g *g = csp__findrunnable(m);
        if (CSP__UNLIKELY(csp__load(&g->lockedm, CSP__RELAXED) != NULL)) {
            /* Locked to another M (to us it cannot be: we run only it then). */
            csp__startlockedm(m, g);
            continue;
        }
        csp__switch_to(m, m->g0, g);
    }
}

CSP__FN void csp__g0_entry(void *arg) { csp__schedule_loop((csp__m *)arg); }

/* A worker thread: its own stack is its g0. */
static void *csp__mstart(void *arg) {
    csp__m *m = (csp__m *)arg;
    csp__tls_t *t = csp__tls();
    t->m = m;
    csp__g *g0 = csp__native_g();
    g0->flags |= CSP__GF_G0;
    m->g0 = g0;
    csp__tls_publish(t);
    csp__lock(&csp__sched.lock);
    csp__p *p = m->nextp;
    m->nextp = NULL;
    csp__unlock(&csp__sched.lock);
    if (p) csp__acquirep(m, p);
    csp__schedule_loop(m);
    /* Its locked goroutine ended: the thread ends (the TLS destructor gives
     * its stack cache back and frees g0). */
    return NULL;
}

/* m lost its P (or never had one) while running g: get one, or queue g on
 * the global run queue and let this thread sleep until g is run again
 * (by whichever M takes it). */
CSP__FN void csp__reacquire_p(csp__m *m, csp__g *g) {
    csp__lock(&csp__sched.lock);
    csp__p *p = csp__pidle_get();
    csp__unlock(&csp__sched.lock);
    if (p) { csp__acquirep(m, p); return; }
    csp__store(&m->hook, (int)CSP__HOOK_GLOBAL, CSP__RELAXED);
    csp__store(&m->hook_g, (csp__g *)(g), CSP__RELAXED);
    csp__store(&g->status, (uint32_t)CSP__G_RUNNABLE, CSP__RELAXED);
    csp__hb_release(g);
    csp__store(&m->curg, (csp__g *)(NULL), CSP__RELAXED);
    csp__hb_release(m);       /* TSan: for csp__mexit (see csp__switch_to) */
    csp__gswitch(g, m->g0);   /* g0 queues g, then finds no P and sleeps */
    csp__mark_running(g);     /* running again, on whichever M took it */
    csp__after_switch();
    csp__hb_acquire(g);
}

/* ---- blocking sections (Go's entersyscall / exitsyscall) ---------------------- */
CSP__FN void csp__entersyscall(csp__m *m) {
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    csp__fadd(&p->syscalltick, 1u, CSP__RELAXED);
    csp__hb_release(p);
    csp__store(&p->status, (uint32_t)CSP__P_SYSCALL, CSP__RELEASE);
    csp__store(&m->inrt, 0u, CSP__RELEASE);
    if (csp__load(&csp__sched.sysmon_idle, CSP__RELAXED)) {   /* sysmon must watch us */
        csp__store(&csp__sched.sysmon_wake, 1u, CSP__RELEASE);
        csp__futex_wake(&csp__sched.sysmon_wake, 1);
    }
}

CSP__FN void csp__exitsyscall(csp__m *m, csp__g *g) {
    csp__store(&m->inrt, 1u, CSP__RELAXED);
    csp__p *p = csp__load(&m->p, CSP__RELAXED);
    uint32_t exp = CSP__P_SYSCALL;
    if (p && csp__cas(&p->status, &exp, (uint32_t)CSP__P_RUNNING, CSP__ACQUIRE)) {
        /* Nobody took it (a P in SYSCALL belongs to whoever CASes it first). */
        csp__store(&p->m, m, CSP__RELAXED);
        csp__store(&m->p_lost, 0u, CSP__RELAXED);
        csp__hb_acquire(p);
        return;
    }
    csp__store(&m->p, (csp__p *)(NULL), CSP__RELAXED);
    int depth = g->blockdepth;
    g->blockdepth = 0;   /* we are not in the section while we wait for a P */
    csp__reacquire_p(m, g);
    g->blockdepth = depth;
}

CSP__DEF void csp_block_begin(void) {
    csp__m *m = csp__getm();
    if (!m || !csp__load(&m->curg, CSP__RELAXED)) return;   /* plain thread: nothing to do */
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    if (g->blockdepth++ > 0) return;
    csp__entersyscall(m);
}

CSP__DEF void csp_block_end(void) {
    csp__m *m = csp__getm();
    if (!m || !csp__load(&m->curg, CSP__RELAXED)) return;
    csp__g *g = csp__load(&m->curg, CSP__RELAXED);
    if (g->blockdepth <= 0) csp_panic("csp_block_end without csp_block_begin");
    if (g->blockdepth > 1) { g->blockdepth--; return; }
    csp__exitsyscall(m, g);
    m = csp__getm();
    csp__load(&m->curg, CSP__RELAXED)->blockdepth = 0;
    csp__store(&m->inrt, 0u, CSP__RELEASE);
}

CSP__DEF void csp_lock_os_thread(void) {
    csp__g *self = csp__self();
    csp__m *m = csp__enter();
    csp__g *g = m ? csp__load(&m->curg, CSP__RELAXED) : self;
    if (g->lockcount == UINT32_MAX) csp_panic("LockOSThread nesting overflow");
    if (g->lockcount++ == 0 && m && !csp__det.on) {
        csp__store(&g->lockedm, m, CSP__RELAXED);
        csp__store(&m->lockedg, g, CSP__RELAXED);
    }
    if (m) csp__leave();
}

CSP__DEF void csp_unlock_os_thread(void) {
    csp__g *self = csp__self();
    csp__m *m = csp__enter();
    csp__g *g = m ? csp__load(&m->curg, CSP__RELAXED) : self;
    if (g->lockcount > 0 && --g->lockcount == 0 && m && !csp__det.on) {
        csp__store(&g->lockedm, (csp__m *)NULL, CSP__RELAXED);
        csp__store(&m->lockedg, (csp__g *)NULL, CSP__RELAXED);
    }
    if (m) csp__leave();
}

/* ---- sysmon ----------------------------------------------------------------------
 * A thread of its own (no P). Every 20 us, doubling to 10 ms while nothing
 * happens (and sleeping on a futex while no P is busy):
 *   - a P in a blocking section for a whole tick (20 us+) is taken (CAS
 *     SYSCALL -> IDLE) and handed to another M if it has work;
 *   - a P whose goroutine has not called the runtime for 10 ms (schedtick
 *     unchanged) while other work waits is taken through the handshake
 *     described at csp__enter: CAS RUNNING -> RETAKING, barrier, then
 *     inrt == 0 means the M is in user code: set m->p_lost, hand P off. */
#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#endif
CSP__FN void csp__process_barrier(void) {
    if (csp__sched.membarrier) syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    else __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

CSP__FN bool csp__retake(int64_t now) {
    bool took = false;
    int n = csp__load(&csp__sched.maxprocs, CSP__RELAXED);
    for (int i = 0; i < n; i++) {
        csp__p *p = csp__load(&csp__sched.allp[i], CSP__ACQUIRE);
        uint32_t s = csp__load(&p->status, CSP__ACQUIRE);
        if (s == CSP__P_SYSCALL) {
            uint32_t tick = csp__load(&p->syscalltick, CSP__RELAXED);
            if (tick != p->sm_syscalltick) { p->sm_syscalltick = tick; p->sm_when = now; continue; }
            if (now - p->sm_when < 20 * CSP_MICROSECOND) continue;
            uint32_t exp = CSP__P_SYSCALL;
            if (csp__cas(&p->status, &exp, (uint32_t)CSP__P_IDLE, CSP__ACQUIRE)) {
                csp__hb_acquire(p);
                p->sm_syscalltick = tick + 1;   /* don't account the new owner's section */
                csp__handoffp(p);
                took = true;
            }
        } else if (s == CSP__P_RUNNING) {
            uint32_t tick = csp__load(&p->schedtick, CSP__RELAXED);
            if (tick != p->sm_schedtick) { p->sm_schedtick = tick; p->sm_when = now; continue; }
            if (now - p->sm_when < 10 * CSP_MILLISECOND) continue;
            if (!csp__p_has_work(p) && csp__load(&p->timer0, CSP__RELAXED) > now) continue;
            csp__m *m = csp__load(&p->m, CSP__RELAXED);
            if (!m) continue;
            uint32_t exp = CSP__P_RUNNING;
            if (!csp__cas(&p->status, &exp, (uint32_t)CSP__P_RETAKING, CSP__SEQCST)) continue;
            csp__process_barrier();
            if (csp__load(&m->inrt, CSP__SEQCST) || csp__load(&p->m, CSP__RELAXED) != m ||
                csp__load(&p->schedtick, CSP__RELAXED) != tick) {
                exp = CSP__P_RETAKING;
                csp__cas(&p->status, &exp, (uint32_t)CSP__P_RUNNING, CSP__RELEASE);
                continue;
            }
            /* m is in user code: the P is ours to give away. */
            csp__store(&m->p_lost, 1u, CSP__RELEASE);
            csp__store(&p->m, (csp__m *)NULL, CSP__RELAXED);
            csp__store(&p->status, (uint32_t)CSP__P_IDLE, CSP__RELEASE);
            p->sm_schedtick = tick + 1;
            csp__handoffp(p);
            took = true;
        }
    }
    return took;
}

static void *csp__sysmon(void *arg) {
    (void)arg;
    int64_t delay = 20 * CSP_MICROSECOND;
    for (;;) {
        struct timespec ts = { 0, (long)delay };
        nanosleep(&ts, NULL);
        int64_t now = csp_now();
        csp__store(&csp__sched.coarse_now, now, CSP__RELAXED);
        bool took = csp__retake(now);
        /* A due timer nobody runs (every P busy with hogs, or all idle and
         * the sleeper missed it): get an M on it. */
        int64_t next = csp__next_timer(false);
        if (next <= now - CSP_MILLISECOND) csp__wakep();
        /* Safety net: runnable goroutines, an idle P and nobody spinning
         * means a wake-up went missing; start an M. (Seen once, under heavy
         * load after maxprocs changes; the path is not yet identified.) */
        if (csp__load(&csp__sched.nmspinning, CSP__SEQCST) == 0 && csp__load(&csp__sched.npidle, CSP__SEQCST) > 0) {
            bool stranded = csp__load(&csp__sched.runqsize, CSP__SEQCST) > 0;
            int np = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
            for (int i = 0; i < np && !stranded; i++) {
                csp__p *p = csp__load(&csp__sched.allp[i], CSP__ACQUIRE);
                if (csp__load(&p->status, CSP__ACQUIRE) == CSP__P_IDLE && !csp__runq_empty(p)) stranded = true;
            }
            if (stranded) {
                if (csp__load(&csp__sched.sm_stranded, CSP__RELAXED) == 0) csp__store(&csp__sched.sm_stranded, now, CSP__RELAXED);
                else if (now - csp__sched.sm_stranded > 5 * CSP_MILLISECOND) { csp__sched.sm_stranded = 0; csp__wakep(); }
            } else {
                csp__sched.sm_stranded = 0;
            }
        }
        /* fd waiters and nobody polled for 10 ms (every thread busy): poll. */
        if (csp__np_waiters() && !csp__load(&csp__np_polling_flag, CSP__ACQUIRE) &&
            now - csp__load(&csp__np_lastpoll, CSP__RELAXED) > 10 * CSP_MILLISECOND) {
            if (csp__netpoll(0) > 0) took = true;
        }
        /* Free stacks beyond the warm ones give their pages back, a batch
         * per tick (csp__stk_scavenge). */
        if (csp__stk_scavenge(64, true)) took = true;
        if (took) delay = 20 * CSP_MICROSECOND;
        else if (delay < 10 * CSP_MILLISECOND) delay *= 2;
        if (csp__load(&csp__dead_since, CSP__RELAXED)) {
            csp__lock(&csp__sched.lock);
            csp__checkdead_locked();   /* exits the process once the grace is over */
            csp__unlock(&csp__sched.lock);
        }
        /* Nothing runs: sleep until something does (entersyscall, wakep). */
        if (csp__load(&csp__sched.npidle, CSP__SEQCST) == csp__load(&csp__sched.maxprocs, CSP__RELAXED)) {
            csp__store(&csp__sched.sysmon_wake, 0u, CSP__RELAXED);
            csp__store(&csp__sched.sysmon_idle, 1, CSP__SEQCST);
            if (csp__load(&csp__sched.npidle, CSP__SEQCST) == csp__load(&csp__sched.maxprocs, CSP__RELAXED)) {
                while (csp__stk_scavenge(256, true)) {}   /* idle: finish giving cold pages back first */
                struct timespec lt = { 1, 0 };
                if (csp__load(&csp__dead_since, CSP__RELAXED) || csp__load(&csp__sched.runqsize, CSP__RELAXED) > 0) {
                    lt.tv_sec = 0; lt.tv_nsec = 10 * 1000000;
                }
                csp__futex_wait(&csp__sched.sysmon_wake, 0, &lt);
            }
            csp__store(&csp__sched.sysmon_idle, 0, CSP__SEQCST);
            delay = 20 * CSP_MICROSECOND;
        }
    }
    return NULL;
}

/* ---- who is calling: adoption of the main thread and of plain threads -------------
 * csp__self(): the context of the caller. The main thread becomes goroutine
 * 1 on its first call (on its own stack, with an M of its own whose g0 gets
 * a separate stack); any other thread that is not an M becomes a plain
 * thread context (it parks on a futex and is counted in nplain until it
 * exits). */
CSP__FN void csp__plain_exit(void);

CSP__FN CSP__NOINLINE csp__g *csp__adopt(csp__tls_t *t) {
    csp__rt_init_once();   /* not csp__rt_start: it adopts through here */
    csp__g *g = csp__native_g();
    if ((pid_t)syscall(SYS_gettid) == getpid() && !csp__sched.g1) {
        /* The main thread: goroutine 1. */
        csp__m *m = csp__m_new();
        int err = 0;
        csp__g *g0 = csp__g_alloc(64u * 1024u, &err);
        if (!g0) csp__fatal("out of memory");
        g0->flags |= CSP__GF_G0;
        csp__g_init_ctx(g0, csp__g0_entry, m);
        m->g0 = g0;
        g->flags |= CSP__GF_MAIN;
        g->id = 1;
        csp__store(&g->m, m, CSP__RELAXED);
        strcpy(g->name, "main");
        csp__store(&g->status, (uint32_t)CSP__G_RUNNING, CSP__RELAXED);
        csp__store(&m->curg, (csp__g *)(g), CSP__RELAXED);
        csp__lock(&csp__sched.lock);
        csp__sched.mcount++;
        csp__sched.m0 = m;
        __atomic_store_n(&csp__sched.g1, g, __ATOMIC_RELEASE);   /* csp__rt_start looks without the lock */
        csp__unlock(&csp__sched.lock);
        csp__allg_add(g, NULL, false);
        t->m = m;
        csp__tls_publish(t);
        csp__reacquire_p(m, g);   /* usually an idle P at once */
        csp__leave();
        return g;
    }
    g->flags |= CSP__GF_THREAD;
    t->plain = 1;
    csp__tls_publish(t);
    csp__fadd(&csp__sched.nplain, 1, CSP__SEQCST);
    return g;
}

CSP__FN csp__g *csp__self(void) {
    csp__tls_t *t = csp__tls();
    csp__g *g = csp__load(&t->cur, CSP__RELAXED);
    if (CSP__LIKELY(g != NULL && (t->m || (g->flags & CSP__GF_THREAD)))) return g;
    return csp__adopt(t);
}

/* A plain thread that used the runtime ends: it no longer counts against
 * deadlock detection (and may have been the last thing that could wake
 * someone). */
CSP__FN void csp__plain_exit(void) {
    csp__fsub(&csp__sched.nplain, 1, CSP__SEQCST);
    csp__lock(&csp__sched.lock);
    csp__checkdead_locked();
    csp__unlock(&csp__sched.lock);
}

/* ---- diagnostics: dump, deadlock, panic ------------------------------------------ */
static const char *const csp__gstatus_name[] = { "idle", "runnable", "running", "waiting", "dead" };

/* go_style: durations as Go's tracebacks show them (only from a minute on);
 * otherwise in milliseconds, always. */
/* Stack high-water: the bytes between the top of g's stack and its lowest
 * resident page (mincore), i.e. how deep the stack has been used. A stack
 * reused from the cache also shows the depth of its earlier owners, so this
 * is an upper bound; a fresh stack (or a non-default size) is exact to a
 * page. -1 for stacks the runtime did not make (main's, threads'). */
CSP__FN long long csp__stack_touched(csp__g *g) {
    if (g->flags & CSP__GF_NATIVE) return -1;
    size_t pg = csp__pagesize();
    uintptr_t lo = ((uintptr_t)g->stack_lo) & ~(uintptr_t)(pg - 1);
    uintptr_t top = ((uintptr_t)g + pg - 1) & ~(uintptr_t)(pg - 1);
    unsigned char vec[256];
    for (uintptr_t a = lo; a < top; a += sizeof vec * pg) {
        size_t len = top - a < sizeof vec * pg ? top - a : sizeof vec * pg;
        if (mincore((void *)a, len, vec) != 0) return -1;
        for (size_t i = 0; i < len / pg; i++)
            if (vec[i] & 1) return (long long)((uintptr_t)g - (a + i * pg));
    }
    return 0;
}

CSP__FN void csp__dump_locked(int fd, bool go_style) {
    char buf[320];
    int64_t now = csp_now();
    int np = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
    for (int li = -1; li < np; li++) {
    csp__glist *l = li < 0 ? &csp__sched.gl : &csp__load(&csp__sched.allp[li], CSP__ACQUIRE)->gl;
    csp__spin_lock(&l->lock);
    for (csp__g *g = l->head; g; g = g->allnext) {
        uint32_t st = csp__load(&g->status, CSP__ACQUIRE);
        if (st == CSP__G_DEAD) continue;
        unsigned long long gid = (unsigned long long)csp__load(&g->id, CSP__RELAXED);
        char nm[sizeof g->name];
        csp__g_get_name(g, nm);
        const char *wr = csp__load(&g->waitreason, CSP__RELAXED);
        int64_t since = csp__load(&g->waitsince, CSP__RELAXED);
        const char *what = st == CSP__G_WAITING && wr ? wr : csp__gstatus_name[st <= 4 ? st : 0];
        int n;
        int64_t waited = st == CSP__G_WAITING && since > 0 && now > since ? now - since : 0;
        if (go_style && waited >= 60 * CSP_SECOND)
            n = snprintf(buf, sizeof buf, "goroutine %llu%s%s%s [%s, %lld minutes]:\n", gid,
                         nm[0] ? " \"" : "", nm, nm[0] ? "\"" : "", what,
                         (long long)(waited / (60 * CSP_SECOND)));
        else if (!go_style && waited > 0)
            n = snprintf(buf, sizeof buf, "goroutine %llu%s%s%s [%s, %lld ms]:\n", gid,
                         nm[0] ? " \"" : "", nm, nm[0] ? "\"" : "", what,
                         (long long)(waited / CSP_MILLISECOND));
        else
            n = snprintf(buf, sizeof buf, "goroutine %llu%s%s%s [%s]:\n", gid,
                         nm[0] ? " \"" : "", nm, nm[0] ? "\"" : "", what);
        long long used = go_style ? -1 : csp__stack_touched(g);
        if (n > 1 && used >= 0 && (size_t)n < sizeof buf) {   /* csp_dump: the high-water on the same line */
            int k = snprintf(buf + n - 1, sizeof buf - (size_t)n + 1, " stack %lld KiB of %zu KiB used\n",
                             (used + 1023) / 1024, g->stack_size / 1024);
            if (k > 0) n += k - 1;
        }
        if (n > 0) csp__write_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    }
    csp__spin_unlock(&l->lock);
    }
}

CSP__DEF void csp_dump(int fd) {
    csp__rt_start();
    csp__lock(&csp__sched.alllock);
    csp__dump_locked(fd, false);
    csp__unlock(&csp__sched.alllock);
}

/* Go's checkdead, under sched.lock: no M is running or spinning (all are idle
 * or none exist), no plain thread could wake anyone, no timer and no fd wait
 * is pending, and goroutines remain: nothing can ever run again.
 * The verdict is given only once the state has held for CSP__DEAD_GRACE
 * (sysmon re-checks): a thread that is about to make its first runtime call
 * is not known yet, and must not be mistaken for no one. */
#define CSP__DEAD_GRACE (100 * CSP_MILLISECOND)
CSP__FN bool csp__dead_locked(void) {
    if (!csp__sched.deadlock_checks) return false;
    int32_t run = csp__sched.mcount - csp__sched.nmidle - csp__sched.nmlocked;
    if (run > 0) return false;
    if (csp__load(&csp__sched.nplain, CSP__SEQCST) > 0) return false;
    if (csp__load(&csp__sched.nwaitio, CSP__SEQCST) > 0) return false;
    if (csp__ngoroutines() <= 0) return false;
    if (csp__sched.runqsize > 0) return false;
    int n = csp__load(&csp__sched.nallp, CSP__ACQUIRE);
    for (int i = 0; i < n; i++) {
        csp__p *p = csp__load(&csp__sched.allp[i], CSP__ACQUIRE);
        if (!csp__runq_empty(p)) return false;
        /* A pending timer may wake someone. Per P, not one global count:
         * a shared counter bumped by every timer add and remove was the
         * dearest part of a timer (its cache line bounced between Ps). No M
         * runs now, so no heap is changing; plain threads are counted. */
        if (csp__load(&p->timer0, CSP__ACQUIRE) != INT64_MAX) return false;
    }
    return true;
}
CSP__FN void csp__checkdead_locked(void) {
    if (!csp__dead_locked()) { csp__store(&csp__dead_since, (int64_t)0, CSP__RELAXED); return; }
    /* Real time in every mode: a plain thread's first call comes in real
     * time, also when csp_now() is virtual. */
    if (csp__load(&csp__dead_since, CSP__RELAXED) == 0) {
        csp__store(&csp__dead_since, csp__mono(), CSP__RELAXED);
        /* sysmon gives the verdict; deterministic mode has none: its idle
         * M looks again (csp__stopm's bounded sleep). */
        if (!csp__det.on) {
            csp__store(&csp__sched.sysmon_wake, 1u, CSP__RELEASE);
            csp__futex_wake(&csp__sched.sysmon_wake, 1);
        }
        return;
    }
    if (csp__mono() - csp__load(&csp__dead_since, CSP__RELAXED) < CSP__DEAD_GRACE) return;
    csp__sched.deadlock_checks = 0;
    fflush(NULL);
    csp__write_str(2, "fatal error: all goroutines are asleep - deadlock!\n\n");
    csp__lock(&csp__sched.alllock);
    csp__dump_locked(2, true);
    csp__unlock(&csp__sched.alllock);
    _exit(2);
}

CSP__DEF void csp_panic(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(NULL);
    csp__write_str(2, "panic: ");
    csp__write_str(2, msg);
    csp__write_str(2, "\n\n");
    csp__tls_t *t = csp__tls();
    csp__g *g = csp__load(&t->cur, CSP__RELAXED);
    if (t->m && csp__load(&t->m->curg, CSP__RELAXED)) {
        g = csp__load(&t->m->curg, CSP__RELAXED);
        csp__write_str(2, "goroutine ");
        csp__write_u64(2, g->id);
        if (g->name[0]) { csp__write_str(2, " \""); csp__write_str(2, g->name); csp__write_str(2, "\""); }
        csp__write_str(2, " [running]\n");
    } else if (!t->plain && (pid_t)syscall(SYS_gettid) == getpid() &&
               (!csp__sched.g1 || csp__sched.g1 == g)) {
        csp__write_str(2, "goroutine 1 \"main\" [running]\n");   /* main, adopted or about to be */
    } else {
        (void)g;
        csp__write_str(2, "thread ");
        csp__write_u64(2, (uint64_t)syscall(SYS_gettid));
        csp__write_str(2, " [running]\n");
    }
    _exit(2);
}

/* ---- the rest of the goroutine API ------------------------------------------------ */
CSP__DEF uint64_t csp_id(void) {
    csp__tls_t *t = csp__tls();
    if (t->m && csp__load(&t->m->curg, CSP__RELAXED)) return csp__load(&t->m->curg, CSP__RELAXED)->id;
    if (!t->m && !t->plain && (pid_t)syscall(SYS_gettid) == getpid()) return csp__self()->id;
    return 0;
}

CSP__DEF int csp_num_cpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

CSP__DEF int csp_num_goroutines(void) {
    csp__rt_start();
    return (int)csp__ngoroutines();
}

CSP__FN csp__p *csp__p_new(int id) {
    csp__p *p = (csp__p *)csp__line_alloc(sizeof *p);
    if (!p) csp__fatal("out of memory");
    p->id = id;
    p->timer0 = INT64_MAX;
    p->status = CSP__P_IDLE;
    return p;
}

/* Grow or shrink the set of Ps (sched.lock held). A shrink retires the Ps
 * above n lazily: idle ones are never handed out again, running ones drop
 * their P at their next schedule. */
CSP__FN void csp__procresize_locked(int n) {
    int have = csp__sched.nallp;
    /* Make the Ps first (readers index allp below maxprocs), then publish
     * the new maxprocs, then hand the usable idle ones out. */
    for (int i = have; i < n; i++) {
        csp__p *p = csp__p_new(i);
        p->retired = true;
        csp__store(&csp__sched.allp[i], p, CSP__RELEASE);
        csp__store(&csp__sched.nallp, i + 1, CSP__RELEASE);
    }
    csp__store(&csp__sched.maxprocs, n, CSP__SEQCST);
    for (int i = 0; i < n; i++) {
        csp__p *p = csp__load(&csp__sched.allp[i], CSP__ACQUIRE);
        if (p->retired) csp__pidle_put(p);
    }
    /* Shrink: idle Ps above n leave the idle list now, running ones at
     * their next schedule (csp__drop_p). */
    for (csp__p **pp = &csp__sched.pidle; *pp;) {
        csp__p *p = *pp;
        if (p->id >= n) {
            *pp = p->link;
            p->retired = true;
            p->inidle = false;
            csp__fsub(&csp__sched.npidle, 1, CSP__SEQCST);
        } else {
            pp = &p->link;
        }
    }
}

CSP__DEF int csp_maxprocs(int n) {
    csp__rt_start();
    int old = csp__load(&csp__sched.maxprocs, CSP__ACQUIRE);
    if (n <= 0 || csp__det.on) return old;   /* deterministic mode: always 1 */
    if (n > CSP__MAXPROCS) n = CSP__MAXPROCS;
    csp__lock(&csp__sched.lock);
    old = csp__sched.maxprocs;
    csp__procresize_locked(n);
    /* Recount idle Ps that may be handed out. */
    csp__unlock(&csp__sched.lock);
    if (n > old) for (int i = old; i < n; i++) csp__wakep();
    return old;
}

static CSP__NOINLINE void csp__rt_init(void) {
    int n = csp_num_cpu();
    const char *env = getenv("CSP_MAXPROCS");
    if (env && *env) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end && *end == 0 && v > 0) n = v > CSP__MAXPROCS ? CSP__MAXPROCS : (int)v;
    }
    const char *seed = getenv("CSP_SEED");
    if (seed && *seed) {
        char *end = NULL;
        unsigned long long v = strtoull(seed, &end, 10);
        if (end && *end == 0) {
            csp__det.on = 1;
            csp__det.seed = v;
            /* splitmix64 of the seed: nearby seeds start far apart */
            uint64_t z = v + 0x9E3779B97F4A7C15ull;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            csp__det.rand = z ? z : 1;
            n = 1;
            csp__stk_inline_scavenge = 1;   /* no sysmon */
            const char *vt = getenv("CSP_SEED_VIRTUAL_TIME");
            if (vt && *vt && strcmp(vt, "0") != 0) {
                csp__det.vnow = csp__mono();
                __atomic_store_n(&csp__det.virt, 1, __ATOMIC_RELEASE);
            }
        }
    }
    csp__sched.goidgen = 2;   /* 1 is main's */
    csp__sched.gl.live = 1;   /* main counts from the start */
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        csp__sched.membarrier = 1;
    csp__lock(&csp__sched.lock);
    csp__procresize_locked(n);
    csp__unlock(&csp__sched.lock);
    csp__sched.coarse_now = csp_now();
    if (csp__det.on) { csp__sched.started = 1; return; }   /* no sysmon: one thread */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256u * 1024u);
    pthread_t th;
    if (pthread_create(&th, &a, csp__sysmon, NULL) != 0) csp__fatal("cannot create the sysmon thread");
    pthread_attr_destroy(&a);
    csp__sched.started = 1;
}


/* >>channels =================================================================
 * Algorithm: Go's runtime/chan.go. One lock per channel guards the buffer
 * and two FIFO wait queues of waiter records (csp__sudog, on the waiter's
 * stack). A sender that finds a waiting receiver copies the value straight
 * into the receiver's destination and readies it (it runs next, in the
 * sender's runnext); symmetrically for a receiver finding a waiting sender
 * (on a full buffered channel it takes the head and moves the sender's
 * value to the tail, so FIFO order holds).
 * Why a lock and not a lock-free queue: the measured cost that matters here
 * is the hand-off (park + ready + switch), not the lock: an uncontended
 * csp__lock is one CAS and one exchange. A lock also makes select (many
 * channels, one winner) and close (wake everyone) simple to get exactly
 * right; the lock-free designs (crossbeam, Koval et al.) pay with cell
 * states and extra atomics per operation. Non-blocking operations on an
 * empty/full channel take no lock at all (below). A buffered operation
 * that needs no partner (room and no receiver waiting, a value and no
 * sender waiting) takes the lock and nothing else: not the scheduler, not
 * the caller's context (csp__chan_buf_send/recv); that halved
 * select/uncontended, chan/uncontended and chan/prodcons/100 here.
 * Invariants (under c->lock):
 *   C1 qcount > 0 implies recvq is empty (of live waiters); qcount < cap
 *      implies sendq is empty. For cap == 0 at most one of the queues has
 *      live waiters.
 *   C2 closed goes 0 -> 1 once. After it, sendq and recvq are empty and no
 *      waiter is added.
 *   C3 a sudog is in at most one queue; a select's sudogs are live until
 *      one of them is won: whoever dequeues one CASes its goroutine's
 *      selectdone 0 -> 1 first, and skips it if that fails.
 *   C4 a completed partner is not touched after the lock is dropped except
 *      through csp__ready(sg->g): the value is copied, sg->success is set,
 *      under the lock (the partner's last use of the channel is before it
 *      parked; the channel may be freed as soon as it returns).
 * Lock-free reads: closed, qcount, and the queue heads are written under
 * the lock with relaxed atomic stores and read without it only by the
 * non-blocking fast paths (try_send/try_recv/select default), which may
 * then only conclude "not ready" -- the same reasoning as Go's: if a full
 * channel was observed full and, after that, not closed, there was an
 * instant when a send could not proceed. A close seen there is answered
 * at once (closed and empty: a zero value, as Go's); whoever learns of it
 * may release the last reference while the closer still holds the lock,
 * so csp_chan_release takes the lock once before freeing.
 * Lock order: channel locks by address (select takes several), then
 * scheduler locks. */
typedef struct csp__sudog {
    csp__g *g;
    struct csp__sudog *next, *prev;
    void *elem;              /* value to send, or destination of a receive (may be NULL) */
    csp_chan *c;
    int caseidx;             /* select: the case it stands for; -1 otherwise */
    bool isselect;
    bool inq;                /* linked in c's queue */
    bool success;            /* completed by a partner (false: woken by close) */
} csp__sudog;

typedef struct csp__waitq { csp__sudog *first, *last; } csp__waitq;

struct csp_chan {
    csp__lock_t lock;
    uint32_t closed;         /* atomic, C2 */
    int32_t refs;            /* atomic */
    size_t elemsize;
    size_t cap;
    size_t qcount;           /* atomic (written under lock) */
    size_t sendx, recvx;
    char *buf;
    csp__waitq recvq, sendq;
    csp__tmr *timer;         /* the owned timer or ticker that sends on it, or NULL (lock) */
};
CSP__FN void csp__timer_follow(csp__tmr *t);

CSP__FN void csp__wq_push(csp__waitq *q, csp__sudog *s) {
    s->next = NULL;
    s->prev = q->last;
    if (q->last) q->last->next = s; else csp__store(&q->first, s, CSP__RELAXED);
    q->last = s;
    s->inq = true;
}
CSP__FN void csp__wq_remove(csp__waitq *q, csp__sudog *s) {
    if (!s->inq) return;
    if (s->prev) s->prev->next = s->next; else csp__store(&q->first, s->next, CSP__RELAXED);
    if (s->next) s->next->prev = s->prev; else q->last = s->prev;
    s->next = s->prev = NULL;
    s->inq = false;
}
/* The first live waiter, unlinked (C3). */
CSP__FN csp__sudog *csp__wq_dequeue(csp__waitq *q) {
    for (;;) {
        csp__sudog *s = q->first;
        if (!s) return NULL;
        csp__wq_remove(q, s);
        if (s->isselect) {
            uint32_t z = 0;
            if (!csp__cas(&s->g->selectdone, &z, 1u, CSP__ACQREL)) continue;   /* lost its select */
        }
        return s;
    }
}

CSP__FN void *csp__chan_slot(csp_chan *c, size_t i) { return c->buf + i * c->elemsize; }
/* Element copies: the common sizes are copied inline (a call into libc's
 * memcpy for 8 bytes was 4% of select/uncontended). */
CSP__FN CSP__INLINE void csp__elem_copy(void *dst, const void *src, size_t n) {
    if (!dst || !src) return;
    switch (n) {
    case 0: return;
    case 1: memcpy(dst, src, 1); return;
    case 2: memcpy(dst, src, 2); return;
    case 4: memcpy(dst, src, 4); return;
    case 8: memcpy(dst, src, 8); return;
    case 16: memcpy(dst, src, 16); return;
    default: memcpy(dst, src, n); return;
    }
}
CSP__FN void csp__elem_zero(void *dst, size_t n) {
    if (!dst) return;
    switch (n) {
    case 0: return;
    case 4: memset(dst, 0, 4); return;
    case 8: memset(dst, 0, 8); return;
    default: memset(dst, 0, n); return;
    }
}

/* The buffer, under c->lock: append a value (there is room) or take the
 * head (there is one). A taken slot is not cleared: nothing reads it again
 * before the next append overwrites it. */
CSP__FN CSP__INLINE void csp__buf_put(csp_chan *c, const void *ep) {
    csp__elem_copy(csp__chan_slot(c, c->sendx), ep, c->elemsize);
    if (++c->sendx == c->cap) c->sendx = 0;
    csp__store(&c->qcount, c->qcount + 1, CSP__RELAXED);
}
CSP__FN CSP__INLINE void csp__buf_take(csp_chan *c, void *ep) {
    csp__elem_copy(ep, csp__chan_slot(c, c->recvx), c->elemsize);
    if (++c->recvx == c->cap) c->recvx = 0;
    csp__store(&c->qcount, c->qcount - 1, CSP__RELAXED);
}

/* Buffered fast paths: a send to a buffered channel with room and nobody
 * waiting to receive, or a receive from one holding values and nobody
 * waiting to send, is a copy under the channel's lock and nothing else.
 * It readies nobody and never parks, so it needs no P (csp__enter):
 * sysmon's hand-off of a hog's P is unaffected (the hog gets a P back at its
 * next call that may park or ready). It does need the thread to be known to
 * the runtime (csp__thread_known): main must have been adopted as goroutine
 * 1 (its first channel use starts the runtime, and deterministic mode with
 * it), and a plain thread must count against deadlock detection as soon as
 * it uses a channel (it may send again later). The looks before the lock
 * (relaxed, C1's fields) only choose the path: everything is decided again
 * under the lock, and a "no" there sends the caller down the general path
 * (a race lost since the look, a queue holding a select's stale sudog, a
 * close). */
CSP__FN bool csp__thread_known(void) {
    csp__tls_t *t = csp__tls();
    return t->m != NULL || t->plain;
}
CSP__FN bool csp__chan_buf_send(csp_chan *c, const void *ep) {
    if (csp__load(&c->qcount, CSP__RELAXED) >= c->cap || csp__load(&c->recvq.first, CSP__RELAXED)) return false;
    if (CSP__UNLIKELY(!csp__thread_known())) return false;
    csp__lock(&c->lock);
    if (c->closed || c->qcount == c->cap || c->recvq.first) { csp__unlock(&c->lock); return false; }
    csp__buf_put(c, ep);
    csp__unlock(&c->lock);
    return true;
}
CSP__FN bool csp__chan_buf_recv(csp_chan *c, void *ep) {
    if (csp__load(&c->qcount, CSP__RELAXED) == 0 || csp__load(&c->sendq.first, CSP__RELAXED)) return false;
    if (CSP__UNLIKELY(!csp__thread_known())) return false;
    csp__lock(&c->lock);
    if (c->qcount == 0 || c->sendq.first) { csp__unlock(&c->lock); return false; }
    csp__buf_take(c, ep);
    csp__unlock(&c->lock);
    return true;
}

CSP__DEF csp_chan *csp_chan_make(size_t elem_size, size_t cap) {
    if (elem_size && cap > SIZE_MAX / elem_size) return NULL;
    size_t bytes = elem_size * cap;
    if (bytes > SIZE_MAX - sizeof(csp_chan) - 64) return NULL;
    /* One block: the channel, then its buffer (sizeof *c keeps elements
     * 16-byte aligned), on lines of their own. */
    csp_chan *c = (csp_chan *)csp__line_alloc(sizeof *c + bytes);
    if (!c) return NULL;
    if (bytes) c->buf = (char *)(c + 1);
    c->elemsize = elem_size;
    c->cap = cap;
    c->refs = 1;
    return c;
}
CSP__DEF csp_chan *csp_chan_retain(csp_chan *c) {
    if (c) csp__fadd(&c->refs, 1, CSP__RELAXED);
    return c;
}
CSP__DEF void csp_chan_release(csp_chan *c) {
    if (!c) return;
    if (csp__fsub(&c->refs, 1, CSP__ACQREL) == 1) {
        /* Whoever learnt of a close without the lock (a non-blocking
         * receive, select's first pass) may release the last reference
         * while the closer, holding none (the semaphore's notifier), is
         * still inside csp_close: it unlocks after publishing the close,
         * and touches nothing after its unlock. Wait that out. */
        csp__lock(&c->lock);
        csp__unlock(&c->lock);
        csp__line_free(c);
    }
}
CSP__DEF size_t csp_len(const csp_chan *c) { return c ? csp__load(&c->qcount, CSP__RELAXED) : 0; }
CSP__DEF size_t csp_cap(const csp_chan *c) { return c ? c->cap : 0; }

/* "Could a send not proceed right now?" without the lock. */
CSP__FN bool csp__chan_full(csp_chan *c) {
    if (c->cap == 0) return csp__load(&c->recvq.first, CSP__RELAXED) == NULL;
    return csp__load(&c->qcount, CSP__RELAXED) == c->cap;
}
CSP__FN bool csp__chan_empty(csp_chan *c) {
    if (c->cap == 0) return csp__load(&c->sendq.first, CSP__RELAXED) == NULL;
    return csp__load(&c->qcount, CSP__RELAXED) == 0;
}

/* A non-blocking receive that finds c (not NULL) empty answers without
 * the lock: 1, not ready; 2, closed and (still) empty: *ep zeroed (a zero
 * value, ok false; polling a done channel is this); 0: not empty, go on. */
CSP__FN CSP__INLINE int csp__chan_poll_empty(csp_chan *c, void *ep) {
    if (!csp__chan_empty(c)) return 0;
    if (!csp__load(&c->closed, CSP__ACQUIRE)) return 1;
    if (!csp__chan_empty(c)) return 0;
    csp__elem_zero(ep, c->elemsize);
    return 2;
}
CSP__FN bool csp__unlock_chan(csp__g *g, void *arg) {
    (void)g;
    csp__unlock(&((csp_chan *)arg)->lock);
    return true;
}
CSP__FN bool csp__park_forever_ok(csp__g *g, void *arg) { (void)g; (void)arg; return true; }

/* Send with c->lock held, to a waiting receiver sg (C4). Unlocks. */
CSP__FN void csp__chan_send_direct(csp__m *m, csp_chan *c, csp__sudog *sg, const void *ep) {
    csp__elem_copy(sg->elem, ep, c->elemsize);
    sg->success = true;
    csp__g *g = sg->g;
    g->param = sg;
    csp__unlock(&c->lock);
    csp__ready_m(m, g);
}
/* Receive with c->lock held, from a waiting sender sg. Unlocks. */
CSP__FN void csp__chan_recv_direct(csp__m *m, csp_chan *c, csp__sudog *sg, void *ep) {
    if (c->cap == 0) {
        csp__elem_copy(ep, sg->elem, c->elemsize);
    } else {
        /* Full buffer: take the head, the sender's value goes to the tail. */
        void *slot = csp__chan_slot(c, c->recvx);
        csp__elem_copy(ep, slot, c->elemsize);
        csp__elem_copy(slot, sg->elem, c->elemsize);
        if (++c->recvx == c->cap) c->recvx = 0;
        c->sendx = c->recvx;
    }
    sg->success = true;
    csp__g *g = sg->g;
    g->param = sg;
    csp__unlock(&c->lock);
    csp__ready_m(m, g);
}

/* chansend: returns true if sent; block false: never waits. The general
 * path is a function of its own so that the buffered fast path (inlined
 * into csp__chan_send) keeps a small frame. */
CSP__FN CSP__NOINLINE bool csp__chan_send_slow(csp_chan *c, const void *ep, bool block) {
    if (!c) {
        if (!block) return false;
        csp__self();
        csp__enter();
        csp__park(csp__park_forever_ok, NULL, "chan send (nil chan)", NULL);
        csp__fatal("unreachable: woke from a nil channel");
    }
    if (CSP__UNLIKELY(!ep && c->elemsize))
        csp_panic("send of a NULL element on a channel of %zu-byte elements", c->elemsize);
    if (!block && !csp__load(&c->closed, CSP__RELAXED) && csp__chan_full(c)) return false;
    csp__g *self;
    csp__m *m = csp__enter_g(&self);
    csp__lock(&c->lock);
    if (c->closed) { csp__unlock(&c->lock); csp__leave_m(m); csp_panic("send on closed channel"); }
    csp__sudog *sg = csp__wq_dequeue(&c->recvq);
    if (sg) { csp__chan_send_direct(m, c, sg, ep); csp__leave_m(m); return true; }
    if (c->qcount < c->cap) {
        csp__buf_put(c, ep);
        csp__unlock(&c->lock);
        csp__leave_m(m);
        return true;
    }
    if (!block) { csp__unlock(&c->lock); csp__leave_m(m); return false; }
    csp__sudog me;
    memset(&me, 0, sizeof me);
    me.g = self; me.elem = (void *)ep; me.c = c; me.caseidx = -1;
    csp__wq_push(&c->sendq, &me);
    csp__park_m(m, csp__unlock_chan, c, "chan send", &c->lock);
    /* C4: a receiver took the value (success) or close woke us. */
    bool ok = me.success;
    csp__leave();
    if (!ok) csp_panic("send on closed channel");
    return true;
}

/* The paths that need no scheduler stay inline here: a buffered send with
 * room (csp__chan_buf_send) and a non-blocking send that finds the channel
 * full; everything else is csp__chan_send_slow. */
CSP__FN CSP__INLINE bool csp__chan_send(csp_chan *c, const void *ep, bool block) {
    if (CSP__LIKELY(c != NULL && (ep || !c->elemsize))) {
        if (!block && !csp__load(&c->closed, CSP__RELAXED) && csp__chan_full(c)) return false;
        if (c->cap && csp__chan_buf_send(c, ep)) return true;
    }
    return csp__chan_send_slow(c, ep, block);
}

/* chanrecv: returns selected (something happened); *okp: a real value. */
CSP__FN CSP__NOINLINE bool csp__chan_recv_slow(csp_chan *c, void *ep, bool block, bool *okp) {
    if (!c) {
        if (!block) return false;
        csp__self();
        csp__enter();
        csp__park(csp__park_forever_ok, NULL, "chan receive (nil chan)", NULL);
        csp__fatal("unreachable: woke from a nil channel");
    }
    if (!block) {   /* emptied since csp__chan_recv looked: the same answer */
        int e = csp__chan_poll_empty(c, ep);
        if (e) { if (e == 2 && okp) *okp = false; return e == 2; }
    }
    csp__g *self;
    csp__m *m = csp__enter_g(&self);
    csp__lock(&c->lock);
    if (c->closed && c->qcount == 0) {
        csp__unlock(&c->lock);
        csp__leave_m(m);
        csp__elem_zero(ep, c->elemsize);
        if (okp) *okp = false;
        return true;
    }
    csp__sudog *sg = csp__wq_dequeue(&c->sendq);
    if (sg) {
        csp__chan_recv_direct(m, c, sg, ep);
        csp__leave_m(m);
        if (okp) *okp = true;
        return true;
    }
    if (c->qcount > 0) {
        csp__buf_take(c, ep);
        csp__unlock(&c->lock);
        csp__leave_m(m);
        if (okp) *okp = true;
        return true;
    }
    if (!block) { csp__unlock(&c->lock); csp__leave_m(m); return false; }
    csp__sudog me;
    memset(&me, 0, sizeof me);
    me.g = self; me.elem = ep; me.c = c; me.caseidx = -1;
    csp__wq_push(&c->recvq, &me);
    if (CSP__UNLIKELY(c->timer != NULL)) csp__timer_follow(c->timer);
    csp__park_m(m, csp__unlock_chan, c, "chan receive", &c->lock);
    bool ok = me.success;   /* false: closed (close zero-filled *ep) */
    csp__leave();
    if (okp) *okp = ok;
    return true;
}

/* Inline, as for sends: a buffered receive of a value, and a non-blocking
 * receive that finds the channel empty. */
CSP__FN CSP__INLINE bool csp__chan_recv(csp_chan *c, void *ep, bool block, bool *okp) {
    if (CSP__LIKELY(c != NULL)) {
        int e = block ? 0 : csp__chan_poll_empty(c, ep);
        if (e) { if (e == 2 && okp) *okp = false; return e == 2; }
        if (c->cap && csp__chan_buf_recv(c, ep)) { if (okp) *okp = true; return true; }
    }
    return csp__chan_recv_slow(c, ep, block, okp);
}

CSP__DEF void csp_send(csp_chan *c, const void *elem) { csp__chan_send(c, elem, true); }
CSP__DEF bool csp_recv(csp_chan *c, void *out) { bool ok = false; csp__chan_recv(c, out, true, &ok); return ok; }
CSP__DEF bool csp_try_send(csp_chan *c, const void *elem) { return csp__chan_send(c, elem, false); }
CSP__DEF bool csp_try_recv(csp_chan *c, void *out, bool *ok) {
    /* Empty: answered here, before the general wrapper (fewer instructions
     * for polling a done channel than going through it). */
    int e = c ? csp__chan_poll_empty(c, out) : 0;
    if (e) { if (ok) *ok = false; return e == 2; }
    bool okv = false;
    bool r = csp__chan_recv(c, out, false, &okv);
    if (ok) *ok = r ? okv : false;
    return r;
}

CSP__DEF void csp_close(csp_chan *c) {
    if (!c) csp_panic("close of nil channel");
    csp__enter();
    csp__lock(&c->lock);
    if (c->closed) { csp__unlock(&c->lock); csp__leave(); csp_panic("close of closed channel"); }
    csp__store(&c->closed, 1u, CSP__RELEASE);
    /* Everyone waiting wakes: receivers with zero values, senders to panic. */
    csp__sudog *wake = NULL;
    csp__sudog *sg;
    while ((sg = csp__wq_dequeue(&c->recvq)) != NULL) {
        csp__elem_zero(sg->elem, c->elemsize);
        sg->success = false;
        sg->g->param = sg;
        sg->next = wake; wake = sg;
    }
    while ((sg = csp__wq_dequeue(&c->sendq)) != NULL) {
        sg->success = false;
        sg->g->param = sg;
        sg->next = wake; wake = sg;
    }
    csp__unlock(&c->lock);
    while (wake) {   /* read next before readying: the sudog dies with its wake-up */
        csp__sudog *n = wake->next;
        csp__ready(wake->g);
        wake = n;
    }
    csp__leave();
}

/* >>select ===================================================================
 * Go's selectgo. Cases are polled in a uniformly random order (Fisher-Yates,
 * Go's pollorder); channels are locked in address order (lockorder, each
 * once even if it appears in several cases). If a case is ready it runs.
 * Otherwise one sudog per case is queued, in the random poll order (so two
 * sends on one unbuffered channel are picked at random too), and the
 * goroutine parks; every channel lock is released by the park hook. The
 * first partner to CAS g->selectdone 0 -> 1 wins (C3) and sets g->param to
 * its sudog; a timeout is a timer that tries the same CAS. Woken, the select
 * relocks everything and unlinks the losing sudogs. */
#define CSP__SELECT_STACK 8

typedef struct csp__selctx {
    csp_chan **lockorder;    /* distinct channels, by address */
    int nlock;
} csp__selctx;

CSP__FN void csp__sel_lock(csp__selctx *s) {
    for (int i = 0; i < s->nlock; i++) csp__lock(&s->lockorder[i]->lock);
}
CSP__FN void csp__sel_unlock(csp__selctx *s) {
    for (int i = s->nlock - 1; i >= 0; i--) csp__unlock(&s->lockorder[i]->lock);
}
CSP__FN bool csp__sel_unlockf(csp__g *g, void *arg) {
    (void)g;
    csp__sel_unlock((csp__selctx *)arg);
    return true;
}

/* A thread-local generator for plain threads (goroutines use their M's). */
CSP__FN uint32_t csp__fastrand(void) {
    csp__m *m = csp__getm();
    if (CSP__UNLIKELY(!m)) {   /* deterministic mode: main, not adopted yet, is adopted here */
        csp__rt_start();
        m = csp__getm();
    }
    if (m) return csp__rand32(m);
    static __thread uint64_t x;
    if (!x) x = (uint64_t)csp_now() * 0x9E3779B97F4A7C15ull | 1;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

CSP__FN void csp__sel_timeout_fire(csp__tmr *t, int64_t now) {
    (void)now;
    csp__g *g = (csp__g *)t->arg;
    uint32_t z = 0;
    if (csp__cas(&g->selectdone, &z, 1u, CSP__ACQREL)) {
        g->param = NULL;   /* NULL: the timeout won */
        csp__ready(g);
    }
}
typedef struct csp__sel_arm { csp__selctx *sel; csp__tmr *t; } csp__sel_arm;
CSP__FN bool csp__sel_unlockf_timer(csp__g *g, void *arg) {
    /* Off our stack: arm the timer first, unlock the channels last. Once
     * they are unlocked a partner may complete the select, and the select
     * (whose frame holds *a and the timer) may return: nothing of it may be
     * touched after csp__sel_unlock. A timer that fires before the unlock
     * only readies us; we then wait for the channel locks. */
    csp__sel_arm *a = (csp__sel_arm *)arg;
    csp__selctx *sel = a->sel;
    csp__tmr *t = a->t;
    int64_t when = t->when;
    csp__m *m = csp__getm();
    csp__timer_add(csp__load(&m->p, CSP__RELAXED), t);
    csp__timer_added(m, csp__load(&m->p, CSP__RELAXED), when);
    csp__sel_unlock(sel);
    (void)g;
    return true;
}

/* Poll order: a random permutation of the enabled cases, checked. Returns
 * their number. */
CSP__FN CSP__INLINE int csp__select_order(csp_case *cases, int n, int *pollorder) {
    int np = 0;
    for (int i = 0; i < n; i++) {
        if (!cases[i].chan) continue;
        if (cases[i].op != CSP_OP_SEND && cases[i].op != CSP_OP_RECV)
            csp_panic("select: case %d has op %d (want CSP_OP_SEND or CSP_OP_RECV)", i, cases[i].op);
        if (cases[i].op == CSP_OP_SEND && !cases[i].elem && cases[i].chan->elemsize)
            csp_panic("select: case %d sends a NULL element on a channel of %zu-byte elements", i, cases[i].chan->elemsize);
        /* j uniform in [0, np]: multiply-shift (Go's fastrandn), not a
         * division (a div was 5% of select/uncontended); np == 0 needs none. */
        int j = np ? (int)(((uint64_t)csp__fastrand() * (uint32_t)(np + 1)) >> 32) : 0;
        pollorder[np] = pollorder[j];
        pollorder[j] = i;
        np++;
    }
    return np;
}

/* Pass 0, without the channels' locks: the first case in poll order that
 * looks ready is tried alone, under its own channel's lock only (as
 * csp_try_send / csp_try_recv do); Go locks every channel of the select
 * first. A case that lost a race since it was looked at is passed over;
 * if none is taken (-1), the locked pass of csp__select_wait decides (a
 * "none is ready" made of looks at different instants is no answer). */
CSP__FN CSP__INLINE int csp__select_try(csp_case *cases, const int *pollorder, int np) {
    for (int k = 0; k < np; k++) {
        int i = pollorder[k];
        csp_chan *c = cases[i].chan;
        /* The looks here are csp__chan_recv's and csp__chan_send's own;
         * what follows each is the rest of that wrapper (c is not NULL, a
         * send's elem was checked by csp__select_order), so a ready case is
         * looked at once, not twice (-2.7% instructions on
         * select/uncontended). The wrappers keep their own copy of those
         * two lines: calling a shared helper from them cost csp_try_send
         * +74% and chan/sync +1.4% in callgrind (gcc's layout changed). */
        if (cases[i].op == CSP_OP_RECV) {
            int e = csp__chan_poll_empty(c, cases[i].elem);
            if (e == 1) continue;
            if (e == 2) { cases[i].ok = false; return i; }
            if (c->cap && csp__chan_buf_recv(c, cases[i].elem)) { cases[i].ok = true; return i; }
            bool ok = false;
            if (csp__chan_recv_slow(c, cases[i].elem, false, &ok)) { cases[i].ok = ok; return i; }
        } else {
            if (csp__chan_full(c) && !csp__load(&c->closed, CSP__ACQUIRE)) continue;
            if (c->cap && csp__chan_buf_send(c, cases[i].elem)) return i;
            if (csp__chan_send_slow(c, cases[i].elem, false)) return i;   /* closed: Go's panic */
        }
    }
    return -1;
}

/* The rest of a select after csp__select_try found nothing: the locked
 * pass, then the wait. A function of its own (not inlined) so that a select
 * that finds a case ready at once never sets up its frame. */
CSP__FN CSP__NOINLINE int csp__select_wait(csp_case *cases, int np, int64_t timeout_ns, int *pollorder,
                                           csp_chan **lockorder, csp__sudog *sgs) {
    int result = CSP_SELECT_TIMEOUT;
    bool block = timeout_ns > 0;
    if (np == 0) {
        if (!block) return result;
        if (timeout_ns == CSP_FOREVER) {
            csp__self();
            csp__enter();
            csp__park(csp__park_forever_ok, NULL, "select (no cases)", NULL);
            csp__fatal("unreachable: woke from an empty select");
        }
        csp_sleep(timeout_ns);
        return result;
    }
    /* Lock order: distinct channels by address (insertion sort: n is small). */
    int nl = 0;
    for (int k = 0; k < np; k++) {
        csp_chan *c = cases[pollorder[k]].chan;
        int pos = nl;
        bool dup = false;
        for (int q = 0; q < nl; q++) if (lockorder[q] == c) { dup = true; break; }
        if (dup) continue;
        while (pos > 0 && (uintptr_t)lockorder[pos - 1] > (uintptr_t)c) { lockorder[pos] = lockorder[pos - 1]; pos--; }
        lockorder[pos] = c;
        nl++;
    }
    csp__selctx sel = { lockorder, nl };
    csp__g *self;
    csp__m *m = csp__enter_g(&self);
    csp__sel_lock(&sel);
    /* Pass 1: a ready case, in poll order. */
    for (int k = 0; k < np; k++) {
        int i = pollorder[k];
        csp_chan *c = cases[i].chan;
        if (cases[i].op == CSP_OP_RECV) {
            csp__sudog *sg = csp__wq_dequeue(&c->sendq);
            if (sg) {
                /* recv_direct unlocks c; the others stay locked: unlock them first. */
                for (int q = nl - 1; q >= 0; q--) if (lockorder[q] != c) csp__unlock(&lockorder[q]->lock);
                csp__chan_recv_direct(m, c, sg, cases[i].elem);
                cases[i].ok = true;
                result = i;
                csp__leave_m(m);
                return result;
            }
            if (c->qcount > 0) {
                csp__buf_take(c, cases[i].elem);
                cases[i].ok = true;
                result = i;
                csp__sel_unlock(&sel);
                csp__leave_m(m);
                return result;
            }
            if (c->closed) {
                csp__elem_zero(cases[i].elem, c->elemsize);
                cases[i].ok = false;
                result = i;
                csp__sel_unlock(&sel);
                csp__leave_m(m);
                return result;
            }
        } else {
            if (c->closed) { csp__sel_unlock(&sel); csp__leave_m(m); csp_panic("send on closed channel"); }
            csp__sudog *sg = csp__wq_dequeue(&c->recvq);
            if (sg) {
                for (int q = nl - 1; q >= 0; q--) if (lockorder[q] != c) csp__unlock(&lockorder[q]->lock);
                csp__chan_send_direct(m, c, sg, cases[i].elem);
                result = i;
                csp__leave_m(m);
                return result;
            }
            if (c->qcount < c->cap) {
                csp__buf_put(c, cases[i].elem);
                result = i;
                csp__sel_unlock(&sel);
                csp__leave_m(m);
                return result;
            }
        }
    }
    if (!block) { csp__sel_unlock(&sel); csp__leave_m(m); return result; }
    /* Pass 2: wait on every case, queued in poll order. */
    csp__store(&self->selectdone, 0u, CSP__RELAXED);
    self->param = NULL;
    for (int k = 0; k < np; k++) {
        int i = pollorder[k];
        csp__sudog *sg = &sgs[k];
        memset(sg, 0, sizeof *sg);
        sg->g = self;
        sg->elem = cases[i].elem;
        sg->c = cases[i].chan;
        sg->caseidx = i;
        sg->isselect = true;
        csp__wq_push(cases[i].op == CSP_OP_RECV ? &cases[i].chan->recvq : &cases[i].chan->sendq, sg);
        if (CSP__UNLIKELY(cases[i].chan->timer != NULL) && cases[i].op == CSP_OP_RECV) csp__timer_follow(cases[i].chan->timer);
    }
    for (int q = 0; q < nl; q++) csp__hb_release(&lockorder[q]->lock);
    csp__tmr t;
    bool timed = timeout_ns != CSP_FOREVER;
    if (timed) {
        memset(&t, 0, sizeof t);
        t.when = csp__deadline(timeout_ns);
        t.f = csp__sel_timeout_fire;
        t.arg = self;
        t.idx = -1;
        t.waited = 1;
    }
    if (!m) {
        /* A plain thread: csp__park's futex wait gives up at the deadline. */
        self->park_deadline = timed ? csp__deadline(timeout_ns) : 0;
        csp__park_m(m, csp__sel_unlockf, &sel, "select", NULL);
        self->park_deadline = 0;
    } else if (timed) {
        csp__sel_arm arm = { &sel, &t };
        /* The hook adds t to this P's heap: whoever runs it takes tlock. */
        csp__park_m(m, csp__sel_unlockf_timer, &arm, "select", &csp__load(&m->p, CSP__RELAXED)->tlock);
    } else {
        csp__park_m(m, csp__sel_unlockf, &sel, "select", NULL);
    }
    /* Woken: by a partner (param = its sudog), by close (param = sudog,
     * success false) or by the timeout (param NULL). */
    csp__sudog *won = (csp__sudog *)self->param;
    if (timed && csp__getm()) {
        if (!csp__timer_del(&t)) csp__timer_wait_idle(&t);
    }
    csp__sel_lock(&sel);
    for (int k = 0; k < np; k++) {
        csp__sudog *sg = &sgs[k];
        if (sg == won) continue;
        csp__wq_remove(cases[sg->caseidx].op == CSP_OP_RECV ? &sg->c->recvq : &sg->c->sendq, sg);
    }
    csp__sel_unlock(&sel);
    csp__leave();
    if (won) {
        int i = won->caseidx;
        result = i;
        if (cases[i].op == CSP_OP_RECV) cases[i].ok = won->success;
        else if (!won->success) csp_panic("send on closed channel");
    }
    return result;
}

/* The wait of a select of at most CSP__SELECT_STACK cases: its lock order
 * and waiter records on this frame. */
CSP__FN CSP__NOINLINE int csp__select_small(csp_case *cases, int np, int64_t timeout_ns, int *pollorder) {
    csp_chan *lock_buf[CSP__SELECT_STACK];
    csp__sudog sg_buf[CSP__SELECT_STACK];
    return csp__select_wait(cases, np, timeout_ns, pollorder, lock_buf, sg_buf);
}

CSP__DEF int csp_select(csp_case *cases, int n, int64_t timeout_ns) {
    if (n < 0) csp_panic("select with a negative number of cases (%d)", n);
    if (n > 0 && !cases) csp_panic("select with NULL cases and n = %d", n);
    if (n <= CSP__SELECT_STACK) {
        int order[CSP__SELECT_STACK];
        int np = csp__select_order(cases, n, order);
        int r = csp__select_try(cases, order, np);
        return r >= 0 ? r : csp__select_small(cases, np, timeout_ns, order);
    }
    int *pollorder = (int *)csp__xmalloc((size_t)n * sizeof *pollorder);
    csp_chan **lockorder = (csp_chan **)csp__xmalloc((size_t)n * sizeof *lockorder);
    csp__sudog *sgs = (csp__sudog *)csp__xmalloc((size_t)n * sizeof *sgs);
    int np = csp__select_order(cases, n, pollorder);
    int r = csp__select_try(cases, pollorder, np);
    if (r < 0) r = csp__select_wait(cases, np, timeout_ns, pollorder, lockorder, sgs);
    CSP_FREE(pollorder); CSP_FREE(lockorder); CSP_FREE(sgs);
    return r;
}

/* >>sync: WaitGroup ===========================================================
 * state = counter << 32 | waiters, one 64-bit atomic (Go's layout). The
 * counter reaching zero with waiters owes each waiter a wake-up: a small
 * semaphore (count + list under the WaitGroup's lock) carries them, so a
 * waiter that has counted itself but not yet queued still gets its wake-up.
 * The releaser drops the lock before readying anyone: a woken waiter may
 * free the WaitGroup at once. */
typedef struct csp__wgw { csp__g *g; struct csp__wgw *next; } csp__wgw;

CSP__FN bool csp__wg_unlockf(csp__g *g, void *arg) {
    (void)g;
    csp__unlock((csp__lock_t *)arg);
    return true;
}

CSP__DEF void csp_wg_add(csp_waitgroup *wg, int64_t delta) {
    uint64_t v = csp__fadd(&wg->csp__state, (uint64_t)delta << 32, CSP__ACQREL) + ((uint64_t)delta << 32);
    int32_t counter = (int32_t)(v >> 32);
    uint32_t waiters = (uint32_t)v;
    if (counter < 0) csp_panic("sync: negative WaitGroup counter");
    if (counter > 0 || waiters == 0) return;
    /* Counter is zero with waiters: nobody may Add now (Go's rule), so the
     * state can be reset and the waiters released. */
    csp__store(&wg->csp__state, (uint64_t)0, CSP__RELAXED);
    csp__lock_t *l = (csp__lock_t *)(void *)&wg->csp__lock;
    csp__enter();
    csp__lock(l);
    wg->csp__sema += waiters;
    csp__wgw *list = (csp__wgw *)wg->csp__waiters;
    csp__wgw *wake = NULL;
    while (list && wg->csp__sema > 0) {
        csp__wgw *n = list->next;
        list->next = wake; wake = list;
        list = n;
        wg->csp__sema--;
    }
    wg->csp__waiters = list;
    csp__unlock(l);
    while (wake) { csp__wgw *n = wake->next; csp__ready(wake->g); wake = n; }
    csp__leave();
}
CSP__DEF void csp_wg_done(csp_waitgroup *wg) { csp_wg_add(wg, -1); }

CSP__DEF void csp_wg_wait(csp_waitgroup *wg) {
    uint64_t v = csp__load(&wg->csp__state, CSP__ACQUIRE);
    for (;;) {
        if ((v >> 32) == 0) return;
        if (csp__cas_weak(&wg->csp__state, &v, v + 1, CSP__ACQREL)) break;
        /* A failed CAS reads relaxed: returning on that value would not be
         * ordered after the last Done (the caller may free what the
         * goroutines touched). Re-read with acquire. */
        v = csp__load(&wg->csp__state, CSP__ACQUIRE);
    }
    csp__g *self = csp__self();
    csp__lock_t *l = (csp__lock_t *)(void *)&wg->csp__lock;
    csp__enter();
    csp__lock(l);
    if (wg->csp__sema > 0) {   /* our wake-up arrived before we queued */
        wg->csp__sema--;
        csp__unlock(l);
        csp__leave();
        return;
    }
    csp__wgw me = { self, NULL };
    /* FIFO is not required; push front. */
    me.next = (csp__wgw *)wg->csp__waiters;
    wg->csp__waiters = &me;
    csp__park(csp__wg_unlockf, l, "sync.WaitGroup.Wait", l);
    csp__leave();
}

typedef struct csp__wg_go_arg { csp_waitgroup *wg; csp_fn fn; void *arg; } csp__wg_go_arg;
CSP__FN void csp__wg_go_main(void *p) {
    csp__wg_go_arg *a = (csp__wg_go_arg *)p;
    a->fn(a->arg);
    csp_wg_done(a->wg);
}
CSP__DEF int csp_wg_go(csp_waitgroup *wg, csp_fn fn, void *arg) {
    if (!fn) csp_panic("go of nil func value");
    csp_wg_add(wg, 1);
    csp__wg_go_arg a = { wg, fn, arg };
    int rc = csp_go_copy(csp__wg_go_main, &a, sizeof a);
    if (rc != 0) csp_wg_add(wg, -1);
    return rc;
}


/* >>sync: the semaphore table =================================================
 * Go's runtime/sema.go, simplified: csp__semacquire(addr) waits until *addr
 * > 0 and decrements it; csp__semrelease(addr) increments it and wakes a
 * waiter of addr. Waiters (on their own stacks) live in one of 251 buckets
 * chosen by address, so a sync object needs no storage but a counter, and
 * zero-initialised objects just work. A releaser touches *addr only before
 * it readies a waiter (an object may be freed as soon as its last waiter
 * returns). handoff: the count goes straight to the woken waiter (mutex
 * starvation mode). lifo: queue at the front (a waiter that already waited). */
#define CSP__SEMTAB 251
typedef struct csp__semw {
    csp__g *g;
    uint32_t *addr;
    struct csp__semw *next;
    bool ticket;             /* handed the count by the releaser */
} csp__semw;
static struct { csp__lock_t lock; uint32_t nwait; csp__semw *head, *tail; } csp__semtab[CSP__SEMTAB];

CSP__FN unsigned csp__sem_bucket(uint32_t *addr) { return (unsigned)(((uintptr_t)addr >> 3) % CSP__SEMTAB); }
CSP__FN bool csp__cansemacquire(uint32_t *addr) {
    uint32_t v = csp__load(addr, CSP__RELAXED);
    while (v > 0) if (csp__cas_weak(addr, &v, v - 1, CSP__ACQUIRE)) return true;
    return false;
}
CSP__FN bool csp__sem_unlockf(csp__g *g, void *arg) {
    (void)g;
    csp__unlock((csp__lock_t *)arg);
    return true;
}
CSP__FN void csp__semacquire(uint32_t *addr, bool lifo, const char *reason) {
    if (csp__cansemacquire(addr)) return;
    csp__g *self = csp__self();
    unsigned b = csp__sem_bucket(addr);
    csp__enter();
    for (;;) {
        csp__lock(&csp__semtab[b].lock);
        csp__fadd(&csp__semtab[b].nwait, 1u, CSP__SEQCST);
        if (csp__cansemacquire(addr)) {
            csp__fsub(&csp__semtab[b].nwait, 1u, CSP__SEQCST);
            csp__unlock(&csp__semtab[b].lock);
            break;
        }
        csp__semw w = { self, addr, NULL, false };
        if (lifo && csp__semtab[b].head) { w.next = csp__semtab[b].head; csp__semtab[b].head = &w; }
        else {
            if (csp__semtab[b].tail) csp__semtab[b].tail->next = &w; else csp__semtab[b].head = &w;
            csp__semtab[b].tail = &w;
        }
        csp__park(csp__sem_unlockf, &csp__semtab[b].lock, reason, &csp__semtab[b].lock);
        if (w.ticket || csp__cansemacquire(addr)) break;
    }
    csp__leave();
}
CSP__FN void csp__semrelease(uint32_t *addr, bool handoff) {
    unsigned b = csp__sem_bucket(addr);
    csp__fadd(addr, 1u, CSP__RELEASE);
    /* nwait is incremented before the waiter checks *addr (seq_cst both
     * sides): either it sees our count or we see it waiting. */
    if (csp__load(&csp__semtab[b].nwait, CSP__SEQCST) == 0) return;
    csp__enter();
    csp__lock(&csp__semtab[b].lock);
    csp__semw *prev = NULL, *w = csp__semtab[b].head;
    while (w && w->addr != addr) { prev = w; w = w->next; }
    if (!w) { csp__unlock(&csp__semtab[b].lock); csp__leave(); return; }
    if (prev) prev->next = w->next; else csp__semtab[b].head = w->next;
    if (csp__semtab[b].tail == w) csp__semtab[b].tail = prev;
    csp__fsub(&csp__semtab[b].nwait, 1u, CSP__SEQCST);
    if (handoff && csp__cansemacquire(addr)) w->ticket = true;
    csp__g *g = w->g;
    csp__unlock(&csp__semtab[b].lock);
    csp__ready(g);
    csp__leave();
}

/* >>sync: Mutex ================================================================
 * Go's sync.Mutex, state bits: locked, woken (a waiter is awake: Unlock need
 * not wake another), starving (hand-off mode), waiters << 3. Normal mode:
 * woken waiters compete with arriving goroutines (fast, unfair; an arrival
 * may spin briefly while the owner runs on another thread). A waiter that
 * waited over 1 ms switches to starvation mode: Unlock hands the mutex to
 * the first waiter, arrivals queue behind. */
enum { CSP__MTX_LOCKED = 1, CSP__MTX_WOKEN = 2, CSP__MTX_STARVING = 4, CSP__MTX_WSHIFT = 3 };
#define CSP__STARVATION_NS (1 * CSP_MILLISECOND)

CSP__FN bool csp__can_spin(int iter) {
    if (iter >= 4 || csp_num_cpu() <= 1) return false;
    csp__m *m = csp__getm();
    if (!m || !csp__load(&m->p, CSP__RELAXED)) return false;
    if (csp__load(&csp__sched.maxprocs, CSP__RELAXED) <= csp__load(&csp__sched.npidle, CSP__RELAXED) + csp__load(&csp__sched.nmspinning, CSP__RELAXED) + 1) return false;
    return csp__runq_empty(csp__load(&m->p, CSP__RELAXED));
}

CSP__FN CSP__NOINLINE void csp__mutex_lock_slow(csp_mutex *m, const char *reason) {
    int64_t wait_start = 0;
    bool starving = false, awoke = false;
    int iter = 0;
    int32_t old = csp__load(&m->csp__state, CSP__RELAXED);
    for (;;) {
        if ((old & (CSP__MTX_LOCKED | CSP__MTX_STARVING)) == CSP__MTX_LOCKED && csp__can_spin(iter)) {
            if (!awoke && !(old & CSP__MTX_WOKEN) && (old >> CSP__MTX_WSHIFT) != 0 &&
                csp__cas(&m->csp__state, &old, old | CSP__MTX_WOKEN, CSP__RELAXED)) awoke = true;
            for (int i = 0; i < 30; i++) csp__cpu_relax();
            iter++;
            old = csp__load(&m->csp__state, CSP__RELAXED);
            continue;
        }
        int32_t nw = old;
        if (!(old & CSP__MTX_STARVING)) nw |= CSP__MTX_LOCKED;
        if (old & (CSP__MTX_LOCKED | CSP__MTX_STARVING)) nw += 1 << CSP__MTX_WSHIFT;
        if (starving && (old & CSP__MTX_LOCKED)) nw |= CSP__MTX_STARVING;
        if (awoke) {
            if (!(nw & CSP__MTX_WOKEN)) csp__fatal("sync: inconsistent mutex state");
            nw &= ~CSP__MTX_WOKEN;
        }
        if (csp__cas(&m->csp__state, &old, nw, CSP__ACQUIRE)) {
            if (!(old & (CSP__MTX_LOCKED | CSP__MTX_STARVING))) break;   /* locked it */
            bool lifo = wait_start != 0;
            if (!wait_start) wait_start = csp_now();
            csp__semacquire(&m->csp__sema, lifo, reason);
            starving = starving || csp_now() - wait_start > CSP__STARVATION_NS;
            old = csp__load(&m->csp__state, CSP__ACQUIRE);
            if (old & CSP__MTX_STARVING) {
                /* Handed to us: fix up the state and own it. */
                if ((old & (CSP__MTX_LOCKED | CSP__MTX_WOKEN)) || (old >> CSP__MTX_WSHIFT) == 0)
                    csp__fatal("sync: inconsistent mutex state");
                int32_t delta = CSP__MTX_LOCKED - (1 << CSP__MTX_WSHIFT);
                if (!starving || (old >> CSP__MTX_WSHIFT) == 1) delta -= CSP__MTX_STARVING;
                csp__fadd(&m->csp__state, delta, CSP__ACQUIRE);
                break;
            }
            awoke = true;
            iter = 0;
        }
    }
}

CSP__DEF void csp_mutex_lock(csp_mutex *m) {
    int32_t z = 0;
    if (CSP__LIKELY(csp__cas(&m->csp__state, &z, CSP__MTX_LOCKED, CSP__ACQUIRE))) return;
    csp__mutex_lock_slow(m, "sync.Mutex.Lock");
}
CSP__DEF bool csp_mutex_trylock(csp_mutex *m) {
    int32_t old = csp__load(&m->csp__state, CSP__RELAXED);
    if (old & (CSP__MTX_LOCKED | CSP__MTX_STARVING)) return false;
    return csp__cas(&m->csp__state, &old, old | CSP__MTX_LOCKED, CSP__ACQUIRE);
}
CSP__FN CSP__NOINLINE void csp__mutex_unlock_slow(csp_mutex *m, int32_t nw) {
    if (!((nw + CSP__MTX_LOCKED) & CSP__MTX_LOCKED)) csp_panic("sync: unlock of unlocked mutex");
    if (!(nw & CSP__MTX_STARVING)) {
        int32_t old = nw;
        for (;;) {
            if ((old >> CSP__MTX_WSHIFT) == 0 || (old & (CSP__MTX_LOCKED | CSP__MTX_WOKEN | CSP__MTX_STARVING))) return;
            nw = (old - (1 << CSP__MTX_WSHIFT)) | CSP__MTX_WOKEN;
            if (csp__cas(&m->csp__state, &old, nw, CSP__RELEASE)) { csp__semrelease(&m->csp__sema, false); return; }
        }
    }
    csp__semrelease(&m->csp__sema, true);
}
CSP__DEF void csp_mutex_unlock(csp_mutex *m) {
    int32_t nw = csp__fadd(&m->csp__state, -CSP__MTX_LOCKED, CSP__RELEASE) - CSP__MTX_LOCKED;
    if (CSP__UNLIKELY(nw != 0)) csp__mutex_unlock_slow(m, nw);
}

/* >>sync: RWMutex (Go's rwmutex.go) ============================================ */
#define CSP__RW_MAX_READERS (1 << 30)
CSP__DEF void csp_rwmutex_rlock(csp_rwmutex *m) {
    if (csp__fadd(&m->csp__reader_count, 1, CSP__ACQUIRE) + 1 < 0)
        csp__semacquire(&m->csp__reader_sem, false, "sync.RWMutex.RLock");
}
CSP__DEF bool csp_rwmutex_tryrlock(csp_rwmutex *m) {
    int32_t c = csp__load(&m->csp__reader_count, CSP__RELAXED);
    for (;;) {
        if (c < 0) return false;
        if (csp__cas_weak(&m->csp__reader_count, &c, c + 1, CSP__ACQUIRE)) return true;
    }
}
CSP__DEF void csp_rwmutex_runlock(csp_rwmutex *m) {
    int32_t r = csp__fsub(&m->csp__reader_count, 1, CSP__RELEASE) - 1;
    if (r < 0) {
        if (r + 1 == 0 || r + 1 == -CSP__RW_MAX_READERS) csp_panic("sync: RUnlock of unlocked RWMutex");
        /* A writer is waiting: the last reader out lets it in. */
        if (csp__fsub(&m->csp__reader_wait, 1, CSP__RELEASE) - 1 == 0)
            csp__semrelease(&m->csp__writer_sem, false);
    }
}
CSP__DEF void csp_rwmutex_lock(csp_rwmutex *m) {
    int32_t z = 0;
    if (!csp__cas(&m->csp__w.csp__state, &z, CSP__MTX_LOCKED, CSP__ACQUIRE))
        csp__mutex_lock_slow(&m->csp__w, "sync.RWMutex.Lock");
    int32_t r = csp__fadd(&m->csp__reader_count, -CSP__RW_MAX_READERS, CSP__ACQREL);
    if (r != 0 && csp__fadd(&m->csp__reader_wait, r, CSP__ACQREL) + r != 0)
        csp__semacquire(&m->csp__writer_sem, false, "sync.RWMutex.Lock");
}
CSP__DEF bool csp_rwmutex_trylock(csp_rwmutex *m) {
    if (!csp_mutex_trylock(&m->csp__w)) return false;
    int32_t z = 0;
    if (!csp__cas(&m->csp__reader_count, &z, -CSP__RW_MAX_READERS, CSP__ACQUIRE)) {
        csp_mutex_unlock(&m->csp__w);
        return false;
    }
    return true;
}
CSP__DEF void csp_rwmutex_unlock(csp_rwmutex *m) {
    int32_t r = csp__fadd(&m->csp__reader_count, CSP__RW_MAX_READERS, CSP__RELEASE) + CSP__RW_MAX_READERS;
    if (r >= CSP__RW_MAX_READERS) csp_panic("sync: Unlock of unlocked RWMutex");
    for (int32_t i = 0; i < r; i++) csp__semrelease(&m->csp__reader_sem, false);
    csp_mutex_unlock(&m->csp__w);
}

/* >>sync: Once ================================================================== */
CSP__DEF void csp_once_do(csp_once *o, csp_fn fn, void *arg) {
    if (CSP__LIKELY(csp__load(&o->csp__done, CSP__ACQUIRE))) return;
    int32_t z = 0;
    if (!csp__cas(&o->csp__m.csp__state, &z, CSP__MTX_LOCKED, CSP__ACQUIRE))
        csp__mutex_lock_slow(&o->csp__m, "sync.Once.Do");
    if (!o->csp__done) {
        fn(arg);
        csp__store(&o->csp__done, 1u, CSP__RELEASE);
    }
    csp_mutex_unlock(&o->csp__m);
}

/* >>sync: Cond (Go's notifyList) =================================================
 * wait takes a ticket (csp__wait++) before unlocking m; signal wakes the
 * waiter holding ticket csp__notify (and advances it); broadcast wakes all
 * tickets below csp__wait. A ticket at or below csp__notify when its holder
 * arrives to sleep means it was signalled already: no sleep. */
typedef struct csp__condw { csp__g *g; uint32_t ticket; struct csp__condw *next; } csp__condw;
CSP__FN bool csp__ticket_less(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

CSP__DEF void csp_cond_wait(csp_cond *c, csp_mutex *m) {
    uint32_t t = csp__fadd(&c->csp__wait, 1u, CSP__ACQREL);
    csp_mutex_unlock(m);
    csp__g *self = csp__self();
    csp__lock_t *l = (csp__lock_t *)(void *)&c->csp__lock;
    csp__enter();
    csp__lock(l);
    if (csp__ticket_less(t, csp__load(&c->csp__notify, CSP__RELAXED))) {
        csp__unlock(l);
    } else {
        csp__condw w = { self, t, NULL };
        if (c->csp__tail) ((csp__condw *)c->csp__tail)->next = &w; else c->csp__head = &w;
        c->csp__tail = &w;
        csp__park(csp__sem_unlockf, l, "sync.Cond.Wait", l);
    }
    csp__leave();
    csp_mutex_lock(m);
}
CSP__DEF void csp_cond_signal(csp_cond *c) {
    if (csp__load(&c->csp__wait, CSP__ACQUIRE) == csp__load(&c->csp__notify, CSP__ACQUIRE)) return;
    csp__lock_t *l = (csp__lock_t *)(void *)&c->csp__lock;
    csp__enter();
    csp__lock(l);
    uint32_t t = c->csp__notify;
    if (t == csp__load(&c->csp__wait, CSP__ACQUIRE)) { csp__unlock(l); csp__leave(); return; }
    csp__store(&c->csp__notify, t + 1, CSP__RELEASE);
    csp__condw *prev = NULL, *w = (csp__condw *)c->csp__head;
    while (w && w->ticket != t) { prev = w; w = w->next; }
    csp__g *g = NULL;
    if (w) {   /* else: the ticket holder has not queued yet and will not sleep */
        if (prev) prev->next = w->next; else c->csp__head = w->next;
        if (c->csp__tail == w) c->csp__tail = prev;
        g = w->g;
    }
    csp__unlock(l);
    if (g) csp__ready(g);
    csp__leave();
}
CSP__DEF void csp_cond_broadcast(csp_cond *c) {
    if (csp__load(&c->csp__wait, CSP__ACQUIRE) == csp__load(&c->csp__notify, CSP__ACQUIRE)) return;
    csp__lock_t *l = (csp__lock_t *)(void *)&c->csp__lock;
    csp__enter();
    csp__lock(l);
    csp__condw *w = (csp__condw *)c->csp__head;
    c->csp__head = c->csp__tail = NULL;
    csp__store(&c->csp__notify, csp__load(&c->csp__wait, CSP__ACQUIRE), CSP__RELEASE);
    csp__unlock(l);
    while (w) { csp__condw *n = w->next; csp__ready(w->g); w = n; }
    csp__leave();
}


/* >>timers: Timer, Ticker, After, AfterFunc ====================================
 * Objects around a csp__tmr in some P's heap (the caller's P, or P 0 from a
 * plain thread). Callbacks run in a scheduler with a P and never block: a
 * timer's send is a try_send (a full channel keeps its old value, a ticker
 * drops the tick), AfterFunc starts a goroutine. Owned timers are `waited`:
 * stop/reset/release wait for a callback that is running right now. */
enum { CSP__TM_CHAN, CSP__TM_FUNC, CSP__TM_AFTER };
struct csp_timer {
    csp__tmr t;
    csp_chan *c;
    csp_fn fn;
    void *arg;
    int kind;
};
struct csp_ticker { csp_timer tm; };
CSP__STATIC_ASSERT(sizeof(csp_ticker) == sizeof(csp_timer), "a ticker is its timer: one allocation serves both");

/* A goroutine is about to park on the channel of owned timer t (the
 * channel's lock held, so t is alive: its release unbinds it under that
 * lock first). If t waits in another P's heap, bring it to ours, so that
 * its fire readies the goroutine on the P where it parked (Go 1.23 puts a
 * channel timer in the heap of whoever blocks on it). Without this, a
 * goroutine that met its ticker's creation on a P it was only visiting was
 * pulled back there at every tick, and two such goroutines shared one P
 * while the other idled (time/ticker: half the runs at half speed).
 * The move holds `running`, as a fire does: a stop or reset that finds t in
 * no heap waits for it and looks again (csp__timer_quiesce). It is taken
 * under the old heap's lock only while nobody fires t, so no fire is
 * skipped for it; a fire in progress leaves t where it is. */
CSP__FN void csp__timer_follow(csp__tmr *t) {
    csp__m *m = csp__getm();
    csp__p *mp = m ? csp__load(&m->p, CSP__RELAXED) : NULL;
    csp__p *p = csp__load(&t->p, CSP__ACQUIRE);
    if (!mp || !p || p == mp || CSP__UNLIKELY(csp__det.on)) return;
    csp__lock(&p->tlock);
    bool take = csp__load(&t->p, CSP__RELAXED) == p && t->idx >= 0 && !csp__load(&t->running, CSP__RELAXED);
    if (take) {
        csp__store(&t->running, 1u, CSP__RELAXED);   /* tlock orders it before any fire's claim */
        csp__theap_remove_locked(p, t);
    }
    csp__unlock(&p->tlock);
    if (!take) return;
    int64_t when = t->when;
    csp__timer_add(mp, t);
    csp__store(&t->running, 0u, CSP__RELEASE);
    csp__timer_added(m, mp, when);
}
/* Unbind a timer's channel before the timer is freed (see csp__timer_follow). */
CSP__FN void csp__timer_unbind(csp_chan *c) {
    csp__lock(&c->lock);
    c->timer = NULL;
    csp__unlock(&c->lock);
}
CSP__FN void csp__timer_start(csp__tmr *t) {
    csp__rt_start();
    csp__m *m = csp__getm();
    csp__p *p = m ? csp__load(&m->p, CSP__RELAXED) : NULL;
    if (!p) p = csp__load(&csp__sched.allp[0], CSP__ACQUIRE);
    int64_t when = t->when;   /* once in the heap, t is the firing M's (a ticker re-arms) */
    csp__timer_add(p, t);
    csp__timer_added(m, p, when);
}
CSP__FN void csp__timer_fire(csp__tmr *t, int64_t now) {
    csp_timer *tm = (csp_timer *)t->arg;
    if (tm->kind == CSP__TM_FUNC) {
        if (csp_go(tm->fn, tm->arg) != 0) csp__fatal("out of memory");
        return;
    }
    int64_t at = now;   /* the instant the timers were run: no second clock read */
    csp_try_send(tm->c, &at);
    if (tm->kind == CSP__TM_AFTER) {   /* nobody owns it: clean up */
        csp_chan_release(tm->c);
        csp__line_free(tm);
    }
}
CSP__FN int64_t csp__when(int64_t ns) { return ns <= 0 ? csp_now() : csp__deadline(ns); }

CSP__FN csp_timer *csp__timer_make(int64_t ns, int kind, int64_t period) {
    csp_timer *tm = (csp_timer *)csp__line_alloc(sizeof *tm);
    if (!tm) return NULL;
    if (kind != CSP__TM_FUNC) {
        tm->c = csp_chan_make(sizeof(int64_t), 1);
        if (!tm->c) { csp__line_free(tm); return NULL; }
    }
    tm->kind = kind;
    tm->t.when = csp__when(ns);
    tm->t.period = period;
    tm->t.f = csp__timer_fire;
    tm->t.arg = tm;
    tm->t.idx = -1;
    tm->t.waited = kind != CSP__TM_AFTER;
    return tm;
}
CSP__DEF csp_timer *csp_timer_new(int64_t ns) {
    csp_timer *tm = csp__timer_make(ns, CSP__TM_CHAN, 0);
    if (!tm) return NULL;
    tm->c->timer = &tm->t;   /* nobody else has c yet */
    csp__timer_start(&tm->t);
    return tm;
}
CSP__DEF csp_timer *csp_after_func(int64_t ns, csp_fn fn, void *arg) {
    if (!fn) csp_panic("time: AfterFunc with nil func");
    csp__rt_start();   /* csp__det is set up there */
    if (ns <= 0 && !csp__det.on) {
        /* Already due: it fires now, as the heap would at this instant, but
         * without the trip through it (two locks, two clock reads). The
         * timer is then a fired one: stop returns false, reset re-arms it.
         * (Deterministic mode keeps the heap: ties among due timers are
         * its choice to make.) */
        csp_timer *tm = (csp_timer *)csp__line_alloc(sizeof *tm);
        if (!tm) return NULL;
        tm->kind = CSP__TM_FUNC;
        tm->fn = fn;
        tm->arg = arg;
        tm->t.f = csp__timer_fire;
        tm->t.arg = tm;
        tm->t.idx = -1;
        tm->t.waited = 1;
        if (csp_go(fn, arg) != 0) { csp__line_free(tm); return NULL; }
        return tm;
    }
    csp_timer *tm = csp__timer_make(ns, CSP__TM_FUNC, 0);
    if (!tm) return NULL;
    tm->fn = fn;
    tm->arg = arg;
    csp__timer_start(&tm->t);
    return tm;
}
CSP__DEF csp_chan *csp_after(int64_t ns) {
    csp_timer *tm = csp__timer_make(ns, CSP__TM_AFTER, 0);
    if (!tm) return NULL;
    csp_chan *c = csp_chan_retain(tm->c);   /* the caller's reference */
    csp__timer_start(&tm->t);
    return c;
}
CSP__DEF csp_chan *csp_timer_chan(csp_timer *t) { return t->c; }
/* Take t out of its heap, and make sure its callback is not running. */
CSP__FN bool csp__timer_quiesce(csp__tmr *t) {
    bool was = csp__timer_del(t);
    /* Always wait, then look again: a ticker is back in its heap while its
     * callback runs, and a timer moving to a receiver's heap
     * (csp__timer_follow) is in none while `running` is held. */
    csp__timer_wait_idle(t);
    if (!was) was = csp__timer_del(t);
    return was;
}
CSP__DEF bool csp_timer_stop(csp_timer *t) { return csp__timer_quiesce(&t->t); }
/* Re-arm a timer that is still in its heap, in place (Go's modtimer): one
 * lock, one sift, no remove and re-add. false if it is not in a heap (it
 * fired, or was stopped): the caller takes the slow path. A callback that
 * is running meanwhile (a ticker's) may finish: it only sends on the
 * channel, which is the owner's to keep. */
CSP__FN bool csp__timer_modify(csp__tmr *t, int64_t when, int64_t period) {
    csp__p *p = csp__load(&t->p, CSP__ACQUIRE);
    if (!p) return false;
    /* In place only in the caller's own heap: timers reset one after the
     * other by one goroutine then share a heap and fire in order (across
     * heaps, two threads fire concurrently). */
    csp__m *cm = csp__getm();
    if (CSP__UNLIKELY(cm && csp__load(&cm->p_lost, CSP__RELAXED))) {
        /* A hog whose P sysmon handed away (its due timers): take a P back
         * now, as Go's preempted hog goes through schedule. Resetting on
         * without one left a second thread per P firing an always-due
         * ticker against our resets (time/ticker_reset: six busy threads
         * on two cores). */
        csp__enter();
        csp__leave();
        cm = csp__getm();
    }
    if (cm && csp__load(&cm->p, CSP__RELAXED) && csp__load(&cm->p, CSP__RELAXED) != p) return false;
    csp__lock(&p->tlock);
    if (csp__load(&t->p, CSP__RELAXED) != p || t->idx < 0) { csp__unlock(&p->tlock); return false; }
    int64_t old = t->when;
    t->when = when;
    if (period) t->period = period;
    p->theap[t->idx].when = when;
    if (when < old) csp__theap_up(p, t->idx); else csp__theap_down(p, t->idx);
    csp__theap_sync0(p);
    csp__unlock(&p->tlock);
    if (when < old) csp__timer_added(cm, p, when);
    return true;
}
CSP__DEF bool csp_timer_reset(csp_timer *t, int64_t ns) {
    if (csp__timer_modify(&t->t, csp__when(ns), 0)) return true;
    bool was = csp__timer_quiesce(&t->t);
    t->t.when = csp__when(ns);
    csp__timer_start(&t->t);
    return was;
}
CSP__DEF void csp_timer_release(csp_timer *t) {
    if (!t) return;
    if (t->c) csp__timer_unbind(t->c);
    csp__timer_quiesce(&t->t);
    csp_chan_release(t->c);
    csp__line_free(t);
}
CSP__DEF csp_ticker *csp_ticker_new(int64_t period_ns) {
    if (period_ns <= 0) csp_panic("non-positive interval for NewTicker");
    csp_timer *tm = csp__timer_make(period_ns, CSP__TM_CHAN, period_ns);
    if (!tm) return NULL;
    csp_ticker *tk = (csp_ticker *)(void *)tm;   /* its only member, first: the same block */
    tk->tm.c->timer = &tk->tm.t;   /* nobody else has c yet */
    csp__timer_start(&tk->tm.t);
    return tk;
}
CSP__DEF csp_chan *csp_ticker_chan(csp_ticker *t) { return t->tm.c; }
CSP__DEF void csp_ticker_reset(csp_ticker *t, int64_t period_ns) {
    if (period_ns <= 0) csp_panic("non-positive interval for Ticker.Reset");
    if (csp__timer_modify(&t->tm.t, csp__deadline(period_ns), period_ns)) return;
    csp__timer_quiesce(&t->tm.t);
    t->tm.t.period = period_ns;
    t->tm.t.when = csp__deadline(period_ns);
    csp__timer_start(&t->tm.t);
}
CSP__DEF void csp_ticker_stop(csp_ticker *t) { csp__timer_quiesce(&t->tm.t); }
CSP__DEF void csp_ticker_release(csp_ticker *t) {
    if (!t) return;
    csp__timer_unbind(t->tm.c);
    csp__timer_quiesce(&t->tm.t);
    csp_chan_release(t->tm.c);
    csp__line_free(t);
}

/* >>context ======================================================================
 * Go's context package. A cancelable context (with_cancel / with_deadline)
 * has a lock, a done channel (closed on cancel), an error, and a list of
 * cancelable children (the cancelable descendants whose nearest cancelable
 * ancestor it is). Lock order: parent before child (cancel walks down
 * holding the parent's lock, as Go's cancelCtx does); a child that detaches
 * takes its parent's lock after releasing its own.
 * The done channel is made by the first csp_ctx_done (Go's lazy c.done): a
 * context canceled before anyone asked gets the one shared closed channel
 * (Go's closedchan) and never makes its own; most contexts are never
 * waited on.
 * Lifetime: refs; a child holds a reference to its parent, so a parent
 * with children is never freed (and not canceled by its last user's
 * release). The deadline timer is stopped (and waited for) before a
 * context is freed. */
enum { CSP__CTX_BG, CSP__CTX_CANCEL, CSP__CTX_VALUE };
struct csp_ctx {
    int kind;
    int32_t refs;            /* atomic */
    csp_ctx *parent;         /* NULL for background */
    /* cancelable: err, children. A spin lock: its sections are a few
     * stores (a cancel's walk aside), and its release a plain store, where
     * the futex lock's xchg was one more locked instruction on a line that
     * children of one parent fight over (ctx/common_parent_cancel). */
    csp__spin_t lock;
    int err;                 /* atomic reads */
    csp_chan *done;          /* atomic: NULL until the first csp_ctx_done or the cancel */
    csp_ctx *cancel_parent;  /* nearest cancelable ancestor we are listed in */
    csp_ctx *children, *next_sib, *prev_sib;
    bool listed;             /* in cancel_parent's children (its lock) */
    bool has_deadline;
    int64_t deadline;
    csp__tmr timer;          /* deadline timer (idx >= 0 while armed) */
    bool timer_armed;
    const void *key;
    void *val;
};
static csp_ctx csp__ctx_bg = { CSP__CTX_BG, 1, NULL, {0}, 0, NULL, NULL, NULL, NULL, NULL, false, false, 0,
                               { 0, 0, NULL, NULL, NULL, -1, 0, 0, 0, 0 }, false, NULL, NULL };

CSP__DEF csp_ctx *csp_ctx_background(void) { return &csp__ctx_bg; }
CSP__FN csp_ctx *csp__ctxnz(csp_ctx *c) { return c ? c : &csp__ctx_bg; }

/* The nearest cancelable context at or above c (NULL: none). */
CSP__FN csp_ctx *csp__ctx_cancelable(csp_ctx *c) {
    while (c && c->kind == CSP__CTX_VALUE) c = c->parent;
    return c && c->kind == CSP__CTX_CANCEL ? c : NULL;
}

/* The shared closed channel (made once, never freed). */
static csp_chan *csp__ctx_closed;
CSP__FN csp_chan *csp__ctx_closedchan(void) {
    csp_chan *c = csp__load(&csp__ctx_closed, CSP__ACQUIRE);
    if (CSP__LIKELY(c != NULL)) return c;
    csp_chan *n = csp_chan_make(0, 0);
    if (!n) csp__fatal("out of memory");
    csp_close(n);
    csp_chan *z = NULL;
    if (csp__cas(&csp__ctx_closed, &z, n, CSP__ACQREL)) return n;
    csp_chan_release(n);   /* another made it first */
    return csp__load(&csp__ctx_closed, CSP__ACQUIRE);
}

CSP__FN void csp__ctx_cancel(csp_ctx *c, int err, bool detach) {
    csp__spin_lock(&c->lock);
    if (c->err) { csp__spin_unlock(&c->lock); return; }
    csp__store(&c->err, err, CSP__RELEASE);
    csp_chan *d = csp__load(&c->done, CSP__RELAXED);   /* written only under the lock */
    if (d) csp_close(d);
    else csp__store(&c->done, csp__ctx_closedchan(), CSP__RELEASE);
    /* Cancel every child while holding our lock (parent -> child order). */
    for (csp_ctx *ch = c->children; ch;) {
        csp_ctx *next = ch->next_sib;
        ch->listed = false;
        ch->next_sib = ch->prev_sib = NULL;
        csp__ctx_cancel(ch, err, false);
        ch = next;
    }
    c->children = NULL;
    bool armed = c->timer_armed;
    csp__spin_unlock(&c->lock);
    if (detach && c->cancel_parent) {
        csp_ctx *pp = c->cancel_parent;
        csp__spin_lock(&pp->lock);
        if (c->listed) {
            if (c->prev_sib) c->prev_sib->next_sib = c->next_sib; else pp->children = c->next_sib;
            if (c->next_sib) c->next_sib->prev_sib = c->prev_sib;
            c->listed = false;
            c->next_sib = c->prev_sib = NULL;
        }
        csp__spin_unlock(&pp->lock);
    }
    /* The deadline timer has nothing left to do. Not waited for here: we
     * may be that very timer's callback (csp_ctx_release waits). */
    if (armed) csp__timer_del(&c->timer);
}

CSP__FN void csp__ctx_deadline_fire(csp__tmr *t, int64_t now) {
    (void)now;
    csp__ctx_cancel((csp_ctx *)t->arg, CSP_DEADLINE_EXCEEDED, true);
}

CSP__FN csp_ctx *csp__ctx_new_cancel(csp_ctx *parent, bool has_deadline, int64_t deadline) {
    parent = csp__ctxnz(parent);
    csp_ctx *c = (csp_ctx *)csp__line_alloc(sizeof *c);
    if (!c) return NULL;
    c->kind = CSP__CTX_CANCEL;
    c->refs = 1;
    c->parent = csp_ctx_retain(parent);
    c->has_deadline = has_deadline;
    c->deadline = deadline;
    c->timer.idx = -1;
    c->timer.f = csp__ctx_deadline_fire;
    c->timer.arg = c;
    c->timer.waited = 1;
    /* propagateCancel: join the nearest cancelable ancestor, or be born
     * canceled if it already is. */
    csp_ctx *cp = csp__ctx_cancelable(parent);
    if (cp) {
        /* err is set once, under cp's lock, and never changes: seen set
         * (acquire), it is final, and cp's lock is not needed. */
        int err = csp__load(&cp->err, CSP__ACQUIRE);
        if (!err) {
            csp__spin_lock(&cp->lock);
            err = cp->err;
            if (err) csp__spin_unlock(&cp->lock);
        }
        if (err) {
            /* Born canceled. Nobody else can see c yet: no lock, no
             * children, no timer (a deadline is armed only after this). */
            csp__store(&c->err, err, CSP__RELEASE);
            csp__store(&c->done, csp__ctx_closedchan(), CSP__RELEASE);
            return c;
        }
        c->cancel_parent = cp;
        c->next_sib = cp->children;
        if (cp->children) cp->children->prev_sib = c;
        cp->children = c;
        c->listed = true;
        csp__spin_unlock(&cp->lock);
    }
    return c;
}

CSP__DEF csp_ctx *csp_ctx_with_cancel(csp_ctx *parent) { return csp__ctx_new_cancel(parent, false, 0); }

CSP__DEF csp_ctx *csp_ctx_with_deadline(csp_ctx *parent, int64_t deadline) {
    int64_t pd;
    if (csp_ctx_deadline(parent, &pd) && pd <= deadline)
        return csp__ctx_new_cancel(parent, false, 0);   /* the parent's is sooner: Go's rule */
    csp_ctx *c = csp__ctx_new_cancel(parent, true, deadline);
    if (!c) return NULL;
    if (deadline <= csp_now()) { csp__ctx_cancel(c, CSP_DEADLINE_EXCEEDED, true); return c; }
    csp__spin_lock(&c->lock);
    if (!c->err && deadline != INT64_MAX) {
        c->timer.when = deadline;
        c->timer_armed = true;
        csp__spin_unlock(&c->lock);
        csp__timer_start(&c->timer);
    } else {
        csp__spin_unlock(&c->lock);
    }
    return c;
}
CSP__DEF csp_ctx *csp_ctx_with_timeout(csp_ctx *parent, int64_t timeout_ns) {
    return csp_ctx_with_deadline(parent, csp__deadline(timeout_ns));
}
CSP__DEF csp_ctx *csp_ctx_with_value(csp_ctx *parent, const void *key, void *value) {
    csp_ctx *c = (csp_ctx *)csp__line_alloc(sizeof *c);
    if (!c) return NULL;
    c->kind = CSP__CTX_VALUE;
    c->refs = 1;
    c->parent = csp_ctx_retain(csp__ctxnz(parent));
    c->key = key;
    c->val = value;
    return c;
}
CSP__DEF void csp_ctx_cancel(csp_ctx *ctx) {
    if (ctx && ctx->kind == CSP__CTX_CANCEL) csp__ctx_cancel(ctx, CSP_CANCELED, true);
}
CSP__DEF csp_chan *csp_ctx_done(csp_ctx *ctx) {
    csp_ctx *c = csp__ctx_cancelable(csp__ctxnz(ctx));
    if (!c) return NULL;
    csp_chan *d = csp__load(&c->done, CSP__ACQUIRE);
    if (CSP__LIKELY(d != NULL)) return d;
    csp__spin_lock(&c->lock);
    d = csp__load(&c->done, CSP__RELAXED);
    if (!d) {   /* not canceled (a cancel stores the shared closed one) */
        d = csp_chan_make(0, 0);
        if (!d) csp__fatal("out of memory");
        csp__store(&c->done, d, CSP__RELEASE);
    }
    csp__spin_unlock(&c->lock);
    return d;
}
CSP__DEF int csp_ctx_err(csp_ctx *ctx) {
    csp_ctx *c = csp__ctx_cancelable(csp__ctxnz(ctx));
    return c ? csp__load(&c->err, CSP__ACQUIRE) : 0;
}
CSP__DEF bool csp_ctx_deadline(csp_ctx *ctx, int64_t *deadline) {
    for (csp_ctx *c = csp__ctxnz(ctx); c; c = c->parent) {
        if (c->kind == CSP__CTX_CANCEL && c->has_deadline) { if (deadline) *deadline = c->deadline; return true; }
    }
    return false;
}
CSP__DEF void *csp_ctx_value(csp_ctx *ctx, const void *key) {
    for (csp_ctx *c = csp__ctxnz(ctx); c; c = c->parent)
        if (c->kind == CSP__CTX_VALUE && c->key == key) return c->val;
    return NULL;
}
CSP__DEF csp_ctx *csp_ctx_retain(csp_ctx *ctx) {
    if (ctx && ctx->kind != CSP__CTX_BG) csp__fadd(&ctx->refs, 1, CSP__RELAXED);
    return ctx;
}
CSP__DEF void csp_ctx_release(csp_ctx *ctx) {
    while (ctx && ctx->kind != CSP__CTX_BG) {
        if (csp__fsub(&ctx->refs, 1, CSP__ACQREL) != 1) return;
        csp_ctx *parent = ctx->parent;
        if (ctx->kind == CSP__CTX_CANCEL) {
            /* Always through the lock, even when canceled already: a
             * parent's cancel walk may still be inside our cancel. */
            csp__ctx_cancel(ctx, CSP_CANCELED, true);   /* no-op if it was canceled */
            if (ctx->timer_armed) { csp__timer_del(&ctx->timer); csp__timer_wait_idle(&ctx->timer); }
            /* Detach even if canceled earlier by its parent (already off the list then). */
            csp_chan *d = csp__load(&ctx->done, CSP__ACQUIRE);
            if (d && d != csp__load(&csp__ctx_closed, CSP__ACQUIRE)) csp_chan_release(d);
        }
        csp__line_free(ctx);
        ctx = parent;   /* drop our reference to the parent (iteratively) */
    }
}

/* >>semaphore (golang.org/x/sync/semaphore) =========================================
 * size, cur and a FIFO of waiters under a lock. A waiter waits on an
 * unbuffered channel of its own (its "ready", closed to grant it) and on
 * ctx's done channel with one select.
 * notify grants tokens strictly in FIFO order and stops at the first waiter
 * that does not fit (no barging). */
typedef struct csp__semaw { int64_t n; csp_chan *ready; struct csp__semaw *next, *prev; } csp__semaw;
struct csp_sema {
    csp__lock_t lock;
    int64_t size, cur;
    csp__semaw *head, *tail;
};
CSP__DEF csp_sema *csp_sema_new(int64_t capacity) {
    csp_sema *s = (csp_sema *)csp__line_alloc(sizeof *s);
    if (s) s->size = capacity;
    return s;
}
CSP__FN void csp__sema_unlink(csp_sema *s, csp__semaw *w) {
    if (w->prev) w->prev->next = w->next; else s->head = w->next;
    if (w->next) w->next->prev = w->prev; else s->tail = w->prev;
    w->next = w->prev = NULL;
}
CSP__FN void csp__sema_notify(csp_sema *s) {   /* s->lock held */
    while (s->head) {
        csp__semaw *w = s->head;
        if (s->size - s->cur < w->n) break;   /* no barging past the head */
        s->cur += w->n;
        csp__sema_unlink(s, w);
        csp_close(w->ready);
    }
}
CSP__FN int csp__ctx_errno(csp_ctx *ctx) {
    return csp_ctx_err(ctx) == CSP_DEADLINE_EXCEEDED ? -ETIMEDOUT : -ECANCELED;
}
CSP__DEF int csp_sema_acquire(csp_sema *s, int64_t n, csp_ctx *ctx) {
    csp_chan *done = csp_ctx_done(ctx);
    csp__lock(&s->lock);
    if (s->size - s->cur >= n && !s->head) {
        s->cur += n;
        csp__unlock(&s->lock);
        return 0;
    }
    if (n > s->size) {   /* can never be satisfied: wait for ctx only */
        csp__unlock(&s->lock);
        csp_recv(done, NULL);   /* nil done: forever, as Go */
        return csp__ctx_errno(ctx);
    }
    csp__semaw w = { n, csp_chan_make(0, 0), NULL, s->tail };
    if (!w.ready) { csp__unlock(&s->lock); csp__fatal("out of memory"); }
    if (s->tail) s->tail->next = &w; else s->head = &w;
    s->tail = &w;
    csp__unlock(&s->lock);
    csp_case k[2] = { CSP_RECV(w.ready, NULL), CSP_RECV(done, NULL) };
    int r = csp_select(k, 2, CSP_FOREVER);
    int rc = 0;
    if (r == 1) {
        csp__lock(&s->lock);
        if (csp_try_recv(w.ready, NULL, NULL)) {
            /* Granted just as ctx ended: give the tokens back. */
            s->cur -= n;
            csp__sema_notify(s);
        } else {
            bool front = s->head == &w;
            csp__sema_unlink(s, &w);
            if (front && s->size > s->cur) csp__sema_notify(s);   /* let the next one through */
        }
        csp__unlock(&s->lock);
        rc = csp__ctx_errno(ctx);
    }
    csp_chan_release(w.ready);
    return rc;
}
CSP__DEF bool csp_sema_try_acquire(csp_sema *s, int64_t n) {
    csp__lock(&s->lock);
    bool ok = s->size - s->cur >= n && !s->head;
    if (ok) s->cur += n;
    csp__unlock(&s->lock);
    return ok;
}
CSP__DEF void csp_sema_release(csp_sema *s, int64_t n) {
    csp__lock(&s->lock);
    s->cur -= n;
    if (s->cur < 0) { csp__unlock(&s->lock); csp_panic("semaphore: released more than held"); }
    csp__sema_notify(s);
    csp__unlock(&s->lock);
}
CSP__DEF void csp_sema_free(csp_sema *s) { csp__line_free(s); }

/* >>errgroup (golang.org/x/sync/errgroup) ============================================ */
struct csp_errgroup {
    csp_ctx *ctx;
    csp_waitgroup wg;
    csp__lock_t lock;        /* err */
    int err;
    csp_chan *sem;           /* limit tokens; NULL: no limit */
    int32_t active;          /* atomic: goroutines running */
};
CSP__DEF csp_errgroup *csp_errgroup_new(csp_ctx *parent) {
    csp_errgroup *g = (csp_errgroup *)csp__line_alloc(sizeof *g);
    if (!g) return NULL;
    g->ctx = csp_ctx_with_cancel(parent);
    if (!g->ctx) { csp__line_free(g); return NULL; }
    return g;
}
CSP__DEF csp_ctx *csp_errgroup_ctx(csp_errgroup *g) { return g->ctx; }
CSP__DEF void csp_errgroup_set_limit(csp_errgroup *g, int n) {
    int32_t a = csp__load(&g->active, CSP__ACQUIRE);
    if (a != 0) csp_panic("errgroup: modify limit while %d goroutines in the group are still active", (int)a);
    csp_chan_release(g->sem);
    g->sem = n < 0 ? NULL : csp_chan_make(0, (size_t)n);
}
typedef struct csp__eg_arg { csp_errgroup *g; csp_errfn fn; void *arg; } csp__eg_arg;
CSP__FN void csp__eg_main(void *p) {
    csp__eg_arg *a = (csp__eg_arg *)p;
    csp_errgroup *g = a->g;
    int err = a->fn(g->ctx, a->arg);
    if (err) {
        csp__lock(&g->lock);
        bool first = g->err == 0;
        if (first) g->err = err;
        csp__unlock(&g->lock);
        if (first) csp_ctx_cancel(g->ctx);
    }
    if (g->sem) csp_recv(g->sem, NULL);
    csp__fsub(&g->active, 1, CSP__RELEASE);
    csp_wg_done(&g->wg);
}
CSP__DEF int csp_errgroup_go(csp_errgroup *g, csp_errfn fn, void *arg) {
    if (!fn) csp_panic("go of nil func value");
    if (g->sem) csp_send(g->sem, NULL);   /* blocks at the limit */
    csp__fadd(&g->active, 1, CSP__ACQUIRE);
    csp_wg_add(&g->wg, 1);
    csp__eg_arg a = { g, fn, arg };
    int rc = csp_go_copy(csp__eg_main, &a, sizeof a);
    if (rc != 0) {
        if (g->sem) csp_recv(g->sem, NULL);
        csp__fsub(&g->active, 1, CSP__RELEASE);
        csp_wg_done(&g->wg);
    }
    return rc;
}
CSP__DEF int csp_errgroup_wait(csp_errgroup *g) {
    csp_wg_wait(&g->wg);
    csp_ctx_cancel(g->ctx);
    csp__lock(&g->lock);
    int err = g->err;
    csp__unlock(&g->lock);
    return err;
}
CSP__DEF void csp_errgroup_free(csp_errgroup *g) {
    if (!g) return;
    csp_ctx_cancel(g->ctx);
    csp_ctx_release(g->ctx);
    csp_chan_release(g->sem);
    csp__line_free(g);
}


/* >>poller =======================================================================
 * One epoll instance, edge-triggered, each fd registered once for
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP (Go's netpoll). Per fd a csp__pd (table by fd
 * number, never freed) holds, under its lock, for each direction either the
 * list of waiting goroutines or a "ready" flag (an edge that nobody was
 * waiting for). Readiness is a hint: the caller retries its syscall and
 * waits again on EAGAIN. An edge wakes every waiter of its direction: with
 * edge triggering, one that read only part of the data would otherwise
 * leave the others parked with data there and no edge to come (Go
 * serialises readers with a lock instead; several readers of one fd are
 * rare, and csp_fd_close must wake them all anyway).
 * Stale wake-ups: every registration gets a new generation (seq) carried in
 * the epoll event; events of an older generation are dropped. A plain
 * close(2) makes the kernel forget the fd, and a new file under the number
 * is not registered: a waiter that trusts the old registration would sleep
 * through its events. Checking at every park (EPOLL_CTL_ADD: EEXIST means
 * the same registration, success a new file) costs a syscall per wait, a
 * tenth of an echo's syscalls. So a waiter parks trusting a registered fd,
 * and the check comes later, only for waits that last: a trusted park lists
 * its pd, and a sweep (from the poll, at most every 10 ms) re-checks each
 * listed pd one to two sweeps later if it still has waiters. A new file
 * found then is registered afresh (fresh generation, flags reset; epoll
 * reports a readiness it already has at once) and its waiters park again,
 * unseen by their callers: a reused number costs its first wait up to
 * ~20 ms, never a lost wake-up. A "ready" flag (an edge nobody took) is
 * checked before it is used: it may be the old file's.
 * Waiting with a context: the fd waiter and a select-style sudog on the
 * context's done channel race for g->selectdone, as in csp_select.
 * Who polls: a thread with nothing to run blocks in epoll_wait until the
 * nearest timer (one at a time; others sleep on their futex); schedulers
 * poll without blocking when they look for work; sysmon polls if nobody
 * has for 10 ms. Goroutines woken by I/O go on a run queue like any other.
 * sched.nwaitio counts parked fd waiters: no deadlock while it is non-zero.
 * Lock order: pd lock, then the done channel's lock. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <poll.h>

typedef struct csp__pdw {
    csp__g *g;               /* waiting goroutine or thread */
    int result;              /* 0 ready, -EBADF closed (set by the waker) */
    struct csp__pdw *next, *prev;   /* pd->w[dir] (pd->lock); after a wake: the woken chain */
    bool queued;             /* in pd->w[dir] */
} csp__pdw;
typedef struct csp__pd {
    csp__lock_t lock;
    uint32_t seq;            /* generation of the registration */
    bool registered;
    bool closing;
    bool ready[2];           /* [0] read, [1] write: an edge nobody took */
    csp__pdw *w[2];          /* waiters per direction: a FIFO list */
    csp__pdw *wtail[2];
    uint8_t kind;            /* atomic: CSP__FDK_*, learnt once (see csp__fd_kind) */
    uint8_t inq;             /* atomic: a TCP socket with TCP_INQ on (see csp__recv_inq) */
    uint8_t rdhup;           /* atomic: the poller saw the peer's end or an error: reads are never skipped */
    uint32_t redges;         /* atomic: read-side edges the poller took (written under lock) */
    uint32_t drained;        /* atomic: 1 + redges when a read left nothing queued, else 0 */
    uint8_t vlisted;         /* atomic: on a check list (csp__np_v.lock) */
    int fd;                  /* its number (the table index) */
    struct csp__pd *vnext;   /* check list link (csp__np_v.lock, while vlisted) */
} csp__pd;
/* The check lists of trusted parks (see the banner): `young` collects pds
 * since the last sweep, `old` those of the sweep before, which the next
 * sweep re-checks. Lock order: a pd's lock, then this lock; a sweep takes
 * them one at a time. */
static struct {
    csp__lock_t lock;
    csp__pd *young, *old;
    uint32_t any;            /* atomic: either list is non-empty */
    uint32_t sweeping;       /* atomic: one sweep at a time */
    int64_t next;            /* atomic: earliest instant of the next sweep */
} csp__np_v;
enum { CSP__PD_RECHECKED = 1 };   /* a waiter's result: registered afresh, park again */
/* What an fd (> 2) is, remembered so that a read or write costs one
 * syscall, non-blocking whatever the fd's flags say (a blocking file under
 * a reused number must not block the thread): a socket is read and written
 * with MSG_DONTWAIT (a non-socket under the number answers ENOTSOCK and is
 * looked at again); a pipe or FIFO is read with preadv2 and RWF_NOWAIT
 * where the kernel takes it for pipes (5.8+; probed once), and a file that
 * is not a pipe any more answers EOPNOTSUPP (or, a regular file, cannot be
 * polled). Pipe writes, and OTHER (eventfd, a non-blocking tty, ..., or
 * pipes on an older kernel), have the flags read per call; a write end
 * opened O_WRONLY (never a socket) skips the send(2) attempt. Forgotten by csp_fd_close and when the poller sees a new file. */
enum { CSP__FDK_UNKNOWN, CSP__FDK_SOCK, CSP__FDK_PIPE, CSP__FDK_OTHER };
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
static int csp__np_pipe_nowait;   /* 1: RWF_NOWAIT works on pipes (set at poller start) */

static struct {
    pthread_mutex_t initlock;   /* the poller starts once, at the first wait that needs it */
    int epfd, evfd;
    csp__lock_t tablock;
    csp__pd **tab;
    int tabcap;
    uint32_t broken;         /* atomic: evfd written, not yet drained */
    csp__pd **retired[40];   /* outgrown tables (see csp__pd_get) */
    int nretired;
} csp__np = { PTHREAD_MUTEX_INITIALIZER, -1, -1, {0}, NULL, 0, 0, {NULL}, 0 };

#define CSP__NP_EVFD_TAG 0xffffffffull
/* Start the poller: 0, or -errno (out of fds: EMFILE; the next wait tries
 * again, so a server that ran out of fds before its first wait is not
 * lost). */
CSP__FN int csp__np_init_locked(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int ev = ep < 0 ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = EPOLLIN;
    e.data.u64 = CSP__NP_EVFD_TAG;
    if (ep < 0 || ev < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) {
        int err = errno;
        if (ev >= 0) close(ev);
        if (ep >= 0) close(ep);
        return -err;
    }
    /* Do pipes take RWF_NOWAIT? An empty one must answer EAGAIN, a write
     * go through, a read then find it (older kernels: EOPNOTSUPP). */
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) == 0) {
        char c = 'p';
        struct iovec iov = { &c, 1 };
        bool ok = preadv2(pp[0], &iov, 1, -1, RWF_NOWAIT) < 0 && errno == EAGAIN;
        ok = ok && pwritev2(pp[1], &iov, 1, -1, RWF_NOWAIT) == 1;
        ok = ok && preadv2(pp[0], &iov, 1, -1, RWF_NOWAIT) == 1;
        close(pp[0]);
        close(pp[1]);
        csp__np_pipe_nowait = ok;
    }
    csp__np.evfd = ev;
    csp__store(&csp__np.epfd, ep, CSP__RELEASE);   /* published last: csp__np_started */
    return 0;
}
CSP__FN bool csp__np_started(void) { return csp__load(&csp__np.epfd, CSP__ACQUIRE) >= 0; }
CSP__FN int csp__np_init(void) {
    if (CSP__LIKELY(csp__np_started())) return 0;
    pthread_mutex_lock(&csp__np.initlock);
    int rc = csp__np_started() ? 0 : csp__np_init_locked();
    pthread_mutex_unlock(&csp__np.initlock);
    return rc;
}

/* fd's descriptor, made at first use; NULL (errno set) if the poller cannot
 * start (out of fds). */
CSP__FN csp__pd *csp__pd_get(int fd) {
    int rc = csp__np_init();
    if (rc < 0) { errno = -rc; return NULL; }
    csp__lock(&csp__np.tablock);
    if (fd >= csp__np.tabcap) {
        int nc = csp__np.tabcap ? csp__np.tabcap : 256;
        while (nc <= fd) nc *= 2;
        csp__pd **nt = (csp__pd **)CSP_CALLOC((size_t)nc, sizeof *nt);
        if (!nt) csp__fatal("out of memory");
        if (csp__np.tab) memcpy(nt, csp__np.tab, (size_t)csp__np.tabcap * sizeof *nt);
        /* The old table stays allocated (pollers may be reading it), and
         * reachable: at most one per doubling. */
        if (csp__np.tab && csp__np.nretired < 40) csp__np.retired[csp__np.nretired++] = csp__np.tab;
        csp__store(&csp__np.tab, nt, CSP__RELEASE);
        csp__store(&csp__np.tabcap, nc, CSP__RELEASE);
    }
    csp__pd *pd = csp__np.tab[fd];
    if (!pd) {
        pd = (csp__pd *)csp__line_alloc(sizeof *pd);
        if (!pd) csp__fatal("out of memory");
        pd->fd = fd;
        csp__store(&csp__np.tab[fd], pd, CSP__RELEASE);
    }
    csp__unlock(&csp__np.tablock);
    return pd;
}
CSP__FN csp__pd *csp__pd_peek(int fd) {   /* lock-free: for the poller */
    csp__pd **tab = csp__load(&csp__np.tab, CSP__ACQUIRE);
    if (!tab || fd < 0 || fd >= csp__load(&csp__np.tabcap, CSP__ACQUIRE)) return NULL;
    return csp__load(&tab[fd], CSP__ACQUIRE);
}

/* (Re)register fd under pd->lock: 0, or -errno (-EPERM: a regular file);
 * with `trust`, 1 and no syscall if pd is registered already. */
/* The one registration every fd gets: both directions, edge-triggered,
 * tagged with the fd and a generation (stale events are recognised). */
CSP__FN struct epoll_event csp__pd_event(int fd, uint32_t seq) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)seq << 32;
    return ev;
}
CSP__FN int csp__pd_register(int fd, csp__pd *pd, bool trust) {
    if (trust && pd->registered && !csp__det.on) return 1;   /* deterministic mode: always checked */
    struct epoll_event ev = csp__pd_event(fd, pd->seq + 1);
    if (epoll_ctl(csp__np.epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        /* A new registration (first use, or a new file under this number). */
        if (pd->registered) csp__store(&pd->kind, (uint8_t)CSP__FDK_UNKNOWN, CSP__RELAXED);
        csp__store(&pd->rdhup, (uint8_t)0, CSP__RELAXED);
        csp__store(&pd->drained, 0u, CSP__RELAXED);
        pd->seq++;
        pd->registered = true;
        pd->ready[0] = pd->ready[1] = false;
        return 0;
    }
    if (errno == EEXIST && pd->registered) return 0;
    if (errno == EEXIST) {   /* registered by an older generation we forgot */
        if (epoll_ctl(csp__np.epfd, EPOLL_CTL_MOD, fd, &ev) == 0) { pd->seq++; pd->registered = true; return 0; }
    }
    int e = errno;
    if (e == EPERM) csp__store(&pd->kind, (uint8_t)CSP__FDK_UNKNOWN, CSP__RELAXED);   /* a regular file now */
    return -e;
}

CSP__FN void csp__pdw_unlink(csp__pd *pd, int dir, csp__pdw *w) {   /* pd->lock */
    if (w->prev) w->prev->next = w->next; else pd->w[dir] = w->next;
    if (w->next) w->next->prev = w->prev; else pd->wtail[dir] = w->prev;
    w->next = w->prev = NULL;
    w->queued = false;
}
/* Wake the waiters of one direction (pd->lock held): each gets `result`.
 * Returns their goroutines to ready, as an array filled into gs (up to
 * max; the rest are left for the next call: *more set). */
CSP__FN int csp__pd_wake(csp__pd *pd, int dir, int result, csp__g **gs, int max, bool *more) {
    int n = 0;
    csp__pdw *w = pd->w[dir];
    if (!w) { if (result == 0) pd->ready[dir] = true; return 0; }
    while (w && n < max) {
        csp__pdw *next = w->next;
        uint32_t z = 0;
        if (csp__cas(&w->g->selectdone, &z, 1u, CSP__ACQREL)) {   /* else its ctx won: it leaves by itself */
            csp__pdw_unlink(pd, dir, w);
            w->result = result;
            w->g->param = w;
            gs[n++] = w->g;
        }
        w = next;
    }
    if (w && more) *more = true;
    return n;
}

CSP__FN void csp__np_vsweep(int64_t now);
/* Poll: block up to timeout_ns (< 0: forever, 0: not at all); ready what
 * became runnable. Returns the number readied. */
CSP__FN int csp__netpoll(int64_t timeout_ns) {
    if (!csp__np_started()) return 0;
    struct epoll_event evs[128];
    int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
    if (timeout_ns > (int64_t)INT32_MAX * 1000000) ms = INT32_MAX;
    int n = epoll_wait(csp__np.epfd, evs, 128, ms);
    int64_t now = csp_now();
    csp__store(&csp__np_lastpoll, now, CSP__RELAXED);
    int woke = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        if (d == CSP__NP_EVFD_TAG) {
            uint64_t v;
            while (read(csp__np.evfd, &v, sizeof v) == (ssize_t)sizeof v) {}
            csp__store(&csp__np.broken, 0u, CSP__RELEASE);
            continue;
        }
        int fd = (int)(uint32_t)d;
        uint32_t seq = (uint32_t)(d >> 32);
        csp__pd *pd = csp__pd_peek(fd);
        if (!pd) continue;
        uint32_t e = evs[i].events;
        for (int dir = 0; dir < 2; dir++) {
            uint32_t want = dir == 0 ? (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) : (EPOLLOUT | EPOLLHUP | EPOLLERR);
            if (!(e & want)) continue;
            bool more = true, more_seen = false;
            while (more) {   /* all of them, a batch at a time (readied outside the lock) */
                csp__g *gs[16];
                int k = 0;
                more = false;
                csp__lock(&pd->lock);
                if (pd->seq == seq && !pd->closing) {
                    if (dir == 0 && !more_seen) {   /* once per event (see csp__recv_inq) */
                        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) csp__store(&pd->rdhup, (uint8_t)1, CSP__RELAXED);
                        csp__store(&pd->redges, pd->redges + 1, CSP__RELEASE);
                    }
                    k = csp__pd_wake(pd, dir, 0, gs, 16, &more);
                }
                more_seen = true;
                csp__unlock(&pd->lock);
                for (int j = 0; j < k; j++) { csp__ready(gs[j]); woke++; }
            }
        }
    }
    if (CSP__UNLIKELY(csp__load(&csp__np_v.any, CSP__RELAXED))) csp__np_vsweep(now);
    return woke;
}
CSP__FN void csp__netpoll_break(void) {
    uint32_t z = 0;
    if (!csp__np_started() || !csp__cas(&csp__np.broken, &z, 1u, CSP__ACQREL)) return;
    uint64_t one = 1;
    if (write(csp__np.evfd, &one, sizeof one) < 0) { /* full: a wake-up is pending anyway */ }
}
/* Scheduler hooks (see findrunnable, stopm, sysmon). */
CSP__FN bool csp__np_waiters(void) { return csp__load(&csp__sched.nwaitio, CSP__ACQUIRE) > 0; }
/* Become the thread that blocks in the poller, until `until` (the nearest
 * timer). -1 if another thread already does, else how many goroutines it
 * readied (onto the global queue, waking nobody: see csp__np_after_block).
 * Called without a P. */
#ifndef CSP__NP_SPIN_NS
#define CSP__NP_SPIN_NS (10 * CSP_MICROSECOND)
#endif
CSP__FN int csp__np_try_block(csp__m *m, int64_t until, bool spin) {
    uint32_t z = 0;
    if (!csp__cas(&csp__np_polling_flag, &z, 1u, CSP__SEQCST)) return -1;
    if (csp__load(&csp__np_v.any, CSP__SEQCST)) {   /* a sweep is to come (see csp__np_vlist) */
        int64_t v = csp__load(&csp__np_v.next, CSP__RELAXED);
        if (v < until) until = v;
    }
    csp__store(&csp__np_poll_until, until, CSP__RELEASE);
    int64_t timeout = until == INT64_MAX ? -1 : until - csp_now();
    if (until != INT64_MAX && timeout < 0) timeout = 0;
    csp__store(&m->np_defer, 1u, CSP__RELAXED);
    int woke = 0;
    /* Poll without sleeping for a few microseconds first: a conversation
     * (ping-pong) has its answer in flight, and a thread asleep in
     * epoll_wait costs its waker a cross-CPU wake-up (~10 us in a VM). Only
     * a thread that just gave up its P spins: one without a P (the Ps all
     * busy) would take a core from them. */
    if (spin && timeout != 0 && CSP__NP_SPIN_NS > 0 && (timeout < 0 || timeout > 2 * CSP__NP_SPIN_NS)) {
        int64_t end = csp_now() + CSP__NP_SPIN_NS;
        while ((woke = csp__netpoll(0)) == 0 && csp_now() < end) csp__cpu_relax();
    }
    if (!woke) woke = csp__netpoll(timeout);
    csp__store(&m->np_defer, 0u, CSP__RELAXED);
    csp__store(&csp__np_polling_flag, 0u, CSP__RELEASE);
    return woke;
}
/* After a blocking poll: take an idle P to run what it readied (or the
 * timer that ended it); more than one readied: wake one more thread (a
 * spinner that finds work wakes the next). false if no P was idle: the
 * caller then sleeps (stopm) rather than poll again, as Go's findrunnable
 * does. The Ps' holders run what it readied and poll, without blocking,
 * when they run out of work: they take every event that came meanwhile
 * in one epoll_wait, where a thread looping in the poller would take them
 * one syscall each (echo with 64 connections: 1.2 events a call). */
CSP__FN bool csp__np_after_block(csp__m *m, int woke) {
    bool got = csp__take_idle_p(m);
    if (woke > 1 || (woke > 0 && !got)) csp__wakep();
    return got;
}

typedef struct csp__fdwait_arg { csp__pd *pd; csp_chan *done; } csp__fdwait_arg;
CSP__FN bool csp__fdwait_unlockf(csp__g *g, void *arg) {
    (void)g;
    csp__fdwait_arg *a = (csp__fdwait_arg *)arg;
    if (a->done) csp__unlock(&a->done->lock);
    csp__unlock(&a->pd->lock);
    return true;
}

/* List pd for a later check of its registration (pd->lock held). */
CSP__FN void csp__np_vlist(csp__pd *pd) {
    if (csp__load(&pd->vlisted, CSP__RELAXED)) return;   /* listed: a sweep will lock pd after we unlock */
    bool first = false;
    csp__lock(&csp__np_v.lock);
    if (!pd->vlisted) {
        csp__store(&pd->vlisted, (uint8_t)1, CSP__RELAXED);
        pd->vnext = csp__np_v.young;
        csp__np_v.young = pd;
        if (!csp__np_v.any) {   /* the lists were empty: the first sweep in 10 ms */
            first = true;
            csp__store(&csp__np_v.next, csp_now() + 10 * CSP_MILLISECOND, CSP__RELAXED);
            csp__store(&csp__np_v.any, 1u, CSP__SEQCST);
        }
    }
    csp__unlock(&csp__np_v.lock);
    /* A thread already asleep in the poller chose its timeout without the
     * sweep: wake it to choose again (as for a new, earlier timer). The
     * seq_cst pair with csp__np_try_block: either it sees `any` when it
     * chooses, or we see its polling flag here. */
    if (first && csp__load(&csp__np_polling_flag, CSP__SEQCST)) csp__netpoll_break();
}
/* Re-check the pds listed a sweep ago (see the banner); from the poll. */
CSP__FN void csp__np_vsweep(int64_t now) {
    if (!csp__load(&csp__np_v.any, CSP__RELAXED) || now < csp__load(&csp__np_v.next, CSP__RELAXED)) return;
    uint32_t z = 0;
    if (!csp__cas(&csp__np_v.sweeping, &z, 1u, CSP__ACQUIRE)) return;
    csp__lock(&csp__np_v.lock);
    csp__pd *list = csp__np_v.old;
    csp__np_v.old = csp__np_v.young;
    csp__np_v.young = NULL;
    csp__store(&csp__np_v.any, csp__np_v.old ? 1u : 0u, CSP__RELAXED);
    csp__store(&csp__np_v.next, now + 10 * CSP_MILLISECOND, CSP__RELAXED);
    csp__unlock(&csp__np_v.lock);
    /* `list` is ours: its pds stay vlisted (nobody relinks them) until
     * each is taken off, under the lock. */
    while (list) {
        csp__lock(&csp__np_v.lock);
        csp__pd *pd = list;
        list = pd->vnext;
        pd->vnext = NULL;
        csp__store(&pd->vlisted, (uint8_t)0, CSP__RELAXED);
        csp__unlock(&csp__np_v.lock);
        csp__lock(&pd->lock);
        bool lost = false;
        if (pd->registered && !pd->closing && (pd->w[0] || pd->w[1])) {
            struct epoll_event ev = csp__pd_event(pd->fd, pd->seq);
            /* ADD of the current generation: EEXIST is the same file. */
            lost = !(epoll_ctl(csp__np.epfd, EPOLL_CTL_ADD, pd->fd, &ev) != 0 && errno == EEXIST);
            if (lost) {
                /* A new file (now registered under the old generation:
                 * re-registered properly by its waiters), or none (EBADF):
                 * each waiter parks again, or sees the error, by itself. */
                epoll_ctl(csp__np.epfd, EPOLL_CTL_DEL, pd->fd, NULL);
                pd->registered = false;
                csp__store(&pd->kind, (uint8_t)CSP__FDK_UNKNOWN, CSP__RELAXED);
                csp__store(&pd->drained, 0u, CSP__RELAXED);
            }
        }
        for (int dir = 0; lost && dir < 2; dir++) {
            bool more = true;
            while (more) {
                csp__g *gs[16];
                more = false;
                int k = csp__pd_wake(pd, dir, CSP__PD_RECHECKED, gs, 16, &more);
                csp__unlock(&pd->lock);
                for (int j = 0; j < k; j++) csp__ready(gs[j]);
                csp__lock(&pd->lock);
            }
        }
        csp__unlock(&pd->lock);
    }
    csp__store(&csp__np_v.sweeping, 0u, CSP__RELEASE);
}

/* Wait for fd to turn ready in a direction of `mask` (bit 0 read, bit 1
 * write: an edge, or a "ready" flag) or for ctx. 0 is a hint: the caller
 * checks with its syscall (or poll). */
CSP__FN int csp__fd_waitn(int fd, int mask, csp_ctx *ctx) {
    csp_chan *done = csp_ctx_done(ctx);
    csp__pd *pd = csp__pd_get(fd);
    if (!pd) return -errno;
    csp__g *self = csp__self();
again:
    if (done && csp_ctx_err(ctx)) return csp__ctx_errno(ctx);
    csp__enter();
    csp__lock(&pd->lock);
    if (pd->closing) { csp__unlock(&pd->lock); csp__leave(); return -EBADF; }
    int rc = csp__pd_register(fd, pd, true);
    bool flagged = ((mask & 1) && pd->ready[0]) || ((mask & 2) && pd->ready[1]);
    /* An edge seen earlier may be an old file's: check before trusting it. */
    if (rc == 1 && flagged) rc = csp__pd_register(fd, pd, false);
    if (rc == -EPERM) { csp__unlock(&pd->lock); csp__leave(); return 0; }   /* regular file: always ready */
    if (rc < 0) { csp__unlock(&pd->lock); csp__leave(); return rc; }
    for (int d = 0; d < 2; d++) {
        if ((mask & (1 << d)) && pd->ready[d]) { pd->ready[d] = false; csp__unlock(&pd->lock); csp__leave(); return 0; }
    }
    bool trusted = rc == 1;
    csp__pdw w[2] = { { self, 0, NULL, NULL, false }, { self, 0, NULL, NULL, false } };
    csp__sudog sg;
    memset(&sg, 0, sizeof sg);
    csp__store(&self->selectdone, 0u, CSP__RELAXED);
    self->param = NULL;
    if (done) {
        csp__lock(&done->lock);
        if (done->closed) {
            csp__unlock(&done->lock); csp__unlock(&pd->lock); csp__leave();
            return csp__ctx_errno(ctx);
        }
        sg.g = self; sg.c = done; sg.caseidx = 0; sg.isselect = true;
        csp__wq_push(&done->recvq, &sg);
        csp__hb_release(&done->lock);
    }
    /* One record per direction: the first waker wins self->selectdone, the
     * other record is taken out below. */
    for (int d = 0; d < 2; d++) {
        if (!(mask & (1 << d))) continue;
        w[d].prev = pd->wtail[d];
        if (w[d].prev) w[d].prev->next = &w[d]; else pd->w[d] = &w[d];
        pd->wtail[d] = &w[d];
        w[d].queued = true;
    }
    if (trusted) csp__np_vlist(pd);
    csp__fadd(&csp__sched.nwaitio, 1, CSP__SEQCST);
    /* Someone must poll: wake an idle thread if every one sleeps on its futex. */
    if (!csp__load(&csp__np_polling_flag, CSP__ACQUIRE)) csp__wakep();
    csp__fdwait_arg a = { pd, done };
    csp__park(csp__fdwait_unlockf, &a, "IO wait", &pd->lock);
    csp__fsub(&csp__sched.nwaitio, 1, CSP__SEQCST);
    /* Woken by the poller / csp_fd_close (param = &w[d]) or by ctx (param = &sg). */
    csp__pdw *won = self->param == (void *)&w[0] ? &w[0] : self->param == (void *)&w[1] ? &w[1] : NULL;
    csp__lock(&pd->lock);
    for (int d = 0; d < 2; d++) if (w[d].queued) csp__pdw_unlink(pd, d, &w[d]);
    csp__unlock(&pd->lock);
    if (done) {
        csp__lock(&done->lock);
        csp__wq_remove(&done->recvq, &sg);
        csp__unlock(&done->lock);
    }
    csp__leave();
    if (won && won->result == CSP__PD_RECHECKED) goto again;
    if (won) return won->result;
    return csp__ctx_errno(ctx);
}
CSP__FN int csp__fd_wait1(int fd, int dir, csp_ctx *ctx) { return csp__fd_waitn(fd, 1 << dir, ctx); }

/* Level semantics for the caller: poll(2) says whether fd is ready now
 * (data already buffered counts, an old edge whose data is gone does not);
 * only when it is not does the wait begin, and a wake-up is checked the
 * same way. */
CSP__FN int csp__fd_kind(int fd);
CSP__DEF int csp_fd_wait(int fd, int events, csp_ctx *ctx) {
    if (!(events & (CSP_READABLE | CSP_WRITABLE))) {
        if (fd < 0 || fcntl(fd, F_GETFD) < 0) { csp__set_errno(EBADF); return -EBADF; }
        return 0;
    }
    struct pollfd p = { fd, (short)(((events & CSP_READABLE) ? POLLIN : 0) | ((events & CSP_WRITABLE) ? POLLOUT : 0)), 0 };
    if (fd < 0 || (poll(&p, 1, 0) == 1 && (p.revents & POLLNVAL))) { csp__set_errno(EBADF); return -EBADF; }
    /* Switch to non-blocking (0-2 are shared with the parent), unless a
     * read or write here already did: a known socket or pipe is. */
    int kind = csp__fd_kind(fd);
    if (fd > 2 && kind != CSP__FDK_SOCK && kind != CSP__FDK_PIPE) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK)) {
            struct stat st;
            if (fstat(fd, &st) == 0 && (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        }
    }
    int mask = ((events & CSP_READABLE) ? 1 : 0) | ((events & CSP_WRITABLE) ? 2 : 0);
    while (p.revents == 0) {
        int rc = csp__fd_waitn(fd, mask, ctx);
        if (rc < 0) { csp__set_errno(-rc); return rc; }
        if (poll(&p, 1, 0) < 0 && errno != EINTR) { int e = errno; csp__set_errno(e); return -e; }
        if (p.revents & POLLNVAL) { csp__set_errno(EBADF); return -EBADF; }
    }
    return 0;
}

/* How an fd is read and written: 1 through the poller, 0 as a blocking
 * section (fds 0-2, regular files, terminals, devices). Switches sockets,
 * pipes and FIFOs to non-blocking. */
CSP__FN int csp__fd_mode_fl(int fd, int *flp) {
    if (fd <= 2) return 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    *flp = fl;
    if (fl & O_NONBLOCK) return 1;
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    if (!(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))) return 0;
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -errno;
    return 1;
}
CSP__FN int csp__fd_mode(int fd) { int fl; return csp__fd_mode_fl(fd, &fl); }

/* One read(2) or write(2) inside a blocking section (errno only on failure:
 * it is the thread's, and we may come back on another). */
CSP__FN ssize_t csp__section_rw(int fd, void *buf, size_t n, bool wr) {
    csp_block_begin();
    ssize_t r = wr ? write(fd, buf, n) : read(fd, buf, n);
    int e = r < 0 ? errno : 0;
    csp_block_end();
    if (r < 0) csp__set_errno(e);
    return r;
}

/* After a failed syscall on fd (errno says why): 1 to retry it (EINTR, or
 * EAGAIN and fd has become ready: direction dir), else 0 with *rc = -errno
 * (errno set). */
CSP__FN int csp__io_again(int fd, int dir, bool pollable, ssize_t *rc) {
    int e = errno;
    if (e == EINTR) return 1;
    if (pollable && (e == EAGAIN || e == EWOULDBLOCK)) {
        int w = csp__fd_wait1(fd, dir, NULL);
        if (w == 0) return 1;
        e = -w;
    }
    csp__set_errno(e);
    *rc = -e;
    return 0;
}

/* The remembered kind of fd (UNKNOWN for 0-2 and fds never seen). */
CSP__FN int csp__fd_kind(int fd) {
    if (fd <= 2) return CSP__FDK_UNKNOWN;
    csp__pd *pd = csp__pd_peek(fd);
    return pd ? (int)csp__load(&pd->kind, CSP__RELAXED) : (int)CSP__FDK_UNKNOWN;
}
/* Learn the kind of a pollable fd (mode 1): one fstat, once. */
CSP__FN void csp__fd_learn(int fd) {
    if (fd <= 2 || csp__fd_kind(fd) != CSP__FDK_UNKNOWN) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    csp__pd *pd = csp__pd_get(fd);
    if (!pd) return;   /* no poller yet (out of fds): learnt later */
    int k = S_ISSOCK(st.st_mode) ? CSP__FDK_SOCK : S_ISFIFO(st.st_mode) && csp__np_pipe_nowait ? CSP__FDK_PIPE : CSP__FDK_OTHER;
    int one = 1;   /* TCP (4.18+): reads say what they left queued; other sockets refuse */
    bool inq = k == CSP__FDK_SOCK && setsockopt(fd, IPPROTO_TCP, TCP_INQ, &one, sizeof one) == 0;
    csp__store(&pd->drained, 0u, CSP__RELAXED);
    csp__store(&pd->inq, (uint8_t)inq, CSP__RELAXED);
    csp__store(&pd->kind, (uint8_t)k, CSP__RELAXED);
}
CSP__FN void csp__fd_forget(int fd) {
    csp__pd *pd = csp__pd_peek(fd);
    if (pd) csp__store(&pd->kind, (uint8_t)CSP__FDK_UNKNOWN, CSP__RELAXED);
}

/* A read of a known pipe: false when fd turned out to be another kind of
 * file (forgotten: the caller goes the slow way). (Writes keep the slow
 * way: a socket under a reused number would raise SIGPIPE for pwritev2,
 * which has no MSG_NOSIGNAL.) */
CSP__FN bool csp__pipe_read(int fd, void *buf, size_t n, ssize_t *rc) {
    for (;;) {
        struct iovec iov = { buf, n };
        ssize_t r = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
        if (r >= 0) { *rc = r; return true; }
        if (errno == EOPNOTSUPP) { csp__fd_forget(fd); return false; }   /* not a pipe now */
        if (!csp__io_again(fd, 0, true, &r)) { *rc = r; return true; }
        if (csp__fd_kind(fd) != CSP__FDK_PIPE) return false;   /* a regular file now (cannot be polled) */
    }
}
/* A read of a TCP socket with TCP_INQ on: the kernel says how many bytes
 * the read left queued (*left; -1 if it did not say). When it left none,
 * the next read skips its recv, which would almost always fail with
 * EAGAIN (an echo's or a request-reply's second read), and waits for the
 * poller first: data that comes after the read raises an edge (the fd is
 * registered, or is registered by the wait: EPOLL_CTL_ADD reports what is
 * already there), and the wait takes it (as a waiter, or as the "ready"
 * flag of an edge that came with nobody waiting). The kernel reports a
 * received FIN as one byte left (tcp_inq_hint), so an end of file that
 * came with the last data is read, not waited for. Two cheap guards on
 * top: no skip when the poller took a read edge after the read began
 * (redges, loaded before the recv: that edge's data may be there), or saw
 * the peer's end or an error (rdhup). Saves one syscall of the ~3 per
 * message (echo: 28,000 recv calls for 14,000 messages -> 14,300). */
CSP__FN ssize_t csp__recv_inq(int fd, void *buf, size_t n, int *left) {
    struct iovec iov = { buf, n };
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cb;
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cb.b;
    mh.msg_controllen = sizeof cb.b;
    ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);
    *left = -1;
    if (r > 0)
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) memcpy(left, CMSG_DATA(c), sizeof(int));
    return r;
}
CSP__DEF ssize_t csp_read(int fd, void *buf, size_t n) {
    int kind = csp__fd_kind(fd);
    if (kind == CSP__FDK_SOCK) {
        csp__pd *pd = csp__pd_peek(fd);
        bool inq = pd && n > 0 && csp__load(&pd->inq, CSP__RELAXED);
        for (;;) {
            ssize_t r;
            if (inq) {
                uint32_t d = csp__load(&pd->drained, CSP__ACQUIRE);
                if (d && d - 1 == csp__load(&pd->redges, CSP__ACQUIRE) && !csp__load(&pd->rdhup, CSP__ACQUIRE)) {
                    csp__store(&pd->drained, 0u, CSP__RELAXED);
                    int w = csp__fd_wait1(fd, 0, NULL);
                    if (w < 0) { csp__set_errno(-w); return w; }
                }
                uint32_t e = csp__load(&pd->redges, CSP__ACQUIRE);
                int left;
                r = csp__recv_inq(fd, buf, n, &left);
                if (r > 0) { csp__store(&pd->drained, left == 0 ? e + 1 : 0u, CSP__RELEASE); return r; }
            } else {
                r = recv(fd, buf, n, MSG_DONTWAIT);
            }
            if (r >= 0) return r;
            if (errno == ENOTSOCK) { csp__fd_forget(fd); break; }   /* a new file under the number */
            if (!csp__io_again(fd, 0, true, &r)) return r;
        }
    } else if (kind == CSP__FDK_PIPE && n > 0) {
        ssize_t r;
        if (csp__pipe_read(fd, buf, n, &r)) return r;
    }
    int mode = csp__fd_mode(fd);
    if (mode < 0) { csp__set_errno(-mode); return mode; }
    if (mode == 1) csp__fd_learn(fd);
    for (;;) {
        ssize_t r = mode == 0 ? csp__section_rw(fd, buf, n, false) : read(fd, buf, n);
        if (r >= 0 || !csp__io_again(fd, 0, mode == 1, &r)) return r;
    }
}

CSP__DEF ssize_t csp_write(int fd, const void *buf, size_t n) {
    const char *p = (const char *)buf;
    size_t left = n;
    int kind = csp__fd_kind(fd);
    int mode = 1, fl = O_RDWR;
    if (kind != CSP__FDK_SOCK || n == 0) {   /* n == 0: write(2)'s checks, as it would make them */
        mode = csp__fd_mode_fl(fd, &fl);
        if (mode < 0) { csp__set_errno(-mode); return mode; }
        if (mode == 1 && kind == CSP__FDK_UNKNOWN) { csp__fd_learn(fd); kind = csp__fd_kind(fd); }
    }
    /* A socket is never O_WRONLY: a pipe's write end needs no send(2) try. */
    bool sock = (fl & O_ACCMODE) != O_WRONLY;
    while (left > 0) {
        ssize_t r;
        if (mode == 0) {
            r = csp__section_rw(fd, (void *)p, left, true);
        } else if (sock) {
            /* -EPIPE, not SIGPIPE; non-blocking whatever the fd's flags. */
            r = send(fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r < 0 && errno == ENOTSOCK) {
                sock = false;
                if (kind == CSP__FDK_SOCK) {   /* a new file under the number: look again */
                    csp__fd_forget(fd);
                    kind = CSP__FDK_UNKNOWN;
                    mode = csp__fd_mode(fd);
                    if (mode < 0) { csp__set_errno(-mode); return mode; }
                }
                continue;
            }
        } else {
            r = write(fd, p, left);
        }
        if (r >= 0) { p += r; left -= (size_t)r; continue; }
        if (!csp__io_again(fd, 1, mode == 1, &r)) return r;
    }
    return (ssize_t)n;
}

CSP__DEF int csp_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    int mode = csp__fd_mode(fd);
    if (mode < 0) { csp__set_errno(-mode); return mode; }
    for (;;) {
        int c = accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) return c;
        if (errno == ECONNABORTED) continue;   /* that client gave up: the next one */
        ssize_t rc;
        if (!csp__io_again(fd, 0, true, &rc)) return (int)rc;
    }
}

CSP__DEF int csp_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    int mode = csp__fd_mode(fd);
    if (mode < 0) { csp__set_errno(-mode); return mode; }
    int r = connect(fd, addr, len);
    if (r == 0) return 0;
    int e = errno;
    if (e != EINPROGRESS && e != EINTR) { csp__set_errno(e); return -e; }
    for (;;) {
        int w = csp__fd_wait1(fd, 1, NULL);
        if (w < 0) { csp__set_errno(-w); return w; }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) { e = errno; csp__set_errno(e); return -e; }
        if (soerr == 0) {
            /* Writable with no error: connected (or a spurious edge: check). */
            struct sockaddr_storage ss;
            socklen_t pl = sizeof ss;
            if (getpeername(fd, (struct sockaddr *)&ss, &pl) == 0) return 0;
            if (errno != ENOTCONN) { e = errno; csp__set_errno(e); return -e; }
            continue;
        }
        csp__set_errno(soerr);
        return -soerr;
    }
}

CSP__DEF int csp_fd_close(int fd) {
    csp__pd *pd = csp__pd_peek(fd);
    if (pd) {
        /* Every waiter: collected under the lock, readied after it. */
        csp__g *small[32], **gs = small;
        int ng = 0, cap = 32;
        csp__lock(&pd->lock);
        pd->closing = true;
        for (int dir = 0; dir < 2; dir++) {
            bool more = true;
            while (more) {
                more = false;
                if (ng == cap) {
                    csp__g **ngs = (csp__g **)CSP_MALLOC((size_t)cap * 2 * sizeof *ngs);
                    if (!ngs) csp__fatal("out of memory");
                    memcpy(ngs, gs, (size_t)ng * sizeof *ngs);
                    if (gs != small) CSP_FREE(gs);
                    gs = ngs; cap *= 2;
                }
                ng += csp__pd_wake(pd, dir, -EBADF, gs + ng, cap - ng, &more);
            }
        }
        if (pd->registered) epoll_ctl(csp__np.epfd, EPOLL_CTL_DEL, fd, NULL);
        pd->registered = false;
        csp__store(&pd->kind, (uint8_t)CSP__FDK_UNKNOWN, CSP__RELAXED);
        pd->seq++;   /* events already queued for it are stale now */
        pd->ready[0] = pd->ready[1] = false;
        csp__store(&pd->drained, 0u, CSP__RELAXED);
        csp__store(&pd->rdhup, (uint8_t)0, CSP__RELAXED);
        int rc = close(fd);
        int e = rc != 0 ? errno : 0;
        pd->closing = false;
        csp__unlock(&pd->lock);
        csp__enter();
        for (int k = 0; k < ng; k++) csp__ready(gs[k]);
        csp__leave();
        if (gs != small) CSP_FREE(gs);
        if (rc != 0) { csp__set_errno(e); return -e; }
        return 0;
    }
    if (close(fd) != 0) { int e = errno; csp__set_errno(e); return -e; }
    return 0;
}


/* >>signals ========================================================================
 * The handler only writes the signal number into a non-blocking self-pipe
 * (async-signal-safe; a full pipe drops the signal, as a full channel
 * would). A goroutine of the runtime reads the pipe with csp_read and
 * try_sends to every channel watching that signal. It exists while at
 * least one signal is watched, parked in "IO wait" meanwhile (so no
 * deadlock is reported: a signal may still wake someone); when the last
 * watch ends it is told to exit (a 0 byte) and each signal gets its previous
 * disposition back. Lock: csp__sig.lock (a mutex: the reader may park). */
#define CSP__NSIG 65
typedef struct csp__sigw { csp_chan *c; struct csp__sigw *next; } csp__sigw;
static struct {
    csp_mutex lock;
    csp__sigw *watch[CSP__NSIG];
    bool installed[CSP__NSIG];
    int nwatched;            /* signals with at least one watcher */
    int pipe[2];
    bool reader;             /* the reader goroutine runs */
    csp_chan *reader_done;   /* closed by the reader when it exits */
} csp__sig = { { 0, 0 }, { NULL }, { false }, 0, { -1, -1 }, false, NULL };
static struct sigaction csp__sig_old[CSP__NSIG];   /* dispositions before us (csp__sig.lock) */

#ifdef CSP__TSAN
/* Saving and restoring errno in a handler is right, but TSan sees it as an
 * access by whichever goroutine (fiber) the handler interrupted. */
__attribute__((no_sanitize("thread")))
#endif
static void csp__sig_handler(int sig) {
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (csp__sig.pipe[1] >= 0 && write(csp__sig.pipe[1], &b, 1) < 0) { /* full: dropped */ }
    errno = e;
}

CSP__FN void csp__sig_reader(void *arg) {
    int fd = *(int *)arg;
    csp_chan *done = csp__sig.reader_done;
    for (;;) {
        unsigned char buf[64];
        ssize_t n = csp_read(fd, buf, sizeof buf);
        if (n <= 0) break;
        bool quit = false;
        csp_mutex_lock(&csp__sig.lock);
        for (ssize_t i = 0; i < n; i++) {
            int sig = buf[i];
            if (sig == 0) { quit = true; continue; }
            for (csp__sigw *w = csp__sig.watch[sig]; w; w = w->next) csp_try_send(w->c, &sig);
        }
        csp_mutex_unlock(&csp__sig.lock);
        if (quit) break;
    }
    csp_close(done);
    csp_chan_release(done);
}

CSP__DEF int csp_signal_notify(csp_chan *c, int sig) {
    if (sig <= 0 || sig >= CSP__NSIG || sig == SIGKILL || sig == SIGSTOP || !c) return -EINVAL;
    csp__sigw *w = (csp__sigw *)CSP_MALLOC(sizeof *w);
    if (!w) return -ENOMEM;
    csp_mutex_lock(&csp__sig.lock);
    for (csp__sigw *x = csp__sig.watch[sig]; x; x = x->next)
        if (x->c == c) { csp_mutex_unlock(&csp__sig.lock); CSP_FREE(w); return 0; }   /* already */
    if (csp__sig.pipe[0] < 0) {
        if (pipe2(csp__sig.pipe, O_NONBLOCK | O_CLOEXEC) != 0) { int e = errno; csp_mutex_unlock(&csp__sig.lock); CSP_FREE(w); return -e; }
    }
    if (!csp__sig.reader) {
        csp__sig.reader_done = csp_chan_make(0, 0);
        csp__sig.reader = true;
        int fd = csp__sig.pipe[0];
        if (csp_go_copy(csp__sig_reader, &fd, sizeof fd) != 0) csp__fatal("out of memory");
    }
    w->c = csp_chan_retain(c);
    w->next = csp__sig.watch[sig];
    bool first = csp__sig.watch[sig] == NULL;
    csp__sig.watch[sig] = w;
    if (first) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = csp__sig_handler;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, &csp__sig_old[sig]);
        csp__sig.installed[sig] = true;
        csp__sig.nwatched++;
    }
    csp_mutex_unlock(&csp__sig.lock);
    return 0;
}

CSP__DEF void csp_signal_stop(csp_chan *c) {
    csp__sigw *freed = NULL;
    csp_chan *wait_done = NULL;
    csp_mutex_lock(&csp__sig.lock);
    for (int sig = 1; sig < CSP__NSIG; sig++) {
        for (csp__sigw **pp = &csp__sig.watch[sig]; *pp;) {
            csp__sigw *w = *pp;
            if (w->c == c) { *pp = w->next; w->next = freed; freed = w; }
            else pp = &w->next;
        }
        if (!csp__sig.watch[sig] && csp__sig.installed[sig]) {
            sigaction(sig, &csp__sig_old[sig], NULL);   /* its previous disposition */
            csp__sig.installed[sig] = false;
            csp__sig.nwatched--;
        }
    }
    if (csp__sig.nwatched == 0 && csp__sig.reader) {
        unsigned char zero = 0;   /* tell the reader to exit */
        if (write(csp__sig.pipe[1], &zero, 1) != 1) { /* the pipe is full: it will read soon */ }
        csp__sig.reader = false;
        wait_done = csp_chan_retain(csp__sig.reader_done);
    }
    csp_mutex_unlock(&csp__sig.lock);
    if (wait_done) { csp_recv(wait_done, NULL); csp_chan_release(wait_done); }
    while (freed) { csp__sigw *n = freed->next; csp_chan_release(freed->c); CSP_FREE(freed); freed = n; }
}

#ifdef __cplusplus
}
#endif
#endif /* CSP_IMPLEMENTATION */

/*
 * >>license ------------------------------------------------------------------
 * MIT License. Copyright (c) 2026 the csp.h authors.
 * Permission is hereby granted, free of charge, to any person obtaining a copy
 * of this software and associated documentation files (the "Software"), to
 * deal in the Software without restriction, including without limitation the
 * rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
 * sell copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions: The above copyright
 * notice and this permission notice shall be included in all copies or
 * substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS",
 * WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED
 * TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 * NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
 * FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 * TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
 * THE USE OR OTHER DEALINGS IN THE SOFTWARE.
 */
