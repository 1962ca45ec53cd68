/* SPDX-License-Identifier: MIT */
/* src/cgroup.c: pv_cgroup, and the signalling and watching that the stop
 * ladder shares.  Built with src/cgroup.c itself, as test-timer is with
 * src/timer.c, so that the internal pv__cgroup_* calls are tested too. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/cgroup.h"
#include "testutil.h"

/* Every test is bounded: a hang fails it instead of the whole run.  What a
 * failed test leaves in its pv-test cgroup is removed all the same. */
TestSuite(cgroup, .timeout = 30, .fini = tu_cgroup_cleanup);

/* src/cgroup.c's clock; the library has it in loop.c. */
uint64_t pv__now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool exists(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0;
}

/* Entries of a directory whose name starts with prefix. */
static int count_named(const char *dir, const char *prefix)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        cr_assert(d, "opendir %s: %s", dir, strerror(errno));
        while ((e = readdir(d)))
                n += !strncmp(e->d_name, prefix, strlen(prefix));
        closedir(d);
        return n;
}

/* A cgroup of its own below a fresh pv-test directory. */
static pv_cgroup *new_cgroup(char *parent, size_t size)
{
        pv_cgroup *cg = NULL;
        int r;

        tu_cgroup_dir(parent, size);
        r = pv_cgroup_new(&cg, parent);
        cr_assert_eq(r, 0, "pv_cgroup_new(%s): %s", parent, strerror(-r));
        return cg;
}

/* One helper child in a cgroup of its own, below a fresh pv-test
 * directory, on a loop of its own; its output collected. */
struct fix {
        char parent[4096];
        pv_cgroup *cg;
        pv_loop *l;
        pv_child *c;
        struct tu_out out;
};

/* Spawn argv into a new cgroup and wait for the helper's "ready". */
static void fix_start(struct fix *f, const char **argv)
{
        struct pv_spawn_opts o = tu_helper_opts(argv, &f->out);

        f->cg = new_cgroup(f->parent, sizeof(f->parent));
        cr_assert_eq(tu_loop_new(&f->l, NULL), 0);
        o.flags |= PV_SPAWN_F_CGROUP;
        o.cgroup_fd = pv_cgroup_fd(f->cg);
        f->c = tu_spawn_ready(f->l, &o, &f->out);
}

/* Let go of the child and its loop, then remove the cgroup (asserted) and
 * the pv-test directory. */
static void fix_end(struct fix *f)
{
        pv_child_release(f->c);
        pv_loop_free(f->l);
        cr_assert_eq(pv_cgroup_remove(f->cg, 1000), 0);
        pv_cgroup_free(f->cg);
        tu_cgroup_rmdir(f->parent);
}

static void assert_high_cloexec(int fd)
{
        cr_assert_geq(fd, 3);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
}

Test(cgroup, new_fd_path_remove)
{
        char parent[4096], prefix[4200];
        int fds = tu_count_fds();
        pv_cgroup *cg = new_cgroup(parent, sizeof(parent));
        struct stat by_path, by_fd;
        const char *path = pv_cgroup_path(cg);
        int fd = pv_cgroup_fd(cg);

        snprintf(prefix, sizeof(prefix), "%s/pidvisor.%d.", parent, (int)getpid());
        cr_assert(!strncmp(path, prefix, strlen(prefix)), "path %s, not under %s", path, prefix);
        assert_high_cloexec(fd);
        cr_assert_eq(stat(path, &by_path), 0);
        cr_assert_eq(fstat(fd, &by_fd), 0);
        cr_assert(S_ISDIR(by_fd.st_mode));
        cr_assert(by_path.st_ino == by_fd.st_ino && by_path.st_dev == by_fd.st_dev,
                  "the fd is not the directory at the path");
        cr_assert_eq(faccessat(fd, "cgroup.procs", F_OK, 0), 0, "no cgroup.procs: no cgroup");
        cr_assert_eq(pv_cgroup_populated(cg), 0);

        cr_assert_eq(pv_cgroup_remove(cg, 1000), 0);
        cr_assert_not(exists(path), "%s is still there", path);
        cr_assert_eq(pv_cgroup_fd(cg), -ENOENT);
        cr_assert_eq(pv_cgroup_signal(cg, SIGTERM), -ENOENT);
        cr_assert_eq(pv_cgroup_populated(cg), -ENOENT);
        cr_assert_eq(pv_cgroup_events_fd(cg), -ENOENT);
        cr_assert_eq(pv_cgroup_remove(cg, 0), 0, "removing again");
        cr_assert(!strncmp(pv_cgroup_path(cg), prefix, strlen(prefix)), "path kept for messages");
        pv_cgroup_free(cg);
        cr_assert_eq(tu_count_fds(), fds, "an fd was left open");
        tu_cgroup_rmdir(parent);
}

