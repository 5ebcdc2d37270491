#!/usr/bin/env bash
# Build the Debian package libnginx-mod-http-ws into build/deb/.
#
#   scripts/build-deb.sh
#
# The package version is VERSION's, with the Debian revision of the top
# entry of debian/changelog (0.1.0-1); the two must agree.  The files the
# package is made of (config, ngx_ws_module/, debian/, docs, VERSION,
# LICENSE) are copied to build/deb-src/ and built there with
# `dpkg-buildpackage -us -uc -b` (unsigned, binary only), so that the source
# tree stays clean: debhelper's build directory and debian/ staging dirs
# live in the copy, never in the project's build/.  The build goes through
# dh-sequence-nginx (nginx-dev): Debian's nginx flags, dh_nginx's
# mod-http-ws.conf, modules-enabled maintainer scripts and nginx ABI.
#
# Then lintian checks the result when it is installed, and fails on errors.
#
# Results in build/deb/: libnginx-mod-http-ws_VERSION-REV_ARCH.deb, its
# -dbgsym package, .buildinfo and .changes, and lintian.txt.  When nothing
# the package is made of changed (nor the nginx-dev it is built against)
# since the last build, the package is not built again.
set -euo pipefail

die() { echo "build-deb: $*" >&2; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

pkg=libnginx-mod-http-ws
out="$root/build/deb"
work="$root/build/deb-src"

for cmd in dpkg-buildpackage dpkg-parsechangelog dh; do
    command -v "$cmd" >/dev/null 2>&1 \
        || die "$cmd is missing (run 'make deps')"
done
[ -f /usr/share/nginx/src/debian/libnginx-mod.abisubstvars ] \
    || die "nginx-dev is missing (run 'make deps')"

version="$(tr -d ' \n' <VERSION)"
deb_version="$(dpkg-parsechangelog -l debian/changelog -S Version)"
[ "${deb_version%-*}" = "$version" ] \
    || die "debian/changelog is at $deb_version, VERSION is $version: add a changelog entry $version-1"
arch="$(dpkg-architecture -qDEB_HOST_ARCH)"
deb="${pkg}_${deb_version}_${arch}.deb"

files=(VERSION LICENSE README.md config ngx_ws_module docs debian)

# what the package is made of: the files, the nginx-dev tree and the tools
stamp="$(
    find "${files[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    find "${files[@]}" -type f -perm -u+x -print | LC_ALL=C sort
    dpkg-query -W -f='${Package} ${Version}\n' nginx-dev debhelper dpkg-dev
)"

if [ -f "$out/$deb" ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
    echo "build-deb: $out/$deb is up to date"
else
    rm -rf "$work" "$out"
    src="$work/$pkg-$version"
    mkdir -p "$src" "$out"
    cp -a "${files[@]}" "$src/"

    echo "build-deb: building $deb in $src"
    start=$(date +%s)
    log="$work/build.log"
    # one compiler per core; the calling make's flags stay out of debian/rules
    jobs="$(nproc 2>/dev/null || echo 2)"
    if ! (cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
              DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
              dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "dpkg-buildpackage failed, see $log"
    fi
    echo "build-deb: built in $(( $(date +%s) - start ))s (log: $log)"

    # the work directory holds this build's results only
    cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out/"
    [ -f "$out/$deb" ] || die "$deb was not built"
    printf '%s\n' "$stamp" >"$out/stamp"
fi

if command -v lintian >/dev/null 2>&1; then
    echo "build-deb: lintian $out/${pkg}_${deb_version}_${arch}.changes"
    root_opt=()
    [ "$(id -u)" -ne 0 ] || root_opt=(--allow-root)
    set +e
    lintian "${root_opt[@]}" --fail-on error --tag-display-limit 0 \
        "$out/${pkg}_${deb_version}_${arch}.changes" >"$out/lintian.txt" 2>&1
    rc=$?
    set -e
    cat "$out/lintian.txt"
    [ "$rc" -eq 0 ] || die "lintian found errors (exit $rc)"
    echo "build-deb: lintian: no errors"
else
    echo "build-deb: lintian is not installed: the package is not checked"
fi

dpkg-deb --info "$out/$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/build-deb: \1:/p'
echo "build-deb: $out/$deb"
