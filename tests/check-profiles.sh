#!/bin/sh
# The library's Criterion suites under the seccomp profiles of the kernels
# and containers we claim (tests/sandbox.h): Docker >= 20.10 (no clone3),
# Docker before 20.10 refusing pidfd_send_signal, and kernels before 5.9
# (close_range), 6.9 (PIDFD_SIGNAL_PROCESS_GROUP) and 6.15
# (PIDFD_INFO_EXIT).  Each test passes or skips with its reason there.
# (docker-old's EPERM for clone3 breaks glibc's threads, and with them
# Criterion: tests/test-features.c runs that profile in a thread-free
# process.  Below 5.4 nothing can run: test-features asserts the -ENOSYS.)
# The suites run on AUTO's backend here (io_uring on this kernel, and epoll
# where a profile refuses io_uring_setup, as docker does: AUTO's fallback
# runs in every suite there; the pre-* profiles cannot take io_uring's
# newer flags away, which live in memory seccomp cannot read): the backends are
# tests/per-backend.sh's dimension, the kernels and containers this
# script's, and a PV_TEST_BACKEND=uring from the caller would turn
# docker's refused io_uring_setup into failures instead of the fallback.
set -u
unset PV_TEST_BACKEND
top=${top_builddir:-.}
run="$top/tests/seccomp-run"
suites="test-loop test-spawn test-spawn-child test-child test-cgroup test-tree test-stdio test-host test-features"
profiles="docker no-pidfd-signal pre-5.9 pre-6.9 pre-6.15"
# The skips a profile may cause (what it takes away); any other skip under
# a profile fails, as it would without one.
expected_skip() {
        case "$1" in
        docker) echo 'spawn mechanism clone3: ' ;;
        *) echo '^$' ;;
        esac
}
fails=0 n=0 skips=0
for p in $profiles; do
        for s in $suites; do
                n=$((n + 1))
                log=$(CRITERION_VERBOSITY_LEVEL=1 timeout 600 "$run" "$p" -- "$top/tests/$s" 2>&1)
                rc=$?
                bad=$(echo "$log" | grep '^\[SKIP\]' | grep -Ev "$(expected_skip "$p")")
                k=$(echo "$log" | grep -c '^\[SKIP\]')
                skips=$((skips + k))
                if [ $rc = 0 ] && [ -z "$bad" ]; then
                        echo "ok $n - $p: $s: $(echo "$log" | sed -n 's/.*Synthesis: //p'), $k skipped"
                else
                        echo "FAIL $n - $p: $s (exit $rc)"
                        echo "$log" | grep -E '^\[(FAIL|----)\]' | head -20
                        if [ -n "$bad" ]; then
                                echo "unexpected skips under $p:"
                                echo "$bad"
                        fi
                        fails=$((fails + 1))
                fi
        done
done
echo "$((n - fails)) passed, $fails failed, $skips skipped"
[ $fails = 0 ]
