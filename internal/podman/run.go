package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ctrtypes "github.com/containers/podman/v5/pkg/domain/entities/types"

	nettypes "github.com/containers/common/libnetwork/types"
	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/network"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
)

// StopGrace is how long a cancelled run's container gets between SIGTERM and
// SIGKILL.
const StopGrace = 2 * time.Second

// detachKeys replaces podman's default detach sequence (ctrl-p,ctrl-q),
// which would end the attach if stdin carried those bytes. The service would
// take "" as "never detach", but the bindings reject "" before sending it,
// so the sequence is eight NUL bytes that each arrive in a read of their
// own: a stream of data read in chunks never produces that.
var detachKeys = strings.Repeat("ctrl-@,", 7) + "ctrl-@"

// cleanupTimeout bounds the API calls that remove a container once the
// caller's context is gone.
const cleanupTimeout = 30 * time.Second

// Mount is a bind mount of a host path into the container, always nosuid
// and nodev.
type Mount struct {
	Source   string // host path; must exist
	Target   string // path in the container
	ReadOnly bool
}

// Limits are the container's resource limits; zero values mean "no limit"
// (podman's defaults, e.g. its default pids limit, then apply).
type Limits struct {
	// Memory is a size like "8g", "512m", "1073741824"; it also sets
	// memory+swap to the same value, so the container gets no swap.
	Memory    string
	CPUs      float64 // e.g. 1.5: CFS quota of 150 ms per 100 ms period
	PidsLimit int64
}

// RunSpec describes one container run.
type RunSpec struct {
	// Name of the container (required). An existing container of that name
	// is removed first: it is a leftover of a crashed run.
	Name       string
	Image      string
	Command    []string // argv
	Entrypoint []string // optional override of the image's entrypoint
	Env        map[string]string
	Mounts     []Mount
	WorkDir    string
	// Stdin, if not nil, is copied to the container's stdin until it
	// returns EOF; then the container's stdin is closed, so the process
	// sees EOF. Nil gives the process an empty stdin (/dev/null). It is
	// read on a goroutine of its own; once Run has returned it is not read
	// again, though a Read already blocked then (on a pipe nobody writes
	// to, say) holds that goroutine until it returns.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output as it is written (one
	// Write per chunk the container produced), from one goroutine that is
	// not the caller's. Nil discards the stream. Run returns only after the
	// last byte was written to them, and never writes to them after it
	// returned.
	Stdout, Stderr io.Writer
	Limits         Limits
	// Network is "" for podman's default network, "host", "none", or the
	// name of a podman network. Networks, when set, replaces it: the
	// container joins each of those networks.
	Network  string
	Networks []Attach
	// DNS replaces the resolvers in the container's resolv.conf.
	DNS             []string
	Labels          map[string]string
	CapDrop         []string
	CapAdd          []string
	NoNewPrivileges bool
	ReadOnlyRoot    bool
	// Sysctl sets namespaced kernel parameters (net.*) for the container.
	Sysctl map[string]string
	// BeforeStart, if set, runs once the container's network namespace
	// exists and before its process starts; netns is the namespace's path
	// on the host. An error stops the run.
	BeforeStart func(ctx context.Context, netns string) error
}

// Attach is a container's place on one network.
type Attach struct {
	Network string
	IP      string   // static address; "" lets podman choose
	Aliases []string // names podman's resolver gives this container there
}

// Result is how a container run ended.
type Result struct {
	ExitCode int // 128+n when the process was killed by signal n
	// OOMKilled is podman's verdict. Podman 4.3 with conmon 2.1 on a
	// cgroups v1 host with a recent kernel never sets it: an OOM-killed
	// process shows only as exit code 137 there.
	OOMKilled bool
}

