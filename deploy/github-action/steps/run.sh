#!/usr/bin/env bash
# Step "run", the action's last: runs COMMAND with airut-sandbox in the
# checkout of the base branch, whose .airut/ (Dockerfile, network
# allowlist, sandbox.yaml) airut-sandbox reads before anything of the pull
# request exists in the workspace. Inside the container, and only there,
# the pull request's head (fetched by the fetch step) is merged into the
# base (MERGE=true) or checked out (MERGE=false), then COMMAND runs as a
# `run:` step's script would (bash, errexit, pipefail). The step's exit
# code is the command's (airut-sandbox's: 124 timeout, 125 the sandbox or
# its settings failed).
#
# Afterwards the workspace holds whatever the pull request's code left in
# it, so:
#   - workflow commands (::...::) are off while it runs, so its output
#     cannot set outputs, masks or annotations;
#   - the checkout's .git is removed at the end, so no git on the host (the
#     checkout's post-job cleanup included) runs with a config or hooks
#     the pull request's code wrote; so is the sandbox's state (its CA).
#   in:  GITHUB_WORKSPACE, COMMAND, MERGE, PR_SHA (empty: not a pull
#        request), MAX_IMAGE_AGE, NETWORK_LOG (optional), RUNNER_TEMP
#   out: network-log (the proxy's log of every request, outside the
#        workspace unless NETWORK_LOG says otherwise)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need RUNNER_TEMP
[[ -n ${COMMAND:-} ]] || die "the command input is empty: say what to run in the sandbox"
check_max_image_age
in_workspace
mode=none
if [[ -n ${PR_SHA:-} ]]; then
  case ${MERGE:-} in
    true) mode=merge ;;
    false) mode=checkout ;;
    *) die "merge must be true or false, not '${MERGE:-}'" ;;
  esac
fi

log=${NETWORK_LOG:-$RUNNER_TEMP/airut-sandbox-network.log}
[[ $log == /* ]] || log=$GITHUB_WORKSPACE/$log
case $log/ in
  "$GITHUB_WORKSPACE"/*) echo "::warning title=airut-sandbox action::network-log $log is in the workspace, where the sandboxed command can rewrite it; put it in \${{ runner.temp }}" ;;
esac
mkdir -p "$(dirname "$log")"
output network-log "$log"

# What runs in the container: bash -c SCRIPT _ MODE SHA COMMAND. The
# container runs as root on a checkout the runner user owns, which git
# refuses ("dubious ownership") unless told the directory is safe; the
# command's own git (go build's VCS stamp, say) needs the same, so it is
# exported. A merge needs a committer; the image's git config usually has
# none.
# shellcheck disable=SC2016 # expanded by the container's bash
script='
n=${GIT_CONFIG_COUNT:-0}
export GIT_CONFIG_COUNT=$((n + 1)) "GIT_CONFIG_KEY_$n=safe.directory" "GIT_CONFIG_VALUE_$n=$PWD"
id=()
git config user.email >/dev/null 2>&1 || id=(-c user.name=airut-sandbox -c user.email=airut-sandbox@localhost)
case $1 in
merge)
  git "${id[@]}" merge --quiet --no-edit "$2" ||
    { echo "airut-sandbox action: could not merge the pull request ($2) into the base branch (git says why above; a conflict: rebase the pull request); nothing was run" >&2; exit 1; }
  echo "airut-sandbox action: merged $2 into the base branch: HEAD is $(git rev-parse --short HEAD)" >&2 ;;
checkout)
  git checkout --quiet --detach "$2" ||
    { echo "airut-sandbox action: could not check out the pull request ($2) (git says why above); nothing was run" >&2; exit 1; }
  echo "airut-sandbox action: checked out $2" >&2 ;;
esac
set -eo pipefail
eval "$3"
'

stop=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "::stop-commands::$stop"
set +e
airut_sandbox run --verbose --max-image-age "$MAX_IMAGE_AGE" --network-log "$log" \
  -- bash -c "$script" _ "$mode" "${PR_SHA:-}" "$COMMAND"
code=$?
set -e
echo "::$stop::"

as_root rm -rf -- "$GITHUB_WORKSPACE/.git"
# The sandbox's state (this job's CA and its key, root's) goes too, for
# runners that are reused.
as_root rm -rf -- "$RUNNER_TEMP/airut-sandbox-state"
case $code in
  0) ;;
  124) echo "::error title=airut-sandbox action::the command timed out (resource_limits.timeout in .airut/sandbox.yaml)" ;;
  125) echo "::error title=airut-sandbox action::the sandbox could not run the command (exit 125): see airut-sandbox's message above" ;;
  *) echo "::error title=airut-sandbox action::the command exited with $code" ;;
esac
echo "network log: $log"
exit "$code"
