/* SPDX-License-Identifier: MIT */
/* src/ladder.c: the stop ladder's table, alone.  No process and no wall
 * time: ladder.c is compiled into this test with a recording signaller, fakes
 * for the exit and stdio sides, and the real timer heap (src/timer.c) on a
 * fake clock.  Every (state, event) cell is run once against an
 * expectation written here, independently of the table. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../src/child.h"
#include "../src/loop.h"
#include "../src/timer.h"
#include "fake-clock.h"

TestSuite(ladder, .timeout = 30);

/* ---- the fake world --------------------------------------------------- */


#define MAX_SENT 8
static struct {
        int sig[MAX_SENT];      /* signals sent, in order */
        bool tree[MAX_SENT];
        int n_sent;
        int refuse[65];         /* per signal: the -errno to answer, or 0 */
        bool exited;            /* the pidfd reads as exited */
        int collect;            /* what pv__exit_collect answers */
        int n_collect, n_stop_input, n_deliver, n_look, n_linger_end;
        int tree_sig[MAX_SENT]; /* signals sent to the tree after the reap */
        int n_tree_sent;
        int populated;          /* what pv__tree_populated answers */
        bool polled;            /* the tree must be polled */
        int n_park, n_watch, n_polls;
} w;

bool pv__signal_exited(const pv_child *c)
{
        (void)c;
        return w.exited;
}

int pv__signal_send(pv_child *c, int sig, bool tree)
{
        (void)c;
        if (w.refuse[sig])
                return w.refuse[sig];
        cr_assert_lt(w.n_sent, MAX_SENT);
        w.tree[w.n_sent] = tree;
        w.sig[w.n_sent++] = sig;
        return 0;
}

int pv__signal_tree(pv_child *c, int sig)
{
        (void)c;
        if (w.refuse[sig])
                return w.refuse[sig];
        cr_assert_lt(w.n_tree_sent, MAX_SENT);
        w.tree_sig[w.n_tree_sent++] = sig;
        return 0;
}

int pv__tree_populated(pv_child *c)
{
        (void)c;
        return w.populated;
}

void pv__tree_watch(pv_child *c)
{
        (void)c;
        w.n_watch++;
}

bool pv__tree_polled(const pv_child *c)
{
        (void)c;
        return w.polled;
}

#define POLL_NS 10000000ull
uint64_t pv__tree_next_poll(pv_child *c)
{
        (void)c;
        w.n_polls++;
        return fake_now + POLL_NS;
}

void pv__exit_park(pv_child *c)
{
        (void)c;
        w.n_park++;
}

void pv__stdio_stop_input(pv_loop *l, struct pv__stdio *io)
{
        (void)l; (void)io;
        w.n_stop_input++;
}

int pv__exit_collect(pv_child *c)
{
        (void)c;
        w.n_collect++;
        return w.collect;
}

void pv__exit_deliver(pv_child *c)
{
        cr_assert_eq(c->state, CHILD_EXITED, "deliver runs in EXITED (its callbacks see it)");
        w.n_deliver++;
}

int pv__exit_look_again(pv_child *c)
{
        cr_assert_eq(c->state, CHILD_EXITING);
        w.n_look++;
        return 0;
}

void pv__exit_linger_end(pv_child *c)
{
        (void)c;
        w.n_linger_end++;
}

#define GRACE_NS (5000ull * 1000000u)
#define KILL_RETRY 1000000000ull
#define T0 (1000ull * 1000000000u)

static pv_loop loop;
static pv_child child;

static void on_timer(struct pv__timer *t)
{
        (void)pv__ladder_input(container_of(t, pv_child, timer), CHILD_IN_TIMER);
}

static void setup(void)
{
        memset(&w, 0, sizeof(w));
        memset(&loop, 0, sizeof(loop));
        memset(&child, 0, sizeof(child));
        loop.timer_fd = -1;
        cr_assert_eq(pv__timers_init(&loop), 0);
        cr_assert_eq(pv__timers_reserve(&loop, 4), 0);
        child.loop = &loop;
        child.grace_ns = GRACE_NS;
        child.pidfd.fd = -1;
        child.cgroup_fd = -1;
        pv__timer_init(&child.timer, on_timer);
        fake_now = T0;
}

