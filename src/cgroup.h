/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 directories as the library uses them: signalling every process
 * of one, telling whether it is populated, and finding our own.  Each takes
 * an fd of the cgroup's directory (O_DIRECTORY or O_PATH), never a path, so
 * that a renamed or re-created directory of the same name is never hit.
 * All return -errno on failure and print nothing.
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

/* SIGKILL every process of the cgroup dfd and wait until none is left,
 * for at most timeout_ms (-1: no limit), killing again every 100 ms in case
 * one was forking (without cgroup.kill).  0 once empty; -ETIMEDOUT when
 * still populated at the deadline (or the error of pv__cgroup_signal()
 * when the last kill failed: -EPERM), or an error of the two above.
 * events_fd: an fd of pv__cgroup_events_open() to use, or -1 for one
 * opened and closed here. */
int pv__cgroup_kill_wait(int dfd, int events_fd, int timeout_ms) PV_HIDDEN;

/* Our own cgroup v2 directory as this process sees it: the cgroup2 mount
 * (the one that shows the most of our path) whose root holds the "0::" line
 * of /proc/self/cgroup, joined with the rest of that line.  *ret_path is a
 * malloc()ed absolute path.  0, or -ENOENT (no cgroup v2 hierarchy, or
 * ours is not visible in any mount), -ENAMETOOLONG, -ENOMEM, -EMFILE, or
 * another errno of reading /proc. */
int pv__cgroup_own_dir(char **ret_path) PV_HIDDEN;

#endif
