/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <dirent.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <ftw.h>
#include <poll.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "testutil.h"

static int count_dir(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;

        cr_assert(d, "opendir %s", path);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

int tu_count_fds(void)
{
        return count_dir("/proc/self/fd") - 1; /* minus the dir's own fd */
}

int tu_count_threads(void)
{
        return count_dir("/proc/self/task");
}

/* epoll: one "tfd:" line per fd in the set. */
static int count_epoll(FILE *f)
{
        char line[512];
        int n = 0;

        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, "tfd:", 4))
                        n++;
        return n;
}

/*
 * io_uring: every source the loop watches has one POLL_ADD of its own, and
 * pv_loop_fd() has handed every queued one to the kernel (asserted: fdinfo
 * shows no SQE left in the ring).  Pending, a poll is a line of fdinfo's
 * "PollList:" ("  op=6, ...", op being IORING_OP_POLL_ADD); fired, it is a
 * CQE whose res is the poll mask (> 0), in the ring ("CQEs:" lines
 * "N: user_data:U, res:R, flag:F") or on "CqOverflowList:", until a
 * dispatch reads it.  (Linux 6.18's io_uring/fdinfo.c; it lists PollList
 * only when it gets the ring's lock, which no other thread of a test
 * holds.)  A source deleted while its poll is pending has the poll
 * cancelled: the poll's CQE says -ECANCELED, the POLL_REMOVE's 0, and
 * neither counts.  One deleted after its poll fired leaves that poll's CQE
 * behind, which the next dispatch drops, and its POLL_REMOVE finds nothing
 * (-ENOENT) or finds the poll completing (-EALREADY): each such CQE takes
 * one fired poll off the count (the backend cancels no poll of a batch it
 * fetched, so a lost POLL_REMOVE's poll has its CQE in the ring).  fdinfo
 * shows no user_data of a pending poll, nor which poll a POLL_REMOVE was
 * for, so the backend's rare states of its own are where the count is
 * wrong: a source left unarmed for want of an SQE, or whose poll the
 * kernel ended without an event (-ECANCELED as a thread exited) until its
 * re-arm, is watched but not counted; one deleted when no SQE could be had
 * for its cancel is counted until a dispatch drops its CQE.  The count
 * has pv_loop_fd()'s side effects: nesting mode from then on, and on 6.1+
 * a deferred ring (DEFER_TASKRUN) made anew as one any thread may enter.
 */
static int count_uring(FILE *f)
{
        enum { NONE, CQES, POLLS, OVERFLOW } sec = NONE;
        char line[512];
        unsigned long long ud;
        unsigned i;
        int pending = 0, fired = 0, lost = 0, sqes = -1, op, res;
        bool poll_list = false;

        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "SQEs: %d", &sqes) == 1) {
                        sec = NONE;
                } else if (!strncmp(line, "CQEs:", 5)) {
                        sec = CQES;
                } else if (!strncmp(line, "PollList:", 9)) {
                        sec = POLLS;
                        poll_list = true;
                } else if (!strncmp(line, "CqOverflowList:", 15)) {
                        sec = OVERFLOW;
                } else if ((sec == CQES &&
                            sscanf(line, " %u: user_data:%llu, res:%d", &i, &ud, &res) == 3) ||
                           (sec == OVERFLOW &&
                            sscanf(line, " user_data=%llu, res=%d", &ud, &res) == 2)) {
                        fired += res > 0;
                        lost += res == -ENOENT || res == -EALREADY;
                } else if (sec == POLLS && sscanf(line, " op=%d", &op) == 1) {
                        pending += op == IORING_OP_POLL_ADD;
                } else {
                        sec = NONE;
                }
        }
        cr_assert(poll_list, "no PollList in the ring's fdinfo: a format this count does not know");
        cr_assert_eq(sqes, 0, "%d SQEs not handed to the kernel after pv_loop_fd()", sqes);
        return pending + (fired > lost ? fired - lost : 0);
}

