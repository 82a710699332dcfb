#!/usr/bin/env bash
# Step "load": loads the images the cache restored into DIR (repo.tar,
# proxy.tar). A missing archive is a cache miss: nothing to load, and the
# images are built by the save step.
#   in:  DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need DIR
mkdir -p "$DIR"
airut_sandbox --verbose image load "$DIR" || die "airut-sandbox image load failed (above: why)"
