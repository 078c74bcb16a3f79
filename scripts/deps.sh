#!/usr/bin/env bash
# Installs what mockhub needs on Debian 12, in three tiers, and says what and why:
#   scripts/deps.sh run    build and run the hub (`make run`, the Dockerfile; `--runtime` is an alias)
#   scripts/deps.sh test   also the test tools: Criterion, clang + libFuzzer, Node.js + npm and `npm ci`
#                          for Microsoft's SDKs, docker-compose, network namespaces (`make test`)
#   scripts/deps.sh ci     also debootstrap, podman, podman-compose and runc (`make fresh-check`,
#                          `make container-check`)
# On a machine that has everything it runs one dpkg-query and exits: no apt, no npm, no network.
# Every failure ends with one line on stderr saying what failed and what to do.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "deps: $*" >&2
    exit 1
}
trap 'echo "deps: unexpected failure at line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

tier=${1:-test}
case "$tier" in
--runtime | run) tier=run ;;
test | ci) ;;
-h | --help)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown tier '$tier' (use run, test or ci)" ;;
esac

# package -> why; the order is the order of the tiers.
declare -A WHY=(
    [build-essential]="C compiler and make for the hub, the plugin and the C apps"
    [pkg-config]="finds the libraries' compile flags"
    [libmosquitto-dev]="the daemon's link to the broker, the C device library"
    [mosquitto-dev]="the broker plugin API headers"
    [libmicrohttpd-dev]="the HTTPS REST server"
    [libsqlite3-dev]="registry and twin store"
    [libcjson-dev]="JSON"
    [libssl-dev]="SAS signatures and the development CA"
    [libcurl4-openssl-dev]="the C service library's HTTPS client"
    [libqpid-proton11-dev]="AMQP 1.0 (Proton-C connection driver): C2D from the service SDKs, the Event Hubs-compatible endpoint"
    [mosquitto]="the MQTT broker the hub runs"
    [ca-certificates]="TLS trust store"
    [curl]="health checks (container HEALTHCHECK, scripts)"
    [libcriterion-dev]="unit tests"
    [clang]="builds the libFuzzer targets (make fuzz; make test runs them briefly)"
    [libclang-rt-14-dev]="clang's libFuzzer and sanitizer runtimes for the fuzz targets"
    [openssl]="certificates for the bench's broker-only floor"
    [python3-azure]="Python azure-eventhub 5.11: eventhub_python.test.js reads D2C through the Event Hubs endpoint"
    [python3-uamqp]="the uamqp transport of azure-eventhub (uamqp_transport=True, MSSBCBS SASL), as az CLI uses"
    [sqlite3]="the fault tests' PRAGMA integrity_check of the hub's database after kill -9"
    [iproute2]="integration tests in private network namespaces (ip)"
    [util-linux]="integration tests in private network namespaces (unshare)"
    [nodejs]="Microsoft's Node.js SDKs, the conformance clients"
    [npm]="installs the pinned SDK versions (npm ci)"
    [docker-compose]="validates docker-compose.yml"
    [chromium]="the web dashboard's end-to-end test (headless, driven by playwright-core)"
    [debootstrap]="make fresh-check: a minimal Debian 12 root file system"
    [podman]="make container-check: builds and runs the compose file"
    [podman-compose]="make container-check"
    [runc]="make container-check: the OCI runtime that works here"
)
PKGS=(build-essential pkg-config libmosquitto-dev mosquitto-dev libmicrohttpd-dev libsqlite3-dev
      libcjson-dev libssl-dev libcurl4-openssl-dev libqpid-proton11-dev mosquitto ca-certificates curl)
if [ "$tier" != run ]; then
    PKGS+=(libcriterion-dev clang libclang-rt-14-dev openssl python3-azure python3-uamqp sqlite3 iproute2
          util-linux chromium)
    # A Node.js from elsewhere (NodeSource, nvm) is fine: only install Debian's when none is there.
    command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
    command -v npm >/dev/null 2>&1 || PKGS+=(npm)
    command -v docker-compose >/dev/null 2>&1 || PKGS+=(docker-compose)
fi
if [ "$tier" = ci ]; then
    PKGS+=(debootstrap podman podman-compose runc)
fi

command -v dpkg-query >/dev/null 2>&1 || die "this is not a Debian-based system (no dpkg-query); install the equivalents of: ${PKGS[*]}"

# One dpkg-query for all packages (make run pays this at every start). It exits 1 when any named
# package is unknown to dpkg, which is exactly the case we are here for: read its output, not its status.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null || true)
missing=()
for p in "${PKGS[@]}"; do
    grep -q -- "^$p install ok installed$" <<<"$installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${#missing[@]} Debian package(s) for '$tier':"
    for p in "${missing[@]}"; do printf '  %-22s %s\n' "$p" "${WHY[$p]}"; done
    line="apt-get install -y --no-install-recommends ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            SUDO=(sudo)
        elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
            SUDO=(sudo) # asks for the password on this terminal
        else
            die "not root and no usable sudo; as root run: apt-get update && $line"
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    # apt's own output is shown when it fails; on success only its summary line.
    log=$(mktemp)
    if ! "${SUDO[@]}" apt-get update -q >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "apt-get update failed (above); check the network and /etc/apt/sources.list.d, then retry"
    fi
    if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "apt-get install failed (above); the command was: $line"
    fi
    grep -E '^[0-9]+ upgraded' "$log" | sed 's/^/deps: /' || true
    rm -f "$log"
fi

# The Debian package starts no broker here (no systemd), but on machines where it does, the
# system broker would hold 8883/1883: mockhub runs its own broker with its own config.

if [ "$tier" != run ] && [ -f tests/integration/package-lock.json ]; then
    lock=tests/integration/package-lock.json
    stamp=tests/integration/node_modules/.mockhub-lock
    if ! cmp -s "$lock" "$stamp" 2>/dev/null; then
        echo "deps: npm ci in tests/integration (Microsoft's SDKs at the versions the lock file pins)"
        (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error) ||
            die "npm ci failed (above); check that the npm registry is reachable (npm config get registry), then retry"
        cp "$lock" "$stamp"
    fi
fi
exit 0
