/* test_examples.c -- every examples/NAME.c, run as a child process, with its exit
 * status and its output checked (issue #10): exactly where the program is
 * deterministic, by property where it is not (lines present, counts, values in a
 * range, orders that are guaranteed).
 *
 * The binaries are those `make test` builds into build/examples/: the `test` recipe
 * names the directory in env CSP_EXAMPLES_DIR. Without it (the other matrices, or a
 * run by hand) every example test is SKIPPED, visibly; to run them by hand:
 *     make build/examples/05_select build/gcc/test_examples
 *     CSP_EXAMPLES_DIR=build/examples build/gcc/test_examples ex_05
 * Each example runs as the tour (examples/tour.sh) runs it: stdin from /dev/null,
 * the arguments of its `tour: args=...` comment, and the exit status of its
 * `tour: exit=N` comment (default 0); stdout and stderr are caught in one pipe, and
 * after EXAMPLE_TIMEOUT_MS the example (its whole process group) is killed and
 * the test fails. The deterministic mode's variables (CSP_SEED,
 * CSP_SEED_VIRTUAL_TIME) and CSP_MAXPROCS are taken out of its environment: the
 * examples run with real time and their own processor counts. If env
 * CSP_TEST_EXEC_WRAPPER is set (tests/run.sh sets it), the example runs under it.
 *
 * The expectations are the table `examples` below: per example a template of the
 * whole output (`want`) and/or a function (`check`) for properties a template
 * cannot say. A template is the output line by line; within a line
 *     *          any text (also none)
 *     {lo..hi}   a number (an integer or a decimal one; blanks before it allowed)
 *                from lo to hi inclusive; either bound may be left out: {..}, {30..}
 *     \*  \{  \\ the character itself
 * and lines of their own
 *     @{ ... @}  the lines between, in any order (one output line for each)
 *     @...       any number of lines, none included
 * A template with none of these is the exact output. The last test checks that the
 * table, the TESTs and the examples' sources agree. */
#include "csp_test.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>

enum {
    EXAMPLE_TIMEOUT_MS = 30000,   /* the slowest example takes ~1.2 s */
    OUTPUT_MAX = 4 << 20,         /* bytes of output kept */
    MAX_LINES = 4096,             /* output lines looked at */
    MAX_TLINES = 512,             /* template items */
    MAX_BLOCK = 32,               /* lines of an any-order block */
};

typedef struct run run;
typedef void (*check_fn)(run *r);

typedef struct {
    const char *name;    /* examples/NAME.c, the binary $CSP_EXAMPLES_DIR/NAME */
    const char *args;    /* its tour: args= (split on blanks), or NULL */
    int exit;            /* its tour: exit= */
    const char *want;    /* a template of its whole output, or NULL */
    check_fn check;      /* further checks, or NULL */
} example;

struct run {
    const example *ex;
    csp_test_child child;
    char *text;               /* a copy of the output, cut into lines */
    char *lines[MAX_LINES];   /* without their '\n' */
    int n;
    int failed;
};

/* A check in a check function: an EXPECT (worth 1 if it held) that also marks the run
 * failed, so that its output is shown once at the end. */
#define CHECK(r, ...) noted((r), EXPECT(__VA_ARGS__))
static int noted(run *r, int ok) {
    if (!ok) r->failed = 1;
    return ok;
}

/* ---- matching one line ------------------------------------------------------------ */

/* The number at s: -?digits(.digits)?; its length (0: none) and value. */
static size_t number_at(const char *s, double *v) {
    char buf[64];
    size_t i = 0;
    if (s[i] == '-') i++;
    if (!isdigit((unsigned char)s[i])) return 0;
    while (isdigit((unsigned char)s[i])) i++;
    if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        i++;
        while (isdigit((unsigned char)s[i])) i++;
    }
    if (i >= sizeof buf) return 0;
    memcpy(buf, s, i);
    buf[i] = '\0';
    *v = strtod(buf, NULL);
    return i;
}

/* "{lo..hi}" at p (either bound may be missing)? Its length, or 0. */
static size_t placeholder(const char *p, double *lo, double *hi) {
    const char *q = p + 1;
    size_t k;
    if (*p != '{') return 0;
    *lo = -HUGE_VAL;
    *hi = HUGE_VAL;
    q += number_at(q, lo);
    if (strncmp(q, "..", 2) != 0) return 0;
    q += 2;
    k = number_at(q, hi);
    q += k;
    return *q == '}' ? (size_t)(q + 1 - p) : 0;
}

/* Does line s match the one-line pattern p? The numbers its placeholders matched go
 * to nums[0..max) (*nn counts them). */
static int match_from(const char *p, const char *s, double *nums, int *nn, int max) {
    for (;;) {
        double lo, hi, v;
        size_t len, k;
        if (*p == '\0') return *s == '\0';
        if (*p == '*') {
            int saved = *nn;
            for (k = 0;; k++) {
                if (match_from(p + 1, s + k, nums, nn, max)) return 1;
                *nn = saved;
                if (s[k] == '\0') return 0;
            }
        }
        if ((len = placeholder(p, &lo, &hi)) > 0) {
            while (*s == ' ') s++;
            k = number_at(s, &v);
            if (k == 0 || v < lo || v > hi) return 0;
            if (*nn < max) nums[*nn] = v;
            (*nn)++;
            p += len;
            s += k;
            continue;
        }
        if (*p == '\\' && p[1]) p++;
        if (*p != *s) return 0;
        p++;
        s++;
    }
}

/* The number of placeholders matched (>= 0) if line matches pattern, else -1. */
static int line_match(const char *pattern, const char *line, double *nums, int max) {
    int nn = 0;
    return match_from(pattern, line, nums, &nn, max) ? nn : -1;
}

/* ---- matching a whole output --------------------------------------------------------- */

enum { T_LINE, T_BLOCK, T_ANY };
typedef struct { int kind; char *pat[MAX_BLOCK]; int n; } titem;

typedef struct {
    titem items[MAX_TLINES];
    int n;
    int fail_line, fail_item;   /* the furthest mismatch seen, for the report */
} tmpl;

