/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2: a fresh directory per child (pv_cgroup), signalling every
 * process of one, and watching it empty through cgroup.events.  Nothing
 * here needs a pv_loop: the stop ladder (child.c) and the command use the
 * same signalling.
 */
#include <pidvisor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "cgroup.h"
#include "fault.h"
#include "syscall.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* How long pv_cgroup_free() waits for a populated cgroup to empty. */
#define FREE_TIMEOUT_MS 10000
/* How often pv__cgroup_kill_wait() kills again while waiting. */
#define KILL_AGAIN_MS 100
/* The most of /proc/self/mountinfo we read: a host with a million mounts
 * is not one we can find our cgroup in anyway. */
#define PROC_FILE_MAX (64u << 20)

struct pv_cgroup {
        char *path;             /* absolute; valid until pv_cgroup_free() */
        int fd;                 /* O_DIRECTORY, >= 3; -1 once removed */
        int events;             /* cgroup.events, opened on first use; -1 */
        bool remove_called;     /* pv_cgroup_remove() ran: the caller knows
                                 * the outcome, pv_cgroup_free() tries no more */
};

/* kill() one listed pid; the first failure other than "gone" is kept. */
static void signal_one(long cur, int sig, pid_t pid, bool *reached, int *err)
{
        int r;

        if (cur <= 0)
                return;
        PV_RETRY(r, sys_kill((pid_t)cur, sig));
        if (r == 0 && cur == pid)
                *reached = true;
        if (r < 0 && r != -ESRCH && *err == 0)
                *err = r;
}

/* Each pid in a cgroup.procs, whole numbers only: a pid cut at the end of a
 * read is completed by the next one. */
static int signal_listed(int procs, int sig, pid_t pid, bool *reached)
{
        char buf[4096];
        long cur = 0;
        ssize_t n;
        int err = 0;

        for (;;) {
                PV_RETRY(n, sys_read(procs, buf, sizeof(buf)));
                if (n < 0)
                        return (int)n;
                if (n == 0) {
                        signal_one(cur, sig, pid, reached, &err);
                        return err;
                }
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] >= '0' && buf[i] <= '9') {
                                cur = cur * 10 + (buf[i] - '0');
                        } else {
                                signal_one(cur, sig, pid, reached, &err);
                                cur = 0;
                        }
                }
        }
}

int pv__cgroup_signal(int dfd, int sig, pid_t pid, bool *reached)
{
        bool dummy;
        ssize_t n;
        int fd, r;

        assert(dfd >= 0);
        reached = reached ? reached : &dummy;
        *reached = false;
        if (sig == SIGKILL) {
                PV_RETRY(fd, pv__fd_high(sys_openat(dfd, "cgroup.kill", O_WRONLY | O_CLOEXEC, 0)));
                if (fd >= 0) {
                        PV_RETRY(n, sys_write(fd, "1", 1));
                        sys_close(fd);
                        if (n == 1)
                                return 0;
                }
                /* No cgroup.kill (before Linux 5.14; delete this path when
                 * that is our floor), or it could not be written: each pid. */
        }
        PV_RETRY(fd, pv__fd_high(sys_openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC, 0)));
        if (fd < 0)
                return fd;
        r = signal_listed(fd, sig, pid, reached);
        sys_close(fd);
        return r;
}

int pv__cgroup_events_open(int dfd)
{
        int fd;

        assert(dfd >= 0);
        PV_RETRY(fd, pv__fd_high(sys_openat(dfd, "cgroup.events", O_RDONLY | O_CLOEXEC, 0)));
        return fd;
}

int pv__cgroup_populated(int events_fd)
{
        char buf[256], *save = NULL;
        ssize_t n;

        /* From offset 0 every time: kernfs renders the file anew, and the
         * read is what re-arms POLLPRI. */
        PV_RETRY(n, sys_pread(events_fd, buf, sizeof(buf) - 1, 0));
        if (n < 0)
                return (int)n;
        buf[n] = '\0';
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (!strcmp(l, "populated 0") || !strcmp(l, "populated 1"))
                        return l[10] - '0';
        return -EBADMSG;
}

