/* SPDX-License-Identifier: MIT */
/* src/stdio.c and src/input.c, a child's stdio: pipes, draining and
 * delivery before the exit callback, and the stdin queue. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
/* libasan's (GCC ships no allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
#include <time.h>

#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(stdio, .timeout = 30);


/* Everything the child wrote before it exited is delivered before its exit
 * callback, on both streams, even when it exits right after writing. */
Test(stdio, output_before_exit, .timeout = 60)
{
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        for (int i = 0; i < 50; i++) {
                struct tu_out out = { 0 };
                struct pv_spawn_opts o = tu_helper_opts(
                        TU_ARGV("print", "out-line", "eprint", "err-line", "exit", "0"), &out);
                cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
                cr_assert_eq(pv_loop_run(l), 0);
                cr_assert_eq(out.exits, 1);
                cr_assert_eq(out.at_exit, strlen("out-line\nerr-line\n"), "cycle %d: %zu bytes",
                             i, out.at_exit);
                cr_assert(strstr(out.data, "out-line\n") && strstr(out.data, "err-line\n"));
        }
        pv_loop_free(l);
}

/* A child writing far more than a pipe holds never blocks: the loop drains
 * on readiness, and every byte is counted. */
Test(stdio, large_output_drained, .timeout = 60)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("write-bytes", "8388608"), &out);
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(out.last.code, 0);
        cr_assert_eq(out.at_exit, 8388608);
        pv_loop_free(l);
}

/* Without an output callback, piped output is drained and dropped. */
Test(stdio, drained_without_callback, .timeout = 60)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("write-bytes", "1048576", "exit", "6"), NULL);
        struct pv_exit e;
        pv_loop *l;

        o.stdio[1].mode = PV_STDIO_PIPE;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, &e), 0);
        cr_assert_eq(e.code, 6);
        pv_loop_free(l);
}

/* A grandchild that keeps stdout and stderr open does not delay the exit. */
Test(stdio, grandchild_holding_pipes, .timeout = 60)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "exit", "0"), &out);
        pv_loop *l;
        int gc = 0;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(out.exits, 1);
        cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
        cr_assert(tu_pid_alive(gc), "the grandchild should still be running");
        kill(gc, SIGKILL);
        pv_loop_free(l);
}

Test(stdio, close_stdin)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("read-stdin"), &out);
        pv_loop *l;
        pv_child *c;

        o.stdio[0].mode = PV_STDIO_PIPE;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_wait(c, 20, NULL), -ETIMEDOUT, "child did not wait for stdin");
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        cr_assert_str_eq(out.data, "stdin=0\n");
        cr_assert_eq(out.last.code, 0);
        cr_assert_eq(pv_child_close_stdin(c), 0);
        pv_child_release(c);
        pv_loop_free(l);
}

/* ---- framing ---------------------------------------------------------- */

/* A JSON-RPC-style echo loop through /bin/cat: N framed messages out, the
 * same N lines back, in order. */
Test(stdio, json_rpc_echo_through_cat, .timeout = 60)
{
        const char *argv[] = { "/bin/cat", NULL };
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(argv, &out);
        char want[64];
        pv_loop *l;
        pv_child *c;
        const int n = 1000;

        o.stdio[0].mode = PV_STDIO_PIPE;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        for (int i = 0; i < n; i++) {
                char msg[96];
                int len = snprintf(msg, sizeof(msg),
                                   "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", i);
                cr_assert_geq(pv_child_write(c, msg, (size_t)len), 0);
        }
        snprintf(want, sizeof(want), "\"id\":%d,", n - 1);
        tu_wait_output(l, &out, want);
        /* In order, each once. */
        const char *p = out.data;
        for (int i = 0; i < n; i++) {
                char id[32];
                snprintf(id, sizeof(id), "{\"jsonrpc\":\"2.0\",\"id\":%d,", i);
                cr_assert_eq(strncmp(p, id, strlen(id)), 0, "line %d out of order", i);
                p = strchr(p, '\n') + 1;
        }
        cr_assert_eq(*p, '\0');
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        cr_assert_eq(out.last.code, 0);
        cr_assert_eq(out.ends[1], PV_OUT_F_EOF);
        pv_child_release(c);
        pv_loop_free(l);
}

struct seq {
        int next[3];             /* next expected number per fd */
        int bad;
};

static void check_seq(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                      void *ud)
{
        struct seq *s = ud;
        char want[32];

        (void)c;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED))
                return;
        snprintf(want, sizeof(want), "%s %d", fd == 1 ? "out" : "err", s->next[fd]++);
        if (flags || len != strlen(want) || memcmp(data, want, len) != 0)
                s->bad++;
}

/* stderr lines arrive exactly once and in order, also when stdout and
 * stderr interleave. */
Test(stdio, interleaved_lines_once_in_order, .timeout = 60)
{
        struct seq s = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("interleave", "5000"), NULL);
        pv_loop *l;

        o.stdio[1].mode = PV_STDIO_PIPE;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.on_output = check_seq;
        o.userdata = &s;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(s.bad, 0);
        cr_assert_eq(s.next[1], 5000);
        cr_assert_eq(s.next[2], 5000);
        pv_loop_free(l);
}

struct count {
        size_t lines, bytes, bad;
        unsigned end;
};

static void count_lines(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                        void *ud)
{
        struct count *k = ud;

        (void)c;
        (void)fd;
        (void)data;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED)) {
                k->end = flags;
                return;
        }
        k->lines++;
        k->bytes += len;
        k->bad += len != 79 || flags != 0;
}

