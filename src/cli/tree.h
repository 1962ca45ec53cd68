/* SPDX-License-Identifier: MIT */
/*
 * --kill-tree: what holds the program and everything it starts, so that
 * the stop and the end reach all of it.  Two kinds, one interface: a cgroup
 * v2 directory of its own (every descendant, whatever it does with
 * sessions and groups; an event fd says when it is empty), or, where
 * cgroup v2 is not usable, the program's own process group (a descendant
 * that calls setsid() or setpgid() leaves it; emptiness is polled).
 */
#ifndef PV_CLI_TREE_H
#define PV_CLI_TREE_H

#include <pidvisor.h>
#include <stdbool.h>

enum tree_kind { TREE_NONE, TREE_CGROUP, TREE_PGRP };

/* How often to look whether a tree without an event fd is empty. */
#define TREE_POLL_MS 20
/* How long tree_done() may wait for a cgroup's last process. */
#define TREE_REMOVE_MS 10000
/* How long the kill of what is left of a tree may take. */
#define TREE_KILL_MS 5000

struct tree {
        enum tree_kind kind;
        pid_t pgid;             /* TREE_PGRP: the program's pid, its group's */
        pv_cgroup *cg;          /* TREE_CGROUP: the program's own cgroup,
                                 * its events fd open; else NULL */
        bool fell_back;         /* cgroup v2 not usable: TREE_PGRP, why says why */
        bool failed;            /* tree_spawn failed in the tree's own setup */
        char why[4352];         /* the step that failed and its error, for a
                                 * fallback or a setup error of the tree's */
};

/* Spawn o with its tree held: in a cgroup of its own where cgroup v2 is
 * usable, else (no cgroup2 mount; not writable: EACCES, EPERM, EROFS; the
 * kernel refusing the move: EOPNOTSUPP, EBUSY, ...) in a process group of
 * its own, with fell_back and why set.  o->flags gets the tree's flag.
 * Returns 0, or pv_spawn()'s error, or an error of the tree's own setup
 * (-ENOMEM, -EMFILE, -EAGAIN, ...: never a fallback) with failed and why
 * set.  Call tree_done() either way. */
int tree_spawn(struct tree *t, pv_loop *loop, struct pv_spawn_opts *o, pv_child **ret,
               int *stage);

/* What tree_spawn would do here, found the same way, with a program that
 * does not exist: 0 and t->kind (then tree_done), or the setup error. */
int tree_probe(struct tree *t, pv_loop *loop);

/* Send sig to every process of the tree. */
void tree_signal(const struct tree *t, int sig);

/* Whether nothing of the tree is left.  Only once the program is reaped:
 * for a process group this reaps the members that are our own children
 * (orphans, when pidvisor is a namespace's init or a subreaper). */
bool tree_empty(const struct tree *t);

/* An fd that turns readable (EPOLLPRI) when the tree may have emptied, or
 * -1: look every TREE_POLL_MS. */
int tree_event_fd(const struct tree *t);

/* What the program left behind gets what the program got, once it has
 * been reaped: with graceful, SIGTERM (and SIGCONT) and grace_ms from now,
 * its stderr still printed as the command's loop turns (events.h), cut
 * short when *signals changes (a signal to pidvisor); then SIGKILL, again
 * every 100 ms, for TREE_KILL_MS at most; then tree_done(), which removes
 * the cgroup.  A tree still there, and a failed removal, are said. */
void tree_wind_down(struct tree *t, uint64_t grace_ms, bool graceful, const int *signals);

/* Let go of the tree: a cgroup is killed, waited for (TREE_REMOVE_MS at
 * most) and removed.  0, or -errno of the removal (why says it). */
int tree_done(struct tree *t);

/* "cgroup", "pgrp" or "none". */
const char *tree_name(const struct tree *t);

#endif
