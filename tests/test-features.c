/* SPDX-License-Identifier: MIT */
/* src/features.c: what the probe says matches what the kernel does, asked
 * here independently of the library, and what the loops can do. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(features, .timeout = 30);

static bool raw_pidfd_signal(void)
{
        int self = (int)syscall(434 /* pidfd_open */, getpid(), 0);
        bool ok;

        if (self < 0)
                return false;
        ok = syscall(424 /* pidfd_send_signal */, self, 0, NULL, 0) == 0;
        close(self);
        return ok;
}

static bool raw_close_range_cloexec(void)
{
        return syscall(436 /* close_range */, ~0U, ~0U, 1U << 2) == 0;
}

Test(features, agree_with_kernel_and_loops)
{
        struct pv_features f = PV_FEATURES_INIT;
        static const uint64_t bit[_PV_SPAWN_MAX] = {
                [PV_SPAWN_CLONE3] = PV_FEATURE_SPAWN_CLONE3,
                [PV_SPAWN_CLONE] = PV_FEATURE_SPAWN_CLONE,
                [PV_SPAWN_VFORK] = PV_FEATURE_SPAWN_VFORK,
        };
        pv_loop *l;

        cr_assert_eq(pv_features(&f), 0);
        for (int m = PV_SPAWN_CLONE3; m < _PV_SPAWN_MAX; m++) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                int r;

                lo.spawn_mech = m;
                r = pv_loop_new(&l, &lo);
                cr_assert_eq(r == 0, !!(f.have & bit[m]), "%s: loop %d, feature %d",
                             pv_spawn_mech_name(m), r, !!(f.have & bit[m]));
                if (r == 0)
                        pv_loop_free(l);
        }
        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        cr_assert_eq(f.spawn_mech, pv_loop_spawn_mech(l));
        cr_assert_eq(f.spawn_err, 0);
        pv_loop_free(l);
        cr_assert_eq(!!(f.have & PV_FEATURE_PIDFD_SIGNAL), raw_pidfd_signal());
        cr_assert_eq(!!(f.have & PV_FEATURE_CLOSE_RANGE), raw_close_range_cloexec());
        for (size_t i = 0; i < sizeof(f.reserved) / sizeof(f.reserved[0]); i++)
                cr_assert_eq(f.reserved[i], 0);
}

Test(features, bad_arguments)
{
        struct pv_features f = { .size = 8 };

        cr_assert_eq(pv_features(NULL), -EINVAL);
        cr_assert_eq(pv_features(&f), -EINVAL);
        cr_assert_eq(f.have, 0, "written on failure");
}

/* A caller built against a larger struct gets ours, and the size says
 * how much of it was written. */
Test(features, larger_struct)
{
        struct { struct pv_features f; uint64_t more[4]; } big;

        memset(&big, 0xa5, sizeof(big));
        big.f.size = sizeof(big);
        cr_assert_eq(pv_features(&big.f), 0);
        cr_assert_eq(big.f.size, sizeof(struct pv_features));
        cr_assert_eq(big.more[0], 0xa5a5a5a5a5a5a5a5ULL, "wrote past our struct");
}
