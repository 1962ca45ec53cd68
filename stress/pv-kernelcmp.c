/* SPDX-License-Identifier: MIT */
/*
 * pv-kernelcmp: the same scenarios over every spawn rung and event backend
 * of pidvisor, and over two classic ways of doing without it, on the
 * running kernel; one Markdown table (stress/KERNELS.md keeps one a kernel).
 *
 * Rows: each rung (clone3, clone, vfork) on each backend (epoll, io_uring),
 * forced through struct pv_loop_opts and driven through the public API
 * only; a pair the kernel, a sandbox or the build lacks is a row of "n/a"
 * with pv_loop_new()'s -errno.  Then two baselines written here:
 * posix_spawn + waitpid (its waits bounded by a SIGALRM interval timer, as
 * such programs bound them), and fork + execve with SIGCHLD blocked and
 * read from a signalfd, reaped with waitpid.
 *
 * Columns, one per scenario:
 *   exit        spawn /bin/true, its exit status 0;
 *   stop        spawn /bin/sleep with a stdin pipe; stop it: close stdin,
 *               SIGTERM; its status: killed by SIGTERM, not escalated;
 *   escalate    a child that ignores SIGTERM (and says so on stdout);
 *               grace 20 ms; it must end by SIGKILL;
 *   stolen      a second waiter of the host takes the child's status with
 *               waitid(P_ALL) before the row's own wait: pass is the exact
 *               status (exit 7) recovered, which pidvisor does with
 *               PIDFD_GET_INFO where the kernel has PIDFD_INFO_EXIT; else
 *               "lost", said without a hang (a pass for pidvisor only on a
 *               kernel without it);
 *   concurrent  N children (/bin/cat on one shared stdin) alive at once,
 *               then all exit and all are reaped: per child;
 *   fd leak     the parent holds two fds without close-on-exec; the child
 *               (this program, run again as "--child fds") lists its
 *               /proc/self/fd and must see 0-2 only.
 *
 * A cell is: pass, lost, FAIL (why) or timeout; microseconds per cycle
 * (wall clock, mean); and the parent's system calls per cycle.  Each cell
 * runs in a process of its own (its own process group), bounded: a cell
 * still running at its deadline is killed with its group and reads
 * "timeout".  Inside, every wait has a deadline.  The cell's process
 * counts its open fds and children before and after each pass, and the
 * tool its own after each cell: anything left over fails the cell.
 *
 * System calls are counted in a second pass of the same cell, after the
 * timed one (the counting slows every call), by stress/syscount.h: a
 * seccomp user-notification filter on the cell's main thread hands each of
 * its calls to a counting thread before the call runs.  Exact: every
 * kernel entry of that thread is seen once, no sampling; calls taken back
 * are those that never ran.  Counted: the thread that drives the loop or
 * the baseline, and the host's steal in "stolen" (pidfd_open, poll,
 * waitid, close: four calls on every row).  Not counted: the children's
 * calls, and io_uring's work in the kernel (only io_uring_enter is a call).
 * How many waits a cycle takes is timing, so those counts vary a little.
 *
 *   pv-kernelcmp [--cycles N] [--concurrent N] [--quick]
 *
 * Exit status: 0 when every pidvisor row this kernel has passes every
 * scenario; 1 otherwise; 2 for bad usage.  The baselines' failures are the
 * comparison, not errors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pidvisor.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"
#include "syscount.h"

extern char **environ;

#define WAIT_MS 10000           /* one child's wait */
#define BATCH_WAIT_MS 60000     /* the concurrent batch's */
#define GRACE_ESCALATE_MS 20
#define STOLEN_CODE 7

static char self[4096];         /* this program, for the --child verbs */

/* ---- the verbs of the child (this program run again) ------------------ */

/* "fds": print the fds this process holds, "0 1 2" when it holds no more;
 * "ignore-term": ignore SIGTERM, say "ready", wait for SIGKILL (or a
 * minute); "exit N". */
static int child_verb(int argc, char **argv)
{
        if (argc >= 3 && !strcmp(argv[2], "fds")) {
                char out[1024];
                size_t len = 0;
                DIR *d = opendir("/proc/self/fd");
                struct dirent *e;

                if (!d)
                        return 126;
                while ((e = readdir(d)) && len < sizeof(out) - 16) {
                        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
                                continue;
                        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
                                                len ? " " : "", e->d_name);
                }
                closedir(d);
                out[len++] = '\n';
                return write(1, out, len) == (ssize_t)len ? 0 : 126;
        }
        if (argc >= 3 && !strcmp(argv[2], "ignore-term")) {
                struct sigaction ign = { .sa_handler = SIG_IGN };
                if (sigaction(SIGTERM, &ign, NULL) < 0 || write(1, "ready\n", 6) != 6)
                        return 126;
                alarm(60);      /* never outlive a killed tool for long */
                for (;;)
                        pause();
        }
        if (argc >= 4 && !strcmp(argv[2], "exit"))
                return atoi(argv[3]);
        return 126;
}

/* ---- time ------------------------------------------------------------- */

static int ms_left(double deadline_us)
{
        double left = deadline_us - wall_us();
        return left <= 0 ? 0 : (int)(left / 1000) + 1;
}

/* ---- what a row does: pidvisor through its API, or a baseline ---------- */

enum { ROW_PV, ROW_POSIX_SPAWN, ROW_FORK };

struct row {
        char name[64];
        int kind;
        int mech, backend;      /* ROW_PV */
        int na;                 /* -errno: not here */
};

/* What a scenario asks of a spawn. */
struct req {
        const char *const *argv;
        int stdin_fd;           /* the child's stdin; -1: inherit ours */
        bool stdin_pipe;        /* a pipe whose write end we hold (the stop closes it) */
        bool stdout_pipe;       /* a pipe whose read end we hold (a line is read) */
        uint32_t grace_ms;      /* pidvisor's stop; the baselines' the same */
};

