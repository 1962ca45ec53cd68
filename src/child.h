/* SPDX-License-Identifier: MIT */
/*
 * The child object and what the files that make up its life need of it:
 *   spawn.c   creates it (pv_spawn: options, pipes, watching);
 *   clone.c   the ladder of clone mechanisms it is created with;
 *   signal.c  signals it (pidfd, process group, cgroup);
 *   ladder.c  the stop ladder: the state table and its actions;
 *   exit.c    collecting its status and delivering the exit;
 *   child.c   the public child calls and its lifetime (below).
 */
#ifndef PV_CHILD_H
#define PV_CHILD_H

#include <pidvisor.h>
#include <stdbool.h>

#include "backend.h"
#include "internal.h"
#include "stdio.h"
#include "timer.h"

enum pv__child_state {
        CHILD_RUNNING,     /* timer: the run deadline, if any */
        CHILD_STOPPING,    /* SIGTERM sent; timer: the grace period (or
                            * the retry of a SIGKILL that was refused) */
        CHILD_KILLED,      /* SIGKILL sent; waiting for the pidfd */
        CHILD_EXITING,     /* dead, but its status is not ours yet: a ptrace
                            * tracer holds the zombie, or another reaper
                            * took it and the kernel has not published it;
                            * pidfd out of the loop; timer: look again */
        CHILD_TREE,        /* PV_SPAWN_F_TREE: reaped, status kept, and
                            * its tree still populated: SIGTERM sent to the
                            * tree; timer: the grace's end (and the polls
                            * of a process group) */
        CHILD_TREE_KILLED, /* SIGKILL sent to the tree; waiting for it to
                            * empty; timer: the polls of a process group */
        CHILD_EXITED,      /* reaped (its tree empty); exit is final;
                            * output streams may linger; timer: the
                            * linger's end */
        _CHILD_STATE_MAX
};

/*
 * Lifetime: one reference count, c->refs.  Who holds a reference when:
 *   - the loop, from the spawn until the exit has been delivered (its
 *     reference is the last thing deliver drops);
 *   - a linger (exited, output streams still open), until it ends;
 *   - the caller, from pv_spawn(ret != NULL) until pv_child_release();
 *   - each pv_child_wait() in progress, for its duration.
 * At zero the child is freed: at the end of the dispatch when that is
 * running (it waits in the loop's graveyard, so that an event queued for it
 * in the same batch stays harmless), else at once.  pv_loop_free() frees
 * every child whatever its count: handles die with their loop.
 */
struct pv_child {
        pv_loop *loop;
        struct pv_list node;       /* loop->alive until reaped, then loop->dead,
                                    * then (freed during dispatch) graveyard */
        unsigned refs;             /* see "Lifetime" above; > 0 until freed */
        bool caller_ref;           /* the caller's reference is held */
        bool released;             /* the caller gave up its handle, or never
                                    * had one: no callback runs again (a
                                    * loop-owned child keeps its callbacks:
                                    * released stays false there) */
        int state;                 /* enum pv__child_state; ladder.c's alone */
        pid_t pid;
        unsigned spawn_flags;      /* enum pv_spawn_flags */
        unsigned exit_flags;       /* enum pv_exit_flags, as the ladder runs */
        unsigned tries;            /* looks taken in CHILD_EXITING */
        bool unkillable;           /* pv__child_kill_now could not signal it */
        bool pidfd_watched;        /* the pidfd is in the loop */
        bool lingering;            /* exited, streams open: holds a reference */
        bool tree_watched;         /* tree_src is in the loop */
        struct pv__source tree_src; /* cgroup.events of a PV_SPAWN_F_TREE
                                    * child in its cgroup, once it is in a
                                    * TREE state (EPOLLPRI); fd -1 else */
        uint64_t tree_poll_ns;     /* the last poll interval (process group,
                                    * or a cgroup whose events fd is not in
                                    * the loop); 0 before the first */
        uint64_t tree_grace_end_ns; /* in CHILD_TREE: when SIGKILL is due */
        uint64_t grace_ns;
        uint64_t linger_ns;
        uint64_t started_ns;
        struct pv__source pidfd;   /* fd -1 once reaped */
        int cgroup_fd;             /* PV_SPAWN_F_CGROUP: our copy; else -1 */
        struct pv__stdio io;
        struct pv__timer timer;    /* meaning depends on state, see above */
        struct pv_exit exit;       /* valid in CHILD_EXITED */
        pv_exit_fn on_exit;
        pv_output_fn on_output;
        pv_drain_fn on_drain;
        void *userdata;
};

