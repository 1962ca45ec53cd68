/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend (liburing): readiness through one-shot
 * IORING_OP_POLL_ADD requests, armed again after each callback, so that a
 * source stays level-triggered as on epoll (a re-armed poll on a fd still
 * ready completes at once).  What it saves: registering and re-arming are
 * SQEs handed to the kernel with the next wait, in the same io_uring_enter,
 * where epoll spends an epoll_ctl on each; a source deleted from its own
 * callback (its poll has fired) needs no cancel at all.  Only a source
 * deleted while its poll is in flight costs a system call, as on epoll:
 * the cancel is submitted at once (uring_del says why).
 * Reads, writes and waitid stay with their owners (backend.h; the README
 * has the measurement behind that choice).
 *
 * Lifetimes (backend.h): a request names its source by a slot index and a
 * generation in user_data, never by a pointer.  del() gives the slot up
 * (its generation moves on) and queues a POLL_REMOVE when a poll is in
 * flight; every completion that comes later for it, the cancelled poll's
 * -ECANCELED included, finds another generation and is dropped.
 *
 * Built without liburing (configure --with-liburing=no, or none found),
 * this file compiles to an ops table whose init says -EOPNOTSUPP, so that
 * AUTO runs on epoll and a forced PV_BACKEND_URING says why: HAVE_LIBURING
 * appears nowhere else.
 */
#include <pidvisor.h>

#include "backend.h"
#include "loop.h"

#if HAVE_LIBURING

#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "syscall.h"

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096
#define CQE_BATCH 256
#define SLOTS_MIN 16

/* user_data of the POLL_REMOVE requests themselves: their completions
 * carry nothing we need.  A slot's user_data is never 0: generations
 * start at 1. */
#define UD_CANCEL 0

struct slot {
        struct pv__source *src;   /* NULL: free */
        uint32_t gen;             /* moves on each time the slot is given up */
        uint32_t events;          /* PV_EV_* asked for */
        bool armed;               /* a poll is in flight */
        uint32_t next_free;
};

struct uring_be {
        struct io_uring ring;
        bool ring_up;
        bool exported;            /* pv_loop_fd() was asked: submit before
                                   * returning to the caller */
        bool unarmed;             /* some registered slot has no poll in
                                   * flight (its re-arm found no SQE): every
                                   * wait arms them first */
        bool rearm;               /* every poll in flight must be made anew
                                   * by the thread that waits (see below) */
        bool deferred;            /* DEFER_TASKRUN + SINGLE_ISSUER: only
                                   * u->thread may enter this ring */
        int efd;                  /* pv_loop_fd()'s: an eventfd registered
                                   * with the ring; -1 until asked */
        pthread_t thread;         /* who submitted the polls in flight */
        struct slot *slots;
        uint32_t n_slots;
        uint32_t free_head;       /* UINT32_MAX: none */
};

static uint64_t user_data(uint32_t idx, uint32_t gen)
{
        return (uint64_t)gen << 32 | idx;
}

static unsigned to_poll(uint32_t ev)
{
        return (ev & PV_EV_IN ? POLLIN : 0) | (ev & PV_EV_OUT ? POLLOUT : 0) |
               (ev & PV_EV_PRI ? POLLPRI : 0);
}

static uint32_t from_poll(int res)
{
        if (res < 0)
                return PV_EV_ERR;
        return (res & POLLIN ? PV_EV_IN : 0) | (res & POLLOUT ? PV_EV_OUT : 0) |
               (res & POLLPRI ? PV_EV_PRI : 0) | (res & POLLERR ? PV_EV_ERR : 0) |
               (res & POLLHUP ? PV_EV_HUP : 0);
}

/* An SQE, handing the full queue to the kernel first if need be; NULL only
 * when that fails too. */
static struct io_uring_sqe *get_sqe(struct uring_be *u)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

        if (!sqe && io_uring_submit(&u->ring) >= 0)
                sqe = io_uring_get_sqe(&u->ring);
        return sqe;
}

/* Queue the slot's poll; -EAGAIN when no SQE could be had (the slot stays
 * unarmed, and u->unarmed has arm_all() try again before the next wait). */
static int arm(struct uring_be *u, uint32_t idx)
{
        struct slot *sl = &u->slots[idx];
        struct io_uring_sqe *sqe = get_sqe(u);

        if (!sqe) {
                u->unarmed = true;
                return -EAGAIN;
        }
        io_uring_prep_poll_add(sqe, sl->src->fd, to_poll(sl->events));
        io_uring_sqe_set_data64(sqe, user_data(idx, sl->gen));
        sl->armed = true;
        return 0;
}