// Run creates the container, attaches to its standard streams, starts it,
// streams its output, waits for it to exit and removes it. The container is
// removed on every exit path: success, error, and ctx cancellation. When ctx
// is done before the container exits, the container gets SIGTERM, SIGKILL
// after StopGrace, is removed, and Run returns an error wrapping ctx.Err().
// A non-zero exit code is not an error: it is in Result. Concurrent Runs
// on one Client are fine as long as their names differ.
func (c *Client) Run(ctx context.Context, rs RunSpec) (res Result, err error) {
	if rs.Name == "" {
		return res, errors.New("podman run: RunSpec.Name is required")
	}
	if rs.Image == "" {
		return res, fmt.Errorf("podman run %s: RunSpec.Image is required", rs.Name)
	}
	s, err := c.specFor(ctx, rs)
	if err != nil {
		return res, fmt.Errorf("podman run %s: %w", rs.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("podman run %s: %w", rs.Name, err)
	}

	// A container of that name is a leftover of a crashed run: remove it.
	if err := c.forceRemove(ctx, rs.Name, 0); err != nil {
		return res, fmt.Errorf("podman run %s: removing leftover container: %w", rs.Name, err)
	}
	created, err := containers.CreateWithSpec(c.ctx(ctx), s, nil)
	if err != nil {
		return res, fmt.Errorf("podman run %s: create: %w", rs.Name, err)
	}
	id := created.ID
	removed := false
	defer func() {
		if removed {
			return
		}
		// The caller's ctx may be done: clean up on a context of our own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rerr := c.forceRemove(cctx, id, 0); rerr != nil {
			err = errors.Join(err, fmt.Errorf("podman run %s: removing container: %w", rs.Name, rerr))
		}
	}()

	// The attach gets a connection of its own: containers.Attach replaces
	// the connection's http.Transport (a data race with any other request
	// on a shared connection) and never closes the hijacked socket. The
	// per-run connection records every socket it dials, so they can all be
	// closed once the run is over.
	attachCtx, conns, err := c.attachConnection(ctx)
	if err != nil {
		return res, fmt.Errorf("podman run %s: %w", rs.Name, err)
	}
	defer conns.closeAll()

	var stdin *gatedReader
	if rs.Stdin != nil {
		stdin = &gatedReader{r: rs.Stdin}
	}
	attachOpts := new(containers.AttachOptions).WithStream(true).WithDetachKeys(detachKeys)
	attachReady := make(chan bool, 1)
	attachDone := make(chan error, 1)
	// The bindings call reflect.Value.IsNil on the streams, which panics
	// for a writer that is not a pointer (or other nillable) type, so the
	// caller's writers always reach Attach wrapped.
	stdout, stderr := &gatedWriter{w: rs.Stdout}, &gatedWriter{w: rs.Stderr}
	stderrFilter := &serviceErrorFilter{w: stderr}
	go func() {
		var in io.Reader
		if stdin != nil {
			in = stdin
		}
		attachDone <- containers.Attach(attachCtx, id, in, stdout, stderrFilter, attachReady, attachOpts)
	}()
	// stopAttach unblocks the attach goroutine and waits for it, so that
	// nothing is written to the caller's writers after Run returned.
	attachFinished := false
	stopAttach := func() {
		if stdin != nil {
			// Nothing is read from the caller's reader after Run returned.
			stdin.close()
		}
		if attachFinished {
			return
		}
		conns.closeAll()
		<-attachDone
		attachFinished = true
	}
	defer func() {
		// Belt and braces: the attach goroutine has returned by now.
		stdout.close()
		stderr.close()
	}()
	defer stopAttach()

	// Start only once the attach is in place, or early output is lost.
	select {
	case <-attachReady:
	case aerr := <-attachDone:
		attachFinished = true
		return res, fmt.Errorf("podman run %s: attach: %w", rs.Name, aerr)
	case <-ctx.Done():
		return res, fmt.Errorf("podman run %s: %w", rs.Name, ctx.Err())
	}
	if rs.BeforeStart != nil {
		if err := c.beforeStart(ctx, id, rs.BeforeStart); err != nil {
			if ctx.Err() != nil {
				return res, c.cancelled(ctx, rs.Name, id, &removed)
			}
			return res, fmt.Errorf("podman run %s: %w", rs.Name, err)
		}
	}
	if err := containers.Start(c.ctx(ctx), id, nil); err != nil {
		if ctx.Err() != nil {
			return res, c.cancelled(ctx, rs.Name, id, &removed)
		}
		return res, fmt.Errorf("podman run %s: start: %w", rs.Name, err)
	}

	// The attach stream ends when conmon has forwarded the last output of
	// the exited container; wait for it to drain.
	select {
	case aerr := <-attachDone:
		attachFinished = true
		if ctx.Err() != nil {
			return res, c.cancelled(ctx, rs.Name, id, &removed)
		}
		switch {
		case errors.Is(aerr, syscall.ECONNRESET):
			// The service closed the stream with stdin data we sent
			// still unread (the process did not read all of its
			// stdin): the normal end of such a stream. Podman 4.3 may
			// drop output still in flight then (seen under load).
			aerr = nil
		case aerr != nil && strings.Contains(aerr.Error(), "lost synchronization with multiplexed stream"):
			// The same reset, cut mid-frame: what was delivered is a
			// whole prefix of the output, the rest is lost.
			c.log.Warn("attach stream cut short; output may be truncated (the process left stdin unread)", "container", rs.Name)
			aerr = nil
		}
		if msg := stderrFilter.finish(); msg != "" {
			lvl := slog.LevelWarn
			if strings.Contains(msg, "connection reset by peer") {
				lvl = slog.LevelDebug // stdin left unread: benign
			}
			c.log.Log(ctx, lvl, "podman service ended the attach stream with an error", "container", rs.Name, "error", msg)
		}
		if aerr != nil {
			// E.g. a caller's writer failed: the output can no longer
			// be delivered, so the run is over (the deferred removal
			// kills the container).
			return res, fmt.Errorf("podman run %s: streaming output: %w", rs.Name, aerr)
		}
	case <-ctx.Done():
		return res, c.cancelled(ctx, rs.Name, id, &removed)
	}

	// The container has exited or is about to; the service polls its
	// state every interval.
	waitOpts := new(containers.WaitOptions).WithConditions([]string{"exited", "stopped"}).WithInterval("50ms")
	code, err := containers.Wait(c.ctx(ctx), id, waitOpts)
	if err != nil {
		if ctx.Err() != nil {
			return res, c.cancelled(ctx, rs.Name, id, &removed)
		}
		return res, fmt.Errorf("podman run %s: wait: %w", rs.Name, err)
	}
	res.ExitCode = int(code)
	data, err := containers.Inspect(c.ctx(ctx), id, new(containers.InspectOptions).WithSize(false))
	if err != nil {
		if ctx.Err() != nil {
			return res, c.cancelled(ctx, rs.Name, id, &removed)
		}
		return res, fmt.Errorf("podman run %s: inspect: %w", rs.Name, err)
	}
	if data.State != nil {
		res.OOMKilled = data.State.OOMKilled
	}
	return res, nil
}

