/* SPDX-License-Identifier: MIT */
/* The event backend ops table: the loop calls the mechanism through this,
 * so one file per mechanism holds all of its code (skalibs' iopause). */
#ifndef PV_BACKEND_H
#define PV_BACKEND_H

#include <stdint.h>

#include "internal.h"

typedef struct pv_loop pv_loop;

/* Readiness bits, the loop's own: each backend translates them (no epoll
 * value is assumed outside backend-epoll.c).  ERR and HUP are reported
 * whatever was asked for, as poll(2) does. */
#define PV_EV_IN  (1u << 0)
#define PV_EV_OUT (1u << 1)
#define PV_EV_PRI (1u << 2)
#define PV_EV_ERR (1u << 3)
#define PV_EV_HUP (1u << 4)

/* One watched fd.  Embedded in its owner (the loop's timer, a child's pidfd
 * or pipe end); the backend hands it back on readiness. */
struct pv__source {
        int fd;          /* -1 once closed: events still queued for it are
                          * dropped, so a callback may close any source */
        void (*cb)(struct pv__source *s, uint32_t events);
};

struct pv__backend_ops {
        int id;                                  /* enum pv_backend */
        const char *name;
        int (*init)(pv_loop *l);                 /* sets l->backend_fd */
        void (*done)(pv_loop *l);
        int (*add)(pv_loop *l, struct pv__source *s, uint32_t events);
        int (*del)(pv_loop *l, struct pv__source *s);
        /* Change the events of a registered source; allocates nothing, so
         * it cannot fail for want of memory. */
        int (*mod)(pv_loop *l, struct pv__source *s, uint32_t events);
        /* Wait up to timeout_ms and call the callback of every ready source;
         * returns how many, 0 on timeout or EINTR, or -errno. */
        int (*wait)(pv_loop *l, int timeout_ms);
};

extern const struct pv__backend_ops pv__backend_epoll PV_HIDDEN;

#endif
