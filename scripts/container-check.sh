#!/usr/bin/env bash
# make container-check: builds the image from docker-compose.yml as it is, starts it with
# podman-compose in a private network namespace, waits for /health, copies ca.pem out of the
# container and runs the reboot flow and a twin update from the host with Microsoft's Node SDKs
# against the published ports (tests/container/flow.js); then `podman-compose down -v`.
# No image registry is reachable here: the Dockerfile's base image (debian:12-slim) is imported
# from the cached debootstrapped root file system (scripts/rootfs.sh). podman runs with runc,
# cgroupfs and lower default ulimits (this sandbox lacks CAP_SYS_RESOURCE), set in a private
# CONTAINERS_CONF; see shared/reference/fresh-machine-and-containers.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '== container-check [%4ss] %s\n' "$SECONDS" "$*"; }
die() {
    echo "container-check: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (podman, network namespaces)"
scripts/deps.sh ci >/dev/null || die "scripts/deps.sh ci failed"
[ -d tests/integration/node_modules/azure-iothub ] || scripts/deps.sh test >/dev/null

WORK=$(mktemp -d /var/tmp/mockhub-container.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
export CONTAINERS_CONF="$WORK/containers.conf" BUILDAH_ISOLATION=chroot

base=$(awk '/^FROM/ {print $2; exit}' Dockerfile)
[ -n "$base" ] || die "no FROM line in Dockerfile"
case "$base" in */*) ref="docker.io/$base" ;; *) ref="docker.io/library/$base" ;; esac
if ! podman image exists "$ref"; then
    tarball=$(scripts/rootfs.sh) || die "no root file system"
    say "importing $tarball as $ref (the Dockerfile's base image)"
    podman import -q "$tarball" "$ref" >/dev/null
fi

# A clean clone, so the image is built from what is committed, not from this work tree's objects.
git clone -q --no-local "$ROOT" "$WORK/src"
cd "$WORK/src"
project=mockhubcheck$$
image=$(awk '/^ *image:/ {print $2; exit}' docker-compose.yml)
[ -n "$image" ] || die "docker-compose.yml names no image"
# podman-compose 1.0.3 exits 0 when the build fails, and `up` would then run a stale image: remove
# it first and require a new one.
podman rmi -f "$image" >/dev/null 2>&1 || true
say "podman-compose build ($(git rev-parse --short HEAD))"
if ! podman-compose -p "$project" build >"$WORK/build.log" 2>&1 || ! podman image exists "$image"; then
    tail -40 "$WORK/build.log" >&2
    die "podman-compose build failed (log above)"
fi

say "podman-compose up -d in a private network namespace, then the Node SDK flow"
export WORK project ROOT
unshare -n bash -c '
    set -euo pipefail
    ip link set lo up
    down() { podman-compose -p "$project" down -v >"$WORK/down.log" 2>&1 || cat "$WORK/down.log" >&2; }
    trap down EXIT
    podman-compose -p "$project" up -d >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
    cid=$(podman ps -q --filter "label=io.podman.compose.project=$project" | head -1)
    [ -n "$cid" ] || { echo "no container running" >&2; cat "$WORK/up.log" >&2; exit 1; }
    start=$SECONDS
    for i in $(seq 1 120); do
        if podman cp "$cid:/data/ca.pem" "$WORK/ca.pem" 2>/dev/null &&
            curl -fsS --max-time 2 --cacert "$WORK/ca.pem" https://localhost/health >/dev/null 2>&1; then
            break
        fi
        [ "$i" -lt 120 ] || { podman logs "$cid" | tail -40 >&2; echo "no /health after 60 s" >&2; exit 1; }
        sleep 0.5
    done
    echo "container healthy after $((SECONDS - start)) s (health from the host with the container CA)"
    podman inspect --format "{{.HostConfig.RestartPolicy.Name}}" "$cid" | sed "s/^/restart policy: /"
    MOCKHUB_CA="$WORK/ca.pem" NODE_EXTRA_CA_CERTS="$WORK/ca.pem" node "$ROOT/tests/container/flow.js" || {
        podman logs "$cid" | tail -60 >&2
        exit 1
    }
' || die "the container did not serve the flow (above)"
say "passed"
