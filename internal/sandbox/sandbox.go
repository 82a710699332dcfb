// Package sandbox holds the parts the public sandbox package assembles,
// and Airut's policy for them:
//
//   - the images: a layer built from a Dockerfile and its context, with
//     the overlay on top (Images), and the proxy image (ProxyImages,
//     ProxyBinary);
//   - the network sandbox of one task (Start): its internal Podman
//     network (no route out), the proxy container dual-homed on it and on
//     the shared egress network, and the settings that put a container
//     behind it (network, DNS, the CA to trust, the route to the proxy);
//   - what the proxy is given and what it reports: the trust bundle,
//     surrogates for masked secrets, the summary of what it refused;
//   - Airut's policy: the allowlist and the Dockerfile come from the
//     repository's default branch (Allowlist, RepoImage), and the names
//     and labels of what a conversation's run starts, by which a restarted
//     worker finds its orphans.
//
// It does not decide what is allowed (the proxy does, from the
// allowlist), it does not run containers (the public sandbox package
// does) and it does not read Airut's configuration: callers pass the
// values. It knows nothing of Temporal.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/ca"
)

// Paths inside the proxy container.
const (
	proxyConfigDir = "/etc/airut-proxy"
	proxyStatusDir = "/run/airut-proxy"
	proxyCADir     = "/ca"
	proxyLog       = "/network.log"
	// proxyTrust is where the proxy (Go's crypto/x509) looks first for
	// the CAs it verifies upstream servers against.
	proxyTrust = bundleDebian
)

// ProxyIPHost is the proxy's host number on every conversation subnet.
const ProxyIPHost = 100

// Options configure one sandbox.
type Options struct {
	// Prefix starts the network's and proxy's names ("" means "airut"):
	// <prefix>-conv-<name> and <prefix>-proxy-<name>.
	Prefix string
	// Name makes the network and proxy names unique per conversation.
	Name       string
	Labels     map[string]string
	ProxyImage string
	// WorkDir holds the files handed to the proxy (allowlist, secrets
	// with their real values, trust bundle, readiness); it is created
	// with mode 0700 and removed by Close.
	WorkDir   string
	Allowlist []byte
	// Credentials are what the proxy swaps in, surrogates made.
	Credentials proxy.Credentials
	// CADir holds the per-installation CA, created on first use.
	CADir string
	// LogFile is the conversation's network log on the host.
	LogFile string
	// Egress is the shared network the proxy reaches upstream servers on.
	Egress string
	// UpstreamDNS, if set, is the proxy's resolver; otherwise the egress
	// network's.
	UpstreamDNS string
	// TrustBundle is the PEM bundle the proxy verifies upstream servers
	// against (the host's system bundle plus any configured CA).
	TrustBundle []byte
	// ReadyTimeout bounds the wait for the proxy (default 20 s).
	ReadyTimeout time.Duration
	Log          *slog.Logger
}

// Sandbox is a running network sandbox.
type Sandbox struct {
	Network   string
	ProxyName string
	ProxyIP   string
	caCert    string
	// capture is set when direct addresses are routed to the proxy.
	capture bool
	c       *podman.Client
	workDir string
}

// Subnets are 10.199.N.0/24 with N in 1..254; the start is derived from
// the name so concurrent conversations rarely probe the same ones.
func subnetStart(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32()%254) + 1
}

