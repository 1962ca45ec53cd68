/* SPDX-License-Identifier: MIT */
/* src/loop.c: creation, dispatch, nesting, teardown, threads, and the
 * seed's leak cycles. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <malloc.h>
#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(loop, .timeout = 30);

/* pv_loop_new itself, not tu_loop_new: its own arguments, and what AUTO
 * picks (epoll, for now), on every backend's run. */
Test(loop, new_and_free)
{
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        pv_loop *l = (pv_loop *)0x1;
        int base = tu_count_fds();

        cr_assert_eq(pv_loop_new(NULL, NULL), -EINVAL);
        o.size = 4;
        cr_assert_eq(pv_loop_new(&l, &o), -EINVAL);
        o = (struct pv_loop_opts)PV_LOOP_OPTS_INIT;
        o.mech = 17;
        cr_assert_eq(pv_loop_new(&l, &o), -EINVAL);
        o.mech = 0;
        o.backend = -2;
        cr_assert_eq(pv_loop_new(&l, &o), -EINVAL);
        cr_assert_eq(l, (pv_loop *)0x1, "ret written on failure");
        struct { struct pv_loop_opts o; int tail; } big = { .o = PV_LOOP_OPTS_INIT, .tail = 1 };
        big.o.size = sizeof(big);
        cr_assert_eq(pv_loop_new(&l, &big.o), -E2BIG);
        big.tail = 0;
        cr_assert_eq(pv_loop_new(&l, &big.o), 0);
        cr_assert_geq(pv_loop_fd(l), 3);
        /* AUTO: io_uring where a deferred ring can be had, else epoll. */
        cr_assert_eq(pv_loop_backend(l),
                     tu_uring_lacks(true) ? PV_BACKEND_EPOLL : PV_BACKEND_URING);
        cr_assert_gt(pv_loop_mech(l), PV_MECH_AUTO);
        cr_assert_eq(pv_loop_count_unreaped(l), 0);
        cr_assert_eq(pv_loop_dispatch(l, 0), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        pv_loop_free(l);
        pv_loop_free(NULL);
        cr_assert_eq(tu_count_fds(), base);

        cr_assert_eq(pv_loop_fd(NULL), -EINVAL);
        cr_assert_eq(pv_loop_dispatch(NULL, 0), -EINVAL);
        cr_assert_eq(pv_loop_run(NULL), -EINVAL);
}

/* pv_loop_free with live children (released or not, stopping or not)
 * leaves no zombie and no fd. */
Test(loop, free_with_live_children)
{
        int fds = tu_count_fds(), threads = tu_count_threads();
        pv_loop *l;
        pv_child *c[4];

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        for (int i = 0; i < 4; i++) {
                struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "pause"), NULL);
                tu_pipe_all(&o);
                o.flags |= i == 3 ? PV_SPAWN_F_NEW_PGRP : 0;   /* pdeathsig kept */
                cr_assert_eq(pv_spawn(l, &o, &c[i], NULL), 0);
        }
        cr_assert_eq(pv_child_stop(c[1]), 0);
        pv_child_release(c[2]);
        cr_assert_eq(pv_loop_count_unreaped(l), 4);
        pv_loop_free(l);
        cr_assert(tu_no_children(), "zombie left by pv_loop_free");
        cr_assert_eq(tu_count_fds(), fds);
        cr_assert_eq(tu_count_threads(), threads);
}

/* A pv_loop nested in an outer epoll loop through pv_loop_fd(). */
Test(loop, nested_in_outer_epoll)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("print", "hi", "sleep", "20", "exit", "7"),
                                                &out);
        struct epoll_event ev = { .events = EPOLLIN };
        int ep = epoll_create1(EPOLL_CLOEXEC);
        pv_loop *l;
        int wakeups = 0;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, pv_loop_fd(l), &ev), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        while (out.exits == 0) {
                int n = epoll_wait(ep, &ev, 1, 10000);
                cr_assert_eq(n, 1, "outer epoll saw no readiness");
                wakeups++;
                cr_assert_geq(pv_loop_dispatch(l, 0), 0);
        }
        cr_assert_eq(out.last.code, 7);
        cr_assert_str_eq(out.data, "hi\n");
        cr_assert_geq(wakeups, 1);
        /* Nothing left to do: the fd is not readable any more. */
        cr_assert_eq(epoll_wait(ep, &ev, 1, 0), 0);
        close(ep);
        pv_loop_free(l);
}

