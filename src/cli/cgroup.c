/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"

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

/* Our cgroup v2 path, relative to the hierarchy's (or namespace's) root. */
static int own_cgroup(char *buf, size_t size)
{
        char line[4096];
        int r = -ENOENT;
        FILE *f = fopen("/proc/self/cgroup", "re");

        if (!f)
                return -errno;
        while (r == -ENOENT && fgets(line, sizeof(line), f)) {
                if (strncmp(line, "0::", 3) != 0)
                        continue;
                line[strcspn(line, "\n")] = '\0';
                r = strlen(line + 3) < size ? 0 : -ENAMETOOLONG;
                if (r == 0)
                        strcpy(buf, line + 3);
        }
        fclose(f);
        return r;
}

/* A mount shows the hierarchy from its root down: rel is visible there
 * when root is "/", or rel, or a parent directory of rel.  Returns the
 * length of root to cut from rel, or -1. */
static int under_root(const char *rel, const char *root)
{
        size_t n = strlen(root);

        if (!strcmp(root, "/"))
                return 0;
        if (strncmp(rel, root, n) == 0 && (rel[n] == '\0' || rel[n] == '/'))
                return (int)n;
        return -1;
}

int cgroup_own_dir(char *buf, size_t size)
{
        char rel[4096], line[8192], root[4096], mnt[4096];
        int r, best = -1;
        FILE *f;

        r = own_cgroup(rel, sizeof(rel));
        if (r < 0)
                return r;
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        r = -ENOENT;
        while (fgets(line, sizeof(line), f)) {
                /* id parent dev root mount-point options ... - fstype ... */
                char *sep = strstr(line, " - ");
                int cut;

                if (!sep || strncmp(sep, " - cgroup2 ", 11) != 0 ||
                    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
                        continue;
                unescape(root);
                unescape(mnt);
                /* The mount that shows the most of our own path wins. */
                cut = under_root(rel, root);
                if (cut < 0 || cut < best)
                        continue;
                best = cut;
                const char *tail = rel + cut;
                if (!strcmp(tail, "/"))
                        tail = "";
                r = snprintf(buf, size, "%s%s", mnt, tail) < (int)size ? 0 : -ENAMETOOLONG;
        }
        fclose(f);
        return r;
}

int cgroup_make(struct tree_cgroup *cg)
{
        char own[4096];
        int r;

        cg->fd = -1;
        cg->call = "/proc/self/cgroup, /proc/self/mountinfo";
        r = cgroup_own_dir(own, sizeof(own));
        if (r < 0)
                return r;
        /* A leftover of a killed run (or the same pid in another pid
         * namespace) may hold the name: take the next one. */
        cg->call = "mkdir";
        for (int i = 0;; i++) {
                if (snprintf(cg->path, sizeof(cg->path), "%s/pidvisor.%d.%d", own,
                             (int)getpid(), i) >= (int)sizeof(cg->path))
                        return -ENAMETOOLONG;
                if (mkdir(cg->path, 0755) == 0)
                        break;
                if (errno != EEXIST || i == 100)
                        return -errno;
        }
        cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->fd < 0) {
                r = -errno;
                cg->call = "open";
                (void)rmdir(cg->path);
                return r;
        }
        return 0;
}

int cgroup_events_fd(const struct tree_cgroup *cg)
{
        int fd = openat(cg->fd, "cgroup.events", O_RDONLY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

bool cgroup_populated(int events_fd)
{
        char buf[256];
        ssize_t n;

        if (events_fd < 0)
                return false;
        n = pread(events_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strstr(buf, "populated 1") != NULL;
}

static void signal_all(int dirfd, int sig)
{
        FILE *f;
        int fd;
        long pid;

        if (sig == SIGKILL) {
                fd = openat(dirfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        bool ok = write(fd, "1", 1) == 1;
                        close(fd);
                        if (ok)
                                return;
                }
        }
        fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !(f = fdopen(fd, "r"))) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while (fscanf(f, "%ld", &pid) == 1)
                (void)kill((pid_t)pid, sig);   /* gone meanwhile: nothing to do */
        fclose(f);
}

void cgroup_signal_all(const struct tree_cgroup *cg, int sig)
{
        if (cg->fd >= 0)
                signal_all(cg->fd, sig);
}

int cgroup_remove(struct tree_cgroup *cg)
{
        int events;

        if (cg->fd < 0)
                return 0;
        events = cgroup_events_fd(cg);
        /* cgroup.events raises POLLPRI when "populated" changes; wait for
         * the last member to go (SIGKILL is quick; 10 s is a bound, not an
         * expectation), killing again in case one was forking. */
        for (int i = 0; i < 100 && cgroup_populated(events); i++) {
                struct pollfd p = { .fd = events, .events = POLLPRI };
                signal_all(cg->fd, SIGKILL);
                (void)poll(&p, 1, 100);        /* a timeout or EINTR: look again */
        }
        if (events >= 0)
                close(events);
        close(cg->fd);
        cg->fd = -1;
        return rmdir(cg->path) < 0 ? -errno : 0;
}

bool cgroup_has_kill(const struct tree_cgroup *cg)
{
        return faccessat(cg->fd, "cgroup.kill", F_OK, 0) == 0;
}