// Start creates the conversation's network and proxy and waits until the
// proxy answers. On any failure it removes what it created and returns an
// error saying which step failed; nothing is left running.
func Start(ctx context.Context, c *podman.Client, o Options) (sb *Sandbox, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 20 * time.Second
	}
	if len(o.Allowlist) == 0 {
		return nil, errors.New("network sandbox: empty allowlist")
	}
	// The worker creates the CA so its certificate exists to mount into
	// the agent container; the proxy only reads it.
	if _, err := ca.LoadOrCreate(o.CADir); err != nil {
		return nil, fmt.Errorf("network sandbox: CA: %w", err)
	}
	if o.Prefix == "" {
		o.Prefix = "airut"
	}
	sb = &Sandbox{
		Network:   o.Prefix + "-conv-" + o.Name,
		ProxyName: o.Prefix + "-proxy-" + o.Name,
		caCert:    filepath.Join(o.CADir, ca.CertFile),
		c:         c,
		workDir:   o.WorkDir,
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if cerr := sb.Close(cctx); cerr != nil {
				err = errors.Join(err, cerr)
			}
			sb = nil
		}
	}()
	if err := sb.writeFiles(o); err != nil {
		return sb, fmt.Errorf("network sandbox: %w", err)
	}
	if err := ensureEgress(ctx, c, o.Egress); err != nil {
		return sb, fmt.Errorf("network sandbox: %w", err)
	}
	// A leftover of a crashed run of this conversation goes first.
	if err := c.Remove(ctx, sb.ProxyName, 0); err != nil {
		return sb, fmt.Errorf("network sandbox: %w", err)
	}
	if err := c.RemoveNetwork(ctx, sb.Network); err != nil {
		return sb, fmt.Errorf("network sandbox: %w", err)
	}
	n := subnetStart(o.Name)
	for tries := 0; ; tries++ {
		err := c.CreateNetwork(ctx, podman.NetworkSpec{
			Name: sb.Network, Subnet: fmt.Sprintf("10.199.%d.0/24", n), Internal: true, Labels: o.Labels,
		})
		if err == nil {
			break
		}
		if !errors.Is(err, podman.ErrSubnetInUse) || tries >= 253 {
			return sb, fmt.Errorf("network sandbox: %w", err)
		}
		n = n%254 + 1
	}
	sb.ProxyIP = fmt.Sprintf("10.199.%d.%d", n, ProxyIPHost)

	spec := podman.RunSpec{
		Name:  sb.ProxyName,
		Image: o.ProxyImage,
		Command: []string{
			"-ip", sb.ProxyIP,
			"-ca-dir", proxyCADir,
			"-allowlist", proxyConfigDir + "/network-allowlist.yaml",
			"-secrets", proxyConfigDir + "/secrets.json",
			"-log", proxyLog,
			"-ready", proxyStatusDir + "/ready",
			"-transparent",
			"-raw", fmt.Sprintf(":%d", RawPort),
		},
		Mounts: []podman.Mount{
			{Source: filepath.Join(o.WorkDir, "config"), Target: proxyConfigDir, ReadOnly: true},
			{Source: filepath.Join(o.WorkDir, "status"), Target: proxyStatusDir},
			{Source: filepath.Join(o.WorkDir, "config", "trust.pem"), Target: proxyTrust, ReadOnly: true},
			{Source: o.CADir, Target: proxyCADir, ReadOnly: true},
			{Source: o.LogFile, Target: proxyLog},
		},
		// The internal network comes first so the proxy's address there
		// is fixed; egress gives it its only default route.
		Networks: []podman.Attach{{Network: sb.Network, IP: sb.ProxyIP}, {Network: o.Egress}},
		Labels:   o.Labels,
		// Ports below 1024 need NET_BIND_SERVICE, transparent sockets
		// NET_ADMIN (in the proxy's own namespace); nothing else is kept.
		CapDrop: []string{"ALL"},
		CapAdd:  []string{"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"},
		// The proxy relays requests, never packets.
		Sysctl:          map[string]string{"net.ipv4.ip_forward": "0"},
		NoNewPrivileges: true,
		ReadOnlyRoot:    true,
		Limits:          podman.Limits{Memory: "256m", PidsLimit: 256},
	}
	if o.UpstreamDNS != "" {
		spec.DNS = []string{o.UpstreamDNS}
	}
	if err := c.StartDetached(ctx, spec); err != nil {
		return sb, fmt.Errorf("network sandbox: start proxy: %w", err)
	}
	if err := sb.waitReady(ctx, o.ReadyTimeout); err != nil {
		return sb, fmt.Errorf("network sandbox: %w", err)
	}
	if nsPath, _, err := c.NetNS(ctx, sb.ProxyName); err != nil {
		return sb, fmt.Errorf("network sandbox: %w", err)
	} else if iface, err := captureAll(nsPath, net.ParseIP(sb.ProxyIP)); err != nil {
		o.Log.Warn("network sandbox: direct-address connections stay unroutable instead of reaching the proxy (needs rootful podman)", "error", err)
	} else {
		sb.capture = true
		if err := divertRaw(nsPath, iface); err != nil {
			o.Log.Warn("network sandbox: raw TCP/UDP is refused but not logged", "error", err)
		}
	}
	o.Log.Debug("network sandbox ready", "network", sb.Network, "proxy", sb.ProxyIP)
	return sb, nil
}

