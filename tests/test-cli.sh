#!/bin/sh
# The pidvisor command, run as a user would (src/cli/).  Each check prints
# "ok" or "FAIL"; the script fails if any check did, and skips (77) with its
# reason where nothing can be spawned.  Ordering, not wall-clock time, is
# what is asserted; every wait has a bound (a run of pidvisor: $bound s, a
# handshake: 10 s), and a bound hit fails the check.
# tests/check-cli-sandboxes.sh runs it again inside seccomp sandboxes.
set -u
top=${top_builddir:-.}
pv="$top/pidvisor"
helper="$top/tests/helper"
seccomp_run="$top/tests/seccomp-run"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bound=60
. "${top_srcdir:-.}/tests/checks.sh"
# A run of pidvisor, bounded: status 140 (SIGUSR2, which pidvisor does not
# handle) says the bound was hit.
run() { timeout --preserve-status -k 5 -s USR2 "$bound" "$@"; }
status() { run "$@" >/dev/null 2>&1 </dev/null; echo $?; }
json() { # json FILE PYTHON-EXPR: evaluate on the parsed report
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1" 2>&1
}
wait_file() { # wait_file FILE PATTERN: until a line of FILE matches, at most 10 s
        i=0
        while ! grep -q "$2" "$1" 2>/dev/null; do
                i=$((i + 1))
                [ $i -le 1000 ] || return 1
                sleep 0.01
        done
}
wait_exists() { # wait_exists FILE: until it exists, at most 10 s
        i=0
        while [ ! -e "$1" ]; do
                i=$((i + 1))
                [ $i -le 1000 ] || return 1
                sleep 0.01
        done
}
reap() { # reap PID: its exit status, waiting at most $bound s (then 140)
        (
                i=0
                while kill -0 "$1" 2>/dev/null; do
                        i=$((i + 1))
                        [ $i -le $((bound * 100)) ] || { kill -USR2 "$1"; exit; }
                        sleep 0.01
                done
        ) &
        watchdog=$!
        wait "$1"
        rc=$?
        kill "$watchdog" 2>/dev/null
        wait "$watchdog" 2>/dev/null
        return $rc
}
alive() { # alive PID: yes (running), no (gone, a zombie, or exiting), or "no pid"
        if [ -z "$1" ]; then
                echo "no pid"
        elif [ -r "/proc/$1/stat" ] && kill -0 "$1" 2>/dev/null &&
             sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
             awk '{ exit !($1 != "Z" && $1 != "X" && int($7 / 4) % 2 == 0) }'; then
                echo yes        # field 7 after the name: flags; 4 is PF_EXITING
        else
                echo no
        fi
}
cgroup_dir() { # our cgroup v2 directory, from /proc/self/cgroup and mountinfo
        rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
        awk -v rel="$rel" '
                { for (i = 7; i < NF && $i != "-"; i++) ; }
                $(i + 1) == "cgroup2" {
                        root = $4; cut = -1
                        if (root == "/") cut = 0
                        else if (rel == root || index(rel, root "/") == 1) cut = length(root)
                        if (cut > best) { best = cut; tail = substr(rel, cut + 1)
                                if (tail == "/") tail = ""; dir = $5 tail }
                }
                BEGIN { best = -1 }
                END { if (best >= 0) print dir }' /proc/self/mountinfo
}

command -v python3 >/dev/null || { echo "python3 is needed (bootstrap installs it)"; exit 99; }

features=$(run "$pv" --features 2>&1)
rung=$(echo "$features" | sed -n 's/^spawn: //p')
case "$rung" in
clone3|clone|vfork) ;;
*)
        echo "skip: pidvisor --features says nothing can be spawned here: $rung"
        exit 77
        ;;
esac
tree=$(echo "$features" | sed -n 's/^kill tree: \([a-z]*\).*/\1/p')
# Whether a cgroup of its own is to be had here, asked of the kernel, not
# of pidvisor: where it is, --features must say so, and the cgroup checks
# run rather than skip.
cg_writable=no
if d=$(cgroup_dir) && [ -n "$d" ] && mkdir "$d/pv-cli-probe.$$" 2>/dev/null; then
        rmdir "$d/pv-cli-probe.$$"
        cg_writable=yes
