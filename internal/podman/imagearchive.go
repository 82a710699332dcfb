package podman

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/containers/podman/v5/pkg/bindings/images"
)

// SaveImages writes the named images, with their tags, into one
// multi-image docker-archive at path (what `podman save -m` makes), so that
// LoadImages restores every tag. The archive is written to a temporary file
// beside path and renamed into place only when complete: a save that fails
// or is cut short leaves path as it was. A name that is no image fails the
// save with an error naming it.
//
// The service writes the whole archive to a temporary file of its own
// before sending it, so a save briefly needs the archive's size twice on
// disk.
func (c *Client) SaveImages(ctx context.Context, path string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("podman save %s: no images named", path)
	}
	var refs []string
	for _, n := range names {
		if !slices.Contains(refs, n) {
			refs = append(refs, n)
		}
	}
	// Look first: a missing image gets a plain error here, before any
	// file is made, and the names that are tags are the ones the
	// archive must hold.
	var wantTags []string
	for _, n := range refs {
		data, err := images.GetImage(c.ctx(ctx), n, nil)
		if isNotFound(err) {
			return fmt.Errorf("podman save %s: image %s does not exist", path, n)
		}
		if err != nil {
			return fmt.Errorf("podman save %s: podman image inspect %s: %w", path, n, err)
		}
		if slices.Contains(data.RepoTags, n) {
			wantTags = append(wantTags, n)
		}
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("podman save %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		return fmt.Errorf("podman save %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	// docker-archive: the only format that holds several images with
	// their tags (the service's default, oci-archive, holds one).
	opts := new(images.ExportOptions).WithFormat("docker-archive")
	err = images.Export(c.ctx(ctx), refs, tmp, opts)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("podman save %v to %s: %w", refs, path, err)
	}
	if err := checkDockerArchive(tmp, wantTags); err != nil {
		return fmt.Errorf("podman save %v to %s: %w", refs, path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("podman save %v to %s: %w", refs, path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("podman save %v to %s: %w", refs, path, err)
	}
	if err := os.Rename(tmp.Name(), abs); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("podman save %v to %s: %w", refs, path, err)
	}
	done = true
	return nil
}

// checkDockerArchive reads the docker-archive in f to its end and makes
// sure it holds a manifest naming every tag in want: an archive whose
// transfer broke off misses its manifest, which is written last.
func checkDockerArchive(f *os.File, want []string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(f) // skips entry contents by seeking
	var manifest []struct{ RepoTags []string }
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("the archive written is damaged: %w", err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				return fmt.Errorf("the archive written has an unreadable manifest.json: %w", err)
			}
			found = true
		}
	}
	if !found || len(manifest) == 0 {
		return errors.New("the archive written is incomplete: it has no manifest.json listing images")
	}
	for _, tag := range want {
		if !slices.ContainsFunc(manifest, func(m struct{ RepoTags []string }) bool { return slices.Contains(m.RepoTags, tag) }) {
			return fmt.Errorf("the archive written lacks the tag %s", tag)
		}
	}
	return nil
}

// LoadImages loads an archive made by SaveImages (or `podman save`) into
// the service and returns the names it restored: the images' tags, or the
// IDs of untagged images. A missing file is an error wrapping
// fs.ErrNotExist.
func (c *Client) LoadImages(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("podman load %s: %w", path, err)
	}
	defer f.Close()
	rep, err := images.Load(c.ctx(ctx), f)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("podman load %s: %w", path, err)
	}
	return rep.Names, nil
}
