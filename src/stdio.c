/* SPDX-License-Identifier: MIT */
/* A child's stdio: pipes and draining.  Only the data path lives here; the
 * spawn mechanics are in spawn.c, the child's life in child.c. */
#include <pidvisor.h>
#include <fcntl.h>

#include "child.h"
#include "loop.h"
#include "stdio.h"
#include "syscall.h"

#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif

int pv__stdio_check(const struct pv_stdio spec[3])
{
        for (int i = 0; i < 3; i++) {
                if (spec[i].mode < 0 || spec[i].mode >= _PV_STDIO_MAX)
                        return -EINVAL;
                if (spec[i].mode == PV_STDIO_FD && spec[i].fd < 0)
                        return -EINVAL;
        }
        return 0;
}

static void stream_init(struct pv__stream *s, pv_child *c, int child_fd)
{
        s->src.fd = -1;
        s->child = c;
        s->child_fd = child_fd;
}

static void stdio_reset(struct pv__stdio *io, pv_child *c)
{
        for (int i = 0; i < 3; i++) {
                io->child_fd[i] = -1;
                io->owned[i] = false;
        }
        io->devnull = -1;
        io->in_fd = -1;
        io->in_piped = false;
        stream_init(&io->out[0], c, 1);
        stream_init(&io->out[1], c, 2);
}

int pv__stdio_prepare(pv_loop *l, struct pv__stdio *io,
                      const struct pv_stdio spec[3], pv_child *c)
{
        int r = 0;

        stdio_reset(io, c);
        for (int i = 0; i < 3 && r >= 0; i++) {
                int p[2];

                switch (spec[i].mode) {
                case PV_STDIO_INHERIT:
                        break;
                case PV_STDIO_FD:
                        io->child_fd[i] = spec[i].fd;
                        break;
                case PV_STDIO_NULL:
                        /* One open serves every slot that asks for it. */
                        if (io->devnull < 0) {
                                r = sys_openat(AT_FDCWD, "/dev/null",
                                               O_RDWR | O_CLOEXEC | O_NOCTTY, 0);
                                if (r < 0)
                                        break;
                                io->devnull = r;
                        }
                        io->child_fd[i] = io->devnull;
                        break;
                case PV_STDIO_PIPE:
                        /* Both ends CLOEXEC: the child gets its end through
                         * dup3, which clears the flag on the copy only. */
                        r = sys_pipe2(p, O_CLOEXEC);
                        if (r < 0)
                                break;
                        if (i == 0) {
                                io->child_fd[0] = p[0];
                                io->in_fd = p[1];
                                io->in_piped = true;
                        } else {
                                io->child_fd[i] = p[1];
                                io->out[i - 1].src.fd = p[0];
                                r = sys_fcntl(p[0], F_SETFL, O_NONBLOCK);
                        }
                        io->owned[i] = true;
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

/* Read and hand the data to the output callback: once, or when draining
 * until the pipe is empty.  Returns false at EOF or on a read error, when
 * the stream should be closed. */
static bool stream_read(pv_loop *l, struct pv__stream *s, bool drain)
{
        size_t total = 0, max = l->read_buf_size;
        bool sized = false;

        for (;;) {
                ssize_t n = sys_read(s->src.fd, l->read_buf, l->read_buf_size);

                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                total += (size_t)n;
                pv__child_output(s->child, s->child_fd, l->read_buf, (size_t)n);
                /* The callback may have closed this stream (teardown). */
                if (s->src.fd < 0 || !drain)
                        return true;
                if (total < max)
                        continue;
                /* Everything the child wrote before it died is in the pipe,
                 * and a pipe holds at most its capacity; reading more would
                 * be a grandchild's later output, which could go on for
                 * ever.  Ask for the capacity only when the default is
                 * reached: most children leave far less. */
                if (sized)
                        return true;
                int cap = sys_fcntl(s->src.fd, F_GETPIPE_SZ, 0);
                sized = true;
                if (cap <= 0 || (size_t)cap <= total)
                        return true;
                max = (size_t)cap;
        }
}

static void stream_ready(struct pv__source *src, uint32_t events)
{
        struct pv__stream *s = container_of(src, struct pv__stream, src);
        pv_loop *l = pv__child_loop(s->child);

        (void)events;
        /* One read per wake-up: level-triggered epoll comes back if more is
         * there, and other children get their turn meanwhile. */
        if (!stream_read(l, s, false))
                pv__loop_close(l, &s->src);
}

int pv__stdio_start(pv_loop *l, struct pv__stdio *io)
{
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

void pv__stdio_finish(pv_loop *l, struct pv__stdio *io)
{
        for (int i = 0; i < 2; i++) {
                struct pv__stream *s = &io->out[i];

                if (s->src.fd < 0)
                        continue;
                (void)stream_read(l, s, true);
                pv__loop_close(l, &s->src);
        }
}

int pv__stdio_close_stdin(struct pv__stdio *io)
{
        if (!io->in_piped)
                return -ENOTCONN;
        if (io->in_fd >= 0)
                sys_close(io->in_fd);
        io->in_fd = -1;
        return 0;
}

void pv__stdio_close(pv_loop *l, struct pv__stdio *io)
{
        if (io->in_fd >= 0)
                sys_close(io->in_fd);
        io->in_fd = -1;
        /* A stream that was never registered just fails the EPOLL_CTL_DEL. */
        for (int i = 0; i < 2; i++)
                pv__loop_close(l, &io->out[i].src);
}