/* 100 MB of 80-byte lines on stderr (default: lines), counted exactly. */
Test(stdio, hundred_mb_of_lines, .timeout = 120)
{
        struct count k = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("lines", "2", "1310720", "80"), NULL);
        pv_loop *l;

        o.stdio[2].mode = PV_STDIO_PIPE;
        o.on_output = count_lines;
        o.userdata = &k;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(k.lines, 1310720);
        cr_assert_eq(k.bytes, 1310720u * 79);
        cr_assert_eq(k.bad, 0);
        cr_assert_eq(k.end, PV_OUT_F_EOF);
        pv_loop_free(l);
}

static long vm_hwm_kb(void)
{
        char line[256];
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "re");

        cr_assert(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

struct giant {
        size_t bytes, partial, other;
        unsigned last;
};

static void count_giant(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                        void *ud)
{
        struct giant *g = ud;

        (void)c;
        (void)fd;
        (void)data;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED))
                return;
        g->bytes += len;
        if (flags == PV_OUT_F_PARTIAL)
                g->partial++;
        else
                g->other++;
        g->last = flags;
}

/* 1 GiB with no newline on stdout: delivered in max-line pieces (16 MiB by
 * default), and the process's peak RSS grows by the buffer, not by the
 * gigabyte: less than three times max_line (16.2 MiB here; under ASan 36
 * MiB, its quarantine keeping the buffer's smaller predecessors, and their
 * shadow). */
Test(stdio, gigabyte_without_newline_bounded, .timeout = 300)
{
        struct giant g = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("write-bytes", "1073741824"), NULL);
        pv_child *c;
        pv_loop *l;
        long before;

        o.stdio[1].mode = PV_STDIO_PIPE;
        o.on_output = count_giant;
        o.userdata = &g;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        before = vm_hwm_kb();
        /* A gigabyte through a pipe: a second here, 10 s and more on a
         * slow guest (Linux 6.1 under qemu's TCG): bounded by the test's
         * own timeout, not tu_run_opts' 10 s. */
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_wait(c, 280000, NULL), 0);
        pv_child_release(c);
        long growth = vm_hwm_kb() - before;
        cr_log_info("1 GiB without newline: peak RSS grew by %ld KiB", growth);
        cr_assert_lt(growth, 3 * PV_MAX_LINE_STDOUT / 1024, "peak RSS grew by %ld KiB", growth);
        cr_assert_eq(g.bytes, 1073741824u);
        cr_assert_eq(g.partial, 1073741824u / PV_MAX_LINE_STDOUT - 1);
        cr_assert_eq(g.other, 1);
        cr_assert_eq(g.last, PV_OUT_F_NO_NEWLINE);
        pv_loop_free(l);
}

/* A line longer than max_line arrives in flagged pieces that concatenate
 * to the original; a last line without newline arrives flagged. */
Test(stdio, long_line_pieces_and_last_line)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("lines", "1", "1", "5001",
                                                        "print-nonl", "tail"), &out);
        char want[5002 + 4 + 1];
        pv_loop *l;

        o.stdio[1].max_line = 1000;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        memset(want, 'a', 5000);
        memcpy(want + 5000, "\ntail", 6);
        cr_assert_str_eq(out.data, want);
        /* 5 pieces of the long line, "tail", and nothing else. */
        cr_assert_eq(out.calls, 6);
        cr_assert_eq(out.last_flags[1], PV_OUT_F_NO_NEWLINE);
        cr_assert_eq(out.ends[1], PV_OUT_F_EOF);
        pv_loop_free(l);
}

/* ---- max_line defaults and the line buffer's memory ------------------ */

/* Bytes the allocator has handed out and not had back: glibc's mallinfo2,
 * or ASan's own count where ASan replaces malloc. */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
        return __sanitizer_get_current_allocated_bytes();
#else
        struct mallinfo2 mi = mallinfo2();

        return mi.uordblks + mi.hblkhd;
#endif
}

struct pieces {
        int calls[3], partials[3], readies;
        size_t bytes[3], longest[3], last_len[3];
        unsigned last_flags[3];
        size_t heap_at_longest;  /* heap_in_use() while the longest piece was out */
        bool big_seen;           /* a piece of 100000 bytes or more */
};

static void note_pieces(pv_child *c, int fd, const char *data, size_t len, unsigned flags,
                        void *ud)
{
        struct pieces *p = ud;

        (void)c;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED))
                return;
        if (len == 5 && !flags && memcmp(data, "ready", 5) == 0) {
                p->readies++;
                return;
        }
        p->calls[fd]++;
        p->partials[fd] += !!(flags & PV_OUT_F_PARTIAL);
        p->bytes[fd] += len;
        p->last_len[fd] = len;
        p->last_flags[fd] = flags;
        if (len > p->longest[fd]) {
                p->longest[fd] = len;
                p->heap_at_longest = heap_in_use();
        }
        p->big_seen |= len >= 100000;
}

static void run_pieces(const char **argv, uint32_t max_out, uint32_t max_err,
                       struct pieces *p)
{
        struct pv_spawn_opts o = tu_helper_opts(argv, NULL);
        pv_loop *l;

        o.stdio[1].mode = PV_STDIO_PIPE;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.stdio[1].max_line = max_out;
        o.stdio[2].max_line = max_err;
        o.on_output = note_pieces;
        o.userdata = p;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        pv_loop_free(l);
}

/* The case: a JSON-RPC response of 600 KB on stdout is one line,
 * and by default it arrives in one call, unflagged.  The same line on
 * stderr (a log line) comes in 64 KiB pieces. */