/* Cuts `text` (modified) into template items. 0 on a malformed template. */
static int tmpl_parse(tmpl *t, char *text) {
    char *line = text;
    titem *block = NULL;
    t->n = 0;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (!strcmp(line, "@{")) {
            if (block || t->n == MAX_TLINES) return 0;
            block = &t->items[t->n++];
            block->kind = T_BLOCK;
            block->n = 0;
        } else if (!strcmp(line, "@}")) {
            if (!block || block->n == 0) return 0;
            block = NULL;
        } else if (block) {
            if (block->n == MAX_BLOCK) return 0;
            block->pat[block->n++] = line;
        } else {
            if (t->n == MAX_TLINES) return 0;
            t->items[t->n].kind = strcmp(line, "@...") ? T_LINE : T_ANY;
            t->items[t->n].pat[0] = line;
            t->items[t->n].n = 1;
            t->n++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    return block == NULL;
}

/* Lines lines[0..k) matched one-to-one with the block's patterns, in any order. */
static int block_match(const titem *b, char **lines, int k, int *used) {
    if (k == 0) return 1;
    for (int i = 0; i < b->n; i++) {
        if (used[i] || line_match(b->pat[i], lines[0], NULL, 0) < 0) continue;
        used[i] = 1;
        if (block_match(b, lines + 1, k - 1, used)) return 1;
        used[i] = 0;
    }
    return 0;
}

static void note_fail(tmpl *t, int item, int line) {
    if (line > t->fail_line || (line == t->fail_line && item > t->fail_item)) {
        t->fail_line = line;
        t->fail_item = item;
    }
}

static int tmpl_match(tmpl *t, int item, run *r, int line) {
    if (item == t->n) {
        if (line == r->n) return 1;
        note_fail(t, item, line);
        return 0;
    }
    titem *it = &t->items[item];
    if (it->kind == T_ANY) {
        for (int j = line; j <= r->n; j++)
            if (tmpl_match(t, item + 1, r, j)) return 1;
        return 0;
    }
    if (it->kind == T_LINE) {
        if (line < r->n && line_match(it->pat[0], r->lines[line], NULL, 0) >= 0)
            return tmpl_match(t, item + 1, r, line + 1);
        note_fail(t, item, line);
        return 0;
    }
    int used[MAX_BLOCK] = { 0 };
    if (line + it->n <= r->n && block_match(it, r->lines + line, it->n, used))
        return tmpl_match(t, item + 1, r, line + it->n);
    note_fail(t, item, line);
    return 0;
}

static void check_template(run *r) {
    static tmpl t;
    size_t len = strlen(r->ex->want);
    char *copy = malloc(len + 1);
    if (!CHECK(r, copy != NULL, "out of memory")) return;
    memcpy(copy, r->ex->want, len + 1);
    if (!CHECK(r, tmpl_parse(&t, copy), "malformed template")) { free(copy); return; }
    t.fail_line = t.fail_item = -1;
    if (!tmpl_match(&t, 0, r, 0)) {
        int at = t.fail_line;
        const char *want = "(end of output)";
        const titem *it = t.fail_item < t.n ? &t.items[t.fail_item] : NULL;
        if (it && it->kind == T_BLOCK) {
            /* The first of the block's lines that no pattern of the block matches. */
            int k;
            for (k = 0; k < it->n && at + k < r->n; k++) {
                int any = 0;
                for (int i = 0; i < it->n; i++) any |= line_match(it->pat[i], r->lines[at + k], NULL, 0) >= 0;
                if (!any) break;
            }
            if (k < it->n && at + k < r->n) {
                CHECK(r, 0, "output line %d does not match the template: got \"%s\", wanted one of the %d lines "
                      "in any order from \"%s\" to \"%s\"", at + k + 1, r->lines[at + k], it->n, it->pat[0], it->pat[it->n - 1]);
            } else {
                CHECK(r, 0, "output lines %d to %d are not the %d lines in any order from \"%s\" to \"%s\" "
                      "(too few lines, or not one each)", at + 1, at + it->n, it->n, it->pat[0], it->pat[it->n - 1]);
            }
        } else {
            if (it) want = it->pat[0];
            CHECK(r, 0, "output line %d does not match the template: got \"%s\", wanted \"%s\"", at + 1,
                  at < r->n ? r->lines[at] : "(end of output)", want);
        }
    }
    free(copy);
}

/* ---- helpers for check functions -------------------------------------------------------- */

/* The first line at or after `from` matching `pattern`, or -1. */
static int find(const run *r, int from, const char *pattern) {
    for (int i = from < 0 ? 0 : from; i < r->n; i++)
        if (line_match(pattern, r->lines[i], NULL, 0) >= 0) return i;
    return -1;
}

static int count(const run *r, const char *pattern) {
    int c = 0;
    for (int i = 0; i < r->n; i++) c += line_match(pattern, r->lines[i], NULL, 0) >= 0;
    return c;
}

/* The integers in s (anything else separates them); how many, at most max stored. */
static int ints(const char *s, long *v, int max) {
    int n = 0;
    while (*s) {
        if (isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))) {
            char *end;
            long x = strtol(s, &end, 10);
            if (n < max) v[n] = x;
            n++;
            s = end;
        } else {
            s++;
        }
    }
    return n;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Are got[0..n) and want[0..n) the same values, in any order? */
