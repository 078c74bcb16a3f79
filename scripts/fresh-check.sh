#!/usr/bin/env bash
# make fresh-check: the README's two commands on a new Debian 12 machine where none of mockhub's
# packages are installed. A minimal root file system (debootstrap --variant=minbase, cached as a
# tarball outside the repo), a clean clone of this repo's HEAD copied in, then in a chroot inside a
# private mount namespace:
#   1. scripts/deps.sh as a non-root user without sudo: must refuse and print the apt-get line;
#   2. `make run` from nothing (it installs what running needs) until /health answers; no test
#      tooling (node, npm, Criterion) may have been installed by it;
#   3. offline, in a private network namespace: `make run` again on the real ports (443/8883) must
#      start without touching apt or npm, then the tutorial's reboot flow with the C apps;
#   4. `make test` (FRESH_CHECK_TEST=0 skips it): installs the test tools and runs every test.
# Env: MOCKHUB_ROOTFS_CACHE (tarball, default /var/cache/mockhub/rootfs-bookworm-minbase.tar),
#      FRESH_CHECK_KEEP=1 keeps the work dir, FRESH_CHECK_TEST=0 skips step 4.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN_TEST="${FRESH_CHECK_TEST:-1}"

say() { printf '== fresh-check [%4ss] %s\n' "$SECONDS" "$*"; }
die() {
    echo "fresh-check: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount namespaces)"
"$ROOT/scripts/deps.sh" ci >/dev/null || die "scripts/deps.sh ci failed"

CACHE=$("$ROOT/scripts/rootfs.sh") || die "no root file system"

WORK=$(mktemp -d /var/tmp/mockhub-fresh.XXXXXX)
R="$WORK/root"
cleanup() {
    if [ "${FRESH_CHECK_KEEP:-0}" = 1 ]; then
        echo "fresh-check: work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
mkdir -p "$R"
say "unpacking the root file system"
tar -C "$R" -xf "$CACHE"

# ---- the host's package settings (this workplace's mirror, proxy CA and npm config) --------------
rm -f "$R/etc/apt/sources.list"
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # a source whose keyring the fresh system lacks (a third-party repo) would fail apt-get update
    ok=1
    while read -r key; do [ -f "$R$key" ] || ok=0; done < <(awk '/^Signed-By:/ {print $2}' "$f")
    [ "$ok" = 1 ] && cp "$f" "$R/etc/apt/sources.list.d/"
done
ls "$R"/etc/apt/sources.list.d/* >/dev/null 2>&1 || die "no usable apt source in /etc/apt/sources.list.d to copy in"
cp /etc/apt/apt.conf.d/99* "$R/etc/apt/apt.conf.d/" 2>/dev/null || true
cp /etc/resolv.conf /etc/hosts "$R/etc/"
if [ -d /usr/local/share/ca-certificates ]; then
    cp -r /usr/local/share/ca-certificates/. "$R/usr/local/share/ca-certificates/"
fi
[ -f "$HOME/.npmrc" ] && cp "$HOME/.npmrc" "$R/root/.npmrc"

say "clean clone of $(git -C "$ROOT" rev-parse --short HEAD) into /srv/mockhub"
git clone -q --no-local "$ROOT" "$R/srv/mockhub"
chmod 755 "$R/srv" "$R/srv/mockhub"

# ---- the steps, in a chroot in a private mount namespace -----------------------------------------
cat >"$R/fresh-steps.sh" <<'STEPS'
#!/bin/bash
# Runs inside the chroot. $1 = step.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
cd /srv/mockhub
fail() { echo "fresh-check: FAILED: $*" >&2; exit 1; }
wait_health() { # $1 = port, $2 = pid of make run
    local i
    for i in $(seq 1 1800); do
        if command -v curl >/dev/null && [ -f data/ca.pem ] &&
            curl -fsS --max-time 2 --cacert data/ca.pem "https://localhost:$1/health" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
stop_hub() { kill -TERM -- "-$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

case "$1" in
trust)
    update-ca-certificates >/dev/null 2>&1 || true
    ;;
nonroot)
    # A user without root and without sudo: deps.sh must refuse and print the exact apt-get line.
    if out=$(setpriv --reuid=65534 --regid=65534 --clear-groups scripts/deps.sh run 2>&1); then
        fail "deps.sh as non-root on a bare machine exited 0: $out"
    fi
    echo "$out" | tail -3
    echo "$out" | grep -q "as root run: apt-get update && apt-get install -y --no-install-recommends .*build-essential" ||
        fail "deps.sh as non-root did not print the apt-get line"
    ;;
run)
    # `make run` from nothing, on spare ports (this step shares the host's network for the installs).
    MOCKHUB_HTTPS_PORT="$2" MOCKHUB_MQTT_PORT="$3" setsid make run >/tmp/make-run.log 2>&1 &
    pid=$!
    start=$SECONDS
    if ! wait_health "$2" "$pid"; then
        tail -40 /tmp/make-run.log >&2
        stop_hub "$pid"
        fail "make run never answered /health"
    fi
    echo "make run from nothing: /health after $((SECONDS - start)) s"
    stop_hub "$pid"
    grep '^deps:' /tmp/make-run.log | head -3
    for tool in node npm; do
        ! command -v "$tool" >/dev/null || fail "make run installed test tooling ($tool)"
    done
    ! dpkg -s libcriterion-dev >/dev/null 2>&1 || fail "make run installed test tooling (libcriterion-dev)"
    ;;
offline)
    # No network at all (loopback only, brought up by in_chroot with the host's ip): make run must
    # not reach for apt or npm; real ports; the reboot flow.
    setsid make run >/tmp/make-run2.log 2>&1 &
    pid=$!
    start=$SECONDS
    if ! wait_health 443 "$pid"; then
        tail -40 /tmp/make-run2.log >&2
        stop_hub "$pid"
        fail "offline make run never answered /health"
    fi
    echo "offline make run: /health after $((SECONDS - start)) s"
    ! grep -q '^deps:' /tmp/make-run2.log || fail "offline make run tried to install: $(grep '^deps:' /tmp/make-run2.log)"
    dcs=$(build/mockhub device create fresh-dev 2>/dev/null | grep -o 'HostName=[^ ]*' | head -1)
    [ -n "$dcs" ] || { stop_hub "$pid"; fail "mockhub device create printed no connection string"; }
    scs=$(build/mockhub connection-string | grep -o 'HostName=[^ ]*' | head -1)
    IOTHUB_DEVICE_CONNECTION_STRING="$dcs" IOTHUB_CA_FILE=data/ca.pem \
        setsid build/dmpatterns_getstarted_device --reboot-delay 1 >/tmp/device.log 2>&1 &
    dev=$!
    rc=0
    IOTHUB_CONNECTION_STRING="$scs" IOTHUB_DEVICE_ID=fresh-dev IOTHUB_CA_FILE=data/ca.pem \
        timeout 120 build/dmpatterns_getstarted_service --interval 1 --count 30 >/tmp/service.log 2>&1 || rc=$?
    kill -INT "$dev" 2>/dev/null || true
    wait "$dev" 2>/dev/null || true
    stop_hub "$pid"
    cat /tmp/service.log
    [ "$rc" -eq 0 ] || { cat /tmp/device.log; fail "reboot flow: service app exited $rc"; }
    grep -qi 'reboot' /tmp/service.log || fail "reboot flow: the service app printed no reboot time"
    ;;
test)
    make test
    ;;
esac
STEPS
chmod +x "$R/fresh-steps.sh"

in_chroot() { # $1 = "net" (host network) or "nonet" (private network namespace); rest = step args
    local net=$1
    shift
    local unsh=(unshare -m --propagation private)
    [ "$net" = nonet ] && unsh+=(-n)
    "${unsh[@]}" bash -c '
        set -e
        R=$1 net=$2; shift 2
        [ "$net" = net ] || ip link set lo up # the private network namespace: loopback only
        # the root of the chroot must be a mount point, as on a real machine: tests that make their own mount
        # namespace (disk_full.test.js: unshare -m) fail with EINVAL otherwise
        mount --bind "$R" "$R"
        mount -t proc proc "$R/proc"
        mount --rbind /sys "$R/sys"
        mount --rbind /dev "$R/dev"
        mount -t tmpfs tmpfs "$R/tmp"
        exec chroot "$R" /fresh-steps.sh "$@"' _ "$R" "$net" "$@"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

in_chroot net trust
say "1/4 deps.sh as a non-root user without sudo"
in_chroot net nonroot
say "2/4 make run from nothing"
in_chroot net run "$(free_port)" "$(free_port)"
say "3/4 make run offline on 443/8883, then the reboot flow with the C apps"
in_chroot nonet offline
if [ "$RUN_TEST" = 1 ]; then
    say "4/4 make test"
    in_chroot net test
else
    say "4/4 make test skipped (FRESH_CHECK_TEST=0)"
fi
say "passed"
