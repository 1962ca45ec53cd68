/* SPDX-License-Identifier: MIT */
/* The clocks the benchmarks and the stress harness read, in seconds. */
#ifndef PV_STRESS_CLOCK_H
#define PV_STRESS_CLOCK_H

#include <time.h>

static inline double clock_s(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);     /* these two clocks cannot fail */
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time, monotonic. */
static inline double wall_s(void)
{
        return clock_s(CLOCK_MONOTONIC);
}

/* This process's CPU time, user + system, all threads. */
static inline double cpu_s(void)
{
        return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static inline double wall_us(void)
{
        return wall_s() * 1e6;
}

static inline double cpu_us(void)
{
        return cpu_s() * 1e6;
}

#endif
