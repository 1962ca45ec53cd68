/* SPDX-License-Identifier: MIT */
/*
 * Creating a child: the fallback ladder, parent side.
 *
 * Every rung is a vfork-style clone (CLONE_VM | CLONE_VFORK): the child runs
 * on our memory, on a stack we hand it, while this thread sleeps until the
 * child has exec'd or exited.  No page tables are copied, so the cost does
 * not grow with the parent's size, unlike fork (libuv, GLib).
 *
 *   clone3(CLONE_PIDFD | CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND)
 *       Linux 5.5+.  Container seccomp profiles (Docker's before 20.10)
 *       answer EPERM or ENOSYS; 5.3/5.4 answer EINVAL to CLEAR_SIGHAND.
 *   clone(CLONE_PIDFD | CLONE_VM | CLONE_VFORK)
 *       Linux 5.2+.  Delete when 5.5 is our floor and seccomp profiles
 *       everywhere allow clone3.
 *   clone(CLONE_VM | CLONE_VFORK) + pidfd_open()
 *       Linux 5.3+ (kernels and sandboxes where CLONE_PIDFD is refused).
 *       Racy against a foreign waitpid(-1): the pid could be reaped and
 *       reused before pidfd_open.  Delete with the clone rung.
 */
#include <pidvisor.h>
#include <signal.h>

#include "fault.h"
#include "spawn.h"
#include "syscall.h"

/* Create the child running fn(arg) on stack, with every signal blocked
 * around the clone so that no handler of ours runs in the child on our
 * memory (the child resets the handlers, then opens its mask).  Returns the
 * pid or -errno; *pidfd is set by the rungs that have CLONE_PIDFD. */
