/* SPDX-License-Identifier: MIT */
/*
 * pv-stress: spawn, stop and reap children in cycles, against hostile
 * children and hostile hosts, and prove that nothing leaks: open fds,
 * threads, zombie and live children, and memory are measured before and
 * after, and any delta over its threshold makes the exit status non-zero.
 *
 *   pv-stress --mode MODE [--cycles N] [--concurrency N] [--grace MS]
 *             [--spawn auto|clone3|clone|vfork] [--backend auto|epoll|uring] [--json]
 *
 * The children are ordinary programs (/bin/sh, cat, true, sleep, yes), so
 * the harness runs anywhere the library does.
 */
#include <errno.h>
#include <fcntl.h>
#include <pidvisor.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"

/* What a run may leave behind.  Memory: the loop's read buffer and stack,
 * the timer heap and allocator slack; stated, not tuned to pass. */
#define RSS_GROWTH_MAX_KB (8 * 1024)

struct opts {
        const char *mode;
        long cycles;
        int concurrency;
        uint32_t grace_ms;
        int mech;
        int backend;
        bool json;
};

struct snapshot {
        int fds, threads, zombies, children;
        long rss_kb, hwm_kb;
};

struct result {
        long spawned;            /* successful pv_spawn calls */
        long cycles;             /* exit callbacks: one per spawned child */
        long errors;             /* unexpected results (each printed once) */
        long lost;               /* statuses reported lost */
        long recovered;          /* statuses recovered from another reaper */
        long spawn_failures;     /* host-lowfd: spawns refused as expected */
        double *us;              /* per-cycle times */
        long n_us, cap_us;
};

static struct opts O = { .cycles = 0, .concurrency = 0, .grace_ms = 0 };
static bool progress;

/* ---- measuring ------------------------------------------------------- */

static long status_kb(const char *key)
{
        char line[256];
        long v = -1;
        size_t k = strlen(key);
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, key, k)) {
                        v = atol(line + k);
                        break;
                }
        fclose(f);
        return v;
}

/* A thread that has been joined may still be in /proc/self/task for a
 * moment (pthread_join returns when the kernel clears its tid, before the
 * task is released), and so may a kernel worker of ours (io_uring's
 * iou-wrk-*, which ends on its own).  So a thread count above the start's
 * is looked at again for up to 2 s; the threads seen, and whether they
 * went, are printed, so that a leak (a thread that stays) still fails and
 * says what it is.  Returns the last count. */
static int settle_threads(const char *mode, int want, int n)
{
        char names[512] = "";
        size_t len = 0;
        int ms = 0, first = n - want;
        DIR *d;

        if (n <= want)
                return n;
        d = opendir("/proc/self/task");
        for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
                char path[300], comm[32] = "";
                FILE *f;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
                f = fopen(path, "re");
                if (f) {
                        if (!fgets(comm, sizeof(comm), f))
                                comm[0] = '\0';
                        fclose(f);
                }
                comm[strcspn(comm, "\n")] = '\0';
                if (len < sizeof(names))
                        len += (size_t)snprintf(names + len, sizeof(names) - len, " %s:%s",
                                                e->d_name, comm);
        }
        if (d)
                closedir(d);
        /* Polling, as a harness may (no event says a task was released). */
        for (; n > want && ms < 2000; ms += 10) {
                struct timespec t = { 0, 10000000 };
                int now;

                nanosleep(&t, NULL);
                now = proc_count_dir("/proc/self/task");
                if (now < 0)
                        break;          /* unreadable: the count stays */
                n = now;
        }
        fprintf(stderr, "pv-stress: %s: %+d thread(s) at the end (tasks:%s), %+d after %d ms\n",
                mode, first, names, n - want, ms);
        return n;
}

static struct snapshot snap(void)
{
        struct snapshot s;

        s.fds = proc_count_dir("/proc/self/fd") - 1;
        s.threads = proc_count_dir("/proc/self/task");
        proc_scan_children(&s.children, &s.zombies);
        s.rss_kb = status_kb("VmRSS:");
        s.hwm_kb = status_kb("VmHWM:");
        return s;
}

