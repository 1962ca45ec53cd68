/* SPDX-License-Identifier: MIT */
/*
 * The stop ladder: a child's states and what moves it between them.
 *
 * The table is the truth, as s6-supervise writes its state machine: each
 * cell of table[state][event] names its action and its next state, every
 * cell is filled (nop where nothing happens), and no action calls another.
 * What happened is normalised before any action runs: a readable pidfd is
 * an exit, whatever asked (a stop, a timer), and an exit is collected
 * (waitid) then, so the table sees either "reaped" or "dead, status
 * pending".  An action that needs the ladder to go on at once (a grace
 * timer that cannot be armed is a grace of zero) raises a follow-up event
 * instead of calling the next action.
 *
 * The next state is entered before the action runs, so the callbacks an
 * action runs (deliver's) see it; an action that fails puts the state back
 * and its error goes to whoever asked (pv_child_stop()).
 *
 * tests/test-ladder.c runs every cell alone, with a recording signaller in
 * place of signal.c's and a fake clock.
 */
#include <pidvisor.h>
#include <signal.h>

#include "child.h"
#include "loop.h"

/* A SIGKILL that could not be sent (every way of signalling refused) is
 * tried again this often, never recorded as sent. */
#define KILL_RETRY_NS (1000u * 1000000u)


typedef int (*ladder_action)(pv_child *c, int *then);

struct cell {
        ladder_action action;
        int next;          /* enum pv__child_state */
};

static int act_nop(pv_child *c, int *then);
static int act_end_input(pv_child *c, int *then);
static int act_term(pv_child *c, int *then);
static int act_deadline(pv_child *c, int *then);
static int act_kill(pv_child *c, int *then);
static int act_deliver(pv_child *c, int *then);
static int act_look_again(pv_child *c, int *then);
static int act_linger_end(pv_child *c, int *then);
static int act_tree_term(pv_child *c, int *then);
static int act_tree_graced(pv_child *c, int *then);
static int act_tree_killed(pv_child *c, int *then);
static int act_tree_kill(pv_child *c, int *then);
static int act_tree_poll(pv_child *c, int *then);

#define CELL(a, n) { act_##a, CHILD_##n }