Test(stdio, default_max_line_per_stream, .timeout = 60)
{
        struct pieces p = { 0 };

        run_pieces(TU_ARGV("lines", "1", "1", "600001", "lines", "2", "1", "600001"), 0, 0, &p);
        cr_assert_eq(p.calls[1], 1, "stdout: %d calls", p.calls[1]);
        cr_assert_eq(p.last_len[1], 600000);
        cr_assert_eq(p.last_flags[1], 0);
        cr_assert_eq(p.partials[2], 600000 / PV_MAX_LINE_STDERR);
        cr_assert_eq(p.longest[2], PV_MAX_LINE_STDERR);
        cr_assert_eq(p.bytes[2], 600000);
        cr_assert_eq(p.last_len[2], 600000 % PV_MAX_LINE_STDERR);
        cr_assert_eq(p.last_flags[2], 0);

        /* 100 KB on stderr: 64 KiB flagged, then the rest unflagged. */
        memset(&p, 0, sizeof(p));
        run_pieces(TU_ARGV("lines", "2", "1", "100001"), 0, 0, &p);
        cr_assert_eq(p.calls[2], 2);
        cr_assert_eq(p.partials[2], 1);
        cr_assert_eq(p.longest[2], 65536);
        cr_assert_eq(p.last_len[2], 100000 - 65536);
        cr_assert_eq(p.last_flags[2], 0);
}

/* An explicit max_line wins over either default, in both directions; a
 * line of exactly max_line bytes is whole. */
Test(stdio, explicit_max_line_wins, .timeout = 60)
{
        struct pieces p = { 0 };

        run_pieces(TU_ARGV("lines", "1", "1", "600001", "lines", "2", "1", "100001"),
                   100000, 1u << 20, &p);
        /* 600000 on stdout under 100000: five flagged pieces, and the sixth,
         * exactly max_line long, ends the line. */
        cr_assert_eq(p.calls[1], 6);
        cr_assert_eq(p.partials[1], 5);
        cr_assert_eq(p.longest[1], 100000);
        cr_assert_eq(p.last_len[1], 100000);
        cr_assert_eq(p.last_flags[1], 0);
        /* 100000 on stderr under 1 MiB: whole. */
        cr_assert_eq(p.calls[2], 1);
        cr_assert_eq(p.last_len[2], 100000);
        cr_assert_eq(p.last_flags[2], 0);

        /* Exactly max_line, and one byte more, at the stderr default. */
        memset(&p, 0, sizeof(p));
        run_pieces(TU_ARGV("lines", "2", "1", "65537", "lines", "2", "1", "65538"), 0, 0, &p);
        cr_assert_eq(p.calls[2], 3);
        cr_assert_eq(p.partials[2], 1);
        cr_assert_eq(p.last_len[2], 1);
        cr_assert_eq(p.bytes[2], 2 * 65536 + 1);
}

/* Once the long line is out, its buffer is given back while the stream
 * stays open: the heap is where it was before the line, within a few KiB
 * (the child writes only when its stdin closes, so the base is taken with
 * everything else of the child already allocated). */
Test(stdio, long_line_memory_returned, .timeout = 60)
{
        struct pieces p = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "read-stdin", "lines", "1",
                                                        "1", "600001", "ready", "pause"),
                                                NULL);
        struct timespec t0, t;
        size_t base = 0, after;
        pv_loop *l;
        pv_child *c;

        tu_pipe_all(&o);
        o.on_output = note_pieces;
        o.userdata = &p;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int want = 1; want <= 2; want++) {
                if (want == 2) {
                        base = heap_in_use();
                        cr_assert_eq(pv_child_close_stdin(c), 0);
                }
                while (p.readies < want) {
                        cr_assert_geq(pv_loop_dispatch(l, 100), 0);
                        clock_gettime(CLOCK_MONOTONIC, &t);
                        cr_assert_lt(t.tv_sec - t0.tv_sec, 10, "no ready %d", want);
                }
        }
        after = heap_in_use();
        cr_log_info("heap: %zu before the line, %zu while it was out, %zu after", base,
                    p.heap_at_longest, after);
        cr_assert_eq(p.longest[1], 600000);
        cr_assert_eq(p.calls[1], 2, "stdin=0, then the long line whole");
        cr_assert_geq(p.heap_at_longest, base + 600000,
                      "the heap count did not see the line's buffer: it measures nothing");
        cr_assert_lt(after, base + 2 * 4096, "%zu bytes still held after the line",
                     after - base);
        (void)tu_stop_wait(c);
        pv_child_release(c);
        pv_loop_free(l);
}

/* Many children with idle streams, each holding an unfinished line on
 * stdout or stderr, do not hold max_line (16 MiB, 64 KiB) each: what the
 * heap grows by per child is a few KiB. */
Test(stdio, idle_streams_hold_little, .timeout = 60)
{
        enum { N = 64 };
        struct pieces p = { 0 };
        pv_child *c[N];
        struct timespec t0, t;
        size_t base, grown;
        pv_loop *l;
        int r;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        base = heap_in_use();
        for (int i = 0; i < N; i++) {
                /* The fragment first, then a whole "ready" line on the other
                 * stream: seeing it means the fragment is in its pipe. */
                struct pv_spawn_opts o = i % 2
                        ? tu_helper_opts(TU_ARGV("print-nonl", "{\"jsonrpc\":", "eprint",
                                                 "ready", "pause"), NULL)
                        : tu_helper_opts(TU_ARGV("eprint-nonl", "log: ", "print", "ready",
                                                 "pause"), NULL);

                o.stdio[1].mode = PV_STDIO_PIPE;
                o.stdio[2].mode = PV_STDIO_PIPE;
                o.on_output = note_pieces;
                o.userdata = &p;
                cr_assert_eq(pv_spawn(l, &o, &c[i], NULL), 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (p.readies < N) {
                cr_assert_geq(pv_loop_dispatch(l, 100), 0);
                clock_gettime(CLOCK_MONOTONIC, &t);
                cr_assert_lt(t.tv_sec - t0.tv_sec, 10, "%d readies of %d", p.readies, N);
        }
        /* Nothing readable left: every fragment has been read and kept. */
        while ((r = pv_loop_dispatch(l, 0)) > 0)
                ;
        cr_assert_eq(r, 0);
        cr_assert_eq(p.calls[1] + p.calls[2], 0, "a fragment was handed out");
        grown = heap_in_use() - base;
        cr_log_info("%d children with idle streams: heap grew by %zu bytes (%zu each)", N,
                    grown, grown / N);
        cr_assert_lt(grown / N, 16384, "%zu bytes per child", grown / N);
        for (int i = 0; i < N; i++)
                pv_child_release(c[i]);
        pv_loop_free(l);
}

Test(stdio, chunks_mode)
{
        struct tu_out out = { .chunks = true };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("print", "a", "print-nonl", "b"), &out);
        pv_loop *l;

        o.stdio[1].output = PV_OUTPUT_CHUNKS;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_str_eq(out.data, "a\nb");
        cr_assert_eq(out.ends[1], PV_OUT_F_EOF);
        o.stdio[1].output = 7;
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), -EINVAL);
        pv_loop_free(l);
}

