/* SPDX-License-Identifier: MIT */
/*
 * Creating a child: the ladder of clone mechanisms, parent side (pv_spawn
 * in spawn.c prepares, the child side is spawn-child.c, the clone entry
 * src/arch/).
 *
 * Every rung is a vfork-style clone (CLONE_VM): the child runs on our
 * memory, on a stack we hand it, while this thread waits until the child
 * has exec'd or exited.  No page tables are copied, so the cost does not
 * grow with the parent's size, unlike fork (libuv, GLib).
 *
 *   clone3(CLONE_PIDFD | CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND)
 *       Linux 5.5+.  Container seccomp profiles (Docker's before 20.10)
 *       answer EPERM or ENOSYS; 5.3/5.4 answer EINVAL to CLEAR_SIGHAND.
 *   clone(CLONE_PIDFD | CLONE_VM | CLONE_VFORK)
 *       Linux 5.2+.  Delete when 5.5 is our floor and seccomp profiles
 *       everywhere allow clone3.
 *   clone(CLONE_VM) + pidfd_open(), the child waiting on a pipe meanwhile
 *       Linux 5.3+ (kernels and sandboxes where CLONE_PIDFD is refused).
 *       The wait pins the pid against a foreign reaper (clone_pinned).
 *       Delete with the clone rung.
 *
 * With a cgroup, clone3 places the child with CLONE_INTO_CGROUP; on the
 * other rungs (and where the kernel killed such a child at birth) the child
 * moves itself in first, through cgroup.procs.
 */
#include <limits.h>
#include <pidvisor.h>
#include <signal.h>

#include "child.h"
#include "fault.h"
#include "features.h"
#include "spawn.h"
#include "syscall.h"

/* Create the child running fn(arg) on stack, with every signal blocked
 * around the clone so that no handler of ours runs in the child on our
 * memory (the child resets the handlers, then opens its mask); not on the
 * clone3 rung, where CLONE_CLEAR_SIGHAND resets them before the child
 * runs (two system calls fewer per spawn).  Returns the
 * pid or -errno; *pidfd is set by the rungs that have CLONE_PIDFD.  With
 * cgroup_fd >= 0 (clone3 only) the child is born in that cgroup.  The vfork
 * rung's kernel clears *left when the child leaves our memory. */
static int clone_mech(int mech, int (*fn)(void *), void *arg, void *stack,
                      size_t stack_size, int cgroup_fd, int *pidfd, volatile int *left)
{
        const struct pv__clone_entry e = { fn, arg };
        /* The stack grows down: clone() takes its top, clone3() its base
         * and size.  Keep the top 16-byte aligned: the stack alignment
         * that x86-64's and aarch64's ABIs ask at a call (aarch64 faults
         * on a misaligned sp). */
        char *top = (char *)(((uintptr_t)stack + stack_size) & ~(uintptr_t)15);
        uint64_t all = ~(uint64_t)0, old;
        bool block = mech != PV_MECH_CLONE3;
        long pid;
        int r = 0;

        /* rt_sigprocmask only fails on bad arguments. */
        if (block)
                r = sys_sigprocmask(SIG_SETMASK, &all, &old);
        assert(r == 0);
        switch (mech) {
        case PV_MECH_CLONE3: {
                struct clone_args ca = {
                        .flags = CLONE_PIDFD | CLONE_VM | CLONE_VFORK |
                                 CLONE_CLEAR_SIGHAND,
                        .pidfd = (uint64_t)(uintptr_t)pidfd,
                        .exit_signal = SIGCHLD,
                        .stack = (uint64_t)(uintptr_t)stack,
                        .stack_size = (uint64_t)(top - (char *)stack),
                };
                if (cgroup_fd >= 0) {
                        ca.flags |= CLONE_INTO_CGROUP;
                        ca.cgroup = (uint64_t)cgroup_fd;
                }
                pid = pv__clone_run(__NR_clone3, (long)&ca, sizeof(ca), 0, 0, &e);
                break;
        }
        case PV_MECH_CLONE:
                /* glibc's clone() wrapper refuses CLONE_PIDFD with
                 * CLONE_PARENT_SETTID because the pidfd lands in the
                 * parent_tid slot; the raw call is fine. */
                pid = pv__clone_run(__NR_clone,
                                    CLONE_PIDFD | CLONE_VM | CLONE_VFORK | SIGCHLD,
                                    (long)top, (long)pidfd, 0, &e);
                break;
        case PV_MECH_VFORK:
                /* No CLONE_VFORK: the child waits for us (clone_pinned);
                 * CLONE_CHILD_CLEARTID tells us when it has left. */
                pid = pv__clone_run(__NR_clone, CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD,
                                    (long)top, 0, (long)left, &e);
                break;
        default:
                pid = -EINVAL;
                break;
        }
        if (block)
                r = sys_sigprocmask(SIG_SETMASK, &old, NULL);
        assert(r == 0);
        (void)r;
        return (int)pid;
}

