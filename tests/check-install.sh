#!/bin/sh
# Installing to a prefix chosen at configure time, as the README says
# (issue 10: with the prefix given to make install alone, the installed
# pidvisor.pc still says /usr/local).  A clean copy of the sources (make
# distdir) is built out of tree with --prefix and installed into a scratch
# prefix; then the installed pidvisor.pc names that prefix, the installed
# command finds the installed library without LD_LIBRARY_PATH (libtool's
# RUNPATH), a program compiled with pkg-config against the installed copy
# runs (with LD_LIBRARY_PATH, and with the README's -Wl,-rpath), every man
# page is installed, renders without a groff warning and is found by
# man -M, and ./bootstrap passes --prefix to configure.  Each step has a
# time bound.  Prints "ok"/"FAIL"/"skip" per check and "N passed, N failed,
# N skipped"; skips (77) only when a tool it needs is missing.  About 20 s
# here (2 cores), so make check runs it.
set -u
top=$(cd "${top_builddir:-.}" && pwd)
srcdir=$(cd "${top_srcdir:-.}" && pwd)
cc=${CC:-cc}
for tool in make "$cc" readelf pkg-config timeout; do
        command -v "$tool" >/dev/null 2>&1 || { echo "no $tool: cannot build and inspect an install"; exit 77; }
done
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top/config.h")
[ -n "$version" ] || { echo "no PACKAGE_VERSION in $top/config.h (not configured?)"; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pv-install.XXXXXX")
# distdir copies read-only files from a read-only tree (make distcheck).
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
prefix=$tmp/prefix
# A build of its own, not a part of the make that runs this test.
unset MAKEFLAGS MFLAGS MAKELEVEL LD_LIBRARY_PATH PKG_CONFIG_PATH

. "$srcdir/tests/checks.sh"
finish() {
        checks_summary
        [ $fails = 0 ]
        exit
}
step() { # step NAME LOG SECONDS COMMAND...: a build step, its log shown on failure
        name=$1 log=$2 secs=$3
        shift 3
        timeout -k 5 "$secs" "$@" >"$log" 2>&1
        rc=$?
        [ $rc = 0 ] || tail -n 20 "$log"
        check "$name" 0 $rc
        [ $rc = 0 ] || finish
}

# The sources as a release carries them, configure included: a VPATH build
# needs a source tree that is not configured itself.
step "make distdir: a clean copy of the sources" "$tmp/distdir.log" 60 \
        make -C "$top" distdir distdir="$tmp/src"
mkdir "$tmp/build"
# shellcheck disable=SC2016 # expanded by that sh, from its arguments
step "configure --prefix=$prefix, out of tree" "$tmp/configure.log" 180 \
        sh -c 'cd "$1" && "$2/configure" --prefix="$3"' sh "$tmp/build" "$tmp/src" "$prefix"
step "make install" "$tmp/install.log" 600 make -C "$tmp/build" install

pc=$prefix/lib/pkgconfig/pidvisor.pc
check "pidvisor.pc says prefix=$prefix" "$prefix" "$(sed -n 's/^prefix=//p' "$pc" 2>&1)"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
check "pkg-config finds it: libdir" "$prefix/lib" "$(pkg-config --variable=libdir pidvisor 2>&1)"
check "pkg-config finds it: version" "$version" "$(pkg-config --modversion pidvisor 2>&1)"

# The command, with no LD_LIBRARY_PATH: the loader must find the library
# through the RUNPATH (or RPATH) that libtool linked in at install time.
check "installed pidvisor --version runs without LD_LIBRARY_PATH" "pidvisor $version" \
        "$(timeout 10 "$prefix/bin/pidvisor" --version 2>&1)"
runpath=$(readelf -d "$prefix/bin/pidvisor" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]$/\1/p')
case ":$runpath:" in
*":$prefix/lib:"*) check "pidvisor's RUNPATH has $prefix/lib" "$prefix/lib" "$prefix/lib" ;;
*) check "pidvisor's RUNPATH has $prefix/lib" "$prefix/lib" "$runpath" ;;
esac
if command -v ldd >/dev/null 2>&1; then
        check "pidvisor loads the installed library" "$prefix/lib/libpidvisor.so.1" \
                "$(ldd "$prefix/bin/pidvisor" | sed -n 's/^[[:space:]]*libpidvisor\.so\.1 => \([^ ]*\) .*/\1/p')"
else
        skip "pidvisor loads the installed library" "no ldd"
fi
check "installed header is include/pidvisor.h" 0 \
        "$(cmp -s "$srcdir/include/pidvisor.h" "$prefix/include/pidvisor.h"; echo $?)"