static void arm_all(struct uring_be *u)
{
        u->unarmed = false;
        for (uint32_t i = 0; i < u->n_slots; i++)
                if (u->slots[i].src && !u->slots[i].armed && arm(u, i) < 0)
                        return;
}

/* Queue the cancel of the slot's poll in flight (by its user_data). */
static void cancel(struct uring_be *u, uint32_t idx)
{
        struct io_uring_sqe *sqe = get_sqe(u);

        /* With no SQE to be had the poll lingers until its fd is ready, and
         * its completion is dropped like any stale one. */
        if (sqe) {
                io_uring_prep_poll_remove(sqe, user_data(idx, u->slots[idx].gen));
                io_uring_sqe_set_data64(sqe, UD_CANCEL);
        }
}

static void next_gen(struct slot *sl)
{
        sl->gen = sl->gen + 1 ? sl->gen + 1 : 1;
}

/* Every poll in flight made anew: after a change of thread (above), or
 * after the kernel dropped completions (-EBADR: with IORING_FEAT_NODROP
 * only when it could not allocate room for an overflow), which may have
 * been any slot's.  Their old completions find a new generation. */
static void rearm_all(struct uring_be *u)
{
        u->rearm = false;
        for (uint32_t i = 0; i < u->n_slots; i++) {
                struct slot *sl = &u->slots[i];
                if (!sl->src || !sl->armed)
                        continue;
                cancel(u, i);
                next_gen(sl);
                sl->armed = false;
        }
        arm_all(u);
}

/* In nesting mode, what is queued reaches the kernel before we return:
 * a caller polling pv_loop_fd() would otherwise wait for a poll that was
 * never armed.  An error leaves the SQEs queued for the next try. */
static void flush(struct uring_be *u)
{
        if (u->exported && io_uring_sq_ready(&u->ring))
                (void)io_uring_submit(&u->ring);
}

/*
 * A ring into *ring, or -errno.  Task work is how a poll's completion is
 * posted, and it runs in the thread that submitted the poll:
 *   deferred   DEFER_TASKRUN + SINGLE_ISSUER (6.1): only when that thread
 *              waits in io_uring_enter, so it never interrupts anything of
 *              the host's; but only that thread may ever enter the ring;
 *   otherwise  COOP_TASKRUN (5.19): at that thread's next entry into the
 *              kernel, which may then see EINTR from a wait of its own
 *              (include/pidvisor.h); any thread may enter.
 * TASKRUN_FLAG says when such work waits, so a wait of 0 enters the kernel
 * only then.  A kernel that refuses the flags gets asked with fewer; the
 * last try has none.  *deferred says whether the first was had.
 */
static int ring_open(struct io_uring *ring, bool *deferred)
{
        static const unsigned flags[] = {
                IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_TASKRUN_FLAG,
                IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
                0,
        };
        struct io_uring_params p;
        int r = -EINVAL;

        for (size_t i = 0; i < ARRAY_SIZE(flags) && r == -EINVAL; i++) {
                memset(&p, 0, sizeof(p));
                p.flags = IORING_SETUP_CQSIZE | flags[i];
                p.cq_entries = CQ_ENTRIES;
                r = io_uring_queue_init_params(SQ_ENTRIES, ring, &p);
                *deferred = i == 0;
        }
        if (r == -EINVAL)
                return -EOPNOTSUPP;     /* before 5.5: no IORING_SETUP_CQSIZE */
        if (r < 0)
                return r;
        /* NODROP (5.5): an overflowing CQ is kept, not lost.  EXT_ARG
         * (5.11): a wait with a timeout is one system call.  Both are
         * needed, and a kernel with EXT_ARG has every op we use. */
        if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG))
                r = -EOPNOTSUPP;
        else
                /* Born O_CLOEXEC (the kernel makes it so); at >= 3 as every
                 * fd of ours (pv__fd_high; on failure it closed the fd). */
                r = pv__fd_high(ring->ring_fd);
        if (r < 0) {
                if (r != -EOPNOTSUPP)
                        ring->ring_fd = -1;
                io_uring_queue_exit(ring);
                return r;
        }
        ring->ring_fd = ring->enter_ring_fd = r;
        return 0;
}