static int same_set(const long *got, const long *want, int n) {
    long a[256], b[256];
    if (n > 256) return 0;
    memcpy(a, got, (size_t)n * sizeof *a);
    memcpy(b, want, (size_t)n * sizeof *b);
    qsort(a, (size_t)n, sizeof *a, cmp_long);
    qsort(b, (size_t)n, sizeof *b, cmp_long);
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Is got[0..na+nb) an interleaving of a[0..na) and b[0..nb), each kept in order? */
static int interleaves(const long *got, const long *a, int na, const long *b, int nb) {
    if (na == 0 && nb == 0) return 1;
    if (na > 0 && got[0] == a[0] && interleaves(got + 1, a + 1, na - 1, b, nb)) return 1;
    return nb > 0 && got[0] == b[0] && interleaves(got + 1, a, na, b + 1, nb - 1);
}

/* Line i holds, after `prefix`, exactly the values want[0..n) in any order. */
static void expect_values_any_order(run *r, int i, const char *prefix, const long *want, int n) {
    long got[256];
    size_t pl = strlen(prefix);
    if (!CHECK(r, i < r->n, "no line %d", i + 1)) return;
    if (!CHECK(r, strncmp(r->lines[i], prefix, pl) == 0, "line %d: \"%s\" does not start with \"%s\"",
               i + 1, r->lines[i], prefix))
        return;
    int k = ints(r->lines[i] + pl, got, 256);
    if (CHECK(r, k == n, "line %d: %d values, wanted %d", i + 1, k, n))
        CHECK(r, same_set(got, want, n), "line %d: \"%s\": not the %d values wanted", i + 1, r->lines[i], n);
}

/* ---- the examples' checks ------------------------------------------------------------------ */

/* 01: the 12 inputs come back doubled, in any order. */
static void check_01(run *r) {
    long want[12];
    for (int i = 0; i < 12; i++) want[i] = 2 * (i + 1);
    expect_values_any_order(r, 1, "out: ", want, 12);
}

/* 02: each of the three readers got some of the 30 values; together all of them. */
static void check_02(run *r) {
    long sum = 0;
    for (int id = 1; id <= 3; id++) {
        char pat[64];
        double v[2];
        snprintf(pat, sizeof pat, "reader %d read {0..30} values", id);
        int i = find(r, 0, pat);
        if (CHECK(r, i >= 0, "no line \"%s\"", pat) && line_match(pat, r->lines[i], v, 2) == 1) sum += (long)v[0];
    }
    CHECK(r, sum == 30, "the readers' counts add up to %ld, not 30", sum);
}

/* 05: the first 8 selects print one case's line each; over 40000 selects each case
 * ran about 10000 times (8000 is more than 20 standard deviations away). */
static void check_05(run *r) {
    static const char *cases[] = { "1", "2", "wrote 3", "got value on ch4, but ignored it" };
    CHECK(r, r->n == 10, "%d lines, not 8 + 2", r->n);
    for (int i = 0; i < 8 && i < r->n; i++) {
        int ok = 0;
        for (int k = 0; k < 4; k++) ok |= !strcmp(r->lines[i], cases[k]);
        CHECK(r, ok, "line %d: \"%s\" is no case's line", i + 1, r->lines[i]);
    }
    double c[4];
    int last = r->n - 1;
    if (!CHECK(r, last >= 0 && line_match("over 40000 selects: case 0 ran {..} times, case 1 {..}, case 2 {..}, case 3 {..}",
                                           r->lines[last], c, 4) == 4, "no summary line"))
        return;
    CHECK(r, c[0] + c[1] + c[2] + c[3] == 40000, "the counts add up to %.0f", c[0] + c[1] + c[2] + c[3]);
    for (int k = 0; k < 4; k++) CHECK(r, c[k] >= 8000, "case %d ran only %.0f times: starved?", k, c[k]);
}

/* 08: both fixes print 4, 8, 12, 16 and 20, in any order. */
static void check_08(run *r) {
    static const long want[5] = { 4, 8, 12, 16, 20 };
    expect_values_any_order(r, 1, "csp_go_copy (v := v):              ", want, 5);
    expect_values_any_order(r, 2, "passed by value (func(val int)):   ", want, 5);
}

/* 09: csp_dump's list shows the leaked generator waiting in "chan send", and main. */
static void check_09(run *r) {
    int from = find(r, 0, "    goroutines: 2, one of them leaked:"), to = find(r, from, "with a context: *");
    int leaked = -1, main_line = -1;
    for (int i = from + 1; from >= 0 && i < to; i++) {
        if (line_match("goroutine {2..} [chan send*", r->lines[i], NULL, 0) >= 0) leaked = i;
        if (line_match("goroutine 1 \"main\" [running]*", r->lines[i], NULL, 0) >= 0) main_line = i;
    }
    CHECK(r, leaked >= 0, "csp_dump did not list a goroutine in \"chan send\"");
    CHECK(r, main_line >= 0, "csp_dump did not list goroutine 1 \"main\" [running]");
}

/* 10: all 30 values, each goroutine's in its own order: 10..90, and 20 down to 0. */
static void check_10(run *r) {
    long got[64], tens[9], down[21];
    for (int i = 0; i < 9; i++) tens[i] = 10 * (i + 1);
    for (int i = 0; i < 21; i++) down[i] = 20 - i;
    if (!CHECK(r, r->n >= 1, "no output")) return;
    int n = ints(r->lines[0], got, 64);
    if (CHECK(r, n == 30, "%d values, not 30", n))
        CHECK(r, interleaves(got, tens, 9, down, 21), "\"%s\" is no interleaving of 10..90 and 20..0", r->lines[0]);
}

/* 11: each of the 4 calls either timed out or returned do_some_work's even number. */
static void check_11(run *r) {
    for (int i = 0; i < r->n; i++) {
        double v;
        if (!strcmp(r->lines[i], "0 work timed out")) continue;
        if (CHECK(r, line_match("{0..} <nil>", r->lines[i], &v, 1) == 1, "line %d: \"%s\"", i + 1, r->lines[i]))
            CHECK(r, (long long)v % 2 == 0, "line %d: %.0f is odd: the fast path returns only even numbers", i + 1, v);
    }
    CHECK(r, r->n == 4, "%d lines, not 4", r->n);
}

/* 12: the first 10 values of the producer (1..10), doubled, in any order. */
static void check_12(run *r) {
    long want[10];
    for (int i = 0; i < 10; i++) want[i] = 2 * (i + 1);
    expect_values_any_order(r, 0, "", want, 10);
}

/* 13: every request is done or refused; with a limit of 10, exactly 10 are done (the
 * work takes 200 ms: all 15 arrive while the first 10 hold their tokens). */
static void check_13(run *r) {
    int done = 0;
    for (int id = 1; id <= 15; id++) {
        char ok[64], busy[64];
        snprintf(ok, sizeof ok, "request %2d: done", id);
        snprintf(busy, sizeof busy, "request %2d: 429 Too many requests", id);
        const char *l = id - 1 < r->n ? r->lines[id - 1] : "";
        done += !strcmp(l, ok);
        CHECK(r, !strcmp(l, ok) || !strcmp(l, busy), "line %d: \"%s\"", id, l);
    }
    CHECK(r, done == 10, "%d requests done, not 10", done);
}

/* 15: the 20 inputs 0..19 come back doubled, in any order. */
static void check_15(run *r) {
    long want[20];
    for (int i = 0; i < 20; i++) want[i] = 2 * i;
    expect_values_any_order(r, 0, "", want, 20);
}

/* 16: users answers after 20 ms, before orders fails at 40 ms; on a machine so
 * loaded that its timer is served after the failure, it may see the cancel. */
static void check_16(run *r) {
    int a = find(r, 0, "users    answered at {19..} ms"), c = find(r, 0, "users    canceled at {39..} ms");
    CHECK(r, (a >= 0) != (c >= 0), "users neither answered after 20 ms nor was canceled after 40 ms");
}

/* 18: each run's outcome, and a time to go with it: the fast run returns C's result
 * after ~30 ms (or, on a machine that stalls it past 50 ms, the deadline); a slow B
 * or C always ends at the 50 ms deadline; A's failure after 5 ms ends its run at
 * once (or, stalled past 50 ms, at the deadline). */
static void check_18(run *r) {
    static const char *runs[4][2] = {
        { "A 10 ms, B 20 ms, C 10 ms:   COut{42} <nil>                       after {29..} ms",
          "A 10 ms, B 20 ms, C 10 ms:   COut{0} context deadline exceeded   after {49..} ms" },
        { "B takes 80 ms:               COut{0} context deadline exceeded   after {49..} ms", NULL },
        { "C takes 40 ms:               COut{0} context deadline exceeded   after {49..} ms", NULL },
        { "A fails after 5 ms:          COut{0} service A: bad input        after {4..} ms",
          "A fails after 5 ms:          COut{0} context deadline exceeded   after {49..} ms" },
    };
    CHECK(r, r->n == 4, "%d lines, not 4", r->n);
    for (int i = 0; i < 4 && i < r->n; i++)
        CHECK(r, line_match(runs[i][0], r->lines[i], NULL, 0) >= 0 || (runs[i][1] && line_match(runs[i][1], r->lines[i], NULL, 0) >= 0),
              "line %d: got \"%s\", wanted \"%s\"", i + 1, r->lines[i], runs[i][0]);
}

/* 17: whoever ran initParser waited its 50 ms; the others waited for it. */
static void check_17(run *r) {
    int first = find(r, 0, "sync.Once:"), second = find(r, 0, "sync.OnceValue:");
    int starts[2] = { first + 2, second + 2 };
    for (int s = 0; s < 2; s++) {
        double most = 0, v;
        for (int i = starts[s]; i >= 2 && i < starts[s] + 5 && i < r->n; i++)
            if (line_match("  Parse(*) = * after {..} ms", r->lines[i], &v, 1) == 1 && v > most) most = v;
        CHECK(r, most >= 49, "section %d: the longest Parse took %.0f ms, less than initParser's 50", s + 1, most);
    }
}

/* 22: the writers' 20 numbers, each writer's in order, ten to a line. */
static void check_22(run *r) {
    long got[64], a[10], b[10];
    for (int i = 0; i < 10; i++) { a[i] = 1 + i; b[i] = 101 + i; }
    if (!CHECK(r, r->n >= 2, "%d lines", r->n)) return;
    int n1 = ints(r->lines[0], got, 10), n2 = ints(r->lines[1], got + 10, 10);
    if (CHECK(r, n1 == 10 && n2 == 10, "%d and %d numbers on the first two lines, not 10 and 10", n1, n2))
        CHECK(r, interleaves(got, a, 10, b, 10), "the numbers are no interleaving of 1..10 and 101..110");
}

/* 23: goroutine 1 wrote 1..10 and goroutine 2 101..110, each in order. */
static void check_23(run *r) {
    int next[2] = { 1, 101 };
    for (int i = 0; i < r->n; i++) {
        double v[2];
        if (!CHECK(r, line_match("goroutine {1..2} wrote {..}", r->lines[i], v, 2) == 2, "line %d: \"%s\"", i + 1, r->lines[i]))
            continue;
        int g = (int)v[0] - 1;
        CHECK(r, (long)v[1] == next[g], "line %d: goroutine %d wrote %.0f, wanted %d next", i + 1, g + 1, v[1], next[g]);
        next[g] = (int)v[1] + 1;
    }
    CHECK(r, next[0] == 11 && next[1] == 111, "not all 20 values: next would be %d and %d", next[0], next[1]);
}

/* 31: per run: each goroutine completes once; one of them (B, the one started last,
 * unless main was preempted in between) runs first; with 20000 the monitor handed the
 * processor over (the other one started on another thread while the first ran); with
 * 5000 either layout (the first is done in ~5 ms, but a loaded machine may stretch
 * it). */
static void check_31(run *r) {
    static const int limits[2] = { 5000, 20000 };
    int at = 0;
    for (int k = 0; k < 2; k++) {
        char head[64], first[2] = "?", pat[128];
        snprintf(head, sizeof head, "--- primes below %d", limits[k]);
        int h = find(r, at, head), end = find(r, h, "Terminating Program");
        if (!CHECK(r, h >= 0 && end > h, "no section \"%s\" ... \"Terminating Program\"", head)) return;
        at = end + 1;
        CHECK(r, h + 3 < end && !strcmp(r->lines[h + 1], "Create Goroutines") && !strcmp(r->lines[h + 2], "Waiting To Finish"),
              "%s: no \"Create Goroutines\", \"Waiting To Finish\"", head);
        if (!CHECK(r, h + 3 < end && (line_match("B:2  *", r->lines[h + 3], NULL, 0) >= 0 ||
                                      line_match("A:2  *", r->lines[h + 3], NULL, 0) >= 0),
                   "%s: the first line is not \"A:2\" or \"B:2\"", head))
            continue;
        first[0] = r->lines[h + 3][0];
        int ca = 0, cb = 0, one = -1, both = -1;
        for (int i = h + 3; i < end; i++) {
            ca += line_match("Completed A  *", r->lines[i], NULL, 0) >= 0;
            cb += line_match("Completed B  *", r->lines[i], NULL, 0) >= 0;
            if (!strcmp(r->lines[i], "one after the other, on one thread")) one = i;
            if (line_match("... from here on both run at the same time (their lines alternate {2..} times in all)",
                           r->lines[i], NULL, 0) >= 0)
                both = i;
        }
        CHECK(r, ca == 1 && cb == 1, "%s: %d \"Completed A\" and %d \"Completed B\" lines", head, ca, cb);
        CHECK(r, (one >= 0) != (both >= 0), "%s: neither or both of the two endings", head);
        if (k == 1) CHECK(r, both >= 0, "%s: the processor was never handed over to another thread", head);
        if (both >= 0) {
            double ta[2], tb[2];
            snprintf(pat, sizeof pat, "%c:2 *{..} ms  thread {..}   \\*\\* Goroutines Swapped: the processor went to another thread",
                     first[0] == 'A' ? 'B' : 'A');
            int sw = find(r, h, pat);
            if (CHECK(r, sw > h && sw < both, "%s: no \"%.3s ... Goroutines Swapped\" line", head, pat) &&
                line_match(pat, r->lines[sw], ta, 2) == 2 && line_match("*:2 *{..} ms  thread {..}", r->lines[h + 3], tb, 2) == 2)
                CHECK(r, ta[1] != tb[1], "%s: the second goroutine ran on the first one's thread %.0f", head, tb[1]);
            CHECK(r, find(r, both, "A ran from {..} to {..} ms, B from {..} to {..} ms: both at once for {..} ms, with csp_maxprocs(1)") > both,
                  "%s: no \"A ran from ...\" line", head);
        }
    }
    CHECK(r, at == r->n, "lines after the last section");
}

/* The letters of s[0..n) ("X " pairs) that are upper (or lower) case, as a string. */
static int letters(const char *s, size_t n, int upper, char *out, size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < n; i += 2) {
        if (!isalpha((unsigned char)s[i]) || i + 1 >= n || s[i + 1] != ' ') return -1;
        if ((isupper((unsigned char)s[i]) != 0) == upper && k + 1 < max) out[k++] = s[i];
    }
    out[k] = '\0';
    return (int)k;
}

