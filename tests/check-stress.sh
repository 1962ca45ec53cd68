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
exit $status
