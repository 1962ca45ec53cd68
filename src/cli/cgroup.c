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
        if (snprintf(cg->path, sizeof(cg->path), "%s/pidvisor.%d", own, (int)getpid()) >=
            (int)sizeof(cg->path))
                return -ENAMETOOLONG;
        if (mkdir(cg->path, 0755) < 0)
                return -errno;
        cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->fd < 0) {
                int e = -errno;
                rmdir(cg->path);
                return e;
        }
        return 0;
}

static bool populated(int dirfd, int *events_fd)
{
        char buf[256];
        ssize_t n;

        if (*events_fd < 0)
                *events_fd = openat(dirfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
        if (*events_fd < 0)
                return false;
        n = pread(*events_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strstr(buf, "populated 1") != NULL;
}

static void kill_all(int dirfd)
{
        FILE *f;
        int fd = openat(dirfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
        long pid;

        if (fd >= 0) {
                bool ok = write(fd, "1", 1) == 1;
                close(fd);
                if (ok)
                        return;
        }
        fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !(f = fdopen(fd, "r"))) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while (fscanf(f, "%ld", &pid) == 1)
                kill((pid_t)pid, SIGKILL);
        fclose(f);
}

void cgroup_remove(struct tree_cgroup *cg)
{
        int events = -1;

        if (cg->fd < 0)
                return;
        /* cgroup.events raises POLLPRI when "populated" changes; wait for
         * the last member to go (SIGKILL is quick; 10 s is a bound, not an
         * expectation), killing again in case one was forking. */
        for (int i = 0; i < 100 && populated(cg->fd, &events); i++) {
                struct pollfd p = { .fd = events, .events = POLLPRI };
                kill_all(cg->fd);
                poll(&p, 1, 100);
        }
        if (events >= 0)
                close(events);
        close(cg->fd);
        cg->fd = -1;
        if (rmdir(cg->path) < 0)
                fprintf(stderr, "pidvisor: cannot remove cgroup %s: %s\n", cg->path,
                        strerror(errno));
}

bool cgroup_has_kill(const struct tree_cgroup *cg)
{
        return faccessat(cg->fd, "cgroup.kill", F_OK, 0) == 0;
}

void cgroup_kill(const struct tree_cgroup *cg)
{
        if (cg->fd >= 0)
                kill_all(cg->fd);
}
