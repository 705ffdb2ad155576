#!/bin/bash
# make bench: wrk against four front ends of the same mock upstream, in
# one run, the runs alternating:
#   plain                a plain nginx proxy_pass;
#   aigw                 aigw (key auth, model mapping, body rewrite, usage
#                        extraction) with a key without limits;
#   aigw+limits (shm)    the same with a key that has limits and a budget
#                        (never reached), admitted and settled in the
#                        embedded store, with a prices file;
#   aigw+limits (redis)  the same key on the Redis store: a second gateway
#                        nginx and a redis-server of the script's own.
# See bench/*.conf for the setup.
#
# Environment:
#   BENCH_DURATION     seconds per run (6)
#   BENCH_ROUNDS       rounds of one run of each front end (5)
#   BENCH_CONNECTIONS  wrk connections (32)
#   BENCH_THREADS      wrk threads (1)
#   BENCH_PIN          1: gateways on CPU 0, mock, redis and wrk on CPU 1 (1)
#   BENCH_MOCK_WORKERS worker processes of the mock (1)
#   BENCH_PORT         first port tried for the five listeners (18400)
#   BENCH_KEEP         1: keep the temporary prefix (logs, wrk outputs)
#
# It exits non-zero when a check or a run fails; the ratio is reported,
# not enforced.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
nginx=/usr/sbin/nginx
module=$root/build/ngx_http_aigw_module.so
body=$root/bench/request.json
key=sk-bench-gateway                # "bench": no limits
limits_key=sk-bench-limits          # "bench-limits": limits and a budget
limits_name=bench-limits
path=/v1/chat/completions

duration=${BENCH_DURATION:-6}
rounds=${BENCH_ROUNDS:-5}
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
command -v redis-server > /dev/null && command -v redis-cli > /dev/null \
    || die "redis-server or redis-cli is missing: run \"make deps\""

# The gateway alone on CPU 0, the mock, redis and wrk on CPU 1, so that
# the gateway's worker is not diluted by the others' costs.  On a 2-CPU
# machine CPU 1 is saturated too (wrk and the mock need about as much CPU
# per request as plain proxy_pass): the ratios are those of two busy CPUs,
# and the gateway's CPU time per request (printed) is the steadier figure.
# Both gateways are on CPU 0, but only one of them is loaded at a time.
# In the redis runs redis-server shares CPU 1: its CPU time per request
# (printed) adds to the mock's and wrk's, and with 2 CPUs CPU 1 rather than
# the gateway can become the bottleneck (the gateway's CPU shows it).
gw_cpu="" rest_cpu=""
if [ "$pin" = 1 ]; then
    [ "$(nproc)" -ge 2 ] || die "BENCH_PIN=1 needs 2 CPUs"
    gw_cpu="taskset -c 0" rest_cpu="taskset -c 1"
fi

prefix=$(mktemp -d "${TMPDIR:-/tmp}/aigw-bench.XXXXXX")
# the workers run as nginx's default user when started by root
chmod 755 "$prefix"
mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp" "$prefix/out" \
         "$prefix/redis"

