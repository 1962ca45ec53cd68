/* SPDX-License-Identifier: MIT */
/*
 * aarch64 system calls without libc and without errno: the return value is
 * the kernel's, -errno on failure (see x86_64-syscall.h for why).  The
 * number goes in x8, the arguments in x0-x5, the result comes back in x0;
 * the kernel preserves every other register across svc.
 */
#ifndef PV_ARCH_SYSCALL_H
#define PV_ARCH_SYSCALL_H

/* Always inlined, even at -O0: the spawn child may not call out of its own
 * functions, where instrumentation (stack protector, sanitizers) is off. */
#define PV_SC_INLINE inline __attribute__((always_inline))

/* One asm statement for every arity (arities.h). */
static PV_SC_INLINE long pv__sc6(long n, long a, long b, long c, long d, long e, long f)
{
        register long x8 __asm__("x8") = n;
        register long x0 __asm__("x0") = a;
        register long x1 __asm__("x1") = b;
        register long x2 __asm__("x2") = c;
        register long x3 __asm__("x3") = d;
        register long x4 __asm__("x4") = e;
        register long x5 __asm__("x5") = f;
        __asm__ volatile ("svc #0" : "+r"(x0)
                          : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                          : "memory", "cc");
        return x0;
}

#include "arities.h"

#endif
