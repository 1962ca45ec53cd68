/* SPDX-License-Identifier: MIT */
/* The command line. */
#ifndef PV_CLI_OPTS_H
#define PV_CLI_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#define EXIT_TIMEOUT 124
#define EXIT_FAILURE_OWN 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127

enum { PREFIX_TIME = 1, PREFIX_PID = 2 };

/* The caps: what the library's fields hold (grace_ms is 32 bits; the run
 * deadline is capped by the duration parser), and its keep_fds limit. */
#define GRACE_MAX_MS UINT32_MAX
#define PRESERVE_FDS_MAX 65536u

struct opts {
        uint64_t grace_ms, timeout_ms;
        bool kill_tree, quiet, features, json;
        unsigned prefix;        /* PREFIX_* bits */
        unsigned preserve_fds;  /* fds 3 .. 3 + preserve_fds - 1 reach the program */
        const char *report;     /* NULL, "-" (stderr) or a file */
        char **argv;            /* the program's; NULL with --features */
};

/* Parse argv into *o.  Usage errors print a message and exit 125; --help
 * and --version print and exit 0. */
void opts_parse(struct opts *o, int argc, char **argv);

/* A usage error: the message, the hint, exit 125. */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
