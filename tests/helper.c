/* SPDX-License-Identifier: MIT */
/*
 * The test child: a tiny program the tests spawn, run as a sequence of verbs
 *   helper VERB [ARG] [VERB [ARG] ...]
 * so one test can say "ignore-term ready pause".  Not the test binary
 * re-executed (STYLE.md 27).
 *
 *   exit N            exit with code N
 *   kill-self SIG     raise signal number SIG (default disposition)
 *   ignore-term       ignore SIGTERM
 *   sleep MS          sleep MS milliseconds
 *   pause             sleep until killed
 *   ready             print "ready\n" on stdout (a sync point)
 *   print TEXT        print TEXT and a newline on stdout
 *   eprint TEXT       print TEXT and a newline on stderr
 *   write-bytes N     write N bytes of 'x' (no newline) on stdout
 *   list-fds          print the open fds (space-separated) on stdout
 *   elist-fds         the same on stderr
 *   cgroup            print our cgroup v2 path ("0::" line) on stdout
 *   sigstate          print "blk=HEX cgt=HEX ign=HEX" (blocked, caught and
 *                     ignored signals)
 *   pgid              print "pid=N pgid=N sid=N"
 *   pdeathsig         print the parent-death signal number
 *   pwd               print the working directory
 *   env NAME          print the value of NAME (or "(unset)")
 *   fork-grandchild   fork a grandchild that sleeps forever holding our
 *                     fds; print "grandchild=PID"
 *   fork-print-on FD TEXT
 *                     fork a grandchild that waits for a byte (or EOF) on
 *                     FD, then prints TEXT on stdout and exits
 *   read-stdin        read stdin to EOF, print "stdin=N" (bytes read)
 *   wait-fd FD        read one byte from FD (or its EOF): a go from the test
 *   lines FD N LEN    write N lines of LEN bytes (newline included) on FD,
 *                     in 64 KiB blocks (a line longer than a block: in
 *                     blocks of its own, its newline written last)
 *   interleave N      "out I" on stdout and "err I" on stderr, I = 0..N-1,
 *                     one write each, alternating
 *   print-nonl TEXT   print TEXT on stdout with no newline
 *   eprint-nonl TEXT  the same on stderr
 *   close-stdout      close fd 1
 *   close-stdin       close fd 0
 *   io-uring          ends the run: exit 0 where this kernel (and sandbox)
 *                     gives the ring the io_uring backend asks for, else
 *                     print why not on stdout and exit 1.  io_uring_setup(2)
 *                     called raw, so that whether the uring runs of the
 *                     suites happen is not decided by the library they
 *                     test (tests/backends.sh)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void out(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(FILE *f, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fflush(f);
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0)
                ;
}

static unsigned long long status_mask(const char *key)
{
        char line[256];
        unsigned long long v = 0;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return ~0ULL;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0)
                        v = strtoull(line + strlen(key), NULL, 16);
        fclose(f);
        return v;
}

/* With fcntl rather than /proc, so that it works where /proc is hidden. */
static void list_fds(FILE *f)
{
        const char *sep = "";

        for (int fd = 0; fd < 65536; fd++) {
                if (fcntl(fd, F_GETFD) < 0)
                        continue;
                fprintf(f, "%s%d", sep, fd);
                sep = " ";
        }
        fprintf(f, "\n");
        fflush(f);
}

/* The ring src/backend-uring.c makes (256 SQEs, a CQ of 4096: the size
 * RLIMIT_MEMLOCK had to allow before 5.12), and the features it requires:
 * 0, or 1 with why not on stdout. */
