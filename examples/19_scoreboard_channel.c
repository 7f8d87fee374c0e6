/* Learning Go, ch. 12 "Concurrency in Go", section "When to Use Mutexes Instead of Channels": ChannelScoreboardManager.
 *
 * One goroutine owns the scoreboard (a map from team to score) and is the
 * only one that ever touches it: the others send it functions to run on
 * the map, over a channel (chan func(map[string]int)). Read needs an answer
 * back, so its function writes the result to a channel made for the call.
 *
 * C has no closures: a "function" on the channel is a struct with a
 * function pointer and the variables it would have captured (name, val, the
 * result channel). The channel copies the whole struct, so what the
 * function needs travels with it. The map is a small array.
 *
 * What to notice: three goroutines update their team's score ten times
 * each, with no lock anywhere, and the final scores are right (Lions 55,
 * Tigers 64, Bears 55: 10, then + len(name) nine times). The book's verdict:
 * it works, but it is cumbersome and lets only one reader in at a time;
 * 20_scoreboard_rwmutex.c is the better way.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <string.h>

/* ---- the map ------------------------------------------------------------------ */
typedef struct { char name[16]; int score; } entry;
typedef struct { entry e[8]; int n; } scoreboard;

static entry *find(scoreboard *m, const char *name, int create) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].name, name)) return &m->e[i];
    if (!create || m->n == 8) return NULL;
    entry *e = &m->e[m->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->score = 0;
    return e;
}

/* ---- a "closure" that the manager runs on the map -------------------------- */
typedef struct op op;
struct op {
    void (*f)(scoreboard *m, const op *self);
    char name[16];
    int val;
    csp_chan *result;   /* Read's answer */
};
typedef struct { int out; bool ok; } result;

typedef struct { csp_ctx *ctx; csp_chan *in; } manager_args;

static void scoreboard_manager(void *arg) {
    manager_args *a = arg;
    csp_ctx *ctx = a->ctx;
    csp_chan *in = a->in;
    scoreboard board = { 0 };
    for (;;) {
        op f;
        csp_case cases[] = { CSP_RECV(csp_ctx_done(ctx), NULL), CSP_RECV(in, &f) };
        if (csp_select(cases, 2, CSP_FOREVER) == 0) break;   /* case <-ctx.Done(): return */
        f.f(&board, &f);
    }
    csp_ctx_release(ctx);
    csp_chan_release(in);
}

typedef csp_chan channel_scoreboard_manager;

static channel_scoreboard_manager *new_channel_scoreboard_manager(csp_ctx *ctx) {
    csp_chan *ch = csp_chan_make(sizeof(op), 0);
    manager_args a = { csp_ctx_retain(ctx), csp_chan_retain(ch) };
    csp_go_copy(scoreboard_manager, &a, sizeof a);
    return ch;
}

static void do_update(scoreboard *m, const op *self) {
    find(m, self->name, 1)->score = self->val;   /* m[name] = val */
}

static void update(channel_scoreboard_manager *csm, const char *name, int val) {
    op f = { do_update, "", val, NULL };
    snprintf(f.name, sizeof f.name, "%s", name);
    csp_send(csm, &f);
}

static void do_read(scoreboard *m, const op *self) {
    entry *e = find(m, self->name, 0);   /* out, ok := m[name] */
    csp_send(self->result, &(result){ e ? e->score : 0, e != NULL });
}

static int read_score(channel_scoreboard_manager *csm, const char *name, bool *ok) {
    op f = { do_read, "", 0, csp_chan_make(sizeof(result), 0) };
    snprintf(f.name, sizeof f.name, "%s", name);
    csp_send(csm, &f);
    result r;
    csp_recv(f.result, &r);
    csp_chan_release(f.result);
    *ok = r.ok;
    return r.out;
}

/* ---- the game --------------------------------------------------------------------- */
static channel_scoreboard_manager *csm;
static csp_waitgroup wg;

static void play(void *arg) {
    const char *team = arg;
    for (int i = 0; i < 10; i++) {
        bool found;
        int cur_score = read_score(csm, team, &found);
        if (!found) cur_score = 10;
        else cur_score += (int)strlen(team);
        update(csm, team, cur_score);
    }
    csp_wg_done(&wg);
}

int main(void) {
    static const char *teams[] = { "Lions", "Tigers", "Bears" };
    csp_ctx *ctx = csp_ctx_with_cancel(NULL);
    csm = new_channel_scoreboard_manager(ctx);
    csp_wg_add(&wg, 3);
    for (int i = 0; i < 3; i++) csp_go(play, (void *)teams[i]);
    csp_wg_wait(&wg);
    for (int i = 0; i < 3; i++) {
        bool found;
        int score = read_score(csm, teams[i], &found);
        printf("%s %d %s\n", teams[i], score, found ? "true" : "false");
    }
    csp_ctx_cancel(ctx);   /* the manager returns */
    csp_ctx_release(ctx);
    csp_chan_release(csm);
    return 0;
}
