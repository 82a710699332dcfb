#!/usr/bin/env bash
# Step "prepare": checks the inputs before anything is installed and finds
# the action's own source (the airut repository the action lives in, two
# directories up), which the install step builds from.
#   in:  GITHUB_ACTION_PATH, RUNNER_TEMP, MERGE, MAX_IMAGE_AGE,
#        CACHE_VERSION, GO_VERSION (optional)
#   out: src (the airut source), bin (where the binaries go), go-version
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need GITHUB_ACTION_PATH RUNNER_TEMP
case ${MERGE:-} in
  true | false) ;;
  *) die "merge must be true or false, not '${MERGE:-}'" ;;
esac
check_max_image_age
[[ ${CACHE_VERSION:-} =~ ^[A-Za-z0-9._-]*$ ]] || die "cache-version goes into cache keys: letters, digits, '.', '_' and '-' only, not '${CACHE_VERSION}'"

src=$(cd "$GITHUB_ACTION_PATH/../.." && pwd) || die "the action's source ($GITHUB_ACTION_PATH/../..) is missing"
for f in go.mod scripts/install-deps.sh cmd/airut-sandbox cmd/airut-proxy; do
  [[ -e $src/$f ]] || die "$src/$f is missing: the action builds airut-sandbox from the airut repository it lives in"
done

version=${GO_VERSION:-}
if [[ -z $version ]]; then
  # The toolchain line when there is one, else the go line.
  version=$(sed -n 's/^toolchain go\([0-9][0-9.a-z]*\)$/\1/p' "$src/go.mod")
  [[ -n $version ]] || version=$(sed -n 's/^go \([0-9][0-9.a-z]*\)$/\1/p' "$src/go.mod")
  [[ -n $version ]] || die "no go line in $src/go.mod; set the go-version input"
fi

output src "$src"
output bin "$RUNNER_TEMP/airut-bin"
output go-version "$version"
echo "airut source $src, Go $version"
