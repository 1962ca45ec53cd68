/* SPDX-License-Identifier: MIT */
/*
 * src/backend-*.c: the contract of src/backend.h, held by each backend
 * through its ops table alone (built with the backend files themselves, as
 * test-cgroup is with src/cgroup.c), and pv_loop_new's choice of backend
 * where io_uring is refused.  Each contract test runs on every backend;
 * io_uring's run is skipped only where io_uring_setup(2), asked directly,
 * says this kernel or sandbox has none.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/backend.h"
#include "../src/loop.h"
#include "sandbox.h"
#include "testutil.h"

TestSuite(backend, .timeout = 30);

static const char *uring_lacks(void)
{
        return tu_uring_lacks(false);
}

static const struct pv__backend_ops *const all[] = { &pv__backend_epoll, &pv__backend_uring };

/* A source and what its callback saw. */
struct probe {
        struct pv__source src;
        int calls;
        uint32_t last;
        pv_loop *l;
        struct probe *del_other;   /* deleted (and closed) by this callback */
        bool del_self;
};

static void probe_cb(struct pv__source *s, uint32_t events)
{
        struct probe *p = container_of(s, struct probe, src);

        p->calls++;
        p->last = events;
        if (p->del_other) {
                p->l->ops->del(p->l, &p->del_other->src);
                close(p->del_other->src.fd);
                p->del_other->src.fd = -1;
        }
        if (p->del_self)
                p->l->ops->del(p->l, s);
}

static void probe_init(struct probe *p, pv_loop *l, int fd)
{
        memset(p, 0, sizeof(*p));
        p->src.fd = fd;
        p->src.cb = probe_cb;
        p->l = l;
}

/* Run fn once per backend, on a bare loop holding only the backend; where
 * io_uring is missing, the test is a skip that says so once epoll passed. */
static void each_backend(void (*fn)(pv_loop *l))
{
        const char *skipped = NULL;
        int ran = 0;

        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                pv_loop l;
                int r;

                memset(&l, 0, sizeof(l));
                l.ops = all[i];
                r = l.ops->init(&l);
                if (l.ops == &pv__backend_uring && uring_lacks()) {
                        cr_assert_lt(r, 0, "uring init worked where io_uring is missing");
                        l.ops->done(&l);
                        skipped = uring_lacks();
                        continue;
                }
                cr_assert_eq(r, 0, "%s init: %s", l.ops->name, strerror(-r));
                cr_log_info("backend %s", l.ops->name);
                fn(&l);
                l.ops->done(&l);
                cr_assert_null(l.be, "%s: done left its state", l.ops->name);
                ran++;
        }
        cr_assert_geq(ran, 1);
        if (skipped)
                cr_skip_test("io_uring: %s (the epoll run passed)", skipped);
}

