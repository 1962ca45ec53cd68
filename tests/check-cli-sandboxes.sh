#!/bin/sh
# tests/test-cli.sh again, whole, inside each sandbox that plays a kernel
# or a container the README claims (tests/seccomp-run): Linux 5.4-5.8
# (pre-5.9), before 6.9, before 6.15, Docker 20.10+ (no clone3), and a
# profile refusing pidfd_send_signal.  Each must pass.  Under pre-5.4
# nothing can be spawned, and the script must skip (77) and say why.
# The runs go at once (they mostly wait); each is bounded.
set -u
top=${top_builddir:-.}
src=${top_srcdir:-.}
sr="$top/tests/seccomp-run"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$sr" ] || { echo "skip: no tests/seccomp-run (configure found no libseccomp)"; exit 77; }
profiles="pre-5.9 pre-6.9 pre-6.15 docker no-pidfd-signal pre-5.4"
for p in $profiles; do
        timeout --preserve-status -k 10 -s USR2 600 \
                "$sr" "$p" -- sh "$src/tests/test-cli.sh" > "$tmp/$p.log" 2>&1 </dev/null &
        echo $! > "$tmp/$p.pid"
done
fails=0
for p in $profiles; do
        wait "$(cat "$tmp/$p.pid")"
        rc=$?
        want=0
        [ "$p" = pre-5.4 ] && want=77
        if [ $rc -eq $want ] && { [ $want -eq 0 ] || grep -q '^skip: .*nothing can be spawned' "$tmp/$p.log"; }; then
                echo "ok - $p: $(tail -n1 "$tmp/$p.log")"
        else
                echo "FAIL - $p: exit status $rc (expected $want)"
                grep -v '^ok' "$tmp/$p.log" | sed 's/^/    /'
                fails=$((fails + 1))
        fi
done
[ $fails -eq 0 ]
