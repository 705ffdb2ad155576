#!/bin/bash
# make bench: wrk against a plain nginx proxy_pass and against aigw (key
# auth, model mapping, body rewrite, usage extraction), both in front of the
# same mock upstream, in one run.  See bench/*.conf for the setup.
#
# Environment:
#   BENCH_DURATION     seconds per run (8)
#   BENCH_ROUNDS       plain/aigw pairs of runs (3)
#   BENCH_CONNECTIONS  wrk connections (32)
#   BENCH_THREADS      wrk threads (1)
#   BENCH_PIN          1: gateway on CPU 0, mock and wrk on CPU 1 (1)
#   BENCH_MOCK_WORKERS worker processes of the mock (1)
#   BENCH_PORT         first port tried for the three listeners (18400)
#   BENCH_KEEP         1: keep the temporary prefix (logs, wrk outputs)
#
# It exits non-zero when a check or a run fails; the ratio is reported,
# not enforced.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
nginx=/usr/sbin/nginx
module=$root/build/ngx_http_aigw_module.so
body=$root/bench/request.json
key=sk-bench-gateway
path=/v1/chat/completions

duration=${BENCH_DURATION:-8}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-1}
pin=${BENCH_PIN:-1}
mock_workers=${BENCH_MOCK_WORKERS:-1}
warmup=2

die() {
    echo "bench: $*" >&2
    exit 1
}

[ -f "$module" ] || die "$module is missing: run \"make build\""
command -v wrk > /dev/null || die "wrk is missing: run \"make deps\""

# The gateway alone on CPU 0, the mock and wrk on CPU 1: then the gateway's
# worker is the bottleneck and the ratio is the gateway's.  Unpinned, the
# three share both CPUs and the mock's and wrk's costs dilute the ratio.
gw_cpu="" rest_cpu=""
if [ "$pin" = 1 ]; then
    [ "$(nproc)" -ge 2 ] || die "BENCH_PIN=1 needs 2 CPUs"
    gw_cpu="taskset -c 0" rest_cpu="taskset -c 1"
fi

prefix=$(mktemp -d "${TMPDIR:-/tmp}/aigw-bench.XXXXXX")
# the workers run as nginx's default user when started by root
chmod 755 "$prefix"
mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp" "$prefix/out"

