#!/bin/sh
# Keep the benchmarks from rotting: small runs must count every line and
# spawn every child.  The speed they print is not judged here (make bench is
# where it is read).  What is judged: pidvisor's parent makes no more system
# calls per spawn/reap cycle than the raw floor's, counting the calls the
# job needs (not epoll_wait, whose count is timing, nor the allocator's);
# bench-spawn counts them itself and says so when it cannot (no seccomp user
# notification), which is not a failure.
set -eu
"${top_builddir:-.}/stress/bench-throughput" --mb 8 --runs 1
exec "${top_builddir:-.}/stress/bench-spawn" --mb 16 --cycles 10 --floor-cycles 20 \
        --count-cycles 20 --check
