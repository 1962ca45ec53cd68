/* SPDX-License-Identifier: MIT */
/*
 * Spawn cost, in two parts.
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
 *    Time: both run in this process, alternating in batches (the order
 *    flipping every round), so the machine's mood hits both alike; mean
 *    microseconds per cycle, the ratio of the means and the median of the
 *    per-round ratios.
 *    System calls: counted in a forked process (the counting cannot be
 *    undone), again alternating, by a seccomp user-notification listener
 *    (Linux 5.5): a filter on the main thread only sends every system call
 *    of it and of its children to a thread of ours that counts it and lets
 *    it continue.  No ptrace, no tracefs.  Per cycle: the parent's calls,
 *    all of them and the job's (not epoll_wait, whose count depends on how
 *    the child's exit and our wake-ups interleave, nor the allocator's),
 *    and the child's calls before its execve.  The counting slows every
 *    call down, so it is never timed.
 *
 * 2. Against the parent's size: spawn + reap /bin/true CYCLES times with
 *    pidvisor (stdio inherited), and with fork() + execve() + waitpid(),
 *    first with a small parent, then after the parent has touched MB
 *    megabytes of memory, alternating; mean microseconds per cycle.
 *    pidvisor spawns with a vfork-style clone (no page tables copied), so
 *    its cost should stay flat; fork copies the page tables, so its cost
 *    grows.  The memory is mapped with 4 KiB pages (MADV_NOHUGEPAGE), as a
 *    long-lived service's fragmented heap mostly is: with transparent huge
 *    pages a big region has few page-table entries and fork stays cheap;
 *    --thp measures that case instead.
 *
 * Times are reported, never asserted.  Exit status: 1 if a spawn failed;
 * with --check also 1 if pidvisor's parent makes more system calls per
 * cycle than the floor's, counting only the job's: not epoll_wait (how many
 * wake-ups the exit takes is timing) nor the allocator's mmap, brk and
 * the like; those counts do not depend on timing.  Where nothing can be
 * counted (no seccomp user notification), that is said and not judged.
 *
 *   bench-spawn [--mb N] [--cycles N] [--thp] [--floor-cycles N]
 *               [--count-cycles N] [--check] [--no-mem]
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pidvisor.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif

extern char **environ;

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

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

/* Run n cycles of one kind; 0 or the first error. */
static int run_cycles(int kind, pv_loop *l, struct floor *f, long n)
{
        for (long i = 0; i < n; i++) {
                int r = kind == 0 ? pidvisor_cycle(l, true) : floor_cycle(f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const char *const kind_name[2] = { "pidvisor", "raw floor" };

/* ---- part 1a: time, interleaved ---------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

#define ROUNDS_MAX 1000

static int time_floor(pv_loop *l, struct floor *f, long cycles)
{
        static double ratio[ROUNDS_MAX];
        /* Short batches: the pair of a round sees the same machine. */
        long batch = cycles >= 20 ? 10 : 1;
        long rounds = cycles / batch;
        double total[2] = { 0, 0 };
        int r;

        if (rounds > ROUNDS_MAX) {
                rounds = ROUNDS_MAX;
                batch = cycles / rounds;
        }
        /* Warm both paths. */
        if ((r = run_cycles(0, l, f, 10)) < 0 || (r = run_cycles(1, l, f, 10)) < 0)
                return r;
        for (long i = 0; i < rounds; i++) {
                double t[2];
                for (int k = 0; k < 2; k++) {
                        int kind = (int)((k + i) % 2);
                        double t0 = now_us();
                        r = run_cycles(kind, l, f, batch);
                        if (r < 0) {
                                fprintf(stderr, "%s: %s\n", kind_name[kind], strerror(-r));
                                return r;
                        }
                        t[kind] = now_us() - t0;
                        total[kind] += t[kind];
                }
                ratio[i] = t[0] / t[1];
        }
        qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
        double pv = total[0] / (double)(rounds * batch), fl = total[1] / (double)(rounds * batch);
        printf("spawn + reap of /bin/true, three pipes, %s: pidvisor against the raw floor\n",
               pv_mech_name(pv_loop_mech(l)));
        printf("  time, %ld cycles each, alternating in batches of %ld:\n", rounds * batch, batch);
        printf("    pidvisor   %8.1f us/cycle\n", pv);
        printf("    raw floor  %8.1f us/cycle\n", fl);
        printf("    ratio pidvisor/floor %.3f (of the means), %.3f (median of %ld rounds)\n",
               pv / fl, ratio[rounds / 2], rounds);
        return 0;
}

/* ---- part 1b: system calls, counted ------------------------------------ */

#define NSYS 512

struct counts {
        unsigned long parent[2][NSYS];  /* per kind, per syscall number */
        unsigned long child[2][NSYS];   /* the children's, before execve */
        long cycles[2];
        int err;                        /* 0, or why nothing was counted */
        bool done;
};

static struct counts *cnt;              /* shared with the parent process */
static atomic_int phase = -1;           /* kind being counted, or -1 */
static atomic_int listener = -1;
static pid_t main_tid;

/* The counting thread: not under the filter (made before it). */
static void *count_thread(void *unused)
{
        pid_t child = 0;
        bool child_execd = false;
        int fd;

        (void)unused;
        while ((fd = atomic_load(&listener)) < 0)
                sched_yield();
        for (;;) {
                struct seccomp_notif req;
                struct seccomp_notif_resp resp;

                memset(&req, 0, sizeof(req));
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                        if (errno == EINTR || errno == ENOENT)
                                continue;
                        return NULL;
                }
                int ph = atomic_load(&phase);
                unsigned nr = req.data.nr >= 0 && req.data.nr < NSYS ? (unsigned)req.data.nr
                                                                      : NSYS - 1;
                if (ph >= 0 && (pid_t)req.pid == main_tid) {
                        cnt->parent[ph][nr]++;
                } else if (ph >= 0) {
                        /* Children come one at a time; count each until
                         * it execs (the exec'd program is not ours). */
                        if ((pid_t)req.pid != child) {
                                child = (pid_t)req.pid;
                                child_execd = false;
                        }
                        if (nr == SYS_execve || nr == SYS_execveat)
                                child_execd = true;
                        else if (!child_execd)
                                cnt->child[ph][nr]++;
                }
                memset(&resp, 0, sizeof(resp));
                resp.id = req.id;
                resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                /* ENOENT: the caller was killed meanwhile. */
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
                        return NULL;
        }
}

/* In a forked process: count, write *cnt, exit. */
static void count_in_child(long cycles)
{
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        };
        struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
        struct floor f;
        pthread_t t;
        pv_loop *l;
        long batch = cycles >= 20 ? 10 : 1;
        int r, fd;

        main_tid = (pid_t)syscall(SYS_gettid);
        r = pv_loop_new(&l, NULL);
        if (r < 0 || floor_init(&f) < 0) {
                cnt->err = r < 0 ? r : -ENOMEM;
                _exit(1);
        }
        /* Warm both paths before counting. */
        if ((r = run_cycles(0, l, &f, 5)) < 0 || (r = run_cycles(1, l, &f, 5)) < 0) {
                cnt->err = r;
                _exit(1);
        }
        r = pthread_create(&t, NULL, count_thread, NULL);
        if (r != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                cnt->err = r ? -r : -errno;
                _exit(1);
        }
        fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                          SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0) {
                cnt->err = -errno;
                _exit(1);
        }
        atomic_store(&listener, fd);
        for (long done = 0; done < cycles; done += batch) {
                for (int k = 0; k < 2; k++) {
                        int kind = (int)((k + done / batch) % 2);
                        atomic_store(&phase, kind);
                        r = run_cycles(kind, l, &f, batch);
                        atomic_store(&phase, -1);
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

#define N(x) [SYS_##x] = #x
static const char *const sys_name[NSYS] = {
        N(read), N(write), N(close), N(poll), N(mmap), N(mprotect), N(munmap),
        N(rt_sigaction), N(rt_sigprocmask), N(ioctl), N(dup2), N(getpid), N(clone),
        N(fcntl), N(getppid), N(epoll_wait), N(epoll_ctl), N(waitid), N(openat),
        N(epoll_pwait), N(dup3), N(pipe2), N(pidfd_open), N(clone3), N(close_range),
        N(rt_sigtimedwait), N(rt_sigpending), N(futex), N(timerfd_settime),
        N(pidfd_send_signal), N(setsid), N(setpgid), N(prctl), N(chdir),
        N(getrlimit), N(getdents64), N(wait4), N(gettid), N(clock_gettime),
        N(madvise), N(sched_yield),
};
#undef N

/* Calls whose number depends on timing (how many wake-ups the child's
 * exit takes) or on the allocator's mood (when malloc asks the kernel for
 * memory: under a sanitizer, often), not on the job. */
static bool not_the_job(int nr)
{
        return nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_mmap ||
               nr == SYS_munmap || nr == SYS_brk || nr == SYS_mremap || nr == SYS_madvise;
}

static double per_cycle(const unsigned long *v, long cycles, bool job_only)
{
        unsigned long sum = 0;
        for (int i = 0; i < NSYS; i++)
                if (!job_only || !not_the_job(i))
                        sum += v[i];
        return (double)sum / (double)cycles;
}

static void print_breakdown(const char *what, unsigned long v[2][NSYS], const long cycles[2])
{
        printf("    %s, per cycle:        pidvisor  raw floor\n", what);
        for (int i = 0; i < NSYS; i++) {
                if (!v[0][i] && !v[1][i])
                        continue;
                char other[32];
                snprintf(other, sizeof(other), "syscall %d", i);
                printf("      %-22s %9.2f %10.2f\n", sys_name[i] ? sys_name[i] : other,
                       (double)v[0][i] / (double)cycles[0], (double)v[1][i] / (double)cycles[1]);
        }
}

/* Returns 1 when the counts show pidvisor above the floor, 0 when not, -1
 * when they could not be counted. */
static int count_floor(long cycles, bool verbose)
{
        struct pollfd p;
        int st, r = -1;
        pid_t pid;

        cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (cnt == MAP_FAILED)
                return -1;
        memset(cnt, 0, sizeof(*cnt));
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                goto out;
        if (pid == 0)
                count_in_child(cycles);
        /* Bounded: a counting child that hangs is killed. */
        p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
        p.events = POLLIN;
        if (p.fd < 0 || poll(&p, 1, 120000) != 1)
                kill(pid, SIGKILL);
        if (p.fd >= 0)
                close(p.fd);
        waitpid(pid, &st, 0);
        printf("  system calls, counted over %ld cycles each (seccomp user notification):\n",
               cycles);
        if (!cnt->done) {
                printf("    not counted here: %s\n",
                       cnt->err ? strerror(-cnt->err) : "the counting process died");
                goto out;
        }
        double pv = per_cycle(cnt->parent[0], cnt->cycles[0], false);
        double fl = per_cycle(cnt->parent[1], cnt->cycles[1], false);
        double pvx = per_cycle(cnt->parent[0], cnt->cycles[0], true);
        double flx = per_cycle(cnt->parent[1], cnt->cycles[1], true);
        printf("    parent, per cycle:          pidvisor %6.2f  raw floor %6.2f  (ratio %.3f)\n",
               pv, fl, pv / fl);
        printf("    parent, the job's calls:    pidvisor %6.2f  raw floor %6.2f  "
               "(no epoll_wait, mmap, brk...)\n", pvx, flx);
        printf("    child before execve:        pidvisor %6.2f  raw floor %6.2f\n",
               per_cycle(cnt->child[0], cnt->cycles[0], false),
               per_cycle(cnt->child[1], cnt->cycles[1], false));
        if (verbose) {
                print_breakdown("parent", cnt->parent, cnt->cycles);
                print_breakdown("child before execve", cnt->child, cnt->cycles);
        }
        r = pvx > flx;
out:
        munmap(cnt, sizeof(*cnt));
        return r;
}

/* ---- part 2: the parent's size ----------------------------------------- */

static double run_pidvisor(pv_loop *l, long cycles, int *bad)
{
        double t0 = now_us();

        for (long i = 0; i < cycles; i++)
                if (pidvisor_cycle(l, false) < 0)
                        *bad = 1;
        return (now_us() - t0) / (double)cycles;
}

static double run_fork(long cycles, int *bad)
{
        double t0 = now_us();

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
        return (now_us() - t0) / (double)cycles;
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
        printf("spawn + reap of /bin/true, mean of %ld cycles (%s; parent memory in %s pages)\n",
               cycles, pv_mech_name(pv_loop_mech(l)), thp ? "huge" : "4 KiB");
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
        bool thp = false, check = false, mem = true, verbose = false, usage = false;
        struct floor f;
        pv_loop *l;
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
                else
                        usage = true;
        }
        if (usage || mb < 1 || cycles < 1 || floor_cycles < 1 || count_cycles < 1) {
                fprintf(stderr, "usage: bench-spawn [--mb N] [--cycles N] [--thp] "
                                "[--floor-cycles N] [--count-cycles N] [--check] "
                                "[--no-mem] [--verbose]\n");
                return 2;
        }
        if (pv_loop_new(&l, NULL) < 0 || floor_init(&f) < 0)
                return 1;
        if (time_floor(l, &f, floor_cycles) < 0)
                bad = 1;
        r = count_floor(count_cycles, verbose);
        if (r > 0 && check) {
                printf("  FAIL: pidvisor's parent makes more system calls per cycle than "
                       "the floor's (the job's calls)\n");
                bad = 1;
        }
        floor_done(&f);
        if (mem && mem_part(l, mb, cycles, thp))
                bad = 1;
        pv_loop_free(l);
        return bad;
}