struct kid {
        pid_t pid;
        pv_child *c;            /* ROW_PV */
        int in, out;            /* baselines: our pipe ends, or -1 */
        char line[256];         /* the first line of its stdout */
        size_t got;             /* bytes of it so far (baselines) */
        bool have_line;
};

/* How a child ended, in pidvisor's terms for every row. */
struct end {
        int kind;               /* PV_EXIT_*, 0 when no wait said */
        int value;              /* code or signal */
        bool escalated;
        bool recovered;
        int err;                /* the wait's own error (a lost status: ECHILD) */
};

struct ctx {
        const struct row *row;
        pv_loop *l;
        int sfd;                /* ROW_FORK: the signalfd */
        sigset_t mask;          /* ROW_FORK: the mask before SIGCHLD was blocked */
        struct sigaction alrm;  /* ROW_POSIX_SPAWN: SIGALRM's before */
        long exited, bad;       /* ROW_PV, concurrent: exit callbacks */
};

enum { STEP_OK, STEP_TIMEOUT, STEP_ERROR };      /* a step's outcome */

static void pv_line(pv_child *c, int fd, const char *data, size_t len, unsigned flags, void *ud)
{
        struct kid *k = ud;

        (void)c;
        (void)fd;
        if (k->have_line || (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED)))
                return;
        if (len >= sizeof(k->line))
                len = sizeof(k->line) - 1;
        memcpy(k->line, data, len);
        k->line[len] = '\0';
        k->have_line = true;
}

static void pv_count_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct ctx *x = ud;

        (void)c;
        x->exited++;
        x->bad += e->kind != PV_EXIT_EXITED || e->code != 0;
}

static void on_alarm(int sig)
{
        (void)sig;      /* only to interrupt waitpid */
}

static int ctx_open(struct ctx *x, const struct row *r)
{
        memset(x, 0, sizeof(*x));
        x->row = r;
        x->sfd = -1;
        if (r->kind == ROW_PV) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                lo.mech = r->mech;
                lo.backend = r->backend;
                return pv_loop_new(&x->l, &lo);
        }
        if (r->kind == ROW_POSIX_SPAWN) {
                /* No SA_RESTART: the timer's signal ends a waitpid. */
                struct sigaction sa = { .sa_handler = on_alarm };
                return sigaction(SIGALRM, &sa, &x->alrm) < 0 ? -errno : 0;
        }
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &chld, &x->mask) < 0)
                return -errno;
        x->sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        return x->sfd < 0 ? -errno : 0;
}

static void ctx_close(struct ctx *x)
{
        if (x->row->kind == ROW_PV) {
                pv_loop_free(x->l);     /* kills and reaps what is left */
        } else if (x->row->kind == ROW_POSIX_SPAWN) {
                sigaction(SIGALRM, &x->alrm, NULL);
        } else {
                close(x->sfd);
                sigprocmask(SIG_SETMASK, &x->mask, NULL);
        }
}

