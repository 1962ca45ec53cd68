/* SPDX-License-Identifier: MIT */
/* src/child.c: exit, the stop ladder, signals, ownership. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(child, .timeout = 30);

static pv_loop *new_loop(void)
{
        pv_loop *l;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        return l;
}

Test(child, killed_by_signal)
{
        pv_loop *l = new_loop();
        struct pv_exit e;

        cr_assert_eq(tu_run(l, TU_ARGV("kill-self", "9"), &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert_not(e.core_dumped);
        cr_assert_eq(tu_run(l, TU_ARGV("kill-self", "15"), &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGTERM);
        cr_assert_eq(e.flags, 0);
        pv_loop_free(l);
}

Test(child, rusage_and_runtime)
{
        pv_loop *l = new_loop();
        struct pv_exit e;

        cr_assert_eq(tu_run(l, TU_ARGV("sleep", "20"), &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        /* waitid filled rusage: any process has a max RSS. */
        cr_assert_gt(e.rusage.ru_maxrss, 0);
        /* It slept 20 ms, so at least that much passed (an ordering fact,
         * not a speed assertion). */
        cr_assert_geq(e.runtime_us, 20000);
        pv_loop_free(l);
}

/* A child that exits on SIGTERM is stopped without escalation. */
Test(child, stop_cooperative)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "pause"), &out);
        struct pv_exit e;
        pv_child *c;

        o.grace_ms = 60000; /* an escalation would show as a hang */
        c = tu_spawn_ready(l, &o, &out);
        e = tu_stop_wait(c);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGTERM);
        cr_assert(e.flags & PV_EXIT_F_STOPPED);
        cr_assert_not(e.flags & PV_EXIT_F_ESCALATED);
        cr_assert_eq(out.exits, 1);
        pv_child_release(c);
        pv_loop_free(l);
}

/* A child that ignores SIGTERM is killed after the grace period, and the
 * grace was honoured: it lived at least that long after the stop began
 * (ordering: it cannot have died before the timer).  grace_ms 0 is 5 s. */
static void stop_escalates_after(uint32_t grace_ms, uint64_t grace_us)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "pause"), &out);
        struct pv_exit e;
        pv_child *c;

        o.grace_ms = grace_ms;
        c = tu_spawn_ready(l, &o, &out);
        e = tu_stop_wait(c);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert_eq(e.flags & (PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED),
                     PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED);
        cr_assert_geq(e.runtime_us, grace_us);
        pv_child_release(c);
        pv_loop_free(l);
}

Test(child, stop_escalates)
{
        stop_escalates_after(50, 50000);
}

/* A SIGSTOPped child still stops: SIGTERM is followed by SIGCONT. */
Test(child, stop_stopped_child)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "pause"), &out);
        struct pv_exit e;
        siginfo_t si = { 0 };
        pv_child *c;

        o.grace_ms = 60000;
        c = tu_spawn_ready(l, &o, &out);
        cr_assert_eq(pv_child_signal(c, SIGSTOP), 0);
        /* Wait until it is really stopped (WNOWAIT leaves it to the loop). */
        cr_assert_eq(waitid(P_PID, (id_t)pv_child_pid(c), &si, WSTOPPED | WNOWAIT), 0);
        cr_assert_eq(si.si_code, CLD_STOPPED);
        e = tu_stop_wait(c);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGTERM);
        cr_assert_not(e.flags & PV_EXIT_F_ESCALATED);
        pv_child_release(c);
        pv_loop_free(l);
}

