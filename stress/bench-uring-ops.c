/* SPDX-License-Identifier: MIT */
/*
 * What decided the io_uring backend's shape: readiness only (one-shot
 * IORING_OP_POLL_ADD; the owners keep their read() and waitid()), or also
 * completions (IORING_OP_READ into the buffer, IORING_OP_WAITID to reap).
 * Hand-written loops, no pidvisor, each job done every way in one run,
 * alternating, RUNS times; the best and the median run are reported.
 *
 *   read:  a child (dd) writes MB megabytes in 64 KiB blocks into a pipe;
 *          the reader takes them 64 KiB at a time and scans each for '\n'
 *          (as the line framer does):
 *            raw read             blocking read(): the floor
 *            epoll + read         epoll_wait, then read on the O_NONBLOCK pipe
 *            uring poll + read    a one-shot POLL_ADD, then read
 *            uring READ           IORING_OP_READ into the buffer
 *          Reported: MB/s, the reader's CPU (CLOCK_PROCESS_CPUTIME_ID) per 100 MB, system
 *          calls per MB.
 *   exit:  CHILDREN children (cat, each holding a pidfd from pidfd_open)
 *          block on one pipe; closing it ends them all at once; the parent
 *          reaps every one:
 *            epoll + waitid       the pidfds in an epoll set, waitid(P_PIDFD)
 *                                 and EPOLL_CTL_DEL for each
 *            uring poll + waitid  a one-shot POLL_ADD per pidfd, waitid
 *            uring WAITID         IORING_OP_WAITID (Linux 6.7; liburing 2.3
 *                                 has no helper: the SQE is filled by hand,
 *                                 and only where the ring's probe has it)
 *          Reported: the parent's CPU per exit, system calls per exit.
 *
 * Exit status 0 when every job completed (every byte read, every child
 * reaped with status 0), 1 otherwise.  Times are reported, never asserted.
 *
 *   bench-uring-ops [--mb N] [--children N] [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define BUF (64 * 1024)
#define RUNS_MAX 31
#define OP_WAITID 50            /* IORING_OP_WAITID, Linux 6.7 */
#define ID_PIDFD 3              /* P_PIDFD */

extern char **environ;

static char buf[BUF];
static long n_sys;              /* system calls made by the job */
static bool failed;

static void die(const char *what, int err)
{
        fprintf(stderr, "bench-uring-ops: %s: %s\n", what, strerror(err));
        exit(1);
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Sorts v: best (v[0]) and median. */
static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cmp);
        return v[n / 2];
}

static struct io_uring ring_new(void)
{
        struct io_uring r;
        struct io_uring_params p;
        int e;

        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
        p.cq_entries = 4096;
        e = io_uring_queue_init_params(256, &r, &p);
        if (e == -EINVAL) {
                p.flags = IORING_SETUP_CQSIZE;
                e = io_uring_queue_init_params(256, &r, &p);
        }
        if (e < 0)
                die("io_uring_queue_init_params", -e);
        return r;
}

static struct io_uring_sqe *sqe_of(struct io_uring *r)
{
        struct io_uring_sqe *s = io_uring_get_sqe(r);

        if (!s) {
                n_sys++;
                if (io_uring_submit(r) < 0 || !(s = io_uring_get_sqe(r)))
                        die("io_uring_get_sqe", EBUSY);
        }
        return s;
}

/* One completion, waited for: its res and user_data. */
static int one_cqe(struct io_uring *r, uint64_t *ud)
{
        struct io_uring_cqe *c;
        int e = io_uring_submit_and_wait(r, 1);

        n_sys++;
        if (e < 0 || io_uring_peek_cqe(r, &c) < 0)
                die("io_uring_submit_and_wait", e < 0 ? -e : EAGAIN);
        e = c->res;
        if (ud)
                *ud = c->user_data;
        io_uring_cqe_seen(r, c);
        return e;
}

/* ---- read ------------------------------------------------------------ */

static size_t scan(ssize_t n)
{
        const char *p = buf, *end = buf + n;

        while ((p = memchr(p, '\n', (size_t)(end - p))))
                p++;
        return (size_t)n;
}

static size_t rd_raw(int fd)
{
        size_t t = 0;
        ssize_t n;

        while ((n_sys++, n = read(fd, buf, BUF)) > 0)
                t += scan(n);
        return t;
}

/* The read that follows a readiness: its bytes added to *t; false at EOF
 * (a non-blocking pipe may also have had nothing: EAGAIN). */
static bool read_ready(int fd, size_t *t)
{
        ssize_t n;

        n_sys++;
        n = read(fd, buf, BUF);
        if (n > 0)
                *t += scan(n);
        return n != 0;
}

static size_t rd_epoll(int fd)
{
        struct epoll_event ev = { .events = EPOLLIN };
        int ep = epoll_create1(EPOLL_CLOEXEC);
        size_t t = 0;

        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                die("epoll", errno);
        do {
                n_sys++;
                if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR)
                        die("epoll_wait", errno);
        } while (read_ready(fd, &t));
        close(ep);
        return t;
}