/* SIGKILL every process of the cgroup dfd and wait until none is left, for
 * at most timeout_ms (-1: no limit), killing again every KILL_AGAIN_MS in
 * case one was forking (without cgroup.kill).  0 once empty; -ETIMEDOUT
 * when still populated at the deadline (or the error of the last kill:
 * -EPERM), or an error of pv__cgroup_populated().  events_fd: its
 * cgroup.events, to wait on. */
static int kill_wait(int dfd, int events_fd, int timeout_ms)
{
        uint64_t end = pv__now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
        int r, sent;

        while ((r = pv__cgroup_populated(events_fd)) == 1) {
                uint64_t now = pv__now_ns();
                int wait = KILL_AGAIN_MS;

                sent = pv__cgroup_signal(dfd, SIGKILL, 0, NULL);
                if (timeout_ms >= 0) {
                        if (now >= end) {
                                r = sent < 0 ? sent : -ETIMEDOUT;
                                break;
                        }
                        if ((end - now) / 1000000u < (uint64_t)wait)
                                wait = (int)((end - now) / 1000000u) + 1;
                }
                /* cgroup.events raises POLLPRI when "populated" changes; the
                 * read above re-armed it, so an exit from here on wakes us.
                 * A timeout, an EINTR or an error of poll: look again. */
                struct pollfd p = { .fd = events_fd, .events = POLLPRI };
                (void)sys_poll(&p, 1, wait);
        }
        return r < 0 ? r : 0;
}

/* ---- our own cgroup ------------------------------------------------- */

/* A whole file of /proc, NUL-terminated, into *ret (malloc()ed). */
static int read_proc(const char *path, char **ret)
{
        size_t size = 4096, len = 0;
        char *buf = NULL, *p;
        ssize_t n;
        int fd, r = 0;

        PV_RETRY(fd, pv__fd_high(sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0)));
        if (fd < 0)
                return fd;
        for (;;) {
                if (!buf || len + 1 >= size) {
                        size *= buf ? 2 : 1;
                        if (size > PROC_FILE_MAX) {
                                r = -EFBIG;
                                break;
                        }
                        p = realloc(buf, size);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = p;
                }
                PV_RETRY(n, sys_read(fd, buf + len, size - len - 1));
                if (n <= 0) {
                        r = (int)n;
                        break;
                }
                len += (size_t)n;
        }
        sys_close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
        char *w = s;

        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else {
                        *w++ = *r;
                }
        }
        *w = '\0';
}

/* The rest of /proc/self/cgroup's "0::" line (our path from the root of
 * the hierarchy, or of our cgroup namespace), cut out of buf. */
static int own_rel(char *buf, char **ret)
{
        for (char *l = buf; l; ) {
                char *next = strchr(l, '\n');

                if (next)
                        *next++ = '\0';
                if (!strncmp(l, "0::/", 4)) {
                        /* "/.." : we sit outside our cgroup namespace's
                         * root, where no mount of ours shows it. */
                        if (!strncmp(l + 3, "/..", 3) && (l[6] == '/' || !l[6]))
                                return -ENOENT;
                        *ret = l + 3;
                        return 0;
                }
                l = next;
        }
        return -ENOENT;
}

/* A mount shows the hierarchy from its root down: rel is visible there when
 * root is "/", or rel, or a parent directory of rel.  Returns how much of
 * rel to cut (the length of root), or -1. */
static int under_root(const char *rel, const char *root)
{
        size_t n = strlen(root);

        if (!strcmp(root, "/"))
                return 0;
        if (!strncmp(rel, root, n) && (rel[n] == '\0' || rel[n] == '/'))
                return (int)n;
        return -1;
}

