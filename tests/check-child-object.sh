#!/bin/sh
# The child side of spawn runs on the parent's memory between clone and
# exec: its code must call nothing outside its own object (no libc, no PLT,
# no sanitizer or profiling runtime).  Whatever flags built it, prove it:
# no function of the object may refer to an undefined symbol.  (Module
# constructors that a sanitizer or gcov adds run at load time, never in the
# child, and are allowed.)
set -eu
obj="${top_builddir:-.}/src/.libs/libpvchild_la-spawn-child.o"
[ -f "$obj" ] || obj="${top_builddir:-.}/src/libpvchild_la-spawn-child.o"
[ -f "$obj" ] || { echo "no child object found"; exit 99; }
# The generic build (configure --with-arch=generic, src/arch/generic-*)
# enters the kernel through libc's syscall(), which reports failures
# through errno: those two, and only there.
allowed=
grep -q '^#define PV_ARCH_GENERIC 1' "${top_builddir:-.}/config.h" && allowed="syscall __errno_location"
undef=$(nm -u "$obj" | awk '{ print $2 }' | tr '\n' ' ')
for a in $allowed; do
        undef=$(echo " $undef " | sed "s/ $a / /")
done
undef=$(echo $undef)
bad=$(objdump -dr "$obj" | awk -v undef=" $undef " '
        /^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
        /R_(X86_64|AARCH64)_/ {
                sym = $3; sub(/[-+].*/, "", sym)
                if (index(undef, " " sym " ") && fn !~ /^_sub_[ID]_/)
                        print fn " -> " sym
        }' | sort -u)
if [ -n "$bad" ]; then
        echo "src/spawn-child.c calls outside itself:"
        echo "$bad"
        exit 1
fi
echo "child object: no function refers to anything outside it (undefined: ${undef:-none}${allowed:+; allowed: $allowed})"