static size_t rd_uring_poll(int fd)
{
        struct io_uring r = ring_new();
        size_t t = 0;

        do {
                io_uring_prep_poll_add(sqe_of(&r), fd, POLLIN);
                (void)one_cqe(&r, NULL);
        } while (read_ready(fd, &t));
        io_uring_queue_exit(&r);
        return t;
}

static size_t rd_uring_read(int fd)
{
        struct io_uring r = ring_new();
        size_t t = 0;

        for (;;) {
                int n;
                io_uring_prep_read(sqe_of(&r), fd, buf, BUF, (uint64_t)-1);
                n = one_cqe(&r, NULL);
                if (n == 0)
                        break;
                if (n > 0)
                        t += scan(n);
                else if (n != -EAGAIN && n != -EINTR)
                        die("IORING_OP_READ", -n);
        }
        io_uring_queue_exit(&r);
        return t;
}

/* dd writing mb MiB into a new pipe; *fd gets its read end. */
static pid_t writer(int mb, bool nonblock, int *fd)
{
        posix_spawn_file_actions_t fa;
        char count[32];
        char *argv[] = { "dd", "if=/dev/zero", "bs=64k", count, "status=none", NULL };
        int p[2], e;
        pid_t pid;

        snprintf(count, sizeof(count), "count=%d", mb * 16);
        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe2", errno);
        /* Only our end is non-blocking (pipe2's flag would set dd's too). */
        if (nonblock && fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
                die("fcntl", errno);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        e = posix_spawnp(&pid, "dd", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (e)
                die("posix_spawnp dd", e);
        close(p[1]);
        *fd = p[0];
        return pid;
}

static void reap_ok(pid_t pid)
{
        int st;

        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
                failed = true;
}

/* ---- exit ------------------------------------------------------------ */

static int n_children;
static int *pidfds;
static siginfo_t *infos;

/* n_children cats on one pipe, each with a pidfd; returns the pipe's write
 * end, whose close ends them all. */
static int spawn_all(void)
{
        posix_spawn_file_actions_t fa;
        char *argv[] = { "cat", NULL };
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe2", errno);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[0], 0);
        for (int i = 0; i < n_children; i++) {
                pid_t pid;
                int e = posix_spawnp(&pid, "cat", &fa, NULL, argv, environ);
                if (e)
                        die("posix_spawnp cat", e);
                pidfds[i] = (int)syscall(SYS_pidfd_open, pid, 0);
                if (pidfds[i] < 0)
                        die("pidfd_open", errno);
        }
        posix_spawn_file_actions_destroy(&fa);
        close(p[0]);
        return p[1];
}

static void reaped(int i, const siginfo_t *si)
{
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                failed = true;
        n_sys++;
        close(pidfds[i]);
}

static void ex_epoll(int gate)
{
        struct epoll_event evs[256];
        int ep = epoll_create1(EPOLL_CLOEXEC), left = n_children;

        if (ep < 0)
                die("epoll_create1", errno);
        for (int i = 0; i < n_children; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
                n_sys++;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, pidfds[i], &ev) < 0)
                        die("epoll_ctl", errno);
        }
        close(gate);
        while (left) {
                int n = epoll_wait(ep, evs, 256, -1);
                n_sys++;
                for (int k = 0; k < n; k++, left--) {
                        int i = (int)evs[k].data.u32;
                        siginfo_t si;
                        n_sys += 2;
                        if (waitid(P_PIDFD, (id_t)pidfds[i], &si, WEXITED) < 0)
                                die("waitid", errno);
                        (void)epoll_ctl(ep, EPOLL_CTL_DEL, pidfds[i], NULL);
                        reaped(i, &si);
                }
        }
        close(ep);
}

static void ex_uring(int gate, bool waitid_op)
{
        struct io_uring r = ring_new();
        int left = n_children;

        for (int i = 0; i < n_children; i++) {
                struct io_uring_sqe *s = sqe_of(&r);
                if (waitid_op) {
                        /* As liburing 2.5's io_uring_prep_waitid. */
                        io_uring_prep_rw(OP_WAITID, s, pidfds[i], NULL, ID_PIDFD, 0);
                        s->file_index = WEXITED;
                        s->addr2 = (uint64_t)(uintptr_t)&infos[i];
                } else {
                        io_uring_prep_poll_add(s, pidfds[i], POLLIN);
                }
                s->user_data = (uint64_t)i;
        }
        close(gate);
        while (left) {
                struct io_uring_cqe *c;
                unsigned head, n = 0;
                n_sys++;
                if (io_uring_submit_and_wait(&r, 1) < 0)
                        die("io_uring_submit_and_wait", EIO);
                io_uring_for_each_cqe(&r, head, c) {
                        int i = (int)c->user_data;
                        n++;
                        left--;
                        if (c->res < 0)
                                die(waitid_op ? "IORING_OP_WAITID" : "POLL_ADD", -c->res);
                        if (!waitid_op) {
                                n_sys++;
                                if (waitid(P_PIDFD, (id_t)pidfds[i], &infos[i], WEXITED) < 0)
                                        die("waitid", errno);
                        }
                        reaped(i, &infos[i]);
                }
                io_uring_cq_advance(&r, n);
        }
        io_uring_queue_exit(&r);
}