Test(child, stop_twice_and_after_exit)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "pause"), &out);
        struct pv_exit e;
        pv_child *c;

        o.grace_ms = 50;
        c = tu_spawn_ready(l, &o, &out);
        cr_assert_eq(pv_child_stop(c), 0);
        e = tu_stop_wait(c);
        cr_assert(e.flags & PV_EXIT_F_ESCALATED);
        cr_assert_eq(out.exits, 1, "exit delivered %d times", out.exits);
        cr_assert_eq(pv_child_stop(c), 0);
        cr_assert_eq(pv_child_signal(c, SIGTERM), -ESRCH);
        cr_assert_eq(pv_child_signal(c, 0), -ESRCH);
        cr_assert_eq(pv_child_pidfd(c), -ESRCH);
        cr_assert_eq(pv_child_is_reaped(c), 1);
        cr_assert_eq(pv_child_get_exit(c, &e), 0);
        cr_assert_eq(pv_child_wait(c, 0, &e), 0);
        cr_assert_eq(out.exits, 1);
        pv_child_release(c);
        pv_loop_free(l);
}

Test(child, signal_and_queries)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "pause"), &out);
        struct pv_exit e;
        pv_child *c;

        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_gt(pv_child_pid(c), 0);
        cr_assert_geq(pv_child_pidfd(c), 3);
        cr_assert_eq(pv_child_is_reaped(c), 0);
        cr_assert_eq(pv_child_get_exit(c, &e), -EBUSY);
        cr_assert_eq(pv_child_wait(c, 0, &e), -ETIMEDOUT);
        cr_assert_eq(pv_child_signal(c, 0), 0);
        cr_assert_eq(pv_child_signal(c, -1), -EINVAL);
        cr_assert_eq(pv_child_signal(c, 65), -EINVAL);
        cr_assert_eq(pv_child_close_stdin(c), -ENOTCONN);
        tu_wait_output(l, &out, "ready");
        cr_assert_eq(pv_child_signal(c, SIGUSR1), 0);
        cr_assert_eq(pv_child_wait(c, 30000, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGUSR1);
        cr_assert_eq(e.flags, 0);
        pv_child_release(c);

        cr_assert_eq(pv_child_signal(NULL, 0), -EINVAL);
        cr_assert_eq(pv_child_stop(NULL), -EINVAL);
        cr_assert_eq(pv_child_wait(NULL, 0, NULL), -EINVAL);
        cr_assert_eq(pv_child_pid(NULL), -EINVAL);
        cr_assert_eq(pv_child_pidfd(NULL), -EINVAL);
        cr_assert_eq(pv_child_close_stdin(NULL), -EINVAL);
        pv_child_release(NULL);
        pv_loop_free(l);
}

/* pv_child_wait(c, 0) polls: an exit already in the pidfd is collected. */
Test(child, wait_zero_collects_exit)
{
        pv_loop *l = new_loop();
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "8"), NULL);
        struct pollfd p = { .events = POLLIN };
        struct pv_exit e;
        pv_child *c;

        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        p.fd = pv_child_pidfd(c);
        cr_assert_eq(poll(&p, 1, 30000), 1);
        cr_assert_eq(pv_child_wait(c, 0, &e), 0);
        cr_assert_eq(e.code, 8);
        pv_child_release(c);
        pv_loop_free(l);
}

/* The run deadline starts the ladder by itself.  The deadline leaves the
 * helper time to ignore SIGTERM first (its exec took 43 ms on a loaded
 * qemu guest, where 30 ms let SIGTERM end it). */
Test(child, deadline_triggers_ladder)
{
        pv_loop *l = new_loop();
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "pause"), NULL);
        struct pv_exit e;

        o.deadline_ms = 500;
        o.grace_ms = 30;
        cr_assert_eq(tu_run_opts(l, &o, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert_eq(e.flags, PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED | PV_EXIT_F_DEADLINE);
        cr_assert_geq(e.runtime_us, 530000);

        /* A child that ends before its deadline is not stopped. */
        o = tu_helper_opts(TU_ARGV("exit", "3"), NULL);
        o.deadline_ms = 60000;
        cr_assert_eq(tu_run_opts(l, &o, &e), 0);
        cr_assert_eq(e.code, 3);
        cr_assert_eq(e.flags, 0);
        pv_loop_free(l);
}

/* With a new process group (or session), the ladder stops the whole
 * group: the grandchild gets SIGTERM too.  It is init's to reap, so wait
 * (bounded) for it to disappear rather than sleep. */
static void stop_kills_grandchild(unsigned flag)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "ready", "pause"), &out);
        struct pv_exit e;
        pv_child *c;
        int gc = 0;

        o.flags |= flag;
        o.stdio[2].mode = PV_STDIO_INHERIT;
        c = tu_spawn_ready(l, &o, &out);
        cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
        cr_assert(tu_pid_alive(gc));
        e = tu_stop_wait(c);
        cr_assert_eq(e.signal, SIGTERM);
        cr_assert(tu_wait_gone(gc), "grandchild %d survived the group stop", gc);
        pv_child_release(c);
        pv_loop_free(l);
}