/* SIGKILL a child that ran but that we cannot keep (its exec'd program is
 * already going).  Whether it is dead or going: false when no signal could
 * be sent (then it is not waited for). */
static bool kill_unexpected(pid_t pid, int pidfd)
{
        int r = pv__signal_pidfd(pidfd, pid, SIGKILL, true);

        return r == 0 || r == -ESRCH;
}

/*
 * The vfork rung has no CLONE_PIDFD, so the pid must be pinned before the
 * child can be reaped: with SIGCHLD ignored or a foreign waitpid(-1), a
 * child that exits at once would be gone, its pid free for reuse, before a
 * pidfd_open() after the clone.  So the child is made without CLONE_VFORK
 * and waits (pv__child_pinned) until we hold its pidfd, then goes on; we
 * never signal it by pid.  Then we wait until it has left our memory, as
 * vfork would: the kernel clears pin->left at its exec or exit
 * (CLONE_CHILD_CLEARTID) and wakes us.  Futexes in the memory we share, not
 * pipes: a fork elsewhere in the host could copy a pipe end and hold us up.
 * Every signal stays blocked meanwhile, so that no handler of the host's
 * runs here (one that jumped out of pv_spawn would free what the child
 * reads).  Returns the pid with *ret_pidfd set, or -errno with nothing
 * left running (a child that could not be given a pidfd exits unexec'd and
 * is reaped).
 */
static int clone_pinned(struct pv__pin *pin, int (*fn)(void *), void *arg, void *stack,
                        size_t stack_size, int *ret_pidfd)
{
        uint64_t all = ~(uint64_t)0, old;
        int pidfd = -1, pid, r;
        siginfo_t si;

        *pin = (struct pv__pin){ .go = 0, .left = 1, .fn = fn, .arg = arg };
        r = sys_sigprocmask(SIG_SETMASK, &all, &old);
        assert(r == 0);
        PV_RETRY(pid, PV_FAULT(PV_FAULT_CLONE, clone_mech(PV_MECH_VFORK, pv__child_pinned,
                                                          pin, stack, stack_size, -1,
                                                          &pidfd, &pin->left)));
        if (pid > 0) {
                /* It waits for us, alive: it cannot have been reaped, and
                 * its pid is still its own. */
                PV_RETRY(pidfd, PV_FAULT(PV_FAULT_PIDFD_OPEN,
                                         pv__fd_high(sys_pidfd_open(pid, 0))));
                __atomic_store_n(&pin->go, pidfd >= 0 ? 1 : 2, __ATOMIC_RELEASE);
                (void)sys_futex_wake(&pin->go, 1);
                while (__atomic_load_n(&pin->left, __ATOMIC_ACQUIRE) != 0)
                        (void)sys_futex_wait(&pin->left, 1);
        }
        r = sys_sigprocmask(SIG_SETMASK, &old, NULL);
        assert(r == 0);
        if (pid < 0)
                return pid;
        if (pidfd < 0) {
                PV_RETRY(r, sys_waitid(P_PID, pid, &si, WEXITED | __WALL, NULL));
                return pidfd;
        }
        *ret_pidfd = pidfd;
        return pid;
}

/* Reap a child that failed before exec.  It has exited or is about to (the
 * vfork wake-up comes when it releases our memory, a moment before it
 * becomes a zombie), so a blocking wait is short.  ECHILD means a host
 * reaper (or SIGCHLD = SIG_IGN) took it: nothing is left either way. */
static void reap_failed(int pidfd, pid_t pid)
{
        siginfo_t si;
        int r;

        do {
                if (pidfd >= 0)
                        r = sys_waitid(P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL);
                else
                        r = sys_waitid(P_PID, pid, &si, WEXITED | __WALL, NULL);
        } while (r == -EINTR);
}