static const struct cell table[_CHILD_STATE_MAX][_LADDER_MAX] = {
        [CHILD_RUNNING] = {
                [LADDER_STOP]        = CELL(term,        STOPPING),
                [LADDER_STOP_DEAD]   = CELL(end_input,   RUNNING),
                [LADDER_TIMER]       = CELL(deadline,    STOPPING), /* the run deadline */
                [LADDER_REAPED]      = CELL(deliver,     EXITED),
                [LADDER_REAPED_TREE] = CELL(tree_term,   TREE),
                [LADDER_PENDING]     = CELL(look_again,  EXITING),
                [LADDER_TREE_EMPTY]  = CELL(nop,         RUNNING),
                [LADDER_TREE_POLL]   = CELL(nop,         RUNNING),
        },
        [CHILD_STOPPING] = {
                [LADDER_STOP]        = CELL(nop,         STOPPING), /* idempotent */
                [LADDER_STOP_DEAD]   = CELL(nop,         STOPPING),
                [LADDER_TIMER]       = CELL(kill,        KILLED),   /* grace is over */
                [LADDER_REAPED]      = CELL(deliver,     EXITED),
                [LADDER_REAPED_TREE] = CELL(tree_graced, TREE),     /* same grace */
                [LADDER_PENDING]     = CELL(look_again,  EXITING),
                [LADDER_TREE_EMPTY]  = CELL(nop,         STOPPING),
                [LADDER_TREE_POLL]   = CELL(nop,         STOPPING),
        },
        [CHILD_KILLED] = {
                [LADDER_STOP]        = CELL(nop,         KILLED),
                [LADDER_STOP_DEAD]   = CELL(nop,         KILLED),
                [LADDER_TIMER]       = CELL(nop,         KILLED),   /* no timer here */
                [LADDER_REAPED]      = CELL(deliver,     EXITED),
                [LADDER_REAPED_TREE] = CELL(tree_killed, TREE),     /* grace over */
                [LADDER_PENDING]     = CELL(look_again,  EXITING),
                [LADDER_TREE_EMPTY]  = CELL(nop,         KILLED),
                [LADDER_TREE_POLL]   = CELL(nop,         KILLED),
        },
        [CHILD_EXITING] = {
                /* A stop of a dead child only ends its input.  Its timer
                 * is a look, normalised to REAPED or PENDING. */
                [LADDER_STOP]        = CELL(end_input,   EXITING),
                [LADDER_STOP_DEAD]   = CELL(end_input,   EXITING),
                [LADDER_TIMER]       = CELL(nop,         EXITING),
                [LADDER_REAPED]      = CELL(deliver,     EXITED),
                [LADDER_REAPED_TREE] = CELL(tree_term,   TREE),
                [LADDER_PENDING]     = CELL(look_again,  EXITING),
                [LADDER_TREE_EMPTY]  = CELL(nop,         EXITING),
                [LADDER_TREE_POLL]   = CELL(nop,         EXITING),
        },
        [CHILD_TREE] = {
                /* SIGTERM went to the tree already. */
                [LADDER_STOP]        = CELL(nop,         TREE),
                [LADDER_STOP_DEAD]   = CELL(nop,         TREE),
                [LADDER_TIMER]       = CELL(tree_kill,   TREE_KILLED), /* grace over */
                [LADDER_REAPED]      = CELL(nop,         TREE),     /* reaped already */
                [LADDER_REAPED_TREE] = CELL(nop,         TREE),
                [LADDER_PENDING]     = CELL(nop,         TREE),
                [LADDER_TREE_EMPTY]  = CELL(deliver,     EXITED),
                [LADDER_TREE_POLL]   = CELL(tree_poll,   TREE),
        },
        [CHILD_TREE_KILLED] = {
                [LADDER_STOP]        = CELL(nop,         TREE_KILLED),
                [LADDER_STOP_DEAD]   = CELL(nop,         TREE_KILLED),
                [LADDER_TIMER]       = CELL(nop,         TREE_KILLED),
                [LADDER_REAPED]      = CELL(nop,         TREE_KILLED),
                [LADDER_REAPED_TREE] = CELL(nop,         TREE_KILLED),
                [LADDER_PENDING]     = CELL(nop,         TREE_KILLED),
                [LADDER_TREE_EMPTY]  = CELL(deliver,     EXITED),
                [LADDER_TREE_POLL]   = CELL(tree_poll,   TREE_KILLED),
        },
        [CHILD_EXITED] = {
                [LADDER_STOP]        = CELL(nop,         EXITED),
                [LADDER_STOP_DEAD]   = CELL(nop,         EXITED),
                [LADDER_TIMER]       = CELL(linger_end,  EXITED),
                [LADDER_REAPED]      = CELL(nop,         EXITED),   /* pidfd closed */
                [LADDER_REAPED_TREE] = CELL(nop,         EXITED),
                [LADDER_PENDING]     = CELL(nop,         EXITED),
                [LADDER_TREE_EMPTY]  = CELL(nop,         EXITED),
                [LADDER_TREE_POLL]   = CELL(nop,         EXITED),
        },
};

/* ---- actions ---------------------------------------------------------- */

static int act_nop(pv_child *c, int *then)
{
        (void)c;
        (void)then;
        return 0;
}

/* The first rung, and all that is left to do for a dead child. */
static int act_end_input(pv_child *c, int *then)
{
        (void)then;
        pv__stdio_stop_input(c->loop, &c->io);
        return 0;
}

/* SIGTERM (then SIGCONT: a stopped child cannot act on SIGTERM until
 * continued) to the tree, and the grace timer.  -errno when the SIGTERM
 * could not be sent. */
static int term(pv_child *c, int *then)
{
        int r;

        /* From here the stop is what ends the child, even if closing its
         * stdin is enough and it is gone before the SIGTERM. */
        c->exit_flags |= PV_EXIT_F_STOPPED;
        pv__stdio_stop_input(c->loop, &c->io);
        r = pv__signal_send(c, SIGTERM, true);
        if (r < 0 && r != -ESRCH) {     /* ESRCH: it just went */
                c->exit_flags &= ~(unsigned)PV_EXIT_F_STOPPED;
                return r;
        }
        if (r == 0)
                (void)pv__signal_send(c, SIGCONT, true);
        if (pv__timer_arm(c->loop, &c->timer, pv__now_ns() + c->grace_ns) < 0)
                /* No grace timer, no escalation later: a child that
                 * ignores SIGTERM would live on.  A grace of zero. */
                *then = LADDER_TIMER;
        return 0;
}

static int act_term(pv_child *c, int *then)
{
        return term(c, then);
}

