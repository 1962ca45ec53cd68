/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "out.h"

enum out_how {
        OUT_WRITE,      /* write(): a regular file (never blocks for long),
                         * or our private O_NONBLOCK open of a FIFO or tty */
        OUT_SEND,       /* send(MSG_DONTWAIT | MSG_NOSIGNAL): a socket */
        OUT_GATED,      /* fd 2 itself, blocking, and not ours to change:
                         * write at most PIPE_BUF, and only when poll()
                         * says it is writable (a pipe then takes it) */
};

static struct {
        int fd;                 /* where we write; -1: stderr is gone */
        bool owned;             /* fd is our own open, to close */
        enum out_how how;
        bool watched;           /* fd is in the epoll set as EV_OUT (not for
                                 * files, which epoll
                                 * refuses and which never say EAGAIN) */
        bool armed;             /* EPOLLOUT asked for: data waits */
        bool ready;             /* out_init() ran: before, write plainly */
        bool quiet;
        char *buf;              /* the queue: buf[off, off + len) */
        size_t off, len, cap;
        bool in_line;           /* a line is being added */
        bool line_kept;         /* ... and it goes out (else: dropped) */
        bool line_queued;       /* ... and some of it is queued */
        uint64_t dropped;       /* bytes dropped, ever */
        uint64_t told;          /* of those, how many a notice reported */
} o = { .fd = -1 };

void out_set_quiet(bool quiet)
{
        o.quiet = quiet;
}

int out_init(const char **ret_call)
{
        struct stat s;
        int r;

        if (fstat(2, &s) < 0) {
                *ret_call = "fstat(2)";
                return -errno;
        }
        o.fd = 2;
        o.ready = true;
        if (S_ISREG(s.st_mode) || S_ISBLK(s.st_mode)) {
                o.how = OUT_WRITE;
                return 0;       /* the offset is shared: write to fd 2 itself */
        }
        if (S_ISSOCK(s.st_mode)) {
                o.how = OUT_SEND;
        } else {
                /* A FIFO, a pipe, a tty: O_NONBLOCK on fd 2 would change
                 * the open file description every process sharing it
                 * uses (the shell, the program's stdout when 2>&1).  A
                 * private one, then, to the same pipe or terminal. */
                int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd >= 0) {
                        o.fd = fd;
                        o.owned = true;
                        o.how = OUT_WRITE;
                } else if (errno == ENXIO) {
                        o.fd = -1;      /* a FIFO nobody reads any more */
                        return 0;
                } else {
                        /* Not reopenable (no /proc, another user's pipe). */
                        o.how = OUT_GATED;
                }
        }
        r = ev_add(o.fd, 0, EV_OUT);
        if (r == 0) {
                o.watched = true;
        } else if (r != -EPERM) {
                *ret_call = "epoll_ctl(stderr)";
                return r;
        }       /* EPERM: a device without poll, which never blocks */
        return 0;
}

/* Stop watching for EPOLLOUT (on false) or start (on true). */
static bool arm(bool on)
{
        if (!o.watched || o.armed == on)
                return true;
        if (ev_mod(o.fd, on ? EPOLLOUT : 0, EV_OUT) < 0)
                return false;
        o.armed = on;
        return true;
}

/* stderr cannot take anything any more (closed by its reader, an error,
 * or no way to learn when it can): what is queued will never go out. */
static void gone(void)
{
        o.dropped += o.len;
        o.off = o.len = 0;
        if (o.watched)
                (void)ev_del(o.fd);     /* closing it follows */
        if (o.owned)
                close(o.fd);
        o.fd = -1;
        o.watched = o.armed = o.owned = false;
}

