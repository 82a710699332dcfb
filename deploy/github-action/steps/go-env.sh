#!/usr/bin/env bash
# Step "go-env": where the Go that setup-go installed keeps its module and
# build caches, and the cache key for them (the Go version and the
# action's go.sum), so the install step's build can start warm.
#   in:  SRC, RUNNER_OS, RUNNER_ARCH
#   out: gomodcache, gocache, key
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need SRC
command -v go >/dev/null || die "go is not on PATH: the action's setup-go step installs it"
[[ -f $SRC/go.sum ]] || die "$SRC/go.sum is missing"
sum=$(sha256sum "$SRC/go.sum" | cut -c1-16)
output gomodcache "$(go env GOMODCACHE)"
output gocache "$(go env GOCACHE)"
output key "airut-go-${RUNNER_OS:-Linux}-${RUNNER_ARCH:-$(uname -m)}-$(go env GOVERSION)-$sum"
