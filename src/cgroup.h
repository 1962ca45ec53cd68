/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 directories as the library uses them (pv_cgroup is built on
 * these, and the stop ladder signals a child's cgroup with them):
 * signalling every process of one, and telling whether it is populated.
 * Each takes an fd of the cgroup's directory, never a path, so that a
 * renamed or re-created directory of the same name is never hit.  All
 * return -errno on failure and print nothing.
 */
#ifndef PV_CGROUP_H
#define PV_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "internal.h"

/* Send sig to every process of the cgroup dfd (and of its descendants,
 * with cgroup.kill).  SIGKILL goes through cgroup.kill where the kernel has
 * it (5.14; it also catches processes forking meanwhile); where it is
 * missing or cannot be written, and for any other signal, kill() goes to
 * each pid listed in cgroup.procs (a pid that exits meanwhile and is reused
 * outside the cgroup at once could be hit: the window cgroup.kill closes;
 * descendant cgroups are not walked).
 * *reached (if reached is not NULL) is set in every case, failure included:
 * whether pid (when > 0) was listed and took the signal by name.  It is
 * false after cgroup.kill, which reaches pid too if it is a member but names
 * nobody, so that a caller who must reach pid signals it directly.
 * Returns 0 when every listed process took the signal (one that exited
 * meanwhile, ESRCH, counts as reached) or cgroup.kill took it; else the
 * first error, with every other pid still tried: -EPERM (or another error
 * of kill()) for a process not ours to signal; or, with no pid tried,
 * -ENOENT/-ENODEV (the cgroup was removed), -EMFILE, -ENFILE, -ENOMEM from
 * opening or reading cgroup.procs. */
int pv__cgroup_signal(int dfd, int sig, pid_t pid, bool *reached) PV_HIDDEN;

/* An fd (O_RDONLY, O_CLOEXEC, >= 3) of dfd's cgroup.events: poll() reports
 * POLLPRI (epoll EPOLLPRI) when its content changed since it was last read
 * with pv__cgroup_populated(), as when the last process leaves.  The fd
 * or -errno (-ENOENT: not a cgroup v2 directory, or removed). */
int pv__cgroup_events_open(int dfd) PV_HIDDEN;

/* Read "populated" from a cgroup.events fd (which also clears its POLLPRI):
 * 1 when a process is left in the cgroup or below it, 0 when none (a zombie
 * is not counted: its parent need not have reaped it), or -errno:
 * -ENODEV (the cgroup was removed), -EBADMSG (no "populated" line), or
 * another error of pread(). */
int pv__cgroup_populated(int events_fd) PV_HIDDEN;

#endif
