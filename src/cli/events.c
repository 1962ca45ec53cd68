/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "out.h"

static struct {
        int ep;                 /* -1 until made */
        bool broken;            /* ev_fail() ran: nothing more is seen */
        ev_fn fn[_EV_MAX];
} ev = { .ep = -1 };

int ev_init(void)
{
        ev.ep = epoll_create1(EPOLL_CLOEXEC);
        return ev.ep < 0 ? -errno : 0;
}

bool ev_ready(void)
{
        return ev.ep >= 0;
}

void ev_done(void)
{
        if (ev.ep >= 0)
                close(ev.ep);
        ev.ep = -1;
}

void ev_on(enum ev_tag tag, ev_fn fn)
{
        ev.fn[tag] = fn;
}

static int ctl(int op, int fd, uint32_t events, enum ev_tag tag)
{
        struct epoll_event e = { .events = events, .data.u32 = tag };

        return epoll_ctl(ev.ep, op, fd, &e) < 0 ? -errno : 0;
}

int ev_add(int fd, uint32_t events, enum ev_tag tag)
{
        return ctl(EPOLL_CTL_ADD, fd, events, tag);
}

int ev_mod(int fd, uint32_t events, enum ev_tag tag)
{
        return ctl(EPOLL_CTL_MOD, fd, events, tag);
}

int ev_del(int fd)
{
        return epoll_ctl(ev.ep, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

void ev_fail(const char *call, int err)
{
        if (!ev.broken)
                out_say("%s: %s", call, strerror(-err));
        ev.broken = true;
}

bool ev_broken(void)
{
        return ev.broken;
}

int64_t ev_now_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);     /* through the vDSO: cannot fail */
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void ev_turn(int timeout_ms)
{
        struct epoll_event evs[8];
        int n = epoll_wait(ev.ep, evs, 8, timeout_ms);

        if (n < 0 && errno != EINTR)
                ev_fail("epoll_wait", -errno);
        for (int i = 0; i < n; i++) {
                uint32_t tag = evs[i].data.u32;

                if (tag < _EV_MAX && ev.fn[tag])
                        ev.fn[tag](evs[i].events);
        }
}

void ev_turn_until(bool (*done)(void *), void *arg, int64_t deadline, int poll_ms,
                   const int *cut)
{
        int start = cut ? *cut : 0;

        while (!done(arg) && !ev.broken && !(cut && *cut != start)) {
                int64_t left = deadline - ev_now_ms();
                if (left <= 0)
                        break;
                if (poll_ms > 0 && left > poll_ms)
                        left = poll_ms;
                ev_turn(left > INT_MAX ? INT_MAX : (int)left);
        }
}