/* One run of the alphabet programs at out: "Start Goroutines\n", then each
 * goroutine's alphabet three times, in order ("X " a letter, every printf of its
 * own), mixed in any way, and main's "Waiting To Finish\n" anywhere among them,
 * then "\nTerminating Program\n". Returns where the run ends, or NULL. */
static const char *check_alphabets(run *r, const char *out, int k) {
    char want_up[80], want_low[80], got[200], buf[1024];
    for (int i = 0; i < 78; i++) { want_up[i] = (char)('A' + i % 26); want_low[i] = (char)('a' + i % 26); }
    want_up[78] = want_low[78] = '\0';
    if (!CHECK(r, strncmp(out, "Start Goroutines\n", 17) == 0, "run %d: no \"Start Goroutines\" first", k)) return NULL;
    const char *start = out + 17, *end = strstr(start, "\nTerminating Program\n");
    if (!CHECK(r, end != NULL && (size_t)(end - start) < sizeof buf, "run %d: no \"Terminating Program\"", k)) return NULL;
    size_t n = (size_t)(end - start);
    memcpy(buf, start, n);
    buf[n] = '\0';
    char *w = strstr(buf, "Waiting To Finish\n");
    if (!CHECK(r, w != NULL, "run %d: no \"Waiting To Finish\"", k)) return NULL;
    memmove(w, w + 18, strlen(w + 18) + 1);
    n -= 18;
    CHECK(r, letters(buf, n, 1, got, sizeof got) >= 0 && !strcmp(got, want_up),
          "run %d: the capital letters are not A..Z three times: \"%s\"", k, buf);
    CHECK(r, letters(buf, n, 0, got, sizeof got) >= 0 && !strcmp(got, want_low),
          "run %d: the small letters are not a..z three times: \"%s\"", k, buf);
    return end + 21;
}

/* 30: one processor: the goroutine started last (capitals) usually runs first, to
 * its end; but main may be preempted at a runtime call when its thread stalls
 * ~10 ms (a loaded machine), and then the other order, or a mix, shows. */
static void check_30(run *r) {
    const char *end = check_alphabets(r, r->child.output, 1);
    CHECK(r, end == NULL || *end == '\0', "output after \"Terminating Program\"");
}

/* 32: per run, the two alphabets may mix letter by letter. */
static void check_32(run *r) {
    static const char *heads[2] = { "--- the book's program\n", "--- with a start line\n" };
    const char *at = r->child.output;
    for (int k = 0; k < 2; k++) {
        size_t hl = strlen(heads[k]);
        if (!CHECK(r, strncmp(at, heads[k], hl) == 0, "no \"%.*s\" at \"%.40s\"", (int)hl - 1, heads[k], at)) return;
        if (!(at = check_alphabets(r, at + hl, k + 1))) return;
    }
    CHECK(r, *at == '\0', "output after the second run: \"%s\"", at);
}

/* 35: A and B work a few rounds each (4 with the timings; 2 to 6 allowed), and each
 * shuts down once, after "Shutdown Now", as its last line. */
static void check_35(run *r) {
    int stop = find(r, 0, "Shutdown Now");
    CHECK(r, stop >= 0 && count(r, "Shutdown Now") == 1, "\"Shutdown Now\" is not there once");
    for (const char *g = "AB"; *g; g++) {
        char work[32], down[32];
        snprintf(work, sizeof work, "Doing %c Work", *g);
        snprintf(down, sizeof down, "Shutting %c Down", *g);
        int rounds = count(r, work), d = find(r, 0, down);
        CHECK(r, rounds >= 2 && rounds <= 6, "%d rounds of \"%s\", not 2 to 6", rounds, work);
        CHECK(r, d > stop && count(r, down) == 1, "\"%s\" is not there once, after \"Shutdown Now\"", down);
        CHECK(r, find(r, d + 1, work) < 0, "\"%s\" after \"%s\"", work, down);
    }
    CHECK(r, r->n == count(r, "Doing * Work") + 3, "other lines than the rounds and the shutdown");
}

/* "Player NAME" + suffix: NAME into who; 0 if the line is not that. */
static int player(const char *line, const char *suffix, char *who, size_t max) {
    size_t l = strlen(line), sl = strlen(suffix);
    if (strncmp(line, "Player ", 7) || l < 7 + sl + 1 || strcmp(line + l - sl, suffix)) return 0;
    size_t n = l - 7 - sl;
    if (n >= max || memchr(line + 7, ' ', n)) return 0;
    memcpy(who, line + 7, n);
    who[n] = '\0';
    return 1;
}

/* 38: the hits alternate and count up from 1; then one player misses (the one whose
 * turn it was) and the other wins. */
static void check_38(run *r) {
    int i;
    char last[32] = "", missed[32], won[32];
    for (i = 0; i < r->n; i++) {
        char who[32];
        int ball;
        if (sscanf(r->lines[i], "Player %31s Hit %d", who, &ball) != 2) break;
        CHECK(r, !strcmp(who, "Nadal") || !strcmp(who, "Djokovic"), "line %d: who is %s?", i + 1, who);
        CHECK(r, ball == i + 1, "line %d: hit %d, wanted %d", i + 1, ball, i + 1);
        CHECK(r, strcmp(who, last) != 0, "line %d: %s hit twice in a row", i + 1, who);
        snprintf(last, sizeof last, "%s", who);
    }
    if (!CHECK(r, r->n == i + 2, "%d lines after the hits, wanted 2 (Missed, Won)", r->n - i)) return;
    if (!CHECK(r, player(r->lines[i], " Missed", missed, sizeof missed), "line %d: \"%s\"", i + 1, r->lines[i]) ||
        !CHECK(r, player(r->lines[i + 1], " Won", won, sizeof won), "line %d: \"%s\"", i + 2, r->lines[i + 1]))
        return;
    CHECK(r, !strcmp(missed, "Nadal") || !strcmp(missed, "Djokovic"), "who is %s?", missed);
    CHECK(r, !strcmp(won, "Nadal") || !strcmp(won, "Djokovic"), "who is %s?", won);
    CHECK(r, strcmp(missed, won) != 0, "%s both missed and won", missed);
    if (i > 0) CHECK(r, strcmp(missed, last) != 0, "%s missed right after hitting the ball", missed);
}

/* 40: every task is started and completed once, by one worker, in that order; each
 * worker takes its tasks in queue order, one at a time, and shuts down last. */
static void check_40(run *r) {
    int started_by[11] = { 0 }, completed[11] = { 0 }, busy[5] = { 0 }, last_task[5] = { 0 }, down[5] = { 0 };
    for (int i = 0; i < r->n; i++) {
        double v[2];
        int w, t;
        if (line_match("Worker: {1..4} : Started Task : {1..10}", r->lines[i], v, 2) == 2) {
            w = (int)v[0];
            t = (int)v[1];
            CHECK(r, !down[w] && !busy[w], "line %d: worker %d starts task %d while busy or shut down", i + 1, w, t);
            CHECK(r, !started_by[t], "line %d: task %d started twice", i + 1, t);
            CHECK(r, t > last_task[w], "line %d: worker %d took task %d after task %d", i + 1, w, t, last_task[w]);
            started_by[t] = w;
            busy[w] = t;
            last_task[w] = t;
        } else if (line_match("Worker: {1..4} : Completed Task : {1..10}", r->lines[i], v, 2) == 2) {
            w = (int)v[0];
            t = (int)v[1];
            CHECK(r, busy[w] == t && !completed[t], "line %d: worker %d completes task %d, which it is not doing", i + 1, w, t);
            completed[t] = 1;
            busy[w] = 0;
        } else if (line_match("Worker: {1..4} : Shutting Down", r->lines[i], v, 1) == 1) {
            w = (int)v[0];
            CHECK(r, !down[w] && !busy[w], "line %d: worker %d shuts down twice or while busy", i + 1, w);
            down[w] = 1;
        } else {
            CHECK(r, 0, "line %d: \"%s\"", i + 1, r->lines[i]);
        }
    }
    for (int t = 1; t <= 10; t++) CHECK(r, started_by[t] && completed[t], "task %d was not started and completed", t);
    for (int w = 1; w <= 4; w++) CHECK(r, down[w], "worker %d did not shut down", w);
}