static void pipe_nb(int p[2])
{
        cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

/* A new pipe in p, its read end watched for input by a fresh probe a. */
static void watch_pipe(pv_loop *l, struct probe *a, int p[2])
{
        pipe_nb(p);
        probe_init(a, l, p[0]);
        cr_assert_eq(l->ops->add(l, &a->src, PV_EV_IN), 0, "%s", l->ops->name);
}

/* Readiness is level-triggered: an undrained fd is reported again by every
 * wait, a drained one no more. */
static void level(pv_loop *l)
{
        struct probe a;
        int p[2];
        char c;

        watch_pipe(l, &a, p);
        cr_assert_eq(l->ops->wait(l, 0), 0, "%s: ready with nothing written", l->ops->name);
        cr_assert_eq(write(p[1], "x", 1), 1);
        for (int i = 1; i <= 3; i++) {
                cr_assert_eq(l->ops->wait(l, 5000), 1, "%s: wait %d", l->ops->name, i);
                cr_assert_eq(a.calls, i);
                cr_assert(a.last & PV_EV_IN);
        }
        cr_assert_eq(read(p[0], &c, 1), 1);
        cr_assert_eq(l->ops->wait(l, 0), 0, "%s: ready after the drain", l->ops->name);
        close(p[1]);
        cr_assert_eq(l->ops->wait(l, 5000), 1, "%s: no hang-up", l->ops->name);
        cr_assert(a.last & PV_EV_HUP);
        l->ops->del(l, &a.src);
        close(p[0]);
}

Test(backend, level_triggered)
{
        each_backend(level);
}

/* A callback that deletes itself is not called again, ready as it stays. */
static void self_delete(pv_loop *l)
{
        struct probe a;
        int p[2];

        watch_pipe(l, &a, p);
        a.del_self = true;
        cr_assert_eq(write(p[1], "x", 1), 1);
        cr_assert_eq(l->ops->wait(l, 5000), 1);
        cr_assert_eq(l->ops->wait(l, 0), 0);
        cr_assert_eq(a.calls, 1, "%s: called after deleting itself", l->ops->name);
        close(p[0]);
        close(p[1]);
}

Test(backend, deleted_from_its_own_callback)
{
        each_backend(self_delete);
}

/* Two sources ready in one batch; the first callback to run deletes the
 * other: its event, fetched already, is dropped. */
static void batch_delete(pv_loop *l)
{
        struct probe a, b;
        int pa[2], pb[2];

        watch_pipe(l, &a, pa);
        watch_pipe(l, &b, pb);
        a.del_other = &b;
        b.del_other = &a;
        a.del_self = b.del_self = true;
        cr_assert_eq(write(pa[1], "x", 1), 1);
        cr_assert_eq(write(pb[1], "x", 1), 1);
        /* Both are ready before the first wait: one batch fetches both. */
        cr_assert_eq(l->ops->wait(l, 5000) + l->ops->wait(l, 0) + l->ops->wait(l, 0), 1,
                     "%s: both callbacks ran", l->ops->name);
        cr_assert_eq(a.calls + b.calls, 1);
        close(a.calls ? a.src.fd : b.src.fd);
        close(pa[1]);
        close(pb[1]);
}

Test(backend, deleted_by_an_earlier_callback_of_the_batch)
{
        each_backend(batch_delete);
}

/* After del the backend never touches the source: its memory is freed and
 * its fd closed, then its file becomes ready (the poll that io_uring may
 * still hold completes, or is cancelled, later): no callback, nothing read
 * from the freed memory (ASan's run says so).  The same for an event that
 * came before the del and was not fetched yet: it never reaches the source
 * that takes the slot next. */
static void del_then_free_early(pv_loop *l, bool early)
{
        struct probe *a = malloc(sizeof(*a)), b;
        int pa[2], pb[2];

        cr_assert_not_null(a);
        watch_pipe(l, a, pa);
        cr_assert_eq(l->ops->wait(l, 0), 0);     /* a's poll is in flight */
        if (early)
                cr_assert_eq(write(pa[1], "x", 1), 1);   /* and completes */
        l->ops->del(l, &a->src);
        /* b may take a's slot: the late completion must not reach it. */
        watch_pipe(l, &b, pb);
        /* Another reader keeps the pipe's file open after a's fd closes
         * (and the write from raising SIGPIPE). */
        int keep = dup(pa[0]);
        cr_assert_geq(keep, 0);
        close(pa[0]);
        free(a);
        cr_assert_eq(write(pa[1], "x", 1), 1);
        for (int i = 0; i < 3; i++)
                cr_assert_eq(l->ops->wait(l, 20), 0, "%s: a callback ran", l->ops->name);
        cr_assert_eq(b.calls, 0);
        cr_assert_eq(write(pb[1], "y", 1), 1);
        cr_assert_eq(l->ops->wait(l, 5000), 1);
        cr_assert_eq(b.calls, 1);
        l->ops->del(l, &b.src);
        close(keep);
        close(pa[1]);
        close(pb[0]);
        close(pb[1]);
}

static void del_then_free(pv_loop *l)
{
        del_then_free_early(l, false);
        del_then_free_early(l, true);
}

Test(backend, deleted_source_freed_while_its_file_becomes_ready)
{
        each_backend(del_then_free);
}

/* del lets go of the file at once: a pipe's write end, watched for what
 * never comes to it (input), deleted and closed, gives its reader EOF
 * without another wait (an io_uring poll in flight holds the file until its
 * cancel is submitted). */
static void del_releases_file(pv_loop *l)
{
        struct probe a;
        struct pollfd pfd;
        int p[2];
        char c;

        pipe_nb(p);
        probe_init(&a, l, p[1]);
        cr_assert_eq(l->ops->add(l, &a.src, PV_EV_IN), 0);
        cr_assert_eq(l->ops->wait(l, 0), 0, "%s: a write end has input", l->ops->name);
        l->ops->del(l, &a.src);
        close(p[1]);
        pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
        cr_assert_eq(poll(&pfd, 1, 5000), 1, "%s: the writer is still open", l->ops->name);
        cr_assert(pfd.revents & POLLHUP);
        cr_assert_eq(read(p[0], &c, 1), 0);
        close(p[0]);
}

Test(backend, del_releases_the_file_at_once)
{
        each_backend(del_releases_file);
}

/* The loop's fd polls readable when a source is ready, with no wait called
 * since the source was added (io_uring: from fd() on, what is queued is
 * submitted before the call returns). */
static void nested_fd(pv_loop *l)
{
        struct probe a;
        struct pollfd pfd;
        int p[2];

        pfd = (struct pollfd){ .fd = l->ops->fd(l, true), .events = POLLIN };
        cr_assert_geq(pfd.fd, 3);
        watch_pipe(l, &a, p);
        cr_assert_eq(poll(&pfd, 1, 0), 0, "%s: readable with nothing ready", l->ops->name);
        cr_assert_eq(write(p[1], "x", 1), 1);
        cr_assert_eq(poll(&pfd, 1, 5000), 1, "%s: the fd never became readable", l->ops->name);
        cr_assert_eq(l->ops->wait(l, 0), 1);
        cr_assert_eq(a.calls, 1);
        l->ops->del(l, &a.src);
        close(p[0]);
        close(p[1]);
}

Test(backend, its_fd_polls_readable_when_a_source_is_ready)
{
        each_backend(nested_fd);
}

/* Many sources at once, more than one batch and than the ring's submission
 * queue: every one is called, none twice. */
#define MANY 600

static void many(pv_loop *l)
{
        static struct probe s[MANY];
        static int p[MANY][2];
        int total = 0;

        for (int i = 0; i < MANY; i++) {
                watch_pipe(l, &s[i], p[i]);
                s[i].del_self = true;
                cr_assert_eq(write(p[i][1], "x", 1), 1);
        }
        for (int tries = 0; total < MANY && tries < 100; tries++) {
                int n = l->ops->wait(l, 5000);
                cr_assert_geq(n, 0);
                total += n;
        }
        cr_assert_eq(total, MANY, "%s: %d of %d called", l->ops->name, total, MANY);
        for (int i = 0; i < MANY; i++) {
                cr_assert_eq(s[i].calls, 1);
                close(p[i][0]);
                close(p[i][1]);
        }
}

Test(backend, more_sources_than_a_batch)
{
        each_backend(many);
}

/* A source added twice is refused, as epoll does (-EEXIST), and stays
 * watched once. */
static void twice(pv_loop *l)
{
        struct probe a;
        int p[2];

        watch_pipe(l, &a, p);
        cr_assert_eq(l->ops->add(l, &a.src, PV_EV_IN), -EEXIST, "%s", l->ops->name);
        cr_assert_eq(write(p[1], "x", 1), 1);
        cr_assert_eq(l->ops->wait(l, 5000), 1);
        cr_assert_eq(a.calls, 1);
        l->ops->del(l, &a.src);
        cr_assert_eq(l->ops->wait(l, 0), 0);
        close(p[0]);
        close(p[1]);
}

Test(backend, added_twice)
{
        each_backend(twice);
}

/* ---- pv_loop_new's choice ------------------------------------------- */

static int refused(void *arg)
{
        const int *want = arg;
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        pv_loop *l = NULL;
        int r;

        o.backend = PV_BACKEND_URING;
        r = pv_loop_new(&l, &o);
        TU_SB_CHECK(r == *want);
        TU_SB_CHECK(l == NULL);
        o.backend = PV_BACKEND_AUTO;
        r = pv_loop_new(&l, &o);
        TU_SB_CHECK(r == 0);
        TU_SB_CHECK(pv_loop_backend(l) == PV_BACKEND_EPOLL);
        const char *argv[] = { "/bin/true", NULL };
        struct pv_spawn_opts so = PV_SPAWN_OPTS_INIT;
        struct pv_exit e;
        so.argv = argv;
        TU_SB_CHECK(tu_run_opts(l, &so, &e) == 0);
        TU_SB_CHECK(e.kind == PV_EXIT_EXITED && e.code == 0);
        pv_loop_free(l);
        return 0;
}

/* Docker 25's default profile: io_uring_setup=EPERM.  A forced io_uring
 * says so; AUTO runs on epoll. */
Test(backend, refused_by_seccomp_forced_fails_auto_falls_back)
{
        int eperm = -EPERM, enosys = -ENOSYS;

        if (uring_lacks())
                cr_log_info("io_uring missing here anyway: %s", uring_lacks());
#if HAVE_LIBURING
        TU_SB_RUN("io_uring_setup=EPERM", refused, &eperm);
        TU_SB_RUN("no-uring", refused, &enosys);
#else
        int eop = -EOPNOTSUPP;
        (void)eperm;
        (void)enosys;
        TU_SB_RUN("io_uring_setup=EPERM", refused, &eop);
#endif
}

Test(backend, names)
{
        cr_assert_str_eq(pv_backend_name(PV_BACKEND_AUTO), "auto");
        cr_assert_str_eq(pv_backend_name(PV_BACKEND_EPOLL), "epoll");
        cr_assert_str_eq(pv_backend_name(PV_BACKEND_URING), "uring");
        cr_assert_null(pv_backend_name(_PV_BACKEND_MAX));
        cr_assert_null(pv_backend_name(-1));
}

/* A forced io_uring where it can be had is io_uring, and its fd is an
 * eventfd (registered with the ring), born close-on-exec. */
Test(backend, forced_uring)
{
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        pv_loop *l = NULL;
        int r;

        o.backend = PV_BACKEND_URING;
        r = pv_loop_new(&l, &o);
        if (uring_lacks()) {
                cr_assert_lt(r, 0);
                cr_skip_test("io_uring: %s", uring_lacks());
        }
        cr_assert_eq(r, 0, "%s", strerror(-r));
        cr_assert_eq(pv_loop_backend(l), PV_BACKEND_URING);
        int fd = pv_loop_fd(l);
        cr_assert_geq(fd, 3);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        char path[64], link[64] = "";
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        cr_assert_gt(readlink(path, link, sizeof(link) - 1), 0);
        cr_assert_str_eq(link, "anon_inode:[eventfd]");
        pv_loop_free(l);
}

/* The ring's fd (the one fd of this process that is an io_uring) and its
 * SqTail as /proc/self/fdinfo shows it: how far submissions have gone. */
static unsigned sq_tail(int *ring_fd)
{
        char path[64], link[64], line[128];
        unsigned tail = ~0u;
        FILE *f;

        for (*ring_fd = 3; *ring_fd < 1024; ++*ring_fd) {
                ssize_t n;
                snprintf(path, sizeof(path), "/proc/self/fd/%d", *ring_fd);
                n = readlink(path, link, sizeof(link) - 1);
                if (n > 0 && (link[n] = 0, !strcmp(link, "anon_inode:[io_uring]")))
                        break;
        }
        cr_assert_lt(*ring_fd, 1024, "no io_uring fd");
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", *ring_fd);
        f = fopen(path, "re");
        cr_assert_not_null(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "SqTail: %u", &tail) == 1)
                        break;
        fclose(f);
        cr_assert_neq(tail, ~0u, "no SqTail in %s", path);
        return tail;
}

