/* SPDX-License-Identifier: MIT */
/*
 * The event backend contract: the loop reaches its mechanism only through
 * this table, and one file per mechanism holds all of its code (skalibs'
 * iopause): backend-epoll.c, backend-uring.c.  No epoll or io_uring value,
 * header or fd is assumed outside its own file.
 *
 * What every backend does: readiness, level-triggered.  A registered source
 * whose fd is ready has its callback called by wait(), and again by every
 * later wait() for as long as it stays ready; a callback that does not drain
 * its fd is called again (epoll: level-triggered; io_uring: a one-shot poll
 * armed again after each callback, which completes at once while the fd is
 * still ready).  Reads, writes and waitid stay with their owners (stdio.c,
 * input.c, exit.c): the backend only says when.
 *
 * Lifetimes.  The backend's state is its own (l->be, made by init, freed by
 * done).  A source is the backend's from add() until del() returns; from
 * then on the backend never touches it again, even where the kernel still
 * holds a request for it (io_uring: the poll's cancellation completes
 * later; its completion finds the source's slot given up and is dropped,
 * by a generation number, never by a pointer).  So del() may be followed at
 * once by close() and free().  Events already fetched in one batch for a
 * source deleted earlier in that batch: io_uring drops them (the same
 * generation); epoll drops them once the source is also closed (its fd
 * reads -1; its owner's memory stays until the batch ends: loop.c's
 * graveyard), and delivers them if it is only deleted (pv__exit_park,
 * input.c's unwatch), which is harmless: the readiness was real.
 *
 * On io_uring a poll completes through task work of the thread that
 * submitted it, which the kernel runs when that thread next enters it: a
 * blocking call of the host's own on that thread that is not restarted
 * after a signal (epoll_wait, poll, select, sigtimedwait) may return EINTR
 * meanwhile, as for a signal.  pv_loop_fd(3) says so.
 */
#ifndef PV_BACKEND_H
#define PV_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

typedef struct pv_loop pv_loop;

/* Readiness bits, the loop's own: each backend translates them.  ERR and
 * HUP are reported whatever was asked for, as poll(2) does. */
#define PV_EV_IN  (1u << 0)
#define PV_EV_OUT (1u << 1)
#define PV_EV_PRI (1u << 2)
#define PV_EV_ERR (1u << 3)
#define PV_EV_HUP (1u << 4)

/* One watched fd.  Embedded in its owner (the loop's timer, a child's pidfd
 * or pipe end); the backend hands it back on readiness. */
struct pv__source {
        int fd;          /* -1 once closed */
        uint32_t be_id;  /* the backend's, while registered (io_uring: the
                          * slot; epoll: unused) */
        void (*cb)(struct pv__source *s, uint32_t events);
};

struct pv__backend_ops {
        int id;                                  /* enum pv_backend */
        const char *name;
        /* Make l->be; 0 or -errno (io_uring refused or absent: the loop
         * falls back to epoll when the caller asked for AUTO, which
         * l->backend_auto says: a backend may refuse AUTO where it would
         * not be its best). */
        int (*init)(pv_loop *l);
        void (*done)(pv_loop *l);                /* accepts a failed init */
        /* An fd that polls readable whenever wait() would call a callback,
         * for nesting in another loop.  From the first call with owner set
         * on, whatever the backend queues is handed to the kernel before
         * the library returns to the caller.  owner is false in a process
         * forked since the loop was made: touch nothing shared there. */
        int (*fd)(const pv_loop *l, bool owner);
        /* Watch s->fd for events (PV_EV_*); 0 or -errno. */
        int (*add)(pv_loop *l, struct pv__source *s, uint32_t events);
        /* Stop watching s; cannot fail.  Called before s->fd is closed:
         * epoll watches open file descriptions (a child spawned meanwhile
         * by another thread may hold a copy of the fd), and an io_uring
         * poll holds a reference to the file until it is cancelled. */
        void (*del)(pv_loop *l, struct pv__source *s);
        /* Wait up to timeout_ms (-1: no limit) and call the callback of
         * every ready source; how many were called, 0 on timeout or EINTR,
         * or -errno.  Stops calling callbacks once l->free_pending is set. */
        int (*wait)(pv_loop *l, int timeout_ms);
};

extern const struct pv__backend_ops pv__backend_epoll PV_HIDDEN;
extern const struct pv__backend_ops pv__backend_uring PV_HIDDEN;

/* For pv_features(): can a ring the uring backend would use be made here,
 * with the ops it uses?  0 (*deferred: with DEFER_TASKRUN, as AUTO wants),
 * or -errno as its init would say (-EOPNOTSUPP without liburing).  The
 * ring is closed again. */
int pv__uring_probe(bool *deferred) PV_HIDDEN;

#endif
