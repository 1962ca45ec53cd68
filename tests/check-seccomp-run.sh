#!/bin/sh
# tests/seccomp-run: a filter reaches the command, SIGCHLD can be left
# ignored across exec, and the exit statuses are env(1)'s.
set -u
run="${top_builddir:-.}/tests/seccomp-run"
status=0
expect() { # expect STATUS ARGS...: run seccomp-run ARGS, want STATUS
        want=$1
        shift
        "$run" "$@" >/dev/null 2>&1
        got=$?
        [ "$got" = "$want" ] || { echo "FAIL: seccomp-run $*: exit $got, want $want"; status=1; }
}
expect 0 pre-6.15 -- true
expect 1 pre-6.15 -- false
expect 125 bogus -- true
expect 125 pre-6.15 true
expect 125 pre-6.15 --
expect 125 pre-6.15 --sigchld-ign
expect 127 pre-6.15 -- /nonexistent/command
expect 126 pre-6.15 -- /

# The command runs under one more filter than we do.
ours=$(sed -n 's/^Seccomp_filters:[[:space:]]*//p' /proc/self/status)
theirs=$("$run" docker -- sed -n 's/^Seccomp_filters:[[:space:]]*//p' /proc/self/status)
[ "$theirs" = $((ours + 1)) ] || { echo "FAIL: filters: ours $ours, the command's $theirs"; status=1; }

# SIGCHLD (17, bit 16 of SigIgn) ignored only when asked.
ign=$("$run" pre-6.15 --sigchld-ign -- sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)
[ $((0x$ign & 0x10000)) != 0 ] || { echo "FAIL: --sigchld-ign: SigIgn $ign"; status=1; }
ign=$("$run" pre-6.15 -- sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)
[ $((0x$ign & 0x10000)) = 0 ] || { echo "FAIL: SIGCHLD ignored unasked: SigIgn $ign"; status=1; }

[ $status = 0 ] && echo "seccomp-run: filter, SIGCHLD and exit statuses as documented"
exit $status
