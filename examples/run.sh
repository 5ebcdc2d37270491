#!/usr/bin/env bash
# Run the ngx_ws example in the foreground: the WebSocket backend
# (examples/echo_server.py) and an nginx with the module, both on 127.0.0.1.
#
#   make run                 (installs and builds first)
#   examples/run.sh          (after `make module`)
#   EXAMPLE=jwt-chat make run
#                            the JWT example instead: examples/jwt-chat.conf,
#                            its backend examples/jwt_chat_server.py and page
#
# Environment: PORT (nginx, default 8080), BACKEND_PORT (default 9001),
# EXAMPLE (unset: examples/nginx.conf; jwt-chat),
# ENV_FILE (default build/env.sh: NGX_WS_MODULE, NGINX_BIN).
# Ctrl-C stops both.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

port="${PORT:-8080}"
backend_port="${BACKEND_PORT:-9001}"
env_file="${ENV_FILE:-$root/build/env.sh}"
python=/usr/bin/python3
run_dir="$root/build/run"
example="${EXAMPLE:-}"

die() { echo "run: $*" >&2; exit 1; }

[ -f "$env_file" ] || die "$env_file not found: run 'make module' first"
# shellcheck disable=SC1090
. "$env_file"
[ -f "$NGX_WS_MODULE" ] || die "$NGX_WS_MODULE not found: run 'make module' first"
[ -x "$NGINX_BIN" ] || die "$NGINX_BIN not found: run 'make deps'"
[ -x "$python" ] || die "$python not found: run 'make deps'"

port_busy() {  # port_busy PORT: something accepts connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {   # wait_port PORT PID: until 127.0.0.1:PORT accepts connections
    local i
    for i in $(seq 1 50); do
        kill -0 "$2" 2>/dev/null || return 1
        port_busy "$1" && return 0
        sleep 0.1
    done
    return 1
}

case "$example" in
    "")       conf=examples/nginx.conf; backend=examples/echo_server.py ;;
    jwt-chat) conf=examples/jwt-chat.conf; backend=examples/jwt_chat_server.py ;;
    *)        die "unknown EXAMPLE=$example (jwt-chat, or unset)" ;;
esac

port_busy "$port" && die "127.0.0.1:$port is in use (set PORT=...)"
port_busy "$backend_port" && die "127.0.0.1:$backend_port is in use (set BACKEND_PORT=...)"

# The configuration: $conf with this build's module and ports.
mkdir -p "$run_dir/logs" "$run_dir/temp"
module_escaped="$(printf '%s' "$NGX_WS_MODULE" | sed 's/[\\&|]/\\&/g')"
sed -e "s|^load_module .*;|load_module \"$module_escaped\";|" \
    -e "s|127\.0\.0\.1:8080|127.0.0.1:$port|g" \
    -e "s|127\.0\.0\.1:9001|127.0.0.1:$backend_port|g" \
    "$conf" >"$run_dir/nginx.conf"
grep -q "^load_module \"$NGX_WS_MODULE\";" "$run_dir/nginx.conf" \
    || die "could not set load_module in $run_dir/nginx.conf"

# The JWT example: a random HMAC secret (kept between runs) and the page.
if [ "$example" = jwt-chat ]; then
    if [ ! -s "$run_dir/jwt-secret" ]; then
        (umask 077; head -c 48 /dev/urandom >"$run_dir/jwt-secret")
    fi
    mkdir -p "$run_dir/html"
    cp examples/jwt-chat.html "$run_dir/html/"
fi

nginx=("$NGINX_BIN" -p "$run_dir/" -c "$run_dir/nginx.conf")
"${nginx[@]}" -t -q || die "nginx rejected $run_dir/nginx.conf"

backend_pid=""
nginx_pid=""

stop() {
    trap '' INT TERM
    trap - EXIT
    [ -n "$backend_pid$nginx_pid" ] || return 0
    echo "run: stopping nginx and the backend"
    [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null
    [ -n "$backend_pid" ] && kill -TERM "$backend_pid" 2>/dev/null
    wait 2>/dev/null
    echo "run: stopped"
}
trap 'echo; stop; exit 0' INT TERM
trap 'stop' EXIT

# Job control: the two servers run in process groups of their own, so that
# Ctrl-C reaches this script only, and the script stops both in order.
set -m

"$python" "$backend" "$backend_port" &
backend_pid=$!
wait_port "$backend_port" "$backend_pid" \
    || die "the backend did not start on 127.0.0.1:$backend_port (port in use?)"

"${nginx[@]}" -g "daemon off;" &
nginx_pid=$!
wait_port "$port" "$nginx_pid" \
    || die "nginx did not start on 127.0.0.1:$port (port in use? see $run_dir/logs/error.log)"

if [ "$example" = jwt-chat ]; then
    cat <<EOF
ngx_ws JWT chat is up: http://127.0.0.1:$port/ (open it in a browser)
  a token:     $python examples/jwt_token.py $run_dir/jwt-secret alice
  then open:   http://127.0.0.1:$port/#token=TOKEN
  logs:        $run_dir/logs/access.log, $run_dir/logs/error.log
  stop:        Ctrl-C (stops nginx and the backend)
EOF
else
    cat <<EOF
ngx_ws is up: ws://127.0.0.1:$port/echo
  chat:        ws://127.0.0.1:$port/chat
  try it:      $python examples/client.py ws://127.0.0.1:$port/echo hello
  logs:        $run_dir/logs/access.log, $run_dir/logs/error.log
  stop:        Ctrl-C (stops nginx and the backend)
EOF
fi

# Run until Ctrl-C, or until one of the two exits.
status=0
wait -n "$backend_pid" "$nginx_pid" || status=$?
echo "run: a server exited unexpectedly (status $status)" >&2
exit 1
