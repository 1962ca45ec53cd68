#!/bin/sh
# The pidvisor command, run as a user would (src/cli/).  Each check prints
# "ok" or "FAIL"; the script fails if any check did.  Ordering, not
# wall-clock time, is what is asserted.
set -u
top=${top_builddir:-.}
pv="$top/pidvisor"
helper="$top/tests/helper"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0

check() { # check NAME EXPECTED ACTUAL
        n=$((n + 1))
        if [ "$2" = "$3" ]; then
                echo "ok $n - $1"
        else
                echo "FAIL $n - $1: expected '$2', got '$3'"
                fails=$((fails + 1))
        fi
}
status() { "$@" >/dev/null 2>&1 </dev/null; echo $?; }
json() { # json FILE PYTHON-EXPR: evaluate on the parsed report
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1" 2>&1
}

command -v python3 >/dev/null || { echo "python3 is needed (bootstrap installs it)"; exit 99; }

# Exit statuses.
check "exit 0" 0 "$(status "$pv" -q -- "$helper" exit 0)"
check "exit 7" 7 "$(status "$pv" -q -- "$helper" exit 7)"
check "exit 255" 255 "$(status "$pv" -q -- "$helper" exit 255)"
check "killed by SIGUSR1 is 128+10" 138 "$(status "$pv" -q -- "$helper" kill-self 10)"
check "not found is 127" 127 "$(status "$pv" -q -- /nonexistent/program)"
check "not found in PATH is 127" 127 "$(status "$pv" -q -- no-such-program-anywhere)"
check "not executable is 126" 126 "$(status "$pv" -q -- /etc/passwd)"
check "no command is 125" 125 "$(status "$pv")"
check "unknown option is 125" 125 "$(status "$pv" --no-such-option true)"
for d in "" 5x -1 1.5.2 ms 10mss s "1 s" 5sec .5; do
        check "bad duration '$d' is 125" 125 "$(status "$pv" --timeout="$d" true)"
done
check "bad grace is 125" 125 "$(status "$pv" -g 0 true)"
check "missing value is 125" 125 "$(status "$pv" --grace)"
check "bad prefix is 125" 125 "$(status "$pv" --stderr-prefix=date true)"
msg=$("$pv" no-such-program-anywhere 2>&1 >/dev/null)
check "message names program and errno" \
        "pidvisor: cannot run 'no-such-program-anywhere': No such file or directory" "$msg"
for d in 500ms 5s 2m 1h 3 0.5; do
        check "duration '$d' accepted" 0 "$(status "$pv" --timeout="$d" -- "$helper" exit 0)"
done

# --timeout on a sleeping program: 124, stopped by the ladder, not
# escalated (sleep dies of SIGTERM), and it ran at least the timeout.
"$pv" -q --timeout=100ms --report="$tmp/t.json" -- "$helper" sleep 60000 </dev/null
check "timeout gives 124" 124 "$?"
check "timeout report" "True True False True" \
        "$(json "$tmp/t.json" 'r["timed_out"], r["stopped"], r["escalated"], r["runtime_ms"] >= 100')"

# A TERM-ignoring program is escalated after the grace, and the report says
# so; the grace was honoured (it lived at least timeout + grace).
"$pv" -q --timeout=50ms --grace=100ms --report="$tmp/e.json" -- \
        "$helper" ignore-term sleep 60000 </dev/null
check "escalated timeout gives 124" 124 "$?"
check "escalation in report" "True 9 True" \
        "$(json "$tmp/e.json" 'r["escalated"], r["signal"], r["runtime_ms"] >= 150')"

# The report is valid JSON with every field, also for a plain exit.
"$pv" -q --report="$tmp/r.json" -- "$helper" exit 3 </dev/null
check "report fields" "exited 3 3 False clone3 epoll" \
        "$(json "$tmp/r.json" 'r["status"], r["exit_code"], r["exit_status"], r["escalated"], r["spawn_mechanism"], r["backend"]')"
"$pv" -q --report="$tmp/n.json" -- /nonexistent/x </dev/null
check "report for a program that never ran" "not-run 127" \
        "$(json "$tmp/n.json" 'r["status"], r["exit_status"]')"
"$pv" -q --report=- -- "$helper" exit 0 </dev/null 2>"$tmp/stderr.json"
check "report on stderr" "0" "$(json "$tmp/stderr.json" 'r["exit_code"]')"

# A JSON-RPC-style round trip through cat, over stdin and stdout.
i=0
: > "$tmp/in"
while [ $i -lt 200 ]; do
        echo "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"ping\"}" >> "$tmp/in"
        i=$((i + 1))
done
"$pv" -q cat < "$tmp/in" > "$tmp/out"
check "round trip through cat" 0 "$?"
check "round trip content" "" "$(cmp "$tmp/in" "$tmp/out" 2>&1)"
# stdin from a pipe, with the program's stdin closed at its end.
check "stdin bytes through a pipe" "stdin=6" "$(printf 'hello\n' | "$pv" -q -- "$helper" read-stdin)"