Test(child, stop_group_kills_grandchild)
{
        stop_kills_grandchild(PV_SPAWN_F_NEW_PGRP);
}

/* Ownership: a loop-owned child (ret == NULL) is freed after its exit
 * callback; a child released from its own callback is not touched again.
 * ASan in CI turns any use-after-free here into a failure. */
static void release_in_callback(pv_child *c, const struct pv_exit *e, void *ud)
{
        int *n = ud;
        (*n)++;
        (void)e;
        pv_child_release(c);
        pv_child_release(c); /* a second release is a no-op */
}

struct chain {
        int n;
        pv_loop *l;
};

static void spawn_in_callback(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct chain *ch = ud;
        (void)c;
        (void)e;
        if (++ch->n < 5) {
                struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
                o.on_exit = spawn_in_callback;
                o.userdata = ud;
                cr_assert_eq(pv_spawn(ch->l, &o, NULL, NULL), 0);
        }
}

Test(child, ownership)
{
        pv_loop *l = new_loop();
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        int n = 0;
        pv_child *c;

        o.on_exit = release_in_callback;
        o.userdata = &n;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(n, 1);

        /* Loop-owned children, each spawning the next from its callback. */
        struct chain chain = { 0, l };
        o.on_exit = spawn_in_callback;
        o.userdata = &chain;
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(chain.n, 5);

        /* A released, still running child is still reaped by the loop, and
         * no callback of it runs. */
        n = 0;
        o = tu_helper_opts(TU_ARGV("sleep", "10"), NULL);
        o.on_exit = release_in_callback;
        o.userdata = &n;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        pv_child_release(c);
        cr_assert_eq(pv_loop_count_unreaped(l), 1);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(n, 0);
        cr_assert(tu_no_children());
        pv_loop_free(l);
}

struct reentry {
        pv_loop *l;
        pv_child *other;
        int wait_r, dispatch_r, run_r;
};

static void reenter(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct reentry *r = ud;
        (void)c;
        (void)e;
        r->wait_r = pv_child_wait(r->other, 10, NULL);
        r->dispatch_r = pv_loop_dispatch(r->l, 0);
        r->run_r = pv_loop_run(r->l);
}

/* The loop cannot be re-entered from a callback: -EBUSY, not recursion. */
Test(child, no_reentry_from_callbacks)
{
        pv_loop *l = new_loop();
        struct reentry re = { .l = l };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);

        cr_assert_eq(pv_spawn(l, &o, &re.other, NULL), 0);
        o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        o.on_exit = reenter;
        o.userdata = &re;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(re.wait_r, -EBUSY);
        cr_assert_eq(re.dispatch_r, -EBUSY);
        cr_assert_eq(re.run_r, -EBUSY);
        pv_child_release(re.other);
        pv_loop_free(l); /* kills and reaps the paused one */
        cr_assert(tu_no_children());
}

/* A child that has exited but is not reaped yet is not signalled: signal
 * says -ESRCH, stop does nothing, and the exit carries no stop flag. */