static void ex_epoll_job(int g) { ex_epoll(g); }
static void ex_poll_job(int g) { ex_uring(g, false); }
static void ex_waitid_job(int g) { ex_uring(g, true); }

int main(int argc, char **argv)
{
        int mb = 200, runs = 7;
        bool have_waitid;
        struct io_uring_probe *probe;

        n_children = 1000;
        for (int i = 1; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--mb"))
                        mb = atoi(argv[i + 1]);
                else if (!strcmp(argv[i], "--children"))
                        n_children = atoi(argv[i + 1]);
                else if (!strcmp(argv[i], "--runs"))
                        runs = atoi(argv[i + 1]);
        }
        if (mb < 1 || n_children < 1 || runs < 1 || runs > RUNS_MAX || argc % 2 == 0) {
                fputs("usage: bench-uring-ops [--mb N] [--children N] [--runs 1-31]\n", stderr);
                return 2;
        }
        pidfds = calloc((size_t)n_children, sizeof(*pidfds));
        infos = calloc((size_t)n_children, sizeof(*infos));
        if (!pidfds || !infos)
                die("calloc", ENOMEM);
        probe = io_uring_get_probe();
        have_waitid = probe && io_uring_opcode_supported(probe, OP_WAITID);
        io_uring_free_probe(probe);

        struct {
                const char *name;
                size_t (*fn)(int fd);
                bool nonblock;
                double mbs[RUNS_MAX], cpu[RUNS_MAX];
                long sys;
        } rd[] = {
                { .name = "raw read", .fn = rd_raw },
                { .name = "epoll + read", .fn = rd_epoll, .nonblock = true },
                { .name = "uring poll + read", .fn = rd_uring_poll, .nonblock = true },
                { .name = "uring READ", .fn = rd_uring_read },
        };
        for (int r = 0; r < runs; r++)
                for (size_t k = 0; k < sizeof(rd) / sizeof(rd[0]); k++) {
                        int fd;
                        pid_t pid = writer(mb, rd[k].nonblock, &fd);
                        double t0 = wall_s(), c0 = cpu_s();
                        n_sys = 0;
                        if (rd[k].fn(fd) != (size_t)mb << 20)
                                failed = true;
                        rd[k].mbs[r] = mb / (wall_s() - t0);
                        rd[k].cpu[r] = (cpu_s() - c0) * 1e3 * 100 / mb;
                        rd[k].sys = n_sys;
                        close(fd);
                        reap_ok(pid);
                }
        printf("read: %d MB in 64 KiB blocks through a pipe, %d runs (best, median)\n", mb, runs);
        for (size_t k = 0; k < sizeof(rd) / sizeof(rd[0]); k++) {
                double m = median(rd[k].mbs, runs), c = median(rd[k].cpu, runs);
                printf("  %-20s %6.0f %6.0f MB/s   CPU %5.1f %5.1f ms/100 MB   %4.1f syscalls/MB\n",
                       rd[k].name, rd[k].mbs[runs - 1], m, rd[k].cpu[0], c,
                       (double)rd[k].sys / mb);
        }

        struct {
                const char *name;
                void (*fn)(int gate);
                double us[RUNS_MAX];
                long sys;
        } ex[] = {
                { .name = "epoll + waitid", .fn = ex_epoll_job },
                { .name = "uring poll + waitid", .fn = ex_poll_job },
                { .name = "uring WAITID", .fn = ex_waitid_job },
        };
        size_t n_ex = have_waitid ? 3 : 2;
        for (int r = 0; r < runs; r++)
                for (size_t k = 0; k < n_ex; k++) {
                        int gate = spawn_all();
                        double c0 = cpu_s();
                        n_sys = 0;
                        ex[k].fn(gate);
                        ex[k].us[r] = (cpu_s() - c0) * 1e6 / n_children;
                        ex[k].sys = n_sys;
                }
        printf("exit: %d children ended at once, reaped by the parent, %d runs (best, median)\n",
               n_children, runs);
        for (size_t k = 0; k < n_ex; k++) {
                double m = median(ex[k].us, runs);
                printf("  %-20s parent CPU %5.2f %5.2f us/exit   %4.2f syscalls/exit\n",
                       ex[k].name, ex[k].us[0], m, (double)ex[k].sys / n_children);
        }
        if (!have_waitid)
                puts("  uring WAITID         not measured: the ring has no IORING_OP_WAITID (Linux 6.7)");
        if (failed)
                fputs("bench-uring-ops: a job lost bytes or a child's status\n", stderr);
        return failed;
}
