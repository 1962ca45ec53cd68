/* SPDX-License-Identifier: MIT */
/* What this kernel offers, probed once per process and cached. */
#ifndef PV_FEATURES_H
#define PV_FEATURES_H

#include <pidvisor.h>
#include <stdbool.h>

#include "internal.h"

struct pv__features {
        int best_mech;             /* enum pv_mech; 0 when none works */
        int mech_err[_PV_MECH_MAX]; /* per rung: 0 it works, else why not
                                    * (-errno; -ENOSYS for a missing piece) */
        bool mech_ok[_PV_MECH_MAX]; /* which rungs work */
        bool shared_mem;           /* the probe child wrote our memory; false
                                    * under tools that turn vfork into fork */
        bool pidfd_signal;         /* pidfd_send_signal works (Linux 5.1; not
                                    * under valgrind 3.19, which lacks it, nor
                                    * where a sandbox refuses it) */
        bool close_range_cloexec;  /* Linux 5.11 */
        bool pidfd_signal_pgrp;    /* PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9 */
        bool pidfd_info_exit;      /* PIDFD_GET_INFO + PIDFD_INFO_EXIT, 6.15 */
        /* The pieces, for pv_features() (the rungs need several each): */
        bool clone3;               /* clone3() is there and allowed, 5.3 */
        bool clone_pidfd;          /* a rung's clone returned a pidfd, 5.2 */
        bool clone_clear_sighand;  /* the clone3 rung's clone, which asks for
                                    * CLONE_CLEAR_SIGHAND, made a child, 5.5 */
        bool clone_into_cgroup;    /* clone3 knows CLONE_INTO_CGROUP, 5.7 */
        bool pidfd_open;           /* 5.3 */
        bool pidfd_nonblock;       /* pidfd_open(PIDFD_NONBLOCK), 5.10 */
        bool waitid_pidfd;         /* waitid(P_PIDFD), 5.4 */
        /* Asked only by pv_features() (pv__features_get_all): */
        int uring_err;             /* 0: a ring the uring backend can use */
        bool uring_deferred;       /* ... with DEFER_TASKRUN (6.1) */
        int cgroup_err;            /* 0: pv_cgroup_new(NULL) works */
        bool cgroup_kill;          /* ... and its cgroup has cgroup.kill */
};

/* Copy the cached probe into *ret.  A rung whose probe failed for want of
 * resources (EAGAIN at the process limit, ENOMEM, EMFILE) is probed again
 * on the next call; every other answer is final.  Thread-safe; the
 * library's only global state. */
void pv__features_get(struct pv__features *ret) PV_HIDDEN;

/* Copy the cached probe into *ret, with the answers only pv_features()
 * asks for (a ring, a cgroup) probed first where they are not final. */
void pv__features_get_all(struct pv__features *ret) PV_HIDDEN;

/* Whether a probe's error was for want of resources (it may pass later). */
bool pv__features_transient(int err) PV_HIDDEN;

/* Why no rung works (when best_mech is 0), as pv_loop_new reports it. */
int pv__features_spawn_err(const struct pv__features *f) PV_HIDDEN;

#endif
