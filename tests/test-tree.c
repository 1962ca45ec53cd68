/* SPDX-License-Identifier: MIT */
/* src/tree.c and the ladder's tree states, with real processes: a child
 * spawned with PV_SPAWN_F_TREE is delivered only once its whole tree (its
 * cgroup, or its process group) is gone, and the tree gets the ladder.
 * (tests/test-ladder.c covers every cell on a fake clock.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"

TestSuite(tree, .timeout = 60);

/* What the exit callback saw of the tree when it ran. */
static struct {
        int gc;                 /* the grandchild's pid */
        const char *cgroup;     /* the tree's cgroup, or NULL */
        bool gc_alive;          /* kill(gc, 0) worked: alive or a zombie */
        bool populated;
        int exits;
} seen;

static void on_exit_look(pv_child *c, const struct pv_exit *e, void *ud)
{
        tu_on_exit(c, e, ud);
        seen.exits++;
        seen.gc_alive = seen.gc > 0 && kill(seen.gc, 0) == 0;
        seen.populated = seen.cgroup && !tu_cgroup_empty(seen.cgroup);
}

static pv_child *spawn_tree(pv_loop *l, struct pv_spawn_opts *o, struct tu_out *out)
{
        pv_child *c;

        memset(&seen, 0, sizeof(seen));
        o->flags |= PV_SPAWN_F_TREE;
        o->on_exit = on_exit_look;
        c = tu_spawn_ready(l, o, out);
        cr_assert_eq(sscanf(strstr(out->data, "grandchild="), "grandchild=%d", &seen.gc), 1);
        return c;
}

/* The same in a fresh cgroup of its own. */
static pv_child *spawn_cgroup_tree(pv_loop *l, struct pv_spawn_opts *o, struct tu_out *out,
                                   char *path, size_t size, int *cg)
{
        pv_child *c;

        *cg = tu_make_cgroup(path, size, "tree");
        o->flags = PV_SPAWN_F_CGROUP;
        o->cgroup_fd = *cg;
        c = spawn_tree(l, o, out);
        seen.cgroup = path;
        return c;
}

static void done_cgroup_tree(pv_loop *l, pv_child *c, const char *path, int cg)
{
        pv_child_release(c);
        pv_loop_free(l);
        cr_assert_eq(rmdir(path), 0, "rmdir: %s", strerror(errno));
        close(cg);
}

/* A process group whose child exits with code, leaving a grandchild that
 * ignores SIGTERM (a grace of a minute): dispatched (bounded) until the
 * child is reaped and its exit waits for the tree. */
static pv_child *spawn_tree_left(pv_loop *l, struct tu_out *out, const char *code)
{
        struct pv_spawn_opts o = tu_helper_opts(
                TU_ARGV("ignore-term", "fork-grandchild", "ready", "exit", code), out);
        pv_child *c;

        o.flags = PV_SPAWN_F_NEW_PGRP;
        o.grace_ms = 60000;
        c = spawn_tree(l, &o, out);
        for (int i = 0; i < 2000 && pv_child_pidfd(c) >= 0; i++)
                cr_assert_geq(pv_loop_dispatch(l, 10), 0);
        cr_assert_eq(pv_child_pidfd(c), -ESRCH, "the child was reaped");
        cr_assert_eq(pv_child_is_reaped(c), 0, "its exit waits for the tree");
        return c;
}

/* A process group: the child exits at once, its grandchild (which obeys
 * SIGTERM) stays.  The exit waits for it, the grandchild gets SIGTERM and
 * goes; no SIGKILL was needed; the child's own status is kept. */
Test(tree, pgrp_child_exits_first)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o =
                tu_helper_opts(TU_ARGV("fork-grandchild", "ready", "exit", "3"), &out);
        struct pv_exit e;
        pv_child *c;

        o.flags = PV_SPAWN_F_NEW_PGRP;
        o.grace_ms = 20000;
        c = spawn_tree(l, &o, &out);
        cr_assert_eq(pv_child_wait(c, 20000, &e), 0);
        cr_assert_eq(seen.exits, 1);
        cr_assert_not(seen.gc_alive, "exit delivered while the grandchild lived");
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_eq(e.code, 3);
        cr_assert_eq(e.flags, PV_EXIT_F_TREE_LEFT, "flags %#x", e.flags);
        cr_assert(tu_wait_gone(seen.gc));
        pv_child_release(c);
        pv_loop_free(l);
        cr_assert(tu_no_children());
}

/* A cgroup: the child exits, its grandchild ignores SIGTERM.  After the
 * grace the tree gets SIGKILL (cgroup.kill); the exit comes when the
 * cgroup says it is empty, and says the tree was killed. */
