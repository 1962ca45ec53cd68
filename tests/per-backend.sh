#!/bin/sh
# automake's LOG_COMPILER for every test (Makefile.am).  A Criterion suite
# that makes loops (listed in PV_PER_BACKEND_TESTS by Makefile.am) runs
# once per event backend, with PV_TEST_BACKEND naming it for tu_loop_new
# (tests/testutil.h): the same tests, parameterised, not copied.  Any other
# test runs once, as it is.
#
# Each run is headed "== backend: NAME".  A backend this build or kernel
# lacks (tests/backends.sh) is not run: "[SKIP] backend NAME: why", in
# Criterion's form of a skip, which .ci/run counts.  Exit status: the first
# failed run's; else 77 when every run was skipped; else 0.  Each run is
# bounded as a suite run alone is: every Criterion test has its timeout
# (tests/README.md, "Waits").
set -u
. "$(dirname "$0")/backends.sh"

per_backend=no
for t in ${PV_PER_BACKEND_TESTS:-}; do
        [ "$(basename "$t")" = "$(basename "$1")" ] && per_backend=yes
done
[ $per_backend = yes ] || exec "$@"

status=0 ran=0
for b in $pv_backends; do
        echo "== backend: $b"
        why=$(backend_why_not "$b")
        if [ -n "$why" ]; then
                echo "[SKIP] backend $b: $why"
                continue
        fi
        PV_TEST_BACKEND=$b "$@"
        rc=$?
        case $rc in
        0) ran=$((ran + 1)) ;;
        77) ;;
        *) ran=$((ran + 1)); [ $status != 0 ] || status=$rc ;;
        esac
done
[ $status = 0 ] && [ $ran = 0 ] && status=77
exit $status
