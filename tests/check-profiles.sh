#!/bin/sh
# The library's Criterion suites under the seccomp profiles of the kernels
# and containers we claim (tests/sandbox.h), in two parts.
#
# First the whole suite, each suite on AUTO's rung and backend, under
# Docker >= 20.10 (no clone3, no io_uring: AUTO falls back to the clone
# rung and epoll), a kernel without io_uring, Docker before 20.10 refusing
# pidfd_send_signal, and kernels before 5.9 (close_range), 6.9
# (PIDFD_SIGNAL_PROCESS_GROUP) and 6.15 (PIDFD_INFO_EXIT).  Each test
# passes or skips with its reason there.  (docker-old's EPERM for clone3
# breaks glibc's threads, and with them Criterion: tests/test-features.c
# runs that profile in a thread-free process.)
#
# Then the matrix: the core suites under every profile (and none) x every
# rung forced x every backend forced, below.  Below 5.4 nothing can run:
# that pv_loop_new says -ENOSYS with its reason is checked instead (and
# test-features asserts it).  The pre-* profiles cannot take io_uring's
# newer flags away (they live in memory seccomp cannot read), so io_uring
# runs there as on this kernel.
set -u
unset PV_TEST_BACKEND PV_TEST_MECH
top=${top_builddir:-.}
run="$top/tests/seccomp-run"
suites="test-loop test-spawn test-spawn-child test-child test-cgroup test-tree test-stdio test-host test-features"
profiles="docker no-uring no-pidfd-signal pre-5.9 pre-6.9 pre-6.15"
# The skips a profile may cause (what it takes away); any other skip under
# a profile fails, as it would without one.
expected_skip() {
        case "$1" in
        docker) echo 'spawn mechanism clone3: ' ;;
        no-uring) echo 'backend uring: ' ;;
        *) echo '^$' ;;
        esac
}
fails=0 n=0 skips=0
# run_suite PROFILE LABEL SUITE: one suite under one profile, one line.
run_suite() {
        n=$((n + 1))
        log=$(CRITERION_VERBOSITY_LEVEL=1 timeout 600 "$run" "$1" -- "$top/tests/$3" 2>&1)
        rc=$?
        bad=$(printf '%s\n' "$log" | grep '^\[SKIP\]' | grep -Ev "$(expected_skip "$1")")
        k=$(printf '%s\n' "$log" | grep -c '^\[SKIP\]')
        skips=$((skips + k))
        if [ $rc = 0 ] && [ -z "$bad" ]; then
                echo "ok $n - $2: $3: $(printf '%s\n' "$log" | sed -n 's/.*Synthesis: //p'), $k skipped"
        else
                echo "FAIL $n - $2: $3 (exit $rc)"
                printf '%s\n' "$log" | grep -E '^\[(FAIL|----)\]' | head -20
                if [ -n "$bad" ]; then
                        echo "unexpected skips under $1:"
                        printf '%s\n' "$bad"
                fi
                fails=$((fails + 1))
        fi
}

for p in $profiles; do
        for s in $suites; do
                run_suite "$p" "$p" "$s"
        done
done