/* 52: both ways give the same files (the same sizes), with the suffix of the
 * compressor named at the top. */
static void check_52(run *r) {
    int one = find(r, 0, "one after the other: *"), par = find(r, 0, "in parallel: *");
    if (!CHECK(r, one == 1 && par == 6 && r->n == 10, "not the two listings of three files")) return;
    const char *suffix = strstr(r->lines[0], "zlib") ? ".gz:" : ".rle:";
    for (int i = 0; i < 3; i++) {
        CHECK(r, !strcmp(r->lines[2 + i], r->lines[7 + i]), "file %d: \"%s\" one after the other, \"%s\" in parallel",
              i + 1, r->lines[2 + i], r->lines[7 + i]);
        CHECK(r, strstr(r->lines[2 + i], suffix) != NULL, "\"%s\": not %.*s as \"%s\" says", r->lines[2 + i],
              (int)strlen(suffix) - 1, suffix, r->lines[0]);
    }
}

/* 55: the timer fired no later than the receive returned. */
static void check_55(run *r) {
    double v[2];
    if (CHECK(r, r->n == 2 && line_match("csp_after and recv: {..} ms (fired at +{..} ms)", r->lines[1], v, 2) == 2))
        CHECK(r, v[1] <= v[0], "fired at %.1f ms, after the receive returned (%.1f ms)", v[1], v[0]);
}

/* 56: before the child's panic, only its "hello" lines: ten or so (1 to 11: fewer
 * on a loaded machine). */
static void check_56(run *r) {
    int end = find(r, 0, "the program's stderr:");
    if (!CHECK(r, end >= 0, "no \"the program's stderr:\"")) return;
    for (int i = 0; i < end; i++) CHECK(r, !strcmp(r->lines[i], "hello"), "line %d: \"%s\"", i + 1, r->lines[i]);
    CHECK(r, end >= 1 && end <= 11, "%d \"hello\" lines, not 1 to 11", end);
}

/* 57: yawns until the real message; then the closed channel is read again and again
 * (no more yawns) until "Time out". */
static void check_57(run *r) {
    int t = find(r, 0, "Got message. (true)"), f = find(r, 0, "Got message. (false, and ok = false: ch is closed)");
    int yawns_before = 0;
    CHECK(r, t >= 0 && count(r, "Got message. (true)") == 1, "\"Got message. (true)\" is not there once");
    CHECK(r, f > t && count(r, "Got message. (false, *") == 1, "\"Got message. (false, ...)\" is not there once, after (true)");
    CHECK(r, count(r, "Sent and closed") == 1, "\"Sent and closed\" is not there once");
    if (t < 0 || f <= t) return;
    for (int i = 0; i < f; i++) {
        if (i == t) continue;
        yawns_before += !strcmp(r->lines[i], "*yawn*");
        CHECK(r, !strcmp(r->lines[i], "*yawn*") || !strcmp(r->lines[i], "Sent and closed"), "line %d: \"%s\"", i + 1, r->lines[i]);
    }
    CHECK(r, yawns_before >= 1, "no \"*yawn*\" before the message");
    int i = f + 1;
    if (i < r->n && !strcmp(r->lines[i], "Sent and closed")) i++;
    CHECK(r, i < r->n && line_match("... \"Got message.\" {1..} more times, all of them false", r->lines[i], NULL, 0) >= 0,
          "line %d: \"%s\", wanted the count of the closed reads", i + 1, i < r->n ? r->lines[i] : "(end of output)");
    CHECK(r, i + 2 == r->n && !strcmp(r->lines[r->n - 1], "Time out"), "\"Time out\" is not the last line, right after the count");
}

/* 58: about seven "hello" (3 to 8: fewer on a loaded machine), then the sender's
 * "Done", last. */
static void check_58(run *r) {
    if (!CHECK(r, r->n >= 1, "no output")) return;
    for (int i = 0; i < r->n - 1; i++) CHECK(r, !strcmp(r->lines[i], "hello"), "line %d: \"%s\"", i + 1, r->lines[i]);
    CHECK(r, !strcmp(r->lines[r->n - 1], "Done"), "the last line is \"%s\", not \"Done\"", r->lines[r->n - 1]);
    CHECK(r, r->n - 1 >= 3 && r->n - 1 <= 8, "%d \"hello\" lines, not 3 to 8", r->n - 1);
}

/* 59: six workers; each wants, has, releases the lock once, in that order, and the
 * holders strictly alternate "has" and "is releasing". */
static void check_59(run *r) {
    int wants[7] = { 0 }, has[7] = { 0 }, rel[7] = { 0 }, holder = 0;
    for (int i = 0; i < r->n; i++) {
        double v;
        int id;
        if (line_match("{1..6} wants the lock", r->lines[i], &v, 1) == 1) {
            id = (int)v;
            CHECK(r, !wants[id], "line %d: %d wants it twice", i + 1, id);
            wants[id] = 1;
        } else if (line_match("{1..6} has the lock", r->lines[i], &v, 1) == 1) {
            id = (int)v;
            CHECK(r, wants[id] && !has[id], "line %d: %d has it before wanting it, or twice", i + 1, id);
            CHECK(r, holder == 0, "line %d: %d has the lock while %d holds it", i + 1, id, holder);
            has[id] = 1;
            holder = id;
        } else if (line_match("{1..6} is releasing the lock", r->lines[i], &v, 1) == 1) {
            id = (int)v;
            CHECK(r, holder == id && !rel[id], "line %d: %d releases a lock it does not hold", i + 1, id);
            rel[id] = 1;
            holder = 0;
        } else {
            CHECK(r, 0, "line %d: \"%s\"", i + 1, r->lines[i]);
        }
    }
    for (int id = 1; id <= 6; id++) CHECK(r, wants[id] && has[id] && rel[id], "worker %d did not want, have and release the lock", id);
}

/* 70: the talkers' lines are echoed in order; SIGTERM comes after both first echoes;
 * the silent client is dropped by the idle timeout, the others hang up themselves;
 * the server's goodbye is last. */
static void check_70(run *r) {
    static const char *talk[] = { "alice: echoed \"alice line 0\"", "alice: echoed \"alice line 1\"", "alice: echoed \"alice line 2\"",
                                  "bob: echoed \"bob line 0\"", "bob: echoed \"bob line 1\"" };
    int at[5];
    for (int k = 0; k < 5; k++) {
        at[k] = find(r, 0, talk[k]);
        CHECK(r, at[k] >= 0 && count(r, talk[k]) == 1, "\"%s\" is not there once", talk[k]);
    }
    CHECK(r, at[0] < at[1] && at[1] < at[2] && at[3] < at[4], "a talker's echoes out of order");
    int kill_at = find(r, 0, "demo: kill(getpid(), SIGTERM)");
    int got = find(r, 0, "server: got SIGTERM, no longer accepting; waiting for open connections");
    CHECK(r, kill_at > at[0] && kill_at > at[3], "\"demo: kill...\" is not after both first echoes");
    CHECK(r, got > kill_at, "\"server: got SIGTERM\" is not after the kill");
    int idle = find(r, 0, "server: fd {..} idle for 300 ms, closing"), hung = find(r, 0, "quiet: server hung up (read returned 0)");
    CHECK(r, count(r, "server: fd {..} idle for 300 ms, closing") == 1, "not one idle connection");
    CHECK(r, idle >= 0 && hung > idle, "the quiet client was not hung up on after its idle timeout");
    CHECK(r, count(r, "server: fd {..} closed by the client") == 2, "not two connections closed by their clients");
    CHECK(r, r->n == 13 && !strcmp(r->lines[r->n - 1], "server: all connections closed, bye"),
          "%d lines, wanted 13 ending with \"server: all connections closed, bye\"", r->n);
}

/* ---- the table ------------------------------------------------------------------------- */


/* 17_once: five Parse calls from five goroutines, in any order (printed three times). */
#define PARSE_FIVE                                            \
    "@{\n"                                                    \
    "  Parse(\"one\") = \"ONE\" after {0..} ms\n"             \
    "  Parse(\"two\") = \"TWO\" after {0..} ms\n"             \
    "  Parse(\"three\") = \"THREE\" after {0..} ms\n"         \
    "  Parse(\"four\") = \"FOUR\" after {0..} ms\n"           \
    "  Parse(\"five\") = \"FIVE\" after {0..} ms\n"           \
    "@}\n"

