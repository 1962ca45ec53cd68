/* SPDX-License-Identifier: MIT */
#ifndef PV_CLI_DURATION_H
#define PV_CLI_DURATION_H

#include <stdint.h>

/* "500ms", "5s", "2m", "1h" or a plain number of seconds (a decimal point
 * allowed: "0.5").  0 and *ret_ms on success, -EINVAL for anything else
 * (empty, negative, unknown unit, trailing junk, over a year). */
int duration_parse(const char *s, uint64_t *ret_ms);

#endif
