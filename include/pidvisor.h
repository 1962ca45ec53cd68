/* SPDX-License-Identifier: MIT */
/*
 * pidvisor: spawn and supervise child processes on Linux.
 *
 * Every child has a pidfd; the pidfds, the children's pipe ends and one
 * timerfd sit in one epoll set (or io_uring ring), so exit detection, output
 * draining and stop timers all run in the thread that dispatches the loop.  The library
 * installs no signal handler, changes no process-wide signal disposition,
 * never prints and never exits: every failure comes back as -errno.
 *
 * Conventions (all functions):
 *   - an int return >= 0 is success, a negative value is -errno;
 *   - ret_* output parameters are written only on success;
 *   - a callback is never invoked when the call that would have armed it
 *     failed;
 *   - a pv_loop and its children belong to one thread at a time; different
 *     loops in different threads are independent;
 *   - a loop used in a process forked after pv_loop_new() returns -ECHILD;
 *     pv_loop_free() there only closes that process's copies of the fds.
 *     The check costs no system call: the first pv_loop_new() of a process
 *     maps one page with MADV_WIPEONFORK that caches the pid, and any fork
 *     (fork(), _Fork(), a raw fork or clone without CLONE_VM) gets that page
 *     zeroed; no pthread_atfork() handler is installed.  A process sharing
 *     our memory without being our thread (vfork, clone with CLONE_VM) is
 *     not told apart from us: it may only exec or _exit;
 *   - the library's own fds are O_CLOEXEC and never take fds 0-2, even in a
 *     host that runs with them closed (so a child never inherits one of
 *     them as its stdio).
 */
#ifndef PIDVISOR_H
#define PIDVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PV_EXPORT __attribute__((visibility("default")))
#else
#define PV_EXPORT
#endif

#define PV_VERSION_MAJOR 0
#define PV_VERSION_MINOR 2
#define PV_VERSION_PATCH 0
/* The version as one number, (major << 16) | (minor << 8) | patch, so that
 * PV_VERSION >= PV_VERSION_AT(0, 2, 0) reads as it should. */
#define PV_VERSION_AT(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define PV_VERSION PV_VERSION_AT(PV_VERSION_MAJOR, PV_VERSION_MINOR, PV_VERSION_PATCH)

/* The *_INIT macros set .size and zero the rest.  C++ before C++20 has no
 * designated initialisers: there a C++11 lambda builds the same value
 * (and -Wmissing-field-initializers stays quiet). */
#ifdef __cplusplus
#define PV__INIT_SIZE(type) ([] { type pv__o = {}; pv__o.size = sizeof(type); return pv__o; }())
#else
#define PV__INIT_SIZE(type) { .size = sizeof(type) }
#endif

typedef struct pv_loop pv_loop;
typedef struct pv_child pv_child;

/* The library's version at run time, as PV_VERSION encodes it: compare
 * with PV_VERSION to find a header/library mismatch. */
PV_EXPORT unsigned pv_version(void);

/* ------------------------------------------------------------------ */
/* Mechanisms                                                          */
/* ------------------------------------------------------------------ */

/* How children are created: the fallback ladder, best first.  The loop
 * picks the best rung that a cached, once-per-process probe found working,
 * unless struct pv_loop_opts forces one. */
enum pv_mech {
        PV_MECH_AUTO = 0,   /* best available (the default) */
        PV_MECH_CLONE3,     /* clone3(CLONE_PIDFD|CLONE_VM|CLONE_VFORK|
                              *        CLONE_CLEAR_SIGHAND), Linux 5.5+ */
        PV_MECH_CLONE,      /* clone(CLONE_PIDFD|CLONE_VM|CLONE_VFORK) */
        PV_MECH_VFORK,      /* clone(CLONE_VM) + pidfd_open(): the child
                              * waits on a futex until the parent holds its
                              * pidfd, so that no foreign reaper can free
                              * its pid first (Linux 5.3+) */
        _PV_MECH_MAX,
        _PV_MECH_INVALID = -22 /* -EINVAL */
};

/* Event backends: how the loop waits.  Both are level-triggered readiness
 * on the same fds; io_uring hands registering and re-arming to the kernel
 * with the wait itself, and a watch that has fired needs no removal (fewer
 * system calls per child).  AUTO
 * picks the one the README's benchmark found faster here, and falls back
 * to epoll, silently, where io_uring cannot be had (a sandbox's seccomp
 * filter, kernel.io_uring_disabled, a kernel before 5.11, a build without
 * liburing). */
enum pv_backend {
        PV_BACKEND_AUTO = 0,
        PV_BACKEND_EPOLL,
        PV_BACKEND_URING,   /* io_uring (Linux 5.11+), built with liburing.
                             * Its polls complete through task work of the
                             * thread that dispatches the loop.  On 6.1+
                             * that work runs only in the loop's own wait
                             * (DEFER_TASKRUN), nested or not; before 6.1
                             * it runs at that thread's next entry into the
                             * kernel, and a blocking call of the thread's
                             * own that a signal would interrupt
                             * (epoll_wait, poll, select, sigtimedwait) may
                             * return EINTR, as for a signal. */
        _PV_BACKEND_MAX,
        _PV_BACKEND_INVALID = -22
};

/* What this kernel (and the sandbox around the process) offers, probed
 * once per process: by trying each call, never from the version number. */