static ssize_t put(const char *p, size_t n)
{
        if (o.how == OUT_SEND)
                return send(o.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (o.how == OUT_GATED) {
                struct pollfd pf = { .fd = o.fd, .events = POLLOUT };
                int r = poll(&pf, 1, 0);
                if (r < 0)
                        return -1;
                if (r == 0) {
                        errno = EAGAIN;
                        return -1;
                }
                if (n > PIPE_BUF)
                        n = PIPE_BUF;   /* what a writable pipe takes whole */
        }
        return write(o.fd, p, n);
}

/* Room for n more bytes in the queue. */
static bool room(size_t n)
{
        if (o.off > 0 && o.off + o.len + n > o.cap) {
                memmove(o.buf, o.buf + o.off, o.len);
                o.off = 0;
        }
        if (o.len + n <= o.cap)
                return true;
        size_t cap = o.cap ? o.cap : 4096;
        while (cap < o.len + n)
                cap *= 2;
        char *b = realloc(o.buf, cap);
        if (!b)
                return false;
        o.buf = b;
        o.cap = cap;
        return true;
}

static void append(const char *p, size_t n)
{
        memcpy(o.buf + o.off + o.len, p, n);
        o.len += n;
}

/* Queue the notice of what was dropped since the last one. */
static bool tell(void)
{
        char msg[128];
        int n;

        if (o.quiet || o.in_line || o.dropped == o.told || o.fd < 0)
                return false;
        n = snprintf(msg, sizeof(msg), "pidvisor: %llu bytes of stderr dropped (nobody read it)\n",
                     (unsigned long long)(o.dropped - o.told));
        o.told = o.dropped;
        if (!room((size_t)n))
                return false;
        append(msg, (size_t)n);
        return true;
}

/* Write what stderr takes now; arm EPOLLOUT for the rest. */
static void flush(void)
{
        do {
                while (o.len > 0 && o.fd >= 0) {
                        ssize_t w = put(o.buf + o.off, o.len);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0 && errno == EAGAIN) {
                                if (!arm(true))
                                        gone();         /* never told when to go on */
                                return;
                        }
                        if (w <= 0) {
                                gone();                 /* EPIPE, EIO, ... */
                                return;
                        }
                        o.off += (size_t)w;
                        o.len -= (size_t)w;
                }
                if (o.len == 0)
                        o.off = 0;
                if (o.fd >= 0 && !arm(false))
                        gone();
        } while (tell());       /* the reader is back: say what it missed */
}

void out_line_begin(void)
{
        o.in_line = true;
        o.line_kept = o.fd >= 0 && o.len < OUT_LIMIT;
        o.line_queued = false;
}

void out_add(const char *p, size_t n)
{
        if (o.fd < 0)
                o.line_kept = false;    /* stderr went away mid-line */
        if (o.line_kept && (o.len + n > 2 * (size_t)OUT_LIMIT || !room(n)))
                o.line_kept = false;    /* the rest of a huge line goes */
        if (!o.line_kept) {
                o.dropped += n;
                return;
        }
        append(p, n);
        o.line_queued = true;
        if (o.len >= 65536 && !o.armed)
                flush();
}

void out_line_end(void)
{
        if (o.line_queued && o.fd >= 0 && room(1))
                append("\n", 1);
        else
                o.dropped++;
        o.in_line = false;
        flush();
}

void out_say(const char *fmt, ...)
{
        bool in = o.in_line, kept = o.line_kept;
        char msg[4096];
        va_list ap;
        int n;

        if (o.quiet)
                return;
        va_start(ap, fmt);
        n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (!o.ready) {
                /* Nothing runs yet that a blocked write could hold up. */
                fprintf(stderr, "pidvisor: %s\n", msg);
                return;
        }
        if ((size_t)n >= sizeof(msg))
                n = sizeof(msg) - 1;
        /* In the middle of a long line of the program's: the message gets
         * a line of its own, and the rest of that line the next one. */
        if (in && o.line_queued && room(1))
                append("\n", 1);
        out_line_begin();
        out_add("pidvisor: ", 10);
        out_add(msg, (size_t)n);
        out_line_end();
        o.in_line = in;
        o.line_kept = kept && o.fd >= 0;
        o.line_queued = false;
}

void out_force(const char *p, size_t n)
{
        if (!o.ready) {
                fwrite(p, 1, n, stderr);
                fflush(stderr);
                return;
        }
        if (o.fd < 0 || !room(n)) {
                o.dropped += n;
                return;
        }
        append(p, n);
        flush();
}

void out_ready(uint32_t events)
{
        flush();
        /* An error or hangup on stderr (its reader went away, a tty hung
         * up) is reported whatever we asked for, level-triggered: with
         * nothing queued, it would wake us without end. */
        if ((events & (EPOLLERR | EPOLLHUP)) && o.fd >= 0)
                gone();
}

size_t out_pending(void)
{
        return o.len;
}

uint64_t out_dropped(void)
{
        return o.dropped;
}

void out_finish(void)
{
        if (tell())
                flush();
}

void out_done(void)
{
        if (o.fd >= 0) {
                o.dropped += o.len;     /* what the last flush left */
                o.len = 0;
                gone();
        }
        free(o.buf);
        o.buf = NULL;
        o.cap = 0;
}