Test(child, exited_but_unreaped)
{
        pv_loop *l = new_loop();
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        struct pollfd p = { .events = POLLIN };
        struct pv_exit e;
        pv_child *c;

        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        p.fd = pv_child_pidfd(c);
        cr_assert_eq(poll(&p, 1, 30000), 1);    /* dead, not reaped */
        cr_assert_eq(pv_child_signal(c, 0), -ESRCH);
        cr_assert_eq(pv_child_signal(c, SIGTERM), -ESRCH);
        cr_assert_eq(pv_child_stop(c), 0);
        cr_assert_eq(pv_child_wait(c, 30000, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_eq(e.flags, 0, "flags %#x on a child that exited by itself", e.flags);
        pv_child_release(c);
        pv_loop_free(l);
}

struct late_stop {
        int stop_r;
        int exited_seen;
        int calls;
};

static void stop_from_output(pv_child *c, int fd, const char *data, size_t len,
                             unsigned flags, void *ud)
{
        struct late_stop *ls = ud;
        (void)fd;
        (void)data;
        (void)len;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED))
                return;
        ls->calls++;
        ls->stop_r = pv_child_stop(c);
        ls->exited_seen = pv_child_is_reaped(c);
}

/* Output read after the child died (in the exit drain, or before it in the
 * same batch): a stop from its callback is a no-op, never a signal. */
Test(child, stop_from_output_after_death)
{
        pv_loop *l = new_loop();
        struct late_stop ls = { .stop_r = 1 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("print", "last-words", "exit", "4"), NULL);
        struct pollfd p = { .events = POLLIN };
        struct pv_exit e;
        pv_child *c;

        o.stdio[1].mode = PV_STDIO_PIPE;
        o.on_output = stop_from_output;
        o.userdata = &ls;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        p.fd = pv_child_pidfd(c);
        cr_assert_eq(poll(&p, 1, 30000), 1);    /* dead before we read a byte */
        cr_assert_eq(pv_child_wait(c, 30000, &e), 0);
        cr_assert_eq(ls.calls, 1);
        cr_assert_eq(ls.stop_r, 0);
        cr_assert_eq(e.code, 4);
        cr_assert_eq(e.flags, 0, "a dead child was stopped: flags %#x", e.flags);
        pv_child_release(c);
        pv_loop_free(l);
}

/* A ptrace tracer that holds the child's zombie: the pidfd is readable but
 * the status is the tracer's until it lets go.  The loop must wait for it
 * without spinning, then report the exact status. */
Test(child, zombie_held_by_tracer, .timeout = 60)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "sleep", "100", "exit", "5"), &out);
        struct pv_exit e;
        int go[2], dispatches = 0;
        pv_child *c;
        pid_t tracer;

        cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
        c = tu_spawn_ready(l, &o, &out);
        tracer = fork();
        cr_assert_geq(tracer, 0);
        if (tracer == 0) {
                pid_t pid = pv_child_pid(c);
                char b = 0;
                int st;

                if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
                        _exit(77);
                (void)!write(go[1], &b, 1);
                /* Hold on to it well past its exit (about 100 ms away)... */
                struct timespec ts = { 0, 600 * 1000000L };
                nanosleep(&ts, NULL);
                /* ... then let go: collect the tracee's events until it is
                 * gone, which hands the zombie back to its parent. */
                while (waitpid(pid, &st, __WALL) == pid && !WIFEXITED(st) && !WIFSIGNALED(st))
                        ptrace(PTRACE_CONT, pid, 0, 0);
                _exit(0);
        }
        char b;
        close(go[1]);
        if (read(go[0], &b, 1) != 1) {
                int st;
                waitpid(tracer, &st, 0);
                cr_skip_test("cannot ptrace here (status %#x)", st);
        }
        while (!pv_child_is_reaped(c)) {
                cr_assert_geq(pv_loop_dispatch(l, 5000), 0);
                dispatches++;
                cr_assert_lt(dispatches, 1000, "the loop spins on a held zombie");
        }
        cr_assert_eq(pv_child_get_exit(c, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_eq(e.code, 5);
        cr_log_info("held zombie: %d dispatches", dispatches);
        int st;
        cr_assert_eq(waitpid(tracer, &st, 0), tracer);
        pv_child_release(c);
        pv_loop_free(l);
}

/* The stop's first rung, closing stdin, may be what ends the child: that
 * is still a stop (PV_EXIT_F_STOPPED), and no escalation. */
Test(child, stop_by_stdin_eof)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "read-stdin"), &out);
        struct pv_exit e;
        pv_child *c;

        o.stdio[0].mode = PV_STDIO_PIPE;
        o.grace_ms = 60000;
        c = tu_spawn_ready(l, &o, &out);
        e = tu_stop_wait(c);
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_eq(e.code, 0);
        cr_assert_eq(e.flags, PV_EXIT_F_STOPPED);
        pv_child_release(c);
        pv_loop_free(l);
}