/* A process forked while requests sit queued in the ring asks for the
 * loop's fd: it gets the number, and submits nothing (the ring's queues
 * are mapped shared: it would hand in the parent's requests, racing the
 * parent's own submissions). */
Test(backend, fd_asked_in_a_forked_process_leaves_the_ring_alone)
{
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        struct pv_spawn_opts so = PV_SPAWN_OPTS_INIT;
        const char *argv[] = { "/bin/true", NULL };
        struct pv_exit e;
        pv_loop *l = NULL;
        pv_child *c;
        int st, ring, ring2;
        unsigned tail;

        if (uring_lacks())
                cr_skip_test("io_uring: %s", uring_lacks());
        o.backend = PV_BACKEND_URING;
        cr_assert_eq(pv_loop_new(&l, &o), 0);
        so.argv = argv;
        cr_assert_eq(pv_spawn(l, &so, &c, NULL), 0);     /* its poll is queued */
        tail = sq_tail(&ring);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
                _exit(pv_loop_fd(l) == ring ? 0 : 1);
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        cr_assert_eq(sq_tail(&ring2), tail, "the forked process submitted the parent's queue");
        cr_assert_eq(pv_child_wait(c, 10000, &e), 0, "the exit was never heard of");
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert_gt(sq_tail(&ring2), tail);
        pv_child_release(c);
        pv_loop_free(l);
}

