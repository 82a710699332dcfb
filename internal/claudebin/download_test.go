package claudebin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/claudebin"

	"github.com/airut-go/airut/internal/testing/syncbuf"
)

// fakeBinary is a small stand-in for a release binary.
func fakeBinary(version string) []byte {
	return []byte("\x7fELF fake claude " + version + strings.Repeat(".", 1000))
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// step answers one request in place of the file a releases server serves.
type step func(w http.ResponseWriter, r *http.Request)

func status(code int) step {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, http.StatusText(code), code) }
}

// truncated promises the whole body and sends half of it.
func truncated(body []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// chunked sends body without a Content-Length.
func chunked(body []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		w.Write(body)
	}
}

// releases is a fake release server on loopback.
type releases struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	files   map[string][]byte
	steps   map[string][]step // answers for a path's first requests
	hits    map[string]int
	noCache map[string][]bool // per request to a path: did it send Cache-Control: no-cache?
	hold    map[string]time.Duration
	block   map[string]bool // hang until the client goes away
	done    chan struct{}
}

func newReleases(t *testing.T) *releases {
	s := &releases{
		t:       t,
		files:   map[string][]byte{},
		steps:   map[string][]step{},
		hits:    map[string]int{},
		noCache: map[string][]bool{},
		hold:    map[string]time.Duration{},
		block:   map[string]bool{},
		done:    make(chan struct{}),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.done) }) // runs first, releasing blocked handlers
	return s
}

func (s *releases) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := r.URL.Path
	s.hits[p]++
	s.noCache[p] = append(s.noCache[p], r.Header.Get("Cache-Control") == "no-cache")
	var st step
	if len(s.steps[p]) > 0 {
		st, s.steps[p] = s.steps[p][0], s.steps[p][1:]
	}
	body, ok := s.files[p]
	hold, block := s.hold[p], s.block[p]
	s.mu.Unlock()

	if block {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	time.Sleep(hold)
	switch {
	case st != nil:
		st(w, r)
	case !ok:
		http.NotFound(w, r)
	default:
		w.Write(body)
	}
}

// add publishes version with bin as its linux-x64 binary and a manifest
// listing entry (default: bin's checksum and size).
func (s *releases) add(version string, bin []byte, entry map[string]any) {
	if entry == nil {
		entry = map[string]any{"checksum": sum(bin), "size": len(bin)}
	}
	m, _ := json.Marshal(map[string]any{
		"version": version,
		"platforms": map[string]any{
			"linux-x64":    entry,
			"darwin-arm64": map[string]any{"checksum": strings.Repeat("0", 64), "size": 1},
		},
	})
	s.set("/"+version+"/manifest.json", m)
	s.set("/"+version+"/linux-x64/claude", bin)
}

func (s *releases) set(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
}

func (s *releases) script(path string, steps ...step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps[path] = steps
}

func (s *releases) setHold(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold[path] = d
}

func (s *releases) setBlock(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.block[path] = true
}

func (s *releases) file(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[path]
}

func (s *releases) cacheControl(path string) []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noCache[path]
}

func (s *releases) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *releases) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

func (s *releases) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits = map[string]int{}
	s.noCache = map[string][]bool{}
}

func (s *releases) downloader(t *testing.T) (*claudebin.Downloader, *syncbuf.Buffer) {
	logs := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	return &claudebin.Downloader{
		BaseURL:    s.srv.URL,
		CacheDir:   t.TempDir(),
		Platform:   "linux-x64",
		Client:     s.srv.Client(),
		Log:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetryDelay: time.Millisecond,
	}, logs
}

// cachePath is where d keeps version's binary, as Ensure reports it.
func cachePath(t *testing.T, d *claudebin.Downloader, version string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(d.CacheDir)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, version, "claude")
}

// leftovers lists the files in the cache other than lock files.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p != dir && !strings.HasSuffix(p, ".lock") {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

func TestEnsureDownloadsVersion(t *testing.T) {
	s := newReleases(t)
	bin := fakeBinary("2.1.197")
	s.add("2.1.197", bin, nil)
	d, _ := s.downloader(t)

	got, err := d.Ensure(t.Context(), "2.1.197")
	if err != nil {
		t.Fatal(err)
	}
	if want := cachePath(t, d, "2.1.197"); got != want {
		t.Fatalf("Ensure() = %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, bin) {
		t.Fatalf("cached binary differs from the release")
	}
	if fi, _ := os.Stat(got); fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", fi.Mode())
	}
	m, _ := os.ReadFile(filepath.Join(filepath.Dir(got), "manifest.json"))
	if !bytes.Equal(m, s.file("/2.1.197/manifest.json")) {
		t.Fatalf("saved manifest %q differs from the release's", m)
	}
	if l := leftovers(t, d.CacheDir); len(l) != 3 { // 2.1.197, its claude and manifest.json
		t.Fatalf("cache holds %q", l)
	}
	if n := s.count("/2.1.197/linux-x64/claude"); n != 1 {
		t.Fatalf("binary fetched %d times", n)
	}
	// The result is what Resolve accepts from claude_binary.
	if p, err := claudebin.Resolve(got); err != nil || p != got {
		t.Fatalf("Resolve(%q) = %q, %v", got, p, err)
	}

	s.reset()
	again, err := d.Ensure(t.Context(), "2.1.197")
	if err != nil || again != got {
		t.Fatalf("second Ensure() = %q, %v", again, err)
	}
	if n := s.total(); n != 0 {
		t.Fatalf("cache hit made %d requests", n)
	}
}

