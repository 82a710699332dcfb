package claudebin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultBaseURL is where Anthropic publishes Claude Code release binaries.
const DefaultBaseURL = "https://downloads.claude.ai/claude-code-releases"

const (
	// resolutionTTL is how long a resolved "latest" or "stable" channel is
	// used before it is looked up again.
	resolutionTTL = time.Hour
	// attempts is how many times each GET is tried.
	attempts = 3
	// defaultRetryDelay is the wait before the first retry; it doubles after
	// each further failure.
	defaultRetryDelay = 2 * time.Second
	// defaultTimeout bounds each request, body included.
	defaultTimeout = 300 * time.Second

	maxChannelBody  = 1 << 10
	maxManifestBody = 1 << 20
)

var (
	semverRE   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	checksumRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	// defaultClient is shared so that connections are reused across calls.
	defaultClient = &http.Client{Timeout: defaultTimeout}
)

// Downloader fetches Claude Code release binaries into a cache dir. It is
// the fallback after [Resolve]: for when neither a configured binary nor a
// native `claude` on PATH exists. A zero Downloader with CacheDir set is
// usable, and one Downloader is safe for concurrent use; so are several, in
// one process or many, sharing a CacheDir.
//
// Protocol, relative to BaseURL:
//
//	GET latest, GET stable        the channel's current version, as text
//	GET {version}/manifest.json   {"platforms": {"linux-x64": {"checksum": sha256 hex, "size": bytes}, ...}}
//	GET {version}/{platform}/claude
//
// Cache layout under CacheDir:
//
//	.resolutions.json     {"latest": {"version": "2.1.197", "resolved_at": RFC 3339}, ...}
//	.resolutions.lock     flock guarding updates to .resolutions.json
//	.{version}.lock       flock held while a version is checked or downloaded
//	{version}/manifest.json  the release manifest, as downloaded
//	{version}/claude         the verified binary, mode 0755
//	{version}/.*.tmp         files being written; renamed into place only
//	                         once complete and verified
//
// A version directory is never left holding a binary that failed
// verification: a download is written to a temporary file beside its
// destination, checked against the manifest's size and sha256, and only then
// renamed into place (after the manifest, so a binary is never present
// without the manifest that vouches for it).
//
// A cached binary is trusted when its size matches the saved manifest and,
// the first time this process uses that file, its sha256 does too. After
// that the process remembers the file's identity (inode, size and mtime) and
// does not hash it again until that changes: hashing ~200 MB costs about
// half a second, too much to pay at every task start, but once per worker
// process it catches a file damaged on disk or by a crash, which a size check
// alone would not. A cached binary that fails is downloaded again.
type Downloader struct {
	BaseURL  string       // default DefaultBaseURL
	CacheDir string       // e.g. <state_dir>/claude-binaries; required
	Platform string       // default "linux-x64" ("linux-arm64" on arm64)
	Client   *http.Client // default: a client with a 300 s timeout per request
	Log      *slog.Logger // default slog.Default()

	// RetryDelay is the wait before retrying a failed request; it doubles
	// for each further attempt. Default 2 s.
	RetryDelay time.Duration
}

// Ensure returns the path of a verified binary for version ("latest",
// "stable" or a semver like "2.1.197"), downloading it if the cache lacks
// it. The path is absolute and free of symlinks, like [Resolve]'s.
//
// A channel ("latest", "stable") is looked up at most once an hour. When a
// lookup fails and the channel was resolved before, however long ago, the
// earlier version is used and a warning logged; such a refresh is tried only
// once, so that an unreachable release server does not add the retry
// back-off to every task start. Without an earlier resolution the lookup is
// retried like any other request and its failure is an error.
//
// Every request is tried up to three times, after 2 s and then 4 s (see
// RetryDelay), when it fails in a way that may be transient: a network
// error, HTTP 408, 429 or 5xx, or a body cut short. Retries send
// Cache-Control: no-cache. A checksum or size mismatch against the manifest,
// another HTTP status, or a platform the manifest lacks fails at once.
func (d *Downloader) Ensure(ctx context.Context, version string) (string, error) {
	p, err := d.ensure(ctx, version)
	if err != nil {
		return "", fmt.Errorf("download claude %s: %w", version, err)
	}
	return p, nil
}

