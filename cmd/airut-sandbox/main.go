// Command airut-sandbox runs a command in Airut's sandbox: the container
// and network isolation Airut gives its agents, for CI pipelines and
// scripts that run code nobody has reviewed yet (an agent's pull request,
// say), or Claude Code itself.
//
//	airut-sandbox run [flags] -- COMMAND [ARG...]
//
// The current directory (a checkout) is mounted read-write at /workspace,
// the command's working directory, in a container built from
// .airut/container/Dockerfile. With the network sandbox on (the default)
// the container's only way out is a proxy that lets through the HTTP(S)
// requests .airut/network-allowlist.yaml allows, logs every request and
// puts the real values of masked secrets (.airut/sandbox.yaml) into
// requests to their hosts only: the container holds surrogates.
//
// The image commands serve CI caches: `image hash` prints the content
// hashes that name the images (cache keys), `image save DIR` and `image
// load DIR` move them between machines, `image build` builds ahead.
//
// It needs root, Podman (its API service is started for the run when
// none answers) and the static airut-proxy binary, next to airut-sandbox
// or on PATH (or --proxy-binary).
//
// Exit codes:
//
//	N    the command's own exit code
//	124  the command timed out (--timeout, resource_limits.timeout)
//	125  the sandbox could not run it: bad settings, flags, allowlist,
//	     Dockerfile, or Podman failed; stderr says what to fix
//	137  killed by SIGKILL, e.g. out of memory (stderr then says to raise
//	     resource_limits.memory)
//	130  interrupted (SIGINT); 143: terminated (SIGTERM). The container is
//	     stopped and removed either way.
//
// Each run is a task "cli-" plus eight random hex digits, so runs on one
// host do not collide: container airut-cli-<hex>, proxy
// airut-proxy-cli-<hex>, network airut-conv-cli-<hex>, all labelled
// airut.cli=true and airut.cli.run=cli-<hex>. docs/airut-sandbox.md is the
// user's guide.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/airut-go/airut/internal/config"
)

// Exit codes besides the command's own.
const (
	exitTimeout = 124
	exitSandbox = 125
)

// exitError carries an exit code to main; err is printed unless nil.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// sandboxError is a failure of the sandbox or its settings: exit 125.
func sandboxError(format string, args ...any) error {
	return &exitError{code: exitSandbox, err: fmt.Errorf(format, args...)}
}

// globalOptions are the flags every command takes: logging and where
// the sandbox's parts are.
type globalOptions struct {
	verbose        bool
	stateDir       string
	podmanURL      string
	egressNetwork  string
	upstreamCAFile string
	proxyBinary    string
}

// app is what the commands take from outside: streams, the environment,
// the working directory and the signal that interrupted the process.
// main fills it from the process; nothing is package-level.
type app struct {
	stdin io.Reader
	// stdinPiped: stdin is a pipe or file (not a terminal), so the command
	// gets it.
	stdinPiped bool
	stdout     io.Writer
	stderr     io.Writer
	lookupEnv  func(string) (string, bool)
	getwd      func() (string, error)
	// signal is the signal that cancelled the command's context, or nil.
	signal func() os.Signal
	global globalOptions
}

func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.global.verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// interrupted is the error for a command stopped by a signal: exit
// 128+signal (130 for SIGINT, 143 for SIGTERM).
func (a *app) interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	sig, _ := a.signal().(syscall.Signal)
	if sig == 0 {
		sig = syscall.SIGINT
	}
	return &exitError{code: 128 + int(sig), err: fmt.Errorf("stopped by %s; the container (if one ran) was stopped and removed", signalName(sig))}
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

const proxyHelp = `The network sandbox is made of the static airut-proxy binary, looked for
next to airut-sandbox, then on PATH (or give --proxy-binary).`

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "airut-sandbox",
		Short: "Run a command in Airut's container and network sandbox (for CI)",
		Long: `airut-sandbox runs a command in the sandbox Airut runs its agents in: a
container built from .airut/container/Dockerfile, with the current directory
at /workspace, whose only way out is a proxy enforcing
.airut/network-allowlist.yaml and swapping masked secrets for their real
values on their hosts only.

It needs root and Podman (its API service is started when none answers).
` + proxyHelp + `

Exit codes: the command's own; 124 timeout; 125 the sandbox or its settings
failed (stderr says what to fix); 137 killed (out of memory: raise
resource_limits.memory); 130/143 interrupted by SIGINT/SIGTERM.

See docs/airut-sandbox.md.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	g := &a.global
	pf := root.PersistentFlags()
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log what the sandbox does (image builds, start) to stderr; default: warnings only")
	pf.StringVar(&g.stateDir, "state-dir", config.SandboxStateDir(), "advanced: where the sandbox keeps its CA, run files and network logs")
	pf.StringVar(&g.podmanURL, "podman-url", "", "advanced: Podman API address (default $CONTAINER_HOST, else the rootful socket)")
	pf.StringVar(&g.egressNetwork, "egress-network", "", "advanced: Podman network the proxy reaches upstream servers on (default airut-egress, created when missing)")
	pf.StringVar(&g.upstreamCAFile, "upstream-ca-file", "", "advanced: PEM file of extra CAs the proxy trusts for upstream servers (e.g. a TLS-intercepting corporate proxy)")
	pf.StringVar(&g.proxyBinary, "proxy-binary", "", "advanced: the static airut-proxy binary (default: next to airut-sandbox, else on PATH)")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitSandbox, err: err}
	})
	root.AddCommand(newRunCmd(a), newImageCmd(a))
	return root
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu  sync.Mutex
		got os.Signal
	)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		mu.Lock()
		got = s
		mu.Unlock()
		cancel()
		for range sigs {
			fmt.Fprintln(os.Stderr, "airut-sandbox: stopping the container and cleaning up; please wait")
		}
	}()
	a := &app{
		stdin: os.Stdin, stdinPiped: piped(os.Stdin), stdout: os.Stdout, stderr: os.Stderr,
		lookupEnv: os.LookupEnv, getwd: os.Getwd,
		signal: func() os.Signal { mu.Lock(); defer mu.Unlock(); return got },
	}
	code := execute(ctx, a, os.Args[1:])
	cancel()
	os.Exit(code)
}

// piped reports whether f is a pipe or a file rather than a terminal (or
// /dev/null, which gives the same EOF as no stdin).
func piped(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice == 0
}

// execute runs one command line, prints its error (if any) to stderr and
// returns the exit code.
func execute(ctx context.Context, a *app, args []string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// cobra's own errors: unknown command, wrong arguments.
		ee = &exitError{code: exitSandbox, err: err}
	}
	if ee.err != nil {
		fmt.Fprintln(a.stderr, "airut-sandbox:", ee.err)
	}
	return ee.code
}
