/* SPDX-License-Identifier: MIT */
/* What pidvisor passes on besides stdio: see passed.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"
#include "passed.h"

extern char **environ;

/* Socket activation of pidvisor itself: LISTEN_PID names us, LISTEN_FDS
 * counts the fds from 3.  0 when it is not ours. */
static unsigned listen_fds(void)
{
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        char *end;
        unsigned long n;

        if (!pid || !fds || strtoul(pid, &end, 10) != (unsigned long)getpid() || *end)
                return 0;
        n = strtoul(fds, &end, 10);
        return *end || n > PRESERVE_FDS_MAX ? 0 : (unsigned)n;
}

/* The program's environment without LISTEN_PID (and systemd's
 * LISTEN_PIDFDID): they name pidvisor, and its pid cannot be the program's
 * (envp is fixed before the clone). */
static int drop_listen_pid(struct passed *p)
{
        size_t n = 0, k = 0;

        while (environ[n])
                n++;
        p->envp = calloc(n + 1, sizeof(*p->envp));
        if (!p->envp)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "LISTEN_PID=", 11) &&
                    strncmp(environ[i], "LISTEN_PIDFDID=", 15))
                        p->envp[k++] = environ[i];
        return 0;
}

int passed_fds(struct passed *p, unsigned preserve, const char **error)
{
        static char why[96];
        unsigned listen = listen_fds();
        unsigned n = preserve > listen ? preserve : listen;

        if (listen && drop_listen_pid(p) < 0)
                return -ENOMEM;
        if (n == 0)
                return 0;
        p->fds = calloc(n, sizeof(*p->fds));
        if (!p->fds)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                p->fds[i] = 3 + (int)i;
                if (fcntl(p->fds[i], F_GETFD) < 0) {
                        snprintf(why, sizeof(why), "%s=%u: fd %d is not open",
                                 preserve == n ? "--preserve-fds" : "LISTEN_FDS", n, p->fds[i]);
                        *error = why;
                        return -EBADF;
                }
        }
        p->n = n;
        return 0;
}

void passed_close(struct passed *p)
{
        for (unsigned i = 0; i < p->n; i++)
                (void)close(p->fds[i]);    /* ours to close; nothing to do on error */
        p->n = 0;
}

void passed_free(struct passed *p)
{
        free(p->fds);
        free(p->envp);
        p->fds = NULL;
        p->envp = NULL;
}