enum pv_feature {
        PV_FEATURE_MECH_CLONE3      = 1u << 0, /* the clone3 rung works */
        PV_FEATURE_MECH_CLONE       = 1u << 1, /* the clone rung works */
        PV_FEATURE_MECH_VFORK       = 1u << 2, /* the vfork rung works */
        PV_FEATURE_PIDFD_SIGNAL      = 1u << 3, /* pidfd_send_signal() (5.1)
                                                 * is allowed; without it a
                                                 * signal goes by pid, and only
                                                 * while the pidfd shows the
                                                 * child has not exited */
        PV_FEATURE_PIDFD_SIGNAL_PGRP = 1u << 4, /* PIDFD_SIGNAL_PROCESS_GROUP
                                                 * (6.9); without it a group
                                                 * signal is kill(-pgid) */
        PV_FEATURE_PIDFD_INFO_EXIT   = 1u << 5, /* PIDFD_GET_INFO with
                                                 * PIDFD_INFO_EXIT (6.15): a
                                                 * status another reaper took
                                                 * is recovered, not lost */
        PV_FEATURE_CLOSE_RANGE       = 1u << 6, /* close_range() with
                                                 * CLOSE_RANGE_CLOEXEC (5.11);
                                                 * without it the child walks
                                                 * /proc/self/fd */
        /* The pieces, each probed on its own (the rungs above need several): */
        PV_FEATURE_CLONE3            = 1u << 7,  /* clone3() is there and
                                                  * allowed (5.3) */
        PV_FEATURE_CLONE_PIDFD       = 1u << 8,  /* clone or clone3 returned a
                                                  * pidfd (CLONE_PIDFD, 5.2) */
        PV_FEATURE_CLONE_CLEAR_SIGHAND = 1u << 9, /* clone3 took
                                                  * CLONE_CLEAR_SIGHAND (5.5):
                                                  * the clone3 rung's clone
                                                  * made a child (only a child
                                                  * tells; not in a build
                                                  * without the clone3 entry) */
        PV_FEATURE_CLONE_INTO_CGROUP = 1u << 10, /* clone3 knows
                                                  * CLONE_INTO_CGROUP (5.7);
                                                  * without it a child joins
                                                  * its cgroup itself (asked
                                                  * with the clone3 rung's
                                                  * call: not in a build
                                                  * without its entry) */
        PV_FEATURE_PIDFD_OPEN        = 1u << 11, /* pidfd_open() (5.3) */
        PV_FEATURE_WAITID_PIDFD      = 1u << 12, /* waitid(P_PIDFD) (5.4) */
        PV_FEATURE_PIDFD_NONBLOCK    = 1u << 13, /* pidfd_open(PIDFD_NONBLOCK)
                                                  * (5.10) */
        PV_FEATURE_IO_URING          = 1u << 14, /* a ring PV_BACKEND_URING can
                                                  * use: NODROP, EXT_ARG (5.11),
                                                  * POLL_ADD and POLL_REMOVE;
                                                  * and this build has liburing */
        PV_FEATURE_IO_URING_DEFER    = 1u << 15, /* ... with DEFER_TASKRUN and
                                                  * SINGLE_ISSUER (6.1): only
                                                  * then AUTO takes io_uring */
        PV_FEATURE_CGROUP            = 1u << 16, /* pv_cgroup_new(NULL) works:
                                                  * a writable cgroup v2 */
        PV_FEATURE_CGROUP_KILL       = 1u << 17, /* ... with cgroup.kill (5.14);
                                                  * without it a tree is killed
                                                  * process by process */
};

struct pv_features {
        size_t size;            /* set by the caller: sizeof(struct pv_features) */
        uint64_t have;          /* enum pv_feature bits */
        int mech;         /* what PV_MECH_AUTO picks; 0 when none works */
        int mech_err;          /* when none works: why, as pv_loop_new() says
                                 * (-ENOSYS, -EPERM, -EAGAIN, ...); else 0 */
        int backend;            /* what PV_BACKEND_AUTO picks */
        int uring_err;          /* 0 with PV_FEATURE_IO_URING, else why not:
                                 * -EOPNOTSUPP (a kernel before 5.11, or a
                                 * build without liburing), -EPERM (refused:
                                 * seccomp, kernel.io_uring_disabled),
                                 * -ENOSYS, ... */
        int cgroup_err;         /* 0 with PV_FEATURE_CGROUP, else why not, as
                                 * pv_cgroup_new() says */
        int reserved_int;       /* zero */
        uint64_t reserved[4];   /* zero */
};
#define PV_FEATURES_INIT PV__INIT_SIZE(struct pv_features)

/* Fill *ret (as much of it as ret->size holds; ret->size then says how much
 * was written) with what the probe found; the probe runs on the first call
 * (of this or pv_loop_new()) and again only where it failed for want of
 * resources.  This function's first call (and any later one while those
 * answers are for want of resources) also makes and closes an io_uring
 * ring, and makes and removes a cgroup where pv_cgroup_new(NULL) would,
 * for PV_FEATURE_IO_URING* and PV_FEATURE_CGROUP*; pv_loop_new() never
 * does.  Thread-safe.  0, or -EINVAL for NULL or a size smaller than
 * the first version's. */
PV_EXPORT int pv_features(struct pv_features *ret);

/* Static name of a mechanism ("auto", "clone3", "clone", "vfork"), or NULL
 * when out of range. */
PV_EXPORT const char *pv_mech_name(int mech);

/* Static name of a backend ("auto", "epoll", "uring"), or NULL when out of
 * range. */
PV_EXPORT const char *pv_backend_name(int backend);

/* ------------------------------------------------------------------ */
/* Loop                                                                */
/* ------------------------------------------------------------------ */

struct pv_loop_opts {
        size_t size;        /* sizeof(struct pv_loop_opts), for ABI growth */
        int mech;     /* enum pv_mech; AUTO = best available */
        int backend;        /* enum pv_backend; AUTO: see enum pv_backend */
};
#define PV_LOOP_OPTS_INIT PV__INIT_SIZE(struct pv_loop_opts)

