/* SPDX-License-Identifier: MIT */
/*
 * Output throughput: a child writes MB megabytes of 80-byte lines to stderr
 * in 64 KiB blocks (tests/helper "lines").  Measured side by side in one
 * run, alternating, RUNS times each, median reported:
 *   raw:       posix_spawn, the same kind of pipe, plain read() of 64 KiB
 *              and memchr to count lines, nothing else;
 *   pidvisor:  pv_spawn with a PV_STDIO_PIPE stderr in PV_OUTPUT_LINES mode,
 *              a callback that counts lines.
 * Prints lines/s and MB/s for each and the ratio pidvisor/raw (target:
 * >= 0.9), and the reader's own CPU time (user + system, RUSAGE_SELF) per
 * run, which is steadier than wall time on a shared machine: the writer
 * and the reader share 2 cores, and how their wake-ups interleave moves
 * the wall time by 20% either way from run to run.  Exit status 0 when
 * both counted every line, 1 otherwise; the ratio is reported, not
 * asserted.
 *
 *   bench-throughput [--mb N] [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <pidvisor.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE 80
extern char **environ;

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's own CPU seconds, user + system. */
static double cpu(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct sample {
        double wall, cpu;
};

static void helper_argv(const char **argv, char *nbuf, size_t nsize, long lines)
{
        snprintf(nbuf, nsize, "%ld", lines);
        argv[0] = HELPER_PATH;
        argv[1] = "lines";
        argv[2] = "2";
        argv[3] = nbuf;
        argv[4] = "80";
        argv[5] = NULL;
}

/* The floor: nothing but read() and memchr. */
static long run_raw(long lines, struct sample *m)
{
        static char buf[65536];
        const char *argv[6];
        char nbuf[32];
        posix_spawn_file_actions_t fa;
        int p[2], st;
        long count = 0;
        pid_t pid;
        ssize_t n;
        double t0, c0;

        helper_argv(argv, nbuf, sizeof(nbuf), lines);
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 2);
        t0 = now();
        c0 = cpu();
        if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0)
                return -1;
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        while ((n = read(p[0], buf, sizeof(buf))) > 0) {
                const char *q = buf, *end = buf + n;
                while ((q = memchr(q, '\n', (size_t)(end - q)))) {
                        count++;
                        q++;
                }
        }
        waitpid(pid, &st, 0);
        m->wall = now() - t0;
        m->cpu = cpu() - c0;
        close(p[0]);
        return count;
}

static void count_line(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                       void *ud)
{
        (void)c;
        (void)fd;
        (void)data;
        (void)len;
        if (!(flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED | PV_OUT_F_PARTIAL)))
                (*(long *)ud)++;
}

static long run_pidvisor(pv_loop *l, long lines, struct sample *m)
{
        const char *argv[6];
        char nbuf[32];
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        long count = 0;
        double t0, c0;

        helper_argv(argv, nbuf, sizeof(nbuf), lines);
        o.argv = argv;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.on_output = count_line;
        o.userdata = &count;
        t0 = now();
        c0 = cpu();
        if (pv_spawn(l, &o, NULL, NULL) < 0 || pv_loop_run(l) < 0)
                return -1;
        m->wall = now() - t0;
        m->cpu = cpu() - c0;
        return count;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double median(struct sample *v, long n, bool want_cpu)
{
        double x[64];

        for (long i = 0; i < n; i++)
                x[i] = want_cpu ? v[i].cpu : v[i].wall;
        qsort(x, (size_t)n, sizeof(double), cmp_double);
        return x[n / 2];
}

int main(int argc, char **argv)
{
        long mb = 200, runs = 9;
        struct sample raw[64], lib[64];
        pv_loop *l;
        int bad = 0;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--mb"))
                        mb = atol(argv[i + 1]);
                else if (!strcmp(argv[i], "--runs"))
                        runs = atol(argv[i + 1]);
        }
        if (mb < 1 || runs < 1 || runs > 64) {
                fprintf(stderr, "usage: bench-throughput [--mb N] [--runs 1..64]\n");
                return 2;
        }
        long lines = mb * 1000 * 1000 / LINE;
        if (pv_loop_new(&l, NULL) < 0)
                return 1;
        for (long r = 0; r < runs; r++) {
                /* Alternate which goes first, so neither always gets a cold
                 * or a warm machine. */
                for (int k = 0; k < 2; k++) {
                        bool do_raw = (k == 0) == (r % 2 == 0);
                        long got = do_raw ? run_raw(lines, &raw[r]) : run_pidvisor(l, lines, &lib[r]);
                        if (got != lines) {
                                fprintf(stderr, "%s run %ld: %ld lines of %ld\n",
                                        do_raw ? "raw" : "pidvisor", r, got, lines);
                                bad = 1;
                        }
                }
        }
        pv_loop_free(l);
        double tr = median(raw, runs, false), tl = median(lib, runs, false);
        double cr = median(raw, runs, true), cl = median(lib, runs, true);
        double bytes = (double)lines * LINE;
        printf("throughput: %ld MB of %d-byte lines on stderr, median of %ld runs\n",
               mb, LINE, runs);
        printf("  raw read+memchr: %10.0f lines/s %8.1f MB/s  reader CPU %.3f s\n",
               lines / tr, bytes / tr / 1e6, cr);
        printf("  pidvisor lines:  %10.0f lines/s %8.1f MB/s  reader CPU %.3f s\n",
               lines / tl, bytes / tl / 1e6, cl);
        printf("  ratio pidvisor/raw: throughput %.2f (target >= 0.90), reader CPU %.2f\n",
               tr / tl, cl / cr);
        return bad;
}
