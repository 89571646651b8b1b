#!/usr/bin/env bash
# Build a stand-in for the upstream registry:2 image from Debian's docker-registry
# package (distribution 2.8.2), for machines that cannot pull images.
# It keeps upstream's paths: /bin/registry, /etc/docker/registry/config.yml,
# /var/lib/registry, port 5000, and an entrypoint that behaves like upstream's.
# Usage: scripts/build-registry-image.sh [--force]
set -euo pipefail

IMAGE_TAGS=(registry:2 registry:2.8.2)
force=${1:-}

binary=/usr/bin/docker-registry
busybox=/bin/busybox
for f in "$binary" "$busybox"; do
    [ -x "$f" ] || { echo "missing $f: install the docker-registry and busybox-static packages" >&2; exit 1; }
done

here=$(cd "$(dirname "$0")" && pwd)
stamp=$(cat "$binary" "$busybox" "$0" | sha256sum | cut -c1-16)
if [ "$force" != "--force" ] && [ "$(docker image inspect -f '{{ index .Config.Labels "io.regops.standin" }}' registry:2 2>/dev/null || true)" = "$stamp" ]; then
    echo "registry:2 stand-in is up to date ($stamp)"
    exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root"/{bin,etc/docker/registry,etc/ssl/certs,var/lib/registry,tmp}
chmod 1777 "$root/tmp"
cp "$binary" "$root/bin/registry"
cp "$busybox" "$root/bin/busybox"
# The binary is dynamically linked: bring its libraries and the loader along.
ldd "$binary" | awk '/=>/ { print $3 } /^[[:space:]]*\/.*ld-linux/ { print $1 }' | while read -r lib; do
    [ -n "$lib" ] && [ -e "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"

# Upstream's default configuration.
cat > "$root/etc/docker/registry/config.yml" <<'YAML'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YAML

# Upstream's entrypoint.
cat > "$root/entrypoint.sh" <<'SH'
#!/bin/sh
set -e
case "$1" in
    *.yaml|*.yml) set -- registry serve "$@" ;;
    serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
SH
chmod 0755 "$root/entrypoint.sh"

cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin
VOLUME ["/var/lib/registry"]
EXPOSE 5000
LABEL io.regops.standin="$stamp" \\
      org.opencontainers.image.title="registry" \\
      org.opencontainers.image.version="2.8.2" \\
      org.opencontainers.image.description="Stand-in for registry:2 built from Debian's docker-registry package"
ENTRYPOINT ["/entrypoint.sh"]
CMD ["/etc/docker/registry/config.yml"]
DOCKERFILE

args=()
for t in "${IMAGE_TAGS[@]}"; do args+=(-t "$t"); done
# The legacy builder needs no buildx plugin (Debian's docker.io has none); keep its
# deprecation notice out of the way but show everything when the build fails.
if ! out=$(DOCKER_BUILDKIT=0 docker build "${args[@]}" "$ctx" 2>&1); then
    echo "$out" >&2
    exit 1
fi
echo "built ${IMAGE_TAGS[*]} ($stamp) from $binary ($("$binary" --version | awk '{print $NF}'))"