/* Fields 4 (root) and 5 (mount point) of a mountinfo line that is a
 * cgroup2 mount, unescaped in place; false for any other line. */
static bool cgroup2_mount(char *line, char **root, char **mnt)
{
        char *sep = strstr(line, " - "), *f[5], *save = NULL;

        if (!sep || strncmp(sep, " - cgroup2 ", 11))
                return false;
        *sep = '\0';
        for (int i = 0; i < 5; i++)
                if (!(f[i] = strtok_r(i ? NULL : line, " ", &save)))
                        return false;
        unescape(f[3]);
        unescape(f[4]);
        *root = f[3];
        *mnt = f[4];
        return true;
}

/* Our directory, from our rel path and mountinfo (consumed). */
static int own_mount(const char *rel, char *info, char **ret)
{
        char *best = NULL, *root, *mnt;
        int cut, best_cut = -1;

        for (char *l = info; l; ) {
                char *next = strchr(l, '\n');

                if (next)
                        *next++ = '\0';
                /* The mount that shows the most of our own path wins. */
                if (cgroup2_mount(l, &root, &mnt) && (cut = under_root(rel, root)) > best_cut) {
                        const char *tail = rel + cut;

                        free(best);
                        best = NULL;
                        if (asprintf(&best, "%s%s", mnt, strcmp(tail, "/") ? tail : "") < 0)
                                return -ENOMEM;
                        best_cut = cut;
                }
                l = next;
        }
        if (!best)
                return -ENOENT;
        *ret = best;
        return 0;
}

/* Our own cgroup v2 directory as this process sees it: the cgroup2 mount
 * (the one that shows the most of our path) whose root holds the "0::" line
 * of /proc/self/cgroup, joined with the rest of that line, as a malloc()ed
 * absolute path.  0, or -ENOENT (no cgroup v2 hierarchy, or ours is not
 * visible in any mount), -ENOMEM, -EMFILE, -EFBIG, or another errno of
 * reading /proc. */
static int own_dir(char **ret_path)
{
        char *cg = NULL, *info = NULL, *rel;
        int r;

        assert(ret_path);
        r = read_proc("/proc/self/cgroup", &cg);
        if (r == 0)
                r = own_rel(cg, &rel);
        if (r == 0)
                r = read_proc("/proc/self/mountinfo", &info);
        if (r == 0)
                r = own_mount(rel, info, ret_path);
        free(info);
        free(cg);
        return r;
}

/* ---- pv_cgroup -------------------------------------------------------- */

/* The parent, checked before anything is made: a directory on a cgroup v2
 * file system. */
static int check_parent(const char *dir)
{
        struct statfs sf;
        int fd, r;

        PV_RETRY(fd, pv__fd_high(sys_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)));
        if (fd < 0)
                return fd;
        r = sys_fstatfs(fd, &sf);
        sys_close(fd);
        if (r < 0)
                return r;
        return sf.f_type == CGROUP2_SUPER_MAGIC ? 0 : -ENOMEDIUM;
}

/* mkdir a name nobody has: pid and a per-process counter make the first try
 * unique among our threads and processes; mkdir() is the arbiter against
 * anyone else (the same pid in another pid namespace, a leftover of a
 * killed run), and a taken name is skipped. */
static int make_dir(const char *parent, char **ret_path)
{
        static unsigned counter;
        char *path;
        int r;

        for (int tries = 0; tries < 1000; tries++) {
                unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);

                if (asprintf(&path, "%s/pidvisor.%d.%u", strcmp(parent, "/") ? parent : "",
                             (int)sys_getpid(), n) < 0)
                        return -ENOMEM;
                r = sys_mkdirat(AT_FDCWD, path, 0755);
                if (r == 0) {
                        *ret_path = path;
                        return 0;
                }
                free(path);
                if (r != -EEXIST && r != -EINTR)
                        return r;
        }
        return -EEXIST;
}

