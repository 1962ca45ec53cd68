/* SPDX-License-Identifier: MIT */
/*
 * pv__clone_run (contract in src/syscall.h) for an architecture without
 * our assembly entry: glibc's clone(), which exists for exactly this (its
 * child calls fn(arg) on the stack it is given and exits with the result,
 * never returning into the caller's frame; glibc's own posix_spawn runs its
 * CLONE_VM | CLONE_VFORK child through it).  Its child touches no TLS of
 * the parent's: it calls fn, then the exit system call (not exit_group;
 * the same for a child that is alone in its thread group).
 *
 * No clone3: glibc 2.36 exports no wrapper for it, and a raw clone3 with
 * CLONE_VM cannot be called from C (the child would return into our
 * frame).  -ENOSYS takes the ladder down to clone, as a kernel before 5.3
 * would (src/clone.c).
 */
#include <errno.h>
#include <sched.h>

#include "../syscall.h"

long pv__clone_run(long nr, long a1, long a2, long a3, long a4, const struct pv__clone_entry *e)
{
        int saved = errno;
        long r;

        if (nr != __NR_clone)
                return -ENOSYS;
        /* clone() reports a failure in errno: hand it back as -errno and
         * leave the caller's errno as it was (generic-syscall.h). */
        r = clone(e->fn, (void *)a2, (int)a1, e->arg, (pid_t *)a3, (void *)0, (pid_t *)a4);
        if (r < 0) {
                r = -errno;
                errno = saved;
        }
        return r;
}