static void teardown(void)
{
        pv__timers_done(&loop);
}

static bool armed_at(uint64_t when)
{
        return child.timer.idx != PV_TIMER_IDLE && child.timer.when_ns == when;
}

/* ---- every cell ------------------------------------------------------- */

enum {
        A_NOP, A_END_INPUT, A_TERM, A_DEADLINE, A_KILL, A_DELIVER, A_LOOK, A_LINGER_END,
        A_TREE_TERM, A_TREE_GRACED, A_TREE_KILLED, A_TREE_KILL, A_TREE_POLL
};

struct expect {
        int action;
        int next;
};

#define ROW(stop, dead, timer, reaped, tree, pending, empty, poll) {                         \
        [LADDER_STOP] = stop, [LADDER_STOP_DEAD] = dead, [LADDER_TIMER] = timer,               \
        [LADDER_REAPED] = reaped, [LADDER_REAPED_TREE] = tree, [LADDER_PENDING] = pending,     \
        [LADDER_TREE_EMPTY] = empty, [LADDER_TREE_POLL] = poll }
#define X(a, n) { A_##a, CHILD_##n }

static const struct expect expected[_CHILD_STATE_MAX][_LADDER_MAX] = {
        [CHILD_RUNNING] = ROW(X(TERM, STOPPING), X(END_INPUT, RUNNING), X(DEADLINE, STOPPING),
                              X(DELIVER, EXITED), X(TREE_TERM, TREE), X(LOOK, EXITING),
                              X(NOP, RUNNING), X(NOP, RUNNING)),
        [CHILD_STOPPING] = ROW(X(NOP, STOPPING), X(NOP, STOPPING), X(KILL, KILLED),
                               X(DELIVER, EXITED), X(TREE_GRACED, TREE), X(LOOK, EXITING),
                               X(NOP, STOPPING), X(NOP, STOPPING)),
        [CHILD_KILLED] = ROW(X(NOP, KILLED), X(NOP, KILLED), X(NOP, KILLED),
                             X(DELIVER, EXITED), X(TREE_KILLED, TREE_KILLED), X(LOOK, EXITING),
                             X(NOP, KILLED), X(NOP, KILLED)),
        [CHILD_EXITING] = ROW(X(END_INPUT, EXITING), X(END_INPUT, EXITING), X(NOP, EXITING),
                              X(DELIVER, EXITED), X(TREE_TERM, TREE), X(LOOK, EXITING),
                              X(NOP, EXITING), X(NOP, EXITING)),
        [CHILD_TREE] = ROW(X(NOP, TREE), X(NOP, TREE), X(TREE_KILL, TREE_KILLED),
                           X(NOP, TREE), X(NOP, TREE), X(NOP, TREE),
                           X(DELIVER, EXITED), X(TREE_POLL, TREE)),
        [CHILD_TREE_KILLED] = ROW(X(NOP, TREE_KILLED), X(NOP, TREE_KILLED), X(NOP, TREE_KILLED),
                                  X(NOP, TREE_KILLED), X(NOP, TREE_KILLED), X(NOP, TREE_KILLED),
                                  X(DELIVER, EXITED), X(TREE_POLL, TREE_KILLED)),
        [CHILD_EXITED] = ROW(X(NOP, EXITED), X(NOP, EXITED), X(LINGER_END, EXITED),
                             X(NOP, EXITED), X(NOP, EXITED), X(NOP, EXITED),
                             X(NOP, EXITED), X(NOP, EXITED)),
};

/* Where a cell test starts from: a grace timer that a STOPPING child had
 * running, and a tree grace that a TREE child had. */
#define GRACE_WAS (T0 + 123)
#define TREE_GRACE_WAS (T0 + 777)