// beforeStart initialises the container (its namespaces exist, its
// process does not run yet) and hands fn the network namespace.
func (c *Client) beforeStart(ctx context.Context, id string, fn func(context.Context, string) error) error {
	netns := func() (string, error) {
		data, err := containers.Inspect(c.ctx(ctx), id, new(containers.InspectOptions).WithSize(false))
		if err != nil {
			return "", fmt.Errorf("inspect: %w", err)
		}
		if data.NetworkSettings == nil {
			return "", nil
		}
		return data.NetworkSettings.SandboxKey, nil
	}
	// The attach has usually initialised the container already.
	ns, err := netns()
	if err != nil {
		return err
	}
	if ns == "" {
		if err := containers.ContainerInit(c.ctx(ctx), id, nil); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if ns, err = netns(); err != nil {
			return err
		}
	}
	if ns == "" {
		return errors.New("the container has no network namespace")
	}
	if err := fn(ctx, ns); err != nil {
		return fmt.Errorf("before start: %w", err)
	}
	return nil
}

// StartDetached creates and starts a long-running container (a service
// such as the sandbox proxy) and returns without attaching. An existing
// container of that name is removed first. The caller removes it with
// Remove. Stdin, Stdout, Stderr and BeforeStart are not used.
func (c *Client) StartDetached(ctx context.Context, rs RunSpec) error {
	if rs.Name == "" || rs.Image == "" {
		return errors.New("podman start: RunSpec.Name and Image are required")
	}
	rs.Stdin = nil
	s, err := c.specFor(ctx, rs)
	if err != nil {
		return fmt.Errorf("podman start %s: %w", rs.Name, err)
	}
	if err := c.forceRemove(ctx, rs.Name, 0); err != nil {
		return fmt.Errorf("podman start %s: removing leftover container: %w", rs.Name, err)
	}
	created, err := containers.CreateWithSpec(c.ctx(ctx), s, nil)
	if err != nil {
		return fmt.Errorf("podman start %s: create: %w", rs.Name, err)
	}
	if err := containers.Start(c.ctx(ctx), created.ID, nil); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		c.forceRemove(cctx, created.ID, 0)
		return fmt.Errorf("podman start %s: %w", rs.Name, err)
	}
	return nil
}

