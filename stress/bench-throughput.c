/* SPDX-License-Identifier: MIT */
/*
 * Output throughput: a child writes MB megabytes of lines in 64 KiB blocks
 * (tests/helper "lines").  Measured side by side in one run, alternating,
 * RUNS times each, median reported:
 *   raw:       posix_spawn, the same kind of pipe, plain read() of 64 KiB
 *              and memchr to count lines, nothing else;
 *   pidvisor:  pv_spawn with a PV_STDIO_PIPE in PV_OUTPUT_LINES mode, a
 *              callback that counts lines; once per event backend, epoll
 *              and io_uring (a loop each; io_uring only where it can be
 *              had, which is said when it cannot).
 * Two workloads:
 *   short:  80-byte lines on stderr (log lines; every line lies whole in a
 *           read, the zero-copy path);
 *   long:   LONG-byte lines (600 KB: a JSON-RPC response carrying a 300 KB
 *           file) on stdout, read by pidvisor twice per backend: with the
 *           default max_line (16 MiB: each line whole, through a buffer
 *           that grows and is freed per line) and with max_line 64 KiB (the
 *           old default: ten PV_OUT_F_PARTIAL pieces through a buffer of 64
 *           KiB that stays).
 * Prints lines/s and MB/s for each, and the reader's own CPU time (user +
 * system, CLOCK_PROCESS_CPUTIME_ID) per MB read, which is steadier than wall time on a
 * shared machine: the writer and the reader share 2 cores, and how their
 * wake-ups interleave moves the wall time by 20% either way from run to
 * run.  Ratios side by side: each pidvisor reader to raw (throughput, CPU
 * per MB; target >= 0.9 for the throughput), and io_uring to epoll.  For the
 * long lines it also prints the most the heap held during a callback
 * (mallinfo2, above its level before the spawn): the line buffer at its
 * largest.  Exit status 0 when every run counted every line, 1 otherwise;
 * the ratios are reported, not asserted.
 *
 *   bench-throughput [--mb N] [--runs N] [--long BYTES]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <malloc.h>
#include <pidvisor.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define LINE 80
#define LONG_DEFAULT 600000
extern char **environ;

struct sample {
        double wall, cpu;
};

struct work {
        int fd;                 /* 1 or 2 */
        long len;               /* bytes per line, newline included */
        long lines;
};

static void helper_argv(const char **argv, char bufs[3][32], const struct work *w)
{
        snprintf(bufs[0], 32, "%d", w->fd);
        snprintf(bufs[1], 32, "%ld", w->lines);
        snprintf(bufs[2], 32, "%ld", w->len);
        argv[0] = HELPER_PATH;
        argv[1] = "lines";
        argv[2] = bufs[0];
        argv[3] = bufs[1];
        argv[4] = bufs[2];
        argv[5] = NULL;
}

/* The floor: nothing but read() and memchr. */
static long run_raw(const struct work *w, struct sample *m)
{
        static char buf[65536];
        const char *argv[6];
        char bufs[3][32];
        posix_spawn_file_actions_t fa;
        int p[2], st;
        long count = 0;
        pid_t pid;
        ssize_t n;
        double t0, c0;

        helper_argv(argv, bufs, w);
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], w->fd);
        t0 = wall_s();
        c0 = cpu_s();
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
        m->wall = wall_s() - t0;
        m->cpu = cpu_s() - c0;
        close(p[0]);
        return count;
}

static size_t heap_in_use(void)
{
        struct mallinfo2 mi = mallinfo2();

        return mi.uordblks + mi.hblkhd;
}

struct counter {
        long lines;
        bool sample;            /* note the heap at every call (long lines) */
        size_t heap_max;
};

static void count_line(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                       void *ud)
{
        struct counter *k = ud;

        (void)c;
        (void)fd;
        (void)data;
        (void)len;
        if (k->sample) {
                size_t h = heap_in_use();
                if (h > k->heap_max)
                        k->heap_max = h;
        }
        if (!(flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED | PV_OUT_F_PARTIAL)))
                k->lines++;
}