static const example examples[] = {
    { .name = "01_goroutines", .check = check_01, .want =
        "in:   1 2 3 4 5 6 7 8 9 10 11 12\n"
        "out: *\n" },
    { .name = "02_channels", .check = check_02, .want =
        /* The writer's clock starts when it runs, after main began its 50 ms sleep. */
        "writer: my write of 42 returned after {0..} ms, when main read it\n"
        "main: read 42; unbuffered len 0 cap 0\n"
        "buffered: after 3 writes and no reads: len 3 cap 10\n"
        "buffered: read 1 (the first one written); now len 2\n"
        "@{\n"
        "reader 1 read {0..30} values\n"
        "reader 2 read {0..30} values\n"
        "reader 3 read {0..30} values\n"
        "@}\n"
        "30 values written, 30 read in all\n" },
    { .name = "03_range_close", .want =
        "range: 1\n"
        "range: 2\n"
        "range: 3\n"
        "range: 4\n"
        "range: 5\n"
        "range: the loop ended: ch is closed\n"
        "comma ok: v = 10, ok = true\n"
        "comma ok: v = 20, ok = true\n"
        "comma ok: v = 0, ok = false\n"
        "comma ok: v = 0, ok = false\n" },
    { .name = "04_channel_states", .want =
        /* A pause is measured from before the helper starts its 30 ms sleep. */
        "--- read\n"
        "unbuffered, open:          paused {29..} ms, until a goroutine wrote 7\n"
        "unbuffered, closed:        returned at once: v = 0, ok = false\n"
        "buffered, open:            buffer empty: paused {29..} ms, until a goroutine wrote 7\n"
        "                           buffer not empty: returned 5 at once\n"
        "buffered, closed:          returned the remaining value: v = 5, ok = true\n"
        "                           then the zero value:          v = 0, ok = false\n"
        "nil:                       a select on it gave up after 50 ms\n"
        "                           child exited with status 2:\n"
        "    | fatal error: all goroutines are asleep - deadlock!\n"
        "    | goroutine 1 \"main\" [chan receive (nil chan)]:\n"
        "--- write\n"
        "unbuffered, open:          paused {29..} ms, until a goroutine read\n"
        "unbuffered, closed:        child exited with status 2:\n"
        "    | panic: send on closed channel\n"
        "    | goroutine 1 \"main\" [running]\n"
        "buffered, open:            buffer not full: returned at once (len 1, cap 1)\n"
        "                           buffer full: paused {29..} ms, until a goroutine read\n"
        "buffered, closed:          child exited with status 2:\n"
        "    | panic: send on closed channel\n"
        "    | goroutine 1 \"main\" [running]\n"
        "nil:                       a select on it gave up after 50 ms\n"
        "                           child exited with status 2:\n"
        "    | fatal error: all goroutines are asleep - deadlock!\n"
        "    | goroutine 1 \"main\" [chan send (nil chan)]:\n"
        "--- close\n"
        "unbuffered, open:          works\n"
        "unbuffered, closed:        child exited with status 2:\n"
        "    | panic: close of closed channel\n"
        "    | goroutine 1 \"main\" [running]\n"
        "buffered, open:            works, the value stays: read 3 (ok = true) after the close\n"
        "buffered, closed:          child exited with status 2:\n"
        "    | panic: close of closed channel\n"
        "    | goroutine 1 \"main\" [running]\n"
        "nil:                       child exited with status 2:\n"
        "    | panic: close of nil channel\n"
        "    | goroutine 1 \"main\" [running]\n" },
    { .name = "05_select", .check = check_05, .want =
        "@...\n"
        "...\n"
        "over 40000 selects: *\n" },
    { .name = "06_deadlock", .want =
        "Example 12-1, in a child process:\n"
        "    | fatal error: all goroutines are asleep - deadlock!\n"
        "@{\n"
        "    | goroutine 1 \"main\" [chan send]:\n"
        "    | goroutine 2 [chan send]:\n"
        "@}\n"
        "    (exit status 2)\n"
        "Example 12-2:\n"
        "main: 2 1\n"
        "    goroutines alive: 2 (the other one waits on ch2 for ever)\n"
        "Fixed:\n"
        "@{\n"
        "main: 2 1\n"
        "goroutine: 1 2\n"
        "@}\n" },
    { .name = "07_for_select", .want =
        "100\n"
        "200\n"
        "300\n"
        "done\n"
        "no value written to ch\n"
        "read from ch: 7\n"
        "a for-select loop with default went round {1..} times in 10 ms, doing nothing\n" },
    { .name = "08_loop_variables", .check = check_08, .want =
        "every goroutine shares v:          20 20 20 20 20\n"
        "csp_go_copy (v := v):              *\n"
        "passed by value (func(val int)):   *\n" },
    { .name = "09_goroutine_leak", .check = check_09, .want =
        "read every value: 0 1 2 3 4 5 6 7 8 9\n"
        "    goroutines: 1\n"
        "break at 6:       0 1 2 3 4 5\n"
        "    goroutines: 2, one of them leaked:\n"
        "@...\n"
        "with a context:   0 1 2 3 4 5\n"
        "    goroutines after cancel: 2 (main and the one leaked before)\n" },
    { .name = "10_nil_channel_case", .check = check_10, .want =
        "[*]\n"
        "30 values\n" },
    { .name = "11_time_limit", .check = check_11 },
    { .name = "12_process_channel", .check = check_12, .want =
        "[*]\n" },
    { .name = "13_backpressure", .check = check_13, .want =
        "@...\n"
        "10 done, 5 refused\n"
        "a request after they finished: done\n" },
    { .name = "14_waitgroup", .want =
        "@{\n"
        "Thing 1 done!\n"
        "Thing 2 done!\n"
        "Thing 3 done!\n"
        "@}\n"
        "all done\n"
        "Thing 3 done!\n"
        "all done again\n" },
    { .name = "15_process_and_gather", .check = check_15, .want =
        "[*]\n" },
    { .name = "16_errgroup", .check = check_16, .want =
        /* Each line in the order its time came. */
        "@{\n"
        "users    * at {19..} ms\n"
        "orders   failed at {39..} ms\n"
        "reviews  canceled at {39..} ms\n"
        "@}\n"
        "Wait: Input/output error after {39..} ms\n" },
    { .name = "17_once", .check = check_17, .want =
        "sync.Once:\n"
        "initParser: loading... (50 ms)\n"
        PARSE_FIVE
        PARSE_FIVE
        "sync.OnceValue:\n"
        "initParser: loading... (50 ms)\n"
        PARSE_FIVE
        "parsers built: 2 (one by each way)\n" },
    { .name = "18_pipeline", .check = check_18 },
    { .name = "19_scoreboard_channel", .want =
        "Lions 55 true\n"
        "Tigers 64 true\n"
        "Bears 55 true\n" },
    { .name = "20_scoreboard_rwmutex", .want =
        "Lions 55 true\n"
        "Tigers 64 true\n"
        "Bears 55 true\n" },
    { .name = "21_atomics", .want =
        "counter: 800000\n"
        "largest value seen: 800000\n"
        "the last goroutine to store its id: {1..8} (swapped out; now 0)\n" },
    { .name = "22_exercise1", .check = check_22, .want =
        "*\n"
        "*\n"
        "goroutines left: 1\n" },
    { .name = "23_exercise2", .check = check_23 },
    { .name = "24_exercise3", .want =
        "building the table of 100000 square roots\n"
        "sqrt(    0) =   0.000   sqrt( 1000) =  31.623   sqrt( 2000) =  44.721   sqrt( 3000) =  54.772   sqrt( 4000) =  63.246\n"
        "sqrt( 5000) =  70.711   sqrt( 6000) =  77.460   sqrt( 7000) =  83.666   sqrt( 8000) =  89.443   sqrt( 9000) =  94.868\n"
        "sqrt(10000) = 100.000   sqrt(11000) = 104.881   sqrt(12000) = 109.545   sqrt(13000) = 114.018   sqrt(14000) = 118.322\n"
        "sqrt(15000) = 122.474   sqrt(16000) = 126.491   sqrt(17000) = 130.384   sqrt(18000) = 134.164   sqrt(19000) = 137.840\n"
        "sqrt(20000) = 141.421   sqrt(21000) = 144.914   sqrt(22000) = 148.324   sqrt(23000) = 151.658   sqrt(24000) = 154.919\n"
        "sqrt(25000) = 158.114   sqrt(26000) = 161.245   sqrt(27000) = 164.317   sqrt(28000) = 167.332   sqrt(29000) = 170.294\n"
        "sqrt(30000) = 173.205   sqrt(31000) = 176.068   sqrt(32000) = 178.885   sqrt(33000) = 181.659   sqrt(34000) = 184.391\n"
        "sqrt(35000) = 187.083   sqrt(36000) = 189.737   sqrt(37000) = 192.354   sqrt(38000) = 194.936   sqrt(39000) = 197.484\n"
        "sqrt(40000) = 200.000   sqrt(41000) = 202.485   sqrt(42000) = 204.939   sqrt(43000) = 207.364   sqrt(44000) = 209.762\n"
        "sqrt(45000) = 212.132   sqrt(46000) = 214.476   sqrt(47000) = 216.795   sqrt(48000) = 219.089   sqrt(49000) = 221.359\n"
        "sqrt(50000) = 223.607   sqrt(51000) = 225.832   sqrt(52000) = 228.035   sqrt(53000) = 230.217   sqrt(54000) = 232.379\n"
        "sqrt(55000) = 234.521   sqrt(56000) = 236.643   sqrt(57000) = 238.747   sqrt(58000) = 240.832   sqrt(59000) = 242.899\n"
        "sqrt(60000) = 244.949   sqrt(61000) = 246.982   sqrt(62000) = 248.998   sqrt(63000) = 250.998   sqrt(64000) = 252.982\n"
        "sqrt(65000) = 254.951   sqrt(66000) = 256.905   sqrt(67000) = 258.844   sqrt(68000) = 260.768   sqrt(69000) = 262.679\n"
        "sqrt(70000) = 264.575   sqrt(71000) = 266.458   sqrt(72000) = 268.328   sqrt(73000) = 270.185   sqrt(74000) = 272.029\n"
        "sqrt(75000) = 273.861   sqrt(76000) = 275.681   sqrt(77000) = 277.489   sqrt(78000) = 279.285   sqrt(79000) = 281.069\n"
        "sqrt(80000) = 282.843   sqrt(81000) = 284.605   sqrt(82000) = 286.356   sqrt(83000) = 288.097   sqrt(84000) = 289.828\n"
        "sqrt(85000) = 291.548   sqrt(86000) = 293.258   sqrt(87000) = 294.958   sqrt(88000) = 296.648   sqrt(89000) = 298.329\n"
        "sqrt(90000) = 300.000   sqrt(91000) = 301.662   sqrt(92000) = 303.315   sqrt(93000) = 304.959   sqrt(94000) = 306.594\n"
        "sqrt(95000) = 308.221   sqrt(96000) = 309.839   sqrt(97000) = 311.448   sqrt(98000) = 313.050   sqrt(99000) = 314.643\n" },
    { .name = "30_alphabet_one_p", .check = check_30 },
    { .name = "31_prime_timeslice", .check = check_31 },
    { .name = "32_alphabet_two_p", .check = check_32 },
    { .name = "33_race", .want =
        /* The race on purpose: only a plausible count (2 to 4) is required. */
        "Final Counter: {2..4}\n" },
    { .name = "34_atomic_counter", .want =
        "Final Counter: 4\n" },
    { .name = "35_atomic_shutdown", .check = check_35 },
    { .name = "36_mutex_counter", .want =
        "Final Counter: 4\n" },
    { .name = "37_make_send_recv", .want =
        "unbuffered: len 0, cap 0\n"
        "buffered after the send: len 1, cap 10\n"
        "received: Gopher\n" },
    { .name = "38_tennis", .check = check_38 },
    { .name = "39_relay", .want =
        "Runner 1 Running With Baton\n"
        "Runner 2 To The Line\n"
        "Runner 1 Exchange With Runner 2\n"
        "Runner 2 Running With Baton\n"
        "Runner 3 To The Line\n"
        "Runner 2 Exchange With Runner 3\n"
        "Runner 3 Running With Baton\n"
        "Runner 4 To The Line\n"
        "Runner 3 Exchange With Runner 4\n"
        "Runner 4 Running With Baton\n"
        "Runner 4 Finished, Race Over\n" },
    { .name = "40_buffered_workers", .check = check_40 },
    { .name = "50_echo_timeout", .args = "0.5", .want =
        "Timed out.\n" },
    { .name = "51_goroutine_closure", .want =
        /* Usually in this order; a main preempted at csp_go (its thread stalled
         * ~10 ms) lets the goroutine run first. */
        "Outside a goroutine.\n"
        "@{\n"
        "Outside again.\n"
        "Inside a goroutine\n"
        "@}\n" },
    { .name = "52_compress", .check = check_52, .want =
        "compressing with *\n"
        "one after the other: {0..} ms\n"
        "    example1.txt: 1418890 bytes -> example1.txt.*: {1..} bytes\n"
        "    example2.txt: 1418890 bytes -> example2.txt.*: {1..} bytes\n"
        "    example3.txt: 1418890 bytes -> example3.txt.*: {1..} bytes\n"
        "Compressed 3 files\n"
        "in parallel: {0..} ms\n"
        "    example1.txt: 1418890 bytes -> example1.txt.*: {1..} bytes\n"
        "    example2.txt: 1418890 bytes -> example2.txt.*: {1..} bytes\n"
        "    example3.txt: 1418890 bytes -> example3.txt.*: {1..} bytes\n" },
    { .name = "53_word_count", .want =
        "Words that appear more than once:\n"
        "the: 11\n"
        "cat: 4\n"
        "and: 3\n"
        "dog: 3\n"
        "in: 2\n"
        "ran: 2\n"
        "sun: 2\n"
        "was: 2\n" },
    { .name = "54_echo_select", .args = "0.5", .want =
        "Timed out\n" },
    { .name = "55_sleep_after", .check = check_55, .want =
        /* "a little more, never less" than 250 ms. */
        "csp_sleep:          {250..} ms\n"
        "csp_after and recv: {250..} ms (fired at +{250..} ms)\n" },
    { .name = "56_close_bad", .check = check_56, .want =
        "@...\n"
        "the program's stderr:\n"
        "    | panic: send on closed channel\n"
        "    | goroutine {2..} [running]\n"
        "exit status 2\n" },
    { .name = "57_close_sender", .check = check_57 },
    { .name = "58_done_channel", .check = check_58 },
    { .name = "59_channel_lock", .check = check_59 },
    { .name = "70_echo_server", .check = check_70, .want =
        "echo server on 127.0.0.1:{1..65535}, idle timeout 300 ms\n"
        "@...\n" },
    { .name = "71_http_backpressure", .want =
        "HTTP server on 127.0.0.1:{1..65535} with a PressureGauge of 2 tokens\n"
        "request 3: 429 Too Many Requests\n"
        "request 4: 429 Too Many Requests\n"
        "request 5: 429 Too Many Requests\n"
        "@{\n"
        "request 1: 200 OK\n"
        "request 2: 200 OK\n"
        "@}\n"
        "keep-alive connection: 200, 200\n"
        "garbage request: 400\n"
        "all as expected\n" },
};
enum { NEXAMPLES = sizeof examples / sizeof examples[0] };