static int pipe_pair(int p[2])
{
        return pipe2(p, O_CLOEXEC) < 0 ? -errno : 0;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static int spawn_pv(struct ctx *x, struct kid *k, const struct req *q, bool owned)
{
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        int r;

        o.argv = q->argv;
        if (q->stdin_pipe)
                o.stdio[0].mode = PV_STDIO_PIPE;
        else if (q->stdin_fd >= 0) {
                o.stdio[0].mode = PV_STDIO_FD;
                o.stdio[0].fd = q->stdin_fd;
        }
        if (q->stdout_pipe)
                o.stdio[1].mode = PV_STDIO_PIPE;
        o.grace_ms = q->grace_ms;
        o.on_output = pv_line;
        o.userdata = k;
        if (!owned) {
                o.on_exit = pv_count_exit;
                o.on_output = NULL;
                o.userdata = x;
        }
        r = pv_spawn(x->l, &o, owned ? &k->c : NULL, NULL);
        if (r >= 0 && owned)
                k->pid = pv_child_pid(k->c);
        return r;
}

/* The baselines' child, for fork: the parent's mask back, stdio, exec. */
static void fork_child(const struct ctx *x, const struct req *q, int in, int out)
{
        sigprocmask(SIG_SETMASK, &x->mask, NULL);
        if ((in >= 0 && dup2(in, 0) < 0) || (out >= 0 && dup2(out, 1) < 0))
                _exit(127);
        execve(q->argv[0], (char *const *)q->argv, environ);
        _exit(127);
}

static int spawn_baseline(struct ctx *x, struct kid *k, const struct req *q)
{
        int in[2] = { -1, -1 }, out[2] = { -1, -1 }, r = 0;
        int child_in = q->stdin_fd;

        if (q->stdin_pipe && (r = pipe_pair(in)) < 0)
                return r;
        if (q->stdin_pipe)
                child_in = in[0];
        if (q->stdout_pipe && (r = pipe_pair(out)) < 0)
                goto out;
        if (x->row->kind == ROW_POSIX_SPAWN) {
                posix_spawn_file_actions_t fa;
                r = -posix_spawn_file_actions_init(&fa);
                if (r < 0)
                        goto out;
                if (child_in >= 0)
                        r = -posix_spawn_file_actions_adddup2(&fa, child_in, 0);
                if (r == 0 && out[1] >= 0)
                        r = -posix_spawn_file_actions_adddup2(&fa, out[1], 1);
                if (r == 0)
                        r = -posix_spawn(&k->pid, q->argv[0], &fa, NULL,
                                         (char *const *)q->argv, environ);
                posix_spawn_file_actions_destroy(&fa);
        } else {
                k->pid = fork();
                if (k->pid == 0)
                        fork_child(x, q, child_in, out[1]);
                r = k->pid < 0 ? -errno : 0;
        }
out:
        close_fd(&in[0]);
        close_fd(&out[1]);
        if (r < 0) {
                close_fd(&in[1]);
                close_fd(&out[0]);
        } else {
                k->in = in[1];
                k->out = out[0];
        }
        return r;
}

static int spawn_one(struct ctx *x, struct kid *k, const struct req *q)
{
        memset(k, 0, sizeof(*k));
        k->in = k->out = -1;
        return x->row->kind == ROW_PV ? spawn_pv(x, k, q, true) : spawn_baseline(x, k, q);
}

/* The first line of the child's stdout (or its end). */
static int read_line(struct ctx *x, struct kid *k, double deadline)
{
        while (!k->have_line) {
                int r;
                if (x->row->kind == ROW_PV) {
                        if (pv_child_is_reaped(k->c) == 1)
                                return STEP_OK;
                        r = pv_loop_dispatch(x->l, ms_left(deadline));
                        if (r < 0)
                                return STEP_ERROR;
                } else {
                        struct pollfd p = { .fd = k->out, .events = POLLIN };
                        r = poll(&p, 1, ms_left(deadline));
                        if (r < 0 && errno != EINTR)
                                return STEP_ERROR;
                        if (r > 0) {
                                ssize_t n = read(k->out, k->line + k->got,
                                                 sizeof(k->line) - 1 - k->got);
                                if (n < 0 && errno != EINTR)
                                        return STEP_ERROR;
                                if (n == 0)
                                        return STEP_OK;
                                k->got += n > 0 ? (size_t)n : 0;
                                k->line[k->got] = '\0';
                                char *nl = strchr(k->line, '\n');
                                if (nl || k->got == sizeof(k->line) - 1) {
                                        if (nl)
                                                *nl = '\0';
                                        k->have_line = true;
                                }
                        }
                }
                if (!k->have_line && wall_us() >= deadline)
                        return STEP_TIMEOUT;
        }
        return STEP_OK;
}

static void from_wait_status(int st, struct end *e)
{
        if (WIFEXITED(st)) {
                e->kind = PV_EXIT_EXITED;
                e->value = WEXITSTATUS(st);
        } else {
                e->kind = PV_EXIT_KILLED;
                e->value = WTERMSIG(st);
        }
}

/* posix_spawn's wait: waitpid, bounded by an interval timer whose SIGALRM
 * interrupts it.  STEP_OK with e filled (a status another waiter took:
 * PV_EXIT_LOST, err ECHILD), or STEP_TIMEOUT. */
static int wait_alarm(pid_t pid, struct end *e, double deadline)
{
        for (;;) {
                int ms = ms_left(deadline), st;
                struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };
                struct itimerval off = { 0 };
                if (ms == 0)
                        return STEP_TIMEOUT;
                if (setitimer(ITIMER_REAL, &it, NULL) < 0)
                        return STEP_ERROR;
                pid_t r = waitpid(pid, &st, 0);
                int err = errno;
                if (setitimer(ITIMER_REAL, &off, NULL) < 0)
                        return STEP_ERROR;
                if (r == pid) {
                        from_wait_status(st, e);
                        return STEP_OK;
                }
                if (err == ECHILD) {
                        e->kind = PV_EXIT_LOST;
                        e->err = ECHILD;
                        return STEP_OK;
                }
                if (err != EINTR)
                        return STEP_ERROR;
        }
}

/* Empty the signalfd: the SIGCHLDs that came (they coalesce). */
static int drain_signalfd(int sfd)
{
        struct signalfd_siginfo si[16];

        for (;;) {
                ssize_t n = read(sfd, si, sizeof(si));
                if (n < 0)
                        return errno == EAGAIN ? 0 : -errno;
        }
}

/* fork's wait: waitpid(WNOHANG) after each SIGCHLD from the signalfd. */
static int wait_signalfd(struct ctx *x, pid_t pid, struct end *e, double deadline)
{
        for (;;) {
                int st;
                pid_t r = waitpid(pid, &st, WNOHANG);
                if (r == pid) {
                        from_wait_status(st, e);
                        return STEP_OK;
                }
                if (r < 0 && errno == ECHILD) {
                        e->kind = PV_EXIT_LOST;
                        e->err = ECHILD;
                        return STEP_OK;
                }
                if (r < 0)
                        return STEP_ERROR;
                struct pollfd p = { .fd = x->sfd, .events = POLLIN };
                int n = poll(&p, 1, ms_left(deadline));
                if (n < 0 && errno != EINTR)
                        return STEP_ERROR;
                if (n == 0)
                        return STEP_TIMEOUT;
                if (n > 0 && drain_signalfd(x->sfd) < 0)
                        return STEP_ERROR;
        }
}

static int wait_baseline(struct ctx *x, pid_t pid, struct end *e, double deadline)
{
        return x->row->kind == ROW_POSIX_SPAWN ? wait_alarm(pid, e, deadline)
                                               : wait_signalfd(x, pid, e, deadline);
}

/* Wait for the child's end, stopping it first if asked (close stdin,
 * SIGTERM, the grace, SIGKILL).  Whatever happens, the kid is given up:
 * a baseline's child that timed out is killed and reaped here, a
 * pidvisor child by the loop's free. */
