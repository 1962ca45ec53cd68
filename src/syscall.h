/* SPDX-License-Identifier: MIT */
/*
 * Raw system calls as static inlines returning -errno (liburing's
 * src/arch/generic/syscall.h is the model).  Nothing above this file reads
 * errno.  Used on both sides of spawn: everything here is async-signal-safe
 * and touches no libc state.
 */
#ifndef PV_SYSCALL_H
#define PV_SYSCALL_H

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

/* The one per-architecture part: how to enter the kernel (and, in
 * src/arch/, the clone entry).  configure picks; PV_ARCH_GENERIC is its
 * answer for an architecture without our assembly (libc's syscall()). */
#if defined(PV_ARCH_GENERIC)
#include "arch/generic-syscall.h"
#elif defined(__x86_64__)
#include "arch/x86_64-syscall.h"
#elif defined(__aarch64__)
#include "arch/aarch64-syscall.h"
#else
#error "no raw system calls for this architecture: configure --with-arch=generic"
#endif

#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK           /* Linux 5.10 */
#endif
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2) /* Linux 6.9 */
#endif

/* PIDFD_GET_INFO (Linux 6.13; PIDFD_INFO_EXIT 6.15).  Declared here because
 * Debian 12's linux-libc-dev (6.1) predates it.  The kernel reads the size
 * from the ioctl number, so the version-0 layout (64 bytes) is enough. */
struct pv__pidfd_info {
        uint64_t mask;
        uint64_t cgroupid;
        uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid;
        uint32_t fsuid, fsgid;
        int32_t exit_code;      /* a wait status, with PIDFD_INFO_EXIT */
};
#define PV__PIDFD_INFO_EXIT (1ULL << 3)
#define PV__PIDFD_GET_INFO _IOWR(0xFF, 11, struct pv__pidfd_info)

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct pv__ksigaction {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
};
#define PV__NSIG 64

/* The kernel's sigset is 8 bytes; glibc's sigset_t is 128. */
static PV_SC_INLINE int sys_sigprocmask(int how, const uint64_t *set, uint64_t *old)
{
        return (int)pv__sc4(__NR_rt_sigprocmask, how, (long)set, (long)old, 8);
}

static PV_SC_INLINE int sys_sigaction(int sig, const struct pv__ksigaction *act,
                                struct pv__ksigaction *old)
{
        return (int)pv__sc4(__NR_rt_sigaction, sig, (long)act, (long)old, 8);
}

static PV_SC_INLINE int sys_sigpending(uint64_t *set)
{
        return (int)pv__sc2(__NR_rt_sigpending, (long)set, 8);
}

/* Returns the signal taken, or -EAGAIN when none was pending. */
static PV_SC_INLINE int sys_sigtimedwait(const uint64_t *set, const struct timespec *timeout)
{
        return (int)pv__sc4(__NR_rt_sigtimedwait, (long)set, 0, (long)timeout, 8);
}

static PV_SC_INLINE int sys_close(int fd) { return (int)pv__sc1(__NR_close, fd); }

static PV_SC_INLINE ssize_t sys_read(int fd, void *buf, size_t n)
{
        return pv__sc3(__NR_read, fd, (long)buf, (long)n);
}

static PV_SC_INLINE ssize_t sys_write(int fd, const void *buf, size_t n)
{
        return pv__sc3(__NR_write, fd, (long)buf, (long)n);
}

static PV_SC_INLINE int sys_openat(int dfd, const char *path, int flags, int mode)
{
        return (int)pv__sc4(__NR_openat, dfd, (long)path, flags, mode);
}

static PV_SC_INLINE ssize_t sys_pread(int fd, void *buf, size_t n, off_t off)
{
        return pv__sc4(__NR_pread64, fd, (long)buf, (long)n, (long)off);
}

static PV_SC_INLINE int sys_mkdirat(int dfd, const char *path, int mode)
{
        return (int)pv__sc3(__NR_mkdirat, dfd, (long)path, mode);
}

static PV_SC_INLINE int sys_faccessat(int dfd, const char *path, int mode)
{
        return (int)pv__sc3(__NR_faccessat, dfd, (long)path, mode);
}

static PV_SC_INLINE int sys_unlinkat(int dfd, const char *path, int flags)
{
        return (int)pv__sc3(__NR_unlinkat, dfd, (long)path, flags);
}

static PV_SC_INLINE int sys_fstatfs(int fd, struct statfs *st)
{
        return (int)pv__sc2(__NR_fstatfs, fd, (long)st);
}

