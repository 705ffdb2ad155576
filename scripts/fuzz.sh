#!/bin/bash
# Build aigw's libFuzzer targets (fuzz/fuzz_*.c) with ASan and UBSan and run
# each for a bounded time, one after the other.
#
#   scripts/fuzz.sh                 every target, FUZZ_TIME seconds each
#   scripts/fuzz.sh fuzz_sse ...    only these targets
#   scripts/fuzz.sh --build-only    build, do not run
#
# Environment:
#   FUZZ_TIME      seconds per target (default 60)
#   FUZZ_MAX_LEN   largest input in bytes (default 65536)
#   FUZZ_CC        the compiler (default clang-14, else clang)
#   FUZZ_ARGS      extra libFuzzer flags, e.g. "-seed=1 -jobs=2"
#
# Seeds come from fuzz/corpus/<target>/ (and t/fixtures/ when it exists);
# they are copied into build/fuzz/corpus/<target>/, the corpus the run
# grows, so the repository stays clean.  A finding is written to
# fuzz/artifacts/<target>/ (crash-*, leak-*, timeout-*, oom-*) and its path
# printed; the script then exits 1.  Reproduce with
#   fuzz/bin/<target> <file>
# and keep a reproducer worth keeping as fuzz/crashes/<target>-<name>;
# fuzz/crashes/ files are replayed by every run, before the fuzzing.

set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1

FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-65536}
FUZZ_ARGS=${FUZZ_ARGS:-}

BIN=fuzz/bin
WORK=build/fuzz
OBJ=$WORK/obj
ART=fuzz/artifacts

build_only=0
targets=()

for a in "$@"; do
    case "$a" in
    --build-only) build_only=1 ;;
    fuzz_*) targets+=("$a") ;;
    *) echo "fuzz: unknown argument '$a'" >&2; exit 2 ;;
    esac
done

if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do
        targets+=("$(basename "$f" .c)")
    done
fi

# --- dependencies -----------------------------------------------------------

sh scripts/deps.sh fuzz || exit 1

CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
    if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=gnu99 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Isrc -Ifuzz"

mkdir -p "$BIN" "$OBJ" "$WORK/corpus" "$WORK/logs" "$ART"

# --- build ------------------------------------------------------------------

# Each core file is compiled on its own, so that one file that does not
# compile yet (a translator being written) only fails the targets that
# need it.

objs=()
for src in src/aigw_*.c; do
    o=$OBJ/$(basename "$src" .c).o

    if [ ! -f "$o" ] || [ "$src" -nt "$o" ] \
       || [ -n "$(find src -name 'aigw_*.h' -newer "$o" 2>/dev/null)" ]
    then
        extra=
        grep -q __builtin_cpu_supports "$src" \
            && extra="-include fuzz/compat_cpu.h"

        # shellcheck disable=SC2086
        if ! $CC $CFLAGS $SAN $extra -fsanitize=fuzzer-no-link -c -o "$o" \
             "$src" \
             2> "$WORK/logs/$(basename "$src" .c).build.log"
        then
            echo "fuzz: $src does not compile (see" \
                 "$WORK/logs/$(basename "$src" .c).build.log)" >&2
            rm -f "$o"
            continue
        fi
    fi

    objs+=("$o")
done

declare -A result execs

built=()
for t in "${targets[@]}"; do
    if [ ! -f "fuzz/$t.c" ]; then
        echo "fuzz: no fuzz/$t.c" >&2
        result[$t]="NO SUCH TARGET"
        continue
    fi

    if $CC $CFLAGS $SAN -fsanitize=fuzzer -o "$BIN/$t" "fuzz/$t.c" \
         "${objs[@]}" -ljansson > "$WORK/logs/$t.build.log" 2>&1
    then
        built+=("$t")
    else
        echo "fuzz: $t does not build:" >&2
        grep -E 'error|undefined reference' "$WORK/logs/$t.build.log" \
            | sed 's/^/    /' | head -8 >&2
        result[$t]="BUILD FAILED"
    fi
done

if [ $build_only = 1 ]; then
    echo "fuzz: built ${built[*]:-nothing} in $BIN/"
    [ ${#built[@]} -eq ${#targets[@]} ]
    exit $?
fi

# --- run --------------------------------------------------------------------

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "${built[@]}"; do
    corpus=$WORK/corpus/$t
    mkdir -p "$corpus" "$ART/$t"

    if [ -d "fuzz/corpus/$t" ]; then
        cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
    fi

    dict=
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"

    log=$WORK/logs/$t.log
    echo "fuzz: running $t for ${FUZZ_TIME}s ($log)"

    # known reproducers first, one by one: a fixed bug stays fixed
    known=
    for r in fuzz/crashes/"$t"-*; do
        [ -f "$r" ] || continue
        if ! "$BIN/$t" "$r" > "$WORK/logs/$(basename "$r").log" 2>&1; then
            known="$known $r"
        fi
    done

    # shellcheck disable=SC2086
    "$BIN/$t" -max_total_time="$FUZZ_TIME" -max_len="$FUZZ_MAX_LEN" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$ART/$t/" $dict $FUZZ_ARGS "$corpus" \
        > "$log" 2>&1
    rc=$?

    execs[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" \
                | tail -1)
    [ -n "${execs[$t]}" ] || execs[$t]=$(grep -o '^#[0-9]*' "$log" \
                                         | tail -1 | tr -d '#')

    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" \
               | tail -1)

    if [ $rc -eq 0 ] && [ -z "$artifact" ]; then
        result[$t]=ok
    elif [ -n "$artifact" ]; then
        what=$(grep -o -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error|FUZZ INVARIANT \[[a-z0-9-]+\]' "$log")
        result[$t]="FOUND ${what:-a crash}: $artifact"
    else
        result[$t]="FAILED rc=$rc (see $log)"
    fi

    if [ -n "$known" ]; then
        [ "${result[$t]}" = ok ] && result[$t]=
        result[$t]="${result[$t]:+${result[$t]}; }still failing:$known"
    fi
done

# --- report -----------------------------------------------------------------

status=0
echo
printf '%-22s %12s  %s\n' target executions result
for t in "${targets[@]}"; do
    r=${result[$t]:-?}
    printf '%-22s %12s  %s\n' "$t" "${execs[$t]:--}" "$r"
    [ "$r" = ok ] || status=1
done

exit $status