/* Spawned into its own cgroup, the child and a grandchild that both
 * ignore SIGTERM are ended together by the ladder (cgroup.kill), and the
 * cgroup is empty afterwards. */
Test(child, cgroup_tree_stop, .timeout = 60)
{
        pv_loop *l = new_loop();
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "fork-grandchild", "ready",
                                                        "pause"), &out);
        char path[4200], events[4300], buf[256] = "";
        struct pv_exit e;
        pv_child *c;
        int gc = 0, cg = tu_make_cgroup(path, sizeof(path), "child");

        o.flags |= PV_SPAWN_F_CGROUP;
        o.cgroup_fd = cg;
        o.grace_ms = 50;
        c = tu_spawn_ready(l, &o, &out);
        cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
        e = tu_stop_wait(c);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert(e.flags & PV_EXIT_F_ESCALATED);
        /* The grandchild went with it: wait (bounded) for the cgroup to
         * say it is empty. */
        snprintf(events, sizeof(events), "%s/cgroup.events", path);
        for (int i = 0; i < 1000; i++) {
                FILE *f = fopen(events, "re");
                cr_assert(f);
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                buf[n] = '\0';
                fclose(f);
                if (strstr(buf, "populated 0"))
                        break;
                pv_loop_dispatch(l, 10);
        }
        cr_assert(strstr(buf, "populated 0"), "cgroup still populated: %s", buf);
        /* A task leaves its cgroup a moment before its exit is done (its
         * /proc entry says R until then): bounded, it goes. */
        cr_assert(tu_wait_gone(gc), "the grandchild %d is still alive", gc);
        pv_child_release(c);
        cr_assert_eq(rmdir(path), 0, "rmdir: %s", strerror(errno));
        close(cg);
        pv_loop_free(l);
}

/* Every rung can place a child in its cgroup: clone3 with
 * CLONE_INTO_CGROUP, the others by the child moving itself in before
 * exec.  The child reads its own cgroup. */
Test(child, cgroup_every_rung, .timeout = 60)
{
        char path[4200];
        int cg = tu_make_cgroup(path, sizeof(path), "child");
        const char *leaf = strrchr(path, '/');

        for (int m = PV_MECH_CLONE3; m < _PV_MECH_MAX; m++) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                struct tu_out out = { 0 };
                struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("cgroup"), &out);
                struct pv_exit e;
                pv_loop *l;

                lo.mech = m;
                if (tu_kernel_lacks_mech(m))
                        continue;       /* not on this kernel: test-spawn says */
                cr_assert_eq(tu_loop_new(&l, &lo), 0);
                o.flags |= PV_SPAWN_F_CGROUP;
                o.cgroup_fd = cg;
                cr_assert_eq(tu_run_opts(l, &o, &e), 0, "%s", pv_mech_name(m));
                cr_assert_eq(e.kind, PV_EXIT_EXITED);
                cr_assert_eq(e.code, 0);
                cr_assert(strstr(out.data, leaf), "%s: the child was in '%s', not in %s",
                          pv_mech_name(m), out.data, leaf);
                pv_loop_free(l);
        }
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        pv_loop *l;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.flags |= PV_SPAWN_F_CGROUP;
        o.cgroup_fd = -1;
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), -EINVAL);
        cr_assert(tu_no_children());
        pv_loop_free(l);
        close(cg);
        cr_assert_eq(rmdir(path), 0, "rmdir: %s", strerror(errno));
}

