/* SPDX-License-Identifier: MIT */
/* Hostile hosts: what the process around the library does to signals and
 * children must not cost a status, a hang or a zombie.  (Covers the exit
 * recovery in src/child.c and the signal reset in src/spawn-child.c.) */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(host, .timeout = 30);

/* Does this kernel give a reaped child's status to a pidfd holder
 * (PIDFD_GET_INFO with PIDFD_INFO_EXIT, 6.15)?  Asked here independently of
 * the library, so that a library that stopped recovering fails the test. */
static bool kernel_has_info_exit(void)
{
        struct { uint64_t mask, cg; uint32_t u[11]; int32_t exit_code; } info = { .mask = 1 << 3 };
        pid_t pid = fork();
        int fd, st;
        bool ok;

        if (pid == 0)
                _exit(9);
        fd = (int)syscall(434 /* pidfd_open */, pid, 0);
        waitpid(pid, &st, 0);
        if (fd < 0)
                return false;
        ok = ioctl(fd, _IOWR(0xFF, 11, info), &info) == 0 && (info.mask & (1 << 3)) &&
             WIFEXITED(info.exit_code) && WEXITSTATUS(info.exit_code) == 9;
        close(fd);
        return ok;
}

static void expect_exit(const struct pv_exit *e, int kind, int value, bool recoverable)
{
        if (e->kind == PV_EXIT_LOST) {
                cr_assert_not(recoverable, "status lost although the kernel keeps it");
                return;
        }
        cr_assert_eq(e->kind, kind);
        cr_assert_eq(kind == PV_EXIT_EXITED ? e->code : e->signal, value,
                     "wrong status: kind %d code %d signal %d", e->kind, e->code, e->signal);
}

/* A loop on rung m, or NULL where this kernel lacks the rung, asked of
 * the kernel (tu_kernel_lacks_mech) before the reaper runs or SIGCHLD is
 * ignored: a library whose probe a foreign reaper fooled fails instead of
 * skipping. */
static bool lacks[_PV_MECH_MAX];

static void ask_kernel(void)
{
        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++)
                lacks[m] = tu_kernel_lacks_mech(m) != NULL;
}

static pv_loop *loop_on(int m)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        pv_loop *l;
        int r;

        lo.mech = m;
        r = tu_loop_new(&l, &lo);
        if (r == 0)
                return l;
        cr_assert(lacks[m], "%s refused (%s) while the kernel has it", pv_mech_name(m),
                  strerror(-r));
        return NULL;
}

/* SIGCHLD = SIG_IGN: the kernel reaps our children itself, on every rung
 * (the vfork rung pins the pid before the child can go). */
Test(host, sigchld_ignored, .timeout = 60)
{
        bool info_exit = kernel_has_info_exit();
        struct pv_exit e;

        ask_kernel();
        signal(SIGCHLD, SIG_IGN);
        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++) {
                pv_loop *l = loop_on(m);
                if (!l)
                        continue;
                for (int i = 0; i < 20; i++) {
                        char code[8];
                        snprintf(code, sizeof(code), "%d", 40 + i);
                        cr_assert_eq(tu_run(l, TU_ARGV("exit", code), &e), 0, "%s: run %d",
                                     pv_mech_name(m), i);
                        expect_exit(&e, PV_EXIT_EXITED, 40 + i, info_exit);
                        cr_assert_gt(e.pid, 0);
                        if (e.kind != PV_EXIT_LOST)
                                cr_assert(e.flags & PV_EXIT_F_RECOVERED);
                        /* The reaper took the rusage with the status: not
                         * known, so all zero, never made up. */
                        struct rusage zero = { 0 };
                        cr_assert_eq(memcmp(&e.rusage, &zero, sizeof(zero)), 0);
                }
                cr_assert_eq(tu_run(l, TU_ARGV("kill-self", "10"), &e), 0);
                expect_exit(&e, PV_EXIT_KILLED, SIGUSR1, info_exit);
                /* Exec errors still come back, and the stop ladder still works. */
                const char *missing[] = { "/nonexistent/x", NULL };
                struct pv_spawn_opts o = tu_helper_opts(missing, NULL);
                cr_assert_eq(pv_spawn(l, &o, NULL, NULL), -ENOENT);
                struct tu_out out = { 0 };
                pv_child *c;
                o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "pause"), &out);
                o.grace_ms = 20;
                c = tu_spawn_ready(l, &o, &out);
                e = tu_stop_wait(c);
                expect_exit(&e, PV_EXIT_KILLED, SIGKILL, info_exit);
                cr_assert(e.flags & PV_EXIT_F_ESCALATED);
                pv_child_release(c);
                pv_loop_free(l);
        }
        cr_assert(tu_no_children());
}

static atomic_int reaper_stop;
static atomic_int reaped;

/* A host thread that reaps every child of the process, as some hosts (and
 * language runtimes) do. */
static void *reaper(void *p)
{
        (void)p;
        while (!atomic_load(&reaper_stop)) {
                siginfo_t si = { 0 };
                if (waitid(P_ALL, 0, &si, WEXITED | __WALL | WNOHANG) == 0 && si.si_pid)
                        atomic_fetch_add(&reaped, 1);
                else
                        sched_yield();
        }
        return NULL;
}