/* Create a loop.  opts may be NULL (all defaults).
 * Errors: -EINVAL bad opts (size too small, unknown mechanism or backend);
 *         a forced PV_BACKEND_URING that cannot be had: -EOPNOTSUPP (built
 *                 without liburing, or a kernel before 5.11), -EPERM (a
 *                 seccomp filter, kernel.io_uring_disabled), -ENOSYS,
 *                 -ENOMEM (RLIMIT_MEMLOCK before 5.12), as io_uring_setup
 *                 says;
 *         -E2BIG opts->size larger than this library knows and the unknown
 *                tail is not all zero;
 *         -EOPNOTSUPP the forced mechanism is not available here (or
 *                 -EAGAIN, -ENOMEM, -EMFILE, -ENFILE when its probe ran
 *                 out of resources: it is probed again next time);
 *         -ENOSYS the kernel lacks what every mechanism needs (pidfds that
 *                 waitid(P_PIDFD) accepts: Linux 5.4);
 *         -EINVAL NULL ret;
 *         -EPERM  a sandbox refuses every clone we know (or whatever errno
 *                 it refuses the last one with, e.g. -EACCES);
 *         -EAGAIN, -ENOMEM, -EMFILE, -ENFILE from the first use's kernel
 *                 probe (which then runs again next time) or from creating
 *                 the backend's fd and the timerfd; -ENOSPC from epoll
 *                 (fs.epoll.max_user_watches). */
PV_EXPORT int pv_loop_new(pv_loop **ret, const struct pv_loop_opts *opts);

/* Destroy a loop: every child still alive gets SIGKILL (its whole process
 * group if it was spawned with PV_SPAWN_F_NEW_PGRP or PV_SPAWN_F_NEW_SESSION,
 * every process of its cgroup with PV_SPAWN_F_CGROUP; a PV_SPAWN_F_TREE
 * tree still waited for gets it too, and is not waited for) and is reaped, every fd the loop or its children own is closed, and every
 * pv_child of the loop is freed, released or not.  No callback runs.
 * In a process forked since pv_loop_new() it kills and unwatches nothing
 * (those children and the epoll set or ring are the parent's) and only closes this
 * process's copies of the fds.  It waits for the children it killed; a
 * child whose zombie a ptrace tracer holds is waited for until the tracer
 * lets go.  A child that could not be signalled at all (a sandbox refusing
 * both pidfd_send_signal() and kill()) is not waited for: it is left
 * running, and unreaped when it ends.  Accepts NULL.
 * From inside a callback of that loop, the free is deferred: no callback
 * runs again, the rest of that callback's calls on the loop and its
 * children return -ECANCELED or do nothing (pv_loop_dispatch(),
 * pv_loop_run() and pv_child_wait() on a running child: -EBUSY, as in any
 * callback), and the dispatch that ran
 * the callback frees the loop and every child as it ends, then returns
 * -ECANCELED (so do pv_loop_run() and pv_child_wait() around it): the loop
 * and its children are gone when it returns. */
PV_EXPORT void pv_loop_free(pv_loop *loop);

/* A pollable fd (the epoll fd, or on io_uring an eventfd registered with
 * the ring): readable when
 * pv_loop_dispatch(loop, 0) has work.  Use it to nest a pv_loop in another
 * event loop.  The loop keeps ownership; do not close it.  On io_uring, from
 * the first call on, every call of the library hands what it queued to the
 * kernel before it returns (one io_uring_enter more per spawn, and a read
 * of the eventfd per dispatch: the price of nesting); before Linux 6.1 the
 * host's own epoll_wait() on that thread may return EINTR (enum
 * pv_backend).  Returns the fd, or -errno: -EINVAL for NULL; on io_uring,
 * the first call's -EMFILE, -ENFILE, -ENOMEM (the eventfd). */
PV_EXPORT int pv_loop_fd(const pv_loop *loop);

/* Wait up to timeout_ms (-1: forever, 0: do not block) for events, then
 * handle the ready events (up to 256 per call; the rest on the next call)
 * and every expired timer, invoking callbacks.
 * Returns the number of ready fds handled (the loop's one timerfd counts
 * once however many timers expired; 0 on timeout or when a signal
 * interrupted the wait).
 * Errors: -EINVAL NULL loop; -EBUSY called from inside a callback of this
 *         loop; -ECHILD the process forked since pv_loop_new();
 *         -ECANCELED a callback called pv_loop_free(): the loop is freed;
 *         on io_uring, -EMFILE, -ENFILE, -ENOMEM when the first dispatch
 *         from another thread cannot make that thread's ring (the loop
 *         stays as it was: try again). */
PV_EXPORT int pv_loop_dispatch(pv_loop *loop, int timeout_ms);

/* Dispatch until no child of the loop is alive and no exited child's output
 * lingers.  Returns 0, or the errors of pv_loop_dispatch() (-ECANCELED: a
 * callback freed the loop). */
PV_EXPORT int pv_loop_run(pv_loop *loop);

/* The mechanism this loop spawns with (enum pv_mech, never AUTO), or
 * -EINVAL for NULL. */
PV_EXPORT int pv_loop_mech(const pv_loop *loop);

/* The backend this loop uses (enum pv_backend, never AUTO), or -EINVAL. */
PV_EXPORT int pv_loop_backend(const pv_loop *loop);

/* Number of children of this loop whose exit has not been delivered (not
 * yet reaped, or with PV_SPAWN_F_TREE, reaped while their tree lives on),
 * or -EINVAL. */
