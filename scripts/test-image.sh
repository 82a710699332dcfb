#!/usr/bin/env bash
# Builds the local Debian base image the tests run agent containers in.
# No registry is reachable on CI hosts, so the root filesystem is made with
# mmdebstrap from the host's own apt sources and imported into podman.
set -euo pipefail
IMAGE=${AIRUT_TEST_IMAGE:-localhost/airut-test-debian:latest}
if podman image exists "$IMAGE"; then
  echo "test image $IMAGE present"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building test image $IMAGE with mmdebstrap (about 20 s)"
mmdebstrap --quiet --variant=minbase --include=git,ca-certificates,procps bookworm "$tmp/rootfs.tar"
podman import --quiet --change 'CMD ["/bin/bash"]' --change 'WORKDIR /workspace' "$tmp/rootfs.tar" "$IMAGE" >/dev/null
echo "test image $IMAGE built"