func TestEnsureChannel(t *testing.T) {
	s := newReleases(t)
	s.add("2.1.197", fakeBinary("2.1.197"), nil)
	s.add("2.1.150", fakeBinary("2.1.150"), nil)
	s.set("/latest", []byte("2.1.197\n"))
	s.set("/stable", []byte(" 2.1.150 "))
	d, _ := s.downloader(t)

	for _, tt := range []struct{ channel, version string }{{"latest", "2.1.197"}, {"stable", "2.1.150"}} {
		got, err := d.Ensure(t.Context(), tt.channel)
		if err != nil || got != cachePath(t, d, tt.version) {
			t.Fatalf("Ensure(%q) = %q, %v; want version %s", tt.channel, got, err, tt.version)
		}
	}
	var saved map[string]struct {
		Version    string    `json:"version"`
		ResolvedAt time.Time `json:"resolved_at"`
	}
	data, _ := os.ReadFile(filepath.Join(d.CacheDir, ".resolutions.json"))
	if err := json.Unmarshal(data, &saved); err != nil || saved["latest"].Version != "2.1.197" ||
		saved["stable"].Version != "2.1.150" || time.Since(saved["latest"].ResolvedAt) > time.Minute {
		t.Fatalf(".resolutions.json = %s (%v)", data, err)
	}

	s.reset()
	s.set("/latest", []byte("2.1.999")) // not looked at again within the hour
	for _, ch := range []string{"latest", "stable", "latest"} {
		if _, err := d.Ensure(t.Context(), ch); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.total(); n != 0 {
		t.Fatalf("cached channel and binary made %d requests", n)
	}
}

// writeResolution records channel as resolved to version at the given time.
func writeResolution(t *testing.T, d *claudebin.Downloader, channel, version string, at time.Time) {
	t.Helper()
	data, _ := json.Marshal(map[string]any{channel: map[string]any{"version": version, "resolved_at": at}})
	if err := os.WriteFile(filepath.Join(d.CacheDir, ".resolutions.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureChannelRefresh(t *testing.T) {
	t.Run("expired resolution refreshed", func(t *testing.T) {
		s := newReleases(t)
		s.add("2.1.197", fakeBinary("2.1.197"), nil)
		s.set("/latest", []byte("2.1.197"))
		d, _ := s.downloader(t)
		writeResolution(t, d, "latest", "2.1.100", time.Now().Add(-2*time.Hour))
		got, err := d.Ensure(t.Context(), "latest")
		if err != nil || got != cachePath(t, d, "2.1.197") {
			t.Fatalf("Ensure() = %q, %v", got, err)
		}
	})
	t.Run("refresh failure uses previous version", func(t *testing.T) {
		s := newReleases(t)
		s.add("2.1.100", fakeBinary("2.1.100"), nil)
		s.script("/latest", status(500), status(500), status(500))
		d, logs := s.downloader(t)
		writeResolution(t, d, "latest", "2.1.100", time.Now().Add(-3*time.Hour))
		got, err := d.Ensure(t.Context(), "latest")
		if err != nil || got != cachePath(t, d, "2.1.100") {
			t.Fatalf("Ensure() = %q, %v", got, err)
		}
		if n := s.count("/latest"); n != 1 {
			t.Fatalf("with a fallback, the channel was tried %d times; want once", n)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "2.1.100") {
			t.Fatalf("no warning logged:\n%s", logs)
		}
	})
	t.Run("cold cache resolution failure is an error", func(t *testing.T) {
		s := newReleases(t)
		s.script("/stable", status(503), status(503), status(503))
		d, _ := s.downloader(t)
		_, err := d.Ensure(t.Context(), "stable")
		if err == nil || !strings.Contains(err.Error(), "download claude stable: ") ||
			!strings.Contains(err.Error(), s.srv.URL+"/stable") || !strings.Contains(err.Error(), "503") {
			t.Fatalf("Ensure() error = %v", err)
		}
		if n := s.count("/stable"); n != 3 {
			t.Fatalf("channel tried %d times; want 3", n)
		}
	})
}

func TestEnsureErrors(t *testing.T) {
	const v = "2.1.197"
	bin := fakeBinary(v)
	tests := []struct {
		name    string
		version string
		setup   func(s *releases)
		errHas  []string
		binHits int // requests for the binary
	}{
		{
			name:    "checksum mismatch",
			version: v,
			setup: func(s *releases) {
				s.add(v, bin, map[string]any{"checksum": strings.Repeat("ab", 32), "size": len(bin)})
			},
			errHas:  []string{"checksum mismatch", "expected sha256 " + strings.Repeat("ab", 32), "got " + sum(bin)},
			binHits: 1,
		},
		{
			name:    "server sends more than the manifest says",
			version: v,
			setup:   func(s *releases) { s.add(v, bin, map[string]any{"checksum": sum(bin), "size": len(bin) - 1}) },
			errHas:  []string{"size mismatch", fmt.Sprintf("manifest says %d bytes", len(bin)-1)},
			binHits: 1,
		},
		{
			name:    "server sends less than the manifest says",
			version: v,
			setup:   func(s *releases) { s.add(v, bin, map[string]any{"checksum": sum(bin), "size": len(bin) + 10}) },
			errHas:  []string{"size mismatch", fmt.Sprintf("manifest says %d bytes", len(bin)+10), fmt.Sprint(len(bin))},
			binHits: 1,
		},
		{
			name:    "short body without Content-Length",
			version: v,
			setup: func(s *releases) {
				s.add(v, bin, map[string]any{"checksum": sum(bin), "size": len(bin) + 10})
				p := "/" + v + "/linux-x64/claude"
				s.script(p, chunked(bin), chunked(bin), chunked(bin))
			},
			errHas:  []string{"size mismatch", fmt.Sprintf("manifest says %d bytes, got only %d", len(bin)+10, len(bin)), "after 3 attempts"},
			binHits: 3,
		},
		{
			name:    "truncated every time",
			version: v,
			setup: func(s *releases) {
				s.add(v, bin, nil)
				s.script("/"+v+"/linux-x64/claude", truncated(bin), truncated(bin), truncated(bin))
			},
			errHas:  []string{"/" + v + "/linux-x64/claude", "after 3 attempts"},
			binHits: 3,
		},
		{
			name:    "manifest 404",
			version: v,
			setup:   func(s *releases) {},
			errHas:  []string{"/" + v + "/manifest.json", "404 Not Found"},
		},
		{
			name:    "platform missing from manifest",
			version: v,
			setup: func(s *releases) {
				s.set("/"+v+"/manifest.json", []byte(`{"platforms": {"darwin-arm64": {"checksum": "`+sum(bin)+`", "size": 3}, "linux-arm64": {}}}`))
			},
			errHas: []string{`no platform "linux-x64"`, "darwin-arm64, linux-arm64"},
		},
		{
			name:    "manifest not JSON",
			version: v,
			setup:   func(s *releases) { s.set("/"+v+"/manifest.json", []byte("<html>")) },
			errHas:  []string{"manifest " + "http", "invalid character"},
		},
		{
			name:    "channel answers HTML",
			version: "latest",
			setup:   func(s *releases) { s.set("/latest", []byte("<html>oops</html>")) },
			errHas:  []string{"/latest returned \"<html>oops</html>\"", "not a version"},
		},
		{
			name:    "bad version argument",
			version: "../../etc",
			setup:   func(s *releases) {},
			errHas:  []string{`"../../etc" is not "latest", "stable" or a version`},
		},
		{
			name:    "persistent server error",
			version: v,
			setup: func(s *releases) {
				s.add(v, bin, nil)
				s.script("/"+v+"/linux-x64/claude", status(502), status(502), status(502), status(502))
			},
			errHas:  []string{"/" + v + "/linux-x64/claude", "502 Bad Gateway", "after 3 attempts"},
			binHits: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newReleases(t)
			tt.setup(s)
			d, _ := s.downloader(t)
			got, err := d.Ensure(t.Context(), tt.version)
			if err == nil {
				t.Fatalf("Ensure() = %q, want an error", got)
			}
			if want := "download claude " + tt.version + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if n := s.count("/" + v + "/linux-x64/claude"); n != tt.binHits {
				t.Errorf("binary requested %d times, want %d", n, tt.binHits)
			}
			if l := leftovers(t, d.CacheDir); len(l) != 0 {
				t.Errorf("failure left %q in the cache", l)
			}
		})
	}
}

func TestEnsureRetries(t *testing.T) {
	const v = "2.1.197"
	s := newReleases(t)
	bin := fakeBinary(v)
	s.add(v, bin, nil)
	s.script("/"+v+"/manifest.json", status(500), status(500))
	s.script("/"+v+"/linux-x64/claude", truncated(bin), status(429))
	d, _ := s.downloader(t)
	d.RetryDelay = 20 * time.Millisecond

	start := time.Now()
	got, err := d.Ensure(t.Context(), v)
	if err != nil || got != cachePath(t, d, v) {
		t.Fatalf("Ensure() = %q, %v", got, err)
	}
	// Two waits per path: 20 ms then 40 ms.
	if took := time.Since(start); took < 120*time.Millisecond {
		t.Errorf("took %v; retries did not back off", took)
	}
	for _, p := range []string{"/" + v + "/manifest.json", "/" + v + "/linux-x64/claude"} {
		if got, want := s.cacheControl(p), []bool{false, true, true}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: Cache-Control: no-cache per request = %v, want %v", p, got, want)
		}
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, bin) {
		t.Fatal("cached binary differs from the release")
	}
	if l := leftovers(t, d.CacheDir); len(l) != 3 {
		t.Fatalf("cache holds %q", l)
	}
}

func TestEnsureRepairsCache(t *testing.T) {
	const v = "2.1.197"
	bin := fakeBinary(v)
	tests := []struct {
		name    string
		corrupt []byte
	}{
		{"same size, different bytes", append([]byte("\x7fELF corrupted"), bin[len("\x7fELF corrupted"):]...)},
		{"truncated", bin[:100]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newReleases(t)
			s.add(v, bin, nil)
			d, logs := s.downloader(t)
			p, err := d.Ensure(t.Context(), v)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.corrupt, 0o755); err != nil {
				t.Fatal(err)
			}
			// A file with a changed mtime is hashed again even within this process.
			future := time.Now().Add(time.Minute)
			os.Chtimes(p, future, future)

			if p2, err := d.Ensure(t.Context(), v); err != nil || p2 != p {
				t.Fatalf("Ensure() after corruption = %q, %v", p2, err)
			}
			if b, _ := os.ReadFile(p); !bytes.Equal(b, bin) {
				t.Fatal("corrupt binary was not replaced")
			}
			if n := s.count("/" + v + "/linux-x64/claude"); n != 2 {
				t.Fatalf("binary fetched %d times, want 2", n)
			}
			if !strings.Contains(logs.String(), "downloading it again") {
				t.Fatalf("repair not logged:\n%s", logs)
			}
		})
	}
}