# stderr lines, prefixed; a partial last line is still printed.
"$pv" -q --stderr-prefix=time,pid -- "$helper" eprint one eprint two >/dev/null 2>"$tmp/err"
check "two prefixed lines" 2 "$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \[[0-9]+\] (one|two)$' "$tmp/err")"
"$pv" -q --stderr-prefix=pid -- sh -c 'printf "no newline" >&2' 2>"$tmp/err2"
check "partial last line printed" 1 "$(grep -cE '^\[[0-9]+\] no newline$' "$tmp/err2")"
check "no prefix by default" "plain" "$("$pv" -q -- "$helper" eprint plain 2>&1 >/dev/null)"

# SIGTERM to pidvisor stops the program gracefully (143); a second one
# kills at once.
"$pv" -q -- "$helper" ready pause > "$tmp/ready" &
pid=$!
while ! grep -q ready "$tmp/ready" 2>/dev/null; do sleep 0.01; done
kill -TERM $pid
wait $pid
check "SIGTERM stops gracefully" 143 "$?"
"$pv" -q --grace=1h -- "$helper" ignore-term ready pause > "$tmp/ready2" &
pid=$!
while ! grep -q ready "$tmp/ready2" 2>/dev/null; do sleep 0.01; done
kill -TERM $pid
sleep 0.05
kill -INT $pid
wait $pid
check "second signal kills at once" 137 "$?"

# --kill-tree: no grandchild is left alive.
"$pv" -q --kill-tree -- "$helper" fork-grandchild exit 0 > "$tmp/gc" </dev/null
gc=$(sed -n 's/^grandchild=//p' "$tmp/gc")
sleep 0.05
alive=no
if [ -n "$gc" ] && kill -0 "$gc" 2>/dev/null && ! grep -q '^State:.*Z' /proc/$gc/status 2>/dev/null; then
        alive=yes
fi
check "kill-tree leaves no grandchild" no "$alive"
# With a writable cgroup v2 the tree lives in a cgroup of its own, which is
# removed afterwards; a tree that ignores SIGTERM is escalated as a whole.
if "$pv" --features | grep -q '^kill tree: cgroup'; then
        "$pv" -q --kill-tree --timeout=50ms --grace=50ms --report="$tmp/k.json" -- \
                "$helper" ignore-term fork-grandchild pause > "$tmp/gc2" </dev/null &
        pvpid=$!
        wait $pvpid
        check "kill-tree in a cgroup, escalated" "cgroup True 124" \
                "$(json "$tmp/k.json" 'r["kill_tree"], r["escalated"], r["exit_status"]')"
        gc=$(sed -n 's/^grandchild=//p' "$tmp/gc2")
        alive=no
        if [ -n "$gc" ] && kill -0 "$gc" 2>/dev/null && ! grep -q '^State:.*Z' /proc/$gc/status 2>/dev/null; then
                alive=yes
        fi
        check "the TERM-ignoring grandchild is gone too" no "$alive"
        check "the cgroup was removed" 0 "$(find /sys/fs/cgroup -maxdepth 4 -name "pidvisor.$pvpid.*" 2>/dev/null | wc -l)"
        # What the program leaves behind gets SIGTERM and the grace too,
        # and its stderr is still printed meanwhile.
        rm -f "$tmp/cleaned"
        "$pv" --kill-tree --grace=5s -- sh -c "sh -c 'trap \"echo cleaning >&2; : > $tmp/cleaned; exit\" TERM; while :; do sleep 0.05; done' & sleep 0.2; exit 0" </dev/null 2>"$tmp/tree-err"
        check "the tree left behind gets a graceful stop" yes "$([ -e "$tmp/cleaned" ] && echo yes || echo no)"
        check "its stderr is printed while it winds down" 1 "$(grep -c '^cleaning$' "$tmp/tree-err")"
else
        echo "ok - skip: no writable cgroup v2 ($("$pv" --features | grep '^kill tree'))"
fi

# Closed fds 0-2 at start: no hang, the program gets an empty stdin.
check "closed stdin" "stdin=0" "$(timeout 20 "$pv" -q -- "$helper" read-stdin <&-)"
check "closed stdout and stderr" 0 "$(timeout 20 "$pv" -q -- "$helper" print x eprint y >&- 2>&-; echo $?)"
# The report is JSON whatever bytes the command line holds.
"$pv" -q --report="$tmp/u.json" -- "$helper" exit 0 "$(printf 'a\377b')" </dev/null
check "report with non-UTF-8 argv parses" "a\ufffdb" "$(json "$tmp/u.json" 'r["command"][3].encode("unicode_escape").decode()')"
check "report that cannot be written is 125 up front" 125 "$(status "$pv" -q --report=/nonexistent/dir/r.json -- "$helper" exit 4)"

# --help and --version.
check "help exits 0" 0 "$(status "$pv" --help)"
check "help names every option" 9 "$("$pv" --help | grep -oE -- '--(grace|timeout|kill-tree|stderr-prefix|report|features|quiet|help|version)' | sort -u | wc -l)"
check "version" "pidvisor 0.1.0" "$("$pv" --version)"
check "features" 0 "$(status "$pv" --features)"

echo "$((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
