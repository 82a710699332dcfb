# shellcheck shell=bash
# Sourced by the step scripts (never a step itself). Each step script is run
# by action.yml with its inputs in environment variables; these helpers
# read the variables the Actions runner sets (GITHUB_OUTPUT, GITHUB_PATH,
# GITHUB_WORKSPACE, RUNNER_TEMP ...) and write what it reads back.

# die MESSAGE: fail the step, as an error annotation on GitHub.
die() {
  echo "::error title=airut-sandbox action::$*" >&2
  exit 1
}

# need NAME...: each variable must be set and not empty.
need() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "$name is not set (the step runs only inside the airut-sandbox action, which sets it)"
  done
}

# output NAME VALUE: a step output, as $GITHUB_OUTPUT takes it.
output() {
  need GITHUB_OUTPUT
  [[ $2 != *$'\n'* ]] || die "output $1 has a newline"
  printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
}

# as_root COMMAND...: airut-sandbox needs root (rootful Podman). GitHub's
# hosted runners run steps as a user with passwordless sudo; --preserve-env
# keeps the variables .airut/sandbox.yaml reads (`!env`, pass_env) — the
# secrets the workflow puts in the step's env.
as_root() {
  if [[ $(id -u) == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo --preserve-env "$@"
  else
    die "airut-sandbox needs root: run as root or give the runner user passwordless sudo"
  fi
}

# airut_sandbox ARGS...: the airut-sandbox the install step built (on PATH
# through GITHUB_PATH), as root, keeping its state (CA, run files) in
# RUNNER_TEMP so nothing of it outlives the job on a reused runner.
airut_sandbox() {
  local bin
  bin=$(command -v airut-sandbox) || die "airut-sandbox is not on PATH: the action's install step adds its bin directory to GITHUB_PATH"
  local global=()
  if [[ -n ${RUNNER_TEMP:-} ]]; then global=(--state-dir "$RUNNER_TEMP/airut-sandbox-state"); fi
  as_root "$bin" "${global[@]}" "$@"
}

# in_workspace: cd to the checkout (the trusted base branch) whose .airut/
# configures the sandbox.
in_workspace() {
  need GITHUB_WORKSPACE
  cd "$GITHUB_WORKSPACE" || die "GITHUB_WORKSPACE $GITHUB_WORKSPACE: no such directory"
}

# check_max_image_age: hours, a whole number (0: rebuild every time).
check_max_image_age() {
  [[ ${MAX_IMAGE_AGE:-} =~ ^[0-9]+$ ]] || die "max-image-age must be a whole number of hours (0: rebuild every time), not '${MAX_IMAGE_AGE:-}'"
}