/* Timers reach the outer loop too: a deadline with no child activity. */
Test(loop, nested_timer_readiness)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);
        struct epoll_event ev = { .events = EPOLLIN };
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        o.deadline_ms = 20;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, pv_loop_fd(l), &ev), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        while (!pv_child_is_reaped(c)) {
                cr_assert_eq(epoll_wait(ep, &ev, 1, 10000), 1);
                cr_assert_geq(pv_loop_dispatch(l, 0), 0);
        }
        cr_assert_eq(pv_child_get_exit(c, &e), 0);
        cr_assert(e.flags & PV_EXIT_F_DEADLINE);
        pv_child_release(c);
        close(ep);
        pv_loop_free(l);
}

/* The seed's own stress tests, in seconds: 1000 spawn/reap cycles of
 * /bin/true and 200 stop cycles of /bin/cat leave fds, threads and zombies
 * as they were, and a released child is freed: with the loop still alive,
 * neither its fds nor its heap grow past the first cycles.  (glibc's
 * mallinfo2; under ASan's allocator it reads 0 and only the fds count.) */
Test(loop, seed_cycles, .timeout = 120)
{
        const char *t[] = { "/bin/true", NULL };
        const char *cat[] = { "/bin/cat", NULL };
        int fds = tu_count_fds(), threads = tu_count_threads(), loop_fds = 0;
        size_t heap = 0;
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        for (int i = 0; i < 1000; i++) {
                if (i == 10) {
                        loop_fds = tu_count_fds();
                        heap = mallinfo2().uordblks;
                }
                struct pv_spawn_opts o = tu_helper_opts(t, NULL);
                struct pv_exit e;
                pv_child *c;

                tu_pipe_all(&o);
                cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0, "cycle %d", i);
                cr_assert_eq(pv_child_wait(c, 10000, &e), 0);
                cr_assert_eq(e.kind, PV_EXIT_EXITED);
                cr_assert_eq(e.code, 0);
                pv_child_release(c);
        }
        for (int i = 0; i < 200; i++) {
                struct pv_spawn_opts o = tu_helper_opts(cat, NULL);
                struct pv_exit e;
                pv_child *c;

                tu_pipe_all(&o);
                o.grace_ms = 5000;
                cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0, "cycle %d", i);
                e = tu_stop_wait(c);
                cr_assert_not(e.flags & PV_EXIT_F_ESCALATED, "cat needed SIGKILL");
                pv_child_release(c);
        }
        cr_assert_eq(pv_loop_count_unreaped(l), 0);
        cr_assert_eq(tu_count_fds(), loop_fds, "fds grew with the loop alive");
        cr_assert_lt(mallinfo2().uordblks, heap + 64 * 1024,
                     "heap grew from %zu to %zu bytes over 1190 released children", heap,
                     (size_t)mallinfo2().uordblks);
        pv_loop_free(l);
        cr_assert_eq(tu_count_fds(), fds);
        cr_assert_eq(tu_count_threads(), threads);
        cr_assert(tu_no_children());
}

/* Many children alive at once on one loop, all reaped. */
Test(loop, many_at_once, .timeout = 120)
{
        struct pv_exit e;
        pv_loop *l;
        int fds = tu_count_fds();
        struct tu_out out = { 0 };

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        for (int i = 0; i < 200; i++) {
                struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("sleep", "10", "exit", "4"), NULL);
                o.on_exit = tu_on_exit;
                o.userdata = &out;
                cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        }
        cr_assert_eq(pv_loop_count_unreaped(l), 200);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(out.exits, 200);
        e = out.last;
        cr_assert_eq(e.code, 4);
        pv_loop_free(l);
        cr_assert_eq(tu_count_fds(), fds);
        cr_assert(tu_no_children());
}

struct thread_arg {
        int n;
        int ok;
};

