/* SPDX-License-Identifier: MIT */
/*
 * Counting one thread's system calls exactly, with no ptrace, no tracefs
 * and no strace: a seccomp filter on that thread only
 * (SECCOMP_RET_USER_NOTIF, Linux 5.0; SECCOMP_USER_NOTIF_FLAG_CONTINUE,
 * 5.5) hands every system call of it, and of the processes and threads it
 * starts afterwards, to a thread made before the filter, which counts it
 * and lets it continue.  A filter cannot be removed: count in a process
 * made for it (fork), and end it with _exit.
 *
 * Exact, because the kernel asks the counter before each call runs, one
 * call at a time per thread; calls that never enter the kernel (the
 * vDSO's clock_gettime) are not system calls and are not seen.  A call
 * whose caller stopped waiting for the answer (SECCOMP_IOCTL_NOTIF_SEND
 * says ENOENT: killed, or interrupted and about to make it again) did not
 * run, and is taken back.  io_uring interrupts a waiting call that way
 * when one of its polls completes (the completion runs as task work):
 * counted, a read was now and then counted twice.
 *
 * The counting slows every call down by a round trip to the counter:
 * count and time in separate runs.
 *
 *   sc_start()                       in the thread to count, once
 *   atomic_store(&sc_into, &tally)   count from here on into tally
 *   atomic_store(&sc_into, NULL)     stop counting
 *
 * bench-spawn and pv-kernelcmp count this way.
 */
#ifndef PV_STRESS_SYSCOUNT_H
#define PV_STRESS_SYSCOUNT_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SYS_io_uring_enter
#define SYS_io_uring_enter 426
#endif

#if defined(__x86_64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define SC_NSYS 512
/* Where an io_uring_enter that asks for completions is counted (a wait),
 * apart from the ones that only submit; and any number past the table:
 * numbers no call has. */
#define SC_ENTER_WAIT (SC_NSYS - 2)
#define SC_OTHER (SC_NSYS - 1)
#define SC_ENTER_GETEVENTS 1u   /* IORING_ENTER_GETEVENTS (linux/io_uring.h) */

/* Per system call number. */
struct sc_tally {
        unsigned long parent[SC_NSYS];  /* the counted thread's */
        unsigned long child[SC_NSYS];   /* its children's, before execve; the
                                         * children must come one at a time */
};

/* Where the counter adds, or NULL: nothing is counted. */
static _Atomic(struct sc_tally *) sc_into;
static atomic_int sc_listener = -1;
static pid_t sc_tid;                    /* the counted thread */

/* The counter: not under the filter (made before it). */
static inline void *sc_thread(void *unused)
{
        pid_t child = 0;
        bool child_execd = false;
        int fd;

        (void)unused;
        while ((fd = atomic_load(&sc_listener)) < 0)
                sched_yield();
        for (;;) {
                struct seccomp_notif req;
                struct seccomp_notif_resp resp;

                memset(&req, 0, sizeof(req));
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                        if (errno == EINTR || errno == ENOENT)
                                continue;
                        return NULL;
                }
                struct sc_tally *t = atomic_load(&sc_into);
                unsigned long *counted = NULL;
                unsigned nr = req.data.nr >= 0 && req.data.nr < SC_ENTER_WAIT
                                      ? (unsigned)req.data.nr : SC_OTHER;
                if (nr == SYS_io_uring_enter && (req.data.args[3] & SC_ENTER_GETEVENTS))
                        nr = SC_ENTER_WAIT;
                if (t && (pid_t)req.pid == sc_tid) {
                        counted = &t->parent[nr];
                } else if (t) {
                        /* Children come one at a time; count each until
                         * it execs (the exec'd program is not ours). */
                        if ((pid_t)req.pid != child) {
                                child = (pid_t)req.pid;
                                child_execd = false;
                        }
                        if (nr == SYS_execve || nr == SYS_execveat)
                                child_execd = true;
                        else if (!child_execd)
                                counted = &t->child[nr];
                }
                if (counted)
                        (*counted)++;
                memset(&resp, 0, sizeof(resp));
                resp.id = req.id;
                resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
                        continue;
                if (errno != ENOENT)
                        return NULL;
                /* ENOENT: the call did not run (see the top). */
                if (counted)
                        (*counted)--;
        }
}