/* What each action leaves behind, seen from outside. */
static void check_action(int state, int ev, int action)
{
        const unsigned stop = PV_EXIT_F_STOPPED, esc = PV_EXIT_F_ESCALATED;
        const unsigned left = PV_EXIT_F_TREE_LEFT, tkill = PV_EXIT_F_TREE_KILLED;
        bool entered = action == A_TREE_TERM || action == A_TREE_GRACED ||
                       action == A_TREE_KILLED;
        int sent = w.n_sent, tsent = w.n_tree_sent;

        cr_assert_eq(w.n_deliver, action == A_DELIVER, "cell %d/%d: deliver", state, ev);
        cr_assert_eq(w.n_look, action == A_LOOK, "cell %d/%d: look again", state, ev);
        cr_assert_eq(w.n_linger_end, action == A_LINGER_END, "cell %d/%d: linger", state, ev);
        cr_assert_eq(w.n_stop_input,
                     action == A_END_INPUT || action == A_TERM || action == A_DEADLINE ||
                     action == A_TREE_TERM,
                     "cell %d/%d: input ended", state, ev);
        cr_assert_eq(w.n_park, entered, "cell %d/%d: pidfd parked", state, ev);
        cr_assert_eq(w.n_watch, entered, "cell %d/%d: tree watched", state, ev);
        cr_assert_eq(w.n_collect, 0, "the table itself never collects");
        cr_assert_eq(w.n_polls, 0, "a watched tree is not polled");
        switch (action) {
        case A_TERM:
        case A_DEADLINE:
                cr_assert_eq(sent, 2, "cell %d/%d: SIGTERM + SIGCONT", state, ev);
                cr_assert(w.sig[0] == SIGTERM && w.sig[1] == SIGCONT && w.tree[0] && w.tree[1]);
                cr_assert_eq(tsent, 0);
                cr_assert_eq(child.exit_flags,
                             stop | (action == A_DEADLINE ? PV_EXIT_F_DEADLINE : 0u));
                cr_assert(armed_at(T0 + GRACE_NS), "grace timer at now + grace");
                break;
        case A_KILL:
                cr_assert_eq(sent, 1);
                cr_assert(w.sig[0] == SIGKILL && w.tree[0], "SIGKILL to the tree");
                cr_assert_eq(child.exit_flags, stop | esc);
                break;
        case A_TREE_TERM:
                cr_assert_eq(sent, 0, "the child is reaped: only its tree is signalled");
                cr_assert(tsent == 2 && w.tree_sig[0] == SIGTERM && w.tree_sig[1] == SIGCONT);
                cr_assert_eq(child.exit_flags, left);
                cr_assert(armed_at(T0 + GRACE_NS), "a full grace for the tree");
                break;
        case A_TREE_GRACED:
                cr_assert_eq(sent + tsent, 0, "SIGTERM went to the tree already");
                cr_assert_eq(child.exit_flags, left);
                cr_assert(armed_at(GRACE_WAS), "the rest of the child's grace");
                break;
        case A_TREE_KILLED:
                /* Through TREE (grace over) to the tree's own SIGKILL. */
                cr_assert(sent == 0 && tsent == 1 && w.tree_sig[0] == SIGKILL,
                          "the tree outlived the ladder's SIGKILL: its own");
                cr_assert_eq(child.exit_flags, left | tkill);
                cr_assert(armed_at(T0 + KILL_RETRY), "SIGKILL again in a second");
                break;
        case A_TREE_KILL:
                cr_assert(sent == 0 && tsent == 1 && w.tree_sig[0] == SIGKILL);
                cr_assert_eq(child.exit_flags, tkill);
                cr_assert(armed_at(T0 + KILL_RETRY), "SIGKILL again in a second");
                break;
        case A_TREE_POLL:
                cr_assert_eq(sent, 0);
                cr_assert_eq(child.exit_flags, 0u);
                if (state == CHILD_TREE) {
                        cr_assert_eq(tsent, 0);
                        cr_assert(armed_at(TREE_GRACE_WAS), "the grace goes on");
                } else {
                        cr_assert(tsent == 1 && w.tree_sig[0] == SIGKILL, "SIGKILL again");
                        cr_assert(armed_at(T0 + KILL_RETRY));
                }
                break;
        default:
                cr_assert_eq(sent + tsent, 0, "cell %d/%d: no signal", state, ev);
                cr_assert_eq(child.exit_flags, 0u, "cell %d/%d: no flag", state, ev);
                cr_assert(child.timer.idx == PV_TIMER_IDLE, "cell %d/%d: no timer", state, ev);
                break;
        }
}