static pthread_mutex_t res_lock = PTHREAD_MUTEX_INITIALIZER;

static void sample(struct result *r, double us)
{
        pthread_mutex_lock(&res_lock);
        if (r->n_us == r->cap_us) {
                long cap = r->cap_us ? r->cap_us * 2 : 1024;
                double *p = realloc(r->us, (size_t)cap * sizeof(*p));
                if (!p) {
                        pthread_mutex_unlock(&res_lock);
                        return;
                }
                r->us = p;
                r->cap_us = cap;
        }
        r->us[r->n_us++] = us;
        pthread_mutex_unlock(&res_lock);
}

static void fail(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct result *r, const char *fmt, ...)
{
        va_list ap;

        pthread_mutex_lock(&res_lock);
        if (r->errors++ < 10) {
                va_start(ap, fmt);
                fprintf(stderr, "pv-stress: %s: ", O.mode);
                vfprintf(stderr, fmt, ap);
                fputc('\n', stderr);
                va_end(ap);
        }
        pthread_mutex_unlock(&res_lock);
}

static void tick(long done, long total)
{
        if (progress && (done % 100 == 0 || done == total))
                fprintf(stderr, "\r%s: %ld/%ld", O.mode, done, total);
}

/* ---- children ------------------------------------------------------- */

static pv_loop *new_loop(struct result *r)
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        pv_loop *l;
        int e;

        lo.mech = O.mech;
        lo.backend = O.backend;
        e = pv_loop_new(&l, &lo);
        if (e < 0) {
                fail(r, "pv_loop_new: %s", strerror(-e));
                return NULL;
        }
        return l;
}

struct run {
        struct result *res;
        int want_kind, want_value;   /* 0: any */
        unsigned want_flags, deny_flags;
        const char *expect;          /* the line to wait for; NULL: any line */
        bool seen_ready;             /* that line came */
        bool kill_group;             /* kill the child's group after its exit */
};

static void on_line(pv_child *c, int fd, const char *data, size_t len, unsigned flags, void *ud)
{
        struct run *run = ud;

        (void)c;
        (void)fd;
        if ((flags & (PV_OUT_F_EOF | PV_OUT_F_CLOSED)) || len == 0)
                return;
        if (!run->expect || (len == strlen(run->expect) && !memcmp(data, run->expect, len)))
                run->seen_ready = true;
        else
                fail(run->res, "read back '%.*s', want '%s'", (int)(len < 64 ? len : 64), data,
                     run->expect);
}

static void check_exit(struct run *run, const struct pv_exit *e)
{
        struct result *r = run->res;

        if (e->flags & PV_EXIT_F_RECOVERED)
                __atomic_fetch_add(&r->recovered, 1, __ATOMIC_RELAXED);
        /* A lost status is counted (the verdict says whether one may be
         * lost here); its flags are still checked. */
        if (e->kind == PV_EXIT_LOST)
                __atomic_fetch_add(&r->lost, 1, __ATOMIC_RELAXED);
        else if (run->want_kind && e->kind != run->want_kind)
                fail(r, "pid %d: exit kind %d, want %d", (int)e->pid, e->kind, run->want_kind);
        else if (run->want_kind == PV_EXIT_EXITED && e->code != run->want_value)
                fail(r, "pid %d: exit code %d, want %d", (int)e->pid, e->code, run->want_value);
        else if (run->want_kind == PV_EXIT_KILLED && run->want_value &&
                 e->signal != run->want_value)
                fail(r, "pid %d: signal %d, want %d", (int)e->pid, e->signal, run->want_value);
        if ((e->flags & run->want_flags) != run->want_flags || (e->flags & run->deny_flags))
                fail(r, "pid %d: exit flags %#x", (int)e->pid, e->flags);
}

static void on_exit_cb(pv_child *c, const struct pv_exit *e, void *ud)
{
        struct run *run = ud;

        check_exit(run, e);
        /* The child led a process group; what is left of it (a grandchild
         * holding a pipe) is not the library's to reap, but the harness
         * must not leave it running.  The group id stays ours while any
         * member lives. */
        if (run->kill_group)
                kill(-pv_child_pid(c), SIGKILL);
        __atomic_fetch_add(&run->res->cycles, 1, __ATOMIC_RELAXED);
}

