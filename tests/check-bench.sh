#!/bin/sh
# Keep the benchmarks from rotting: small runs must count every line and
# spawn every child, on each event backend (epoll, and io_uring where it
# can be had).  The speed they print is not judged here (make bench is
# where it is read).  What is judged, on the system calls of the parent
# per spawn/reap cycle, which bench-spawn counts itself (and says so when
# it cannot: no seccomp user notification, which is not a failure):
# pidvisor on epoll makes no more of the calls the job needs than the raw
# floor (not the waits, whose count is timing, nor the allocator's); on
# io_uring no more of them than the floor either, and fewer calls in all,
# waits included, than on epoll (a margin of about six calls a cycle: see
# stress/README.md).  Sized to take about as long as it did with epoll
# alone.
set -eu
"${top_builddir:-.}/stress/bench-throughput" --mb 4 --runs 1
exec "${top_builddir:-.}/stress/bench-spawn" --mb 16 --cycles 5 --floor-cycles 10 \
        --count-cycles 10 --alive 20 --alive-rounds 1 --check
