/* SPDX-License-Identifier: MIT */
/*
 * pidvisor: supervise one program from the shell.  Its stdin is copied to
 * the program's (a pipe, so that a stop can close it), the program's stdout
 * is pidvisor's own, its stderr lines go to pidvisor's stderr with an
 * optional prefix, and SIGTERM/SIGINT/SIGHUP start the graceful stop (a
 * second one kills at once).  The exit status says how the program ended.
 *
 * The command, unlike the library, may handle its own signals: it blocks
 * them and reads them from a signalfd in the same epoll set as the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <pidvisor.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "opts.h"
#include "report.h"

static struct opts opt;

static struct {
        pv_loop *loop;
        pv_child *child;
        bool exited;
        struct pv_exit exit;
        bool err_line_start;
        bool stdin_on;           /* fd 0 is being read */
        bool stdin_epoll;        /* fd 0 is in the epoll set */
        bool stdin_paused;       /* the child's queue is at its mark */
        int signals;             /* stop signals received */
        int ep;
        struct tree_cgroup cg;   /* --kill-tree in a cgroup: fd >= 0 */
} st = { .err_line_start = true, .cg = { .fd = -1 } };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
        va_list ap;

        if (opt.quiet)
                return;
        va_start(ap, fmt);
        fputs("pidvisor: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* --features: what this machine offers. */
static void print_features(void)
{
        printf("spawn mechanisms:");
        for (int m = PV_SPAWN_CLONE3; m < _PV_SPAWN_MAX; m++) {
                struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
                pv_loop *l;
                lo.spawn_mech = m;
                if (pv_loop_new(&l, &lo) == 0) {
                        printf(" %s", pv_spawn_mech_name(m));
                        pv_loop_free(l);
                }
        }
        pv_loop *l;
        if (pv_loop_new(&l, NULL) == 0) {
                printf(" (in use: %s)\nbackend: %s\n",
                       pv_spawn_mech_name(pv_loop_spawn_mech(l)),
                       pv_backend_name(pv_loop_backend(l)));
                pv_loop_free(l);
        } else {
                printf(" none: no pidfd support\n");
        }
        struct tree_cgroup cg;
        int e = cgroup_make(&cg);
        if (e == 0) {
                printf("kill tree: cgroup v2, under %s (cgroup.kill: %s)\n", cg.path,
                       cgroup_has_kill(&cg) ? "yes" : "no, SIGKILL to each");
                (void)cgroup_remove(&cg);
        } else {
                printf("kill tree: process group (no writable cgroup v2: %s)\n",
                       strerror(-e));
        }
}

/* ---- the program's stderr ------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;         /* our stderr is gone: drop */
                p += w;
                n -= (size_t)w;
        }
}

static void write_prefix(pv_child *c)
{
        char buf[80];
        int n = 0;

        if (opt.prefix & PREFIX_TIME) {
                struct timespec ts;
                struct tm tm;
                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                n += (int)strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%03ldZ ",
                              ts.tv_nsec / 1000000);
        }
        if (opt.prefix & PREFIX_PID)
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, "[%d] ", (int)pv_child_pid(c));
        write_all(2, buf, (size_t)n);
}

static void on_stderr(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                      void *ud)
{
        (void)fd;
        (void)ud;
        if (flags & (PV_OUT_EOF | PV_OUT_CLOSED))
                return;
        if (st.err_line_start && opt.prefix)
                write_prefix(c);
        write_all(2, data, len);
        st.err_line_start = !(flags & PV_OUT_PARTIAL);
        if (st.err_line_start)
                write_all(2, "\n", 1);  /* a partial last line still ends */
}

static void on_exit_cb(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)c;
        (void)ud;
        st.exited = true;
        st.exit = *e;
}

/* ---- pidvisor's stdin -------------------------------------------------- */

static void stdin_watch(bool on)
{
        if (!st.stdin_epoll)
                return;
        struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u32 = 0 };
        epoll_ctl(st.ep, EPOLL_CTL_MOD, 0, &ev);
}

static void stdin_end(void)
{
        if (!st.stdin_on)
                return;
        st.stdin_on = false;
        if (st.stdin_epoll)
                epoll_ctl(st.ep, EPOLL_CTL_DEL, 0, NULL);
        pv_child_close_stdin(st.child);
}

