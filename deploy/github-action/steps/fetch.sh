#!/usr/bin/env bash
# Step "fetch": brings the pull request's head commit into the checkout of
# the base branch, on the host, so the sandboxed command can merge (or
# check out) it without any credentials in the container. The checkout
# keeps no credentials (persist-credentials: false), so the token is
# handed to this one git command through the environment (not argv).
#   in:  GITHUB_WORKSPACE, PR_SHA (empty when the event is no pull request),
#        TOKEN (optional), GITHUB_SERVER_URL
#   out: sha (the commit the run step merges or checks out; empty: none)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

in_workspace
git rev-parse --git-dir >/dev/null 2>&1 || die "$GITHUB_WORKSPACE is not a git checkout (the action's checkout step makes it)"
if [[ -z ${PR_SHA:-} ]]; then
  echo "not a pull request: the command runs on the checked-out $(git rev-parse --short HEAD) itself"
  output sha ""
  exit 0
fi
[[ $PR_SHA =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]] || die "the pull request's head '$PR_SHA' is not a commit hash"

if ! git cat-file -e "$PR_SHA^{commit}" 2>/dev/null; then
  url=$(git remote get-url origin) || die "the checkout has no remote origin"
  server=${GITHUB_SERVER_URL:-https://github.com}
  if [[ -n ${TOKEN:-} && $url == "$server"/* ]]; then
    # As actions/checkout authenticates: an extra header for the server,
    # in GIT_CONFIG_* variables, so the token is in no command line.
    n=${GIT_CONFIG_COUNT:-0}
    export GIT_CONFIG_COUNT=$((n + 1))
    export "GIT_CONFIG_KEY_$n=http.$server/.extraheader"
    export "GIT_CONFIG_VALUE_$n=AUTHORIZATION: basic $(printf 'x-access-token:%s' "$TOKEN" | base64 -w0)"
  fi
  git fetch --quiet --no-tags origin "$PR_SHA" ||
    die "could not fetch the pull request's head $PR_SHA from origin ($url)"
  git cat-file -e "$PR_SHA^{commit}" || die "fetched $PR_SHA, but it is not a commit"
fi
echo "pull request head $(git log -1 --format='%h %s' "$PR_SHA")"
output sha "$PR_SHA"
