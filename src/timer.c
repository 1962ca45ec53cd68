/* SPDX-License-Identifier: MIT */
#include <pidvisor.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>

#include "fault.h"
#include "loop.h"
#include "syscall.h"
#include "timer.h"

static bool before(const struct pv__timer *a, const struct pv__timer *b)
{
        return a->when_ns < b->when_ns;
}

static void place(pv_loop *l, size_t i, struct pv__timer *t)
{
        l->heap[i] = t;
        t->idx = i;
}

static void sift_up(pv_loop *l, size_t i)
{
        struct pv__timer *t = l->heap[i];

        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (!before(t, l->heap[p]))
                        break;
                place(l, i, l->heap[p]);
                i = p;
        }
        place(l, i, t);
}

static void sift_down(pv_loop *l, size_t i)
{
        struct pv__timer *t = l->heap[i];

        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= l->n_heap)
                        break;
                if (c + 1 < l->n_heap && before(l->heap[c + 1], l->heap[c]))
                        c++;
                if (!before(l->heap[c], t))
                        break;
                place(l, i, l->heap[c]);
                i = c;
        }
        place(l, i, t);
}

static void heap_remove(pv_loop *l, struct pv__timer *t)
{
        size_t i = t->idx;
        struct pv__timer *last = l->heap[--l->n_heap];

        t->idx = PV_TIMER_IDLE;
        if (last == t)
                return;
        place(l, i, last);
        sift_up(l, i);
        sift_down(l, last->idx);
}

/* Point the timerfd at the earliest deadline.  A later head leaves the fd
 * armed early: the wake-up finds nothing due and re-arms, which costs less
 * than a settime on every disarm. */
static int rearm(pv_loop *l)
{
        struct itimerspec its = { 0 };
        uint64_t when;

        if (l->n_heap == 0)
                return 0;
        when = l->heap[0]->when_ns;
        if (l->timer_armed_ns && l->timer_armed_ns <= when)
                return 0;
        its.it_value.tv_sec = (time_t)(when / 1000000000u);
        its.it_value.tv_nsec = (long)(when % 1000000000u);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
                its.it_value.tv_nsec = 1; /* all zero would disarm */
        int r;

        PV_RETRY(r, PV_FAULT(PV_FAULT_TIMER,
                             sys_timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL)));
        if (r < 0)
                return r;
        l->timer_armed_ns = when;
        return 0;
}

int pv__timers_reserve(pv_loop *l, size_t n)
{
        struct pv__timer **h;
        size_t cap;

        if (n <= l->cap_heap)
                return 0;
        cap = l->cap_heap ? l->cap_heap : 16;
        while (cap < n)
                cap *= 2;
        h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
                return -ENOMEM;
        l->heap = h;
        l->cap_heap = cap;
        return 0;
}

int pv__timer_arm(pv_loop *l, struct pv__timer *t, uint64_t when_ns)
{
        if (t->idx != PV_TIMER_IDLE)
                heap_remove(l, t);
        assert(l->n_heap < l->cap_heap);
        t->when_ns = when_ns;
        place(l, l->n_heap++, t);
        sift_up(l, t->idx);
        return rearm(l);
}

void pv__timer_disarm(pv_loop *l, struct pv__timer *t)
{
        if (t->idx != PV_TIMER_IDLE)
                heap_remove(l, t);
}

int pv__timers_run(pv_loop *l)
{
        uint64_t now = pv__now_ns();
        int n = 0;

        while (l->n_heap > 0 && l->heap[0]->when_ns <= now && !l->free_pending) {
                struct pv__timer *t = l->heap[0];

                heap_remove(l, t);
                t->cb(t);
                n++;
        }
        /* The heap head may be a timer armed while we ran; rearm() errors
         * only on a broken timerfd, which the next dispatch will see. */
        l->timer_armed_ns = 0;
        (void)rearm(l);
        return n;
}

static void timer_ready(struct pv__source *s, uint32_t events)
{
        pv_loop *l = container_of(s, pv_loop, timer_src);
        uint64_t ticks;

        (void)events;
        /* Non-blocking: -EAGAIN when a rearm raced the expiry. */
        (void)sys_read(l->timer_fd, &ticks, sizeof(ticks));
        pv__timers_run(l);
}

int pv__timers_init(pv_loop *l)
{
        int fd = pv__fd_high(sys_timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));

        if (fd < 0)
                return fd;
        l->timer_fd = fd;
        l->timer_src.fd = fd;
        l->timer_src.cb = timer_ready;
        return pv__loop_add(l, &l->timer_src, PV_EV_IN);
}

void pv__timers_done(pv_loop *l)
{
        pv__loop_close(l, &l->timer_src);
        l->timer_fd = -1;
        free(l->heap);
        l->heap = NULL;
        l->n_heap = l->cap_heap = 0;
}
