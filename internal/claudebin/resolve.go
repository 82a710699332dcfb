// Package claudebin finds the Claude Code binary that agent containers
// mount read-only: a configured path, else `claude` on the host's PATH
// ([Resolve]), else a release downloaded into a host cache and verified
// against its manifest's checksum ([Downloader]). The binary must be a
// native Linux executable (the npm package's or a release's), since the
// container has no Node.js.
package claudebin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNotFound means no usable binary was found; the message says how to
// get one.
var ErrNotFound = errors.New("no Claude Code binary found")

// Resolve returns the absolute, symlink-free path of the binary to mount.
// configured is the repo's claude_binary ("" to search PATH). It never
// downloads: when configured is empty and PATH has no usable binary,
// [Downloader.Ensure] is the remaining fallback.
func Resolve(configured string) (string, error) {
	if configured != "" {
		p, err := check(configured)
		if err != nil {
			return "", fmt.Errorf("claude_binary %s: %w", configured, err)
		}
		return p, nil
	}
	found, err := exec.LookPath("claude")
	if err != nil {
		return "", fmt.Errorf("%w on PATH: install it with `npm install -g @anthropic-ai/claude-code` or set claude_binary in the repo's config", ErrNotFound)
	}
	p, err := check(found)
	if err == nil {
		return p, nil
	}
	// Older npm layouts put a JavaScript launcher on PATH and the native
	// binary in a platform package beside it.
	real, _ := filepath.EvalSymlinks(found)
	alt := filepath.Join(filepath.Dir(real), "..", "node_modules", "@anthropic-ai", "claude-code-linux-x64", "claude")
	if p, altErr := check(alt); altErr == nil {
		return p, nil
	}
	return "", fmt.Errorf("claude on PATH (%s): %w; set claude_binary to the native binary", found, err)
}

func check(path string) (string, error) {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	p, err = filepath.Abs(p)
	if err != nil {
		return "", err
	}
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte("\x7fELF")) {
		return "", fmt.Errorf("%s is not a native Linux executable (a script launcher cannot run in the container)", p)
	}
	return p, nil
}
