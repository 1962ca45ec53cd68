/* SPDX-License-Identifier: MIT */
/* A child's fds 0-2: pipes, /dev/null, inherited or the caller's fds;
 * reading and framing what the child writes, queueing what it is sent. */
#ifndef PV_STDIO_H
#define PV_STDIO_H

#include <stdbool.h>
#include <sys/types.h>

#include "backend.h"
#include "internal.h"
#include "lines.h"

typedef struct pv_loop pv_loop;
typedef struct pv_child pv_child;
struct pv_stdio;

/* The parent end of a child's stdout or stderr pipe. */
struct pv__stream {
        struct pv__source src;     /* fd -1 once ended or closed */
        pv_child *child;
        int child_fd;              /* 1 or 2 */
        int output;                /* enum pv_output_mode */
        struct pv__framer fr;      /* PV_OUTPUT_LINES: the unfinished line */
};

/* The parent end of a child's stdin pipe, and what waits to go through. */
struct pv__input {
        struct pv__source src;     /* fd -1 once closed */
        pv_child *child;
        bool registered;           /* in the backend, for PV_EV_OUT: exactly
                                    * while the queue holds data (and around
                                    * a write of more than PIPE_BUF), so a
                                    * stdin nobody fills costs no ADD/DEL */
        bool nonblock;             /* O_NONBLOCK set, by the first write */
        bool close_pending;        /* close once the queue has drained */
        bool above_mark;           /* a write returned 1: owe an on_drain */
        int err;                   /* sticky: -EPIPE once the pipe broke */
        char *q;                   /* queue: q[off, off + len) is pending */
        size_t off, len, cap;
        size_t high_water;
};

struct pv__stdio {
        int child_fd[3];   /* what goes on the child's fd 0-2; -1 = inherit */
        bool owned[3];     /* child_fd[i] is a pipe end to close after spawn */
        int devnull;       /* /dev/null for PV_STDIO_NULL slots, until spawned */
        int mode[3];       /* enum pv_stdio_mode per slot */
        int raw_fd[3];     /* PV_STDIO_PIPE_RAW: the caller's end; -1 */
        struct pv__input in;
        struct pv__stream out[2];  /* stdout, stderr */
};

/* Validate the modes.  0 or -EINVAL. */
int pv__stdio_check(const struct pv_stdio spec[3]) PV_HIDDEN;

/* Create pipes and open /dev/null as asked.  On failure nothing is left
 * open.  0 or -errno. */
int pv__stdio_prepare(pv_loop *l, struct pv__stdio *io, const struct pv_stdio spec[3],
                      size_t high_water, pv_child *c) PV_HIDDEN;

/* After clone: close the child's ends. */
void pv__stdio_spawned(struct pv__stdio *io) PV_HIDDEN;

/* Watch the parent ends of stdout/stderr.  0 or -errno. */
int pv__stdio_start(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* After the child exited: deliver what is already in the pipes (bounded by
 * each pipe's capacity, so a grandchild that keeps writing cannot hold us)
 * and close stdin.  Unless linger, close the output streams too (each
 * reporting its end); returns whether a stream is still open. */
bool pv__stdio_finish(pv_loop *l, struct pv__stdio *io, bool linger) PV_HIDDEN;

/* End the output streams that are still open, reporting PV_OUT_F_CLOSED. */
void pv__stdio_end_streams(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* Whether any output stream is still open. */
bool pv__stdio_streaming(const struct pv__stdio *io) PV_HIDDEN;

/* pv_child_write and pv_child_close_stdin. */
int pv__stdio_write(pv_loop *l, struct pv__stdio *io, const void *buf, size_t n) PV_HIDDEN;
int pv__stdio_close_stdin(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* The stop ladder and the exit: close a PV_STDIO_PIPE stdin at once and
 * drop its queue.  A raw stdin is the caller's to use until the child is
 * freed, and stays. */
void pv__stdio_stop_input(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* Close every fd, without callbacks (teardown and failed spawns). */
void pv__stdio_close(pv_loop *l, struct pv__stdio *io) PV_HIDDEN;

/* input.c: set up the stdin source (not registered until a write
 * queues); close it and free the queue. */
void pv__input_start(struct pv__input *in) PV_HIDDEN;
void pv__input_done(pv_loop *l, struct pv__input *in) PV_HIDDEN;

#endif
