#!/usr/bin/env bash
# Runs mockhub's integration tests (Microsoft's Node SDKs and our C apps against the real hub), one
# node process per *.test.js file, each in its own private network namespace so 443/8883 are free.
# Usage: tests/integration/run.sh [file.test.js ...]   (`make integration` calls it after `make`).
# Env: MOCKHUB_IT_FILE_TIMEOUT (s, default 600), MOCKHUB_IT_OUT (artifacts, default build/integration),
# MOCKHUB_BUILD_DIR (default build/), MOCKHUB_PLUGIN (default $MOCKHUB_BUILD_DIR/mockhub_bridge.so).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# ---- 1. re-exec inside a private network namespace ----------------------------------------------
if [ "${MOCKHUB_IT_IN_NETNS:-}" != "1" ]; then
    export MOCKHUB_IT_IN_NETNS=1
    if [ "$(id -u)" -eq 0 ]; then
        exec unshare -n -- "$0" "$@"
    fi
    # Not root: a user namespace maps us to root, which may bind 443 in its own network namespace.
    exec unshare -r -n -- "$0" "$@"
fi
ip link set lo up

# ---- 2. prerequisites ---------------------------------------------------------------------------
BUILD="${MOCKHUB_BUILD_DIR:-$ROOT/build}"
# A sanitizer build of the daemon runs with the plain plugin (MOCKHUB_PLUGIN): the broker cannot load an ASan .so.
if [ ! -x "$BUILD/mockhub" ] || [ ! -f "${MOCKHUB_PLUGIN:-$BUILD/mockhub_bridge.so}" ]; then
    echo "integration: $BUILD/mockhub or ${MOCKHUB_PLUGIN:-mockhub_bridge.so} missing: run \`make\` first" >&2
    exit 2
fi
command -v node >/dev/null || { echo "integration: node not found (run scripts/deps.sh)" >&2; exit 2; }
. "$HERE/../../scripts/node-env.sh"
lock="$HERE/package-lock.json"
stamp="$HERE/node_modules/.mockhub-lock"
if ! cmp -s "$lock" "$stamp" 2>/dev/null; then
    echo "integration: npm ci"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$lock" "$stamp"
fi

# One artifact dir per run (concurrent runs must not share one); the last 5 are kept.
if [ -n "${MOCKHUB_IT_OUT:-}" ]; then
    OUT="$MOCKHUB_IT_OUT"
    rm -rf "$OUT"
else
    mkdir -p "$BUILD/integration"
    OUT="$BUILD/integration/run-$(date +%Y%m%d-%H%M%S)-$$"
    # shellcheck disable=SC2012
    { ls -1dt "$BUILD"/integration/run-* 2>/dev/null || true; } | tail -n +5 | xargs -r rm -rf
    ln -sfn "$(basename "$OUT")" "$BUILD/integration/last"
fi
mkdir -p "$OUT"
chmod 755 "$OUT"
FILE_TIMEOUT="${MOCKHUB_IT_FILE_TIMEOUT:-600}"

kill_groups() { # kill the process groups of hubs a test file started and left behind
    local pids="$1/hub.pids" pg
    [ -f "$pids" ] || return 0
    while read -r pg; do
        [ -n "$pg" ] && kill -KILL -- "-$pg" 2>/dev/null || true
    done <"$pids"
}

print_logs() { # the hub (daemon + broker) logs of a failed file, tail of each
    local dir="$1" f
    while IFS= read -r f; do
        echo "----- $f (last 400 lines) -----"
        tail -n 400 "$f"
    done < <(find "$dir" -type f -name '*.log' | sort)
}

# ---- 3. one development CA for the whole run ------------------------------------------------------
# NODE_EXTRA_CA_CERTS must be set before node starts, so a first hub creates the CA here and every
# test hub gets a copy of ca.pem/ca.key in its fresh data dir (the hub keeps an existing CA).
CA_DIR="$OUT/ca"
mkdir -p "$CA_DIR"
(
    cd "$ROOT"
    MOCKHUB_DATA_DIR="$CA_DIR" MOCKHUB_HOSTNAME=localhost exec setsid "$BUILD/mockhub" run
) >"$OUT/ca-seed.log" 2>&1 &
seed=$!
ok=0
for _ in $(seq 1 300); do
    if [ -s "$CA_DIR/ca.pem" ] && [ -s "$CA_DIR/ca.key" ] &&
        curl -fsS --max-time 2 --cacert "$CA_DIR/ca.pem" https://localhost/health >/dev/null 2>&1; then
        ok=1
        break
    fi
    kill -0 "$seed" 2>/dev/null || break
    sleep 0.1
done
kill -TERM "$seed" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$seed" 2>/dev/null || break; sleep 0.1; done
kill -KILL -- "-$seed" 2>/dev/null || true
wait "$seed" 2>/dev/null || true
if [ ! -s "$CA_DIR/ca.pem" ] || [ ! -s "$CA_DIR/ca.key" ]; then
    echo "integration: the hub did not create a CA in $CA_DIR; its log:" >&2
    cat "$OUT/ca-seed.log" >&2
    exit 1
fi
[ "$ok" = 1 ] || echo "integration: warning: the CA-seeding hub never answered /health (tests will show why)"
export NODE_EXTRA_CA_CERTS="$CA_DIR/ca.pem"
export MOCKHUB_TEST_CA_DIR="$CA_DIR"
export MOCKHUB_BUILD_DIR="$BUILD"

# ---- 4. the test files, sequentially --------------------------------------------------------------
if [ $# -gt 0 ]; then
    files=()
    for f in "$@"; do files+=("$(basename "$f")"); done
else
    mapfile -t files < <(cd "$HERE" && ls -1 -- *.test.js | sort)
fi

failed=()
passed=()
SAN_REPORT='ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:'
for f in "${files[@]}"; do
    name="${f%.test.js}"
    dir="$OUT/$name"
    mkdir -p "$dir"
    echo "===== $f"
    start=$(date +%s)
    set +e
    (
        cd "$HERE"
        export MOCKHUB_TEST_RUN_DIR="$dir"
        exec unshare -n -- bash -c 'ip link set lo up && exec timeout -s TERM -k 15 "$0" node --test-reporter=spec "$1"' \
            "$FILE_TIMEOUT" "$f"
    ) 2>&1 | tee "$dir/node.txt"
    rc=${PIPESTATUS[0]}
    set -e
    kill_groups "$dir"
    secs=$(($(date +%s) - start))
    # A sanitizer build (MOCKHUB_BUILD_DIR=build-san-*) prints its reports into the logs: any one fails the file.
    san=$(grep -rlE "$SAN_REPORT" "$dir" --include='*.log' 2>/dev/null || true)
    if [ "$rc" -eq 0 ] && [ -n "$san" ]; then
        failed+=("$f")
        echo "===== $f: FAIL (${secs}s): sanitizer reports in" $san
        grep -h -A40 -E "$SAN_REPORT" $san | head -n 300 || true
    elif [ "$rc" -eq 0 ]; then
        passed+=("$f")
        echo "===== $f: PASS (${secs}s)"
    else
        [ "$rc" -eq 124 ] && echo "===== $f: TIMEOUT after ${FILE_TIMEOUT}s"
        failed+=("$f")
        echo "===== $f: FAIL (exit $rc, ${secs}s); hub and broker logs:"
        print_logs "$dir"
    fi
done

echo
echo "integration: ${#passed[@]} file(s) passed, ${#failed[@]} failed${failed:+: ${failed[*]}} (artifacts: $OUT)"
[ ${#failed[@]} -eq 0 ]
