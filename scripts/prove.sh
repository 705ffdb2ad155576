#!/bin/sh
# Runs Test::Nginx suites against Debian's nginx with the modules aigw needs:
#   scripts/prove.sh [prove options] [t/file.t ...]   (default: -r t/)
root=$(cd "$(dirname "$0")/.." && pwd)
mods=/usr/lib/nginx/modules
export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES="$mods/ndk_http_module.so $mods/ngx_http_echo_module.so ${AIGW_MODULE:-$root/build/ngx_http_aigw_module.so}"
[ $# -gt 0 ] || set -- -r t/
exec prove "$@"
