/* SPDX-License-Identifier: MIT */
/*
 * seccomp-run SPEC [--sigchld-ign] -- COMMAND [ARG...]
 *
 * Run COMMAND under the seccomp filter of SPEC (tests/sandbox.h), so that a
 * shell test can put any program, pidvisor included, in an older kernel or a
 * container.  --sigchld-ign leaves SIGCHLD ignored across the exec, as a
 * careless parent would.  Exit status as env(1): 125 if seccomp-run itself
 * failed, 126 if COMMAND could not run, 127 if it was not found.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

int main(int argc, char **argv)
{
        int i = 2, r;

        if (argc > 2 && strcmp(argv[i], "--sigchld-ign") == 0)
                i++;
        if (argc < i + 2 || strcmp(argv[i], "--") != 0) {
                fprintf(stderr, "usage: seccomp-run SPEC [--sigchld-ign] -- COMMAND [ARG...]\n");
                return 125;
        }
        r = tu_sandbox_apply(argv[1]);
        if (r < 0) {
                fprintf(stderr, "seccomp-run: spec \"%s\": %s\n", argv[1],
                        r == -EINVAL ? "unknown rule, profile, call or errno" : strerror(-r));
                return 125;
        }
        /* An ignored SIGCHLD survives exec (a caught one would not). */
        if (i == 3 && signal(SIGCHLD, SIG_IGN) == SIG_ERR) {
                fprintf(stderr, "seccomp-run: SIGCHLD: %s\n", strerror(errno));
                return 125;
        }
        execvp(argv[i + 1], argv + i + 1);
        r = errno;
        fprintf(stderr, "seccomp-run: %s: %s\n", argv[i + 1], strerror(r));
        return r == ENOENT ? 127 : 126;
}
