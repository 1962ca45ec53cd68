/* SPDX-License-Identifier: MIT */
/*
 * A child's stdio: pipes, reading and framing its output, queueing its
 * input.  Only the data path lives here; the spawn mechanics are in
 * spawn.c, the child's life in child.c.
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
/* A drained queue keeps at most this much memory. */
#define QUEUE_KEEP (64 * 1024)
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

static void input_ready(struct pv__source *src, uint32_t events);

int pv__stdio_start(pv_loop *l, struct pv__stdio *io)
{
        /* stdin is watched only while its queue holds data (input_watch). */
        io->in.src.cb = input_ready;
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

/* ---- input ----------------------------------------------------------- */

/*
 * Write to the child's stdin without SIGPIPE reaching the host, and
 * without touching any signal disposition (the host's own SIGPIPE handler,
 * or its SIG_IGN, stays as it is).  A write to a pipe whose reader is gone
 * raises SIGPIPE on the writing thread, so:
 *   1. block SIGPIPE in this thread for the write (one rt_sigprocmask, which
 *      also tells us whether it was blocked already);
 *   2. if the write fails with EPIPE, the kernel queued a SIGPIPE for this
 *      thread: take it back with a zero-timeout sigtimedwait (which takes
 *      from the thread's own queue first), unless one was pending for this
 *      thread before the write (possible only if the thread already
 *      blocked SIGPIPE; that one is the host's, ours merged into it, and it
 *      stays pending).  rt_sigpending mixes the thread's and the process's
 *      pending sets, so in that rare case the thread's own set is read from
 *      /proc/thread-self/status;
 *   3. restore the mask.
 * A SIGPIPE sent to this very thread from outside during the write would
 * merge with ours and be taken too; nothing can tell the two apart.
 */
/* Is SIGPIPE pending for this thread itself (not the process)?  When it
 * cannot tell, it says yes, and the caller leaves SIGPIPE alone. */
static bool thread_sigpipe_pending(void)
{
        static const char key[] = "\nSigPnd:\t";
        char buf[2048];
        const char *p;
        uint64_t set = 0;
        ssize_t n;
        int fd = pv__fd_high(sys_openat(AT_FDCWD, "/proc/thread-self/status",
                                        O_RDONLY | O_CLOEXEC, 0));

        if (fd < 0)
                return true;
        n = sys_read(fd, buf, sizeof(buf) - 1);
        sys_close(fd);
        if (n <= 0)
                return true;
        buf[n] = '\0';
        p = strstr(buf, key);
        if (!p)
                return true;
        for (p += sizeof(key) - 1; *p && *p != '\n'; p++) {
                int d = *p >= 'a' ? *p - 'a' + 10 : *p - '0';
                set = set << 4 | (uint64_t)(d & 15);
        }
        return set & (1ull << (SIGPIPE - 1));
}

static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
        const uint64_t pipe_bit = 1ull << (SIGPIPE - 1);
        uint64_t old, pending = 0;
        ssize_t w;
        int r;

        r = sys_sigprocmask(SIG_BLOCK, &pipe_bit, &old);
        assert(r == 0);
        if (old & pipe_bit) {
                if (sys_sigpending(&pending) < 0)
                        pending = pipe_bit; /* cannot tell: leave it alone */
                else if ((pending & pipe_bit) && !thread_sigpipe_pending())
                        pending = 0;        /* the process's, not ours */
        }
        do
                w = sys_write(fd, buf, n);
        while (w == -EINTR);
        if (w == -EPIPE && !(pending & pipe_bit)) {
                struct timespec zero = { 0, 0 };
                (void)sys_sigtimedwait(&pipe_bit, &zero);
        }
        if (!(old & pipe_bit)) {
                r = sys_sigprocmask(SIG_SETMASK, &old, NULL);
                assert(r == 0);
        }
        (void)r;
        return w;
}

static void input_close(pv_loop *l, struct pv__input *in)
{
        if (in->src.fd < 0)
                return;
        if (in->registered)
                pv__loop_close(l, &in->src);
        else
                sys_close(in->src.fd);
        in->src.fd = -1;
        in->registered = false;
        in->off = in->len = 0;
        in->close_pending = false;
}

/* Watch the pipe for room (PV_EV_OUT), while the queue holds data.  ADD
 * may fail for want of memory (or fs.epoll.max_user_watches): callers ask
 * before anything of the write that needs it has gone into the pipe. */
static int input_watch(pv_loop *l, struct pv__input *in)
{
        int r;

        if (in->registered)
                return 0;
        r = pv__loop_add(l, &in->src, PV_EV_OUT);
        if (r == 0)
                in->registered = true;
        return r;
}

/* The queue is empty: stop watching.  DEL fails only for an fd that is
 * not in the set, and in a forked process pv__loop_close's rule applies:
 * the set is the parent's, leave it alone. */
static void input_unwatch(pv_loop *l, struct pv__input *in)
{
        if (!in->registered)
                return;
        if (!l->forked)
                (void)l->ops->del(l, &in->src);
        in->registered = false;
}

/* Room for n more bytes at the end of the queue, made before anything is
 * written, so that an error means nothing went anywhere.  Compacts only
 * when the dead prefix is at least as large as what is live, so a
 * producer that keeps the queue near its mark copies each byte O(1)
 * times. */
