#!/bin/sh
# Reads the output of "make valgrind" (prove with TEST_NGINX_USE_VALGRIND)
# and fails when valgrind reported an error or a leak whose stack has a
# frame of aigw (ngx_http_aigw_* or aigw_*), or when the suite failed.
set -u
log=$1

awk '
/^==[0-9]+== [A-Z]/ || /^==[0-9]+== [0-9,]+ (\([^)]*\) )?bytes/ {
    if (!inrec) { rec = ""; inrec = 1 }
}
/^==[0-9]+==/ {
    if (inrec) {
        rec = rec $0 "\n"
        if ($0 ~ /^==[0-9]+== *$/) { flush() }
    }
    next
}
{ if (inrec) flush() }
function flush() {
    inrec = 0
    if (rec ~ /(Invalid|uninitialised|definitely lost|indirectly lost|Mismatched|overlap|Syscall param)/) {
        total++
        if (rec ~ /(ngx_http_aigw_|aigw_[a-z_]+ \()/) {
            mine++
            printf "%s\n", rec
        }
    }
    rec = ""
}
END {
    if (inrec) flush()
    printf "valgrind: %d error/leak records, %d from aigw\n", total, mine
    exit mine > 0 ? 1 : 0
}
' "$log" || exit 1

if grep -qE '^Result: FAIL' "$log"; then
    echo "valgrind: the test suite failed under valgrind"
    exit 1
fi