static void *spawner(void *p)
{
        struct thread_arg *a = p;
        pv_loop *l;

        if (tu_loop_new(&l, NULL) < 0)
                return NULL;
        for (int i = 0; i < a->n; i++) {
                const char *argv[] = { HELPER_PATH, "exit", "5", NULL };
                struct pv_spawn_opts o = tu_helper_opts(argv, NULL);
                struct pv_exit e;
                pv_child *c;

                o.stdio[1].mode = PV_STDIO_PIPE;
                if (pv_spawn(l, &o, &c, NULL) < 0)
                        break;
                if (pv_child_wait(c, 10000, &e) == 0 && e.kind == PV_EXIT_EXITED &&
                    e.code == 5)
                        a->ok++;
                pv_child_release(c);
        }
        pv_loop_free(l);
        return NULL;
}

/* Two loops in two threads spawning at once: each sees only its own
 * children, with exact statuses. */
Test(loop, two_threads, .timeout = 120)
{
        struct thread_arg a[2] = { { 200, 0 }, { 200, 0 } };
        pthread_t t[2];
        int fds = tu_count_fds();

        for (int i = 0; i < 2; i++)
                cr_assert_eq(pthread_create(&t[i], NULL, spawner, &a[i]), 0);
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        cr_assert_eq(a[0].ok, 200);
        cr_assert_eq(a[1].ok, 200);
        cr_assert_eq(tu_count_fds(), fds);
        cr_assert(tu_no_children());
}

/* How a process can fork.  The fork check must see every one: glibc's
 * _Fork() and the raw system calls run no pthread_atfork() handler. */
enum { FORK_GLIBC, FORK_UNDERSCORE, FORK_SYSCALL, FORK_CLONE, FORK_MAX };
#ifdef SYS_fork
#define FORK_SYSCALL_NAME "syscall(SYS_fork)"
#else
/* aarch64 and the newer architectures have no fork system call: clone3's
 * plain fork is the other raw one there. */
#define FORK_SYSCALL_NAME "syscall(SYS_clone3, exit_signal SIGCHLD)"
#endif
static const char *const fork_names[FORK_MAX] = { "fork()", "_Fork()", FORK_SYSCALL_NAME,
                                                  "syscall(SYS_clone, SIGCHLD)" };

static pid_t raw_fork(void)
{
#ifdef SYS_fork
        return (pid_t)syscall(SYS_fork);
#else
        struct clone_args ca = { .exit_signal = SIGCHLD };

        return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
#endif
}

static pid_t fork_by(int how)
{
        switch (how) {
        case FORK_GLIBC:
                return fork();
        case FORK_UNDERSCORE:
                return _Fork();
        case FORK_SYSCALL:
                return raw_fork();
        default:
                /* No CLONE_VM: a copy of our memory, as fork makes. */
                return (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
        }
}

/* Each entry point, called first in a fresh fork (l->forked is sticky, so
 * one call per fork tests that call's own check). */
enum { E_DISPATCH, E_SPAWN, E_STOP, E_SIGNAL, E_CLOSE_STDIN, E_WRITE, E_WAIT, E_MAX };

static int call_entry(int e, pv_loop *l, pv_child *c, const struct pv_spawn_opts *o)
{
        switch (e) {
        case E_DISPATCH:
                return pv_loop_dispatch(l, 0);
        case E_SPAWN:
                return pv_spawn(l, o, NULL, NULL);
        case E_STOP:
                return pv_child_stop(c);
        case E_SIGNAL:
                return pv_child_signal(c, SIGKILL);
        case E_CLOSE_STDIN:
                return pv_child_close_stdin(c);
        case E_WRITE:
                return pv_child_write(c, "x", 1);
        default:
                return pv_child_wait(c, 0, NULL);
        }
}

/* A loop used in a forked child process refuses with -ECHILD, however the
 * process forked, and freeing it there (an atexit handler, say) leaves the
 * parent's children alone. */
Test(loop, after_fork)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        o.stdio[0].mode = PV_STDIO_PIPE;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        for (int how = 0; how < FORK_MAX; how++) {
                for (int entry = 0; entry < E_MAX; entry++) {
                        pid_t pid;
                        int st;

                        fflush(NULL);
                        pid = fork_by(how);
                        cr_assert_geq(pid, 0, "%s: %s", fork_names[how], strerror(errno));
                        if (pid == 0) {
                                int r = call_entry(entry, l, c, &o);
                                /* Only where libc made the fork is its
                                 * malloc known to be usable. */
                                if (how == FORK_GLIBC)
                                        pv_loop_free(l);
                                _exit(r == -ECHILD ? 0 : 1);
                        }
                        cr_assert_eq(waitpid(pid, &st, 0), pid);
                        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                                  "after %s, entry %d did not say -ECHILD", fork_names[how], entry);
                }
        }
        cr_assert(tu_pid_alive(pv_child_pid(c)), "a forked process killed our child");
        /* The forks changed nothing here: the loop is still ours. */
        cr_assert_eq(pv_loop_dispatch(l, 0), 0);
        cr_assert_eq(pv_child_write(c, "x", 1), 0);
        cr_assert_eq(pv_child_signal(c, SIGUSR2), 0);
        cr_assert_eq(pv_child_wait(c, 30000, &e), 0);
        cr_assert_eq(e.signal, SIGUSR2);
        pv_child_release(c);
        pv_loop_free(l);
}

