/* Go in Action, ch. 6 "Concurrency", section 6.5.2 "Buffered channels", listings 6.24-6.25: four workers, ten tasks.
 *
 * The tasks go into a buffered channel that holds all ten, so main puts
 * them all in without waiting for any worker, then closes the channel. The
 * four workers receive until the channel is both closed and empty: a
 * receive on a closed channel still returns the values buffered in it, and
 * only then returns false (Go's ok), so no task is lost.
 *
 * A task is a string; the channel carries fixed-size values, so each task
 * is a small char array sent by value (a C string pointer would also do,
 * if what it points to outlives the worker's use of it). Work time is
 * random, up to 100 ms, from a generator per worker.
 *
 * What to notice: all ten tasks are started and completed, spread over the
 * four workers in a different way each run; each worker shuts down only
 * when there is nothing left.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <stdlib.h>

enum {
    NUMBER_GOROUTINES = 4,   /* number of goroutines to use */
    TASK_LOAD = 10,          /* amount of work to process */
};

typedef struct { char text[32]; } task;

static csp_waitgroup wg;

typedef struct { csp_chan *tasks; int worker; unsigned seed; } worker_args;

static void worker(void *arg) {
    worker_args *w = arg;
    for (;;) {
        task t;
        if (!csp_recv(w->tasks, &t)) {   /* the channel is empty and closed */
            printf("Worker: %d : Shutting Down\n", w->worker);
            break;
        }
        printf("Worker: %d : Started %s\n", w->worker, t.text);
        csp_sleep((int64_t)(rand_r(&w->seed) % 100) * CSP_MILLISECOND);   /* randomly wait to simulate work */
        printf("Worker: %d : Completed %s\n", w->worker, t.text);
    }
    csp_chan_release(w->tasks);
    csp_wg_done(&wg);
}

int main(void) {
    csp_chan *tasks = csp_chan_make(sizeof(task), TASK_LOAD);   /* a buffered channel to manage the task load */
    unsigned seed = (unsigned)csp_now();
    csp_wg_add(&wg, NUMBER_GOROUTINES);
    for (int gr = 1; gr <= NUMBER_GOROUTINES; gr++) {
        worker_args w = { csp_chan_retain(tasks), gr, seed + (unsigned)gr * 7919u };
        csp_go_copy(worker, &w, sizeof w);
    }
    for (int post = 1; post <= TASK_LOAD; post++) {   /* add a bunch of work to get done */
        task t;
        snprintf(t.text, sizeof t.text, "Task : %d", post);
        csp_send(tasks, &t);
    }
    csp_close(tasks);   /* so the goroutines quit when all the work is done */
    csp_wg_wait(&wg);   /* wait for all the work to get done */
    csp_chan_release(tasks);
    return 0;
}