Test(tree, cgroup_descendant_ignores_term)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(
                TU_ARGV("ignore-term", "fork-grandchild", "ready", "exit", "0"), &out);
        char path[4300];
        struct pv_exit e;
        pv_child *c;
        int cg;

        o.grace_ms = 100;
        c = spawn_cgroup_tree(l, &o, &out, path, sizeof(path), &cg);
        cr_assert_eq(pv_child_wait(c, 20000, &e), 0);
        cr_assert_eq(seen.exits, 1);
        cr_assert_not(seen.populated, "exit delivered with the cgroup populated");
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_eq(e.code, 0);
        cr_assert_eq(e.flags, PV_EXIT_F_TREE_LEFT | PV_EXIT_F_TREE_KILLED, "flags %#x",
                     e.flags);
        cr_assert_geq(e.runtime_us, 100000u, "the grace was honoured");
        done_cgroup_tree(l, c, path, cg);
}

/* Stopped as a whole: child and grandchild both ignore SIGTERM; the
 * ladder's SIGKILL (cgroup.kill) ends both; the exit comes with the
 * cgroup empty. */
Test(tree, cgroup_stop_as_a_whole)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(
                TU_ARGV("ignore-term", "fork-grandchild", "ready", "pause"), &out);
        char path[4300];
        struct pv_exit e;
        pv_child *c;
        int cg;

        o.grace_ms = 50;
        c = spawn_cgroup_tree(l, &o, &out, path, sizeof(path), &cg);
        e = tu_stop_wait(c);
        /* (The grandchild may still be a zombie, its new parent slow to
         * reap it: a cgroup counts only the living.) */
        cr_assert_not(seen.populated, "exit delivered with the cgroup populated");
        cr_assert(tu_wait_gone(seen.gc));
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert_eq(e.flags & (PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED),
                     PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED);
        done_cgroup_tree(l, c, path, cg);
}

/* A cgroup whose state cannot be read (no fd left for its cgroup.events:
 * EMFILE) is not news that it emptied: the child is reaped, its tree is
 * still waited for (polled), and the exit comes once the cgroup is empty.
 * For the one dispatch that reaps the child every fd below the limit is
 * taken, so the first open fails, and so does the tree's SIGTERM (no fd
 * for cgroup.procs): a grace of zero, its SIGKILL tried again every second
 * until the limit is back.  No assertion runs meanwhile.  (The child waits for its stdin's EOF to exit,
 * so that it is not reaped before.) */
Test(tree, cgroup_unreadable_is_populated)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(
                TU_ARGV("fork-grandchild", "ready", "wait-fd", "0", "exit", "0"), &out);
        char path[4300];
        struct rlimit was, none;
        struct pv_exit e;
        pv_child *c;
        int cg, pidfd, next, held[64], n = 0, r = 0;

        o.grace_ms = 20000;
        o.stdio[0].mode = PV_STDIO_PIPE;
        c = spawn_cgroup_tree(l, &o, &out, path, sizeof(path), &cg);
        pidfd = pv_child_pidfd(c);
        cr_assert_eq(pv_child_close_stdin(c), 0, "the child's go: it exits");
        cr_assert_geq(pidfd, 0);
        /* Fill every free fd below the pidfd; the limit is the next one. */
        while ((next = fcntl(cg, F_DUPFD_CLOEXEC, 0)) >= 0 && next < pidfd) {
                cr_assert_lt(n, 64);
                held[n++] = next;
        }
        cr_assert_gt(next, pidfd);
        close(next);
        cr_assert_eq(getrlimit(RLIMIT_NOFILE, &was), 0);
        none = was;
        none.rlim_cur = (rlim_t)next;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
        for (int i = 0; i < 2000 && r >= 0 && pv_child_pidfd(c) >= 0; i++)
                r = pv_loop_dispatch(l, 10);
        (void)setrlimit(RLIMIT_NOFILE, &was);
        while (n > 0)
                close(held[--n]);
        cr_assert_geq(r, 0, "dispatch: %s", strerror(-r));
        cr_assert_eq(pv_child_pidfd(c), -ESRCH, "the child was reaped");
        cr_assert_eq(seen.exits, 0, "exit delivered though the cgroup could not be read");
        cr_assert_eq(pv_child_is_reaped(c), 0, "its exit waits for the tree");
        cr_assert_eq(pv_child_wait(c, 20000, &e), 0);
        cr_assert_eq(seen.exits, 1);
        cr_assert_not(seen.populated, "exit delivered with the cgroup populated");
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        /* The tree's SIGTERM could not be sent either (no fd for
         * cgroup.procs): a grace of zero, and its SIGKILL tried again until
         * sent. */
        cr_assert_eq(e.flags, PV_EXIT_F_TREE_LEFT | PV_EXIT_F_TREE_KILLED, "flags %#x", e.flags);
        done_cgroup_tree(l, c, path, cg);
}

