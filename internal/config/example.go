package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Example is the commented configuration `airut init` writes. It loads as
// is once the environment variables it names are set.
const Example = `# Airut configuration (schema version 5, the reference Airut's format).
# Values may come from the environment (!env NAME) or from vars: (!var name).
config_version: 5

vars:
  model: opus

execution:
  max_concurrent: 3             # agent containers running at once on this host
  shutdown_timeout: 60          # seconds to wait for running tasks on stop
  conversation_max_age_days: 7  # idle conversations are cleaned up after this
  image_max_age_hours: 24       # built agent images older than this are rebuilt

# The network sandbox: each conversation's proxy reaches upstream servers on
# the egress network. All optional.
# network:
#   upstream_dns: 192.0.2.53    # default: the host's resolvers
#   upstream_ca_file: /etc/airut/corp-ca.pem  # extra CAs for upstream TLS
#   proxy_binary: /usr/local/bin/airut-proxy  # default: next to airut, else PATH
#   egress_network: airut-egress
#   keep_warm_seconds: 120      # a conversation's proxy waits this long for its next task; 0: never

# The web dashboard: "airut run" serves it ("airut dashboard" in split setups).
# dashboard:
#   enabled: true
#   host: 127.0.0.1             # loopback; any other address logs a warning and wants auth
#   port: 5200
#   base_url: https://airut.example.com  # where people reach it, behind a proxy
#   auth_token: !env AIRUT_DASHBOARD_TOKEN  # required on every request when set
#   trusted_proxy_header: X-Forwarded-User  # set by an authenticating reverse proxy

# Temporal runs embedded (SQLite in the state dir, Web UI on loopback) unless
# an address is given.
temporal:
  # address: temporal.example.com:7233
  # namespace: airut
  # api_key: !env TEMPORAL_API_KEY
  # tls: {enabled: true, cert_file: ..., key_file: ..., ca_file: ...}
  embedded:
    ip: 127.0.0.1
    frontend_port: 7233
    ui_port: 8233               # -1 turns the Web UI off
    ui_read_only: false         # true: the Web UI cannot signal, reset or terminate

repos:
  my-project:
    repo_url: https://github.com/you/my-project.git
    model: !var model
    # effort: high              # low | medium | high | max
    # image: localhost/airut-base:latest   # when the repo has no .airut/container/Dockerfile
    # claude_binary: /usr/local/bin/claude # default: claude found on PATH
    network:
      # The agent reaches only what .airut/network-allowlist.yaml on the
      # default branch allows, through a proxy that logs every request.
      sandbox_enabled: true
    resource_limits:
      timeout: 7200             # seconds
      memory: 8g
      cpus: 4
      pids_limit: 1024
    # The container sees only a same-shape surrogate; the sandbox proxy puts
    # the real value into these headers on requests to the scoped hosts.
    masked_secrets:
      ANTHROPIC_API_KEY:
        value: !env ANTHROPIC_API_KEY
        scopes: [api.anthropic.com]
        headers: [x-api-key]
      # GH_TOKEN:
      #   value: !env GH_TOKEN
      #   scopes: [api.github.com, github.com]
      #   headers: [Authorization]
    # secrets:                  # plain: the container sees the real value
    #   SOME_SETTING: value
`

// LocalDefault is the configuration `airut run` writes when there is none:
// one repo, the local checkout at repoPath, run with the local base image,
// the API key from the environment. With an allowlist in the checkout the
// network sandbox is on and the key is masked; without one the sandbox is
// off, so the first start works before any allowlist is written.
func LocalDefault(repoPath string, hasAllowlist bool) string {
	id := RepoIDFromPath(repoPath)
	head := fmt.Sprintf(`# Written by airut on first start. Edit freely; see `+"`airut init`"+` for every key.
config_version: 5

repos:
  %s:
    repo_url: %s
    model: opus
    image: localhost/airut-base:latest
`, id, repoPath)
	if hasAllowlist {
		return head + `    network:
      # The agent reaches only what .airut/network-allowlist.yaml allows.
      sandbox_enabled: true
    masked_secrets:
      ANTHROPIC_API_KEY:
        value: !env ANTHROPIC_API_KEY
        scopes: [api.anthropic.com]
        headers: [x-api-key]
`
	}
	return head + `    network:
      # The agent container gets Podman's default network. Turn the network
      # sandbox on once .airut/network-allowlist.yaml is in the repository.
      sandbox_enabled: false
    secrets:
      ANTHROPIC_API_KEY: !env ANTHROPIC_API_KEY
`
}

// RepoIDFromPath makes a repo ID out of a checkout's directory name.
func RepoIDFromPath(p string) string {
	base := filepath.Base(filepath.Clean(p))
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	id := strings.Trim(b.String(), "-.")
	if id == "" || !repoIDPattern.MatchString(id) {
		return "local"
	}
	return id
}

// WriteIfMissing writes text to path (creating directories) unless the file
// exists. It reports whether it wrote.
func WriteIfMissing(path, text string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("create config dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, f.Close()
}