/* A child that closes stdout at once: its end comes early, the rest works. */
Test(stdio, child_closes_stdout)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("close-stdout", "eprint", "still-here",
                                                        "exit", "2"), &out);
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
        cr_assert_eq(out.ends[1], PV_OUT_F_EOF);
        cr_assert_eq(out.ends[2], PV_OUT_F_EOF);
        cr_assert_str_eq(out.data, "still-here\n");
        cr_assert_eq(out.last.code, 2);
        pv_loop_free(l);
}

/* ---- input ----------------------------------------------------------- */

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

/* A child that closed its stdin, then said "ready" on a raw stdout: read
 * here without dispatching, so that the loop has not yet seen the closed
 * pipe, and the write itself meets EPIPE (and raises SIGPIPE). */
static pv_child *spawn_closed_stdin(pv_loop *l)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("close-stdin", "ready", "pause"), NULL);
        struct pollfd p = { .events = POLLIN };
        char buf[16] = "";
        pv_child *c;

        o.stdio[0].mode = PV_STDIO_PIPE;
        o.stdio[1].mode = PV_STDIO_PIPE_RAW;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        p.fd = pv_child_stdio_fd(c, 1);
        cr_assert_eq(poll(&p, 1, 10000), 1, "no ready in 10 s");
        cr_assert_gt(read(p.fd, buf, sizeof(buf) - 1), 0);
        cr_assert_str_eq(buf, "ready\n");
        return c;
}

/* Writing to a child that closed its stdin, or exited, is -EPIPE, and the
 * host's own SIGPIPE handler never runs; a SIGPIPE that was pending before
 * is left pending. */
Test(stdio, epipe_without_sigpipe)
{
        struct sigaction sa = { .sa_handler = on_sigpipe };
        pv_loop *l;
        pv_child *c;
        sigset_t set;

        sigaction(SIGPIPE, &sa, NULL);
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        c = spawn_closed_stdin(l);
        /* The kernel's EPIPE, from the write itself. */
        cr_assert_eq(pv_child_write(c, "x\n", 2), -EPIPE);
        cr_assert_eq(pv_child_write(c, "x\n", 2), -EPIPE);
        cr_assert_eq(sigpipes, 0, "the host got SIGPIPE");
        /* A SIGPIPE of the host's own, pending while blocked, survives. */
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        raise(SIGPIPE);
        pv_child_release(c);
        c = spawn_closed_stdin(l);
        cr_assert_eq(pv_child_write(c, "y", 1), -EPIPE);
        sigpending(&set);
        cr_assert(sigismember(&set, SIGPIPE), "the host's pending SIGPIPE was eaten");
        cr_assert_eq(sigpipes, 0);
        (void)tu_stop_wait(c);
        /* After the exit: -EPIPE too. */
        cr_assert_eq(pv_child_write(c, "z", 1), -EPIPE);
        pv_child_release(c);
        pv_loop_free(l);
}

struct drained {
        struct tu_out out;       /* first: tu_collect and tu_on_exit use it */
        int drains;
        ssize_t pending_at_drain;
};

static void note_drain(pv_child *c, void *ud)
{
        struct drained *d = ud;

        d->drains++;
        d->pending_at_drain = pv_child_stdin_pending(c);
}

/* A slow reader: the queue reaches the high-water mark, pv_child_write says
 * so, and the drain callback fires once the child has taken it all; the
 * child then reads every byte, and close_stdin after queued data loses
 * none of it. */
Test(stdio, backpressure_and_drain, .timeout = 60)
{
        struct drained d = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("sleep", "100", "read-stdin"), &d.out);
        static char block[8192];
        size_t written = 0;
        char want[64];
        pv_loop *l;
        pv_child *c;
        int r;

        o.stdio[0].mode = PV_STDIO_PIPE;
        o.stdin_high_water = 256 * 1024;
        o.on_drain = note_drain;
        o.userdata = &d;
        memset(block, 'q', sizeof(block));
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_write(c, block, 0), 0, "a zero-length write");
        cr_assert_eq(pv_child_write(c, NULL, 0), 0);
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        while ((r = pv_child_write(c, block, sizeof(block))) == 0)
                written += sizeof(block);
        cr_assert_eq(r, 1);
        written += sizeof(block);
        cr_assert_geq(pv_child_stdin_pending(c), 256 * 1024);
        cr_assert_lt(pv_child_stdin_pending(c), (ssize_t)written, "the pipe took nothing");
        while (d.drains == 0)
                cr_assert_geq(pv_loop_dispatch(l, 10000), 0);
        cr_assert_eq(d.drains, 1);
        cr_assert_eq(d.pending_at_drain, 0);
        /* More, then close while it is still queued: all of it arrives. */
        for (int i = 0; i < 64; i++)
                cr_assert_geq(pv_child_write(c, block, sizeof(block)), 0);
        written += 64 * sizeof(block);
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_write(c, "late", 4), -EPIPE);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        snprintf(want, sizeof(want), "stdin=%zu\n", written);
        cr_assert_str_eq(d.out.data, want);
        pv_child_release(c);
        pv_loop_free(l);
}

