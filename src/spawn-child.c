/* SPDX-License-Identifier: MIT */
/*
 * The child side of spawn: from clone to execve.
 *
 * The child runs on the parent's memory (CLONE_VM) while the parent waits
 * (CLONE_VFORK, or a futex on the vfork rung, with every signal blocked),
 * and shares the parent thread's TLS, errno included.  So everything here
 * is async-signal-safe by construction: raw system calls from src/syscall.h
 * only, no libc call (not even memcpy, which could go through a lazily
 * bound PLT entry), no allocation, no lock, no errno.  Makefile.am builds this file without sanitizers and without
 * loop-to-memcpy conversion: their runtimes are not safe here.
 *
 * Errors go back to the parent through a->err/a->stage (the memory is
 * shared) and, when a->err_fd is set, through a CLOEXEC pipe (musl's
 * posix_spawn protocol; used when a tool such as valgrind turns the vfork
 * into a fork).  Then the child exits with 127, and the parent reaps it.
 */
#include <limits.h>
#include <pidvisor.h>
#include <sys/prctl.h>

#include "spawn.h"
#include "syscall.h"

/* Flags can be overridden by the user's CFLAGS; attributes cannot.  Every
 * function here carries these, so that no instrumentation calls out. */
#ifndef __has_attribute
#define __has_attribute(x) 0
#endif
#if __has_attribute(no_stack_protector)
#define PV_NO_SSP __attribute__((no_stack_protector))
#else
#define PV_NO_SSP
#endif
#define CHILD_CODE PV_NO_SSP __attribute__((no_sanitize("address", "undefined"), \
                                            no_instrument_function))

static CHILD_CODE __attribute__((noreturn)) void fail(struct pv__child_args *a,
                                                      int stage, int err)
{
        a->stage = stage;
        a->err = err;
        if (a->err_fd >= 0) {
                int msg[2] = { stage, err };
                /* sizeof msg < PIPE_BUF: the write is atomic. */
                (void)sys_write(a->err_fd, msg, sizeof(msg));
        }
        sys_exit_group(127);
}

static CHILD_CODE void reset_signals(struct pv__child_args *a)
{
        /* No handler of the parent's can run here on the parent's memory:
         * on the clone3 rung CLONE_CLEAR_SIGHAND reset every handler to
         * SIG_DFL before we ran, and on the others the parent blocked every
         * signal before clone.  Reset every disposition, SIG_IGN included
         * (a host that ignores SIGPIPE must not hand that to its children;
         * systemd and libuv do the same), then open the mask: a host that
         * blocks signals would otherwise make its children deaf to SIGTERM.
         *
         * All 62, blindly: reading /proc/self/status to reset only those
         * its SigIgn and SigCgt name takes 3 calls instead of 62, but in a
         * freshly cloned child it costs twice the time (2026-12-01, Linux
         * 6.18, CLOCK_THREAD_CPUTIME_ID around the calls in a CLONE_VM |
         * CLONE_VFORK child: about 28 us of CPU, 14 of them the open, which
         * builds the new pid's /proc entries; the 62 rt_sigaction about
         * 14 us), and a spawn cycle took 1.05 times the floor's time with
         * it against 1.02-1.03 without (stress/bench-spawn).  Asking the
         * parent's status instead would race with a host thread changing
         * a disposition between the read and the clone. */
        struct pv__ksigaction dfl;
        uint64_t empty = 0;
        int r;

        /* Field by field: an initializer may become a memset call. */
        dfl.handler = SIG_DFL;
        dfl.flags = 0;
        dfl.restorer = NULL;
        dfl.mask = 0;
        for (int sig = 1; sig <= PV__NSIG; sig++) {
                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                r = sys_sigaction(sig, &dfl, NULL);
                if (r < 0 && r != -EINVAL)
                        fail(a, PV_STAGE_SIGNALS, r);
        }
        r = sys_sigprocmask(SIG_SETMASK, &empty, NULL);
        if (r < 0)
                fail(a, PV_STAGE_SIGNALS, r);
}

