package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// buildLogTail is how many lines of the build log a failed build's error
// carries.
const buildLogTail = 20

// ImageExists reports whether the service has an image of that name or ID.
func (c *Client) ImageExists(ctx context.Context, name string) (bool, error) {
	ok, err := images.Exists(c.ctx(ctx), name, nil)
	if err != nil {
		return false, fmt.Errorf("podman image exists %s: %w", name, err)
	}
	return ok, nil
}

// ImageCreated returns when the image was built; ok is false when there
// is no such image.
func (c *Client) ImageCreated(ctx context.Context, name string) (created time.Time, ok bool, err error) {
	data, err := images.GetImage(c.ctx(ctx), name, nil)
	if isNotFound(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("podman image inspect %s: %w", name, err)
	}
	if data.Created != nil {
		created = *data.Created
	}
	return created, true, nil
}

// BuildImage builds contextDir/Dockerfile into tag. The build's output lines
// go to w (nil discards them) as the build goes on. On failure the error
// carries the last lines of the build log. Base images are pulled only if
// missing. noCache rebuilds every step instead of reusing cached layers.
func (c *Client) BuildImage(ctx context.Context, contextDir, tag string, w io.Writer, noCache bool) error {
	if tag == "" {
		return errors.New("podman build: empty tag")
	}
	abs, err := filepath.Abs(contextDir)
	if err != nil {
		return fmt.Errorf("podman build %s: %w", tag, err)
	}
	dockerfile := filepath.Join(abs, "Dockerfile")
	if _, err := os.Stat(dockerfile); err != nil {
		return fmt.Errorf("podman build %s: %w", tag, err)
	}

	tail := &lineTail{max: buildLogTail}
	var out io.Writer = tail
	if w != nil {
		out = io.MultiWriter(w, tail)
	}
	var opts types.BuildOptions
	opts.ContextDirectory = abs
	opts.Output = tag
	opts.Out = out
	opts.Err = out
	opts.ReportWriter = out
	opts.PullPolicy = define.PullIfMissing
	opts.RemoveIntermediateCtrs = true
	opts.Layers = true
	opts.NoCache = noCache

	_, err = images.Build(c.ctx(ctx), []string{dockerfile}, opts)
	if err == nil && ctx.Err() != nil {
		// The bindings report a build cut short by ctx as a success.
		err = ctx.Err()
	}
	if err != nil {
		msg := fmt.Sprintf("podman build %s from %s: %s", tag, dockerfile, strings.TrimSpace(err.Error()))
		if t := tail.String(); t != "" {
			msg += "\nlast lines of the build log:\n" + t
		}
		return &BuildError{msg: msg, err: err}
	}
	// A build whose stream ended early reports no error either; make sure
	// the image is really there.
	ok, err := c.ImageExists(ctx, tag)
	if err != nil {
		return err
	}
	if !ok {
		return &BuildError{msg: fmt.Sprintf("podman build %s from %s: build ended without producing the image\nlast lines of the build log:\n%s", tag, dockerfile, tail.String())}
	}
	return nil
}

// BuildError is a failed image build; its message ends with the build log's
// last lines.
type BuildError struct {
	msg string
	err error
}

func (e *BuildError) Error() string { return e.msg }
func (e *BuildError) Unwrap() error { return e.err }

// lineTail keeps the last max lines written to it.
type lineTail struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial string
}

func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data := t.partial + string(p)
	i := strings.LastIndexByte(data, '\n')
	if i < 0 {
		t.partial = data
		return len(p), nil
	}
	t.partial = data[i+1:]
	for _, l := range strings.Split(data[:i], "\n") {
		t.lines = append(t.lines, strings.TrimRight(l, "\r"))
	}
	if over := len(t.lines) - t.max; over > 0 {
		t.lines = append(t.lines[:0], t.lines[over:]...)
	}
	return len(p), nil
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if t.partial != "" {
		lines = append(append([]string(nil), lines...), t.partial)
	}
	if over := len(lines) - t.max; over > 0 {
		lines = lines[over:]
	}
	return strings.Join(lines, "\n")
}

// PruneImages removes dangling images, then every image tagged under one
// of the repositories (e.g. "localhost/airut-overlay") that was built
// more than maxAge ago, and returns the tags removed. An image a
// container still uses is kept (podman refuses to remove it).
func (c *Client) PruneImages(ctx context.Context, repos []string, maxAge time.Duration) ([]string, error) {
	if _, err := images.Prune(c.ctx(ctx), nil); err != nil {
		return nil, fmt.Errorf("podman image prune: %w", err)
	}
	list, err := images.List(c.ctx(ctx), nil)
	if err != nil {
		return nil, fmt.Errorf("podman images: %w", err)
	}
	var removed []string
	for _, img := range list {
		if time.Since(time.Unix(img.Created, 0)) <= maxAge {
			continue
		}
		for _, tag := range img.RepoTags {
			repo, _, _ := strings.Cut(tag, ":")
			if !slices.Contains(repos, repo) {
				continue
			}
			if _, errs := images.Remove(c.ctx(ctx), []string{tag}, nil); len(errs) > 0 {
				continue // in use, or gone meanwhile
			}
			removed = append(removed, tag)
		}
	}
	return removed, nil
}
