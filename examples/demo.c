/* SPDX-License-Identifier: MIT */
/*
 * make demo-library: spawn a child that logs to stderr, print what it says,
 * stop it gracefully (it catches SIGTERM and exits 0), print how it ended.
 */
#include <pidvisor.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

static void on_output(pv_child *c, int fd, const char *line, size_t len,
                      unsigned flags, void *ud)
{
        const char *name = fd == 2 ? "stderr" : "stdout";

        (void)ud;
        if (flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED))
                printf("demo: child %d %s: %s\n", (int)pv_child_pid(c), name,
                       flags & PV_OUT_F_EOF ? "(end of stream)" : "(closed)");
        else
                printf("demo: child %d %s: %.*s\n", (int)pv_child_pid(c), name,
                       (int)len, line);
        fflush(stdout);
}

static void on_exit_cb(pv_child *c, const struct pv_exit *e, void *ud)
{
        (void)c;
        (void)ud;
        if (e->kind == PV_EXIT_EXITED)
                printf("demo: child exited with code %d", e->code);
        else if (e->kind == PV_EXIT_KILLED)
                printf("demo: child killed by signal %d", e->signal);
        else
                printf("demo: child's status was lost");
        printf(" after %.1f ms (%s%s)\n", e->runtime_us / 1000.0,
               e->flags & PV_EXIT_F_STOPPED ? "stopped" : "not stopped",
               e->flags & PV_EXIT_F_ESCALATED ? ", escalated to SIGKILL" : "");
}

int main(void)
{
        static const char *argv[] = {
                "/bin/sh", "-c",
                "trap 'echo got SIGTERM, cleaning up >&2; exit 0' TERM; "
                "echo started >&2; echo ready; while :; do sleep 0.05; done",
                NULL
        };
        struct pv_spawn_opts opts = PV_SPAWN_OPTS_INIT;
        struct pv_exit e;
        pv_loop *loop;
        pv_child *c;
        int stage, r;

        r = pv_loop_new(&loop, NULL);
        if (r < 0) {
                fprintf(stderr, "demo: pv_loop_new: %s\n", strerror(-r));
                return 1;
        }
        printf("demo: spawning with %s on %s\n",
               pv_mech_name(pv_loop_mech(loop)),
               pv_backend_name(pv_loop_backend(loop)));
        opts.argv = argv;
        opts.stdio[0].mode = PV_STDIO_NULL;
        opts.stdio[1].mode = PV_STDIO_PIPE;
        opts.stdio[2].mode = PV_STDIO_PIPE;
        opts.grace_ms = 2000;
        opts.on_output = on_output;
        opts.on_exit = on_exit_cb;
        r = pv_spawn(loop, &opts, &c, &stage);
        if (r < 0) {
                fprintf(stderr, "demo: pv_spawn: %s (stage %s)\n", strerror(-r),
                        pv_spawn_stage_name(stage));
                pv_loop_free(loop);
                return 1;
        }
        /* Let it run for 300 ms, then stop it: SIGTERM, 2 s grace. */
        r = pv_child_wait(c, 300, NULL);
        if (r == -ETIMEDOUT) {
                printf("demo: stopping child %d\n", (int)pv_child_pid(c));
                r = pv_child_stop(c);
                if (r < 0)
                        fprintf(stderr, "demo: pv_child_stop: %s\n", strerror(-r));
                else
                        r = pv_child_wait(c, -1, &e);
        }
        pv_child_release(c);
        pv_loop_free(loop);
        return r < 0;
}