PV_EXPORT int pv_loop_count_unreaped(const pv_loop *loop);

/* ------------------------------------------------------------------ */
/* Spawning                                                            */
/* ------------------------------------------------------------------ */

/* What a child's fd 0, 1 or 2 is connected to. */
enum pv_stdio_mode {
        PV_STDIO_INHERIT = 0, /* the parent's own fd of that number */
        PV_STDIO_NULL,        /* /dev/null */
        PV_STDIO_PIPE,        /* a pipe whose parent end the library owns:
                               * stdout/stderr are read and delivered to
                               * on_output, stdin takes pv_child_write() */
        PV_STDIO_FD,          /* struct pv_stdio.fd, which stays the caller's */
        PV_STDIO_PIPE_RAW,    /* a pipe whose parent end the caller reads or
                               * writes itself (pv_child_stdio_fd()); the
                               * library never touches it but closes it when
                               * the child is freed */
        _PV_STDIO_MAX,
        _PV_STDIO_INVALID = -22
};

/* How a PV_STDIO_PIPE stdout or stderr reaches on_output. */
enum pv_output_mode {
        PV_OUTPUT_LINES = 0,  /* one call per line, without its '\n' */
        PV_OUTPUT_CHUNKS,     /* one call per read, bytes as they came */
        _PV_OUTPUT_MAX,
        _PV_OUTPUT_INVALID = -22
};

/* What max_line 0 means, per stream.  A stdout line is usually a protocol
 * message (a JSON-RPC response carrying a 300 KB file is one 600 KB line),
 * which a reader wants whole; a stderr line is a log line.  Either is a
 * bound, not an allocation: see max_line. */
#define PV_MAX_LINE_STDOUT (16 * 1024 * 1024)
#define PV_MAX_LINE_STDERR (64 * 1024)

struct pv_stdio {
        int mode;           /* enum pv_stdio_mode */
        int fd;             /* with PV_STDIO_FD: the caller's fd (>= 0) */
        int output;         /* stdout/stderr pipes: enum pv_output_mode */
        uint32_t max_line;  /* PV_OUTPUT_LINES: the longest piece handed
                             * out; a longer line comes in pieces flagged
                             * PV_OUT_F_PARTIAL.  0 = PV_MAX_LINE_STDOUT
                             * on fd 1, PV_MAX_LINE_STDERR on fd 2.  Also
                             * bounds what is buffered per stream: nothing
                             * while lines come whole within a read, else
                             * what the unfinished line needs (doubling),
                             * given back once it is out (a buffer of up
                             * to 4 KiB is kept for the next).  Where that
                             * memory cannot be had, the line comes in
                             * shorter PV_OUT_F_PARTIAL pieces instead:
                             * no byte is dropped. */
};

/* Flags of an on_output call. */
enum pv_output_flags {
        PV_OUT_F_PARTIAL    = 1u << 0, /* lines: the line goes on in the next
                                      * call (it is longer than max_line,
                                      * or memory for it ran out, or a
                                      * linger began inside it) */
        PV_OUT_F_NO_NEWLINE = 1u << 1, /* lines: the stream ended inside this
                                      * line, its last */
        PV_OUT_F_EOF        = 1u << 2, /* the stream ended: every writer closed
                                      * it (len is 0) */
        PV_OUT_F_CLOSED     = 1u << 3, /* the library closed the stream before
                                      * EOF: the child exited and the linger
                                      * (if any) is over, while a descendant
                                      * still holds it open; or a read
                                      * failed (len is 0) */
};

/* Where a failed spawn failed. */
enum pv_spawn_stage {
        PV_STAGE_NONE = 0,
        PV_STAGE_SETUP,     /* in the parent: pipes, /dev/null, memory, clone */
        PV_STAGE_SIGNALS,   /* child: resetting signal mask and dispositions */
        PV_STAGE_SESSION,   /* child: setsid() or setpgid() */
        PV_STAGE_PDEATHSIG, /* child: prctl(PR_SET_PDEATHSIG) */
        PV_STAGE_STDIO,     /* child: dup3() onto fds 0-2 */
        PV_STAGE_FDS,       /* child: marking other fds close-on-exec */
        PV_STAGE_CHDIR,     /* child: chdir(cwd) */
        PV_STAGE_EXEC,      /* child: execve() */
        PV_STAGE_CGROUP,    /* child: moving itself into opts.cgroup_fd
                             * (first of all; the rungs without
                             * CLONE_INTO_CGROUP) */
        _PV_STAGE_MAX,
        _PV_STAGE_INVALID = -22
};

/* Static name of a stage ("none", "setup", ..., "exec", "cgroup"), or NULL
 * when out of range. */
PV_EXPORT const char *pv_spawn_stage_name(int stage);

