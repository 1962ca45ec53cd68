/* SPDX-License-Identifier: MIT */
/* Line framing with bounded memory: complete lines are handed out without
 * copying where they lie whole in the input; only an unfinished line is
 * kept, and never more than max bytes of it. */
#ifndef PV_LINES_H
#define PV_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

struct pv__framer {
        char *buf;        /* the unfinished line; NULL until one is kept */
        size_t len, cap;  /* len <= cap <= max */
        size_t max;       /* longest piece handed out */
        bool open_line;   /* the last piece handed out was PV_OUT_F_PARTIAL */
};

/* flags: PV_OUT_F_PARTIAL (the line goes on in the next piece) or
 * PV_OUT_F_NO_NEWLINE (the stream ended inside this line). */
typedef void (*pv__emit_fn)(void *ctx, const char *line, size_t len, unsigned flags);

static inline void pv__framer_init(struct pv__framer *f, size_t max)
{
        f->buf = NULL;
        f->len = f->cap = 0;
        f->max = max;
        f->open_line = false;
}

/* Split data into lines (without their '\n') and hand each out.  A line
 * longer than max goes out in pieces of max bytes flagged PV_OUT_F_PARTIAL;
 * the piece that ends it carries no flag.  Never fails: without memory for
 * the unfinished line, it goes out at once as a PV_OUT_F_PARTIAL piece. */
void pv__framer_feed(struct pv__framer *f, const char *data, size_t n,
                     pv__emit_fn emit, void *ctx) PV_HIDDEN;

/* Hand out the unfinished line now, flagged PV_OUT_F_PARTIAL (its rest, if
 * any, comes later), so that nothing waits in the buffer. */
void pv__framer_flush(struct pv__framer *f, pv__emit_fn emit, void *ctx) PV_HIDDEN;

/* The stream ended: hand out the unfinished line, if any, flagged
 * PV_OUT_F_NO_NEWLINE (an empty one if a PARTIAL piece was the last), and
 * free the buffer. */
void pv__framer_finish(struct pv__framer *f, pv__emit_fn emit, void *ctx) PV_HIDDEN;

/* Free without handing anything out. */
void pv__framer_done(struct pv__framer *f) PV_HIDDEN;

#endif