/* ---- running one ------------------------------------------------------------------------- */

static const example *lookup(const char *name) {
    for (int i = 0; i < NEXAMPLES; i++)
        if (!strcmp(examples[i].name, name)) return &examples[i];
    return NULL;
}

/* A growing byte string, always NUL-terminated once it holds anything:
 * csp_test.h's string builder. */
typedef struct csp_test_sb_ bytes;
#define bytes_add csp_test_sb_add_
#define bytes_printf csp_test_sb_printf_

/* Runs [wrapper...] path args... as described at the top, in a process group of its
 * own, and waits for it; after timeout_ms the group is killed. */
static csp_test_child spawn_example(const char *label, const char *path, const char *args, int timeout_ms) {
    static const char *const drop[] = { "CSP_SEED", "CSP_SEED_VIRTUAL_TIME", "CSP_MAXPROCS", NULL };
    const char *wrapper = getenv("CSP_TEST_EXEC_WRAPPER");
    csp_test_spawn_opts o = { .arg_words = args, .env = drop, .timeout_ms = timeout_ms,
                              .own_group = 1, .output_max = OUTPUT_MAX };
    sigset_t dfl;
    csp_test_child r;

    /* Every signal that can be is at its default, as in a shell's child. */
    sigfillset(&dfl);
    sigdelset(&dfl, SIGKILL);
    sigdelset(&dfl, SIGSTOP);
    o.sigdefault = &dfl;
    r = csp_test_spawn(label, path, &o);
    if (r.spawn_error) {
        bytes out = { r.output, r.output_len, r.output_len + 1 };
        bytes_printf(&out, "cannot run %s: %s\n", wrapper && *wrapper ? wrapper : path, strerror(r.spawn_error));
        r.output = out.p;
        r.output_len = out.len;
    }
    return r;
}