stop_all() {
    local rc=$? pidf pid n

    # the gateways (gateway-redis.pid, gateway.pid), the mock, then redis
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

# five free ports from $BENCH_PORT on
port_used() {
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}

ports=()
p=${BENCH_PORT:-18400}
while [ ${#ports[@]} -lt 5 ]; do
    [ "$p" -lt 65536 ] || die "no free port"
    port_used "$p" || ports+=("$p")
    p=$((p + 1))
done
mock_port=${ports[0]} plain_port=${ports[1]} aigw_port=${ports[2]}
redis_gw_port=${ports[3]} redis_port=${ports[4]}

sed -e "s|@MOCK_PORT@|$mock_port|g" -e "s|@MOCK_WORKERS@|$mock_workers|g" \
    "$root/bench/mock.conf" > "$prefix/conf/mock.conf"

for f in gateway gateway-redis gateway-http; do
    sed -e "s|@MODULE@|$module|g" -e "s|@ROOT@|$root|g" \
        -e "s|@PREFIX@|$prefix|g" -e "s|@MOCK_PORT@|$mock_port|g" \
        -e "s|@PLAIN_PORT@|$plain_port|g" -e "s|@AIGW_PORT@|$aigw_port|g" \
        -e "s|@REDIS_GW_PORT@|$redis_gw_port|g" \
        -e "s|@REDIS_PORT@|$redis_port|g" \
        "$root/bench/$f.conf" > "$prefix/conf/$f.conf"
done

cp "$root/bench/keys.json" "$root/bench/prices.json" "$prefix/conf/"

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

redis() {
    redis-cli -p "$redis_port" "$@"
}

# redis first: the redis gateway connects at startup (and would retry)
$rest_cpu redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --dir "$prefix/redis" \
    --loglevel warning > "$prefix/logs/redis.log" 2>&1 &
echo $! > "$prefix/logs/redis.pid"
for n in $(seq 50); do
    redis ping > /dev/null 2>&1 && break
    [ "$n" -lt 50 ] || { cat "$prefix/logs/redis.log" >&2;
                         die "redis-server did not start"; }
    sleep 0.1
done
redis_pid=$(cat "$prefix/logs/redis.pid")

start_nginx mock $rest_cpu
start_nginx gateway $gw_cpu
start_nginx gateway-redis $gw_cpu

worker_of() {       # nginx name: its worker's pid, for its CPU time
    local w="" n
    for n in $(seq 50); do
        w=$(pgrep -P "$(cat "$prefix/logs/$1.pid")" || true)
        [ -n "$w" ] && break
        sleep 0.1
    done
    [ -n "$w" ] || die "no $1 worker process"
    echo "$w"
}

gw_worker=$(worker_of gateway)
gwr_worker=$(worker_of gateway-redis)

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

check "aigw: no x-ratelimit headers for a key without limits" \
    lacks headers '^x-ratelimit-'

# the key with limits, embedded store
code=$(post "$aigw_port" "$limits_key")
check "aigw+limits (shm): 200 (got $code)" [ "$code" = 200 ]
check "aigw+limits (shm): the mock's answer" has body '"total_tokens": 245'
check "aigw+limits (shm): x-ratelimit-* headers" \
    has headers '^x-ratelimit-remaining-requests: [0-9]+'
check "aigw+limits (shm): x-ratelimit-remaining-tokens" \
    has headers '^x-ratelimit-remaining-tokens: [0-9]+'

# the key with limits, Redis store: the requests are counted in Redis
# (<prefix>s:<subject id>, "k:<key name>"; m: minute of the rc count)
rkey="aigw:s:k:$limits_name"

redis_counts() {    # "minute requests spend" of the key's hash
    redis HMGET "$rkey" m rc sp | awk '{ printf "%s ", ($0 == "" ? "-" : $0) }'
}

# one request to create the hash; then one whose counts must go up by one
# request and some spend (tried again when a new minute resets rc)
code=$(post "$redis_gw_port" "$limits_key")
check "aigw+limits (redis): 200 (got $code)" [ "$code" = 200 ]
counted=0
for n in 1 2 3; do
    read -r m0 rc0 sp0 <<< "$(redis_counts)"
    code=$(post "$redis_gw_port" "$limits_key")
    check "aigw+limits (redis): 200 (got $code)" [ "$code" = 200 ]
    # the settlement is sent once the answer is out
    for i in $(seq 40); do
        read -r m1 rc1 sp1 <<< "$(redis_counts)"
        [ "$sp1" != "$sp0" ] && break
        sleep 0.05
    done
    if [ "$m1" = "$m0" ] && [[ "$rc0$rc1$sp0$sp1" =~ ^[0-9]+$ ]] \
       && [ "$rc1" = $((rc0 + 1)) ] && [ "$sp1" -gt "$sp0" ]
    then
        counted=1
        break
    fi
done
check "aigw+limits (redis): the request is counted in Redis ($rkey: m $m0 -> $m1, rc $rc0 -> $rc1, sp $sp0 -> $sp1)" \
    [ "$counted" = 1 ]
check "aigw+limits (redis): the mock's answer" has body '"total_tokens": 245'
check "aigw+limits (redis): x-ratelimit-remaining-requests" \
    has headers '^x-ratelimit-remaining-requests: [0-9]+'
check "aigw+limits (redis): x-ratelimit-remaining-tokens" \
    has headers '^x-ratelimit-remaining-tokens: [0-9]+'
slots=$(redis EXISTS "aigw:i:k:$limits_name")
check "aigw+limits (redis): the concurrency slot is released (got $slots)" \
    [ "$slots" = 0 ]

echo "checks passed: aigw answers 200 with an X-Request-Id and 401 to a"
echo "wrong key; the mock gets model gpt-4o-mini and the upstream key; the"
echo "key with limits gets x-ratelimit-* headers, and its requests are"
echo "counted and charged in Redis ($rkey)"

# --- runs -------------------------------------------------------------------

redis CONFIG RESETSTAT > /dev/null

cpu_ticks() {       # utime + stime of a process, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

fes="plain aigw shm redis"

label() {
    case $1 in
    shm) echo "aigw+limits (shm)" ;;
    redis) echo "aigw+limits (redis)" ;;
    *) echo "$1" ;;
    esac
}

# front end -> port, gateway key, gateway worker
setup_fe() {
    case $1 in
    plain) port=$plain_port fe_key=$key worker=$gw_worker ;;
    aigw) port=$aigw_port fe_key=$key worker=$gw_worker ;;
    shm) port=$aigw_port fe_key=$limits_key worker=$gw_worker ;;
    redis) port=$redis_gw_port fe_key=$limits_key worker=$gwr_worker ;;
    esac
}

