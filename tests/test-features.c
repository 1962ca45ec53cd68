/* SPDX-License-Identifier: MIT */
/* src/features.c: what the probe says matches what the kernel does, asked
 * here independently of the library, and what the loops can do. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(features, .timeout = 30);

static bool raw_pidfd_signal(void)
{
        int self = (int)syscall(434 /* pidfd_open */, getpid(), 0);
        bool ok;

        if (self < 0)
                return false;
        ok = syscall(424 /* pidfd_send_signal */, self, 0, NULL, 0) == 0;
        close(self);
        return ok;
}

static bool raw_close_range_cloexec(void)
{
        return syscall(436 /* close_range */, ~0U, ~0U, 1U << 2) == 0;
}

Test(features, agree_with_kernel_and_loops)
{
        struct pv_features f = PV_FEATURES_INIT;
        static const uint64_t bit[_PV_MECH_MAX] = {
                [PV_MECH_CLONE3] = PV_FEATURE_MECH_CLONE3,
                [PV_MECH_CLONE] = PV_FEATURE_MECH_CLONE,
                [PV_MECH_VFORK] = PV_FEATURE_MECH_VFORK,
        };
        pv_loop *l;

        cr_assert_eq(pv_features(&f), 0);
        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                const char *why = tu_kernel_lacks_mech(m);
                int r;

                cr_assert_eq(!why, !!(f.have & bit[m]), "%s: the kernel says %s",
                             pv_mech_name(m), why ? why : "yes");
                lo.mech = m;
                r = tu_loop_new(&l, &lo);
                cr_assert_eq(r == 0, !!(f.have & bit[m]), "%s: loop %d, feature %d",
                             pv_mech_name(m), r, !!(f.have & bit[m]));
                if (r == 0)
                        pv_loop_free(l);
        }
        /* AUTO's own (tu_loop_new would force PV_TEST_MECH's). */
        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        cr_assert_eq(f.mech, pv_loop_mech(l));
        cr_assert_eq(f.mech_err, 0);
        pv_loop_free(l);
        cr_assert_eq(!!(f.have & PV_FEATURE_PIDFD_SIGNAL), raw_pidfd_signal());
        cr_assert_eq(!!(f.have & PV_FEATURE_CLOSE_RANGE), raw_close_range_cloexec());
        for (size_t i = 0; i < sizeof(f.reserved) / sizeof(f.reserved[0]); i++)
                cr_assert_eq(f.reserved[i], 0);
}

/* clone3 with struct clone_args (as far as .cgroup, VER2) and fork-like
 * flags; a child made (none should be) exits at once and is reaped.
 * Returns the errno, or 0 when a child was made. */
static int raw_clone3_errno(uint64_t flags, uint64_t cgroup, size_t size)
{
        struct clone_args ca = { .flags = flags, .exit_signal = SIGCHLD, .cgroup = cgroup };
        long pid = syscall(435 /* clone3 */, size ? &ca : NULL, size);

        if (pid == 0)
                _exit(0);
        if (pid < 0)
                return errno;
        waitpid((pid_t)pid, NULL, __WALL);
        return 0;
}

/* The pieces, each asked here with a system call of the test's own: the
 * answers must agree under every profile the suite runs under
 * (tests/check-profiles.sh), where they differ from this kernel's. */
