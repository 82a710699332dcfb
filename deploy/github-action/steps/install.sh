#!/usr/bin/env bash
# Step "install": Podman and what the sandbox runs on (the airut
# repository's own scripts/install-deps.sh runtime; idempotent, fast when
# everything is there), then airut-sandbox and the static airut-proxy it
# needs beside it, built from the action's source into BIN_DIR, which goes
# on GITHUB_PATH for the later steps.
#   in:  SRC, BIN_DIR, GITHUB_PATH
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need SRC BIN_DIR GITHUB_PATH
echo "::group::install Podman (scripts/install-deps.sh runtime)"
"$SRC/scripts/install-deps.sh" runtime || die "scripts/install-deps.sh runtime failed (above: what it could not install)"
echo "::endgroup::"

command -v go >/dev/null || die "go is not on PATH: the action's setup-go step installs it"
mkdir -p "$BIN_DIR"
tags=remote,exclude_graphdriver_btrfs,btrfs_noversion,exclude_graphdriver_devicemapper,containers_image_openpgp
echo "::group::build airut-sandbox and airut-proxy ($(go version))"
# -trimpath and no VCS stamp: the same source gives the same airut-proxy,
# whose hash names the proxy image (its cache key).
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$BIN_DIR/airut-proxy" ./cmd/airut-proxy) ||
  die "building airut-proxy failed"
(cd "$SRC" && go build -trimpath -buildvcs=false -tags "$tags" -o "$BIN_DIR/airut-sandbox" ./cmd/airut-sandbox) ||
  die "building airut-sandbox failed"
echo "::endgroup::"
"$BIN_DIR/airut-sandbox" --help >/dev/null || die "the airut-sandbox just built does not run"
echo "$BIN_DIR" >>"$GITHUB_PATH"
echo "airut-sandbox and airut-proxy are in $BIN_DIR"