/* pv_spawn, counted: every child spawned must reach its exit callback. */
static int spawn(struct result *r, pv_loop *l, const struct pv_spawn_opts *o, pv_child **ret)
{
        int e = pv_spawn(l, o, ret, NULL);

        if (e == 0)
                __atomic_fetch_add(&r->spawned, 1, __ATOMIC_RELAXED);
        return e;
}

static struct pv_spawn_opts base_opts(const char **argv, struct run *run)
{
        struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;

        o.argv = argv;
        o.stdio[0].mode = PV_STDIO_NULL;
        o.stdio[1].mode = PV_STDIO_PIPE;
        o.stdio[2].mode = PV_STDIO_PIPE;
        o.grace_ms = O.grace_ms;
        o.on_output = on_line;
        o.on_exit = on_exit_cb;
        o.userdata = run;
        return o;
}

/* Spawn with o, optionally wait for a first line, optionally stop, wait
 * for the exit; one timed cycle. */
static void one_cycle(pv_loop *l, struct pv_spawn_opts *o, struct run *run, bool wait_line,
                      bool stop, const char *input)
{
        double t0 = wall_us();
        pv_child *c;
        int e = spawn(run->res, l, o, &c);

        if (e < 0) {
                fail(run->res, "pv_spawn %s: %s", o->argv[0], strerror(-e));
                return;
        }
        if (input && pv_child_write(c, input, strlen(input)) < 0)
                fail(run->res, "pv_child_write failed");
        while (wait_line && !run->seen_ready && !pv_child_is_reaped(c))
                if (pv_loop_dispatch(l, 10000) < 0)
                        break;
        if (stop && (e = pv_child_stop(c)) < 0)
                fail(run->res, "pv_child_stop: %s", strerror(-e));
        e = pv_child_wait(c, 60000, NULL);
        if (e < 0)
                fail(run->res, "pv_child_wait: %s", strerror(-e));
        pv_child_release(c);
        sample(run->res, wall_us() - t0);
}

/* ---- scenarios ------------------------------------------------------ */

static const char *TRUE_ARGV[] = { "/bin/true", NULL };
static const char *CAT_ARGV[] = { "/bin/cat", NULL };
static const char *IGNTERM_ARGV[] = { "/bin/sh", "-c",
        "trap '' TERM; echo ready; exec sleep 1000", NULL };
static const char *GRANDCHILD_ARGV[] = { "/bin/sh", "-c",
        "sleep 1000 & echo ready >&2; exit 0", NULL };
static const char *FLOOD_ARGV[] = { "/bin/sh", "-c", "exec yes flood >&2", NULL };
static const char *SLEEP_ARGV[] = { "/bin/sh", "-c", "exec sleep 1000", NULL };

static void mode_exit_on(pv_loop *l, struct result *r, long cycles)
{
        for (long i = 0; i < cycles; i++) {
                struct run run = { .res = r, .want_kind = PV_EXIT_EXITED,
                                   .deny_flags = PV_EXIT_F_STOPPED };
                struct pv_spawn_opts o = base_opts(TRUE_ARGV, &run);
                one_cycle(l, &o, &run, false, false, NULL);
                tick(i + 1, cycles);
        }
}

static void mode_exit(pv_loop *l, struct result *r)
{
        mode_exit_on(l, r, O.cycles);
}

static void mode_stop(pv_loop *l, struct result *r)
{
        for (long i = 0; i < O.cycles; i++) {
                struct run run = { .res = r, .want_flags = PV_EXIT_F_STOPPED,
                                   .deny_flags = PV_EXIT_F_ESCALATED, .expect = "ping" };
                struct pv_spawn_opts o = base_opts(CAT_ARGV, &run);
                o.stdio[0].mode = PV_STDIO_PIPE;
                /* Write a line, read it back, stop. */
                one_cycle(l, &o, &run, true, true, "ping\n");
                tick(i + 1, O.cycles);
        }
}