Test(ladder, every_cell)
{
        int cells = 0;

        for (int s = 0; s < _CHILD_STATE_MAX; s++) {
                for (int ev = 0; ev < _LADDER_MAX; ev++) {
                        const struct expect *x = &expected[s][ev];

                        setup();
                        child.state = s;
                        child.timer.when_ns = GRACE_WAS;
                        child.tree_grace_end_ns = TREE_GRACE_WAS;
                        cr_assert_eq(pv__ladder_run(&child, ev), 0, "cell %d/%d", s, ev);
                        cr_assert_eq(child.state, x->next, "cell %d/%d: state %d, want %d", s,
                                     ev, child.state, x->next);
                        check_action(s, ev, x->action);
                        teardown();
                        cells++;
                }
        }
        cr_assert_eq(cells, _CHILD_STATE_MAX * _LADDER_MAX);
        cr_assert_eq(cells, 56);
}

/* ---- failures, follow-ups and the clock ------------------------------- */

/* A SIGTERM that cannot be sent: pv_child_stop gets the error, and nothing
 * changed but the input (which a stop always ends). */
Test(ladder, stop_refused, .init = setup, .fini = teardown)
{
        w.refuse[SIGTERM] = -EPERM;
        cr_assert_eq(pv__ladder_run(&child, LADDER_STOP), -EPERM);
        cr_assert_eq(child.state, CHILD_RUNNING);
        cr_assert_eq(child.exit_flags, 0u);
        cr_assert_eq(w.n_sent, 0);
        cr_assert(child.timer.idx == PV_TIMER_IDLE);
        cr_assert_eq(w.n_stop_input, 1);
}

/* A deadline whose SIGTERM is refused escalates at once (nobody to report
 * to); where SIGKILL is refused too, it stays STOPPING and tries again
 * every second, never recording a SIGKILL it did not send. */
Test(ladder, deadline_escalates_and_retries, .init = setup, .fini = teardown)
{
        w.refuse[SIGTERM] = -EPERM;
        w.refuse[SIGKILL] = -EPERM;
        cr_assert_eq(pv__ladder_run(&child, LADDER_TIMER), 0);
        cr_assert_eq(child.state, CHILD_STOPPING);
        cr_assert_eq(child.exit_flags, PV_EXIT_F_DEADLINE);
        cr_assert(armed_at(T0 + 1000000000ull), "SIGKILL retried in a second");
        cr_assert_eq(w.n_sent, 0);

        /* A second later, still refused: again. */
        fake_now = T0 + 1000000000ull;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_STOPPING);
        cr_assert(armed_at(fake_now + 1000000000ull));
        /* Then allowed. */
        w.refuse[SIGKILL] = 0;
        fake_now += 1000000000ull;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_KILLED);
        cr_assert_eq(w.n_sent, 1);
        cr_assert_eq(w.sig[0], SIGKILL);
        cr_assert_eq(child.exit_flags,
                     PV_EXIT_F_DEADLINE | PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED);
}

/* No grace timer (the timerfd broke): a grace of zero, as a follow-up
 * event through the table, not an action calling an action. */
Test(ladder, no_grace_timer_escalates_now, .init = setup, .fini = teardown)
{
        int fd = loop.timer_fd;

        loop.timer_fd = -1;     /* settime fails: EBADF */
        cr_assert_eq(pv__ladder_run(&child, LADDER_STOP), 0);
        loop.timer_fd = fd;
        cr_assert_eq(child.state, CHILD_KILLED);
        cr_assert_eq(w.n_sent, 3);
        cr_assert(w.sig[0] == SIGTERM && w.sig[1] == SIGCONT && w.sig[2] == SIGKILL);
        cr_assert_eq(child.exit_flags, PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED);
}

/* The grace is honoured on the clock: no SIGKILL a nanosecond early. */
Test(ladder, grace_on_the_clock, .init = setup, .fini = teardown)
{
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_STOP), 0);
        cr_assert_eq(child.state, CHILD_STOPPING);
        fake_now = T0 + GRACE_NS - 1;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_STOPPING);
        cr_assert_eq(w.n_sent, 2);
        fake_now = T0 + GRACE_NS;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_KILLED);
        cr_assert_eq(w.sig[2], SIGKILL);
        /* A second stop changes nothing. */
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_STOP), 0);
        cr_assert_eq(w.n_sent, 3);
}

/* The grace ran out while the child was already dead, its pidfd event
 * queued behind the timer: normalised to an exit, collected, delivered;
 * no SIGKILL, no ESCALATED. */
