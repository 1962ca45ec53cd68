/* SPDX-License-Identifier: MIT */
/*
 * A child's stdio: pipes, reading and framing its output.  Its input (the
 * stdin queue) is input.c's.  Only the data path lives here; the spawn
 * mechanics are in spawn.c, the child's life in child.c.
 */
#include <pidvisor.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "fault.h"
#include "loop.h"
#include "stdio.h"
#include "syscall.h"

#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif

#define DEFAULT_HIGH_WATER (1024 * 1024)
/* Reads per wake-up while each one fills the buffer: enough to amortize
 * the epoll_wait under a flood, few enough that other children get their
 * turn (1 MiB with the 64 KiB buffer). */
#define READ_BUDGET 16

int pv__stdio_check(const struct pv_stdio spec[3])
{
        for (int i = 0; i < 3; i++) {
                if (spec[i].mode < 0 || spec[i].mode >= _PV_STDIO_MAX)
                        return -EINVAL;
                if (spec[i].mode == PV_STDIO_FD && spec[i].fd < 0)
                        return -EINVAL;
                if (spec[i].output < 0 || spec[i].output >= _PV_OUTPUT_MAX)
                        return -EINVAL;
        }
        return 0;
}

static void stdio_reset(struct pv__stdio *io, const struct pv_stdio spec[3],
                        size_t high_water, pv_child *c)
{
        memset(io, 0, sizeof(*io));
        for (int i = 0; i < 3; i++) {
                io->child_fd[i] = -1;
                io->raw_fd[i] = -1;
                io->mode[i] = spec[i].mode;
        }
        io->devnull = -1;
        io->in.src.fd = -1;
        io->in.child = c;
        io->in.high_water = high_water ? high_water : DEFAULT_HIGH_WATER;
        for (int i = 0; i < 2; i++) {
                struct pv__stream *s = &io->out[i];
                uint32_t max = spec[i + 1].max_line;

                if (max == 0)
                        max = i == 0 ? PV_MAX_LINE_STDOUT : PV_MAX_LINE_STDERR;

                s->src.fd = -1;
                s->child = c;
                s->child_fd = i + 1;
                s->output = spec[i + 1].output;
                pv__framer_init(&s->fr, max);
        }
}

int pv__stdio_prepare(pv_loop *l, struct pv__stdio *io, const struct pv_stdio spec[3],
                      size_t high_water, pv_child *c)
{
        int r = 0;

        stdio_reset(io, spec, high_water, c);
        for (int i = 0; i < 3 && r >= 0; i++) {
                int p[2], mine, theirs;

                switch (spec[i].mode) {
                case PV_STDIO_INHERIT:
                        break;
                case PV_STDIO_FD:
                        io->child_fd[i] = spec[i].fd;
                        break;
                case PV_STDIO_NULL:
                        /* One open serves every slot that asks for it. */
                        if (io->devnull < 0) {
                                PV_RETRY(r, PV_FAULT(PV_FAULT_OPEN,
                                        pv__fd_high(sys_openat(AT_FDCWD, "/dev/null",
                                                   O_RDWR | O_CLOEXEC | O_NOCTTY, 0))));
                                if (r < 0)
                                        break;
                                io->devnull = r;
                        }
                        io->child_fd[i] = io->devnull;
                        break;
                case PV_STDIO_PIPE:
                case PV_STDIO_PIPE_RAW:
                        /* Both ends CLOEXEC: the child gets its end through
                         * dup3, which clears the flag on the copy only. */
                        PV_RETRY(r, PV_FAULT(PV_FAULT_PIPE2, pv__pipe_high(p)));
                        if (r < 0)
                                break;
                        mine = i == 0 ? p[1] : p[0];
                        theirs = i == 0 ? p[0] : p[1];
                        io->child_fd[i] = theirs;
                        io->owned[i] = true;
                        if (spec[i].mode == PV_STDIO_PIPE_RAW) {
                                io->raw_fd[i] = mine;
                                break;
                        }
                        if (i == 0) {
                                /* Made non-blocking by the first write:
                                 * a stdin nobody writes to costs no
                                 * system call of its own. */
                                io->in.src.fd = mine;
                                break;
                        }
                        io->out[i - 1].src.fd = mine;
                        /* Our end only: each end of a pipe is its own open
                         * file, so the child's end stays blocking. */
                        PV_RETRY(r, PV_FAULT(PV_FAULT_FCNTL,
                                             sys_fcntl(mine, F_SETFL, O_NONBLOCK)));
                        break;
                }
        }
        if (r < 0) {
                pv__stdio_spawned(io);
                pv__stdio_close(l, io);
                return r;
        }
        return 0;
}

void pv__stdio_spawned(struct pv__stdio *io)
{
        for (int i = 0; i < 3; i++) {
                if (io->owned[i])
                        sys_close(io->child_fd[i]);
                io->owned[i] = false;
                io->child_fd[i] = -1;
        }
        if (io->devnull >= 0)
                sys_close(io->devnull);
        io->devnull = -1;
}

/* ---- output ---------------------------------------------------------- */

static void stream_emit(void *ctx, const char *data, size_t len, unsigned flags)
{
        struct pv__stream *s = ctx;

        pv__child_output(s->child, s->child_fd, data, len, flags);
}

