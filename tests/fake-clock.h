/* SPDX-License-Identifier: MIT */
/* A fake clock and loop stubs for tests that compile src/timer.c (and what
 * runs on it) without a real loop: pv__now_ns() returns fake_now. */
#ifndef PV_TEST_FAKE_CLOCK_H
#define PV_TEST_FAKE_CLOCK_H

#include <stdint.h>

extern uint64_t fake_now;

#endif
