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
undef=$(nm -u "$obj" | awk '{ print $2 }' | tr '\n' ' ')
bad=$(objdump -dr "$obj" | awk -v undef=" $undef" '
        /^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
        /R_X86_64_/ {
                sym = $3; sub(/[-+].*/, "", sym)
                if (index(undef, " " sym " ") && fn !~ /^_sub_[ID]_/)
                        print fn " -> " sym
        }' | sort -u)
if [ -n "$bad" ]; then
        echo "src/spawn-child.c calls outside itself:"
        echo "$bad"
        exit 1
fi
echo "child object: no function refers to anything outside it (undefined: ${undef:-none})"
