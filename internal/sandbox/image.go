package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/airut-go/airut/internal/podman"
)

// ProxyImages builds the proxy image (FROM scratch plus the static
// airut-proxy binary), tagged by the binary's content hash, when podman
// does not have it (first use, or removed by image GC).
type ProxyImages struct {
	mu sync.Mutex
	// last remembers the binary's hash while its size and mtime hold, so
	// a task does not re-read 11 MB to learn the tag.
	last struct {
		path string
		size int64
		mod  time.Time
		tag  string
	}
}

// Ensure returns the proxy image's tag for the binary, building it if
// podman does not have it yet.
func (p *ProxyImages) Ensure(ctx context.Context, c *podman.Client, binary string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tag, f, err := p.tag(binary)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ok, err := c.ImageExists(ctx, tag)
	if err != nil {
		return "", err
	}
	if !ok {
		dir, err := os.MkdirTemp("", "airut-proxy-image-")
		if err != nil {
			return "", fmt.Errorf("proxy image: %w", err)
		}
		defer os.RemoveAll(dir)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", fmt.Errorf("proxy binary: %w", err)
		}
		out, err := os.OpenFile(filepath.Join(dir, "airut-proxy"), os.O_WRONLY|os.O_CREATE, 0o755)
		if err != nil {
			return "", fmt.Errorf("proxy image: %w", err)
		}
		_, err = io.Copy(out, f)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("proxy image: %w", err)
		}
		df := "FROM scratch\nCOPY airut-proxy /airut-proxy\nENTRYPOINT [\"/airut-proxy\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			return "", fmt.Errorf("proxy image: %w", err)
		}
		if err := c.BuildImage(ctx, dir, tag, nil, false); err != nil {
			return "", fmt.Errorf("proxy image: %w", err)
		}
	}
	return tag, nil
}

// Tag is the proxy image's tag for the binary (its content hash), built
// or not.
func (p *ProxyImages) Tag(binary string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tag, f, err := p.tag(binary)
	if err != nil {
		return "", err
	}
	f.Close()
	return tag, nil
}

// tag hashes the binary, unless its size and mtime say it is the one
// hashed last; it returns the binary open for the image build.
func (p *ProxyImages) tag(binary string) (string, *os.File, error) {
	f, err := os.Open(binary)
	if err != nil {
		return "", nil, fmt.Errorf("proxy binary: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return "", nil, fmt.Errorf("proxy binary: %w", err)
	}
	tag := p.last.tag
	if p.last.path != binary || p.last.size != st.Size() || !p.last.mod.Equal(st.ModTime()) {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			f.Close()
			return "", nil, fmt.Errorf("proxy binary: %w", err)
		}
		tag = proxyImages + ":" + hex.EncodeToString(h.Sum(nil))[:32]
		p.last.path, p.last.size, p.last.mod, p.last.tag = binary, st.Size(), st.ModTime(), tag
	}
	return tag, f, nil
}

// ErrNoProxyBinary: the static airut-proxy binary the proxy image is made
// of is not where it was looked for.
var ErrNoProxyBinary = errors.New("airut-proxy binary not found")

// ProxyBinary finds the static airut-proxy binary the proxy image is made
// of: the configured path ("" for none), else next to the running
// executable, else on PATH. Its errors wrap ErrNoProxyBinary.
func ProxyBinary(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoProxyBinary, err)
		}
		return configured, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "airut-proxy")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("airut-proxy"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w next to this program or on PATH (build it with `CGO_ENABLED=0 go build ./cmd/airut-proxy`, or name it in the configuration)", ErrNoProxyBinary)
}