# front end, seconds, output file, results file; fails on errors or
# non-2xx answers
run_wrk() {
    local fe=$1 secs=$2 out=$3 results=$4 t0 t1 c0 c1 r0 r1
    local port fe_key worker

    setup_fe "$fe"
    c0=$(cpu_ticks "$worker")
    r0=$(cpu_ticks "$redis_pid")
    t0=$(date +%s%N)
    $rest_cpu wrk -t "$threads" -c "$conns" -d "${secs}s" --latency \
        -s "$root/bench/post.lua" "http://127.0.0.1:$port$path" \
        -- "$body" "$fe_key" > "$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed ($(label "$fe"))"; }
    t1=$(date +%s%N)
    c1=$(cpu_ticks "$worker")
    r1=$(cpu_ticks "$redis_pid")

    if grep -Eq 'Non-2xx|Socket errors' "$out"; then
        cat "$out" >&2
        die "$(label "$fe"): not every request was answered 200"
    fi
    grep -q '^Requests/sec:' "$out" || { cat "$out" >&2; die "no result"; }

    # req/s, p50, p99, then CPU of the gateway worker and of redis-server:
    # percent of the run, and microseconds per request
    awk -v c=$((c1 - c0)) -v r=$((r1 - r0)) -v t=$((t1 - t0)) \
        -v hz="$(getconf CLK_TCK)" '
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
            rcpu = r / hz
            printf "%.2f %.3f %.3f %.0f %.1f %.0f %.1f %d\n", rps, p50, p99,
                   100 * cpu / (t / 1e9), 1e6 * cpu / n,
                   100 * rcpu / (t / 1e9), 1e6 * rcpu / n, n
        }' "$out" >> "$results"
}

echo "warm-up: ${warmup}s each; then $rounds rounds of ${duration}s," \
     "the four front ends in turn"
echo "wrk: $threads thread(s), $conns connections; pinning:" \
     "$([ "$pin" = 1 ] && echo "gateways CPU 0, mock + redis + wrk CPU 1" \
                       || echo off)"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

for fe in $fes; do
    run_wrk "$fe" "$warmup" "$prefix/out/warmup-$fe.txt" \
        "$prefix/out/warmup-$fe.results"
done

for i in $(seq "$rounds"); do
    for fe in $fes; do
        run_wrk "$fe" "$duration" "$prefix/out/$fe-$i.txt" \
            "$prefix/out/$fe.results"
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
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-19s %10s %8s %8s %7s %9s   %s\n" "" "req/s" "p50 ms" "p99 ms" \
       "gw CPU" "gw us/req" "req/s of each round"
