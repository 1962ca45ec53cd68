/* SPDX-License-Identifier: MIT */
/* What this process holds, from /proc: the leak checks of the stress
 * harness and the kernel comparison. */
#ifndef PV_STRESS_PROC_H
#define PV_STRESS_PROC_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Entries of a directory, dot-files aside (opendir's fd is close-on-exec
 * and, while open, one of /proc/self/fd's entries: count fds with
 * proc_count_dir("/proc/self/fd") - 1); -1 when it cannot be read. */
static inline int proc_count_dir(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* Our children (any state) and those of them that are zombies, from
 * /proc; plus what waitid says is waiting to be reaped. */
static inline void proc_scan_children(int *children, int *zombies)
{
        DIR *d = opendir("/proc");
        struct dirent *e;
        pid_t me = getpid();
        siginfo_t si = { 0 };

        *children = *zombies = 0;
        if (!d)
                return;
        while ((e = readdir(d))) {
                char path[300], buf[512], state;
                int ppid;
                FILE *f;

                if (e->d_name[0] < '1' || e->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[n] = '\0';
                char *p = strrchr(buf, ')');
                if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2 || ppid != me)
                        continue;
                (*children)++;
                *zombies += state == 'Z';
        }
        closedir(d);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && si.si_pid)
                *zombies += *zombies == 0;
}

#endif
