package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/config"
)

const liveBase = `config_version: 5
state_dir: /var/lib/airut
execution: {max_concurrent: 2, heartbeat_timeout: 30}
temporal: {embedded: {ui_port: 8233}}
repos:
  alpha:
    repo_url: https://example.com/alpha.git
    model: claude-sonnet-4-5
  beta:
    repo_url: https://example.com/beta.git
`

func parseLive(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("airut.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

// A reload applies repos and per-task settings, keeps every setting read
// only at start at its value in force and names it as needing a restart.
func TestLiveApply(t *testing.T) {
	tests := []struct {
		name string
		next string
		want config.Changes
		// check looks at the config in force after the reload.
		check func(t *testing.T, in *config.Config)
	}{
		{
			name: "per-task settings and repos apply",
			next: `config_version: 5
state_dir: /var/lib/airut
execution: {max_concurrent: 2, heartbeat_timeout: 45}
temporal: {embedded: {ui_port: 8233}}
repos:
  alpha:
    repo_url: https://example.com/alpha.git
    model: claude-opus-4-1
  gamma:
    repo_url: https://example.com/gamma.git
`,
			want: config.Changes{ReposAdded: []string{"gamma"}, ReposRemoved: []string{"beta"}, ReposChanged: []string{"alpha"},
				Settings: []string{"execution.heartbeat_timeout"}},
			check: func(t *testing.T, in *config.Config) {
				if got := in.Repos["alpha"].Model; got != "claude-opus-4-1" {
					t.Errorf("alpha's model in force = %q, want the new one", got)
				}
				if in.Execution.HeartbeatTimeout != 45 {
					t.Errorf("heartbeat_timeout in force = %d, want 45", in.Execution.HeartbeatTimeout)
				}
				if _, ok := in.Repos["beta"]; ok {
					t.Error("beta is still in force")
				}
			},
		},
		{
			name: "server settings wait for a restart",
			next: `config_version: 5
state_dir: /srv/airut
execution: {max_concurrent: 8, heartbeat_timeout: 30}
temporal: {embedded: {ui_port: 9233}}
repos:
  alpha:
    repo_url: https://example.com/alpha.git
    model: claude-sonnet-4-5
  beta:
    repo_url: https://example.com/beta.git
`,
			// The paths that default to places under state_dir move with it.
			want: config.Changes{NeedsRestart: []string{"execution.max_concurrent", "temporal.embedded.ui_port",
				"temporal.embedded.database_file", "state_dir", "attachments_dir"}},
			check: func(t *testing.T, in *config.Config) {
				if in.StateDir != "/var/lib/airut" || in.Execution.MaxConcurrent != 2 || in.Temporal.Embedded.UIPort != 8233 {
					t.Errorf("in force: state_dir %s, max_concurrent %d, ui_port %d; want the values the process started with",
						in.StateDir, in.Execution.MaxConcurrent, in.Temporal.Embedded.UIPort)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
			live := config.NewLive(parseLive(t, liveBase), start)
			got := live.Apply(parseLive(t, tt.next), start.Add(time.Minute))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changes\n got %+v\nwant %+v", got, tt.want)
			}
			tt.check(t, live.Config())
			st := live.Status()
			if st.Generation != 2 || st.SHA256 != parseLive(t, tt.next).SHA256 || !st.LoadedAt.Equal(start.Add(time.Minute)) {
				t.Errorf("status %+v: want generation 2 with the new file's hash", st)
			}
			if !reflect.DeepEqual(st.NeedsRestart, tt.want.NeedsRestart) {
				t.Errorf("needs restart %v, want %v", st.NeedsRestart, tt.want.NeedsRestart)
			}
		})
	}
}

// What needs a restart is measured against the values in force, so
// setting a changed value back clears it; an unchanged file changes
// nothing; a refused version leaves everything in force and is reported
// until a version loads.
func TestLiveRecord(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	base := parseLive(t, liveBase)
	live := config.NewLive(base, now)
	if st := live.Status(); st.Generation != 1 || st.SHA256 == "" || st.File != "airut.yaml" {
		t.Fatalf("start status %+v", st)
	}
	if ch := live.Apply(parseLive(t, liveBase), now); !ch.Empty() || live.Status().Generation != 1 {
		t.Fatalf("the same bytes again: changes %+v, generation %d; want nothing", ch, live.Status().Generation)
	}
	moved := parseLive(t, liveBase+"metrics: {port: 9100}\n")
	if ch := live.Apply(moved, now); !reflect.DeepEqual(ch.NeedsRestart, []string{"metrics.port"}) {
		t.Fatalf("changes %+v, want metrics.port needing a restart", ch)
	}
	live.Refuse(errors.New("airut.yaml:3: repos.alpha.model: wrong"), now.Add(time.Second))
	st := live.Status()
	if st.LastError == "" || st.Generation != 2 || live.Config().Metrics.Port != 0 {
		t.Fatalf("after a refusal: %+v, metrics port in force %d", st, live.Config().Metrics.Port)
	}
	ch := live.Apply(parseLive(t, liveBase+"\n"), now.Add(2*time.Second))
	st = live.Status()
	if len(ch.NeedsRestart) != 0 || len(st.NeedsRestart) != 0 || st.LastError != "" || st.Generation != 3 {
		t.Fatalf("set back: changes %+v, status %+v; want nothing pending and the error cleared", ch, st)
	}
}

// A file that does not load still names its state dir, where its running
// processes record their config status.
func TestStateDirOf(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"broken elsewhere", "state_dir: /srv/airut\nrepos:\n  demo:\n    model: [x]\n", "/srv/airut"},
		{"not YAML", "state_dir: /srv/airut\n\t: [\n", config.DefaultStateDir()},
		{"from the environment", "state_dir: !env STATE\n", config.DefaultStateDir()},
		{"none", "config_version: 5\n", config.DefaultStateDir()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := config.StateDirOf(path); got != tc.want {
				t.Errorf("StateDirOf = %q, want %q", got, tc.want)
			}
		})
	}
}

// A value a !env tag takes from the .env beside the file follows that
// file at a reload (LoadAgain): a secret rotated there applies, although
// the first load put the old value into the environment. A value from the
// process's own environment stays.
func TestLoadAgainFollowsDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "airut.yaml")
	t.Cleanup(func() { os.Unsetenv("AIRUT_TEST_ROTATED") })
	write := func(p, text string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(path, "config_version: 5\nstate_dir: "+dir+"\nrepos:\n  web:\n    repo_url: https://example.com/web.git\n"+
		"    secrets: {ROTATED: !env AIRUT_TEST_ROTATED, FIXED: !env HOME}\n")
	env := func(token string) {
		write(filepath.Join(dir, ".env"), "AIRUT_TEST_ROTATED="+token+"\nHOME=/from/dotenv\n")
	}
	check := func(cfg *config.Config, err error, want string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Repos["web"].Secrets["ROTATED"]; got != want {
			t.Errorf("ROTATED = %q, want %q from .env as it is now", got, want)
		}
		if got, home := cfg.Repos["web"].Secrets["FIXED"], os.Getenv("HOME"); got != home || home == "/from/dotenv" {
			t.Errorf("HOME = %q (environment %q), want the process's own", got, home)
		}
	}
	env("first-token")
	first, err := config.Load(path)
	check(first, err, "first-token")
	env("second-token")
	second, err := config.LoadAgain(first)
	check(second, err, "second-token")
	env("third-token")
	third, err := config.LoadAgain(second)
	check(third, err, "third-token")
}