Test(host, foreign_reaper, .timeout = 60)
{
        bool info_exit = kernel_has_info_exit();
        struct pv_features f = PV_FEATURES_INIT;
        pthread_t t;
        int exact = 0, recovered = 0, lost = 0;

        /* Probe first: the reaper would take the probe's children too. */
        ask_kernel();
        cr_assert_eq(pv_features(&f), 0);
        cr_assert_eq(pthread_create(&t, NULL, reaper, NULL), 0);
        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++) {
                pv_loop *l = loop_on(m);
                if (!l)
                        continue;
                for (int i = 0; i < 100; i++) {
                        struct pv_exit e;
                        char code[8];
                        snprintf(code, sizeof(code), "%d", i);
                        cr_assert_eq(tu_run(l, TU_ARGV("exit", code), &e), 0,
                                     "%s: hang or error at %d", pv_mech_name(m), i);
                        expect_exit(&e, PV_EXIT_EXITED, i, info_exit);
                        exact += e.kind == PV_EXIT_EXITED;
                        recovered += !!(e.flags & PV_EXIT_F_RECOVERED);
                        lost += e.kind == PV_EXIT_LOST;
                }
                pv_loop_free(l);
        }
        atomic_store(&reaper_stop, 1);
        pthread_join(t, NULL);
        cr_log_info("foreign reaper took %d; %d statuses exact, %d recovered, %d lost",
                    atomic_load(&reaped), exact, recovered, lost);
        /* Every status the reaper took, and only those, was recovered (or,
         * without PIDFD_INFO_EXIT, reported lost): none guessed. */
        cr_assert_gt(atomic_load(&reaped), 0, "the reaper stole nothing: nothing was tested");
        cr_assert_eq(info_exit ? recovered : lost, atomic_load(&reaped));
        cr_assert_eq(info_exit ? lost : recovered, 0);
}

/* A host that blocks every signal: the child still starts with an empty
 * mask, so the stop ladder's SIGTERM works without escalation. */
Test(host, all_signals_blocked)
{
        sigset_t all;
        struct tu_out out = { 0 };
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        sigfillset(&all);
        cr_assert_eq(pthread_sigmask(SIG_BLOCK, &all, NULL), 0);
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("sigstate", "ready", "pause"), &out);
        o.grace_ms = 60000;
        c = tu_spawn_ready(l, &o, &out);
        cr_assert(strstr(out.data, "blk=0 "), "child mask: %s", out.data);
        e = tu_stop_wait(c);
        cr_assert_eq(e.signal, SIGTERM);
        cr_assert_not(e.flags & PV_EXIT_F_ESCALATED);
        pv_child_release(c);
        pv_loop_free(l);
}

static void on_term(int sig) { (void)sig; }

/* Ignored and handled signals of the host are default in the child. */
Test(host, dispositions_reset)
{
        struct tu_out out = { 0 };
        pv_loop *l;
        pv_child *c;

        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, on_term);
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("sigstate"), &out);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        cr_assert(strstr(out.data, "ign=0\n"), "child state: %s", out.data);
        pv_child_release(c);
        /* And the library changed none of ours. */
        struct sigaction sa;
        sigaction(SIGPIPE, NULL, &sa);
        cr_assert_eq(sa.sa_handler, SIG_IGN);
        sigaction(SIGTERM, NULL, &sa);
        cr_assert_eq(sa.sa_handler, on_term);
        sigaction(SIGCHLD, NULL, &sa);
        cr_assert_eq(sa.sa_handler, SIG_DFL);
        pv_loop_free(l);
}

static int all_mechs[] = { PV_MECH_CLONE3, PV_MECH_CLONE, PV_MECH_VFORK };

ParameterizedTestParameters(host, dispositions_reset_every_rung)
{
        return cr_make_param_array(int, all_mechs, sizeof(all_mechs) / sizeof(all_mechs[0]));
}

/* On every rung, whatever the host ignores (SIGPIPE, SIGUSR1, a real-time
 * signal), handles (SIGTERM, SIGUSR2, a real-time signal) or blocks is
 * default and open in the exec'd child: on clone3 CLONE_CLEAR_SIGHAND
 * leaves the ignored ones to the child's reset, on the others the child
 * resets both kinds.  The host's own stay as they were. */
ParameterizedTest(int *mech, host, dispositions_reset_every_rung)
{
        const int ignored[] = { SIGPIPE, SIGUSR1, SIGRTMIN + 2 };
        const int handled[] = { SIGTERM, SIGUSR2, SIGRTMAX };
        struct sigaction sa = { .sa_handler = on_term };
        struct tu_out out = { 0 };
        sigset_t set;
        pv_loop *l;
        pv_child *c;

        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
                cr_assert_neq(signal(ignored[i], SIG_IGN), SIG_ERR);
                cr_assert_eq(sigaction(handled[i], &sa, NULL), 0);
        }
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGRTMIN + 3);
        cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
        l = tu_loop_on(*mech);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("sigstate"), &out);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        cr_assert_str_eq(out.data, "blk=0 cgt=0 ign=0\n", "%s: child state: %s",
                         pv_mech_name(*mech), out.data);
        pv_child_release(c);
        pv_loop_free(l);
        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
                struct sigaction now;
                sigaction(ignored[i], NULL, &now);
                cr_assert_eq(now.sa_handler, SIG_IGN);
                sigaction(handled[i], NULL, &now);
                cr_assert_eq(now.sa_handler, on_term);
        }
        cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &set), 0);
        cr_assert(sigismember(&set, SIGINT) && sigismember(&set, SIGRTMIN + 3));
}
