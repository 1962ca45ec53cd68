/* SPDX-License-Identifier: MIT */
/*
 * pidvisor's stdin, copied to the program's piped stdin without ever
 * blocking the loop: read when epoll says so (a pipe, a tty, a socket) or
 * as the loop turns (a regular file, always readable), paused while the
 * program's queue is at its high-water mark.
 */
#ifndef PV_CLI_STDIN_H
#define PV_CLI_STDIN_H

#include <pidvisor.h>
#include <stdbool.h>
#include <stdint.h>

/* Start copying to child's stdin; closed: pidvisor's own stdin was closed
 * at start, so the program's ends at once. */
void stdin_start(pv_child *child, bool closed);

/* Stop reading stdin; with eof, close the program's too. */
void stdin_stop(bool eof);

/* The program's queue drained (its on_drain): read again. */
void stdin_drained(void);

/* EV_STDIN's handler: stdin is readable. */
void stdin_event(uint32_t events);

/* Whether stdin must be read as the loop turns (a regular file), now. */
bool stdin_polled(void);

/* Read what stdin has and pass it on. */
void stdin_ready(void);

#endif
