#!/usr/bin/env bash
# Build ngx_http_ws_module.so as a dynamic nginx module.
#
#   scripts/build-module.sh BUILD_DIR
#   scripts/build-module.sh --asan BUILD_DIR PLAIN_BUILD_DIR
#
# --asan builds the module with AddressSanitizer and UndefinedBehaviorSanitizer,
# to be loaded into an nginx that is not sanitized (nginx's own code is not
# UBSan-clean) with libasan and libubsan preloaded: Debian's /usr/sbin/nginx,
# or for a full source tree the binary of PLAIN_BUILD_DIR (build it first).
#
# Environment:
#   NGINX_SRC       nginx tree to build against (default /usr/share/nginx/src).
#                   Debian's nginx-dev tree (headers + configure, no .c files):
#                   configured with Debian's own flags (conf_flags), only the
#                   module is built, and it is loaded into /usr/sbin/nginx.
#                   A full nginx source tree (src/core/nginx.c present): built
#                   with --with-compat --with-http_ssl_module --with-threads,
#                   both the nginx binary and the module.
#   NGX_WS_SRC_DIR  directory holding the module's `config` (default: repo root)
#
# The tree is copied to BUILD_DIR/nginx-src and configured once; later runs only
# run nginx's `make`, which recompiles what changed. A change of NGINX_SRC, of
# the configure flags or of the module's `config` configures again.
#
# Results: BUILD_DIR/ngx_http_ws_module.so and BUILD_DIR/env.sh (exports
# NGX_WS_MODULE and NGINX_BIN, plus NGX_WS_PRELOAD, ASAN_OPTIONS and
# UBSAN_OPTIONS for --asan).
set -euo pipefail

die() { echo "build-module: $*" >&2; exit 1; }

asan=0
plain_dir=""
if [ "${1:-}" = "--asan" ]; then
    asan=1
    shift
    [ $# -eq 2 ] || die "usage: $0 --asan BUILD_DIR PLAIN_BUILD_DIR"
    plain_dir="$2"
else
    [ $# -eq 1 ] || die "usage: $0 BUILD_DIR"
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

module_name=ngx_http_ws_module
nginx_src="${NGINX_SRC:-/usr/share/nginx/src}"
src_dir="${NGX_WS_SRC_DIR:-$root}"

mkdir -p "$1"
build_dir="$(cd "$1" && pwd)"

[ -d "$nginx_src" ] || die "no nginx tree at $nginx_src (run 'make deps' for Debian's nginx-dev, or set NGINX_SRC)"
nginx_src="$(cd "$nginx_src" && pwd)"
[ -f "$src_dir/config" ] || die "no module config at $src_dir/config"
src_dir="$(cd "$src_dir" && pwd)"

if [ -f "$nginx_src/configure" ]; then
    configure=./configure
elif [ -f "$nginx_src/auto/configure" ]; then
    configure=./auto/configure        # nginx's repository layout
else
    die "$nginx_src has no configure script"
fi

flags=()
if [ -f "$nginx_src/src/core/nginx.c" ]; then
    mode=full
    flags=(--with-compat --with-http_ssl_module --with-threads)
    if [ "$asan" = 1 ]; then
        make_target=modules        # loaded into the plain build's nginx
    else
        make_target=build          # the nginx binary and the module
    fi
else
    mode=debian
    [ -f "$nginx_src/conf_flags" ] || die "$nginx_src is neither a full nginx source tree nor Debian's nginx-dev tree (no conf_flags)"
    # shellcheck disable=SC1091
    . "$nginx_src/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
    make_target=modules            # nginx-dev has no .c files: module only
fi

cc="${CC:-cc}"
if [ "$asan" = 1 ]; then
    san="-fsanitize=address,undefined"
    flags+=("--with-cc-opt=$san -fno-omit-frame-pointer -g -O1" "--with-ld-opt=$san")
    # configure runs its test programs: leak checks have no place there
    export ASAN_OPTIONS=detect_leaks=0
else
    # without --with-cc-opt nginx compiles with -O; the relay is hot code
    flags+=("--with-cc-opt=-g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2")
fi
flags+=("--add-dynamic-module=$src_dir")

tree="$build_dir/nginx-src"
stamp="$build_dir/configure.args"
args="$(printf '%s\n' "mode=$mode" "src=$nginx_src" "cc=$cc" "${flags[@]}")"

need_configure=0
if [ ! -f "$tree/objs/Makefile" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$args" ]; then
    need_configure=1
elif [ "$src_dir/config" -nt "$tree/objs/Makefile" ]; then
    need_configure=1
fi

if [ "$need_configure" = 1 ]; then
    echo "build-module: configuring $mode nginx tree $nginx_src in $tree"
    rm -rf "$tree" "$stamp"
    cp -a "$nginx_src" "$tree"
    rm -rf "$tree/objs" "$tree/Makefile"
    chmod -R u+w "$tree"
    log="$build_dir/configure.log"
    if ! (cd "$tree" && CC="$cc" bash "$configure" "${flags[@]}") >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "configure failed, see $log"
    fi
    printf '%s\n' "$args" >"$stamp"
fi

jobs="$(nproc 2>/dev/null || echo 2)"
# nginx's own Makefile, isolated from the calling make's flags and variables
(cd "$tree" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -j"$jobs" -f objs/Makefile "$make_target")

so="$tree/objs/$module_name.so"
[ -f "$so" ] || die "$so was not built"
if ! cmp -s "$so" "$build_dir/$module_name.so"; then
    cp "$so" "$build_dir/$module_name.so.tmp"
    mv -f "$build_dir/$module_name.so.tmp" "$build_dir/$module_name.so"
fi

if [ "$mode" = full ] && [ "$asan" = 1 ]; then
    case "$plain_dir" in /*) ;; *) plain_dir="$root/$plain_dir" ;; esac
    nginx_bin="$plain_dir/nginx-src/objs/nginx"
    if [ ! -x "$nginx_bin" ] || ! grep -qxF "src=$nginx_src" "$plain_dir/configure.args" 2>/dev/null; then
        die "no nginx binary built from $nginx_src in $plain_dir: build it first ('make module')"
    fi
elif [ "$mode" = full ]; then
    nginx_bin="$tree/objs/nginx"
else
    nginx_bin=/usr/sbin/nginx
fi

preload=""
if [ "$asan" = 1 ]; then
    libasan="$(gcc -print-file-name=libasan.so)"
    libubsan="$(gcc -print-file-name=libubsan.so)"
    [ -e "$libasan" ] && [ -e "$libubsan" ] || die "gcc's libasan/libubsan not found"
    preload="$libasan $libubsan"
fi

env_file="$build_dir/env.sh"
{
    echo "# generated by scripts/build-module.sh; source it: . $env_file"
    echo "export NGX_WS_MODULE='$build_dir/$module_name.so'"
    echo "export NGINX_BIN='$nginx_bin'"
    if [ "$asan" = 1 ]; then
        echo "export NGX_WS_PRELOAD='$preload'"
        echo "export ASAN_OPTIONS='detect_leaks=0:abort_on_error=0:halt_on_error=1'"
        echo "export UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1'"
    fi
} >"$env_file.tmp"
mv -f "$env_file.tmp" "$env_file"

# Check that the module loads into the nginx it is meant for.
"$root/scripts/check-load.sh" "$env_file"

echo "build-module: $build_dir/$module_name.so (nginx: $nginx_bin); env: $env_file"
