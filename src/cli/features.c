/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libgen.h>
#include <pidvisor.h>
#include <string.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "features.h"
#include "opts.h"
#include "report.h"
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

/* The kill tree, found the way --kill-tree finds it: "cgroup", "pgrp" or
 * "fails", and in line (len bytes) what --features says of it. */
static const char *tree_line(pv_loop *loop, char *line, size_t len)
{
        const char *kind = "pgrp";
        char dir[4096];
        struct tree t;
        int r = tree_probe(&t, loop);

        if (r < 0) {
                kind = "fails";
                snprintf(line, len, "kill tree: fails (%s): --kill-tree exits 125 here", t.why);
        } else if (t.kind == TREE_CGROUP) {
                kind = "cgroup";
                snprintf(dir, sizeof(dir), "%s", pv_cgroup_path(t.cg));
                snprintf(line, len, "kill tree: cgroup (a cgroup v2 directory of its own under %s; "
                         "cgroup.kill: %s)", dirname(dir),
                         faccessat(pv_cgroup_fd(t.cg), "cgroup.kill", F_OK, 0) == 0
                         ? "yes" : "no, SIGKILL to each");
        } else {
                snprintf(line, len, "kill tree: pgrp (cgroup v2 not usable here: %s)", t.why);
        }
        r = tree_done(&t);
        if (r < 0) {
                size_t n = strlen(line);
                snprintf(line + n, len - n, "\npidvisor: %s", t.why);
        }
        return kind;
}

/* "ok", or why a loop on io_uring cannot be had here (the library's own
 * probe, pv_features' uring_err, in words). */
static const char *uring_why(const struct pv_features *pf)
{
        switch (pf->uring_err) {
        case 0: return "ok";
        case -EOPNOTSUPP: return "no (not built with liburing, or a kernel before 5.11)";
        case -EPERM: return "no (refused: a seccomp filter or kernel.io_uring_disabled)";
        case -ENOSYS: return "no (no io_uring in this kernel)";
        default: return "no (io_uring_setup failed)";
        }
}

/* The kernel's pieces, each probed on its own by pv_features(). */
static const struct {
        uint64_t bit;
        const char *key, *name, *since, *use;
} pieces[] = {
        { PV_FEATURE_CLONE3, "clone3", "clone3", "5.3", "the clone3 rung" },
        { PV_FEATURE_CLONE_PIDFD, "clone_pidfd", "CLONE_PIDFD", "5.2",
          "the clone3 and clone rungs" },
        { PV_FEATURE_CLONE_CLEAR_SIGHAND, "clone_clear_sighand", "CLONE_CLEAR_SIGHAND", "5.5",
          "the clone3 rung" },
        { PV_FEATURE_CLONE_INTO_CGROUP, "clone_into_cgroup", "CLONE_INTO_CGROUP", "5.7",
          "a child born in its cgroup" },
        { PV_FEATURE_PIDFD_OPEN, "pidfd_open", "pidfd_open", "5.3", "the vfork rung" },
        { PV_FEATURE_PIDFD_SIGNAL, "pidfd_send_signal", "pidfd_send_signal", "5.1",
          "signals" },
        { PV_FEATURE_WAITID_PIDFD, "waitid_pidfd", "waitid(P_PIDFD)", "5.4", "every rung" },
        { PV_FEATURE_PIDFD_NONBLOCK, "pidfd_nonblock", "PIDFD_NONBLOCK", "5.10",
          "nothing (pidfds are polled)" },
        { PV_FEATURE_PIDFD_INFO_EXIT, "pidfd_info_exit", "PIDFD_GET_INFO+PIDFD_INFO_EXIT",
          "6.15", "stolen statuses" },
        { PV_FEATURE_PIDFD_SIGNAL_PGRP, "pidfd_signal_process_group",
          "PIDFD_SIGNAL_PROCESS_GROUP", "6.9", "group signals" },
        { PV_FEATURE_CLOSE_RANGE, "close_range_cloexec", "close_range+CLOEXEC", "5.11",
          "the child's fds" },
        { PV_FEATURE_IO_URING, "io_uring", "io_uring", "5.11", "the uring backend" },
        { PV_FEATURE_IO_URING_DEFER, "io_uring_defer_taskrun", "IORING_SETUP_DEFER_TASKRUN",
          "6.1", "AUTO picking io_uring" },
        { PV_FEATURE_CGROUP, "cgroup2", "cgroup v2, writable", "4.5", "--kill-tree" },
        { PV_FEATURE_CGROUP_KILL, "cgroup_kill", "cgroup.kill", "5.14",
          "killing a tree at once" },
};

