package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// drainOptions is `airut drain`.
type drainOptions struct {
	// poll is the pause between looks at the worker.
	poll time.Duration
	// stopUnit stops an installed service unit that runs the worker
	// (systemctl stop); nil means systemctl. It reports whether it found
	// one.
	stopUnit func(ctx context.Context) (bool, error)
}

func newDrainCmd(a *app) *cobra.Command {
	o := &drainOptions{poll: 2 * time.Second}
	return &cobra.Command{
		Use:   "drain",
		Short: "Take this host out of service: its worker finishes what it can, hands the rest to other hosts, and stops",
		Long: `Drain stops this host's worker the careful way:

  - it takes no new task (new conversations go to other hosts);
  - running agent tasks get execution.shutdown_timeout to finish, and their
    replies go out from here;
  - tasks still running then are handed back, and their conversations move
    to another host at once, where they start again on a fresh clone (the
    user is told);
  - the worker exits.

An installed service (install-service) is stopped with systemctl, so it is
not restarted; a worker in a terminal gets SIGTERM. Starting the worker
again puts the host back in service.

A plain SIGTERM or "systemctl restart" is a restart, not a drain: running
tasks still get the grace period, and what they could not finish waits for
the host to come back (up to execution.host_timeout) and resumes there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runDrain(cmd.Context(), a, o) },
	}
}

func runDrain(ctx context.Context, a *app, o *drainOptions) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	host := cfg.Worker.HostID
	out := a.stdout
	drainFile := cfg.DrainFile(host)
	if err := os.MkdirAll(filepath.Dir(drainFile), 0o755); err != nil {
		return withCode(exitRuntime, fmt.Errorf("mark host %s as draining: %w", host, err))
	}
	if err := os.WriteFile(drainFile, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return withCode(exitRuntime, fmt.Errorf("mark host %s as draining: %w", host, err))
	}
	running := cfg.RunningDir(host)
	grace := time.Duration(cfg.Execution.ShutdownTimeout) * time.Second
	fmt.Fprintf(out, "draining host %s: %d task(s) running get up to %s to finish; the rest move to other hosts\n",
		host, countRunning(running), grace)

	stop := o.stopUnit
	if stop == nil {
		stop = stopWorkerUnit
	}
	if found, err := stop(ctx); found {
		if err != nil {
			return withCode(exitRuntime, fmt.Errorf("stop the service: %w", err))
		}
		fmt.Fprintf(out, "drained: the service stopped; start it again to put host %s back in service\n", host)
		return nil
	}

	pid, err := readPID(cfg.WorkerPIDFile(host))
	if err != nil || !alive(pid) {
		os.Remove(drainFile)
		fmt.Fprintf(out, "no worker is running for host %s (%s): nothing to drain\n", host, cfg.WorkerPIDFile(host))
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return withCode(exitRuntime, fmt.Errorf("signal the worker (pid %d): %w", pid, err))
	}
	deadline := time.Now().Add(grace + time.Minute)
	last := -1
	for alive(pid) {
		if time.Now().After(deadline) {
			return withCode(exitRuntime, fmt.Errorf("the worker (pid %d) is still running %s after SIGTERM; see its log", pid, grace+time.Minute))
		}
		if n := countRunning(running); n != last {
			fmt.Fprintf(out, "waiting for the worker (pid %d): %d task(s) still running\n", pid, n)
			last = n
		}
		select {
		case <-ctx.Done():
			return withCode(exitRuntime, errors.New("interrupted; the worker keeps draining"))
		case <-time.After(o.poll):
		}
	}
	fmt.Fprintf(out, "drained: the worker stopped; run it again to put host %s back in service\n", host)
	return nil
}

// stopWorkerUnit stops the installed unit that runs this host's worker
// (role run or worker), if there is one and systemd runs it.
func stopWorkerUnit(ctx context.Context) (bool, error) {
	for _, u := range findServiceUnits(defaultServiceDirs()) {
		if u.Role != "run" && u.Role != "worker" {
			continue
		}
		m := manager{system: u.System, exec: runProgram}
		unit := serviceUnitName(u.Role)
		if state, err := m.systemctl(ctx, "is-active", unit); err != nil || strings.TrimSpace(state) != "active" {
			continue // not running under systemd (or no systemd): the PID file decides
		}
		_, err := m.systemctl(ctx, "stop", unit)
		return true, err
	}
	return false, nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// writePID records this process as the host's worker until remove is
// called.
func writePID(path string) (remove func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}
