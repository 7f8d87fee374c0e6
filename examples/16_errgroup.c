/* Learning Go, ch. 12 "Concurrency in Go", section "golang.org/x and errgroup.Group".
 *
 *     g, ctx := errgroup.WithContext(parent)    csp_errgroup *g = csp_errgroup_new(NULL);
 *     g.Go(func() error { ... })                csp_errgroup_go(g, fn, arg);  // int fn(csp_ctx *ctx, void *arg)
 *     err := g.Wait()                           int err = csp_errgroup_wait(g);
 *
 * errgroup builds on a WaitGroup: Wait waits for every goroutine of the
 * group and returns the first error (here a negative errno; 0 is nil), and
 * the first error cancels the group's context, so the others can give up
 * early instead of finishing work nobody will use.
 *
 * What to notice: "users" answers after 20 ms; "orders" fails after 40 ms;
 * "reviews", which would need 300 ms, sees the context canceled at about
 * 40 ms and stops; Wait returns the error of "orders".
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct { const char *name; int64_t takes; int fails; } service;

static int64_t t0;

static int fetch(csp_ctx *ctx, void *arg) {
    const service *s = arg;
    csp_case done = CSP_RECV(csp_ctx_done(ctx), NULL);
    if (csp_select(&done, 1, s->takes) == 0) {   /* ctx.Done() before the work is over */
        printf("%-8s canceled at %3lld ms\n", s->name, (long long)((csp_now() - t0) / CSP_MILLISECOND));
        return -ECANCELED;
    }
    printf("%-8s %s at %3lld ms\n", s->name, s->fails ? "failed" : "answered",
           (long long)((csp_now() - t0) / CSP_MILLISECOND));
    return s->fails;
}

int main(void) {
    static const service services[] = {
        { "users", 20 * CSP_MILLISECOND, 0 },
        { "orders", 40 * CSP_MILLISECOND, -EIO },
        { "reviews", 300 * CSP_MILLISECOND, 0 },
    };
    t0 = csp_now();
    csp_errgroup *g = csp_errgroup_new(NULL);
    for (int i = 0; i < 3; i++) csp_errgroup_go(g, fetch, (void *)&services[i]);
    int err = csp_errgroup_wait(g);
    printf("Wait: %s after %lld ms\n", err ? strerror(-err) : "<nil>",
           (long long)((csp_now() - t0) / CSP_MILLISECOND));
    csp_errgroup_free(g);
    return 0;
}