/* *heap_peak, if not NULL: raised to the most the heap held during a
 * callback, above what it held before the spawn. */
static long run_pidvisor(pv_loop *l, const struct work *w, uint32_t max_line,
                         struct sample *m, size_t *heap_peak)
{
        const char *argv[6];
        char bufs[3][32];
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        struct counter count = { .sample = heap_peak != NULL };
        size_t heap0 = heap_peak ? heap_in_use() : 0;
        double t0, c0;

        helper_argv(argv, bufs, w);
        o.argv = argv;
        o.stdio[w->fd].mode = PV_STDIO_PIPE;
        o.stdio[w->fd].max_line = max_line;
        o.on_output = count_line;
        o.userdata = &count;
        t0 = wall_s();
        c0 = cpu_s();
        if (pv_spawn(l, &o, NULL, NULL) < 0 || pv_loop_run(l) < 0)
                return -1;
        m->wall = wall_s() - t0;
        m->cpu = cpu_s() - c0;
        if (heap_peak && count.heap_max > heap0 + *heap_peak)
                *heap_peak = count.heap_max - heap0;
        return count.lines;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double median(const struct sample *v, long n, bool want_cpu)
{
        double x[64];

        for (long i = 0; i < n; i++)
                x[i] = want_cpu ? v[i].cpu : v[i].wall;
        qsort(x, (size_t)n, sizeof(double), cmp_double);
        return x[n / 2];
}

/* How the reader runs: raw, or pidvisor on a backend with a max_line (0:
 * default). */
struct mode {
        const char *name;
        int backend;            /* 0: raw; else enum pv_backend */
        uint32_t max_line;
        int twin;               /* io_uring: the index of the same mode on
                                 * epoll, for the ratio; else 0 */
        bool absent;            /* its backend cannot be had here */
        struct sample s[64];
        size_t heap_peak;       /* pidvisor, long lines: see run_pidvisor */
};

/* Every mode RUNS times, rotating which goes first, so that none always
 * gets a cold or a warm machine.  Whether every run counted every line. */
static bool measure(pv_loop *const *loops, const struct work *w, struct mode *modes, int n,
                    long runs, bool sample_heap)
{
        bool ok = true;

        for (long r = 0; r < runs; r++) {
                for (int k = 0; k < n; k++) {
                        struct mode *md = &modes[(k + r) % n];
                        if (md->absent)
                                continue;
                        long got = !md->backend
                                ? run_raw(w, &md->s[r])
                                : run_pidvisor(loops[md->backend], w, md->max_line, &md->s[r],
                                               sample_heap ? &md->heap_peak : NULL);
                        if (got != w->lines) {
                                fprintf(stderr, "%s run %ld: %ld lines of %ld\n", md->name, r,
                                        got, w->lines);
                                ok = false;
                        }
                }
        }
        return ok;
}

/* modes[0] is raw: every other mode is also given as a ratio to it, and
 * an io_uring mode as a ratio to its epoll twin. */
static void report(const struct work *w, struct mode *modes, int n, long runs)
{
        double bytes = (double)w->lines * (double)w->len, mb = bytes / 1e6;
        double t0 = median(modes[0].s, runs, false), c0 = median(modes[0].s, runs, true);

        printf("  %-32s %10s %9s %11s   %s\n", "", "lines/s", "MB/s", "CPU/MB",
               "/raw: thru, CPU/MB   /epoll: thru, CPU/MB");
        for (int k = 0; k < n; k++) {
                const struct mode *md = &modes[k];

                if (md->absent) {
                        printf("  %-32s not here\n", md->name);
                        continue;
                }
                double t = median(md->s, runs, false), c = median(md->s, runs, true);
                printf("  %-32s %10.0f %9.1f %8.3f ms", md->name, (double)w->lines / t,
                       bytes / t / 1e6, c / mb * 1e3);
                if (k > 0)
                        printf("   %5.2f  %5.2f", t0 / t, c / c0);
                if (md->twin && !modes[md->twin].absent) {
                        double te = median(modes[md->twin].s, runs, false);
                        double ce = median(modes[md->twin].s, runs, true);
                        printf("        %5.2f  %5.2f", te / t, c / ce);
                } else if (md->heap_peak) {
                        printf("%20s", "");
                }
                if (md->heap_peak)
                        printf("   heap peak +%zu KiB", md->heap_peak / 1024);
                printf("\n");
        }
}

int main(int argc, char **argv)
{
        long mb = 200, runs = 9, long_len = LONG_DEFAULT;
        struct mode short_modes[] = {
                { .name = "raw read+memchr" },
                { .name = "pidvisor lines, epoll", .backend = PV_BACKEND_EPOLL },
                { .name = "pidvisor lines, io_uring", .backend = PV_BACKEND_URING, .twin = 1 },
        };
        struct mode long_modes[] = {
                { .name = "raw read+memchr" },
                { .name = "pidvisor default, epoll", .backend = PV_BACKEND_EPOLL },
                { .name = "pidvisor default, io_uring", .backend = PV_BACKEND_URING, .twin = 1 },
                { .name = "pidvisor max_line 64K, epoll", .backend = PV_BACKEND_EPOLL,
                  .max_line = 65536 },
                { .name = "pidvisor max_line 64K, io_uring", .backend = PV_BACKEND_URING,
                  .max_line = 65536, .twin = 3 },
        };
        enum { N_SHORT = sizeof(short_modes) / sizeof(short_modes[0]),
               N_LONG = sizeof(long_modes) / sizeof(long_modes[0]) };
        pv_loop *loops[_PV_BACKEND_MAX] = { NULL };
        int uring_err;
        bool ok;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--mb"))
                        mb = atol(argv[i + 1]);
                else if (!strcmp(argv[i], "--runs"))
                        runs = atol(argv[i + 1]);
                else if (!strcmp(argv[i], "--long"))
                        long_len = atol(argv[i + 1]);
        }
        if (mb < 1 || runs < 1 || runs > 64 || long_len < 2) {
                fprintf(stderr, "usage: bench-throughput [--mb N] [--runs 1..64] "
                                "[--long BYTES]\n");
                return 2;
        }
        struct work short_w = { .fd = 2, .len = LINE, .lines = mb * 1000 * 1000 / LINE };
        struct work long_w = { .fd = 1, .len = long_len, .lines = mb * 1000 * 1000 / long_len };
        if (long_w.lines < 1)
                long_w.lines = 1;
        for (int b = PV_BACKEND_EPOLL; b < _PV_BACKEND_MAX; b++) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                lo.backend = b;
                int r = pv_loop_new(&loops[b], &lo);
                if (r < 0 && b == PV_BACKEND_EPOLL)
                        return 1;
                if (r < 0)
                        loops[b] = NULL;
                if (b == PV_BACKEND_URING)
                        uring_err = r;
        }
        for (int k = 0; k < N_SHORT; k++)
                short_modes[k].absent = short_modes[k].backend && !loops[short_modes[k].backend];
        for (int k = 0; k < N_LONG; k++)
                long_modes[k].absent = long_modes[k].backend && !loops[long_modes[k].backend];
        ok = measure(loops, &short_w, short_modes, N_SHORT, runs, false);
        ok &= measure(loops, &long_w, long_modes, N_LONG, runs, true);
        for (int b = 0; b < _PV_BACKEND_MAX; b++)
                pv_loop_free(loops[b]);

        if (uring_err < 0)
                printf("io_uring: not here (%s)\n", strerror(-uring_err));
        printf("throughput: %ld MB of %d-byte lines on stderr, median of %ld runs\n", mb, LINE,
               runs);
        report(&short_w, short_modes, N_SHORT, runs);
        printf("throughput: %ld lines of %ld bytes on stdout, median of %ld runs\n",
               long_w.lines, long_len, runs);
        report(&long_w, long_modes, N_LONG, runs);
        return ok ? 0 : 1;
}
