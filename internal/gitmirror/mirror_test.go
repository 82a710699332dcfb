package gitmirror_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/gitmirror"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// upstream makes a repository with .airut/container files on main and a
// different Dockerfile on a side branch.
func upstream(t *testing.T) string {
	dir := t.TempDir()
	run(t, dir, "git", "init", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(dir, ".airut/container/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, ".airut/container/Dockerfile"), []byte("FROM main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".airut/container/gitconfig"), []byte("[user]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".airut/container/sub/ignored"), []byte("x"), 0o644)
	run(t, dir, "git", "add", ".")
	run(t, dir, "git", "commit", "-qm", "init")
	run(t, dir, "git", "checkout", "-qb", "agent-branch")
	os.WriteFile(filepath.Join(dir, ".airut/container/Dockerfile"), []byte("FROM evil\n"), 0o644)
	run(t, dir, "git", "commit", "-qam", "agent edit")
	run(t, dir, "git", "checkout", "-q", "main")
	return dir
}

func TestMirrorUpdateCloneAndReadDefaultBranch(t *testing.T) {
	ctx := context.Background()
	up := upstream(t)
	m := &gitmirror.Mirror{URL: up, Dir: filepath.Join(t.TempDir(), "git-mirror")}
	if err := m.Update(ctx); err != nil {
		t.Fatalf("Update() = %v", err)
	}
	files, err := m.ReadDir(ctx, ".airut/container")
	if err != nil {
		t.Fatalf("ReadDir() = %v", err)
	}
	if string(files["Dockerfile"]) != "FROM main\n" || len(files) != 2 {
		t.Errorf("files = %v, want Dockerfile from main and gitconfig only", files)
	}
	if none, err := m.ReadDir(ctx, "no/such/dir"); err != nil || len(none) != 0 {
		t.Errorf("ReadDir(missing) = %v, %v; want empty", none, err)
	}

	// A new commit upstream reaches the mirror on the next Update.
	os.WriteFile(filepath.Join(up, "new.txt"), []byte("x"), 0o644)
	run(t, up, "git", "add", ".")
	run(t, up, "git", "commit", "-qm", "second")
	if err := m.Update(ctx); err != nil {
		t.Fatalf("second Update() = %v", err)
	}
	ws := filepath.Join(t.TempDir(), "workspace")
	if err := m.Clone(ctx, ws); err != nil {
		t.Fatalf("Clone() = %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "new.txt")); err != nil {
		t.Errorf("clone lacks the new commit: %v", err)
	}
	if got := strings.TrimSpace(run(t, ws, "git", "remote", "get-url", "origin")); got != up {
		t.Errorf("origin = %q, want the real remote %q", got, up)
	}
	if _, err := os.Stat(filepath.Join(ws, ".git", "objects", "info", "alternates")); err == nil {
		t.Errorf("clone uses alternates; they break inside the container")
	}
}

func TestMirrorOfBadURLNamesIt(t *testing.T) {
	m := &gitmirror.Mirror{URL: "/no/such/repo", Dir: filepath.Join(t.TempDir(), "m")}
	err := m.Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "mirror /no/such/repo") {
		t.Fatalf("Update() = %v, want an error naming the URL", err)
	}
}
