#!/bin/sh
# make check-kernel and make check-arm64 (issue 12): the Criterion suites
# and the stress seed set on the distribution's LTS kernel, Debian 12's
# Linux 6.1 (its cloud image, linux-image-6.1.0-*-cloud-ARCH-unsigned),
# booted under qemu with the test binaries and their runtime in a small
# initramfs.  PV_KERNEL_ARCH (configure's host_cpu) says which: x86_64
# (amd64, qemu-system-x86_64) or aarch64 (arm64, qemu-system-aarch64 -M
# virt, the build cross-compiled with configure --host=aarch64-linux-gnu
# --with-cross-root=DIR); everything that differs is in one block below.
# The suites that make loops (PV_PER_BACKEND_TESTS, as for
# tests/per-backend.sh) run once per event backend, the others once, and
# tests/check-stress.sh once per backend; a backend this build or that
# kernel lacks is a skip (tests/backends.sh, asked inside the guest).
#
# Where the build has stress/pv-kernelcmp, the guest runs it once after the
# suites, its Markdown table on stdout between "=== KERNELCMP BEGIN" and
# "=== KERNELCMP END rc=RC"; the table is saved to
# tests/check-kernel-DEBARCH.kernelcmp.md (a failure of it is reported,
# not counted: it compares, it does not test).
#
# The guest marks each run "=== RUN NAME backend=B at=UPTIME" and
# "=== END NAME backend=B rc=RC at=UPTIME", a skipped one
# "=== SKIP NAME backend=B: why", and the end "=== ALL DONE"; this script
# reads those from the console log (kept at tests/check-kernel-DEBARCH.console)
# and prints "ok"/"FAIL"/"skip" per run, with Criterion's Synthesis and
# [FAIL] lines, then "N passed, N failed, N skipped".  A run without its
# END, or a guest that never says ALL DONE (qemu has a time bound), fails.
# Exit 0 only when every run passed; 77 when nothing could run (a tool or
# the kernel is missing: one line says which, and how to get it).
#
# Not part of make check or .ci/run: on 2026-12-01 under TCG (2 guest CPUs
# on a 2-core machine shared with other work) 10 minutes for x86-64; see
# tests/README.md for arm64.
# Settings (environment):
#   KERNEL_DEB              the kernel's .deb (default: the newest in
#                           KERNEL_CACHE, else fetched with apt-get download)
#   KERNEL_CACHE            where .debs are fetched and unpacked
#                           (default $top_builddir/kernel-cache)
#   CHECK_KERNEL_TIMEOUT    seconds qemu may run in all (default 3600;
#                           arm64 14400)
#   CHECK_KERNEL_RUN_TIMEOUT seconds one run may take in the guest (1200;
#                           arm64 3600)
#   CHECK_KERNEL_ACCEL      qemu's -accel (default auto: kvm where /dev/kvm
#                           boots a guest of the host's architecture within
#                           20 s, asked with a tiny initramfs first; else
#                           tcg.  On the machine this was written on KVM
#                           failed: qemu aborted setting an MSR with -cpu
#                           host, hung with -cpu qemu64)
#   CHECK_KERNEL_KERNELCMP_ARGS  pv-kernelcmp's options in the guest
#                           (default none; arm64 --cycles 40 --concurrent 200)
#   CHECK_KERNEL_CPU        arm64's qemu -cpu (default cortex-a57: max
#                           emulates pointer authentication, slowly)
#   CHECK_KERNEL_SMP, CHECK_KERNEL_MEM  guest CPUs (2) and MiB (2048)
set -u
top=$(cd "${top_builddir:-.}" && pwd)
srcdir=$(cd "${top_srcdir:-.}" && pwd)
abs=${abs_top_builddir:-$top}   # the tests' HELPER_PATH is $abs/tests/helper
tests=${PV_KERNEL_TESTS:-}
per_backend=${PV_PER_BACKEND_TESTS:-}
cache=${KERNEL_CACHE:-$top/kernel-cache}
cross_root=${PV_CROSS_ROOT:-}

