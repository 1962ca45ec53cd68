#!/bin/sh
# The public header works from C++11 (services include it from C++): it
# compiles warning-free, and the *_INIT macros set .size and zero the rest.
set -eu
cxx=${CXX:-g++}
command -v "$cxx" >/dev/null 2>&1 || { echo "no C++ compiler ($cxx)"; exit 77; }
lib="${top_builddir:-.}/.libs"
[ -f "$lib/libpidvisor.so" ] || { echo "no $lib/libpidvisor.so (shared library disabled?)"; exit 77; }
dir=$(mktemp -d /tmp/pv-cxx.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/t.cc" <<'EOT'
#include <pidvisor.h>
#include <cstdio>
int main()
{
        struct pv_loop_opts lo = PV_LOOP_OPTS_INIT;
        struct pv_spawn_opts so = PV_SPAWN_OPTS_INIT;
        struct pv_features f = PV_FEATURES_INIT;
        if (lo.size != sizeof lo || lo.mech || lo.backend) return 1;
        if (so.size != sizeof so || so.argv || so.flags || so.stdio[2].mode) return 2;
        if (f.size != sizeof f || f.have) return 3;
        if (pv_version() != PV_VERSION) return 4;
        if (pv_features(&f) < 0) return 5;
        std::printf("C++11: version %u.%u.%u\n", pv_version() >> 16, (pv_version() >> 8) & 255,
                    pv_version() & 255);
        return 0;
}
EOT
# A sanitizer build's library needs its runtime first in the program.
san=
readelf -d "$lib/libpidvisor.so" | grep -q 'libasan' && san="-fsanitize=address,undefined"
"$cxx" -std=c++11 -Wall -Wextra -Werror -pedantic $san -I"${top_srcdir:-.}/include" \
        -o "$dir/t" "$dir/t.cc" -L"$lib" -lpidvisor
LD_LIBRARY_PATH="$lib" "$dir/t"
