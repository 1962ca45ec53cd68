/* SPDX-License-Identifier: MIT */
/*
 * Fault injection on the spawn and stop paths, for tests only.  Built with
 * --enable-fault-injection, PV_FAULT(site, call) makes the Nth call at a
 * site fail with a chosen errno, as the environment variable
 * PV_FAULT="site,N,errno" says (counted from the last change of its value).
 * Without it, PV_FAULT(site, call) is just call: no code, no symbol.
 */
#ifndef PV_FAULT_H
#define PV_FAULT_H

#include "internal.h"

enum pv__fault_site {
        PV_FAULT_PIPE2,
        PV_FAULT_OPEN,
        PV_FAULT_FCNTL,
        PV_FAULT_CLONE,
        PV_FAULT_EPOLL_CTL,
        PV_FAULT_PIDFD_OPEN,
        PV_FAULT_SIGNAL,
        PV_FAULT_TIMER,
        _PV_FAULT_MAX
};

#ifdef PV_FAULT_INJECTION
/* 0, or the -errno to return instead of making the call. */
int pv__fault(int site) PV_HIDDEN;
#define PV_FAULT(site, call) (pv__fault(site) ?: (call))
#else
#define PV_FAULT(site, call) (call)
#endif

/* Retry a call that EINTR interrupted (sites above may inject EINTR). */
#define PV_RETRY(r, call) do (r) = (call); while ((r) == -EINTR)

#endif
