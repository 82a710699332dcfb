#!/usr/bin/env bash
# Builds localhost/airut-base:latest, the Debian image agent containers run
# in when a repository has no .airut/container/Dockerfile (the local
# default config and the tests use it). No registry is needed: the root
# filesystem is made with mmdebstrap from the host's own apt sources and
# imported into podman. Idempotent; pass --force to rebuild.
set -euo pipefail
IMAGE=${AIRUT_BASE_IMAGE:-localhost/airut-base:latest}
if [[ "${1:-}" != "--force" ]] && podman image exists "$IMAGE"; then
  echo "base image $IMAGE present"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building base image $IMAGE with mmdebstrap (about a minute)"
mmdebstrap --quiet --variant=minbase --include=git,ca-certificates,procps,curl bookworm "$tmp/rootfs.tar"
podman import --quiet --change 'CMD ["/bin/bash"]' --change 'WORKDIR /workspace' "$tmp/rootfs.tar" "$IMAGE" >/dev/null
echo "base image $IMAGE built"