Test(ladder, timer_after_death_is_an_exit, .init = setup, .fini = teardown)
{
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_STOP), 0);
        w.exited = true;
        w.collect = COLLECT_REAPED;
        fake_now = T0 + GRACE_NS;
        pv__timers_run(&loop);
        cr_assert_eq(w.n_collect, 1);
        cr_assert_eq(w.n_deliver, 1);
        cr_assert_eq(child.state, CHILD_EXITED);
        cr_assert_eq(w.n_sent, 2, "no SIGKILL to a dead child");
        cr_assert_eq(child.exit_flags, PV_EXIT_F_STOPPED);
}

/* A stop of a child that is dead but not yet collected ends its input and
 * sends nothing: not a stop (no STOPPED), and not a collect (a stop may
 * come from outside a dispatch, where no callback may run). */
Test(ladder, stop_after_death, .init = setup, .fini = teardown)
{
        w.exited = true;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_STOP), 0);
        cr_assert_eq(child.state, CHILD_RUNNING);
        cr_assert_eq(w.n_sent, 0);
        cr_assert_eq(w.n_collect, 0);
        cr_assert_eq(w.n_stop_input, 1);
        cr_assert_eq(child.exit_flags, 0u);
}

/* The pidfd: collected on entry; a status not yet ours looks again; the
 * look's timer collects again; a stale event after the exit does nothing. */
Test(ladder, pidfd_and_looks, .init = setup, .fini = teardown)
{
        w.collect = COLLECT_PENDING;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_PIDFD), 0);
        cr_assert_eq(child.state, CHILD_EXITING);
        cr_assert_eq(w.n_look, 1);
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_TIMER), 0);
        cr_assert_eq(w.n_collect, 2);
        cr_assert_eq(w.n_look, 2);
        w.collect = COLLECT_REAPED;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_TIMER), 0);
        cr_assert_eq(child.state, CHILD_EXITED);
        cr_assert_eq(w.n_deliver, 1);
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_PIDFD), 0);
        cr_assert_eq(w.n_collect, 3, "a stale pidfd event collects nothing");
        cr_assert_eq(w.n_deliver, 1);
        /* EXITED's timer is the linger's end. */
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_TIMER), 0);
        cr_assert_eq(w.n_linger_end, 1);
}

/* SIGKILL found the child already gone (ESRCH): KILLED, nothing recorded;
 * the pidfd will tell. */
Test(ladder, kill_finds_it_gone, .init = setup, .fini = teardown)
{
        child.state = CHILD_STOPPING;
        w.refuse[SIGKILL] = -ESRCH;
        cr_assert_eq(pv__ladder_run(&child, LADDER_TIMER), 0);
        cr_assert_eq(child.state, CHILD_KILLED);
        cr_assert_eq(child.exit_flags & PV_EXIT_F_ESCALATED, 0u);
}

/* ESCALATED means the SIGKILL ended it: not when the child was already
 * dying of SIGTERM (or exiting) when the grace ran out. */
Test(ladder, escalated_only_when_sigkill_ended_it)
{
        const unsigned sent = PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED;
        struct pv_exit by_term = { .kind = PV_EXIT_KILLED, .signal = SIGTERM };
        struct pv_exit by_kill = { .kind = PV_EXIT_KILLED, .signal = SIGKILL };
        struct pv_exit exited = { .kind = PV_EXIT_EXITED, .code = 0 };
        struct pv_exit lost = { .kind = PV_EXIT_LOST };

        cr_assert_eq(pv__ladder_exit_flags(sent, &by_term), PV_EXIT_F_STOPPED);
        cr_assert_eq(pv__ladder_exit_flags(sent, &exited), PV_EXIT_F_STOPPED);
        cr_assert_eq(pv__ladder_exit_flags(sent, &by_kill), sent);
        cr_assert_eq(pv__ladder_exit_flags(sent, &lost), sent, "a lost status cannot say");
        cr_assert_eq(pv__ladder_exit_flags(PV_EXIT_F_STOPPED, &by_kill), PV_EXIT_F_STOPPED,
                     "a SIGKILL from someone else is not an escalation");
}

