/* SPDX-License-Identifier: MIT */
/*
 * What pidvisor passes on to the program besides stdio: the fds of
 * --preserve-fds and of socket activation (LISTEN_FDS), from 3 up, and an
 * environment without LISTEN_PID (which names pidvisor).
 */
#ifndef PV_CLI_PASSED_H
#define PV_CLI_PASSED_H

struct passed {
        int *fds;               /* 3 .. 3+n-1, all open; NULL when n is 0 */
        unsigned n;
        char **envp;            /* the program's environment; NULL: ours */
};

/* Fill *p for preserve fds (--preserve-fds) or LISTEN_FDS, whichever is
 * more; they must be open now, before any fd of our own could take a free
 * number among them.  0; -ENOMEM; -EBADF with *error saying which fd. */
int passed_fds(struct passed *p, unsigned preserve, const char **error);

/* The fds are the program's now: close our copies. */
void passed_close(struct passed *p);

void passed_free(struct passed *p);

#endif
