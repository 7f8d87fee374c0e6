/* Learning Go, ch. 12 "Concurrency in Go", section "Run Code Exactly Once": sync.Once, OnceFunc, OnceValue.
 *
 *     var once sync.Once                  static csp_once once;   // zero value: ready
 *     once.Do(func() {                    csp_once_do(&once, init_fn, arg);
 *         parser = initParser()
 *     })
 *
 * The first caller runs the function; every other caller, even one that
 * arrives while it is still running, waits until it has finished, and then
 * the function never runs again. The csp_once lives in static storage, for
 * the reason the book gives: one declared inside a function would be a new
 * one at every call, with no memory of the previous ones.
 *
 * Go 1.21's sync.OnceValue(f) returns a function that calls f once and
 * caches its result. C has no closures, so its equivalent below is a struct
 * (the once, the function, the cached value) and a getter; sync.OnceFunc is
 * csp_once_do with a function of no result.
 *
 * What to notice: five goroutines call Parse at the same time, but
 * initParser runs once (its 50 ms of setup are paid once, by whoever came
 * first); the OnceValue version also builds its parser once, on first use.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <ctype.h>
#include <stdio.h>

/* SlowComplicatedParser: what it loads is a conversion; it upper-cases. */
typedef struct { int (*convert)(int); } slow_complicated_parser;

static void parser_parse(const slow_complicated_parser *p, const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) out[i] = (char)p->convert((unsigned char)in[i]);
    out[i] = '\0';
}

static int parsers_built;

static slow_complicated_parser *init_parser(void) {
    static slow_complicated_parser the_parser;
    printf("initParser: loading... (50 ms)\n");
    csp_sleep(50 * CSP_MILLISECOND);   /* do all sorts of setup and loading here */
    the_parser.convert = toupper;
    parsers_built++;
    return &the_parser;
}

/* ---- sync.Once ------------------------------------------------------------ */
static slow_complicated_parser *parser;
static csp_once once;

static void set_parser(void *arg) { (void)arg; parser = init_parser(); }

static void parse(const char *data, char *out, size_t n) {
    csp_once_do(&once, set_parser, NULL);
    parser_parse(parser, data, out, n);
}

/* ---- sync.OnceValue -------------------------------------------------------- */
typedef struct {
    csp_once once;
    void *(*fn)(void);
    void *value;
} once_value;

static void once_value_run(void *arg) { once_value *ov = arg; ov->value = ov->fn(); }

static void *once_value_get(once_value *ov) {
    csp_once_do(&ov->once, once_value_run, ov);
    return ov->value;
}

static void *init_parser_any(void) { return init_parser(); }
static once_value init_parser_cached = { .fn = init_parser_any };

static void parse2(const char *data, char *out, size_t n) {
    slow_complicated_parser *p = once_value_get(&init_parser_cached);
    parser_parse(p, data, out, n);
}

/* ---- five callers at once -------------------------------------------------- */
static csp_waitgroup wg;
static void (*parse_fn)(const char *, char *, size_t);

static void caller(void *arg) {
    char out[64];
    int64_t t0 = csp_now();
    parse_fn(arg, out, sizeof out);
    printf("  Parse(\"%s\") = \"%s\" after %lld ms\n", (const char *)arg, out,
           (long long)((csp_now() - t0) / CSP_MILLISECOND));
    csp_wg_done(&wg);
}

static void five_callers(void (*fn)(const char *, char *, size_t)) {
    static const char *words[] = { "one", "two", "three", "four", "five" };
    parse_fn = fn;
    csp_wg_add(&wg, 5);
    for (int i = 0; i < 5; i++) csp_go(caller, (void *)words[i]);
    csp_wg_wait(&wg);
}

int main(void) {
    printf("sync.Once:\n");
    five_callers(parse);
    five_callers(parse);
    printf("sync.OnceValue:\n");
    five_callers(parse2);
    printf("parsers built: %d (one by each way)\n", parsers_built);
    return 0;
}