stop_all() {
    local rc=$? pidf pid n

    for pidf in "$prefix"/logs/*.pid; do
        [ -f "$pidf" ] || continue
        pid=$(cat "$pidf")
        kill "$pid" 2> /dev/null || continue
        for n in $(seq 50); do
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.1
        done
    done

    if [ "$rc" != 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: logs and wrk outputs are in $prefix" >&2
    else
        rm -rf "$prefix"
    fi
}

trap stop_all EXIT
trap 'exit 130' INT TERM

# three free ports from $BENCH_PORT on
port_used() {
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}

ports=()
p=${BENCH_PORT:-18400}
while [ ${#ports[@]} -lt 3 ]; do
    [ "$p" -lt 65536 ] || die "no free port"
    port_used "$p" || ports+=("$p")
    p=$((p + 1))
done
mock_port=${ports[0]} plain_port=${ports[1]} aigw_port=${ports[2]}

sed -e "s|@MOCK_PORT@|$mock_port|g" -e "s|@MOCK_WORKERS@|$mock_workers|g" \
    "$root/bench/mock.conf" > "$prefix/conf/mock.conf"

sed -e "s|@MODULE@|$module|g" -e "s|@ROOT@|$root|g" \
    -e "s|@PREFIX@|$prefix|g" -e "s|@MOCK_PORT@|$mock_port|g" \
    -e "s|@PLAIN_PORT@|$plain_port|g" -e "s|@AIGW_PORT@|$aigw_port|g" \
    "$root/bench/gateway.conf" > "$prefix/conf/gateway.conf"

cp "$root/bench/keys.json" "$prefix/conf/keys.json"

# -e: not even the startup error log goes to /var/log
start_nginx() {     # name, taskset prefix
    local name=$1
    shift
    if ! "$@" $nginx -p "$prefix/" -e "logs/$name-error.log" \
         -c "conf/$name.conf" 2> "$prefix/logs/$name-start.log"
    then
        cat "$prefix/logs/$name-start.log" "$prefix/logs/$name-error.log" \
            >&2 2> /dev/null || true
        die "$name nginx did not start"
    fi
}

start_nginx mock $rest_cpu
start_nginx gateway $gw_cpu

# the gateway's worker, for its CPU time
gw_worker=""
for n in $(seq 50); do
    gw_worker=$(pgrep -P "$(cat "$prefix/logs/gateway.pid")" || true)
    [ -n "$gw_worker" ] && break
    sleep 0.1
done
[ -n "$gw_worker" ] || die "no gateway worker process"

# --- checks: one request of each kind, before the runs ---------------------

post() {            # port, authorization key, extra curl arguments...
    local port=$1 k=$2
    shift 2
    curl -sS -o "$prefix/out/body" -D "$prefix/out/headers" \
         -w '%{http_code}' "$@" -H "Authorization: Bearer $k" \
         -H 'Content-Type: application/json' --data-binary "@$body" \
         "http://127.0.0.1:$port$path" || true
}

check() {           # what, condition...
    local what=$1
    shift
    if ! "$@"; then
        echo "bench: check failed: $what" >&2
        sed 's/^/  | /' "$prefix/out/headers" "$prefix/out/body" >&2
        exit 1
    fi
}

has() {             # file, extended regexp
    grep -Eq "$2" "$prefix/out/$1"
}

lacks() {
    ! has "$@"
}

code=$(post "$plain_port" "$key")
check "plain: 200 (got $code)" [ "$code" = 200 ]
check "plain: the mock's answer" has body '"total_tokens": 245'

code=$(post "$aigw_port" "$key")
check "aigw: 200 (got $code)" [ "$code" = 200 ]
check "aigw: X-Request-Id" has headers '^X-Request-Id: [0-9a-f]{32}'
check "aigw: the mock's answer" has body '"total_tokens": 245'

code=$(post "$aigw_port" sk-bench-wrong)
check "aigw: a wrong key is a 401 (got $code)" [ "$code" = 401 ]
check "aigw: invalid_api_key" has body '"code":"invalid_api_key"'

# the mock echoes what it received: model renamed, upstream key
code=$(post "$aigw_port" "$key" -H 'X-Bench-Echo: 1')
check "aigw, echo: 200 (got $code)" [ "$code" = 200 ]
check "aigw, echo: model renamed" has body '"model":"gpt-4o-mini"'
check "aigw, echo: upstream key" has body 'Bearer sk-bench-upstream$'
check "aigw, echo: no gateway key" lacks body "$key"

echo "checks passed: aigw answers 200 with an X-Request-Id and 401 to a"
echo "wrong key; the mock gets model gpt-4o-mini and the upstream key"

# --- runs -------------------------------------------------------------------

cpu_ticks() {       # utime + stime of a process, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# run name, port, seconds, output file; fails on errors or non-2xx answers
run_wrk() {
    local name=$1 port=$2 secs=$3 out=$4 t0 t1 c0 c1

    c0=$(cpu_ticks "$gw_worker")
    t0=$(date +%s%N)
    $rest_cpu wrk -t "$threads" -c "$conns" -d "${secs}s" --latency \
        -s "$root/bench/post.lua" "http://127.0.0.1:$port$path" \
        -- "$body" "$key" > "$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed ($name)"; }
    t1=$(date +%s%N)
    c1=$(cpu_ticks "$gw_worker")

    if grep -Eq 'Non-2xx|Socket errors' "$out"; then
        cat "$out" >&2
        die "$name: not every request was answered 200"
    fi
    grep -q '^Requests/sec:' "$out" || { cat "$out" >&2; die "no result"; }

    # gateway CPU: percent of the run, and microseconds per request
    awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            return v * 60000
        }
        /requests in/ { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END {
            cpu = c / hz
            printf "%.2f %.3f %.3f %.0f %.1f\n", rps, p50, p99,
                   100 * cpu / (t / 1e9), 1e6 * cpu / n
        }' "$out" >> "$prefix/out/$name.results"
}

echo "warm-up: ${warmup}s each; then $rounds rounds of ${duration}s," \
     "plain and aigw alternating"
echo "wrk: $threads thread(s), $conns connections; pinning:" \
     "$([ "$pin" = 1 ] && echo "gateway CPU 0, mock + wrk CPU 1" || echo off)"

run_wrk warmup "$plain_port" "$warmup" "$prefix/out/warmup-plain.txt"
run_wrk warmup "$aigw_port" "$warmup" "$prefix/out/warmup-aigw.txt"

for i in $(seq "$rounds"); do
    for fe in plain aigw; do
        port=$plain_port
        [ "$fe" = aigw ] && port=$aigw_port
        run_wrk "$fe" "$port" "$duration" "$prefix/out/$fe-$i.txt"
    done
done

# --- report -----------------------------------------------------------------

median() {          # column of a results file
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = int((NR + 1) / 2)
            print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2
        }'
}

echo
printf "%-6s %10s %8s %8s %7s %9s   %s\n" "" "req/s" "p50 ms" "p99 ms" \
       "gw CPU" "gw us/req" "req/s of each round"
for fe in plain aigw; do
    f=$prefix/out/$fe.results
    printf "%-6s %10.0f %8.3f %8.3f %6.0f%% %9.1f   %s\n" "$fe" \
        "$(median "$f" 1)" "$(median "$f" 2)" "$(median "$f" 3)" \
        "$(median "$f" 4)" "$(median "$f" 5)" \
        "$(awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }' "$f")"
done
echo "(medians of $rounds runs; gw CPU: the gateway worker's CPU time" \
     "during a run)"

plain_rps=$(median "$prefix/out/plain.results" 1)
aigw_rps=$(median "$prefix/out/aigw.results" 1)
plain_us=$(median "$prefix/out/plain.results" 5)
aigw_us=$(median "$prefix/out/aigw.results" 5)

awk -v p="$plain_us" -v a="$aigw_us" 'BEGIN {
    printf "gateway CPU per request aigw/plain: %.2f", a / p
    printf " (as a throughput ratio: %.2f)\n", p / a }'

# pinned, the gateway's worker is the bottleneck and runs near 100%
if [ "$pin" = 1 ]; then
    low=$(cat "$prefix"/out/{plain,aigw}.results | awk '$4 < 90' | wc -l)
    if [ "$low" -gt 0 ]; then
        echo "warning: in $low run(s) the gateway worker was below 90% CPU:"
        echo "other load on the machine?  req/s are unreliable, the CPU per"
        echo "request less so"
    fi
fi
awk -v p="$plain_rps" -v a="$aigw_rps" 'BEGIN {
    printf "ratio aigw/plain: %.2f (target >= 0.90)\n", a / p }'
