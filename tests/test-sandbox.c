/* SPDX-License-Identifier: MIT */
/* The seccomp sandboxes (tests/sandbox.c) refuse what they claim to refuse,
 * and only that; tu_sandbox_run reports, bounds and reaps.  Each refusal is
 * checked against a control without the rule, so a filter that did nothing
 * fails the test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "testutil.h"

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
#define PGRP (1U << 2)  /* PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9 */
#define PIDFD_GET_INFO_64 _IOWR(0xFF, 11, struct { uint64_t u[8]; })

static char msg[256];

static int pidfd_self(void)
{
        return (int)syscall(__NR_pidfd_open, getpid(), 0);
}

/* pidfd_send_signal(self, 0, flags): 0 or -errno. */
static int signal_self(unsigned flags)
{
        int fd = pidfd_self(), r;

        if (fd < 0)
                return -errno;
        r = syscall(__NR_pidfd_send_signal, fd, 0, NULL, flags) == 0 ? 0 : -errno;
        close(fd);
        return r;
}

static int seccomp_filters(void)
{
        char line[256];
        int n = -1;
        FILE *f = fopen("/proc/self/status", "re");

        cr_assert(f);
        while (fgets(line, sizeof(line), f))
                sscanf(line, "Seccomp_filters: %d", &n);
        fclose(f);
        return n;
}

/* In the test process itself: the filter holds from here to exit. */
Test(sandbox, pre_6_15_refuses_pidfd_get_info_only, .timeout = 30)
{
        struct { uint64_t u[8]; } info = { { 0 } };
        int fd = pidfd_self(), p[2], n = -1;

        cr_assert_geq(fd, 0, "pidfd_open: %s", strerror(errno));
        if (ioctl(fd, PIDFD_GET_INFO_64, &info) < 0)
                cr_skip_test("PIDFD_GET_INFO fails here already (%s)", strerror(errno));
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        cr_assert_eq(write(p[1], "abc", 3), 3);

        cr_assert_eq(tu_sandbox_apply("pre-6.15"), 0);
        errno = 0;
        cr_assert_eq(ioctl(fd, PIDFD_GET_INFO_64, &info), -1);
        cr_assert_eq(errno, ENOTTY, "errno %d", errno);
        cr_assert_eq(ioctl(p[0], FIONREAD, &n), 0, "FIONREAD: %s", strerror(errno));
        cr_assert_eq(n, 3);
        close(fd);
        close(p[0]);
        close(p[1]);
}

static int no_signal_child(void *unused)
{
        int r = signal_self(0);

        if (r != -EPERM)
                tu_sandbox_fail("pidfd_send_signal: %d, not -EPERM", r);
        return 0;
}

Test(sandbox, no_pidfd_signal_refuses_with_eperm, .timeout = 30)
{
        cr_assert_eq(signal_self(0), 0, "control: %s", strerror(-signal_self(0)));
        cr_assert_eq(tu_sandbox_run("no-pidfd-signal", no_signal_child, NULL, 10000,
                                    msg, sizeof(msg)), 0, "%s", msg);
}

static int pgrp_child(void *unused)
{
        int r = signal_self(PGRP);

        if (r != -EINVAL)
                tu_sandbox_fail("with PGRP: %d, not -EINVAL", r);
        r = signal_self(0);
        if (r != 0)
                tu_sandbox_fail("without PGRP: %d, not 0", r);
        return 0;
}

Test(sandbox, pre_6_9_refuses_the_pgrp_flag_only, .timeout = 30)
{
        /* Not leading a process group we may get ESRCH: the flag is known. */
        int r = signal_self(PGRP);

        if (r == -EINVAL || r == -ENOSYS)
                cr_skip_test("this kernel refuses PIDFD_SIGNAL_PROCESS_GROUP already");
        cr_assert_eq(tu_sandbox_run("pre-6.9", pgrp_child, NULL, 10000, msg, sizeof(msg)),
                     0, "%s", msg);
}

/* A fork-like raw clone with CLONE_PIDFD: 0 if refused with EINVAL, 2 if it
 * made a child (reaped here). */
