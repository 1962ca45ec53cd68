/* SPDX-License-Identifier: MIT */
/*
 * A child's end: collecting its status (waitid, or PIDFD_INFO_EXIT for one
 * another reaper took), delivering the exit, and the linger after it.
 */
#include <pidvisor.h>
#include <string.h>
#include <sys/wait.h>

#include "child.h"
#include "fault.h"
#include "loop.h"
#include "syscall.h"

/* Recovering a stolen status: the kernel publishes it when the reaper
 * releases the task, a moment after the pidfd turned readable.  Looking
 * again after 1, 2, 4 ... 128 ms covers about 250 ms. */
#define RECOVER_TRIES 8
/* A zombie that a ptrace tracer holds is not ours to wait for until the
 * tracer lets go: look again, backing off to once a second. */
#define EXITING_MAX_DELAY_MS 1000u

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
                set_status(&c->exit, WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED, WTERMSIG(st));
        else
                return false;
        c->exit_flags |= PV_EXIT_F_RECOVERED;
        return true;
}

int pv__exit_collect(pv_child *c)
{
        siginfo_t si = { 0 };
        int r;

        PV_RETRY(r, sys_waitid(P_PIDFD, c->pidfd.fd, &si, WEXITED | WNOHANG | __WALL,
                               &c->exit.rusage));
        if (r == 0 && si.si_pid != 0) {
                set_status(&c->exit, si.si_code, si.si_status);
                return COLLECT_REAPED;
        }
        if (r == 0)
                /* Dead (the pidfd said so) but not waitable: a ptrace tracer
                 * holds the zombie, which only it can see until it lets go. */
                return COLLECT_PENDING;
        memset(&c->exit.rusage, 0, sizeof(c->exit.rusage));
        if (r == -ECHILD) {
                if (recover(c))
                        return COLLECT_REAPED;
                if (c->loop->feat.pidfd_info_exit && c->tries < RECOVER_TRIES)
                        return COLLECT_PENDING;
        }
        /* Not recoverable, or an error that would be our bug (EBADF,
         * EINVAL): do not invent a status. */
        c->exit.kind = PV_EXIT_LOST;
        return COLLECT_REAPED;
}

void pv__exit_park(pv_child *c)
{
        /* Out of the loop (readable for good now), but kept open until the
         * exit is delivered: it still names the child's process group. */
        if (c->pidfd_watched)
                pv__loop_del(c->loop, &c->pidfd);
        c->pidfd_watched = false;
}

int pv__exit_look_again(pv_child *c)
{
        unsigned shift = c->tries < 10 ? c->tries : 10;
        uint64_t ms = 1u << shift;

        /* Level-triggered, the pidfd would fire without end. */
        pv__exit_park(c);
        c->tries++;
        if (ms > EXITING_MAX_DELAY_MS)
                ms = EXITING_MAX_DELAY_MS;
        /* A failed settime leaves the timer in the heap: the next arming
         * of any timer tries again.  The pidfd is out of the loop already,
         * so there is no state to go back to. */
        (void)pv__timer_arm(c->loop, &c->timer, pv__now_ns() + ms * 1000000u);
        return 0;
}

static void linger_done(pv_child *c)
{
        if (!c->lingering)
                return;
        c->lingering = false;
        c->loop->n_lingering--;
        pv__timer_disarm(c->loop, &c->timer);
        pv__child_unref(c);
}

void pv__exit_linger_end(pv_child *c)
{
        pv__stdio_end_streams(c->loop, &c->io);
        linger_done(c);
}

void pv__child_stream_ended(pv_child *c)
{
        if (c->lingering && !pv__stdio_streaming(&c->io))
                linger_done(c);
}

/* The child is reaped and c->exit says how it ended.  It is EXITED for
 * every caller from the first line on (the ladder set it), including the
 * output callbacks of the drain below: a stop from there is a no-op, not
 * a signal to a pid that may already be someone else's.  The loop's
 * reference, dropped last, keeps c valid through every callback. */
void pv__exit_deliver(pv_child *c)
{
        pv_loop *l = c->loop;

        c->exit.pid = c->pid;
        c->exit.flags = pv__ladder_exit_flags(c->exit_flags, &c->exit);
        c->exit.runtime_us = (pv__now_ns() - c->started_ns) / 1000u;
        pv__timer_disarm(l, &c->timer);
        pv__exit_park(c);               /* one removal from the loop at most */
        if (c->pidfd.fd >= 0)
                sys_close(c->pidfd.fd);
        c->pidfd.fd = -1;
        pv__tree_close(c);
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
        if (c->on_exit && pv__child_listens(c))
                c->on_exit(c, &c->exit, c->userdata);
        if (open && !pv__child_listens(c))
                /* Released in its own exit callback (or the loop freed):
                 * nobody listens. */
                pv__stdio_end_streams(l, &c->io);
        else if (open && pv__stdio_streaming(&c->io)) {
                c->lingering = true;
                pv__child_ref(c);
                l->n_lingering++;
                /* Without its timer a linger could last for ever (a silent
                 * descendant): end it now instead. */
                if (pv__timer_arm(l, &c->timer, pv__now_ns() + c->linger_ns) < 0)
                        pv__exit_linger_end(c);
        }
        pv__child_unref(c);
}
