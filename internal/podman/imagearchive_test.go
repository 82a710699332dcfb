package podman

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
)

// removeImageAtEnd removes tag, whatever image it then names, when the
// test ends.
func removeImageAtEnd(t *testing.T, c *Client, tag string) {
	t.Cleanup(func() {
		_, _ = images.Remove(c.ctx(context.Background()), []string{tag}, new(images.RemoveOptions).WithForce(true))
	})
}

// buildScratchImage builds an image FROM scratch holding only /f with the
// given content, tagged tag (removed when the test ends).
func buildScratchImage(t *testing.T, c *Client, tag, content string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY f /f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, c, tag)
	if err := c.BuildImage(context.Background(), dir, tag, nil, false); err != nil {
		t.Fatal(err)
	}
}

// archiveTag returns a fresh tag under localhost/airut-test-archive-....
func archiveTag(label string) string {
	return "localhost/airut-test-archive-" + label + "-" + randHex(4) + ":" + randHex(4)
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func created(t *testing.T, c *Client, tag string) time.Time {
	t.Helper()
	at, ok, err := c.ImageCreated(context.Background(), tag)
	if err != nil || !ok || at.IsZero() {
		t.Fatalf("ImageCreated(%s) = %v, %v, %v; want a build time", tag, at, ok, err)
	}
	return at
}

func TestSaveLoadImages(t *testing.T) {
	c := client(t)
	ctx := context.Background()

	// Image A carries two tags, image B one.
	a1, b := archiveTag("a"), archiveTag("b")
	a2 := strings.Split(a1, ":")[0] + ":second"
	buildScratchImage(t, c, a1, "image a "+randHex(8)+"\n")
	removeImageAtEnd(t, c, a2)
	if err := images.Tag(c.ctx(ctx), a1, "second", strings.Split(a1, ":")[0], nil); err != nil {
		t.Fatalf("tagging %s as %s: %v", a1, a2, err)
	}
	time.Sleep(1100 * time.Millisecond) // so the two build times differ even in whole seconds
	buildScratchImage(t, c, b, "image b "+randHex(8)+"\n")
	tags := []string{a1, a2, b}
	before := map[string]time.Time{}
	for _, tag := range tags {
		before[tag] = created(t, c, tag)
	}
	if before[a1].Equal(before[b]) {
		t.Fatalf("the two images have the same build time %v", before[a1])
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "images.tar")
	// An older archive at path is replaced.
	if err := os.WriteFile(path, []byte("old archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.SaveImages(ctx, path, tags); err != nil {
		t.Fatal(err)
	}
	saveTook := time.Since(start)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"images.tar"}) {
		t.Errorf("directory holds %v after the save, want only images.tar", got)
	}

	if _, errs := images.Remove(c.ctx(ctx), tags, new(images.RemoveOptions).WithForce(true)); len(errs) > 0 {
		t.Fatalf("removing %v: %v", tags, errs)
	}
	for _, tag := range tags {
		if ok, err := c.ImageExists(ctx, tag); err != nil || ok {
			t.Fatalf("ImageExists(%s) = %v, %v after removing it", tag, ok, err)
		}
	}

	start = time.Now()
	names, err := c.LoadImages(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	loadTook := time.Since(start)
	t.Logf("archive %d bytes; SaveImages took %v, LoadImages took %v; LoadImages returned %v",
		st.Size(), saveTook.Round(time.Millisecond), loadTook.Round(time.Millisecond), names)
	for _, tag := range tags {
		if !slices.Contains(names, tag) {
			t.Errorf("LoadImages returned %v, which lacks %s", names, tag)
		}
		ok, err := c.ImageExists(ctx, tag)
		if err != nil || !ok {
			t.Errorf("ImageExists(%s) = %v, %v after the load", tag, ok, err)
			continue
		}
		if after := created(t, c, tag); !after.Equal(before[tag]) {
			t.Errorf("ImageCreated(%s) = %v after the load, %v before the save", tag, after, before[tag])
		}
	}
	// The two tags of A still name one image, not two copies.
	ia1, err := images.GetImage(c.ctx(ctx), a1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ia2, err := images.GetImage(c.ctx(ctx), a2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ia1.ID != ia2.ID {
		t.Errorf("after the load %s is image %s and %s is image %s; want one image", a1, ia1.ID, a2, ia2.ID)
	}
}

func TestSaveImagesMissingImage(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	present := archiveTag("present")
	buildScratchImage(t, c, present, "present\n")
	missing := "localhost/airut-test-archive-missing-" + randHex(4) + ":never"

	t.Run("no file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "images.tar")
		err := c.SaveImages(ctx, path, []string{present, missing})
		if err == nil {
			t.Fatal("SaveImages of a missing image succeeded")
		}
		if !strings.Contains(err.Error(), missing) {
			t.Errorf("error %q does not name the missing image %s", err, missing)
		}
		if strings.Contains(err.Error(), present) {
			t.Errorf("error %q names the image that exists, %s", err, present)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after the failed save, stat %s: %v; want no file", path, err)
		}
		if got := dirEntries(t, dir); len(got) != 0 {
			t.Errorf("the failed save left %v behind", got)
		}
	})

	t.Run("older archive kept", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "images.tar")
		if err := os.WriteFile(path, []byte("older archive"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveImages(ctx, path, []string{missing}); err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v, want one naming %s", err, missing)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "older archive" {
			t.Errorf("the older archive now reads %q, %v", b, err)
		}
		if got := dirEntries(t, dir); !slices.Equal(got, []string{"images.tar"}) {
			t.Errorf("directory holds %v, want only images.tar", got)
		}
	})

	t.Run("no names", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "images.tar")
		if err := c.SaveImages(ctx, path, nil); err == nil {
			t.Fatal("SaveImages of no images succeeded")
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat %s: %v; want no file", path, err)
		}
	})
}

