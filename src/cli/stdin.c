/* SPDX-License-Identifier: MIT */
/* pidvisor's stdin to the program's: see stdin.h. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "events.h"
#include "stdin.h"

static struct {
        pv_child *child;
        bool on;        /* fd 0 is being read (stopped at the program's exit) */
        bool epoll;     /* fd 0 is in the epoll set */
        bool paused;    /* the program's stdin queue is at its mark */
} in;

/* Paused: out of the epoll set altogether (asked for no events, epoll
 * still reports a hangup, level-triggered, and we would spin). */
static void stdin_watch(bool on)
{
        if (!in.epoll)
                return;
        if (!on)
                (void)ev_del(0);
        else if (ev_add(0, EPOLLIN, EV_STDIN) < 0)
                in.epoll = false;    /* read it as the loop turns */
}

/* Stop reading stdin; close the program's too when eof says so. */
void stdin_stop(bool eof)
{
        if (!in.on)
                return;
        in.on = false;
        if (in.epoll)
                (void)ev_del(0);        /* ENOENT at worst */
        in.epoll = false;
        if (eof)
                (void)pv_child_close_stdin(in.child);   /* 0, or closed already */
}

void stdin_drained(void)
{
        in.paused = false;
        stdin_watch(true);
}

/* Copy what stdin has to the child, never blocking the loop. */
void stdin_ready(void)
{
        static char buf[65536];
        ssize_t n = read(0, buf, sizeof(buf));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                stdin_stop(true);
                return;
        }
        int r = pv_child_write(in.child, buf, (size_t)n);
        if (r < 0) {
                stdin_stop(false);      /* the program closed its stdin, or exited */
        } else if (r == 1) {
                in.paused = true;
                stdin_watch(false);
        }
}

/* stdin: watched if epoll can (a pipe, a tty, a socket); a regular file
 * is always readable and read as the loop turns; a closed one ends the
 * program's stdin at once. */
void stdin_start(pv_child *child, bool closed)
{
        in.child = child;
        in.on = !closed;
        if (closed)
                (void)pv_child_close_stdin(in.child);
        else
                in.epoll = ev_add(0, EPOLLIN, EV_STDIN) == 0;
}

void stdin_event(uint32_t events)
{
        (void)events;
        if (in.on)
                stdin_ready();
}

bool stdin_polled(void)
{
        return in.on && !in.epoll && !in.paused;
}
