#!/usr/bin/env bash
# Install the Debian packages ngx_ws needs to build, test and run.
#
# Idempotent: packages are checked with dpkg-query first and apt is not
# touched at all when nothing is missing.
#
# Extra packages: files t/deps.debian and bench/deps.debian (one package per
# line, '#' starts a comment) are read too when they exist, and so is the
# environment variable NGX_WS_EXTRA_DEBS (names separated by spaces).
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(
    nginx-dev            # headers, configure script and conf_flags of Debian's nginx
    libssl-dev
    libpcre2-dev
    zlib1g-dev
    libjansson-dev       # JSON of JWTs and JWKS (ws_auth_jwt)
    gcc
    make
    clang
    libclang-rt-14-dev   # libFuzzer and sanitizer runtimes for clang
    python3
    python3-websockets
    nodejs
    node-ws
    openssl
    perl
    procps
    curl
    build-essential      # make deb (t/deb.t): dpkg-buildpackage's baseline
    debhelper            # make deb: dh, with nginx-dev's dh-sequence-nginx
    lintian              # make deb: checks the package
)

for f in t/deps.debian bench/deps.debian; do
    [ -f "$f" ] || continue
    while read -r line; do
        line="${line%%#*}"
        for p in $line; do packages+=("$p"); done
    done < "$f"
done
for p in ${NGX_WS_EXTRA_DEBS:-}; do packages+=("$p"); done

installed() {
    local status
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" || return 1
    [ "${status:0:2}" = "ii" ]
}

missing=()

# The nginx binary: Debian ships /usr/sbin/nginx in "nginx" (bookworm) or
# "nginx-core" (older releases); either one will do.
if ! { [ -x /usr/sbin/nginx ] && { installed nginx || installed nginx-core; }; }; then
    missing+=(nginx)
fi

for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "deps: all Debian packages present"
    exit 0
fi

echo "deps: missing Debian packages: ${missing[*]}"
apt_install=(apt-get install -y --no-install-recommends "${missing[@]}")

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run these commands as root, then try again:" >&2
    echo "    apt-get update" >&2
    echo "    DEBIAN_FRONTEND=noninteractive ${apt_install[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Keep package scripts from starting services (Debian's nginx would start on
# port 80, and its postinst fails where it cannot): a policy-rc.d that denies
# every start, in place only for this install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Should the system nginx service run anyway, stop it: ngx_ws always runs its
# own nginx with a private prefix.
stop_system_nginx() {
    local pid=""
    [ -r /run/nginx.pid ] && pid="$(cat /run/nginx.pid 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    echo "deps: stopping the system nginx service (pid $pid)"
    if command -v service >/dev/null 2>&1; then
        service nginx stop >/dev/null 2>&1 || true
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -TERM "$pid" 2>/dev/null || true
    fi
    return 0
}
stop_system_nginx

echo "deps: done"
