/* Go in Practice, ch. 3 "Concurrency in Go", technique 12 "Locking with a mutex", listings 3.5-3.6: a word counter.
 *
 * One goroutine per file counts its words into one shared table. Listing
 * 3.5 does it without a lock, and Go stops it with "fatal error: concurrent
 * map writes"; in C two threads growing one hash table at once corrupt it
 * silently, so that version is not here (33_race.c is this directory's
 * one deliberate race). Listing 3.6 is the fix: the words struct embeds a
 * mutex, and add locks it around every change of the table.
 *
 * A file is read whole first, inside csp_block_begin()/csp_block_end()
 * (reading a file blocks where the runtime cannot see), then split into
 * words in memory.
 *
 *     53_word_count [FILE...]   (default: three small sample files it
 *                                writes into a temporary directory)
 *
 * What to notice: the counts are the same every run, whichever goroutine
 * adds first. Go's map iteration order is random; here the words are
 * sorted by count, then alphabetically.
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- words: a hash table with its own lock ------------------------------------- */
typedef struct word { struct word *next; int count; char text[]; } word;

typedef struct {
    csp_mutex lock;      /* sync.Mutex, embedded */
    word *found[256];    /* map[string]int */
} words;

static unsigned hash(const char *s) {
    unsigned h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h % 256;
}

static void add(words *w, const char *text, int n) {
    csp_mutex_lock(&w->lock);
    word **slot = &w->found[hash(text)];
    while (*slot && strcmp((*slot)->text, text)) slot = &(*slot)->next;
    if (*slot) {
        (*slot)->count += n;
    } else {
        word *nw = malloc(sizeof *nw + strlen(text) + 1);
        nw->next = NULL;
        nw->count = n;
        strcpy(nw->text, text);
        *slot = nw;
    }
    csp_mutex_unlock(&w->lock);
}

/* ---- tallyWords --------------------------------------------------------------- */
static char *read_file(const char *name, int *err) {
    char *data = NULL;
    size_t len = 0;
    csp_block_begin();
    FILE *f = fopen(name, "rb");
    if (f) {
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            data = realloc(data, len + n + 1);
            memcpy(data + len, buf, n);
            len += n;
        }
        fclose(f);
        if (!data) data = calloc(1, 1);
        else data[len] = '\0';
    }
    *err = f ? 0 : -errno;
    csp_block_end();
    return data;
}

static int tally_words(const char *filename, words *dict) {
    int err;
    char *data = read_file(filename, &err);
    if (!data) return err;
    for (char *p = data; *p;) {
        while (*p && isspace((unsigned char)*p)) p++;
        char *start = p;
        while (*p && !isspace((unsigned char)*p)) { *p = (char)tolower((unsigned char)*p); p++; }
        if (p == start) break;
        char save = *p;
        *p = '\0';
        add(dict, start, 1);
        *p = save;
    }
    free(data);
    return 0;
}

/* ---- main ------------------------------------------------------------------------ */
static csp_waitgroup wg;
static words w;

static void tally(void *arg) {
    const char *file = arg;
    int err = tally_words(file, &w);
    if (err) printf("%s: %s\n", file, strerror(-err));
    csp_wg_done(&wg);
}

static int by_count(const void *a, const void *b) {
    const word *x = *(word *const *)a, *y = *(word *const *)b;
    return x->count != y->count ? y->count - x->count : strcmp(x->text, y->text);
}

static const char *sample[] = {
    "The cat sat in the sun. The sun was warm and the cat was happy.\n",
    "A dog ran past the cat. The cat did not move, and the dog ran on.\n",
    "In the evening the sun went down, the dog came home, and the cat slept.\n",
};

int main(int argc, char **argv) {
    char dir[] = "/tmp/53_word_count.XXXXXX", names[3][64];
    char *files[3];
    int n = argc - 1;
    char **list = argv + 1;
    if (n == 0) {   /* write the sample files */
        if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
        for (int i = 0; i < 3; i++) {
            snprintf(names[i], sizeof names[i], "%s/%d.txt", dir, i + 1);
            FILE *f = fopen(names[i], "w");
            if (!f) { perror(names[i]); return 1; }
            fputs(sample[i], f);
            fclose(f);
            files[i] = names[i];
        }
        n = 3;
        list = files;
    }

    for (int i = 0; i < n; i++) {
        csp_wg_add(&wg, 1);
        csp_go(tally, list[i]);   /* the name outlives the goroutine: no copy needed */
    }
    csp_wg_wait(&wg);

    printf("Words that appear more than once:\n");
    csp_mutex_lock(&w.lock);   /* not needed once every goroutine is done, as the book says */
    word *all[4096];
    int count = 0;
    for (int b = 0; b < 256; b++)
        for (word *x = w.found[b]; x; x = x->next)
            if (x->count > 1 && count < 4096) all[count++] = x;
    csp_mutex_unlock(&w.lock);
    qsort(all, (size_t)count, sizeof all[0], by_count);
    for (int i = 0; i < count; i++) printf("%s: %d\n", all[i]->text, all[i]->count);

    if (list == files) {
        for (int i = 0; i < 3; i++) unlink(files[i]);
        rmdir(dir);
    }
    return 0;
}
