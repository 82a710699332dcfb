package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/allowlist"
)

// ErrInvalidTask is wrapped by the errors NewTask returns for a TaskSpec
// it cannot run; the message names the field.
var ErrInvalidTask = errors.New("invalid task")

// Mount is a bind mount of a host path into the task's container, always
// nosuid and nodev.
type Mount struct {
	Source   string // host path; must exist
	Target   string // path in the container
	ReadOnly bool
}

// Limits bound a task's container; zero values mean no limit of that
// kind (Podman's defaults apply).
type Limits struct {
	// Memory is a size like "8g" or "512m"; the container gets no swap.
	Memory string
	// CPUs is a share of the host's, e.g. 1.5.
	CPUs float64
	// Pids caps the processes and threads in the container.
	Pids int64
}

// TaskSpec describes a task. ID and Image are required, and Allowlist
// unless NoNetworkSandbox is set.
type TaskSpec struct {
	// ID names the task's container (<prefix>-<id>), network and proxy:
	// lowercase letters, digits, '.', '_' and '-'. One task of an ID runs
	// at a time; a leftover container of the ID is replaced.
	ID string
	// Dir holds the task's files on the host (its network log, unless
	// NetworkLog says otherwise); created if missing.
	Dir   string
	Image string
	// Mounts are bind mounts into the container, e.g. a checkout at
	// /workspace.
	Mounts []Mount
	// Env is the container's environment. Masked secrets need not (and
	// should not) be in it: they are added as surrogates.
	Env map[string]string
	// WorkDir is the working directory in the container ("" for the
	// image's).
	WorkDir string
	// MaskedSecrets reach the container only as surrogates, fresh for the
	// task: the proxy puts the real Value into requests to the secret's
	// Scopes (hosts) in the secret's Headers. Their Surrogate field is
	// ignored.
	MaskedSecrets []proxy.Secret
	// SigningCredentials are AWS keys the container sees only as
	// surrogates (each part in its own variable): the proxy re-signs
	// requests signed with them for hosts in the credential's Scopes.
	// Their Surrogate fields are ignored.
	SigningCredentials []proxy.SigningCredential
	// GitHubApps are GitHub Apps the container acts as through a
	// surrogate token: the proxy mints installation tokens narrowed to
	// the app's repositories and permissions and swaps them in for hosts
	// in its Scopes. The Surrogate field is ignored.
	GitHubApps []proxy.GitHubApp
	// Allowlist is the network allowlist, in the format of
	// .airut/network-allowlist.yaml: the domains and URL prefixes the
	// container may reach through the proxy. Nothing else is reachable.
	Allowlist []byte
	// NoNetworkSandbox runs the container on Network directly, with no
	// proxy: no allowlist applies and masked secrets reach it as
	// surrogates nobody replaces.
	NoNetworkSandbox bool
	// Network is the Podman network without the sandbox: "" for Podman's
	// default, "none", "host" or a network's name.
	Network string
	Limits  Limits
	// Timeout bounds each run of the task; 0 means none.
	Timeout time.Duration
	// Labels go on the task's containers and network, besides the
	// sandbox's own.
	Labels map[string]string
	// NetworkLog is where the proxy logs each request ("" means
	// Dir/network.log); it is appended to, never truncated.
	NetworkLog string
}

// Task is a task ready to run: with the network sandbox on, its network
// and proxy are up. Its runs are one at a time.
type Task struct {
	s      *Sandbox
	spec   TaskSpec
	env    *parts.Sandbox
	key    string
	creds  proxy.Credentials
	closed bool
}

// keptNetwork is a task's network and proxy waiting for the next task of
// its ID (Options.KeepNetwork).
type keptNetwork struct {
	env   *parts.Sandbox
	key   string
	creds proxy.Credentials
	timer *time.Timer
}

// NewTask checks spec and gets the task ready: with the network sandbox
// on, it makes the task's network and starts its proxy (or takes over the
// ones a previous task of the ID left running, if their settings are the
// same), which takes about half a second. On error nothing is left
// running.
func (s *Sandbox) NewTask(ctx context.Context, spec TaskSpec) (*Task, error) {
	if err := s.check(&spec); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("sandbox: closed")
	}
	if s.active[spec.ID] {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: task %q is already running", ErrInvalidTask, spec.ID)
	}
	s.active[spec.ID] = true
	kept := s.kept[spec.ID]
	if kept != nil {
		if kept.timer.Stop() {
			s.closing.Done()
		} else {
			kept = nil // its timer fired: it is being removed
		}
	}
	delete(s.kept, spec.ID)
	s.mu.Unlock()
	t := &Task{s: s, spec: spec}
	ok := false
	defer func() {
		if !ok {
			s.release(spec.ID)
		}
	}()
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		if kept != nil {
			s.removeKept(kept)
		}
		return nil, fmt.Errorf("task dir: %w", err)
	}
	if spec.NoNetworkSandbox {
		if kept != nil {
			s.removeKept(kept)
		}
		t.creds = parts.Surrogates(spec.credentials())
		ok = true
		return t, nil
	}
	proxyImage, err := s.proxyImage(ctx)
	if err != nil {
		if kept != nil {
			s.removeKept(kept)
		}
		return nil, err
	}
	t.key = s.networkKey(proxyImage, spec)
	if kept != nil {
		if kept.key == t.key && s.stillRunning(ctx, kept.env) {
			t.env, t.creds = kept.env, kept.creds
			s.log.Debug("network sandbox kept from the task before", "task", spec.ID, "network", t.env.Network)
			ok = true
			return t, nil
		}
		s.removeKept(kept)
	}
	t.creds = parts.Surrogates(spec.credentials())
	began := time.Now()
	env, err := parts.Start(ctx, s.podman, parts.Options{
		Prefix:      s.opts.Prefix,
		Name:        spec.ID,
		Labels:      s.labels(spec.Labels),
		ProxyImage:  proxyImage,
		WorkDir:     filepath.Join(s.opts.StateDir, "tasks", spec.ID),
		Allowlist:   spec.Allowlist,
		Credentials: t.creds,
		CADir:       s.caDir,
		LogFile:     spec.NetworkLog,
		Egress:      s.opts.EgressNetwork,
		UpstreamDNS: s.opts.UpstreamDNS,
		TrustBundle: s.trust,
		Log:         s.log,
	})
	if err != nil {
		return nil, err
	}
	s.log.Debug("network sandbox started", "task", spec.ID, "network", env.Network, "took", time.Since(began).Round(time.Millisecond))
	t.env = env
	ok = true
	return t, nil
}

