/* SPDX-License-Identifier: MIT */
/* The epoll backend: level-triggered, every ready event of one epoll_wait
 * dispatched before the next (sd-event's one-event-per-iteration is what
 * makes bursts quadratic). */
#include <pidvisor.h>
#include <sys/epoll.h>

#include "backend.h"
#include "loop.h"
#include "syscall.h"

#define EPOLL_BATCH 256

static int epoll_init(pv_loop *l)
{
        int fd = pv__fd_high(sys_epoll_create1(EPOLL_CLOEXEC));

        if (fd < 0)
                return fd;
        l->backend_fd = fd;
        return 0;
}

static void epoll_done(pv_loop *l)
{
        if (l->backend_fd >= 0)
                sys_close(l->backend_fd);
        l->backend_fd = -1;
}

/* The loop's readiness bits to epoll's and back (the compiler folds each
 * to a few instructions). */
static uint32_t to_epoll(uint32_t ev)
{
        return (ev & PV_EV_IN ? EPOLLIN : 0) | (ev & PV_EV_OUT ? EPOLLOUT : 0) |
               (ev & PV_EV_PRI ? EPOLLPRI : 0);
}

static uint32_t from_epoll(uint32_t ev)
{
        return (ev & EPOLLIN ? PV_EV_IN : 0) | (ev & EPOLLOUT ? PV_EV_OUT : 0) |
               (ev & EPOLLPRI ? PV_EV_PRI : 0) | (ev & EPOLLERR ? PV_EV_ERR : 0) |
               (ev & EPOLLHUP ? PV_EV_HUP : 0);
}

static int epoll_add(pv_loop *l, struct pv__source *s, uint32_t events)
{
        struct epoll_event ev = { .events = to_epoll(events), .data.ptr = s };

        return sys_epoll_ctl(l->backend_fd, EPOLL_CTL_ADD, s->fd, &ev);
}

/* Always before close: epoll watches open file descriptions, and a child
 * spawned meanwhile by another thread may hold a copy of the fd, which would
 * keep a closed fd's registration (and its events) alive. */
static int epoll_del(pv_loop *l, struct pv__source *s)
{
        return sys_epoll_ctl(l->backend_fd, EPOLL_CTL_DEL, s->fd, NULL);
}

static int epoll_mod(pv_loop *l, struct pv__source *s, uint32_t events)
{
        struct epoll_event ev = { .events = to_epoll(events), .data.ptr = s };

        return sys_epoll_ctl(l->backend_fd, EPOLL_CTL_MOD, s->fd, &ev);
}

static int epoll_wait_dispatch(pv_loop *l, int timeout_ms)
{
        struct epoll_event evs[EPOLL_BATCH];
        int n = sys_epoll_wait(l->backend_fd, evs, EPOLL_BATCH, timeout_ms);
        int handled = 0;

        if (n == -EINTR)
                return 0;
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                struct pv__source *s = evs[i].data.ptr;

                /* A callback earlier in this batch may have closed it; its
                 * memory stays valid until the batch ends (loop.c). */
                if (s->fd < 0)
                        continue;
                if (l->free_pending)
                        break;          /* a callback freed the loop */
                s->cb(s, from_epoll(evs[i].events));
                handled++;
        }
        return handled;
}

const struct pv__backend_ops pv__backend_epoll = {
        .id = PV_BACKEND_EPOLL,
        .name = "epoll",
        .init = epoll_init,
        .done = epoll_done,
        .add = epoll_add,
        .del = epoll_del,
        .mod = epoll_mod,
        .wait = epoll_wait_dispatch,
};
