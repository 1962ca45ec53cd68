/* SPDX-License-Identifier: MIT */
/* src/timer.c: the deadline heap, driven by a fake clock.  The file is
 * compiled into this test with stubs for what it needs of the loop. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../src/loop.h"
#include "../src/timer.h"
#include "fake-clock.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(timer, .timeout = 30);


#define N 2000
static struct pv__timer timers[N];
static uint64_t fired[N];
static size_t n_fired;

static void on_fire(struct pv__timer *t)
{
        fired[n_fired++] = t->when_ns;
        cr_assert_eq(t->idx, PV_TIMER_IDLE, "a running timer is no longer in the heap");
}

Test(timer, heap_order_disarm_and_move)
{
        pv_loop l = { .timer_fd = -1 };
        size_t expect = 0;

        srand(1234);
        cr_assert_eq(pv__timers_init(&l), 0);
        cr_assert_eq(pv__timers_reserve(&l, N), 0);
        fake_now = 5000000000ull;
        for (int i = 0; i < N; i++) {
                pv__timer_init(&timers[i], on_fire);
                /* In the past, so each is due; many equal deadlines. */
                cr_assert_eq(pv__timer_arm(&l, &timers[i], 1 + (uint64_t)(rand() % 500) * 1000), 0);
        }
        cr_assert_eq(l.n_heap, N);
        /* The timerfd points at the earliest deadline. */
        cr_assert_eq(l.timer_armed_ns, l.heap[0]->when_ns);
        for (size_t i = 1; i < l.n_heap; i++)
                cr_assert_geq(l.heap[i]->when_ns, l.heap[0]->when_ns);
        for (int i = 0; i < N; i += 3)
                pv__timer_disarm(&l, &timers[i]);
        for (int i = 1; i < N; i += 3) /* move: re-arming replaces */
                cr_assert_eq(pv__timer_arm(&l, &timers[i], 600000 + (uint64_t)i), 0);
        for (int i = 0; i < N; i++)
                expect += i % 3 != 0;
        cr_assert_eq(l.n_heap, expect);

        cr_assert_eq((size_t)pv__timers_run(&l), expect);
        cr_assert_eq(n_fired, expect);
        for (size_t i = 1; i < n_fired; i++)
                cr_assert_leq(fired[i - 1], fired[i], "fired out of order at %zu", i);
        cr_assert_eq(l.n_heap, 0);

        /* Future timers wait; the due one runs alone. */
        n_fired = 0;
        pv__timer_arm(&l, &timers[0], fake_now + 10);
        pv__timer_arm(&l, &timers[1], fake_now - 10);
        cr_assert_eq(pv__timers_run(&l), 1);
        cr_assert_eq(fired[0], fake_now - 10);
        cr_assert_eq(l.n_heap, 1);
        fake_now += 10;
        cr_assert_eq(pv__timers_run(&l), 1);
        pv__timer_disarm(&l, &timers[1]); /* disarming an idle timer is fine */
        pv__timers_done(&l);
        cr_assert_eq(l.timer_fd, -1);
}
