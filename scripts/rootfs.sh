#!/usr/bin/env bash
# Prints the path of a cached minimal Debian 12 root file system tarball, making it first if needed
# (debootstrap --variant=minbase --include=make,git,ca-certificates bookworm, mirror from the host's
# apt sources). Used by fresh-check.sh (the chroot) and container-check.sh (the base image).
# Env: MOCKHUB_ROOTFS_CACHE (default /var/cache/mockhub/rootfs-bookworm-minbase.tar). Never in the repo.
set -euo pipefail
CACHE="${MOCKHUB_ROOTFS_CACHE:-/var/cache/mockhub/rootfs-bookworm-minbase.tar}"
if [ ! -s "$CACHE" ]; then
    command -v debootstrap >/dev/null || { echo "rootfs: debootstrap missing (scripts/deps.sh ci)" >&2; exit 1; }
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "rootfs: debootstrap bookworm (minbase) from $mirror, cached at $CACHE (once; 1-2 minutes)" >&2
    mkdir -p "$(dirname "$CACHE")"
    build=$(mktemp -d /var/tmp/mockhub-debootstrap.XXXXXX)
    if ! debootstrap --variant=minbase --include=make,git,ca-certificates bookworm "$build" "$mirror" >"$build.log" 2>&1; then
        tail -20 "$build.log" >&2
        rm -rf "$build" "$build.log"
        echo "rootfs: debootstrap failed (log above)" >&2
        exit 1
    fi
    tar -C "$build" -cf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
    rm -rf "$build" "$build.log"
fi
echo "$CACHE"
