package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/airut-go/airut/internal/credentials"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/allowlist"
	"github.com/airut-go/airut/sandbox"
)

// workspace is where the checkout is mounted: the command's working
// directory.
const workspace = "/workspace"

// runKeep is how long the files of finished runs (their network logs)
// are kept in the state directory.
const runKeep = 7 * 24 * time.Hour

// runOptions are run's flags and the command to run.
type runOptions struct {
	image          imageOptions
	configFile     string
	allowlist      string
	timeout        string
	mounts         []string
	networkLog     string
	networkLogLive bool
	command        []string
}

func newRunCmd(a *app) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Run a command in the sandbox on the current directory",
		Long: `Run builds (or reuses) the image of --dockerfile, mounts the current
directory read-write at /workspace (the working directory) and runs COMMAND
there. Its stdout and stderr stream straight through; stdin is passed on when
it is not a terminal.

With the network sandbox on (the default), the container reaches only what
--allowlist allows, through a proxy that logs every request to --network-log
and puts the real values of masked secrets into requests to their hosts; the
container holds surrogates.

.airut/sandbox.yaml (--config; optional) sets:

  env:               {NAME: value, NAME2: !env HOST_VAR}
  pass_env:          [HOST_VAR, ...]      # unset ones are skipped
  masked_secrets:
    ANTHROPIC_API_KEY:
      value: !env ANTHROPIC_API_KEY
      scopes: [api.anthropic.com]
      headers: [x-api-key]               # optional
  signing_credentials:                    # AWS keys; requests are re-signed
    AWS:
      type: aws-sigv4
      access_key_id: !env AWS_ACCESS_KEY_ID
      secret_access_key: !env AWS_SECRET_ACCESS_KEY
      session_token: !env AWS_SESSION_TOKEN  # optional
      scopes: ["*.amazonaws.com"]
  network_sandbox:   true                 # false: no proxy, no allowlist
  resource_limits:   {timeout: 600, memory: 4g, cpus: 2, pids_limit: 1024}

A !env naming an unset variable stops the run (exit 125).

` + proxyHelp + `

Exit codes: the command's own; 124 timeout; 125 the sandbox or its settings
failed; 137 killed (out of memory: raise resource_limits.memory); 130/143
interrupted by SIGINT/SIGTERM.`,
		Example: `  airut-sandbox run -- make test
  airut-sandbox run --timeout 10m --network-log-live -- sh -c 'npm ci && npm test'
  echo "Review this change" | airut-sandbox run -- claude -p`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return sandboxError("no command given: airut-sandbox run [flags] -- COMMAND [ARG...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.command = args
			return a.run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	// Flags after the command are the command's.
	f.SetInterspersed(false)
	o.image.addFlags(cmd)
	f.StringVar(&o.configFile, "config", config.SandboxFilePath, "sandbox settings: env, pass_env, masked_secrets, signing_credentials, network_sandbox, resource_limits (a missing file means defaults)")
	f.StringVar(&o.allowlist, "allowlist", defaultAllowlist, "the network allowlist: the hosts and URL prefixes the command may reach")
	f.StringVar(&o.timeout, "timeout", "", "stop the command after this long: seconds or a duration like 10m (default resource_limits.timeout, else none)")
	f.StringArrayVar(&o.mounts, "mount", nil, "also mount SRC:DST[:ro] (host path, container path), repeatable")
	f.StringVar(&o.networkLog, "network-log", "", "append the proxy's log (JSON lines, one per request) to this file (default: a file in the state dir)")
	f.BoolVar(&o.networkLogLive, "network-log-live", false, "also print each request to stderr as it happens ([net] ALLOWED/BLOCKED ...)")
	return cmd
}

