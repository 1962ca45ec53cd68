# Sourced by the shell suites: one "ok"/"FAIL"/"skip" line per check, and
# the closing "N passed, N failed, N skipped" line .ci/run tallies.
fails=0 n=0 skips=0

check() { # check NAME EXPECTED ACTUAL
        n=$((n + 1))
        if [ "$2" = "$3" ]; then
                echo "ok $n - $1"
        else
                echo "FAIL $n - $1: expected '$2', got '$3'"
                fails=$((fails + 1))
        fi
}

skip() { # skip NAME REASON (counted; .ci/run checks each against its allow-list)
        skips=$((skips + 1))
        echo "skip $skips - $1: $2"
}

checks_summary() {
        echo "$((n - fails)) passed, $fails failed, $skips skipped"
}
