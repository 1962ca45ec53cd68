/* SPDX-License-Identifier: MIT */
/*
 * Seccomp sandboxes for the tests: a filter answers chosen system calls with
 * an errno, so that this one kernel can play an older kernel or a container
 * and every fallback of the library runs in make check.  Only the tests and
 * tests/seccomp-run link libseccomp; the library never does.
 *
 * A spec is a comma-separated list of rules and profile names.  Rules:
 *   SYSCALL=ERRNO              every SYSCALL fails with ERRNO
 *   ioctl:PIDFD_GET_INFO=ERRNO ioctl with request PIDFD_GET_INFO (others pass)
 *   clone:CLONE_PIDFD=ERRNO    clone with CLONE_PIDFD in its flags
 *   waitid:P_PIDFD=ERRNO       waitid with idtype P_PIDFD
 *   pidfd_send_signal:PGRP=ERRNO
 *                              pidfd_send_signal with the flag
 *                              PIDFD_SIGNAL_PROCESS_GROUP
 * SYSCALL is any name libseccomp knows; ERRNO is one of EPERM ENOENT ESRCH
 * EBADF ECHILD EAGAIN ENOMEM EACCES EINVAL EMFILE ENOTTY EROFS ENOSYS
 * EOPNOTSUPP.  Seccomp cannot read clone3's struct argument (it is in
 * memory, not in a register), so clone3 is refused whole or not at all.
 * When rules name the same call, libseccomp (2.5.4) keeps the first errno
 * of the rules without a condition, and any of those beats a rule with
 * one: "clone3=EPERM,docker" refuses clone3 with EPERM.
 *
 * Profiles, each named after what it imitates:
 *   docker-old       Docker before 20.10, whose default profile answers EPERM
 *                    to the calls it does not know: pidfd_send_signal=EPERM,
 *                    clone3=EPERM.  pidfd_open stays allowed (that Docker
 *                    refused it too, moby#41665), so that the vfork +
 *                    pidfd_open rung can run; add pidfd_open=EPERM for the
 *                    whole picture.  glibc 2.36 leaves clone3 only on ENOSYS,
 *                    so pthread_create and posix_spawn fail here: use it in
 *                    a process that creates no threads (tu_sandbox_run, or
 *                    seccomp-run in front of such a program).
 *   docker           Docker today: clone3=ENOSYS since moby#42681 (2021,
 *                    in the 20.10 series), so that glibc falls back to clone;
 *                    io_uring_setup=EPERM since Docker 25 (moby#46762).
 *   pre-5.3          Linux 5.0: no clone3, pidfd_open or pidfd_send_signal
 *                    (ENOSYS), clone:CLONE_PIDFD=EINVAL, waitid:P_PIDFD=EINVAL,
 *                    close_range=ENOSYS, ioctl:PIDFD_GET_INFO=ENOTTY.  (A real
 *                    kernel before 5.2 ignores CLONE_PIDFD instead of
 *                    refusing it: the pidfd is simply never written.)
 *   pre-5.4          Linux 5.3 as the library sees it: clone3=ENOSYS (5.3 has
 *                    clone3, but not CLONE_CLEAR_SIGHAND, 5.5, which the
 *                    library asks for, and seccomp cannot see the flag),
 *                    waitid:P_PIDFD=EINVAL, and all of pre-5.9.
 *   pre-5.9          close_range=ENOSYS, and all of pre-6.9.
 *   pre-6.9          pidfd_send_signal:PGRP=EINVAL, and all of pre-6.15.
 *   pre-6.15         ioctl:PIDFD_GET_INFO=ENOTTY: Linux 6.12, before
 *                    PIDFD_GET_INFO (6.13); to the library, which wants
 *                    PIDFD_INFO_EXIT (6.15), 6.13 and 6.14 look the same.
 *   no-uring         io_uring_setup=ENOSYS: a kernel built without io_uring.
 *   no-pidfd-signal  pidfd_send_signal=EPERM: Docker before 20.10 refusing it.
 */
#ifndef PV_SANDBOX_H
#define PV_SANDBOX_H

#include <stddef.h>

/* Install the filter of spec in this process, after PR_SET_NO_NEW_PRIVS; it
 * holds until exit and passes to every child and across exec.  Calls that no
 * rule names are allowed.  Returns 0, or -errno and installs nothing:
 * -EINVAL for a spec with an unknown rule, profile, syscall or errno name. */
int tu_sandbox_apply(const char *spec);

/* Fork a child, install spec there and _exit with fn(arg); fn must create
 * no thread, must not use Criterion's asserts (they report from the wrong
 * process) and should call tu_sandbox_fail to fail with a reason; its
 * stdio is not flushed.  The child is killed after timeout_ms (> 0) and is
 * always reaped (SIGCHLD must not be ignored here, or its status is lost:
 * -ECHILD); no fd stays open.  Returns:
 *   0         fn returned 0
 *   77        fn returned 77 (skip: the kernel lacks what fn tests)
 *   1..255    fn failed with that exit code (tu_sandbox_fail, or a filter
 *             that did not install: 1); 128 + N if signal N killed it
 *   -ETIMEDOUT  fn was still running at the timeout and was killed
 *   -errno    spec invalid (-EINVAL) or no child could be run
 * On every non-zero return msg (msg_size bytes; NULL if 0) holds a one-line
 * reason, fn's own when it gave one; on 0 it holds "". */
int tu_sandbox_run(const char *spec, int (*fn)(void *), void *arg, int timeout_ms,
                   char *msg, size_t msg_size);

/* In fn under tu_sandbox_run: report a one-line reason to the parent and
 * _exit(1).  Elsewhere the line goes to stderr, and the process exits too. */
void tu_sandbox_fail(const char *fmt, ...)
        __attribute__((format(printf, 1, 2), noreturn));

/* The assert of fn under tu_sandbox_run: fail with the condition's text and
 * the line unless cond holds. */
#define TU_SB_CHECK(cond) \
        do { if (!(cond)) tu_sandbox_fail("%s:%d: %s", __FILE__, __LINE__, #cond); } while (0)

/* A spec that takes away nothing the library or the tests use (acct(2)):
 * for tu_sandbox_run where a forked, thread-free process is what is
 * wanted, and the filter that matters, if any, is applied inside.
 * ("no-uring" played that part until io_uring became a backend the suites
 * run on: a loop forced onto io_uring cannot be made under it.) */
#define TU_SB_NOTHING "acct=EPERM"

/* Run fn under spec (30 s at most) and assert it passed; 77 is a skip. */
#define TU_SB_RUN(spec, fn, arg) \
        do { \
                char m_[512]; \
                int r_ = tu_sandbox_run(spec, fn, arg, 30000, m_, sizeof(m_)); \
                if (r_ == 77) \
                        cr_skip_test("%s under %s: %s", #fn, spec, m_); \
                cr_assert_eq(r_, 0, "%s under %s: %s", #fn, spec, m_); \
        } while (0)

#endif