func (d *Downloader) ensure(ctx context.Context, version string) (string, error) {
	if d.CacheDir == "" {
		return "", errors.New("no cache directory configured")
	}
	cache, err := filepath.Abs(d.CacheDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	switch {
	case version == "latest" || version == "stable":
		v, err := d.resolve(ctx, cache, version)
		if err != nil {
			return "", err
		}
		p, err := d.ensureVersion(ctx, cache, v)
		if err != nil {
			return "", fmt.Errorf("version %s: %w", v, err)
		}
		return p, nil
	case semverRE.MatchString(version):
		return d.ensureVersion(ctx, cache, version)
	default:
		return "", fmt.Errorf(`version %q is not "latest", "stable" or a version number like 2.1.197`, version)
	}
}

func (d *Downloader) baseURL() string {
	if d.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(d.BaseURL, "/")
}

func (d *Downloader) platform() string {
	if d.Platform != "" {
		return d.Platform
	}
	if runtime.GOARCH == "arm64" {
		return "linux-arm64"
	}
	return "linux-x64"
}

func (d *Downloader) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return defaultClient
}

func (d *Downloader) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

func (d *Downloader) retryDelay() time.Duration {
	if d.RetryDelay > 0 {
		return d.RetryDelay
	}
	return defaultRetryDelay
}

// Channel resolution.

type resolution struct {
	Version    string    `json:"version"`
	ResolvedAt time.Time `json:"resolved_at"`
}

func (r resolution) fresh() bool {
	age := time.Since(r.ResolvedAt)
	return age >= 0 && age < resolutionTTL
}

func (d *Downloader) resolve(ctx context.Context, cache, channel string) (string, error) {
	file := filepath.Join(cache, ".resolutions.json")
	if r, ok := d.readResolutions(file)[channel]; ok && r.fresh() {
		return r.Version, nil
	}
	unlock, err := d.lock(ctx, filepath.Join(cache, ".resolutions.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	all := d.readResolutions(file) // another caller may have just refreshed it
	prev, hadPrev := all[channel]
	if hadPrev && prev.fresh() {
		return prev.Version, nil
	}
	tries := attempts
	if hadPrev {
		tries = 1
	}
	v, err := d.fetchChannel(ctx, channel, tries)
	if err != nil {
		if hadPrev && ctx.Err() == nil {
			d.log().Warn("cannot refresh Claude Code release channel; using the version it had before",
				"channel", channel, "version", prev.Version, "resolved_at", prev.ResolvedAt, "err", err)
			return prev.Version, nil
		}
		return "", err
	}
	all[channel] = resolution{Version: v, ResolvedAt: time.Now().UTC()}
	data, _ := json.MarshalIndent(all, "", "  ")
	if err := writeFileAtomic(file, append(data, '\n'), 0o644); err != nil {
		// Not fatal: the version is known; the next call looks it up again.
		d.log().Warn("cannot save Claude Code channel resolution", "file", file, "err", err)
	}
	return v, nil
}

// readResolutions returns the saved channel resolutions, or an empty map if
// there are none or the file is unreadable.
func (d *Downloader) readResolutions(file string) map[string]resolution {
	all := map[string]resolution{}
	data, err := os.ReadFile(file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log().Warn("cannot read Claude Code channel resolutions", "file", file, "err", err)
		}
		return all
	}
	if err := json.Unmarshal(data, &all); err != nil {
		d.log().Warn("ignoring corrupt Claude Code channel resolutions", "file", file, "err", err)
		return map[string]resolution{}
	}
	for ch, r := range all {
		if !semverRE.MatchString(r.Version) { // it becomes a path component
			delete(all, ch)
		}
	}
	return all
}

func (d *Downloader) fetchChannel(ctx context.Context, channel string, tries int) (string, error) {
	url := d.baseURL() + "/" + channel
	var v string
	err := d.get(ctx, url, tries, func(resp *http.Response) error {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxChannelBody+1))
		if err != nil {
			return transient{fmt.Errorf("GET %s: %w", url, err)}
		}
		got := strings.TrimSpace(string(body))
		if len(body) > maxChannelBody || !semverRE.MatchString(got) {
			if len(got) > 80 {
				got = got[:80] + "…"
			}
			return fmt.Errorf("GET %s returned %q, which is not a version number", url, got)
		}
		v = got
		return nil
	})
	return v, err
}

// Version download.

