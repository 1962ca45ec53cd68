/* SPDX-License-Identifier: MIT */
/*
 * pv__sc0 ... pv__sc5 on top of an architecture header's pv__sc6, for the
 * ones where a shorter call gains nothing: the arguments it does not use
 * go to the kernel as 0, which ignores them (aarch64: a mov each, next to
 * a trap into the kernel; generic: libc's syscall() reads all six anyway).
 */
#ifndef PV_ARCH_ARITIES_H
#define PV_ARCH_ARITIES_H

static PV_SC_INLINE long pv__sc0(long n) { return pv__sc6(n, 0, 0, 0, 0, 0, 0); }
static PV_SC_INLINE long pv__sc1(long n, long a) { return pv__sc6(n, a, 0, 0, 0, 0, 0); }

static PV_SC_INLINE long pv__sc2(long n, long a, long b)
{
        return pv__sc6(n, a, b, 0, 0, 0, 0);
}

static PV_SC_INLINE long pv__sc3(long n, long a, long b, long c)
{
        return pv__sc6(n, a, b, c, 0, 0, 0);
}

static PV_SC_INLINE long pv__sc4(long n, long a, long b, long c, long d)
{
        return pv__sc6(n, a, b, c, d, 0, 0);
}

static PV_SC_INLINE long pv__sc5(long n, long a, long b, long c, long d, long e)
{
        return pv__sc6(n, a, b, c, d, e, 0);
}

#endif
