/* SPDX-License-Identifier: MIT */
/* The per-child state machine and what the other files need of a child. */
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
        CHILD_STOPPING,    /* SIGTERM sent; timer: the grace period */
        CHILD_KILLED,      /* SIGKILL sent; waiting for the pidfd */
        CHILD_EXITING,     /* dead, but its status is not ours yet: a ptrace
                            * tracer holds the zombie, or another reaper
                            * took it and the kernel has not published it;
                            * pidfd out of the loop; timer: look again */
        CHILD_EXITED,      /* reaped; exit is final; output streams may
                            * linger; timer: the linger's end */
        _CHILD_STATE_MAX
};

struct pv_child {
        pv_loop *loop;
        struct pv_list node;       /* loop->alive until reaped, then loop->dead,
                                    * then (freed during dispatch) graveyard */
        unsigned refs;             /* 1 for the loop until the exit is
                                    * delivered, 1 per pv_child_wait() in
                                    * progress, 1 for the caller's handle */
        bool caller_ref;           /* the caller holds a handle (pv_spawn ret) */
        bool released;             /* the caller gave up its handle: no more
                                    * callbacks */
        int state;                 /* enum pv__child_state */
        pid_t pid;
        unsigned spawn_flags;      /* enum pv_spawn_flags */
        unsigned exit_flags;       /* enum pv_exit_flags, as the ladder runs */
        unsigned tries;            /* looks taken in CHILD_EXITING */
        bool unkillable;           /* pv__child_kill_now could not signal it */
        bool lingering;            /* exited, streams open: holds a reference */
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

/* Hand output to the caller's callback (unless released). */
void pv__child_output(pv_child *c, int fd, const char *data, size_t len,
                      unsigned flags) PV_HIDDEN;

/* An output stream ended (stdio.c tells; a linger may be over). */
void pv__child_stream_ended(pv_child *c) PV_HIDDEN;

/* The stdin queue drained after reaching the high-water mark. */
void pv__child_drained(pv_child *c) PV_HIDDEN;

/* For pv_loop_free: SIGKILL now (the whole group where there is one). */
void pv__child_kill_now(pv_child *c) PV_HIDDEN;

/* Tear down at once: reap (blocking; call pv__child_kill_now first) if
 * still alive, close every fd, unlink and free. */
void pv__child_free(pv_child *c) PV_HIDDEN;

#endif