/* The stop ladder closes stdin at once and drops the queue. */
Test(stdio, stop_drops_queue)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ignore-term", "ready", "sleep", "300",
                                                        "read-stdin"), &out);
        static char block[65536];
        pv_loop *l;
        pv_child *c;

        o.stdio[0].mode = PV_STDIO_PIPE;
        o.grace_ms = 60000;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        c = tu_spawn_ready(l, &o, &out);
        for (int i = 0; i < 8; i++)
                cr_assert_geq(pv_child_write(c, block, sizeof(block)), 0);
        cr_assert_gt(pv_child_stdin_pending(c), 0);
        cr_assert_eq(pv_child_stop(c), 0);
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        cr_assert_eq(pv_child_write(c, "x", 1), -EPIPE);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        /* It read what the pipe held (at most its 64 KiB), not the queue. */
        long got = -1;
        cr_assert_eq(sscanf(strstr(out.data, "stdin="), "stdin=%ld", &got), 1);
        cr_assert_leq(got, 65536);
        pv_child_release(c);
        pv_loop_free(l);
}

Test(stdio, write_needs_a_pipe)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);
        pv_loop *l;
        pv_child *c;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_write(c, "x", 1), -ENOTCONN);
        cr_assert_eq(pv_child_write(NULL, "x", 1), -EINVAL);
        cr_assert_eq(pv_child_write(c, NULL, 1), -EINVAL);
        cr_assert_eq(pv_child_stdin_pending(NULL), -EINVAL);
        cr_assert_eq(pv_child_stdio_fd(c, 0), -ENOTCONN);
        cr_assert_eq(pv_child_stdio_fd(c, 3), -EINVAL);
        pv_child_release(c);
        pv_loop_free(l);
}

/* Raw pipes: the caller reads the parent end itself; the library does not
 * watch it, and closes it when the child is freed. */
Test(stdio, raw_pipe)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("read-stdin"), NULL);
        char buf[64] = { 0 };
        pv_loop *l;
        pv_child *c;
        int in, outfd;

        o.stdio[0].mode = PV_STDIO_PIPE_RAW;
        o.stdio[1].mode = PV_STDIO_PIPE_RAW;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        in = pv_child_stdio_fd(c, 0);
        outfd = pv_child_stdio_fd(c, 1);
        cr_assert_geq(in, 3);
        cr_assert_geq(outfd, 3);
        cr_assert_eq(pv_child_write(c, "x", 1), -ENOTCONN);
        cr_assert_eq(write(in, "hello", 5), 5);
        /* The fd is the library's: EOF goes through it too. */
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_stdio_fd(c, 0), -ENOTCONN);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        cr_assert_gt(read(outfd, buf, sizeof(buf) - 1), 0);
        cr_assert_str_eq(buf, "stdin=5\n");
        pv_child_release(c);
        cr_assert_lt(fcntl(outfd, F_GETFD), 0, "raw fd left open after release");
        pv_loop_free(l);
}

/* With a linger, a grandchild's output after the exit still arrives, and
 * the streams end (closed) when the linger is over; the exit comes first. */
Test(stdio, linger_after_exit, .timeout = 60)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "exit", "0"), &out);
        pv_loop *l;
        int gc = 0;

        o.linger_ms = 50;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(out.exits, 1);
        cr_assert_eq(out.ends[1], PV_OUT_F_CLOSED);
        cr_assert_eq(out.ends[2], PV_OUT_F_CLOSED);
        cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
        cr_assert(tu_pid_alive(gc));
        kill(gc, SIGKILL);
        pv_loop_free(l);
}

struct releaser {
        struct tu_out out;
        pv_child *c;
        int lines;
};

static void release_on_first(pv_child *c, int fd, const char *data, size_t len,
                             unsigned flags, void *ud)
{
        struct releaser *r = ud;

        (void)fd;
        (void)data;
        (void)len;
        (void)flags;
        cr_assert_eq(c, r->c);
        r->lines++;
        pv_child_release(c);
}

/* A callback that releases the child in the middle of its output: no more
 * callbacks, the rest is drained and dropped, nothing crashes (ASan in CI)
 * and no fd stays open. */
Test(stdio, release_from_output_callback)
{
        struct releaser r = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("lines", "1", "10000", "80", "exit", "0"),
                                                &r.out);
        int fds = tu_count_fds();
        pv_loop *l;

        o.on_output = release_on_first;
        o.userdata = &r;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &r.c, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(r.lines, 1);
        cr_assert_eq(r.out.exits, 0, "exit callback after release");
        pv_loop_free(l);
        cr_assert_eq(tu_count_fds(), fds);
}

/* Lingering children keep a timer each: many at once must fit the heap
 * (the 17th crashed an assertion when only live children were counted). */
Test(stdio, many_lingering, .timeout = 60)
{
        int gcs[40];
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        for (int i = 0; i < 40; i++) {
                struct tu_out out = { 0 };
                struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "exit", "0"),
                                                        &out);
                o.linger_ms = 60000;
                cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
                cr_assert_eq(out.exits, 1);
                cr_assert_eq(sscanf(out.data, "grandchild=%d", &gcs[i]), 1);
        }
        pv_loop_free(l); /* closes the lingering streams */
        for (int i = 0; i < 40; i++)
                kill(gcs[i], SIGKILL);
}