static int finish(struct ctx *x, struct kid *k, bool stop, uint32_t grace_ms, struct end *e,
                  double deadline)
{
        int r = STEP_OK;

        memset(e, 0, sizeof(*e));
        if (x->row->kind == ROW_PV) {
                struct pv_exit pe;
                if (stop && pv_child_stop(k->c) < 0)
                        r = STEP_ERROR;
                int w = r == STEP_OK ? pv_child_wait(k->c, ms_left(deadline), &pe) : 0;
                if (w == -ETIMEDOUT)
                        r = STEP_TIMEOUT;
                else if (w < 0)
                        r = STEP_ERROR;
                else if (r == STEP_OK) {
                        e->kind = pe.kind;
                        e->value = pe.kind == PV_EXIT_EXITED ? pe.code : pe.signal;
                        e->escalated = pe.flags & PV_EXIT_F_ESCALATED;
                        e->recovered = pe.flags & PV_EXIT_F_RECOVERED;
                }
                pv_child_release(k->c);
                return r;
        }
        close_fd(&k->out);
        if (stop) {
                close_fd(&k->in);
                if (kill(k->pid, SIGTERM) < 0)
                        r = STEP_ERROR;
                if (r == STEP_OK) {
                        double grace_end = wall_us() + grace_ms * 1000.0;
                        r = wait_baseline(x, k->pid, e, grace_end < deadline ? grace_end
                                                                             : deadline);
                }
                if (r == STEP_TIMEOUT && wall_us() < deadline) {
                        e->escalated = true;
                        r = kill(k->pid, SIGKILL) < 0 ? STEP_ERROR : STEP_OK;
                }
        }
        if (r == STEP_OK && !e->kind)
                r = wait_baseline(x, k->pid, e, deadline);
        close_fd(&k->in);
        if (r != STEP_OK && e->kind != PV_EXIT_LOST) {
                int st;
                kill(k->pid, SIGKILL);
                waitpid(k->pid, &st, 0);        /* SIGKILLed: bounded */
        }
        return r;
}

/* ---- scenarios ---------------------------------------------------------- */

enum { S_EXIT, S_STOP, S_ESCALATE, S_STOLEN, S_CONCURRENT, S_FDS, S_MAX };

enum { V_PASS, V_LOST, V_FAIL, V_TIMEOUT, V_NA };

/* One cycle's verdict, and why when it is not a pass. */
struct verdict {
        int v;
        bool hard;              /* a step failed: no use going on */
        char why[96];
};

static const char *const argv_true[] = { "/bin/true", NULL };
static const char *const argv_sleep[] = { "/bin/sleep", "60", NULL };
static const char *const argv_cat[] = { "/bin/cat", NULL };
static const char *argv_ignterm[] = { self, "--child", "ignore-term", NULL };
static const char *argv_stolen[] = { self, "--child", "exit", "7", NULL };
static const char *argv_fds[] = { self, "--child", "fds", NULL };

static void say(struct verdict *v, int what, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void say(struct verdict *v, int what, const char *fmt, ...)
{
        va_list ap;

        v->v = what;
        va_start(ap, fmt);
        vsnprintf(v->why, sizeof(v->why), fmt, ap);
        va_end(ap);
}

static const char *end_str(const struct end *e, char *buf, size_t len)
{
        if (e->kind == PV_EXIT_EXITED)
                snprintf(buf, len, "exit %d", e->value);
        else if (e->kind == PV_EXIT_KILLED)
                snprintf(buf, len, "%s%s", sigabbrev_np(e->value) ? sigabbrev_np(e->value) : "?",
                         e->escalated ? ", escalated" : "");
        else
                snprintf(buf, len, "lost");
        return buf;
}

/* A step's failure as a verdict: true when there was one. */
static bool step_failed(struct verdict *v, int r, const char *what)
{
        if (r == STEP_OK)
                return false;
        if (r == STEP_TIMEOUT)
                say(v, V_TIMEOUT, "%s", what);
        else
                say(v, V_FAIL, "%s failed", what);
        v->hard = true;
        return true;
}

/* The host's second waiter: once the child has exited, it takes the status
 * with waitid(P_ALL) before the row's own wait can. */
static int steal(pid_t pid, double deadline)
{
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);  /* close-on-exec, always */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        siginfo_t si = { 0 };
        int n;

        if (fd < 0)
                return STEP_ERROR;
        n = poll(&p, 1, ms_left(deadline));
        close(fd);
        if (n == 0)
                return STEP_TIMEOUT;
        if (n < 0 || waitid(P_ALL, 0, &si, WEXITED | WNOHANG | __WALL) < 0 || si.si_pid != pid)
                return STEP_ERROR;
        return STEP_OK;
}

static bool info_exit;          /* the kernel has PIDFD_INFO_EXIT */