static int clone_pidfd_child(void *unused)
{
        int pidfd = -1, st;
        long pid = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);

        if (pid == 0)
                _exit(0);
        if (pid > 0) {
                close(pidfd);
                return waitpid((pid_t)pid, &st, 0) == pid ? 2 : 3;
        }
        if (errno != EINVAL)
                tu_sandbox_fail("clone(CLONE_PIDFD): %s, not EINVAL", strerror(errno));
        /* Plain fork(), which is clone without CLONE_PIDFD, still works. */
        pid = fork();
        if (pid == 0)
                _exit(7);
        if (pid < 0)
                tu_sandbox_fail("fork: %s", strerror(errno));
        if (waitpid((pid_t)pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
                tu_sandbox_fail("fork's child: status %#x", st);
        return 0;
}

Test(sandbox, clone_pidfd_rule_refuses_clone_with_the_flag_only, .timeout = 30)
{
        cr_assert_eq(tu_sandbox_run("no-uring", clone_pidfd_child, NULL, 10000, msg,
                                    sizeof(msg)), 2, "control: %s", msg);
        cr_assert_eq(tu_sandbox_run("clone:CLONE_PIDFD=EINVAL", clone_pidfd_child, NULL,
                                    10000, msg, sizeof(msg)), 0, "%s", msg);
}

/* A fork-like raw clone3: 0 if refused with errno *want, 2 if it made a
 * child (reaped here). */
static int clone3_child(void *want)
{
        struct clone_args ca = { .exit_signal = SIGCHLD };
        long pid = syscall(__NR_clone3, &ca, sizeof(ca));
        int st;

        if (pid == 0)
                _exit(0);
        if (pid > 0)
                return waitpid((pid_t)pid, &st, 0) == pid ? 2 : 3;
        if (errno != *(int *)want)
                tu_sandbox_fail("clone3: %s, not %s", strerror(errno),
                                strerror(*(int *)want));
        return 0;
}

Test(sandbox, docker_old_refuses_clone3_with_eperm, .timeout = 30)
{
        int eperm = EPERM, enosys = ENOSYS;

        cr_assert_eq(tu_sandbox_run("no-uring", clone3_child, &eperm, 10000, msg,
                                    sizeof(msg)), 2, "control: %s", msg);
        cr_assert_eq(tu_sandbox_run("docker-old", clone3_child, &eperm, 10000, msg,
                                    sizeof(msg)), 0, "%s", msg);
        /* The first of two rules for a call wins (sandbox.h). */
        cr_assert_eq(tu_sandbox_run("docker,docker-old", clone3_child, &enosys, 10000, msg,
                                    sizeof(msg)), 0, "%s", msg);
        cr_assert_eq(tu_sandbox_run("clone3=EPERM,docker", clone3_child, &eperm, 10000, msg,
                                    sizeof(msg)), 0, "%s", msg);
}

/* close_range of no fd at all: 0 or -errno. */
static int close_none(void)
{
        return syscall(__NR_close_range, ~0U, ~0U, 0) == 0 ? 0 : -errno;
}

static int pre_5_4_child(void *unused)
{
        siginfo_t si = { 0 };
        pid_t pid = fork();
        int fd, r;

        if (pid == 0)
                _exit(3);
        if (pid < 0)
                tu_sandbox_fail("fork: %s", strerror(errno));
        fd = (int)syscall(__NR_pidfd_open, pid, 0);   /* 5.3 has pidfd_open */
        if (fd < 0)
                tu_sandbox_fail("pidfd_open: %s", strerror(errno));
        r = (int)syscall(SYS_waitid, 3 /* P_PIDFD */, fd, &si, WEXITED, NULL);
        if (r != -1 || errno != EINVAL)
                tu_sandbox_fail("waitid(P_PIDFD): %d %s, not EINVAL", r, strerror(errno));
        /* Only P_PIDFD is refused. */
        if (waitid(P_PID, (id_t)pid, &si, WEXITED) != 0 || si.si_status != 3)
                tu_sandbox_fail("waitid(P_PID): %s, status %d", strerror(errno), si.si_status);
        r = close_none();
        if (r != -ENOSYS)
                tu_sandbox_fail("close_range: %d, not -ENOSYS", r);
        return 0;
}

Test(sandbox, pre_5_4_refuses_waitid_p_pidfd_and_close_range, .timeout = 30)
{
        cr_assert_eq(close_none(), 0, "control: close_range: %s", strerror(-close_none()));
        cr_assert_eq(tu_sandbox_run("pre-5.4", pre_5_4_child, NULL, 10000, msg, sizeof(msg)),
                     0, "%s", msg);
}

static int noop(void *unused)
{
        return 0;
}

Test(sandbox, every_profile_installs, .timeout = 30)
{
        const char *specs[] = { "docker-old", "docker", "pre-5.3", "pre-5.4", "pre-5.9",
                                "pre-6.9", "pre-6.15", "no-uring", "no-pidfd-signal",
                                "pre-5.4,docker,clone3=ENOSYS,waitid=ECHILD" };

        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
                cr_assert_eq(tu_sandbox_run(specs[i], noop, NULL, 10000, msg, sizeof(msg)),
                             0, "%s: %s", specs[i], msg);
}

Test(sandbox, bad_spec_is_einval_and_installs_nothing, .timeout = 30)
{
        const char *bad[] = { "bogus", "", ",", "pre-6.15,", "pre-6.15,bogus",
                              "clone3", "clone3=", "clone3=EWHAT", "nosuchcall=EPERM",
                              "ioctl:FIONREAD=ENOTTY", "clone3:CLONE_PIDFD=EINVAL",
                              "=EPERM", "pre-6.15=EPERM" };
        int before = seccomp_filters();

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                cr_assert_eq(tu_sandbox_apply(bad[i]), -EINVAL, "\"%s\"", bad[i]);
        cr_assert_eq(tu_sandbox_apply(NULL), -EINVAL);
        cr_assert_eq(seccomp_filters(), before, "a bad spec installed a filter");
        cr_assert_eq(tu_sandbox_run("bogus", noop, NULL, 10000, msg, sizeof(msg)), -EINVAL);
        cr_assert(strstr(msg, "bogus"), "%s", msg);
}

static int hang(void *unused)
{
        pause();   /* returns only for a caught signal, and none is caught */
        return 0;
}

Test(sandbox, a_hanging_child_is_killed_at_the_timeout_and_reaped, .timeout = 30)
{
        int fds = tu_count_fds();
        struct timespec t0, t1;
        long ms;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        cr_assert_eq(tu_sandbox_run("pre-6.15", hang, NULL, 300, msg, sizeof(msg)),
                     -ETIMEDOUT, "%s", msg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        cr_assert(ms >= 300 && ms < 2000, "took %ld ms", ms);
        cr_assert(strstr(msg, "300 ms"), "%s", msg);
        cr_assert(tu_no_unreaped_children(), "a zombie is left");
        cr_assert_eq(tu_count_fds(), fds, "an fd is left");
}

static int skip(void *unused)
{
        return 77;
}

static int fail(void *arg)
{
        tu_sandbox_fail("reason %d", *(int *)arg);
}

static int die(void *unused)
{
        raise(SIGKILL);
        return 0;
}

Test(sandbox, outcomes_are_reported, .timeout = 30)
{
        int fds = tu_count_fds(), n = 42;

        cr_assert_eq(tu_sandbox_run("pre-6.15", noop, NULL, 10000, msg, sizeof(msg)), 0);
        cr_assert_str_empty(msg);
        cr_assert_eq(tu_sandbox_run("pre-6.15", skip, NULL, 10000, msg, sizeof(msg)), 77);
        cr_assert_eq(tu_sandbox_run("pre-6.15", fail, &n, 10000, msg, sizeof(msg)), 1);
        cr_assert_str_eq(msg, "reason 42");
        cr_assert_eq(tu_sandbox_run("pre-6.15", die, NULL, 10000, msg, sizeof(msg)),
                     128 + SIGKILL);
        cr_assert(strstr(msg, "signal 9"), "%s", msg);
        cr_assert_eq(tu_sandbox_run("pre-6.15", noop, NULL, 0, msg, sizeof(msg)), -EINVAL);
        cr_assert(tu_no_unreaped_children(), "a zombie is left");
        cr_assert_eq(tu_count_fds(), fds, "an fd is left");
}
