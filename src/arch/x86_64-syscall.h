/* SPDX-License-Identifier: MIT */
/*
 * x86-64 system calls without libc and without errno: the return value is
 * the kernel's, -errno on failure.  The spawn child runs in the parent's
 * memory and TLS (CLONE_VM), so it must not touch errno; the parent uses the
 * same calls so that nothing above src/syscall.h reads errno (liburing's
 * src/arch/x86/syscall.h does the same).
 */
#ifndef PV_ARCH_SYSCALL_H
#define PV_ARCH_SYSCALL_H

/* Always inlined, even at -O0: the spawn child may not call out of its own
 * functions, where instrumentation (stack protector, sanitizers) is off. */
#define PV_SC_INLINE inline __attribute__((always_inline))

static PV_SC_INLINE long pv__sc0(long n)
{
        long r;
        __asm__ volatile ("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
        return r;
}

static PV_SC_INLINE long pv__sc1(long n, long a)
{
        long r;
        __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a)
                          : "rcx", "r11", "memory");
        return r;
}

static PV_SC_INLINE long pv__sc2(long n, long a, long b)
{
        long r;
        __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b)
                          : "rcx", "r11", "memory");
        return r;
}

static PV_SC_INLINE long pv__sc3(long n, long a, long b, long c)
{
        long r;
        __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)
                          : "rcx", "r11", "memory");
        return r;
}

static PV_SC_INLINE long pv__sc4(long n, long a, long b, long c, long d)
{
        long r;
        register long r10 __asm__("r10") = d;
        __asm__ volatile ("syscall" : "=a"(r)
                          : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                          : "rcx", "r11", "memory");
        return r;
}

static PV_SC_INLINE long pv__sc5(long n, long a, long b, long c, long d, long e)
{
        long r;
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        __asm__ volatile ("syscall" : "=a"(r)
                          : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                          : "rcx", "r11", "memory");
        return r;
}

static PV_SC_INLINE long pv__sc6(long n, long a, long b, long c, long d, long e, long f)
{
        long r;
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        register long r9 __asm__("r9") = f;
        __asm__ volatile ("syscall" : "=a"(r)
                          : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                          : "rcx", "r11", "memory");
        return r;
}

#endif