type platformEntry struct {
	Checksum string `json:"checksum"`
	Size     int64  `json:"size"`
}

type manifest struct {
	Version   string                   `json:"version"`
	Platforms map[string]platformEntry `json:"platforms"`
}

// parseManifest returns the entry for platform in a release manifest read
// from src (a URL or file, for messages).
func parseManifest(data []byte, src, version, platform string) (platformEntry, error) {
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return platformEntry{}, fmt.Errorf("manifest %s: %w", src, err)
	}
	if m.Version != "" && m.Version != version {
		return platformEntry{}, fmt.Errorf("manifest %s is for version %s", src, m.Version)
	}
	e, ok := m.Platforms[platform]
	if !ok {
		names := make([]string, 0, len(m.Platforms))
		for name := range m.Platforms {
			names = append(names, name)
		}
		slices.Sort(names)
		return platformEntry{}, fmt.Errorf("manifest %s has no platform %q; it lists: %s", src, platform, strings.Join(names, ", "))
	}
	if !checksumRE.MatchString(e.Checksum) || e.Size <= 0 {
		return platformEntry{}, fmt.Errorf("manifest %s: platform %q has an invalid checksum %q or size %d", src, platform, e.Checksum, e.Size)
	}
	e.Checksum = strings.ToLower(e.Checksum)
	return e, nil
}

func (d *Downloader) ensureVersion(ctx context.Context, cache, version string) (string, error) {
	dir := filepath.Join(cache, version)
	bin := filepath.Join(dir, "claude")
	if d.cached(dir, false) {
		return check(bin)
	}
	unlock, err := d.lock(ctx, filepath.Join(cache, "."+version+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	// Whoever held the lock may have just downloaded it; or it may only need
	// hashing.
	if d.cached(dir, true) {
		return check(bin)
	}
	if err := d.download(ctx, dir, version); err != nil {
		os.Remove(dir) // only if empty: drop what a failed first download created
		return "", err
	}
	return check(bin)
}

// verified remembers the cached binaries this process has hashed, by path,
// with the identity of the file that matched.
var verified sync.Map // string -> fileID

type fileID struct {
	ino, size int64
	mtime     int64
	sum       string
}

func idOf(fi os.FileInfo, sum string) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano(), sum: sum}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = int64(st.Ino)
	}
	return id
}

// cached reports whether dir holds a binary matching its saved manifest for
// d.Platform: the size always, the sha256 if this process has not yet
// verified that very file. Unless full is set, a file needing hashing counts
// as not cached (the caller takes the version lock and asks again with full,
// so that concurrent callers do not all hash it). A full check deletes a
// binary that fails.
func (d *Downloader) cached(dir string, full bool) bool {
	bin := filepath.Join(dir, "claude")
	mpath := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(mpath)
	if err != nil {
		return false
	}
	want, err := parseManifest(data, mpath, filepath.Base(dir), d.platform())
	if err != nil {
		if full {
			d.log().Warn("ignoring cached Claude Code manifest", "err", err)
		}
		return false
	}
	fi, err := os.Stat(bin)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if fi.Size() != want.Size {
		if full {
			d.log().Warn("cached Claude Code binary has the wrong size; downloading it again",
				"path", bin, "size", fi.Size(), "expected", want.Size)
			os.Remove(bin)
		}
		return false
	}
	if id, ok := verified.Load(bin); ok && id == idOf(fi, want.Checksum) {
		return true
	}
	if !full {
		return false
	}
	f, err := os.Open(bin)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		d.log().Warn("cannot read cached Claude Code binary", "path", bin, "err", err)
		return false
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != want.Checksum {
		d.log().Warn("cached Claude Code binary does not match its checksum; downloading it again",
			"path", bin, "expected", want.Checksum, "actual", sum)
		os.Remove(bin)
		return false
	}
	if fi2, err := f.Stat(); err == nil && idOf(fi2, want.Checksum) == idOf(fi, want.Checksum) {
		verified.Store(bin, idOf(fi, want.Checksum))
	}
	return true
}

