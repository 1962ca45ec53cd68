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
        bool close_range_cloexec;  /* Linux 5.11 */
        bool pidfd_signal_pgrp;    /* PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9 */
        bool pidfd_info_exit;      /* PIDFD_GET_INFO + PIDFD_INFO_EXIT, 6.15 */
};

/* The cached probe; the only global state of the library.  Thread-safe. */
const struct pv__features *pv__features(void) PV_HIDDEN;

#endif
