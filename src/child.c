/* SPDX-License-Identifier: MIT */
/*
 * A child's life as the caller sees it: the public child calls, and the
 * lifetime of the object (the reference count documented in child.h).
 * The stop ladder is in ladder.c, the end in exit.c.
 */
#include <pidvisor.h>
#include <signal.h>
#include <stdlib.h>

#include "child.h"
#include "fault.h"
#include "loop.h"
#include "syscall.h"

#define DEFAULT_GRACE_MS 5000u

/* ---- lifetime -------------------------------------------------------- */

static void timer_fired(struct pv__timer *t)
{
        (void)pv__ladder_input(container_of(t, pv_child, timer), CHILD_IN_TIMER);
}

static void pidfd_ready(struct pv__source *s, uint32_t events)
{
        (void)events;
        (void)pv__ladder_input(container_of(s, pv_child, pidfd), CHILD_IN_PIDFD);
}

pv_child *pv__child_new(pv_loop *l, const struct pv_spawn_opts *o)
{
        pv_child *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->loop = l;
        pv_list_init(&c->node);
        c->state = CHILD_RUNNING;
        c->pidfd.fd = -1;
        c->pidfd.cb = pidfd_ready;
        c->tree_src.fd = -1;
        c->cgroup_fd = -1;
        c->spawn_flags = o->flags;
        c->grace_ns = (uint64_t)(o->grace_ms ? o->grace_ms : DEFAULT_GRACE_MS) * 1000000u;
        c->linger_ns = (uint64_t)o->linger_ms * 1000000u;
        pv__timer_init(&c->timer, timer_fired);
        c->on_exit = o->on_exit;
        c->on_output = o->on_output;
        c->on_drain = o->on_drain;
        c->userdata = o->userdata;
        return c;
}

void pv__child_ref(pv_child *c)
{
        c->refs++;
}

void pv__child_unref(pv_child *c)
{
        assert(c->refs > 0);
        if (--c->refs > 0)
                return;
        if (c->loop->dispatching) {
                pv_list_del(&c->node);
                pv_list_add(&c->loop->graveyard, &c->node);
        } else {
                (void)pv__loop_check(c->loop); /* sets loop->forked */
                pv__child_free(c);
        }
}

void pv__child_kill_now(pv_child *c)
{
        int r;

        if (c->state == CHILD_TREE || c->state == CHILD_TREE_KILLED) {
                (void)pv__signal_tree(c, SIGKILL);      /* not waited for */
                return;
        }
        if (pv__child_gone(c))
                return;
        r = pv__signal_send(c, SIGKILL, true);
        /* Every way of signalling refused: waiting for it would be waiting
         * for ever. */
        c->unkillable = r < 0 && r != -ESRCH;
}

void pv__child_reap_blocking(pv_child *c)
{
        siginfo_t si;
        int r;

        PV_RETRY(r, sys_waitid(P_PIDFD, c->pidfd.fd, &si, WEXITED | __WALL, NULL));
        (void)r;
}

void pv__child_free(pv_child *c)
{
        pv_loop *l = c->loop;

        if (c->state != CHILD_EXITED) {
                /* An unkillable child is left running, and unreaped when it
                 * ends: the one thing worse is to hang here. */
                if (c->pidfd.fd >= 0 && !c->unkillable)
                        pv__child_reap_blocking(c);
                l->n_alive--;
        }
        if (c->lingering)
                l->n_lingering--;
        if (c->cgroup_fd >= 0)
                sys_close(c->cgroup_fd);
        pv__timer_disarm(l, &c->timer);
        pv__stdio_close(l, &c->io);
        pv__loop_close(l, &c->pidfd);
        pv__tree_close(c);
        pv_list_del(&c->node);
        l->n_children--;
        free(c);
}

/* Whether the caller still hears from this child: not once it released
 * it, nor once a callback freed the loop. */
bool pv__child_listens(const pv_child *c)
{
        return !c->released && !c->loop->free_pending;
}

void pv__child_output(pv_child *c, int fd, const char *data, size_t len, unsigned flags)
{
        if (c->on_output && pv__child_listens(c))
                c->on_output(c, fd, data, len, flags, c->userdata);
}