/* Read the error pipe until the child has left our memory: a message (it
 * failed, and exits next) or EOF (it exec'd, or died).  Closes it. */
static void read_errors(struct pv__child_args *a, int err_rd)
{
        int msg[2];
        ssize_t n;

        PV_RETRY(n, sys_read(err_rd, msg, sizeof(msg)));
        if (n == (ssize_t)sizeof(msg)) {
                a->stage = msg[0];
                a->err = msg[1];
        }
        sys_close(err_rd);
}

/* One clone with mechanism mech (see pv__spawn_run).  Returns the pid
 * (its pidfd in *ret_pidfd, the child gone from our memory), or -errno
 * with a->stage set; a child that failed before exec is reaped. */
static int spawn_once(int mech, struct pv__child_args *a, void *stack, size_t stack_size,
                      int cgroup_fd, int *ret_pidfd)
{
        struct pv__pin pin;
        int pidfd = -1, errp[2] = { -1, -1 };
        int r, pid;

        a->started = 0;
        a->err = 0;
        a->stage = PV_STAGE_NONE;
        a->err_fd = -1;
        if (a->err_pipe && mech == PV_MECH_VFORK) {
                /* Its handshake needs our memory shared; the probe found it
                 * is not (a tool turned CLONE_VM into a fork). */
                a->stage = PV_STAGE_SETUP;
                return a->err = -EOPNOTSUPP;
        }
        if (a->err_pipe) {
                PV_RETRY(r, PV_FAULT(PV_FAULT_PIPE2, pv__pipe_high(errp)));
                if (r < 0) {
                        a->stage = PV_STAGE_SETUP;
                        return a->err = r;
                }
                a->err_fd = errp[1];
        }
        if (mech == PV_MECH_VFORK)
                pid = clone_pinned(&pin, pv__child_main, a, stack, stack_size, &pidfd);
        else
                PV_RETRY(pid, PV_FAULT(PV_FAULT_CLONE,
                                       clone_mech(mech, pv__child_main, a, stack, stack_size,
                                                  cgroup_fd, &pidfd, NULL)));
        if (errp[1] >= 0)
                sys_close(errp[1]);
        if (pid < 0) {
                if (errp[0] >= 0)
                        sys_close(errp[0]);
                a->stage = PV_STAGE_SETUP;
                return a->err = pid;
        }
        if (errp[0] >= 0)
                read_errors(a, errp[0]);
        if (a->err == 0 && pidfd >= 0 && pidfd < 3) {
                /* A clone's pidfd on 0-2 (the host runs with them closed):
                 * move it up (see pv__fd_high), or give up the child. */
                r = sys_fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
                if (r < 0) {
                        a->stage = PV_STAGE_SETUP;
                        a->err = r;
                        if (!kill_unexpected(pid, pidfd)) {
                                sys_close(pidfd);       /* left running */
                                return a->err;
                        }
                } else {
                        sys_close(pidfd);
                        pidfd = r;
                }
        }
        if (a->err < 0) {
                reap_failed(pidfd, pid);
                if (pidfd >= 0)
                        sys_close(pidfd);
                return a->err;
        }
        *ret_pidfd = pidfd;
        return pid;
}

