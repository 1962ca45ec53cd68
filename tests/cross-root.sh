#!/bin/sh
# tests/cross-root.sh ARCH DIR: the libraries a cross build links against
# (Criterion, libseccomp, liburing and what they need), for Debian
# architecture ARCH (arm64), fetched with apt-get download and unpacked
# into DIR, which configure then takes as --with-cross-root=DIR.
#
# Not installed as ARCH packages: libcriterion-dev is Multi-Arch: same but
# depends on libnanomsg-dev, which is not, so apt would remove the
# machine's own libcriterion-dev to make room (Debian 12).  The C library
# comes from the cross toolchain (gcc-aarch64-linux-gnu pulls
# libc6-dev-arm64-cross), so it and the toolchain's own packages are left
# out here.  Needs `dpkg --add-architecture ARCH; apt-get update` once.
set -eu
[ $# = 2 ] || { echo "usage: $0 ARCH DIR (e.g. arm64 ./cross-root)" >&2; exit 2; }
arch=$1 dir=$2
dpkg --print-foreign-architectures | grep -qx "$arch" || {
        echo "$0: apt does not know $arch: dpkg --add-architecture $arch && apt-get update" >&2
        exit 1
}
mkdir -p "$dir/debs"
dir=$(cd "$dir" && pwd)
pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                --no-replaces --no-enhances --no-pre-depends \
                libcriterion-dev:"$arch" libseccomp-dev:"$arch" liburing-dev:"$arch" |
        grep -E "^[a-z0-9][^ ]*:$arch\$" | sort -u |
        grep -vE '^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libcrypt1|libcrypt-dev|libnsl2|libnsl-dev|libtirpc[^:]*|rpcsvc-proto|pkg-config|pkgconf|pkgconf-bin|libpkgconf3|gcc-[0-9]+-base|libgcc-s1):')
# As root apt hands the download to its _apt user, who may not write here.
sandbox=
[ "$(id -u)" != 0 ] || sandbox="-o APT::Sandbox::User=root"
(cd "$dir/debs" && apt-get download -q $sandbox $pkgs >/dev/null)
for deb in "$dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$dir"
done
echo "$dir: $(echo $pkgs | wc -w) $arch packages; configure --host=... --with-cross-root=$dir"