/* A loop handed from one thread to another: the thread that armed its polls
 * then blocks (here in vfork(), until we let its child go), and the new
 * owner still hears its child's exit (io_uring: a poll completes through
 * its submitter's task work, so the new owner's wait makes them anew). */
struct handoff {
        int backend;
        pv_loop *l;
        pv_child *c;
        int gate[2];            /* the vfork child reads it: our release */
        int handed[2];          /* the thread says the loop is ours */
};

static void *handoff_thread(void *arg)
{
        struct handoff *h = arg;
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        struct pv_spawn_opts so = PV_SPAWN_OPTS_INIT;
        /* It exits by itself: a pipe to it would be held open by the
         * vfork child below, which copies our fds. */
        const char *argv[] = { HELPER_PATH, "sleep", "200", NULL };
        char c = 0;
        pid_t pid;

        o.backend = h->backend;
        if (pv_loop_new(&h->l, &o) < 0)
                return NULL;
        so.argv = argv;
        if (pv_spawn(h->l, &so, &h->c, NULL) < 0)
                return NULL;
        (void)pv_loop_dispatch(h->l, 0);        /* its polls are this thread's */
        if (write(h->handed[1], "h", 1) != 1)
                return NULL;
        /* Blocked in the kernel, not interruptibly, until the test ends. */
        pid = vfork();
        if (pid == 0) {
                ssize_t n = read(h->gate[0], &c, 1);
                _exit(n == 1 ? 0 : 1);
        }
        if (pid > 0)
                (void)waitpid(pid, NULL, 0);
        return NULL;
}

