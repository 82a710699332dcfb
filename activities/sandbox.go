package activities

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/gitmirror"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/allowlist"
	"github.com/airut-go/airut/proxy/masking"
	"github.com/airut-go/airut/workflows"
)

// AllowlistPath is the repository's network allowlist, read from the
// mirror's default branch so the agent can change it only through a
// reviewed and merged pull request.
const AllowlistPath = ".airut/network-allowlist.yaml"

// surrogates makes this task's stand-ins for the repo's masked secrets.
func surrogates(r *config.Repo) []proxy.Secret {
	names := make([]string, 0, len(r.MaskedSecrets))
	for n := range r.MaskedSecrets {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]proxy.Secret, 0, len(names))
	for _, n := range names {
		m := r.MaskedSecrets[n]
		if m.Value == "" {
			continue
		}
		out = append(out, proxy.Secret{
			Name: n, Value: m.Value, Surrogate: masking.Surrogate(m.Value, rand.Reader),
			Scopes: m.Scopes, Headers: m.Headers, AllowForeign: m.AllowForeignCredentials,
		})
	}
	return out
}

// startSandbox starts the conversation's network sandbox for one run. A
// missing or broken allowlist is the repo's to fix and is not retried;
// anything else (podman, the proxy) is retried by the activity's policy.
// Either way the agent does not run without it.
func (a *Activities) startSandbox(ctx context.Context, cfg *config.Config, r *config.Repo, l conversation.Layout,
	in workflows.AgentInput, labels map[string]string, secrets []proxy.Secret) (*sandbox.Sandbox, error) {
	data, ok, err := readAllowlist(ctx, a.mirror(cfg, r))
	if err != nil {
		return nil, fmt.Errorf("network sandbox: %w", err)
	}
	if !ok {
		msg := fmt.Sprintf("The network sandbox is on for repo %s but its default branch has no %s, so the task did not run. "+
			"Add the allowlist (domains and url_prefixes the agent may reach), or set repos.%s.network.sandbox_enabled: false in %s.",
			r.ID, AllowlistPath, r.ID, cfg.Path)
		return nil, temporal.NewNonRetryableApplicationError(msg, workflows.ErrConfig, nil)
	}
	if _, err := allowlist.Parse(data); err != nil {
		msg := fmt.Sprintf("The network allowlist %s on the default branch is invalid, so the task did not run: %v", AllowlistPath, err)
		return nil, temporal.NewNonRetryableApplicationError(msg, workflows.ErrConfig, err)
	}
	bin, err := ProxyBinary(cfg)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("network sandbox: "+err.Error(), workflows.ErrConfig, err)
	}
	image, err := a.proxyImages.Ensure(ctx, a.Podman, bin)
	if err != nil {
		return nil, fmt.Errorf("network sandbox: %w", err)
	}
	trust, err := trustBundle(cfg)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("network sandbox: "+err.Error(), workflows.ErrConfig, err)
	}
	name := strings.ToLower(in.RepoID) + "-" + in.ConversationID
	sb, err := sandbox.Start(ctx, a.Podman, sandbox.Options{
		Name:        name,
		Labels:      labels,
		ProxyImage:  image,
		WorkDir:     filepath.Join(SandboxDir(cfg, a.HostID), name),
		Allowlist:   data,
		Secrets:     secrets,
		CADir:       filepath.Join(cfg.StateDir, "ca"),
		LogFile:     l.NetworkLog(),
		Egress:      cfg.Network.EgressNetwork,
		UpstreamDNS: cfg.Network.UpstreamDNS,
		TrustBundle: trust,
		Log:         a.log(in.ConversationID, in.TaskID),
	})
	if err != nil {
		return nil, fmt.Errorf("%w; the task did not run without it", err)
	}
	return sb, nil
}

// readAllowlist reads the allowlist from the mirror's default branch.
func readAllowlist(ctx context.Context, m *gitmirror.Mirror) ([]byte, bool, error) {
	files, err := m.ReadDir(ctx, filepath.Dir(AllowlistPath))
	if err != nil {
		return nil, false, fmt.Errorf("read %s from the default branch: %w", AllowlistPath, err)
	}
	data, ok := files[filepath.Base(AllowlistPath)]
	return data, ok, nil
}

// CheckAllowlist reports whether the default branch has a valid
// allowlist (for airut check).
func CheckAllowlist(ctx context.Context, m *gitmirror.Mirror) (bool, error) {
	data, ok, err := readAllowlist(ctx, m)
	if err != nil || !ok {
		return ok, err
	}
	if _, err := allowlist.Parse(data); err != nil {
		return true, fmt.Errorf("%s: %w", AllowlistPath, err)
	}
	return true, nil
}

// ProxyBinary finds the static airut-proxy binary: configured, next to
// this executable, or on PATH.
func ProxyBinary(cfg *config.Config) (string, error) {
	if p := cfg.Network.ProxyBinary; p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("network.proxy_binary: %w", err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "airut-proxy")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("airut-proxy"); err == nil {
		return p, nil
	}
	return "", errors.New("airut-proxy not found next to airut or on PATH (build it with `make build`, or set network.proxy_binary)")
}

// systemBundles are where Debian, Fedora and Alpine keep the system CAs.
var systemBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

// trustBundle is what the proxy verifies upstream servers against: the
// host's CA bundle plus network.upstream_ca_file.
func trustBundle(cfg *config.Config) ([]byte, error) {
	var out []byte
	for _, p := range systemBundles {
		if data, err := os.ReadFile(p); err == nil {
			out = append(out, data...)
			break
		}
	}
	if p := cfg.Network.UpstreamCAFile; p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("network.upstream_ca_file: %w", err)
		}
		out = append(append(out, '\n'), data...)
	}
	if len(out) == 0 {
		return nil, errors.New("no system CA bundle found (install ca-certificates) and no network.upstream_ca_file set")
	}
	return out, nil
}

// SandboxDir holds this host's per-run sandbox files; a worker starting
// on the host removes it, since a run in progress there belonged to a
// dead predecessor.
func SandboxDir(cfg *config.Config, hostID string) string {
	return filepath.Join(cfg.StateDir, "sandbox", hostID)
}

// maxBlockedExamples bounds the refused requests a reply names.
const maxBlockedExamples = 3

// blockedSince counts the HTTP requests and raw connections the proxy
// refused in the network log after offset, and names the first few
// distinct ones. Refused DNS queries (TXT, AAAA) are left out: resolvers
// ask for AAAA as a matter of course.
func blockedSince(path string, offset int64) (int, []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, nil
	}
	n := 0
	var examples []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l proxy.LogLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Allowed {
			continue
		}
		var ex string
		switch l.Kind {
		case "http":
			ex = l.Method + " " + l.Host + l.Path
		case "tcp", "udp":
			// Not an allowlist matter: only HTTP(S) can ever leave.
			ex = "raw " + strings.ToUpper(l.Kind) + " to " + l.Host + " (never allowed)"
		default:
			continue
		}
		n++
		if len(examples) < maxBlockedExamples && !slices.Contains(examples, ex) {
			examples = append(examples, ex)
		}
	}
	return n, examples
}