/* The process's one io_uring fd (a test that counts has one loop on it). */
static int the_ring(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int ring = -1, n = 0;

        cr_assert(d, "opendir /proc/self/fd");
        while ((e = readdir(d))) {
                char path[300], link[64];
                ssize_t k;

                snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
                k = readlink(path, link, sizeof(link) - 1);
                if (k <= 0)
                        continue;
                link[k] = '\0';
                if (!strcmp(link, "anon_inode:[io_uring]")) {
                        ring = atoi(e->d_name);
                        n++;
                }
        }
        closedir(d);
        cr_assert_eq(n, 1, "%d io_uring fds in this process: which loop's?", n);
        return ring;
}

int tu_count_watched(const pv_loop *l)
{
        char path[64];
        int backend = pv_loop_backend(l), n;
        FILE *f;

        /* pv_loop_fd() first: on io_uring it submits what is queued.  It
         * is the epoll fd, or on io_uring an eventfd: the ring is then the
         * process's one io_uring fd. */
        int fd = pv_loop_fd(l);
        cr_assert_geq(fd, 0, "pv_loop_fd: %s", strerror(-fd));
        if (backend == PV_BACKEND_URING)
                fd = the_ring();
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        f = fopen(path, "re");
        cr_assert(f, "fopen %s", path);
        cr_assert(backend == PV_BACKEND_EPOLL || backend == PV_BACKEND_URING,
                  "backend %d", backend);
        n = backend == PV_BACKEND_EPOLL ? count_epoll(f) : count_uring(f);
        fclose(f);
        return n;
}

const char *tu_uring_lacks(bool deferred)
{
        struct io_uring_params p;
        int fd;

        memset(&p, 0, sizeof(p));
        fd = (int)syscall(__NR_io_uring_setup, 4, &p);
        if (fd < 0)
                return errno == ENOSYS ? "no io_uring in this kernel"
                                       : "io_uring_setup refused here";
        close(fd);
        if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG))
                return "io_uring before 5.11 (no IORING_FEAT_EXT_ARG)";
#if !HAVE_LIBURING
        return "built without liburing";
#endif
        if (!deferred)
                return NULL;
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
        fd = (int)syscall(__NR_io_uring_setup, 4, &p);
        if (fd < 0)
                return "io_uring before 6.1 (no IORING_SETUP_DEFER_TASKRUN)";
        close(fd);
        return NULL;
}

bool tu_no_children(void)
{
        siginfo_t si = { 0 };
        int r = waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL);

        return r < 0 && errno == ECHILD;
}

bool tu_pid_alive(int pid)
{
        char path[64], state = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        /* pid (comm) state: comm may hold spaces, so look after the last ')'. */
        char buf[512];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ')
                state = p[2];
        return state && state != 'Z' && state != 'X';
}

/* A fork-like child (no CLONE_VM: it returns here, as from fork) made by
 * the raw call, reaped through its pidfd with waitid(P_PIDFD) (5.4). */
static const char *raw_child(long pid, int pidfd)
{
        siginfo_t si;

        if (pid == 0)
                _exit(0);
        if (pid < 0)
                return NULL;
        if (pidfd < 0) {
                waitpid((pid_t)pid, NULL, __WALL);
                return "the clone gave no pidfd (Linux before 5.2)";
        }
        if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &si, WEXITED | __WALL) < 0) {
                waitpid((pid_t)pid, NULL, __WALL);
                close(pidfd);
                return "waitid(P_PIDFD) refused (Linux before 5.4)";
        }
        close(pidfd);
        return "";
}

const char *tu_kernel_lacks_mech(int mech)
{
        struct {
                uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
        } ca = { 0 };
        int pidfd = -1, self;
        const char *r;
        long pid;

        switch (mech) {
        case PV_MECH_CLONE3:
#ifdef PV_ARCH_GENERIC
                /* The kernel may have it; this build cannot call it. */
                return "this build has no clone3 entry (configure --with-arch=generic: libc's "
                       "clone() only)";
#endif
                /* CLONE_PIDFD | CLONE_CLEAR_SIGHAND (5.5), as the rung asks */
                ca.flags = 0x1000 | 0x100000000ULL;
                ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
                ca.exit_signal = SIGCHLD;
                pid = syscall(435 /* clone3 */, &ca, sizeof(ca));
                r = raw_child(pid, pidfd);
                return r ? (*r ? r : NULL) : "clone3 with CLONE_PIDFD|CLONE_CLEAR_SIGHAND refused";
        case PV_MECH_CLONE:
                pid = syscall(SYS_clone, 0x1000 /* CLONE_PIDFD */ | SIGCHLD, 0, &pidfd, 0, 0);
                r = raw_child(pid, pidfd);
                return r ? (*r ? r : NULL) : "clone with CLONE_PIDFD refused";
        case PV_MECH_VFORK:
                pid = fork();
                if (pid > 0) {
                        pidfd = (int)syscall(434 /* pidfd_open */, pid, 0);
                        if (pidfd < 0) {
                                waitpid((pid_t)pid, NULL, 0);
                                return "pidfd_open refused (Linux before 5.3)";
                        }
                }
                r = raw_child(pid, pidfd);
                return r ? (*r ? r : NULL) : "fork failed";
        default:
                self = (int)syscall(434, getpid(), 0);
                if (self >= 0)
                        close(self);
                return NULL;
        }
}