// Running reports whether a container exists and runs; when it has
// exited, code is its exit code.
func (c *Client) Running(ctx context.Context, name string) (running bool, code int, err error) {
	data, err := containers.Inspect(c.ctx(ctx), name, new(containers.InspectOptions).WithSize(false))
	if err != nil {
		return false, 0, fmt.Errorf("podman inspect %s: %w", name, err)
	}
	if data.State == nil {
		return false, 0, nil
	}
	return data.State.Running, int(data.State.ExitCode), nil
}

// NetNS returns the path of a running container's network namespace and
// its address on each network.
func (c *Client) NetNS(ctx context.Context, name string) (string, map[string]string, error) {
	data, err := containers.Inspect(c.ctx(ctx), name, new(containers.InspectOptions).WithSize(false))
	if err != nil {
		return "", nil, fmt.Errorf("podman inspect %s: %w", name, err)
	}
	if data.NetworkSettings == nil {
		return "", nil, fmt.Errorf("podman inspect %s: no network settings", name)
	}
	ips := map[string]string{}
	for n, s := range data.NetworkSettings.Networks {
		if s != nil {
			ips[n] = s.IPAddress
		}
	}
	return data.NetworkSettings.SandboxKey, ips, nil
}

// Remove force-removes a container, giving it grace seconds between
// SIGTERM and SIGKILL. A missing container is not an error.
func (c *Client) Remove(ctx context.Context, name string, grace time.Duration) error {
	if err := c.forceRemove(ctx, name, uint(grace/time.Second)); err != nil {
		return fmt.Errorf("podman rm %s: %w", name, err)
	}
	return nil
}

// cancelled stops and removes the container of a run whose ctx is done and
// returns the error Run reports.
func (c *Client) cancelled(ctx context.Context, name, id string, removed *bool) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := fmt.Errorf("podman run %s: %w", name, ctx.Err())
	// Remove with force stops the container first: SIGTERM (the image's
	// stop signal), SIGKILL after the grace.
	if rerr := c.forceRemove(cctx, id, uint(StopGrace/time.Second)); rerr != nil {
		return errors.Join(err, fmt.Errorf("removing container: %w", rerr))
	}
	*removed = true
	return err
}

