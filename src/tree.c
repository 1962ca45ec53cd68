/* SPDX-License-Identifier: MIT */
/*
 * A child's tree (PV_SPAWN_F_TREE): the child and every descendant in its
 * own cgroup, or in its process group.  The ladder does not deliver the
 * exit until the tree is empty; here is how it knows.
 *
 * A cgroup says so itself: cgroup.events reads "populated 0", and its fd
 * turns EPOLLPRI when that changes (once read through the same fd: kernfs
 * compares what the fd last read).  A process group says nothing: it is
 * polled, backing off, through the reaped leader's pidfd (kept open until
 * the exit is delivered; PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9), which
 * names the group itself, never a reused number; before 6.9 with
 * kill(-pgid, 0): the number is the group's while it has a member.
 */
#include <pidvisor.h>

#include "cgroup.h"
#include "child.h"
#include "fault.h"
#include "loop.h"
#include "syscall.h"

#define POLL_FIRST_NS (10u * 1000000u)
#define POLL_MAX_NS (200u * 1000000u)

static void tree_ready(struct pv__source *s, uint32_t events)
{
        (void)events;
        (void)pv__ladder_input(container_of(s, pv_child, tree_src), CHILD_IN_TREE);
}

/* An error reading a cgroup's state is not news that it emptied: only a
 * cgroup that is gone is empty; otherwise it is looked at again (polled,
 * the fd not in the loop). */
static int known(int r)
{
        if (r == -ENOENT || r == -ENODEV)
                return 0;
        return r != 0;          /* 1, or an error: populated as far as we know */
}

static int populated(pv_child *c)
{
        int r, fd;

        if (c->cgroup_fd < 0) {
                siginfo_t si;

                r = pv__signal_tree(c, 0);
                if (r != 0 && r != -EPERM)      /* EPERM: a member not ours */
                        return r == -ESRCH ? 0 : r;
                /* The group has a member, so its number is its own.  A
                 * zombie stays in it until reaped; those that are ours are
                 * orphans of the tree reparented to us (the host is a
                 * subreaper, or a namespace's init): nobody else will reap
                 * them, and no status of the host's is among them (the
                 * group is the child's own, the child reaped already). */
                do
                        si.si_pid = 0;
                while (sys_waitid(P_PGID, c->pid, &si, WEXITED | WNOHANG | __WALL, NULL) == 0 &&
                       si.si_pid > 0);
                r = pv__signal_tree(c, 0);
                return r == 0 || r == -EPERM ? 1 : r == -ESRCH ? 0 : r;
        }
        if (c->tree_src.fd >= 0) {
                r = pv__cgroup_populated(c->tree_src.fd);
                if (r < 0 && r != -ENOENT && r != -ENODEV)
                        /* Its news would stay unread, its EPOLLPRI
                         * level-triggered: out of the loop, polled. */
                        pv__tree_close(c);
                return r;
        }
        fd = pv__cgroup_events_open(c->cgroup_fd);
        if (fd < 0)
                return fd;
        r = pv__cgroup_populated(fd);
        if (r == 1)
                c->tree_src.fd = fd;    /* kept: pv__tree_watch adds it */
        else
                sys_close(fd);
        return r;
}

void pv__tree_watch(pv_child *c)
{
        c->tree_src.cb = tree_ready;
        if (c->tree_src.fd >= 0 && !c->tree_watched)
                /* Without it (EMFILE, ENOSPC), the tree is polled. */
                c->tree_watched = pv__loop_add(c->loop, &c->tree_src, PV_EV_PRI) == 0;
}

bool pv__tree_polled(const pv_child *c)
{
        return !c->tree_watched;
}

uint64_t pv__tree_next_poll(pv_child *c)
{
        uint64_t ns = c->tree_poll_ns ? c->tree_poll_ns * 2 : POLL_FIRST_NS;

        c->tree_poll_ns = ns < POLL_MAX_NS ? ns : POLL_MAX_NS;
        return pv__now_ns() + c->tree_poll_ns;
}

void pv__tree_close(pv_child *c)
{
        c->tree_watched = false;
        pv__loop_close(c->loop, &c->tree_src);
}

int pv__tree_populated(pv_child *c)
{
        return known(populated(c));
}