// run runs the command once and says how it ended as an exitError.
func (a *app) run(ctx context.Context, o runOptions) error {
	log := a.logger()
	dir, err := a.getwd()
	if err != nil {
		return sandboxError("current directory: %w", err)
	}

	// Everything that can be wrong with the settings is found before
	// Podman is asked for anything.
	settings, err := config.LoadSandboxFile(o.configFile, a.lookupEnv)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return sandboxError("%s is not valid, nothing was run:\n  %s", o.configFile, strings.ReplaceAll(errs.Error(), "\n", "\n  "))
		}
		return sandboxError("%w", err)
	}
	env := map[string]string{}
	maps.Copy(env, settings.Env)
	for _, name := range settings.PassEnv {
		if v, ok := a.lookupEnv(name); ok {
			env[name] = v
		} else {
			log.Info("pass_env: variable not set, skipped", "name", name)
		}
	}
	creds := proxy.Credentials{Masked: credentials.Masked(settings.MaskedSecrets), Signing: credentials.Signing(settings.SigningCredentials)}
	for _, name := range credentials.Names(creds) {
		if _, ok := env[name]; ok {
			log.Info("a credential's surrogate replaces the variable of the same name from env or pass_env", "name", name)
		}
	}
	timeout := settings.ResourceLimits.TimeoutDuration()
	if o.timeout != "" {
		if timeout, err = parseTimeout(o.timeout); err != nil {
			return err
		}
	}
	mounts := []sandbox.Mount{{Source: dir, Target: workspace}}
	for _, m := range o.mounts {
		mount, err := parseMount(m, dir)
		if err != nil {
			return err
		}
		mounts = append(mounts, mount)
	}
	sandboxed := settings.Sandboxed()
	var allow []byte
	if sandboxed {
		if allow, err = readAllowlist(o.allowlist, o.configFile); err != nil {
			return err
		}
	} else if o.networkLogLive || o.networkLog != "" {
		log.Warn("network_sandbox is false: there is no proxy, so no network log")
	}
	if !sandboxed && !creds.Empty() {
		log.Warn("network_sandbox is false: credentials reach the container as surrogates that nothing replaces", "variables", credentials.Names(creds))
	}
	imageSpec, err := o.image.spec()
	if err != nil {
		return err
	}
	id, err := newRunID()
	if err != nil {
		return sandboxError("run ID: %w", err)
	}
	runsDir := filepath.Join(a.global.stateDir, "runs")
	pruneRuns(runsDir, runKeep)
	runDir := filepath.Join(runsDir, id)
	netLog := o.networkLog
	if netLog == "" {
		netLog = filepath.Join(runDir, "network.log")
	} else if netLog, err = filepath.Abs(netLog); err != nil {
		return sandboxError("--network-log: %w", err)
	}

	sb, err := a.openSandbox(ctx, log, sandboxed)
	if err != nil {
		return err
	}
	defer sb.Close()
	image, err := sb.EnsureImage(ctx, imageSpec)
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		return sandboxError("image from %s: %w", o.image.dockerfile, err)
	}
	log.Info("image ready", "image", image)
	l := settings.ResourceLimits
	task, err := sb.NewTask(ctx, sandbox.TaskSpec{
		ID:                 id,
		Dir:                runDir,
		Image:              image,
		Mounts:             mounts,
		Env:                env,
		WorkDir:            workspace,
		MaskedSecrets:      creds.Masked,
		SigningCredentials: creds.Signing,
		Allowlist:          allow,
		NoNetworkSandbox:   !sandboxed,
		Limits:             sandbox.Limits{Memory: l.Memory, CPUs: l.CPUs, Pids: l.PidsLimit},
		Timeout:            timeout,
		Labels:             map[string]string{runLabel: id},
		NetworkLog:         netLog,
	})
	if err != nil {
		os.Remove(runDir)
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		return sandboxError("start the sandbox: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := task.Close(cctx); err != nil {
			log.Warn("cleanup after the run", "error", err)
		}
		os.Remove(runDir) // if empty: the network log went elsewhere
	}()
	attrs := []any{"task", id, "container", task.ContainerName(), "network_sandbox", sandboxed, "timeout", timeout}
	if sandboxed {
		attrs = append(attrs, "network_log", netLog)
	}
	log.Info("sandbox started", attrs...)

	cmd := sandbox.Command{Args: o.command, Stdout: a.stdout, Stderr: a.stderr}
	if a.stdinPiped {
		cmd.Stdin = a.stdin
	}
	var live *liveLog
	if o.networkLogLive && sandboxed {
		live = followLog(netLog, fileSize(netLog), a.stderr)
	}
	res, err := task.Run(ctx, cmd)
	if live != nil {
		live.Stop()
	}
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		return sandboxError("run the command: %w", err)
	}
	log.Info("command ended", "outcome", res.Outcome, "exit_code", res.ExitCode, "duration", res.Duration.Round(time.Millisecond), "blocked", res.Network.Blocked)
	if n := res.Network.Blocked; n > 0 {
		fmt.Fprintf(a.stderr, "airut-sandbox: the network sandbox blocked %d request(s): %s; every request is in %s; to allow one, add it to %s\n",
			n, strings.Join(res.Network.BlockedExamples, ", "), netLog, o.allowlist)
	}
	switch {
	case res.Outcome == sandbox.OutcomeCancelled:
		return a.interrupted(ctx)
	case res.Outcome == sandbox.OutcomeTimeout:
		return &exitError{code: exitTimeout, err: fmt.Errorf("timed out after %s; the container was stopped and removed (raise --timeout or resource_limits.timeout in %s)", timeout, o.configFile)}
	case res.OutOfMemory:
		return &exitError{code: res.ExitCode, err: fmt.Errorf("out of memory: the command was killed at resource_limits.memory (%s); raise resource_limits.memory in %s", l.Memory, o.configFile)}
	case res.ExitCode != 0:
		return &exitError{code: res.ExitCode}
	}
	return nil
}

// readAllowlist reads and checks the allowlist, naming the file in what
// it says is wrong.
func readAllowlist(path, configFile string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sandboxError("%s: no such file: with the network sandbox on, the allowlist says what the command may reach; write one (an empty file blocks everything), pass --allowlist, or set network_sandbox: false in %s", path, configFile)
	}
	if err != nil {
		return nil, sandboxError("read the allowlist: %w", err)
	}
	if _, err := allowlist.Parse(data); err != nil {
		return nil, sandboxError("%s is not valid, nothing was run: %v", path, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		// The package wants some bytes; an empty list blocks everything.
		data = []byte("domains: []\n")
	}
	return data, nil
}

// newRunID names a run: "cli-" and eight random hex digits, so runs on
// one host never share a container, proxy or network.
func newRunID() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "cli-" + hex.EncodeToString(b), nil
}

// pruneRuns removes the files of runs older than keep.
func pruneRuns(dir string, keep time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || !strings.HasPrefix(e.Name(), "cli-") || time.Since(info.ModTime()) < keep {
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