static inline pv_child *pv__child_from_node(struct pv_list *n)
{
        return container_of(n, pv_child, node);
}

static inline pv_loop *pv__child_loop(pv_child *c) { return c->loop; }

/* Dead as far as the loop knows: reaped, or its status pending. */
static inline bool pv__child_gone(const pv_child *c)
{
        return c->state >= CHILD_EXITING;
}

/* ---- child.c: lifetime ---- */

/* A new child object of l, configured from o, with no process yet. */
pv_child *pv__child_new(pv_loop *l, const struct pv_spawn_opts *o) PV_HIDDEN;
void pv__child_ref(pv_child *c) PV_HIDDEN;
void pv__child_unref(pv_child *c) PV_HIDDEN;
/* For pv_loop_free and a failed spawn: SIGKILL now (the whole tree where
 * there is one); sets c->unkillable when no signal could be sent. */
void pv__child_kill_now(pv_child *c) PV_HIDDEN;
/* Reap, blocking (call pv__child_kill_now first). */
void pv__child_reap_blocking(pv_child *c) PV_HIDDEN;
/* Tear down at once: reap if still alive (unless unkillable), close every
 * fd, unlink and free. */
void pv__child_free(pv_child *c) PV_HIDDEN;

/* Whether the caller still hears from c: not once released, nor once a
 * callback freed the loop. */
bool pv__child_listens(const pv_child *c) PV_HIDDEN;
/* Hand output to the caller's callback (unless it no longer listens). */
void pv__child_output(pv_child *c, int fd, const char *data, size_t len,
                      unsigned flags) PV_HIDDEN;
/* An output stream ended (stdio.c tells; a linger may be over). */
void pv__child_stream_ended(pv_child *c) PV_HIDDEN;
/* The stdin queue drained after reaching the high-water mark. */
void pv__child_drained(pv_child *c) PV_HIDDEN;

/* ---- signal.c ---- */

/* Has the child exited, even if nobody reaped it yet (its pidfd is
 * readable)?  pidfd_send_signal to a zombie succeeds, so this is what keeps
 * a signal from acting on a child that is already dead. */
bool pv__signal_exited(const pv_child *c) PV_HIDDEN;
/* Signal the child, or with tree, every process of its tree (its cgroup,
 * or its process group when it leads one).  -ESRCH once it has exited;
 * -EPERM (or another -errno) when every way was refused. */
int pv__signal_send(pv_child *c, int sig, bool tree) PV_HIDDEN;
/* Signal c's tree (PV_SPAWN_F_TREE) after the child itself was reaped:
 * every process of its cgroup, or kill(-pgid).  0, -ESRCH (none left), or
 * -errno. */
int pv__signal_tree(pv_child *c, int sig) PV_HIDDEN;
/* Signal a process we hold a pidfd of: through the pidfd (when pidfd_ok:
 * the probe found pidfd_send_signal allowed), or where that is refused, by
 * pid while the pidfd shows it has not exited.  0, -ESRCH (exited), or
 * -errno. */
int pv__signal_pidfd(int pidfd, pid_t pid, int sig, bool pidfd_ok) PV_HIDDEN;

/* ---- ladder.c ---- */