void pv__child_drained(pv_child *c)
{
        if (c->on_drain && pv__child_listens(c))
                c->on_drain(c, c->userdata);
}

/* ---- the public child API ------------------------------------------- */

PV_EXPORT int pv_child_stop(pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        return pv__ladder_input(c, CHILD_IN_STOP);
}

PV_EXPORT int pv_child_close_stdin(pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        return pv__stdio_close_stdin(c->loop, &c->io);
}

PV_EXPORT int pv_child_write(pv_child *c, const void *buf, size_t len)
{
        return_if_invalid(c && (buf || len == 0), -EINVAL);
        int r = pv__loop_check(c->loop);
        if (r < 0)
                return r;
        return pv__stdio_write(c->loop, &c->io, buf, len);
}

PV_EXPORT ssize_t pv_child_stdin_pending(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return (ssize_t)c->io.in.len;
}

PV_EXPORT int pv_child_stdio_fd(const pv_child *c, int fd)
{
        return_if_invalid(c && fd >= 0 && fd <= 2, -EINVAL);
        if (c->io.mode[fd] != PV_STDIO_PIPE_RAW || c->io.raw_fd[fd] < 0)
                return -ENOTCONN;
        return c->io.raw_fd[fd];
}

PV_EXPORT int pv_child_wait(pv_child *c, int timeout_ms, struct pv_exit *ret)
{
        pv_loop *l;
        uint64_t deadline;
        int r = 0;

        return_if_invalid(c, -EINVAL);
        l = c->loop;
        return_if_invalid(!l->dispatching || c->state == CHILD_EXITED, -EBUSY);
        deadline = timeout_ms < 0 ? UINT64_MAX : pv__now_ns() + (uint64_t)timeout_ms * 1000000u;

        pv__child_ref(c);       /* a callback may release c while we wait */
        while (c->state != CHILD_EXITED) {
                uint64_t now = pv__now_ns();
                int wait_ms = -1;

                /* Dispatch at least once, even with timeout 0: the exit may
                 * be waiting in the pidfd already. */
                if (deadline != UINT64_MAX)
                        /* Round up, so we do not wake just before it. */
                        wait_ms = now >= deadline ? 0
                                  : (int)((deadline - now + 999999u) / 1000000u);
                r = pv_loop_dispatch(l, wait_ms);
                if (r == -ECANCELED)
                        return r;       /* a callback freed the loop, and c */
                if (r < 0)
                        break;
                r = 0;
                if (c->state != CHILD_EXITED && wait_ms >= 0 && pv__now_ns() >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        if (r == 0 && ret)
                *ret = c->exit;
        pv__child_unref(c);
        return r;
}

PV_EXPORT pid_t pv_child_pid(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return c->pid;
}

PV_EXPORT int pv_child_pidfd(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return pv__child_gone(c) ? -ESRCH : c->pidfd.fd;
}

PV_EXPORT int pv_child_is_reaped(const pv_child *c)
{
        return_if_invalid(c, -EINVAL);
        return c->state == CHILD_EXITED;
}

PV_EXPORT int pv_child_get_exit(const pv_child *c, struct pv_exit *ret)
{
        return_if_invalid(c && ret, -EINVAL);
        if (c->state != CHILD_EXITED)
                return -EBUSY;
        *ret = c->exit;
        return 0;
}

PV_EXPORT void pv_child_release(pv_child *c)
{
        if (!c || !c->caller_ref)
                return;
        c->caller_ref = false;
        c->released = true;
        /* Nobody can write to it any more: EOF once the queue drains.
         * Not from a fork, whose pipes are the parent's. */
        if (!pv__child_gone(c) && c->io.mode[0] == PV_STDIO_PIPE && pv__loop_check(c->loop) == 0)
                (void)pv__stdio_close_stdin(c->loop, &c->io);
        /* Nobody listens to a lingering stream any more: end the linger
         * from the timer, not here (this may run inside that stream's own
         * callback, in the middle of its framing). */
        if (c->lingering)
                (void)pv__timer_arm(c->loop, &c->timer, 0);
        pv__child_unref(c);
}
