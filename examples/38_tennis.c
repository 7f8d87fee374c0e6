/* Go in Action, ch. 6 "Concurrency", section 6.5.1 "Unbuffered channels", listings 6.20-6.21: a game of tennis.
 *
 * The court is an unbuffered channel, the ball an int on it. An unbuffered
 * exchange needs both players at the channel at the same moment: the one
 * who hits waits in csp_send until the other one is in csp_recv to take the
 * ball. A player who misses closes the channel; the other one's receive
 * then returns false (Go's ok), and that player has won.
 *
 * Each player draws from a random generator of its own (rand_r), seeded
 * from the clock, as the book seeds math/rand.
 *
 * What to notice: the hits alternate between the two players and the count
 * goes up by one each time; the game ends with one "Missed" and one "Won".
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>
#include <stdlib.h>

static csp_waitgroup wg;

typedef struct { const char *name; csp_chan *court; unsigned seed; } player_args;

static void player(void *arg) {
    player_args *p = arg;
    for (;;) {
        int ball;
        if (!csp_recv(p->court, &ball)) {   /* the channel was closed: we won */
            printf("Player %s Won\n", p->name);
            break;
        }
        if (rand_r(&p->seed) % 100 % 13 == 0) {   /* pick a random number and see if we miss the ball */
            printf("Player %s Missed\n", p->name);
            csp_close(p->court);   /* close the channel to signal we lost */
            break;
        }
        printf("Player %s Hit %d\n", p->name, ball);
        ball++;
        csp_send(p->court, &ball);   /* hit the ball back to the opposing player */
    }
    csp_wg_done(&wg);
}

int main(void) {
    unsigned seed = (unsigned)csp_now();
    csp_chan *court = csp_chan_make(sizeof(int), 0);   /* an unbuffered channel */
    csp_wg_add(&wg, 2);
    csp_go_copy(player, &(player_args){ "Nadal", court, seed }, sizeof(player_args));
    csp_go_copy(player, &(player_args){ "Djokovic", court, seed * 7919u + 1 }, sizeof(player_args));
    csp_send(court, &(int){ 1 });   /* start the set */
    csp_wg_wait(&wg);               /* wait for the game to finish */
    csp_chan_release(court);
    return 0;
}
