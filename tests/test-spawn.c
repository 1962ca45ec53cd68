/* SPDX-License-Identifier: MIT */
/* src/spawn.c and src/spawn-child.c: creating children, on every rung of
 * the fallback ladder, and exec errors that leave nothing behind. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(spawn, .timeout = 30);

/* A loop on a given rung; a rung this kernel lacks (asked of the kernel,
 * not of the library) is a skip, with why. */
static pv_loop *loop_on(int mech)
{
        pv_loop *l = tu_loop_on(mech);

        cr_assert_eq(pv_loop_mech(l), mech ? mech : pv_loop_mech(l));
        return l;
}

static int mechs[] = { PV_MECH_CLONE3, PV_MECH_CLONE, PV_MECH_VFORK };

ParameterizedTestParameters(spawn, exit_codes)
{
        return cr_make_param_array(int, mechs, sizeof(mechs) / sizeof(mechs[0]));
}

ParameterizedTest(int *mech, spawn, exit_codes)
{
        pv_loop *l = loop_on(*mech);
        static const int codes[] = { 0, 1, 255 };

        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
                char n[8];
                struct pv_exit e;

                snprintf(n, sizeof(n), "%d", codes[i]);
                cr_assert_eq(tu_run(l, TU_ARGV("exit", n), &e), 0);
                cr_assert_eq(e.kind, PV_EXIT_EXITED);
                cr_assert_eq(e.code, codes[i], "%s: exit %d gave %d",
                             pv_mech_name(*mech), codes[i], e.code);
                cr_assert_eq(e.flags, 0);
                cr_assert_gt(e.pid, 0);
        }
        pv_loop_free(l);
        cr_assert(tu_no_children());
}

ParameterizedTestParameters(spawn, exec_errors)
{
        return cr_make_param_array(int, mechs, sizeof(mechs) / sizeof(mechs[0]));
}

/* Exec errors come back from pv_spawn itself, synchronously, with the stage,
 * and leave no child, zombie or fd. */
ParameterizedTest(int *mech, spawn, exec_errors)
{
        int stage = -1;
        char dir[] = "/tmp/pv-test-XXXXXX";
        char noexec[64], badfmt[64];
        pv_loop *l = loop_on(*mech);
        int fd, base;

        cr_assert(mkdtemp(dir));
        snprintf(noexec, sizeof(noexec), "%s/noexec", dir);
        snprintf(badfmt, sizeof(badfmt), "%s/badfmt", dir);
        fd = open(noexec, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
        /* Executable, but neither ELF nor #!: ENOEXEC (we run no shell). */
        fd = open(badfmt, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "\x01\x02garbage\n", 10), 10);
        close(fd);

        struct { const char *path; int err; } cases[] = {
                { "/nonexistent/pv-missing", -ENOENT },
                { "pv-no-such-program-in-path", -ENOENT },
                { noexec, -EACCES },
                { badfmt, -ENOEXEC },
                { "/etc", -EACCES },
        };
        base = tu_count_fds();
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *argv[] = { cases[i].path, NULL };
                struct pv_spawn_opts o = tu_helper_opts(argv, NULL);
                pv_child *c = (pv_child *)0x1;
                int r;

                o.stdio[1].mode = PV_STDIO_PIPE; /* fds to leak, if we did */
                o.stdio[0].mode = PV_STDIO_NULL;
                r = pv_spawn(l, &o, &c, &stage);
                cr_assert_eq(r, cases[i].err, "%s: got %d (%s), want %d", cases[i].path,
                             r, strerror(-r), cases[i].err);
                cr_assert_eq(c, (pv_child *)0x1, "ret written on failure");
                cr_assert_eq(stage, PV_STAGE_EXEC);
                cr_assert_eq(pv_loop_count_unreaped(l), 0);
                cr_assert_eq(tu_count_fds(), base, "fd leaked");
                cr_assert(tu_no_children(), "zombie left");
        }
        unlink(noexec);
        unlink(badfmt);
        rmdir(dir);
        pv_loop_free(l);
}

Test(spawn, e2big)
{
        int stage = -1;
        pv_loop *l = loop_on(0);
        size_t n = 4 * 1024 * 1024;
        char *big = malloc(n);
        const char *argv[] = { "/bin/true", big, NULL };
        struct pv_spawn_opts o = tu_helper_opts(argv, NULL);

        memset(big, 'a', n - 1);
        big[n - 1] = '\0';
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -E2BIG);
        cr_assert_eq(stage, PV_STAGE_EXEC);
        cr_assert(tu_no_children());
        free(big);
        pv_loop_free(l);
}

