/* SPDX-License-Identifier: MIT */
/*
 * pidvisor: supervise one program from the shell.  Its stdin is copied to
 * the program's (a pipe, so that a stop can close it), the program's stdout
 * is pidvisor's own, its stderr lines go to pidvisor's stderr with an
 * optional prefix, and SIGTERM/SIGINT/SIGHUP start the graceful stop (a
 * second one kills at once).  The exit status says how the program ended.
 *
 * The command, unlike the library, may handle its own signals: it blocks
 * them and reads them from a signalfd in the same epoll set as the loop
 * (events.c).  With --kill-tree the library holds the tree: the exit comes
 * once the program and all it left behind are gone.  Nothing in that set's
 * handlers blocks: stdin is read when epoll says so, and
 * pidvisor's stderr is written through a bounded queue (out.c), so a
 * reader that stalls cannot hold up a timeout or a signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <pidvisor.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "features.h"
#include "opts.h"
#include "out.h"
#include "report.h"
#include "passed.h"
#include "stdin.h"
#include "tree.h"

/* How long pidvisor's last words may wait for a stalled stderr. */
#define FLUSH_MS 1000

static struct opts opt;

static struct {
        pv_loop *loop;
        int stage;              /* enum pv_spawn_stage of a failed spawn */
        pv_child *child;
        bool exited;            /* the exit callback ran: exit is valid */
        struct pv_exit exit;
        bool err_ended;         /* the program's stderr stream ended */
        bool err_line_start;    /* the next stderr piece starts a line */
        int sfd;                /* -1 until made */
        int signals;            /* stop signals received */
        struct tree tree;       /* --kill-tree; kind TREE_NONE without */
        struct passed passed;   /* --preserve-fds, LISTEN_FDS, the environment */
        struct report rep;
} st = { .err_line_start = true, .sfd = -1 };

#define say out_say

/* ---- the program's stderr ------------------------------------------- */

static void add_prefix(pv_child *c)
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
        out_add(buf, (size_t)n);
}

static void on_stderr(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                      void *ud)
{
        (void)fd;
        (void)ud;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED)) {
                st.err_ended = true;
                return;
        }
        if (st.err_line_start) {
                out_line_begin();
                if (opt.prefix)
                        add_prefix(c);
        }
        out_add(data, len);
        st.err_line_start = !(flags & PV_OUT_F_PARTIAL);
        if (st.err_line_start)
                out_line_end();         /* a partial last line still ends */
}

static void on_exit_cb(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)c;
        (void)ud;
        st.exited = true;
        st.exit = *e;
        /* Nobody to copy stdin to: a readable stdin left in the set would
         * wake every turn of what is left. */
        stdin_stop(false);
}

static void on_drain(pv_child *c, void *ud)
{
        (void)c;
        (void)ud;
        stdin_drained();
}

/* ---- signals ----------------------------------------------------------- */

static void on_signal(int sig)
{
        int r;

        st.signals++;
        if (st.exited)
                return;         /* the last of stderr: a second one cuts it */
        if (st.signals == 1) {
                say("%s: stopping '%s' (grace %llums)", strsignal(sig), opt.argv[0],
                    (unsigned long long)opt.grace_ms);
                r = pv_child_stop(st.child);
                if (r < 0)
                        say("cannot stop '%s': %s", opt.argv[0], strerror(-r));
        } else {
                say("%s again: killing '%s'", strsignal(sig), opt.argv[0]);
                (void)pv_child_signal(st.child, SIGKILL);  /* -ESRCH: gone already */
                tree_signal(&st.tree, SIGKILL);
        }
}

