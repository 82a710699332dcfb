package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// updateOptions is `airut update`: where the new binary comes from, and
// how long to wait for this host's running tasks.
type updateOptions struct {
	binary  string // a built airut binary to install
	version string // or a Go module version to build with `go install`
	force   bool
	wait    time.Duration
	// target is the binary being replaced (default: this one).
	target string
	// restart restarts the installed services; nil means systemctl.
	restart func(ctx context.Context) (string, error)
	// poll is the pause between looks at the running tasks.
	poll time.Duration
}

func newUpdateCmd(a *app) *cobra.Command {
	o := &updateOptions{poll: 5 * time.Second}
	cmd := &cobra.Command{
		Use:   "update (--binary PATH | --version VERSION)",
		Short: "Replace this airut binary with a new one, check it, restart the services; roll back if the check fails",
		Long: `Update installs a new airut binary in place of this one:

  1. waits until no agent task runs on this host (--wait bounds the wait;
     --force skips it: running tasks are then handed back at the restart
     and resume);
  2. installs the new binary (--binary PATH, or --version v1.2.3 built with
     go install), keeping the old one as <binary>.previous;
  3. runs "airut check" with the new binary and this config; if it fails,
     puts the old binary back and says why;
  4. restarts the airut services installed with install-service.

Workflows started by the old binary continue under the new one: workflow
changes are versioned and replay-tested against recorded histories.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runUpdate(cmd.Context(), a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.binary, "binary", "", "path of the new airut binary")
	f.StringVar(&o.version, "version", "", "module version to build and install (needs the Go toolchain), e.g. v1.2.3 or latest")
	f.BoolVar(&o.force, "force", false, "do not wait for running tasks")
	f.DurationVar(&o.wait, "wait", 2*time.Hour, "how long to wait for running tasks before giving up")
	return cmd
}

// modulePath is what --version builds.
const modulePath = "github.com/airut-go/airut/cmd/airut"

// buildTags are the Makefile's TAGS (the podman bindings' build tags):
// --version builds the binary as make build does.
const buildTags = "remote,exclude_graphdriver_btrfs,btrfs_noversion,exclude_graphdriver_devicemapper,containers_image_openpgp"

func runUpdate(ctx context.Context, a *app, o *updateOptions) error {
	if (o.binary == "") == (o.version == "") {
		return withCode(exitUsage, errors.New("give the new binary with --binary PATH or --version VERSION (one of them)"))
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	target := o.target
	if target == "" {
		if target, err = os.Executable(); err != nil {
			return withCode(exitRuntime, fmt.Errorf("find this binary: %w", err))
		}
	}
	if target, err = filepath.EvalSymlinks(target); err != nil {
		return withCode(exitRuntime, fmt.Errorf("find this binary: %w", err))
	}
	out := a.stdout

	// 1. The new binary, before anything waits: a bad path or a failed
	// build should not cost an hour of waiting.
	src := o.binary
	if o.version != "" {
		dir, err := os.MkdirTemp("", "airut-update-")
		if err != nil {
			return withCode(exitRuntime, err)
		}
		defer os.RemoveAll(dir)
		fmt.Fprintf(out, "building %s@%s\n", modulePath, o.version)
		build := exec.CommandContext(ctx, "go", "install", "-tags", buildTags, modulePath+"@"+o.version)
		build.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=1")
		if b, err := build.CombinedOutput(); err != nil {
			return withCode(exitRuntime, fmt.Errorf("build %s@%s: %v\n%s", modulePath, o.version, err, b))
		}
		src = filepath.Join(dir, "airut")
	}
	if st, err := os.Stat(src); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return withCode(exitUsage, fmt.Errorf("new binary %s: not an executable file", src))
	}

	// 2. This host's running tasks (their run markers).
	running := cfg.RunningDir(cfg.Worker.HostID)
	if !o.force {
		deadline := time.Now().Add(o.wait)
		for {
			n := countRunning(running)
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				return withCode(exitRuntime, fmt.Errorf("%d task(s) still running on this host after %s; nothing changed (use --force to update anyway: they resume after the restart)", n, o.wait))
			}
			fmt.Fprintf(out, "waiting for %d running task(s) on this host to finish\n", n)
			select {
			case <-ctx.Done():
				return withCode(exitRuntime, fmt.Errorf("update interrupted while waiting; nothing changed"))
			case <-time.After(o.poll):
			}
		}
	}

	// 3. Install, keeping the old binary for the rollback.
	previous := target + ".previous"
	if err := copyExecutable(src, target+".new"); err != nil {
		return withCode(exitRuntime, fmt.Errorf("install the new binary: %w", err))
	}
	if err := copyExecutable(target, previous); err != nil {
		os.Remove(target + ".new")
		return withCode(exitRuntime, fmt.Errorf("keep the old binary: %w", err))
	}
	if err := os.Rename(target+".new", target); err != nil {
		os.Remove(target + ".new")
		return withCode(exitRuntime, fmt.Errorf("install the new binary: %w", err))
	}
	fmt.Fprintf(out, "installed %s (the old one is %s)\n", target, previous)

	// 4. Check with the new binary; roll back if it fails.
	check := exec.CommandContext(ctx, target, "check", "--config", a.configPath())
	report, cerr := check.CombinedOutput()
	if cerr != nil {
		if err := os.Rename(previous, target); err != nil {
			return withCode(exitRuntime, fmt.Errorf("the new binary's check failed, and putting the old one back failed too (%v): restore %s from %s by hand", err, target, previous))
		}
		return withCode(exitRuntime, fmt.Errorf("rolled back: `airut check` with the new binary failed, so the old binary is back in place:\n%s", failedLines(string(report))))
	}
	fmt.Fprintln(out, "airut check passed with the new binary")

	// 5. Restart what runs it.
	restart := o.restart
	if restart == nil {
		restart = restartServices
	}
	msg, err := restart(ctx)
	if err != nil {
		return withCode(exitRuntime, fmt.Errorf("the new binary is installed, but restarting the services failed: %w", err))
	}
	fmt.Fprintln(out, msg)
	return nil
}

// countRunning is the number of agent runs in progress on the host: each
// has a marker file in its running directory while it runs.
func countRunning(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			n++
		}
	}
	return n
}

// failedLines are the FAIL lines of a check report and their fixes, or
// its end when it has none (the binary did not run at all).
func failedLines(report string) string {
	var keep []string
	lines := strings.Split(strings.TrimRight(report, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "FAIL") {
			keep = append(keep, l)
			if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "fix:") {
				keep = append(keep, lines[i+1])
			}
		}
	}
	if len(keep) == 0 {
		if len(lines) > 10 {
			lines = lines[len(lines)-10:]
		}
		keep = lines
	}
	return strings.Join(keep, "\n")
}

// copyExecutable copies src to dst (mode 0755), replacing dst.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// restartServices restarts every airut unit install-service wrote, so
// they run the new binary. Without any, or without a working systemd, it
// says what to restart by hand.
func restartServices(ctx context.Context) (string, error) {
	units := findServiceUnits(defaultServiceDirs())
	if len(units) == 0 {
		return "no airut service is installed: restart airut yourself to run the new binary", nil
	}
	var done []string
	for _, u := range units {
		m := manager{system: u.System, exec: runProgram}
		unit := serviceUnitName(u.Role)
		if _, err := m.systemctl(ctx, "restart", unit); err != nil {
			return strings.Join(done, "\n"), fmt.Errorf("%w (restart it with `%s`)", err, m.command("restart", unit))
		}
		done = append(done, "restarted "+unit)
	}
	return strings.Join(done, "\n"), nil
}
