#!/usr/bin/env bash
# Build the hedgebot image with rootful podman where no base image can be pulled.
#
#   sudo scripts/build_image.sh [TAG]        (default TAG: hedgebot:latest)
#
# Where `docker build -t hedgebot .` works, use that instead: this script is for hosts that reach
# only package registries (Debian mirror, PyPI). Every step is skipped when its result exists, so
# running it again rebuilds only the image. Work files live in ${WORK:-/var/tmp/hedgebot-image}.
set -euo pipefail

TAG="${1:-hedgebot:latest}"
BASE="localhost/hedgebot-base:bookworm"
WORK="${WORK:-/var/tmp/hedgebot-image}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '== %s\n' "$*" >&2; }

# 1. Rootful podman, runc, debootstrap (apt-get install podman runc debootstrap).
[[ $(id -u) -eq 0 ]] || { echo "run as root (rootful podman, debootstrap)" >&2; exit 2; }
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install $tool" >&2; exit 2; }
done
mkdir -p "$WORK"

# 2. A containers.conf of our own (the system's is left alone): runc as the runtime (crun fails
#    on setrlimit and on hybrid cgroups) and default ulimits at or below this machine's hard
#    limits (podman's defaults exceed them here, and then every container fails to start).
#    `podman build` ignores default_ulimits (buildah raises nofile and nproc as root): step 4
#    passes the same limits with --ulimit.
#    Equal to the hard limit was refused here (setrlimit: operation not permitted): use half.
below() { local hard="$1"; [[ $hard == unlimited ]] && hard=131072; echo $((hard / 2)); }
nofile="$(below "$(ulimit -Hn)")"
nproc="$(below "$(ulimit -Hu)")"
cat >"$WORK/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$WORK/containers.conf"

# 3. The base image: a minimal Debian bookworm (python3 3.11, pip, CA certificates, passwd for
#    useradd) made with debootstrap and imported, since no registry image can be pulled.
if podman image exists "$BASE"; then
    say "base image $BASE exists"
else
    rootfs="$WORK/rootfs"
    if [[ ! -e "$rootfs/.complete" ]]; then
        say "debootstrap bookworm into $rootfs (from $MIRROR)"
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates,passwd \
            bookworm "$rootfs" "$MIRROR"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        touch "$rootfs/.complete"
    fi
    say "import $rootfs as $BASE"
    tar --exclude=./.complete -C "$rootfs" -c . | podman import - "$BASE"
fi

# 4. The image. pip inside the build needs the host's network (--network=host) and the host's CA
#    bundle (a proxy may re-sign TLS); the bundle is mounted read-only for the RUN steps only,
#    never copied into a layer. --format docker keeps the HEALTHCHECK (OCI images drop it).
say "build $TAG"
podman build \
    --format docker \
    --network=host \
    --build-arg "BASE=$BASE" \
    --ulimit "nofile=${nofile}:${nofile}" \
    --ulimit "nproc=${nproc}:${nproc}" \
    --volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    --tag "$TAG" \
    "$HERE"

# 5. A smoke test: the image starts, as uid 10001, and knows its commands.
say "smoke test"
podman run --rm --entrypoint id "$TAG" -u | grep -qx 10001
podman run --rm "$TAG" --help >/dev/null
say "done: $TAG"