// check fills in spec's defaults and says what is wrong with it.
func (s *Sandbox) check(spec *TaskSpec) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidTask, fmt.Sprintf(format, a...))
	}
	switch {
	case !namePattern.MatchString(spec.ID):
		return bad("ID %q: use 1 to 63 lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", spec.ID)
	case spec.Image == "":
		return bad("Image is required")
	case spec.Dir == "":
		return bad("Dir is required")
	case !spec.NoNetworkSandbox && len(spec.Allowlist) == 0:
		return bad("Allowlist is required with the network sandbox on (set NoNetworkSandbox to run without it)")
	case spec.NoNetworkSandbox && len(spec.Allowlist) > 0:
		return bad("Allowlist is set but NoNetworkSandbox is too: nothing would enforce it")
	case !spec.NoNetworkSandbox && spec.Network != "":
		return bad("Network %q applies only with NoNetworkSandbox", spec.Network)
	}
	if !spec.NoNetworkSandbox {
		if _, err := allowlist.Parse(spec.Allowlist); err != nil {
			return bad("allowlist: %v", err)
		}
	}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return bad("mount %s:%s: both paths must be absolute", m.Source, m.Target)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return bad("mount %s:%s: %v", m.Source, m.Target, err)
		}
	}
	// The real values are checked here, before anything starts, with
	// stand-in surrogates (the proxy checks the file again).
	if err := parts.Surrogates(spec.credentials()).Check(); err != nil {
		return bad("%v", err)
	}
	if spec.NetworkLog == "" {
		spec.NetworkLog = filepath.Join(spec.Dir, "network.log")
	}
	return nil
}

// networkKey says whether a kept network can serve a task: the same proxy,
// allowlist, secrets (real values, scopes, headers), trust and resolver.
func (s *Sandbox) networkKey(proxyImage string, spec TaskSpec) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.Encode([]any{proxyImage, string(spec.Allowlist), spec.credentials(), spec.NetworkLog,
		s.opts.EgressNetwork, s.opts.UpstreamDNS, string(s.trust)})
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Sandbox) stillRunning(ctx context.Context, env *parts.Sandbox) bool {
	running, _, err := s.podman.Running(ctx, env.ProxyName)
	return err == nil && running
}

func (s *Sandbox) release(id string) {
	s.mu.Lock()
	delete(s.active, id)
	s.mu.Unlock()
}

// removeKept removes a kept network now.
func (s *Sandbox) removeKept(k *keptNetwork) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.env.Close(ctx); err != nil {
		s.log.Warn("network sandbox cleanup", "network", k.env.Network, "error", err)
	}
}

// Surrogates are the values of the credentials in the container's
// environment, by variable: what the container sees instead of the
// secrets.
func (t *Task) Surrogates() map[string]string { return t.creds.Env() }

// credentials are the spec's credentials in the proxy's terms.
func (spec TaskSpec) credentials() proxy.Credentials {
	return proxy.Credentials{Masked: spec.MaskedSecrets, Signing: spec.SigningCredentials, GitHubApps: spec.GitHubApps}
}

// ContainerName is the name of the task's container while a run is on.
func (t *Task) ContainerName() string { return t.s.opts.Prefix + "-" + t.spec.ID }

// Close removes what the task started: with Options.KeepNetwork set, its
// network and proxy wait that long for the next task of the ID instead
// (Close then returns at once). Calling it again does nothing.
func (t *Task) Close(ctx context.Context) error {
	if t.closed {
		return nil
	}
	t.closed = true
	s := t.s
	defer s.release(t.spec.ID)
	if t.env == nil {
		return nil
	}
	s.mu.Lock()
	if s.opts.KeepNetwork > 0 && !s.closed {
		k := &keptNetwork{env: t.env, key: t.key, creds: t.creds}
		s.closing.Add(1)
		k.timer = time.AfterFunc(s.opts.KeepNetwork, func() {
			defer s.closing.Done()
			s.mu.Lock()
			if s.kept[t.spec.ID] == k {
				delete(s.kept, t.spec.ID)
			}
			s.mu.Unlock()
			s.removeKept(k)
		})
		s.kept[t.spec.ID] = k
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := t.env.Close(ctx); err != nil {
		return fmt.Errorf("network sandbox cleanup: %w", err)
	}
	return nil
}