Test(spawn, chdir_failure)
{
        int stage = -1;
        pv_loop *l = loop_on(0);
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        int base = tu_count_fds();

        o.cwd = "/nonexistent-dir/for-pidvisor";
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -ENOENT);
        cr_assert_eq(stage, PV_STAGE_CHDIR);
        o.cwd = "/etc/passwd";
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -ENOTDIR);
        cr_assert_eq(stage, PV_STAGE_CHDIR);
        cr_assert_eq(tu_count_fds(), base);
        cr_assert(tu_no_children());
        pv_loop_free(l);
}

Test(spawn, cwd_env_and_path_search)
{
        pv_loop *l = loop_on(0);
        struct tu_out out = { 0 };
        const char *env[] = { "PV_TEST=hello", "PATH=/nonexistent:/usr/bin:/bin", NULL };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pwd", "env", "PV_TEST", "env", "HOME"),
                                                &out);

        o.cwd = "/tmp";
        o.envp = env;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_str_eq(out.data, "/tmp\nhello\n(unset)\n");

        /* argv[0] without a '/' is searched in envp's PATH. */
        const char *argv[] = { "true", NULL };
        memset(&out, 0, sizeof(out));
        o = tu_helper_opts(argv, &out);
        o.envp = env;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(out.last.kind, PV_EXIT_EXITED);
        cr_assert_eq(out.last.code, 0);

        /* ... and not found when envp's PATH lacks it. */
        const char *env2[] = { "PATH=/nonexistent", NULL };
        o.envp = env2;
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), -ENOENT);
        pv_loop_free(l);
}

/* A host fd without O_CLOEXEC does not reach the child; a kept one does. */
Test(spawn, fds_closed_unless_kept)
{
        int stage = -1;
        pv_loop *l = loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("list-fds"), &out);
        int leaky = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
        int kept = open("/dev/null", O_RDONLY);
        char want[64];

        cr_assert_geq(leaky, 3);
        cr_assert_geq(kept, 3);
        o.stdio[0].mode = PV_STDIO_NULL;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_str_eq(out.data, "0 1 2\n", "child saw fds: %s", out.data);

        memset(&out, 0, sizeof(out));
        o.keep_fds = &kept;
        o.n_keep_fds = 1;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        snprintf(want, sizeof(want), "0 1 2 %d\n", kept);
        cr_assert_str_eq(out.data, want);
        /* The parent's kept fd keeps its own flags. */
        cr_assert_eq(fcntl(kept, F_GETFD), 0);

        int bad = 1000;
        o.keep_fds = &bad;
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -EBADF);
        cr_assert_eq(stage, PV_STAGE_SETUP);
        close(leaky);
        close(kept);
        pv_loop_free(l);
}

Test(spawn, stdio_modes)
{
        pv_loop *l = loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("read-stdin"), &out);
        char path[] = "/tmp/pv-stdio-XXXXXX";
        int fd = mkstemp(path);
        char buf[64] = { 0 };

        /* /dev/null stdin: EOF at once. */
        o.stdio[0].mode = PV_STDIO_NULL;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_str_eq(out.data, "stdin=0\n");

        /* A caller's fd as stdout; it stays the caller's. */
        cr_assert_geq(fd, 0);
        o = tu_helper_opts(TU_ARGV("print", "to-file"), NULL);
        o.stdio[1].mode = PV_STDIO_FD;
        o.stdio[1].fd = fd;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(pread(fd, buf, sizeof(buf) - 1, 0), 8);
        cr_assert_str_eq(buf, "to-file\n");
        cr_assert_geq(fcntl(fd, F_GETFD), 0, "caller's fd was closed");

        /* The same fd on two slots, and a low fd moved between slots: fd 1
         * of ours (whatever it is) as the child's stderr. */
        memset(&out, 0, sizeof(out));
        o = tu_helper_opts(TU_ARGV("eprint", "swapped"), &out);
        o.stdio[1].mode = PV_STDIO_PIPE;
        o.stdio[2].mode = PV_STDIO_FD;
        o.stdio[2].fd = fd;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(pread(fd, buf, sizeof(buf) - 1, 8), 8);
        close(fd);
        unlink(path);
        pv_loop_free(l);
}

/* In a host that runs with fds 0-2 closed, none of the library's fds may
 * take them: an inherited slot that is closed stays closed in the child,
 * and a piped slot is the child's own pipe.  (The write end of the child's
 * stdin pipe used to land on 1: cat then echoed into itself.)  Runs in a
 * forked process, bounded by alarm(), reporting through its exit code. */