static void print_pieces(FILE *f, const struct pv_features *pf)
{
        struct utsname u;

        if (uname(&u) == 0)
                fprintf(f, "kernel: Linux %s %s\n", u.release, u.machine);
        fprintf(f, "%-31s %-4s %-6s %s\n", "feature", "here", "Linux", "used for");
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
                fprintf(f, "%-31s %-4s %-6s %s\n", pieces[i].name,
                        pf->have & pieces[i].bit ? "yes" : "no", pieces[i].since, pieces[i].use);
}

static void json_field(FILE *f, const char *key, const char *value)
{
        fprintf(f, ",");
        json_string(f, key);
        fputc(':', f);
        if (value)
                json_string(f, value);
        else
                fputs("null", f);
}

/* One JSON object: the same facts as the text. */
static void print_json(FILE *f, const struct pv_features *pf, pv_loop *loop, const char *tree)
{
        struct utsname u;
        bool un = uname(&u) == 0;

        fputs("{\"kernel\":", f);
        json_string(f, un ? u.release : "");
        json_field(f, "machine", un ? u.machine : "");
        fputs(",\"features\":{", f);
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
                fprintf(f, "%s\"%s\":%s", i ? "," : "", pieces[i].key,
                        pf->have & pieces[i].bit ? "true" : "false");
        fputs("},\"rungs\":{", f);
        for (size_t i = 0; i < sizeof(rungs) / sizeof(rungs[0]); i++)
                fprintf(f, "%s\"%s\":%s", i ? "," : "", pv_mech_name(rungs[i].mech),
                        pf->have & rungs[i].bit ? "true" : "false");
        fputc('}', f);
        json_field(f, "spawn", pf->mech ? pv_mech_name(pf->mech) : NULL);
        json_field(f, "spawn_error", pf->mech ? NULL : features_no_spawn(pf->mech_err));
        json_field(f, "backend", loop ? pv_backend_name(pv_loop_backend(loop)) : NULL);
        json_field(f, "io_uring_error", pf->uring_err ? uring_why(pf) : NULL);
        json_field(f, "cgroup_error", pf->cgroup_err ? strerror(-pf->cgroup_err) : NULL);
        json_field(f, "kill_tree", tree);
        fputs("}\n", f);
}

/* 0, or 125 with a message when what was printed did not get out. */
static int written(FILE *f)
{
        if (fflush(f) == 0 && !ferror(f))
                return 0;
        fprintf(stderr, "pidvisor: --features: cannot write: %s\n", strerror(errno));
        return EXIT_FAILURE_OWN;
}

int features_print(FILE *f, bool json)
{
        struct pv_features pf = PV_FEATURES_INIT;
        const char *tree = "unavailable";
        char line[8800];
        pv_loop *loop = NULL;
        int r = pv_features(&pf);

        if (r < 0) {
                fprintf(stderr, "pidvisor: pv_features: %s\n", strerror(-r));
                return EXIT_FAILURE_OWN;
        }
        if (pf.mech)
                r = pv_loop_new(&loop, NULL);
        if (json) {
                if (loop)
                        tree = tree_line(loop, line, sizeof(line));
                print_json(f, &pf, loop, tree);
                pv_loop_free(loop);
                return written(f);
        }
        print_pieces(f, &pf);
        print_rungs(f, &pf);
        if (!pf.mech) {
                fputs("kill tree: unavailable (nothing can be spawned)\n", f);
                return written(f);
        }
        if (!loop) {
                fprintf(f, "backend: none (pv_loop_new: %s)\n", strerror(-r));
                fputs("kill tree: unavailable (no loop)\n", f);
        } else {
                fprintf(f, "backend: %s (io_uring: %s)\n", pv_backend_name(pv_loop_backend(loop)),
                        uring_why(&pf));
        }
        print_signals(f, &pf);
        if (loop) {
                tree_line(loop, line, sizeof(line));
                fprintf(f, "%s\n", line);
        }
        pv_loop_free(loop);
        return written(f);
}