static PV_SC_INLINE int sys_pipe2(int fds[2], int flags)
{
        return (int)pv__sc2(__NR_pipe2, (long)fds, flags);
}

static PV_SC_INLINE int sys_dup3(int old, int new, int flags)
{
        return (int)pv__sc3(__NR_dup3, old, new, flags);
}

static PV_SC_INLINE int sys_fcntl(int fd, int cmd, long arg)
{
        return (int)pv__sc3(__NR_fcntl, fd, cmd, arg);
}

static PV_SC_INLINE int sys_close_range(unsigned first, unsigned last, unsigned flags)
{
        return (int)pv__sc3(__NR_close_range, first, last, flags);
}

static PV_SC_INLINE long sys_getdents64(int fd, void *buf, size_t n)
{
        return pv__sc3(__NR_getdents64, fd, (long)buf, (long)n);
}

static PV_SC_INLINE int sys_getrlimit(int res, struct rlimit *rl)
{
        return (int)pv__sc4(__NR_prlimit64, 0, res, 0, (long)rl);
}

static PV_SC_INLINE int sys_chdir(const char *path)
{
        return (int)pv__sc1(__NR_chdir, (long)path);
}

static PV_SC_INLINE int sys_execve(const char *path, const char *const *argv,
                             const char *const *envp)
{
        return (int)pv__sc3(__NR_execve, (long)path, (long)argv, (long)envp);
}

static PV_SC_INLINE int sys_setsid(void) { return (int)pv__sc0(__NR_setsid); }

static PV_SC_INLINE int sys_setpgid(pid_t pid, pid_t pgid)
{
        return (int)pv__sc2(__NR_setpgid, pid, pgid);
}

static PV_SC_INLINE pid_t sys_getppid(void) { return (pid_t)pv__sc0(__NR_getppid); }
static PV_SC_INLINE pid_t sys_getpid(void) { return (pid_t)pv__sc0(__NR_getpid); }

static PV_SC_INLINE int sys_prctl(int op, unsigned long a)
{
        return (int)pv__sc5(__NR_prctl, op, (long)a, 0, 0, 0);
}

static PV_SC_INLINE __attribute__((noreturn)) void sys_exit_group(int code)
{
        for (;;)
                pv__sc1(__NR_exit_group, code);
}

/* Only as a probe, with size 0 (a kernel with clone3 says EINVAL, and no
 * child is made): the rungs go through pv__clone_run. */
static PV_SC_INLINE long sys_clone3(struct clone_args *ca, size_t size)
{
        return pv__sc2(__NR_clone3, (long)ca, (long)size);
}

static PV_SC_INLINE int sys_pidfd_open(pid_t pid, unsigned flags)
{
        return (int)pv__sc2(__NR_pidfd_open, pid, flags);
}

static PV_SC_INLINE int sys_pidfd_send_signal(int pidfd, int sig, unsigned flags)
{
        return (int)pv__sc4(__NR_pidfd_send_signal, pidfd, sig, 0, flags);
}

static PV_SC_INLINE int sys_kill(pid_t pid, int sig)
{
        return (int)pv__sc2(__NR_kill, pid, sig);
}

/* waitid(2) as the kernel has it: with the rusage that glibc hides. */
static PV_SC_INLINE int sys_waitid(int idtype, int id, siginfo_t *si, int options,
                             struct rusage *ru)
{
        return (int)pv__sc5(__NR_waitid, idtype, id, (long)si, options, (long)ru);
}

/* FUTEX_WAIT (0) and FUTEX_WAKE (1), shared (not FUTEX_PRIVATE_FLAG): the
 * kind the kernel wakes for CLONE_CHILD_CLEARTID. */
static PV_SC_INLINE int sys_futex_wait(volatile int *addr, int val)
{
        return (int)pv__sc4(__NR_futex, (long)addr, 0, val, 0);
}

static PV_SC_INLINE int sys_futex_wake(volatile int *addr, int n)
{
        return (int)pv__sc3(__NR_futex, (long)addr, 1, n);
}

/* poll(2) through ppoll, which every architecture has (aarch64 and the
 * newer ones have no poll).  No sigmask: the kernel ignores the size then. */
static PV_SC_INLINE int sys_poll(struct pollfd *fds, unsigned n, int timeout)
{
        struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };

        return (int)pv__sc5(__NR_ppoll, (long)fds, n, timeout < 0 ? 0 : (long)&ts, 0, 8);
}