/* Put the calling thread (and what it starts from now on) under the
 * counter; nothing is counted until sc_into is set.  0, or -errno: the
 * architecture is not one we know (-EOPNOTSUPP), no seccomp, a sandbox
 * refusing it.  The counter thread is not stopped (end the process). */
static inline int sc_start(void)
{
#ifdef SC_AUDIT_ARCH
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SC_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        };
        struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
        pthread_t t;
        int r, fd;

        sigset_t all, old;

        sc_tid = (pid_t)syscall(SYS_gettid);
        /* The counter takes none of the process's signals (it is born
         * with them all blocked): a SIGCHLD or SIGALRM meant for the
         * counted thread's signalfd or interrupted wait must not be
         * spent on it. */
        sigfillset(&all);
        r = pthread_sigmask(SIG_BLOCK, &all, &old);
        if (r == 0) {
                r = pthread_create(&t, NULL, sc_thread, NULL);
                pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        if (r != 0)
                return -r;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        /* The listener fd is close-on-exec (the kernel makes it so). */
        fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                          SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (fd < 0)
                return -errno;
        atomic_store(&sc_listener, fd);
        return 0;
#else
        return -EOPNOTSUPP;
#endif
}

/* The waits: a call that asks for events.  How many a cycle takes is how
 * the child's exit and our wake-ups interleave: timing, not the job. */
static inline bool sc_is_wait(int nr)
{
#ifdef SYS_epoll_wait
        if (nr == SYS_epoll_wait)
                return true;
#endif
        return nr == SYS_epoll_pwait || nr == SC_ENTER_WAIT;
}

/* The allocator's: when malloc asks the kernel for memory (under a
 * sanitizer, often), not the job either. */
static inline bool sc_is_alloc(int nr)
{
        return nr == SYS_mmap || nr == SYS_munmap || nr == SYS_brk || nr == SYS_mremap ||
               nr == SYS_madvise;
}

enum { SC_ALL, SC_JOB, SC_WAITS };

/* Calls per cycle: all, the job's (all but the waits and the allocator's),
 * or the waits. */
static inline double sc_per_cycle(const unsigned long *v, long cycles, int which)
{
        unsigned long sum = 0;

        for (int i = 0; i < SC_NSYS; i++)
                if (which == SC_ALL || (which == SC_JOB && !sc_is_wait(i) && !sc_is_alloc(i)) ||
                    (which == SC_WAITS && sc_is_wait(i)))
                        sum += v[i];
        return (double)sum / (double)(cycles > 0 ? cycles : 1);
}

/* A name for the calls the benchmarks make, or NULL. */
static inline const char *sc_name(int nr)
{
#define N(x) [SYS_##x] = #x
        static const char *const names[SC_NSYS] = {
                N(read), N(write), N(close), N(mmap), N(mprotect), N(munmap),
                N(rt_sigaction), N(rt_sigprocmask), N(ioctl), N(getpid), N(clone),
                N(fcntl), N(getppid), N(epoll_ctl), N(waitid), N(openat),
                N(epoll_pwait), N(dup3), N(pipe2), N(pidfd_open), N(clone3), N(close_range),
                N(rt_sigtimedwait), N(rt_sigpending), N(futex), N(timerfd_settime),
                N(pidfd_send_signal), N(setsid), N(setpgid), N(prctl), N(chdir),
                N(getrlimit), N(getdents64), N(wait4), N(gettid), N(clock_gettime),
                N(madvise), N(sched_yield), N(kill), N(setitimer), N(ppoll), N(brk),
                N(restart_syscall), N(rt_sigreturn), N(prlimit64), N(signalfd4),
#ifdef SYS_poll
                N(poll),
#endif
#ifdef SYS_dup2
                N(dup2),
#endif
#ifdef SYS_epoll_wait
                N(epoll_wait),
#endif
                [SYS_io_uring_enter] = "io_uring_enter, submit",
                [SC_ENTER_WAIT] = "io_uring_enter, wait",
        };
#undef N
        return nr >= 0 && nr < SC_NSYS ? names[nr] : NULL;
}

#endif
