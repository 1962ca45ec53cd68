/* SPDX-License-Identifier: MIT */
/*
 * pidvisor's own stderr: the program's stderr lines and pidvisor's
 * messages.  A reader that stalls must never freeze the command (its
 * timeout, its signals), so nothing here blocks: what stderr does not take
 * at once is queued, up to OUT_LIMIT, and written when epoll says it is
 * writable again; beyond that whole lines are dropped and counted.
 */
#ifndef PV_CLI_OUT_H
#define PV_CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUT_LIMIT (1u << 20)

/* No messages of pidvisor's own (out_say) from now on. */
void out_set_quiet(bool quiet);

/* Get fd 2 ready for writes that never block, watched in the command's
 * epoll set (events.h, made first) as EV_OUT while data is queued.  0, or
 * -errno with *ret_call naming the call that failed.  Until it has
 * succeeded, out_say() and out_force() write to stderr plainly. */
int out_init(const char **ret_call);

/* A line, in pieces: out_line_begin() decides whether it is kept (the
 * queue is below OUT_LIMIT) or dropped whole; out_add() appends to it;
 * out_line_end() ends it with a newline and writes what it can.  A line
 * kept that grows beyond twice the limit loses the rest (counted too). */
void out_line_begin(void);
void out_add(const char *p, size_t n);
void out_line_end(void);

/* One whole message line of pidvisor's own, "pidvisor: " first (nothing
 * with quiet). */
void out_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Queue bytes that are never dropped for the limit (the report). */
void out_force(const char *p, size_t n);

/* epoll says stderr is writable: write what is queued. */
void out_ready(uint32_t events);

/* Bytes still queued. */
size_t out_pending(void);

/* Bytes dropped so far: over the limit, or because stderr is gone. */
uint64_t out_dropped(void);

/* The end: tell how much was dropped, if nobody was told yet. */
void out_finish(void);

/* Close what out_init opened. */
void out_done(void);

#endif