static CHILD_CODE void setup_session(struct pv__child_args *a)
{
        int r = 0;

        if (a->flags & PV_SPAWN_F_NEW_SESSION)
                r = sys_setsid();
        else if (a->flags & PV_SPAWN_F_NEW_PGRP)
                r = sys_setpgid(0, 0);
        if (r < 0)
                fail(a, PV_STAGE_SESSION, r);

        if (a->pdeathsig) {
                r = sys_prctl(PR_SET_PDEATHSIG, (unsigned long)a->pdeathsig);
                if (r < 0)
                        fail(a, PV_STAGE_PDEATHSIG, r);
                /* The parent may have died before the prctl took hold. */
                if (sys_getppid() != a->parent_pid)
                        fail(a, PV_STAGE_PDEATHSIG, -ESRCH);
        }
}

static CHILD_CODE void setup_stdio(struct pv__child_args *a)
{
        int src[3];
        int r;

        /* First move any source that sits on another slot of 0-2 out of
         * the way, so placing fd i cannot clobber the source of fd j. */
        for (int i = 0; i < 3; i++) {
                src[i] = a->stdio[i];
                if (src[i] >= 0 && src[i] < 3 && src[i] != i) {
                        r = sys_fcntl(src[i], F_DUPFD_CLOEXEC, 3);
                        if (r < 0)
                                fail(a, PV_STAGE_STDIO, r);
                        src[i] = r;
                }
        }
        for (int i = 0; i < 3; i++) {
                if (src[i] < 0 || src[i] == i) {
                        /* Inherited (or already in place): make sure exec
                         * keeps it; a closed fd stays closed. */
                        r = sys_fcntl(i, F_SETFD, 0);
                        if (r == -EBADF && src[i] < 0)
                                r = 0;
                } else {
                        r = sys_dup3(src[i], i, 0);
                }
                if (r < 0)
                        fail(a, PV_STAGE_STDIO, r);
        }
}

static CHILD_CODE bool is_kept(const struct pv__child_args *a, int fd)
{
        for (size_t i = 0; i < a->n_keep; i++)
                if (a->keep[i] == fd)
                        return true;
        return false;
}

/* Fallback for kernels without CLOSE_RANGE_CLOEXEC (before 5.11): walk
 * our own /proc/self/fd, opened here so that it lists the child's table
 * (the parent's could change under us), or without /proc, try every fd
 * below RLIMIT_NOFILE.  Delete when 5.11 is our floor. */