static void mode_escalate(pv_loop *l, struct result *r)
{
        for (long i = 0; i < O.cycles; i++) {
                struct run run = { .res = r, .want_kind = PV_EXIT_KILLED,
                                   .want_value = SIGKILL,
                                   .want_flags = PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED };
                struct pv_spawn_opts o = base_opts(IGNTERM_ARGV, &run);
                o.grace_ms = O.grace_ms ? O.grace_ms : 20;
                one_cycle(l, &o, &run, true, true, NULL);
                tick(i + 1, O.cycles);
        }
}

/* N children alive at once: half exit by themselves, half are stopped. */
static void mode_concurrent(pv_loop *l, struct result *r)
{
        int n = O.concurrency ? O.concurrency : 100;
        pv_child **kids = calloc((size_t)n, sizeof(*kids));
        struct run *runs = calloc((size_t)n, sizeof(*runs));

        if (!kids || !runs) {
                fail(r, "out of memory");
                goto out;
        }
        for (long done = 0; done < O.cycles;) {
                int batch = O.cycles - done < n ? (int)(O.cycles - done) : n;
                double t0 = wall_us();

                for (int i = 0; i < batch; i++) {
                        bool stopper = i % 2;
                        runs[i] = (struct run){ .res = r };
                        struct pv_spawn_opts o = base_opts(stopper ? CAT_ARGV : TRUE_ARGV,
                                                           &runs[i]);
                        /* Lean on fds, so that 10,000 fit under a 20,000
                         * limit: a pidfd each, and a stdin pipe for those
                         * to be stopped. */
                        o.stdio[1].mode = PV_STDIO_NULL;
                        o.stdio[2].mode = PV_STDIO_NULL;
                        if (stopper)
                                o.stdio[0].mode = PV_STDIO_PIPE;
                        runs[i].want_kind = stopper ? 0 : PV_EXIT_EXITED;
                        runs[i].deny_flags = PV_EXIT_F_ESCALATED;
                        int e = spawn(r, l, &o, &kids[i]);
                        if (e < 0) {
                                fail(r, "pv_spawn #%d of a batch: %s", i, strerror(-e));
                                kids[i] = NULL;
                        }
                }
                for (int i = 1; i < batch; i += 2)
                        if (kids[i])
                                pv_child_stop(kids[i]);
                if (pv_loop_run(l) < 0)
                        fail(r, "pv_loop_run failed");
                for (int i = 0; i < batch; i++)
                        pv_child_release(kids[i]);
                double per = (wall_us() - t0) / batch;
                for (int i = 0; i < batch; i++)
                        sample(r, per);
                done += batch;
                tick(done, O.cycles);
        }
out:
        free(kids);
        free(runs);
}

static void mode_grandchild(pv_loop *l, struct result *r)
{
        for (long i = 0; i < O.cycles; i++) {
                struct run run = { .res = r, .want_kind = PV_EXIT_EXITED, .kill_group = true };
                struct pv_spawn_opts o = base_opts(GRANDCHILD_ARGV, &run);
                o.flags = PV_SPAWN_F_NEW_PGRP;
                one_cycle(l, &o, &run, false, false, NULL);
                tick(i + 1, O.cycles);
        }
}

static void mode_flood(pv_loop *l, struct result *r)
{
        for (long i = 0; i < O.cycles; i++) {
                struct run run = { .res = r, .want_flags = PV_EXIT_F_STOPPED };
                struct pv_spawn_opts o = base_opts(FLOOD_ARGV, &run);
                one_cycle(l, &o, &run, true, true, NULL);
                tick(i + 1, O.cycles);
        }
}

static void mode_deadline(pv_loop *l, struct result *r)
{
        for (long i = 0; i < O.cycles; i++) {
                struct run run = { .res = r, .want_kind = PV_EXIT_KILLED, .want_value = SIGTERM,
                                   .want_flags = PV_EXIT_F_STOPPED | PV_EXIT_F_DEADLINE };
                struct pv_spawn_opts o = base_opts(SLEEP_ARGV, &run);
                o.deadline_ms = 5;
                one_cycle(l, &o, &run, false, false, NULL);
                tick(i + 1, O.cycles);
        }
}

