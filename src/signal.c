/* SPDX-License-Identifier: MIT */
/*
 * Signalling a child: through its pidfd (never a recycled pid), its process
 * group, or its cgroup.  The one place that sends a signal.
 */
#include <pidvisor.h>
#include <poll.h>
#include <signal.h>

#include "cgroup.h"
#include "child.h"
#include "fault.h"
#include "loop.h"
#include "syscall.h"

static bool pidfd_exited(int pidfd)
{
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        return sys_poll(&p, 1, 0) != 0;
}

bool pv__signal_exited(const pv_child *c)
{
        return pidfd_exited(c->pidfd.fd);
}

int pv__signal_pidfd(int pidfd, pid_t pid, int sig, bool pidfd_ok)
{
        int r = -EPERM;

        if (likely(pidfd_ok))
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_pidfd_send_signal(pidfd, sig, 0)));
        if (r == -EPERM || r == -ENOSYS) {
                /* Refused: a sandbox (Docker's profile before 20.10 says
                 * EPERM), or a tool that lacks the call (valgrind 3.19).
                 * By pid then, safe while the pidfd shows the process
                 * unexited: its pid is still its own.  Delete when no
                 * sandbox or tool we meet refuses it. */
                if (pidfd_exited(pidfd))
                        return -ESRCH;
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_kill(pid, sig)));
        }
        return r;
}

/* Until the loop reaps the child, its pid (and so its pgid) cannot be
 * reused, which makes kill(-pid) safe, unless a host reaper took the child
 * between our check and the kill (a window we cannot close before
 * PIDFD_SIGNAL_PROCESS_GROUP). */
static int group_signal(pv_child *c, int sig)
{
        int r;

        if (c->loop->feat.pidfd_signal_pgrp)
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL,
                                     sys_pidfd_send_signal(c->pidfd.fd, sig,
                                                           PIDFD_SIGNAL_PROCESS_GROUP)));
        else    /* before Linux 6.9; delete when that is our floor */
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_kill(-c->pid, sig)));
        return r;
}

int pv__signal_send(pv_child *c, int sig, bool tree)
{
        int r;

        if (pv__signal_exited(c))
                return -ESRCH;
        if (tree && c->cgroup_fd >= 0) {
                /* Every process of its cgroup (src/cgroup.c); then the
                 * child itself, unless it was reached by name (it may have
                 * left the cgroup; cgroup.kill names nobody).  Found dead
                 * after a cgroup signal that went out: that signal ended
                 * it, not someone else. */
                bool self;
                int rc = pv__cgroup_signal(c->cgroup_fd, sig, c->pid, &self);

                if (self)
                        return 0;
                r = pv__signal_pidfd(c->pidfd.fd, c->pid, sig, c->loop->feat.pidfd_signal);
                return r == -ESRCH && rc == 0 ? 0 : r;
        }
        if (tree && (c->spawn_flags & (PV_SPAWN_F_NEW_PGRP | PV_SPAWN_F_NEW_SESSION))) {
                r = group_signal(c, sig);
                if (r != -ESRCH)
                        return r;
                /* The child left its group (setsid, setpgid): signal it. */
        }
        return pv__signal_pidfd(c->pidfd.fd, c->pid, sig, c->loop->feat.pidfd_signal);
}

int pv__signal_tree(pv_child *c, int sig)
{
        int r;

        if (c->cgroup_fd >= 0) {
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL,
                                     pv__cgroup_signal(c->cgroup_fd, sig, 0, NULL)));
                return r == -ENOENT || r == -ENODEV ? -ESRCH : r;  /* the cgroup went */
        }
        /* The leader is reaped; its pidfd (kept until the exit is
         * delivered) still names its group, whose number cannot be hit
         * once reused: ESRCH when the group is empty. */
        if (c->loop->feat.pidfd_signal_pgrp && c->pidfd.fd >= 0)
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL,
                                     sys_pidfd_send_signal(c->pidfd.fd, sig,
                                                           PIDFD_SIGNAL_PROCESS_GROUP)));
        else    /* before Linux 6.9: the number, which is the group's while
                 * it has a member (the window: its last member exits and
                 * the number is reused between our look and this kill) */
                PV_RETRY(r, PV_FAULT(PV_FAULT_SIGNAL, sys_kill(-c->pid, sig)));
        return r;
}

PV_EXPORT int pv_child_signal(pv_child *c, int sig)
{
        return_if_invalid(c, -EINVAL);
        return_if_invalid(sig >= 0 && sig <= PV__NSIG, -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        if (pv__child_gone(c))
                return -ESRCH;
        return pv__signal_send(c, sig, false);
}