/* The index of name in names (n of them, via a name function), or -1. */
static int named(const char *(*name)(int), int n, const char *want)
{
        for (int i = 0; i < n; i++)
                if (strcmp(want, name(i)) == 0)
                        return i;
        return -1;
}

int tu_loop_new(pv_loop **l, const struct pv_loop_opts *o)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        const char *backend = getenv("PV_TEST_BACKEND"), *mech = getenv("PV_TEST_MECH");

        /* Another size is a test of pv_loop_new's own: as it was asked. */
        if (o && o->size != sizeof(*o))
                return pv_loop_new(l, o);
        if (o)
                lo = *o;
        if (backend && *backend && lo.backend == PV_BACKEND_AUTO) {
                lo.backend = named(pv_backend_name, _PV_BACKEND_MAX, backend);
                if (lo.backend < 0)
                        return -EINVAL;
        }
        if (mech && *mech && lo.mech == PV_MECH_AUTO) {
                lo.mech = named(pv_mech_name, _PV_MECH_MAX, mech);
                if (lo.mech < 0)
                        return -EINVAL;
        }
        return pv_loop_new(l, &lo);
}

pv_loop *tu_loop_on(int mech)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        const char *why = tu_kernel_lacks_mech(mech);
        pv_loop *l = NULL;
        int r;

        lo.mech = mech;
        r = tu_loop_new(&l, &lo);
        if (r < 0 && why)
                cr_skip_test("spawn mechanism %s: %s", pv_mech_name(mech), why);
        cr_assert_eq(r, 0, "pv_loop_new(%s): %s, while the kernel has what it needs",
                     pv_mech_name(mech), strerror(-r));
        return l;
}

bool tu_wait_gone(int pid)
{
        struct timespec ms = { 0, 1000000 };

        for (int i = 0; i < 10000 && tu_pid_alive(pid); i++)
                nanosleep(&ms, NULL);
        return !tu_pid_alive(pid);
}

static void append(struct tu_out *o, const char *buf, size_t len)
{
        size_t room = sizeof(o->data) - 1 - o->len;
        size_t n = len < room ? len : room;

        memcpy(o->data + o->len, buf, n);
        o->len += n;
        o->data[o->len] = '\0';
        o->total += len;
}

void tu_collect(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                void *ud)
{
        struct tu_out *o = ud;

        (void)c;
        cr_assert(fd == 1 || fd == 2, "output on fd %d", fd);
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED)) {
                cr_assert_eq(len, 0);
                cr_assert_eq(o->ends[fd], 0, "fd %d ended twice", fd);
                o->ends[fd] = flags;
                return;
        }
        cr_assert_eq(o->ends[fd], 0, "output on fd %d after its end", fd);
        o->calls++;
        o->last_flags[fd] = flags;
        append(o, data, len);
        if (!o->chunks && !(flags & (PV_OUT_F_PARTIAL | PV_OUT_F_NO_NEWLINE)))
                append(o, "\n", 1);
}

void tu_on_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct tu_out *o = ud;

        (void)c;
        if (o) {
                o->exits++;
                o->at_exit = o->total;
                o->last = *e;
        }
}

struct pv_spawn_opts tu_helper_opts(const char **argv, struct tu_out *o)
{
        struct pv_spawn_opts opts = PV_SPAWN_OPTS_INIT;

