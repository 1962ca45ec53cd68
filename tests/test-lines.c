/* SPDX-License-Identifier: MIT */
/* src/lines.c: the framer, fed directly. */
#include <criterion/criterion.h>
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
        int lines, pieces, no_newline;
        bool in_line;            /* the last piece was PV_OUT_F_PARTIAL */
        bool allow_short;        /* a flush may hand out a short PARTIAL */
};

static void put(struct sink *s, const char *d, size_t n)
{
        if (s->len + n + 1 > s->cap) {
                s->cap = (s->len + n + 1) * 2;
                s->out = realloc(s->out, s->cap);
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
        if (flags & PV_OUT_F_PARTIAL) {
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