static void mode_host_sigign(pv_loop *l, struct result *r)
{
        struct sigaction old, ign = { .sa_handler = SIG_IGN };

        sigaction(SIGCHLD, &ign, &old);
        mode_exit(l, r);
        sigaction(SIGCHLD, &old, NULL);
}

static atomic_bool reaper_stop;

static void *reaper(void *p)
{
        (void)p;
        while (!atomic_load(&reaper_stop)) {
                siginfo_t si = { 0 };
                if (waitid(P_ALL, 0, &si, WEXITED | __WALL | WNOHANG) != 0 || !si.si_pid)
                        sched_yield();
        }
        return NULL;
}

static void mode_host_reaper(pv_loop *l, struct result *r)
{
        pthread_t t;

        atomic_store(&reaper_stop, false);
        if (pthread_create(&t, NULL, reaper, NULL) != 0) {
                fail(r, "pthread_create failed");
                return;
        }
        mode_exit(l, r);
        atomic_store(&reaper_stop, true);
        pthread_join(t, NULL);
}

struct thread_arg {
        struct result *r;
        long cycles;
};

static void *thread_main(void *p)
{
        struct thread_arg *a = p;
        pv_loop *l = new_loop(a->r);

        if (l) {
                mode_exit_on(l, a->r, a->cycles);
                pv_loop_free(l);
        }
        return NULL;
}

/* 8 threads, each with its own loop, spawning at once. */
static void mode_host_threads(pv_loop *l, struct result *r)
{
        pthread_t t[8];
        struct thread_arg a[8];
        bool saved = progress;

        (void)l;
        progress = false;
        for (int i = 0; i < 8; i++) {
                a[i] = (struct thread_arg){ r, O.cycles / 8 + (i < O.cycles % 8) };
                if (pthread_create(&t[i], NULL, thread_main, &a[i]) != 0) {
                        fail(r, "pthread_create failed");
                        a[i].cycles = -1;
                }
        }
        for (int i = 0; i < 8; i++)
                if (a[i].cycles >= 0)
                        pthread_join(t[i], NULL);
        progress = saved;
}

/* RLIMIT_NOFILE so low that spawns fail with EMFILE; they must fail
 * cleanly, and work again once the children are gone. */
static void mode_host_lowfd(pv_loop *l, struct result *r)
{
        struct rlimit old, low;
        int fds = proc_count_dir("/proc/self/fd");
        long batches = O.cycles / 20 > 0 ? O.cycles / 20 : 1;

        getrlimit(RLIMIT_NOFILE, &old);
        low = old;
        low.rlim_cur = (rlim_t)fds + 32;
        if (setrlimit(RLIMIT_NOFILE, &low) < 0) {
                fail(r, "setrlimit: %s", strerror(errno));
                return;
        }
        for (long b = 0; b < batches; b++) {
                pv_child *kids[64];
                struct run runs[64];
                int n = 0, e = 0;

                /* Spawn until the fd table is full (each child holds a
                 * pidfd and two pipe ends). */
                while (n < 64) {
                        runs[n] = (struct run){ .res = r };
                        struct pv_spawn_opts o = base_opts(CAT_ARGV, &runs[n]);
                        o.stdio[0].mode = PV_STDIO_PIPE;
                        e = spawn(r, l, &o, &kids[n]);
                        if (e < 0)
                                break;
                        n++;
                }
                if (e != -EMFILE)
                        fail(r, "batch %ld: the fd limit did not stop spawning (%s after %d)",
                             b, e ? strerror(-e) : "no error", n);
                else
                        r->spawn_failures++;
                for (int i = 0; i < n; i++)
                        pv_child_stop(kids[i]);
                if (pv_loop_run(l) < 0)
                        fail(r, "pv_loop_run failed");
                for (int i = 0; i < n; i++)
                        pv_child_release(kids[i]);
                /* Recovered: a spawn works again. */
                struct run run = { .res = r, .want_kind = PV_EXIT_EXITED };
                struct pv_spawn_opts o = base_opts(TRUE_ARGV, &run);
                one_cycle(l, &o, &run, false, false, NULL);
                tick(b + 1, batches);
        }
        setrlimit(RLIMIT_NOFILE, &old);
}

