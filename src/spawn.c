/* SPDX-License-Identifier: MIT */
/*
 * pv_spawn: checking the options, preparing the pipes, creating the child
 * object, running the clone ladder (clone.c) and starting to watch the
 * child.
 */
#include <pidvisor.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "fault.h"
#include "loop.h"
#include "spawn.h"
#include "syscall.h"

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
                               PV_SPAWN_F_PDEATHSIG | PV_SPAWN_F_CGROUP | PV_SPAWN_F_TREE;
        const unsigned tree = PV_SPAWN_F_CGROUP | PV_SPAWN_F_NEW_PGRP | PV_SPAWN_F_NEW_SESSION;

        return_if_invalid(o->argv && o->argv[0] && o->argv[0][0], -EINVAL);
        return_if_invalid(!(o->flags & ~known), -EINVAL);
        return_if_invalid(o->pdeathsig >= 0 && o->pdeathsig <= PV__NSIG, -EINVAL);
        return_if_invalid(o->deadline_ms <= UINT64_MAX / 2000000u, -EINVAL);
        return_if_invalid(!(o->flags & PV_SPAWN_F_CGROUP) || o->cgroup_fd >= 0, -EINVAL);
        return_if_invalid(!(o->flags & PV_SPAWN_F_TREE) || (o->flags & tree), -EINVAL);
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
        c->pidfd_watched = true;
        r = pv__stdio_start(l, &c->io);
        if (r < 0)
                return r;
        if (o->deadline_ms)
                return pv__timer_arm(l, &c->timer, pv__now_ns() + o->deadline_ms * 1000000u);
        return 0;
}

/* What the child needs, all prepared before the clone (it may not
 * allocate). */
static void fill_args(struct pv__child_args *a, const pv_loop *l, const pv_child *c,
                      const struct pv_spawn_opts *o, const int *keep)
{
        extern char **environ;

        a->argv = o->argv;
        a->envp = o->envp ? o->envp : (const char *const *)environ;
        a->path = search_path(o);
        a->cwd = o->cwd;
        memcpy(a->stdio, c->io.child_fd, sizeof(a->stdio));
        a->flags = o->flags;
        a->pdeathsig = o->flags & PV_SPAWN_F_PDEATHSIG ? (o->pdeathsig ? o->pdeathsig : SIGKILL)
                                                      : 0;
        a->parent_pid = l->owner_pid; /* checked by the caller */
        a->keep = keep;
        a->close_range = l->feat.close_range_cloexec;
        a->err_pipe = !l->feat.shared_mem;
}

/* It runs, and we cannot watch it: kill it, close its pipes (a child that
 * may not be signalled at all may still end at their EOF), and reap it
 * unless it is unkillable (then it is left, as pv_loop_free leaves it). */
static void abandon(pv_loop *l, pv_child *c)
{
        pv__child_kill_now(c);
        pv__stdio_spawned(&c->io);
        pv__stdio_close(l, &c->io);
        if (!c->unkillable)
                pv__child_reap_blocking(c);
        pv__timer_disarm(l, &c->timer);
        pv__loop_close(l, &c->pidfd);
}

/* The loop takes the running, watched child (its reference, see child.h),
 * and the caller a handle when it asked for one. */
static void adopt(pv_loop *l, pv_child *c, pv_child **ret)
{
        if (!ret)
                /* No handle, nobody to write: the child reads EOF. */
                (void)pv__stdio_close_stdin(l, &c->io);
        pv_list_add(&l->alive, &c->node);
        l->n_alive++;
        l->n_children++;
        c->refs = 1;                    /* the loop's */
        if (ret) {
                pv__child_ref(c);       /* the caller's */
                c->caller_ref = true;
                *ret = c;
        }
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
        c = pv__child_new(l, &o);
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

        fill_args(&a, l, c, &o, keep);

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
                *stage = PV_STAGE_SETUP;
                abandon(l, c);
                goto out_stdio;
        }

        adopt(l, c, ret);
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

static const char *const stage_names[_PV_STAGE_MAX] = {
        [PV_STAGE_NONE] = "none",
        [PV_STAGE_SETUP] = "setup",
        [PV_STAGE_SIGNALS] = "signals",
        [PV_STAGE_SESSION] = "session",
        [PV_STAGE_PDEATHSIG] = "pdeathsig",
        [PV_STAGE_STDIO] = "stdio",
        [PV_STAGE_FDS] = "fds",
        [PV_STAGE_CHDIR] = "chdir",
        [PV_STAGE_EXEC] = "exec",
        [PV_STAGE_CGROUP] = "cgroup",
};

PV_EXPORT const char *pv_spawn_stage_name(int stage)
{
        return stage >= 0 && stage < _PV_STAGE_MAX ? stage_names[stage] : NULL;
}