/* A raw stdin is the caller's until the child is freed: the stop ladder
 * and the exit leave it open. */
Test(stdio, raw_stdin_survives_stop)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);
        pv_loop *l;
        pv_child *c;
        int fd;

        o.stdio[0].mode = PV_STDIO_PIPE_RAW;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        fd = pv_child_stdio_fd(c, 0);
        cr_assert_geq(fd, 3);
        (void)tu_stop_wait(c);
        cr_assert_eq(pv_child_stdio_fd(c, 0), fd);
        cr_assert_geq(fcntl(fd, F_GETFD), 0);
        pv_child_release(c);
        cr_assert_lt(fcntl(fd, F_GETFD), 0);
        pv_loop_free(l);
}

static pv_loop *test_loop;

/* From an exit callback, while the exiting child is neither alive nor yet
 * lingering: the spawn must still find heap room for its deadline. */
static void spawn_with_deadline(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("pause"), NULL);

        tu_on_exit(c, e, ud);
        o.deadline_ms = 10;
        o.grace_ms = 10;
        cr_assert_eq(pv_spawn(test_loop, &o, NULL, NULL), 0);
}

Test(stdio, spawn_from_exit_of_lingering_child, .timeout = 60)
{
        int gcs[16];
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        test_loop = l;
        /* 15 lingering fill a heap of 16; the 16th spawns from its exit
         * callback, then lingers too: 17 timers. */
        for (int i = 0; i < 16; i++) {
                struct tu_out out = { 0 };
                struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "exit", "0"),
                                                        &out);
                o.linger_ms = 60000;
                if (i == 15)
                        o.on_exit = spawn_with_deadline;
                cr_assert_eq(tu_run_opts(l, &o, NULL), 0);
                cr_assert_eq(sscanf(out.data, "grandchild=%d", &gcs[i]), 1);
        }
        cr_assert_eq(pv_loop_count_unreaped(l), 1);
        while (pv_loop_count_unreaped(l) > 0)
                cr_assert_geq(pv_loop_dispatch(l, 10000), 0);
        pv_loop_free(l);
        for (int i = 0; i < 16; i++)
                kill(gcs[i], SIGKILL);
}

/* A SIGPIPE pending for the process (not the thread) while the host blocks
 * SIGPIPE is the host's: ours must still be taken back, so the handler runs
 * once, for the host's, when the host unblocks. */
Test(stdio, sigpipe_with_process_pending)
{
        struct sigaction sa = { .sa_handler = on_sigpipe };
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("close-stdin", "ready", "pause"), &out);
        sigset_t set;
        pv_loop *l;
        pv_child *c;

        sigaction(SIGPIPE, &sa, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        kill(getpid(), SIGPIPE); /* process-directed, pending */
        o.stdio[0].mode = PV_STDIO_PIPE;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        c = tu_spawn_ready(l, &o, &out);
        cr_assert_eq(pv_child_write(c, "x", 1), -EPIPE);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        cr_assert_eq(sigpipes, 1, "SIGPIPE handler ran %d times", (int)sigpipes);
        (void)tu_stop_wait(c);
        pv_child_release(c);
        pv_loop_free(l);
}

/* With a linger, an unfinished last line written before the exit still
 * comes before the exit callback (as a PARTIAL piece). */
Test(stdio, linger_keeps_order_of_unfinished_line, .timeout = 60)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "print-nonl", "tail",
                                                        "exit", "0"), &out);
        pv_loop *l;
        int gc = 0;

        o.linger_ms = 30;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
        cr_assert(strstr(out.data, "tail"));
        cr_assert_eq(out.at_exit, out.total, "output after the exit callback");
        cr_assert_eq(out.ends[1], PV_OUT_F_CLOSED);
        kill(gc, SIGKILL);
        pv_loop_free(l);
}

/* A pipe left holding its full capacity at the exit still ends with EOF
 * when no writer is left.  The run deadline's timer is ready before the
 * stream (it expired first), so the exit is collected, and the pipe
 * drained, before the stream's own event is seen. */
Test(stdio, full_pipe_at_exit_is_eof)
{
        struct tu_out out = { .chunks = true };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("sleep", "200", "write-bytes", "65536",
                                                        "exit", "0"), &out);
        struct pollfd p = { .events = POLLIN };
        struct pv_exit e;
        pv_loop *l;
        pv_child *c;

        o.stdio[1].output = PV_OUTPUT_CHUNKS;
        o.deadline_ms = 100;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        p.fd = pv_child_pidfd(c);
        cr_assert_eq(poll(&p, 1, 30000), 1);   /* dead, pipe full, unread */
        cr_assert_eq(pv_child_wait(c, 30000, &e), 0);
        cr_assert_eq(out.total, 65536);
        cr_assert_eq(out.ends[1], PV_OUT_F_EOF);
        cr_assert_eq(e.flags, 0, "a dead child was stopped");
        pv_child_release(c);
        pv_loop_free(l);
}

/* A running child that closed its stdin: the backend reports an error on
 * our write end whatever we asked for; the loop must sleep all the same,
 * and a write then says -EPIPE.  (A spin answered hundreds of thousands of
 * dispatches a second.) */
