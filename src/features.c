/* SPDX-License-Identifier: MIT */
/*
 * Kernel feature probe.  We test features, not version numbers (a
 * distribution kernel or a seccomp profile can differ from what the version
 * says), once per process.  Each rung's answer is cached once it is final;
 * a rung that failed for want of resources is probed again next time.
 */
#include <pidvisor.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "backend.h"
#include "features.h"
#include "spawn.h"
#include "syscall.h"

static pthread_mutex_t features_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pv__features features;        /* written under the lock */
static struct pv__probe probes[_PV_MECH_MAX]; /* per rung that works */
static bool rung_final[_PV_MECH_MAX];      /* its answer will not change */
static bool extras_done;                    /* the rung-independent probes */
static atomic_bool features_done;           /* every answer is final */

/* A rung that failed because the kernel or a sandbox refuses it will fail
 * again in this process; one that failed for want of resources (EAGAIN at
 * the process limit, ENOMEM, EMFILE) may pass next time. */
bool pv__features_transient(int err)
{
        switch (err) {
        case -EAGAIN:
        case -ENOMEM:
        case -EMFILE:
        case -ENFILE:
        case -EINTR:
                return true;
        default:
                return false;
        }
}

/* The pieces no rung's probe child answers.  PIDFD_SIGNAL_PROCESS_GROUP:
 * is the flag known?  Not "does it reach anyone": we need not lead a
 * process group ourselves, and then the answer is ESRCH even where the
 * flag works.  Before 6.9 an unknown flag is EINVAL; a sandbox may refuse
 * the call (EPERM).  The clone3 questions only where clone3 is there (an
 * unknown call would be ENOSYS too, but a sandbox's filter may log it). */
static void probe_extras(struct pv__features *f)
{
        bool transient;
        int self, r;

        f->close_range_cloexec = sys_close_range(~0U, ~0U, CLOSE_RANGE_CLOEXEC) == 0;
        f->clone3 = sys_clone3(NULL, 0) == -EINVAL;
        r = f->clone3 ? pv__probe_into_cgroup() : 0;
        f->clone_into_cgroup = r > 0;
        transient = r < 0;
        r = sys_pidfd_open(sys_getpid(), PIDFD_NONBLOCK);
        f->pidfd_nonblock = r >= 0;
        if (r >= 0)
                sys_close(r);
        transient |= pv__features_transient(r);
        self = pv__fd_high(sys_pidfd_open(sys_getpid(), 0));
        if (self < 0) {
                /* Refused (a sandbox that allows only CLONE_PIDFD) or
                 * absent (before 5.3): group signals go by kill(-pgid),
                 * for good; out of fds: ask again next time. */
                extras_done = !transient && !pv__features_transient(self);
                return;
        }
        f->pidfd_open = true;
        r = sys_pidfd_send_signal(self, 0, PIDFD_SIGNAL_PROCESS_GROUP);
        f->pidfd_signal_pgrp = r == 0 || r == -ESRCH;
        sys_close(self);
        extras_done = !transient;
}

/* Under the lock.  Returns whether every answer is final. */
static bool probe(struct pv__features *f)
{
        bool final = true;

        f->best_mech = 0;
        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++) {
                if (!rung_final[m] && m == PV_MECH_VFORK && f->best_mech && !f->shared_mem) {
                        /* The vfork rung's handshake needs CLONE_VM honoured,
                         * and a better rung's child did not share our memory:
                         * a tool (valgrind) turns CLONE_VM into a fork, and
                         * would abort on this rung's bare CLONE_VM clone. */
                        f->mech_err[m] = -EOPNOTSUPP;
                        f->mech_ok[m] = false;
                        rung_final[m] = true;
                } else if (!rung_final[m]) {
                        struct pv__probe p = { 0 };
                        int r = pv__spawn_probe(m, &p);

                        f->mech_err[m] = r;
                        f->mech_ok[m] = r == 0;
                        probes[m] = p;
                        rung_final[m] = !pv__features_transient(r);
                }
                final &= rung_final[m];
                f->clone_pidfd |= m != PV_MECH_VFORK && probes[m].got_pidfd;
                f->clone_clear_sighand |= m == PV_MECH_CLONE3 && probes[m].got_pidfd;
                f->waitid_pidfd |= probes[m].waitid_pidfd;
                if (f->mech_ok[m] && !f->best_mech) {
                        f->best_mech = m;
                        f->shared_mem = probes[m].shared;
                        f->pidfd_signal = probes[m].pidfd_signal;
                        f->pidfd_info_exit = probes[m].info_exit;
                }
        }
        if (!extras_done)
                probe_extras(f);
        return final && extras_done;
}

void pv__features_get(struct pv__features *ret)
{
        if (atomic_load_explicit(&features_done, memory_order_acquire)) {
                *ret = features;
                return;
        }
        pthread_mutex_lock(&features_lock);
        if (!atomic_load_explicit(&features_done, memory_order_relaxed) &&
            probe(&features))
                atomic_store_explicit(&features_done, true, memory_order_release);
        *ret = features;
        pthread_mutex_unlock(&features_lock);
}

/* A ring and a cgroup: made, looked at and undone, for pv_features() only
 * (pv_loop_new needs neither answer).  Apart from features, which does not
 * change once features_done is out: readers copy it without the lock. */
