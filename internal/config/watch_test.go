package config_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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
	// cur is the config in force, as the process keeps it.
	var cur atomic.Pointer[config.Config]
	first, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cur.Store(first)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- config.Watch(ctx, cur.Load, 100*time.Millisecond, reload,
			func(c *config.Config) { cur.Store(c); changes <- c }, func(err error) { errs <- err })
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
	quiet := func(what string) {
		t.Helper()
		select {
		case c := <-changes:
			t.Errorf("%s reloaded the config: %+v", what, c.Execution)
		case err := <-errs:
			t.Errorf("%s: error %v", what, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	write(filepath.Join(dir, "other.yaml"), "x: 1\n")
	quiet("another file's change")

	// Moved away (or deleted mid-edit): refused, never the defaults.
	if err := os.Rename(path, path+".bak"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "the file is gone") {
			t.Errorf("a missing file reported as %q", err)
		}
	case c := <-changes:
		t.Fatalf("a missing file was loaded: %d repos, max_concurrent %d", len(c.Repos), c.Execution.MaxConcurrent)
	case <-time.After(5 * time.Second):
		t.Fatal("a missing file was not reported")
	}
	if err := os.Rename(path+".bak", path); err != nil {
		t.Fatal(err)
	}
	next("back in place")
}

// A file mounted from a Kubernetes ConfigMap is a symlink into a
// directory that Kubernetes swaps by renaming the ..data symlink: the
// file's own name sees no event, and the change is still loaded.
func TestWatchConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name string, n int) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		body := "config_version: 5\nstate_dir: " + dir + "/state\nexecution: {max_concurrent: " + string(rune('0'+n)) + "}\n"
		if err := os.WriteFile(filepath.Join(dir, name, "airut.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_06_a", 1)
	path := filepath.Join(dir, "airut.yaml")
	if err := os.Symlink("..data/airut.yaml", path); err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[config.Config]
	first, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cur.Store(first)
	changes := make(chan *config.Config, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- config.Watch(ctx, cur.Load, 100*time.Millisecond, nil,
			func(c *config.Config) { cur.Store(c); changes <- c }, func(err error) { t.Errorf("error %v", err) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(200 * time.Millisecond) // the watch is set up

	version("..2026_12_06_b", 2)
	select {
	case c := <-changes:
		if c.Execution.MaxConcurrent != 2 {
			t.Errorf("max_concurrent = %d, want 2 from the swapped-in version", c.Execution.MaxConcurrent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ConfigMap swap was not loaded")
	}
}