/* pv_cgroup_free() removes what pv_cgroup_remove() was not asked to. */
Test(cgroup, free_removes)
{
        char parent[4096], path[4200];
        pv_cgroup *cg = new_cgroup(parent, sizeof(parent));

        snprintf(path, sizeof(path), "%s", pv_cgroup_path(cg));
        cr_assert_geq(pv_cgroup_events_fd(cg), 3);
        pv_cgroup_free(cg);
        cr_assert_not(exists(path), "%s is still there", path);
        pv_cgroup_free(NULL);
        tu_cgroup_rmdir(parent);
}

/* After a pv_cgroup_remove() that failed, pv_cgroup_free() leaves the
 * directory: the caller knew, and chose. */
Test(cgroup, free_after_failed_remove_keeps_it)
{
        static struct fix f;
        char path[4200];

        fix_start(&f, TU_ARGV("ready", "pause"));
        snprintf(path, sizeof(path), "%s", pv_cgroup_path(f.cg));
        cr_assert_eq(pv_cgroup_remove(f.cg, 0), -ETIMEDOUT);
        cr_assert_eq(pv_child_wait(f.c, 10000, NULL), 0);
        pv_cgroup_free(f.cg);
        cr_assert(exists(path), "freed after a failed removal, and removed all the same");
        cr_assert_eq(rmdir(path), 0);
        pv_child_release(f.c);
        pv_loop_free(f.l);
        tu_cgroup_rmdir(f.parent);
}

/* A name someone holds is skipped, and what they hold is left alone. */
Test(cgroup, taken_names_skipped)
{
        char parent[4096], taken[4300];
        pv_cgroup *cg;

        tu_cgroup_dir(parent, sizeof(parent));
        for (int i = 0; i < 5; i++) {
                snprintf(taken, sizeof(taken), "%s/pidvisor.%d.%d", parent, (int)getpid(), i);
                cr_assert_eq(mkdir(taken, 0755), 0, "mkdir %s: %s", taken, strerror(errno));
        }
        cr_assert_eq(pv_cgroup_new(&cg, parent), 0);
        for (int i = 0; i < 5; i++) {
                snprintf(taken, sizeof(taken), "%s/pidvisor.%d.%d", parent, (int)getpid(), i);
                cr_assert_str_neq(pv_cgroup_path(cg), taken);
        }
        cr_assert_eq(pv_cgroup_remove(cg, 1000), 0);
        pv_cgroup_free(cg);
        cr_assert_eq(count_named(parent, "pidvisor."), 5, "a taken directory was removed");
        for (int i = 0; i < 5; i++) {
                snprintf(taken, sizeof(taken), "%s/pidvisor.%d.%d", parent, (int)getpid(), i);
                cr_assert_eq(rmdir(taken), 0);
        }
        tu_cgroup_rmdir(parent);
}

#define THREADS 4
#define PER_THREAD 8

struct made {
        const char *parent;
        pv_cgroup *cg[PER_THREAD];
        int err;
};

static void *make_some(void *arg)
{
        struct made *m = arg;

        for (int i = 0; i < PER_THREAD && !m->err; i++)
                m->err = pv_cgroup_new(&m->cg[i], m->parent);
        return NULL;
}

