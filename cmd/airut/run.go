package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/airut-go/airut/ingest/listeners"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/metrics"
	"github.com/airut-go/airut/internal/operate"
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
	// dashboard serves the web dashboard (with run: if dashboard.enabled).
	dashboard bool
	// name is the process's name in `airut status` (its command).
	name string
	// initRepo writes a local default config for this checkout when there
	// is no config file.
	initRepo string
}

func newRunCmd(a *app) *cobra.Command {
	opts := serveOptions{name: "run", server: true, worker: true, listen: true, dashboard: true}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run everything in one process: embedded Temporal server and Web UI, worker, listeners, dashboard",
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
	opts := serveOptions{name: "worker", worker: true}
	return &cobra.Command{
		Use:   "worker",
		Short: "Run this host's worker against temporal.address (or a local `airut server`)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return serve(cmd.Context(), a, opts) },
	}
}

func newServerCmd(a *app) *cobra.Command {
	opts := serveOptions{name: "server", server: true}
	return &cobra.Command{
		Use:   "server",
		Short: "Run only the embedded Temporal server and its Web UI",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return serve(cmd.Context(), a, opts) },
	}
}

func newIngestCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ingest",
		Short: "Run only the channel listeners (email, Slack), against temporal.address or a local `airut server`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd.Context(), a, serveOptions{name: "ingest", listen: true})
		},
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

	live := config.NewLive(cfg, began)
	rl := &reloader{live: live, process: opts.process(cfg), log: log}

	// The SDK's workflow cache is one per process, sized before any worker
	// starts: the embedded server's own workers (schedules, system
	// workflows) start first and would fix it at the SDK's default.
	worker.SetStickyWorkflowCacheSize(cfg.Worker.WorkflowCacheSize)
	address := temporalAddress(cfg)
	temporalUI := ""
	if opts.server && cfg.Temporal.Address == "" {
		attrs := map[string]enums.IndexedValueType{}
		for _, n := range workflows.SearchAttributeNames() {
			attrs[n] = enums.INDEXED_VALUE_TYPE_KEYWORD
		}
		e := cfg.Temporal.Embedded
		srv, err := embedded.Start(ctx, embedded.Options{
			DatabaseFile: e.DatabaseFile, Postgres: embeddedPostgres(e.Persistence),
			IP: e.IP, FrontendPort: e.FrontendPort, UIPort: e.UIPort, UIReadOnly: e.UIReadOnly,
			Namespace: cfg.Temporal.Namespace, SearchAttributes: attrs, Logger: log,
		})
		if err != nil {
			return withCode(exitRuntime, fmt.Errorf("start embedded temporal server: %w", err))
		}
		defer srv.Stop()
		address = srv.FrontendAddress()
		temporalUI = srv.UIAddress()
		log.Info("temporal server ready", "frontend", address, "web_ui", srv.UIAddress(), "database", srv.Database())
	} else if opts.server {
		log.Info("using remote temporal service; no embedded server", "address", address)
	}

	m := metrics.New()
	var metricsURL string
	// The flag overrides the file, also in every version a reload loads,
	// or the file's port would show as waiting for a restart.
	if a.v.IsSet("metrics-port") {
		port := a.v.GetInt("metrics-port")
		rl.adjust = func(c *config.Config) { c.Metrics.Port = port }
		rl.adjust(cfg)
	}
	if addr := cfg.Metrics.Addr(); addr != "" {
		la, err := m.Serve(ctx, addr, log)
		if err != nil {
			return withCode(exitRuntime, err)
		}
		metricsURL = "http://" + la.String() + "/metrics"
	}

	var c client.Client
	// With run, the dashboard follows dashboard.enabled; `airut dashboard`
	// serves it whatever that says.
	serveDashboard := opts.dashboard && (cfg.Dashboard.Enabled || !opts.worker)
	if opts.worker || opts.listen || serveDashboard {
		c, err = workers.Dial(ctx, cfg.Temporal, address, log, m.Temporal())
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer c.Close()
	}
	if opts.worker {
		sb, err := workers.NewSandbox(ctx, cfg, log)
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer sb.Close()
		removePID, err := writePID(cfg.WorkerPIDFile(cfg.Worker.HostID))
		if err != nil {
			return withCode(exitRuntime, fmt.Errorf("record the worker's PID: %w", err))
		}
		defer removePID()
		h, err := workers.Start(ctx, workers.Options{Client: c, Config: live.Config, Sandbox: sb, Log: log, Metrics: m})
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer h.Stop()
	}
	if opts.listen {
		// The process that takes the channels' messages in also makes
		// the schedules, which start conversations the same way.
		syncSchedules(ctx, c, cfg, log)
		rl.schedules = c
		rl.listeners = &listeners.Set{Temporal: c, Metrics: m, Log: log, Options: operate.ConversationOptions}
		rl.listeners.Apply(ctx, cfg)
		defer rl.listeners.Wait()
		if rl.listeners.Count() == 0 && !opts.worker {
			log.Warn("no channel accounts configured; nothing to listen to")
		}
	}
	// Every process follows the file: the worker for the next task's
	// settings, the listeners for the channels, and each reports what
	// waits for its restart.
	rl.record()
	defer rl.forget()
	go rl.watch(ctx)
	ready := []any{"startup", time.Since(began).Round(time.Millisecond), "config", path, "repos", len(cfg.Repos)}
	if serveDashboard {
		host := ""
		if opts.worker {
			host = cfg.Worker.HostID
		}
		d, err := startDashboard(ctx, live.Config, c, host, temporalUI, log)
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer d.stop()
		ready = append(ready, "dashboard", d.URL)
	}
	if metricsURL != "" {
		ready = append(ready, "metrics", metricsURL)
	}
	log.Info("airut ready", ready...)
	if opts.worker && len(cfg.Repos) > 0 {
		log.Info("send a task with: airut send --repo " + cfg.RepoIDs()[0] + " --wait \"your request\"")
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// process names the process for its config status: its command, and
// the host for a process that runs a worker (one state dir may serve
// several hosts' workers in tests and on shared storage).
func (o serveOptions) process(cfg *config.Config) string {
	if o.worker {
		return o.name + "-" + cfg.Worker.HostID
	}
	return o.name
}

// embeddedPostgres is the embedded server's PostgreSQL, nil for SQLite.
func embeddedPostgres(p config.Persistence) *embedded.Postgres {
	if p.Driver != config.PersistencePostgres {
		return nil
	}
	return &embedded.Postgres{Host: p.Host, Port: p.Port, User: p.User, Password: p.Password,
		Database: p.Database, VisibilityDatabase: p.VisibilityDatabase, MaxConns: p.MaxConns,
		TLS: embedded.PostgresTLS{Enabled: p.TLS.Enabled, CAFile: p.TLS.CAFile, ServerName: p.TLS.ServerName}}
}
