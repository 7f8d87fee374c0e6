/* child.h -- run this program again in a child process, for the examples
 * that show a panic or a deadlock and still want to go on (a Go program
 * cannot recover from either: csp_panic and the deadlock detector end the
 * process with exit status 2, and so do they here).
 *
 *     if (argc > 1) return child_main(argv[1]);   // in the child
 *     char err[256];
 *     int status = run_child("close-nil", err, sizeof err);
 *
 * run_child re-executes /proc/self/exe with one argument (posix_spawn: the
 * only thing a process whose runtime has started may do after a fork is
 * exec), shares stdout with it, collects its stderr into `err` and returns
 * its exit status (128 + N when signal N killed it). Reading the pipe and
 * waiting for the child block in the kernel, where the runtime cannot see:
 * both go in csp_block_begin()/csp_block_end(), so that the other goroutines
 * keep their processor meanwhile. Include it after csp.h.
 */
#ifndef EXAMPLES_CHILD_H
#define EXAMPLES_CHILD_H

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int run_child(const char *arg, char *err, size_t errsize) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) { perror("pipe2"); return -1; }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);   /* the child's stderr: our pipe */
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = { "/proc/self/exe", (char *)arg, NULL };
    fflush(stdout);   /* our output first, then the child's */
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) { close(fds[0]); fprintf(stderr, "posix_spawn: %s\n", strerror(rc)); return -1; }

    size_t len = 0;
    int status = 0;
    csp_block_begin();
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n && len + 1 < errsize; i++) err[len++] = buf[i];
    }
    waitpid(pid, &status, 0);
    csp_block_end();
    close(fds[0]);
    if (errsize > 0) err[len < errsize ? len : errsize - 1] = '\0';
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Print a child's stderr indented, one "| " per line, without the blank
 * lines Go puts between sections. */
static void print_child_stderr(const char *err) {
    const char *p = err;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > 0) printf("    | %.*s\n", n, p);
        p += n + (nl != NULL);
    }
}

#endif