# The matrix: the core scenarios (spawn and exit, stop and escalation,
# signals, a status another reaper takes) under every profile, on every
# rung forced (PV_TEST_MECH) and every backend (PV_TEST_BACKEND).  What a
# combination needs is asked of pidvisor --features --json under the same
# profile; one that cannot work there is a skip, with its reason, and the
# answer is checked against what the profile takes away: a rung or backend
# said to be missing must be one the profile removes, or one this machine
# or build lacks without a profile (the "none" row: a build without
# liburing, kernel.io_uring_disabled, a generic build's missing clone3).
core="test-spawn test-child test-host"
matrix_profiles="none docker no-uring no-pidfd-signal pre-5.3 pre-5.4 pre-5.9 pre-6.9 pre-6.15"
pv="$top/pidvisor"
json=$(mktemp) base=$(mktemp)
trap 'rm -f "$json" "$base"' EXIT
trap 'exit 1' INT TERM HUP
# why_not JSON RUNG BACKEND: nothing when the combination can run, else
# why; a JSON it cannot read is a failure (exit 1), never a "can run".
why_not() {
        python3 - "$@" <<'PY' || { echo "FAIL: pidvisor --features --json gave no JSON"; return 1; }
import json, sys
r = json.load(open(sys.argv[1])); m, b = sys.argv[2], sys.argv[3]; f = r["features"]
needs = {"clone3": ["clone3", "clone_clear_sighand", "clone_pidfd", "waitid_pidfd"],
         "clone": ["clone_pidfd", "waitid_pidfd"],
         "vfork": ["pidfd_open", "waitid_pidfd"]}[m]
if r["spawn"] is None:
    print("nothing can be spawned: " + r["spawn_error"])
elif not r["rungs"][m]:
    missing = [n for n in needs if not f[n]]
    print("no %s rung: %s" % (m, ", ".join(missing) + " missing" if missing else "refused"))
elif b == "uring" and not f["io_uring"]:
    print("no io_uring backend: " + r["io_uring_error"])
PY
}
# What each profile takes away: the combinations that must be missing.
must_lack() { # must_lack PROFILE RUNG BACKEND
        case "$1:$2:$3" in
        pre-5.3:*|pre-5.4:*|docker:clone3:*|docker:*:uring|no-uring:*:uring) return 0 ;;
        *) return 1 ;;
        esac
}
for p in $matrix_profiles; do
        spec=$p
        [ "$p" != none ] || spec=acct=EPERM     # tests/sandbox.h's TU_SB_NOTHING
        if ! timeout 60 "$run" "$spec" -- "$pv" --features --json >"$json" </dev/null; then
                n=$((n + 1)) fails=$((fails + 1))
                echo "FAIL $n - $p: pidvisor --features --json: $(head -c 300 "$json")"
                continue
        fi
        [ "$p" != none ] || cp "$json" "$base"
        case $p in
        pre-5.3|pre-5.4)
                # Nothing can run: the clear -ENOSYS, as pv_loop_new says it.
                n=$((n + 1))
                got=$(why_not "$json" clone3 epoll)
                case $got in
                *"Linux 5.4 or later is needed"*) echo "ok $n - $p: nothing can be spawned: $got" ;;
                *) echo "FAIL $n - $p: nothing should be spawnable, with -ENOSYS's reason: $got"
                   fails=$((fails + 1)) ;;
                esac
                ;;
        esac
        for m in clone3 clone vfork; do
                for b in epoll uring; do
                        here=$(why_not "$base" $m $b) && why=$(why_not "$json" $m $b) || {
                                n=$((n + 1)) fails=$((fails + 1))
                                echo "FAIL $n - $p x $m x $b: $here$why"
                                continue
                        }
                        if [ -n "$here" ]; then
                                skips=$((skips + 1))
                                echo "# SKIP $p x $m x $b: not on this machine or build: $here"
                                continue
                        fi
                        if [ -n "$why" ] && must_lack $p $m $b; then
                                skips=$((skips + 1))
                                echo "# SKIP $p x $m x $b: $why"
                                continue
                        elif [ -n "$why" ]; then
                                n=$((n + 1)) fails=$((fails + 1))
                                echo "FAIL $n - $p x $m x $b: $why, which $p does not take away"
                                continue
                        elif must_lack $p $m $b; then
                                n=$((n + 1)) fails=$((fails + 1))
                                echo "FAIL $n - $p x $m x $b: $p takes this away, --features says it is here"
                                continue
                        fi
                        export PV_TEST_MECH=$m PV_TEST_BACKEND=$b
                        for s in $core; do
                                run_suite "$spec" "$p x $m x $b" "$s"
                        done
                        unset PV_TEST_MECH PV_TEST_BACKEND
                done
        done
done
echo "$((n - fails)) passed, $fails failed, $skips skipped"
[ $fails = 0 ]
