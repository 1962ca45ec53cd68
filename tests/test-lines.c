/* SPDX-License-Identifier: MIT */
/* src/lines.c: the framer, fed directly. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pidvisor.h>
#include "../src/lines.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(lines, .timeout = 30);

struct sink {
        char *out;               /* lines rejoined, '\n' restored */
        size_t len, cap;
        size_t max_piece;
        int lines, pieces, no_newline, partials;
        bool in_line;            /* the last piece was PV_OUT_F_PARTIAL */
        bool allow_short;        /* a flush may hand out a short PARTIAL */
        const char *last;        /* where the last piece lay */
        size_t last_len;
        unsigned last_flags;
};

/* realloc, as src/lines.c sees it (linked with -Wl,--wrap=realloc): fails
 * every request above fail_above, counting the failures. */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static size_t fail_above = SIZE_MAX;
static int failed_reallocs;

void *__wrap_realloc(void *p, size_t n)
{
        if (n > fail_above) {
                failed_reallocs++;
                return NULL;
        }
        return __real_realloc(p, n);
}

static void put(struct sink *s, const char *d, size_t n)
{
        if (s->len + n + 1 > s->cap) {
                s->cap = (s->len + n + 1) * 2;
                s->out = __real_realloc(s->out, s->cap);
                cr_assert(s->out);
        }
        memcpy(s->out + s->len, d, n);
        s->len += n;
}

static void emit(void *ctx, const char *d, size_t n, unsigned flags)
{
        struct sink *s = ctx;

        cr_assert_leq(n, s->max_piece, "piece of %zu > max %zu", n, s->max_piece);
        cr_assert_null(memchr(d, '\n', n), "a newline inside a line");
        put(s, d, n);
        s->pieces++;
        s->last = d;
        s->last_len = n;
        s->last_flags = flags;
        if (flags & PV_OUT_F_PARTIAL) {
                s->partials++;
                cr_assert(n == s->max_piece || s->allow_short, "a partial piece is max long");
                s->in_line = true;
                return;
        }
        s->in_line = false;
        if (flags & PV_OUT_F_NO_NEWLINE) {
                s->no_newline++;
                return;
        }
        put(s, "\n", 1);
        s->lines++;
}

/* Feeding in any chunking gives back exactly the input, with no piece
 * longer than max and memory never above max. */
Test(lines, random_chunking_reproduces_input)
{
        srand(42);
        for (int round = 0; round < 200; round++) {
                size_t max = 1 + (size_t)(rand() % 64);
                size_t n = (size_t)(rand() % 4000);
                char *in = malloc(n + 1);
                struct pv__framer f;
                struct sink s = { .max_piece = max };
                int want_lines = 0;

                for (size_t i = 0; i < n; i++) {
                        in[i] = rand() % 8 == 0 ? '\n' : (char)('a' + rand() % 26);
                        want_lines += in[i] == '\n';
                }
                pv__framer_init(&f, max);
                for (size_t off = 0; off < n;) {
                        size_t k = 1 + (size_t)(rand() % 300);
                        if (k > n - off)
                                k = n - off;
                        pv__framer_feed(&f, in + off, k, emit, &s);
                        cr_assert_leq(f.cap, max);
                        off += k;
                }
                pv__framer_finish(&f, emit, &s);
                cr_assert_eq(s.len, n, "round %d: %zu bytes out of %zu", round, s.len, n);
                cr_assert(n == 0 || memcmp(s.out, in, n) == 0, "round %d differs", round);
                cr_assert_eq(s.lines, want_lines);
                cr_assert_eq(s.no_newline, n > 0 && in[n - 1] != '\n' ? 1 : 0);
                cr_assert_null(f.buf);
                free(in);
                free(s.out);
        }
}

Test(lines, whole_lines_are_not_copied)
{
        const char in[] = "alpha\nbeta\n";
        struct pv__framer f;
        struct sink s = { .max_piece = 100 };

        pv__framer_init(&f, 100);
        pv__framer_feed(&f, in, sizeof(in) - 1, emit, &s);
        cr_assert_null(f.buf, "whole lines needed no buffer");
        cr_assert_eq(s.lines, 2);
        cr_assert_eq(s.last, in + 6, "the line was handed out where it lay");
        pv__framer_finish(&f, emit, &s);
        cr_assert_eq(s.no_newline, 0);
        free(s.out);
}

Test(lines, long_line_in_pieces)
{
        char in[2601];
        struct pv__framer f;
        struct sink s = { .max_piece = 1000 };

        memset(in, 'x', 2600);
        in[2600] = '\n';
        pv__framer_init(&f, 1000);
        pv__framer_feed(&f, in, 100, emit, &s);   /* kept */
        pv__framer_feed(&f, in + 100, 2501, emit, &s);
        cr_assert_eq(s.pieces, 3);                 /* 1000 + 1000 + 600 */
        cr_assert_eq(s.lines, 1);
        cr_assert_eq(s.len, 2601);
        pv__framer_done(&f);
        free(s.out);
}

/* A flush hands the unfinished line out as PARTIAL; the end then closes
 * that line with an empty NO_NEWLINE piece, so no stream ends "open". */