/* One cycle of a single-child scenario. */
static void cycle_one(struct ctx *x, int s, struct verdict *v)
{
        struct req q = { .argv = argv_true, .stdin_fd = -1 };
        double deadline = wall_us() + WAIT_MS * 1000.0;
        struct kid k;
        struct end e;
        char b[64];
        int r;

        if (s == S_STOP) {
                q.argv = argv_sleep;
                q.stdin_pipe = true;
                q.grace_ms = 5000;
        } else if (s == S_ESCALATE) {
                q.argv = argv_ignterm;
                q.stdout_pipe = true;
                q.grace_ms = GRACE_ESCALATE_MS;
        } else if (s == S_STOLEN) {
                q.argv = argv_stolen;
        } else if (s == S_FDS) {
                q.argv = argv_fds;
                q.stdout_pipe = true;
        }
        v->v = V_PASS;
        v->hard = false;
        v->why[0] = '\0';
        r = spawn_one(x, &k, &q);
        if (r < 0) {
                say(v, V_FAIL, "spawn: %s", strerrorname_np(-r));
                v->hard = true;
                return;
        }
        if ((s == S_ESCALATE || s == S_FDS) && step_failed(v, read_line(x, &k, deadline),
                                                            "child's line")) {
                finish(x, &k, true, 0, &e, deadline);
                return;
        }
        if (s == S_STOLEN && step_failed(v, steal(k.pid, deadline), "steal")) {
                finish(x, &k, true, 0, &e, deadline);
                return;
        }
        r = finish(x, &k, s == S_STOP || s == S_ESCALATE, q.grace_ms, &e, deadline);
        if (step_failed(v, r, "wait"))
                return;
        end_str(&e, b, sizeof(b));
        switch (s) {
        case S_EXIT:
                if (e.kind != PV_EXIT_EXITED || e.value != 0)
                        say(v, V_FAIL, "%s", b);
                break;
        case S_STOP:
                if (e.kind != PV_EXIT_KILLED || e.value != SIGTERM || e.escalated)
                        say(v, V_FAIL, "%s", b);
                break;
        case S_ESCALATE:
                if (!k.have_line || strcmp(k.line, "ready"))
                        say(v, V_FAIL, "no 'ready' line");
                else if (e.kind != PV_EXIT_KILLED || e.value != SIGKILL || !e.escalated)
                        say(v, V_FAIL, "%s", b);
                break;
        case S_STOLEN:
                if (e.kind == PV_EXIT_LOST)
                        say(v, V_LOST, "%s", e.err ? strerrorname_np(e.err) : "reported lost");
                else if (e.kind != PV_EXIT_EXITED || e.value != STOLEN_CODE)
                        say(v, V_FAIL, "%s, want exit %d", b, STOLEN_CODE);
                else
                        say(v, V_PASS, "%s", e.recovered ? "recovered" : "");
                break;
        case S_FDS:
                if (!k.have_line)
                        say(v, V_FAIL, "the child said nothing");
                else if (strcmp(k.line, "0 1 2"))
                        say(v, V_FAIL, "child sees fds %s", k.line);
                else if (e.kind != PV_EXIT_EXITED || e.value != 0)
                        say(v, V_FAIL, "%s", b);
                break;
        }
}

/* Reap n children spawned by a baseline, in any order. */
static int reap_baseline(struct ctx *x, struct kid *kids, long n, long *bad, double deadline)
{
        for (long i = 0; i < n; i++) {
                struct end e = { 0 };
                int r = wait_baseline(x, kids[i].pid, &e, deadline);
                if (r != STEP_OK) {
                        /* Kill and reap the rest: nothing may outlive the cell. */
                        for (long j = i; j < n; j++) {
                                int st;
                                kill(kids[j].pid, SIGKILL);
                                waitpid(kids[j].pid, &st, 0);
                        }
                        return r;
                }
                *bad += e.kind != PV_EXIT_EXITED || e.value != 0;
        }
        return STEP_OK;
}

/* n children (/bin/cat on one shared pipe) alive at once, then all read
 * EOF, exit and are reaped. */
static void cycle_concurrent(struct ctx *x, long n, struct verdict *v)
{
        struct kid *kids = calloc((size_t)n, sizeof(*kids));
        struct req q = { .argv = argv_cat };
        double deadline;
        long spawned = 0, bad = 0;
        int p[2], r = 0;

        v->v = V_PASS;
        v->hard = false;
        v->why[0] = '\0';
        if (!kids || pipe_pair(p) < 0) {
                say(v, V_FAIL, "setup: %s", strerrorname_np(errno));
                v->hard = true;
                free(kids);
                return;
        }
        q.stdin_fd = p[0];
        x->exited = x->bad = 0;
        for (; spawned < n && r >= 0; spawned++) {
                memset(&kids[spawned], 0, sizeof(kids[spawned]));
                kids[spawned].in = kids[spawned].out = -1;
                r = x->row->kind == ROW_PV ? spawn_pv(x, &kids[spawned], &q, false)
                                           : spawn_baseline(x, &kids[spawned], &q);
        }
        if (r < 0) {
                spawned--;
                say(v, V_FAIL, "spawn #%ld: %s", spawned, strerrorname_np(-r));
                v->hard = true;
        }
        close(p[0]);
        close(p[1]);    /* every child reads EOF */
        deadline = wall_us() + BATCH_WAIT_MS * 1000.0;
        if (x->row->kind == ROW_PV) {
                while ((r = pv_loop_count_unreaped(x->l)) > 0 && wall_us() < deadline)
                        if (pv_loop_dispatch(x->l, ms_left(deadline)) < 0)
                                break;
                if (r != 0)
                        say(v, r > 0 ? V_TIMEOUT : V_FAIL, "%d not reaped", r);
                else if (x->exited != spawned || x->bad)
                        say(v, V_FAIL, "%ld exits, %ld not exit 0", x->exited, x->bad);
        } else {
                r = reap_baseline(x, kids, spawned, &bad, deadline);
                if (r == STEP_TIMEOUT)
                        say(v, V_TIMEOUT, "reaping");
                else if (r != STEP_OK)
                        say(v, V_FAIL, "reaping failed");
                else if (bad)
                        say(v, V_FAIL, "%ld not exit 0", bad);
        }
        free(kids);
}

/* ---- a cell, in a process of its own ------------------------------------ */

struct cell {
        int v;                  /* V_* */
        bool hard;              /* a step failed (not only a wrong result) */
        char why[96];
        double us;              /* per cycle (concurrent: per child) */
        double calls;           /* the parent's calls per cycle; < 0: not counted */
        char not_counted[64];
        long cycles;            /* timed */
        long counted;           /* cycles counted */
        struct sc_tally tally;
        bool done;
};

struct plan {
        long cycles;            /* exit, stop, stolen, fd leak */
        long escalate_cycles;   /* each takes the grace */
        long concurrent;        /* children at once, one batch a pass */
        long count_cycles;      /* counted, at most */
};

static struct plan P;

struct leak_snap {
        int fds, children, zombies;
};

static struct leak_snap leak_snap(void)
{
        struct leak_snap s;