        opts.argv = argv;
        /* A test that crashes must not leave helpers behind ("pause" would
         * wait for ever, holding whatever fds it inherited). */
        opts.flags = PV_SPAWN_F_PDEATHSIG;
        if (o) {
                opts.stdio[1].mode = PV_STDIO_PIPE;
                opts.stdio[2].mode = PV_STDIO_PIPE;
                opts.on_output = tu_collect;
                opts.on_exit = tu_on_exit;
                opts.userdata = o;
        }
        return opts;
}

void tu_wait_output(pv_loop *l, struct tu_out *o, const char *needle)
{
        struct timespec t0, t;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!strstr(o->data, needle)) {
                int r = pv_loop_dispatch(l, 100);
                cr_assert_geq(r, 0, "dispatch: %s", strerror(-r));
                clock_gettime(CLOCK_MONOTONIC, &t);
                cr_assert_lt(t.tv_sec - t0.tv_sec, 10, "no '%s' in output: '%s'",
                             needle, o->data);
        }
}

int tu_run_opts(pv_loop *l, const struct pv_spawn_opts *o, struct pv_exit *e)
{
        pv_child *c;
        int r = pv_spawn(l, o, &c, NULL);

        if (r < 0)
                return r;
        r = pv_child_wait(c, 10000, e);
        pv_child_release(c);
        return r;
}

int tu_run(pv_loop *l, const char **argv, struct pv_exit *e)
{
        struct pv_spawn_opts opts = tu_helper_opts(argv, NULL);

        return tu_run_opts(l, &opts, e);
}

bool tu_sb_wait_ready(pv_loop *l, struct tu_out *o)
{
        for (int i = 0; i < 100 && !strstr(o->data, "ready"); i++)
                if (pv_loop_dispatch(l, 100) < 0)
                        return false;
        return strstr(o->data, "ready") != NULL;
}

pv_child *tu_spawn_ready(pv_loop *l, struct pv_spawn_opts *o, struct tu_out *out)
{
        pv_child *c;
        int r = pv_spawn(l, o, &c, NULL);

        cr_assert_eq(r, 0, "pv_spawn: %s", strerror(-r));
        tu_wait_output(l, out, "ready");
        return c;
}

struct pv_exit tu_stop_wait(pv_child *c)
{
        struct pv_exit e;
        int r = pv_child_stop(c);

        cr_assert_eq(r, 0, "pv_child_stop: %s", strerror(-r));
        r = pv_child_wait(c, 30000, &e);
        cr_assert_eq(r, 0, "pv_child_wait: %s", strerror(-r));
        return e;
}

void tu_pipe_all(struct pv_spawn_opts *o)
{
        for (int i = 0; i < 3; i++)
                o->stdio[i].mode = PV_STDIO_PIPE;
}

/* The mount point of a cgroup2 mount showing the whole hierarchy (root
 * "/"), or "" when there is none. */
static void cgroup2_root_mount(char *mnt, size_t size)
{
        char line[4096], root[4096], dir[4096];
        FILE *f = fopen("/proc/self/mountinfo", "re");

        *mnt = '\0';
        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, " - cgroup2 ") &&
                    sscanf(line, "%*s %*s %*s %4095s %4095s", root, dir) == 2 &&
                    !strcmp(root, "/") && !*mnt)
                        snprintf(mnt, size, "%s", dir);
        if (f)
                fclose(f);
}

/* What tu_cgroup_dir made and tu_cgroup_rmdir has not removed yet, for
 * tu_cgroup_cleanup after a failed test. */
static char made[8][4096];

void tu_cgroup_dir(char *path, size_t size)
{
        static int n;
        char line[4096], mnt[4096], own[4096] = "";
        FILE *f = fopen("/proc/self/cgroup", "re");

        while (f && fgets(line, sizeof(line), f))
                if (!strncmp(line, "0::", 3))
                        sscanf(line + 3, "%4095s", own);
        if (f)
                fclose(f);
        cgroup2_root_mount(mnt, sizeof(mnt));
        if (!*mnt || !*own)
                cr_skip_test("no cgroup v2 hierarchy here (no cgroup2 mount of its root, "
                             "or no 0:: line in /proc/self/cgroup)");
        cr_assert_lt(snprintf(path, size, "%s%s/pv-test.%d.%d", mnt, strcmp(own, "/") ? own : "",
                              (int)getpid(), n++), (int)size);
        if (mkdir(path, 0755) < 0)
                cr_skip_test("cgroup v2 not writable here: mkdir %s: %s", path, strerror(errno));
        for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
                if (!made[i][0]) {
                        snprintf(made[i], sizeof(made[i]), "%s", path);
                        break;
                }
        }
}