// forceRemove removes a container, running or not, giving it timeout seconds
// between SIGTERM and SIGKILL. A missing container is not an error.
func (c *Client) forceRemove(ctx context.Context, nameOrID string, timeout uint) error {
	opts := new(containers.RemoveOptions).WithForce(true).WithIgnore(true).WithVolumes(true).WithTimeout(timeout)
	reports, err := containers.Remove(c.ctx(ctx), nameOrID, opts)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, r := range reports {
		if r != nil && r.Err != nil && !isNotFound(r.Err) {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	if errors.Is(err, define.ErrNoSuchCtr) {
		return true
	}
	var m *errorhandling.ErrorModel
	return errors.As(err, &m) && m.ResponseCode == http.StatusNotFound
}

// RemoveByLabel force-removes every container, running or not, that has
// label key=value, and returns the names removed. A worker calls it at start
// to clear the containers a dead predecessor left behind.
func (c *Client) RemoveByLabel(ctx context.Context, key, value string) ([]string, error) {
	if key == "" {
		return nil, errors.New("podman remove by label: empty label key")
	}
	filter := map[string][]string{"label": {key + "=" + value}}
	list, err := containers.List(c.ctx(ctx), new(containers.ListOptions).WithAll(true).WithFilters(filter))
	if err != nil {
		return nil, fmt.Errorf("podman list containers with label %s=%s: %w", key, value, err)
	}
	removed, err := removeLabelled(list, key, value,
		func(ctr ctrtypes.ListContainer) (map[string]string, string) {
			if len(ctr.Names) > 0 {
				return ctr.Labels, ctr.Names[0]
			}
			return ctr.Labels, ctr.ID
		},
		func(ctr ctrtypes.ListContainer) error { return c.forceRemove(ctx, ctr.ID, 0) })
	if err != nil {
		return removed, fmt.Errorf("podman remove by label %s=%s: %w", key, value, err)
	}
	return removed, nil
}

// specFor translates a RunSpec into a podman spec generator.
func (c *Client) specFor(ctx context.Context, rs RunSpec) (*specgen.SpecGenerator, error) {
	s := specgen.NewSpecGenerator(rs.Image, false)
	s.Name = rs.Name
	s.Command = rs.Command
	if len(rs.Entrypoint) > 0 {
		s.Entrypoint = rs.Entrypoint
	}
	s.Env = rs.Env
	s.WorkDir = rs.WorkDir
	s.Labels = rs.Labels
	s.CapAdd = rs.CapAdd
	s.CapDrop = rs.CapDrop
	if rs.NoNewPrivileges {
		t := true
		s.NoNewPrivileges = &t
	}
	if rs.Stdin != nil {
		t := true
		s.Stdin = &t
	}
	for _, m := range rs.Mounts {
		if m.Source == "" || m.Target == "" {
			return nil, fmt.Errorf("mount %q -> %q: source and target are required", m.Source, m.Target)
		}
		s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: bindOptions(m)})
	}

	res, err := resources(rs.Limits)
	if err != nil {
		return nil, err
	}
	s.ResourceLimits = res

	for _, d := range rs.DNS {
		ip := net.ParseIP(d)
		if ip == nil {
			return nil, fmt.Errorf("DNS server %q is not an IP address", d)
		}
		s.DNSServers = append(s.DNSServers, ip)
	}
	if rs.ReadOnlyRoot {
		t := true
		s.ReadOnlyFilesystem = &t
	}
	s.Sysctl = rs.Sysctl
	if len(rs.Networks) > 0 {
		s.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
		s.Networks = map[string]nettypes.PerNetworkOptions{}
		for _, a := range rs.Networks {
			var o nettypes.PerNetworkOptions
			if a.IP != "" {
				ip := net.ParseIP(a.IP)
				if ip == nil {
					return nil, fmt.Errorf("network %s: %q is not an IP address", a.Network, a.IP)
				}
				o.StaticIPs = []net.IP{ip}
			}
			o.Aliases = a.Aliases
			s.Networks[a.Network] = o
		}
		return s, nil
	}
	switch rs.Network {
	case "":
		// podman's default network mode
	case "host":
		s.NetNS = specgen.Namespace{NSMode: specgen.Host}
	case "none":
		s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	default:
		ok, err := network.Exists(c.ctx(ctx), rs.Network, nil)
		if err != nil {
			return nil, fmt.Errorf("looking up network %q: %w", rs.Network, err)
		}
		if !ok {
			return nil, fmt.Errorf("network %q does not exist (create it with `podman network create %s`)", rs.Network, rs.Network)
		}
		s.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
		s.Networks = map[string]nettypes.PerNetworkOptions{rs.Network: {}}
	}
	return s, nil
}

// bindOptions are a bind mount's options. Every bind mount is nosuid and
// nodev: the mounted directories are host directories the agent writes to
// (workspace, inbox, outbox, storage) and that outlive the container, so a
// setuid binary or device node left there, by an earlier run or by
// anything else that writes the host directory, must not work inside a
// container.
func bindOptions(m Mount) []string {
	mode := "rw"
	if m.ReadOnly {
		mode = "ro"
	}
	return []string{"rbind", mode, "nosuid", "nodev"}
}

func resources(l Limits) (*spec.LinuxResources, error) {
	var r spec.LinuxResources
	set := false
	if l.Memory != "" {
		n, err := ParseSize(l.Memory)
		if err != nil {
			return nil, fmt.Errorf("memory limit: %w", err)
		}
		swap := n
		r.Memory = &spec.LinuxMemory{Limit: &n, Swap: &swap}
		set = true
	}
	if l.CPUs < 0 {
		return nil, fmt.Errorf("cpu limit %v is negative", l.CPUs)
	}
	if l.CPUs > 0 {
		period := uint64(100000)
		quota := int64(l.CPUs * float64(period))
		if quota < 1000 {
			return nil, fmt.Errorf("cpu limit %v is below 0.01", l.CPUs)
		}
		r.CPU = &spec.LinuxCPU{Period: &period, Quota: &quota}
		set = true
	}
	if l.PidsLimit < 0 {
		return nil, fmt.Errorf("pids limit %d is negative", l.PidsLimit)
	}
	if l.PidsLimit > 0 {
		r.Pids = &spec.LinuxPids{Limit: l.PidsLimit}
		set = true
	}
	if !set {
		return nil, nil
	}
	return &r, nil
}