        s.fds = proc_count_dir("/proc/self/fd") - 1;
        proc_scan_children(&s.children, &s.zombies);
        return s;
}

/* A leak since a as a verdict; true when there was one. */
static bool leaked(const struct leak_snap *a, struct cell *c)
{
        struct leak_snap b = leak_snap();

        if (b.fds == a->fds && b.children == 0 && b.zombies == 0)
                return false;
        c->v = V_FAIL;
        snprintf(c->why, sizeof(c->why), "leak: fds %+d, children %d, zombies %d",
                 b.fds - a->fds, b.children, b.zombies);
        return true;
}

/* Worse verdicts win; the first reason of the worst is kept. */
static void merge(struct cell *c, const struct verdict *v)
{
        c->hard |= v->hard;
        if (v->v > c->v || (v->v == c->v && !c->why[0])) {
                c->v = v->v;
                snprintf(c->why, sizeof(c->why), "%s", v->why);
        }
}

/* n cycles of scenario s on a fresh context; the verdicts merged into c.
 * Stops at a failure.  Returns the wall microseconds, or < 0. */
static double pass(const struct row *row, int s, long n, bool warm, struct cell *c,
                   struct sc_tally *count)
{
        struct ctx x;
        struct verdict v;
        int bait[2] = { -1, -1 };
        double t0, t = -1;
        int r = ctx_open(&x, row);

        if (r < 0) {
                c->v = V_FAIL;
                snprintf(c->why, sizeof(c->why), "open: %s", strerrorname_np(-r));
                return -1;
        }
        if (s == S_FDS) {
                /* The bait: two fds without close-on-exec, as a careless
                 * host holds them (born close-on-exec, the flag taken off
                 * on purpose). */
                for (int i = 0; i < 2; i++) {
                        bait[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (bait[i] < 0 || fcntl(bait[i], F_SETFD, 0) < 0) {
                                c->v = V_FAIL;
                                snprintf(c->why, sizeof(c->why), "bait fd: %s",
                                         strerrorname_np(errno));
                                goto out;
                        }
                }
        }
        if (warm) {
                /* First-use costs (a backend's first dispatch, page
                 * faults) are no cycle's. */
                if (s == S_CONCURRENT)
                        cycle_one(&x, S_EXIT, &v);
                else
                        cycle_one(&x, s, &v);
                merge(c, &v);
                if (c->v >= V_TIMEOUT || c->hard)
                        goto out;
        }
        t0 = wall_us();
        if (count)
                atomic_store(&sc_into, count);
        /* A wrong result (a leaked fd) is timed to the end; a timeout
         * or a step that failed ends the pass. */
        for (long i = 0; i < n && c->v < V_TIMEOUT && !c->hard; i++) {
                if (s == S_CONCURRENT)
                        cycle_concurrent(&x, P.concurrent, &v);
                else
                        cycle_one(&x, s, &v);
                merge(c, &v);
        }
        atomic_store(&sc_into, NULL);
        t = wall_us() - t0;
out:
        for (int i = 0; i < 2; i++)
                close_fd(&bait[i]);
        ctx_close(&x);
        return t;
}

/* In the cell's process: time, then count; the results in *c (shared
 * memory); leaks checked around each pass. */
static void cell_main(const struct row *row, int s, struct cell *c)
{
        long n = s == S_CONCURRENT ? 1 : s == S_ESCALATE ? P.escalate_cycles : P.cycles;
        long per = s == S_CONCURRENT ? P.concurrent : 1;
        long counted = n < P.count_cycles ? n : P.count_cycles;
        struct leak_snap before = leak_snap();
        double t;
        int r;

        c->calls = -1;
        t = pass(row, s, n, true, c, NULL);
        if (leaked(&before, c) || t < 0 || c->v >= V_TIMEOUT || c->hard)
                goto out;
        c->cycles = n;
        c->us = t / (double)(n * per);
        /* The counted pass: the filter cannot be taken off, and this
         * process ends after it. */
        r = sc_start();
        if (r < 0) {
                snprintf(c->not_counted, sizeof(c->not_counted), "%s", strerrorname_np(-r));
                goto out;
        }
        before = leak_snap();   /* with the counter's thread and fd */
        if (s == S_CONCURRENT)
                counted = 1;
        if (pass(row, s, counted, true, c, &c->tally) < 0 || leaked(&before, c) ||
            c->v >= V_TIMEOUT || c->hard)
                goto out;
        c->counted = counted;
        c->calls = sc_per_cycle(c->tally.parent, counted * per, SC_ALL);
out:
        c->done = true;
}

/* Run a cell in a process of its own, in its own process group, bounded:
 * at the deadline the group is killed and the cell reads "timeout". */
static void run_cell(const struct row *row, int s, struct cell *out)
{
        struct cell *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        struct leak_snap before = leak_snap();
        long n = s == S_CONCURRENT ? 3 : s == S_ESCALATE ? P.escalate_cycles : P.cycles;
        /* Generous: a cycle is about a millisecond (escalate: the grace),
         * counted or not. */
        int limit_ms = 30000 + (int)(n * (s == S_CONCURRENT ? 20000 : 200));
        struct pollfd p = { .fd = -1, .events = POLLIN };
        pid_t pid;

        memset(out, 0, sizeof(*out));
        out->v = V_FAIL;
        out->calls = -1;
        if (c == MAP_FAILED) {
                snprintf(out->why, sizeof(out->why), "mmap: %s", strerrorname_np(errno));
                return;
        }
        memset(c, 0, sizeof(*c));
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
                setpgid(0, 0);
                cell_main(row, s, c);
                _exit(0);
        }
        if (pid < 0) {
                snprintf(out->why, sizeof(out->why), "fork: %s", strerrorname_np(errno));
                goto done;
        }
        setpgid(pid, pid);      /* either of us may be first */
        p.fd = (int)syscall(SYS_pidfd_open, pid, 0);
        int n_ready = p.fd >= 0 ? poll(&p, 1, limit_ms) : -1;
        if (n_ready != 1) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
        }
        close_fd(&p.fd);
        int st;
        if (waitpid(pid, &st, 0) != pid) {
                snprintf(out->why, sizeof(out->why), "waitpid: %s", strerrorname_np(errno));
                goto done;
        }
        if (n_ready != 1) {
                kill(-pid, SIGKILL);    /* what the cell left, if anything */
                out->v = V_TIMEOUT;
                snprintf(out->why, sizeof(out->why), "cell still running after %d s",
                         limit_ms / 1000);
                goto done;
        }
        if (!c->done) {
                snprintf(out->why, sizeof(out->why), "cell died (%s)",
                         WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : "exit");
                goto done;
        }
        *out = *c;
        leaked(&before, out);   /* the tool's own fds and children */