static struct {
        int uring_err, cgroup_err;
        bool uring_deferred, cgroup_kill;
        bool done;
} late;                                     /* under the lock */

static void probe_late(void)
{
        pv_cgroup *cg;
        int r;

        late.uring_err = pv__uring_probe(&late.uring_deferred);
        late.cgroup_err = pv_cgroup_new(&cg, NULL);
        if (late.cgroup_err == 0) {
                late.cgroup_kill = sys_faccessat(pv_cgroup_fd(cg), "cgroup.kill", F_OK) == 0;
                /* Nothing ran in it: it goes at once.  Should the removal
                 * fail before its rmdir (out of fds), rmdir it here. */
                r = pv_cgroup_remove(cg, 0);
                if (r < 0)
                        (void)sys_unlinkat(AT_FDCWD, pv_cgroup_path(cg), AT_REMOVEDIR);
                pv_cgroup_free(cg);
        }
        late.done = !pv__features_transient(late.uring_err) &&
                    !pv__features_transient(late.cgroup_err);
}

void pv__features_get_all(struct pv__features *ret)
{
        pv__features_get(ret);
        pthread_mutex_lock(&features_lock);
        if (!late.done)
                probe_late();
        ret->uring_err = late.uring_err;
        ret->uring_deferred = late.uring_deferred;
        ret->cgroup_err = late.cgroup_err;
        ret->cgroup_kill = late.cgroup_kill;
        pthread_mutex_unlock(&features_lock);
}

PV_EXPORT int pv_features(struct pv_features *ret)
{
        struct pv__features f;
        struct pv_features o = { .size = sizeof(o) };
        static const uint64_t rung_bit[_PV_MECH_MAX] = {
                [PV_MECH_CLONE3] = PV_FEATURE_MECH_CLONE3,
                [PV_MECH_CLONE] = PV_FEATURE_MECH_CLONE,
                [PV_MECH_VFORK] = PV_FEATURE_MECH_VFORK,
        };

        return_if_invalid(ret && ret->size >= PV__FEATURES_SIZE_VER0, -EINVAL);
        pv__features_get_all(&f);

        const struct { bool have; uint64_t bit; } bits[] = {
                { f.pidfd_signal, PV_FEATURE_PIDFD_SIGNAL },
                { f.pidfd_signal_pgrp, PV_FEATURE_PIDFD_SIGNAL_PGRP },
                { f.pidfd_info_exit, PV_FEATURE_PIDFD_INFO_EXIT },
                { f.close_range_cloexec, PV_FEATURE_CLOSE_RANGE },
                { f.clone3, PV_FEATURE_CLONE3 },
                { f.clone_pidfd, PV_FEATURE_CLONE_PIDFD },
                /* The clone3 rung's clone asks for CLONE_CLEAR_SIGHAND, and
                 * only a child tells (an unknown flag and every other
                 * invalid argument are all EINVAL). */
                { f.clone_clear_sighand, PV_FEATURE_CLONE_CLEAR_SIGHAND },
                { f.clone_into_cgroup, PV_FEATURE_CLONE_INTO_CGROUP },
                { f.pidfd_open, PV_FEATURE_PIDFD_OPEN },
                { f.waitid_pidfd, PV_FEATURE_WAITID_PIDFD },
                { f.pidfd_nonblock, PV_FEATURE_PIDFD_NONBLOCK },
                { f.uring_err == 0, PV_FEATURE_IO_URING },
                { f.uring_err == 0 && f.uring_deferred, PV_FEATURE_IO_URING_DEFER },
                { f.cgroup_err == 0, PV_FEATURE_CGROUP },
                { f.cgroup_err == 0 && f.cgroup_kill, PV_FEATURE_CGROUP_KILL },
        };

        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++)
                if (f.mech_ok[m])
                        o.have |= rung_bit[m];
        for (size_t i = 0; i < ARRAY_SIZE(bits); i++)
                if (bits[i].have)
                        o.have |= bits[i].bit;
        o.mech = f.best_mech;
        o.mech_err = f.best_mech ? 0 : pv__features_spawn_err(&f);
        /* loop.c's rule for AUTO: io_uring where its ring is deferred. */
        o.backend = o.have & PV_FEATURE_IO_URING_DEFER ? PV_BACKEND_URING : PV_BACKEND_EPOLL;
        o.uring_err = f.uring_err;
        o.cgroup_err = f.cgroup_err;
        /* Write no more than the caller's struct holds. */
        o.size = ret->size < sizeof(o) ? ret->size : sizeof(o);
        memcpy(ret, &o, o.size);
        return 0;
}

int pv__features_spawn_err(const struct pv__features *f)
{
        int err = -ENOSYS;

        /* The last rung's reason, as the ladder falls: a sandbox's EPERM
         * or the kernel's missing piece (EINVAL from an unknown flag is a
         * kernel too old for us: ENOSYS). */
        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++)
                if (f->mech_err[m])
                        err = f->mech_err[m];
        return err == -EINVAL ? -ENOSYS : err;
}

_Static_assert(sizeof(struct pv_features) == PV__FEATURES_SIZE_VER0,
               "a new field: keep VER0 as it was, and this assert as >=");

PV_EXPORT unsigned pv_version(void)
{
        return PV_VERSION;
}