int pv__uring_probe(bool *deferred)
{
        struct io_uring ring;
        struct io_uring_probe *p;
        int r = ring_open(&ring, deferred);

        if (r < 0)
                return r;
        /* The ops the backend uses, as the kernel lists them.  A kernel
         * with EXT_ARG (5.11) has both (5.1), so where the list cannot be
         * had (io_uring_register refused) EXT_ARG answers, as it does for
         * the backend's init. */
        p = calloc(1, sizeof(*p) + 256 * sizeof(p->ops[0]));
        if (!p) {
                r = -ENOMEM;
        } else {
                if (io_uring_register_probe(&ring, p, 256) == 0 &&
                    (!io_uring_opcode_supported(p, IORING_OP_POLL_ADD) ||
                     !io_uring_opcode_supported(p, IORING_OP_POLL_REMOVE)))
                        r = -EOPNOTSUPP;
                free(p);
        }
        io_uring_queue_exit(&ring);
        return r;
}

/* A new ring, made by this thread, for every registered source: the old
 * one's polls go with it, so every slot gets a new generation and a poll
 * in the new ring; pv_loop_fd()'s eventfd moves to it (the host's watch on
 * it stays).  On failure the old ring stays. */
static int rebuild(struct uring_be *u)
{
        struct io_uring old = u->ring;
        bool got;
        int r = ring_open(&u->ring, &got);

        if (r == 0 && u->efd >= 0) {
                r = io_uring_register_eventfd(&u->ring, u->efd);
                if (r < 0)
                        io_uring_queue_exit(&u->ring);
        }
        if (r < 0) {
                u->ring = old;
                return r;
        }
        io_uring_queue_exit(&old);
        u->deferred = got;
        u->thread = pthread_self();
        u->rearm = false;
        for (uint32_t i = 0; i < u->n_slots; i++) {
                if (!u->slots[i].src)
                        continue;
                u->slots[i].armed = false;
                next_gen(&u->slots[i]);
        }
        arm_all(u);
        return 0;
}

/*
 * Whose polls.  A loop may pass from thread to thread (include/pidvisor.h);
 * whichever thread calls the backend is its owner from then on.  A
 * deferred ring cannot be entered by another thread at all: the new owner
 * makes a ring of its own.  Otherwise the polls in flight would complete
 * through the old thread's task work (while it sleeps in the kernel, or is
 * stopped, the completions wait with it): the new owner's next wait makes
 * every poll anew (rearm_all).  pthread_self() reads the thread pointer, no
 * system call.
 */
static int claim(struct uring_be *u)
{
        if (pthread_equal(u->thread, pthread_self()))
                return 0;
        if (u->deferred)
                return rebuild(u);
        u->rearm = true;
        u->thread = pthread_self();
        return 0;
}