/* Once the ladder has written cgroup.kill, the kernel kills every later
 * CLONE_INTO_CGROUP child of that cgroup at birth (Linux 6.18).  A second
 * incarnation in the same cgroup still runs (it moves itself in). */
Test(child, cgroup_respawn_after_kill, .timeout = 60)
{
        char path[4200];
        int cg = tu_make_cgroup(path, sizeof(path), "child");
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "pause"), &out);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.flags |= PV_SPAWN_F_CGROUP;
        o.cgroup_fd = cg;
        o.grace_ms = 20;
        c = tu_spawn_ready(l, &o, &out);
        e = tu_stop_wait(c);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert(e.flags & PV_EXIT_F_ESCALATED);
        pv_child_release(c);

        struct tu_out out2 = { 0 };
        o = tu_helper_opts(TU_ARGV("cgroup", "exit", "7"), &out2);
        o.flags |= PV_SPAWN_F_CGROUP;
        o.cgroup_fd = cg;
        cr_assert_eq(tu_run_opts(l, &o, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_EXITED, "killed by %d at birth?", e.signal);
        cr_assert_eq(e.code, 7);
        cr_assert(strstr(out2.data, strrchr(path, '/')), "in '%s'", out2.data);
        pv_loop_free(l);
        close(cg);
        cr_assert_eq(rmdir(path), 0, "rmdir: %s", strerror(errno));
}

struct owned {
        int lines, exits;
};

static void release_owned(pv_child *c, int fd, const char *d, size_t n, unsigned f, void *ud)
{
        struct owned *o = ud;

        (void)fd, (void)d, (void)n;
        if (f & (PV_OUT_F_EOF | PV_OUT_F_CLOSED))
                return;
        o->lines++;
        pv_child_release(c);    /* a loop-owned child: does nothing */
}

static void count_owned_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)c, (void)e;
        ((struct owned *)ud)->exits++;
}

/* pv_child_release on a loop-owned child (spawned with ret == NULL) does
 * nothing: its callbacks keep coming. */
Test(child, release_of_loop_owned_is_noop)
{
        pv_loop *l = new_loop();
        struct owned ow = { 0 };
        struct pv_spawn_opts o =
                tu_helper_opts(TU_ARGV("print", "a", "print", "b", "print", "c"), NULL);

        o.stdio[1].mode = PV_STDIO_PIPE;
        o.on_output = release_owned;
        o.on_exit = count_owned_exit;
        o.userdata = &ow;
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(ow.lines, 3);
        cr_assert_eq(ow.exits, 1);
        pv_loop_free(l);
}

Test(child, stop_session_kills_grandchild)
{
        stop_kills_grandchild(PV_SPAWN_F_NEW_SESSION);
}

struct pdeath {
        pv_loop *l;
        pv_child *c;
};

static void *spawn_and_die(void *p)
{
        struct pdeath *d = p;
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);

        /* tu_helper_opts asks for PV_SPAWN_F_PDEATHSIG; pdeathsig 0 means
         * SIGKILL. */
        cr_assert_eq(pv_spawn(d->l, &o, &d->c, NULL), 0);
        return NULL;
}

/* PV_SPAWN_F_PDEATHSIG is delivered when the spawning thread ends, and its
 * default is SIGKILL. */
Test(child, pdeathsig_delivered)
{
        struct pdeath d = { .l = new_loop() };
        struct pv_exit e;
        pthread_t t;

        cr_assert_eq(pthread_create(&t, NULL, spawn_and_die, &d), 0);
        cr_assert_eq(pthread_join(t, NULL), 0);
        cr_assert_eq(pv_child_wait(d.c, 10000, &e), 0, "the child outlived its thread");
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        cr_assert_eq(e.flags, 0);
        pv_child_release(d.c);
        pv_loop_free(d.l);
}