/* The child went between the look at its pidfd and the SIGTERM (ESRCH):
 * still a stop (its EOF may be what ended it), no SIGCONT to a dead child,
 * and the grace timer armed all the same. */
Test(ladder, term_finds_it_gone, .init = setup, .fini = teardown)
{
        w.refuse[SIGTERM] = -ESRCH;
        cr_assert_eq(pv__ladder_run(&child, LADDER_STOP), 0);
        cr_assert_eq(child.state, CHILD_STOPPING);
        cr_assert_eq(w.n_sent, 0, "no SIGCONT after ESRCH");
        cr_assert_eq(child.exit_flags, PV_EXIT_F_STOPPED);
        cr_assert(armed_at(T0 + GRACE_NS));
}

/* PV_SPAWN_F_TREE, a process group (polled): the child ends by itself and
 * leaves a descendant.  The tree gets SIGTERM + SIGCONT, is polled while
 * the grace runs (never past its end), gets SIGKILL at its end, and the
 * exit is delivered at the first poll that finds it empty. */
Test(ladder, tree_polled_full_ladder, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_NEW_PGRP | PV_SPAWN_F_TREE;
        w.polled = true;
        w.populated = 1;
        w.collect = COLLECT_REAPED;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_PIDFD), 0);
        cr_assert_eq(child.state, CHILD_TREE);
        cr_assert_eq(w.n_deliver, 0, "no exit while the tree lives");
        cr_assert(w.n_tree_sent == 2 && w.tree_sig[0] == SIGTERM);
        cr_assert(armed_at(T0 + POLL_NS), "first poll");
        while (fake_now < T0 + GRACE_NS) {
                fake_now = child.timer.when_ns;
                pv__timers_run(&loop);
                if (child.state != CHILD_TREE)
                        break;
                cr_assert_leq(child.timer.when_ns, T0 + GRACE_NS,
                              "a poll never runs past the grace");
        }
        cr_assert_eq(fake_now, T0 + GRACE_NS, "SIGKILL at the grace's end, not before");
        cr_assert_eq(child.state, CHILD_TREE_KILLED);
        cr_assert(w.n_tree_sent == 3 && w.tree_sig[2] == SIGKILL);
        cr_assert(armed_at(T0 + GRACE_NS + POLL_NS), "polled on after the SIGKILL");
        fake_now = child.timer.when_ns;
        pv__timers_run(&loop);
        cr_assert(w.n_tree_sent == 4 && w.tree_sig[3] == SIGKILL, "SIGKILL at each poll");
        w.populated = 0;
        fake_now = child.timer.when_ns;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_EXITED);
        cr_assert_eq(w.n_deliver, 1);
        cr_assert_eq(child.exit_flags, PV_EXIT_F_TREE_LEFT | PV_EXIT_F_TREE_KILLED);
}

/* A cgroup tree (watched, not polled): its cgroup.events news decides;
 * a change that leaves it populated does nothing. */
Test(ladder, tree_watched_empties, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_CGROUP | PV_SPAWN_F_TREE;
        w.populated = 1;
        w.collect = COLLECT_REAPED;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_PIDFD), 0);
        cr_assert_eq(child.state, CHILD_TREE);
        cr_assert(armed_at(T0 + GRACE_NS), "only the grace is timed");
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_TREE), 0);
        cr_assert_eq(child.state, CHILD_TREE);
        w.populated = 0;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_TREE), 0);
        cr_assert_eq(child.state, CHILD_EXITED);
        cr_assert_eq(w.n_deliver, 1);
        cr_assert_eq(w.n_polls, 0);
        cr_assert_eq(child.exit_flags, PV_EXIT_F_TREE_LEFT);
}

/* Stopped, the child goes during the grace, its tree does not: the tree
 * has what is left of the same grace, no second SIGTERM. */
Test(ladder, tree_keeps_the_grace, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_NEW_SESSION | PV_SPAWN_F_TREE;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_STOP), 0);
        fake_now = T0 + GRACE_NS / 2;
        w.populated = 1;
        w.collect = COLLECT_REAPED;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_PIDFD), 0);
        cr_assert_eq(child.state, CHILD_TREE);
        cr_assert_eq(w.n_tree_sent, 0);
        cr_assert(armed_at(T0 + GRACE_NS));
        fake_now = T0 + GRACE_NS;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_TREE_KILLED);
        cr_assert_eq(w.tree_sig[0], SIGKILL);
        cr_assert_eq(child.exit_flags,
                     PV_EXIT_F_STOPPED | PV_EXIT_F_TREE_LEFT | PV_EXIT_F_TREE_KILLED);
}