static int closed_stdio_scenario(int mech)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("elist-fds", "read-stdin"), &out);
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        alarm(20);
        for (int fd = 0; fd < 3; fd++)
                close(fd);
        lo.mech = mech;
        if (tu_loop_new(&l, &lo) < 0)
                return 77;
        o.stdio[0].mode = PV_STDIO_PIPE;
        o.stdio[1].mode = PV_STDIO_INHERIT;    /* closed: must stay closed */
        o.stdio[2].mode = PV_STDIO_PIPE;
        if (pv_spawn(l, &o, &c, NULL) < 0)
                return 2;
        if (pv_child_write(c, "abc", 3) < 0 || pv_child_close_stdin(c) < 0)
                return 3;
        if (pv_child_wait(c, 10000, &e) < 0 || e.kind != PV_EXIT_EXITED)
                return 4;
        /* fds of the child: 0 and 2, and nothing on 1 (its stdout is
         * closed, so read-stdin's report goes nowhere). */
        if (strcmp(out.data, "0 2\n") != 0)
                return 5;
        pv_child_release(c);
        pv_loop_free(l);
        return 0;
}

Test(spawn, host_with_stdio_closed, .timeout = 60)
{
        for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
                pid_t pid = fork();
                int st;

                cr_assert_geq(pid, 0);
                if (pid == 0)
                        _exit(closed_stdio_scenario(mechs[i]));
                cr_assert_eq(waitpid(pid, &st, 0), pid);
                cr_assert(WIFEXITED(st), "%s: killed by %d", pv_mech_name(mechs[i]),
                          WTERMSIG(st));
                cr_assert(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77,
                          "%s: step %d failed", pv_mech_name(mechs[i]), WEXITSTATUS(st));
        }
}

Test(spawn, session_pgrp_pdeathsig)
{
        pv_loop *l = loop_on(0);
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pgid", "pdeathsig"), &out);
        int pid, pgid, sid, sig;

        o.flags = PV_SPAWN_F_NEW_PGRP | PV_SPAWN_F_PDEATHSIG;
        o.pdeathsig = SIGTERM;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(sscanf(out.data, "pid=%d pgid=%d sid=%d\n%d", &pid, &pgid, &sid, &sig), 4);
        cr_assert_eq(pgid, pid);
        cr_assert_eq(sid, getsid(0));
        cr_assert_eq(sig, SIGTERM);

        memset(&out, 0, sizeof(out));
        o.flags = PV_SPAWN_F_NEW_SESSION;
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(sscanf(out.data, "pid=%d pgid=%d sid=%d\n%d", &pid, &pgid, &sid, &sig), 4);
        cr_assert_eq(pgid, pid);
        cr_assert_eq(sid, pid);
        cr_assert_eq(sig, 0);
        pv_loop_free(l);
}

/* Bad arguments are -EINVAL (or -E2BIG for an unknown options tail), never
 * a crash, and leave nothing behind. */
Test(spawn, bad_arguments)
{
        int stage = -1;
        pv_loop *l = loop_on(0);
        const char *empty[] = { NULL };
        const char *emptystr[] = { "", NULL };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("exit", "0"), NULL);
        struct pv_spawn_opts bad;
        pv_child *c;
        int base = tu_count_fds();

        cr_assert_eq(pv_spawn(NULL, &o, &c, NULL), -EINVAL);
        cr_assert_eq(pv_spawn(l, NULL, &c, NULL), -EINVAL);
        bad = o; bad.argv = NULL;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.argv = empty;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.argv = emptystr;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.stdio[1].mode = 42;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.stdio[2].mode = -1;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.stdio[0].mode = PV_STDIO_FD; bad.stdio[0].fd = -3;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.flags = 1u << 20;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.flags = PV_SPAWN_F_PDEATHSIG; bad.pdeathsig = 99;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.n_keep_fds = 1;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        int low = 1;
        bad = o; bad.keep_fds = &low; bad.n_keep_fds = 1;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.size = 8;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        /* The bounds: a deadline whose nanoseconds would overflow, too
         * many keep fds, an output mode out of range in any slot. */
        bad = o; bad.deadline_ms = UINT64_MAX / 2000000 + 1;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        bad = o; bad.deadline_ms = UINT64_MAX / 2000000;
        cr_assert_eq(pv_spawn(l, &bad, NULL, NULL), 0, "the largest deadline is fine");
        int many[1] = { 3 };
        bad = o; bad.keep_fds = many; bad.n_keep_fds = 65537;
        cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL);
        for (int slot = 0; slot < 3; slot++) {
                bad = o; bad.stdio[slot].output = _PV_OUTPUT_MAX;
                cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL, "slot %d", slot);
                bad = o; bad.stdio[slot].output = -1;
                cr_assert_eq(pv_spawn(l, &bad, &c, NULL), -EINVAL, "slot %d", slot);
        }
        bad = o; bad.stdio[1].mode = PV_STDIO_FD; bad.stdio[1].fd = 987;
        cr_assert_eq(pv_spawn(l, &bad, &c, &stage), -EBADF);
        cr_assert_eq(stage, PV_STAGE_SETUP);

        /* A larger struct from a newer caller: fine if the tail is zero. */
        struct { struct pv_spawn_opts o; char tail[16]; } big = { .o = o };
        big.o.size = sizeof(big);
        cr_assert_eq(pv_spawn(l, &big.o, NULL, NULL), 0);
        big.tail[3] = 1;
        cr_assert_eq(pv_spawn(l, &big.o, NULL, NULL), -E2BIG);

        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(tu_count_fds(), base);
        pv_loop_free(l);
        cr_assert(tu_no_children());
}