func (sb *Sandbox) writeFiles(o Options) error {
	cfgDir := filepath.Join(o.WorkDir, "config")
	statusDir := filepath.Join(o.WorkDir, "status")
	for _, d := range []string{cfgDir, statusDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
	}
	js, err := json.Marshal(o.Credentials)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	files := map[string][]byte{
		"network-allowlist.yaml": o.Allowlist,
		"secrets.json":           js,
		"trust.pem":              o.TrustBundle,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(cfgDir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	os.Remove(filepath.Join(statusDir, "ready"))
	f, err := os.OpenFile(o.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("network log: %w", err)
	}
	return f.Close()
}

// waitReady waits for the proxy's ready file: "ok" once it listens, or
// the reason it could not start.
func (sb *Sandbox) waitReady(ctx context.Context, timeout time.Duration) error {
	ready := filepath.Join(sb.workDir, "status", "ready")
	deadline := time.Now().Add(timeout)
	for i := 0; ; i++ {
		if data, err := os.ReadFile(ready); err == nil && len(data) > 0 {
			s := strings.TrimSpace(string(data))
			if s == "ok" {
				return nil
			}
			return fmt.Errorf("proxy failed: %s", s)
		}
		if i%10 == 9 {
			running, code, err := sb.c.Running(ctx, sb.ProxyName)
			if err != nil {
				return err
			}
			if !running {
				return fmt.Errorf("proxy exited with code %d before it was ready", code)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxy not ready after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Apply puts an agent container behind the sandbox: on the internal
// network only, IPv4 only, the proxy as its resolver, and the sandbox CA
// mounted and named in the variables common TLS stacks read.
func (sb *Sandbox) Apply(rs *podman.RunSpec) {
	rs.Network = ""
	rs.Networks = []podman.Attach{{Network: sb.Network}}
	rs.DNS = []string{sb.ProxyIP}
	rs.Mounts = append(rs.Mounts, podman.Mount{Source: sb.caCert, Target: CACertPath, ReadOnly: true})
	if rs.Env == nil {
		rs.Env = map[string]string{}
	}
	for _, k := range caEnv() {
		rs.Env[k] = CACertPath
	}
	// No IPv6 at all in the agent's namespace: the conversation bridge
	// gives every member, the host included, an fe80:: address, and the
	// host's services listening on [::] were reachable over it, around
	// the proxy. The sandbox network is IPv4 only.
	if rs.Sysctl == nil {
		rs.Sysctl = map[string]string{}
	}
	rs.Sysctl["net.ipv6.conf.all.disable_ipv6"] = "1"
	rs.Sysctl["net.ipv6.conf.default.disable_ipv6"] = "1"
	if sb.capture {
		gw := net.ParseIP(sb.ProxyIP)
		rs.BeforeStart = func(_ context.Context, ns string) error { return routeVia(ns, gw) }
	}
}

// Close removes the proxy container, the network (and with it any
// container still on it) and the work dir holding the real secret values.
func (sb *Sandbox) Close(ctx context.Context) error {
	var errs []error
	if err := sb.c.Remove(ctx, sb.ProxyName, 0); err != nil {
		errs = append(errs, err)
	}
	if err := sb.c.RemoveNetwork(ctx, sb.Network); err != nil {
		errs = append(errs, err)
	}
	if sb.workDir != "" {
		if err := os.RemoveAll(sb.workDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ensureEgress creates the shared egress network if it is missing. It has
// podman's resolver, so proxies resolve upstream names through the host's.
func ensureEgress(ctx context.Context, c *podman.Client, name string) error {
	ok, err := c.NetworkExists(ctx, name)
	if err != nil || ok {
		return err
	}
	err = c.CreateNetwork(ctx, podman.NetworkSpec{Name: name, DNS: true, Labels: map[string]string{"airut.egress": "true"}})
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil // created concurrently by another run
	}
	return err
}