# ---- the architecture: all that differs between the two ------------------
#   debarch       Debian's name, in the kernel's package name and our files
#   multiarch     the library directory's name (/lib/MULTIARCH)
#   kernel_flavours  the kernel packages' flavours, the first apt has wins
#   qemu, qemu_pkg, machine  the emulator, its package, its machine options
#   ttydev        the serial console's device in the guest
#   libpath       where the programs' shared libraries are looked for, in
#                 order (after the build's own .libs)
#   guest_debs    packages whose binaries the guest runs (busybox, and the
#                 /bin/true and /bin/cat the tests exec), unpacked from
#                 their .debs; empty: the host's own
arch=${PV_KERNEL_ARCH:-$(uname -m)}
case $arch in
x86_64)
        debarch=amd64 multiarch=x86_64-linux-gnu kernel_flavours=cloud-amd64
        qemu=qemu-system-x86_64 qemu_pkg=qemu-system-x86 machine= ttydev=ttyS0
        libpath="/lib/$multiarch /usr/lib/$multiarch /lib64 /usr/lib"
        guest_debs= default_timeout=3600 default_run_timeout=1200 default_kernelcmp_args=
        ;;
aarch64)
        debarch=arm64 multiarch=aarch64-linux-gnu kernel_flavours="cloud-arm64 arm64"
        qemu=qemu-system-aarch64 qemu_pkg=qemu-system-arm ttydev=ttyAMA0
        machine="-M virt -cpu ${CHECK_KERNEL_CPU:-cortex-a57}"
        # The cross build's libraries (tests/cross-root.sh), then the cross
        # toolchain's C library (libc6-arm64-cross).
        libpath="${cross_root:+$cross_root/usr/lib/$multiarch $cross_root/lib/$multiarch} /usr/$multiarch/lib"
        guest_debs="busybox-static coreutils" default_timeout=14400 default_run_timeout=3600
        # An emulated arm64 runs pv-kernelcmp's 200 cycles a cell too
        # slowly, and 1000 children at 45 ms each (clone3 rows, 2026-12-02)
        # outlast its 90 s cell bound.
        default_kernelcmp_args="--cycles 40 --concurrent 200"
        ;;
*)
        echo "skip: no guest for $arch here (x86_64 and aarch64)"
        exit 77
        ;;
esac
console=$top/tests/check-kernel-$debarch.console
kernelcmp_md=$top/tests/check-kernel-$debarch.kernelcmp.md
timeout=${CHECK_KERNEL_TIMEOUT:-$default_timeout}
run_timeout=${CHECK_KERNEL_RUN_TIMEOUT:-$default_run_timeout}

# ---- what it needs --------------------------------------------------------

build_arch=${PV_BUILD_ARCH:-$arch}
[ "$build_arch" = "$arch" ] || {
        echo "skip: this build is for $build_arch, the guest would be $arch: make check-arm64 wants a" \
                "build configured with --host=aarch64-linux-gnu --with-cross-root=DIR (tests/README.md)"
        exit 77
}
[ -n "$tests" ] || {
        echo "skip: no Criterion suites in this build (apt-get install libcriterion-dev libseccomp-dev, or ./bootstrap)"
        exit 77
}
missing= pkgs=
# The host's busybox names the applets, for a foreign one too.
tools="$qemu:$qemu_pkg cpio:cpio readelf:binutils busybox:busybox-static"
for tool in $tools; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || { missing="$missing ${tool%%:*}"; pkgs="$pkgs ${tool#*:}"; }
done
[ -z "$missing" ] || { echo "skip: missing$missing: apt-get install$pkgs"; exit 77; }
[ -f "$top/config.h" ] || { echo "no $top/config.h (not configured?)"; exit 99; }
mkdir -p "$cache"

# As root apt would hand a download to its _apt user, who may not write
# here: it warns, then downloads as root anyway.
sandbox=
[ "$(id -u)" != 0 ] || sandbox="-o APT::Sandbox::User=root"

# fetch_deb PACKAGE: the newest PACKAGE_*_DEBARCH.deb in the cache, else
# fetched with apt-get download.  Prints its path; 77 with why when it can
# be had neither way.
fetch_deb() {
        f=$(ls "$cache"/"$1"_*_"$debarch".deb 2>/dev/null | sort -V | tail -n 1)
        [ -z "$f" ] || { echo "$f"; return 0; }
        command -v apt-get >/dev/null 2>&1 || { echo "skip: no apt-get to fetch $1:$debarch" >&2; return 77; }
        echo "check-kernel: apt-get download $1:$debarch (into $cache)" >&2
        (cd "$cache" && apt-get download -q $sandbox "$1:$debarch" >/dev/null) || {
                echo "skip: apt-get download $1:$debarch failed (no network? for arm64:" \
                        "dpkg --add-architecture arm64 && apt-get update)" >&2
                return 77
        }
        ls "$cache"/"$1"_*_"$debarch".deb | sort -V | tail -n 1
}

