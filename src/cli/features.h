/* SPDX-License-Identifier: MIT */
/* --features: what this machine offers, as the library and --kill-tree
 * will really use it. */
#ifndef PV_CLI_FEATURES_H
#define PV_CLI_FEATURES_H

#include <stdbool.h>
#include <stdio.h>

/* Why pv_loop_new() fails here, in words ("this kernel lacks ..."). */
const char *features_no_spawn(int err);

/* Print the table to f, or (json) the same facts as one JSON object.
 * Returns the exit status (0, or 125 when the library cannot even say). */
int features_print(FILE *f, bool json);

#endif
