// Package gitmirror keeps a bare mirror of a repository per repo and makes
// workspaces from it. Repo-side configuration (.airut/…) is read from the
// mirror's default branch, never from a workspace the agent can edit.
//
// It shells out to git, the one implementation that handles every remote
// and credential helper a user may have. It knows nothing of Temporal or
// conversations.
package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Mirror is a bare `git clone --mirror` of URL in Dir, guarded by a file
// lock: exclusive while updating, shared while cloning or reading.
type Mirror struct {
	URL string
	Dir string
}

// Update creates the mirror or fetches into it (prune included).
func (m *Mirror) Update(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(m.Dir), 0o755); err != nil {
		return fmt.Errorf("create mirror parent: %w", err)
	}
	unlock, err := m.lock(syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(m.Dir, "HEAD")); errors.Is(err, os.ErrNotExist) {
		tmp := m.Dir + ".tmp"
		os.RemoveAll(tmp)
		if _, err := git(ctx, "", "clone", "--mirror", "--quiet", m.URL, tmp); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("mirror %s: %w", m.URL, err)
		}
		if err := os.Rename(tmp, m.Dir); err != nil {
			return fmt.Errorf("mirror %s: %w", m.URL, err)
		}
		return nil
	}
	if _, err := git(ctx, m.Dir, "remote", "set-url", "origin", m.URL); err != nil {
		return fmt.Errorf("update mirror of %s: %w", m.URL, err)
	}
	if _, err := git(ctx, m.Dir, "remote", "update", "--prune"); err != nil {
		return fmt.Errorf("update mirror of %s: %w", m.URL, err)
	}
	return nil
}

// DefaultBranch is the branch the mirror's HEAD points at.
func (m *Mirror) DefaultBranch(ctx context.Context) (string, error) {
	out, err := git(ctx, m.Dir, "symbolic-ref", "--short", "HEAD")
	if err != nil {
		return "", fmt.Errorf("default branch of %s: %w", m.URL, err)
	}
	return strings.TrimSpace(out), nil
}

// ReadDir returns the regular files directly under dir on the default
// branch (name → content); subdirectories are ignored. A missing dir gives
// an empty map.
func (m *Mirror) ReadDir(ctx context.Context, dir string) (map[string][]byte, error) {
	unlock, err := m.lock(syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	branch, err := m.DefaultBranch(ctx)
	if err != nil {
		return nil, err
	}
	dir = strings.Trim(dir, "/")
	out, err := git(ctx, m.Dir, "ls-tree", "-z", branch+":"+dir)
	if err != nil {
		if strings.Contains(err.Error(), "Not a valid object name") || strings.Contains(err.Error(), "not a tree object") {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("list %s on %s: %w", dir, branch, err)
	}
	files := map[string][]byte{}
	for _, entry := range strings.Split(out, "\x00") {
		meta, name, ok := strings.Cut(entry, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 3 || f[1] != "blob" || f[0] == "120000" {
			continue
		}
		content, err := gitBytes(ctx, m.Dir, "cat-file", "blob", f[2])
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", dir, name, err)
		}
		files[name] = content
	}
	return files, nil
}

// Clone makes a full, independent clone of the mirror at dest (no
// alternates: they would break inside the container), points origin at the
// real remote and checks out the default branch.
func (m *Mirror) Clone(ctx context.Context, dest string) error {
	unlock, err := m.lock(syscall.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := git(ctx, "", "clone", "--quiet", "--no-hardlinks", m.Dir, dest); err != nil {
		os.RemoveAll(dest)
		return fmt.Errorf("clone %s: %w", m.URL, err)
	}
	if _, err := git(ctx, dest, "remote", "set-url", "origin", m.URL); err != nil {
		os.RemoveAll(dest)
		return fmt.Errorf("clone %s: %w", m.URL, err)
	}
	return nil
}

func (m *Mirror) lock(how int) (func(), error) {
	f, err := os.OpenFile(m.Dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock mirror: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock mirror: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	b, err := gitBytes(ctx, dir, args...)
	return string(b), err
}

func gitBytes(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	// Never prompt: a worker has no terminal, and a hung prompt would
	// look like a slow clone.
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", args[0], msg)
	}
	return stdout.Bytes(), nil
}
