/* SPDX-License-Identifier: MIT */
/* Creating a child: the fallback ladder (spawn.c) and the child side
 * (spawn-child.c). */
#ifndef PV_SPAWN_H
#define PV_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "internal.h"

/* Everything the child needs, prepared by the parent before clone: the
 * child may not allocate, take locks or call libc. */
struct pv__child_args {
        const char *const *argv;
        const char *const *envp;   /* never NULL here */
        const char *path;          /* PATH to search for argv[0], or NULL when
                                    * argv[0] holds a '/' */
        const char *cwd;           /* or NULL */
        int stdio[3];              /* fd to place on 0, 1, 2; -1 = leave */
        unsigned flags;            /* enum pv_spawn_flags */
        int pdeathsig;             /* 0 = none */
        pid_t parent_pid;          /* for the pdeathsig race check */
        const int *keep;           /* sorted, unique, all >= 3 */
        size_t n_keep;
        bool close_range;          /* close_range(CLOSE_RANGE_CLOEXEC) works */
        int cgroup_fd;             /* >= 0: the child moves itself into this
                                    * cgroup v2 directory first (where
                                    * CLONE_INTO_CGROUP was not used); or -1 */
        bool err_pipe;             /* the child's memory is not the parent's
                                    * (valgrind turns vfork into fork): errors
                                    * must come back through a pipe */
        int err_fd;                /* write end of the error pipe (with
                                    * err_pipe, and on the vfork rung); or -1;
                                    * set by pv__spawn_run */
        /* Written by the child, read by the parent after the vfork wake-up. */
        volatile int started;      /* 1 once the child ran its first line */
        volatile int err;          /* 0, or -errno */
        volatile int stage;        /* enum pv_spawn_stage of the failure */
};

/* The vfork rung's child waits on this until the parent holds its pidfd
 * (see spawn.c).  Lives in a frame of the parent's that outlasts the
 * child's use of our memory. */
struct pv__pin {
        volatile int go;           /* futex: 0 wait, 1 go on, 2 give up */
        volatile int left;         /* futex: 1, cleared by the kernel when the
                                    * child leaves our memory (exec or exit;
                                    * CLONE_CHILD_CLEARTID) */
        int (*fn)(void *);
        void *arg;
};

/* The child's entry: sets the process up and execs; never returns.
 * Async-signal-safe; built without sanitizers (see Makefile.am). */
int pv__child_main(void *args) PV_HIDDEN;

/* The vfork rung's entry: wait for the go of struct pv__pin, then run
 * pin->fn(pin->arg); exit 127 when told to give up. */
int pv__child_pinned(void *pin) PV_HIDDEN;

/* Create the child with mechanism mech and wait (vfork) until it has exec'd
 * or failed.  On success returns 0 and sets *ret_pid and *ret_pidfd (a
 * CLOEXEC pidfd).  On an exec-side failure the child has been reaped,
 * a->err/a->stage tell why, and the return is a->err.  stack/stack_size:
 * memory the child runs on. */
int pv__spawn_run(int mech, struct pv__child_args *a, void *stack,
                  size_t stack_size, int cgroup_fd, pid_t *ret_pid,
                  int *ret_pidfd) PV_HIDDEN;

/* What the probe child of one mechanism found. */
struct pv__probe {
        bool shared;        /* the child wrote our memory (CLONE_VM held) */
        bool pidfd_signal;  /* pidfd_send_signal() is known */
        bool info_exit;     /* PIDFD_INFO_EXIT reports a reaped child */
        bool got_pidfd;     /* the clone gave a pidfd (or pidfd_open did) */
        bool waitid_pidfd;  /* waitid(P_PIDFD) took it */
};

/* Can this mechanism create a child here with a pidfd we can wait on?
 * 0, or -errno: the failing clone's, or -ENOSYS when the kernel lacks a
 * piece (CLONE_PIDFD ignored, or no waitid(P_PIDFD) before Linux 5.4). */
int pv__spawn_probe(int mech, struct pv__probe *ret) PV_HIDDEN;

/* Does clone3 know CLONE_INTO_CGROUP (Linux 5.7)?  Asked with the clone3
 * rung's call and an fd that is not open, which such a kernel refuses with
 * EBADF before any child is made, and an older one with EINVAL, for the
 * flag.  1 yes (a child made all the same, which no kernel does, is
 * reaped), 0 no (also in a build without the clone3 entry, which would
 * not use it), or a transient -errno (ask again). */
int pv__probe_into_cgroup(void) PV_HIDDEN;

#endif