enum pv_spawn_flags {
        PV_SPAWN_F_NEW_SESSION = 1u << 0, /* setsid(): new session and group */
        PV_SPAWN_F_NEW_PGRP    = 1u << 1, /* setpgid(0, 0): new process group */
        PV_SPAWN_F_CGROUP      = 1u << 3, /* spawn into the cgroup v2 directory
                                         * opts.cgroup_fd: CLONE_INTO_CGROUP
                                         * on the clone3 rung (Linux 5.7);
                                         * elsewhere, and where the kernel
                                         * kills such a child at birth (a
                                         * cgroup whose cgroup.kill was
                                         * written), the child moves itself in
                                         * through cgroup.procs before exec
                                         * (stage PV_STAGE_CGROUP; it shares
                                         * our memory then, so a cpuset with
                                         * other mems moves our pages too, as
                                         * CLONE_INTO_CGROUP would not).  The stop
                                         * ladder then signals every process
                                         * in that cgroup and escalates with
                                         * cgroup.kill (5.14; else SIGKILL to
                                         * each), so it should be the child's
                                         * own cgroup (pv_cgroup_new()) */
        PV_SPAWN_F_PDEATHSIG   = 1u << 2, /* signal the child when the spawning
                                         * thread dies (pdeath_signal) */
        PV_SPAWN_F_TREE      = 1u << 4, /* the child and its descendants are
                                         * one: with PV_SPAWN_F_CGROUP (its
                                         * own cgroup), or PV_SPAWN_F_NEW_PGRP
                                         * or _NEW_SESSION (its process
                                         * group: a descendant that leaves
                                         * the group escapes).  The exit is
                                         * delivered once the whole tree is
                                         * gone: descendants left when the
                                         * child ends get the ladder's rest
                                         * (SIGTERM and SIGCONT unless the
                                         * ladder sent them already, the
                                         * grace, SIGKILL) and the exit
                                         * flags say so (a child whose
                                         * status came late, held by a
                                         * tracer or taken by another
                                         * reaper, gives its tree the whole
                                         * ladder again).  The output pipes
                                         * stay read meanwhile */
};

/* How a child ended. */
enum pv_exit_kind {
        PV_EXIT_EXITED = 1, /* exited; code is valid */
        PV_EXIT_KILLED,     /* killed by a signal; signal (and core_dumped) */
        PV_EXIT_LOST,       /* reaped by someone else and the kernel did not
                             * tell us the status (before Linux 6.15, or not
                             * within about 250 ms of the exit) */
};

enum pv_exit_flags {
        PV_EXIT_F_STOPPED   = 1u << 0, /* the stop ladder ran (stop or deadline) */
        PV_EXIT_F_ESCALATED = 1u << 1, /* the ladder sent SIGKILL and that is
                                      * what ended the child (or its status
                                      * was lost); not set when the SIGKILL
                                      * met a child already ending of SIGTERM
                                      * or exiting, nor when no signal could
                                      * be sent */
        PV_EXIT_F_DEADLINE  = 1u << 2, /* the run deadline started the ladder */
        PV_EXIT_F_RECOVERED = 1u << 3, /* another reaper took the status; it was
                                      * recovered with PIDFD_GET_INFO, and
                                      * rusage is not available (all zero) */
        PV_EXIT_F_TREE_LEFT = 1u << 4, /* PV_SPAWN_F_TREE: processes of the
                                      * tree outlived the child; the exit
                                      * waited until they were gone */
        PV_EXIT_F_TREE_KILLED = 1u << 5, /* ... and the tree got SIGKILL */
};

struct pv_exit {
        int kind;               /* enum pv_exit_kind */
        int code;               /* exit code, with PV_EXIT_EXITED; else 0 */
        int signal;             /* signal number, with PV_EXIT_KILLED; else 0 */
        bool core_dumped;       /* with PV_EXIT_KILLED */
        unsigned flags;         /* enum pv_exit_flags */
        pid_t pid;              /* the child's pid */
        uint64_t runtime_us;    /* from spawn to the moment the loop saw the exit
                                 * (with PV_SPAWN_F_TREE: the tree's end) */
        struct rusage rusage;   /* the child's, from waitid(); zero if not known */
        uint64_t reserved[8];   /* zero; room to grow without an ABI break */
};

/* Called once when a child has exited and been reaped (with
 * PV_SPAWN_F_TREE: and its tree is gone); e is valid for the duration of
 * the call only.  (While a ptrace tracer holds the child's zombie, the loop
 * looks again with a back-off up to once a second.)  The callback may call
 * any function of this library on any child, including pv_child_release(c),
 * pv_spawn() and pv_loop_free() (deferred: see there), but not
 * pv_loop_run(), pv_loop_dispatch() or pv_child_wait() on a running child
 * (they return -EBUSY). */
typedef void (*pv_exit_fn)(pv_child *c, const struct pv_exit *e, void *userdata);

/* Called with the output of a PV_STDIO_PIPE stdout (fd 1) or stderr (fd 2)
 * as it arrives: a line (or a piece of one) or a chunk, as struct
 * pv_stdio.output says, and once at the end of each stream, with len 0 and
 * PV_OUT_F_EOF or PV_OUT_F_CLOSED.  Everything the child wrote before it exited
 * comes before its exit callback; after the exit, only a linger
 * (linger_ms) lets more through.  data is valid during the call only.  Same
 * rules for what the callback may call as pv_exit_fn. */
typedef void (*pv_output_fn)(pv_child *c, int fd, const char *data, size_t len,
                             unsigned flags, void *userdata);

/* Called when the stdin queue has drained after a pv_child_write() that
 * returned 1 (the queue had reached the high-water mark). */
typedef void (*pv_drain_fn)(pv_child *c, void *userdata);