int pv__spawn_run(int mech, struct pv__child_args *a, void *stack,
                  size_t stack_size, int cgroup_fd, pid_t *ret_pid, int *ret_pidfd)
{
        int pidfd = -1, pid;
        struct pv__features f;
        bool into = false;
        siginfo_t si;
        int r;

        /* Only clone3 places the child in its cgroup, where the kernel
         * knows CLONE_INTO_CGROUP (5.7); on the other rungs, and on 5.5
         * and 5.6, the child moves itself. */
        if (mech == PV_MECH_CLONE3 && cgroup_fd >= 0) {
                pv__features_get(&f);
                into = f.clone_into_cgroup;
        }
        a->cgroup_fd = into ? -1 : cgroup_fd;
        pid = spawn_once(mech, a, stack, stack_size, a->cgroup_fd < 0 ? cgroup_fd : -1,
                         &pidfd);
        if (pid > 0 && cgroup_fd >= 0 && a->cgroup_fd < 0 && !a->err_pipe && !a->started) {
                /* Born into its cgroup and dead before its first line:
                 * once cgroup.kill has been written, Linux (6.18 seen
                 * here) SIGKILLs every later CLONE_INTO_CGROUP child of
                 * that cgroup at birth, while a process that moves in
                 * through cgroup.procs lives.  Reap it and go in that
                 * way.  (A cgroup.kill written by someone else while we
                 * spawn looks the same; the child then lives, as it would
                 * had the spawn come a moment later.  Delete when no
                 * kernel we run on kills at birth after a finished
                 * cgroup.kill.) */
                PV_RETRY(r, sys_waitid(P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL));
                sys_close(pidfd);
                pidfd = -1;
                a->cgroup_fd = cgroup_fd;
                pid = spawn_once(mech, a, stack, stack_size, -1, &pidfd);
        }
        if (pid < 0)
                return pid;
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

static int probe_child(void *p)
{
        *(volatile int *)p = 1;
        return 0;
}

int pv__spawn_probe(int mech, struct pv__probe *ret)
{
        char stack[4096] __attribute__((aligned(16)));
        struct pv__pidfd_info info = { .mask = PV__PIDFD_INFO_EXIT };
        struct pv__pin pin;
        volatile int marker = 0;
        siginfo_t si;
        int pidfd = -1, pid, r;

        if (mech == PV_MECH_VFORK) {
                pid = clone_pinned(&pin, probe_child, (void *)&marker, stack, sizeof(stack),
                                   &pidfd);
                if (pid < 0)
                        return pid;     /* -ENOSYS before 5.3: no pidfd_open */
                ret->got_pidfd = true;
        } else {
                pid = clone_mech(mech, probe_child, (void *)&marker, stack, sizeof(stack), -1,
                                 &pidfd, NULL);
                if (pid < 0)
                        return pid;
                if (pidfd < 0) {
                        /* A kernel before 5.2 ignores CLONE_PIDFD and
                         * leaves our -1 alone. */
                        reap_failed(-1, pid);
                        return -ENOSYS;
                }
                ret->got_pidfd = true;
                /* Off 0-2 too (pv__fd_high), short as its life is. */
                pidfd = pv__fd_high(pidfd);
                if (pidfd < 0) {
                        reap_failed(-1, pid);
                        return pidfd;
                }
        }
        /* Refused (seccomp, an LSM) or absent, against our own child: only
         * ESRCH, a child already reaped by a foreign reaper, says the call
         * itself works. */
        r = sys_pidfd_send_signal(pidfd, 0, 0);
        ret->pidfd_signal = r == 0 || r == -ESRCH;
        PV_RETRY(r, sys_waitid(P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL));
        if (r == -EINVAL) {
                /* No waitid(P_PIDFD) before Linux 5.4: we could not reap. */
                reap_failed(-1, pid);
                sys_close(pidfd);
                return -ENOSYS;
        }
        ret->waitid_pidfd = r == 0 || r == -ECHILD;
        /* PIDFD_INFO_EXIT (6.15) only shows once a child is reaped, so this
         * child is the probe for it too. */
        ret->info_exit = sys_ioctl(pidfd, PV__PIDFD_GET_INFO, &info) == 0 &&
                         (info.mask & PV__PIDFD_INFO_EXIT);
        sys_close(pidfd);
        ret->shared = marker == 1;
        return 0;
}

int pv__probe_into_cgroup(void)
{
        char stack[4096] __attribute__((aligned(16)));
        volatile int marker = 0;
        int pidfd = -1, pid;

        /* The clone3 rung's own call (CLONE_VM: no page tables copied),
         * with an fd that is never open: INT_MAX, the largest clone3
         * takes (fs.nr_open is below it). */
        pid = clone_mech(PV_MECH_CLONE3, probe_child, (void *)&marker, stack, sizeof(stack),
                         INT_MAX, &pidfd, NULL);
        if (pid > 0) {
                reap_failed(pidfd, pid);
                if (pidfd >= 0)
                        sys_close(pidfd);
                return 1;
        }
        if (pid == -EBADF)
                return 1;
        return pv__features_transient(pid) ? pid : 0;
}

static const char *const mech_names[_PV_MECH_MAX] = {
        [PV_MECH_AUTO] = "auto",
        [PV_MECH_CLONE3] = "clone3",
        [PV_MECH_CLONE] = "clone",
        [PV_MECH_VFORK] = "vfork",
};

PV_EXPORT const char *pv_mech_name(int mech)
{
        return mech >= 0 && mech < _PV_MECH_MAX ? mech_names[mech] : NULL;
}
