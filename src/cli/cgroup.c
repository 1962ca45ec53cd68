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

/* The cgroup2 mount point, from /proc/self/mountinfo. */
static bool cgroup2_mount(char *buf, size_t size)
{
        char line[4096];
        bool found = false;
        FILE *f = fopen("/proc/self/mountinfo", "re");

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                /* ... mount-point ... - fstype source options */
                char *sep = strstr(line, " - ");
                char mnt[4096];
                if (!sep || strncmp(sep, " - cgroup2 ", 11) != 0)
                        continue;
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
                    strlen(mnt) < size) {
                        strcpy(buf, mnt);
                        found = true;
                }
        }
        fclose(f);
        return found;
}

bool cgroup_own_dir(char *buf, size_t size)
{
        char mnt[4096], line[4096], *rel = NULL;
        FILE *f;

        if (!cgroup2_mount(mnt, sizeof(mnt)))
                return false;
        f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, "0::", 3)) {
                        rel = line + 3;
                        rel[strcspn(rel, "\n")] = '\0';
                        break;
                }
        fclose(f);
        if (!rel)
                return false;
        return snprintf(buf, size, "%s%s", mnt, strcmp(rel, "/") ? rel : "") < (int)size;
}

int cgroup_make(struct tree_cgroup *cg)
{
        char own[4096];

        cg->fd = -1;
        if (!cgroup_own_dir(own, sizeof(own)))
                return -ENOENT;
        /* A leftover of a killed run (or the same pid in another pid
         * namespace) may hold the name: take the next one. */
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
                int e = -errno;
                rmdir(cg->path);
                return e;
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
                kill((pid_t)pid, sig);
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
                poll(&p, 1, 100);
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