bool pv__stdio_streaming(const struct pv__stdio *io)
{
        return io->out[0].src.fd >= 0 || io->out[1].src.fd >= 0;
}

/* End a stream: close it, hand out its unfinished line, say how it
 * ended (PV_OUT_F_EOF or PV_OUT_F_CLOSED). */
static void stream_end(pv_loop *l, struct pv__stream *s, unsigned how)
{
        pv__loop_close(l, &s->src);
        if (s->output == PV_OUTPUT_LINES)
                pv__framer_finish(&s->fr, stream_emit, s);
        pv__child_output(s->child, s->child_fd, "", 0, how);
        pv__child_stream_ended(s->child);
}

/* POLLHUP on a pipe's read end: no writer holds it any more. */
static bool no_writers(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return sys_poll(&p, 1, 0) > 0 && (p.revents & POLLHUP);
}

/* Read and deliver: while reads fill the buffer (up to READ_BUDGET), or
 * when draining after the exit until the pipe is empty.  Returns 1 while
 * the stream goes on, 0 at EOF, -errno on a read error. */
static int stream_read(pv_loop *l, struct pv__stream *s, bool drain)
{
        size_t total = 0, max = l->read_buf_size;
        bool sized = false;

        for (int reads = 1;; reads++) {
                ssize_t n = sys_read(s->src.fd, l->read_buf, l->read_buf_size);

                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        return 1;
                if (n <= 0)
                        return (int)n;
                if (s->output == PV_OUTPUT_CHUNKS)
                        pv__child_output(s->child, s->child_fd, l->read_buf, (size_t)n, 0);
                else
                        pv__framer_feed(&s->fr, l->read_buf, (size_t)n, stream_emit, s);
                if (!drain) {
                        if ((size_t)n < l->read_buf_size || reads >= READ_BUDGET)
                                return 1;
                        continue;
                }
                total += (size_t)n;
                if (total < max)
                        continue;
                /* Everything the child wrote before it died is in the pipe,
                 * and a pipe holds at most its capacity; reading more would
                 * be a grandchild's later output, which could go on for
                 * ever.  Ask for the capacity only when the default is
                 * reached: most children leave far less. */
                if (no_writers(s->src.fd)) {
                        /* Every writer is gone: what is left is finite, and
                         * reading to EOF tells a clean end from a closed
                         * one. */
                        max = SIZE_MAX;
                        continue;
                }
                if (sized)
                        return 1;
                int cap = sys_fcntl(s->src.fd, F_GETPIPE_SZ, 0);
                sized = true;
                if (cap <= 0 || (size_t)cap <= total)
                        return 1;
                max = (size_t)cap;
        }
}

static void stream_ready(struct pv__source *src, uint32_t events)
{
        struct pv__stream *s = container_of(src, struct pv__stream, src);
        pv_loop *l = pv__child_loop(s->child);
        int r;

        (void)events;
        r = stream_read(l, s, false);
        if (r <= 0)
                stream_end(l, s, r == 0 ? PV_OUT_F_EOF : PV_OUT_F_CLOSED);
}

int pv__stdio_start(pv_loop *l, struct pv__stdio *io)
{
        pv__input_start(&io->in);
        for (int i = 0; i < 2; i++) {
                struct pv__stream *s = &io->out[i];
                if (s->src.fd < 0)
                        continue;
                s->src.cb = stream_ready;
                int r = pv__loop_add(l, &s->src, PV_EV_IN);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool pv__stdio_finish(pv_loop *l, struct pv__stdio *io, bool linger)
{
        pv__stdio_stop_input(l, io);
        for (int i = 0; i < 2; i++) {
                struct pv__stream *s = &io->out[i];
                int r;

                if (s->src.fd < 0)
                        continue;
                r = stream_read(l, s, true);
                if (r <= 0)
                        stream_end(l, s, r == 0 ? PV_OUT_F_EOF : PV_OUT_F_CLOSED);
                else if (!linger)
                        stream_end(l, s, PV_OUT_F_CLOSED);
                else if (s->output == PV_OUTPUT_LINES)
                        /* Lingering: what the child wrote comes before its
                         * exit callback, an unfinished line included. */
                        pv__framer_flush(&s->fr, stream_emit, s);
        }
        return pv__stdio_streaming(io);
}

void pv__stdio_end_streams(pv_loop *l, struct pv__stdio *io)
{
        for (int i = 0; i < 2; i++)
                if (io->out[i].src.fd >= 0)
                        stream_end(l, &io->out[i], PV_OUT_F_CLOSED);
}

/* ---- teardown -------------------------------------------------------- */

void pv__stdio_close(pv_loop *l, struct pv__stdio *io)
{
        pv__input_done(l, &io->in);
        /* A stream that was never registered just fails the EPOLL_CTL_DEL. */
        for (int i = 0; i < 2; i++) {
                pv__loop_close(l, &io->out[i].src);
                pv__framer_done(&io->out[i].fr);
        }
        for (int i = 0; i < 3; i++) {
                if (io->raw_fd[i] >= 0)
                        sys_close(io->raw_fd[i]);
                io->raw_fd[i] = -1;
        }
}
