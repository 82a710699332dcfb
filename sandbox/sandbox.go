package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/airut-go/airut/internal/podman"
	parts "github.com/airut-go/airut/internal/sandbox"
)

// DefaultEgressNetwork is the Podman network proxies reach upstream
// servers on, unless Options.EgressNetwork names another.
const DefaultEgressNetwork = "airut-egress"

// DefaultPrefix starts the names of everything a Sandbox creates.
const DefaultPrefix = "airut"

// Options configure a Sandbox. StateDir is required.
type Options struct {
	// PodmanURI is the Podman API address; "" means $CONTAINER_HOST, else
	// the rootful socket for root, else the user's.
	PodmanURI string
	// StartPodmanService starts `podman system service` as a child
	// process when nothing answers at PodmanURI, on a socket of its own
	// (another process using it would lose it when this one ends); Close
	// stops it.
	StartPodmanService bool
	// StateDir holds what the sandbox keeps on disk: the certificate
	// authority of the network sandbox (StateDir/ca, unless CADir says
	// otherwise) and each running task's proxy files
	// (StateDir/tasks/<id>, mode 0700: they hold real secret values and
	// are removed with the task).
	StateDir string
	// CADir overrides where the certificate authority lives, so several
	// sandboxes can share one.
	CADir string
	// ProxyBinary is the static airut-proxy binary the proxy image is made
	// of; "" finds it next to the executable or on PATH. It is looked for
	// at the first sandboxed task.
	ProxyBinary string
	// EgressNetwork is the Podman network proxies reach upstream servers
	// on, created when missing ("" means DefaultEgressNetwork).
	EgressNetwork string
	// UpstreamDNS, if set, is the proxies' resolver; otherwise the egress
	// network's (the host's).
	UpstreamDNS string
	// UpstreamCAFile is a PEM file of extra certificate authorities the
	// proxy trusts for upstream servers, besides the host's system bundle
	// (a TLS-intercepting corporate proxy's, say).
	UpstreamCAFile string
	// Prefix starts the names of the containers and networks this sandbox
	// creates ("" means DefaultPrefix): <prefix>-<task>,
	// <prefix>-proxy-<task> and <prefix>-conv-<task>.
	Prefix string
	// Labels go on every container and network this sandbox creates,
	// besides each task's own: RemoveLabelled finds them by these.
	Labels map[string]string
	// KeepNetwork keeps a task's network and proxy running this long after
	// Close, for the next task with the same ID and the same network
	// settings, which then starts without waiting for them (and keeps the
	// surrogates of the one before). 0 removes them at Close.
	KeepNetwork time.Duration
	// Log receives what the sandbox does (image builds, warnings); nil
	// discards it.
	Log *slog.Logger
}

// Sandbox is one host's sandbox. It is safe for concurrent use; tasks
// with different IDs run side by side.
type Sandbox struct {
	opts   Options
	podman *podman.Client
	// serviceDir holds the socket of the service New started, if any.
	serviceDir string
	log        *slog.Logger
	trust      []byte
	caDir      string

	images      parts.Images
	proxyImages parts.ProxyImages

	mu      sync.Mutex
	active  map[string]bool
	kept    map[string]*keptNetwork
	closing sync.WaitGroup
	closed  bool
}

// New connects to Podman and checks the options. It starts nothing else:
// images are built and networks made by the calls that need them.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.StateDir == "" {
		return nil, errors.New("sandbox: Options.StateDir is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.EgressNetwork == "" {
		opts.EgressNetwork = DefaultEgressNetwork
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !namePattern.MatchString(opts.Prefix) {
		return nil, fmt.Errorf("sandbox: prefix %q: use lowercase letters, digits, '.', '_' and '-'", opts.Prefix)
	}
	trust, err := parts.TrustBundle(opts.UpstreamCAFile)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: state dir: %w", err)
	}
	co := podman.ConnectOptions{URI: opts.PodmanURI, StartService: opts.StartPodmanService, Logger: opts.Log}
	var serviceDir string
	if opts.StartPodmanService {
		// Not under StateDir: a unix socket's path is limited to 108 bytes.
		if serviceDir, err = os.MkdirTemp("", "airut-podman-"); err != nil {
			return nil, fmt.Errorf("sandbox: podman service dir: %w", err)
		}
		co.ServiceURI = "unix://" + filepath.Join(serviceDir, "podman.sock")
	}
	c, err := podman.Connect(ctx, co)
	if err != nil {
		os.RemoveAll(serviceDir)
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if !c.StartedService() {
		os.RemoveAll(serviceDir)
		serviceDir = ""
	}
	caDir := opts.CADir
	if caDir == "" {
		caDir = filepath.Join(opts.StateDir, "ca")
	}
	return &Sandbox{
		opts: opts, podman: c, serviceDir: serviceDir, log: opts.Log, trust: trust, caDir: caDir,
		active: map[string]bool{}, kept: map[string]*keptNetwork{},
	}, nil
}

// Close removes the networks kept for later tasks and stops the Podman
// service if New started it. Tasks still open are the caller's to close
// first.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	s.closed = true
	kept := s.kept
	s.kept = map[string]*keptNetwork{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, k := range kept {
		if k.timer.Stop() {
			errs = append(errs, k.env.Close(ctx))
			s.closing.Done()
		}
	}
	s.closing.Wait()
	errs = append(errs, s.podman.Close())
	if s.serviceDir != "" {
		os.RemoveAll(s.serviceDir)
	}
	return errors.Join(errs...)
}

// RemoveLabelled force-removes every container and network with the label
// key=value, and says which: what a process that died left behind.
func (s *Sandbox) RemoveLabelled(ctx context.Context, key, value string) (containers, networks []string, err error) {
	containers, err = s.podman.RemoveByLabel(ctx, key, value)
	if err != nil {
		return containers, nil, fmt.Errorf("remove leftover containers: %w", err)
	}
	networks, err = s.podman.RemoveNetworksByLabel(ctx, key, value)
	if err != nil {
		return containers, networks, fmt.Errorf("remove leftover networks: %w", err)
	}
	return containers, networks, nil
}

// PruneImages removes dangling images and the images this package built
// that are older than maxAge (those still in use stay), waiting for any
// build in progress, and returns what it removed.
func (s *Sandbox) PruneImages(ctx context.Context, maxAge time.Duration) ([]string, error) {
	return s.images.Prune(ctx, s.podman, maxAge)
}

// namePattern is what task IDs and the prefix may look like: they become
// parts of container and network names.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

func (s *Sandbox) labels(task map[string]string) map[string]string {
	l := maps.Clone(s.opts.Labels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, task)
	return l
}
