package config_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/config"
)

// A change to the file is loaded once the edits settle: written in
// place, replaced by a rename (as editors do), or asked for (SIGHUP); a
// broken edit is reported with its line and key, and nothing is handed
// on. A change to the .env beside it (values of !env tags) loads too.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "airut.yaml")
	write := func(p, body string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := func(n int) string {
		return "config_version: 5\nstate_dir: " + dir + "/state\nexecution:\n  max_concurrent: " + string(rune('0'+n)) + "\n"
	}
	write(path, yaml(1))
	changes, errs, reload := make(chan *config.Config, 10), make(chan error, 10), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- config.Watch(ctx, func() *config.Config { return &config.Config{Path: path} }, 100*time.Millisecond, reload,
			func(c *config.Config) { changes <- c }, func(err error) { errs <- err })
	}()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(200 * time.Millisecond) // the watch is set up

	next := func(what string) *config.Config {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case err := <-errs:
			t.Fatalf("%s: error %v", what, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no reload", what)
		}
		return nil
	}
	write(path, yaml(2))
	if c := next("written in place"); c.Execution.MaxConcurrent != 2 {
		t.Errorf("max_concurrent = %d, want 2", c.Execution.MaxConcurrent)
	}
	tmp := filepath.Join(dir, ".airut.yaml.swp")
	write(tmp, yaml(3))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if c := next("replaced by rename"); c.Execution.MaxConcurrent != 3 {
		t.Errorf("max_concurrent = %d, want 3", c.Execution.MaxConcurrent)
	}
	write(path, yaml(3)+"execution_typo: 1\n")
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "airut.yaml:5: execution_typo: unknown key") {
			t.Errorf("broken edit reported as %q, want its line and key", err)
		}
	case c := <-changes:
		t.Fatalf("a broken edit was handed on: %+v", c.Execution)
	case <-time.After(5 * time.Second):
		t.Fatal("broken edit not reported")
	}
	write(path, yaml(4))
	next("after the mend")
	reload <- struct{}{}
	if c := next("asked for"); c.Execution.MaxConcurrent != 4 {
		t.Errorf("max_concurrent = %d, want 4", c.Execution.MaxConcurrent)
	}
	t.Cleanup(func() { os.Unsetenv("AIRUT_TEST_UNUSED") })
	write(filepath.Join(dir, ".env"), "AIRUT_TEST_UNUSED=1\n")
	next("the .env beside it changed")
	write(filepath.Join(dir, "other.yaml"), "x: 1\n")
	select {
	case c := <-changes:
		t.Errorf("another file's change reloaded the config: %+v", c.Execution)
	case <-time.After(500 * time.Millisecond):
	}
}
