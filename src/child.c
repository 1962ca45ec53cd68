/* SPDX-License-Identifier: MIT */
/*
 * A child's life: spawn, the stop ladder, exit and reaping.
 *
 * The ladder is a table, actions[state][event], as s6-supervise writes its
 * state machine: each transition can be read and tested on its own.  The
 * one timer of a child means the run deadline while RUNNING, the grace
 * period while STOPPING, and "look again" while EXITING.
 */
#include <pidvisor.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "fault.h"
#include "features.h"
#include "loop.h"
#include "spawn.h"
#include "syscall.h"

#define DEFAULT_GRACE_MS 5000u
/* Recovering a stolen status: the kernel publishes it when the reaper
 * releases the task, a moment after the pidfd turned readable.  Looking
 * again after 1, 2, 4 ... 128 ms covers about 250 ms. */
#define RECOVER_TRIES 8
/* A zombie that a ptrace tracer holds is not ours to wait for until the
 * tracer lets go: look again, backing off to once a second. */
#define EXITING_MAX_DELAY_MS 1000u
/* A SIGKILL that could not be sent (every way of signalling refused) is
 * tried again this often, never recorded as sent. */
#define KILL_RETRY_MS 1000u

enum child_event { EV_STOP, EV_TIMER, EV_EXIT, _EV_MAX };

static int act_term(pv_child *c);
static int act_deadline(pv_child *c);
static int act_kill(pv_child *c);
static int act_collect(pv_child *c);
static int act_linger_end(pv_child *c);
static int act_end_input(pv_child *c);

typedef int (*child_action)(pv_child *c);

static const child_action actions[_CHILD_STATE_MAX][_EV_MAX] = {
        [CHILD_RUNNING]  = { [EV_STOP] = act_term, [EV_TIMER] = act_deadline,
                             [EV_EXIT] = act_collect },
        [CHILD_STOPPING] = { [EV_TIMER] = act_kill, [EV_EXIT] = act_collect },
        [CHILD_KILLED]   = { [EV_EXIT] = act_collect },
        [CHILD_EXITING]  = { [EV_STOP] = act_end_input, [EV_TIMER] = act_collect },
        [CHILD_EXITED]   = { [EV_TIMER] = act_linger_end },
};

static int child_event(pv_child *c, int ev)
{
        child_action a = actions[c->state][ev];

        return a ? a(c) : 0;
}

static bool is_gone(const pv_child *c)
{
        return c->state == CHILD_EXITING || c->state == CHILD_EXITED;
}

/* ---- signals --------------------------------------------------------- */

static bool has_group(const pv_child *c)
{
        return c->spawn_flags & (PV_SPAWN_F_NEW_PGRP | PV_SPAWN_F_NEW_SESSION);
}

/* Has the child exited, even if nobody reaped it yet?  pidfd_send_signal
 * to a zombie succeeds, so this is what keeps a stop or a signal from
 * acting on a child that is already dead. */
static bool has_exited(const pv_child *c)
{
        struct pollfd p = { .fd = c->pidfd.fd, .events = POLLIN };

        return sys_poll(&p, 1, 0) != 0;
}

/* Signal the child, or with group, its whole process group when it leads
 * one.  -ESRCH once it has exited.  Until the loop reaps it, its pid (and
 * so its pgid) cannot be reused, which makes kill(-pid) safe, unless a
 * host reaper took the child between our check and the kill (a window we
 * cannot close before PIDFD_SIGNAL_PROCESS_GROUP). */
/* Signal every process of the child's own cgroup: SIGKILL through
 * cgroup.kill where the kernel has it (5.14), else each pid listed in
 * cgroup.procs (a pid that exits meanwhile and is reused outside the
 * cgroup at once could be hit: the window cgroup.kill closes). */
/* Returns whether the child itself was among those signalled (it may have
 * left the cgroup), so that it does not get the signal twice. */
