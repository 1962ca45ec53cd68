/* SPDX-License-Identifier: MIT */
/*
 * --kill-tree: what holds the program and everything it starts, so that
 * the stop and the end reach all of it.  Two kinds, one interface: a cgroup
 * v2 directory of its own (every descendant, whatever it does with
 * sessions and groups), or, where cgroup v2 is not usable, the program's
 * own process group (a descendant that calls setsid() or setpgid() leaves
 * it).  The library's PV_SPAWN_F_TREE stops the tree and waits for it;
 * here it is made, named and removed.
 */
#ifndef PV_CLI_TREE_H
#define PV_CLI_TREE_H

#include <pidvisor.h>
#include <stdbool.h>

enum tree_kind { TREE_NONE, TREE_CGROUP, TREE_PGRP };

/* How long tree_done() may wait for a cgroup's last process. */
#define TREE_REMOVE_MS 10000
/* How long a program that the broken loop left may take to die. */
#define TREE_KILL_MS 5000

struct tree {
        enum tree_kind kind;
        pid_t pgid;             /* TREE_PGRP: the program's pid, its group's */
        pv_cgroup *cg;          /* TREE_CGROUP: the program's own cgroup;
                                 * else NULL */
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

/* Let go of the tree: a cgroup is killed, waited for (TREE_REMOVE_MS at
 * most) and removed.  0, or -errno of the removal (why says it). */
int tree_done(struct tree *t);

/* "cgroup", "pgrp" or "none". */
const char *tree_name(const struct tree *t);

#endif
