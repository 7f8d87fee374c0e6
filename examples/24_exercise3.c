/* Learning Go, ch. 12 "Concurrency in Go", Exercise 3: a square-root table built once, with OnceValue.
 *
 * "Write a function that builds a map[int]float64 where the keys are the
 * numbers from 0 (inclusive) to 100,000 (exclusive) and the values are the
 * square roots of those numbers. Use sync.OnceValue to generate a function
 * that caches the map returned by this function and use the cached value
 * to look up square roots for every 1,000th number from 0 to 100,000."
 *
 * Keys 0..99,999 make the map an array in C. OnceValue is the small struct
 * of 17_once.c: a csp_once, the function, and the value it returned. Four
 * goroutines do the lookups, each a quarter of them, to show that the first
 * caller builds the table while the others wait, and nobody builds it twice.
 *
 * What to notice: "building the table" appears once; then 100 square roots,
 * sqrt(0) to sqrt(99000), in order.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 100000 };

static double *build_sqrt_map(void) {
    printf("building the table of %d square roots\n", N);
    double *m = malloc(N * sizeof *m);
    for (int i = 0; i < N; i++) m[i] = sqrt((double)i);
    return m;
}

typedef struct {
    csp_once once;
    double *(*fn)(void);
    double *value;
} once_value;

static void once_value_run(void *arg) { once_value *ov = arg; ov->value = ov->fn(); }

static double *once_value_get(once_value *ov) {
    csp_once_do(&ov->once, once_value_run, ov);
    return ov->value;
}

static once_value sqrt_map_cached = { .fn = build_sqrt_map };

static double roots[N / 1000];
static csp_waitgroup wg;

static void lookups(void *arg) {
    int quarter = (int)(intptr_t)arg;
    for (int i = quarter * 25; i < (quarter + 1) * 25; i++)
        roots[i] = once_value_get(&sqrt_map_cached)[i * 1000];
    csp_wg_done(&wg);
}

int main(void) {
    csp_wg_add(&wg, 4);
    for (int q = 0; q < 4; q++) csp_go(lookups, (void *)(intptr_t)q);
    csp_wg_wait(&wg);
    for (int i = 0; i < N / 1000; i++)
        printf(i % 5 == 4 ? "sqrt(%5d) = %7.3f\n" : "sqrt(%5d) = %7.3f   ", i * 1000, roots[i]);
    free(once_value_get(&sqrt_map_cached));
    return 0;
}