static bool cgroup_signal(pv_child *c, int sig)
{
        char buf[4096];
        bool self = false;
        ssize_t n;
        int fd;

        if (sig == SIGKILL) {
                PV_RETRY(fd, pv__fd_high(sys_openat(c->cgroup_fd, "cgroup.kill",
                                                    O_WRONLY | O_CLOEXEC, 0)));
                if (fd >= 0) {
                        n = sys_write(fd, "1", 1);
                        sys_close(fd);
                        if (n == 1)
                                return false;   /* cheap to repeat: SIGKILL */
                }
        }
        PV_RETRY(fd, pv__fd_high(sys_openat(c->cgroup_fd, "cgroup.procs",
                                            O_RDONLY | O_CLOEXEC, 0)));
        if (fd < 0)
                return false;
        /* Whole lines only: a pid cut at the buffer's end is read again. */
        long carry = 0;
        while ((n = sys_read(fd, buf, sizeof(buf))) > 0) {
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] >= '0' && buf[i] <= '9') {
                                carry = carry * 10 + (buf[i] - '0');
                        } else {
                                if (carry > 0 && sys_kill((pid_t)carry, sig) == 0)
                                        self |= carry == c->pid;
                                carry = 0;
                        }
                }
        }
        if (carry > 0 && sys_kill((pid_t)carry, sig) == 0)
                self |= carry == c->pid;
        sys_close(fd);
        return self;
}

static int send_signal(pv_child *c, int sig, bool group)
{
        int r;

        if (has_exited(c))
                return -ESRCH;
        if (group && c->cgroup_fd >= 0) {
                if (cgroup_signal(c, sig))
                        return 0;
                /* Not reached through the cgroup: signal it directly. */
        } else if (group && has_group(c)) {
                if (c->loop->feat.pidfd_signal_pgrp)
                        PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL,
                                 sys_pidfd_send_signal(c->pidfd.fd, sig,
                                                       PIDFD_SIGNAL_PROCESS_GROUP)));
                else    /* before Linux 6.9; delete when that is our floor */
                        PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_kill(-c->pid, sig)));
                if (r != -ESRCH)
                        return r;
                /* The child left its group (setsid, setpgid): signal it. */
        }
        r = -EPERM;
        if (likely(c->loop->feat.pidfd_signal))
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_pidfd_send_signal(c->pidfd.fd, sig, 0)));
        if (r == -EPERM || r == -ENOSYS)
                /* Refused: a sandbox (Docker's profile before 20.10 says
                 * EPERM), or a tool that lacks the call (valgrind 3.19).
                 * By pid then, safe while the pidfd shows the child
                 * unexited (checked above): its pid is still its own.
                 * Delete when no sandbox or tool we meet refuses it. */
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_kill(c->pid, sig)));
        return r;
}

static uint64_t after_ms(uint64_t ms)
{
        return pv__now_ns() + ms * 1000000u;
}

/* ---- the ladder ------------------------------------------------------ */

/* End the input: the first rung of the ladder, and all that is left to do
 * for a child that is already dead. */
static int act_end_input(pv_child *c)
{
        pv__stdio_stop_input(c->loop, &c->io);
        return 0;
}

static int act_term(pv_child *c)
{
        int r;

        /* Dead already (its pidfd event not handled yet): not a stop. */
        if (has_exited(c))
                return act_end_input(c);
        /* From here the stop is what ends the child, even if closing its
         * stdin is enough and it is gone before the SIGTERM. */
        c->exit_flags |= PV_EXIT_F_STOPPED;
        act_end_input(c);
        r = send_signal(c, SIGTERM, true);
        if (r == -ESRCH)
                return 0;       /* it went at the EOF: its pidfd will tell */
        if (r < 0) {
                c->exit_flags &= ~(unsigned)PV_EXIT_F_STOPPED;
                return r;
        }
        /* A stopped child cannot act on SIGTERM until continued. */
        (void)send_signal(c, SIGCONT, true);
        c->state = CHILD_STOPPING;
        r = pv__timer_arm(c->loop, &c->timer, pv__now_ns() + c->grace_ns);
        if (r < 0)
                /* No grace timer, no escalation later: a child that
                 * ignores SIGTERM would live on.  Escalate now. */
                (void)act_kill(c);
        return r;
}

static int act_deadline(pv_child *c)
{
        if (has_exited(c))
                return act_collect(c);
        c->exit_flags |= PV_EXIT_F_DEADLINE;
        if (act_term(c) < 0)
                /* Nobody to report to from a timer: escalate instead. */
                return act_kill(c);
        return 0;
}

static int act_kill(pv_child *c)
{
        /* Exited during the grace period, with its pidfd event still queued
         * behind this timer?  Then it needed no SIGKILL. */
        int r = send_signal(c, SIGKILL, true);

        if (r == -ESRCH)
                return act_collect(c);
        if (r < 0) {
                /* Not sent, so not recorded as sent: try again later,
                 * from the state we are in (a deadline tries the whole
                 * ladder again). */
                (void)pv__timer_arm(c->loop, &c->timer, after_ms(KILL_RETRY_MS));
                return r;
        }
        c->exit_flags |= PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED;
        c->state = CHILD_KILLED;
        return 0;
}

