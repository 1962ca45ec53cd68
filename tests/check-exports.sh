#!/bin/sh
# The library exports exactly the pv_* names of src/libpidvisor.map.
set -eu
lib="${top_builddir:-.}/.libs/libpidvisor.so"
map="${top_srcdir:-.}/src/libpidvisor.map"
[ -f "$lib" ] || { echo "no $lib (shared library disabled?)"; exit 77; }

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
           sed 's/@.*//' | grep -v '^PIDVISOR_' | sort -u)
mapped=$(sed -n 's/^[[:space:]]*\(pv_[a-z0-9_]*\);$/\1/p' "$map" | sort -u)

status=0
for s in $exported; do
        case "$s" in pv_*) ;; *) echo "exported without the pv_ prefix: $s"; status=1 ;; esac
        echo "$mapped" | grep -qx "$s" || { echo "exported but not in the map: $s"; status=1; }
done
for s in $mapped; do
        echo "$exported" | grep -qx "$s" || { echo "in the map but not exported: $s"; status=1; }
done
# Every public function has its man page (a page of its own or a .so link).
for s in $mapped; do
        [ -f "${top_srcdir:-.}/man/$s.3" ] || { echo "no man page: man/$s.3"; status=1; }
done
# The soname says the ABI: libtool's current - age (configure.ac).
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libpidvisor.so.1 ] || { echo "soname $soname, want libpidvisor.so.1"; status=1; }
[ $status = 0 ] && echo "exports: $(echo "$exported" | wc -l) symbols, all pv_ and all in the map"
exit $status