fi
check "--features offers the cgroup kill tree exactly where the kernel does" \
        "$cg_writable" "$([ "$tree" = cgroup ] && echo yes || echo no)"
have_sandbox=no
if [ -x "$seccomp_run" ] && "$seccomp_run" no-pidfd-signal -- true 2>/dev/null; then
        have_sandbox=yes
fi

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
msg=$(run "$pv" no-such-program-anywhere 2>&1 >/dev/null)
check "message names program and errno" \
        "pidvisor: cannot run 'no-such-program-anywhere': No such file or directory" "$msg"
for d in 500ms 5s 2m 1h 3 0.5; do
        check "duration '$d' accepted" 0 "$(status "$pv" --timeout="$d" -- "$helper" exit 0)"
done

# An empty program name is no file, as for timeout(1).
msg=$(run "$pv" '' 2>&1 </dev/null)
check "empty program name is 127" "127 pidvisor: cannot run '': No such file or directory" "$? $msg"
# Beyond their caps, --grace and --timeout say what the cap is.
msg=$(run "$pv" --grace=1200h true 2>&1 </dev/null | head -n1)
check "grace beyond its cap" "pidvisor: grace '1200h' is beyond its cap, 4294967295ms (about 1193 hours)" "$msg"
msg=$(run "$pv" --timeout=9000h true 2>&1 </dev/null | head -n1)
check "timeout beyond its cap" "pidvisor: timeout '9000h' is beyond its cap, 8784h (366 days)" "$msg"
check "grace at its cap is accepted" 0 "$(status "$pv" --grace=4294967295ms -- "$helper" exit 0)"

# --timeout on a sleeping program: 124, stopped by the ladder, not
# escalated (sleep dies of SIGTERM), and it ran at least the timeout.
run "$pv" -q --timeout=100ms --report="$tmp/t.json" -- "$helper" sleep 60000 </dev/null
check "timeout gives 124" 124 "$?"
check "timeout report" "True True False True" \
        "$(json "$tmp/t.json" 'r["timed_out"], r["stopped"], r["escalated"], r["runtime_ms"] >= 100')"

# A TERM-ignoring program is escalated after the grace, and the report says
# so; the grace was honoured (it lived at least timeout + grace).  The
# timeout leaves the helper ample time to ignore SIGTERM first (a slow
# sanitizer build under a seccomp profile takes tens of milliseconds).
run "$pv" -q --timeout=1s --grace=100ms --report="$tmp/e.json" -- \
        "$helper" ignore-term sleep 60000 </dev/null
check "escalated timeout gives 124" 124 "$?"
check "escalation in report" "True 9 True" \
        "$(json "$tmp/e.json" 'r["escalated"], r["signal"], r["runtime_ms"] >= 1100')"

# The report is valid JSON with every field, also for a plain exit; the
# rung and the backend are the ones --features says are in use here.
backend=$(echo "$features" | sed -n 's/^backend: \([a-z]*\).*/\1/p')
run "$pv" -q --report="$tmp/r.json" -- "$helper" exit 3 </dev/null
check "report fields" "exited 3 3 False $rung $backend 0" \
        "$(json "$tmp/r.json" 'r["status"], r["exit_code"], r["exit_status"], r["escalated"], r["spawn_mechanism"], r["backend"], r["stderr_dropped"]')"
check "report's rusage is numbers" "True" \
        "$(json "$tmp/r.json" 'all(isinstance(r[k], (int, float)) for k in ("user_cpu_ms", "sys_cpu_ms", "max_rss_kb"))')"
run "$pv" -q --report="$tmp/n.json" -- /nonexistent/x </dev/null
check "report for a program that never ran" "not-run 127" \
        "$(json "$tmp/n.json" 'r["status"], r["exit_status"]')"
run "$pv" -q --report=- -- "$helper" exit 0 </dev/null 2>"$tmp/stderr.json"
check "report on stderr" "0" "$(json "$tmp/stderr.json" 'r["exit_code"]')"

# A JSON-RPC-style round trip through cat, over stdin and stdout.
i=0
: > "$tmp/in"
while [ $i -lt 200 ]; do
        echo "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"ping\"}" >> "$tmp/in"
        i=$((i + 1))
