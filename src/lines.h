/* SPDX-License-Identifier: MIT */
/* Line framing with bounded memory: complete lines are handed out without
 * copying where they lie whole in the input; only an unfinished line is
 * kept, and never more than max bytes of it. */
#ifndef PV_LINES_H
#define PV_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* A buffer up to this size survives the line it held: a short line split
 * across two reads is common, and needs no malloc each time.  A larger one
 * is freed once its line is out, so that a 600 KB line (or a 16 MiB one)
 * does not stay pinned to an idle stream. */
#define PV__FRAMER_KEEP 4096

struct pv__framer {
        char *buf;        /* the unfinished line; NULL while none needs it */
        size_t len, cap;  /* len <= cap <= max; between lines (once one
                           * has ended or been flushed) cap <= KEEP */
        size_t max;       /* longest piece handed out; may be far more than
                           * is ever allocated: cap grows (doubling) only as
                           * an unfinished line needs it */
        bool open_line;   /* the last piece handed out was PV_OUT_F_PARTIAL */
};

/* flags: PV_OUT_F_PARTIAL (the line goes on in the next piece) or
 * PV_OUT_F_NO_NEWLINE (the stream ended inside this line). */
typedef void (*pv__emit_fn)(void *ctx, const char *line, size_t len, unsigned flags);

static inline void pv__framer_init(struct pv__framer *f, size_t max)
{
        assert(max > 0);
        f->buf = NULL;
        f->len = f->cap = 0;
        f->max = max;
        f->open_line = false;
}

/* What the buffer holds allocated now (for tests and accounting). */
static inline size_t pv__framer_capacity(const struct pv__framer *f)
{
        return f->cap;
}

/* Split data into lines (without their '\n') and hand each out.  A line
 * longer than max goes out in pieces of max bytes flagged PV_OUT_F_PARTIAL;
 * the piece that ends it carries no flag.  Never fails and never drops a
 * byte: when the buffer cannot grow (not even to the exact size needed),
 * what it holds and what would not fit go out at once as (shorter)
 * PV_OUT_F_PARTIAL pieces, and the line goes on from an empty buffer. */
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
