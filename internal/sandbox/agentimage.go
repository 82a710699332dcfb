package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// The repositories of the images Airut builds, each tagged by a content
// hash: the repo layer, the overlay on top of it and the proxy image.
const (
	repoLayerImages = "localhost/airut-repo"
	overlayImages   = "localhost/airut-overlay"
	proxyImages     = "localhost/airut-proxy"
)

// EntrypointPath is where the overlay puts its entrypoint.
const EntrypointPath = "/airut-entrypoint.sh"

// entrypointFile is the entrypoint's name in the overlay's build context.
const entrypointFile = "airut-entrypoint.sh"

// entrypoint is the overlay's: it adds the sandbox CA (when mounted) to
// the system store, for tools that ignore SSL_CERT_FILE and friends, and
// runs the command. Appending to the bundle is instant, where
// update-ca-certificates takes about a second; the latter is the
// fallback for images without a known bundle file.
//
// The script is part of the overlay's content hash: any change to its
// bytes rebuilds every overlay.
func entrypoint() string {
	return strings.NewReplacer("{{CA}}", CACertPath, "{{BUNDLES}}", strings.Join(systemBundles(), " ")).Replace(`#!/bin/sh
set -eu
ca={{CA}}
if [ -f "$ca" ]; then
  added=
  for b in {{BUNDLES}}; do
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
`)
}

// Image errors a person must fix; retrying does not help.
var (
	// ErrNoImage: the default branch has no Dockerfile and no image is
	// configured to use instead.
	ErrNoImage = errors.New("no Dockerfile on the default branch and no image configured")
	// ErrImageNotFound: the configured image is not in podman.
	ErrImageNotFound = errors.New("image not found")
	// ErrBuildFailed: podman could not build an image (the repository's
	// Dockerfile, most likely).
	ErrBuildFailed = errors.New("image build failed")
)

// ImageStore is what Images needs of podman.
type ImageStore interface {
	ImageCreated(ctx context.Context, name string) (created time.Time, ok bool, err error)
	BuildImage(ctx context.Context, contextDir, tag string, w io.Writer, noCache bool) error
	PruneImages(ctx context.Context, repos []string, maxAge time.Duration) ([]string, error)
}

// RepoImage says where a repository's own image comes from.
type RepoImage struct {
	// Branch is the repository's default branch; its Dir is the build
	// context (container_path), so the agent changes the image only
	// through a merged pull request.
	Branch Branch
	Dir    string
	// Fallback is used when Dir has no Dockerfile ("" for none).
	Fallback string
	// MaxAge is how old a built repo layer may get before it is rebuilt
	// without the layer cache (0: every time).
	MaxAge time.Duration
}

// Images builds and prunes a host's agent images. The zero value is
// ready. One serves the whole host: its lock serialises builds, so two
// tasks needing the same new image build it once, and keeps a prune from
// removing what a task has just built.
type Images struct{ mu sync.Mutex }

// Ensure returns the agent image for src: the repo layer (the Dockerfile
// in src.Dir, or src.Fallback) with the overlay on top, building either
// when podman lacks it. Built layers are tagged by content hash. Builds
// are logged on log (nil: not logged).
func (im *Images) Ensure(ctx context.Context, store ImageStore, src RepoImage, log *slog.Logger) (string, error) {
	_, overlay, err := im.EnsureLayers(ctx, store, src, log)
	return overlay, err
}

// EnsureLayers is Ensure, returning the repo layer (or src.Fallback) as
// well as the overlay on it: the images an image cache must keep.
func (im *Images) EnsureLayers(ctx context.Context, store ImageStore, src RepoImage, log *slog.Logger) (base, overlay string, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	base, err = repoLayer(ctx, store, src, log)
	if err != nil {
		return "", "", err
	}
	created, ok, err := store.ImageCreated(ctx, base)
	if err != nil {
		return "", "", fmt.Errorf("inspect image %s: %w", base, err)
	}
	if !ok {
		return "", "", fmt.Errorf("%w: %s", ErrImageNotFound, base)
	}
	files := map[string][]byte{
		"Dockerfile":   []byte(fmt.Sprintf("FROM %s\nCOPY %s %s\nENTRYPOINT [\"%s\"]\n", base, entrypointFile, EntrypointPath, EntrypointPath)),
		entrypointFile: []byte(entrypoint()),
		// The base's build time is part of the hash, so a rebuilt repo
		// layer gets a fresh overlay.
		".base-created": []byte(created.UTC().Format(time.RFC3339Nano)),
	}
	tag := overlayImages + ":" + contentHash(files)[:32]
	overlay, err = build(ctx, store, tag, files, -1, log)
	return base, overlay, err
}

// Prune removes dangling images and the built images older than maxAge
// (those still in use stay), and returns what it removed.
func (im *Images) Prune(ctx context.Context, store ImageStore, maxAge time.Duration) ([]string, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	return store.PruneImages(ctx, []string{repoLayerImages, overlayImages, proxyImages}, maxAge)
}

// repoLayer is the repository's own image.
func repoLayer(ctx context.Context, store ImageStore, src RepoImage, log *slog.Logger) (string, error) {
	files, err := src.Branch.ReadDir(ctx, src.Dir)
	if err != nil {
		return "", fmt.Errorf("read %s from the default branch: %w", src.Dir, err)
	}
	if _, ok := files["Dockerfile"]; !ok {
		if src.Fallback == "" {
			return "", fmt.Errorf("%s/Dockerfile: %w", src.Dir, ErrNoImage)
		}
		return src.Fallback, nil
	}
	return build(ctx, store, RepoLayerTag(files), files, src.MaxAge, log)
}

// build makes tag from files (a Dockerfile and its context) unless podman
// has it and it is younger than maxAge (0: always stale; negative: never,
// as for the overlay, whose hash already covers its base).
func build(ctx context.Context, store ImageStore, tag string, files map[string][]byte, maxAge time.Duration, log *slog.Logger) (string, error) {
	created, ok, err := store.ImageCreated(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", tag, err)
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
		if name == entrypointFile {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, mode); err != nil {
			return "", fmt.Errorf("image build context: %w", err)
		}
	}
	log.Info("building image", "tag", tag, "rebuild_stale", stale)
	var buildLog bytes.Buffer
	if err := store.BuildImage(ctx, dir, tag, &buildLog, stale); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuildFailed, err)
	}
	log.Info("image built", "tag", tag)
	return tag, nil
}

// RepoLayerTag is the tag of the repo layer built from files (a
// Dockerfile and its context, by name): it changes with any byte of them.
func RepoLayerTag(files map[string][]byte) string {
	return repoLayerImages + ":" + contentHash(files)[:32]
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
