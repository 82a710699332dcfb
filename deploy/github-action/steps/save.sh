#!/usr/bin/env bash
# Step "save" (after a cache miss): builds the images from the base
# branch's .airut/container/ if Podman lacks them and writes them to
# DIR/repo.tar and DIR/proxy.tar for the cache save steps. It runs before
# the pull request's code does, so nothing that code did can get into the
# cache.
#   in:  GITHUB_WORKSPACE, DIR, MAX_IMAGE_AGE
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need DIR
check_max_image_age
in_workspace
airut_sandbox --verbose image save --max-image-age "$MAX_IMAGE_AGE" "$DIR" || die "airut-sandbox image save failed (above: why)"
for f in repo.tar proxy.tar; do
  [[ -s $DIR/$f ]] || die "airut-sandbox image save wrote no $DIR/$f"
done
# Root wrote them; the cache steps run as the runner user.
as_root chmod a+r "$DIR/repo.tar" "$DIR/proxy.tar"
