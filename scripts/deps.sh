#!/bin/sh
# Install aigw's build and test dependencies from Debian packages.
# Idempotent. Test::Nginx is taken from Debian unstable through a pin of
# priority 100, so apt never prefers unstable for anything else.
#
#   sh scripts/deps.sh        build, test and benchmark dependencies
#   sh scripts/deps.sh fuzz   only what scripts/fuzz.sh needs (clang with
#                             libFuzzer and the sanitizers, jansson)
set -eu

mode=${1:-all}

if [ "$mode" = fuzz ]; then
    PKGS="make clang-14 libclang-rt-14-dev libjansson-dev"
else
    PKGS="build-essential nginx nginx-dev libnginx-mod-http-ndk
libnginx-mod-http-ndk-dev libnginx-mod-http-echo libjansson-dev
libhiredis-dev redis-server valgrind wrk libcmocka-dev pkg-config curl
libtest-nginx-perl prometheus"
fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing (run as root to install)" >&2
    exit 1
fi

src=/etc/apt/sources.list.d/debian-unstable.sources
if [ "$mode" != fuzz ] && [ ! -f "$src" ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' \
          /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    cat > "$src" <<EOS
Types: deb
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
    cat > /etc/apt/preferences.d/debian-unstable <<EOS
Package: *
Pin: release n=sid
Pin-Priority: 100
EOS
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The nginx package starts a daemon on port 80; keep it from doing so.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get install -y -q --no-install-recommends $missing
rm -f /usr/sbin/policy-rc.d