/* Threads making cgroups at once each get one of their own. */
Test(cgroup, threads_never_collide)
{
        char parent[4096];
        struct made m[THREADS] = { { 0 } };
        pthread_t t[THREADS];

        tu_cgroup_dir(parent, sizeof(parent));
        for (int i = 0; i < THREADS; i++) {
                m[i].parent = parent;
                cr_assert_eq(pthread_create(&t[i], NULL, make_some, &m[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
                cr_assert_eq(pthread_join(t[i], NULL), 0);
                cr_assert_eq(m[i].err, 0, "thread %d: %s", i, strerror(-m[i].err));
        }
        cr_assert_eq(count_named(parent, "pidvisor."), THREADS * PER_THREAD);
        for (int i = 0; i < THREADS; i++)
                for (int j = 0; j < PER_THREAD; j++)
                        pv_cgroup_free(m[i].cg[j]);
        cr_assert_eq(count_named(parent, "pidvisor."), 0);
        tu_cgroup_rmdir(parent);
}

/* With no parent, below the caller's own cgroup (this test process moves
 * itself into a pv-test directory first, so that nothing lands elsewhere). */
Test(cgroup, below_own_cgroup)
{
        char parent[4096], prefix[4200];
        pv_cgroup *cg;
        int r;

        tu_cgroup_dir(parent, sizeof(parent));
        tu_cgroup_enter(parent);
        r = pv_cgroup_new(&cg, NULL);
        cr_assert_eq(r, 0, "pv_cgroup_new(NULL): %s", strerror(-r));
        snprintf(prefix, sizeof(prefix), "%s/pidvisor.%d.", parent, (int)getpid());
        cr_assert(!strncmp(pv_cgroup_path(cg), prefix, strlen(prefix)), "made %s, not under %s",
                  pv_cgroup_path(cg), parent);
        cr_assert_eq(pv_cgroup_remove(cg, 1000), 0);
        pv_cgroup_free(cg);
        tu_cgroup_rmdir(parent);
}

/* A child spawned into it runs there. */
Test(cgroup, spawn_into)
{
        static struct fix f;
        struct pv_exit e;

        fix_start(&f, TU_ARGV("cgroup", "ready", "exit", "0"));
        cr_assert_eq(pv_child_wait(f.c, 10000, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_EXITED);
        cr_assert(strstr(f.out.data, strrchr(pv_cgroup_path(f.cg), '/')),
                  "the child was in '%s'", f.out.data);
        fix_end(&f);
}

/* A signal to the cgroup reaches a grandchild the loop knows nothing of
 * (SIGTERM: each pid in cgroup.procs). */
Test(cgroup, signal_reaches_grandchild)
{
        static struct fix f;
        struct pv_exit e;
        int gc = 0;

        fix_start(&f, TU_ARGV("fork-grandchild", "ready", "pause"));
        cr_assert_eq(sscanf(f.out.data, "grandchild=%d", &gc), 1);
        cr_assert(tu_pid_alive(gc));
        cr_assert_eq(pv_cgroup_signal(f.cg, SIGTERM), 0);
        cr_assert_eq(pv_child_wait(f.c, 10000, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGTERM);
        cr_assert(tu_wait_gone(gc), "the grandchild %d is still alive", gc);
        cr_assert_eq(pv_cgroup_signal(f.cg, SIGTERM), 0, "an empty cgroup");
        cr_assert_eq(pv_cgroup_signal(f.cg, 65), -EINVAL);
        cr_assert_eq(pv_cgroup_signal(f.cg, -1), -EINVAL);
        fix_end(&f);
}

/* The internal call tells whether the pid asked about was signalled by
 * name: the stop ladder signals its child directly when it was not. */
Test(cgroup, signal_says_whether_pid_was_reached)
{
        static struct fix f;
        bool reached = true;
        int fd;

        fix_start(&f, TU_ARGV("ready", "pause"));
        fd = pv_cgroup_fd(f.cg);
        cr_assert_eq(pv__cgroup_signal(fd, 0, pv_child_pid(f.c), &reached), 0);
        cr_assert(reached, "the child is listed and took signal 0");
        cr_assert_eq(pv__cgroup_signal(fd, 0, getpid(), &reached), 0);
        cr_assert_not(reached, "this process is not in that cgroup");
        reached = true;
        cr_assert_eq(pv__cgroup_signal(fd, SIGKILL, pv_child_pid(f.c), &reached), 0);
        cr_assert_not(reached, "cgroup.kill names nobody");
        cr_assert_eq(pv_child_wait(f.c, 10000, NULL), 0);
        fix_end(&f);
}

/* populated reads 1 while the child lives and 0 after, and the events fd
 * turns POLLPRI-readable when it empties, not before. */
Test(cgroup, populated_and_events)
{
        static struct fix f;
        struct pollfd p;
        int efd;

        fix_start(&f, TU_ARGV("ready", "pause"));
        efd = pv_cgroup_events_fd(f.cg);
        assert_high_cloexec(efd);
        cr_assert_eq(pv_cgroup_events_fd(f.cg), efd, "one events fd per handle");
        cr_assert_eq(pv_cgroup_populated(f.cg), 1);
        p = (struct pollfd){ .fd = efd, .events = POLLPRI };
        cr_assert_eq(poll(&p, 1, 0), 0, "POLLPRI with nothing changed (revents %#x)", p.revents);
        cr_assert_eq(pv_child_signal(f.c, SIGKILL), 0);
        p.revents = 0;
        cr_assert_eq(poll(&p, 1, 10000), 1, "no POLLPRI within 10 s of the last exit");
        cr_assert(p.revents & POLLPRI);
        /* Not reaped yet, and empty all the same: a zombie is in no cgroup. */
        cr_assert_eq(pv_child_is_reaped(f.c), 0);
        cr_assert_eq(pv_cgroup_populated(f.cg), 0);
        p.revents = 0;
        cr_assert_eq(poll(&p, 1, 0), 0, "reading did not clear POLLPRI");
        cr_assert_eq(pv_child_wait(f.c, 10000, NULL), 0);
        fix_end(&f);
}

/* Removing a populated cgroup kills what is in it, SIGTERM-proof
 * grandchild included, waits, and removes it. */
Test(cgroup, remove_kills_and_waits)
{
        static struct fix f;
        char path[4200];
        struct pv_exit e;
        int gc = 0;

        fix_start(&f, TU_ARGV("ignore-term", "fork-grandchild", "ready", "pause"));
        snprintf(path, sizeof(path), "%s", pv_cgroup_path(f.cg));
        cr_assert_eq(sscanf(f.out.data, "grandchild=%d", &gc), 1);
        cr_assert_eq(pv_cgroup_remove(f.cg, 10000), 0);
        cr_assert_not(exists(path), "%s is still there", path);
        /* A task leaves its cgroup a moment before its exit is done:
         * bounded, it goes. */
        cr_assert(tu_wait_gone(gc), "the grandchild %d is still alive", gc);
        cr_assert_eq(pv_child_wait(f.c, 10000, &e), 0);
        cr_assert_eq(e.kind, PV_EXIT_KILLED);
        cr_assert_eq(e.signal, SIGKILL);
        fix_end(&f);
}

/* A deadline of 0 kills but does not wait: a populated cgroup stays, with
 * its handle, and -ETIMEDOUT says so; a cgroup holding a cgroup of its own
 * stays with -EBUSY. */
Test(cgroup, remove_not_yet)
{
        static struct fix f;
        char path[4200], sub[4300];

        fix_start(&f, TU_ARGV("ready", "pause"));
        snprintf(path, sizeof(path), "%s", pv_cgroup_path(f.cg));
        cr_assert_eq(pv_cgroup_remove(f.cg, 0), -ETIMEDOUT);
        cr_assert(exists(path));
        cr_assert_geq(pv_cgroup_fd(f.cg), 3, "the handle is still whole");
        cr_assert_eq(pv_cgroup_remove(f.cg, -2), -EINVAL);
        cr_assert_eq(pv_child_wait(f.c, 10000, NULL), 0, "the 0 deadline's kill was not sent");

        snprintf(sub, sizeof(sub), "%s/sub", path);
        cr_assert_eq(mkdir(sub, 0755), 0, "mkdir %s: %s", sub, strerror(errno));
        cr_assert_eq(pv_cgroup_remove(f.cg, 1000), -EBUSY);
        cr_assert(exists(path));
        cr_assert_eq(rmdir(sub), 0);
        fix_end(&f);
}

/* A bad parent is a clean -errno, with nothing made anywhere. */
Test(cgroup, bad_parent)
{
        char parent[4096], missing[4200], tmp[] = "/tmp/cgroup-test-XXXXXX", file[64];
        pv_cgroup *cg = (pv_cgroup *)&cg; /* a sentinel: written only on success */

        tu_cgroup_dir(parent, sizeof(parent));
        int before = count_named(parent, "");
        snprintf(missing, sizeof(missing), "%s/no-such-dir", parent);
        cr_assert_eq(pv_cgroup_new(&cg, missing), -ENOENT);
        cr_assert_eq(pv_cgroup_new(&cg, "/nonexistent/dir"), -ENOENT);
        cr_assert_eq(count_named(parent, ""), before, "something was made in %s", parent);

        cr_assert(mkdtemp(tmp), "mkdtemp: %s", strerror(errno));
        cr_assert_eq(pv_cgroup_new(&cg, tmp), -ENOMEDIUM, "not a cgroup v2 file system");
        cr_assert_eq(count_named(tmp, "pidvisor."), 0, "made in %s", tmp);
        snprintf(file, sizeof(file), "%s/file", tmp);
        cr_assert_eq(close(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)), 0);
        cr_assert_eq(pv_cgroup_new(&cg, file), -ENOTDIR);
        cr_assert_eq(pv_cgroup_new(&cg, "relative/dir"), -EINVAL);
        cr_assert_eq(pv_cgroup_new(&cg, ""), -EINVAL);
        cr_assert_eq(cg, (pv_cgroup *)&cg, "*ret written on failure");
        cr_assert_eq(unlink(file), 0);
        cr_assert_eq(rmdir(tmp), 0);
        tu_cgroup_rmdir(parent);
}

/* NULL handles: -EINVAL (NULL for the path), and no crash. */
Test(cgroup, null_args)
{
        cr_assert_eq(pv_cgroup_new(NULL, "/sys/fs/cgroup"), -EINVAL);
        cr_assert_eq(pv_cgroup_new(NULL, NULL), -EINVAL);
        cr_assert_eq(pv_cgroup_fd(NULL), -EINVAL);
        cr_assert_null(pv_cgroup_path(NULL));
        cr_assert_eq(pv_cgroup_signal(NULL, SIGTERM), -EINVAL);
        cr_assert_eq(pv_cgroup_populated(NULL), -EINVAL);
        cr_assert_eq(pv_cgroup_events_fd(NULL), -EINVAL);
        cr_assert_eq(pv_cgroup_remove(NULL, 0), -EINVAL);
        pv_cgroup_free(NULL);
}

/* cgroup.events without a "populated" line is not read as empty. */
Test(cgroup, populated_needs_the_line)
{
        char tmp[] = "/tmp/cgroup-events-XXXXXX";
        int fd = mkstemp(tmp);

        cr_assert_geq(fd, 0);
        cr_assert_eq(unlink(tmp), 0);
        cr_assert_eq(write(fd, "frozen 0\n", 9), 9);
        cr_assert_eq(pv__cgroup_populated(fd), -EBADMSG);
        cr_assert_eq(pwrite(fd, "populated 1\nfrozen 0\n", 21, 0), 21);
        cr_assert_eq(pv__cgroup_populated(fd), 1);
        cr_assert_eq(pwrite(fd, "frozen 0\npopulated 0\n", 21, 0), 21);
        cr_assert_eq(pv__cgroup_populated(fd), 0);
        close(fd);
}