Test(lines, flush_then_finish)
{
        struct pv__framer f;
        struct sink s = { .max_piece = 100, .allow_short = true };

        pv__framer_init(&f, 100);
        pv__framer_feed(&f, "abc", 3, emit, &s);
        cr_assert_eq(s.pieces, 0);
        pv__framer_flush(&f, emit, &s);
        cr_assert_eq(s.pieces, 1);
        cr_assert(s.in_line);
        pv__framer_finish(&f, emit, &s);
        cr_assert_eq(s.pieces, 2);
        cr_assert_not(s.in_line);
        cr_assert_eq(s.no_newline, 1);
        cr_assert_eq(s.len, 3);
        free(s.out);
}

/* A line fed in reads of size chunk, and its newline in the last one. */
static void feed_line(struct pv__framer *f, struct sink *s, char *line, size_t len,
                      size_t chunk)
{
        memset(line, 'j', len);
        line[len] = '\n';
        for (size_t off = 0; off < len + 1; off += chunk)
                pv__framer_feed(f, line + off, len + 1 - off < chunk ? len + 1 - off : chunk,
                                emit, s);
}

/* The stdout case: a 600 KB JSON-RPC line under a 16 MiB max, read 64 KiB
 * at a time.  The buffer grows only as the unfinished line needs (never
 * more than twice what it holds, never max up front), the line comes in one
 * piece, and then the buffer is gone. */
Test(lines, long_line_grows_then_shrinks)
{
        const size_t len = 600000, max = 16u << 20, chunk = 65536;
        char *line = malloc(len + 1);
        struct pv__framer f;
        struct sink s = { .max_piece = max };

        cr_assert(line);
        memset(line, 'j', len);
        line[len] = '\n';
        pv__framer_init(&f, max);
        cr_assert_eq(pv__framer_capacity(&f), 0, "nothing allocated up front");
        for (size_t off = 0; off < len + 1; off += chunk) {
                size_t k = len + 1 - off < chunk ? len + 1 - off : chunk;

                pv__framer_feed(&f, line + off, k, emit, &s);
                if (off + k <= len) {
                        cr_assert_geq(pv__framer_capacity(&f), f.len);
                        cr_assert_leq(pv__framer_capacity(&f), 2 * f.len,
                                      "%zu allocated for %zu kept", pv__framer_capacity(&f),
                                      f.len);
                }
        }
        cr_assert_eq(s.pieces, 1, "one piece, not %d", s.pieces);
        cr_assert_eq(s.last_len, len);
        cr_assert_eq(s.last_flags, 0);
        cr_assert_eq(s.lines, 1);
        cr_assert_leq(pv__framer_capacity(&f), PV__FRAMER_KEEP,
                      "%zu bytes still held after the line", pv__framer_capacity(&f));
        /* The next line, short, is handed out as it lies. */
        pv__framer_feed(&f, "{}\n", 3, emit, &s);
        cr_assert_eq(s.lines, 2);
        cr_assert_null(f.buf);
        pv__framer_done(&f);
        free(line);
        free(s.out);
}

/* A short line split across reads keeps its small buffer for the next one
 * (no malloc per split line); a long one split the same way does not. */
Test(lines, small_buffer_kept_big_one_freed)
{
        char line[PV__FRAMER_KEEP * 2 + 1];
        struct pv__framer f;
        struct sink s = { .max_piece = 1u << 20 };

        pv__framer_init(&f, 1u << 20);
        feed_line(&f, &s, line, 100, 60);
        cr_assert_eq(s.lines, 1);
        cr_assert_gt(pv__framer_capacity(&f), 0, "a short split line's buffer stays");
        cr_assert_leq(pv__framer_capacity(&f), PV__FRAMER_KEEP);
        feed_line(&f, &s, line, PV__FRAMER_KEEP * 2, 1000);
        cr_assert_eq(s.lines, 2);
        cr_assert_eq(s.last_len, PV__FRAMER_KEEP * 2);
        cr_assert_eq(pv__framer_capacity(&f), 0);
        pv__framer_done(&f);
        free(s.out);
}

/* Exactly max bytes is a whole line, however it is split (the newline
 * alone in the next read included); max + 1 is a PARTIAL piece of max and
 * the rest.  The buffer never exceeds max, also when max is no power of
 * two. */
Test(lines, exactly_max_is_whole)
{
        const size_t max = 1000;
        char line[1002];
        size_t chunks[] = { 1001, 1002, 500, 1000, 999, 1, 7 };

        for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
                struct pv__framer f;
                struct sink s = { .max_piece = max };

                pv__framer_init(&f, max);
                feed_line(&f, &s, line, max, chunks[i]);
                cr_assert_eq(s.pieces, 1, "chunk %zu: %d pieces", chunks[i], s.pieces);
                cr_assert_eq(s.last_len, max);
                cr_assert_eq(s.last_flags, 0);
                cr_assert_leq(pv__framer_capacity(&f), max);

                feed_line(&f, &s, line, max + 1, chunks[i]);
                cr_assert_eq(s.pieces, 3, "chunk %zu: %d pieces", chunks[i], s.pieces);
                cr_assert_eq(s.partials, 1);
                cr_assert_eq(s.last_len, 1);
                cr_assert_eq(s.last_flags, 0);
                cr_assert_eq(s.lines, 2);
                cr_assert_eq(s.len, 2 * max + 3);
                pv__framer_done(&f);
                free(s.out);
        }
}

