#!/usr/bin/env bash
# Runs the ngx_ws benchmark (see README.md): installs the Debian packages
# that are missing, builds the load generator and the echo backend, runs
# bench.py and stops everything it started on exit.
set -euo pipefail

cd "$(dirname "$0")"

log() { echo "bench: $*" >&2; }

# package: a file or command that shows it is installed
need=(
    "gcc:/usr/bin/gcc"
    "make:/usr/bin/make"
    "libssl-dev:/usr/include/openssl/evp.h"
    "nginx:/usr/sbin/nginx"
    "libnginx-mod-http-lua:/usr/lib/nginx/modules/ngx_http_lua_module.so"
    "libnginx-mod-http-ndk:/usr/lib/nginx/modules/ndk_http_module.so"
    "lua-nginx-websocket:/usr/share/lua/5.1/nginx/websocket/server.lua"
    "haproxy:/usr/sbin/haproxy"
    "nodejs:/usr/bin/node"
    "node-ws:/usr/share/nodejs/ws/package.json"
    "valgrind:/usr/bin/valgrind"
    "util-linux:/usr/bin/taskset"
    "python3:/usr/bin/python3"
    "python3-jwt:/usr/lib/python3/dist-packages/jwt/__init__.py"
    "python3-cryptography:/usr/lib/python3/dist-packages/cryptography/__init__.py"
    "openssl:/usr/bin/openssl"
)

missing=()
for n in "${need[@]}"; do
    [ -e "${n#*:}" ] || missing+=("${n%%:*}")
done

if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # nodejs may come from another repository; node-ws needs only a node
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
fi

make -s tools

pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

/usr/bin/python3 bench.py &
pid=$!
wait "$pid"
rc=$?
pid=
exit $rc
