package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"
)

// `airut update` on stand-in binaries: shell scripts whose `check`
// passes or fails, installed over a copy of "this" binary.
func TestUpdate(t *testing.T) {
	const oldBin = "#!/bin/sh\necho old airut\n"
	script := func(dir, name, check string) string {
		path := filepath.Join(dir, name)
		body := "#!/bin/sh\nif [ \"$1\" = check ]; then\n" + check + "\nfi\necho " + name + "\n"
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	setup := func(t *testing.T) (dir, target, config string) {
		dir = t.TempDir()
		target = filepath.Join(dir, "bin", "airut")
		os.MkdirAll(filepath.Dir(target), 0o755)
		if err := os.WriteFile(target, []byte(oldBin), 0o755); err != nil {
			t.Fatal(err)
		}
		config = filepath.Join(dir, "airut.yaml")
		os.WriteFile(config, []byte("config_version: 5\nstate_dir: "+filepath.Join(dir, "state")+"\nworker: {host_id: h1}\n"), 0o644)
		return dir, target, config
	}
	run := func(t *testing.T, config string, o *updateOptions) (string, error) {
		var out bytes.Buffer
		a := &app{v: viper.New(), stdout: &out, stderr: &out}
		a.v.Set("config", config)
		if o.poll == 0 {
			o.poll = 20 * time.Millisecond
		}
		err := runUpdate(context.Background(), a, o)
		return out.String(), err
	}
	content := func(path string) string {
		b, _ := os.ReadFile(path)
		return string(b)
	}

	t.Run("check fails: rolled back, and says why", func(t *testing.T) {
		dir, target, config := setup(t)
		bad := script(dir, "new-airut", `echo "ok    config   fine"; echo "FAIL  repo web   cannot read https://example.invalid/x.git"; echo "      fix: check repo_url"; exit 3`)
		restarted := false
		_, err := run(t, config, &updateOptions{binary: bad, target: target, wait: time.Second,
			restart: func(context.Context) (string, error) { restarted = true; return "", nil }})
		if err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "FAIL  repo web   cannot read") ||
			!strings.Contains(err.Error(), "fix: check repo_url") || strings.Contains(err.Error(), "ok    config") {
			t.Errorf("error = %v, want a rollback naming the failed check lines", err)
		}
		if content(target) != oldBin || restarted {
			t.Errorf("after the rollback the binary is %q (restarted %v), want the old one and no restart", content(target), restarted)
		}
	})

	t.Run("check passes: installed, old kept, restarted", func(t *testing.T) {
		dir, target, config := setup(t)
		good := script(dir, "new-airut", "echo all checks passed; exit 0")
		out, err := run(t, config, &updateOptions{binary: good, target: target, wait: time.Second,
			restart: func(context.Context) (string, error) { return "restarted airut.service", nil }})
		if err != nil || content(target) != content(good) || content(target+".previous") != oldBin || !strings.Contains(out, "restarted airut.service") {
			t.Errorf("update: %v\n%s\nbinary %q, previous %q", err, out, content(target), content(target+".previous"))
		}
	})

	t.Run("tasks running: waits, then gives up without a change", func(t *testing.T) {
		dir, target, config := setup(t)
		good := script(dir, "new-airut", "exit 0")
		running := filepath.Join(dir, "state", "running", "h1")
		os.MkdirAll(running, 0o755)
		os.WriteFile(filepath.Join(running, "web-0000000a.json"), []byte("{}"), 0o644)
		out, err := run(t, config, &updateOptions{binary: good, target: target, wait: 100 * time.Millisecond,
			restart: func(context.Context) (string, error) { return "", nil }})
		if err == nil || !strings.Contains(err.Error(), "1 task(s) still running on this host") || !strings.Contains(out, "waiting for 1 running task(s)") || content(target) != oldBin {
			t.Errorf("update with a task running: %v\n%s", err, out)
		}
		// --force goes ahead.
		if _, err := run(t, config, &updateOptions{binary: good, target: target, force: true,
			restart: func(context.Context) (string, error) { return "", nil }}); err != nil || content(target) != content(good) {
			t.Errorf("--force: %v, binary %q", err, content(target))
		}
	})

	t.Run("bad input", func(t *testing.T) {
		dir, target, config := setup(t)
		notExec := filepath.Join(dir, "plain")
		os.WriteFile(notExec, []byte("x"), 0o644)
		for _, tc := range []struct {
			o    updateOptions
			want string
		}{
			{updateOptions{target: target}, "--binary PATH or --version VERSION"},
			{updateOptions{target: target, binary: notExec, version: "v1"}, "--binary PATH or --version VERSION"},
			{updateOptions{target: target, binary: notExec}, "not an executable file"},
			{updateOptions{target: target, binary: filepath.Join(dir, "missing")}, "not an executable file"},
		} {
			_, err := run(t, config, &tc.o)
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ee) || ee.code != exitUsage {
				t.Errorf("%+v: %v, want a usage error saying %q", tc.o, err, tc.want)
			}
			if content(target) != oldBin {
				t.Fatal("bad input changed the binary")
			}
		}
	})
}
