#!/usr/bin/env bash
# tests/soak/run.sh - runs tests/soak/soak.js (issue 13: `make soak`, `make soak-short`) against a fresh
# hub in a private network namespace (443 and 8883 free, nothing else disturbed). SOAK_SECONDS sets
# the length (default 300); the report goes to build/soak/run-<time>/soak-report.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${MOCKHUB_SOAK_NETNS:-}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        exec unshare -n -- env MOCKHUB_SOAK_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
    fi
    exec unshare -r -n -- env MOCKHUB_SOAK_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
[ -d tests/integration/node_modules ] || { echo "soak: run \`make deps-test\` first" >&2; exit 2; }
. scripts/node-env.sh
out="build/soak/run-$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$out"
ln -sfn "$(basename "$out")" build/soak/last
MOCKHUB_TEST_RUN_DIR="$PWD/$out" exec node tests/soak/soak.js
