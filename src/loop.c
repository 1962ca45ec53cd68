/* SPDX-License-Identifier: MIT */
/* pv_loop: creation, dispatch, teardown. */
#include <pidvisor.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "fault.h"
#include "features.h"
#include "loop.h"
#include "syscall.h"

/* The spawn child's stack: the child side needs about PATH_MAX for the
 * PATH search plus a getdents buffer; leave ample room. */
#define CHILD_STACK_SIZE (64 * 1024)
#define GUARD_SIZE 4096
#define READ_BUF_SIZE (64 * 1024)
/* What AUTO tries first: io_uring, which the README's benchmark found as
 * fast as epoll with a quarter fewer system calls; it takes AUTO only
 * where its ring is deferred (backend-uring.c), else epoll. */
#define PV__BACKEND_PREFERRED PV_BACKEND_URING

static const struct pv__backend_ops *const backends[_PV_BACKEND_MAX] = {
        [PV_BACKEND_EPOLL] = &pv__backend_epoll,
        [PV_BACKEND_URING] = &pv__backend_uring,
};

PV_EXPORT const char *pv_backend_name(int backend)
{
        if (backend == PV_BACKEND_AUTO)
                return "auto";
        return backend > 0 && backend < _PV_BACKEND_MAX ? backends[backend]->name : NULL;
}

