/* SPDX-License-Identifier: MIT */
/*
 * Spawn cost against the parent's size: spawn + reap /bin/true CYCLES times
 * with pidvisor, and with fork() + execve() + waitpid(), first with a small
 * parent, then after the parent has touched MB megabytes of memory.  Both
 * are measured in the same run, alternating; mean microseconds per cycle.
 * pidvisor spawns with a vfork-style clone (no page tables copied), so its
 * cost should stay flat; fork copies the page tables, so its cost grows.
 * Reports, asserts nothing (exit 1 only if a spawn failed).
 *
 * The memory is mapped with 4 KiB pages (MADV_NOHUGEPAGE), as a long-lived
 * service's fragmented heap mostly is: with transparent huge pages a big
 * region has few page-table entries and fork stays cheap; --thp measures
 * that case instead.
 *
 *   bench-spawn [--mb N] [--cycles N] [--thp]
 */
#include <pidvisor.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static const char *argv_true[] = { "/bin/true", NULL };

static double run_pidvisor(pv_loop *l, long cycles, int *bad)
{
        double t0 = now_us();

        for (long i = 0; i < cycles; i++) {
                struct pv_spawn_opts o = PV_SPAWN_OPTS_INIT;
                struct pv_exit e;
                pv_child *c;

                o.argv = argv_true;
                if (pv_spawn(l, &o, &c, NULL) < 0 || pv_child_wait(c, 10000, &e) < 0 ||
                    e.kind != PV_EXIT_EXITED || e.code != 0)
                        *bad = 1;
                pv_child_release(c);
        }
        return (now_us() - t0) / (double)cycles;
}

static double run_fork(long cycles, int *bad)
{
        extern char **environ;
        double t0 = now_us();

        for (long i = 0; i < cycles; i++) {
                int st;
                pid_t pid = fork();

                if (pid == 0) {
                        execve(argv_true[0], (char *const *)argv_true, environ);
                        _exit(127);
                }
                if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
                    WEXITSTATUS(st) != 0)
                        *bad = 1;
        }
        return (now_us() - t0) / (double)cycles;
}

int main(int argc, char **argv)
{
        long mb = 1024, cycles = 200;
        bool thp = false;
        double pv_small, pv_big, fork_small, fork_big;
        pv_loop *l;
        int bad = 0;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--thp"))
                        thp = true;
                else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
                        mb = atol(argv[++i]);
                else if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
                        cycles = atol(argv[++i]);
                else
                        mb = -1;
        }
        if (mb < 1 || cycles < 1) {
                fprintf(stderr, "usage: bench-spawn [--mb N] [--cycles N]\n");
                return 2;
        }
        if (pv_loop_new(&l, NULL) < 0)
                return 1;
        /* Warm both paths, then measure small, grow, measure big. */
        run_pidvisor(l, 10, &bad);
        run_fork(10, &bad);
        pv_small = run_pidvisor(l, cycles, &bad);
        fork_small = run_fork(cycles, &bad);

        size_t size = (size_t)mb << 20;
        char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
                return 1;
        /* The kernel's THP mode may be "madvise": ask either way. */
        madvise(mem, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        memset(mem, 1, size);   /* resident, with page tables to copy */

        fork_big = run_fork(cycles, &bad);
        pv_big = run_pidvisor(l, cycles, &bad);
        printf("spawn + reap of /bin/true, mean of %ld cycles (%s; parent memory in %s pages)\n",
               cycles, pv_mech_name(pv_loop_mech(l)), thp ? "huge" : "4 KiB");
        printf("  parent RSS        small      +%ld MiB    ratio big/small\n", mb);
        printf("  pidvisor       %8.1f us  %8.1f us   %6.2f\n", pv_small, pv_big, pv_big / pv_small);
        printf("  fork+execve    %8.1f us  %8.1f us   %6.2f\n", fork_small, fork_big,
               fork_big / fork_small);
        printf("  with +%ld MiB, pidvisor spawns in %.2f of fork's time\n", mb, pv_big / fork_big);
        munmap(mem, size);
        pv_loop_free(l);
        return bad;
}
