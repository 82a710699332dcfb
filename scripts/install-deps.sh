#!/usr/bin/env bash
# Installs what Airut needs on a Debian host, idempotently:
#   runtime: git, podman with runc, netavark and aardvark-dns (the sandbox
#            networks), a containers.conf that works on hosts
#            with hybrid cgroups, mmdebstrap (for the base image), Node.js
#            and the Claude Code CLI (npm @anthropic-ai/claude-code)
#   test:    runtime, plus dovecot (the IMAP server of the email tests) and
#            mitmproxy (the baseline of the proxy/mitm benchmark)
# Needs root (or sudo) for apt-get and npm -g.
set -euo pipefail
what=${1:-runtime}
SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi

pkgs=(git podman runc uidmap netavark aardvark-dns mmdebstrap ca-certificates)
if [[ $what == test ]]; then pkgs+=(dovecot-imapd mitmproxy); fi
command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Podman on these hosts must use runc (crun fails on hybrid cgroups), and
# its default ulimits must stay below the host's hard limits or every
# container fails to start.
conf=/etc/containers/containers.conf
if ! grep -q '^runtime *= *"runc"' "$conf" 2>/dev/null; then
  hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
  nofile=$(( hard_nofile > 10240 ? 10240 : hard_nofile ))
  [[ $hard_nproc == unlimited ]] && hard_nproc=32768
  nproc=$(( hard_nproc > 32768 ? 32768 : hard_nproc ))
  echo "writing $conf (runtime runc, nofile=$nofile, nproc=$nproc)"
  $SUDO mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\n' \
    "$nofile" "$nofile" "$nproc" "$nproc" | $SUDO tee "$conf" >/dev/null
fi

if ! command -v claude >/dev/null; then
  echo "installing the Claude Code CLI (npm @anthropic-ai/claude-code)"
  $SUDO npm install -g --silent @anthropic-ai/claude-code >/dev/null
fi
echo "dependencies ready: $(podman --version), $(git --version), claude $(claude --version 2>/dev/null | head -1)"
