package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	parts "github.com/airut-go/airut/internal/sandbox"
)

// Image errors a person must fix; retrying does not help.
var (
	// ErrNoDockerfile: the image spec has neither a Dockerfile nor a base
	// image.
	ErrNoDockerfile = parts.ErrNoImage
	// ErrImageNotFound: the base image named in the spec is not in Podman.
	ErrImageNotFound = parts.ErrImageNotFound
	// ErrNoProxyBinary: the static airut-proxy binary the proxy image is
	// made of was not found (Options.ProxyBinary, next to the executable,
	// PATH).
	ErrNoProxyBinary = parts.ErrNoProxyBinary
	// ErrBuildFailed: Podman could not build the image (the Dockerfile,
	// most likely); the error holds the end of the build's output.
	ErrBuildFailed = parts.ErrBuildFailed
)

// ImageSpec is where a task's image comes from: a Dockerfile with its
// build context, or an existing image. Either way the sandbox's overlay
// goes on top (an entrypoint that trusts the network sandbox's CA, then
// runs the command), so the image needs /bin/sh.
type ImageSpec struct {
	// Dockerfile is the Dockerfile's content.
	Dockerfile []byte
	// Context holds the other files of the build context, by name (one
	// directory, no subdirectories).
	Context map[string][]byte
	// Base is used instead when Dockerfile is empty: an image Podman has.
	Base string
	// MaxAge is how old an image built from the Dockerfile may get before
	// it is rebuilt without the layer cache, so package updates arrive;
	// 0 rebuilds it every time.
	MaxAge time.Duration
}

// ImageFromDir reads a Dockerfile and the files beside it (not those in
// subdirectories) into an ImageSpec: the layout of .airut/container/. A
// missing directory or Dockerfile is an error wrapping ErrNoDockerfile.
func ImageFromDir(dir string, maxAge time.Duration) (ImageSpec, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ImageSpec{}, fmt.Errorf("%s: %w", dir, ErrNoDockerfile)
	}
	if err != nil {
		return ImageSpec{}, fmt.Errorf("read image directory: %w", err)
	}
	spec := ImageSpec{Context: map[string][]byte{}, MaxAge: maxAge}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return ImageSpec{}, fmt.Errorf("read image directory: %w", err)
		}
		if e.Name() == "Dockerfile" {
			spec.Dockerfile = data
		} else {
			spec.Context[e.Name()] = data
		}
	}
	if spec.Dockerfile == nil {
		return ImageSpec{}, fmt.Errorf("%s/Dockerfile: %w", dir, ErrNoDockerfile)
	}
	return spec, nil
}

// files is the spec as the image builder reads a directory of the
// default branch.
type files map[string][]byte

func (f files) ReadDir(context.Context, string) (map[string][]byte, error) { return f, nil }

func (spec ImageSpec) source() parts.RepoImage {
	f := files{}
	if len(spec.Dockerfile) > 0 {
		for k, v := range spec.Context {
			f[k] = v
		}
		f["Dockerfile"] = spec.Dockerfile
	}
	return parts.RepoImage{Branch: f, Dir: ".", Fallback: spec.Base, MaxAge: spec.MaxAge}
}

// EnsureImage returns the image tasks of spec run in, building what
// Podman lacks: the image of the Dockerfile (tagged by the hash of its
// content and context, rebuilt when older than spec.MaxAge) and the
// overlay on it. Builds on one Sandbox are serialised, so two tasks
// needing the same new image build it once.
func (s *Sandbox) EnsureImage(ctx context.Context, spec ImageSpec) (string, error) {
	_, overlay, err := s.images.EnsureLayers(ctx, s.podman, spec.source(), s.log)
	return overlay, err
}

// ImageHashes are the content hashes that name a spec's images: the
// image of its Dockerfile (empty for a base image) and the proxy's. Equal
// hashes mean equal images, so they make good cache keys.
type ImageHashes struct {
	Repo  string
	Proxy string
}

// Hashes computes the hashes without building anything.
func (s *Sandbox) Hashes(spec ImageSpec) (ImageHashes, error) {
	var h ImageHashes
	if len(spec.Dockerfile) > 0 {
		h.Repo = tagHash(parts.RepoLayerTag(spec.source().Branch.(files)))
	}
	bin, err := parts.ProxyBinary(s.opts.ProxyBinary)
	if err != nil {
		return h, fmt.Errorf("network sandbox: %w", err)
	}
	tag, err := s.proxyImages.Tag(bin)
	if err != nil {
		return h, err
	}
	h.Proxy = tagHash(tag)
	return h, nil
}

func tagHash(tag string) string {
	for i := len(tag) - 1; i >= 0; i-- {
		if tag[i] == ':' {
			return tag[i+1:]
		}
	}
	return tag
}

// The archives SaveImages writes into its directory.
const (
	repoArchive  = "repo.tar"
	proxyArchive = "proxy.tar"
)

// SaveImages builds spec's images if needed and writes them to dir as
// repo.tar (the image of the Dockerfile and the overlay on it) and
// proxy.tar, for a CI cache: LoadImages on another machine then lets a
// task start without a build.
func (s *Sandbox) SaveImages(ctx context.Context, dir string, spec ImageSpec) error {
	base, overlay, err := s.images.EnsureLayers(ctx, s.podman, spec.source(), s.log)
	if err != nil {
		return err
	}
	proxyImage, err := s.proxyImage(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	if err := s.podman.SaveImages(ctx, filepath.Join(dir, repoArchive), []string{base, overlay}); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	if err := s.podman.SaveImages(ctx, filepath.Join(dir, proxyArchive), []string{proxyImage}); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	return nil
}

// LoadImages loads what SaveImages wrote into dir and returns the images
// restored. A missing archive is skipped (a cache miss), so loading an
// empty directory restores nothing and is not an error.
func (s *Sandbox) LoadImages(ctx context.Context, dir string) ([]string, error) {
	var loaded []string
	for _, name := range []string{repoArchive, proxyArchive} {
		got, err := s.podman.LoadImages(ctx, filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return loaded, fmt.Errorf("load images from %s: %w", name, err)
		}
		loaded = append(loaded, got...)
	}
	return loaded, nil
}

// proxyImage is the proxy image, built if needed.
func (s *Sandbox) proxyImage(ctx context.Context) (string, error) {
	bin, err := parts.ProxyBinary(s.opts.ProxyBinary)
	if err != nil {
		return "", fmt.Errorf("network sandbox: %w", err)
	}
	tag, err := s.proxyImages.Ensure(ctx, s.podman, bin)
	if err != nil {
		return "", fmt.Errorf("network sandbox: %w", err)
	}
	return tag, nil
}
