#!/usr/bin/env bash
# Check that the module loads into its nginx: `nginx -t` with load_module.
#
#   scripts/check-load.sh ENV_FILE
#
# ENV_FILE is a build's env.sh (NGX_WS_MODULE, NGINX_BIN, optional
# NGX_WS_PRELOAD for sanitizer builds).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 ENV_FILE" >&2; exit 2; }
# shellcheck disable=SC1090
. "$1"

prefix="$(dirname "$NGX_WS_MODULE")/load-check"
rm -rf "$prefix"
mkdir -p "$prefix/logs" "$prefix/temp"
cat >"$prefix/nginx.conf" <<CONF
load_module "$NGX_WS_MODULE";
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
}
CONF

if ! out="$(LD_PRELOAD="${NGX_WS_PRELOAD:-}" "$NGINX_BIN" -p "$prefix/" -c "$prefix/nginx.conf" -t 2>&1)"; then
    echo "$out" >&2
    echo "check-load: $NGX_WS_MODULE does not load into $NGINX_BIN" >&2
    exit 1
fi
echo "check-load: $(basename "$NGX_WS_MODULE") loads into $NGINX_BIN${NGX_WS_PRELOAD:+ (LD_PRELOAD: $NGX_WS_PRELOAD)}"
