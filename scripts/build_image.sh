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
#    on hybrid cgroups) and no default ulimits. Containers here run without CAP_SYS_RESOURCE
#    (see CapEff in /proc/self/status), and then any rlimit runc sets on a container process,
#    even one below the hard limit, fails with "error setting rlimit type 6 (7): operation not
#    permitted"; without default ulimits a container keeps the host's limits. `podman build`
#    adds nofile and nproc limits to every RUN step whatever containers.conf says, so step 4
#    builds with chroot isolation, which runs the steps without runc.
cat >"$WORK/containers.conf" <<CONF
[containers]
default_ulimits = []

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
    --isolation chroot \
    --format docker \
    --network=host \
    --build-arg "BASE=$BASE" \
    --volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    --tag "$TAG" \
    "$HERE"

# 5. A smoke test: the image runs as uid 10001 and knows its commands; the paper demo journals
#    on a volume (a private file of uid 10001); the default command serves /healthz, the image's
#    HEALTHCHECK passes, and SIGTERM ends it with exit code 0.
say "smoke test"
podman run --rm --entrypoint id "$TAG" -u | grep -qx 10001
podman run --rm "$TAG" --help >/dev/null
volume="hedgebot-smoke-$$"
container="hedgebot-smoke-$$"
cleanup() {
    podman rm -f "$container" >/dev/null 2>&1 || true
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT
podman volume create "$volume" >/dev/null
summary="$(podman run --rm -v "$volume:/app/var" "$TAG" run --config config/paper.toml \
    --max-cycles 3 -q 2>/dev/null)"
grep -Eq "^activity +[0-9]+ orders, .*, 3 rebalances$" <<<"$summary" \
    || { echo "the paper demo did not run 3 cycles: $summary" >&2; exit 1; }
owner="$(podman run --rm -v "$volume:/app/var" --entrypoint stat "$TAG" -c "%u %a" \
    /app/var/hedgebot-paper.sqlite 2>/dev/null)"
[[ $owner == "10001 600" ]] || { echo "journal owner and mode: $owner, not 10001 600" >&2; exit 1; }
podman run -d --name "$container" -v "$volume:/app/var" "$TAG" >/dev/null 2>&1
healthy=""
for _ in $(seq 60); do
    if podman healthcheck run "$container" >/dev/null 2>&1; then healthy=yes; break; fi
    sleep 1
done
[[ -n $healthy ]] || { podman logs "$container" >&2; echo "the health check never passed" >&2; exit 1; }
podman stop -t 60 "$container" >/dev/null 2>&1
[[ $(podman inspect "$container" --format '{{.State.ExitCode}}') == 0 ]] \
    || { podman logs "$container" >&2; echo "SIGTERM did not end it with 0" >&2; exit 1; }
say "done: $TAG"
