/* SPDX-License-Identifier: MIT */
/*
 * System calls through libc's syscall(), for an architecture without our
 * inline assembly (configure --with-arch=generic, the default off x86-64
 * and aarch64).  Same contract as the others: the kernel's result, -errno
 * on failure.
 *
 * The caveat: syscall() reports a failure in errno, so each call here
 * writes errno when it fails and puts back the value it found.  In the
 * spawn child, which runs on the parent thread's TLS (CLONE_VM), that is
 * the parent's errno; the parent is suspended meanwhile (CLONE_VFORK), or
 * on the vfork rung blocked in a futex wait that does not return while the
 * child runs, so it sees the value it left.  A success writes nothing.
 * syscall() itself is a few instructions of assembly that take no lock and
 * touch no other libc state: tests/check-child-object.sh allows it (and
 * __errno_location) in the child object of this build only.
 */
#ifndef PV_ARCH_SYSCALL_H
#define PV_ARCH_SYSCALL_H

#include <errno.h>
#include <unistd.h>

#define PV_SC_INLINE inline __attribute__((always_inline))

static PV_SC_INLINE long pv__sc6(long n, long a, long b, long c, long d, long e, long f)
{
        int saved = errno;
        long r = syscall(n, a, b, c, d, e, f);

        /* -1 is how syscall() says -errno; no call of ours returns -1 on
         * success (the kernel's -1 is -EPERM). */
        if (r == -1) {
                r = -errno;
                errno = saved;
        }
        return r;
}

#include "arities.h"

#endif