/* Shows the output, each line behind "    | ". */
static void show_output(const run *r) {
    bytes b = { NULL, 0, 0 };
    bytes_printf(&b, "    output of %s (%zu bytes, %" PRId64 " ms):\n", r->ex->name, r->child.output_len, r->child.elapsed_ms);
    for (int i = 0; i < r->n && i < 300; i++) {
        bytes_add(&b, "    | ", 6);
        bytes_add(&b, r->lines[i], strlen(r->lines[i]));
        bytes_add(&b, "\n", 1);
    }
    if (r->n > 300) bytes_printf(&b, "    | ... (%d lines more)\n", r->n - 300);
    fputs(b.p, stdout);
    fflush(stdout);
    free(b.p);
}

static void run_example(const char *name) {
    const char *dir = getenv("CSP_EXAMPLES_DIR");
    const example *ex = lookup(name);
    static run r;
    char path[4096];
    REQUIRE(ex != NULL, "%s is not in the table", name);
    if (!dir || !*dir)
        SKIP("env CSP_EXAMPLES_DIR is not set: `make test` builds the examples and checks them "
             "(by hand: make build/examples/%s, then CSP_EXAMPLES_DIR=build/examples build/gcc/test_examples ex_%s)",
             name, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int built = access(path, X_OK) == 0, why = errno;
    REQUIRE(built, "%s is not built (%s)", path, strerror(why));

    memset(&r, 0, sizeof r);
    r.ex = ex;
    r.child = spawn_example(name, path, ex->args, EXAMPLE_TIMEOUT_MS);
    if (!EXPECT_CHILD_EXIT(r.child, ex->exit)) { csp_test_child_free(&r.child); return; }

    /* Cut a copy of the output into lines. */
    r.text = malloc(r.child.output_len + 1);
    if (!r.text) { csp_test_child_free(&r.child); REQUIRE(0, "out of memory"); }
    memcpy(r.text, r.child.output, r.child.output_len + 1);
    char *p = r.text, *end = r.text + r.child.output_len;
    while (p < end && r.n < MAX_LINES) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        r.lines[r.n++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    CHECK(&r, !r.child.truncated, "more output than the %d bytes kept", (int)OUTPUT_MAX);
    CHECK(&r, r.n < MAX_LINES, "more than %d lines", (int)MAX_LINES);
    CHECK(&r, r.child.output_len == 0 || r.child.output[r.child.output_len - 1] == '\n',
          "the output does not end with a newline");
    CHECK(&r, strlen(r.child.output) == r.child.output_len, "a NUL byte in the output");

    if (ex->want) check_template(&r);
    if (ex->check) ex->check(&r);
    if (r.failed) show_output(&r);
    free(r.text);
    csp_test_child_free(&r.child);
}

/* One test per example; each records that it exists, for the last test. */
static const char *tested[128];
static int ntested;
#define EXAMPLE_TEST(n)                                                              \
    __attribute__((constructor)) static void note_##n(void) {                        \
        if (ntested < 128) tested[ntested++] = #n;                                   \
    }                                                                                \
    TEST(ex_##n) { run_example(#n); }

EXAMPLE_TEST(01_goroutines)
EXAMPLE_TEST(02_channels)
EXAMPLE_TEST(03_range_close)
EXAMPLE_TEST(04_channel_states)
EXAMPLE_TEST(05_select)
EXAMPLE_TEST(06_deadlock)
EXAMPLE_TEST(07_for_select)
EXAMPLE_TEST(08_loop_variables)
EXAMPLE_TEST(09_goroutine_leak)
EXAMPLE_TEST(10_nil_channel_case)
EXAMPLE_TEST(11_time_limit)
EXAMPLE_TEST(12_process_channel)
EXAMPLE_TEST(13_backpressure)
EXAMPLE_TEST(14_waitgroup)
EXAMPLE_TEST(15_process_and_gather)
EXAMPLE_TEST(16_errgroup)
EXAMPLE_TEST(17_once)
EXAMPLE_TEST(18_pipeline)
EXAMPLE_TEST(19_scoreboard_channel)
EXAMPLE_TEST(20_scoreboard_rwmutex)
EXAMPLE_TEST(21_atomics)
EXAMPLE_TEST(22_exercise1)
EXAMPLE_TEST(23_exercise2)
EXAMPLE_TEST(24_exercise3)
EXAMPLE_TEST(30_alphabet_one_p)
EXAMPLE_TEST(31_prime_timeslice)
EXAMPLE_TEST(32_alphabet_two_p)
EXAMPLE_TEST(33_race)
EXAMPLE_TEST(34_atomic_counter)
EXAMPLE_TEST(35_atomic_shutdown)
EXAMPLE_TEST(36_mutex_counter)
EXAMPLE_TEST(37_make_send_recv)
EXAMPLE_TEST(38_tennis)
EXAMPLE_TEST(39_relay)
EXAMPLE_TEST(40_buffered_workers)
EXAMPLE_TEST(50_echo_timeout)
EXAMPLE_TEST(51_goroutine_closure)
EXAMPLE_TEST(52_compress)
EXAMPLE_TEST(53_word_count)
EXAMPLE_TEST(54_echo_select)
EXAMPLE_TEST(55_sleep_after)
EXAMPLE_TEST(56_close_bad)
EXAMPLE_TEST(57_close_sender)
EXAMPLE_TEST(58_done_channel)
EXAMPLE_TEST(59_channel_lock)
EXAMPLE_TEST(70_echo_server)
EXAMPLE_TEST(71_http_backpressure)

/* ---- the table against the sources ---------------------------------------------------------- */

/* The value of the first "/\* tour: KEY=VALUE *\/" comment of file f, trimmed, into
 * out (empty when there is none). */
static void tour_value(FILE *f, const char *key, char *out, size_t max) {
    char line[1024];
    size_t kl = strlen(key);
    out[0] = '\0';
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        for (char *c = strstr(line, "/*"); c; c = strstr(c + 1, "/*")) {
            char *q = c + 2, *close;
            while (isspace((unsigned char)*q)) q++;
            if (strncmp(q, "tour:", 5)) continue;
            q += 5;
            while (isspace((unsigned char)*q)) q++;
            if (strncmp(q, key, kl) || q[kl] != '=' || !(close = strstr(q, "*/"))) continue;
            q += kl + 1;
            while (close > q && isspace((unsigned char)close[-1])) close--;
            snprintf(out, max, "%.*s", (int)(close - q), q);
            return;
        }
    }
}

/* Every examples/NAME.c has a row and a TEST, every row a source, and each row's
 * args and exit are what the source's tour comments say. */
TEST(the_table_matches_the_examples) {
    const char *src = getenv("CSP_EXAMPLES_SRC");
    DIR *d;
    struct dirent *e;
    int seen[NEXAMPLES] = { 0 }, nsrc = 0;
    if (!src || !*src) src = "examples";
    if (!(d = opendir(src))) SKIP("no directory %s (the examples' sources; env CSP_EXAMPLES_SRC): %s", src, strerror(errno));
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        char name[256], path[4096], args[256], exit_s[32];
        if (l < 3 || strcmp(e->d_name + l - 2, ".c") || l - 2 >= sizeof name) continue;
        snprintf(name, sizeof name, "%.*s", (int)(l - 2), e->d_name);
        nsrc++;
        const example *ex = lookup(name);
        if (!EXPECT(ex != NULL, "%s/%s has no row in the table", src, e->d_name)) continue;
        seen[ex - examples] = 1;
        snprintf(path, sizeof path, "%s/%s", src, e->d_name);
        FILE *f = fopen(path, "r");
        if (!EXPECT(f != NULL, "%s: %s", path, strerror(errno))) continue;
        tour_value(f, "args", args, sizeof args);
        tour_value(f, "exit", exit_s, sizeof exit_s);
        fclose(f);
        EXPECT_STREQ(ex->args ? ex->args : "", args, "%s: the row's args and the source's tour: args=", name);
        EXPECT_EQ(ex->exit, *exit_s ? atoi(exit_s) : 0, "%s: the row's exit and the source's tour: exit=", name);
        int has_test = 0;
        for (int i = 0; i < ntested; i++) has_test |= !strcmp(tested[i], name);
        EXPECT(has_test, "%s has no EXAMPLE_TEST", name);
    }
    closedir(d);
    for (int i = 0; i < NEXAMPLES; i++) EXPECT(seen[i], "the row %s has no source %s/%s.c", examples[i].name, src, examples[i].name);
    EXPECT_EQ(nsrc, NEXAMPLES, "sources vs rows");
    EXPECT_EQ(ntested, NEXAMPLES, "EXAMPLE_TESTs vs rows");
}
