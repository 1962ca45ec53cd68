#!/bin/sh
# make check-kernel (issue 12): the Criterion suites and the stress seed set
# on the distribution's LTS kernel, Debian 12's Linux 6.1 (its cloud image,
# linux-image-6.1.0-*-cloud-amd64-unsigned), booted under
# qemu-system-x86_64 with the test binaries and their runtime in a small
# initramfs.  The suites that make loops (PV_PER_BACKEND_TESTS, as for
# tests/per-backend.sh) run once per event backend, the others once, and
# tests/check-stress.sh once per backend; a backend this build or that
# kernel lacks is a skip (tests/backends.sh, asked inside the guest).
#
# The guest marks each run "=== RUN NAME backend=B at=UPTIME" and
# "=== END NAME backend=B rc=RC at=UPTIME", a skipped one
# "=== SKIP NAME backend=B: why", and the end "=== ALL DONE"; this script
# reads those from the console log (kept at tests/check-kernel.console)
# and prints "ok"/"FAIL"/"skip" per run, with Criterion's Synthesis and
# [FAIL] lines, then "N passed, N failed, N skipped".  A run without its
# END, or a guest that never says ALL DONE (qemu has a time bound), fails.
# Exit 0 only when every run passed; 77 when nothing could run (a tool or
# the kernel is missing: one line says which, and how to get it).
#
# Not part of make check or .ci/run: 10 minutes on 2026-12-01 under TCG
# (2 guest CPUs on a 2-core machine shared with a CI run).
# Settings (environment):
#   KERNEL_DEB              the kernel's .deb (default: the newest in
#                           KERNEL_CACHE, else fetched with apt-get download)
#   KERNEL_CACHE            where .debs are fetched and unpacked
#                           (default $top_builddir/kernel-cache)
#   CHECK_KERNEL_TIMEOUT    seconds qemu may run in all (default 3600)
#   CHECK_KERNEL_RUN_TIMEOUT seconds one run may take in the guest (1200)
#   CHECK_KERNEL_ACCEL      qemu's -accel (default tcg: KVM hung after the
#                           boot stub on the machine this was written on)
#   CHECK_KERNEL_SMP, CHECK_KERNEL_MEM  guest CPUs (2) and MiB (2048)
set -u
top=$(cd "${top_builddir:-.}" && pwd)
srcdir=$(cd "${top_srcdir:-.}" && pwd)
abs=${abs_top_builddir:-$top}   # the tests' HELPER_PATH is $abs/tests/helper
tests=${PV_KERNEL_TESTS:-}
per_backend=${PV_PER_BACKEND_TESTS:-}
cache=${KERNEL_CACHE:-$top/kernel-cache}
console=$top/tests/check-kernel.console
timeout=${CHECK_KERNEL_TIMEOUT:-3600}
run_timeout=${CHECK_KERNEL_RUN_TIMEOUT:-1200}

# ---- what it needs --------------------------------------------------------

[ "$(uname -m)" = x86_64 ] || { echo "skip: the guest runs this build's x86-64 binaries; this is $(uname -m)"; exit 77; }
[ -n "$tests" ] || {
        echo "skip: no Criterion suites in this build (apt-get install libcriterion-dev libseccomp-dev, or ./bootstrap)"
        exit 77
}
missing= pkgs=
for tool in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || { missing="$missing ${tool%%:*}"; pkgs="$pkgs ${tool#*:}"; }
done
[ -z "$missing" ] || { echo "skip: missing$missing: apt-get install$pkgs"; exit 77; }
[ -f "$top/config.h" ] || { echo "no $top/config.h (not configured?)"; exit 99; }

# The newest linux-image-6.1.0-N-cloud-amd64-unsigned that apt can fetch.
newest_kernel_package() {
        apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
                grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' | sort -rV |
                while read -r p; do
                        apt-cache policy "$p" | grep -q 'Candidate: [0-9]' && { echo "$p"; break; }
                done
}

