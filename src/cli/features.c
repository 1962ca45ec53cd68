/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libgen.h>
#include <pidvisor.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "features.h"
#include "opts.h"
#include "tree.h"

static const struct {
        int mech;
        uint64_t bit;
        const char *needs;
} rungs[] = {
        { PV_MECH_CLONE3, PV_FEATURE_MECH_CLONE3,
          "clone3() with CLONE_PIDFD and CLONE_CLEAR_SIGHAND, Linux 5.5" },
        { PV_MECH_CLONE, PV_FEATURE_MECH_CLONE,
          "clone() with CLONE_PIDFD, Linux 5.2, and waitid(P_PIDFD), 5.4" },
        { PV_MECH_VFORK, PV_FEATURE_MECH_VFORK,
          "pidfd_open(), Linux 5.3, and waitid(P_PIDFD), 5.4" },
};

const char *features_no_spawn(int err)
{
        if (err == -ENOSYS)
                return "this kernel lacks pidfds that waitid(P_PIDFD) accepts: "
                       "Linux 5.4 or later is needed";
        if (err == -EPERM || err == -EACCES)
                return "a sandbox refuses every way to spawn (clone3, clone, vfork + pidfd_open)";
        return strerror(-err);
}

static void print_rungs(FILE *f, const struct pv_features *pf)
{
        fputs("spawn rungs:\n", f);
        for (size_t i = 0; i < sizeof(rungs) / sizeof(rungs[0]); i++) {
                if (pf->have & rungs[i].bit)
                        fprintf(f, "  %s: ok\n", pv_mech_name(rungs[i].mech));
                else
                        fprintf(f, "  %s: no (needs %s; missing or refused here)\n",
                                pv_mech_name(rungs[i].mech), rungs[i].needs);
        }
        if (pf->mech)
                fprintf(f, "spawn: %s\n", pv_mech_name(pf->mech));
        else
                fprintf(f, "spawn: none (%s)\n", features_no_spawn(pf->mech_err));
}

static void print_signals(FILE *f, const struct pv_features *pf)
{
        fprintf(f, "signals: %s\n", pf->have & PV_FEATURE_PIDFD_SIGNAL
                ? "pidfd_send_signal"
                : "kill(pid), pidfd_send_signal refused (sent only while the pidfd shows "
                  "the program alive)");
        fprintf(f, "group signals: %s\n", pf->have & PV_FEATURE_PIDFD_SIGNAL_PGRP
                ? "pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP)"
                : "kill(-pgid) (no PIDFD_SIGNAL_PROCESS_GROUP: Linux 6.9)");
        fprintf(f, "stolen status: %s\n", pf->have & PV_FEATURE_PIDFD_INFO_EXIT
                ? "recovered (PIDFD_GET_INFO with PIDFD_INFO_EXIT)"
                : "lost if another reaper takes it (no PIDFD_INFO_EXIT: Linux 6.15); "
                  "pidvisor resets an inherited SIG_IGN of SIGCHLD, so that is not one");
        fprintf(f, "close_range: %s\n", pf->have & PV_FEATURE_CLOSE_RANGE
                ? "yes (CLOSE_RANGE_CLOEXEC)"
                : "no (the child walks /proc/self/fd; Linux 5.11)");
}

/* The kill tree, found the way --kill-tree finds it. */
static void print_tree(FILE *f, pv_loop *loop)
{
        struct tree t;
        int r = tree_probe(&t, loop);

        if (r < 0) {
                fprintf(f, "kill tree: fails (%s): --kill-tree exits 125 here\n", t.why);
        } else if (t.kind == TREE_CGROUP) {
                char dir[4096];
                snprintf(dir, sizeof(dir), "%s", pv_cgroup_path(t.cg));
                fprintf(f, "kill tree: cgroup (a cgroup v2 directory of its own under %s; "
                        "cgroup.kill: %s)\n", dirname(dir),
                        faccessat(pv_cgroup_fd(t.cg), "cgroup.kill", F_OK, 0) == 0
                        ? "yes" : "no, SIGKILL to each");
        } else {
                fprintf(f, "kill tree: pgrp (cgroup v2 not usable here: %s)\n", t.why);
        }
        r = tree_done(&t);
        if (r < 0)
                fprintf(f, "pidvisor: %s\n", t.why);
}

/* "ok", or why a loop on io_uring cannot be had here. */
static const char *uring_why(void)
{
        struct pv_loop_opts o = PV_LOOP_OPTS_INIT;
        pv_loop *l = NULL;
        int r;

        o.backend = PV_BACKEND_URING;
        r = pv_loop_new(&l, &o);
        pv_loop_free(l);
        if (r == 0)
                return "ok";
        if (r == -EOPNOTSUPP)
                return "no (not built with liburing, or a kernel before 5.11)";
        if (r == -EPERM)
                return "no (refused: a seccomp filter or kernel.io_uring_disabled)";
        if (r == -ENOSYS)
                return "no (no io_uring in this kernel)";
        return "no (io_uring_setup failed)";
}

int features_print(FILE *f)
{
        struct pv_features pf = PV_FEATURES_INIT;
        pv_loop *loop = NULL;
        int r = pv_features(&pf);

        if (r < 0) {
                fprintf(stderr, "pidvisor: pv_features: %s\n", strerror(-r));
                return EXIT_FAILURE_OWN;
        }
        print_rungs(f, &pf);
        if (!pf.mech) {
                fputs("kill tree: unavailable (nothing can be spawned)\n", f);
                return 0;
        }
        r = pv_loop_new(&loop, NULL);
        if (r < 0) {
                fprintf(f, "backend: none (pv_loop_new: %s)\n", strerror(-r));
                fputs("kill tree: unavailable (no loop)\n", f);
        } else {
                fprintf(f, "backend: %s (io_uring: %s)\n", pv_backend_name(pv_loop_backend(loop)),
                        uring_why());
        }
        print_signals(f, &pf);
        if (loop)
                print_tree(f, loop);
        pv_loop_free(loop);
        return 0;
}