struct pv_spawn_opts {
        size_t size;                 /* sizeof(struct pv_spawn_opts) */
        const char *const *argv;     /* required, argv[0] non-empty; without a
                                      * '/', argv[0] is searched in PATH (from
                                      * envp when given, else the caller's) */
        const char *const *envp;     /* NULL: inherit the caller's environ */
        const char *cwd;             /* NULL: the caller's working directory;
                                      * a relative argv[0] with a '/' is then
                                      * resolved in cwd */
        struct pv_stdio stdio[3];    /* fds 0, 1, 2; zero = inherit */
        unsigned flags;              /* enum pv_spawn_flags */
        int pdeathsig;               /* with PV_SPAWN_F_PDEATHSIG; 0 = SIGKILL */
        const int *keep_fds;         /* fds >= 3 the child inherits (their
                                      * close-on-exec flag is cleared in the
                                      * child only) */
        size_t n_keep_fds;
        uint32_t grace_ms;           /* SIGTERM -> SIGKILL grace; 0 = 5000 */
        uint64_t deadline_ms;        /* start the stop ladder this long after
                                      * spawn; 0 = no deadline */
        pv_exit_fn on_exit;          /* optional */
        pv_output_fn on_output;      /* optional; piped stdout/stderr output
                                      * is drained (and dropped) without it */
        void *userdata;              /* passed to the callbacks */
        uint32_t linger_ms;          /* after the exit, keep reading stdout/
                                      * stderr this long while a descendant
                                      * holds them; 0 = close them at the exit */
        size_t stdin_high_water;     /* pv_child_write() returns 1 once this
                                      * much is queued; 0 = 1 MiB */
        pv_drain_fn on_drain;        /* optional, see pv_drain_fn */
        int cgroup_fd;               /* with PV_SPAWN_F_CGROUP: an fd of the
                                      * cgroup v2 directory (the caller's;
                                      * the library keeps a copy) */
};
#define PV_SPAWN_OPTS_INIT PV__INIT_SIZE(struct pv_spawn_opts)

/* Spawn a child.  On success the child runs, has a pidfd in the loop, and
 * *ret (if ret is not NULL) holds a handle the caller owns and must give up
 * with pv_child_release().  With ret == NULL the loop owns the child and
 * frees it after its exit callback; nobody holds a handle to write with,
 * so a PV_STDIO_PIPE or PV_STDIO_PIPE_RAW stdin is closed at once (the
 * child reads EOF).
 *
 * Exec errors come back here, synchronously: no child, zombie or fd is left
 * behind.  *stage, if stage is not NULL, is written on failure and on
 * success: where the call failed (enum pv_spawn_stage; PV_STAGE_SETUP for
 * argument errors and anything in the parent), or PV_STAGE_NONE.
 * Errors: -EINVAL NULL/empty argv, NULL loop or opts, bad stdio mode,
 *                 negative PV_STDIO_FD fd, an output mode out of range (in
 *                 any slot), unknown flags, pdeathsig not in
 *                 0..64 (checked even without the flag), keep_fds NULL with
 *                 a count, a keep fd below 3 or more than 65536 of them,
 *                 deadline_ms above UINT64_MAX / 2000000, PV_SPAWN_F_TREE
 *                 without a cgroup or a process group, opts->size too
 *                 small;
 *         -E2BIG  unknown non-zero opts tail, or argv/envp too large (exec);
 *         -ENOENT, -EACCES, -ENOEXEC, -ENOTDIR, -ELOOP, ... from exec or
 *                 chdir (stage tells which);
 *         -EBADF  a PV_STDIO_FD or keep fd that is not open;
 *         -EACCES, -EBUSY, -EOPNOTSUPP, ... with PV_SPAWN_F_CGROUP: the kernel
 *                 would not place the child in that cgroup (stage
 *                 PV_STAGE_CGROUP, or PV_STAGE_SETUP from clone3);
 *         -EMFILE, -ENFILE, -ENOMEM, -EAGAIN from pipes and clone;
 *         -ENOSPC from epoll (fs.epoll.max_user_watches); on io_uring,
 *                 -EAGAIN when the ring's submission queue could not be
 *                 handed to the kernel, and -EMFILE, -ENFILE, -ENOMEM when
 *                 a thread other than the last to use the loop could not
 *                 make its ring (pv_loop_dispatch());
 *         -ECHILD the process forked since pv_loop_new();
 *         -ECANCELED a callback freed the loop. */
PV_EXPORT int pv_spawn(pv_loop *loop, const struct pv_spawn_opts *opts,
                       pv_child **ret, int *stage);

/* ------------------------------------------------------------------ */
/* Children                                                            */
/* ------------------------------------------------------------------ */

/* Send a signal through the pidfd (never a recycled pid).  Where the call
 * is refused (a sandbox's EPERM, as Docker's profile before 20.10; a tool
 * that lacks it, such as valgrind 3.19: see PV_FEATURE_PIDFD_SIGNAL), by
 * pid, and only while the pidfd shows the child has not exited.  That
 * check and the kill() are two calls: a child that exits between them and
 * is reaped at once by someone else (SIGCHLD ignored, a host's
 * waitpid(-1)) leaves its pid free for reuse for those microseconds; only
 * where pidfd_send_signal() is refused.  sig 0 tests.
 * Errors: -EINVAL NULL child or bad signal number; -ECHILD after fork();
 *         -ESRCH the child has exited (even if not yet reaped); -EPERM
 *         both ways of signalling were refused. */
PV_EXPORT int pv_child_signal(pv_child *c, int sig);

/* Start the stop ladder, asynchronously: close stdin, SIGTERM (then SIGCONT,
 * so a stopped child can act on it), and after the grace period SIGKILL.
 * With PV_SPAWN_F_NEW_PGRP or PV_SPAWN_F_NEW_SESSION the signals go to the
 * child's whole process group, with PV_SPAWN_F_CGROUP to every process of
 * its cgroup; the ladder ends with the child itself (a group member that
 * outlives it by ignoring SIGTERM is not pursued) unless PV_SPAWN_F_TREE
 * says to wait for the whole tree.
 * Idempotent: calling it again, or once the child has exited (even if the
 * loop has not reaped it yet), returns 0 and sends no signal.
 * Where the grace timer cannot be armed, the grace is zero: SIGKILL at
 * once (and 0 is returned).  A SIGKILL that cannot be sent is never
 * recorded as sent: it is tried again every second.
 * Errors: -EINVAL NULL child; -ECHILD after fork(); -ECANCELED a callback
 *         freed the loop; -EPERM (or another
 *         error of pv_child_signal()) from sending SIGTERM: stdin is closed
 *         all the same, and the ladder is not started. */
