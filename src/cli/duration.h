/* SPDX-License-Identifier: MIT */
#ifndef PV_CLI_DURATION_H
#define PV_CLI_DURATION_H

#include <stdbool.h>
#include <stdint.h>

/* The longest duration accepted at all: 366 days. */
#define DURATION_MAX_MS (366ull * 24 * 3600 * 1000)

/* "500ms", "5s", "2m", "1h" or a plain number of seconds (a decimal point
 * allowed: "0.5").  0 and *ret_ms on success; -EINVAL for anything else
 * (empty, negative, unknown unit, trailing junk); -ERANGE for a well-formed
 * duration over DURATION_MAX_MS. */
int duration_parse(const char *s, uint64_t *ret_ms);

#endif
