#!/bin/sh
# The seed-sized stress set (pv-stress's own defaults: 1000 exit, 200 stop,
# 100 escalate, 1000 concurrent, and each hostile child and host once).
# Every delta must be zero; pv-stress exits non-zero otherwise.  Each mode
# is bounded (a hang fails it, with timeout's 124).
set -eu
bin="${top_builddir:-.}/stress/pv-stress"
status=0
for mode in exit stop escalate concurrent grandchild flood deadline \
            host-sigign host-reaper host-threads host-lowfd; do
        timeout 300 "$bin" --mode "$mode" || { echo "FAIL: pv-stress --mode $mode: $?"; status=1; }
done
# The vfork rung (its own handshake with the child) against the hostile
# hosts, where the kernel has it.
if "$bin" --mode exit --cycles 1 --spawn vfork >/dev/null 2>&1; then
        for mode in exit host-sigign host-reaper host-threads; do
                timeout 300 "$bin" --mode "$mode" --spawn vfork ||
                        { echo "FAIL: pv-stress --mode $mode --spawn vfork: $?"; status=1; }
        done
else
        echo "skip 1 - pv-stress --spawn vfork: no vfork rung here"
fi
exit $status