/* ---- exit ------------------------------------------------------------ */

static void set_status(struct pv_exit *e, int code, int status)
{
        switch (code) {
        case CLD_EXITED:
                e->kind = PV_EXIT_EXITED;
                e->code = status;
                break;
        case CLD_KILLED:
        case CLD_DUMPED:
                e->kind = PV_EXIT_KILLED;
                e->signal = status;
                e->core_dumped = code == CLD_DUMPED;
                break;
        default:
                e->kind = PV_EXIT_LOST;
                break;
        }
}

static void unref(pv_child *c);

/* The child is reaped and c->exit says how it ended: deliver.  It is
 * EXITED for every caller from the first line on, including the output
 * callbacks of the drain below (a stop from there is a no-op, not a
 * signal to a pid that may already be someone else's).  The loop's
 * reference, dropped last, keeps c valid through every callback. */
static int deliver(pv_child *c)
{
        pv_loop *l = c->loop;

        c->state = CHILD_EXITED;
        c->exit.pid = c->pid;
        /* ESCALATED says the SIGKILL ended it.  One sent while the child
         * was already ending (of SIGTERM, or by exiting) when the grace
         * ran out did not: the status shows what did. */
        if (c->exit.kind != PV_EXIT_LOST &&
            !(c->exit.kind == PV_EXIT_KILLED && c->exit.signal == SIGKILL))
                c->exit_flags &= ~(unsigned)PV_EXIT_F_ESCALATED;
        c->exit.flags = c->exit_flags;
        c->exit.runtime_us = (pv__now_ns() - c->started_ns) / 1000u;
        pv__timer_disarm(l, &c->timer);
        pv__loop_close(l, &c->pidfd);
        if (c->cgroup_fd >= 0)
                sys_close(c->cgroup_fd);    /* no more signals to send */
        c->cgroup_fd = -1;
        pv_list_del(&c->node);
        pv_list_add(&l->dead, &c->node);
        l->n_alive--;

        /* Everything the child wrote before it exited comes before its
         * exit callback; with a linger, the streams stay open after it,
         * holding a reference of their own. */
        bool open = pv__stdio_finish(l, &c->io, c->linger_ns > 0);
        if (c->on_exit && !c->released)
                c->on_exit(c, &c->exit, c->userdata);
        if (open && c->released)
                /* Released in its own exit callback: nobody listens. */
                pv__stdio_end_streams(l, &c->io);
        else if (open && pv__stdio_streaming(&c->io)) {
                c->lingering = true;
                c->refs++;
                l->n_lingering++;
                /* Without its timer a linger could last for ever (a silent
                 * descendant): end it now instead. */
                if (pv__timer_arm(l, &c->timer, pv__now_ns() + c->linger_ns) < 0)
                        (void)act_linger_end(c);
        }
        unref(c);
        return 0;
}

static void linger_done(pv_child *c)
{
        if (!c->lingering)
                return;
        c->lingering = false;
        c->loop->n_lingering--;
        pv__timer_disarm(c->loop, &c->timer);
        unref(c);
}

void pv__child_stream_ended(pv_child *c)
{
        if (c->lingering && !pv__stdio_streaming(&c->io))
                linger_done(c);
}

static int act_linger_end(pv_child *c)
{
        pv__stdio_end_streams(c->loop, &c->io);
        linger_done(c);
        return 0;
}

/* The status was reaped by someone else (SIGCHLD = SIG_IGN, a host
 * waitpid(-1)).  Linux 6.15+ keeps it for pidfd holders. */
