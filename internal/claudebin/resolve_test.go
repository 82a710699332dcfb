package claudebin_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/claudebin"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	elf := filepath.Join(dir, "claude-native")
	os.WriteFile(elf, []byte("\x7fELF rest"), 0o755)
	script := filepath.Join(dir, "claude-script")
	os.WriteFile(script, []byte("#!/usr/bin/env node\n"), 0o755)
	link := filepath.Join(dir, "link")
	os.Symlink(elf, link)
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("\x7fELF"), 0o644)

	tests := []struct {
		name, path, want, errHas string
	}{
		{"native binary", elf, elf, ""},
		{"symlink resolved", link, elf, ""},
		{"script rejected", script, "", "not a native Linux executable"},
		{"not executable", noexec, "", "not an executable file"},
		{"missing", filepath.Join(dir, "nope"), "", "no Claude Code binary found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := claudebin.Resolve(tt.path)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), "claude_binary") {
					t.Fatalf("Resolve() = %q, %v; want error with %q naming claude_binary", got, err, tt.errHas)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResolveFromPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	if _, err := claudebin.Resolve(""); !errors.Is(err, claudebin.ErrNotFound) || !strings.Contains(err.Error(), "npm install -g @anthropic-ai/claude-code") {
		t.Fatalf("Resolve() with empty PATH = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "claude"), []byte("\x7fELF"), 0o755)
	if got, err := claudebin.Resolve(""); err != nil || got != filepath.Join(dir, "claude") {
		t.Fatalf("Resolve() = %q, %v", got, err)
	}
}