done:
        munmap(c, sizeof(*c));
}

/* ---- the table ----------------------------------------------------------- */

static const char *const scen_name[S_MAX] = {
        [S_EXIT] = "exit", [S_STOP] = "stop", [S_ESCALATE] = "escalate",
        [S_STOLEN] = "stolen status", [S_CONCURRENT] = "concurrent", [S_FDS] = "fd leak",
};

static const char *const verdict_name[] = {
        [V_PASS] = "pass", [V_LOST] = "lost", [V_FAIL] = "FAIL", [V_TIMEOUT] = "timeout",
        [V_NA] = "n/a",
};

/* A pidvisor cell is good when it passed, or lost a stolen status on a
 * kernel that cannot give it back. */
static bool cell_ok(const struct cell *c, int s)
{
        return c->v == V_PASS || (c->v == V_LOST && s == S_STOLEN && !info_exit);
}

static void print_cell(const struct row *row, const struct cell *c)
{
        char errname[64];

        if (row->na) {
                snprintf(errname, sizeof(errname), "%s", strerrorname_np(-row->na));
                printf(" n/a (%s: %s) |", errname, strerror(-row->na));
                return;
        }
        printf(" %s", verdict_name[c->v]);
        if (c->why[0])
                printf(" (%s)", c->why);
        if (c->cycles) {
                printf(", %.0f µs", c->us);
                if (c->calls >= 0)
                        printf(", %.1f calls", c->calls);
                else if (c->not_counted[0])
                        printf(", calls not counted (%s)", c->not_counted);
        }
        printf(" |");
}

static void read_cpu(char *buf, size_t len)
{
        char line[256], impl[64] = "", part[64] = "";
        FILE *f = fopen("/proc/cpuinfo", "re");

        snprintf(buf, len, "unknown");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *v = strchr(line, ':');
                if (!v)
                        continue;
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                if (!strncmp(line, "model name", 10)) {
                        snprintf(buf, len, "%s", v);
                        fclose(f);
                        return;
                }
                /* arm64 names no model: its implementer and part ids, as
                 * lscpu reads them. */
                if (!strncmp(line, "CPU implementer", 15) && !impl[0])
                        snprintf(impl, sizeof(impl), "%s", v);
                if (!strncmp(line, "CPU part", 8) && !part[0])
                        snprintf(part, sizeof(part), "%s", v);
        }
        fclose(f);
        if (impl[0])
                snprintf(buf, len, "CPU implementer %s, part %s", impl, part[0] ? part : "?");
}

static void print_header(const struct pv_features *f)
{
        char date[64], cpu[128];
        struct utsname u;
        time_t now = time(NULL);
        struct tm tm;

        if (uname(&u) < 0)
                memset(&u, 0, sizeof(u));
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));
        read_cpu(cpu, sizeof(cpu));
        printf("# pv-kernelcmp\n\n");
        printf("- date: %s\n", date);
        printf("- kernel: %s\n", u.release);
        printf("- CPU: %s\n", cpu);
        printf("- arch: %s\n", u.machine);
        printf("- CPUs: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
#ifdef HAVE_LIBURING
        printf("- build: pidvisor %u.%u.%u, liburing yes\n", PV_VERSION_MAJOR, PV_VERSION_MINOR,
               PV_VERSION_PATCH);
#else
        printf("- build: pidvisor %u.%u.%u, liburing no\n", PV_VERSION_MAJOR, PV_VERSION_MINOR,
               PV_VERSION_PATCH);
#endif
        printf("- PIDFD_INFO_EXIT: %s; AUTO picks %s\n", info_exit ? "yes" : "no",
               f->mech ? pv_mech_name(f->mech) : "nothing");
        printf("- cycles: %ld a cell (escalate %ld), %ld concurrent children once; "
               "system calls: the parent's, counted over %ld more (concurrent: one more batch)\n",
               P.cycles, P.escalate_cycles, P.concurrent, P.count_cycles);
        printf("\n");
}

/* --verbose: each counted cell's calls per cycle, by call. */
static void print_breakdown(const struct row *row, int s, const struct cell *c)
{
        long per = s == S_CONCURRENT ? P.concurrent : 1;

        if (row->na || c->calls < 0)
                return;
        printf("- %s, %s:", row->name, scen_name[s]);
        for (int i = 0; i < SC_NSYS; i++) {
                char other[32];
                if (!c->tally.parent[i])
                        continue;
                snprintf(other, sizeof(other), "syscall %d", i);
                printf(" %s %.2f,", sc_name(i) ? sc_name(i) : other,
                       (double)c->tally.parent[i] / (double)(c->counted * per));
        }
        printf("\n");
}

