# Sourced by tests/per-backend.sh, tests/check-stress.sh and the guest of
# tests/check-kernel.sh: the event backends the suites run on, and whether
# this build and this kernel have each.  Decided without the library under
# test, which would otherwise vouch for itself: the build by config.h, the
# kernel (and any sandbox around it) by a raw io_uring_setup(2) in
# tests/helper's verb io-uring.
# PV_BACKENDS narrows the list: tests/check-kernel.sh runs
# tests/check-stress.sh once per backend.
pv_backends=${PV_BACKENDS:-epoll uring}

# backend_why_not NAME: prints nothing when NAME can run here, else one
# line saying why not.
backend_why_not() {
        _top=${top_builddir:-.}
        case $1 in
        uring)
                if ! grep -q '^#define HAVE_LIBURING 1' "$_top/config.h" 2>/dev/null; then
                        echo "built without liburing (config.h has no HAVE_LIBURING)"
                elif ! _why=$("$_top/tests/helper" io-uring 2>&1); then
                        echo "${_why:-tests/helper io-uring failed}"
                fi
                ;;
        esac
}
