/* Learning Go, ch. 12 "Concurrency in Go", section "When to Use Mutexes Instead of Channels": MutexScoreboardManager.
 *
 * The scoreboard is a field of a struct, shared, and nobody transforms it:
 * the case for a mutex. An RWMutex lets any number of readers in at once
 * (csp_rwmutex_rlock/runlock) and a writer alone (csp_rwmutex_lock/unlock).
 * C has no defer: every return path unlocks by hand, which is why the
 * critical sections are kept this short.
 *
 * Mutexes are not reentrant (locking one twice from the same goroutine
 * deadlocks) and must never be copied: the manager is used through a
 * pointer. Zero-initialised, a csp_rwmutex is unlocked and ready.
 *
 * What to notice: the same game as 19_scoreboard_channel.c, the same
 * result (Lions 55 true, Tigers 64 true, Bears 55 true), and simpler code.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char name[16]; int score; } entry;

typedef struct {
    csp_rwmutex l;
    entry scoreboard[8];   /* map[string]int */
    int n;
} mutex_scoreboard_manager;

static mutex_scoreboard_manager *new_mutex_scoreboard_manager(void) {
    return calloc(1, sizeof(mutex_scoreboard_manager));   /* all zero: an unlocked mutex, an empty map */
}

static entry *find(mutex_scoreboard_manager *msm, const char *name) {
    for (int i = 0; i < msm->n; i++)
        if (!strcmp(msm->scoreboard[i].name, name)) return &msm->scoreboard[i];
    return NULL;
}

static void update(mutex_scoreboard_manager *msm, const char *name, int val) {
    csp_rwmutex_lock(&msm->l);
    entry *e = find(msm, name);
    if (!e && msm->n < 8) {
        e = &msm->scoreboard[msm->n++];
        snprintf(e->name, sizeof e->name, "%s", name);
    }
    if (e) e->score = val;
    csp_rwmutex_unlock(&msm->l);
}

static int read_score(mutex_scoreboard_manager *msm, const char *name, bool *ok) {
    csp_rwmutex_rlock(&msm->l);
    entry *e = find(msm, name);
    int val = e ? e->score : 0;
    *ok = e != NULL;
    csp_rwmutex_runlock(&msm->l);
    return val;
}

static mutex_scoreboard_manager *msm;
static csp_waitgroup wg;

static void play(void *arg) {
    const char *team = arg;
    for (int i = 0; i < 10; i++) {
        bool found;
        int cur_score = read_score(msm, team, &found);
        if (!found) cur_score = 10;
        else cur_score += (int)strlen(team);
        update(msm, team, cur_score);
    }
    csp_wg_done(&wg);
}

int main(void) {
    static const char *teams[] = { "Lions", "Tigers", "Bears" };
    msm = new_mutex_scoreboard_manager();
    csp_wg_add(&wg, 3);
    for (int i = 0; i < 3; i++) csp_go(play, (void *)teams[i]);
    csp_wg_wait(&wg);
    for (int i = 0; i < 3; i++) {
        bool found;
        int score = read_score(msm, teams[i], &found);
        printf("%s %d %s\n", teams[i], score, found ? "true" : "false");
    }
    free(msm);
    return 0;
}
