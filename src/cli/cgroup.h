/* SPDX-License-Identifier: MIT */
/* --kill-tree's cgroup: a fresh cgroup v2 directory under pidvisor's own,
 * for the program to be spawned into, emptied and removed afterwards. */
#ifndef PV_CLI_CGROUP_H
#define PV_CLI_CGROUP_H

#include <stdbool.h>

struct tree_cgroup {
        char path[4096];   /* the directory we made */
        int fd;            /* O_DIRECTORY fd of it, for PV_SPAWN_F_CGROUP; -1: none */
        const char *call;  /* after a failed cgroup_make: what failed */
};

/* Our own cgroup v2 directory: the cgroup2 mount whose root holds the "0::"
 * line of /proc/self/cgroup, joined with the rest of that line.  0, or
 * -ENOENT (no cgroup v2 hierarchy, or ours is not visible in any mount),
 * -ENAMETOOLONG, or the errno of reading /proc (-EMFILE, -ENOMEM, ...). */
int cgroup_own_dir(char *buf, size_t size);

/* Make and open a fresh child cgroup of ours.  0, or -errno with cg->call
 * naming the step: no cgroup v2: -ENOENT; not ours to write: -EACCES,
 * -EROFS, -EPERM; out of resources: -ENOMEM, -EMFILE, -EAGAIN (also
 * cgroup.max.descendants), ... */
int cgroup_make(struct tree_cgroup *cg);

/* Kill what is left in it (cgroup.kill, else SIGKILL to each pid), wait
 * (bounded) until it is empty, and remove it.  0 or -errno of rmdir. */
int cgroup_remove(struct tree_cgroup *cg);

/* Send sig to every process in it (SIGKILL through cgroup.kill). */
void cgroup_signal_all(const struct tree_cgroup *cg, int sig);

/* An fd of its cgroup.events, which raises POLLPRI when "populated"
 * changes, or -errno; and whether anything is left in it (reading it also
 * clears the POLLPRI). */
int cgroup_events_fd(const struct tree_cgroup *cg);
bool cgroup_populated(int events_fd);

/* cgroup.kill exists in it (Linux 5.14). */
bool cgroup_has_kill(const struct tree_cgroup *cg);

#endif
