// Package podman runs and cleans up containers through the Podman REST API.
//
// It knows nothing of conversations, Temporal or Claude: it creates a
// container from a RunSpec, feeds it stdin, streams its stdout and stderr,
// waits for it and removes it, and it can build and look up images. All calls
// go through the podman v5 Go bindings (github.com/containers/podman/v5/pkg/bindings);
// the podman CLI is used only to start the API service when nothing answers
// on the socket (ConnectOptions.StartService). The bindings work against a
// Podman 4.3 service as well as 5.x.
//
// Building this package (and anything importing it) needs these build tags,
// which keep the bindings from pulling in cgo storage drivers and gpgme:
//
//	remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp
//
// for example
//
//	go test -tags 'remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp' ./internal/podman/
package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/system"
)

// DefaultStartTimeout bounds how long Connect waits for a podman API service
// it started itself to answer.
const DefaultStartTimeout = 20 * time.Second

// ConnectOptions configure Connect.
type ConnectOptions struct {
	// URI of the podman API, e.g. "unix:///run/podman/podman.sock".
	// "" means $CONTAINER_HOST, else /run/podman/podman.sock for root, else
	// $XDG_RUNTIME_DIR/podman/podman.sock.
	URI string
	// StartService starts `podman system service --time=0 URI` as a child
	// process when nothing answers at URI (unix sockets only) and a podman
	// binary is on PATH. Client.Close stops it, and the kernel does when
	// this process dies. A service already answering is used as it is and
	// left running (the log says so).
	StartService bool
	// ServiceURI is where StartService starts the service ("" means URI).
	// A socket of the caller's own keeps other processes from finding,
	// and relying on, a service that ends with this one.
	ServiceURI string
	// StartTimeout bounds the wait for a started service to answer;
	// 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives the notice that a service was started; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Client talks to one podman API service. It is safe for concurrent use.
type Client struct {
	uri  string
	conn context.Context // carries the bindings' connection values only
	log  *slog.Logger

	mu         sync.Mutex
	service    *tiedProcess // the API service this client started, if any
	serviceLog string       // its output
	closed     bool
}

// DefaultURI returns the podman API address Connect uses when
// ConnectOptions.URI is empty.
func DefaultURI() string {
	if v := os.Getenv("CONTAINER_HOST"); v != "" {
		return v
	}
	if os.Geteuid() == 0 {
		return "unix:///run/podman/podman.sock"
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = fmt.Sprintf("/run/user/%d", os.Getuid())
	}
	return "unix://" + filepath.Join(dir, "podman", "podman.sock")
}

// Connect returns a client for the podman API at opts.URI. If nothing
// answers there and opts.StartService is set and a podman binary is on PATH,
// it starts `podman system service --time=0 URI` as a child process (stopped
// by Client.Close), waits until it answers (bounded by opts.StartTimeout) and
// logs that it did.
func Connect(ctx context.Context, opts ConnectOptions) (*Client, error) {
	uri := opts.URI
	if uri == "" {
		uri = DefaultURI()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{uri: uri, log: log}

	sock, isUnix, err := socketPath(uri)
	if err != nil {
		return nil, err
	}
	// Dial the socket first: the bindings retry a failed request three
	// times with sleeps, which makes probing through them slow.
	if !isUnix || dialable(ctx, sock) {
		// Something listens there: use it or report why not, but never
		// start a second service over it.
		conn, err := newConnection(ctx, uri)
		if err != nil {
			return nil, unreachable(uri, err)
		}
		c.conn = conn
		if opts.StartService {
			log.Info("using the podman API service already listening; airut did not start it and leaves it running", "uri", uri)
		}
		return c, nil
	}
	if !opts.StartService {
		return nil, unreachable(uri, errors.New("nothing listens on "+sock))
	}
	if opts.ServiceURI != "" {
		if sock, isUnix, err = socketPath(opts.ServiceURI); err != nil {
			return nil, err
		}
		if !isUnix {
			return nil, fmt.Errorf("podman: ServiceURI %s: the service can only be started on a unix socket", opts.ServiceURI)
		}
		c.uri = opts.ServiceURI
	}

	if err := c.startService(ctx, sock, opts.StartTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

// newConnection opens a bindings connection, pinging the service within
// ctx. The returned context is only ever used for the connection values it
// carries (see Client.ctx), so it does not keep ctx's values or deadline.
func newConnection(ctx context.Context, uri string) (context.Context, error) {
	pingCtx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	conn, err := bindings.NewConnection(pingCtx, uri)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return conn, err
}

func unreachable(uri string, err error) error {
	return fmt.Errorf("podman API not reachable at %s: install podman (apt-get install podman) or start it with `systemctl enable --now podman.socket`: %w", uri, err)
}

func socketPath(uri string) (path string, isUnix bool, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", false, fmt.Errorf("podman API address %q: %w", uri, err)
	}
	if u.Scheme != "unix" {
		return "", false, nil
	}
	p := u.Path
	if u.Host != "" { // unix://run/podman/podman.sock
		p = "/" + u.Host + u.Path
	}
	return p, true, nil
}

func dialable(ctx context.Context, sock string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// startService runs `podman system service` on sock and waits for it.
func (c *Client) startService(ctx context.Context, sock string, timeout time.Duration) error {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return unreachable(c.uri, errors.New("nothing listens on "+sock+" and there is no podman binary on PATH to start the service with"))
	}
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return unreachable(c.uri, err)
	}
	// The service logs to a file, not to a pipe to this process: what it
	// says is read only when it fails to start.
	logFile, err := os.CreateTemp("", "podman-service-*.log")
	if err != nil {
		return unreachable(c.uri, fmt.Errorf("creating the service's log file: %w", err))
	}
	defer logFile.Close() // the child has its own copy
	// Not exec.CommandContext: the service must outlive Connect's ctx.
	cmd := serviceCommand(bin, sock)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	out := func() string { return fileTail(logFile.Name(), 4096) }
	svc, err := startTied(cmd)
	if err != nil {
		os.Remove(logFile.Name())
		return unreachable(c.uri, fmt.Errorf("starting %s system service: %w", bin, err))
	}
	c.service, c.serviceLog = svc, logFile.Name()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		if dialable(ctx, sock) {
			conn, err := newConnection(ctx, c.uri)
			if err == nil {
				c.conn = conn
				c.log.Info("started podman API service; it ends with airut", "uri", c.uri, "pid", cmd.Process.Pid,
					"log", logFile.Name(), "took", time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		select {
		case <-svc.exited:
			c.service = nil
			msg := out()
			os.Remove(c.serviceLog)
			return unreachable(c.uri, fmt.Errorf("`podman system service` exited (%v): %s", svc.err, msg))
		case <-ctx.Done():
			c.stopService()
			return unreachable(c.uri, fmt.Errorf("waiting for the started service: %w", ctx.Err()))
		case <-deadline.C:
			msg := out()
			c.stopService()
			return unreachable(c.uri, fmt.Errorf("started `podman system service` did not answer within %s: %s", timeout, msg))
		case <-tick.C:
		}
	}
}

// stopService terminates a service started by this client: SIGTERM, then
// SIGKILL after 5 s.
func (c *Client) stopService() error {
	svc := c.service
	c.service = nil
	if svc == nil {
		return nil
	}
	defer os.Remove(c.serviceLog)
	svc.stop(5 * time.Second)
	return nil
}

// Close releases the client's connections and stops the API service if
// Connect started one. Containers keep running: they are conmon's, not the
// service's.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if conn, err := bindings.GetClient(c.conn); err == nil {
		conn.Client.CloseIdleConnections()
	}
	return c.stopService()
}

// URI returns the address of the API service the client talks to.
func (c *Client) URI() string { return c.uri }

// StartedService reports whether Connect started the API service.
func (c *Client) StartedService() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.service != nil
}

// Version returns the podman version of the service (e.g. "4.3.1").
func (c *Client) Version(ctx context.Context) (string, error) {
	rep, err := system.Version(c.ctx(ctx), nil)
	if err != nil {
		return "", fmt.Errorf("podman version at %s: %w", c.uri, err)
	}
	if rep.Server == nil {
		return "", fmt.Errorf("podman version at %s: no server version in the answer", c.uri)
	}
	return rep.Server.Version, nil
}

// ctx returns a context with ctx's deadline and cancellation that also
// carries the bindings connection.
func (c *Client) ctx(ctx context.Context) context.Context {
	return bound{Context: ctx, conn: c.conn}
}

type bound struct {
	context.Context
	conn context.Context
}

func (b bound) Value(key any) any {
	if v := b.conn.Value(key); v != nil {
		return v
	}
	return b.Context.Value(key)
}

// fileTail returns about the last max bytes of a file, trimmed.
func fileTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}
