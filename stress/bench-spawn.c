/* SPDX-License-Identifier: MIT */
/*
 * Spawn cost, in three parts.  pidvisor runs on each of its event backends,
 * epoll and io_uring, side by side in the same run (a loop each; io_uring
 * only where it can be had, which is said when it cannot).
 *
 * 1. Against the raw floor.  A cycle: spawn /bin/true with a pipe on each
 *    of fds 0-2, let it exit, drain its stdout and stderr to EOF, reap it,
 *    close everything.  pidvisor does it with pv_spawn (three
 *    PV_STDIO_PIPE) + pv_child_wait + pv_child_release.  The floor is what
 *    a careful hand-written loop needs for the same job and nothing more:
 *    pipe2(O_CLOEXEC) x3, O_NONBLOCK on the two read ends (a descendant may
 *    keep a pipe open: the drain after the exit must not block), glibc
 *    clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) whose child does dup2 x3
 *    and execve, the pidfd and both read ends in one epoll set (level-
 *    triggered, every ready event of a wake-up handled), a read at each
 *    readiness, waitid(P_PIDFD) once the pidfd is readable, EPOLL_CTL_DEL
 *    before each close (DESIGN.md: a concurrently spawned child may hold a
 *    copy of the fd).  The floor blocks no signals and resets none in the
 *    child: this process has no handler and ignores nothing, so it needs
 *    none of that; pidvisor must be safe in any host.
 *
 *    Time: the three run in this process, alternating in batches (the
 *    order rotating every round), so the machine's mood hits all alike;
 *    mean microseconds per cycle, the ratios of the means (each backend to
 *    the floor, io_uring to epoll) and the medians of the per-round ratios.
 *    System calls: counted in a forked process (the counting cannot be
 *    undone), again alternating, by a seccomp user-notification listener
 *    (Linux 5.5): a filter on the main thread only sends every system call
 *    of it and of its children to a thread of ours that counts it and lets
 *    it continue.  No ptrace, no tracefs.  Per cycle: the parent's calls,
 *    all of them; the job's, which are all but the waits and the
 *    allocator's; the waits; and the child's calls before its execve.  A
 *    wait is a call that asks for events: epoll_wait, and io_uring_enter
 *    with IORING_ENTER_GETEVENTS (which also hands the kernel what was
 *    queued: registering, re-arming and unwatching ride on the wait, which
 *    is the point of that backend).  How many waits a cycle takes depends
 *    on how the child's exit and our wake-ups interleave, so the job's
 *    count leaves them out; an io_uring_enter that only submits (a
 *    POLL_REMOVE handed over at once on a close, a hand-over that finds
 *    completions waiting already, a full queue) is the job's.  The
 *    counting slows every call down, so it is never timed.
 *
 * 2. Many children at once: ALIVE children (/bin/cat, all reading one pipe
 *    as stdin, stdout and stderr piped: three watched fds each) are
 *    spawned on one loop, then the pipe's write end is closed, so that
 *    all exit together, and the loop reaps them all (pv_loop_run).  The
 *    parent's CPU time (CLOCK_PROCESS_CPUTIME_ID: user + system) per child
 *    is measured for the spawns (ending with a pv_loop_dispatch(0), which
 *    hands io_uring what it queued) and for the exits and reaps, on each
 *    backend, alternating, median of ALIVE_ROUNDS rounds.
 *
 * 3. Against the parent's size: spawn + reap /bin/true CYCLES times with
 *    pidvisor (stdio inherited; epoll), and with fork() + execve() +
 *    waitpid(), first with a small parent, then after the parent has
 *    touched MB megabytes of memory, alternating; mean microseconds per
 *    cycle.  pidvisor spawns with a vfork-style clone (no page tables
 *    copied), so its cost should stay flat; fork copies the page tables, so
 *    its cost grows.  The memory is mapped with 4 KiB pages
 *    (MADV_NOHUGEPAGE), as a long-lived service's fragmented heap mostly
 *    is: with transparent huge pages a big region has few page-table
 *    entries and fork stays cheap; --thp measures that case instead.
 *
 * Times are reported, never asserted.  Exit status: 1 if a spawn failed;
 * with --check also 1 if pidvisor's parent on epoll makes more of the job's
 * system calls per cycle than the floor's, or on io_uring more of the job's
 * than the floor's, or as many calls in all (waits included) as on epoll or
 * more.  The first two do not turn on timing: on epoll the job's count is
 * exact (22 here, as the floor's); on io_uring it is 16, plus now and then
 * (the child's exit seen before a pipe's end) the cancel of each pipe
 * closed while its poll was in flight and one io_uring_enter that hands
 * the queue over without waiting, since those cancels' completions are
 * found waiting the next time: three a cycle at most, a few hundredths on
 * average.  The third adds the waits, which are timing, but with a wide
 * margin: io_uring saves six epoll_ctl a cycle and spends at most three,
 * so it would need three waits a cycle more than epoll, over the whole
 * run, to lose, where each takes about one to three.  Where nothing can be
 * counted (no seccomp user notification), or io_uring cannot be had, that
 * is said and not judged.
 *
 *   bench-spawn [--mb N] [--cycles N] [--thp] [--floor-cycles N]
 *               [--count-cycles N] [--alive N] [--alive-rounds N] [--check]
 *               [--no-mem] [--verbose]
 */