static int clone_mech(int mech, int (*fn)(void *), void *arg, void *stack,
                      size_t stack_size, int cgroup_fd, int *pidfd)
{
        /* The stack grows down: clone() takes its top, clone3() its base
         * and size.  Keep the top 16-byte aligned for the x86-64 ABI. */
        char *top = (char *)(((uintptr_t)stack + stack_size) & ~(uintptr_t)15);
        uint64_t all = ~(uint64_t)0, old;
        long pid;
        int r;

        /* rt_sigprocmask only fails on bad arguments. */
        r = sys_sigprocmask(SIG_SETMASK, &all, &old);
        assert(r == 0);
        switch (mech) {
        case PV_SPAWN_CLONE3: {
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
                pid = pv__clone_run(__NR_clone3, (long)&ca, sizeof(ca), 0, fn, arg);
                break;
        }
        case PV_SPAWN_CLONE:
                if (cgroup_fd >= 0) {
                        pid = -EOPNOTSUPP;      /* only clone3 has it */
                        break;
                }
                /* glibc's clone() wrapper refuses CLONE_PIDFD with
                 * CLONE_PARENT_SETTID because the pidfd lands in the
                 * parent_tid slot; the raw call is fine. */
                pid = pv__clone_run(__NR_clone,
                                    CLONE_PIDFD | CLONE_VM | CLONE_VFORK | SIGCHLD,
                                    (long)top, (long)pidfd, fn, arg);
                break;
        case PV_SPAWN_VFORK:
                if (cgroup_fd >= 0) {
                        pid = -EOPNOTSUPP;
                        break;
                }
                pid = pv__clone_run(__NR_clone, CLONE_VM | CLONE_VFORK | SIGCHLD,
                                    (long)top, 0, fn, arg);
                break;
        default:
                pid = -EINVAL;
                break;
        }
        r = sys_sigprocmask(SIG_SETMASK, &old, NULL);
        assert(r == 0);
        (void)r;
        return (int)pid;
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

int pv__spawn_run(int mech, struct pv__child_args *a, void *stack,
                  size_t stack_size, int cgroup_fd, pid_t *ret_pid, int *ret_pidfd)
{
        int pidfd = -1, errp[2] = { -1, -1 };
        int r, pid;

        a->err = 0;
        a->stage = PV_STAGE_NONE;
        if (a->err_fd >= 0) {
                /* Used only when the probe found that the child does not
                 * share our memory; a->err_fd is then just a flag. */
                PV_RETRY(r, PV_FAULT(PV_FAULT_PIPE2, sys_pipe2(errp, O_CLOEXEC)));
                if (r < 0) {
                        a->stage = PV_STAGE_SETUP;
                        return a->err = r;
                }
                a->err_fd = errp[1];
        }

        PV_RETRY(pid, PV_FAULT(PV_FAULT_CLONE, clone_mech(mech, pv__child_main, a, stack,
                                                          stack_size, cgroup_fd, &pidfd)));

        if (pid < 0) {
                a->stage = PV_STAGE_SETUP;
                a->err = pid;
                goto out;
        }
        if (errp[1] >= 0) {
                int msg[2];
                ssize_t n;

                sys_close(errp[1]);
                errp[1] = -1;
                do
                        n = sys_read(errp[0], msg, sizeof(msg));
                while (n == -EINTR);
                if (n == (ssize_t)sizeof(msg)) {
                        a->stage = msg[0];
                        a->err = msg[1];
                }
        }
        if (mech == PV_SPAWN_VFORK && a->err == 0) {
                PV_RETRY(pidfd, PV_FAULT(PV_FAULT_PIDFD_OPEN, sys_pidfd_open(pid, 0)));
                if (pidfd < 0) {
                        /* Without a pidfd we cannot supervise it: kill it
                         * while the pid is still certainly ours (unreaped). */
                        sys_kill(pid, SIGKILL);
                        a->stage = PV_STAGE_SETUP;
                        a->err = pidfd;
                        pidfd = -1;
                }
        }
        if (a->err < 0) {
                reap_failed(pidfd, pid);
                if (pidfd >= 0)
                        sys_close(pidfd);
                goto out;
        }
        /* pidfds from clone3/clone/pidfd_open are born O_CLOEXEC. */
        *ret_pid = pid;
        *ret_pidfd = pidfd;
out:
        if (errp[0] >= 0)
                sys_close(errp[0]);
        if (errp[1] >= 0)
                sys_close(errp[1]);
        return a->err;
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
        volatile int marker = 0;
        siginfo_t si;
        int pidfd = -1, pid, r;

        pid = clone_mech(mech, probe_child, (void *)&marker, stack, sizeof(stack), -1,
                         &pidfd);
        if (pid < 0)
                return pid;
        if (mech == PV_SPAWN_VFORK) {
                pidfd = sys_pidfd_open(pid, 0); /* -ENOSYS before 5.3 */
                r = pidfd;
        } else {
                /* A kernel before 5.2 ignores CLONE_PIDFD and leaves our
                 * -1 alone. */
                r = -ENOSYS;
        }
        if (pidfd < 0) {
                reap_failed(-1, pid);
                return r;
        }
        /* Before reaping, while signal 0 can reach it. */
        ret->pidfd_signal = sys_pidfd_send_signal(pidfd, 0, 0) != -ENOSYS;
        do
                r = sys_waitid(P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL);
        while (r == -EINTR);
        if (r == -EINVAL) {
                /* No waitid(P_PIDFD) before Linux 5.4: we could not reap. */
                reap_failed(-1, pid);
                sys_close(pidfd);
                return -ENOSYS;
        }
        /* PIDFD_INFO_EXIT (6.15) only shows once a child is reaped, so this
         * child is the probe for it too. */
        ret->info_exit = sys_ioctl(pidfd, PV__PIDFD_GET_INFO, &info) == 0 &&
                         (info.mask & PV__PIDFD_INFO_EXIT);
        sys_close(pidfd);
        ret->shared = marker == 1;
        return 0;
}

static const char *const stage_names[_PV_STAGE_MAX] = {
        [PV_STAGE_NONE] = "none",
        [PV_STAGE_SETUP] = "setup",
        [PV_STAGE_SIGNALS] = "signals",
        [PV_STAGE_SESSION] = "session",
        [PV_STAGE_PDEATHSIG] = "pdeathsig",
        [PV_STAGE_STDIO] = "stdio",
        [PV_STAGE_FDS] = "fds",
        [PV_STAGE_CHDIR] = "chdir",
        [PV_STAGE_EXEC] = "exec",
};

PV_EXPORT const char *pv_spawn_stage_name(int stage)
{
        return stage >= 0 && stage < _PV_STAGE_MAX ? stage_names[stage] : NULL;
}