static void on_drain(pv_child *c, void *ud)
{
        (void)c;
        (void)ud;
        st.stdin_paused = false;
        stdin_watch(true);
}

/* Copy what stdin has to the child, never blocking the loop. */
static void stdin_ready(void)
{
        static char buf[65536];
        ssize_t n = read(0, buf, sizeof(buf));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                stdin_end();
                return;
        }
        int r = pv_child_write(st.child, buf, (size_t)n);
        if (r < 0) {
                /* The program closed its stdin or exited: stop copying. */
                st.stdin_on = false;
                if (st.stdin_epoll)
                        epoll_ctl(st.ep, EPOLL_CTL_DEL, 0, NULL);
        } else if (r == 1) {
                st.stdin_paused = true;
                stdin_watch(false);
        }
}

/* ---- signals ----------------------------------------------------------- */

static void kill_group(void)
{
        if (st.cg.fd >= 0)
                cgroup_signal_all(&st.cg, SIGKILL);
        else if (opt.kill_tree)
                kill(-pv_child_pid(st.child), SIGKILL);
}

static void signal_ready(int sfd)
{
        struct signalfd_siginfo si;

        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (st.exited)
                        continue;
                if (st.signals++ == 0) {
                        say("%s: stopping '%s' (grace %llums)", strsignal((int)si.ssi_signo),
                            opt.argv[0], (unsigned long long)opt.grace_ms);
                        int r = pv_child_stop(st.child);
                        if (r < 0)
                                say("cannot stop '%s': %s", opt.argv[0], strerror(-r));
                } else {
                        say("%s again: killing '%s'", strsignal((int)si.ssi_signo), opt.argv[0]);
                        pv_child_signal(st.child, SIGKILL);
                        kill_group();
                }
        }
}

/* ---- the tree, after the program ------------------------------------ */

/* What the program left in its cgroup gets what the program got: SIGTERM
 * and a grace period (from its exit), then cgroup.kill; a second signal to
 * pidvisor cuts the grace short.  Then the cgroup is removed. */