static PV_SC_INLINE int sys_ioctl(int fd, unsigned long req, void *arg)
{
        return (int)pv__sc3(__NR_ioctl, fd, (long)req, (long)arg);
}

static PV_SC_INLINE int sys_epoll_create1(int flags)
{
        return (int)pv__sc1(__NR_epoll_create1, flags);
}

static PV_SC_INLINE int sys_eventfd2(unsigned initval, int flags)
{
        return (int)pv__sc2(__NR_eventfd2, initval, flags);
}

static PV_SC_INLINE int sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
        return (int)pv__sc4(__NR_epoll_ctl, epfd, op, fd, (long)ev);
}

/* epoll_wait(2) as epoll_pwait without a sigmask: aarch64 has only the
 * latter, and with a NULL mask the two are the same call. */
static PV_SC_INLINE int sys_epoll_wait(int epfd, struct epoll_event *evs, int n, int timeout)
{
        return (int)pv__sc6(__NR_epoll_pwait, epfd, (long)evs, n, timeout, 0, 8);
}

static PV_SC_INLINE int sys_timerfd_create(int clock, int flags)
{
        return (int)pv__sc2(__NR_timerfd_create, clock, flags);
}

static PV_SC_INLINE int sys_timerfd_settime(int fd, int flags, const void *new, void *old)
{
        return (int)pv__sc4(__NR_timerfd_settime, fd, flags, (long)new, (long)old);
}

/* Returns the address, or -errno (mmap's errors are the top 4095 values). */
static PV_SC_INLINE long sys_mmap(size_t len, int prot, int flags)
{
        return pv__sc6(__NR_mmap, 0, (long)len, prot, flags, -1, 0);
}

static PV_SC_INLINE int sys_mprotect(void *p, size_t len, int prot)
{
        return (int)pv__sc3(__NR_mprotect, (long)p, (long)len, prot);
}

static PV_SC_INLINE int sys_munmap(void *p, size_t len)
{
        return (int)pv__sc2(__NR_munmap, (long)p, (long)len);
}

static PV_SC_INLINE int sys_madvise(void *p, size_t len, int advice)
{
        return (int)pv__sc3(__NR_madvise, (long)p, (long)len, advice);
}

/* The library's own fds never sit on 0-2.  A host that runs with some of
 * them closed would otherwise see the kernel hand out our pipe ends,
 * pidfds or epoll fd there, and a child inheriting that slot would get
 * our fd as its stdin or stdout (the child side keeps whatever sits on an
 * inherited slot).  Free unless the kernel gave us one of 0-2.  Takes fd
 * (a negative one is passed through); returns it, its copy at >= 3, or
 * -errno with fd closed. */
static inline int pv__fd_high(int fd)
{
        int r;

        if (fd < 0 || fd > 2)
                return fd;
        r = sys_fcntl(fd, F_DUPFD_CLOEXEC, 3);
        sys_close(fd);
        return r;
}

/* pipe2(O_CLOEXEC), both ends at >= 3 (see pv__fd_high).  0 or -errno,
 * with nothing left open. */
static inline int pv__pipe_high(int p[2])
{
        int r = sys_pipe2(p, O_CLOEXEC);

        if (r < 0)
                return r;
        p[0] = pv__fd_high(p[0]);
        p[1] = pv__fd_high(p[1]);
        if (p[0] >= 0 && p[1] >= 0)
                return 0;
        r = p[0] < 0 ? p[0] : p[1];
        if (p[0] >= 0)
                sys_close(p[0]);
        if (p[1] >= 0)
                sys_close(p[1]);
        p[0] = p[1] = -1;
        return r;
}

/* Creating children goes through the entry in src/arch/ (assembly; libc's
 * clone() in the generic build): with CLONE_VM the child must not return
 * into the caller's frame.  nr is __NR_clone3, with (a1, a2) = (args,
 * size) and a3 = a4 = 0, or __NR_clone, with a1 = flags, a2 = the stack
 * top, a3 = parent_tid (the pidfd slot for CLONE_PIDFD), a4 = child_tid
 * and no tls: each entry puts them in its kernel's order (x86-64 takes
 * child_tid before tls, aarch64 after).  The parent gets the syscall's
 * result (-errno on failure; -ENOSYS for clone3 where the entry has none);
 * the child runs fn(arg) on the new stack, then exits with its result. */
struct pv__clone_entry {
        int (*fn)(void *);
        void *arg;
};
long pv__clone_run(long nr, long a1, long a2, long a3, long a4,
                   const struct pv__clone_entry *e) __attribute__((visibility("hidden")));

#endif
