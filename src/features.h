/* SPDX-License-Identifier: MIT */
/* What this kernel offers, probed once per process and cached. */
#ifndef PV_FEATURES_H
#define PV_FEATURES_H

#include <stdbool.h>

#include "internal.h"

struct pv__features {
        int best_mech;             /* enum pv_spawn_mech; 0 when none works */
        int mech_err;              /* why the last rung failed, when none works */
        bool mech_ok[4];           /* which rungs work, by enum pv_spawn_mech */
        bool shared_mem;           /* the probe child wrote our memory; false
                                    * under tools that turn vfork into fork */
        bool pidfd_signal;         /* pidfd_send_signal works (Linux 5.1; not
                                    * under valgrind 3.19, which lacks it) */
        bool close_range_cloexec;  /* Linux 5.11 */
        bool pidfd_signal_pgrp;    /* PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9 */
        bool pidfd_info_exit;      /* PIDFD_GET_INFO + PIDFD_INFO_EXIT, 6.15 */
};

/* Copy the cached probe into *ret, probing first if no definitive result is
 * cached yet (a transient failure such as EAGAIN at the process limit is
 * not cached).  Thread-safe; the library's only global state. */
void pv__features_get(struct pv__features *ret) PV_HIDDEN;

#endif