Test(stdio, child_closed_stdin_no_spin, .timeout = 60)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("close-stdin", "ready", "pause"), &out);
        pv_loop *l;
        pv_child *c;
        int busy = 0;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.stdio[0].mode = PV_STDIO_PIPE;
        c = tu_spawn_ready(l, &o, &out);
        /* 20 waits of up to 50 ms: a sleeping loop times out in (nearly)
         * each; a spinning one returns work at once every time. */
        for (int i = 0; i < 20; i++) {
                int r = pv_loop_dispatch(l, 50);
                cr_assert_geq(r, 0);
                busy += r > 0;
        }
        cr_assert_leq(busy, 2, "the loop woke with work %d times of 20", busy);
        cr_assert_eq(pv_child_write(c, "x", 1), -EPIPE);
        cr_assert_eq(tu_stop_wait(c).kind, PV_EXIT_KILLED);
        pv_child_release(c);
        pv_loop_free(l);
}

/* A child that waits for our go on a pipe (kept as fd *go_rd in it), then
 * runs the verbs of then (NULL-terminated, up to 4); *go_wr is ours: write
 * a byte or close it to say go. */
static pv_child *spawn_waiting(pv_loop *l, struct tu_out *out, const char *const *then,
                               int *go_wr, int *go_rd)
{
        const char *argv[10] = { HELPER_PATH, "ready", "wait-fd" };
        char fdbuf[16];
        int p[2], n = 4;
        pv_child *c;

        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        snprintf(fdbuf, sizeof(fdbuf), "%d", p[0]);
        argv[3] = fdbuf;
        for (int i = 0; then[i] && n < 9; i++)
                argv[n++] = then[i];
        struct pv_spawn_opts o = tu_helper_opts(argv, out);
        o.stdio[0].mode = PV_STDIO_PIPE;
        o.keep_fds = &p[0];
        o.n_keep_fds = 1;
        c = tu_spawn_ready(l, &o, out);
        *go_wr = p[1];
        *go_rd = p[0];
        return c;
}

/* stdin is watched (in the epoll set, or polled by the ring) only while
 * its queue holds data: a write the pipe takes whole adds nothing (also one
 * above PIPE_BUF), a queue adds it, the drain removes it, and the close
 * after the drain loses nothing. */
Test(stdio, stdin_watched_only_while_queued, .timeout = 60)
{
        static char big[256 * 1024];
        struct tu_out out = { 0 };
        int go_wr, go_rd, base;
        char want[64];
        pv_loop *l;
        pv_child *c;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        c = spawn_waiting(l, &out, (const char *[]){ "read-stdin", NULL }, &go_wr, &go_rd);
        /* The timerfd, the pidfd, stdout, stderr: stdin is not watched. */
        base = tu_count_watched(l);
        cr_assert_eq(base, 4, "watched: %d", base);
        cr_assert_eq(pv_child_write(c, "hello", 5), 0);
        cr_assert_eq(pv_child_write(c, big, 8192), 0);
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        cr_assert_eq(tu_count_watched(l), base, "a write the pipe took left stdin watched");
        /* The child does not read yet: the pipe (64 KiB) fills, the rest
         * is queued and watched. */
        cr_assert_eq(pv_child_write(c, big, sizeof(big)), 0);
        cr_assert_gt(pv_child_stdin_pending(c), 0);
        cr_assert_eq(tu_count_watched(l), base + 1);
        cr_assert_eq(pv_child_write(c, "x", 1), 0);
        cr_assert_eq(tu_count_watched(l), base + 1);
        /* Go: the child reads it all; once the queue is empty stdin is
         * no longer watched, though still open. */
        cr_assert_eq(write(go_wr, "g", 1), 1);
        for (int i = 0; i < 1000 && pv_child_stdin_pending(c) > 0; i++)
                cr_assert_geq(pv_loop_dispatch(l, 10000), 0);
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        cr_assert_eq(tu_count_watched(l), base, "stdin watched with an empty queue");
        cr_assert_eq(pv_child_write(c, "yz", 2), 0);
        cr_assert_eq(pv_child_close_stdin(c), 0);
        cr_assert_eq(pv_child_wait(c, 30000, NULL), 0);
        snprintf(want, sizeof(want), "ready\nstdin=%zu\n", 5 + 8192 + sizeof(big) + 1 + 2);
        cr_assert_str_eq(out.data, want);
        close(go_wr);
        close(go_rd);
        pv_child_release(c);
        pv_loop_free(l);
}

/* The child closes its stdin while data is queued, and lives on: the
 * backend reports an error (POLLERR) on our end, the queue is dropped,
 * writes say -EPIPE, the host gets no SIGPIPE, and the loop goes back to
 * sleep. */
Test(stdio, child_closes_stdin_with_queue, .timeout = 60)
{
        static char big[256 * 1024];
        struct sigaction sa = { .sa_handler = on_sigpipe };
        struct tu_out out = { 0 };
        int go_wr, go_rd, busy = 0;
        pv_loop *l;
        pv_child *c;

        sigaction(SIGPIPE, &sa, NULL);
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        c = spawn_waiting(l, &out, (const char *[]){ "close-stdin", "print", "closed", "pause", NULL },
                          &go_wr, &go_rd);
        cr_assert_eq(pv_child_write(c, big, sizeof(big)), 0);
        cr_assert_gt(pv_child_stdin_pending(c), 0);
        cr_assert_eq(write(go_wr, "g", 1), 1);
        tu_wait_output(l, &out, "closed\n");
        for (int i = 0; i < 1000 && pv_child_stdin_pending(c) > 0; i++)
                cr_assert_geq(pv_loop_dispatch(l, 10000), 0);
        cr_assert_eq(pv_child_stdin_pending(c), 0, "the queue outlived the reader");
        cr_assert_eq(pv_child_write(c, "x", 1), -EPIPE);
        cr_assert_eq(sigpipes, 0, "the host got SIGPIPE");
        /* 20 waits of up to 50 ms: a sleeping loop times out in each. */
        for (int i = 0; i < 20; i++) {
                int r = pv_loop_dispatch(l, 50);
                cr_assert_geq(r, 0);
                busy += r > 0;
        }
        cr_assert_leq(busy, 2, "the loop woke with work %d times of 20", busy);
        cr_assert_eq(tu_stop_wait(c).kind, PV_EXIT_KILLED);
        close(go_wr);
        close(go_rd);
        pv_child_release(c);
        pv_loop_free(l);
}