static int grow(struct uring_be *u)
{
        uint32_t n = u->n_slots ? u->n_slots * 2 : SLOTS_MIN;
        struct slot *s;

        if (n <= u->n_slots)
                return -ENOMEM;
        s = realloc(u->slots, n * sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (uint32_t i = u->n_slots; i < n; i++)
                s[i] = (struct slot){ .gen = 1, .next_free = i + 1 < n ? i + 1 : u->free_head };
        u->free_head = u->n_slots;
        u->slots = s;
        u->n_slots = n;
        return 0;
}

static int uring_add(pv_loop *l, struct pv__source *s, uint32_t events)
{
        struct uring_be *u = l->be;
        struct slot *sl;
        uint32_t idx;
        int r;

        if (s->be_id < u->n_slots && u->slots[s->be_id].src == s)
                return -EEXIST;         /* as epoll says */
        r = claim(u);
        if (r < 0)
                return r;
        if (u->free_head == UINT32_MAX) {
                r = grow(u);
                if (r < 0)
                        return r;
        }
        idx = u->free_head;
        sl = &u->slots[idx];
        u->free_head = sl->next_free;
        sl->src = s;
        sl->events = events;
        sl->armed = false;
        s->be_id = idx;
        r = arm(u, idx);
        if (r < 0) {
                /* Say so rather than watch nothing: the slot goes back. */
                sl->src = NULL;
                sl->next_free = u->free_head;
                u->free_head = idx;
                return r;
        }
        flush(u);
        return 0;
}

static void uring_del(pv_loop *l, struct pv__source *s)
{
        struct uring_be *u = l->be;
        struct slot *sl;

        if (s->be_id >= u->n_slots || u->slots[s->be_id].src != s)
                return;         /* never added, or deleted already */
        /* A ring this thread may not enter would keep the cancel, and the
         * file, until the owner's next wait: the new ring lets go of both.
         * (Should no new ring be had, the poll lingers: see cancel().) */
        (void)claim(u);
        sl = &u->slots[s->be_id];
        if (sl->armed) {
                /* Cancel now, not with the next wait: the poll holds the
                 * file, and a pipe end closed by the caller must close
                 * (the child's EOF on stdin, its EPIPE on output). */
                cancel(u, s->be_id);
                /* With the task work that tears the poll down, which a
                 * deferred ring runs only when asked. */
                (void)io_uring_submit_and_get_events(&u->ring);
        }
        sl->src = NULL;
        sl->armed = false;
        next_gen(sl);
        sl->next_free = u->free_head;
        u->free_head = s->be_id;
}

/* Hand the queue to the kernel and wait for one completion at most
 * timeout_ms (0: do not wait, -1: no limit).  0, or -errno. */
static int submit_and_wait(struct uring_be *u, int timeout_ms)
{
        struct io_uring_cqe *cqe;
        int r;

        if (timeout_ms == 0 || io_uring_cq_ready(&u->ring)) {
                r = io_uring_submit(&u->ring);
                /* Completions whose task work has not run yet (COOP_TASKRUN
                 * leaves it for our next entry into the kernel): run it. */
                if (r >= 0 && IO_URING_READ_ONCE(*u->ring.sq.kflags) &
                                      (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))
                        r = io_uring_get_events(&u->ring);
        } else if (timeout_ms < 0)
                r = io_uring_submit_and_wait(&u->ring, 1);
        else {
                struct __kernel_timespec ts = {
                        .tv_sec = timeout_ms / 1000,
                        .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
                };
                /* One io_uring_enter with the timeout as its argument
                 * (IORING_FEAT_EXT_ARG, which init requires). */
                r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
        }
        if (r == -EBADR) {
                rearm_all(u);   /* completions were lost */
                return 0;
        }
        /* A timeout, a signal, a full queue: nothing (more) to report;
         * submit_and_wait_timeout may also say > 0 having submitted and
         * timed out, with no completion. */
        if (r == -EINTR || r == -ETIME || r == -EAGAIN || r == -EBUSY)
                return 0;
        return r < 0 ? r : 0;
}

/* Does a completion's user_data name a slot still in use by the source it
 * was armed for (same generation)? */
static bool live(const struct uring_be *u, uint64_t ud)
{
        uint32_t idx = (uint32_t)ud;

        return ud != UD_CANCEL && idx < u->n_slots && u->slots[idx].gen == (uint32_t)(ud >> 32);
}

/* After a wait, pv_loop_fd()'s eventfd says exactly whether the host must
 * call again: cleared (our own wait posted completions, which signalled
 * it), then signalled again by us if more than a batch came or work waits
 * to be run (the kernel signals it for whatever comes after the check). */
static void efd_rearm(struct uring_be *u)
{
        uint64_t n;

        (void)sys_read(u->efd, &n, sizeof(n));
        if (io_uring_cq_ready(&u->ring) ||
            IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN) {
                n = 1;
                (void)sys_write(u->efd, &n, sizeof(n));
        }
}

static int uring_wait(pv_loop *l, int timeout_ms)
{
        struct uring_be *u = l->be;
        struct { uint64_t ud; int res; } got[CQE_BATCH];
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        int handled = 0, r;

        r = claim(u);
        if (r < 0)
                return r;
        if (u->rearm)
                rearm_all(u);
        else if (u->unarmed)
                arm_all(u);
        r = submit_and_wait(u, timeout_ms);
        if (r < 0)
                return r;
        /* Copy the batch out first: callbacks may queue and submit. */
        io_uring_for_each_cqe(&u->ring, head, cqe) {
                if (n == CQE_BATCH)
                        break;
                got[n].ud = io_uring_cqe_get_data64(cqe);
                got[n].res = cqe->res;
                n++;
        }
        io_uring_cq_advance(&u->ring, n);
        /* Every poll of the batch has fired: none is in flight any more, so
         * a callback that deletes another of them cancels nothing (a child's
         * exit handled before its pipes' EOF in the same batch). */
        for (unsigned i = 0; i < n; i++)
                if (live(u, got[i].ud))
                        u->slots[(uint32_t)got[i].ud].armed = false;

        for (unsigned i = 0; i < n; i++) {
                uint32_t idx = (uint32_t)got[i].ud, gen = (uint32_t)(got[i].ud >> 32);
                struct pv__source *s;

                if (!live(u, got[i].ud))
                        continue;       /* deleted since: dropped */
                if (l->free_pending)
                        break;          /* a callback freed the loop */
                if (u->slots[idx].armed)
                        continue;       /* armed again meanwhile (arm_all):
                                         * its next completion will say */
                s = u->slots[idx].src;
                /* A poll the kernel ended without an event (cancelled as
                 * its thread exited, out of memory): watch again, silently.
                 * Any other error is the fd's: reported, as epoll's
                 * EPOLLERR is. */
                if (got[i].res == -ECANCELED || got[i].res == -ENOMEM ||
                    got[i].res == -EAGAIN || got[i].res == -EINTR) {
                        (void)arm(u, idx);
                        continue;
                }
                s->cb(s, from_poll(got[i].res));
                handled++;
                /* Level-triggered: watch again unless the callback let go
                 * (u->slots may have moved: a callback can add). */
                if (u->slots[idx].gen == gen && !u->slots[idx].armed)
                        (void)arm(u, idx);
        }
        if (!l->free_pending) {
                if (u->unarmed)
                        arm_all(u);
                flush(u);
                if (u->efd >= 0)
                        efd_rearm(u);
        }
        return handled;
}

static int uring_fd(const pv_loop *l, bool owner)
{
        struct uring_be *u = l->be;

        /* In a forked process the ring's queues are the parent's too: only
         * the number is handed out (the ring's, if there is no eventfd). */
        if (!owner)
                return u->efd >= 0 ? u->efd : u->ring.ring_fd;
        /*
         * Not the ring's own fd: a deferred ring's fd does not turn
         * readable while its completions wait as task work, and a ring
         * that is not deferred interrupts the host's waits (backend.h).  An
         * eventfd registered with the ring is signalled by the kernel as
         * soon as a completion is on its way, deferred or not; it stays
         * the same fd when a new owner thread makes a new ring.
         */
        int r = claim(u);
        if (r == 0 && u->efd < 0) {
                int fd = pv__fd_high(sys_eventfd2(0, EFD_CLOEXEC | EFD_NONBLOCK));
                if (fd < 0)
                        return fd;
                r = io_uring_register_eventfd(&u->ring, fd);
                if (r < 0)
                        sys_close(fd);
                else
                        u->efd = fd;
        }
        if (r < 0)
                return r;
        u->exported = true;
        flush(u);
        return u->efd;
}

static void uring_done(pv_loop *l)
{
        struct uring_be *u = l->be;

        if (!u)
                return;
        /* Closing the ring cancels whatever is in flight; no completion is
         * read after this, so none can reach a freed source. */
        if (u->ring_up)
                io_uring_queue_exit(&u->ring);
        if (u->efd >= 0)
                sys_close(u->efd);
        free(u->slots);
        free(u);
        l->be = NULL;
}

/* The ring, or why not: -ENOSYS (no io_uring), -EPERM (a sandbox's seccomp
 * filter, kernel.io_uring_disabled), -ENOMEM (RLIMIT_MEMLOCK before 5.12),
 * -EOPNOTSUPP (a kernel without what we rely on). */
static int uring_init(pv_loop *l)
{
        struct uring_be *u = calloc(1, sizeof(*u));
        int r;

        if (!u)
                return -ENOMEM;
        u->free_head = UINT32_MAX;
        u->efd = -1;
        u->thread = pthread_self();
        l->be = u;
        r = ring_open(&u->ring, &u->deferred);
        u->ring_up = r == 0;
        /* AUTO takes io_uring only where it is invisible to the host: a
         * deferred ring (6.1), whose task work never interrupts a wait of
         * the host's own. */
        if (r == 0 && l->backend_auto && !u->deferred)
                return -EOPNOTSUPP;
        return r;
}

#else /* !HAVE_LIBURING */

static int uring_init(pv_loop *l)
{
        (void)l;
        return -EOPNOTSUPP;     /* built without liburing */
}

static void uring_done(pv_loop *l) { (void)l; }
static int uring_fd(const pv_loop *l, bool owner)
{
        (void)l; (void)owner;
        return -EOPNOTSUPP;
}
static int uring_add(pv_loop *l, struct pv__source *s, uint32_t events)
{
        (void)l; (void)s; (void)events;
        return -EOPNOTSUPP;
}
static void uring_del(pv_loop *l, struct pv__source *s) { (void)l; (void)s; }
static int uring_wait(pv_loop *l, int timeout_ms)
{
        (void)l; (void)timeout_ms;
        return -EOPNOTSUPP;
}

int pv__uring_probe(bool *deferred)
{
        *deferred = false;
        return -EOPNOTSUPP;
}

#endif

const struct pv__backend_ops pv__backend_uring = {
        .id = PV_BACKEND_URING,
        .name = "uring",
        .init = uring_init,
        .done = uring_done,
        .fd = uring_fd,
        .add = uring_add,
        .del = uring_del,
        .wait = uring_wait,
};