static const struct mode {
        const char *name;
        void (*run)(pv_loop *l, struct result *r);
        long seed_cycles;        /* what make check runs */
        const char *what;
        bool steals;             /* the host takes statuses: one may be lost
                                  * where the kernel cannot give it back */
} modes[] = {
        { "exit", mode_exit, 1000, "spawn /bin/true, reap", false },
        { "stop", mode_stop, 200, "spawn /bin/cat, write a line, read it back, stop", false },
        { "escalate", mode_escalate, 100, "child ignores SIGTERM; short grace; SIGKILL", false },
        { "concurrent", mode_concurrent, 1000, "N alive at once; half exit, half stopped", false },
        { "grandchild", mode_grandchild, 100, "a grandchild holds stderr past the exit", false },
        { "flood", mode_flood, 100, "stop while the child floods stderr", false },
        { "deadline", mode_deadline, 100, "the run deadline stops the child", false },
        { "host-sigign", mode_host_sigign, 200, "host has SIGCHLD = SIG_IGN", true },
        { "host-reaper", mode_host_reaper, 200, "a host thread loops on waitpid(-1)", true },
        { "host-threads", mode_host_threads, 400, "8 threads, a loop each, spawning at once", false },
        { "host-lowfd", mode_host_lowfd, 100, "RLIMIT_NOFILE low enough for EMFILE", false },
};

