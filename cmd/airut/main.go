// Command airut runs Claude Code for people who send it tasks: one binary
// for the embedded Temporal server, the workers, the channel listeners and
// the operator commands (send, status, stop, retry, init, check).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workers"
)

// Exit codes, as in the reference: 1 config error, 2 usage/init error,
// 3 runtime error.
const (
	exitConfig  = 1
	exitUsage   = 2
	exitRuntime = 3
)

// exitError carries an exit code to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// app holds what every command shares: where the config is and where to
// write. Commands get it explicitly; nothing is package-level.
type app struct {
	v      *viper.Viper
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
	// cfg is the config once loaded: a command that needs both the config
	// and a client reads the file once.
	cfg *config.Config
}

// ioStreams are where a command reads and writes.
type ioStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// deps are what an operator command takes from outside: streams, config
// and a Temporal client. The cobra command fills them from the app; tests
// fill them with buffers, a config literal and a mock client, so the run
// functions are tested without a server.
type deps struct {
	IO     ioStreams
	Config func() (*config.Config, error)
	// ConfigPath is the config file, for what is said of it when it
	// does not load (a func: the --config flag is read when the command
	// runs).
	ConfigPath func() string
	// Client dials Temporal; the caller closes what it returns.
	Client func(context.Context) (client.Client, error)
}

func (a *app) deps() deps {
	return deps{
		IO:         ioStreams{In: a.stdin, Out: a.stdout, ErrOut: a.stderr},
		Config:     a.loadConfig,
		ConfigPath: a.configPath,
		Client: func(ctx context.Context) (client.Client, error) {
			cfg, err := a.loadConfig()
			if err != nil {
				return nil, err
			}
			return a.dial(ctx, cfg)
		},
	}
}

func (a *app) configPath() string {
	if p := a.v.GetString("config"); p != "" {
		return p
	}
	return config.DefaultPath()
}

func (a *app) logger() *slog.Logger {
	level := slog.LevelInfo
	if a.v.GetBool("debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if a.v.GetString("log-format") == "json" {
		// One JSON object per line, for a log shipper.
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

func (a *app) loadConfig() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	cfg, err := config.Load(a.configPath())
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("config not loaded, nothing started:\n%w", err))
	}
	a.cfg = cfg
	return cfg, nil
}

// temporalAddress is the address to dial: the remote cluster, or the
// embedded server's frontend.
func temporalAddress(cfg *config.Config) string {
	if cfg.Temporal.Address != "" {
		return cfg.Temporal.Address
	}
	return fmt.Sprintf("%s:%d", cfg.Temporal.Embedded.IP, cfg.Temporal.Embedded.FrontendPort)
}

// dial connects a client for the operator commands.
func (a *app) dial(ctx context.Context, cfg *config.Config) (client.Client, error) {
	c, err := workers.Dial(ctx, cfg.Temporal, temporalAddress(cfg), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		if cfg.Temporal.Address == "" {
			err = fmt.Errorf("%w\nis `airut run` (or `airut server`) running? start it with `make run`", err)
		}
		return nil, withCode(exitRuntime, err)
	}
	return c, nil
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "airut",
		Short:         "Run Claude Code on your repositories from email, Slack or the command line",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if f := a.v.GetString("log-format"); f != "text" && f != "json" {
				return withCode(exitUsage, fmt.Errorf("--log-format %q: use text or json", f))
			}
			return nil
		},
	}
	root.PersistentFlags().String("config", "", "config file (default $AIRUT_CONFIG or "+config.DefaultPath()+")")
	root.PersistentFlags().Bool("debug", false, "debug logging")
	a.v.BindPFlag("config", root.PersistentFlags().Lookup("config"))
	a.v.BindPFlag("debug", root.PersistentFlags().Lookup("debug"))
	root.PersistentFlags().String("log-format", "text", "log format: text (key=value) or json (one object per line)")
	root.PersistentFlags().Int("metrics-port", 0, "serve Prometheus metrics at /metrics on this port (on metrics.host); overrides metrics.port")
	a.v.BindPFlag("metrics-port", root.PersistentFlags().Lookup("metrics-port"))
	a.v.BindPFlag("log-format", root.PersistentFlags().Lookup("log-format"))
	a.v.SetEnvPrefix("AIRUT")
	a.v.BindEnv("config")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.AddCommand(
		newRunCmd(a), newWorkerCmd(a), newServerCmd(a), newIngestCmd(a), newDashboardCmd(a),
		newSendCmd(a), newStatusCmd(a), newStopCmd(a), newRetryCmd(a),
		newInitCmd(a), newCheckCmd(a), newUpdateCmd(a), newDrainCmd(a), newScheduleCmd(a),
		newInstallServiceCmd(a), newUninstallServiceCmd(a),
	)
	return root
}

// version names this build; workers report it to Temporal as their
// binary checksum (set here so the SDK does not hash the 200 MB binary at
// every start, which costs a third of a second).
var version = "dev"

func main() {
	worker.SetBinaryChecksum("airut-" + version)
	a := &app{v: viper.New(), stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, a, os.Args[1:])
	stop()
	os.Exit(code)
}

// execute runs one command line, prints its error (if any) to stderr and
// returns the exit code.
func execute(ctx context.Context, a *app, args []string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, "airut:", err)
	}
	return exitCode(err)
}

// exitCode is the process's exit code for what a command returned: the
// code it carries, else a usage error (cobra's own errors: unknown flag,
// wrong number of arguments).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}