static int io_uring_why_not(void)
{
        struct io_uring_params p;
        long fd;

        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = 4096;
        fd = syscall(__NR_io_uring_setup, 256, &p);
        if (fd < 0) {
                int e = errno;
                out(stdout, "io_uring_setup(2): %s%s\n", strerror(e),
                    e == ENOSYS ? " (a kernel without io_uring, or a seccomp filter)" :
                    e == EPERM ? " (kernel.io_uring_disabled, or a seccomp filter)" :
                    e == ENOMEM ? " (RLIMIT_MEMLOCK, before Linux 5.12)" : "");
                return 1;
        }
        close((int)fd);
        if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG)) {
                out(stdout, "io_uring without IORING_FEAT_NODROP and IORING_FEAT_EXT_ARG "
                            "(before Linux 5.11)\n");
                return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                const char *v = argv[i];
                const char *arg = i + 1 < argc ? argv[i + 1] : "0";

                if (!strcmp(v, "exit")) {
                        exit(atoi(arg));
                } else if (!strcmp(v, "kill-self")) {
                        signal(atoi(arg), SIG_DFL);
                        raise(atoi(arg));
                        i++;
                } else if (!strcmp(v, "ignore-term")) {
                        signal(SIGTERM, SIG_IGN);
                } else if (!strcmp(v, "sleep")) {
                        sleep_ms(atol(arg));
                        i++;
                } else if (!strcmp(v, "pause")) {
                        for (;;)
                                pause();
                } else if (!strcmp(v, "ready")) {
                        out(stdout, "ready\n");
                } else if (!strcmp(v, "print")) {
                        out(stdout, "%s\n", arg);
                        i++;
                } else if (!strcmp(v, "eprint")) {
                        out(stderr, "%s\n", arg);
                        i++;
                } else if (!strcmp(v, "write-bytes")) {
                        static char buf[65536];
                        long n = atol(arg);
                        memset(buf, 'x', sizeof(buf));
                        while (n > 0) {
                                ssize_t w = write(1, buf, n < (long)sizeof(buf) ? (size_t)n : sizeof(buf));
                                if (w <= 0)
                                        return 3;
                                n -= w;
                        }
                        i++;
                } else if (!strcmp(v, "list-fds")) {
                        list_fds(stdout);
                } else if (!strcmp(v, "elist-fds")) {
                        list_fds(stderr);
                } else if (!strcmp(v, "cgroup")) {
                        char line[4096];
                        FILE *f = fopen("/proc/self/cgroup", "re");
                        while (f && fgets(line, sizeof(line), f))
                                if (!strncmp(line, "0::", 3))
                                        out(stdout, "cgroup=%s", line + 3);
                        if (f)
                                fclose(f);
                } else if (!strcmp(v, "sigstate")) {
                        out(stdout, "blk=%llx cgt=%llx ign=%llx\n", status_mask("SigBlk:"),
                            status_mask("SigCgt:"), status_mask("SigIgn:"));
                } else if (!strcmp(v, "pgid")) {
                        out(stdout, "pid=%d pgid=%d sid=%d\n", getpid(), getpgid(0),
                            getsid(0));
                } else if (!strcmp(v, "pdeathsig")) {
                        int sig = -1;
                        prctl(PR_GET_PDEATHSIG, &sig);
                        out(stdout, "%d\n", sig);
                } else if (!strcmp(v, "pwd")) {
                        char buf[PATH_MAX];
                        out(stdout, "%s\n", getcwd(buf, sizeof(buf)) ? buf : "?");
                } else if (!strcmp(v, "env")) {
                        const char *e = getenv(arg);
                        out(stdout, "%s\n", e ? e : "(unset)");
                        i++;
                } else if (!strcmp(v, "fork-grandchild")) {
                        pid_t p = fork();
                        if (p == 0) {
                                for (;;)
                                        pause();
                        }
                        out(stdout, "grandchild=%d\n", (int)p);
                } else if (!strcmp(v, "fork-print-on") && i + 2 < argc) {
                        int fd = atoi(argv[i + 1]);
                        const char *text = argv[i + 2];
                        i += 2;
                        if (fork() == 0) {
                                char b;
                                while (read(fd, &b, 1) < 0)
                                        ;
                                out(stdout, "%s\n", text);
                                _exit(0);
                        }
                        close(fd);
                } else if (!strcmp(v, "read-stdin")) {
                        char buf[4096];
                        long total = 0;
                        ssize_t n;
                        while ((n = read(0, buf, sizeof(buf))) > 0)
                                total += n;
                        out(stdout, "stdin=%ld\n", total);
                } else if (!strcmp(v, "lines") && i + 3 < argc) {
                        static char block[65536];
                        int fd = atoi(argv[i + 1]);
                        long n = atol(argv[i + 2]), len = atol(argv[i + 3]), fill = 0;
                        char c = 'a';
                        i += 3;
                        if (len < 1)
                                return 2;
                        for (long k = 0; k < n && len > (long)sizeof(block); k++) {
                                /* A line longer than a block: blocks of it,
                                 * the last one ending in its newline. */
                                memset(block, c, sizeof(block));
                                for (long left = len; left > 0;) {
                                        long w = left < (long)sizeof(block) ? left : (long)sizeof(block);
                                        if (w == left)
                                                block[w - 1] = '\n';
                                        if (write(fd, block, (size_t)w) != w)
                                                return 3;
                                        left -= w;
                                }
                                c = c == 'z' ? 'a' : c + 1;
                        }
                        for (long k = 0; k < n && len <= (long)sizeof(block); k++) {
                                if (fill + len > (long)sizeof(block)) {
                                        if (write(fd, block, (size_t)fill) != fill)
                                                return 3;
                                        fill = 0;
                                }
                                memset(block + fill, c, (size_t)len - 1);
                                block[fill + len - 1] = '\n';
                                fill += len;
                                c = c == 'z' ? 'a' : c + 1;
                        }
                        if (fill && write(fd, block, (size_t)fill) != fill)
                                return 3;
                } else if (!strcmp(v, "interleave")) {
                        char buf[32];
                        int n = atoi(arg);
                        i++;
                        for (int k = 0; k < n; k++) {
                                int len = snprintf(buf, sizeof(buf), "out %d\n", k);
                                if (write(1, buf, (size_t)len) != len)
                                        return 3;
                                len = snprintf(buf, sizeof(buf), "err %d\n", k);
                                if (write(2, buf, (size_t)len) != len)
                                        return 3;
                        }
                } else if (!strcmp(v, "print-nonl")) {
                        out(stdout, "%s", arg);
                        i++;
                } else if (!strcmp(v, "eprint-nonl")) {
                        out(stderr, "%s", arg);
                        i++;
                } else if (!strcmp(v, "wait-fd")) {
                        char b;
                        int fd = atoi(arg);
                        i++;
                        while (read(fd, &b, 1) < 0)
                                ;
                        close(fd);
                } else if (!strcmp(v, "close-stdin")) {
                        close(0);
                } else if (!strcmp(v, "io-uring")) {
                        return io_uring_why_not();
                } else if (!strcmp(v, "close-stdout")) {
                        fflush(stdout);
                        close(1);
                } else {
                        out(stderr, "helper: unknown verb '%s'\n", v);
                        return 2;
                }
        }
        return 0;
}
