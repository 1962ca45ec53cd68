/* SPDX-License-Identifier: MIT */
/*
 * The command's one epoll set: every fd pidvisor waits on sits in it under
 * a tag of enum ev_tag, and turning it hands each ready fd to the handler
 * of its tag.  Nothing in it blocks but the wait itself.
 */
#ifndef PV_CLI_EVENTS_H
#define PV_CLI_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

/* What an fd in the set is. */
enum ev_tag {
        EV_STDIN,       /* pidvisor's stdin, copied to the program's */
        EV_LOOP,        /* pv_loop_fd(): the library's loop has work */
        EV_SIGNAL,      /* the signalfd of SIGTERM, SIGINT and SIGHUP */
        EV_OUT,         /* pidvisor's stderr can take more (out.c) */
        _EV_MAX
};

/* A tag's handler: epoll's events for its fd. */
typedef void (*ev_fn)(uint32_t events);

/* Make the set.  0 or -errno of epoll_create1. */
int ev_init(void);

/* The set was made (and not closed yet). */
bool ev_ready(void);

/* Close the set. */
void ev_done(void);

/* Hand the ready fds of tag to fn (NULL: nothing to do). */
void ev_on(enum ev_tag tag, ev_fn fn);

/* epoll_ctl ADD, MOD, DEL of fd under tag.  0 or -errno. */
int ev_add(int fd, uint32_t events, enum ev_tag tag);
int ev_mod(int fd, uint32_t events, enum ev_tag tag);
int ev_del(int fd);

/* Wait up to timeout_ms for events and handle them. */
void ev_turn(int timeout_ms);

/* Turn until done(arg), the deadline (ev_now_ms() time), a broken set, or
 * (cut not NULL) *cut changing from what it was at the start (pidvisor's
 * count of stop signals: a signal cuts the wait short).  poll_ms > 0 wakes
 * up that often to ask done() again. */
void ev_turn_until(bool (*done)(void *), void *arg, int64_t deadline, int poll_ms,
                   const int *cut);

/* Something the set depends on failed (call, with -errno err): say so, once;
 * nothing more will be seen, and ev_broken() says so from now on. */
void ev_fail(const char *call, int err);
bool ev_broken(void);

/* The monotonic clock in milliseconds. */
int64_t ev_now_ms(void);

#endif
