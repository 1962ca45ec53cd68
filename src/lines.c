/* SPDX-License-Identifier: MIT */
#include <pidvisor.h>
#include <stdlib.h>
#include <string.h>

#include "lines.h"

#define MIN_CAP 256

/* Every piece goes out through here, so that open_line stays true. */
static void out(struct pv__framer *f, pv__emit_fn emit, void *ctx, const char *d, size_t n,
                unsigned flags)
{
        f->open_line = flags & PV_OUT_F_PARTIAL;
        emit(ctx, d, n, flags);
}

/* Room for want bytes in the unfinished line (want <= max): doubling, so a
 * long line costs O(1) copies per byte, but never past max.  If the double
 * cannot be had, the exact size may still be. */
static bool reserve(struct pv__framer *f, size_t want)
{
        size_t cap;
        char *b;

        assert(want <= f->max);
        if (want <= f->cap)
                return true;
        cap = f->cap ? f->cap : MIN_CAP;
        while (cap < want)
                cap = cap > f->max / 2 ? f->max : cap * 2;
        if (cap > f->max)
                cap = f->max;
        b = realloc(f->buf, cap);
        if (!b && cap > want) {
                cap = want;
                b = realloc(f->buf, cap);
        }
        if (!b)
                return false;
        f->buf = b;
        f->cap = cap;
        return true;
}

/* The line in the buffer is out (ended or flushed): a big buffer goes. */
static void line_done(struct pv__framer *f)
{
        f->len = 0;
        if (f->cap > PV__FRAMER_KEEP) {
                free(f->buf);
                f->buf = NULL;
                f->cap = 0;
        }
}

void pv__framer_feed(struct pv__framer *f, const char *data, size_t n,
                     pv__emit_fn emit, void *ctx)
{
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t seg = nl ? (size_t)(nl - data) : n;

                /* The common case: a whole line in the input, nothing kept. */
                if (f->len == 0 && nl && seg <= f->max) {
                        out(f, emit, ctx, data, seg, 0);
                        data += seg + 1;
                        n -= seg + 1;
                        continue;
                }
                /* Keep (or hand out in max-sized pieces) the segment. */
                while (seg > 0) {
                        size_t take;

                        if (f->len == f->max) {
                                /* The line goes on: the buffer stays. */
                                out(f, emit, ctx, f->buf, f->len, PV_OUT_F_PARTIAL);
                                f->len = 0;
                        }
                        if (f->len == 0 && seg > f->max) {
                                /* A giant line: straight from the input. */
                                out(f, emit, ctx, data, f->max, PV_OUT_F_PARTIAL);
                                data += f->max;
                                n -= f->max;
                                seg -= f->max;
                                continue;
                        }
                        take = f->max - f->len < seg ? f->max - f->len : seg;
                        if (!reserve(f, f->len + take)) {
                                /* No memory to keep it: hand it out now
                                 * rather than lose it. */
                                if (f->len)
                                        out(f, emit, ctx, f->buf, f->len, PV_OUT_F_PARTIAL);
                                f->len = 0;
                                out(f, emit, ctx, data, take, PV_OUT_F_PARTIAL);
                        } else {
                                memcpy(f->buf + f->len, data, take);
                                f->len += take;
                        }
                        data += take;
                        n -= take;
                        seg -= take;
                }
                if (nl) {
                        out(f, emit, ctx, f->buf ? f->buf : "", f->len, 0);
                        line_done(f);
                        data++;
                        n--;
                }
        }
}

void pv__framer_flush(struct pv__framer *f, pv__emit_fn emit, void *ctx)
{
        if (f->len)
                out(f, emit, ctx, f->buf, f->len, PV_OUT_F_PARTIAL);
        line_done(f);
}

void pv__framer_finish(struct pv__framer *f, pv__emit_fn emit, void *ctx)
{
        if (f->len || f->open_line)
                out(f, emit, ctx, f->buf ? f->buf : "", f->len, PV_OUT_F_NO_NEWLINE);
        pv__framer_done(f);
}

void pv__framer_done(struct pv__framer *f)
{
        free(f->buf);
        pv__framer_init(f, f->max);
}
