package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/workers"
	"github.com/airut-go/airut/workers/embedded"
	"github.com/airut-go/airut/workflows"
)

// serveOptions selects what one process runs.
type serveOptions struct {
	// server starts the embedded Temporal server (when no address is set).
	server bool
	// worker starts this host's workers.
	worker bool
	// listen starts the channel listeners.
	listen bool
	// initRepo writes a local default config for this checkout when there
	// is no config file.
	initRepo string
}

func newRunCmd(a *app) *cobra.Command {
	opts := serveOptions{server: true, worker: true, listen: true}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run everything in one process: embedded Temporal server and Web UI, worker, listeners",
		Long: `Run starts the embedded Temporal server (SQLite in the state dir, so
conversations survive restarts) with its Web UI, and this host's worker.
With temporal.address set in the config, no embedded server starts.

With no config file and --init-repo PATH, a local config whose only repo is
that checkout is written first.

When nothing answers on the podman socket (podman_socket), run starts
"podman system service" there; it ends with airut, also when airut is
killed or crashes. A podman service already listening is used as it is and
left running; the log says which it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return serve(cmd.Context(), a, opts) },
	}
	cmd.Flags().StringVar(&opts.initRepo, "init-repo", "", "write a local default config for this checkout if none exists")
	return cmd
}

func newWorkerCmd(a *app) *cobra.Command {
	opts := serveOptions{worker: true}
	return &cobra.Command{
		Use:   "worker",
		Short: "Run this host's worker against temporal.address (or a local `airut server`)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return serve(cmd.Context(), a, opts) },
	}
}

func newServerCmd(a *app) *cobra.Command {
	opts := serveOptions{server: true}
	return &cobra.Command{
		Use:   "server",
		Short: "Run only the embedded Temporal server and its Web UI",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return serve(cmd.Context(), a, opts) },
	}
}

// serve runs until ctx is cancelled (SIGINT/SIGTERM).
func serve(ctx context.Context, a *app, opts serveOptions) error {
	began := time.Now()
	log := a.logger()
	path := a.configPath()
	if opts.initRepo != "" {
		abs, err := filepath.Abs(opts.initRepo)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--init-repo: %w", err))
		}
		// The checkout's committed allowlist turns the sandbox on.
		hasAllowlist := exec.CommandContext(ctx, "git", "-C", abs, "cat-file", "-e", "HEAD:"+sandbox.AllowlistPath).Run() == nil
		wrote, err := config.WriteIfMissing(path, config.LocalDefault(abs, hasAllowlist))
		if err != nil {
			return withCode(exitConfig, err)
		}
		if wrote {
			log.Info("wrote a local default config", "file", path, "repo", abs, "network_sandbox", hasAllowlist)
		}
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	if len(cfg.Repos) == 0 && opts.worker {
		log.Warn("no repos configured; tasks cannot run until one is added", "config", path)
	}
	for key, name := range cfg.UnsetEnv {
		log.Warn("environment variable not set", "key", key, "variable", name)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return withCode(exitRuntime, fmt.Errorf("create state dir: %w", err))
	}

	address := temporalAddress(cfg)
	if opts.server && cfg.Temporal.Address == "" {
		attrs := map[string]enums.IndexedValueType{}
		for _, n := range workflows.SearchAttributeNames() {
			attrs[n] = enums.INDEXED_VALUE_TYPE_KEYWORD
		}
		e := cfg.Temporal.Embedded
		srv, err := embedded.Start(ctx, embedded.Options{
			DatabaseFile: e.DatabaseFile, IP: e.IP, FrontendPort: e.FrontendPort, UIPort: e.UIPort, UIReadOnly: e.UIReadOnly,
			Namespace: cfg.Temporal.Namespace, SearchAttributes: attrs, Logger: log,
		})
		if err != nil {
			return withCode(exitRuntime, fmt.Errorf("start embedded temporal server: %w", err))
		}
		defer srv.Stop()
		address = srv.FrontendAddress()
		log.Info("temporal server ready", "frontend", address, "web_ui", srv.UIAddress(), "database", e.DatabaseFile)
	} else if opts.server {
		log.Info("using remote temporal service; no embedded server", "address", address)
	}

	var c client.Client
	if opts.worker || opts.listen {
		c, err = workers.Dial(ctx, cfg.Temporal, address, log)
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer c.Close()
	}
	if opts.worker {
		stopService, err := ensurePodmanService(ctx, cfg.PodmanSocket, log)
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer stopService()
		pod, err := podman.Connect(ctx, podman.ConnectOptions{URI: cfg.PodmanSocket, Logger: log})
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer pod.Close()
		h, err := workers.Start(ctx, workers.Options{Client: c, Config: func() *config.Config { return cfg }, Podman: pod, Log: log})
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer h.Stop()
	}
	if opts.listen {
		n, wait := startListeners(ctx, cfg, c, log)
		defer wait()
		if n == 0 && !opts.worker {
			log.Warn("no channel accounts configured; nothing to listen to")
		}
	}
	log.Info("airut ready", "startup", time.Since(began).Round(time.Millisecond), "config", path, "repos", len(cfg.Repos))
	if opts.worker && len(cfg.Repos) > 0 {
		log.Info("send a task with: airut send --repo " + cfg.RepoIDs()[0] + " --wait \"your request\"")
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// podmanServiceCommand serves the podman API on sock for as long as this
// process lives. The kernel sends the service SIGTERM when airut dies,
// however it dies (a crash, SIGKILL, the OOM killer), so no orphaned
// service keeps running without the airut that started it.
func podmanServiceCommand(bin, sock string) *exec.Cmd {
	cmd := exec.Command(bin, "system", "service", "--time=0", "unix://"+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGTERM,
		// Own process group, so a Ctrl-C aimed at airut's foreground job
		// does not take the service down while the worker still needs it
		// to clean up.
		Setpgid: true,
	}
	return cmd
}

// ensurePodmanService makes sure a podman API service answers at uri (""
// is podman's default address). One that is already listening (the
// system's podman.socket, or one the operator runs) is used as it is,
// said so in the log, and left running. Otherwise airut starts one with
// podmanServiceCommand; stop ends it at a clean shutdown, and the kernel
// at any other. Addresses other than unix sockets are left to
// podman.Connect.
func ensurePodmanService(ctx context.Context, uri string, log *slog.Logger) (stop func(), err error) {
	if uri == "" {
		uri = podman.DefaultURI()
	}
	nothing := func() {}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "unix" {
		return nothing, nil
	}
	sock := u.Path
	if u.Host != "" { // unix://run/podman/podman.sock
		sock = "/" + u.Host + u.Path
	}
	if socketAnswers(ctx, sock) {
		log.Info("using the podman API service already listening; airut did not start it and leaves it running", "uri", uri)
		return nothing, nil
	}
	unreachable := func(err error) error {
		return fmt.Errorf("podman API not reachable at %s: install podman (apt-get install podman) or start it with `systemctl enable --now podman.socket`: %w", uri, err)
	}
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, unreachable(errors.New("nothing listens on " + sock + " and there is no podman binary on PATH to start the service with"))
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return nil, unreachable(err)
	}
	// A file, not a pipe to this process: what the service says is read
	// only when it fails to start.
	logFile, err := os.CreateTemp("", "podman-service-*.log")
	if err != nil {
		return nil, unreachable(fmt.Errorf("create the service's log file: %w", err))
	}
	defer logFile.Close() // the service has its own copy
	cmd := podmanServiceCommand(bin, sock)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	svc, err := startTied(cmd)
	if err != nil {
		os.Remove(logFile.Name())
		return nil, unreachable(fmt.Errorf("start %s system service: %w", bin, err))
	}
	stop = func() {
		svc.stop(5 * time.Second)
		os.Remove(logFile.Name())
	}
	begun := time.Now()
	deadline := time.NewTimer(podman.DefaultStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !socketAnswers(ctx, sock) {
		select {
		case <-svc.exited:
			msg := fileTail(logFile.Name(), 4096)
			os.Remove(logFile.Name())
			return nil, unreachable(fmt.Errorf("`podman system service` exited (%v): %s", svc.err, msg))
		case <-ctx.Done():
			stop()
			return nil, unreachable(fmt.Errorf("waiting for the started service: %w", ctx.Err()))
		case <-deadline.C:
			msg := fileTail(logFile.Name(), 4096)
			stop()
			return nil, unreachable(fmt.Errorf("started `podman system service` did not answer within %s: %s", podman.DefaultStartTimeout, msg))
		case <-tick.C:
		}
	}
	log.Info("started podman API service; it ends with airut", "uri", uri, "pid", cmd.Process.Pid,
		"log", logFile.Name(), "took", time.Since(begun).Round(time.Millisecond))
	return stop, nil
}

// tiedProcess is a child started by startTied.
type tiedProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited; err is then set
	err    error
}

// startTied starts cmd from a goroutine that keeps its OS thread until cmd
// exits. The kernel sends Pdeathsig when the thread that started the
// child ends, not the process (go.dev/issue/27505), and the Go runtime
// may end an idle thread; a thread locked to a goroutine that is still
// waiting is never ended.
func startTied(cmd *exec.Cmd) (*tiedProcess, error) {
	p := &tiedProcess{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Returning without UnlockOSThread ends the thread, which is
		// what must happen only after the child has gone.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop sends SIGTERM and, if the process has not exited after grace,
// SIGKILL; it returns once the process has exited.
func (p *tiedProcess) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// socketAnswers reports whether something accepts connections on sock.
func socketAnswers(ctx context.Context, sock string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// fileTail returns the last max bytes of the file at path, trimmed.
func fileTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, 0)
	}
	b := make([]byte, max)
	n, _ := f.Read(b)
	return strings.TrimSpace(string(b[:n]))
}