done
run "$pv" -q cat < "$tmp/in" > "$tmp/out"
check "round trip through cat" 0 "$?"
check "round trip content" "" "$(cmp "$tmp/in" "$tmp/out" 2>&1)"
# stdin from a pipe, with the program's stdin closed at its end.
check "stdin bytes through a pipe" "stdin=6" "$(printf 'hello\n' | run "$pv" -q -- "$helper" read-stdin)"

# stderr lines, prefixed; a partial last line is still printed.
run "$pv" -q --stderr-prefix=time,pid -- "$helper" eprint one eprint two >/dev/null 2>"$tmp/err"
check "two prefixed lines" 2 "$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \[[0-9]+\] (one|two)$' "$tmp/err")"
run "$pv" -q --stderr-prefix=pid -- sh -c 'printf "no newline" >&2' 2>"$tmp/err2"
check "partial last line printed" 1 "$(grep -cE '^\[[0-9]+\] no newline$' "$tmp/err2")"
check "no prefix by default" "plain" "$(run "$pv" -q -- "$helper" eprint plain 2>&1 >/dev/null)"

# SIGTERM to pidvisor stops the program gracefully (143); a second one
# kills at once (the first one's message is the handshake).
"$pv" -q -- "$helper" ready pause > "$tmp/ready" 2>/dev/null &
pid=$!
if wait_file "$tmp/ready" ready; then kill -TERM $pid; else kill -USR2 $pid; fi
reap $pid
check "SIGTERM stops gracefully" 143 "$?"
"$pv" --grace=1h -- "$helper" ignore-term ready pause > "$tmp/ready2" 2>"$tmp/stopping" &
pid=$!
if wait_file "$tmp/ready2" ready; then kill -TERM $pid; else kill -USR2 $pid; fi
if wait_file "$tmp/stopping" "stopping"; then kill -INT $pid; else kill -USR2 $pid; fi
reap $pid
check "second signal kills at once" 137 "$?"

# --kill-tree, whatever holds the tree here: no grandchild is left alive
# when pidvisor is done (it waits for the tree to be empty).
run "$pv" -q --kill-tree -- "$helper" fork-grandchild exit 0 > "$tmp/gc" </dev/null
gc=$(sed -n 's/^grandchild=//p' "$tmp/gc")
check "kill-tree leaves no grandchild ($tree)" no "$(alive "$gc")"

