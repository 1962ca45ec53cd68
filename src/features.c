/* SPDX-License-Identifier: MIT */
/*
 * Kernel feature probe.  We test features, not version numbers (a
 * distribution kernel or a seccomp profile can differ from what the version
 * says), once per process.  A result is cached once it is final; a probe
 * that failed for want of resources runs again next time.
 */
#include <pidvisor.h>
#include <pthread.h>
#include <stdatomic.h>

#include "features.h"
#include "spawn.h"
#include "syscall.h"

static pthread_mutex_t features_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pv__features features;   /* written under the lock until done */
static atomic_bool features_done;

/* A rung that failed because the kernel or a sandbox refuses it will fail
 * again in this process; one that failed for want of resources (EAGAIN at
 * the process limit, ENOMEM, EMFILE) may pass next time, and the answer is
 * not final while such a rung is better than the best that worked. */
static bool transient(int err)
{
        switch (err) {
        case -ENOSYS:
        case -EINVAL:
        case -EPERM:
        case -EACCES:
        case -EOPNOTSUPP:
                return false;
        default:
                return true;
        }
}

/* Returns whether the result is final (see transient()). */
static bool probe_mechs(struct pv__features *f)
{
        bool final = true;

        for (int m = PV_SPAWN_CLONE3; m < _PV_SPAWN_MAX; m++) {
                struct pv__probe p = { 0 };
                int r = pv__spawn_probe(m, &p);

                if (r < 0) {
                        f->mech_err = r;
                        if (transient(r) && !f->best_mech)
                                final = false;
                        continue;
                }
                f->mech_ok[m] = true;
                if (!f->best_mech) {
                        f->best_mech = m;
                        f->shared_mem = p.shared;
                        f->pidfd_signal = p.pidfd_signal;
                        f->pidfd_info_exit = p.info_exit;
                }
        }
        return final;
}

/* Returns whether the result is final. */
static bool probe(struct pv__features *f)
{
        bool final = probe_mechs(f);
        int self;

        if (!f->best_mech)
                return final;
        f->close_range_cloexec = sys_close_range(~0U, ~0U, CLOSE_RANGE_CLOEXEC) == 0;
        /* Is the flag known?  Not "does it reach anyone": we need not lead
         * a process group ourselves, and then the answer is ESRCH even
         * where the flag works.  Before 6.9 an unknown flag is EINVAL. */
        self = sys_pidfd_open(sys_getpid(), 0);
        if (self >= 0) {
                int r = sys_pidfd_send_signal(self, 0, PIDFD_SIGNAL_PROCESS_GROUP);
                f->pidfd_signal_pgrp = r != -EINVAL && r != -ENOSYS;
                sys_close(self);
        }
        return final;
}

void pv__features_get(struct pv__features *ret)
{
        if (!atomic_load_explicit(&features_done, memory_order_acquire)) {
                pthread_mutex_lock(&features_lock);
                if (!atomic_load_explicit(&features_done, memory_order_relaxed)) {
                        struct pv__features f = { 0 };

                        bool final = probe(&f);

                        features = f;
                        if (final)
                                atomic_store_explicit(&features_done, true,
                                                      memory_order_release);
                }
                *ret = features;
                pthread_mutex_unlock(&features_lock);
                return;
        }
        *ret = features;
}
