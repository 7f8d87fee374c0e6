/* Learning Go, ch. 12 "Concurrency in Go", section "select": one case at random among those ready.
 *
 *     select {                          csp_case cases[] = {
 *     case v := <-ch:                       CSP_RECV(ch, &v),
 *     case v := <-ch2:                      CSP_RECV(ch2, &v2),
 *     case ch3 <- x:                        CSP_SEND(ch3, &x),
 *     case <-ch4:                           CSP_RECV(ch4, NULL),
 *     }                                 };
 *                                       switch (csp_select(cases, 4, CSP_FOREVER)) { case 0: ... }
 *
 * csp_select returns the index of the case that went ahead; the last
 * argument is the timeout: CSP_FOREVER blocks like a select without
 * default, 0 is a default clause (CSP_SELECT_TIMEOUT when nothing is ready).
 *
 * What to notice: with all four cases ready, a different case may run each
 * time; over 40,000 selects each case is taken about 10,000 times, so no
 * case can starve the others (a switch would always take the first).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

int main(void) {
    csp_chan *ch = csp_chan_make(sizeof(int), 1), *ch2 = csp_chan_make(sizeof(int), 1);
    csp_chan *ch3 = csp_chan_make(sizeof(int), 1), *ch4 = csp_chan_make(sizeof(int), 1);
    int counts[4] = { 0 };
    for (int i = 0; i < 40000; i++) {
        /* Make every case ready: a value waits in ch, ch2 and ch4; ch3 has room. */
        csp_try_send(ch, &(int){ 1 });
        csp_try_send(ch2, &(int){ 2 });
        csp_try_recv(ch3, NULL, NULL);
        csp_try_send(ch4, &(int){ 4 });

        int v, v2, x = 3;
        csp_case cases[] = { CSP_RECV(ch, &v), CSP_RECV(ch2, &v2), CSP_SEND(ch3, &x), CSP_RECV(ch4, NULL) };
        int k = csp_select(cases, 4, CSP_FOREVER);
        counts[k]++;
        if (i < 8) {
            switch (k) {
            case 0: printf("%d\n", v); break;
            case 1: printf("%d\n", v2); break;
            case 2: printf("wrote %d\n", x); break;
            case 3: printf("got value on ch4, but ignored it\n"); break;
            }
        }
    }
    printf("...\nover 40000 selects: case 0 ran %d times, case 1 %d, case 2 %d, case 3 %d\n",
           counts[0], counts[1], counts[2], counts[3]);
    csp_chan_release(ch);
    csp_chan_release(ch2);
    csp_chan_release(ch3);
    csp_chan_release(ch4);
    return 0;
}