/* A fork check made by every public call must not cost a system call: in
 * a process where getpid() fails, a loop made before keeps working (an
 * uncached check would read -EPERM as another pid and say -ECHILD), and a
 * fork is still seen. */
static int no_getpid(void *unused)
{
        /* It reads stdin to EOF, so a write cannot find the pipe broken. */
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("read-stdin", "exit", "3"), NULL);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;
        pid_t pid;
        int st;

        (void)unused;
        o.stdio[0].mode = PV_STDIO_PIPE;
        TU_SB_CHECK(tu_loop_new(&l, NULL) == 0);
        TU_SB_CHECK(tu_sandbox_apply("getpid=EPERM") == 0);
        TU_SB_CHECK(syscall(SYS_getpid) == -1 && errno == EPERM);
        TU_SB_CHECK(pv_loop_dispatch(l, 0) == 0);
        TU_SB_CHECK(pv_spawn(l, &o, &c, NULL) == 0);
        TU_SB_CHECK(pv_child_write(c, "x", 1) == 0);
        TU_SB_CHECK(pv_child_close_stdin(c) == 0);
        TU_SB_CHECK(pv_child_wait(c, 10000, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_EXITED && e.code == 3);
        pv_child_release(c);
        pid = raw_fork();
        TU_SB_CHECK(pid >= 0);
        if (pid == 0)
                _exit(pv_loop_dispatch(l, 0) == -ECHILD ? 0 : 1);
        TU_SB_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        pv_loop_free(l);
        return 0;
}

Test(loop, fork_check_without_syscall)
{
        char msg[512];
        /* The filter that matters is added inside, once the loop exists. */
        int r = tu_sandbox_run(TU_SB_NOTHING, no_getpid, NULL, 30000, msg, sizeof(msg));

        cr_assert_eq(r, 0, "%s", msg);
}

/* pv_loop_free kills what is left, with its whole process group (or
 * session), and runs no callback: no output, no end of stream, no exit. */
Test(loop, free_kills_groups_without_callbacks)
{
        const unsigned flags[] = { PV_SPAWN_F_NEW_PGRP, PV_SPAWN_F_NEW_SESSION };

        for (int i = 0; i < 2; i++) {
                struct tu_out out = { 0 };
                struct pv_spawn_opts o =
                        tu_helper_opts(TU_ARGV("fork-grandchild", "ignore-term", "ready", "pause"),
                                       &out);
                pv_loop *l;
                pv_child *c;
                int gc = 0, calls;

                cr_assert_eq(tu_loop_new(&l, NULL), 0);
                o.flags |= flags[i];
                c = tu_spawn_ready(l, &o, &out);
                cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
                calls = out.calls;
                (void)c;        /* not released: pv_loop_free frees it */
                pv_loop_free(l);
                cr_assert_eq(out.calls, calls, "output callback during pv_loop_free");
                cr_assert_eq(out.exits, 0, "exit callback during pv_loop_free");
                cr_assert_eq(out.ends[1] | out.ends[2], 0, "end of stream during pv_loop_free");
                cr_assert(tu_wait_gone(gc), "grandchild %d survived pv_loop_free", gc);
                cr_assert(tu_no_children());
        }
}