PV_EXPORT int pv_cgroup_new(pv_cgroup **ret, const char *parent_dir)
{
        char *own = NULL, *path = NULL;
        pv_cgroup *cg;
        int r, fd;

        return_if_invalid(ret, -EINVAL);
        return_if_invalid(!parent_dir || parent_dir[0] == '/', -EINVAL);
        if (!parent_dir) {
                r = own_dir(&own);
                if (r < 0)
                        return r;
                parent_dir = own;
        }
        r = check_parent(parent_dir);
        if (r == 0)
                r = make_dir(parent_dir, &path);
        free(own);
        if (r < 0)
                return r;
        cg = malloc(sizeof(*cg));
        fd = -ENOMEM;
        if (cg)
                PV_RETRY(fd, pv__fd_high(sys_openat(AT_FDCWD, path,
                                                    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)));
        if (fd < 0) {
                (void)sys_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);  /* nothing ran in it */
                free(path);
                free(cg);
                return fd;
        }
        *cg = (pv_cgroup){ .path = path, .fd = fd, .events = -1 };
        *ret = cg;
        return 0;
}

PV_EXPORT int pv_cgroup_fd(const pv_cgroup *cg)
{
        return_if_invalid(cg, -EINVAL);
        return cg->fd >= 0 ? cg->fd : -ENOENT;
}

PV_EXPORT const char *pv_cgroup_path(const pv_cgroup *cg)
{
        return cg ? cg->path : NULL;
}

PV_EXPORT int pv_cgroup_signal(pv_cgroup *cg, int sig)
{
        return_if_invalid(cg, -EINVAL);
        return_if_invalid(sig >= 0 && sig <= PV__NSIG, -EINVAL);
        if (cg->fd < 0)
                return -ENOENT;
        return pv__cgroup_signal(cg->fd, sig, 0, NULL);
}

PV_EXPORT int pv_cgroup_events_fd(pv_cgroup *cg)
{
        return_if_invalid(cg, -EINVAL);
        if (cg->fd < 0)
                return -ENOENT;
        if (cg->events < 0) {
                int fd = pv__cgroup_events_open(cg->fd);
                if (fd < 0)
                        return fd;
                cg->events = fd;
        }
        return cg->events;
}

PV_EXPORT int pv_cgroup_populated(pv_cgroup *cg)
{
        int fd = pv_cgroup_events_fd(cg);

        return fd < 0 ? fd : pv__cgroup_populated(fd);
}

PV_EXPORT int pv_cgroup_remove(pv_cgroup *cg, int timeout_ms)
{
        int r;

        return_if_invalid(cg, -EINVAL);
        return_if_invalid(timeout_ms >= -1, -EINVAL);
        cg->remove_called = true;
        if (cg->fd < 0)
                return 0;
        r = pv_cgroup_events_fd(cg);
        if (r >= 0)
                r = kill_wait(cg->fd, r, timeout_ms);
        if (r < 0 && r != -ENODEV && r != -ENOENT)
                return r;
        /* Empty, or gone already (someone removed it: its files say
         * ENODEV).  A cgroup someone made inside it says -EBUSY here. */
        r = sys_unlinkat(AT_FDCWD, cg->path, AT_REMOVEDIR);
        if (r < 0 && r != -ENOENT)
                return r;
        if (cg->events >= 0)
                sys_close(cg->events);
        sys_close(cg->fd);
        cg->events = cg->fd = -1;
        return 0;
}

PV_EXPORT void pv_cgroup_free(pv_cgroup *cg)
{
        if (!cg)
                return;
        if (!cg->remove_called)
                (void)pv_cgroup_remove(cg, FREE_TIMEOUT_MS);   /* it may stay: see the header */
        if (cg->events >= 0)
                sys_close(cg->events);
        if (cg->fd >= 0)
                sys_close(cg->fd);
        free(cg->path);
        free(cg);
}
