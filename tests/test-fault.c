/* SPDX-License-Identifier: MIT */
/* src/fault.c, and through it every spawn- and stop-path site: the Nth
 * call at a site fails with EMFILE, ENOMEM, EAGAIN or EINTR.  EINTR is
 * retried (the spawn or stop succeeds); the others come back as that
 * -errno; and in every case no fd, child or zombie is left.  Built only
 * with --enable-fault-injection. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"
#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(fault, .timeout = 30);

struct fcase {
        char site[16];
        int err;
        int mech;               /* the rung that has the site */
        bool stop_path;         /* the site is on the stop path */
};

static struct fcase cases[] = {
#define ERRS(site, mech, stop) \
        { site, EMFILE, mech, stop }, { site, ENOMEM, mech, stop }, \
        { site, EAGAIN, mech, stop }, { site, EINTR, mech, stop }
        ERRS("pipe2", 0, false),
        ERRS("open", 0, false),
        ERRS("fcntl", 0, false),
        ERRS("clone", 0, false),
        ERRS("epoll_ctl", 0, false),
        ERRS("pidfd_open", PV_MECH_VFORK, false),
        ERRS("signal", 0, true),
        ERRS("timer", 0, true),
};

ParameterizedTestParameters(fault, every_site)
{
        return cr_make_param_array(struct fcase, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Walk N = 1, 2, ... until the site is called fewer than N times. */
ParameterizedTest(struct fcase *fc, fault, every_site, .timeout = 60)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        const char *cat[] = { "/bin/cat", NULL };
        bool injected = true;
        pv_loop *l;
        int walked = 0;

        lo.mech = fc->mech;
        cr_assert_eq(tu_loop_new(&l, &lo), 0);
        for (int nth = 1; injected && nth < 50; nth++) {
                struct pv_spawn_opts o = tu_helper_opts(cat, NULL);
                char spec[64];
                int fds = tu_count_fds();
                pv_child *c = NULL;
                int r;

                o.stdio[0].mode = PV_STDIO_PIPE;
                o.stdio[1].mode = PV_STDIO_PIPE;
                o.stdio[2].mode = PV_STDIO_NULL;
                /* Each nth is a new value, so counting starts afresh. */
                snprintf(spec, sizeof(spec), "%s,%d,%d", fc->site, nth, fc->err);
                setenv("PV_FAULT", spec, 1);
                r = pv_spawn(l, &o, &c, NULL);
                if (!fc->stop_path && r < 0) {
                        cr_assert_eq(r, -fc->err, "%s: got %s", spec, strerror(-r));
                        cr_assert_neq(fc->err, EINTR, "%s: EINTR was not retried", spec);
                        cr_assert_eq(pv_loop_count_unreaped(l), 0);
                        walked++;
                } else {
                        cr_assert_eq(r, 0, "%s: spawn: %s", spec, strerror(-r));
                        r = pv_child_stop(c);
                        if (!strcmp(fc->site, "timer") && fc->err != EINTR) {
                                /* No grace timer: the ladder escalates at
                                 * once; the stop itself succeeds. */
                                struct pv_exit e;
                                cr_assert_eq(r, 0, "%s: stop: %s", spec, strerror(-r));
                                cr_assert_eq(pv_child_wait(c, 30000, &e), 0);
                                pv_child_release(c);
                                /* The grace timer is the stop path's
                                 * only timer call: the first fails, the
                                 * second is past it.  (That the ladder
                                 * then escalates is
                                 * failed_grace_timer_escalates_at_once.) */
                                injected = nth < 2;
                                walked += nth == 1;
                                unsetenv("PV_FAULT");
                                cr_assert_eq(tu_count_fds(), fds, "%s: fd leaked", spec);
                                cr_assert(tu_no_children(), "%s: zombie left", spec);
                                continue;
                        }
                        if (fc->stop_path && r < 0) {
                                cr_assert_eq(r, -fc->err, "%s: stop gave %s", spec, strerror(-r));
                                cr_assert_neq(fc->err, EINTR, "%s: EINTR not retried", spec);
                                walked++;
                                /* Not stopped (signal), or escalated at once
                                 * (timer): make sure it dies either way. */
                                r = pv_child_signal(c, SIGKILL);
                                cr_assert(r == 0 || r == -ESRCH, "kill: %s", strerror(-r));
                        } else {
                                cr_assert_eq(r, 0, "%s: stop: %s", spec, strerror(-r));
                                /* EINTR was retried, or nth is past the
                                 * last call: either way nothing failed. */
                                injected = fc->err == EINTR && nth < 10;
                        }
                        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
                        pv_child_release(c);
                }
                unsetenv("PV_FAULT");
                cr_assert_eq(tu_count_fds(), fds, "%s: fd leaked", spec);
                cr_assert(tu_no_children(), "%s: zombie left", spec);
        }
        cr_log_info("%s with %s: %d failing calls walked", fc->site, strerror(fc->err), walked);
        if (fc->err != EINTR)
                cr_assert_gt(walked, 0, "site %s was never reached", fc->site);
        pv_loop_free(l);
        cr_assert(tu_no_children());
}

/* The grace timer cannot be armed: a child that ignores SIGTERM would live
 * on, so the ladder escalates at once.  Nobody else kills it here. */
Test(fault, failed_grace_timer_escalates_at_once)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "pause"), &out);
        struct pv_exit e;
        char spec[32];
        pv_loop *l;
        pv_child *c;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.grace_ms = 3600 * 1000;
        c = tu_spawn_ready(l, &o, &out);
        snprintf(spec, sizeof(spec), "timer,1,%d", ENOMEM);
        setenv("PV_FAULT", spec, 1);
        /* The stop went ahead: a grace of zero (SIGKILL at once). */
        cr_assert_eq(pv_child_stop(c), 0);
        unsetenv("PV_FAULT");
        cr_assert_eq(pv_child_wait(c, 10000, &e), 0, "not escalated: it ignores SIGTERM");
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert(e.flags & PV_EXIT_F_ESCALATED);
        pv_child_release(c);
        pv_loop_free(l);
}