Test(features, pieces_agree_with_the_kernel)
{
        struct pv_features f = PV_FEATURES_INIT;
        int pfd[2], self, r;
        pv_cgroup *cg;
        pv_loop *l;
        bool want;

        cr_assert_eq(pv_features(&f), 0);
        cr_assert_eq(!!(f.have & PV_FEATURE_CLONE3), raw_clone3_errno(0, 0, 0) == EINVAL);
        want = tu_kernel_lacks_mech(PV_MECH_CLONE3) == NULL;
        cr_assert_eq(!!(f.have & PV_FEATURE_CLONE_CLEAR_SIGHAND), want);
        /* An fd that is not open: EBADF where the flag is known. */
        r = raw_clone3_errno(CLONE_INTO_CGROUP, 0x7fffffff, sizeof(struct clone_args));
        want = r == EBADF || r == 0;
#ifdef PV_ARCH_GENERIC
        want = false;   /* asked with the clone3 entry, which it has not */
#endif
        cr_assert_eq(!!(f.have & PV_FEATURE_CLONE_INTO_CGROUP), want,
                     "clone3(CLONE_INTO_CGROUP): %s", strerror(r));
        want = tu_kernel_lacks_mech(PV_MECH_CLONE) == NULL ||
               tu_kernel_lacks_mech(PV_MECH_CLONE3) == NULL;
        cr_assert_eq(!!(f.have & PV_FEATURE_CLONE_PIDFD), want);
        self = (int)syscall(434 /* pidfd_open */, getpid(), 0);
        cr_assert_eq(!!(f.have & PV_FEATURE_PIDFD_OPEN), self >= 0);
        if (self >= 0)
                close(self);
        self = (int)syscall(434, getpid(), O_NONBLOCK /* PIDFD_NONBLOCK */);
        cr_assert_eq(!!(f.have & PV_FEATURE_PIDFD_NONBLOCK), self >= 0);
        if (self >= 0)
                close(self);
        /* waitid(P_PIDFD) on a pipe: EBADF where the idtype is known,
         * EINVAL before 5.4. */
        cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
        r = (int)syscall(SYS_waitid, 3 /* P_PIDFD */, pfd[0], NULL, WEXITED | WNOHANG, NULL);
        want = !(r < 0 && errno == EINVAL);
        close(pfd[0]);
        close(pfd[1]);
        cr_assert_eq(!!(f.have & PV_FEATURE_WAITID_PIDFD), want);
        cr_assert_eq(!!(f.have & PV_FEATURE_IO_URING), tu_uring_lacks(false) == NULL,
                     "io_uring: %s", tu_uring_lacks(false));
        cr_assert_eq(!!(f.have & PV_FEATURE_IO_URING_DEFER), tu_uring_lacks(true) == NULL);
        cr_assert_eq(f.uring_err == 0, !!(f.have & PV_FEATURE_IO_URING));
        cr_assert_leq(f.uring_err, 0);
        /* AUTO's backend is the one an AUTO loop gets. */
        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        cr_assert_eq(f.backend, pv_loop_backend(l));
        pv_loop_free(l);
        r = pv_cgroup_new(&cg, NULL);
        cr_assert_eq(f.cgroup_err, r, "%d, now %d", f.cgroup_err, r);
        cr_assert_eq(!!(f.have & PV_FEATURE_CGROUP), r == 0);
        if (r == 0) {
                want = faccessat(pv_cgroup_fd(cg), "cgroup.kill", F_OK, 0) == 0;
                cr_assert_eq(!!(f.have & PV_FEATURE_CGROUP_KILL), want);
                cr_assert_eq(pv_cgroup_remove(cg, 1000), 0);
                pv_cgroup_free(cg);
        } else {
                cr_assert_not(f.have & PV_FEATURE_CGROUP_KILL);
        }
        cr_assert_eq(f.reserved_int, 0);
}

/* The library in use says the version the header says (same build), and
 * the encoding orders versions as numbers do. */
Test(features, version)
{
        cr_assert_eq(pv_version(), PV_VERSION);
        cr_assert_eq(PV_VERSION >> 16, PV_VERSION_MAJOR);
        cr_assert_eq((PV_VERSION >> 8) & 255, PV_VERSION_MINOR);
        cr_assert_eq(PV_VERSION & 255, PV_VERSION_PATCH);
        cr_assert_gt(PV_VERSION_AT(0, 10, 0), PV_VERSION_AT(0, 9, 255));
        cr_assert_gt(PV_VERSION_AT(1, 0, 0), PV_VERSION_AT(0, 255, 255));
}

Test(features, bad_arguments)
{
        struct pv_features f = { .size = 8 };

        cr_assert_eq(pv_features(NULL), -EINVAL);
        cr_assert_eq(pv_features(&f), -EINVAL);
        cr_assert_eq(f.have, 0, "written on failure");
}

/* A caller built against a larger struct gets ours, and the size says
 * how much of it was written. */
Test(features, larger_struct)
{
        struct { struct pv_features f; uint64_t more[4]; } big;

        memset(&big, 0xa5, sizeof(big));
        big.f.size = sizeof(big);
        cr_assert_eq(pv_features(&big.f), 0);
        cr_assert_eq(big.f.size, sizeof(struct pv_features));
        cr_assert_eq(big.more[0], 0xa5a5a5a5a5a5a5a5ULL, "wrote past our struct");
}

/* Below Linux 5.4 (no waitid(P_PIDFD)) nothing can run: a clear -ENOSYS,
 * from the loop and from the probe. */
static int too_old(void *arg)
{
        struct pv_features f = PV_FEATURES_INIT;
        pv_loop *l;

        (void)arg;
        TU_SB_CHECK(tu_loop_new(&l, NULL) == -ENOSYS);
        TU_SB_CHECK(pv_features(&f) == 0);
        TU_SB_CHECK(f.mech == 0);
        TU_SB_CHECK(f.mech_err == -ENOSYS);
        TU_SB_CHECK(!(f.have & (PV_FEATURE_MECH_CLONE3 | PV_FEATURE_MECH_CLONE |
                                PV_FEATURE_MECH_VFORK)));
        return 0;
}

Test(features, below_5_4_is_enosys)
{
        TU_SB_RUN("pre-5.4", too_old, NULL);
        TU_SB_RUN("pre-5.3", too_old, NULL);
}

