/* SPDX-License-Identifier: MIT */
/* src/spawn-child.c, driven directly in a forked process: the paths the
 * running kernel does not take by itself (the /proc/self/fd walk used
 * before Linux 5.11, the error pipe used when a tool turns vfork into
 * fork) and stdio placement across slots. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pidvisor.h>
#include "../src/spawn.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(spawn_child, .timeout = 30);

extern char **environ;

/* Run pv__child_main(a) in a forked process; return its output on the fd
 * it got as a->stdio[1] (read from *out_r) and its wait status. */
static int run_child(struct pv__child_args *a, int out_r, int out_w, char *buf, size_t n)
{
        pid_t pid = fork();
        int st;
        ssize_t got = 0, r;

        cr_assert_geq(pid, 0);
        if (pid == 0) {
                close(out_r);
                pv__child_main(a);
                _exit(99); /* not reached */
        }
        close(out_w);
        if (a->err_fd >= 0)
                close(a->err_fd);
        while ((r = read(out_r, buf + got, n - 1 - (size_t)got)) > 0)
                got += r;
        buf[got] = '\0';
        close(out_r);
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        return st;
}

/* CLOSE_RANGE_CLOEXEC where the kernel (or sandbox) has it (5.11), asked
 * directly: the tests that do not test the walk run on older kernels too. */
static bool has_close_range(void)
{
        return syscall(436 /* close_range */, ~0U, ~0U, 1U << 2) == 0;
}

/* Without CLOSE_RANGE_CLOEXEC: the child walks its own /proc/self/fd or,
 * with no /proc (hide_proc), every fd below RLIMIT_NOFILE. */
static void fd_walk(bool hide_proc)
{
        const char *argv[] = { HELPER_PATH, "list-fds", NULL };
        int p[2], leaky, kept, st;
        char buf[256], want[64];

        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        leaky = open("/dev/null", O_RDONLY);      /* no O_CLOEXEC on purpose */
        kept = open("/dev/null", O_RDONLY);
        cr_assert(leaky >= 3 && kept >= 3);
        struct pv__child_args a = {
                .argv = argv, .envp = (const char *const *)environ,
                .stdio = { -1, p[1], -1 },
                .keep = &kept, .n_keep = 1,
                .close_range = false, .err_fd = -1, .cgroup_fd = -1,
        };
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                close(p[0]);
                /* No /proc for the child: a private mount namespace with
                 * a tmpfs over it (the helper lists fds with fcntl). */
                if (hide_proc) {
                        if (unshare(CLONE_NEWNS) < 0 ||
                            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                            mount("none", "/proc", "tmpfs", 0, NULL) < 0)
                                _exit(77);
                }
                pv__child_main(&a);
                _exit(99);
        }
        close(p[1]);
        ssize_t got = 0, r;
        while ((r = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
                got += r;
        buf[got] = '\0';
        close(p[0]);
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
                cr_skip_test("cannot make a mount namespace here (not root?)");
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x", st);
        snprintf(want, sizeof(want), "0 1 2 %d\n", kept);
        cr_assert_str_eq(buf, want);
        close(leaky);
        close(kept);
}

Test(spawn_child, proc_fd_walk_fallback)
{
        fd_walk(false);
}

Test(spawn_child, rlimit_walk_without_proc)
{
        fd_walk(true);
}

/* The error pipe: stage and -errno arrive as one 8-byte message, and the
 * child exits 127. */
Test(spawn_child, error_pipe)
{
        const char *argv[] = { "/nonexistent/prog", NULL };
        int p[2], e[2], st, msg[2];

        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
        struct pv__child_args a = {
                .argv = argv, .envp = (const char *const *)environ,
                .stdio = { -1, -1, -1 }, .close_range = has_close_range(),
                .err_fd = e[1], .cgroup_fd = -1,
        };
        char buf[8];
        st = run_child(&a, p[0], p[1], buf, sizeof(buf));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 127);
        cr_assert_eq(read(e[0], msg, sizeof(msg)), (ssize_t)sizeof(msg));
        cr_assert_eq(msg[0], PV_STAGE_EXEC);
        cr_assert_eq(msg[1], -ENOENT);
        close(e[0]);
}

/* Sources that sit on another slot of 0-2 are moved out of the way first:
 * the child's stdout is our fd 2 and its stderr our fd 1, swapped. */
Test(spawn_child, stdio_swap)
{
        const char *argv[] = { HELPER_PATH, "print", "to-out", "eprint", "to-err", NULL };
        int po[2], pe[2], st;
        char out[64] = "", err[64] = "";

        cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                /* Put the pipes on 1 and 2, then ask for them crossed. */
                dup2(pe[1], 1);
                dup2(po[1], 2);
                struct pv__child_args a = {
                        .argv = argv, .envp = (const char *const *)environ,
                        .stdio = { -1, 2, 1 }, .close_range = has_close_range(),
                        .err_fd = -1, .cgroup_fd = -1,
                };
                pv__child_main(&a);
                _exit(99);
        }
        close(po[1]);
        close(pe[1]);
        cr_assert_gt(read(po[0], out, sizeof(out) - 1), 0);
        cr_assert_gt(read(pe[0], err, sizeof(err) - 1), 0);
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* fd 1 of the child was our fd 2 = po: it printed to-out there. */
        cr_assert_str_eq(out, "to-out\n");
        cr_assert_str_eq(err, "to-err\n");
}