/* What happens to a child, as the loop and the caller see it. */
enum pv__child_input {
        CHILD_IN_STOP,     /* pv_child_stop() */
        CHILD_IN_TIMER,    /* the child's timer fired */
        CHILD_IN_PIDFD,    /* the pidfd turned readable */
        CHILD_IN_TREE,     /* the tree's cgroup.events turned EPOLLPRI */
};
/* What happened, normalised: the table's columns (see ladder.c). */
enum pv__ladder_event {
        LADDER_NONE = -1,
        LADDER_STOP,       /* stop asked, the child unexited */
        LADDER_STOP_DEAD,  /* stop asked, the child already dead (its pidfd
                            * readable, its exit not yet handled) */
        LADDER_TIMER,      /* the timer fired, the child unexited (or, in
                            * EXITED, the linger's end) */
        LADDER_REAPED,     /* status taken (or lost for good): c->exit;
                            * its tree, if it has one, is empty */
        LADDER_REAPED_TREE, /* status taken, and its tree still populated */
        LADDER_PENDING,    /* dead, its status not ours yet */
        LADDER_TREE_EMPTY, /* the tree has emptied */
        LADDER_TREE_POLL,  /* time to look at the tree again */
        _LADDER_MAX
};
/* Run the table from event ev (and the follow-ups its actions raise).
 * Returns what the first action returned.  tests/test-ladder.c drives
 * this directly. */
int pv__ladder_run(pv_child *c, int ev) PV_HIDDEN;
/* Normalise one input (may collect the status), then run the table.  Returns what the first action returned:
 * 0, or -errno (pv_child_stop reports it).  Inputs from the timer and the
 * pidfd come only inside a dispatch (deliver runs callbacks). */
int pv__ladder_input(pv_child *c, int input) PV_HIDDEN;
/* The final exit flags, given what the ladder recorded and how the child
 * ended: ESCALATED only when the SIGKILL is what ended it. */
unsigned pv__ladder_exit_flags(unsigned flags, const struct pv_exit *e) PV_HIDDEN;

/* ---- tree.c ---- */

/* Whether c's tree (its cgroup, or its process group) still has a
 * process: 1 or 0 (a cgroup that cannot be read, for want of an fd say,
 * counts as populated; one that is gone as empty).  Opens (and keeps)
 * cgroup.events the first time it finds the cgroup populated. */
int pv__tree_populated(pv_child *c) PV_HIDDEN;
/* Watch the tree for emptying: cgroup.events in the loop where it can be. */
void pv__tree_watch(pv_child *c) PV_HIDDEN;
/* Whether the tree must be polled (a process group, or no events fd). */
bool pv__tree_polled(const pv_child *c) PV_HIDDEN;
/* When to poll next (backing off); advances the interval. */
uint64_t pv__tree_next_poll(pv_child *c) PV_HIDDEN;
/* Stop watching; close cgroup.events. */
void pv__tree_close(pv_child *c) PV_HIDDEN;

/* ---- exit.c ---- */

/* What collecting the status found. */
enum pv__collect {
        COLLECT_REAPED,    /* c->exit has the status (or says LOST) */
        COLLECT_PENDING,   /* dead, but the status is not ours yet */
};
/* Try to take the status (waitid, then PIDFD_INFO_EXIT for a stolen one).
 * Fills c->exit; returns enum pv__collect. */
int pv__exit_collect(pv_child *c) PV_HIDDEN;
/* Deliver the exit: close the pidfd, drain the output, run the exit
 * callback, start a linger; drops the loop's reference (c may be in the
 * graveyard after). */
void pv__exit_deliver(pv_child *c) PV_HIDDEN;
/* The child is reaped but its exit waits for its tree: its pidfd leaves
 * the loop (it is kept open: it names the process group). */
void pv__exit_park(pv_child *c) PV_HIDDEN;
/* Take the pidfd out of the loop and look again later (backing off).
 * Always 0: the table has no state to go back to. */
int pv__exit_look_again(pv_child *c) PV_HIDDEN;
/* The linger is over (its timer, or a release): end the streams. */
void pv__exit_linger_end(pv_child *c) PV_HIDDEN;

#endif
