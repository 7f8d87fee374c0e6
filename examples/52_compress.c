/* Go in Practice, ch. 3 "Concurrency in Go", technique 11 "Waiting for goroutines", listings 3.3-3.4: compress files in parallel.
 *
 * compress(filename) writes filename.gz. Listing 3.3 calls it for each
 * file in turn; listing 3.4 runs each call in a goroutine of its own and
 * waits for all of them with a WaitGroup, without changing compress at all:
 * the wrapper goroutine does the Add/Done bookkeeping. Each goroutine gets
 * its own copy of the file name (csp_go_copy), the fix for the loop
 * variable that the book explains.
 *
 * Go has compress/gzip built in; C does not, and zlib is no dependency of
 * csp.h (the Makefile does not link -lz). So this example uses zlib if it
 * is installed, loading libz.so.1 at run time (dlopen) for gzopen, gzwrite
 * and gzclose; without it, it falls back to a tiny run-length "compressor"
 * of its own and writes filename.rle instead. File reads and writes block
 * in the kernel where the runtime cannot see, so they go inside
 * csp_block_begin()/csp_block_end(): the processor goes to other
 * goroutines meanwhile.
 *
 *     52_compress [FILE...]    compress the files given (default: three
 *                              sample files it writes into a temporary
 *                              directory, and removes afterwards)
 *
 * What to notice: both ways produce the same compressed files; the
 * parallel one prints "Compressed 3 files" once every goroutine is done,
 * and usually takes less time (one goroutine per file, on several threads).
 */
#define CSP_IMPLEMENTATION
#include "csp.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the compressor: zlib's gz* functions if libz is there, else RLE --------- */
static void *(*gz_open)(const char *path, const char *mode);
static int (*gz_write)(void *file, const void *buf, unsigned len);
static int (*gz_close)(void *file);
static const char *suffix = ".rle";

static void load_zlib(void) {
    void *z = dlopen("libz.so.1", RTLD_NOW);
    if (!z) return;
    *(void **)&gz_open = dlsym(z, "gzopen");
    *(void **)&gz_write = dlsym(z, "gzwrite");
    *(void **)&gz_close = dlsym(z, "gzclose");
    if (gz_open && gz_write && gz_close) suffix = ".gz";
}

/* Run-length encoding in the PackBits style: a header byte h < 128 is
 * followed by h + 1 bytes taken as they are; h >= 128 by one byte to repeat
 * h - 125 times (3..130). out needs n + n / 128 + 1 bytes. */
static size_t rle(const unsigned char *in, size_t n, unsigned char *out) {
    size_t o = 0, lit = 0;   /* lit: where the pending literal bytes start */
    for (size_t i = 0; i <= n;) {
        size_t run = 1;
        while (i < n && i + run < n && run < 130 && in[i + run] == in[i]) run++;
        if (i == n || run >= 3 || i - lit == 128) {   /* flush the literals */
            for (size_t k = lit; k < i;) {
                size_t m = i - k < 128 ? i - k : 128;
                out[o++] = (unsigned char)(m - 1);
                memcpy(out + o, in + k, m);
                o += m;
                k += m;
            }
            lit = i;
        }
        if (i == n) break;
        if (run >= 3) {
            out[o++] = (unsigned char)(run + 125);
            out[o++] = in[i];
            i += run;
            lit = i;
        } else {
            i++;
        }
    }
    return o;
}

/* ---- compress: unchanged between the serial and the parallel version ----- */
static int compress(const char *filename) {
    char outname[4096];
    snprintf(outname, sizeof outname, "%s%s", filename, suffix);
    int err = 0;
    csp_block_begin();   /* file I/O from here on */
    FILE *in = fopen(filename, "rb");
    if (!in) { err = -errno; goto out; }
    if (gz_open) {
        void *gz = gz_open(outname, "wb");
        if (!gz) { err = -EIO; fclose(in); goto out; }
        unsigned char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            if (gz_write(gz, buf, (unsigned)n) != (int)n) { err = -EIO; break; }
        if (gz_close(gz) != 0 && !err) err = -EIO;
    } else {
        FILE *out = fopen(outname, "wb");
        if (!out) { err = -errno; fclose(in); goto out; }
        unsigned char buf[65536], enc[65536 + 65536 / 128 + 1];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
            size_t m = rle(buf, n, enc);
            if (fwrite(enc, 1, m, out) != m) { err = -EIO; break; }
        }
        if (fclose(out) != 0 && !err) err = -EIO;
    }
    fclose(in);
out:
    csp_block_end();
    return err;
}

/* ---- listing 3.4: one goroutine per file ------------------------------------ */
static csp_waitgroup wg;

static void compress_one(void *arg) {
    const char *filename = arg;   /* our own copy of the name */
    int err = compress(filename);
    if (err) fprintf(stderr, "%s: %s\n", filename, strerror(-err));
    csp_wg_done(&wg);
}

static void compress_parallel(int n, char **files) {
    int i;
    for (i = 0; i < n; i++) {
        csp_wg_add(&wg, 1);
        csp_go_copy(compress_one, files[i], strlen(files[i]) + 1);
    }
    csp_wg_wait(&wg);
    printf("Compressed %d files\n", i);
}

/* ---- sample files, when none are given ----------------------------------------- */
static char dir[] = "/tmp/52_compress.XXXXXX";

static int make_samples(char **names) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 0; }
    for (int i = 0; i < 3; i++) {
        names[i] = malloc(strlen(dir) + 32);
        sprintf(names[i], "%s/example%d.txt", dir, i + 1);
        FILE *f = fopen(names[i], "w");
        if (!f) { perror(names[i]); return 0; }
        for (int line = 0; line < 20000; line++)
            fprintf(f, "%d: the quick brown fox %.*s jumps over the lazy dog\n", line, line % 40, "========================================");
        fclose(f);
    }
    return 3;
}

static void list(int n, char **files) {
    for (int i = 0; i < n; i++) {
        char outname[4096];
        struct stat a, b;
        snprintf(outname, sizeof outname, "%s%s", files[i], suffix);
        if (stat(files[i], &a) == 0 && stat(outname, &b) == 0)
            printf("    %s: %lld bytes -> %s%s: %lld bytes\n", strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i],
                   (long long)a.st_size, strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i], suffix, (long long)b.st_size);
    }
}

int main(int argc, char **argv) {
    load_zlib();
    printf("compressing with %s\n", gz_open ? "zlib (libz.so.1)" : "run-length encoding (no libz.so.1 here)");
    char *samples[3];
    int n = argc - 1;
    char **files = argv + 1;
    if (n == 0) { n = make_samples(samples); files = samples; }

    int64_t t0 = csp_now();
    for (int i = 0; i < n; i++) compress(files[i]);   /* listing 3.3 */
    printf("one after the other: %.1f ms\n", (csp_now() - t0) / 1e6);
    list(n, files);

    t0 = csp_now();
    compress_parallel(n, files);                       /* listing 3.4 */
    printf("in parallel: %.1f ms\n", (csp_now() - t0) / 1e6);
    list(n, files);

    if (files == samples) {   /* remove what we made */
        for (int i = 0; i < n; i++) {
            char outname[4096];
            snprintf(outname, sizeof outname, "%s%s", files[i], suffix);
            unlink(outname);
            unlink(files[i]);
            free(files[i]);
        }
        rmdir(dir);
    }
    return 0;
}
