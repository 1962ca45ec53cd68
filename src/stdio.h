/* SPDX-License-Identifier: MIT */
/* A child's fds 0-2: pipes, /dev/null, inherited or the caller's fds, and
 * draining what the child writes. */
#ifndef PV_STDIO_H
#define PV_STDIO_H

#include <stdbool.h>

#include "backend.h"
#include "internal.h"

typedef struct pv_loop pv_loop;
typedef struct pv_child pv_child;
struct pv_stdio;

/* The parent end of a child's stdout or stderr pipe. */
struct pv__stream {
        struct pv__source src;     /* fd -1 once at EOF or closed */
        pv_child *child;
        int child_fd;              /* 1 or 2 */
};

struct pv__stdio {
        int child_fd[3];   /* what goes on the child's fd 0-2; -1 = inherit */
        bool owned[3];     /* child_fd[i] is a pipe end to close after spawn */
        int devnull;       /* /dev/null for PV_STDIO_NULL slots, until spawned */
        int in_fd;         /* parent end of the stdin pipe; -1 if none/closed */
        bool in_piped;     /* stdin was a PV_STDIO_PIPE */
        struct pv__stream out[2];  /* stdout, stderr */
};

/* Validate the modes, then create pipes and open /dev/null as asked.  On
 * failure nothing is left open.  0, -EINVAL or -errno. */
int pv__stdio_check(const struct pv_stdio spec[3]) PV_HIDDEN;
int pv__stdio_prepare(pv_loop *l, struct pv__stdio *io,
                      const struct pv_stdio spec[3], pv_child *c) PV_HIDDEN;

/* After clone: close the child's ends. */
void pv__stdio_spawned(struct pv__stdio *io) PV_HIDDEN;

/* Watch the parent ends of stdout/stderr.  0 or -errno. */
int pv__stdio_start(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* After the child exited: deliver what is already in the pipes (bounded by
 * the pipe's capacity, so a grandchild that keeps writing cannot hold us),
 * then close the streams. */
void pv__stdio_finish(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* Close the stdin pipe's parent end; 0, or -ENOTCONN if stdin is no pipe. */
int pv__stdio_close_stdin(struct pv__stdio *io) PV_HIDDEN;

/* Close every fd (teardown and failed spawns). */
void pv__stdio_close(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

#endif
