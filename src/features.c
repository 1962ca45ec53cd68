/* SPDX-License-Identifier: MIT */
/*
 * Kernel feature probe.  We test features, not version numbers (a
 * distribution kernel or a seccomp profile can differ from what the version
 * says), once per process: pthread_once makes the result the library's one
 * piece of global state, written once and then only read.
 */
#include <pidvisor.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "features.h"
#include "spawn.h"
#include "syscall.h"

static struct pv__features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static bool probe_mechs(struct pv__features *f)
{
        for (int m = PV_SPAWN_CLONE3; m < _PV_SPAWN_MAX; m++) {
                bool shared = false, info_exit = false;
                int r = pv__spawn_probe(m, &shared, &info_exit);

                if (r < 0) {
                        f->mech_err = r;
                        continue;
                }
                f->mech_ok[m] = true;
                if (!f->best_mech) {
                        f->best_mech = m;
                        f->shared_mem = shared;
                        f->pidfd_info_exit = info_exit;
                }
        }
        return f->best_mech != 0;
}

static void probe(void)
{
        struct pv__features *f = &features;
        int self;

        if (!probe_mechs(f))
                return;

        f->close_range_cloexec = sys_close_range(~0U, ~0U, CLOSE_RANGE_CLOEXEC) == 0;

        self = sys_pidfd_open(sys_getpid(), 0);
        if (self >= 0) {
                f->pidfd_signal_pgrp =
                        sys_pidfd_send_signal(self, 0, PIDFD_SIGNAL_PROCESS_GROUP) == 0;
                sys_close(self);
        }
}

const struct pv__features *pv__features(void)
{
        pthread_once(&features_once, probe);
        return &features;
}
