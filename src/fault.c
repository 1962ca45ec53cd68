/* SPDX-License-Identifier: MIT */
/* Fault injection: see fault.h.  Compiled to nothing without
 * --enable-fault-injection. */
#include "fault.h"

#ifdef PV_FAULT_INJECTION
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[_PV_FAULT_MAX] = {
        [PV_FAULT_PIPE2] = "pipe2",
        [PV_FAULT_OPEN] = "open",
        [PV_FAULT_FCNTL] = "fcntl",
        [PV_FAULT_CLONE] = "clone",
        [PV_FAULT_EPOLL_CTL] = "epoll_ctl",
        [PV_FAULT_PIDFD_OPEN] = "pidfd_open",
        [PV_FAULT_SIGNAL] = "signal",
        [PV_FAULT_TIMER] = "timer",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char spec[64];          /* the value last seen */
static long calls[_PV_FAULT_MAX];

int pv__fault(int site)
{
        const char *env = getenv("PV_FAULT");
        char name[32];
        long nth;
        int err, r = 0;

        if (!env)
                return 0;
        pthread_mutex_lock(&lock);
        if (strncmp(env, spec, sizeof(spec)) != 0) {
                strncpy(spec, env, sizeof(spec) - 1);
                memset(calls, 0, sizeof(calls));
        }
        calls[site]++;
        if (sscanf(env, "%31[^,],%ld,%d", name, &nth, &err) == 3 &&
            strcmp(name, names[site]) == 0 && calls[site] == nth)
                r = -err;
        pthread_mutex_unlock(&lock);
        return r;
}
#else
typedef int pv__fault_not_built;
#endif