for fe in $fes; do
    f=$prefix/out/$fe.results
    printf "%-19s %10.0f %8.3f %8.3f %6.0f%% %9.1f   %s\n" "$(label "$fe")" \
        "$(median "$f" 1)" "$(median "$f" 2)" "$(median "$f" 3)" \
        "$(median "$f" 4)" "$(median "$f" 5)" \
        "$(awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }' "$f")"
done
echo "(medians of $rounds runs; gw CPU: the gateway worker's CPU time" \
     "during a run)"

f=$prefix/out/redis.results
printf "redis-server during the redis runs: %.0f%% CPU, %.1f us/req\n" \
    "$(median "$f" 6)" "$(median "$f" 7)"

# every answered request of the key was charged in Redis (cost 276 micro-USD
# each: 214 prompt tokens at $1 and 31 completion tokens at $2 per million);
# wrk does not count the requests in flight when a run ends
charged=$(redis HGET "$rkey" sp)
answered=$(cat "$prefix"/out/{warmup-redis,redis}.results \
           | awk '{ n += $8 } END { print n }')
awk -v s="$charged" -v n="$answered" 'BEGIN {
    printf "charged in Redis: %d requests (wrk runs answered %d, plus the", \
           s / 276, n
    printf " checks and the requests in flight when a run ends)\n" }'

# the commands' time inside redis-server (the rest of its CPU time is the
# network and the protocol)
redis INFO commandstats | tr -d '\r' | awk -F '[:,=]' '
    /^cmdstat_/ && $3 >= 1000 {
        sub(/^cmdstat_/, "", $1)
        printf "%s %s %d calls, %.1f us/call", (n++ ? ";" : "redis commands:"),
               $1, $3, $7
    }
    END { if (n) print "" }'

us() {
    median "$prefix/out/$1.results" 5
}

awk -v p="$(us plain)" -v a="$(us aigw)" -v s="$(us shm)" -v r="$(us redis)" \
    'BEGIN {
    printf "gateway CPU per request / plain: aigw %.2f, aigw+limits (shm)" \
           " %.2f, aigw+limits (redis) %.2f\n", a / p, s / p, r / p }'

# pinned, the gateway's worker is the bottleneck and runs near 100%
if [ "$pin" = 1 ]; then
    low=$(cat "$prefix"/out/{plain,aigw,shm,redis}.results \
          | awk '$4 < 90' | wc -l)
    if [ "$low" -gt 0 ]; then
        echo "warning: in $low run(s) the gateway worker was below 90% CPU:"
        echo "other load on the machine (or CPU 1 saturated by the mock," \
             "redis and wrk)?"
        echo "req/s are unreliable, the CPU per request less so"
    fi
fi

# The ratio of each front end is the median over the rounds of its req/s
# over plain's in the same round: the runs of a round are seconds apart,
# while the machine's speed can drift over a whole run (a shared host).
round_ratio() {     # front end: median of its per-round ratios to plain
    paste "$prefix/out/$1.results" "$prefix/out/plain.results" \
    | awk -v c=$(($(head -1 "$prefix/out/plain.results" | wc -w) + 1)) \
          '{ printf "%.4f\n", $1 / $c }' \
    | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = int((NR + 1) / 2)
            print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2
        }'
}

rounds_of() {       # front end: its per-round ratios, for the report
    paste "$prefix/out/$1.results" "$prefix/out/plain.results" \
    | awk -v c=$(($(head -1 "$prefix/out/plain.results" | wc -w) + 1)) \
          '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 / $c }'
}

echo "per-round ratios to plain: aigw $(rounds_of aigw);" \
     "shm $(rounds_of shm); redis $(rounds_of redis)"

awk -v a="$(round_ratio aigw)" -v s="$(round_ratio shm)" \
    -v r="$(round_ratio redis)" 'BEGIN {
    printf "ratio aigw/plain: %.2f (target >= 0.90)\n", a
    printf "ratio aigw+limits(shm)/plain: %.2f (target >= 0.90)\n", s
    printf "ratio aigw+limits(redis)/plain: %.2f (target >= 0.75)\n", r }'
