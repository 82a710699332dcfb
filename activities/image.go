package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

// entrypoint is the overlay's: it adds the sandbox CA (when mounted) to
// the system store, for tools that ignore SSL_CERT_FILE and friends, and
// runs the command. Appending to the bundle is instant, where
// update-ca-certificates takes about a second; the latter is the
// fallback for images without a known bundle file.
const entrypoint = `#!/bin/sh
set -eu
ca=/usr/local/share/ca-certificates/airut-ca.crt
if [ -f "$ca" ]; then
  added=
  for b in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [ -f "$b" ] && [ ! -L "$b" ] && [ -w "$b" ]; then
      { printf '\n'; while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done < "$ca"; } >> "$b" && added=1
    fi
  done
  if [ -z "$added" ] && command -v update-ca-certificates >/dev/null 2>&1; then
    update-ca-certificates >/dev/null 2>&1 || added=
  fi
  if [ -z "$added" ] && ! command -v update-ca-certificates >/dev/null 2>&1; then
    echo "airut: no system CA bundle found; only tools that read SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE trust the sandbox CA" >&2
  fi
fi
exec "$@"
`

// EntrypointPath is where the overlay puts the entrypoint.
const EntrypointPath = "/airut-entrypoint.sh"

// imageBuilds serialises image builds on this host: two tasks needing the
// same new image build it once.
type imageBuilds struct{ mu sync.Mutex }

// image returns the agent image: the repo layer (the Dockerfile under
// container_path on the mirror's default branch, or the configured image)
// with the overlay on top. Built layers are tagged by content hash and
// rebuilt without the cache once older than image_max_age_hours.
func (a *Activities) image(ctx context.Context, cfg *config.Config, r *config.Repo, progress func(string, ...any)) (string, error) {
	a.builds.mu.Lock()
	defer a.builds.mu.Unlock()
	base, err := a.repoLayer(ctx, cfg, r, progress)
	if err != nil {
		return "", err
	}
	created, ok, err := a.Podman.ImageCreated(ctx, base)
	if err != nil {
		return "", err
	}
	if !ok {
		msg := fmt.Sprintf("image %s not found (repos.%s.image); build or pull it first", base, r.ID)
		return "", temporal.NewNonRetryableApplicationError(msg, workflows.ErrConfig, nil)
	}
	// The base's build time is part of the hash, so a rebuilt repo layer
	// gets a fresh overlay.
	files := map[string][]byte{
		"Dockerfile":          []byte(fmt.Sprintf("FROM %s\nCOPY airut-entrypoint.sh %s\nENTRYPOINT [\"%s\"]\n", base, EntrypointPath, EntrypointPath)),
		"airut-entrypoint.sh": []byte(entrypoint),
		".base-created":       []byte(created.UTC().Format(time.RFC3339Nano)),
	}
	tag := "localhost/airut-overlay:" + contentHash(files)[:32]
	if _, err := a.build(ctx, tag, files, -1, progress); err != nil {
		return "", err
	}
	return tag, nil
}

// repoLayer is the repo's own image.
func (a *Activities) repoLayer(ctx context.Context, cfg *config.Config, r *config.Repo, progress func(string, ...any)) (string, error) {
	files, err := a.mirror(cfg, r).ReadDir(ctx, r.ContainerPath)
	if err != nil {
		return "", fmt.Errorf("read %s from the default branch: %w", r.ContainerPath, err)
	}
	if _, ok := files["Dockerfile"]; !ok {
		if r.Image == "" {
			msg := fmt.Sprintf("repo %s has no %s/Dockerfile on its default branch and no image configured (repos.%s.image)", r.ID, r.ContainerPath, r.ID)
			return "", temporal.NewNonRetryableApplicationError(msg, workflows.ErrConfig, nil)
		}
		return r.Image, nil
	}
	tag := "localhost/airut-repo:" + contentHash(files)[:32]
	maxAge := time.Duration(cfg.Execution.ImageMaxAgeHours) * time.Hour
	return a.build(ctx, tag, files, maxAge, progress)
}

// build makes tag from files (a Dockerfile and its context) unless podman
// has it and it is younger than maxAge (0: always stale; negative: never,
// as for the overlay, whose hash already covers its base).
func (a *Activities) build(ctx context.Context, tag string, files map[string][]byte, maxAge time.Duration, progress func(string, ...any)) (string, error) {
	created, ok, err := a.Podman.ImageCreated(ctx, tag)
	if err != nil {
		return "", err
	}
	stale := ok && maxAge >= 0 && time.Since(created) > maxAge
	if ok && !stale {
		return tag, nil
	}
	dir, err := os.MkdirTemp("", "airut-build-")
	if err != nil {
		return "", fmt.Errorf("image build context: %w", err)
	}
	defer os.RemoveAll(dir)
	for name, content := range files {
		mode := os.FileMode(0o644)
		if name == "airut-entrypoint.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, mode); err != nil {
			return "", fmt.Errorf("image build context: %w", err)
		}
	}
	progress("building image", "tag", tag, "rebuild_stale", stale)
	var buildLog bytes.Buffer
	if err := a.Podman.BuildImage(ctx, dir, tag, &buildLog, stale); err != nil {
		return "", temporal.NewNonRetryableApplicationError("image build failed: "+err.Error(), workflows.ErrConfig, err)
	}
	progress("image built", "tag", tag)
	return tag, nil
}

// builtRepos are the repositories of the images Airut builds.
func builtRepos() []string {
	return []string{"localhost/airut-repo", "localhost/airut-overlay", "localhost/airut-proxy"}
}

// PruneImages removes dangling images and Airut's built images older than
// execution.image_max_age_hours (those still in use stay). It holds the
// build lock so it never removes what a task has just built.
func (a *Activities) PruneImages(ctx context.Context) ([]string, error) {
	cfg := a.Config()
	a.builds.mu.Lock()
	defer a.builds.mu.Unlock()
	return a.Podman.PruneImages(ctx, builtRepos(), time.Duration(cfg.Execution.ImageMaxAgeHours)*time.Hour)
}

// contentHash is sha256 over the Dockerfile and each context file (name
// and content) in name order.
func contentHash(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		if n != "Dockerfile" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	h.Write(files["Dockerfile"])
	for _, n := range names {
		h.Write([]byte(n))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}
