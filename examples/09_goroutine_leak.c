/* Learning Go, ch. 12 "Concurrency in Go", sections "Always Clean Up Your Goroutines" and "Use the Context to Terminate Goroutines".
 *
 * countTo is a generator: a goroutine writes 0..max-1 to a channel and
 * closes it. If the reader stops early (break at 6), the goroutine waits
 * for ever on its next write: a goroutine leak (and, in C, its channel
 * leaks with it). The fix passes a context: the goroutine selects between
 * its write and ctx's Done channel, and main cancels the context when it
 * stops reading (Go's `defer cancel()`).
 *
 *     ctx, cancel := context.WithCancel(context.Background())
 *     defer cancel()                       csp_ctx *ctx = csp_ctx_with_cancel(NULL);
 *                                          ... csp_ctx_cancel(ctx); csp_ctx_release(ctx);
 *
 * What to notice: after the early break, csp_num_goroutines() says 2 and
 * csp_dump shows the generator still waiting in "chan send"; with the
 * context, the generator exits at the cancel, and the count goes back to 2
 * (main, and the goroutine leaked before).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <unistd.h>

typedef struct { csp_chan *ch; csp_ctx *ctx; int max; } gen_args;

static void count(void *arg) {
    gen_args *g = arg;
    for (int i = 0; i < g->max; i++) csp_send(g->ch, &i);
    csp_close(g->ch);
    csp_chan_release(g->ch);
}

/* countTo(max): the caller owns the returned channel. */
static csp_chan *count_to(int max) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0);
    gen_args g = { csp_chan_retain(ch), NULL, max };
    csp_go_copy(count, &g, sizeof g);
    return ch;
}

static void count_ctx(void *arg) {
    gen_args *g = arg;
    for (int i = 0; i < g->max; i++) {
        csp_case cases[] = { CSP_RECV(csp_ctx_done(g->ctx), NULL), CSP_SEND(g->ch, &i) };
        if (csp_select(cases, 2, CSP_FOREVER) == 0) break;   /* case <-ctx.Done(): return */
    }
    csp_close(g->ch);   /* defer close(ch) */
    csp_chan_release(g->ch);
    csp_ctx_release(g->ctx);
}

static csp_chan *count_to_ctx(csp_ctx *ctx, int max) {
    csp_chan *ch = csp_chan_make(sizeof(int), 0);
    gen_args g = { csp_chan_retain(ch), csp_ctx_retain(ctx), max };
    csp_go_copy(count_ctx, &g, sizeof g);
    return ch;
}

/* csp_num_goroutines(), once it is down to `want` (a goroutine that has
 * closed its channel may take a moment more to exit), or after 100 ms. */
static int goroutines(int want) {
    for (int i = 0; i < 100 && csp_num_goroutines() > want; i++) csp_sleep(CSP_MILLISECOND);
    return csp_num_goroutines();
}

int main(void) {
    int i;
    csp_chan *ch = count_to(10);
    printf("read every value:");
    while (csp_recv(ch, &i)) printf(" %d", i);
    csp_chan_release(ch);
    printf("\n    goroutines: %d\n", goroutines(1));

    ch = count_to(10);
    printf("break at 6:      ");
    while (csp_recv(ch, &i)) {
        if (i > 5) break;
        printf(" %d", i);
    }
    csp_chan_release(ch);
    printf("\n    goroutines: %d, one of them leaked:\n", csp_num_goroutines());
    fflush(stdout);
    csp_dump(STDOUT_FILENO);

    csp_ctx *ctx = csp_ctx_with_cancel(NULL);
    ch = count_to_ctx(ctx, 10);
    printf("with a context:  ");
    while (csp_recv(ch, &i)) {
        if (i > 5) break;
        printf(" %d", i);
    }
    csp_ctx_cancel(ctx);   /* defer cancel() */
    csp_ctx_release(ctx);
    csp_chan_release(ch);
    printf("\n    goroutines after cancel: %d (main and the one leaked before)\n", goroutines(2));
    return 0;
}
