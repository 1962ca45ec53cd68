/* SPDX-License-Identifier: MIT */
/* The loop object, shared by the files that make it up. */
#ifndef PV_LOOP_H
#define PV_LOOP_H

#include <stdbool.h>
#include <sys/types.h>

#include "backend.h"
#include "features.h"
#include "internal.h"
#include "timer.h"

struct pv_loop {
        const struct pv__backend_ops *ops;
        void *be;                   /* the backend's state; NULL before
                                     * init (backend.h) */
        bool backend_auto;          /* the caller asked PV_BACKEND_AUTO */

        int timer_fd;               /* CLOCK_MONOTONIC timerfd; -1 before init */
        struct pv__source timer_src;
        struct pv__timer **heap;    /* min-heap on when_ns */
        size_t n_heap, cap_heap;
        uint64_t timer_armed_ns;    /* what timer_fd is set to; 0 = disarmed */

        struct pv_list alive;       /* children not yet reaped */
        struct pv_list dead;        /* reaped children, until they are freed */
        struct pv_list graveyard;   /* freed during a dispatch; really freed
                                     * when the dispatch ends, so events
                                     * queued for them stay harmless */
        unsigned n_alive;
        unsigned n_lingering;       /* exited children whose streams linger */
        unsigned n_children;        /* all pv_child objects of this loop */

        int mech;                   /* enum pv_mech in use */
        struct pv__features feat;   /* the probe's findings, copied at creation */
        pid_t owner_pid;            /* for the fork check: pv__getpid() at
                                     * creation */
        bool forked;                /* seen from a process forked since the
                                     * loop was made (sticky): the epoll set
                                     * is shared with the parent there, so
                                     * close our fd copies but never DEL */
        unsigned dispatching;       /* > 0 while callbacks may run */
        bool free_pending;          /* pv_loop_free() was called from a
                                     * callback: no callback runs again, and
                                     * the dispatch frees the loop when it
                                     * ends */

        void *child_stack_map;      /* guard page + stack, as mapped */
        void *child_stack;          /* the spawn child's stack, reused */
        size_t child_stack_size;
        char *read_buf;             /* scratch for draining output */
        size_t read_buf_size;
};

/* 0; -ECHILD when the process forked since the loop was made (and then
 * l->forked is set; no system call, but the first after a fork);
 * -ECANCELED when a callback freed the loop (it is freed when the dispatch
 * ends). */
int pv__loop_check(pv_loop *l) PV_HIDDEN;

/* This process's pid, cached in a page that a fork wipes (loop.c). */
pid_t pv__getpid(void) PV_HIDDEN;

/* Register/unregister a source with the backend.  pv__loop_del leaves the
 * backend alone in a process forked since the loop was made: the epoll set
 * or the io_uring ring is the parent's too there. */
int pv__loop_add(pv_loop *l, struct pv__source *s, uint32_t events) PV_HIDDEN;
void pv__loop_del(pv_loop *l, struct pv__source *s) PV_HIDDEN;
/* pv__loop_del then close; sets s->fd = -1.  Accepts a closed source (and
 * one never added). */
void pv__loop_close(pv_loop *l, struct pv__source *s) PV_HIDDEN;

#endif
