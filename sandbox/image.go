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

// ImageFromFiles reads a Dockerfile and the files of its build context
// (contextDir: those directly in it, not in subdirectories; "" means the
// Dockerfile's directory) into an ImageSpec, as in .airut/container/. A
// missing Dockerfile is an error wrapping ErrNoDockerfile.
func ImageFromFiles(dockerfile, contextDir string, maxAge time.Duration) (ImageSpec, error) {
	df, err := os.ReadFile(dockerfile)
	if errors.Is(err, fs.ErrNotExist) {
		return ImageSpec{}, fmt.Errorf("%s: %w", dockerfile, ErrNoDockerfile)
	}
	if err != nil {
		return ImageSpec{}, fmt.Errorf("read the Dockerfile: %w", err)
	}
	if contextDir == "" {
		contextDir = filepath.Dir(dockerfile)
	}
	entries, err := os.ReadDir(contextDir)
	if err != nil {
		return ImageSpec{}, fmt.Errorf("read the build context: %w", err)
	}
	spec := ImageSpec{Dockerfile: df, Context: map[string][]byte{}, MaxAge: maxAge}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "Dockerfile" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(contextDir, e.Name()))
		if err != nil {
			return ImageSpec{}, fmt.Errorf("read the build context: %w", err)
		}
		spec.Context[e.Name()] = data
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

// Hashes computes the hashes without building anything (or Podman):
// proxyBinary is as Options.ProxyBinary.
func Hashes(spec ImageSpec, proxyBinary string) (ImageHashes, error) {
	var h ImageHashes
	if len(spec.Dockerfile) > 0 {
		h.Repo = tagHash(parts.RepoLayerTag(spec.source().Branch.(files)))
	}
	bin, err := FindProxyBinary(proxyBinary)
	if err != nil {
		return h, err
	}
	var images parts.ProxyImages
	tag, err := images.Tag(bin)
	if err != nil {
		return h, err
	}
	h.Proxy = tagHash(tag)
	return h, nil
}

// FindProxyBinary finds the static airut-proxy binary the proxy image is
// made of: given (if not ""), else next to the running executable, else
// on PATH. Its errors wrap ErrNoProxyBinary.
func FindProxyBinary(given string) (string, error) {
	return parts.ProxyBinary(given)
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
// task start without a build. It returns the images saved. The archives
// are readable by all: they hold images, never secrets, and a cache step
// may run as another user.
func (s *Sandbox) SaveImages(ctx context.Context, dir string, spec ImageSpec) ([]string, error) {
	base, overlay, err := s.images.EnsureLayers(ctx, s.podman, spec.source(), s.log)
	if err != nil {
		return nil, err
	}
	proxyImage, err := s.EnsureProxyImage(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save images: %w", err)
	}
	archives := []struct {
		name   string
		images []string
	}{{repoArchive, []string{base, overlay}}, {proxyArchive, []string{proxyImage}}}
	var saved []string
	for _, a := range archives {
		path := filepath.Join(dir, a.name)
		if err := s.podman.SaveImages(ctx, path, a.images); err != nil {
			return saved, fmt.Errorf("save images: %w", err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			return saved, fmt.Errorf("save images: %w", err)
		}
		saved = append(saved, a.images...)
	}
	return saved, nil
}

// LoadImages loads what SaveImages wrote into dir and returns the images
// restored. A missing archive is skipped (a cache miss), so loading an
// empty directory restores nothing and is not an error; a damaged one is
// an error, after the other was tried.
func (s *Sandbox) LoadImages(ctx context.Context, dir string) ([]string, error) {
	var loaded []string
	var errs []error
	for _, name := range []string{repoArchive, proxyArchive} {
		got, err := s.podman.LoadImages(ctx, filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("load images from %s: %w", name, err))
			continue
		}
		loaded = append(loaded, got...)
	}
	return loaded, errors.Join(errs...)
}

// EnsureProxyImage returns the proxy image, building it from the proxy
// binary if Podman does not have it.
func (s *Sandbox) EnsureProxyImage(ctx context.Context) (string, error) {
	return s.proxyImage(ctx)
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
