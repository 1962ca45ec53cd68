#!/bin/sh
# The seed-sized stress set (pv-stress's own defaults: 1000 exit, 200 stop,
# 100 escalate, 1000 concurrent, and each hostile child and host once), on
# each event backend (--backend epoll, --backend uring; one this build or
# kernel lacks is a skip, tests/backends.sh).  Every delta must be zero;
# pv-stress exits non-zero otherwise.  Each mode is bounded (a hang fails
# it, with timeout's 124).
set -eu
. "$(dirname "$0")/backends.sh"
bin="${top_builddir:-.}/stress/pv-stress"
status=0 skips=0
for backend in $pv_backends; do
        echo "== backend: $backend"
        why=$(backend_why_not "$backend")
        if [ -n "$why" ]; then
                skips=$((skips + 1))
                echo "skip $skips - pv-stress --backend $backend: $why"
                continue
        fi
        for mode in exit stop escalate concurrent grandchild flood deadline \
                    host-sigign host-reaper host-threads host-lowfd; do
                timeout 300 "$bin" --mode "$mode" --backend "$backend" ||
                        { echo "FAIL: pv-stress --mode $mode --backend $backend: $?"; status=1; }
        done
        # The vfork rung (its own handshake with the child) against the
        # hostile hosts, where the kernel has it.
        if "$bin" --mode exit --cycles 1 --spawn vfork --backend "$backend" >/dev/null 2>&1; then
                for mode in exit host-sigign host-reaper host-threads; do
                        timeout 300 "$bin" --mode "$mode" --spawn vfork --backend "$backend" ||
                                { echo "FAIL: pv-stress --mode $mode --spawn vfork --backend $backend: $?"
                                  status=1; }
                done
        else
                skips=$((skips + 1))
                echo "skip $skips - pv-stress --spawn vfork: no vfork rung here (--backend $backend)"
        fi
done
exit $status