#include <errno.h>
#include <fcntl.h>
#include <pidvisor.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "syscount.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

static const char *argv_true[] = { "/bin/true", NULL };

/* ---- one cycle each ---------------------------------------------------- */

static int pidvisor_cycle(pv_loop *l, bool pipes)
{
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        struct pv_exit e;
        pv_child *c;
        int r;

        o.argv = argv_true;
        for (int i = 0; pipes && i < 3; i++)
                o.stdio[i].mode = PV_STDIO_PIPE;
        r = pv_spawn(l, &o, &c, NULL);
        if (r < 0)
                return r;
        r = pv_child_wait(c, 10000, &e);
        pv_child_release(c);
        return r < 0 ? r : e.kind == PV_EXIT_EXITED && e.code == 0 ? 0 : -EPROTO;
}

struct floor {
        int ep;                 /* epoll fd, one for all cycles, as a loop's */
        char *stack;            /* the child's stack */
        size_t stack_size;
        char buf[65536];
};

struct floor_args {
        int fd[3];
};

/* The floor's child: on our memory, while we wait (CLONE_VFORK). */
static int floor_child(void *p)
{
        const struct floor_args *a = p;

        for (int i = 0; i < 3; i++)
                if (dup2(a->fd[i], i) < 0)
                        _exit(127);
        execve(argv_true[0], (char *const *)argv_true, environ);
        _exit(127);
}

static int floor_init(struct floor *f)
{
        f->ep = epoll_create1(EPOLL_CLOEXEC);
        f->stack_size = 64 * 1024;
        f->stack = malloc(f->stack_size);
        return f->ep >= 0 && f->stack ? 0 : -1;
}

static void floor_done(struct floor *f)
{
        close(f->ep);
        free(f->stack);
}

/* Read what is there; at EOF (or an error) unwatch and close.  Returns
 * whether the stream is still open. */
static bool floor_read(struct floor *f, int *fd, bool drain)
{
        for (;;) {
                ssize_t n = read(*fd, f->buf, sizeof(f->buf));
                if (n > 0 && (drain || (size_t)n == sizeof(f->buf)))
                        continue;
                if (n > 0 || (n < 0 && errno == EAGAIN && !drain))
                        return true;
                if (n < 0 && errno == EINTR)
                        continue;
                /* EOF, an error, or after the exit a pipe that a
                 * descendant holds: done with it. */
                epoll_ctl(f->ep, EPOLL_CTL_DEL, *fd, NULL);
                close(*fd);
                *fd = -1;
                return false;
        }
}

