/* SPDX-License-Identifier: MIT */
/* Seccomp sandboxes for the tests (sandbox.h says what a spec is). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

/* PIDFD_GET_INFO is _IOWR(0xFF, 11, struct pidfd_info) and the struct's
 * first version is 64 bytes; Debian 12's headers predate it (6.13). */
#define PIDFD_GET_INFO_64 _IOC(_IOC_READ | _IOC_WRITE, 0xFF, 11, 64)

/* Rules on an argument: the call matches when (arg & mask) == value.  The
 * kernel reads ioctl's request and waitid's idtype as 32-bit values, so the
 * upper half of their register must not matter. */
static const struct cond { const char *name; unsigned arg; uint64_t mask, value; } conds[] = {
        { "ioctl:PIDFD_GET_INFO", 1, 0xffffffffu, PIDFD_GET_INFO_64 },
        { "clone:CLONE_PIDFD", 0, 0x1000 /* CLONE_PIDFD */, 0x1000 },
        { "waitid:P_PIDFD", 0, 0xffffffffu, 3 /* P_PIDFD */ },
        /* flags is pidfd_send_signal's fourth argument; 1 << 2 is
         * PIDFD_SIGNAL_PROCESS_GROUP (6.9). */
        { "pidfd_send_signal:PGRP", 3, 1u << 2, 1u << 2 },
};

#define E(e) { #e, e }
static const struct { const char *name; int value; } errnos[] = {
        E(EPERM), E(ENOENT), E(ESRCH), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM),
        E(EACCES), E(EINVAL), E(EMFILE), E(ENOTTY), E(EROFS), E(ENOSYS), E(EOPNOTSUPP),
};
#undef E