deb=${KERNEL_DEB:-}
if [ -z "$deb" ]; then
        mkdir -p "$cache"
        deb=$(ls "$cache"/linux-image-6.1.0-*-cloud-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
fi
if [ -z "$deb" ]; then
        command -v apt-get >/dev/null 2>&1 || {
                echo "skip: no kernel: set KERNEL_DEB to Debian 12's linux-image-6.1.0-*-cloud-amd64-unsigned .deb"
                exit 77
        }
        pkg=$(newest_kernel_package)
        [ -n "$pkg" ] || {
                echo "skip: apt knows no linux-image-6.1.0-*-cloud-amd64-unsigned (Debian 12 sources;" \
                        "apt-get update), or set KERNEL_DEB"
                exit 77
        }
        echo "check-kernel: apt-get download $pkg (into $cache)"
        # As root apt would hand the download to its _apt user, who may not
        # write here: it warns, then downloads as root anyway.
        sandbox=
        [ "$(id -u)" != 0 ] || sandbox="-o APT::Sandbox::User=root"
        (cd "$cache" && apt-get download -q $sandbox "$pkg" >/dev/null) ||
                { echo "skip: apt-get download $pkg failed (no network?); or set KERNEL_DEB"; exit 77; }
        deb=$(ls "$cache"/"$pkg"_*.deb | sort -V | tail -n 1)
fi
[ -f "$deb" ] || { echo "no such kernel package: $deb"; exit 99; }
unpacked=$cache/$(basename "$deb" .deb)
if ! ls "$unpacked"/boot/vmlinuz-* >/dev/null 2>&1; then
        mkdir -p "$unpacked" && dpkg-deb -x "$deb" "$unpacked" || { echo "dpkg-deb -x $deb failed"; exit 99; }
fi
vmlinuz=$(ls "$unpacked"/boot/vmlinuz-* | sort -V | tail -n 1)

# ---- the initramfs ---------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pv-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP PIPE
root=$tmp/root

# elf_of PATH: the program itself behind a libtool wrapper, else PATH.
elf_of() {
        for f in "$(dirname "$1")/.libs/$(basename "$1")" "$(dirname "$1")/.libs/lt-$(basename "$1")" "$1"; do
                [ -f "$f" ] && [ "$(head -c 4 "$f" | tail -c 3)" = ELF ] && { echo "$f"; return 0; }
        done
        echo "check-kernel: no program at $1 (make check-kernel builds it)" >&2
        return 1
}

# The build tree's files sit at their absolute paths, as the tests know them.
mkdir -p "$root"/bin "$root"/usr "$root"/lib/x86_64-linux-gnu "$root"/proc "$root"/sys "$root"/dev \
        "$root"/tmp "$root"/etc "$root$abs"/tests "$root$abs"/stress
ln -s bin "$root"/sbin
ln -s ../bin "$root"/usr/bin
ln -s ../bin "$root"/usr/sbin
ln -s ../lib "$root"/usr/lib
busybox=$(command -v busybox)
cp "$busybox" "$root"/bin/busybox
for a in $("$busybox" --list); do
        [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
# The tests exec /bin/true and /bin/cat: the real ones, not busybox's.
rm -f "$root"/bin/true "$root"/bin/cat
cp /bin/true /bin/cat "$root"/bin/
echo 'root:x:0:0:root:/root:/bin/sh' >"$root"/etc/passwd
echo 'root:x:0:' >"$root"/etc/group

bins="$busybox /bin/true /bin/cat"
names=
for t in $tests tests/helper stress/pv-stress; do
        elf=$(elf_of "$top/$t") || exit 99
        cp "$elf" "$root$abs/$t"
        bins="$bins $elf"
        case $t in tests/test-*) names="$names $(basename "$t")" ;; esac
done
per_backend_names=
for t in $per_backend; do
        per_backend_names="$per_backend_names $(basename "$t")"
done
cp "$top"/config.h "$root$abs"/config.h
cp "$srcdir"/tests/backends.sh "$srcdir"/tests/check-stress.sh "$root$abs"/tests/

# Every shared library they load, pidvisor's from the build tree; the
# loader at the path the programs name, the rest where it looks.
for b in $bins; do
        LD_LIBRARY_PATH="$top/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$b" 2>/dev/null
done >"$tmp"/ldd
if grep -q 'not found' "$tmp"/ldd; then
        echo "check-kernel: a library the programs need is missing:"
        grep 'not found' "$tmp"/ldd | sort -u
        exit 99
fi
awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' "$tmp"/ldd | sort -u |
while read -r lib; do
        case $lib in
        /lib64/*) mkdir -p "$root"/lib64 && cp -L "$lib" "$root$lib" ;;
        *) cp -L "$lib" "$root"/lib/x86_64-linux-gnu/ ;;
        esac
done

# The host's open-file limit, which the suites and pv-stress pass under here
# (the kernel starts init at 1024).
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576
cat >"$root"/check-kernel.conf <<EOF
top='$abs'
tests='$names'
per_backend='$per_backend_names'
run_timeout=$run_timeout
nofile=$nofile
EOF

cat >"$root"/init <<'EOF'
#!/bin/sh
# tests/check-kernel.sh's guest: one marked run per suite and backend.
export PATH=/bin
. /check-kernel.conf
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
ulimit -n "$nofile"
echo "=== kernel: $(uname -r) ($(uname -v)), $(nproc) CPUs"
export CRITERION_VERBOSITY_LEVEL=1 CRITERION_JOBS=1 top_builddir="$top"
cd "$top"
. tests/backends.sh

run() { # run NAME BACKEND COMMAND...
        name=$1 backend=$2
        shift 2
        echo "=== RUN $name backend=$backend at=$(cut -d' ' -f1 /proc/uptime)"
        timeout "$run_timeout" "$@" </dev/null 2>&1
        rc=$?
        echo "=== END $name backend=$backend rc=$rc at=$(cut -d' ' -f1 /proc/uptime)"
}

# The suites take their backend from PV_TEST_BACKEND (tests/per-backend.sh),
# tests/check-stress.sh from PV_BACKENDS (tests/backends.sh).
on_each_backend() { # on_each_backend NAME COMMAND...
        what=$1
        shift
        for b in $pv_backends; do
                why=$(backend_why_not "$b")
                if [ -n "$why" ]; then
                        echo "=== SKIP $what backend=$b: $why"
                        continue
                fi
                export PV_TEST_BACKEND=$b PV_BACKENDS=$b
                run "$what" "$b" "$@"
                unset PV_TEST_BACKEND PV_BACKENDS
        done
}

for t in $tests; do
        case " $per_backend " in
        *" $t "*) on_each_backend "$t" "./tests/$t" ;;
        *) run "$t" - "./tests/$t" ;;
        esac
done
on_each_backend check-stress.sh sh tests/check-stress.sh
echo "=== ALL DONE"
sync
poweroff -f
EOF
chmod +x "$root"/init
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp"/initrd.gz ||
        { echo "check-kernel: cannot build the initramfs"; exit 99; }

# ---- the boot ----------------------------------------------------------------

echo "check-kernel: booting $(basename "$vmlinuz") from $(basename "$deb") under qemu" \
        "(-accel ${CHECK_KERNEL_ACCEL:-tcg}, up to $timeout s; console: $console)"
rm -f "$console"
start=$(date +%s)
timeout "$timeout" qemu-system-x86_64 -accel "${CHECK_KERNEL_ACCEL:-tcg}" \
        -m "${CHECK_KERNEL_MEM:-2048}" -smp "${CHECK_KERNEL_SMP:-2}" \
        -display none -monitor none -serial "file:$console" -no-reboot \
        -kernel "$vmlinuz" -initrd "$tmp"/initrd.gz \
        -append "console=ttyS0 panic=-1 quiet loglevel=4" </dev/null >"$tmp"/qemu.out 2>&1
qrc=$?
secs=$(($(date +%s) - start))

# ---- the report ----------------------------------------------------------------

# The console without carriage returns and terminal escapes (SeaBIOS's,
# Criterion's colours), cut into one file per run and an index:
# "kernel TEXT", "run K NAME BACKEND RC SECONDS", "skip NAME backend=B: why", "done".
esc=$(printf '\033')
mkdir "$tmp"/runs
tr -d '\r' <"$console" 2>/dev/null | sed "s/$esc\[[0-9;?]*[A-Za-z]//g; s/${esc}c//g" >"$tmp"/console
awk -v dir="$tmp/runs" '
function field(key,    i) {
        for (i = 1; i <= NF; i++)
                if (index($i, key "=") == 1)
                        return substr($i, length(key) + 2)
        return ""
}
{
        i = index($0, "=== ")
        if (i > 1 && substr($0, i) ~ /^=== (kernel|RUN|END|SKIP|ALL DONE)/)
                $0 = substr($0, i)
}
/^=== kernel: / { print "kernel " substr($0, 13); next }
/^=== RUN / {
        k++; cur = sprintf("%s/%03d", dir, k); name = $3; backend = field("backend")
        start = field("at"); printf "" >cur; next
}
/^=== END / && cur != "" {
        printf "run %d %s %s %s %.1f\n", k, name, backend, field("rc"), field("at") - start
        close(cur); cur = ""; next
}
/^=== SKIP / { print "skip " substr($0, 10); next }
/^=== ALL DONE/ { print "done"; next }
cur != "" { print >cur }
END { if (cur != "") printf "run %d %s %s none -\n", k, name, backend }
' "$tmp"/console >"$tmp"/index

. "$srcdir/tests/checks.sh"
done=no
while read -r kind rest; do
        case $kind in
        kernel) echo "check-kernel: guest kernel $rest" ;;
        done) done=yes ;;
        skip) skip "${rest%%:*}" "${rest#*: }" ;;
        run)
                set -- $rest
                log=$tmp/runs/$(printf %03d "$1") run="$2" rc=$4 time=$5
                [ "$3" = - ] || run="$2 backend=$3"
                n=$((n + 1))
                k=$(grep -cE '^\[SKIP\]|^skip [0-9]+ - ' "$log")
                skips=$((skips + k))
                case $2 in
                check-stress.sh) what="$(grep -c '  ok$' "$log") pv-stress runs ok" ;;
                *) what=$(sed -n 's/.*Synthesis: //p' "$log" | sed 's/ *$//')
                   [ -n "$what" ] || what="no Criterion Synthesis line" ;;
                esac
                if [ "$rc" = 0 ]; then
                        echo "ok $n - $run: $what, $k skipped ($time s)"
                else
                        case $rc in
                        none) echo "FAIL $n - $run: no END (the guest stopped during it)" ;;
                        *) echo "FAIL $n - $run (exit $rc, $time s): $what" ;;
                        esac
                        grep -E '^\[FAIL\]|^\[----\] [^ ]+:[0-9]+:|FAIL' "$log" | head -n 20
                        fails=$((fails + 1))
                fi
                grep -E '^\[SKIP\]|^skip [0-9]+ - ' "$log"
                ;;
        esac
done <"$tmp"/index
if [ $done = no ]; then
        n=$((n + 1)) fails=$((fails + 1))
        echo "FAIL $n - the guest never said '=== ALL DONE' (qemu exit $qrc after $secs s; 124: the" \
                "$timeout s bound); the console's last lines:"
        tail -n 10 "$tmp"/console
        cat "$tmp"/qemu.out
fi
echo "check-kernel: $(basename "$vmlinuz"), qemu ran $secs s; console log: $console"
checks_summary
[ $fails = 0 ] || exit 1
[ $n -gt 0 ] || exit 77
exit 0