# What the program leaves behind gets SIGTERM and the grace too, and its
# stderr is still printed meanwhile: in a cgroup and in a process group
# alike.  The grandchild signals its trap is set through a FIFO.
tree_left_behind() { # tree_left_behind NAME [SANDBOX-SPEC]
        rm -f "$tmp/cleaned" "$tmp/sync"
        mkfifo "$tmp/sync"
        name=$1
        if [ $# -gt 1 ]; then set -- "$seccomp_run" "$2" --; else set --; fi
        run "$@" "$pv" --kill-tree --grace=10s --report="$tmp/lb.json" -- sh -c "
                sh -c 'trap \"echo cleaning >&2; : > $tmp/cleaned; exit\" TERM
                        echo > $tmp/sync; while :; do sleep 0.05; done' &
                read x < $tmp/sync; exit 0" </dev/null 2>"$tmp/tree-err"
        check "$name: the tree left behind gets a graceful stop" "0 yes" \
                "$? $([ -e "$tmp/cleaned" ] && echo yes || echo no)"
        check "$name: its stderr is printed while it winds down" 1 "$(grep -c '^cleaning$' "$tmp/tree-err")"
}
if [ "$tree" = cgroup ]; then
        tree_left_behind cgroup
        check "cgroup: the report says so" cgroup "$(json "$tmp/lb.json" 'r["kill_tree"]')"
else
        skip "kill tree in a cgroup" "no writable cgroup v2 ($(echo "$features" | grep '^kill tree'))"
fi
if [ $have_sandbox = yes ]; then
        tree_left_behind pgrp "mkdir=EACCES,mkdirat=EACCES"
        check "pgrp: the report says so" pgrp "$(json "$tmp/lb.json" 'r["kill_tree"]')"
else
        skip "kill tree in a process group" "no tests/seccomp-run to refuse the cgroup"
fi

# With a writable cgroup v2 the tree lives in a cgroup of its own, which is
# removed afterwards; a tree that ignores SIGTERM is escalated as a whole.
if [ "$tree" = cgroup ]; then
        cgdir=$(cgroup_dir)
        "$pv" -q --kill-tree --timeout=1s --grace=50ms --report="$tmp/k.json" -- \
                "$helper" ignore-term fork-grandchild pause > "$tmp/gc2" </dev/null &
        pvpid=$!
        reap $pvpid
        check "kill-tree in a cgroup, escalated" "cgroup True 124" \
                "$(json "$tmp/k.json" 'r["kill_tree"], r["escalated"], r["exit_status"]')"
        gc=$(sed -n 's/^grandchild=//p' "$tmp/gc2")
        check "the TERM-ignoring grandchild is gone too" no "$(alive "$gc")"
        check "our cgroup v2 directory is found" yes "$([ -n "$cgdir" ] && [ -e "$cgdir/cgroup.procs" ] && echo yes || echo "no: '$cgdir'")"
        check "the cgroup was removed" 0 "$(ls -d "$cgdir/pidvisor.$pvpid".* 2>/dev/null | wc -l)"
fi

# Closed fds 0-2 at start: no hang, the program gets an empty stdin.
check "closed stdin" "stdin=0" "$(run "$pv" -q -- "$helper" read-stdin <&-)"
check "closed stdout and stderr" 0 "$(run "$pv" -q -- "$helper" print x eprint y >&- 2>&-; echo $?)"
# The report is JSON whatever bytes the command line holds.
run "$pv" -q --report="$tmp/u.json" -- "$helper" exit 0 "$(printf 'a\377b')" </dev/null
check "report with non-UTF-8 argv parses" "a\ufffdb" "$(json "$tmp/u.json" 'r["command"][3].encode("unicode_escape").decode()')"
check "report that cannot be written is 125 up front" 125 "$(status "$pv" -q --report=/nonexistent/dir/r.json -- "$helper" exit 4)"

# fds beyond 2 reach the program only when asked for: --preserve-fds=N,
# or LISTEN_FDS when pidvisor itself was socket-activated (LISTEN_PID is
# ours), and then LISTEN_PID is not passed on (it cannot be the program's).
run "$pv" -q -- sh -c 'echo reached >&3' 3>"$tmp/fd3" </dev/null 2>/dev/null
check "fd 3 does not reach the program by default" "" "$(cat "$tmp/fd3")"
run "$pv" -q --preserve-fds=1 -- sh -c 'echo reached >&3' 3>"$tmp/fd3" </dev/null
check "--preserve-fds=1 passes fd 3" "0 reached" "$? $(cat "$tmp/fd3")"
# Passed on, they are the program's: pidvisor keeps no copy, so a reader
# sees the end when the program closes its fd 3 (it waits for that).
rm -f "$tmp/eof"
mkfifo "$tmp/p3"
( cat "$tmp/p3" >/dev/null; : > "$tmp/eof" ) &
reader=$!
"$pv" -q --preserve-fds=1 -- sh -c "exec 3>&-; i=0
        while [ ! -e $tmp/eof ] && [ \$i -lt 1000 ]; do sleep 0.01; i=\$((i + 1)); done
        [ -e $tmp/eof ]" 3>"$tmp/p3" </dev/null &
pid=$!
reap $pid
check "--preserve-fds: pidvisor keeps no copy" 0 "$?"
reap $reader
check "--preserve-fds beyond the open fds is 125" 125 "$(status "$pv" --preserve-fds=2 -- true 3>/dev/null 4>&-)"
out=$(run env LISTEN_FDS=1 LISTEN_FDNAMES=x sh -c 'LISTEN_PID=$$ exec "$0" -q -- sh -c "echo \${LISTEN_PID-unset} \$LISTEN_FDS \$LISTEN_FDNAMES; echo activated >&3"' "$pv" 3>"$tmp/fd3" </dev/null)
check "socket activation passes LISTEN_FDS fds" "unset 1 x activated" "$out $(cat "$tmp/fd3")"

# A stalled reader of pidvisor's stderr does not freeze it: the timeout
# fires, signals are handled, what does not fit is dropped and counted.
mkfifo "$tmp/fifo"
exec 8<>"$tmp/fifo"     # the reader that never reads
run "$pv" -t 1s --report="$tmp/s.json" -- "$helper" lines 2 100000 80 pause </dev/null 2>"$tmp/fifo" 8>&-
check "stalled stderr: the timeout fires" 124 "$?"
check "stalled stderr: what was dropped is counted" True "$(json "$tmp/s.json" 'r["stderr_dropped"] > 0')"
"$pv" -- "$helper" lines 2 100000 80 ready pause </dev/null >"$tmp/ready3" 2>"$tmp/fifo" 8>&- &
pid=$!
if wait_file "$tmp/ready3" ready; then kill -TERM $pid; else kill -USR2 $pid; fi
reap $pid
check "stalled stderr: SIGTERM stops it" 143 "$?"
exec 8>&-
# A reader that comes back gets the rest and is told how much it missed;
# the bytes it got and the bytes dropped add up.
rm -f "$tmp/fifo" "$tmp/go" "$tmp/flooded"
mkfifo "$tmp/fifo"
(
        i=0
        while [ ! -e "$tmp/go" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
        exec cat
) < "$tmp/fifo" > "$tmp/got" &
reader=$!
run "$pv" --report="$tmp/b.json" -- sh -c "\"$helper\" lines 2 100000 80; : > $tmp/flooded
        while [ ! -e $tmp/go ]; do sleep 0.01; done; echo done >&2" </dev/null 2>"$tmp/fifo" &
pid=$!
wait_exists "$tmp/flooded"
: > "$tmp/go"
reap $pid
check "a reader back: the run ends" 0 "$?"
reap $reader
dropped=$(sed -n 's/^pidvisor: \([0-9]*\) bytes of stderr dropped (nobody read it)$/\1/p' "$tmp/got")
check "a reader back: it is told, once" "1 $(json "$tmp/b.json" 'r["stderr_dropped"]')" \
        "$(grep -c 'bytes of stderr dropped' "$tmp/got") $dropped"
# (The last line, "done\n", may come while the queue is still full.)
check "a reader back: got + dropped = written" 8000005 \
        "$(( $(grep -c '^[a-z]\{79\}$' "$tmp/got") * 80 + $(grep -c '^done$' "$tmp/got") * 5 + ${dropped:-0} ))"

# Sandboxes (tests/seccomp-run): a kernel or container without some piece.
if [ $have_sandbox = yes ]; then
        sr="$seccomp_run"
        # pidfd_send_signal refused: signals go by pid, and the ladder and
        # pidvisor's own signals still work.
        f=$("$sr" no-pidfd-signal -- "$pv" --features 2>&1)
        check "no-pidfd-signal: --features says how signals go" \
                "signals: kill(pid), pidfd_send_signal refused (sent only while the pidfd shows the program alive)" \
                "$(echo "$f" | grep '^signals:')"
        check "no-pidfd-signal: and group signals" "group signals: kill(-pgid) (no PIDFD_SIGNAL_PROCESS_GROUP: Linux 6.9)" \
                "$(echo "$f" | grep '^group signals:')"
        run "$sr" no-pidfd-signal -- "$pv" -q -t 1s --grace=1s --report="$tmp/p.json" -- sleep 6 </dev/null
        check "no-pidfd-signal: timeout by kill(pid)" "124 False True True" \
                "$? $(json "$tmp/p.json" 'r["escalated"], r["signal"] == 15, 1000 <= r["runtime_ms"] < 5000')"
        "$sr" no-pidfd-signal -- "$pv" -q -- "$helper" ready pause > "$tmp/ready4" 2>/dev/null &
        pid=$!
        if wait_file "$tmp/ready4" ready; then kill -TERM $pid; else kill -USR2 $pid; fi
        reap $pid
        check "no-pidfd-signal: SIGTERM stops it" 143 "$?"

        check "pre-6.15: --features says stolen statuses are lost" "lost" \
                "$("$sr" pre-6.15 -- "$pv" --features | sed -n 's/^stolen status: \([a-z]*\).*/\1/p')"
        # SIGCHLD inherited as SIG_IGN: reset, so the status is the program's.
        check "SIGCHLD ignored at start" 3 "$(status "$sr" pre-6.15 --sigchld-ign -- "$pv" -- sh -c 'exit 3')"
        # A status nobody can tell (waitid says another reaper had it):
        # 125, and the rusage is unknown, not zero.
        run "$sr" waitid=ECHILD -- "$pv" -q --report="$tmp/l.json" -- "$helper" exit 3 </dev/null
        check "status lost: 125, rusage null" "125 lost None None None" \
                "$? $(json "$tmp/l.json" 'r["status"], r["user_cpu_ms"], r["sys_cpu_ms"], r["max_rss_kb"]')"

        # --kill-tree: only "cgroup v2 not usable here" falls back, and says
        # so; running out of something is a failure.
        out=$(run "$sr" mkdir=ENOMEM,mkdirat=ENOMEM -- "$pv" --kill-tree --report="$tmp/m.json" -- "$helper" exit 0 2>&1 </dev/null)
        check "kill-tree, mkdir ENOMEM: 125" "125 not-run" "$? $(json "$tmp/m.json" 'r["status"]')"
        check "kill-tree, mkdir ENOMEM: the message names the call" yes \
                "$(echo "$out" | grep -q '^pidvisor: --kill-tree: pv_cgroup_new: Cannot allocate memory$' && echo yes || echo "no: $out")"
        out=$(run "$sr" mkdir=EACCES,mkdirat=EACCES -- "$pv" --kill-tree --report="$tmp/a.json" -- "$helper" exit 0 2>&1 </dev/null)
        check "kill-tree, mkdir EACCES: falls back to a process group" "0 pgrp" "$? $(json "$tmp/a.json" 'r["kill_tree"]')"
        check "kill-tree, mkdir EACCES: says so, in one line" 1 \
                "$(echo "$out" | grep -c '^pidvisor: --kill-tree: cgroup v2 not usable here (pv_cgroup_new: Permission denied): using a process group$')"
        check "kill-tree, mkdir EACCES, -q: says nothing" "" \
                "$(run "$sr" mkdir=EACCES,mkdirat=EACCES -- "$pv" -q --kill-tree -- "$helper" exit 0 2>&1 </dev/null)"
        check "--features agrees: fails with ENOMEM" yes \
                "$("$sr" mkdir=ENOMEM,mkdirat=ENOMEM -- "$pv" --features | grep -q '^kill tree: fails (pv_cgroup_new: Cannot allocate memory)' && echo yes || echo no)"
        check "--features agrees: pgrp with EACCES" pgrp \
                "$("$sr" mkdir=EACCES,mkdirat=EACCES -- "$pv" --features | sed -n 's/^kill tree: \([a-z]*\).*/\1/p')"

        # --features and --kill-tree agree in a container without clone3,
        # where the program moves itself into its cgroup.
        dtree=$("$sr" docker -- "$pv" --features | sed -n 's/^kill tree: \([a-z]*\).*/\1/p')
        if [ "$dtree" = cgroup ]; then
                rm -f "$tmp/sid" "$tmp/sidp"
                mkfifo "$tmp/sidp"
                run "$sr" docker -- "$pv" -q --kill-tree --report="$tmp/d.json" -- sh -c "
                        setsid sh -c 'echo \$\$ > $tmp/sidp; exec sleep 100' &
                        read p < $tmp/sidp; echo \$p > $tmp/sid; exit 0" </dev/null
                check "docker: --kill-tree uses what --features says" "0 cgroup" \
                        "$? $(json "$tmp/d.json" 'r["kill_tree"]')"
                check "docker: the setsid'd descendant is gone" no "$(alive "$(cat "$tmp/sid" 2>/dev/null)")"
        else
                skip "docker: --kill-tree in a cgroup" "no writable cgroup v2 ($dtree)"
        fi
        "$sr" docker -- "$pv" --features --json >"$tmp/fd.json" 2>&1 </dev/null
        check "docker: --features --json: no clone3, no io_uring, clone and epoll" \
                "False False True clone epoll" \
                "$(json "$tmp/fd.json" 'r["features"]["clone3"], r["features"]["io_uring"], r["rungs"]["clone"], r["spawn"], r["backend"]')"
        check "nothing to spawn: --features says the kill tree is unavailable" \
                "kill tree: unavailable (nothing can be spawned)" \
                "$("$sr" pre-5.4 -- "$pv" --features | grep '^kill tree:')"
        # Setup failures say what is missing, or which call failed.
        check "nothing to spawn: the message says what is missing" \
                "125 pidvisor: cannot set up: this kernel lacks pidfds that waitid(P_PIDFD) accepts: Linux 5.4 or later is needed" \
                "$(out=$(run "$sr" pre-5.4 -- "$pv" true 2>&1 </dev/null); echo "$? $out")"
        check "a setup failure names the call" \
                "pidvisor: cannot set up: signalfd: Too many open files" \
                "$(run "$sr" signalfd4=EMFILE -- "$pv" true 2>&1 </dev/null)"
else
        skip "sandbox scenarios" "no tests/seccomp-run (configure found no libseccomp)"
fi

# --help, --version and --features.
check "help exits 0" 0 "$(status "$pv" --help)"
check "help names every option" 11 "$(run "$pv" --help | grep -oE -- '--(grace|timeout|kill-tree|preserve-fds|stderr-prefix|report|features|json|quiet|help|version)' | sort -u | wc -l)"
check "version" "pidvisor 0.2.0" "$(run "$pv" --version)"
check "features" 0 "$(status "$pv" --features)"
check "features: one line for each rung and fact" "3 1 1 1 1 1 1" \
        "$(for k in '  [a-z0-9]*: ' 'spawn: ' 'backend: ' 'signals: ' 'group signals: ' 'stolen status: ' 'kill tree: '; do
                echo "$features" | grep -c "^$k"; done | tr '\n' ' ' | sed 's/ $//')"
check "features: a table line for each piece of the kernel" 15 \
        "$(echo "$features" | grep -cE '^[A-Za-z_][^ ]*( [^ ]+)* +(yes|no) +[0-9]+\.[0-9]+ ')"
run "$pv" --features --json >"$tmp/f.json" </dev/null
check "features --json: the same rung, backend and kill tree as the text" \
        "$rung $backend $tree 15" \
        "$(json "$tmp/f.json" '"%s %s %s %d" % (r["spawn"], r["backend"], r["kill_tree"], len(r["features"]))')"
check "features --json: each piece as the table says it" \
        "$(echo "$features" | grep -cE ' yes +[0-9]+\.[0-9]+ ')" \
        "$(json "$tmp/f.json" 'sum(r["features"].values())')"
check "--features to a full disk: 125 and why" "125 pidvisor: --features: cannot write: No space left on device" \
        "$(out=$(run "$pv" --features --json 2>&1 >/dev/full </dev/null); echo "$? $out")"
check "--json alone: 125 and why" "125 pidvisor: --json goes with --features" \
        "$(out=$(run "$pv" --json true 2>&1 </dev/null); echo "$? $(echo "$out" | head -n 1)")"

# pidvisor sleeps when it has nothing to do, also once the reader of its
# stderr is gone (epoll reports that whatever events were asked for), and
# while the tree winds down with stdin still readable.  The CPU time of the
# whole run (pidvisor and program, about 2 s of wall time each) tells: a
# spin burns nearly all of it, an idle run a few milliseconds.
idle() { # idle MODE ARGS...: "idle" or "busy", after a bounded run
        python3 - "$@" <<'PY'
import os, resource, subprocess, sys
mode, argv = sys.argv[1], sys.argv[2:]
if mode == "stderr-gone":
    # The reader takes the first line, then goes away.
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    p.stderr.readline()
    p.stderr.close()
else:
    # stdin turns readable once the program is going (it said "bye");
    # the TERM-ignoring grandchild it left keeps pidvisor winding down.
    r, w = os.pipe()
    p = subprocess.Popen(argv, stdin=r, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.close(r)
    while p.stdout.readline() not in (b"bye\n", b""):
        pass
    try:
        os.write(w, b"x" * 4096)
    except BrokenPipeError:
        print("pidvisor ended early: %s" % p.wait(timeout=60))
        sys.exit(0)
p.wait(timeout=60)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("busy" if u.ru_utime + u.ru_stime > 0.5 else "idle")
PY
}
check "no spin once the stderr reader is gone" idle \
        "$(idle stderr-gone "$pv" -- "$helper" eprint hi sleep 2000 2>&1)"
check "no spin while the tree winds down with stdin readable" idle \
        "$(idle stdin-after-exit "$pv" --grace=2s --kill-tree -- \
                "$helper" ignore-term fork-grandchild print bye exit 0 2>&1)"

checks_summary
[ $fails -eq 0 ]