static int act_deadline(pv_child *c, int *then)
{
        c->exit_flags |= PV_EXIT_F_DEADLINE;
        if (term(c, then) < 0)
                /* Nobody to report to from a timer: escalate at once. */
                *then = LADDER_TIMER;
        return 0;
}

static int act_kill(pv_child *c, int *then)
{
        int r = pv__signal_send(c, SIGKILL, true);

        (void)then;
        if (r == -ESRCH)
                /* Exited during the grace, its pidfd event queued behind
                 * this timer: it needed no SIGKILL.  The pidfd will tell. */
                return 0;
        if (r < 0) {
                /* Not sent, so not recorded as sent: try again later, from
                 * STOPPING (the state goes back on an error). */
                (void)pv__timer_arm(c->loop, &c->timer, pv__now_ns() + KILL_RETRY_NS);
                return r;
        }
        c->exit_flags |= PV_EXIT_F_STOPPED | PV_EXIT_F_ESCALATED;
        return 0;
}

static int act_deliver(pv_child *c, int *then)
{
        (void)then;
        pv__exit_deliver(c);
        return 0;
}

static int act_look_again(pv_child *c, int *then)
{
        (void)then;
        return pv__exit_look_again(c);
}

static int act_linger_end(pv_child *c, int *then)
{
        (void)then;
        pv__exit_linger_end(c);
        return 0;
}

/* ---- the tree (PV_SPAWN_F_TREE) --------------------------------------- */

/* The timer of a TREE state: the grace's end (TREE) or the next SIGKILL
 * (TREE_KILLED: a tree that was forking when its processes were killed one
 * by one, before cgroup.kill, may have a new one), or sooner the next poll
 * of a tree that says nothing when it empties.  A failed settime leaves the
 * timer in the heap (the next arming of any timer tries again): -errno. */
static int arm_tree_timer(pv_child *c, bool grace)
{
        uint64_t when = grace ? c->tree_grace_end_ns : pv__now_ns() + KILL_RETRY_NS;

        if (pv__tree_polled(c)) {
                uint64_t poll = pv__tree_next_poll(c);
                if (poll < when)
                        when = poll;
        }
        return pv__timer_arm(c->loop, &c->timer, when);
}

/* The child is reaped (its status kept for the exit), its tree lives on:
 * watch the tree instead of the pidfd. */
static void enter_tree(pv_child *c)
{
        pv__exit_park(c);
        pv__tree_watch(c);
        c->exit_flags |= PV_EXIT_F_TREE_LEFT;
}

/* The child ended by itself (or its status came late): the rest of the
 * tree gets the ladder from the top.  A SIGTERM that cannot be sent, or no
 * grace timer: a grace of zero (nobody to report to, as for a deadline). */
static int act_tree_term(pv_child *c, int *then)
{
        int r;

        enter_tree(c);
        pv__stdio_stop_input(c->loop, &c->io);
        r = pv__signal_tree(c, SIGTERM);
        if (r == 0)
                (void)pv__signal_tree(c, SIGCONT);
        c->tree_grace_end_ns = pv__now_ns() + c->grace_ns;
        if ((r < 0 && r != -ESRCH) || arm_tree_timer(c, true) < 0) {
                c->tree_grace_end_ns = pv__now_ns();
                *then = LADDER_TIMER;
        }
        return 0;
}

/* The child ended during the ladder's grace: the tree has the rest of it
 * (the SIGTERM went to the whole tree). */
static int act_tree_graced(pv_child *c, int *then)
{
        c->tree_grace_end_ns = c->timer.when_ns;
        enter_tree(c);
        if (arm_tree_timer(c, true) < 0)
                *then = LADDER_TIMER;
        return 0;
}

/* The ladder's SIGKILL went to the tree, and the tree outlived it (it did
 * not reach everyone, or could not be sent to the tree at all): the grace
 * is over, the tree gets SIGKILL of its own (act_tree_kill, which tries
 * again until it is sent). */
static int act_tree_killed(pv_child *c, int *then)
{
        enter_tree(c);
        c->tree_grace_end_ns = pv__now_ns();
        *then = LADDER_TIMER;
        return 0;
}

/* SIGKILL to the tree.  Not sent: not recorded, and tried again from TREE
 * (the state goes back on an error) every second. */