static void write_pid(const char *dir)
{
        char file[4200];
        FILE *f;

        snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
        f = fopen(file, "we");
        cr_assert(f, "open %s: %s", file, strerror(errno));
        cr_assert_gt(fprintf(f, "%d\n", (int)getpid()), 0);
        cr_assert_eq(fclose(f), 0, "move into %s: %s", dir, strerror(errno));
}

void tu_cgroup_enter(const char *path)
{
        write_pid(path);
}

void tu_cgroup_rmdir(const char *path)
{
        char parent[4200], line[4096], *slash;
        FILE *f = fopen("/proc/self/cgroup", "re");
        bool inside = false;

        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (!strncmp(line, "0::", 3))
                        inside = !strcmp(strrchr(line, '/'), strrchr(path, '/'));
        }
        if (f)
                fclose(f);
        if (inside) {
                snprintf(parent, sizeof(parent), "%s", path);
                slash = strrchr(parent, '/');
                *slash = '\0';
                write_pid(parent);
        }
        cr_assert_eq(rmdir(path), 0, "rmdir %s: %s", path, strerror(errno));
        for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
                if (!strcmp(made[i], path))
                        made[i][0] = '\0';
}

static int rmdir_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (type == FTW_DP)
                (void)rmdir(path);      /* what stays is reported below */
        return 0;
}

/* Write text to the file name of the directory dfd; errors ignored (what
 * stays behind is reported). */
static void put(int dfd, const char *name, const char *text)
{
        int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);

        if (fd >= 0) {
                (void)!write(fd, text, strlen(text));
                close(fd);
        }
}

/* Kill what a failed test left in dir (cgroup.kill reaches every cgroup
 * below it), wait for it to empty (5 s at most), remove it all. */
static void cgroup_wipe(const char *dir)
{
        char buf[256];
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = dfd < 0 ? -1 : openat(dfd, "cgroup.events", O_RDONLY | O_CLOEXEC);

        if (dfd >= 0)
                put(dfd, "cgroup.kill", "1");
        for (int i = 0; fd >= 0 && i < 50; i++) {
                ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
                struct pollfd p = { .fd = fd, .events = POLLPRI };

                buf[n > 0 ? n : 0] = '\0';
                if (n <= 0 || strstr(buf, "populated 0"))
                        break;
                (void)poll(&p, 1, 100);
        }
        if (fd >= 0)
                close(fd);
        if (dfd >= 0)
                close(dfd);
        (void)nftw(dir, rmdir_one, 16, FTW_DEPTH | FTW_PHYS);
        if (access(dir, F_OK) == 0)
                fprintf(stderr, "tu_cgroup_cleanup: %s is left behind\n", dir);
}

void tu_cgroup_cleanup(void)
{
        char pid[32];

        snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
                if (!made[i][0] || access(made[i], F_OK) < 0)
                        continue;
                /* Out of it first, if the test had moved in: into its
                 * parent, where tu_cgroup_dir found us. */
                int parent = open(made[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (parent >= 0) {
                        int up = openat(parent, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (up >= 0) {
                                put(up, "cgroup.procs", pid);
                                close(up);
                        }
                        close(parent);
                }
                cgroup_wipe(made[i]);
                made[i][0] = '\0';
        }
}

int tu_make_cgroup(char *path, size_t size, const char *tag)
{
        int fd;

        (void)tag;
        tu_cgroup_dir(path, size);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
        return fd;
}

bool tu_cgroup_empty(const char *path)
{
        char events[4300], buf[256];
        FILE *f;
        size_t n;

        snprintf(events, sizeof(events), "%s/cgroup.events", path);
        f = fopen(events, "re");
        cr_assert(f, "%s: %s", events, strerror(errno));
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return strstr(buf, "populated 0") != NULL;
}
