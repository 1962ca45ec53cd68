/* SPDX-License-Identifier: MIT */
/* Shared by the Criterion tests: process accounting and helper spawning. */
#ifndef PV_TESTUTIL_H
#define PV_TESTUTIL_H

#include <pidvisor.h>
#include <stdbool.h>
#include <stddef.h>

/* Open fds of this process, threads of this process. */
int tu_count_fds(void);
int tu_count_threads(void);
/* How many fds the loop watches: the timerfd, the pidfds, and each pipe
 * end being watched; read from /proc/self/fdinfo of pv_loop_fd(l), for
 * either backend (testutil.c says how, and the one case where io_uring's
 * count can be off). */
int tu_count_watched(const pv_loop *l);
/* This process has no child at all, running or unreaped: waitid(P_ALL)
 * says ECHILD.  (Not just "none waitable": a child left running must fail
 * it.) */
bool tu_no_children(void);
/* Is pid alive (and not a zombie)? */
bool tu_pid_alive(int pid);
/* Wait (10 s at most) until pid is no longer alive: a process that is not
 * our child gives no event to wait on.  Whether it went. */
bool tu_wait_gone(int pid);

/* Does this kernel (and sandbox) offer what spawn mechanism mech needs?
 * Asked with raw system calls, independently of the library, so that a
 * skip is never decided by the code under test: NULL if it does, else why
 * not (static text).  The generic build (configure --with-arch=generic)
 * has no clone3 rung whatever the kernel says, and answers so. */
const char *tu_kernel_lacks_mech(int mech);

/* pv_loop_new, on the backend and rung the run is for: where the caller
 * leaves the backend to AUTO (o NULL, or o->backend 0), the one
 * PV_TEST_BACKEND names ("epoll", "uring"; unset or "auto": AUTO), so that
 * tests/per-backend.sh runs one suite on each backend; where it leaves the
 * mechanism to AUTO, the one PV_TEST_MECH names ("clone3", "clone",
 * "vfork"), so that tests/check-profiles.sh forces each rung.  What the
 * caller names is kept.  Returns what pv_loop_new returns, or -EINVAL for
 * a name that is no backend or rung (a typo must not run the suite on AUTO
 * unnoticed).
 * Asserts nothing: usable under tu_sandbox_run.  Tests of pv_loop_new's
 * own arguments and of what AUTO picks call pv_loop_new itself. */
int tu_loop_new(pv_loop **l, const struct pv_loop_opts *o);

/* NULL if io_uring is here as the library's backend needs it (features
 * NODROP and EXT_ARG, a build with liburing), and with deferred also a ring
 * made with IORING_SETUP_DEFER_TASKRUN (6.1), which PV_BACKEND_AUTO wants;
 * else why not.  Asked of the kernel with a raw io_uring_setup(2), not of
 * the code under test. */
const char *tu_uring_lacks(bool deferred);

/* tu_loop_new on rung mech (0: AUTO); skips the test, with the kernel's
 * reason, where tu_kernel_lacks_mech says the rung cannot work here, and
 * fails it where the kernel has the rung but the library refuses it. */
pv_loop *tu_loop_on(int mech);

/* Output collected by tu_collect (an on_output callback).  Lines get their
 * '\n' back (unless PV_OUT_F_PARTIAL or PV_OUT_F_NO_NEWLINE), so data reads as
 * the child wrote it, in either output mode (set chunks for chunk mode). */
struct tu_out {
        char data[1 << 16];
        size_t len;              /* capped at sizeof(data) - 1; NUL-terminated */
        size_t total;            /* all bytes seen, newlines included */
        bool chunks;             /* the streams are PV_OUTPUT_CHUNKS */
        unsigned ends[3];        /* PV_OUT_F_EOF/CLOSED seen per fd, or 0 */
        unsigned last_flags[3];  /* flags of the last data call per fd */
        int calls;               /* data calls */
        int exits;               /* exit callbacks seen (tu_on_exit) */
        size_t at_exit;          /* total when the exit callback ran */
        struct pv_exit last;     /* the last exit seen */
};
void tu_collect(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                void *ud);
void tu_on_exit(pv_child *c, const struct pv_exit *e, void *ud);

/* Options for running the test helper: argv is {HELPER_PATH, verbs..., NULL}.
 * stdout and stderr piped into *o (may be NULL: then inherited). */
struct pv_spawn_opts tu_helper_opts(const char **argv, struct tu_out *o);

/* Dispatch until needle shows in o->data, or fail the test after 10 s. */
void tu_wait_output(pv_loop *l, struct tu_out *o, const char *needle);

/* Dispatch until "ready" shows in o->data; false on an error or after
 * 10 s.  For code that must not assert (tu_sandbox_run's fn). */
bool tu_sb_wait_ready(pv_loop *l, struct tu_out *o);

/* Spawn with o (its output collected into out), then dispatch until the
 * child printed "ready"; fails the test on error. */
pv_child *tu_spawn_ready(pv_loop *l, struct pv_spawn_opts *o, struct tu_out *out);

/* pv_child_stop(c), then wait (30 s at most) for the exit; fails the test
 * on error. */
struct pv_exit tu_stop_wait(pv_child *c);

/* Pipes on all three of o's stdio slots. */
void tu_pipe_all(struct pv_spawn_opts *o);

/* Spawn with o, wait (10 s at most) for the exit into *e (may be NULL),
 * release.  0 or the -errno of pv_spawn/pv_child_wait. */
int tu_run_opts(pv_loop *l, const struct pv_spawn_opts *o, struct pv_exit *e);

/* tu_run_opts with the helper defaults for argv. */
int tu_run(pv_loop *l, const char **argv, struct pv_exit *e);

/* A fresh cgroup v2 directory "pv-test.<pid>.<n>" below this process's
 * own cgroup, found without the library (a cgroup2 mount of the whole
 * hierarchy joined with the "0::" line of /proc/self/cgroup), its path into
 * path; the test is skipped, saying why, where there is no cgroup v2 or it
 * is not writable.  The test removes it with tu_cgroup_rmdir(). */
void tu_cgroup_dir(char *path, size_t size);

/* rmdir(path), asserted; first moving this process back to the parent
 * cgroup of path if it had moved itself into path. */
void tu_cgroup_rmdir(const char *path);

/* For a suite's .fini: what tu_cgroup_dir made and a failed test left
 * behind is killed and removed (moving this process out of it first). */
void tu_cgroup_cleanup(void);

/* Move this process into the cgroup v2 directory path (asserted). */
void tu_cgroup_enter(const char *path);

#define TU_ARGV(...) ((const char *[]){ HELPER_PATH, __VA_ARGS__, NULL })

/* A fresh cgroup v2 directory under ours (pv-test.PID.TAG), its path in
 * path, an O_DIRECTORY fd returned; or a skip saying why not. */
int tu_make_cgroup(char *path, size_t size, const char *tag);
/* Whether the cgroup's cgroup.events says "populated 0". */
bool tu_cgroup_empty(const char *path);

#endif