static CHILD_CODE int cloexec_by_walking(struct pv__child_args *a)
{
        char buf[4096] __attribute__((aligned(8)));
        int dir = sys_openat(AT_FDCWD, "/proc/self/fd",
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        long n;

        if (dir < 0) {
                struct rlimit rl;
                int r = sys_getrlimit(RLIMIT_NOFILE, &rl);

                if (r < 0)
                        return r;
                for (unsigned long fd = 3; fd < rl.rlim_cur && fd < (1ul << 30); fd++)
                        if (!is_kept(a, (int)fd))
                                (void)sys_fcntl((int)fd, F_SETFD, FD_CLOEXEC);
                return 0;
        }
        while ((n = sys_getdents64(dir, buf, sizeof(buf))) > 0) {
                for (long off = 0; off < n;) {
                        /* struct linux_dirent64: ino 8, off 8, reclen 2,
                         * type 1, name. */
                        unsigned short reclen;
                        const char *name = buf + off + 19;
                        int fd = 0;
                        bool num = *name != '\0';

                        reclen = (unsigned short)((unsigned char)buf[off + 16] |
                                                  (unsigned char)buf[off + 17] << 8);
                        for (const char *p = name; *p; p++) {
                                if (*p < '0' || *p > '9') {
                                        num = false;
                                        break;
                                }
                                fd = fd * 10 + (*p - '0');
                        }
                        off += reclen;
                        if (!num || fd < 3 || fd == dir || is_kept(a, fd))
                                continue;
                        int r = sys_fcntl(fd, F_SETFD, FD_CLOEXEC);
                        if (r < 0 && r != -EBADF) {
                                sys_close(dir);
                                return r;
                        }
                }
        }
        sys_close(dir);
        return (int)(n < 0 ? n : 0);
}

static CHILD_CODE void setup_fds(struct pv__child_args *a)
{
        unsigned lo = 3;
        int r;

        for (size_t i = 0; i < a->n_keep; i++) {
                /* The parent's copy keeps its flag: we clear it only in the
                 * child's own fd table (no CLONE_FILES). */
                r = sys_fcntl(a->keep[i], F_SETFD, 0);
                if (r < 0)
                        fail(a, PV_STAGE_FDS, r);
        }
        if (!a->close_range) {
                r = cloexec_by_walking(a);
                if (r < 0)
                        fail(a, PV_STAGE_FDS, r);
                return;
        }
        for (size_t i = 0; i < a->n_keep; i++) {
                unsigned k = (unsigned)a->keep[i];
                if (k > lo) {
                        r = sys_close_range(lo, k - 1, CLOSE_RANGE_CLOEXEC);
                        if (r < 0)
                                fail(a, PV_STAGE_FDS, r);
                }
                lo = k + 1;
        }
        r = sys_close_range(lo, ~0U, CLOSE_RANGE_CLOEXEC);
        if (r < 0)
                fail(a, PV_STAGE_FDS, r);
}

/* Where the clone could not place us in the cgroup (no CLONE_INTO_CGROUP
 * on the clone and vfork rungs, or a cgroup whose cgroup.kill was written,
 * which kills every later CLONE_INTO_CGROUP child at birth): move
 * ourselves, before anything can fork.  "0" means the writer. */
static CHILD_CODE void join_cgroup(struct pv__child_args *a)
{
        int fd, r;

        do
                fd = sys_openat(a->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC, 0);
        while (fd == -EINTR);
        if (fd < 0)
                fail(a, PV_STAGE_CGROUP, fd);
        do
                r = (int)sys_write(fd, "0", 1);
        while (r == -EINTR);
        sys_close(fd);
        if (r < 0)
                fail(a, PV_STAGE_CGROUP, r);
}

static CHILD_CODE bool has_slash(const char *s)
{
        for (; *s; s++)
                if (*s == '/')
                        return true;
        return false;
}

/* execvp's search, without malloc: try dir/file for each PATH entry.
 * EACCES on one entry does not stop the search but is what we report if
 * nothing else works (glibc and musl behave the same). */
static CHILD_CODE int exec_search(struct pv__child_args *a)
{
        char buf[PATH_MAX];
        const char *file = a->argv[0];
        const char *p = a->path;
        bool eacces = false;
        int r = -ENOENT;

        for (;;) {
                const char *end = p;
                size_t n = 0;

                while (*end && *end != ':')
                        end++;
                /* An empty entry means the current directory. */
                for (const char *q = p; q < end && n < sizeof(buf) - 1; q++)
                        buf[n++] = *q;
                if (n == 0)
                        buf[n++] = '.';
                if (n < sizeof(buf) - 1)
                        buf[n++] = '/';
                const char *f = file;
                while (*f && n < sizeof(buf) - 1)
                        buf[n++] = *f++;
                buf[n] = '\0';

                if (*f || (size_t)(end - p) >= sizeof(buf) - 1) {
                        r = -ENAMETOOLONG;
                } else {
                        r = sys_execve(buf, a->argv, a->envp);
                        switch (r) {
                        case -EACCES:
                                eacces = true;
                                break;
                        case -ENOENT:
                        case -ENOTDIR:
                        case -ESTALE:
                        case -ENODEV:
                        case -ETIMEDOUT:
                                break;  /* as glibc's execvp: try the next */
                        default:
                                return r;
                        }
                }
                if (!*end)
                        break;
                p = end + 1;
        }
        return eacces ? -EACCES : r;
}

CHILD_CODE int pv__child_main(void *args)
{
        struct pv__child_args *a = args;
        int r;

        a->started = 1;
        if (a->cgroup_fd >= 0)
                join_cgroup(a);
        reset_signals(a);
        setup_session(a);
        setup_stdio(a);
        setup_fds(a);
        if (a->cwd) {
                r = sys_chdir(a->cwd);
                if (r < 0)
                        fail(a, PV_STAGE_CHDIR, r);
        }
        if (!a->path || has_slash(a->argv[0]))
                r = sys_execve(a->argv[0], a->argv, a->envp);
        else
                r = exec_search(a);
        fail(a, PV_STAGE_EXEC, r);
}

CHILD_CODE int pv__child_pinned(void *p)
{
        struct pv__pin *pin = p;
        int go;

        /* A futex in the memory we share: no fd that a fork elsewhere in
         * the host could copy.  Every signal is blocked here (spawn.c). */
        while ((go = __atomic_load_n(&pin->go, __ATOMIC_ACQUIRE)) == 0)
                (void)sys_futex_wait(&pin->go, 0);
        if (go != 1)
                sys_exit_group(127);
        return pin->fn(pin->arg);
}