/* The child runs but cannot be watched (epoll_ctl fails), and no signal
 * may be sent: pv_spawn returns the error instead of waiting for ever for
 * a child it could not kill (cat ends at the EOF of its closed stdin). */
static int unwatchable_unkillable(void *arg)
{
        const char *cat[] = { "/bin/cat", NULL };
        struct pv_spawn_opts o = tu_helper_opts(cat, NULL);
        char spec[32];
        pv_loop *l;
        pv_child *c;

        (void)arg;
        TU_SB_CHECK(tu_loop_new(&l, NULL) == 0);
        o.stdio[0].mode = PV_STDIO_PIPE;
        snprintf(spec, sizeof(spec), "epoll_ctl,1,%d", ENOSPC);
        setenv("PV_FAULT", spec, 1);
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == -ENOSPC);
        unsetenv("PV_FAULT");
        pv_loop_free(l);
        return 0;
}

Test(fault, failed_watch_of_an_unkillable_child)
{
        TU_SB_RUN("pidfd_send_signal=EPERM,kill=EPERM", unwatchable_unkillable, NULL);
}

/* stdin is watched only while its queue holds data, so a write may need an
 * EPOLL_CTL_ADD, which can fail (ENOMEM, or ENOSPC from
 * fs.epoll.max_user_watches): then the write fails and none of it went
 * anywhere, both for a large write (watched before it is tried) and for a
 * small one (all or nothing in a pipe) that finds the pipe full. */
Test(fault, stdin_watch_failure_writes_nothing, .timeout = 60)
{
        static char big[100 * 1024];
        struct tu_out out = { 0 };
        char spec[32], fdbuf[16], want[64];
        int p[2];
        pv_loop *l;
        pv_child *c;

        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        snprintf(fdbuf, sizeof(fdbuf), "%d", p[0]);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "wait-fd", fdbuf, "read-stdin"),
                                                &out);
        o.stdio[0].mode = PV_STDIO_PIPE;
        o.keep_fds = &p[0];
        o.n_keep_fds = 1;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        c = tu_spawn_ready(l, &o, &out);
        snprintf(spec, sizeof(spec), "epoll_ctl,1,%d", ENOMEM);
        setenv("PV_FAULT", spec, 1);
        cr_assert_eq(pv_child_write(c, big, sizeof(big)), -ENOMEM);
        unsetenv("PV_FAULT");
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        /* Fill the pipe (64 KiB here) exactly: taken whole, nothing queued. */
        cr_assert_eq(pv_child_write(c, big, 64 * 1024), 0);
        if (pv_child_stdin_pending(c) > 0)
                cr_skip_test("the pipe holds less than 64 KiB here "
                             "(fs.pipe-user-pages-soft): it cannot be filled exactly");
        snprintf(spec, sizeof(spec), "epoll_ctl,1,%d", ENOSPC);
        setenv("PV_FAULT", spec, 1);
        cr_assert_eq(pv_child_write(c, "abc", 3), -ENOSPC);
        unsetenv("PV_FAULT");
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        /* What the child reads is exactly what was accepted. */
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(write(p[1], "g", 1), 1);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        snprintf(want, sizeof(want), "ready\nstdin=%d\n", 64 * 1024);
        cr_assert_str_eq(out.data, want);
        close(p[0]);
        close(p[1]);
        pv_child_release(c);
        pv_loop_free(l);
}
