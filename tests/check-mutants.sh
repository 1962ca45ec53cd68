#!/bin/sh
# make check-mutants: each patch in tests/mutants/ breaks one promise of
# the library on purpose; the tests its "Tests:" line names must then fail.
# A mutant that survives is a missing test (or a patch that changes
# nothing: fix whichever is true).  A patch that no longer applies fails
# too: the mutants follow the code.
#
# Works on a scratch copy of the source tree (the files git knows, as they
# are now), built once with fault injection (some promises are only
# reachable through it), then per mutant: apply, rebuild, run, revert.
set -u
srcdir=$(cd "${top_srcdir:-.}" && pwd)
only=${MUTANTS:-}              # e.g. MUTANTS=03 runs tests/mutants/03-*.patch
scratch=$(mktemp -d)
tree="$scratch/tree"
cgroups=$(ls -d /sys/fs/cgroup/*/pv-test.* /sys/fs/cgroup/pv-test.* 2>/dev/null)
# A mutant can leave what the library should have killed (pv_loop_free
# that kills nothing, a test timed out mid-ladder): end every process that
# runs a program of the scratch tree, and remove the test cgroups that
# appeared meanwhile (once empty).
cleanup() {
        for exe in /proc/[0-9]*/exe; do
                case "$(readlink "$exe" 2>/dev/null)" in
                "$tree"/*) pid=${exe#/proc/}; kill -9 "${pid%/exe}" 2>/dev/null ;;
                esac
        done
        sleep 1
        for d in /sys/fs/cgroup/*/pv-test.* /sys/fs/cgroup/pv-test.*; do
                [ -d "$d" ] || continue
                echo "$cgroups" | grep -qx "$d" || rmdir "$d" 2>/dev/null
        done
        rm -rf "$scratch"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP
mkdir "$tree"
(cd "$srcdir" && git ls-files -z | xargs -0 cp --parents -t "$tree") || exit 99
echo "check-mutants: building a scratch copy in $tree"
(cd "$tree" && ./bootstrap --enable-fault-injection >"$scratch/build.log" 2>&1 &&
        make -j"$(nproc)" check TESTS= >>"$scratch/build.log" 2>&1) || {
        tail -n 30 "$scratch/build.log"
        echo "check-mutants: the unmutated tree does not build"
        exit 99
}
killed=0 survived=0 broken=0 n=0
for p in "$srcdir"/tests/mutants/${only}*.patch; do
        name=$(basename "$p" .patch)
        tests=$(sed -n 's/^Tests: //p' "$p")
        n=$((n + 1))
        if ! (cd "$tree" && git apply "$p" 2>"$scratch/apply.log"); then
                echo "FAIL $n - $name: does not apply: $(head -n 1 "$scratch/apply.log")"
                broken=$((broken + 1))
                continue
        fi
        start=$(date +%s)
        (cd "$tree" && make -j"$(nproc)" check TESTS="$tests" >"$scratch/run.log" 2>&1)
        rc=$?
        (cd "$tree" && git apply -R "$p")
        secs=$(($(date +%s) - start))
        if [ $rc = 0 ]; then
                echo "FAIL $n - $name: survived ($tests passed; ${secs}s)"
                survived=$((survived + 1))
        else
                failed=$(cd "$tree" && grep -h '^\[FAIL\]' $(for t in $tests; do echo "$t.log"; done) \
                         2>/dev/null | head -n 3 | sed -E 's/^\[FAIL\] ([a-z_]+::[a-z0-9_]+).*/\1/' | tr '\n' ' ')
                echo "ok $n - $name: killed by ${failed:-$tests} (${secs}s)"
                killed=$((killed + 1))
        fi
done
# Leave the copy built as it was: every mutant reverted.
echo "$killed passed, $((survived + broken)) failed"
[ $n -gt 0 ] && [ $survived = 0 ] && [ $broken = 0 ]