func TestEnsureConcurrent(t *testing.T) {
	const v = "2.1.197"
	s := newReleases(t)
	s.add(v, fakeBinary(v), nil)
	s.setHold("/"+v+"/linux-x64/claude", 100*time.Millisecond)
	d, _ := s.downloader(t)

	const n = 4
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Separate Downloaders, as separate activities would have.
			d := *d
			paths[i], errs[i] = d.Ensure(t.Context(), v)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != cachePath(t, d, v) {
			t.Fatalf("Ensure #%d = %q, %v", i, paths[i], errs[i])
		}
	}
	if c := s.count("/" + v + "/linux-x64/claude"); c != 1 {
		t.Fatalf("binary downloaded %d times, want once", c)
	}
	if l := leftovers(t, d.CacheDir); len(l) != 3 {
		t.Fatalf("cache holds %q", l)
	}
}

func TestEnsureCancel(t *testing.T) {
	const v = "2.1.197"
	tests := []struct {
		name  string
		setup func(s *releases)
	}{
		{"during download", func(s *releases) { s.setBlock("/" + v + "/linux-x64/claude") }},
		{"during retry back-off", func(s *releases) { s.script("/"+v+"/manifest.json", status(500)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newReleases(t)
			s.add(v, fakeBinary(v), nil)
			tt.setup(s)
			d, _ := s.downloader(t)
			d.RetryDelay = time.Hour

			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := d.Ensure(ctx, v)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Ensure() error = %v, want deadline exceeded", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("Ensure() took %v after cancellation", took)
			}
			if l := leftovers(t, d.CacheDir); len(l) != 0 {
				t.Fatalf("cancelled download left %q", l)
			}
		})
	}

	t.Run("waiting for another download", func(t *testing.T) {
		s := newReleases(t)
		s.add(v, fakeBinary(v), nil)
		s.setBlock("/" + v + "/linux-x64/claude")
		d, _ := s.downloader(t)

		// The first call takes the version lock and hangs in the download.
		first, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { _, err := d.Ensure(first, v); done <- err }()
		for s.count("/"+v+"/linux-x64/claude") == 0 {
			time.Sleep(5 * time.Millisecond)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := d.Ensure(ctx, v)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "lock") {
			t.Fatalf("Ensure() error = %v, want deadline exceeded waiting for the lock", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Ensure() took %v after cancellation", took)
		}
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("first Ensure() error = %v", err)
		}
	})
}
