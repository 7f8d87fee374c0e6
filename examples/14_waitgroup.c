/* Learning Go, ch. 12 "Concurrency in Go", section "Use WaitGroups".
 *
 *     var wg sync.WaitGroup            csp_waitgroup wg = {0};
 *     wg.Add(3)                        csp_wg_add(&wg, 3);
 *     go func() {                      csp_go(thing, &wg);  // thing ends with csp_wg_done(wg)
 *         defer wg.Done()
 *         doThing1()
 *     }()
 *     wg.Wait()                        csp_wg_wait(&wg);
 *
 * The zero value is ready to use, as in Go, and like Go's it must not be
 * copied: every goroutine gets a pointer to the same one. C has no defer:
 * the goroutine calls csp_wg_done on its way out (csp_wg_go(&wg, fn, arg)
 * does Add(1) and the Done for you).
 *
 * What to notice: the three "done" lines come in any order, and "all
 * done" always comes last.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <stdio.h>

static void do_thing1(void) { printf("Thing 1 done!\n"); }
static void do_thing2(void) { printf("Thing 2 done!\n"); }
static void do_thing3(void) { printf("Thing 3 done!\n"); }

static void thing1(void *wg) { do_thing1(); csp_wg_done(wg); }
static void thing2(void *wg) { do_thing2(); csp_wg_done(wg); }
static void thing3(void *wg) { do_thing3(); csp_wg_done(wg); }

static void plain3(void *arg) { (void)arg; do_thing3(); }

int main(void) {
    csp_waitgroup wg = {0};
    csp_wg_add(&wg, 3);
    csp_go(thing1, &wg);
    csp_go(thing2, &wg);
    csp_go(thing3, &wg);
    csp_wg_wait(&wg);
    printf("all done\n");

    /* The same with csp_wg_go: the business logic needs no wrapper with a Done. */
    csp_wg_go(&wg, plain3, NULL);
    csp_wg_wait(&wg);
    printf("all done again\n");
    return 0;
}