Test(spawn, names)
{
        cr_assert_str_eq(pv_mech_name(PV_MECH_CLONE3), "clone3");
        cr_assert_str_eq(pv_mech_name(PV_MECH_VFORK), "vfork");
        cr_assert_null(pv_mech_name(_PV_MECH_MAX));
        cr_assert_null(pv_mech_name(-1));
        cr_assert_str_eq(pv_spawn_stage_name(PV_STAGE_EXEC), "exec");
        cr_assert_null(pv_spawn_stage_name(_PV_STAGE_MAX));
        cr_assert_str_eq(pv_backend_name(PV_BACKEND_EPOLL), "epoll");
        cr_assert_null(pv_backend_name(_PV_BACKEND_MAX));
}

static int cb_calls;
static void count_output(pv_child *c, int fd, const char *d, size_t n, unsigned f, void *ud)
{
        (void)c, (void)fd, (void)d, (void)n, (void)f, (void)ud;
        cb_calls++;
}
static void count_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)c, (void)e, (void)ud;
        cb_calls++;
}
static void count_drain(pv_child *c, void *ud)
{
        (void)c, (void)ud;
        cb_calls++;
}

/* A spawn that fails (in the parent, in the child before exec, at exec)
 * never invokes a callback, however long the loop runs after it; a spawn
 * that works reports its own pid. */
Test(spawn, no_callback_after_failure)
{
        int stage = -1;
        pv_loop *l = loop_on(0);
        const char *missing[] = { "/nonexistent/prog", NULL };
        struct pv_spawn_opts o = tu_helper_opts(missing, NULL);
        struct pv_exit e;
        pv_child *c;

        tu_pipe_all(&o);
        o.on_output = count_output;
        o.on_exit = count_exit;
        o.on_drain = count_drain;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), -ENOENT);
        o.argv = TU_ARGV("exit", "0");
        o.cwd = "/nonexistent/dir";
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -ENOENT);
        cr_assert_eq(stage, PV_STAGE_CHDIR);
        o.cwd = NULL;
        o.stdio[1].mode = PV_STDIO_FD;
        o.stdio[1].fd = 999;
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -EBADF);
        cr_assert_eq(stage, PV_STAGE_SETUP);
        o.flags = 1u << 30;
        stage = -1;
        cr_assert_eq(pv_spawn(l, &o, NULL, &stage), -EINVAL);
        cr_assert_eq(stage, PV_STAGE_SETUP, "argument errors are the setup stage");
        o.flags = 0;
        for (int i = 0; i < 5; i++)
                cr_assert_geq(pv_loop_dispatch(l, 10), 0);
        cr_assert_eq(cb_calls, 0, "a callback ran after a failed spawn");

        o.stdio[1].mode = PV_STDIO_PIPE;
        cr_assert_eq(pv_spawn(l, &o, &c, &stage), 0);
        cr_assert_eq(stage, PV_STAGE_NONE, "success writes PV_STAGE_NONE");
        cr_assert_eq(pv_child_wait(c, 10000, &e), 0);
        cr_assert_eq(e.pid, pv_child_pid(c));
        cr_assert_gt(e.pid, 0);
        cr_assert_geq(cb_calls, 1);
        pv_child_release(c);
        pv_loop_free(l);
}