static bool recover(pv_child *c)
{
        struct pv__pidfd_info info = { .mask = PV__PIDFD_INFO_EXIT };
        int st;

        if (sys_ioctl(c->pidfd.fd, PV__PIDFD_GET_INFO, &info) < 0 ||
            !(info.mask & PV__PIDFD_INFO_EXIT))
                return false;
        st = info.exit_code;
        if (WIFEXITED(st))
                set_status(&c->exit, CLD_EXITED, WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
                set_status(&c->exit, WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED,
                           WTERMSIG(st));
        else
                return false;
        c->exit_flags |= PV_EXIT_F_RECOVERED;
        return true;
}

/* The pidfd says the child is dead but its status is not ours yet: take
 * the pidfd out of the loop (level-triggered, it would fire without end)
 * and look again from the timer. */
static int look_again(pv_child *c)
{
        unsigned shift = c->tries < 10 ? c->tries : 10;
        uint64_t ms = 1u << shift;

        if (c->state != CHILD_EXITING) {
                (void)c->loop->ops->del(c->loop, &c->pidfd);
                c->state = CHILD_EXITING;
        }
        c->tries++;
        return pv__timer_arm(c->loop, &c->timer,
                             after_ms(ms < EXITING_MAX_DELAY_MS ? ms : EXITING_MAX_DELAY_MS));
}

static int act_collect(pv_child *c)
{
        siginfo_t si = { 0 };
        int r;

        do
                r = sys_waitid(P_PIDFD, c->pidfd.fd, &si, WEXITED | WNOHANG | __WALL,
                               &c->exit.rusage);
        while (r == -EINTR);
        if (r == 0 && si.si_pid != 0) {
                set_status(&c->exit, si.si_code, si.si_status);
                return deliver(c);
        }
        if (r == 0)
                /* Dead (the pidfd said so) but not waitable: a ptrace tracer
                 * holds the zombie, which only it can see until it lets go. */
                return look_again(c);
        memset(&c->exit.rusage, 0, sizeof(c->exit.rusage));
        if (r == -ECHILD) {
                if (recover(c))
                        return deliver(c);
                if (c->loop->feat.pidfd_info_exit && c->tries < RECOVER_TRIES)
                        return look_again(c);
        }
        /* Not recoverable, or an error that would be our bug (EBADF,
         * EINVAL): do not invent a status. */
        c->exit.kind = PV_EXIT_LOST;
        return deliver(c);
}

static void timer_fired(struct pv__timer *t)
{
        pv_child *c = container_of(t, pv_child, timer);

        (void)child_event(c, EV_TIMER);
}

static void pidfd_ready(struct pv__source *s, uint32_t events)
{
        pv_child *c = container_of(s, pv_child, pidfd);

        (void)events;
        (void)child_event(c, EV_EXIT);
}

void pv__child_output(pv_child *c, int fd, const char *data, size_t len, unsigned flags)
{
        if (c->on_output && !c->released)
                c->on_output(c, fd, data, len, flags, c->userdata);
}

void pv__child_drained(pv_child *c)
{
        if (c->on_drain && !c->released)
                c->on_drain(c, c->userdata);
}

/* ---- lifetime -------------------------------------------------------- */

void pv__child_kill_now(pv_child *c)
{
        int r;

        if (is_gone(c))
                return;
        r = send_signal(c, SIGKILL, true);
        /* Every way of signalling refused: waiting for it would be waiting
         * for ever. */
        c->unkillable = r < 0 && r != -ESRCH;
}

static void reap_blocking(pv_child *c)
{
        siginfo_t si;
        int r;

        do
                r = sys_waitid(P_PIDFD, c->pidfd.fd, &si, WEXITED | __WALL, NULL);
        while (r == -EINTR);
}

void pv__child_free(pv_child *c)
{
        pv_loop *l = c->loop;

        if (c->state != CHILD_EXITED) {
                /* An unkillable child is left running, and unreaped when it
                 * ends: the one thing worse is to hang here. */
                if (c->pidfd.fd >= 0 && !c->unkillable)
                        reap_blocking(c);
                l->n_alive--;
        }
        if (c->lingering)
                l->n_lingering--;
        if (c->cgroup_fd >= 0)
                sys_close(c->cgroup_fd);
        pv__timer_disarm(l, &c->timer);
        pv__stdio_close(l, &c->io);
        pv__loop_close(l, &c->pidfd);
        pv_list_del(&c->node);
        l->n_children--;
        free(c);
}

static void unref(pv_child *c)
{
        assert(c->refs > 0);
        if (--c->refs > 0)
                return;
        if (c->loop->dispatching) {
                pv_list_del(&c->node);
                pv_list_add(&c->loop->graveyard, &c->node);
        } else {
                (void)pv__loop_check(c->loop); /* sets loop->forked */
                pv__child_free(c);
        }
}

/* ---- spawn ----------------------------------------------------------- */

_Static_assert(sizeof(struct pv_spawn_opts) == PV__SPAWN_OPTS_SIZE_VER0,
               "a new field: keep VER0 as it was, and this assert as >=");
_Static_assert(sizeof(struct pv_loop_opts) == PV__LOOP_OPTS_SIZE_VER0,
               "a new field: keep VER0 as it was, and this assert as >=");

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

/* Sorted, deduplicated copy of the keep list (the child walks it in order
 * between close_range calls).  All must be >= 3: 0-2 are set by stdio. */
static int copy_keep(const struct pv_spawn_opts *o, int **ret, size_t *ret_n)
{
        int *k;
        size_t n = 0;

        *ret = NULL;
        *ret_n = 0;
        if (o->n_keep_fds == 0)
                return 0;
        if (!o->keep_fds || o->n_keep_fds > 65536)
                return -EINVAL;
        for (size_t i = 0; i < o->n_keep_fds; i++)
                if (o->keep_fds[i] < 3)
                        return -EINVAL;
        k = malloc(o->n_keep_fds * sizeof(*k));
        if (!k)
                return -ENOMEM;
        memcpy(k, o->keep_fds, o->n_keep_fds * sizeof(*k));
        qsort(k, o->n_keep_fds, sizeof(*k), cmp_int);
        for (size_t i = 0; i < o->n_keep_fds; i++)
                if (n == 0 || k[n - 1] != k[i])
                        k[n++] = k[i];
        *ret = k;
        *ret_n = n;
        return 0;
}

/* The PATH to search for argv[0]: envp's when the caller gave one (the
 * child will live with it), else ours; glibc's default when unset. */
static const char *search_path(const struct pv_spawn_opts *o)
{
        const char *p = NULL;

        if (strchr(o->argv[0], '/'))
                return NULL;
        if (o->envp) {
                for (const char *const *e = o->envp; *e; e++)
                        if (strncmp(*e, "PATH=", 5) == 0) {
                                p = *e + 5;
                                break;
                        }
        } else {
                p = getenv("PATH");
        }
        return p ? p : "/bin:/usr/bin";
}

static int check_opts(const struct pv_spawn_opts *o)
{
        const unsigned known = PV_SPAWN_F_NEW_SESSION | PV_SPAWN_F_NEW_PGRP |
                               PV_SPAWN_F_PDEATHSIG | PV_SPAWN_F_CGROUP;

        return_if_invalid(o->argv && o->argv[0] && o->argv[0][0], -EINVAL);
        return_if_invalid(!(o->flags & ~known), -EINVAL);
        return_if_invalid(o->pdeathsig >= 0 && o->pdeathsig <= PV__NSIG, -EINVAL);
        return_if_invalid(o->deadline_ms <= UINT64_MAX / 2000000u, -EINVAL);
        return_if_invalid(!(o->flags & PV_SPAWN_F_CGROUP) || o->cgroup_fd >= 0, -EINVAL);
        return pv__stdio_check(o->stdio);
}

/* The caller's fds must be open now: the pipes and /dev/null we open next
 * could otherwise take a stale number, and the child would get our fd. */
static int check_fds(const struct pv_spawn_opts *o, const int *keep, size_t n_keep)
{
        for (int i = 0; i < 3; i++)
                if (o->stdio[i].mode == PV_STDIO_FD &&
                    sys_fcntl(o->stdio[i].fd, F_GETFD, 0) < 0)
                        return -EBADF;
        for (size_t i = 0; i < n_keep; i++)
                if (sys_fcntl(keep[i], F_GETFD, 0) < 0)
                        return -EBADF;
        return 0;
}

/* Start watching a spawned child.  On failure the caller kills it. */
static int child_start(pv_loop *l, pv_child *c, const struct pv_spawn_opts *o)
{
        int r;

        r = pv__loop_add(l, &c->pidfd, PV_EV_IN);
        if (r < 0)
                return r;
        r = pv__stdio_start(l, &c->io);
        if (r < 0)
                return r;
        if (o->deadline_ms)
                return pv__timer_arm(l, &c->timer, after_ms(o->deadline_ms));
        return 0;
}

static pv_child *child_new(pv_loop *l, const struct pv_spawn_opts *o)
{
        pv_child *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->loop = l;
        pv_list_init(&c->node);
        c->state = CHILD_RUNNING;
        c->pidfd.fd = -1;
        c->pidfd.cb = pidfd_ready;
        c->cgroup_fd = -1;
        c->spawn_flags = o->flags;
        c->grace_ns = (uint64_t)(o->grace_ms ? o->grace_ms : DEFAULT_GRACE_MS) * 1000000u;
        c->linger_ns = (uint64_t)o->linger_ms * 1000000u;
        pv__timer_init(&c->timer, timer_fired);
        c->on_exit = o->on_exit;
        c->on_output = o->on_output;
        c->on_drain = o->on_drain;
        c->userdata = o->userdata;
        return c;
}

static int spawn_checked(pv_loop *l, const struct pv_spawn_opts *opts, pv_child **ret,
                         int *stage);

PV_EXPORT int pv_spawn(pv_loop *l, const struct pv_spawn_opts *opts, pv_child **ret,
                       int *stage)
{
        int st = PV_STAGE_SETUP;
        int r = spawn_checked(l, opts, ret, &st);

        if (stage)
                *stage = r < 0 ? st : PV_STAGE_NONE;
        return r;
}

static int spawn_checked(pv_loop *l, const struct pv_spawn_opts *opts, pv_child **ret, int *stage)
{
        extern char **environ;
        struct pv_spawn_opts o;
        struct pv__child_args a = { .err_fd = -1 };
        int *keep = NULL;
        pv_child *c = NULL;
        int r;

        return_if_invalid(l, -EINVAL);
        return_if_invalid(opts, -EINVAL);
        r = pv__copy_opts(&o, sizeof(o), PV__SPAWN_OPTS_SIZE_VER0, opts, opts->size);
        if (r < 0)
                return r;
        r = check_opts(&o);
        if (r < 0)
                return r;
        r = pv__loop_check(l);
        if (r < 0)
                return r;
        r = copy_keep(&o, &keep, &a.n_keep);
        if (r < 0)
                return r;
        r = check_fds(&o, keep, a.n_keep);
        if (r < 0)
                goto out;

        r = -ENOMEM;
        c = child_new(l, &o);
        if (!c)
                goto out;
        /* Every child object arms at most one timer (deadline, grace,
         * look-again or linger), whatever state it is in, also while a
         * callback of an exiting child runs. */
        r = pv__timers_reserve(l, l->n_children + 1);
        if (r < 0)
                goto out;
        r = pv__stdio_prepare(l, &c->io, o.stdio, o.stdin_high_water, c);
        if (r < 0)
                goto out;

        a.argv = o.argv;
        a.envp = o.envp ? o.envp : (const char *const *)environ;
        a.path = search_path(&o);
        a.cwd = o.cwd;
        memcpy(a.stdio, c->io.child_fd, sizeof(a.stdio));
        a.flags = o.flags;
        a.pdeathsig = o.flags & PV_SPAWN_F_PDEATHSIG ? (o.pdeathsig ? o.pdeathsig : SIGKILL) : 0;
        a.parent_pid = l->owner_pid; /* checked just above */
        a.keep = keep;
        a.close_range = l->feat.close_range_cloexec;
        a.err_pipe = !l->feat.shared_mem;

        c->started_ns = pv__now_ns();
        if (o.flags & PV_SPAWN_F_CGROUP) {
                PV_RETRY(r, sys_fcntl(o.cgroup_fd, F_DUPFD_CLOEXEC, 3));
                if (r < 0)
                        goto out_stdio;
                c->cgroup_fd = r;
        }
        r = pv__spawn_run(l->mech, &a, l->child_stack, l->child_stack_size, c->cgroup_fd,
                          &c->pid, &c->pidfd.fd);
        *stage = a.stage;
        pv__stdio_spawned(&c->io);
        if (r < 0)
                goto out_stdio;

        r = child_start(l, c, &o);
        if (r < 0) {
                /* It runs, and we cannot watch it: kill it, close its pipes
                 * (a child that may not be signalled at all may still end
                 * at their EOF), and reap it unless it is unkillable (then
                 * it is left, as pv_loop_free leaves it). */
                *stage = PV_STAGE_SETUP;
                pv__child_kill_now(c);
                pv__stdio_spawned(&c->io);
                pv__stdio_close(l, &c->io);
                if (!c->unkillable)
                        reap_blocking(c);
                pv__timer_disarm(l, &c->timer);
                pv__loop_close(l, &c->pidfd);
                goto out_stdio;
        }

        if (!ret)
                /* No handle, nobody to write: the child reads EOF. */
                (void)pv__stdio_close_stdin(l, &c->io);
        pv_list_add(&l->alive, &c->node);
        l->n_alive++;
        l->n_children++;
        c->refs = 1;
        if (ret) {
                c->refs++;
                c->caller_ref = true;
                *ret = c;
        }
        c = NULL;
        r = 0;
        goto out;

out_stdio:
        pv__stdio_spawned(&c->io);
        pv__stdio_close(l, &c->io);
        if (c->cgroup_fd >= 0)
                sys_close(c->cgroup_fd);
out:
        free(keep);
        free(c);
        return r;
}

/* ---- the public child API ------------------------------------------- */

PV_EXPORT int pv_child_signal(pv_child *c, int sig)
{
        return_if_invalid(c, -EINVAL);
        return_if_invalid(sig >= 0 && sig <= PV__NSIG, -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        if (is_gone(c))
                return -ESRCH;
        return send_signal(c, sig, false);
}

PV_EXPORT int pv_child_stop(pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        return child_event(c, EV_STOP);
}

PV_EXPORT int pv_child_close_stdin(pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        return pv__stdio_close_stdin(c->loop, &c->io);
}

PV_EXPORT int pv_child_write(pv_child *c, const void *buf, size_t len)
{
        return_if_invalid(c && (buf || len == 0), -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        return pv__stdio_write(c->loop, &c->io, buf, len);
}

PV_EXPORT ssize_t pv_child_stdin_pending(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return (ssize_t)c->io.in.len;
}

PV_EXPORT int pv_child_stdio_fd(const pv_child *c, int fd)
{
        return_if_invalid(c && fd >= 0 && fd <= 2, -EINVAL);
        if (c->io.mode[fd] != PV_STDIO_PIPE_RAW || c->io.raw_fd[fd] < 0)
                return -ENOTCONN;
        return c->io.raw_fd[fd];
}

PV_EXPORT int pv_child_wait(pv_child *c, int timeout_ms, struct pv_exit *ret)
{
        pv_loop *l;
        uint64_t deadline;
        int r = 0;

        return_if_invalid(c, -EINVAL);
        l = c->loop;
        return_if_invalid(!l->dispatching || c->state == CHILD_EXITED, -EBUSY);
        deadline = timeout_ms < 0 ? UINT64_MAX : after_ms((uint64_t)timeout_ms);

        c->refs++;      /* a callback may release c while we wait */
        while (c->state != CHILD_EXITED) {
                uint64_t now = pv__now_ns();
                int wait_ms = -1;

                /* Dispatch at least once, even with timeout 0: the exit may
                 * be waiting in the pidfd already. */
                if (deadline != UINT64_MAX)
                        /* Round up, so we do not wake just before it. */
                        wait_ms = now >= deadline ? 0
                                  : (int)((deadline - now + 999999u) / 1000000u);
                r = pv_loop_dispatch(l, wait_ms);
                if (r < 0)
                        break;
                r = 0;
                if (c->state != CHILD_EXITED && wait_ms >= 0 && pv__now_ns() >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        if (r == 0 && ret)
                *ret = c->exit;
        unref(c);
        return r;
}

PV_EXPORT pid_t pv_child_pid(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return c->pid;
}

PV_EXPORT int pv_child_pidfd(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return is_gone(c) ? -ESRCH : c->pidfd.fd;
}

PV_EXPORT int pv_child_is_reaped(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return c->state == CHILD_EXITED;
}

PV_EXPORT int pv_child_get_exit(const pv_child *c, struct pv_exit *ret)
{
        return_if_invalid(c && ret, -EINVAL);
        if (c->state != CHILD_EXITED)
                return -EBUSY;
        *ret = c->exit;
        return 0;
}

PV_EXPORT void pv_child_release(pv_child *c)
{
        if (!c || !c->caller_ref)
                return;
        c->caller_ref = false;
        c->released = true;
        /* Nobody can write to it any more: EOF once the queue drains.
         * Not from a fork, whose pipes are the parent's. */
        if (!is_gone(c) && c->io.mode[0] == PV_STDIO_PIPE && pv__loop_check(c->loop) == 0)
                (void)pv__stdio_close_stdin(c->loop, &c->io);
        /* Nobody listens to a lingering stream any more: end the linger
         * from the timer, not here (this may run inside that stream's own
         * callback, in the middle of its framing). */
        if (c->lingering)
                (void)pv__timer_arm(c->loop, &c->timer, 0);
        unref(c);
}
