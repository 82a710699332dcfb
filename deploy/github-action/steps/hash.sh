#!/usr/bin/env bash
# Step "hash": the cache keys of the sandbox's two images, from
# `airut-sandbox image hash` (repo=<hash> of the base branch's
# .airut/container/, proxy=<hash> of airut-proxy), the runner's
# architecture and CACHE_VERSION. The repo key also names the period of
# MAX_IMAGE_AGE hours it is made in: airut-sandbox rebuilds an image older
# than that, and a key that never changed would keep restoring the old one
# (a cache entry is never overwritten), so each period starts a fresh
# entry. With MAX_IMAGE_AGE 0 (rebuild every time) the repo image is not
# cached: repo-key is empty.
#   in:  GITHUB_WORKSPACE, RUNNER_TEMP, MAX_IMAGE_AGE, CACHE_VERSION,
#        RUNNER_ARCH
#   out: repo, proxy (the hashes), repo-key, proxy-key, dir (where the
#        cached images/archives go: dir/repo.tar, dir/proxy.tar)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need RUNNER_TEMP
check_max_image_age
in_workspace
hashes=$(airut_sandbox image hash) || die "airut-sandbox image hash failed (above: why)"
repo=$(sed -n 's/^repo=\([0-9a-f][0-9a-f]*\)$/\1/p' <<<"$hashes")
proxy=$(sed -n 's/^proxy=\([0-9a-f][0-9a-f]*\)$/\1/p' <<<"$hashes")
[[ -n $repo && -n $proxy ]] || die "airut-sandbox image hash printed no repo=<hash> and proxy=<hash> lines: $hashes"

arch=${RUNNER_ARCH:-$(uname -m)}
suffix=${CACHE_VERSION:+-v$CACHE_VERSION}
repo_key=""
if ((MAX_IMAGE_AGE > 0)); then
  period=$(($(date +%s) / (MAX_IMAGE_AGE * 3600)))
  repo_key="airut-repo-$repo-$arch-p$period$suffix"
fi
dir=$RUNNER_TEMP/airut-images
rm -rf "$dir"
mkdir -p "$dir"

output repo "$repo"
output proxy "$proxy"
output repo-key "$repo_key"
output proxy-key "airut-proxy-$proxy-$arch$suffix"
output dir "$dir"
echo "image hashes: repo=$repo proxy=$proxy"
