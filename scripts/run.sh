#!/bin/sh
# make run / make stop: the quickstart gateway under ./run, on
# 127.0.0.1:$AIGW_PORT (8080 by default), with the embedded backend.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix="$root/run"
port="${AIGW_PORT:-8080}"
nginx=/usr/sbin/nginx

case "${1:-start}" in
stop)
    if [ -f "$prefix/logs/nginx.pid" ]; then
        $nginx -p "$prefix/" -c conf/nginx.conf -s stop 2>/dev/null || true
        echo "aigw stopped"
    else
        echo "aigw is not running"
    fi
    exit 0
    ;;
esac

if [ -f "$prefix/logs/nginx.pid" ] \
   && kill -0 "$(cat "$prefix/logs/nginx.pid")" 2>/dev/null
then
    $nginx -p "$prefix/" -c conf/nginx.conf -s stop 2>/dev/null || true
    sleep 0.5
fi

mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"

# a provider's channel and models, included when its key is in the
# environment: its host is resolved when nginx loads the configuration
provider() {
    name=$1 var=$2 models=$3
    eval "key=\${$var:-}"

    if [ -n "$key" ]; then
        cp "$root/conf-examples/$name-channel.conf" "$prefix/conf/"
        cp "$root/conf-examples/$name-models.conf" "$prefix/conf/"
        echo "on (models $models)"
    else
        : > "$prefix/conf/$name-channel.conf"
        : > "$prefix/conf/$name-models.conf"
        echo "off (set $var to add it)"
    fi
}

openai=$(provider openai OPENAI_API_KEY "gpt-*")
anthropic=$(provider anthropic ANTHROPIC_API_KEY "claude-*")
gemini=$(provider gemini GEMINI_API_KEY "gemini-*")

sed -e "s|@MODULE@|$root/build/ngx_http_aigw_module.so|g" \
    -e "s|@ROOT@|$root|g" \
    -e "s|@PREFIX@|$prefix|g" \
    -e "s|@PORT@|$port|g" \
    "$root/conf-examples/quickstart.conf" > "$prefix/conf/nginx.conf"

$nginx -p "$prefix/" -c conf/nginx.conf -t -q
$nginx -p "$prefix/" -c conf/nginx.conf

cat <<TXT
aigw is running on http://127.0.0.1:$port (logs in run/logs/, "make stop" stops it)
  demo key:        sk-aigw-demo
  demo models:     demo-chat, demo-* (the built-in DEMO PROVIDER, no network)
  OpenAI channel:     $openai
  Anthropic channel:  $anthropic
  Gemini channel:     $gemini

Try:
  curl -s http://127.0.0.1:$port/v1/chat/completions \\
    -H 'Authorization: Bearer sk-aigw-demo' -H 'Content-Type: application/json' \\
    -d '{"model":"demo-chat","messages":[{"role":"user","content":"Hello!"}]}'

  # Anthropic's format (the SDKs, Claude Code), translated for the demo:
  curl -s http://127.0.0.1:$port/v1/messages -H 'x-api-key: sk-aigw-demo' \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"demo-chat","max_tokens":64,"messages":[{"role":"user","content":"Hello!"}]}'
TXT