// download fetches version's manifest and binary into dir. The caller holds
// the version lock.
func (d *Downloader) download(ctx context.Context, dir, version string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Leftovers of a download killed midway; nobody else is writing here.
	if old, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(old) > 0 {
		for _, f := range old {
			os.Remove(f)
		}
	}
	base := d.baseURL() + "/" + version
	platform := d.platform()
	murl := base + "/manifest.json"
	var raw []byte
	err := d.get(ctx, murl, attempts, func(resp *http.Response) error {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBody+1))
		if err != nil {
			return transient{fmt.Errorf("GET %s: %w", murl, err)}
		}
		if len(body) > maxManifestBody {
			return fmt.Errorf("GET %s: manifest larger than %d bytes", murl, maxManifestBody)
		}
		raw = body
		return nil
	})
	if err != nil {
		return err
	}
	want, err := parseManifest(raw, murl, version, platform)
	if err != nil {
		return err
	}

	burl := base + "/" + platform + "/claude"
	d.log().Info("downloading Claude Code", "version", version, "platform", platform, "url", burl, "bytes", want.Size)
	start := time.Now()
	var tmp string
	err = d.get(ctx, burl, attempts, func(resp *http.Response) error {
		var err error
		tmp, err = receive(dir, resp, want, burl)
		return err
	})
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "claude")
	if err := writeFileAtomic(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return err
	}
	if fi, err := os.Stat(bin); err == nil {
		verified.Store(bin, idOf(fi, want.Checksum))
	}
	d.log().Info("downloaded Claude Code", "version", version, "path", bin, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// receive writes a binary response to a temporary file in dir and checks it
// against want, returning the file's path. It removes the file on failure.
func receive(dir string, resp *http.Response, want platformEntry, url string) (path string, err error) {
	if resp.ContentLength >= 0 && resp.ContentLength != want.Size {
		return "", fmt.Errorf("size mismatch for %s: manifest says %d bytes, Content-Length is %d", url, want.Size, resp.ContentLength)
	}
	f, err := os.CreateTemp(dir, ".claude-*.tmp")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, want.Size+1))
	switch {
	case err != nil:
		return "", transient{fmt.Errorf("GET %s: after %d of %d bytes: %w", url, n, want.Size, err)}
	case n > want.Size:
		return "", fmt.Errorf("size mismatch for %s: manifest says %d bytes, server sent more", url, want.Size)
	case n < want.Size:
		return "", transient{fmt.Errorf("size mismatch for %s: manifest says %d bytes, got only %d", url, want.Size, n)}
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != want.Checksum {
		return "", fmt.Errorf("checksum mismatch for %s: expected sha256 %s, got %s", url, want.Checksum, sum)
	}
	if err = f.Chmod(0o755); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// HTTP with retries.

// transient marks an error worth retrying.
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

// get GETs url, trying up to tries times while failures are transient, and
// hands each 200 response to use, whose errors are final unless transient.
func (d *Downloader) get(ctx context.Context, url string, tries int, use func(*http.Response) error) error {
	delay := d.retryDelay()
	for attempt := 1; ; attempt++ {
		err := d.try(ctx, url, attempt > 1, use)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", url, context.Cause(ctx))
		}
		var t transient
		if !errors.As(err, &t) {
			return err
		}
		if attempt >= tries {
			if tries > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", t.error, attempt)
			}
			return t.error
		}
		d.log().Warn("Claude Code download failed; retrying", "url", url, "attempt", attempt, "retry_in", delay, "err", t.error)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("GET %s: %w (while waiting to retry after: %v)", url, context.Cause(ctx), t.error)
		case <-timer.C:
		}
		delay *= 2
	}
}

func (d *Downloader) try(ctx context.Context, url string, retry bool, use func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if retry {
		req.Header.Set("Cache-Control", "no-cache")
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return transient{err} // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		err := fmt.Errorf("GET %s: %s", url, resp.Status)
		switch c := resp.StatusCode; {
		case c >= 500, c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
			return transient{err}
		}
		return err
	}
	return use(resp)
}

// Files.

// lock takes an exclusive flock on path, creating it, and waits for it no
// longer than ctx allows. flock conflicts between open files in one process
// too, so this serializes goroutines as well as processes.
func (d *Downloader) lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	fd := int(f.Fd())
	wait := 10 * time.Millisecond
	for logged := false; ; {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !logged {
			d.log().Info("waiting for another Claude Code download", "lock", path)
			logged = true
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, context.Cause(ctx))
		case <-timer.C:
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
	return func() {
		syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}

// writeFileAtomic replaces path with data: readers see the old file or the
// whole new one, never part of it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