/* Docker before 20.10: clone3 and pidfd_send_signal refused with EPERM.
 * The clone rung takes over, signals go by pid, and a stop still
 * escalates (runs in a thread-free process: glibc's threads need clone3
 * to say ENOSYS). */
static int docker_old(void *arg)
{
        struct pv_features f = PV_FEATURES_INIT;
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "pause"), &out);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        (void)arg;
        TU_SB_CHECK(pv_features(&f) == 0);
        TU_SB_CHECK(!(f.have & PV_FEATURE_MECH_CLONE3));
        TU_SB_CHECK(f.have & PV_FEATURE_MECH_CLONE);
        TU_SB_CHECK(!(f.have & PV_FEATURE_PIDFD_SIGNAL));
        TU_SB_CHECK(tu_loop_new(&l, NULL) == 0);
        TU_SB_CHECK(pv_loop_mech(l) == PV_MECH_CLONE);
        o.grace_ms = 20;
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(tu_sb_wait_ready(l, &out));
        TU_SB_CHECK(pv_child_stop(c) == 0);
        TU_SB_CHECK(pv_child_wait(c, 10000, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_KILLED && e.signal == SIGKILL);
        TU_SB_CHECK((e.flags & (PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED)) ==
                    (PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED));
        pv_child_release(c);
        /* A plain signal goes through too. */
        o = tu_helper_opts(TU_ARGV("ready", "pause"), &out);
        memset(&out, 0, sizeof(out));
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(tu_sb_wait_ready(l, &out));
        TU_SB_CHECK(pv_child_signal(c, SIGUSR1) == 0);
        TU_SB_CHECK(pv_child_wait(c, 10000, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_KILLED && e.signal == SIGUSR1);
        TU_SB_CHECK(pv_child_signal(c, SIGUSR1) == -ESRCH);
        pv_child_release(c);
        pv_loop_free(l);
        return 0;
}

Test(features, docker_before_20_10)
{
        TU_SB_RUN("docker-old", docker_old, NULL);
}

/* Every way of signalling refused: a failed signal is an error, never
 * recorded as sent; the deadline does not pretend to escalate; and
 * pv_loop_free does not wait for ever on a child it cannot kill. */
static int no_signals(void *arg)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("read-stdin", "exit", "3"), &out);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        (void)arg;
        TU_SB_CHECK(tu_loop_new(&l, NULL) == 0);
        o.stdio[0].mode = PV_STDIO_PIPE;
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(pv_child_signal(c, SIGUSR1) == -EPERM);
        /* SIGTERM refused: an error, but stdin is closed all the same, and
         * this child ends at its EOF on its own. */
        TU_SB_CHECK(pv_child_stop(c) == -EPERM);
        TU_SB_CHECK(pv_child_wait(c, 10000, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_EXITED && e.code == 3);
        TU_SB_CHECK(!(e.flags & (PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED)));
        pv_child_release(c);

        /* The deadline's SIGTERM and SIGKILL both fail; the child ends on
         * its own later, and nothing says it was stopped. */
        o = tu_helper_opts(TU_ARGV("sleep", "300", "exit", "4"), NULL);
        o.deadline_ms = 10;
        o.grace_ms = 10;
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(pv_child_wait(c, 10000, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_EXITED && e.code == 4);
        TU_SB_CHECK(e.flags == PV_EXIT_F_DEADLINE);
        pv_child_release(c);

        o = tu_helper_opts(TU_ARGV("pause"), NULL);
        o.deadline_ms = 10;
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(pv_child_wait(c, 100, &e) == -ETIMEDOUT);
        TU_SB_CHECK(pv_child_is_reaped(c) == 0);
        pv_child_release(c);
        pv_loop_free(l);        /* returns: the child dies with us (pdeathsig) */
        return 0;
}

Test(features, no_way_to_signal)
{
        TU_SB_RUN("pidfd_send_signal=EPERM,kill=EPERM", no_signals, NULL);
}

/* A forced mechanism the sandbox refuses is -EOPNOTSUPP (Docker >= 20.10
 * answers ENOSYS to clone3), and AUTO takes the next rung.  pv_loop_new
 * itself, on AUTO's backend: this Docker refuses io_uring_setup too. */
static int forced_refused(void *arg)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        pv_loop *l;

        (void)arg;
        lo.mech = PV_MECH_CLONE3;
        TU_SB_CHECK(pv_loop_new(&l, &lo) == -EOPNOTSUPP);
        TU_SB_CHECK(pv_loop_new(&l, NULL) == 0);
        TU_SB_CHECK(pv_loop_mech(l) == PV_MECH_CLONE);
        pv_loop_free(l);
        return 0;
}

Test(features, forced_mechanism_refused)
{
        TU_SB_RUN("docker", forced_refused, NULL);
}