static void handoff(int backend)
{
        struct handoff h = { .backend = backend };
        struct pv_exit e;
        pthread_t t;
        char c;

        cr_assert_eq(pipe2(h.gate, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(h.handed, O_CLOEXEC), 0);
        cr_assert_eq(pthread_create(&t, NULL, handoff_thread, &h), 0);
        struct pollfd pfd = { .fd = h.handed[0], .events = POLLIN };
        cr_assert_eq(poll(&pfd, 1, 10000), 1, "the thread never handed the loop over");
        cr_assert_eq(read(h.handed[0], &c, 1), 1);
        int r = pv_child_wait(h.c, 5000, &e);
        cr_assert_eq(write(h.gate[1], "g", 1), 1);      /* let the thread go */
        cr_assert_eq(pthread_join(t, NULL), 0);
        cr_assert_eq(r, 0, "%s: the exit was not heard while the arming thread slept: %s",
                     pv_backend_name(backend), strerror(-r));
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        pv_child_release(h.c);
        pv_loop_free(h.l);
        close(h.gate[0]);
        close(h.gate[1]);
        close(h.handed[0]);
        close(h.handed[1]);
}

Test(backend, loop_handed_to_another_thread_while_the_first_sleeps)
{
        handoff(PV_BACKEND_EPOLL);
        if (uring_lacks())
                cr_skip_test("io_uring: %s", uring_lacks());
        handoff(PV_BACKEND_URING);
}

/* A loop on io_uring, nested or not: its completions run only in its own
 * wait (a deferred ring; nested, an eventfd registered with it is what the
 * host polls), so the host's own blocking calls on the thread see no EINTR
 * (here: an epoll_wait of the host's on the very child's pidfd, which the
 * child's exit wakes, together with the loop's poll of that pidfd).  In a
 * process of its own, without Criterion's threads and handlers; SIGCHLD is
 * kept pending meanwhile, as a host that handles it would see EINTR from
 * it anyway.  (A ring that is not deferred fails this nearly every round:
 * its task work sets TIF_NOTIFY_SIGNAL.) */
static int no_eintr(void *arg)
{
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        const char *argv[] = { HELPER_PATH, "sleep", "5", NULL };
        const bool *nested = arg;
        sigset_t chld;
        pv_loop *l = NULL;

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        TU_SB_CHECK(sigprocmask(SIG_BLOCK, &chld, NULL) == 0);
        o.backend = PV_BACKEND_URING;
        TU_SB_CHECK(pv_loop_new(&l, &o) == 0);
        if (*nested)
                TU_SB_CHECK(pv_loop_fd(l) >= 3);
        for (int i = 0; i < 50; i++) {
                struct pv_spawn_opts so = PV_SPAWN_OPTS_INIT;
                struct epoll_event ev = { .events = EPOLLIN };
                pv_child *c;
                int ep = epoll_create1(EPOLL_CLOEXEC), n;

                so.argv = argv;
                /* Its pipes' ends too: three polls complete at its exit. */
                so.stdio[1].mode = PV_STDIO_PIPE;
                so.stdio[2].mode = PV_STDIO_PIPE;
                TU_SB_CHECK(pv_spawn(l, &so, &c, NULL) == 0);
                /* Armed.  What it handles may be the last round's
                 * pipes' ends, which can come after the exit it waited
                 * for (seen under load): a count, not an error. */
                TU_SB_CHECK(pv_loop_dispatch(l, 0) >= 0);
                TU_SB_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pv_child_pidfd(c), &ev) == 0);
                n = epoll_wait(ep, &ev, 1, 10000);
                if (n != 1)
                        tu_sandbox_fail("round %d: the host's epoll_wait said %s", i,
                                        n < 0 ? strerror(errno) : "nothing");
                close(ep);
                TU_SB_CHECK(pv_child_wait(c, 10000, NULL) == 0);
                pv_child_release(c);
        }
        pv_loop_free(l);
        return 0;
}

Test(backend, uring_completions_do_not_interrupt_the_host)
{
        if (uring_lacks())
                cr_skip_test("io_uring: %s", uring_lacks());
        bool nested = false;

        /* A filter that changes nothing here. */
        TU_SB_RUN("kexec_load=EPERM", no_eintr, &nested);
        nested = true;
        TU_SB_RUN("kexec_load=EPERM", no_eintr, &nested);
}
