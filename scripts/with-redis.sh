#!/bin/sh
# Runs a command with a private redis-server on a free loopback port, given
# to the command as TEST_NGINX_REDIS_PORT, and stops the server afterwards.
set -u

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
[ -n "$port" ] || port=$((20000 + $$ % 20000))

dir=$(mktemp -d /tmp/aigw-redis.XXXXXX)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --daemonize no --loglevel warning > "$dir/redis.log" 2>&1 &
pid=$!

i=0
until redis-cli -p "$port" ping > /dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 50 ]; then
        echo "with-redis: redis-server did not start:" >&2
        cat "$dir/redis.log" >&2
        kill $pid 2>/dev/null
        exit 1
    fi
    sleep 0.1
done

TEST_NGINX_REDIS_PORT=$port "$@"
rc=$?

kill $pid 2>/dev/null
wait $pid 2>/dev/null
rm -rf "$dir"
exit $rc
