/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tree.h"

/* "cgroup v2 is not usable here", as opposed to "we ran out of something":
 * only the first may fall back to a process group.  stage: where pv_spawn
 * failed, or PV_STAGE_NONE for the cgroup's own setup. */
static bool unusable(int err, int stage)
{
        switch (err) {
        case -ENOENT:           /* no cgroup2 mount, or the directory went */
        case -ENODEV:
        case -ENOMEDIUM:        /* not a cgroup v2 file system */
        case -ENAMETOOLONG:
        case -EACCES:           /* not ours to write (no delegation) */
        case -EPERM:
        case -EROFS:
        case -EOPNOTSUPP:       /* the move: a threaded cgroup */
        case -EBUSY:            /* the move: an invalid domain */
                return true;
        case -EINVAL:
        case -E2BIG:
                /* clone3 without CLONE_INTO_CGROUP (before Linux 5.7):
                 * an unknown flag, or a struct larger than it knows. */
                return stage == PV_STAGE_SETUP;
        default:
                return false;
        }
}

static void set_why(struct tree *t, const char *what, int err)
{
        snprintf(t->why, sizeof(t->why), "%s: %s", what, strerror(-err));
}

/* The program's own cgroup; 0 or -errno with why set. */
static int cgroup_open(struct tree *t)
{
        int r = pv_cgroup_new(&t->cg, NULL);

        if (r < 0) {
                set_why(t, "pv_cgroup_new", r);
                return r;
        }
        t->kind = TREE_CGROUP;
        return 0;
}

static void cgroup_close(struct tree *t)
{
        pv_cgroup_free(t->cg);  /* nothing ran in it */
        t->cg = NULL;
        t->kind = TREE_NONE;
}

int tree_spawn(struct tree *t, pv_loop *loop, struct pv_spawn_opts *o, pv_child **ret,
               int *stage)
{
        unsigned flags = o->flags;
        int r;

        *t = (struct tree){ .kind = TREE_NONE };
        r = cgroup_open(t);
        if (r == 0) {
                o->flags = flags | PV_SPAWN_F_CGROUP;
                o->cgroup_fd = pv_cgroup_fd(t->cg);
                r = pv_spawn(loop, o, ret, stage);
                if (r >= 0 || (*stage != PV_STAGE_CGROUP && *stage != PV_STAGE_SETUP) ||
                    !unusable(r, *stage))
                        return r;
                set_why(t, *stage == PV_STAGE_CGROUP ? "moving it into the cgroup"
                                                    : "clone3 into the cgroup", r);
                cgroup_close(t);
        } else if (!unusable(r, PV_STAGE_NONE)) {
                t->failed = true;
                return r;
        }
        t->fell_back = true;
        t->kind = TREE_PGRP;
        o->flags = flags | PV_SPAWN_F_NEW_PGRP;
        o->cgroup_fd = 0;
        r = pv_spawn(loop, o, ret, stage);
        if (r >= 0)
                t->pgid = pv_child_pid(*ret);
        return r;
}

int tree_probe(struct tree *t, pv_loop *loop)
{
        /* Never a file: the move into the tree happens (or fails) before
         * the exec, which then fails with ENOENT, and nothing runs. */
        static const char *const argv[] = { "/proc/self/fd/-1", NULL };
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        pv_child *c = NULL;
        int stage, r;

        o.argv = argv;
        r = tree_spawn(t, loop, &o, &c, &stage);
        if (r >= 0) {
                /* Something ran after all: take it down with the tree. */
                tree_signal(t, SIGKILL);
                (void)pv_child_signal(c, SIGKILL);
                (void)pv_child_wait(c, -1, NULL);
                pv_child_release(c);
                return 0;
        }
        if (r == -ENOENT && stage == PV_STAGE_EXEC)
                return 0;
        if (!t->why[0])
                set_why(t, "spawning a probe", r);
        return r;
}

void tree_signal(const struct tree *t, int sig)
{
        if (t->kind == TREE_CGROUP)
                (void)pv_cgroup_signal(t->cg, sig);    /* -EPERM: it is not ours */
        else if (t->kind == TREE_PGRP && t->pgid > 0)
                (void)kill(-t->pgid, sig);     /* ESRCH: nobody left */
}

int tree_done(struct tree *t)
{
        char what[4200];
        int r = 0;

        if (t->kind == TREE_CGROUP && t->cg) {
                r = pv_cgroup_remove(t->cg, TREE_REMOVE_MS);
                if (r < 0) {
                        snprintf(what, sizeof(what), "removing %s", pv_cgroup_path(t->cg));
                        set_why(t, what, r);
                }
        }
        pv_cgroup_free(t->cg);  /* a removal that failed stays failed */
        t->cg = NULL;
        return r;
}

const char *tree_name(const struct tree *t)
{
        return t->kind == TREE_CGROUP ? "cgroup" : t->kind == TREE_PGRP ? "pgrp" : "none";
}
