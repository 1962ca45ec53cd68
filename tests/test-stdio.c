/* SPDX-License-Identifier: MIT */
/* src/stdio.c: pipes, draining and delivery before the exit callback. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"


/* Everything the child wrote before it exited is delivered before its exit
 * callback, on both streams, even when it exits right after writing. */
Test(stdio, output_before_exit, .timeout = 60)
{
        pv_loop *l;

        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        for (int i = 0; i < 50; i++) {
                struct tu_out out = { 0 };
                struct pv_spawn_opts o = tu_helper_opts(
                        TU_ARGV("print", "out-line", "eprint", "err-line", "exit", "0"), &out);
                cr_assert_eq(pv_spawn(l, &o, NULL), 0);
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

        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL), 0);
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
        cr_assert_eq(pv_loop_new(&l, NULL), 0);
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

        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, NULL), 0);
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
        cr_assert_eq(pv_loop_new(&l, NULL), 0);
        cr_assert_eq(pv_spawn(l, &o, &c), 0);
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
