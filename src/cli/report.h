/* SPDX-License-Identifier: MIT */
/* The JSON exit report of --report. */
#ifndef PV_CLI_REPORT_H
#define PV_CLI_REPORT_H

#include <pidvisor.h>
#include <stdbool.h>
#include <stdio.h>

struct report {
        const char *const *argv;
        const struct pv_exit *exit;  /* NULL when the program never ran */
        const char *error;           /* why it did not run, or NULL */
        bool timed_out;
        int exit_status;             /* pidvisor's own */
        const char *spawn;           /* mechanism name */
        const char *backend;
        const char *kill_tree;       /* "cgroup", "pgrp" or "none" */
        uint64_t stderr_dropped;     /* bytes of pidvisor's stderr dropped */
};

/* s as a JSON string; bytes that are not UTF-8 (argv can hold any) become
 * U+FFFD, so what is written always parses. */
void json_string(FILE *f, const char *s);

/* Write r as one JSON object and a newline.  0 or -errno. */
int report_write(FILE *f, const struct report *r);

#endif
