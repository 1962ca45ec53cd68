#!/bin/sh
# The kernel comparison cannot rot: pv-kernelcmp --quick prints its header
# and a table of 8 rows (3 spawn rungs x 2 backends, 2 baselines) by 6
# scenarios, and every pidvisor row this kernel and build have passes every
# scenario (a stolen status may be "lost" only where pv-kernelcmp's header
# says the kernel has no PIDFD_INFO_EXIT).  A row may say "n/a" only for
# what is really missing: io_uring where tests/backends.sh says why not, a
# rung that 'pidvisor --features' does not call ok.  The baselines' cells
# are the comparison, not judged (posix_spawn leaks fds; a stolen status is
# lost to waitpid).  The tool bounds every wait itself; timeout is the
# last resort.
set -u
. "$(dirname "$0")/checks.sh"
. "$(dirname "$0")/backends.sh"
top=${top_builddir:-.}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

timeout 300 "$top/stress/pv-kernelcmp" --quick >"$out"
check "pv-kernelcmp --quick exit status" 0 $?
cat "$out"

for key in date kernel CPU arch CPUs build PIDFD_INFO_EXIT cycles; do
        check "header line: $key" 1 "$(grep -c "^- $key: ." "$out")"
done
check "header: the running kernel" 1 "$(grep -cx -- "- kernel: $(uname -r)" "$out")"
check "header: the architecture" 1 "$(grep -cx -- "- arch: $(uname -m)" "$out")"

table=$(grep '^| ' "$out")
check "table: a header row and 8 rows" 9 "$(printf '%s\n' "$table" | wc -l)"
check "table: every row has 7 cells" 9 "$(printf '%s\n' "$table" | awk -F'|' 'NF == 9' | wc -l)"
check "table: the scenarios" "| spawn + wait | exit | stop | escalate | stolen status | 100 concurrent | fd leak |" \
        "$(printf '%s\n' "$table" | head -n 1)"
for base in "posix_spawn + waitpid" "fork + signalfd + waitpid"; do
        check "row: $base" 1 "$(printf '%s\n' "$table" | grep -c "^| $base |")"
done

lost_ok=no
grep -q '^- PIDFD_INFO_EXIT: no' "$out" && lost_ok=yes
features=$("$top/pidvisor" --features 2>&1)
for mech in clone3 clone vfork; do
        for backend in epoll uring; do
                name="pidvisor $mech + $backend"
                row=$(printf '%s\n' "$table" | grep "^| $name |")
                if [ -z "$row" ]; then
                        check "row: $name" present missing
                        continue
                fi
                if printf '%s\n' "$row" | grep -q 'n/a'; then
                        why=
                        [ "$backend" = uring ] && why=$(backend_why_not uring)
                        printf '%s\n' "$features" | grep -qx "  $mech: ok" || why="no $mech rung"
                        if [ -n "$why" ]; then
                                skip "$name" "n/a here ($why)"
                        else
                                check "$name: available here, so not n/a" row "n/a"
                        fi
                        continue
                fi
                # Cells 3..8 of the row, one per scenario.
                cells=$(printf '%s\n' "$row" | awk -F'|' '{ for (i = 3; i <= 8; i++) print $i }')
                good=$(printf '%s\n' "$cells" | grep -c '^ pass')
                if [ $lost_ok = yes ]; then
                        good=$((good + $(printf '%s\n' "$cells" | grep -c '^ lost')))
                fi
                check "$name: passes every scenario" 6 "$good"
        done
done
checks_summary
[ $fails = 0 ]