static int floor_cycle(struct floor *f)
{
        int in[2], out[2], err[2], pidfd = -1;
        struct floor_args a;
        struct epoll_event ev, evs[8];
        bool exited = false;
        siginfo_t si;
        int *streams[2] = { &out[0], &err[0] };

        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
                return -errno;
        if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        a.fd[0] = in[0];
        a.fd[1] = out[1];
        a.fd[2] = err[1];
        /* glibc's clone() puts the pidfd where parent_tid would go. */
        if (clone(floor_child, f->stack + f->stack_size,
                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &pidfd) < 0)
                return -errno;
        close(in[0]);
        close(out[1]);
        close(err[1]);
        ev.events = EPOLLIN;
        ev.data.u32 = 2;
        epoll_ctl(f->ep, EPOLL_CTL_ADD, pidfd, &ev);
        for (int i = 0; i < 2; i++) {
                ev.data.u32 = (uint32_t)i;
                epoll_ctl(f->ep, EPOLL_CTL_ADD, *streams[i], &ev);
        }
        while (!exited) {
                int n = epoll_wait(f->ep, evs, 8, 10000);
                if (n <= 0 && !(n < 0 && errno == EINTR))
                        return n < 0 ? -errno : -ETIMEDOUT;
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.u32 == 2)
                                exited = true;
                        else if (*streams[evs[i].data.u32] >= 0)
                                floor_read(f, streams[evs[i].data.u32], false);
                }
        }
        /* What the child wrote before it exited comes before its exit. */
        for (int i = 0; i < 2; i++)
                if (*streams[i] >= 0)
                        floor_read(f, streams[i], true);
        if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
                return -errno;
        epoll_ctl(f->ep, EPOLL_CTL_DEL, pidfd, NULL);
        close(pidfd);
        close(in[1]);
        return si.si_code == CLD_EXITED && si.si_status == 0 ? 0 : -EPROTO;
}

/* ---- the contenders ---------------------------------------------------- */

/* pidvisor on each backend (indexed as enum pv_backend less one), then the
 * floor. */
enum { K_EPOLL, K_URING, K_FLOOR, K_MAX };

static const char *const kind_name[K_MAX] = { "epoll", "io_uring", "raw floor" };
static const int kind_backend[2] = { PV_BACKEND_EPOLL, PV_BACKEND_URING };

struct contenders {
        pv_loop *l[2];          /* per backend; NULL: not here (err[] says why) */
        int err[2];
        struct floor f;
        int kind[K_MAX];        /* the kinds that run, in K_ order */
        int n;
};

/* A loop per backend and the floor.  0, or -errno when epoll or the floor
 * cannot be had (io_uring missing is no error: it is left out). */
static int contenders_init(struct contenders *c)
{
        memset(c, 0, sizeof(*c));
        for (int b = 0; b < 2; b++) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                lo.backend = kind_backend[b];
                c->err[b] = pv_loop_new(&c->l[b], &lo);
                if (c->err[b] < 0)
                        c->l[b] = NULL;
                else
                        c->kind[c->n++] = b;
        }
        if (!c->l[K_EPOLL])
                return c->err[K_EPOLL];
        if (floor_init(&c->f) < 0)
                return -ENOMEM;
        c->kind[c->n++] = K_FLOOR;
        return 0;
}

static void contenders_done(struct contenders *c)
{
        floor_done(&c->f);
        for (int b = 0; b < 2; b++)
                pv_loop_free(c->l[b]);
}