PV_EXPORT int pv_child_stop(pv_child *c);

/* Write to the child's PV_STDIO_PIPE stdin without ever blocking: what the
 * pipe does not take now is copied into a queue and written as the pipe
 * drains (the pipe is in the loop's epoll set only while the queue holds
 * data).  Never raises SIGPIPE in the host (see src/stdio.c for how; no
 * signal disposition is changed).  len 0 is fine and writes nothing.
 * Returns 0 when the queue is below the high-water mark, 1 when it has
 * reached it (stop writing until on_drain).
 * Errors: -EINVAL NULL child, or NULL buf with len > 0; -ECHILD after
 *         fork(); -ENOTCONN stdin is not a PV_STDIO_PIPE; -EPIPE stdin is
 *         closed, the child closed its end, or the child exited;
 *         -ENOMEM the queue could not grow, or the pipe could not be
 *         added to the epoll set; -ENOSPC the epoll set could not take it
 *         (fs.epoll.max_user_watches); on io_uring, -EAGAIN, -EMFILE,
 *         -ENFILE or -ENOMEM, the pipe could not be watched (as
 *         pv_spawn() says): in these cases none of buf went anywhere;
 *         other errors of write(2) and fcntl(2). */
PV_EXPORT int pv_child_write(pv_child *c, const void *buf, size_t len);

/* Bytes queued for the child's stdin and not yet written, or -EINVAL. */
PV_EXPORT ssize_t pv_child_stdin_pending(const pv_child *c);

/* Close the child's stdin: once the queue has drained (at once if it is
 * empty); a PV_STDIO_PIPE_RAW stdin at once (the caller must not close that
 * fd itself).  The stop ladder closes a PV_STDIO_PIPE stdin at once and
 * drops the queue (a raw one stays until the child is freed).
 * Returns 0, also when it is already closed or closing.  Errors: -EINVAL
 * NULL child; -ECHILD after fork(); -ENOTCONN stdin is no pipe. */
PV_EXPORT int pv_child_close_stdin(pv_child *c);

/* The parent end of a PV_STDIO_PIPE_RAW pipe on the child's fd (0, 1 or 2),
 * for the caller to read or write but not to close: the library closes it
 * when the child is freed (and a raw stdin on pv_child_close_stdin()).
 * Errors: -EINVAL NULL child or fd not 0-2; -ENOTCONN that fd is not a
 * PV_STDIO_PIPE_RAW, or is closed. */
PV_EXPORT int pv_child_stdio_fd(const pv_child *c, int fd);

/* Run the child's loop until this child has exited (its exit callback has
 * run), for at most timeout_ms (-1: no limit; 0: dispatch once without
 * blocking).  *ret, if not NULL, receives the exit.  Returns at once if the
 * child has already exited, also from a callback.
 * Errors: -EINVAL NULL child; -ETIMEDOUT not yet reaped at the timeout;
 *         -EBUSY called from a callback while the child runs; -ECHILD
 *         after fork(); -ECANCELED a callback freed the loop (c is gone). */
PV_EXPORT int pv_child_wait(pv_child *c, int timeout_ms, struct pv_exit *ret);

/* The child's pid; it stays readable after the exit (then the number may
 * already belong to another process), or -EINVAL for NULL. */
PV_EXPORT pid_t pv_child_pid(const pv_child *c);

/* The child's pidfd (owned by the library: do not close it), or -ESRCH once
 * the loop has seen the child dead (reaped by it or by another reaper, or a
 * zombie that a ptrace tracer holds), or -EINVAL for NULL. */
PV_EXPORT int pv_child_pidfd(const pv_child *c);

/* Whether the child's exit has been delivered (it exited and was reaped,
 * and with PV_SPAWN_F_TREE its tree is gone): 1 yes, 0 no, -EINVAL. */
PV_EXPORT int pv_child_is_reaped(const pv_child *c);

/* The exit, once delivered (see pv_child_is_reaped()): 0 and *ret filled;
 * -EBUSY (still running, or its tree still waited for) or -EINVAL. */
PV_EXPORT int pv_child_get_exit(const pv_child *c, struct pv_exit *ret);

/* The caller gives up its handle.  A child still running is not stopped: the
 * loop keeps supervising and reaping it, but no callback of it runs again.
 * Nobody can write to it any more, so a PV_STDIO_PIPE stdin is closed once
 * its queue has drained, and a linger ends (nobody reads it).  Safe inside
 * the child's own callbacks.  Accepts NULL.  Does nothing on a loop-owned
 * child (spawned with ret == NULL), whose callbacks keep running. */
PV_EXPORT void pv_child_release(pv_child *c);

/* ------------------------------------------------------------------ */
/* Cgroups                                                             */
/* ------------------------------------------------------------------ */

/* A cgroup v2 directory of a child's own, made fresh for it: spawn into it
 * with PV_SPAWN_F_CGROUP and pv_cgroup_fd(), and whatever the child starts
 * (setsid, double fork) stays in it, to be signalled and waited for as a
 * whole.  Use a fresh one per incarnation: once cgroup.kill has been
 * written (by pv_cgroup_signal(SIGKILL), pv_cgroup_remove() or the stop
 * ladder) the kernel kills every later CLONE_INTO_CGROUP child of that
 * cgroup at birth (Linux 6.18; pv_spawn() then falls back to moving the
 * child in itself).  A pv_cgroup belongs to one thread at a time. */