/* Nobody can write to a released child's stdin: it reads EOF (cat ends),
 * so the loop runs dry. */
Test(stdio, release_closes_stdin, .timeout = 20)
{
        const char *cat[] = { "/bin/cat", NULL };
        struct pv_spawn_opts o = tu_helper_opts(cat, NULL);
        pv_loop *l;
        pv_child *c;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.stdio[0].mode = PV_STDIO_PIPE;
        o.stdio[1].mode = PV_STDIO_NULL;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_child_write(c, "queued\n", 7), 0);
        pv_child_release(c);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(pv_loop_count_unreaped(l), 0);
        pv_loop_free(l);
}

/* A loop-owned child (no handle) gets EOF on a piped stdin at once. */
Test(stdio, loop_owned_stdin_eof, .timeout = 20)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("read-stdin"), &out);
        pv_loop *l;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.stdio[0].mode = PV_STDIO_PIPE;
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(out.exits, 1);
        cr_assert_str_eq(out.data, "stdin=0\n");
        pv_loop_free(l);
}

static void release_at_exit(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)e;
        (void)ud;
        pv_child_release(c);
}

/* Released inside its own exit callback: nobody listens to the streams a
 * grandchild holds, so the (long) linger ends at once. */
Test(stdio, release_in_exit_ends_linger, .timeout = 20)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("fork-grandchild", "exit", "0"), &out);
        pv_loop *l;
        pv_child *c;
        int gc = 0;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.linger_ms = 600000;
        o.on_exit = release_at_exit;
        cr_assert_eq(pv_spawn(l, &o, &c, NULL), 0);
        cr_assert_eq(pv_loop_run(l), 0);
        cr_assert_eq(sscanf(out.data, "grandchild=%d", &gc), 1);
        kill(gc, SIGKILL);
        pv_loop_free(l);
}

static int go_fd = -1;

/* The exit callback lets the grandchild speak: whatever it says comes
 * strictly after the exit. */
static void exit_then_go(pv_child *c, const struct pv_exit *e, void *ud)
{
        tu_on_exit(c, e, ud);
        cr_assert_eq(write(go_fd, "g", 1), 1);
}

static void late_output(uint32_t linger_ms, struct tu_out *out)
{
        struct pv_spawn_opts o;
        char fd[16];
        int gp[2];
        pv_loop *l;

        cr_assert_eq(pipe(gp), 0);
        go_fd = gp[1];
        snprintf(fd, sizeof(fd), "%d", gp[0]);
        o = tu_helper_opts(TU_ARGV("fork-print-on", fd, "late", "exit", "0"), out);
        o.keep_fds = &gp[0];
        o.n_keep_fds = 1;
        o.linger_ms = linger_ms;
        o.on_exit = exit_then_go;
        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL, NULL), 0);
        close(gp[0]);
        cr_assert_eq(pv_loop_run(l), 0);
        close(gp[1]);
        pv_loop_free(l);
        cr_assert_eq(out->exits, 1);
}

/* Output a descendant writes during the linger is delivered, after the
 * exit, and the stream ends at its EOF; without a linger it is not, and
 * the stream was closed at the exit. */
Test(stdio, linger_delivers_later_output, .timeout = 60)
{
        struct tu_out out = { 0 };

        late_output(60000, &out);
        cr_assert(strstr(out.data, "late\n"), "'%s'", out.data);
        cr_assert_lt(out.at_exit, out.total, "nothing came after the exit");
        cr_assert_eq(out.ends[1], PV_OUT_F_EOF);

        memset(&out, 0, sizeof(out));
        late_output(0, &out);
        cr_assert_null(strstr(out.data, "late"), "'%s'", out.data);
        cr_assert_eq(out.ends[1], PV_OUT_F_CLOSED);
}

/* A write the queue cannot take is -ENOMEM before anything is written
 * (buf is never read: it is far too large to be real); the default high-
 * water mark is 1 MiB. */
Test(stdio, write_enomem_writes_nothing_and_default_mark, .timeout = 60)
{
        struct tu_out out = { 0 };
        struct pv_spawn_opts o = tu_helper_opts(TU_ARGV("ready", "pause"), &out);
        static char chunk[64 * 1024];
        pv_loop *l;
        pv_child *c;
        size_t sent = 0;
        int r = 0;

        cr_assert_eq(tu_loop_new(&l, NULL), 0);
        o.stdio[0].mode = PV_STDIO_PIPE;
        c = tu_spawn_ready(l, &o, &out);
        cr_assert_eq(pv_child_write(c, chunk, SIZE_MAX / 2), -ENOMEM);
        cr_assert_eq(pv_child_stdin_pending(c), 0);
        /* The helper never reads: the pipe fills, then the queue, up to the
         * mark. */
        while (r == 0 && sent < (64u << 20)) {
                r = pv_child_write(c, chunk, sizeof(chunk));
                cr_assert_geq(r, 0);
                sent += sizeof(chunk);
        }
        cr_assert_eq(r, 1, "no high-water mark after %zu bytes", sent);
        cr_assert_geq(pv_child_stdin_pending(c), 1 << 20);
        cr_assert_lt(pv_child_stdin_pending(c), (1 << 20) + (ssize_t)sizeof(chunk));
        cr_assert_eq(pv_child_write(c, chunk, SIZE_MAX / 2), -ENOMEM);
        tu_stop_wait(c);
        pv_child_release(c);
        pv_loop_free(l);
}
