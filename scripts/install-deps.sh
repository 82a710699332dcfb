#!/usr/bin/env bash
# Installs what Airut needs on a Debian host, idempotently. The programs and
# their packages are listed once, in internal/hostdeps/programs.txt:
#   runtime: git, podman with conmon, runc, netavark, aardvark-dns and
#            iptables (netavark sets up bridge networks with it), uidmap,
#            mmdebstrap (for the base image), Node.js and the Claude Code CLI
#   test:    runtime, plus dovecot (the email tests), PostgreSQL 15 (the
#            embedded Temporal server's PostgreSQL tests), mitmproxy (the
#            proxy benchmark's baseline), gcc (go test -race), chromium (the
#            dashboard's browser test), systemd (systemd-analyze checks the
#            units of install-service) and make
# Then it writes a containers.conf that works on hosts with hybrid cgroups.
# A program counts as present when it is found where the list says, so a
# Node.js from elsewhere is kept. Needs root (or sudo) for apt-get and npm -g.
set -euo pipefail
what=${1:-runtime}
case $what in runtime|test) ;; *) echo "usage: $0 [runtime|test]" >&2; exit 2;; esac
list="$(dirname "$0")/../internal/hostdeps/programs.txt"
SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi

# found WHERE: is the program at one of the |-separated places (a name on
# PATH or an absolute path)?
found() {
  local IFS='|' w
  for w in $1; do
    if [[ $w == /* ]]; then [[ -e $w ]] && return 0; else command -v "$w" >/dev/null && return 0; fi
  done
  return 1
}

apt_pkgs=() npm_pkgs=()
while read -r set prog where pkgs _; do
  [[ -z $set || $set == \#* ]] && continue
  [[ $set == runtime || $what == test ]] || continue
  found "$where" && continue
  IFS=, read -ra ps <<<"$pkgs"
  for p in "${ps[@]}"; do
    if [[ $p == npm:* ]]; then npm_pkgs+=("${p#npm:}"); else apt_pkgs+=("$p"); fi
  done
  echo "missing $prog: installing ${pkgs}"
done <"$list"

if ((${#apt_pkgs[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# Podman on these hosts must use runc (crun fails on hybrid cgroups), and
# its default ulimits must stay below the host's hard limits or every
# container fails to start.
conf=/etc/containers/containers.conf
if ! grep -q '^runtime *= *"runc"' "$conf" 2>/dev/null; then
  hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
  [[ $hard_nofile == unlimited ]] && hard_nofile=10240
  nofile=$(( hard_nofile > 10240 ? 10240 : hard_nofile ))
  [[ $hard_nproc == unlimited ]] && hard_nproc=32768
  nproc=$(( hard_nproc > 32768 ? 32768 : hard_nproc ))
  echo "writing $conf (runtime runc, nofile=$nofile, nproc=$nproc)"
  $SUDO mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\n' \
    "$nofile" "$nofile" "$nproc" "$nproc" | $SUDO tee "$conf" >/dev/null
fi

if ((${#npm_pkgs[@]})); then
  # Quiet but not silent: a failure (a registry out of reach, a proxy's
  # certificate Node does not trust) must say why.
  $SUDO npm install -g --no-fund --no-audit --loglevel=error "${npm_pkgs[@]}" >/dev/null
fi
echo "dependencies ready: $(podman --version), $(git --version), claude $(claude --version 2>/dev/null | head -1)"