// ParseSize parses a byte size such as "8g", "512m", "64MiB", "100k" or
// "1048576" (binary multiples, as podman's --memory does).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f <= 0 || f*float64(mult) > float64(1<<62) {
		return 0, fmt.Errorf("invalid size %q (want e.g. 8g, 512m, 1048576)", s)
	}
	return int64(f * float64(mult)), nil
}

// attachConnection opens a bindings connection of its own for one attach,
// whose transport records every socket it dials.
func (c *Client) attachConnection(ctx context.Context) (context.Context, *connSet, error) {
	actx, err := bindings.NewConnection(context.WithoutCancel(ctx), c.uri)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting for attach: %w", unreachable(c.uri, err))
	}
	conn, err := bindings.GetClient(actx)
	if err != nil {
		return nil, nil, err
	}
	old, ok := conn.Client.Transport.(*http.Transport)
	if !ok {
		return nil, nil, fmt.Errorf("connecting for attach: unexpected transport %T", conn.Client.Transport)
	}
	set := &connSet{}
	dial := old.DialContext
	conn.Client.Transport = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if !set.add(nc) {
				nc.Close()
				return nil, net.ErrClosed
			}
			return attachConn{nc}, nil
		},
		DisableCompression: true,
	}
	old.CloseIdleConnections() // the ping's connection
	// The attach's requests run until the container exits; ctx's
	// cancellation is handled by Run, which closes the sockets.
	return actx, set, nil
}

// attachConn quietens the bindings' stdin copier: when the process exits
// without reading all of its stdin, the service closes the socket and the
// copier's next write fails with EPIPE or ECONNRESET, which the bindings log
// as an error unless it is net.ErrClosed. It keeps CloseWrite, which
// delivers stdin's EOF.
type attachConn struct{ net.Conn }

func (c attachConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
		err = fmt.Errorf("%w (%w)", net.ErrClosed, err)
	}
	return n, err
}

func (c attachConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connSet records the sockets of one attach connection.
type connSet struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// gatedReader passes reads through until closed. After that it reports
// net.ErrClosed without touching the underlying reader, which makes the
// bindings' stdin copier stop quietly (it logs any other error, and on EOF
// would half-close a socket that is already closed).
type gatedReader struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

var errRunOver = fmt.Errorf("container run is over: %w", net.ErrClosed)

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.isClosed() {
		return 0, errRunOver
	}
	n, err := g.r.Read(p)
	if g.isClosed() {
		return 0, errRunOver
	}
	return n, err
}

func (g *gatedReader) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

func (g *gatedReader) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// gatedWriter passes writes to w (discarding them if w is nil) until closed.
type gatedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.w == nil {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// serviceAttachError matches the frame the podman service appends to the
// stderr stream when its own connection to conmon's attach socket fails,
// e.g. "Error: read unixpacket @->/proc/self/fd/15/attach: read: connection
// reset by peer" when the process exited without reading all of its stdin.
var serviceAttachError = regexp.MustCompile(`^Error: (read|write) unix(packet)? [^\n]*/attach: [^\n]*\n$`)

// serviceErrorFilter keeps the service's own attach error out of the
// container's stderr. Such a frame is always the stream's last, so a frame
// that looks like one is held back until the next frame (then it was the
// container's and is passed on) or the end of the stream (then finish
// returns it instead).
type serviceErrorFilter struct {
	w    io.Writer
	held []byte
}

func (f *serviceErrorFilter) Write(p []byte) (int, error) {
	if f.held != nil {
		held := f.held
		f.held = nil
		if _, err := f.w.Write(held); err != nil {
			return 0, err
		}
	}
	if serviceAttachError.Match(p) {
		f.held = append([]byte(nil), p...) // the bindings reuse p
		return len(p), nil
	}
	return f.w.Write(p)
}

// finish returns the held-back service error, if any. Call it only after
// the stream ended.
func (f *serviceErrorFilter) finish() string {
	msg := strings.TrimSpace(strings.TrimPrefix(string(f.held), "Error: "))
	f.held = nil
	return msg
}