func TestSaveImagesCutShort(t *testing.T) {
	c := client(t)

	t.Run("cancelled while streaming", func(t *testing.T) {
		// The base image is large enough (hundreds of MB) that the
		// transfer is still going when the first bytes show.
		dir := t.TempDir()
		path := filepath.Join(dir, "images.tar")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sawBytes := make(chan struct{})
		go func() {
			defer close(sawBytes)
			for ctx.Err() == nil {
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					if info, err := e.Info(); err == nil && info.Size() > 0 {
						cancel()
						return
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
		err := c.SaveImages(ctx, path, []string{testImage})
		cancel()
		<-sawBytes
		if err == nil {
			t.Fatal("SaveImages cancelled mid-transfer succeeded")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want one wrapping context.Canceled", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after the cancelled save, stat %s: %v; want no file", path, err)
		}
		if got := dirEntries(t, dir); len(got) != 0 {
			t.Errorf("the cancelled save left %v behind", got)
		}
	})

	t.Run("cannot rename", func(t *testing.T) {
		tag := archiveTag("rename")
		buildScratchImage(t, c, tag, "rename\n")
		dir := t.TempDir()
		path := filepath.Join(dir, "images.tar")
		if err := os.Mkdir(path, 0o755); err != nil { // a directory in the way
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "x"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveImages(context.Background(), path, []string{tag}); err == nil {
			t.Fatal("SaveImages over a non-empty directory succeeded")
		}
		if got := dirEntries(t, dir); !slices.Equal(got, []string{"images.tar"}) {
			t.Errorf("directory holds %v after the failed save, want only images.tar", got)
		}
	})
}

func TestArchiveTruncated(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	tag := archiveTag("trunc")
	buildScratchImage(t, c, tag, strings.Repeat("truncated archive\n", 1000))
	dir := t.TempDir()
	path := filepath.Join(dir, "images.tar")
	if err := c.SaveImages(ctx, path, []string{tag}); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := checkDockerArchive(f, []string{tag}); err != nil {
		t.Errorf("checkDockerArchive of a whole archive: %v", err)
	}
	if err := checkDockerArchive(f, []string{"localhost/airut-test-archive-other:x"}); err == nil || !strings.Contains(err.Error(), "lacks the tag") {
		t.Errorf("checkDockerArchive with a tag the archive lacks: %v", err)
	}

	half := filepath.Join(dir, "half.tar")
	if err := os.WriteFile(half, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	hf, err := os.Open(half)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	if err := checkDockerArchive(hf, nil); err == nil {
		t.Error("checkDockerArchive of half an archive found nothing wrong")
	}

	if _, errs := images.Remove(c.ctx(ctx), []string{tag}, new(images.RemoveOptions).WithForce(true)); len(errs) > 0 {
		t.Fatal(errs)
	}
	names, err := c.LoadImages(ctx, half)
	if err == nil {
		t.Errorf("LoadImages of half an archive succeeded, restoring %v", names)
	} else {
		t.Logf("LoadImages of half an archive: %v", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadImages of a damaged archive: %v wraps fs.ErrNotExist", err)
	}
	if ok, _ := c.ImageExists(ctx, tag); ok {
		t.Errorf("%s exists after loading half an archive", tag)
	}

	// The whole archive, of a single image, still restores its tag.
	names, err = c.LoadImages(ctx, path)
	if err != nil || !slices.Equal(names, []string{tag}) {
		t.Errorf("LoadImages of the whole archive = %v, %v; want [%s]", names, err, tag)
	}
	if ok, err := c.ImageExists(ctx, tag); err != nil || !ok {
		t.Errorf("ImageExists(%s) = %v, %v after loading the whole archive", tag, ok, err)
	}
}

func TestLoadImagesMissingFile(t *testing.T) {
	c := client(t)
	path := filepath.Join(t.TempDir(), "none.tar")
	names, err := c.LoadImages(context.Background(), path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadImages(missing) = %v, %v; want an error wrapping fs.ErrNotExist", names, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestLoadImagesNotAnArchive(t *testing.T) {
	c := client(t)
	path := filepath.Join(t.TempDir(), "junk.tar")
	if err := os.WriteFile(path, []byte("this is not an image archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	names, err := c.LoadImages(context.Background(), path)
	if err == nil {
		t.Fatalf("LoadImages of junk succeeded, restoring %v", names)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadImages of junk: %v wraps fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	t.Logf("LoadImages of junk: %v", err)
}
