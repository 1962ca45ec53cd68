/* SPDX-License-Identifier: MIT */
/* Deadlines: a binary min-heap per loop, driven by the loop's one timerfd,
 * so 10,000 stopping children cost one fd. */
#ifndef PV_TIMER_H
#define PV_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef struct pv_loop pv_loop;

struct pv__timer {
        uint64_t when_ns;                  /* CLOCK_MONOTONIC deadline */
        size_t idx;                        /* heap slot; PV_TIMER_IDLE if not armed */
        void (*cb)(struct pv__timer *t);   /* runs once per arming */
};
#define PV_TIMER_IDLE SIZE_MAX

static inline void pv__timer_init(struct pv__timer *t, void (*cb)(struct pv__timer *))
{
        t->when_ns = 0;
        t->idx = PV_TIMER_IDLE;
        t->cb = cb;
}

/* Make room for n armed timers, so that arming never fails later (a stop
 * must not fail for want of memory).  0 or -ENOMEM. */
int pv__timers_reserve(pv_loop *l, size_t n) PV_HIDDEN;

/* Arm (or move) t; room must have been reserved.  0, or -errno from
 * timerfd_settime. */
int pv__timer_arm(pv_loop *l, struct pv__timer *t, uint64_t when_ns) PV_HIDDEN;
void pv__timer_disarm(pv_loop *l, struct pv__timer *t) PV_HIDDEN;

/* Create the loop's timerfd and register it. */
int pv__timers_init(pv_loop *l) PV_HIDDEN;
void pv__timers_done(pv_loop *l) PV_HIDDEN;

/* Run every expired timer; returns how many ran. */
int pv__timers_run(pv_loop *l) PV_HIDDEN;

#endif