/* pv_loop_dispatch returns how many ready fds it handled: 0 when there
 * was nothing, at least 1 for each wake-up with work. */
Test(loop, dispatch_return_value)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("print", "x", "exit", "0"), &out);
        pv_loop *l;
        int handled = 0;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_loop_dispatch(l, 0), 0);
        cr_assert_eq(pv_loop_dispatch(l, 10), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        while (out.exits == 0) {
                int r = pv_loop_dispatch(l, 10000);
                cr_assert_gt(r, 0, "woke with nothing handled, or timed out");
                handled += r;
        }
        /* The pidfd, and stdout and stderr (unless they ended in the exit's
         * drain): at least one. */
        cr_assert_geq(handled, 1);
        cr_assert_eq(pv_loop_dispatch(l, 0), 0);
        cr_assert_eq(pv_loop_dispatch(NULL, 0), -EINVAL);
        pv_loop_free(l);
}

/* pv_loop_free() from inside a callback: deferred to the end of the
 * dispatch, so the rest of the batch and the callback's own tail touch no
 * freed memory (ASan in CI); no callback runs after it; the dispatch
 * returns -ECANCELED, as do pv_loop_run() and pv_child_wait() around it;
 * every other child is killed and reaped, every fd closed. */
static pv_loop *free_loop;
static int free_calls_after, free_in_cb_ret;
static bool freed;

static void free_on_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)e;
        (void)ud;
        if (freed) {
                free_calls_after++;
                return;
        }
        pv_loop_free(free_loop);
        freed = true;
        /* The loop is still there for the rest of this callback, closed. */
        free_in_cb_ret = pv_child_stop(c);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        cr_assert_eq(pv_spawn(free_loop, &o, NULL, NULL), -ECANCELED);
}

static void free_on_output(pv_child *c, int fd, const char *d, size_t n, unsigned f, void *u)
{
        (void)c; (void)fd; (void)d; (void)n; (void)f; (void)u;
        if (freed)
                free_calls_after++;
}

ParameterizedTestParameters(loop, free_from_callback)
{
        static int how[] = { 0, 1, 2 };        /* dispatch, run, child_wait */
        return cr_make_param_array(int, how, 3);
}

ParameterizedTest(int *how, loop, free_from_callback)
{
        int fds = tu_count_fds();
        pv_child *waited = NULL;
        int r;

        freed = false;
        free_calls_after = 0;
        free_in_cb_ret = 0;
        cr_assert_eq(tu_loop_new(&free_loop, NULL), 0);
        for (int i = 0; i < 6; i++) {
                /* One exits at once; the others hold on, printing. */
                struct pv_spawn_opts o = tu_helper_opts(
                        i == 0 ? TU_ARGV("exit", "0") : TU_ARGV("ignore-term", "pause"), NULL);
                tu_pipe_all(&o);
                o.on_exit = free_on_exit;
                o.on_output = free_on_output;
                cr_assert_eq(pv_spawn(free_loop, &o, i == 0 && *how == 2 ? &waited : NULL, NULL),
                             0);
        }
        if (*how == 0) {
                /* Bounded: 1000 dispatches of at most 10 s (the suite's
                 * timeout is shorter still). */
                r = 0;
                for (int i = 0; i < 1000 && r >= 0 && !freed; i++)
                        r = pv_loop_dispatch(free_loop, 10000);
        } else if (*how == 1) {
                r = pv_loop_run(free_loop);
        } else {
                r = pv_child_wait(waited, 10000, NULL);
        }
        cr_assert_eq(r, -ECANCELED, "got %d", r);
        cr_assert(freed);
        cr_assert_eq(free_in_cb_ret, -ECANCELED);
        cr_assert_eq(free_calls_after, 0, "a callback ran after pv_loop_free");
        cr_assert(tu_no_children(), "a child of the freed loop was left");
        cr_assert_eq(tu_count_fds(), fds);
}