/* sandbox.h documents each profile; a profile may name the ones it implies. */
static const struct { const char *name, *spec; } profiles[] = {
        { "docker-old", "pidfd_send_signal=EPERM,clone3=EPERM" },
        { "docker", "clone3=ENOSYS,io_uring_setup=EPERM" },
        { "pre-5.3", "clone:CLONE_PIDFD=EINVAL,clone3=ENOSYS,pidfd_open=ENOSYS,"
                     "pidfd_send_signal=ENOSYS,waitid:P_PIDFD=EINVAL,close_range=ENOSYS,"
                     "ioctl:PIDFD_GET_INFO=ENOTTY" },
        { "pre-5.4", "clone3=ENOSYS,waitid:P_PIDFD=EINVAL,pre-5.9" },
        { "pre-5.9", "close_range=ENOSYS,pre-6.9" },
        { "pre-6.9", "pidfd_send_signal:PGRP=EINVAL,pre-6.15" },
        { "pre-6.15", "ioctl:PIDFD_GET_INFO=ENOTTY" },
        { "no-uring", "io_uring_setup=ENOSYS" },
        { "no-pidfd-signal", "pidfd_send_signal=EPERM" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int add_list(scmp_filter_ctx ctx, const char *spec);

/* One rule or profile name. */
static int add_item(scmp_filter_ctx ctx, char *item)
{
        struct scmp_arg_cmp cmp;
        const struct cond *c = NULL;
        char *eq = strchr(item, '='), *colon;
        int nr, err = -1;

        for (size_t i = 0; i < N(profiles); i++)
                if (strcmp(item, profiles[i].name) == 0)
                        return add_list(ctx, profiles[i].spec);
        if (!eq)
                return -EINVAL;
        *eq = '\0';
        for (size_t i = 0; i < N(errnos); i++)
                if (strcmp(eq + 1, errnos[i].name) == 0)
                        err = errnos[i].value;
        for (size_t i = 0; i < N(conds); i++)
                if (strcmp(item, conds[i].name) == 0)
                        c = &conds[i];
        colon = strchr(item, ':');
        if (err < 0 || (colon && !c))
                return -EINVAL;
        if (colon)
                *colon = '\0';
        /* Negative: unknown, or a pseudo-call this architecture lacks. */
        nr = seccomp_syscall_resolve_name(item);
        if (nr < 0)
                return -EINVAL;
        if (!c)
                return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
        cmp = SCMP_CMP(c->arg, SCMP_CMP_MASKED_EQ, c->mask, c->value);
        return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(err), nr, 1, &cmp);
}

static int add_list(scmp_filter_ctx ctx, const char *spec)
{
        char item[128];
        size_t len;
        int r;

        do {
                len = strcspn(spec, ",");
                if (len == 0 || len >= sizeof(item))
                        return -EINVAL;
                memcpy(item, spec, len);
                item[len] = '\0';
                r = add_item(ctx, item);
                spec += len;
        } while (r >= 0 && *spec++);
        return r;
}

/* The whole filter, or nothing: parse every item before anything loads. */
static int build(const char *spec, scmp_filter_ctx *ret)
{
        scmp_filter_ctx ctx;
        int r;

        if (!spec)
                return -EINVAL;
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        /* Calls of another ABI (int 0x80, x32) are not ours to judge: only
         * the named calls may change.  SYSRAWRC: the kernel's errno back,
         * not libseccomp's -ECANCELED. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (r >= 0)
                r = add_list(ctx, spec);
        if (r < 0) {
                seccomp_release(ctx);
                return r;
        }
        *ret = ctx;
        return 0;
}

static int load(scmp_filter_ctx ctx)
{
        /* Without it an unprivileged process may not install a filter;
         * being explicit means root runs the same path as anyone. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        return seccomp_load(ctx);
}

int tu_sandbox_apply(const char *spec)
{
        scmp_filter_ctx ctx;
        int r = build(spec, &ctx);

        if (r < 0)
                return r;
        r = load(ctx);
        seccomp_release(ctx);
        return r;
}

static int fail_fd = -1;   /* the message pipe in a tu_sandbox_run child, else -1 */

void tu_sandbox_fail(const char *fmt, ...)
{
        char buf[512];  /* below PIPE_BUF: one atomic write */
        va_list ap;
        ssize_t n;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        n = write(fail_fd >= 0 ? fail_fd : STDERR_FILENO, buf, strlen(buf));
        (void)n;   /* if the message is lost, the exit status still tells */
        _exit(1);
}

/* Poll fd for ms at most: 1 once readable, 0 if not in time, or -errno.
 * Every signal is blocked meanwhile: none can cut the wait short (EINTR)
 * and none can stretch it; they arrive after. */
static int readable(int fd, int ms)
{
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
        sigset_t all;
        int r;

        sigfillset(&all);
        r = ppoll(&pfd, 1, &ts, &all);
        return r < 0 ? -errno : r;
}

/* Wait up to timeout_ms for our child pid to end, else SIGKILL it; reap it
 * either way.  Returns its wait status, -ETIMEDOUT if it was killed, or
 * -errno (then it was killed too). */
static int reap(pid_t pid, int timeout_ms)
{
        int fd = (int)syscall(__NR_pidfd_open, pid, 0), st;
        int r = fd < 0 ? -errno : readable(fd, timeout_ms);

        /* Unreaped, the pid is still our child's: kill cannot miss. */
        if (r <= 0 && kill(pid, SIGKILL) == 0) {
                r = r < 0 ? r : -ETIMEDOUT;
                /* SIGKILL cannot be caught, but dying takes a moment. */
                if (fd >= 0 && readable(fd, 10000) != 1) {
                        close(fd);
                        return -ETIME;   /* alive 10 s after SIGKILL: not reaped */
                }
        }
        if (fd >= 0)
                close(fd);
        /* Without a pidfd this waits for a SIGKILLed child: a short wait. */
        if (waitpid(pid, &st, fd >= 0 ? WNOHANG : 0) != pid)
                return -ECHILD;
        return r < 0 ? r : st;
}

/* msg = the printf of fmt (when there is room); returns r. */
static __attribute__((format(printf, 4, 5)))
int say(char *msg, size_t size, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (size)
                vsnprintf(msg, size, fmt, ap);
        va_end(ap);
        return r;
}

int tu_sandbox_run(const char *spec, int (*fn)(void *), void *arg, int timeout_ms,
                   char *msg, size_t msg_size)
{
        scmp_filter_ctx ctx;
        ssize_t n = 0;
        int p[2], r;
        pid_t pid;

        if (!fn || timeout_ms <= 0 || (!msg && msg_size))
                return -EINVAL;
        say(msg, msg_size, 0, "%s", "");
        /* Built here, so that a bad spec is an error of ours, not the child's. */
        r = build(spec, &ctx);
        if (r < 0)
                return say(msg, msg_size, r, "spec \"%s\": %s", spec ? spec : "(null)",
                           strerror(-r));
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = -errno;
                seccomp_release(ctx);
                return say(msg, msg_size, r, "pipe2: %s", strerror(-r));
        }
        pid = fork();
        if (pid == 0) {
                fail_fd = p[1];
                r = load(ctx);
                if (r < 0)
                        tu_sandbox_fail("installing \"%s\": %s", spec, strerror(-r));
                r = fn(arg);
                if (r < 0 || r > 255)
                        tu_sandbox_fail("fn returned %d", r);
                _exit(r);
        }
        r = pid < 0 ? -errno : reap(pid, timeout_ms);
        seccomp_release(ctx);
        close(p[1]);
        /* The child is gone: whatever it said is in the pipe already. */
        if (r >= 0 && msg_size > 1)
                n = read(p[0], msg, msg_size - 1);
        close(p[0]);
        if (n > 0)
                msg[n] = '\0';
        if (r == -ETIMEDOUT)
                return say(msg, msg_size, r, "still running after %d ms: killed", timeout_ms);
        if (r < 0)
                return say(msg, msg_size, r, "running the child: %s", strerror(-r));
        if (WIFSIGNALED(r))
                return say(msg, msg_size, 128 + WTERMSIG(r), "killed by signal %d (%s)",
                           WTERMSIG(r), strsignal(WTERMSIG(r)));
        r = WEXITSTATUS(r);
        if (r != 0 && n <= 0)
                return say(msg, msg_size, r, "exited with %d%s", r, r == 77 ? " (skip)" : "");
        return r;
}