# A program of a user's: its flags from pkg-config only, so the header and
# the library are the installed ones.
cat >"$tmp/prog.c" <<'EOF'
#include <pidvisor.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
        struct pv_features f = PV_FEATURES_INIT;
        unsigned v = pv_version();

        if (v != PV_VERSION) {
                fprintf(stderr, "library %#x, header %#x\n", v, (unsigned)PV_VERSION);
                return 1;
        }
        if (pv_features(&f) < 0 || strcmp(pv_mech_name(PV_MECH_AUTO), "auto") != 0)
                return 2;
        printf("%u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255);
        return 0;
}
EOF
flags=$(pkg-config --cflags --libs pidvisor)
# shellcheck disable=SC2086,SC2116 # the words, spaces collapsed
check "pkg-config --cflags --libs names the prefix" "-I$prefix/include -L$prefix/lib -lpidvisor" \
        "$(echo $flags)"
# shellcheck disable=SC2086 # the flags are words
"$cc" -std=c11 -Wall -Werror -o "$tmp/prog" "$tmp/prog.c" $flags >"$tmp/cc.log" 2>&1
rc=$?
[ $rc = 0 ] || cat "$tmp/cc.log"
check "a program compiles against the installed copy with pkg-config" 0 $rc
check "it runs against the installed library (LD_LIBRARY_PATH=$prefix/lib)" "$version" \
        "$(LD_LIBRARY_PATH="$prefix/lib" timeout 10 "$tmp/prog" 2>&1)"
# The README's way: an rpath from pkg-config's libdir, no LD_LIBRARY_PATH.
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Werror -o "$tmp/prog-rpath" "$tmp/prog.c" $flags \
        -Wl,-rpath,"$(pkg-config --variable=libdir pidvisor)" >"$tmp/cc.log" 2>&1
rc=$?
[ $rc = 0 ] || cat "$tmp/cc.log"
check "... and with -Wl,-rpath,\$(pkg-config --variable=libdir pidvisor)" 0 $rc
check "that one runs without LD_LIBRARY_PATH" "$version" "$(timeout 10 "$tmp/prog-rpath" 2>&1)"

# Every page of man/ is installed; .so links resolve from the installed
# tree; no page makes groff warn.
missing=
for f in "$srcdir"/man/*.[0-9]; do
        p=$(basename "$f")
        [ -f "$prefix/share/man/man${p##*.}/$p" ] || missing="$missing $p"
done
check "every man page is installed" "" "$missing"
if command -v groff >/dev/null 2>&1; then
        warn=$(cd "$prefix/share/man" && for p in man*/*; do
                        timeout 10 groff -man -Tutf8 -ww -z "$p" 2>&1 | sed "s|^|$p: |"
                done)
        check "installed man pages render without a groff warning" "" "$warn"
        check "pv_backend_name(3) (.so link) renders pv_mech_name(3)" 1 \
                "$(cd "$prefix/share/man" && timeout 10 groff -man -Tutf8 man3/pv_backend_name.3 2>&1 |
                   grep -c '^PV_MECH_NAME(3)')"
else
        skip "installed man pages render without a groff warning" "no groff (groff-base)"
fi
if command -v man >/dev/null 2>&1; then
        check "man -M $prefix/share/man pv_spawn" 1 \
                "$(MANPAGER=cat MANWIDTH=80 timeout 10 man -M "$prefix/share/man" pv_spawn 2>&1 |
                   grep -c '^PV_SPAWN(3)')"
else
        skip "man -M $prefix/share/man pv_spawn" "no man (man-db)"
fi

# ./bootstrap passes its arguments to configure (the README's
# ./bootstrap --prefix=DIR).  It installs missing Debian packages as root:
# a test must not, so it runs only where none is missing.
pkgs=$(sed -n 's/^\(required\|optional\)="\(.*\)"$/\2/p' "$tmp/src/bootstrap")
if ! command -v dpkg-query >/dev/null 2>&1; then
        skip "./bootstrap --prefix" "no dpkg-query: bootstrap is for Debian"
else
        absent=
        for p in $pkgs; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
                        absent="$absent $p"
        done
        if [ -n "$absent" ]; then
                skip "./bootstrap --prefix" "it would install$absent"
        else
                step "./bootstrap --prefix=$tmp/p2 configures the copy" "$tmp/bootstrap.log" 180 \
                        "$tmp/src/bootstrap" --prefix="$tmp/p2"
                check "./bootstrap --prefix: pidvisor.pc says prefix=$tmp/p2" "$tmp/p2" \
                        "$(sed -n 's/^prefix=//p' "$tmp/src/pidvisor.pc" 2>&1)"
        fi
fi
finish