/* While a line longer than max goes on, the buffer (max) stays for its
 * next piece; once it ends, the buffer goes.  (Read in pieces shorter than
 * max, so that the line goes through the buffer, not straight from the
 * input.) */
Test(lines, over_max_keeps_buffer_until_the_end)
{
        const size_t max = 3 * PV__FRAMER_KEEP, len = 5 * max;
        static char line[5 * 3 * PV__FRAMER_KEEP + 1];
        struct pv__framer f;
        struct sink s = { .max_piece = max };
        size_t off;

        memset(line, 'k', len);
        line[len] = '\n';
        pv__framer_init(&f, max);
        for (off = 0; off < max + 1000; off += 1000)
                pv__framer_feed(&f, line + off, 1000, emit, &s);
        cr_assert_eq(s.partials, 1);
        cr_assert_eq(pv__framer_capacity(&f), max, "the line goes on: its buffer stays");
        for (; off < len + 1; off += 1000)
                pv__framer_feed(&f, line + off, len + 1 - off < 1000 ? len + 1 - off : 1000,
                                emit, &s);
        cr_assert_eq(s.partials, 4);
        cr_assert_eq(s.lines, 1);
        cr_assert_eq(s.len, len + 1);
        cr_assert_eq(pv__framer_capacity(&f), 0);
        pv__framer_done(&f);
        free(s.out);
}

/* Where doubling cannot be had but the exact size can, the line still
 * comes whole. */
Test(lines, growth_falls_back_to_exact_size)
{
        const size_t len = 600000;
        char *line = malloc(len + 1);
        struct pv__framer f;
        struct sink s = { .max_piece = 16u << 20 };

        cr_assert(line);
        fail_above = 700000;    /* 1 MiB (the double) fails, 600001 would not */
        pv__framer_init(&f, 16u << 20);
        feed_line(&f, &s, line, len, 65536);
        fail_above = SIZE_MAX;
        cr_assert_gt(failed_reallocs, 0, "the double was never refused: no test");
        cr_assert_eq(s.pieces, 1);
        cr_assert_eq(s.last_len, len);
        cr_assert_eq(s.last_flags, 0);
        pv__framer_done(&f);
        free(line);
        free(s.out);
}

/* When the buffer cannot grow at all, nothing is lost: what it holds and
 * what would not fit come out as shorter PARTIAL pieces, in order, and the
 * line still ends with an unflagged piece; later lines are framed again. */
Test(lines, growth_failure_loses_nothing)
{
        const size_t len = 600000;
        char *line = malloc(len + 1);
        struct pv__framer f;
        struct sink s = { .max_piece = 16u << 20, .allow_short = true };

        cr_assert(line);
        fail_above = 100000;
        pv__framer_init(&f, 16u << 20);
        for (size_t i = 0; i < len; i++)
                line[i] = (char)('a' + i % 26);
        line[len] = '\n';
        for (size_t off = 0; off < len + 1; off += 65536)
                pv__framer_feed(&f, line + off, len + 1 - off < 65536 ? len + 1 - off : 65536,
                                emit, &s);
        cr_assert_gt(failed_reallocs, 0);
        cr_assert_gt(s.partials, 0, "the line should have come in pieces");
        cr_assert_eq(s.lines, 1);
        cr_assert_eq(s.last_flags, 0);
        cr_assert_eq(s.len, len + 1);
        cr_assert_eq(memcmp(s.out, line, len + 1), 0, "bytes lost or reordered");
        /* Short lines are unaffected. */
        pv__framer_feed(&f, "ab", 2, emit, &s);
        pv__framer_feed(&f, "c\n", 2, emit, &s);
        cr_assert_eq(s.lines, 2);
        cr_assert_eq(s.last_len, 3);
        cr_assert_eq(s.last_flags, 0);
        fail_above = SIZE_MAX;
        pv__framer_done(&f);
        free(line);
        free(s.out);
}

/* A flush (a linger starting) empties the buffer, and a big one goes. */
Test(lines, flush_frees_a_big_buffer)
{
        static char part[3 * PV__FRAMER_KEEP];
        struct pv__framer f;
        struct sink s = { .max_piece = 1u << 20, .allow_short = true };

        memset(part, 'p', sizeof(part));
        pv__framer_init(&f, 1u << 20);
        pv__framer_feed(&f, part, sizeof(part), emit, &s);
        cr_assert_geq(pv__framer_capacity(&f), sizeof(part));
        pv__framer_flush(&f, emit, &s);
        cr_assert_eq(s.partials, 1);
        cr_assert_eq(pv__framer_capacity(&f), 0);
        pv__framer_finish(&f, emit, &s);
        cr_assert_eq(s.no_newline, 1);
        free(s.out);
}