static int act_tree_kill(pv_child *c, int *then)
{
        int r = pv__signal_tree(c, SIGKILL);

        (void)then;
        if (r < 0 && r != -ESRCH) {
                (void)pv__timer_arm(c->loop, &c->timer, pv__now_ns() + KILL_RETRY_NS);
                return r;
        }
        if (r == 0)             /* ESRCH: nobody was left to kill */
                c->exit_flags |= PV_EXIT_F_TREE_KILLED;
        (void)arm_tree_timer(c, false);
        return 0;
}

/* A look at a tree that does not say when it empties; in TREE_KILLED, the
 * SIGKILL again (cheap, and it catches a process forked meanwhile). */
static int act_tree_poll(pv_child *c, int *then)
{
        (void)then;
        if (c->state == CHILD_TREE_KILLED)
                (void)pv__signal_tree(c, SIGKILL);
        (void)arm_tree_timer(c, c->state == CHILD_TREE);
        return 0;
}

/* ---- the engine ------------------------------------------------------- */

/* What happened, as the table sees it.  Only here is the pidfd looked at
 * and the status collected. */
static int collected(pv_child *c)
{
        if (pv__exit_collect(c) == COLLECT_PENDING)
                return LADDER_PENDING;
        if ((c->spawn_flags & PV_SPAWN_F_TREE) && pv__tree_populated(c) == 1)
                return LADDER_REAPED_TREE;
        return LADDER_REAPED;
}

/* The tree's news: emptied (pv__tree_populated says how a cgroup that
 * cannot be read counts), the grace over, or nothing yet. */
static int tree_news(pv_child *c, bool timer)
{
        if (pv__tree_populated(c) != 1)
                return LADDER_TREE_EMPTY;
        if (!timer)     /* a read that failed dropped the events fd: poll */
                return pv__tree_polled(c) ? LADDER_TREE_POLL : LADDER_NONE;
        if (c->state == CHILD_TREE && pv__now_ns() >= c->tree_grace_end_ns)
                return LADDER_TIMER;
        return LADDER_TREE_POLL;
}

static int normalise(pv_child *c, int input)
{
        bool alive = c->state == CHILD_RUNNING || c->state == CHILD_STOPPING ||
                     c->state == CHILD_KILLED;
        bool tree = c->state == CHILD_TREE || c->state == CHILD_TREE_KILLED;

        switch (input) {
        case CHILD_IN_STOP:
                /* A stop may come from outside a dispatch: a dead child is
                 * collected by its pidfd event, not here. */
                return alive && pv__signal_exited(c) ? LADDER_STOP_DEAD : LADDER_STOP;
        case CHILD_IN_TIMER:
                if (tree)
                        return tree_news(c, true);
                if (c->state == CHILD_EXITING || (alive && pv__signal_exited(c)))
                        return collected(c);
                return LADDER_TIMER;
        case CHILD_IN_PIDFD:
                return alive ? collected(c) : LADDER_NONE;  /* else stale */
        case CHILD_IN_TREE:
                return tree ? tree_news(c, false) : LADDER_NONE;
        default:
                return LADDER_NONE;
        }
}

int pv__ladder_run(pv_child *c, int ev)
{
        int first = 0;
        bool ran = false;

        assert(ev == LADDER_NONE || (ev >= 0 && ev < _LADDER_MAX));
        /* deliver may drop the last reference: inside a dispatch (the only
         * place REAPED comes from) that only moves c to the graveyard, so
         * c stays readable here; deliver raises no follow-up. */
        while (ev != LADDER_NONE) {
                const struct cell *k = &table[c->state][ev];
                int was = c->state, r;

                ev = LADDER_NONE;
                c->state = k->next;
                r = k->action(c, &ev);
                if (r < 0)
                        c->state = was;
                if (!ran)
                        first = r;
                ran = true;
        }
        return first;
}

int pv__ladder_input(pv_child *c, int input)
{
        return pv__ladder_run(c, normalise(c, input));
}

unsigned pv__ladder_exit_flags(unsigned flags, const struct pv_exit *e)
{
        /* ESCALATED says the SIGKILL ended it.  One sent while the child
         * was already ending (of SIGTERM, or by exiting) when the grace
         * ran out did not: the status shows what did.  A lost status
         * cannot say otherwise: the flag stays. */
        if (e->kind != PV_EXIT_LOST && !(e->kind == PV_EXIT_KILLED && e->signal == SIGKILL))
                flags &= ~(unsigned)PV_EXIT_F_ESCALATED;
        return flags;
}
