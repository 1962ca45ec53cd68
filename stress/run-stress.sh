#!/bin/sh
# make stress: the big set.  Runs every scenario, each under a time limit,
# and exits non-zero if any of them failed.
set -u
bin=${1:-./stress/pv-stress}
status=0
run() {
        timeout 1800 "$bin" "$@" || { echo "stress: FAILED: $*" >&2; status=1; }
}
run --mode exit --cycles 100000
run --mode stop --cycles 10000
run --mode escalate --cycles 1000
run --mode concurrent --cycles 10000 --concurrency 10000
run --mode grandchild --cycles 10000
run --mode flood --cycles 2000
run --mode deadline --cycles 2000
run --mode host-sigign --cycles 10000
run --mode host-reaper --cycles 10000
run --mode host-threads --cycles 40000
run --mode host-lowfd --cycles 2000
exit $status
