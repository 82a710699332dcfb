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
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

func (a *app) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(a.configPath())
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("config not loaded, nothing started:\n%w", err))
	}
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
	c, err := workers.Dial(ctx, cfg.Temporal, temporalAddress(cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	}
	root.PersistentFlags().String("config", "", "config file (default $AIRUT_CONFIG or "+config.DefaultPath()+")")
	root.PersistentFlags().Bool("debug", false, "debug logging")
	a.v.BindPFlag("config", root.PersistentFlags().Lookup("config"))
	a.v.BindPFlag("debug", root.PersistentFlags().Lookup("debug"))
	a.v.SetEnvPrefix("AIRUT")
	a.v.BindEnv("config")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.AddCommand(
		newRunCmd(a), newWorkerCmd(a), newServerCmd(a), newIngestCmd(a),
		newSendCmd(a), newStatusCmd(a), newStopCmd(a), newRetryCmd(a),
		newInitCmd(a), newCheckCmd(a),
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
	defer stop()
	err := newRootCmd(a).ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "airut:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(exitUsage)
}