/* Run n cycles of one kind; 0 or the first error. */
static int run_cycles(struct contenders *c, int kind, long n)
{
        for (long i = 0; i < n; i++) {
                int r = kind == K_FLOOR ? floor_cycle(&c->f) : pidvisor_cycle(c->l[kind], true);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- part 1a: time, interleaved ---------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double median_of(double *v, long n)
{
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        return v[n / 2];
}

#define ROUNDS_MAX 1000

static int time_floor(struct contenders *c, long cycles)
{
        /* Per round: epoll/floor, io_uring/floor, io_uring/epoll. */
        static double ratio[3][ROUNDS_MAX];
        /* Short batches: the kinds of a round see the same machine. */
        long batch = cycles >= 20 ? 10 : 1;
        long rounds = cycles / batch;
        double total[K_MAX] = { 0 }, mean[K_MAX];
        bool uring = c->l[K_URING] != NULL;
        int r;

        if (rounds > ROUNDS_MAX) {
                rounds = ROUNDS_MAX;
                batch = cycles / rounds;
        }
        /* Warm every path. */
        for (int k = 0; k < c->n; k++)
                if ((r = run_cycles(c, c->kind[k], 10)) < 0)
                        return r;
        for (long i = 0; i < rounds; i++) {
                double t[K_MAX];
                for (int k = 0; k < c->n; k++) {
                        int kind = c->kind[(k + i) % c->n];
                        double t0 = wall_us();
                        r = run_cycles(c, kind, batch);
                        if (r < 0) {
                                fprintf(stderr, "%s: %s\n", kind_name[kind], strerror(-r));
                                return r;
                        }
                        t[kind] = wall_us() - t0;
                        total[kind] += t[kind];
                }
                ratio[0][i] = t[K_EPOLL] / t[K_FLOOR];
                if (uring) {
                        ratio[1][i] = t[K_URING] / t[K_FLOOR];
                        ratio[2][i] = t[K_URING] / t[K_EPOLL];
                }
        }
        for (int k = 0; k < K_MAX; k++)
                mean[k] = total[k] / (double)(rounds * batch);
        printf("spawn + reap of /bin/true, three pipes, %s: pidvisor on epoll and on io_uring "
               "against the raw floor\n", pv_mech_name(pv_loop_mech(c->l[K_EPOLL])));
        if (!uring)
                printf("  io_uring: not here (%s); epoll only\n", strerror(-c->err[K_URING]));
        printf("  time, %ld cycles each, alternating in batches of %ld "
               "(ratios: of the means, median of %ld rounds):\n", rounds * batch, batch, rounds);
        printf("    raw floor  %8.1f us/cycle\n", mean[K_FLOOR]);
        printf("    epoll      %8.1f us/cycle   /floor %.3f, %.3f\n", mean[K_EPOLL],
               mean[K_EPOLL] / mean[K_FLOOR], median_of(ratio[0], rounds));
        if (uring)
                printf("    io_uring   %8.1f us/cycle   /floor %.3f, %.3f   /epoll %.3f, %.3f\n",
                       mean[K_URING], mean[K_URING] / mean[K_FLOOR], median_of(ratio[1], rounds),
                       mean[K_URING] / mean[K_EPOLL], median_of(ratio[2], rounds));
        return 0;
}

/* ---- part 1b: system calls, counted ------------------------------------ */

struct counts {
        struct sc_tally tally[K_MAX];   /* per kind */
        long cycles[K_MAX];
        int err;                        /* 0, or why nothing was counted */
        bool done;
};

static struct counts *cnt;              /* shared with the parent process */

/* In a forked process: count, write *cnt, exit.  The loops are this
 * process's own (a loop does not cross a fork). */
static void count_in_child(long cycles, bool uring)
{
        struct contenders c;
        long batch = cycles >= 20 ? 10 : 1;
        int r;

        r = contenders_init(&c);
        if (r < 0 || (uring && !c.l[K_URING])) {
                cnt->err = r < 0 ? r : c.err[K_URING];
                _exit(1);
        }
        /* Warm every path before counting. */
        for (int k = 0; k < c.n; k++) {
                if ((r = run_cycles(&c, c.kind[k], 5)) < 0) {
                        cnt->err = r;
                        _exit(1);
                }
        }
        r = sc_start();
        if (r < 0) {
                cnt->err = r;
                _exit(1);
        }
        for (long done = 0; done < cycles; done += batch) {
                for (int k = 0; k < c.n; k++) {
                        int kind = c.kind[(k + done / batch) % c.n];
                        atomic_store(&sc_into, &cnt->tally[kind]);
                        r = run_cycles(&c, kind, batch);
                        atomic_store(&sc_into, NULL);
                        if (r < 0) {
                                cnt->err = r;
                                _exit(1);
                        }
                        cnt->cycles[kind] += batch;
                }
        }
        cnt->done = true;
        _exit(0);
}

static void print_breakdown(const char *what, bool child, const long cycles[K_MAX])
{
        printf("    %s, per cycle:\n", what);
        printf("      %-22s %9s %9s %10s\n", "", "epoll", "io_uring", "raw floor");
        for (int i = 0; i < SC_NSYS; i++) {
                const unsigned long *v[K_MAX];
                for (int k = 0; k < K_MAX; k++)
                        v[k] = child ? cnt->tally[k].child : cnt->tally[k].parent;
                if (!v[K_EPOLL][i] && !v[K_URING][i] && !v[K_FLOOR][i])
                        continue;
                char other[32];
                snprintf(other, sizeof(other), "syscall %d", i);
                printf("      %-22s", sc_name(i) ? sc_name(i) : other);
                for (int k = 0; k < K_MAX; k++)
                        printf(k == K_FLOOR ? " %10.2f" : " %9.2f",
                               cycles[k] ? (double)v[k][i] / (double)cycles[k] : 0.0);
                printf("\n");
        }
}

/* What the counting found, per cycle. */
struct verdict {
        bool counted;
        bool uring;             /* io_uring was counted too */
        double all[K_MAX], job[K_MAX];
};

static void print_row(const char *what, const struct verdict *v, const double *x,
                      const char *note)
{
        printf("    %-22s %9.2f", what, x[K_EPOLL]);
        if (v->uring)
                printf(" %9.2f", x[K_URING]);
        else
                printf(" %9s", "-");
        printf(" %10.2f%s%s\n", x[K_FLOOR], *note ? "  " : "", note);
}

static struct verdict count_floor(long cycles, bool uring, bool verbose)
{
        struct verdict v = { .uring = uring };
        double waits[K_MAX], child[K_MAX];
        struct pollfd p;
        int st;
        pid_t pid;

        cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (cnt == MAP_FAILED)
                return v;
        memset(cnt, 0, sizeof(*cnt));
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                goto out;
        if (pid == 0)
                count_in_child(cycles, uring);
        /* Bounded: a counting child that hangs is killed. */
        p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
        p.events = POLLIN;
        if (p.fd < 0 || poll(&p, 1, 120000) != 1)
                kill(pid, SIGKILL);
        if (p.fd >= 0)
                close(p.fd);
        waitpid(pid, &st, 0);
        printf("  system calls per cycle, counted over %ld cycles each "
               "(seccomp user notification):\n", cycles);
        if (!cnt->done) {
                printf("    not counted here: %s\n",
                       cnt->err ? strerror(-cnt->err) : "the counting process died");
                goto out;
        }
        for (int k = 0; k < K_MAX; k++) {
                long n = cnt->cycles[k] ? cnt->cycles[k] : 1;
                v.all[k] = sc_per_cycle(cnt->tally[k].parent, n, SC_ALL);
                v.job[k] = sc_per_cycle(cnt->tally[k].parent, n, SC_JOB);
                waits[k] = sc_per_cycle(cnt->tally[k].parent, n, SC_WAITS);
                child[k] = sc_per_cycle(cnt->tally[k].child, n, SC_ALL);
        }
        v.counted = true;
        printf("    %-22s %9s %9s %10s\n", "", "epoll", "io_uring", "raw floor");
        print_row("parent, all", &v, v.all, "");
        print_row("parent, the job's", &v, v.job, "(all but the waits and mmap, brk...)");
        print_row("parent, the waits", &v, waits,
                  "(epoll_wait; io_uring_enter with GETEVENTS)");
        print_row("child before execve", &v, child, "");
        if (uring)
                printf("    io_uring/epoll: all %.3f, the job's %.3f\n",
                       v.all[K_URING] / v.all[K_EPOLL], v.job[K_URING] / v.job[K_EPOLL]);
        if (verbose) {
                print_breakdown("parent", false, cnt->cycles);
                print_breakdown("child before execve", true, cnt->cycles);
        }
out:
        munmap(cnt, sizeof(*cnt));
        return v;
}

/* ---- part 2: many children alive at once ------------------------------- */

static const char *argv_cat[] = { "/bin/cat", NULL };

struct alive {
        long exited;            /* exit callbacks */
        long bad;               /* of which not a clean exit 0 */
};

static void alive_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct alive *a = ud;

        (void)c;
        a->exited++;
        if (e->kind != PV_EXIT_EXITED || e->code != 0)
                a->bad++;
}

/* One round on one loop: n children alive, then all exit.  The parent's
 * CPU microseconds per child, spawning and exiting.  0, or -errno (the
 * children spawned so far are reaped all the same). */
static int alive_round(pv_loop *l, long n, double *spawn_us, double *exit_us)
{
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        struct alive a = { 0 };
        double c0, c1, c2;
        long spawned = 0;
        int p[2], r = 0;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        o.argv = argv_cat;
        o.stdio[0].mode = PV_STDIO_FD;
        o.stdio[0].fd = p[0];
        o.stdio[1].mode = PV_STDIO_PIPE;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.on_exit = alive_exit;
        o.userdata = &a;
        c0 = cpu_us();
        for (; spawned < n && r >= 0; spawned++)
                r = pv_spawn(l, &o, NULL, NULL);
        if (r < 0)
                spawned--;
        else
                /* io_uring: what was queued reaches the kernel now, not in
                 * the first wait of the exit phase. */
                r = pv_loop_dispatch(l, 0);
        c1 = cpu_us();
        close(p[0]);
        /* Every child reads EOF at once. */
        close(p[1]);
        c2 = cpu_us();
        if (pv_loop_run(l) < 0 && r >= 0)
                r = -EIO;
        *spawn_us = (c1 - c0) / (double)n;
        *exit_us = (cpu_us() - c2) / (double)n;
        if (r >= 0 && (a.exited != spawned || a.bad))
                r = -EPROTO;
        return r < 0 ? r : 0;
}

/* Room for n children of three fds each, raising the soft limit to the
 * hard one if need be; how many fit. */
static long alive_room(long n)
{
        struct rlimit rl;
        rlim_t need = (rlim_t)n * 3 + 64;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return n;
        if (rl.rlim_cur < need) {
                rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
                (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        return rl.rlim_cur >= need ? n : (long)(rl.rlim_cur - 64) / 3;
}

#define ALIVE_ROUNDS_MAX 64

static int alive_part(struct contenders *c, long n, long rounds)
{
        static double sp[2][ALIVE_ROUNDS_MAX], ex[2][ALIVE_ROUNDS_MAX];
        int nb = c->l[K_URING] ? 2 : 1;
        long want = n;

        n = alive_room(n);
        printf("%ld children alive at once (/bin/cat on one shared stdin, stdout and stderr "
               "piped), then all exit:\n", n);
        if (n < want)
                printf("  (not %ld: RLIMIT_NOFILE)\n", want);
        if (n < 1)
                return 1;
        for (long i = 0; i < rounds; i++) {
                for (int k = 0; k < nb; k++) {
                        int b = (int)((k + i) % nb);
                        int r = alive_round(c->l[b], n, &sp[b][i], &ex[b][i]);
                        if (r < 0) {
                                fprintf(stderr, "%s, %ld alive: %s\n", kind_name[b], n,
                                        strerror(-r));
                                return 1;
                        }
                }
        }
        printf("  parent CPU (user + system) per child, median of %ld rounds:\n", rounds);
        printf("    %-10s %12s %14s\n", "", "spawn", "exit + reap");
        for (int b = 0; b < nb; b++)
                printf("    %-10s %9.1f us %11.1f us\n", kind_name[b], median_of(sp[b], rounds),
                       median_of(ex[b], rounds));
        if (nb == 2)
                printf("    io_uring/epoll: spawn %.3f, exit + reap %.3f\n",
                       median_of(sp[K_URING], rounds) / median_of(sp[K_EPOLL], rounds),
                       median_of(ex[K_URING], rounds) / median_of(ex[K_EPOLL], rounds));
        return 0;
}

/* ---- part 3: the parent's size ----------------------------------------- */

static double run_pidvisor(pv_loop *l, long cycles, int *bad)
{
        double t0 = wall_us();

        for (long i = 0; i < cycles; i++)
                if (pidvisor_cycle(l, false) < 0)
                        *bad = 1;
        return (wall_us() - t0) / (double)cycles;
}

static double run_fork(long cycles, int *bad)
{
        double t0 = wall_us();

        for (long i = 0; i < cycles; i++) {
                int st;
                pid_t pid = fork();

                if (pid == 0) {
                        execve(argv_true[0], (char *const *)argv_true, environ);
                        _exit(127);
                }
                if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
                    WEXITSTATUS(st) != 0)
                        *bad = 1;
        }
        return (wall_us() - t0) / (double)cycles;
}

static int mem_part(pv_loop *l, long mb, long cycles, bool thp)
{
        double pv_small, pv_big, fork_small, fork_big;
        int bad = 0;

        /* Warm both paths, then measure small, grow, measure big. */
        run_pidvisor(l, 10, &bad);
        run_fork(10, &bad);
        pv_small = run_pidvisor(l, cycles, &bad);
        fork_small = run_fork(cycles, &bad);

        size_t size = (size_t)mb << 20;
        char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
                return 1;
        /* The kernel's THP mode may be "madvise": ask either way. */
        madvise(mem, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        memset(mem, 1, size);   /* resident, with page tables to copy */

        fork_big = run_fork(cycles, &bad);
        pv_big = run_pidvisor(l, cycles, &bad);
        printf("spawn + reap of /bin/true, mean of %ld cycles (%s, %s; parent memory in %s "
               "pages)\n", cycles, pv_mech_name(pv_loop_mech(l)),
               pv_backend_name(pv_loop_backend(l)), thp ? "huge" : "4 KiB");
        printf("  parent RSS        small      +%ld MiB    ratio big/small\n", mb);
        printf("  pidvisor       %8.1f us  %8.1f us   %6.2f\n", pv_small, pv_big, pv_big / pv_small);
        printf("  fork+execve    %8.1f us  %8.1f us   %6.2f\n", fork_small, fork_big,
               fork_big / fork_small);
        printf("  with +%ld MiB, pidvisor spawns in %.2f of fork's time\n", mb, pv_big / fork_big);
        munmap(mem, size);
        return bad;
}

int main(int argc, char **argv)
{
        long mb = 1024, cycles = 200, floor_cycles = 2000, count_cycles = 200;
        long alive = 1000, alive_rounds = 5;
        bool thp = false, check = false, mem = true, verbose = false, usage = false;
        struct contenders c;
        struct verdict v;
        int bad = 0, r;

        for (int i = 1; i < argc; i++) {
                bool more = i + 1 < argc;
                if (!strcmp(argv[i], "--thp"))
                        thp = true;
                else if (!strcmp(argv[i], "--check"))
                        check = true;
                else if (!strcmp(argv[i], "--no-mem"))
                        mem = false;
                else if (!strcmp(argv[i], "--verbose"))
                        verbose = true;
                else if (!strcmp(argv[i], "--mb") && more)
                        mb = atol(argv[++i]);
                else if (!strcmp(argv[i], "--cycles") && more)
                        cycles = atol(argv[++i]);
                else if (!strcmp(argv[i], "--floor-cycles") && more)
                        floor_cycles = atol(argv[++i]);
                else if (!strcmp(argv[i], "--count-cycles") && more)
                        count_cycles = atol(argv[++i]);
                else if (!strcmp(argv[i], "--alive") && more)
                        alive = atol(argv[++i]);
                else if (!strcmp(argv[i], "--alive-rounds") && more)
                        alive_rounds = atol(argv[++i]);
                else
                        usage = true;
        }
        if (usage || mb < 1 || cycles < 1 || floor_cycles < 1 || count_cycles < 1 ||
            alive < 0 || alive_rounds < 1 || alive_rounds > ALIVE_ROUNDS_MAX) {
                fprintf(stderr, "usage: bench-spawn [--mb N] [--cycles N] [--thp] "
                                "[--floor-cycles N] [--count-cycles N] [--alive N] "
                                "[--alive-rounds 1..64] [--check] [--no-mem] [--verbose]\n"
                                "  --alive 0 skips the children alive at once\n");
                return 2;
        }
        r = contenders_init(&c);
        if (r < 0) {
                fprintf(stderr, "bench-spawn: %s\n", strerror(-r));
                return 1;
        }
        if (time_floor(&c, floor_cycles) < 0)
                bad = 1;
        v = count_floor(count_cycles, c.l[K_URING] != NULL, verbose);
        if (check && v.counted && v.job[K_EPOLL] > v.job[K_FLOOR]) {
                printf("  FAIL: on epoll, pidvisor's parent makes more of the job's system "
                       "calls per cycle than the floor's\n");
                bad = 1;
        }
        if (check && v.counted && v.uring && v.job[K_URING] > v.job[K_FLOOR]) {
                printf("  FAIL: on io_uring, pidvisor's parent makes more of the job's system "
                       "calls per cycle than the floor's\n");
                bad = 1;
        }
        if (check && v.counted && v.uring && v.all[K_URING] >= v.all[K_EPOLL]) {
                printf("  FAIL: on io_uring, pidvisor's parent makes no fewer system calls "
                       "per cycle (waits included) than on epoll\n");
                bad = 1;
        }
        if (alive && alive_part(&c, alive, alive_rounds))
                bad = 1;
        if (mem && mem_part(c.l[K_EPOLL], mb, cycles, thp))
                bad = 1;
        contenders_done(&c);
        return bad;
}
