package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeBranch is a default branch with one directory's files.
type fakeBranch map[string]string

func (b fakeBranch) ReadDir(context.Context, string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for n, c := range b {
		out[n] = []byte(c)
	}
	return out, nil
}

// builtImage is one image build the fake store saw.
type builtImage struct {
	tag     string
	noCache bool
	files   map[string]string
	modes   map[string]os.FileMode
}

// fakeStore is podman's image store: images by tag with their build time.
type fakeStore struct {
	images  map[string]time.Time
	builds  []builtImage
	failing error
	pruned  []string
	maxAge  time.Duration
}

func (s *fakeStore) ImageCreated(_ context.Context, name string) (time.Time, bool, error) {
	t, ok := s.images[name]
	return t, ok, nil
}

func (s *fakeStore) BuildImage(_ context.Context, dir, tag string, _ io.Writer, noCache bool) error {
	if s.failing != nil {
		return s.failing
	}
	b := builtImage{tag: tag, noCache: noCache, files: map[string]string{}, modes: map[string]os.FileMode{}}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		info, _ := e.Info()
		b.files[e.Name()], b.modes[e.Name()] = string(data), info.Mode().Perm()
	}
	s.builds = append(s.builds, b)
	s.images[tag] = time.Now()
	return nil
}

func (s *fakeStore) PruneImages(_ context.Context, repos []string, maxAge time.Duration) ([]string, error) {
	s.pruned, s.maxAge = repos, maxAge
	return nil, nil
}

func (s *fakeStore) tags() []string {
	var out []string
	for _, b := range s.builds {
		out = append(out, b.tag[:strings.Index(b.tag, ":")])
	}
	return out
}

// The agent image is the repo's Dockerfile from the default branch with
// the overlay on top, both tagged by content: built once, reused while
// fresh, rebuilt without the cache once older than the max age.
func TestImagesBuildRepoLayerAndOverlay(t *testing.T) {
	ctx := context.Background()
	store := &fakeStore{images: map[string]time.Time{}}
	src := RepoImage{Branch: fakeBranch{"Dockerfile": "FROM debian\n", "gitconfig": "[user]\n"}, Dir: ".airut/container", MaxAge: time.Hour}
	var im Images

	image, err := im.Ensure(ctx, store, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := store.tags(); !slices.Equal(got, []string{repoLayerImages, overlayImages}) {
		t.Fatalf("built %v, want the repo layer then the overlay", got)
	}
	repo, overlay := store.builds[0], store.builds[1]
	if repo.files["Dockerfile"] != "FROM debian\n" || repo.files["gitconfig"] != "[user]\n" || repo.noCache {
		t.Errorf("repo layer built from %v (no cache %v), want the branch's files with the cache", repo.files, repo.noCache)
	}
	if image != overlay.tag || !strings.HasPrefix(overlay.files["Dockerfile"], "FROM "+repo.tag+"\n") {
		t.Errorf("image %s from overlay Dockerfile %q, want the overlay on %s", image, overlay.files["Dockerfile"], repo.tag)
	}
	if overlay.files[entrypointFile] != entrypoint() || overlay.modes[entrypointFile] != 0o755 {
		t.Errorf("overlay entrypoint mode %v, want the script, executable", overlay.modes[entrypointFile])
	}

	again, err := im.Ensure(ctx, store, src, nil)
	if err != nil || again != image || len(store.builds) != 2 {
		t.Errorf("second Ensure = %s, %v after %d builds; want %s reused", again, err, len(store.builds), image)
	}

	store.images[repo.tag] = time.Now().Add(-2 * time.Hour)
	rebuilt, err := im.Ensure(ctx, store, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(store.builds) != 4 || !store.builds[2].noCache || store.builds[2].tag != repo.tag {
		t.Fatalf("after max age: builds %v, want the repo layer rebuilt without cache", store.tags())
	}
	if rebuilt == image {
		t.Errorf("overlay %s kept over a rebuilt repo layer, want a fresh one", rebuilt)
	}

	src.Branch = fakeBranch{"Dockerfile": "FROM fedora\n"}
	other, err := im.Ensure(ctx, store, src, nil)
	if err != nil || other == rebuilt || store.builds[4].tag == repo.tag {
		t.Errorf("a changed Dockerfile gave %s (%v), want new repo layer and overlay tags", other, err)
	}
}

// Without a Dockerfile the configured image is the repo layer; what is
// missing or fails is an error a person fixes.
func TestImagesFallbackAndErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		src     RepoImage
		images  map[string]time.Time
		failing error
		want    error
		from    string
	}{
		{"configured image", RepoImage{Branch: fakeBranch{}, Fallback: "localhost/base"}, map[string]time.Time{"localhost/base": time.Now()}, nil, nil, "localhost/base"},
		{"configured image missing", RepoImage{Branch: fakeBranch{}, Fallback: "localhost/base"}, nil, nil, ErrImageNotFound, ""},
		{"neither", RepoImage{Branch: fakeBranch{}}, nil, nil, ErrNoImage, ""},
		{"build fails", RepoImage{Branch: fakeBranch{"Dockerfile": "FROM nowhere\n"}}, nil, errors.New("pull access denied"), ErrBuildFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{images: map[string]time.Time{}, failing: tt.failing}
			for k, v := range tt.images {
				store.images[k] = v
			}
			var im Images
			_, err := im.Ensure(ctx, store, tt.src, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Ensure error = %v, want %v", err, tt.want)
			}
			if tt.failing != nil && err.Error() != "image build failed: pull access denied" {
				t.Errorf("error = %q, want the build's reason", err)
			}
			if tt.from != "" && !strings.HasPrefix(store.builds[0].files["Dockerfile"], "FROM "+tt.from+"\n") {
				t.Errorf("overlay Dockerfile %q, want FROM %s", store.builds[0].files["Dockerfile"], tt.from)
			}
		})
	}
}

// Prune removes Airut's own images only, the proxy's included.
func TestImagesPrune(t *testing.T) {
	store := &fakeStore{}
	var im Images
	if _, err := im.Prune(context.Background(), store, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(store.pruned, []string{"localhost/airut-repo", "localhost/airut-overlay", "localhost/airut-proxy"}) || store.maxAge != 24*time.Hour {
		t.Errorf("pruned %v older than %v", store.pruned, store.maxAge)
	}
}

// The entrypoint adds the CA mounted at CACertPath to each system bundle;
// its bytes are part of every overlay's tag.
func TestEntrypoint(t *testing.T) {
	script := entrypoint()
	if !strings.Contains(script, "\nca="+CACertPath+"\n") {
		t.Errorf("entrypoint does not read the CA at %s:\n%s", CACertPath, script)
	}
	if !strings.Contains(script, "for b in "+bundleDebian+" "+bundleFedora+" "+bundleAlpine+"; do") {
		t.Errorf("entrypoint does not try every system bundle:\n%s", script)
	}
	if strings.Contains(script, "{{") {
		t.Errorf("entrypoint has an unfilled placeholder:\n%s", script)
	}
}
