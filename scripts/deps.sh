#!/usr/bin/env bash
# Installs what mockhub needs on Debian 12: build and runtime packages (apt) and the pinned
# Node.js conformance clients (npm ci). Used by `make run`, `make test` and the Dockerfile.
# Quiet and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(build-essential pkg-config mosquitto mosquitto-dev libmosquitto-dev libmicrohttpd-dev
          libsqlite3-dev libcjson-dev libcriterion-dev libssl-dev libcurl4-openssl-dev openssl
          ca-certificates iproute2 util-linux curl)
if [ "${1:-}" != "--runtime" ]; then
    # Tests only: Node.js and npm (the Debian packages, unless a Node.js is already installed, e.g.
    # NodeSource) for Microsoft's SDKs, and docker-compose to validate the compose file.
    command -v node >/dev/null 2>&1 || APT_PKGS+=(nodejs)
    command -v npm >/dev/null 2>&1 || APT_PKGS+=(npm)
    command -v docker-compose >/dev/null 2>&1 || APT_PKGS+=(docker-compose)
fi

# One dpkg-query for all packages: `make run` pays this on every start.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${APT_PKGS[@]}" 2>/dev/null | awk '/install ok installed/ {print $1}')
missing=()
for p in "${APT_PKGS[@]}"; do
    grep -qx -- "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian package starts no broker here (no systemd), but on machines where it does, the
# system broker would hold 8883/1883: mockhub runs its own broker with its own config.

if [ "${1:-}" != "--runtime" ] && [ -f tests/integration/package-lock.json ]; then
    lock=tests/integration/package-lock.json
    stamp=tests/integration/node_modules/.mockhub-lock
    if ! cmp -s "$lock" "$stamp" 2>/dev/null; then
        echo "deps: npm ci (tests/integration)"
        (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error)
        cp "$lock" "$stamp"
    fi
fi