typedef struct pv_cgroup pv_cgroup;

/* Make a fresh cgroup below parent_dir, the absolute path of a cgroup v2
 * directory, or, with parent_dir NULL, below the caller's own cgroup
 * (the cgroup2 mount that shows the "0::" line of /proc/self/cgroup, per
 * /proc/self/mountinfo).  Its name is "pidvisor.<pid>.<n>": unique among
 * the caller's threads, and never one that exists (a name another process
 * holds, or a killed run left behind, is skipped).  Nothing is made when
 * the call fails.  *ret is written only on success; give it up with
 * pv_cgroup_free().  Thread-safe.
 * Errors: -EINVAL NULL ret, or parent_dir not absolute;
 *         -ENOENT no such parent_dir, or (NULL) no cgroup v2 hierarchy in
 *                 which this process's cgroup is visible;
 *         -ENOTDIR parent_dir is no directory;
 *         -ENOMEDIUM parent_dir is not on a cgroup v2 file system;
 *         -EACCES, -EPERM, -EROFS the parent is not ours to write (no
 *                 delegation);
 *         -EAGAIN cgroup.max.descendants or cgroup.max.depth reached;
 *         -ENAMETOOLONG, -ENOMEM, -EMFILE, -ENFILE. */
PV_EXPORT int pv_cgroup_new(pv_cgroup **ret, const char *parent_dir);

/* An O_DIRECTORY fd of the cgroup, for struct pv_spawn_opts.cgroup_fd
 * (pv_spawn() keeps a copy of its own).  The handle owns it: do not close
 * it.  The fd, or -ENOENT once pv_cgroup_remove() removed the cgroup, or
 * -EINVAL for NULL. */
PV_EXPORT int pv_cgroup_fd(const pv_cgroup *cg);

/* The cgroup's absolute path, valid until pv_cgroup_free() (also after the
 * removal, for messages), or NULL for NULL. */
PV_EXPORT const char *pv_cgroup_path(const pv_cgroup *cg);

/* Send sig to every process in the cgroup.  SIGKILL goes through
 * cgroup.kill (Linux 5.14), which also reaches the cgroups below it and
 * processes forking meanwhile; any other signal, and SIGKILL without
 * cgroup.kill, goes by pid to each process listed in cgroup.procs (not to
 * the cgroups below).  sig 0 checks each listed process.
 * Returns 0 when every process took it (one that exited meanwhile counts).
 * Errors: -EINVAL NULL cg or sig not in 0..64; -ENOENT removed; -EPERM (or
 *         another error of kill(2)) a listed process was not ours to signal:
 *         the first such error, every other process still got the signal;
 *         -ENODEV the directory was removed by someone else; -EMFILE,
 *         -ENFILE, -ENOMEM reading cgroup.procs (nobody was signalled). */
PV_EXPORT int pv_cgroup_signal(pv_cgroup *cg, int sig);

/* Whether any process is left in the cgroup or below it: 1 or 0 (a zombie
 * waiting for its parent's wait does not count).  Reading it re-arms the
 * POLLPRI of pv_cgroup_events_fd().
 * Errors: -EINVAL NULL; -ENOENT removed; -ENODEV removed by someone else;
 *         -EMFILE, -ENFILE opening cgroup.events. */
PV_EXPORT int pv_cgroup_populated(pv_cgroup *cg);

/* A pollable fd of the cgroup's cgroup.events, opened on the first call and
 * owned by the handle (do not close it; EPOLL_CTL_DEL it before
 * pv_cgroup_remove() or pv_cgroup_free()): poll() reports POLLPRI (epoll
 * EPOLLPRI, level-triggered) once "populated" changed since the last
 * pv_cgroup_populated(), which clears it.  Call pv_cgroup_populated()
 * before waiting, so that a change already past is not waited for.
 * The fd, or -EINVAL NULL, -ENOENT removed, -EMFILE, -ENFILE. */
PV_EXPORT int pv_cgroup_events_fd(pv_cgroup *cg);

/* Remove the cgroup: SIGKILL what is left in it, wait for it to be empty,
 * for at most timeout_ms (-1: no limit; 0: kill, and remove only what is
 * already empty), killing again every 100 ms, then rmdir() it.  The waiting
 * needs no reaping from the caller: an exited child that nobody has waited
 * for is no longer in any cgroup.  Once removed, pv_cgroup_fd() and the
 * others say -ENOENT and the fds are closed; removing again returns 0, as
 * does removing a cgroup someone else removed.
 * Errors: -EINVAL NULL cg or timeout_ms below -1;
 *         -ETIMEDOUT still populated at the deadline (a process stuck in
 *                 the kernel; or, without cgroup.kill, one not ours to
 *                 kill: then -EPERM): nothing removed, call again;
 *         -EBUSY it holds a cgroup of its own (made by something in it):
 *                 nothing removed;
 *         -EMFILE, -ENFILE opening cgroup.events. */
PV_EXPORT int pv_cgroup_remove(pv_cgroup *cg, int timeout_ms);

/* Free the handle.  Unless pv_cgroup_remove() was called on it, the cgroup
 * is removed first, as by pv_cgroup_remove(cg, 10000): everything in it is
 * killed; if that fails, the directory stays.  After a pv_cgroup_remove()
 * that failed, the caller knew and chose: the directory stays as it is.
 * Accepts NULL. */
PV_EXPORT void pv_cgroup_free(pv_cgroup *cg);

#ifdef __cplusplus
}
#endif
#endif /* PIDVISOR_H */