/* ---- report --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double pct(const struct result *r, double p)
{
        if (r->n_us == 0)
                return 0;
        return r->us[(long)((double)(r->n_us - 1) * p)];
}

static int parse_mech(const char *s)
{
        for (int m = 0; m < _PV_MECH_MAX; m++)
                if (!strcmp(s, pv_mech_name(m)))
                        return m;
        return -1;
}

static int parse_backend(const char *s)
{
        for (int b = 0; b < _PV_BACKEND_MAX; b++)
                if (!strcmp(s, pv_backend_name(b)))
                        return b;
        return -1;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: pv-stress --mode MODE [--cycles N] [--concurrency N] [--grace MS]\n"
                   "                 [--spawn auto|clone3|clone|vfork] [--backend auto|epoll|uring]"
                   " [--json]\nmodes:\n");
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
                fprintf(f, "  %-13s %s (make check: %ld cycles)\n", modes[i].name, modes[i].what,
                        modes[i].seed_cycles);
}

int main(int argc, char **argv)
{
        const struct mode *m = NULL;
        struct result r = { 0 };
        struct snapshot before, after;
        struct rlimit rl;
        pv_loop *l;
        double t0, wall;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "--json")) {
                        O.json = true;
                        continue;
                }
                if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                        usage(stdout);
                        return 0;
                }
                if (!v) {
                        usage(stderr);
                        return 2;
                }
                i++;
                if (!strcmp(a, "--mode"))
                        O.mode = v;
                else if (!strcmp(a, "--cycles"))
                        O.cycles = atol(v);
                else if (!strcmp(a, "--concurrency"))
                        O.concurrency = atoi(v);
                else if (!strcmp(a, "--grace"))
                        O.grace_ms = (uint32_t)atol(v);
                else if (!strcmp(a, "--spawn"))
                        O.mech = parse_mech(v);
                else if (!strcmp(a, "--backend"))
                        O.backend = parse_backend(v);
                else {
                        usage(stderr);
                        return 2;
                }
        }
        for (size_t i = 0; O.mode && i < sizeof(modes) / sizeof(modes[0]); i++)
                if (!strcmp(O.mode, modes[i].name))
                        m = &modes[i];
        if (!m || O.cycles < 0 || O.concurrency < 0 || O.mech < 0 || O.backend < 0) {
                usage(stderr);
                return 2;
        }
        if (!O.cycles)
                O.cycles = m->seed_cycles;
        progress = isatty(2);

        /* Many children at once need many fds (a pidfd and a pipe end or
         * three each): as root, raise the limit to the kernel's nr_open,
         * else take what the hard limit allows (host-lowfd lowers it again
         * for itself). */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                FILE *f = fopen("/proc/sys/fs/nr_open", "re");
                unsigned long nr = 0;
                if (f) {
                        if (fscanf(f, "%lu", &nr) != 1)
                                nr = 0;
                        fclose(f);
                }
                struct rlimit up = { (rlim_t)nr, (rlim_t)nr };
                if (!nr || up.rlim_max <= rl.rlim_max || setrlimit(RLIMIT_NOFILE, &up) < 0) {
                        rl.rlim_cur = rl.rlim_max;
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
        }

        l = new_loop(&r);
        if (!l)
                return 1;
        /* The first loop's probe and buffers are part of the baseline. */
        before = snap();
        t0 = wall_us();
        m->run(l, &r);
        wall = (wall_us() - t0) / 1e6;
        after = snap();
        if (progress)
                fputc('\n', stderr);
        after.threads = settle_threads(m->name, before.threads, after.threads);
        int mech = pv_loop_mech(l), backend = pv_loop_backend(l);
        pv_loop_free(l);
        qsort(r.us, (size_t)r.n_us, sizeof(double), cmp_double);

        int dfds = after.fds - before.fds, dthreads = after.threads - before.threads;
        long drss = after.rss_kb - before.rss_kb;
        struct pv_features f = PV_FEATURES_INIT;
        /* A status is lost only when someone else took it and the kernel
         * (before 6.15) could not give it back. */
        bool lost_ok = m->steals && pv_features(&f) == 0 &&
                       !(f.have & PV_FEATURE_PIDFD_INFO_EXIT);
        bool ok = r.errors == 0 && dfds == 0 && dthreads == 0 && after.zombies == 0 &&
                  after.children == 0 && drss <= RSS_GROWTH_MAX_KB &&
                  r.cycles == r.spawned && (r.lost == 0 || lost_ok);

        if (r.cycles != r.spawned)
                fprintf(stderr, "pv-stress: %s: %ld children spawned, %ld exit callbacks\n",
                        m->name, r.spawned, r.cycles);
        if (r.lost && !lost_ok)
                fprintf(stderr, "pv-stress: %s: %ld statuses lost where none may be\n", m->name,
                        r.lost);

        if (O.json) {
                printf("{\"mode\":\"%s\",\"cycles\":%ld,\"spawned\":%ld,\"children\":%ld,\"errors\":%ld,"
                       "\"lost\":%ld,\"recovered\":%ld,\"spawn_failures\":%ld,"
                       "\"spawn\":\"%s\",\"backend\":\"%s\",\"seconds\":%.3f,"
                       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"fds_delta\":%d,\"threads_delta\":%d,"
                       "\"zombies\":%d,\"children_left\":%d,\"rss_kb_delta\":%ld,"
                       "\"hwm_kb\":%ld,\"rss_kb_max_growth\":%d,\"ok\":%s}\n",
                       m->name, O.cycles, r.spawned, r.cycles, r.errors, r.lost, r.recovered,
                       r.spawn_failures, pv_mech_name(mech), pv_backend_name(backend),
                       wall, pct(&r, 0.5), pct(&r, 0.99), dfds, dthreads, after.zombies,
                       after.children, drss, after.hwm_kb, RSS_GROWTH_MAX_KB,
                       ok ? "true" : "false");
        } else {
                printf("%-13s %7ld cycles %8ld children  %7.2f s  p50 %8.1f us  p99 %8.1f us  "
                       "[%s, %s]\n", m->name, O.cycles, r.cycles, wall, pct(&r, 0.5),
                       pct(&r, 0.99), pv_mech_name(mech), pv_backend_name(backend));
                printf("              fds %+d  threads %+d  zombies %d  children left %d  "
                       "RSS %+ld KiB (max +%d)  peak %ld KiB",
                       dfds, dthreads, after.zombies, after.children, drss, RSS_GROWTH_MAX_KB,
                       after.hwm_kb);
                if (r.lost || r.recovered)
                        printf("  statuses recovered %ld, lost %ld", r.recovered, r.lost);
                if (r.spawn_failures)
                        printf("  EMFILE refusals %ld", r.spawn_failures);
                printf("  errors %ld  %s\n", r.errors, ok ? "ok" : "FAILED");
        }
        free(r.us);
        return ok ? 0 : 1;
}