# unpack DEB: where dpkg-deb -x put it (once per .deb).
unpack() {
        u=$cache/$(basename "$1" .deb)
        [ -e "$u/.unpacked" ] && { echo "$u"; return 0; }
        mkdir -p "$u" && dpkg-deb -x "$1" "$u" && : >"$u/.unpacked" || { echo "dpkg-deb -x $1 failed" >&2; return 99; }
        echo "$u"
}

# The newest linux-image-6.1.0-N-FLAVOUR-unsigned that apt can fetch, of
# the first flavour it has.
newest_kernel_package() {
        for flavour in $kernel_flavours; do
                apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
                        grep -E "^linux-image-6\.1\.0-[0-9]+-$flavour-unsigned\$" | sort -rV |
                        while read -r p; do
                                apt-cache policy "$p" | grep -q 'Candidate: [0-9]' && { echo "$p"; break; }
                        done | grep . && return 0
        done
        return 1
}

deb=${KERNEL_DEB:-}
if [ -z "$deb" ]; then
        for flavour in $kernel_flavours; do
                deb=$(ls "$cache"/linux-image-6.1.0-*-"$flavour"-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
                [ -z "$deb" ] || break
        done
fi
if [ -z "$deb" ]; then
        pkg=$(newest_kernel_package) || {
                echo "skip: apt knows no linux-image-6.1.0-*-{$kernel_flavours}-unsigned (Debian 12 sources;" \
                        "apt-get update), or set KERNEL_DEB"
                exit 77
        }
        pkg=${pkg%:*}
        deb=$(fetch_deb "$pkg") || exit $?
fi
[ -f "$deb" ] || { echo "no such kernel package: $deb"; exit 99; }
unpacked=$(unpack "$deb") || exit 99
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
mkdir -p "$root"/bin "$root"/usr "$root"/lib/$multiarch "$root"/proc "$root"/sys "$root"/dev \
        "$root"/tmp "$root"/etc "$root$abs"/tests "$root$abs"/stress
ln -s bin "$root"/sbin
ln -s ../bin "$root"/usr/bin
ln -s ../bin "$root"/usr/sbin
ln -s ../lib "$root"/usr/lib
# busybox, and the /bin/true and /bin/cat the tests exec (the real ones,
# not busybox's): the host's, or the guest architecture's from their .debs
# (never installed).
guest=
for p in $guest_debs; do
        d=$(fetch_deb "$p") || exit $?
        d=$(unpack "$d") || exit 99
        guest="$guest $d"
done
busybox=$(command -v busybox) true_bin=/bin/true cat_bin=/bin/cat
for d in $guest; do
        [ -x "$d/bin/busybox" ] && busybox=$d/bin/busybox
        [ -x "$d/bin/true" ] && true_bin=$d/bin/true cat_bin=$d/bin/cat
done
cp "$busybox" "$root"/bin/busybox
# The list from the busybox that runs here (the guest's may not).
for a in $(busybox --list); do
        [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
rm -f "$root"/bin/true "$root"/bin/cat
cp "$true_bin" "$cat_bin" "$root"/bin/
echo 'root:x:0:0:root:/root:/bin/sh' >"$root"/etc/passwd
echo 'root:x:0:' >"$root"/etc/group

bins="$busybox $true_bin $cat_bin"
names=
# pv-kernelcmp, where this build has it (optional: run once, not counted).
kernelcmp=
[ -e "$top/stress/pv-kernelcmp" ] && kernelcmp=stress/pv-kernelcmp
for t in $tests tests/helper stress/pv-stress pidvisor $kernelcmp; do
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

# Every shared library they load, pidvisor's from the build tree: ldd's
# work done with readelf, which reads a foreign architecture's programs
# too.  Each program's NEEDED names, then theirs, are looked up in
# $top/.libs and libpath; they go to /lib/MULTIARCH, where the guest's
# loader looks, and the loader to the path the programs name.
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
interp() { readelf -l "$1" 2>/dev/null | sed -n 's/.*program interpreter: \(.*\)\]$/\1/p'; }
: >"$tmp"/seen
queue=$bins missing=
while [ -n "$queue" ]; do
        next=
        for b in $queue; do
                i=$(interp "$b")
                if [ -n "$i" ] && [ ! -e "$root$i" ]; then
                        for d in $libpath; do
                                [ -e "$d/$(basename "$i")" ] || continue
                                mkdir -p "$root$(dirname "$i")" && cp -L "$d/$(basename "$i")" "$root$i"
                                break
                        done
                        [ -e "$root$i" ] || missing="$missing $i"
                fi
                for n in $(needed "$b"); do
                        grep -qxF "$n" "$tmp"/seen && continue
                        echo "$n" >>"$tmp"/seen
                        found=
                        for d in "$top/.libs" $libpath; do
                                [ -e "$d/$n" ] && { found=$d/$n; break; }
                        done
                        [ -n "$found" ] || { missing="$missing $n"; continue; }
                        cp -L "$found" "$root/lib/$multiarch/$n"
                        next="$next $found"
                done
        done
        queue=$next
done
if [ -n "$missing" ]; then
        echo "check-kernel: a library the programs need is missing:$missing (looked in $top/.libs $libpath)"
        [ "$debarch" = amd64 ] || echo "  (a cross build: configure --with-cross-root=DIR, DIR from tests/cross-root.sh $debarch DIR)"
        exit 99
fi

# The host's open-file limit, which the suites and pv-stress pass under here
# (the kernel starts init at 1024).
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576
cat >"$root"/check-kernel.conf <<EOF
top='$abs'
tests='$names'
per_backend='$per_backend_names'
kernelcmp='$kernelcmp'
kernelcmp_args='${CHECK_KERNEL_KERNELCMP_ARGS-$default_kernelcmp_args}'
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
echo "=== FEATURES $("$top/pidvisor" --features --json 2>&1 | tr -d '\n')"
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
if [ -n "$kernelcmp" ]; then
        # Its table alone between the markers; what it says on stderr after.
        echo "=== KERNELCMP BEGIN"
        timeout "$run_timeout" "./$kernelcmp" $kernelcmp_args </dev/null 2>/tmp/kernelcmp.err
        rc=$?
        echo "=== KERNELCMP END rc=$rc"
        sed 's/^/kernelcmp: /' /tmp/kernelcmp.err
fi
echo "=== ALL DONE"
sync
poweroff -f
EOF
chmod +x "$root"/init
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp"/initrd.gz ||
        { echo "check-kernel: cannot build the initramfs"; exit 99; }

# ---- the boot ----------------------------------------------------------------

# KVM where it works: a guest that only says so and powers off, booted
# with it first (20 s at most).
accel=${CHECK_KERNEL_ACCEL:-auto} cpu=
if [ "$accel" = auto ]; then
        accel=tcg why="no /dev/kvm to use"
        [ "$arch" = "$(uname -m)" ] || why="the guest is $arch, this machine $(uname -m)"
        if [ "$arch" = "$(uname -m)" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
                mkdir -p "$tmp"/kvm/bin
                cp "$busybox" "$tmp"/kvm/bin/busybox
                ln -s busybox "$tmp"/kvm/bin/sh
                # Its stdout is the console (no /dev is mounted there).
                printf '#!/bin/sh\necho PV-KVM-OK\n/bin/busybox poweroff -f\n' >"$tmp"/kvm/init
                chmod +x "$tmp"/kvm/init
                (cd "$tmp"/kvm && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp"/kvm.gz
                # In a subshell: a qemu that aborts is not the shell's news.
                (timeout 20 "$qemu" $machine -accel kvm -cpu host -m 256 -display none -monitor none \
                        -serial "file:$tmp/kvm.log" -no-reboot -kernel "$vmlinuz" -initrd "$tmp"/kvm.gz \
                        -append "console=$ttydev panic=-1 quiet" </dev/null >"$tmp"/kvm.out 2>&1) 2>/dev/null
                if grep -q PV-KVM-OK "$tmp"/kvm.log 2>/dev/null; then
                        accel=kvm cpu="-cpu host"
                else
                        why="KVM did not boot a guest in 20 s ($(head -n 1 "$tmp"/kvm.out | cut -c1-100))"
                fi
        fi
        [ "$accel" = kvm ] || echo "check-kernel: TCG: $why"
fi

echo "check-kernel: booting $(basename "$vmlinuz") from $(basename "$deb") under $qemu" \
        "(-accel $accel, up to $timeout s; console: $console)"
rm -f "$console" "$kernelcmp_md"
start=$(date +%s)
timeout "$timeout" "$qemu" $machine -accel "$accel" $cpu \
        -m "${CHECK_KERNEL_MEM:-2048}" -smp "${CHECK_KERNEL_SMP:-2}" \
        -display none -monitor none -serial "file:$console" -no-reboot \
        -kernel "$vmlinuz" -initrd "$tmp"/initrd.gz \
        -append "console=$ttydev panic=-1 quiet loglevel=4" </dev/null >"$tmp"/qemu.out 2>&1
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
        if (i > 1 && substr($0, i) ~ /^=== (kernel|FEATURES|RUN|END|SKIP|ALL DONE|KERNELCMP)/)
                $0 = substr($0, i)
}
/^=== kernel: / { print "kernel " substr($0, 13); next }
/^=== FEATURES / { print "features " substr($0, 14); next }
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
/^=== KERNELCMP BEGIN/ { kc = 1; printf "" >(dir "/kernelcmp.md"); next }
/^=== KERNELCMP END/ { kc = 0; print "kernelcmp " field("rc"); next }
kc { print >(dir "/kernelcmp.md"); next }
cur != "" { print >cur }
END { if (cur != "") printf "run %d %s %s none -\n", k, name, backend }
' "$tmp"/console >"$tmp"/index

. "$srcdir/tests/checks.sh"

# The truth the seccomp profiles only imitate: pidvisor --features --json
# in the guest against the profile that plays this kernel
# (CHECK_KERNEL_PROFILE, default pre-6.9 for Linux 6.1) run here.  Every
# piece on which the two disagree is named; a disagreement is reported,
# not counted (the profile is what needs mending then, not the library).
compare_features() { # compare_features GUEST-JSON
        profile=${CHECK_KERNEL_PROFILE:-pre-6.9}
        printf '%s\n' "$1" >"$tmp"/guest.json
        if [ "$debarch" != amd64 ] || [ ! -x "$top/tests/seccomp-run" ] || ! command -v python3 >/dev/null 2>&1; then
                echo "check-kernel: guest features: $1"
                echo "check-kernel: not compared with the $profile profile (it runs only in a native" \
                        "x86-64 build with tests/seccomp-run and python3)"
                return
        fi
        "$top/tests/seccomp-run" "$profile" -- "$top/pidvisor" --features --json >"$tmp"/profile.json </dev/null
        python3 - "$tmp"/guest.json "$tmp"/profile.json "$profile" <<'PY'
import json, sys

def compare():
    g = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
    name = "Linux " + g["kernel"]
    keys = ["features", "rungs"]
    diff = ["%s.%s (%s: %s, %s: %s)" % (k, n, name, g[k][n], sys.argv[3], p[k].get(n))
            for k in keys for n in g[k] if g[k][n] != p[k].get(n)]
    for k in ("spawn", "backend"):
        if g[k] != p[k]:
            diff.append("%s (%s: %s, %s: %s)" % (k, name, g[k], sys.argv[3], p[k]))
    have = sorted(n for n in g["features"] if g["features"][n])
    print("check-kernel: %s has: %s; lacks: %s" % (name, " ".join(have),
          " ".join(sorted(n for n in g["features"] if not g["features"][n])) or "nothing"))
    if diff:
        print("check-kernel: the %s profile and %s DISAGREE on: %s" % (sys.argv[3], name, "; ".join(diff)))
    else:
        print("check-kernel: the %s profile and %s agree on every piece, rung, spawn and backend"
              % (sys.argv[3], name))

try:
    compare()
except (ValueError, KeyError, TypeError) as e:
    print("check-kernel: features not compared: %r" % e)
PY
}
done=no
while read -r kind rest; do
        case $kind in
        kernel) echo "check-kernel: guest kernel $rest" ;;
        features) compare_features "$rest" ;;
        done) done=yes ;;
        kernelcmp)
                cp "$tmp"/runs/kernelcmp.md "$kernelcmp_md"
                echo "check-kernel: pv-kernelcmp exited $rest; its table: $kernelcmp_md"
                ;;
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
