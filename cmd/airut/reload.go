package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest/listeners"
	"github.com/airut-go/airut/internal/config"
)

// reloadDebounce takes an editor's steps of one save as one change.
const reloadDebounce = 500 * time.Millisecond

// reloader puts new versions of the config file in force in a running
// process, each part by its scope: per-task settings through the live
// config (the next task reads them), a repo's channels by restarting
// their listeners, schedules by a sync; settings read only at start are
// reported as needing a restart. A version that does not load changes
// nothing and is recorded, with its file, line and key, for `airut
// status` and `airut check`.
type reloader struct {
	live *config.Live
	// listeners are the process's channel listeners; nil when it runs
	// none.
	listeners *listeners.Set
	// schedules, when set, is the client the process syncs the Temporal
	// Schedules with (the process that takes messages in owns them).
	schedules client.Client
	process   string
	log       *slog.Logger
	// adjust, when set, applies the command line's overrides to each
	// version loaded.
	adjust func(*config.Config)
}

// watch follows the file and SIGHUP until ctx ends.
func (r *reloader) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.log.Info("SIGHUP: loading the config file")
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	err := config.Watch(ctx, r.live.Config, reloadDebounce, reload,
		func(cfg *config.Config) { r.apply(ctx, cfg) },
		func(err error) { r.refuse(err) })
	if err != nil {
		r.log.Warn("config file not watched; SIGHUP still reloads it", "error", err)
		// Watch failed before its loop: serve SIGHUP alone.
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				if cfg, err := config.LoadAgain(r.live.Config()); err != nil {
					r.refuse(err)
				} else {
					r.apply(ctx, cfg)
				}
			}
		}
	}
}

// apply puts cfg in force.
func (r *reloader) apply(ctx context.Context, cfg *config.Config) {
	if r.adjust != nil {
		r.adjust(cfg)
	}
	ch := r.live.Apply(cfg, time.Now())
	r.record()
	if ch.Empty() {
		r.log.Info("config file loaded; nothing changed", "config", cfg.Path)
		return
	}
	st := r.live.Status()
	in := r.live.Config()
	type named struct {
		key  string
		list []string
	}
	changed := []named{{"repos_added", ch.ReposAdded}, {"repos_removed", ch.ReposRemoved}, {"repos_changed", ch.ReposChanged}, {"settings", ch.Settings}}
	if r.listeners != nil {
		rep := r.listeners.Apply(ctx, in)
		changed = append(changed, named{"listeners_started", keyNames(rep.Started)},
			named{"listeners_restarted", keyNames(rep.Restarted)}, named{"listeners_stopped", keyNames(rep.Stopped)})
	}
	attrs := []any{"config", cfg.Path, "generation", st.Generation, "sha256", shortHash(st.SHA256)}
	for _, c := range changed {
		if len(c.list) > 0 {
			attrs = append(attrs, c.key, strings.Join(c.list, ","))
		}
	}
	r.log.Info("config reloaded: repo settings apply to the next task", attrs...)
	if r.schedules != nil {
		syncSchedules(ctx, r.schedules, in, r.log)
	}
	if len(ch.NeedsRestart) > 0 {
		r.log.Warn("config changes that apply only after a restart of "+r.process+"; the values in force stay",
			"needs_restart", strings.Join(ch.NeedsRestart, ","))
	}
}

// keyNames are the listeners' names, for the log.
func keyNames(keys []listeners.Key) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	return names
}

// refuse records a version of the file that did not load.
func (r *reloader) refuse(err error) {
	r.live.Refuse(err, time.Now())
	r.record()
	st := r.live.Status()
	r.log.Error("config change refused; the config in force stays", "generation", st.Generation, "error", err)
}

// processStatus is a running process's config status as it records it.
type processStatus struct {
	Process string `json:"process"`
	PID     int    `json:"pid"`
	config.Status
}

// record writes the process's config status for `airut status` and
// `airut check`; a failure is logged, not fatal.
func (r *reloader) record() {
	in := r.live.Config()
	path := in.ProcessStatusFile(r.process)
	data, err := json.MarshalIndent(processStatus{Process: r.process, PID: os.Getpid(), Status: r.live.Status()}, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		// Written whole and renamed, so a reader never sees half of it.
		tmp := path + ".tmp"
		if err = os.WriteFile(tmp, append(data, '\n'), 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		r.log.Warn("config status not recorded", "file", path, "error", err)
	}
}

// forget removes the record when the process ends.
func (r *reloader) forget() {
	os.Remove(r.live.Config().ProcessStatusFile(r.process))
}

// runningProcesses reads the config status of the processes running with
// the state dir; records of processes that are gone are skipped.
func runningProcesses(stateDir string) []processStatus {
	dir := (&config.Config{StateDir: stateDir}).ProcessStatusDir()
	paths, _ := filepath.Glob(filepath.Join(dir, "config-*.json"))
	var out []processStatus
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var ps processStatus
		if json.Unmarshal(data, &ps) != nil || ps.PID <= 0 || syscall.Kill(ps.PID, 0) != nil {
			continue
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b processStatus) int { return strings.Compare(a.Process, b.Process) })
	return out
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// describeProcess is what status and check say of a running process's
// config: its version in force and anything pending.
func describeProcess(ps processStatus, onDisk string) (summary string, pending []string) {
	summary = fmt.Sprintf("%s (pid %d): generation %d, sha256 %s, loaded %s", ps.Process, ps.PID, ps.Generation,
		shortHash(ps.SHA256), ps.LoadedAt.Local().Format(time.DateTime))
	if ps.LastError != "" {
		pending = append(pending, fmt.Sprintf("last reload refused at %s; the version in force stays: %s",
			ps.LastErrorAt.Local().Format(time.DateTime), ps.LastError))
	} else if onDisk != "" && onDisk != ps.SHA256 {
		pending = append(pending, "the file on disk (sha256 "+shortHash(onDisk)+") is newer than the version in force: reload pending")
	}
	if len(ps.NeedsRestart) > 0 {
		pending = append(pending, "needs restart to apply: "+strings.Join(ps.NeedsRestart, ", "))
	}
	return summary, pending
}