static void signals_ready(uint32_t events)
{
        struct signalfd_siginfo si;

        (void)events;

        while (read(st.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                on_signal((int)si.ssi_signo);
}

/* ---- the event loop ----------------------------------------------------- */

static void loop_ready(uint32_t events)
{
        int r = pv_loop_dispatch(st.loop, 0);

        (void)events;
        if (r < 0)
                ev_fail("pv_loop_dispatch", r);
}

static bool err_ended(void *arg)
{
        (void)arg;
        return st.err_ended;
}

static bool out_empty(void *arg)
{
        (void)arg;
        return out_pending() == 0;
}

static void supervise(void)
{
        while (!st.exited && !ev_broken()) {
                ev_turn(stdin_polled() ? 0 : -1);
                if (stdin_polled())
                        stdin_ready();
        }
}

/* ---- setup ------------------------------------------------------------ */

static int fail_setup(const char *call, int err)
{
        if (call)
                say("cannot set up: %s: %s", call, strerror(err));
        else
                say("cannot set up: %s", features_no_spawn(-err));
        st.rep.error = call ? strerror(err) : features_no_spawn(-err);
        return EXIT_FAILURE_OWN;
}

/* Our own signals, read in the loop.  A closed stdout or stderr must not
 * kill us (the program gets the default SIGPIPE back); an ignored SIGCHLD
 * would let the kernel reap the program before we could (and the library
 * could then only recover its status on Linux 6.15+). */
static int setup_signals(void)
{
        sigset_t sigs;

        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGCHLD, SIG_DFL) == SIG_ERR)
                return fail_setup("signal", errno);
        if (sigemptyset(&sigs) < 0 || sigaddset(&sigs, SIGTERM) < 0 ||
            sigaddset(&sigs, SIGINT) < 0 || sigaddset(&sigs, SIGHUP) < 0 ||
            sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
                return fail_setup("sigprocmask", errno);
        st.sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
        if (st.sfd < 0)
                return fail_setup("signalfd", errno);
        return 0;
}

static int setup(void)
{
        const char *call = NULL;
        int r = ev_init();

        if (r < 0)
                return fail_setup("epoll_create1", -r);
        ev_on(EV_STDIN, stdin_event);
        ev_on(EV_LOOP, loop_ready);
        ev_on(EV_SIGNAL, signals_ready);
        ev_on(EV_OUT, out_ready);
        r = out_init(&call);
        if (r < 0)
                return fail_setup(call, -r);
        r = setup_signals();
        if (r)
                return r;
        r = ev_add(st.sfd, EPOLLIN, EV_SIGNAL);
        if (r < 0)
                return fail_setup("epoll_ctl(signalfd)", -r);
        r = pv_loop_new(&st.loop, NULL);
        if (r == -ENOSYS || r == -EPERM)
                return fail_setup(NULL, -r);
        if (r < 0)
                return fail_setup("pv_loop_new", -r);
        st.rep.spawn = pv_mech_name(pv_loop_mech(st.loop));
        st.rep.backend = pv_backend_name(pv_loop_backend(st.loop));
        r = ev_add(pv_loop_fd(st.loop), EPOLLIN, EV_LOOP);
        if (r < 0)
                return fail_setup("epoll_ctl(pv_loop_fd)", -r);
        return 0;
}

/* ---- fds and environment for the program ------------------------------- */

static int keep_fds(void)
{
        const char *error = NULL;
        int r = passed_fds(&st.passed, opt.preserve_fds, &error);

        if (r == -ENOMEM)
                return fail_setup("calloc", ENOMEM);
        if (r < 0) {
                say("%s", error);
                st.rep.error = "fd not open";
                return EXIT_FAILURE_OWN;
        }
        return 0;
}

/* ---- the program -------------------------------------------------------- */

/* 126 and 127 are about the program itself: exec failed.  Anything else
 * that kept it from running is pidvisor's failure, 125. */
static int spawn_status(int err)
{
        if (st.stage != PV_STAGE_EXEC)
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

static int spawn_failed(int r)
{
        if (st.tree.failed) {
                say("--kill-tree: %s", st.tree.why);
                st.rep.error = strerror(-r);
                return EXIT_FAILURE_OWN;
        }
        say("cannot run '%s': %s", opt.argv[0], strerror(-r));
        st.rep.error = strerror(-r);
        return spawn_status(r);
}

/* The fds passed on are the program's now: a reader of a pipe among them
 * sees its end when the program closes it, not when pidvisor exits. */
static int spawned(int r)
{
        if (r < 0)
                return spawn_failed(r);
        passed_close(&st.passed);
        return 0;
}

static int spawn_program(void)
{
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
        int r;

        /* An empty name is no file (execvp would say ENOENT; timeout(1)
         * exits 127 for it). */
        if (!opt.argv[0][0]) {
                say("cannot run '': %s", strerror(ENOENT));
                st.rep.error = strerror(ENOENT);
                return EXIT_NOTFOUND;
        }
        o.argv = (const char *const *)opt.argv;
        o.envp = (const char *const *)st.passed.envp;
        o.stdio[0].mode = PV_STDIO_PIPE;
        o.stdio[1].mode = PV_STDIO_INHERIT;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.grace_ms = (uint32_t)opt.grace_ms;
        o.deadline_ms = opt.timeout_ms;
        o.on_output = on_stderr;
        o.on_exit = on_exit_cb;
        o.on_drain = on_drain;
        o.keep_fds = st.passed.fds;
        o.n_keep_fds = st.passed.n;
        if (!opt.kill_tree) {
                r = pv_spawn(st.loop, &o, &st.child, &st.stage);
                return spawned(r);
        }
        /* The library waits for the whole tree before the exit, giving
         * what the program left behind the ladder's rest; its stderr is
         * printed meanwhile, and after the exit for as long as something
         * outside the tree holds the pipe, a grace at most. */
        o.flags |= PV_SPAWN_F_TREE;
        o.linger_ms = (uint32_t)opt.grace_ms;
        r = tree_spawn(&st.tree, st.loop, &o, &st.child, &st.stage);
        if (st.tree.fell_back)
                say("--kill-tree: cgroup v2 not usable here (%s): using a process group",
                    st.tree.why);
        st.rep.kill_tree = tree_name(&st.tree);
        return spawned(r);
}

/* ---- the end ----------------------------------------------------------- */

static int exit_status(const struct pv_exit *e)
{
        if (e->flags & PV_EXIT_F_DEADLINE)
                return EXIT_TIMEOUT;
        if (e->kind == PV_EXIT_EXITED)
                return e->code;
        if (e->kind == PV_EXIT_KILLED)
                return 128 + e->signal;
        return EXIT_FAILURE_OWN;
}

static void report_to_file(void)
{
        FILE *f = fopen(opt.report, "we");

        if (!f) {
                fprintf(stderr, "pidvisor: cannot write report '%s': %s\n", opt.report,
                        strerror(errno));
                return;
        }
        /* Written last: what the final flush could not write counts. */
        st.rep.stderr_dropped = out_dropped() + out_pending();
        if (report_write(f, &st.rep) < 0 && !opt.quiet)
                fprintf(stderr, "pidvisor: cannot write report '%s'\n", opt.report);
        if (fclose(f) != 0 && !opt.quiet)
                fprintf(stderr, "pidvisor: cannot write report '%s': %s\n", opt.report,
                        strerror(errno));
}

static void report_to_stderr(void)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int r;

        if (!f) {
                say("cannot write report: %s", strerror(errno));
                return;
        }
        st.rep.stderr_dropped = out_dropped();
        r = report_write(f, &st.rep);
        if (fclose(f) != 0 || r < 0)
                say("cannot write report");
        else
                out_force(buf, len);
        free(buf);
}

/* Report, flush (bounded: a stalled stderr may not keep us), let go. */
static int finish(int status)
{
        st.rep.exit_status = status;
        if (opt.report && !strcmp(opt.report, "-"))
                report_to_stderr();
        out_finish();
        if (ev_ready())
                ev_turn_until(out_empty, NULL, ev_now_ms() + FLUSH_MS, -1, &st.signals);
        if (opt.report && strcmp(opt.report, "-"))
                report_to_file();
        out_done();
        pv_child_release(st.child);
        pv_loop_free(st.loop);
        (void)tree_done(&st.tree);      /* after a failure only: done already */
        if (st.sfd >= 0)
                close(st.sfd);
        ev_done();
        passed_free(&st.passed);
        return status;
}

/* The program ran and exited (or the loop broke): its tree, its last
 * stderr, the report. */
static int ended(void)
{
        if (ev_broken() && !st.exited) {
                /* Unwatched, the program must not run on unsupervised. */
                (void)pv_child_signal(st.child, SIGKILL);
                tree_signal(&st.tree, SIGKILL);
                /* Bounded: a program no signal reaches is left to
                 * pv_loop_free(), which does not wait for it. */
                (void)pv_child_wait(st.child, TREE_KILL_MS, &st.exit);
                st.rep.error = "the event loop failed";
                return finish(EXIT_FAILURE_OWN);
        }
        /* The tree is gone (the library waited for it): remove its
         * cgroup. */
        if (tree_done(&st.tree) < 0)
                say("--kill-tree: %s", st.tree.why);
        /* With the tree gone its stderr has no writer left: print what it
         * wrote last, up to the end of the stream (the linger bounds it,
         * should something outside the tree hold the pipe). */
        ev_turn_until(err_ended, NULL, INT64_MAX, -1, &st.signals);
        st.rep.exit = &st.exit;
        st.rep.timed_out = st.exit.flags & PV_EXIT_F_DEADLINE;
        if (st.rep.timed_out)
                say("'%s' timed out after %llums", opt.argv[0],
                    (unsigned long long)opt.timeout_ms);
        if (st.exit.flags & PV_EXIT_F_ESCALATED)
                say("'%s' did not stop within %llums: killed", opt.argv[0],
                    (unsigned long long)opt.grace_ms);
        return finish(exit_status(&st.exit));
}

/* fds 0-2 closed at start would be taken by our own signalfd or epoll fd,
 * and then handed to the program or read as its input: hold them with
 * /dev/null (the program's stdin is then closed at once, as an empty
 * input).  Returns whether stdin was closed, or -1. */
static int hold_stdio(void)
{
        bool stdin_closed = fcntl(0, F_GETFD) < 0;

        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
                        return -1;
        return stdin_closed;
}

/* A report that cannot be written is found out now, not after the run. */
static int check_report(void)
{
        int fd;

        if (!opt.report || !strcmp(opt.report, "-"))
                return 0;
        fd = open(opt.report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "pidvisor: cannot write report '%s': %s\n", opt.report,
                        strerror(errno));
                return -1;
        }
        close(fd);
        return 0;
}

int main(int argc, char **argv)
{
        int stdin_closed = hold_stdio(), r;

        if (stdin_closed < 0)
                return EXIT_FAILURE_OWN;
        opts_parse(&opt, argc, argv);
        out_set_quiet(opt.quiet);
        if (opt.features)
                return features_print(stdout, opt.json);
        st.rep.argv = (const char *const *)opt.argv;
        st.rep.kill_tree = "none";
        st.tree = (struct tree){ .kind = TREE_NONE };
        if (check_report() < 0)
                return EXIT_FAILURE_OWN;
        r = keep_fds();
        r = r ? r : setup();
        r = r ? r : spawn_program();
        if (r)
                return finish(r);
        stdin_start(st.child, stdin_closed);
        supervise();
        return ended();
}
