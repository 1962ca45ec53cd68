/* SPDX-License-Identifier: MIT */
/* The epoll backend: level-triggered, every ready event of one epoll_wait
 * dispatched before the next (sd-event's one-event-per-iteration is what
 * makes bursts quadratic). */
#include <pidvisor.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "backend.h"
#include "loop.h"
#include "syscall.h"

#define EPOLL_BATCH 256

struct epoll_be {
        int fd;
};

static int epfd(const pv_loop *l)
{
        return ((struct epoll_be *)l->be)->fd;
}

static int epoll_init(pv_loop *l)
{
        struct epoll_be *e = malloc(sizeof(*e));

        if (!e)
                return -ENOMEM;
        e->fd = pv__fd_high(sys_epoll_create1(EPOLL_CLOEXEC));
        if (e->fd < 0) {
                int r = e->fd;
                free(e);
                return r;
        }
        l->be = e;
        return 0;
}

static void epoll_done(pv_loop *l)
{
        struct epoll_be *e = l->be;

        if (!e)
                return;
        sys_close(e->fd);
        free(e);
        l->be = NULL;
}

static int epoll_fd(const pv_loop *l, bool owner)
{
        (void)owner;
        return epfd(l);
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

        return sys_epoll_ctl(epfd(l), EPOLL_CTL_ADD, s->fd, &ev);
}

/* DEL fails only for an fd that is not in the set. */
static void epoll_del(pv_loop *l, struct pv__source *s)
{
        (void)sys_epoll_ctl(epfd(l), EPOLL_CTL_DEL, s->fd, NULL);
}

static int epoll_wait_dispatch(pv_loop *l, int timeout_ms)
{
        struct epoll_event evs[EPOLL_BATCH];
        int n = sys_epoll_wait(epfd(l), evs, EPOLL_BATCH, timeout_ms);
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
        .fd = epoll_fd,
        .add = epoll_add,
        .del = epoll_del,
        .wait = epoll_wait_dispatch,
};