static int queue_reserve(struct pv__input *in, size_t n)
{
        size_t need, cap;
        char *q;

        if (n > SIZE_MAX / 4 - in->len)
                return -ENOMEM;
        need = in->len + n;
        if (in->off + need <= in->cap)
                return 0;
        if (need <= in->cap && in->off >= in->len) {
                memmove(in->q, in->q + in->off, in->len);
                in->off = 0;
                return 0;
        }
        cap = in->cap ? in->cap : 4096;
        while (cap < need)
                cap *= 2;
        q = malloc(cap);
        if (!q)
                return -ENOMEM;
        if (in->len)
                memcpy(q, in->q + in->off, in->len);
        free(in->q);
        in->q = q;
        in->cap = cap;
        in->off = 0;
        return 0;
}

/* Write what is queued; called when the pipe turns writable, or reports
 * EPOLLERR/EPOLLHUP because the child closed its end (or exited), which
 * epoll reports on a write end whatever events were asked for, level-
 * triggered: the write then says EPIPE and the pipe is closed, so it
 * cannot fire without end.  Watched only while the queue holds data. */
static void input_ready(struct pv__source *src, uint32_t events)
{
        struct pv__input *in = container_of(src, struct pv__input, src);
        pv_loop *l = pv__child_loop(in->child);

        (void)events;
        while (in->len > 0) {
                ssize_t w = write_nosigpipe(in->src.fd, in->q + in->off, in->len);

                if (w == -EAGAIN)
                        return;         /* full again: the next PV_EV_OUT */
                if (w < 0) {
                        /* The child closed its end or exited: the queue
                         * cannot go anywhere.  Later writes say why. */
                        in->err = w == -EPIPE ? -EPIPE : (int)w;
                        in->above_mark = false;
                        input_close(l, in);
                        return;
                }
                in->off += (size_t)w;
                in->len -= (size_t)w;
        }
        in->off = 0;
        if (in->cap > QUEUE_KEEP) {
                free(in->q);
                in->q = NULL;
                in->cap = 0;
        }
        input_unwatch(l, in);
        if (in->close_pending)
                input_close(l, in);
        if (in->above_mark) {
                in->above_mark = false;
                pv__child_drained(in->child);
        }
}

int pv__stdio_write(pv_loop *l, struct pv__stdio *io, const void *buf, size_t n)
{
        struct pv__input *in = &io->in;
        size_t done = 0;
        int r;

        if (io->mode[0] != PV_STDIO_PIPE)
                return -ENOTCONN;
        if (in->err < 0)
                return in->err;
        if (in->src.fd < 0 || in->close_pending)
                return -EPIPE;
        if (n == 0)
                return in->len >= in->high_water;
        r = queue_reserve(in, n);
        if (r < 0)
                return r;
        if (!in->nonblock) {
                r = sys_fcntl(in->src.fd, F_SETFL, O_NONBLOCK);
                if (r < 0)
                        return r;
                in->nonblock = true;
        }
        if (in->len == 0) {
                /* Nothing queued, so nothing watched.  Up to PIPE_BUF a
                 * pipe write is all or nothing, so the watch can wait
                 * until the pipe refuses it; a larger write may go in
                 * part, and an error after that would break the promise
                 * that a failed write wrote nothing: watch first. */
                ssize_t w;

                if (n > PIPE_BUF) {
                        r = input_watch(l, in);
                        if (r < 0)
                                return r;
                }
                w = write_nosigpipe(in->src.fd, buf, n);
                if (w == -EPIPE) {
                        in->err = -EPIPE;
                        input_close(l, in);
                        return -EPIPE;
                }
                if (w < 0 && w != -EAGAIN) {
                        input_unwatch(l, in);
                        return (int)w;
                }
                if (w > 0)
                        done = (size_t)w;
                if (done == n)
                        input_unwatch(l, in);
        }
        if (done < n) {
                r = input_watch(l, in);
                if (r < 0) {
                        /* Only a write of up to PIPE_BUF gets here
                         * unwatched, and the pipe took none of it. */
                        assert(done == 0);
                        return r;
                }
                memcpy(in->q + in->off + in->len, (const char *)buf + done, n - done);
                in->len += n - done;
        }
        if (in->len >= in->high_water) {
                in->above_mark = true;
                return 1;
        }
        return 0;
}

int pv__stdio_close_stdin(pv_loop *l, struct pv__stdio *io)
{
        struct pv__input *in = &io->in;

        if (io->mode[0] == PV_STDIO_PIPE_RAW) {
                if (io->raw_fd[0] >= 0)
                        sys_close(io->raw_fd[0]);
                io->raw_fd[0] = -1;
                return 0;
        }
        if (io->mode[0] != PV_STDIO_PIPE)
                return -ENOTCONN;
        if (in->len == 0)
                input_close(l, in);
        else
                in->close_pending = true;
        return 0;
}

void pv__stdio_stop_input(pv_loop *l, struct pv__stdio *io)
{
        input_close(l, &io->in);
}

/* ---- teardown -------------------------------------------------------- */

void pv__stdio_close(pv_loop *l, struct pv__stdio *io)
{
        input_close(l, &io->in);
        free(io->in.q);
        io->in.q = NULL;
        io->in.cap = 0;
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