static void wind_down_tree(int sfd)
{
        int events = cgroup_events_fd(&st.cg);

        if (cgroup_populated(events) && st.signals < 2) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                int64_t end = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000 +
                              (int64_t)opt.grace_ms;
                int ep = epoll_create1(EPOLL_CLOEXEC);
                struct epoll_event ev = { .events = EPOLLPRI, .data.u32 = 0 };
                int lfd = pv_loop_fd(st.loop);

                cgroup_signal_all(&st.cg, SIGTERM);
                cgroup_signal_all(&st.cg, SIGCONT);
                if (ep >= 0) {
                        int r = epoll_ctl(ep, EPOLL_CTL_ADD, events, &ev);
                        ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
                        r = r ? r : epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
                        /* The tree's stderr lingers: keep printing it. */
                        ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
                        r = r ? r : epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
                        if (r < 0) {
                                /* Nothing to wait on: no grace, kill now. */
                                close(ep);
                                ep = -1;
                        }
                }
                while (ep >= 0 && cgroup_populated(events)) {
                        clock_gettime(CLOCK_MONOTONIC, &t);
                        int64_t left = end - ((int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000);
                        struct signalfd_siginfo si;
                        if (left <= 0)
                                break;
                        if (epoll_wait(ep, &ev, 1, (int)(left < 1000 ? left : 1000)) != 1)
                                continue;
                        if (ev.data.u32 == 2)
                                pv_loop_dispatch(st.loop, 0);
                        else if (ev.data.u32 == 1 &&
                                 read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                break;  /* a second signal: no more grace */
                }
                if (ep >= 0)
                        close(ep);
        }
        if (events >= 0)
                close(events);
        int r = cgroup_remove(&st.cg);
        if (r < 0)
                say("cannot remove cgroup %s: %s", st.cg.path, strerror(-r));
}

/* ---- main ------------------------------------------------------------ */

static int exit_status(const struct pv_exit *e)
{
        if (e->flags & PV_EXIT_DEADLINE)
                return EXIT_TIMEOUT;
        if (e->kind == PV_EXIT_EXITED)
                return e->code;
        if (e->kind == PV_EXIT_KILLED)
                return 128 + e->signal;
        return EXIT_FAILURE_OWN;
}

/* 126 and 127 are about the program itself: exec failed.  Anything else
 * that kept it from running is pidvisor's failure, 125. */
static int spawn_status(int err)
{
        if (pv_loop_spawn_stage(st.loop) != PV_STAGE_EXEC)
                return EXIT_FAILURE_OWN;
        switch (err) {
        case -ENOENT:
        case -ENOTDIR:
        case -ELOOP:
        case -ENAMETOOLONG:
                return EXIT_NOTFOUND;
        case -EACCES:
        case -ENOEXEC:
        case -EISDIR:
        case -EPERM:
                return EXIT_NOEXEC;
        default:
                return EXIT_FAILURE_OWN;
        }
}

static void write_report(struct report *r)
{
        FILE *f;

        if (!opt.report)
                return;
        f = strcmp(opt.report, "-") ? fopen(opt.report, "we") : stderr;
        if (!f) {
                say("cannot write report '%s': %s", opt.report, strerror(errno));
                return;
        }
        if (report_write(f, r) < 0)
                say("cannot write report '%s'", opt.report);
        if (f != stderr)
                fclose(f);
}

int main(int argc, char **argv)
{
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        struct report rep = { .kill_tree = "none" };
        struct epoll_event ev;
        sigset_t sigs;
        int sfd, r;

        /* fds 0-2 closed at start would be taken by our own signalfd or
         * epoll fd, and then handed to the program or read as its input:
         * hold them with /dev/null (the program's stdin is then closed at
         * once, as an empty input). */
        bool stdin_closed = fcntl(0, F_GETFD) < 0;
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
                        return EXIT_FAILURE_OWN;
        opts_parse(&opt, argc, argv);
        if (opt.features) {
                print_features();
                return 0;
        }
        rep.argv = (const char *const *)opt.argv;
        /* A report that cannot be written is found out now, not after the
         * run. */
        if (opt.report && strcmp(opt.report, "-")) {
                int fd = open(opt.report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0) {
                        fprintf(stderr, "pidvisor: cannot write report '%s': %s\n", opt.report,
                                strerror(errno));
                        return EXIT_FAILURE_OWN;
                }
                close(fd);
        }

        /* Our own signals, read in the loop; a closed stdout or stderr must
         * not kill us (the program gets the default SIGPIPE back). */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        sigprocmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
        st.ep = epoll_create1(EPOLL_CLOEXEC);
        r = pv_loop_new(&st.loop, NULL);
        if (sfd < 0 || st.ep < 0 || r < 0) {
                int e = r < 0 ? -r : errno;
                fprintf(stderr, "pidvisor: cannot set up: %s\n", strerror(e));
                rep.error = strerror(e);
                rep.exit_status = EXIT_FAILURE_OWN;
                write_report(&rep);
                return EXIT_FAILURE_OWN;
        }
        rep.spawn = pv_spawn_mech_name(pv_loop_spawn_mech(st.loop));
        rep.backend = pv_backend_name(pv_loop_backend(st.loop));

        o.argv = (const char *const *)opt.argv;
        o.stdio[0].mode = PV_STDIO_PIPE;
        o.stdio[1].mode = PV_STDIO_INHERIT;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.grace_ms = (uint32_t)opt.grace_ms;
        o.deadline_ms = opt.timeout_ms;
        o.on_output = on_stderr;
        o.on_exit = on_exit_cb;
        o.on_drain = on_drain;
        if (opt.kill_tree) {
                /* The tree may outlive the program by a grace period: its
                 * stderr stays open (and printed) that long. */
                o.linger_ms = (uint32_t)opt.grace_ms;
                /* A cgroup of its own holds the whole tree, whatever it
                 * does with sessions and groups; a process group is the
                 * fallback where no cgroup v2 is ours to write. */
                r = cgroup_make(&st.cg);
                if (r == 0) {
                        o.flags = PV_SPAWN_CGROUP;
                        o.cgroup_fd = st.cg.fd;
                        r = pv_spawn(st.loop, &o, &st.child);
                        if (r >= 0 || pv_loop_spawn_stage(st.loop) != PV_STAGE_SETUP)
                                goto spawned;
                        /* The kernel would not put it there (no
                         * CLONE_INTO_CGROUP before 5.7, a delegation
                         * refusing it): a process group, then. */
                        (void)cgroup_remove(&st.cg);
                }
                o.flags = PV_SPAWN_NEW_PGRP;
        }
        r = pv_spawn(st.loop, &o, &st.child);
spawned:
        if (r < 0) {
                say("cannot run '%s': %s", opt.argv[0], strerror(-r));
                rep.error = strerror(-r);
                rep.exit_status = spawn_status(r);
                write_report(&rep);
                (void)cgroup_remove(&st.cg);
                pv_loop_free(st.loop);
                return rep.exit_status;
        }
        rep.kill_tree = st.cg.fd >= 0 ? "cgroup" : opt.kill_tree ? "pgrp" : "none";

        ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
        r = epoll_ctl(st.ep, EPOLL_CTL_ADD, pv_loop_fd(st.loop), &ev);
        ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
        if (r == 0)
                r = epoll_ctl(st.ep, EPOLL_CTL_ADD, sfd, &ev);
        if (r < 0) {
                /* Unwatched, the program's exit or our signals would never
                 * be seen: do not leave it running unsupervised. */
                int e = errno;

                say("cannot watch '%s': %s", opt.argv[0], strerror(e));
                pv_child_signal(st.child, SIGKILL);
                kill_group();
                pv_child_wait(st.child, -1, &st.exit);
                rep.error = strerror(e);
                rep.exit_status = EXIT_FAILURE_OWN;
                write_report(&rep);
                if (st.cg.fd >= 0)
                        (void)cgroup_remove(&st.cg);
                pv_child_release(st.child);
                pv_loop_free(st.loop);
                return EXIT_FAILURE_OWN;
        }
        /* stdin: watched if epoll can (a pipe, a tty, a socket); a regular
         * file is always readable and read as the loop turns; a closed
         * one ends the program's stdin at once. */
        st.stdin_on = !stdin_closed;
        if (st.stdin_on) {
                ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 0 };
                st.stdin_epoll = epoll_ctl(st.ep, EPOLL_CTL_ADD, 0, &ev) == 0;
        } else {
                pv_child_close_stdin(st.child);
        }

        while (!st.exited) {
                struct epoll_event evs[8];
                bool file_stdin = st.stdin_on && !st.stdin_epoll && !st.stdin_paused;
                int n = epoll_wait(st.ep, evs, 8, file_stdin ? 0 : -1);

                if (n < 0 && errno != EINTR) {
                        say("epoll_wait: %s", strerror(errno));
                        break;
                }
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.u32 == 1)
                                pv_loop_dispatch(st.loop, 0);
                        else if (evs[i].data.u32 == 2)
                                signal_ready(sfd);
                        else if (st.stdin_on && !st.exited)
                                stdin_ready();
                }
                if (file_stdin && !st.exited)
                        stdin_ready();
        }
        /* The whole tree goes with the program. */
        if (st.cg.fd >= 0)
                wind_down_tree(sfd);
        else
                kill_group();
        /* With the tree gone its stderr has no writer left: print what it
         * wrote last, up to the end of the stream (the linger bounds it,
         * should something outside the tree hold the pipe). */
        (void)pv_loop_run(st.loop);

        rep.exit = &st.exit;
        rep.timed_out = st.exit.flags & PV_EXIT_DEADLINE;
        rep.exit_status = st.exited ? exit_status(&st.exit) : EXIT_FAILURE_OWN;
        if (rep.timed_out)
                say("'%s' timed out after %llums", opt.argv[0],
                    (unsigned long long)opt.timeout_ms);
        if (st.exit.flags & PV_EXIT_ESCALATED)
                say("'%s' did not stop within %llums: killed", opt.argv[0],
                    (unsigned long long)opt.grace_ms);
        write_report(&rep);
        pv_child_release(st.child);
        pv_loop_free(st.loop);
        return rep.exit_status;
}
