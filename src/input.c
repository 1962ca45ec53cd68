/* SPDX-License-Identifier: MIT */
/*
 * A child's stdin: the queue behind pv_child_write(), watched for
 * writability only while it holds data, written without SIGPIPE ever
 * reaching the host, closed once drained.
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

/* A drained queue keeps at most this much memory. */
#define QUEUE_KEEP (64 * 1024)

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

/* The queue is empty: stop watching. */
static void input_unwatch(pv_loop *l, struct pv__input *in)
{
        if (!in->registered)
                return;
        pv__loop_del(l, &in->src);
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

void pv__input_start(struct pv__input *in)
{
        /* stdin is watched only while its queue holds data (input_watch). */
        in->src.cb = input_ready;
}

void pv__input_done(pv_loop *l, struct pv__input *in)
{
        input_close(l, in);
        free(in->q);
        in->q = NULL;
        in->cap = 0;
}