uint64_t pv__now_ns(void)
{
        struct timespec ts;

        /* CLOCK_MONOTONIC through the vDSO cannot fail. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pv__copy_opts(void *dst, size_t dst_size, size_t min_size, const void *src,
                  size_t src_size)
{
        memset(dst, 0, dst_size);
        if (!src)
                return 0;
        if (src_size < min_size)
                return -EINVAL;
        for (size_t i = dst_size; i < src_size; i++)
                if (((const unsigned char *)src)[i])
                        return -E2BIG;
        memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
        return 0;
}

/*
 * The fork check without a system call per call: every public call asks
 * whether the process forked since the loop was made (sd-event's -ECHILD),
 * and glibc has not cached getpid() since 2.25.  One page per process
 * holds our pid, mapped with MADV_WIPEONFORK (Linux 4.14): a forked process
 * finds a zero page there however it forked (fork(), glibc's _Fork(), a
 * raw fork or clone system call without CLONE_VM), where a pthread_atfork()
 * handler (systemd's getpid_cached()) sees only fork().  Zero reads as "ask
 * the kernel", and the answer is cached again.  A process that shares our
 * memory without being a thread of ours (clone with CLONE_VM, vfork) reads
 * our pid: such a child may only exec or _exit anyway (include/pidvisor.h
 * says so).  Where the page cannot be had (mmap fails, or a sandbox
 * refuses the madvise), every check asks the kernel, as it always did.
 * The page lives as long as the process, as a pthread_once does.
 */
#define PID_PAGE_SIZE 4096

static pid_t *pid_page;         /* NULL: no page, ask the kernel each time */
static pthread_once_t pid_page_once = PTHREAD_ONCE_INIT;

static void pid_page_init(void)
{
        long p = sys_mmap(PID_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

        if (p < 0 && p > -4096)
                return;
        if (sys_madvise((void *)p, PID_PAGE_SIZE, MADV_WIPEONFORK) < 0) {
                (void)sys_munmap((void *)p, PID_PAGE_SIZE);
                return;
        }
        __atomic_store_n(&pid_page, (pid_t *)p, __ATOMIC_RELEASE);
}

pid_t pv__getpid(void)
{
        pid_t *page = __atomic_load_n(&pid_page, __ATOMIC_ACQUIRE);
        pid_t pid;

        if (unlikely(!page))
                return sys_getpid();
        /* Threads of one process all store the same value. */
        pid = __atomic_load_n(page, __ATOMIC_RELAXED);
        if (unlikely(pid == 0)) {
                pid = sys_getpid();
                __atomic_store_n(page, pid, __ATOMIC_RELAXED);
        }
        return pid;
}

static bool is_owner(pv_loop *l)
{
        if (unlikely(l->forked) || unlikely(pv__getpid() != l->owner_pid))
                l->forked = true;
        return !l->forked;
}

int pv__loop_check(pv_loop *l)
{
        if (unlikely(l->free_pending))
                return -ECANCELED;
        return is_owner(l) ? 0 : -ECHILD;
}

int pv__loop_add(pv_loop *l, struct pv__source *s, uint32_t events)
{
        int r;

        PV_RETRY(r, PV_FAULT(PV_FAULT_EPOLL_CTL, l->ops->add(l, s, events)));
        return r;
}

void pv__loop_del(pv_loop *l, struct pv__source *s)
{
        /* In a process forked since the loop was made, the epoll set (or
         * the ring, mapped shared) is the parent's too: a DEL here would
         * unwatch the parent's fd.  (Every path that closes outside a
         * dispatch or a spawn, which check first, runs pv__loop_check
         * before.) */
        if (!l->forked)
                l->ops->del(l, s);
}

void pv__loop_close(pv_loop *l, struct pv__source *s)
{
        if (s->fd < 0)
                return;
        pv__loop_del(l, s);
        sys_close(s->fd);
        s->fd = -1;
}

/* A forced backend or its -errno; AUTO: the preferred one, else epoll,
 * silently (io_uring refused by a sandbox, absent, disabled by sysctl). */
static int backend_init(pv_loop *l, int backend)
{
        int r;

        if (backend != PV_BACKEND_AUTO) {
                l->ops = backends[backend];
                return l->ops->init(l);
        }
        l->backend_auto = true;
        l->ops = backends[PV__BACKEND_PREFERRED];
        r = l->ops->init(l);
        if (r < 0 && l->ops != &pv__backend_epoll) {
                l->ops->done(l);        /* what the failed init made */
                l->ops = &pv__backend_epoll;
                r = l->ops->init(l);
        }
        return r;
}

PV_EXPORT int pv_loop_new(pv_loop **ret, const struct pv_loop_opts *opts)
{
        struct pv__features f;
        struct pv_loop_opts o;
        pv_loop *l;
        long stack;
        int r;

        return_if_invalid(ret, -EINVAL);
        r = pv__copy_opts(&o, sizeof(o), PV__LOOP_OPTS_SIZE_VER0, opts, opts ? opts->size : 0);
        if (r < 0)
                return r;
        return_if_invalid(o.mech >= 0 && o.mech < _PV_MECH_MAX, -EINVAL);
        return_if_invalid(o.backend >= 0 && o.backend < _PV_BACKEND_MAX, -EINVAL);

        pv__features_get(&f);
        if (!f.best_mech)
                /* No rung works: before Linux 5.4 (no waitid(P_PIDFD)) the
                 * kernel lacks pieces we need, or a sandbox refuses every
                 * clone we know, or resources ran out (EAGAIN, ENOMEM). */
                return pv__features_spawn_err(&f);
        if (o.mech && !f.mech_ok[o.mech]) {
                int e = f.mech_err[o.mech];
                /* Out of resources for now: say so; refused: not here. */
                return pv__features_transient(e) ? e : -EOPNOTSUPP;
        }

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->timer_fd = -1;
        l->timer_src.fd = -1;
        pv_list_init(&l->alive);
        pv_list_init(&l->dead);
        pv_list_init(&l->graveyard);
        l->mech = o.mech ? o.mech : f.best_mech;
        l->feat = f;
        (void)pthread_once(&pid_page_once, pid_page_init);
        l->owner_pid = pv__getpid();

        /* One guard page below the stack (it grows down): an overflow in
         * the child faults instead of writing over the parent's memory. */
        stack = sys_mmap(GUARD_SIZE + CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK);
        if (stack < 0 && stack > -4096) {
                r = (int)stack;
                goto fail;
        }
        l->child_stack_map = (void *)stack;
        r = sys_mprotect(l->child_stack_map, GUARD_SIZE, PROT_NONE);
        if (r < 0)
                goto fail;
        l->child_stack = (char *)stack + GUARD_SIZE;
        l->child_stack_size = CHILD_STACK_SIZE;
        l->read_buf_size = READ_BUF_SIZE;
        l->read_buf = malloc(l->read_buf_size);
        r = -ENOMEM;
        if (!l->read_buf)
                goto fail;
        r = backend_init(l, o.backend);
        if (r < 0)
                goto fail;
        r = pv__timers_init(l);
        if (r < 0)
                goto fail;
        *ret = l;
        return 0;
fail:
        pv_loop_free(l);
        return r;
}

/* Free what was released during a dispatch, now that no queued event can
 * point at it. */
static void bury(pv_loop *l)
{
        while (!pv_list_empty(&l->graveyard)) {
                struct pv_list *n = l->graveyard.next;
                pv_list_del(n);
                pv__child_free(pv__child_from_node(n));
        }
}

static void destroy(pv_loop *l)
{
        /* Kill everything first, then reap: the children die in parallel.
         * Not in a process forked since the loop was made: those children
         * are the parent's, and ours to forget, not to kill.  (waitid on
         * their pidfds then fails at once with ECHILD.) */
        if (is_owner(l))
                for (struct pv_list *n = l->alive.next; n != &l->alive; n = n->next)
                        pv__child_kill_now(pv__child_from_node(n));
        while (!pv_list_empty(&l->alive))
                pv__child_free(pv__child_from_node(l->alive.next));
        while (!pv_list_empty(&l->dead))
                pv__child_free(pv__child_from_node(l->dead.next));
        bury(l);
        pv__timers_done(l);
        if (l->ops)
                l->ops->done(l);        /* accepts a failed init */
        if (l->child_stack_map)
                sys_munmap(l->child_stack_map, GUARD_SIZE + CHILD_STACK_SIZE);
        free(l->read_buf);
        free(l);
}

PV_EXPORT void pv_loop_free(pv_loop *l)
{
        if (!l)
                return;
        if (l->dispatching)
                /* From a callback: the dispatch that runs it still holds
                 * the loop and may hold children; it frees them when it
                 * ends, and runs no callback meanwhile. */
                l->free_pending = true;
        else
                destroy(l);
}

PV_EXPORT int pv_loop_fd(const pv_loop *l)
{
        return_if_invalid(l, -EINVAL);
        /* No system call: the pid page (is_owner's test, without marking
         * the const loop). */
        return l->ops->fd(l, !l->forked && pv__getpid() == l->owner_pid);
}

PV_EXPORT int pv_loop_dispatch(pv_loop *l, int timeout_ms)
{
        int r;

        return_if_invalid(l, -EINVAL);
        return_if_invalid(!l->dispatching, -EBUSY);
        r = pv__loop_check(l);
        if (r < 0)
                return r;
        l->dispatching++;
        r = l->ops->wait(l, timeout_ms < 0 ? -1 : timeout_ms);
        l->dispatching--;
        if (l->free_pending) {
                destroy(l);
                return -ECANCELED;
        }
        bury(l);
        return r;
}

PV_EXPORT int pv_loop_run(pv_loop *l)
{
        return_if_invalid(l, -EINVAL);
        while (l->n_alive > 0 || l->n_lingering > 0) {
                int r = pv_loop_dispatch(l, -1);
                if (r < 0)
                        return r;
        }
        return 0;
}

PV_EXPORT int pv_loop_mech(const pv_loop *l)
{
        return_if_invalid(l, -EINVAL);
        return l->mech;
}

PV_EXPORT int pv_loop_backend(const pv_loop *l)
{
        return_if_invalid(l, -EINVAL);
        return l->ops->id;
}

PV_EXPORT int pv_loop_count_unreaped(const pv_loop *l)
{
        return_if_invalid(l, -EINVAL);
        return (int)l->n_alive;
}