/* Without PV_SPAWN_F_TREE a populated group is not waited for. */
Test(ladder, no_tree_flag_no_wait, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_NEW_PGRP;
        w.populated = 1;
        w.collect = COLLECT_REAPED;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_PIDFD), 0);
        cr_assert_eq(child.state, CHILD_EXITED);
}

/* The tree's SIGKILL finds nobody left (ESRCH): nothing was killed, so
 * TREE_KILLED is not said. */
Test(ladder, tree_kill_finds_it_gone, .init = setup, .fini = teardown)
{
        child.state = CHILD_TREE;
        w.refuse[SIGKILL] = -ESRCH;
        cr_assert_eq(pv__ladder_run(&child, LADDER_TIMER), 0);
        cr_assert_eq(child.state, CHILD_TREE_KILLED);
        cr_assert_eq(child.exit_flags & PV_EXIT_F_TREE_KILLED, 0u);
}

/* The ladder's SIGKILL went out but the tree outlived it (not reached:
 * cgroup.kill could not be written, say): the tree gets SIGKILL of its own;
 * where that is refused, it is not recorded and is tried again every
 * second until sent. */
Test(ladder, tree_outlives_the_kill, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_CGROUP | PV_SPAWN_F_TREE;
        child.state = CHILD_KILLED;
        child.exit_flags = PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED;
        w.refuse[SIGKILL] = -EMFILE;
        cr_assert_eq(pv__ladder_run(&child, LADDER_REAPED_TREE), 0);
        cr_assert_eq(child.state, CHILD_TREE);
        cr_assert_eq(child.exit_flags & PV_EXIT_F_TREE_KILLED, 0u, "not sent, not recorded");
        cr_assert(armed_at(T0 + KILL_RETRY));
        w.populated = 1;
        w.refuse[SIGKILL] = 0;
        fake_now = T0 + KILL_RETRY;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_TREE_KILLED);
        cr_assert(w.n_tree_sent == 1 && w.tree_sig[0] == SIGKILL);
        cr_assert(child.exit_flags & PV_EXIT_F_TREE_KILLED);
        /* A second later, still populated: SIGKILL again. */
        fake_now += KILL_RETRY;
        pv__timers_run(&loop);
        cr_assert_eq(w.n_tree_sent, 2);
        w.populated = 0;
        fake_now += KILL_RETRY;
        pv__timers_run(&loop);
        cr_assert_eq(child.state, CHILD_EXITED);
        cr_assert_eq(w.n_deliver, 1);
}

/* A tree whose events fd was dropped (a read failed) is polled: its news
 * in the loop asks for a poll instead of waiting for an event that will
 * not come. */
Test(ladder, tree_news_without_events_fd_polls, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_CGROUP | PV_SPAWN_F_TREE;
        child.state = CHILD_TREE;
        child.tree_grace_end_ns = T0 + GRACE_NS;
        w.populated = 1;
        w.polled = true;
        cr_assert_eq(pv__ladder_input(&child, CHILD_IN_TREE), 0);
        cr_assert_eq(w.n_polls, 1);
        cr_assert(armed_at(T0 + POLL_NS));
}

/* The tree's SIGTERM cannot be sent: a grace of zero, straight to its
 * SIGKILL (nobody to report the failure to, as for a deadline). */
Test(ladder, tree_term_refused_escalates, .init = setup, .fini = teardown)
{
        child.spawn_flags = PV_SPAWN_F_NEW_PGRP | PV_SPAWN_F_TREE;
        w.refuse[SIGTERM] = -EMFILE;
        cr_assert_eq(pv__ladder_run(&child, LADDER_REAPED_TREE), 0);
        cr_assert_eq(child.state, CHILD_TREE_KILLED);
        cr_assert(w.n_tree_sent == 1 && w.tree_sig[0] == SIGKILL);
        cr_assert_eq(child.exit_flags, PV_EXIT_F_TREE_LEFT | PV_EXIT_F_TREE_KILLED);
}