static void usage(FILE *f)
{
        fprintf(f, "usage: pv-kernelcmp [--cycles N] [--concurrent N] [--quick] [--verbose]\n");
}

int main(int argc, char **argv)
{
        static const int mechs[] = { PV_MECH_CLONE3, PV_MECH_CLONE, PV_MECH_VFORK };
        static const int backends[] = { PV_BACKEND_EPOLL, PV_BACKEND_URING };
        struct row rows[8];
        struct pv_features f = PV_FEATURES_INIT;
        struct rlimit rl;
        ssize_t len;
        static struct cell cells[8][S_MAX];
        int nrows = 0, bad = 0;
        bool verbose = false;

        if (argc >= 2 && !strcmp(argv[1], "--child"))
                return child_verb(argc, argv);
        P = (struct plan){ .cycles = 200, .concurrent = 1000, .count_cycles = 50 };
        for (int i = 1; i < argc; i++) {
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(argv[i], "--quick")) {
                        P.cycles = 10;
                        P.concurrent = 100;
                        P.count_cycles = 10;
                } else if (!strcmp(argv[i], "--verbose")) {
                        verbose = true;
                } else if (!strcmp(argv[i], "--cycles") && v) {
                        P.cycles = atol(v);
                        i++;
                } else if (!strcmp(argv[i], "--concurrent") && v) {
                        P.concurrent = atol(v);
                        i++;
                } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        usage(stdout);
                        return 0;
                } else {
                        usage(stderr);
                        return 2;
                }
        }
        if (P.cycles < 1 || P.concurrent < 1) {
                usage(stderr);
                return 2;
        }
        P.escalate_cycles = P.cycles / 10 > 0 ? P.cycles / 10 : 1;
        if (P.count_cycles > P.cycles)
                P.count_cycles = P.cycles;

        /* The child must find fds 0-2 taken, whatever our caller left. */
        for (int fd = 0; fd < 3; fd++) {
                if (fcntl(fd, F_GETFD) >= 0)
                        continue;
                int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (nul < 0 || (nul != fd && (dup2(nul, fd) < 0 || close(nul) < 0))) {
                        perror("pv-kernelcmp: /dev/null");
                        return 1;
                }
                if (nul == fd && fcntl(fd, F_SETFD, 0) < 0)
                        return 1;
        }
        /* What our caller handed down without close-on-exec (make's
         * jobserver, a shell's tty) is no fd of ours to leak: the fd leak
         * column shows the bait alone. */
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        if (!d) {
                perror("pv-kernelcmp: /proc/self/fd");
                return 1;
        }
        while ((e = readdir(d))) {
                int fd = atoi(e->d_name);
                if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d) &&
                    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                        perror("pv-kernelcmp: F_SETFD");
                        return 1;
                }
        }
        closedir(d);
        len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (len < 0 || (size_t)len >= sizeof(self) - 1) {
                perror("pv-kernelcmp: /proc/self/exe");
                return 1;
        }
        self[len] = '\0';
        /* Room for the concurrent children's fds. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        perror("pv-kernelcmp: setrlimit");
        }
        if (pv_features(&f) < 0) {
                fprintf(stderr, "pv-kernelcmp: pv_features failed\n");
                return 1;
        }
        info_exit = f.have & PV_FEATURE_PIDFD_INFO_EXIT;

        for (size_t m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++) {
                for (size_t b = 0; b < sizeof(backends) / sizeof(backends[0]); b++) {
                        struct row *r = &rows[nrows++];
                        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                        pv_loop *l;

                        memset(r, 0, sizeof(*r));
                        r->kind = ROW_PV;
                        r->mech = lo.mech = mechs[m];
                        r->backend = lo.backend = backends[b];
                        snprintf(r->name, sizeof(r->name), "pidvisor %s + %s",
                                 pv_mech_name(r->mech), pv_backend_name(r->backend));
                        r->na = pv_loop_new(&l, &lo);
                        if (r->na >= 0) {
                                r->na = 0;
                                pv_loop_free(l);
                        }
                }
        }
        rows[nrows++] = (struct row){ .name = "posix_spawn + waitpid", .kind = ROW_POSIX_SPAWN };
        rows[nrows++] = (struct row){ .name = "fork + signalfd + waitpid", .kind = ROW_FORK };

        print_header(&f);
        printf("| spawn + wait |");
        for (int s = 0; s < S_MAX; s++) {
                if (s == S_CONCURRENT)
                        printf(" %ld concurrent |", P.concurrent);
                else
                        printf(" %s |", scen_name[s]);
        }
        printf("\n|---|");
        for (int s = 0; s < S_MAX; s++)
                printf("---|");
        printf("\n");
        for (int i = 0; i < nrows; i++) {
                printf("| %s |", rows[i].name);
                for (int s = 0; s < S_MAX; s++) {
                        struct cell *c = &cells[i][s];
                        if (!rows[i].na)
                                run_cell(&rows[i], s, c);
                        print_cell(&rows[i], c);
                        if (rows[i].kind == ROW_PV && !rows[i].na && !cell_ok(c, s))
                                bad = 1;
                        fflush(stdout);
                }
                printf("\n");
        }
        printf("\nCells: pass, lost (the status is gone and the row says so, without a hang: "
               "pidvisor's pass only where the kernel has no PIDFD_INFO_EXIT), FAIL (why) or "
               "timeout; wall-clock µs per cycle (concurrent: per child), mean; the parent "
               "thread's system calls per cycle (concurrent: per child), counted in a second "
               "pass (stress/syscount.h).\n");
        if (verbose) {
                printf("\nThe parent's calls per cycle, by call:\n\n");
                for (int i = 0; i < nrows; i++)
                        for (int s = 0; s < S_MAX; s++)
                                print_breakdown(&rows[i], s, &cells[i][s]);
        }
        return bad;
}