/* A tree that has emptied with the child: no wait, no tree flag. */
Test(tree, nothing_left)
{
        pv_loop *l = tu_loop_on(0);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "5"), NULL);
        struct pv_exit e;

        o.flags = PV_SPAWN_F_NEW_SESSION | PV_SPAWN_F_TREE;
        cr_assert_eq(tu_run_opts(l, &o, &e), 0);
        cr_assert_eq(e.code, 5);
        cr_assert_eq(e.flags, 0u);
        pv_loop_free(l);
}

/* pv_loop_free while the loop waits for a tree: the tree is killed, and
 * nothing hangs. */
Test(tree, free_while_waiting_for_the_tree)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };

        (void)spawn_tree_left(l, &out, "0");    /* pv_loop_free frees it */
        cr_assert_eq(pv_loop_count_unreaped(l), 1);
        pv_loop_free(l);
        cr_assert(tu_wait_gone(seen.gc), "the tree outlived pv_loop_free");
        cr_assert_eq(seen.exits, 0, "no callback from pv_loop_free");
}

/* While the exit waits for the tree, the child is reaped (its pidfd gone)
 * but not yet exited for the caller: counted, not reaped, no exit yet, no
 * signal (the pid may be reused), a stop sends nothing, a wait waits.  A
 * descendant that a signal from outside kills ends the wait, without
 * PV_EXIT_F_TREE_KILLED (the ladder sent no SIGKILL); its zombie counted
 * until its reaper took it. */
Test(tree, calls_while_waiting)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };
        struct pv_exit e;
        pv_child *c = spawn_tree_left(l, &out, "4");

        cr_assert_eq(pv_child_get_exit(c, &e), -EBUSY);
        cr_assert_eq(pv_child_signal(c, 0), -ESRCH);
        cr_assert_eq(pv_child_stop(c), 0, "a stop of a waiting tree sends nothing");
        cr_assert_eq(pv_loop_count_unreaped(l), 1);
        cr_assert_eq(pv_child_wait(c, 0, NULL), -ETIMEDOUT);
        cr_assert(tu_pid_alive(seen.gc), "the tree's SIGTERM is ignored: it lives");
        cr_assert_eq(kill(seen.gc, SIGKILL), 0);
        cr_assert_eq(pv_child_wait(c, 20000, &e), 0);
        cr_assert_eq(seen.exits, 1);
        cr_assert_not(seen.gc_alive, "exit delivered while the grandchild was a zombie");
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_eq(e.code, 4);
        cr_assert_eq(e.flags, PV_EXIT_F_TREE_LEFT, "flags %#x", e.flags);
        cr_assert_eq(pv_loop_count_unreaped(l), 0);
        pv_child_release(c);
        pv_loop_free(l);
}

/* The host is a subreaper (as a namespace's init is): the grandchild,
 * orphaned, is reparented to it, and its zombie, which stays in the group
 * until reaped, has nobody else to reap it.  The library reaps it while it
 * waits for the group, so the wait ends once the grandchild obeyed
 * SIGTERM, long before the grace; no child of the host is left. */
Test(tree, pgrp_orphans_of_a_subreaper)
{
        pv_loop *l = tu_loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o =
                tu_helper_opts(TU_ARGV("fork-grandchild", "ready", "exit", "0"), &out);
        struct pv_exit e;
        pv_child *c;

        cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
        o.flags = PV_SPAWN_F_NEW_PGRP;
        o.grace_ms = 60000;
        c = spawn_tree(l, &o, &out);
        cr_assert_eq(pv_child_wait(c, 20000, &e), 0, "the orphan's zombie was not reaped");
        cr_assert_not(seen.gc_alive, "exit delivered while the grandchild lived");
        cr_assert_eq(e.flags, PV_EXIT_F_TREE_LEFT, "flags %#x", e.flags);
        cr_assert_lt(e.runtime_us, 20000000u);
        cr_assert(tu_no_children(), "a zombie of the tree was left");
        pv_child_release(c);
        pv_loop_free(l);
        cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

/* PV_SPAWN_F_TREE needs a tree to name: a cgroup or a process group. */
Test(tree, needs_a_tree)
{
        pv_loop *l = tu_loop_on(0);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        int stage = -1;

        o.flags = PV_SPAWN_F_TREE;
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -EINVAL);
        cr_assert_eq(stage, PV_STAGE_SETUP);
        pv_loop_free(l);
}
