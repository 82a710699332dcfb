package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airut-go/airut/sandbox"
)

// Defaults of the flags naming the checkout's files.
const (
	defaultDockerfile = ".airut/container/Dockerfile"
	defaultAllowlist  = ".airut/network-allowlist.yaml"
)

// cliLabel marks every container and network airut-sandbox creates;
// runLabel names the run.
const (
	cliLabel = "airut.cli"
	runLabel = "airut.cli.run"
)

// imageOptions say where the image comes from; run and the image
// commands share them.
type imageOptions struct {
	dockerfile  string
	contextDir  string
	maxImageAge int // hours
}

func (o *imageOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	if cmd.HasSubCommands() {
		f = cmd.PersistentFlags()
	}
	f.StringVar(&o.dockerfile, "dockerfile", defaultDockerfile, "the Dockerfile of the container's image")
	f.StringVar(&o.contextDir, "context-dir", "", "its build context: the files beside it, no subdirectories (default: the Dockerfile's directory)")
	f.IntVar(&o.maxImageAge, "max-image-age", 24, "hours an image may age before it is rebuilt without the layer cache (0: rebuild every time)")
}

// spec reads the Dockerfile and the files of its build context.
func (o *imageOptions) spec() (sandbox.ImageSpec, error) {
	if o.maxImageAge < 0 {
		return sandbox.ImageSpec{}, sandboxError("--max-image-age %d: must be 0 (rebuild every time) or more hours", o.maxImageAge)
	}
	spec, err := sandbox.ImageFromFiles(o.dockerfile, o.contextDir, time.Duration(o.maxImageAge)*time.Hour)
	if errors.Is(err, sandbox.ErrNoDockerfile) {
		return sandbox.ImageSpec{}, sandboxError("%s: no such file: the container's image is built from it; write one (FROM an image with /bin/sh) or pass --dockerfile", o.dockerfile)
	}
	if err != nil {
		return sandbox.ImageSpec{}, sandboxError("%w (--dockerfile, --context-dir)", err)
	}
	return spec, nil
}

// openSandbox connects to Podman (starting its API service when none
// answers) with the global options.
func (a *app) openSandbox(ctx context.Context, log *slog.Logger, needProxy bool) (*sandbox.Sandbox, error) {
	g := a.global
	proxyBin := g.proxyBinary
	if needProxy {
		var err error
		if proxyBin, err = findProxy(proxyBin); err != nil {
			return nil, &exitError{code: exitSandbox, err: err}
		}
	}
	sb, err := sandbox.New(ctx, sandbox.Options{
		PodmanURI:          g.podmanURL,
		StartPodmanService: true,
		StateDir:           g.stateDir,
		ProxyBinary:        proxyBin,
		EgressNetwork:      g.egressNetwork,
		UpstreamCAFile:     g.upstreamCAFile,
		Labels:             map[string]string{cliLabel: "true"},
		Log:                log,
	})
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return nil, ierr
		}
		return nil, &exitError{code: exitSandbox, err: err}
	}
	return sb, nil
}

// findProxy finds the static airut-proxy binary as the sandbox package
// does, to say in airut-sandbox's own words what to do when it is
// missing.
func findProxy(given string) (string, error) {
	p, err := sandbox.FindProxyBinary(given)
	switch {
	case err == nil:
		return p, nil
	case given != "":
		return "", fmt.Errorf("--proxy-binary: %w", err)
	}
	return "", fmt.Errorf("the static airut-proxy binary, which the network sandbox is made of, was not found next to airut-sandbox or on PATH: install it beside airut-sandbox (CGO_ENABLED=0 go build -o DIR/airut-proxy ./cmd/airut-proxy), or pass --proxy-binary")
}

// parseMount reads --mount SRC:DST[:ro|:rw]; a relative SRC is taken
// from dir.
func parseMount(spec, dir string) (sandbox.Mount, error) {
	bad := func(why string) (sandbox.Mount, error) {
		return sandbox.Mount{}, sandboxError("--mount %q: %s", spec, why)
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return bad("want SRC:DST or SRC:DST:ro (a host path, a path in the container, optionally read-only)")
	}
	m := sandbox.Mount{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return bad(fmt.Sprintf("unknown option %q (want ro or rw)", parts[2]))
		}
	}
	if !filepath.IsAbs(m.Source) {
		m.Source = filepath.Join(dir, m.Source)
	}
	if !filepath.IsAbs(m.Target) {
		return bad(fmt.Sprintf("the container path %s must be absolute", m.Target))
	}
	if t := filepath.Clean(m.Target); t == workspace || t == "/" {
		return bad(fmt.Sprintf("%s is taken: the checkout is mounted at %s", t, workspace))
	}
	if _, err := os.Stat(m.Source); err != nil {
		return bad(fmt.Sprintf("the host path %s does not exist", m.Source))
	}
	return m, nil
}

// parseTimeout reads --timeout: whole seconds or a Go duration; 0 for
// none.
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, sandboxError("--timeout %s: must not be negative", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, sandboxError("--timeout %q: want seconds (300) or a duration (5m, 90s)", s)
	}
	return d, nil
}
