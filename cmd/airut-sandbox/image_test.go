package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// image save writes the images a run needs; after they are removed from
// Podman, image load brings them back and a run starts without building
// anything. image hash names them.
func TestImageSaveLoad(t *testing.T) {
	// A Dockerfile of this test's own: its images are removed below.
	e := newEnv(t, map[string]string{
		".airut/container/Dockerfile": "FROM " + baseImage + "\nLABEL airut.test.cli=" + testID + " airut.test.cli.save=" + randHex(4) + "\n",
	}).withUpstream()
	cache := filepath.Join(t.TempDir(), "cache")

	r := e.run("image", "", "hash")
	if r.code != 0 {
		t.Fatalf("image hash\n%s", r)
	}
	hashes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		k, v, _ := strings.Cut(line, "=")
		hashes[k] = v
	}
	if len(hashes) != 2 || len(hashes["repo"]) != 32 || len(hashes["proxy"]) != 32 {
		t.Fatalf("image hash: want repo=<hash> and proxy=<hash>\n%s", r)
	}

	r = e.run("image", "", "save", cache)
	if r.code != 0 || !strings.Contains(r.stdout, "repo.tar") {
		t.Fatalf("image save\n%s", r)
	}
	for _, name := range []string{"repo.tar", "proxy.tar"} {
		if st, err := os.Stat(filepath.Join(cache, name)); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v); want it readable by a CI cache step (0644)", name, modeOf(st), err)
		}
	}
	repoTags := archiveTags(t, filepath.Join(cache, "repo.tar"))
	proxyTags := archiveTags(t, filepath.Join(cache, "proxy.tar"))
	repoImage := "localhost/airut-repo:" + hashes["repo"]
	proxyImage := "localhost/airut-proxy:" + hashes["proxy"]
	if len(repoTags) != 2 || !slices.Contains(repoTags, repoImage) || !slices.Equal(proxyTags, []string{proxyImage}) {
		t.Fatalf("archives hold %v and %v; want %s with its overlay, and %s", repoTags, proxyTags, repoImage, proxyImage)
	}
	for _, tag := range append(repoTags, proxyImage) {
		if !strings.Contains(r.stdout, "saved "+tag+"\n") {
			t.Errorf("image save does not say it saved %s\n%s", tag, r)
		}
	}

	// Remove them as a fresh CI machine lacks them: the overlay first (it
	// is built on the repo layer).
	var overlay string
	for _, tag := range repoTags {
		if tag != repoImage {
			overlay = tag
		}
	}
	for _, tag := range []string{overlay, repoImage, proxyImage} {
		if out, err := exec.Command("podman", "rmi", tag).CombinedOutput(); err != nil {
			t.Fatalf("podman rmi %s: %v\n%s", tag, err, out)
		}
		if exec.Command("podman", "image", "exists", tag).Run() == nil {
			t.Fatalf("%s still exists", tag)
		}
	}

	r = e.run("image", "", "load", cache)
	if r.code != 0 {
		t.Fatalf("image load\n%s", r)
	}
	for _, tag := range []string{overlay, repoImage, proxyImage} {
		if !strings.Contains(r.stdout, "loaded "+tag) {
			t.Errorf("image load does not say it loaded %s\n%s", tag, r)
		}
	}

	r = e.run("run", "", "--verbose", "--", "sh", "-c", "curl -sS https://api.cli.test/v1/after-load")
	if r.code != 0 || r.stdout != "upstream ok" {
		t.Fatalf("run after load: want exit 0 and the upstream's answer\n%s", r)
	}
	if strings.Contains(r.stderr, "building image") {
		t.Errorf("the run built an image although all were loaded\n%s", r)
	}
	if !strings.Contains(r.stderr, "image="+overlay) {
		t.Errorf("the run did not use the loaded image %s\n%s", overlay, r)
	}

	// A cache miss: nothing to load is not an error.
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		r = e.run("image", "", "load", dir)
		if r.code != 0 || !strings.Contains(r.stdout, "nothing to load") {
			t.Errorf("image load of an empty or missing dir: want exit 0 and \"nothing to load\"\n%s", r)
		}
	}

	// image build reports the images, present already.
	r = e.run("image", "", "build")
	if want := "image ready: " + overlay + "\nproxy image ready: " + proxyImage; r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Errorf("image build: want %q\n%s", want, r)
	}
}

// archiveTags lists the tags in a docker-archive's manifest.json.
func archiveTags(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s has no manifest.json", path)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			t.Fatalf("%s: manifest.json: %v", path, err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		return tags
	}
}

func modeOf(st os.FileInfo) os.FileMode {
	if st == nil {
		return 0
	}
	return st.Mode().Perm()
}

// The image flags go after the subcommand, as CI scripts write them.
func TestImageFlagsAfterSubcommand(t *testing.T) {
	e := newEnv(t, nil)
	r := e.run("image", "", "hash", "--max-image-age", "168", "--dockerfile", ".airut/container/Dockerfile")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "repo=") {
		t.Errorf("image hash --max-image-age 168: want exit 0 and the hashes\n%s", r)
	}
}
