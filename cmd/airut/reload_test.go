package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/config"
)

// A reload puts the new version in force and records it for airut status;
// a setting the command line overrides (--metrics-port) keeps its
// override and is not reported as waiting for a restart; a refused
// version is recorded with its error.
func TestReloaderApplyAndRecord(t *testing.T) {
	for _, tc := range []struct {
		name         string
		flagPort     int // 0: no --metrics-port
		needsRestart []string
	}{
		{name: "metrics port from the flag", flagPort: 9100},
		{name: "metrics port from the file", needsRestart: []string{"metrics.port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "airut.yaml")
			write := func(text string) *config.Config {
				t.Helper()
				if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg, err := config.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				return cfg
			}
			base := "config_version: 5\nstate_dir: " + dir + "\nrepos:\n  web:\n    repo_url: https://example.com/web.git\n"
			start := write(base)
			r := &reloader{process: "run-h1", log: slog.New(slog.DiscardHandler)}
			if tc.flagPort != 0 {
				r.adjust = func(c *config.Config) { c.Metrics.Port = tc.flagPort }
				r.adjust(start)
			}
			r.live = config.NewLive(start, time.Now())
			r.record()

			r.apply(context.Background(), write(base+"    model: claude-haiku-4-5\nmetrics: {port: 9200}\n"))
			procs := runningProcesses(dir)
			if len(procs) != 1 {
				t.Fatalf("%d process records, want 1: %+v", len(procs), procs)
			}
			st := procs[0]
			if st.Process != "run-h1" || st.PID != os.Getpid() || st.Generation != 2 || st.SHA256 != config.FileSHA256(path) {
				t.Errorf("record %+v: want run-h1, this PID, generation 2 and the file's hash", st)
			}
			if !reflect.DeepEqual(st.NeedsRestart, tc.needsRestart) {
				t.Errorf("needs restart %v, want %v", st.NeedsRestart, tc.needsRestart)
			}
			if got := r.live.Config().Repos["web"].Model; got != "claude-haiku-4-5" {
				t.Errorf("model in force %q, want the new one", got)
			}

			r.refuse(&config.Error{File: path, Line: 6, Key: "repos.web.model", Msg: "must be a string"})
			if st := runningProcesses(dir)[0]; st.Generation != 2 || st.LastError == "" {
				t.Errorf("after a refusal: %+v", st)
			}
			r.forget()
			if n := len(runningProcesses(dir)); n != 0 {
				t.Errorf("%d records after the process ended, want 0", n)
			}
		})
	}
}
