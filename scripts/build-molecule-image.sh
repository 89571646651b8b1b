#!/usr/bin/env bash
# Build the Molecule instance image of the collection's roles, offline from Debian's packages: Debian 12 with
# systemd as PID 1 and its own Docker engine (Docker in Docker), as on a real host.
#   mmdebstrap --variant=apt --include=<packages> bookworm  ->  docker import --change 'CMD ["/sbin/init"]'
# Run it as molecule/base.yml describes (every capability but SYS_RESOURCE, no seccomp/apparmor, host cgroup
# namespace, /sys/fs/cgroup read-write, tmpfs on /run, /run/lock, /tmp). The inner engine uses vfs storage.
# Usage: scripts/build-molecule-image.sh [--force]
set -euo pipefail

IMAGE=regops/debian12-systemd-docker:latest
PACKAGES=python3,python3-docker,python3-requests,python3-cryptography,python3-passlib,python3-bcrypt,systemd,systemd-sysv,dbus,docker.io,ca-certificates,openssl,skopeo,curl,iproute2,procps
force=${1:-}

command -v mmdebstrap >/dev/null || { echo "missing mmdebstrap: install the mmdebstrap package" >&2; exit 1; }
stamp=$( (cat "$0"; echo "$PACKAGES") | sha256sum | cut -c1-16)
if [ "$force" != "--force" ] && [ "$(docker image inspect -f '{{ index .Config.Labels "io.regops.molecule" }}' "$IMAGE" 2>/dev/null || true)" = "$stamp" ]; then
    echo "$IMAGE is up to date ($stamp)"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The inner engine: vfs storage (overlay on overlay does not work), no iptables changes of the host's.
mkdir -p "$work/hooks"
cat > "$work/hooks/customize.sh" <<'HOOK'
#!/bin/sh
set -e
mkdir -p "$1/etc/docker"
printf '{"storage-driver": "vfs"}\n' > "$1/etc/docker/daemon.json"
HOOK
chmod +x "$work/hooks/customize.sh"
mmdebstrap --quiet --variant=apt --include="$PACKAGES" --customize-hook="$work/hooks/customize.sh \"\$1\"" \
    bookworm "$work/rootfs.tar"
docker import --change 'CMD ["/sbin/init"]' --change "LABEL io.regops.molecule=$stamp" \
    --change 'ENV container=docker' "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "built $IMAGE ($stamp)"