Test(child, default_grace_is_5s)
{
        stop_escalates_after(0, 5000000);
}

/* A child that dumps core says so (core_dumped), as the kernel tells a
 * plain waitpid() in the same place. */
Test(child, core_dumped)
{
        char dir[] = "/tmp/pv-core-XXXXXX";
        struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY }, old;
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("kill-self", "6"), NULL);
        pv_loop *l = new_loop();
        struct pv_exit e;
        char cmd[64];
        int st;
        pid_t pid;

        cr_assert_not_null(mkdtemp(dir));
        cr_assert_eq(getrlimit(RLIMIT_CORE, &old), 0);
        if (setrlimit(RLIMIT_CORE, &unlimited) < 0)
                cr_skip_test("cannot allow core dumps here: %s", strerror(errno));
        pid = fork();
        if (pid == 0) {
                if (chdir(dir) == 0)
                        abort();
                _exit(1);
        }
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        if (!WIFSIGNALED(st) || !WCOREDUMP(st))
                cr_skip_test("the kernel dumps no core here (core_pattern, or the fs)");
        o.cwd = dir;
        cr_assert_eq(tu_run_opts(l, &o, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGABRT);
        cr_assert(e.core_dumped);
        cr_assert_eq(tu_run(l, TU_ARGV("kill-self", "15"), &e), 0);
        cr_assert_not(e.core_dumped);
        setrlimit(RLIMIT_CORE, &old);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
        pv_loop_free(l);
}

/* Before Linux 5.14 there is no cgroup.kill: the ladder SIGKILLs every pid
 * in cgroup.procs.  Played here by a read-only bind mount over cgroup.kill
 * (opening it for writing gives EROFS), in a mount namespace of a forked
 * process of our own. */
static int no_cgroup_kill(void *arg)
{
        const char *path = arg;
        char kill_file[4300], ro[] = "/tmp/pv-ro-XXXXXX";
        struct tu_out out = { 0 };
        struct pv_spawn_opts o =
                tu_helper_opts(TU_ARGV("ignore-term", "fork-grandchild", "ready", "pause"), &out);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;
        int cg, gc = 0, fd = mkstemp(ro);

        TU_SB_CHECK(fd >= 0);
        close(fd);
        snprintf(kill_file, sizeof(kill_file), "%s/cgroup.kill", path);
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(ro, kill_file, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, kill_file, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
                unlink(ro);
                return 77;
        }
        unlink(ro);
        TU_SB_CHECK(open(kill_file, O_WRONLY | O_CLOEXEC) < 0 && errno == EROFS);
        cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        TU_SB_CHECK(cg >= 0);
        TU_SB_CHECK(tu_loop_new(&l, NULL) == 0);
        o.flags |= PV_SPAWN_F_CGROUP;
        o.cgroup_fd = cg;
        o.grace_ms = 20;
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(tu_sb_wait_ready(l, &out));
        TU_SB_CHECK(sscanf(out.data, "grandchild=%d", &gc) == 1);
        TU_SB_CHECK(pv_child_stop(c) == 0);
        TU_SB_CHECK(pv_child_wait(c, 10000, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_KILLED && e.signal == SIGKILL);
        TU_SB_CHECK(e.flags & PV_EXIT_F_ESCALATED);
        TU_SB_CHECK(tu_wait_gone(gc));
        pv_child_release(c);
        pv_loop_free(l);
        close(cg);
        return 0;
}

Test(child, cgroup_without_cgroup_kill, .timeout = 60)
{
        char path[4200];
        int cg = tu_make_cgroup(path, sizeof(path), "child");

        close(cg);
        TU_SB_RUN(TU_SB_NOTHING, no_cgroup_kill, path);
        cr_assert_eq(rmdir(path), 0, "rmdir: %s", strerror(errno));
}
