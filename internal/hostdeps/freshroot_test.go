//go:build freshroot

package hostdeps

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fresh-root test proves, on every CI run, that scripts/install-deps.sh
// brings everything Airut needs onto a bare Debian 12: it builds a minimal
// root filesystem with mmdebstrap, runs the script in it with chroot, then
// asserts every program of programs.txt is there and that the root's
// podman runs a container on a bridge network (which is what failed on a
// bare machine when iptables was missing). It needs root, mmdebstrap,
// unshare and the network to the Debian mirror and the npm registry; run it
// with `make test-fresh-root`.

const (
	suite = "bookworm"
	// scriptEnv names another install script to put in the root, to show
	// the test failing with an older one.
	scriptEnv = "AIRUT_FRESHROOT_SCRIPT"
	// cacheEnv overrides defaultCache.
	cacheEnv = "AIRUT_FRESHROOT_CACHE"
	// defaultCache survives between runs on one machine: the day's minbase
	// tarball and the .deb and npm caches live there, and the roots while
	// a run uses them.
	defaultCache = "/var/cache/airut-freshroot"
)

func TestFreshRootInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: it builds a root filesystem, mounts into it and chroots (make test-fresh-root runs it as root in CI)")
	}
	for _, prog := range []string{"mmdebstrap", "unshare", "chroot", "tar", "go"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("needs %s on the host (scripts/install-deps.sh runtime installs mmdebstrap): %v", prog, err)
		}
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		// Leave time for the cleanup and for the failure to be reported.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Minute))
		defer cancel()
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "scripts", "install-deps.sh")
	if s := os.Getenv(scriptEnv); s != "" {
		t.Logf("%s: installing with %s instead of scripts/install-deps.sh", scriptEnv, s)
		script = s
	}
	cache := os.Getenv(cacheEnv)
	if cache == "" {
		cache = defaultCache
	}
	start := time.Now()
	t.Cleanup(func() { t.Logf("total %s", since(start)) })

	var c *freshCache
	step(t, "cache "+cache, func() (string, error) {
		var err error
		c, err = openCache(ctx, cache)
		if err == nil && c.tmpfs {
			return "the root is built on a tmpfs", nil
		}
		return "", err
	})
	t.Cleanup(c.close)

	// Static, so they run in the root and in the image whatever the
	// host's libc.
	bin := t.TempDir()
	step(t, "build the helpers", func() (string, error) {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./testdata/check", "./testdata/ok")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./testdata/check ./testdata/ok: %w\n%s", err, out)
		}
		return "", nil
	})

	var tarball string
	step(t, "minbase root filesystem", func() (string, error) {
		var err error
		var built bool
		tarball, built, err = c.minbase(ctx, t)
		if err != nil || !built {
			return tarball, err
		}
		return "built " + tarball, nil
	})

	var root string
	step(t, "extract", func() (string, error) {
		var err error
		root, err = os.MkdirTemp(c.work(), "root-")
		if err != nil {
			return "", fmt.Errorf("making the root dir: %w", err)
		}
		// The root is removed even when a step fails. Every mount into it
		// lives in a private mount namespace that ends with the step, so
		// removing it can never reach the host's /dev or /sys.
		t.Cleanup(func() {
			t0 := time.Now()
			if err := os.RemoveAll(root); err != nil {
				t.Errorf("removing the root: %v", err)
			}
			t.Logf("removed the root (%s)", since(t0))
		})
		// --numeric-owner: the root's users are its own, not the host's.
		return root, run(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xf", tarball, "-C", root)
	})

	step(t, "prepare", func() (string, error) {
		return "", prepare(root, repo, script, bin)
	})

	fr := &freshRoot{root: root, cache: c}
	step(t, "install-deps.sh test", func() (string, error) {
		_, err := fr.run(ctx, t, false, "bash", "/src/scripts/install-deps.sh", "test")
		return "", err
	})

	// The two assertions run even when the first fails: a missing iptables
	// shows as a missing program and as the netavark error it causes.
	check(t, "every program of programs.txt is present", func() (string, error) {
		out, err := fr.run(ctx, t, false, "/src/check")
		if err != nil {
			var missing []string
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "MISSING") {
					missing = append(missing, line)
				}
			}
			return "", fmt.Errorf("after install-deps.sh test, the root lacks:\n%s\n(%w)", strings.Join(missing, "\n"), err)
		}
		return fmt.Sprintf("%d programs", strings.Count(out, "\n")), nil
	})
	check(t, "podman runs a container on a bridge network", func() (string, error) {
		// A new network namespace: the bridge, its iptables rules and
		// aardvark-dns never touch the host's networking.
		out, err := fr.run(ctx, t, true, "bash", "/src/podman-check.sh")
		if err != nil {
			return "", fmt.Errorf("podman in the root: %w", err)
		}
		if !strings.Contains(out, "backend: netavark\n") || !strings.HasSuffix(out, "run: ok\n") {
			return "", fmt.Errorf("want network backend netavark and the container printing ok, got:\n%s", out)
		}
		return "netavark, container printed ok", nil
	})
}

// podmanScript (/src/podman-check.sh) runs in the root in its own network
// namespace. Podman in a chroot needs the vfs driver (the root may sit on
// overlayfs), the cgroupfs manager and file events (no systemd), and
// --pull never keeps it from looking for the image in a registry. The
// container's output goes through a variable so that set -e sees podman
// fail.
const podmanScript = `set -euo pipefail
p=(podman --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
echo "backend: $("${p[@]}" info --format '{{.Host.NetworkBackend}}')"
"${p[@]}" network create freshroot >/dev/null
"${p[@]}" import --quiet /src/ok.tar localhost/freshroot-ok >/dev/null
out=$("${p[@]}" run --rm --pull never --network freshroot localhost/freshroot-ok /ok)
echo "run: $out"
`

// nsScript runs as root in the fresh mount and pid namespaces unshare makes
// for one step: it mounts what the root needs, then chroots into it. The
// mounts vanish with the namespace, and the pid namespace takes along any
// process the step leaves behind. Arguments: root, .deb cache, npm cache,
// the command.
const nsScript = `set -eu
root=$1 debs=$2 npm=$3; shift 3
# containers/storage makes / private before it extracts a layer, which
# fails unless / is a mount point.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
# A sysfs of this network namespace, with the host's cgroups for podman.
mount -t sysfs sysfs "$root/sys"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount --bind "$debs" "$root/var/cache/apt/archives"
mount --bind "$npm" "$root/root/.npm"
# A new network namespace starts with loopback down.
ip link set lo up 2>/dev/null || true
exec chroot "$root" "$@"
`

// prepare puts in the root what the steps need, at the checkout's layout
// under /src, and makes it a faithful but quick stand-in for a bare machine.
func prepare(root, repo, script, bin string) error {
	for _, cp := range [][2]string{
		{script, "src/scripts/install-deps.sh"},
		{filepath.Join(repo, "internal", "hostdeps", "programs.txt"), "src/internal/hostdeps/programs.txt"},
		{filepath.Join(bin, "check"), "src/check"},
		// The root resolves names as the host does.
		{"/etc/resolv.conf", "etc/resolv.conf"},
	} {
		if err := copyFile(cp[0], filepath.Join(root, cp[1])); err != nil {
			return err
		}
	}
	// A machine behind a TLS-inspecting proxy trusts the proxy's CA; the
	// root is that machine freshly installed, so it trusts the same local
	// CAs (ca-certificates adds them when the script installs it).
	local, _ := filepath.Glob("/usr/local/share/ca-certificates/*.crt")
	for _, crt := range local {
		if err := copyFile(crt, filepath.Join(root, "usr/local/share/ca-certificates", filepath.Base(crt))); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
		text string
	}{
		{"src/podman-check.sh", 0o644, podmanScript},
		// Keeps package scripts from starting daemons (dovecot would
		// listen on the host's ports): they run as root in the host's
		// network namespace, and there is no init to stop them.
		{"usr/sbin/policy-rc.d", 0o755, "#!/bin/sh\nexit 101\n"},
		// The root is thrown away, so dpkg's fsyncs buy nothing and cost
		// minutes.
		{"etc/dpkg/dpkg.cfg.d/airut-freshroot", 0o644, "force-unsafe-io\n"},
	} {
		if err := os.WriteFile(filepath.Join(root, f.path), []byte(f.text), f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	for _, d := range []string{"var/cache/apt/archives", "root/.npm"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("making %s: %w", d, err)
		}
	}
	return writeImage(filepath.Join(bin, "ok"), filepath.Join(root, "src", "ok.tar"))
}

// writeImage writes the tar podman imports: one static binary, /ok.
func writeImage(bin, dst string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the image's binary: %w", err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "ok", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing the image tar: %w", err)
	}
	return os.WriteFile(dst, b.Bytes(), 0o644)
}

// freshRoot runs commands in an extracted root.
type freshRoot struct {
	root  string
	cache *freshCache
}

// passEnv are the variables of the host a step keeps: how this machine
// reaches the network, nothing about the checkout or the Go toolchain.
var passEnv = []string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "NODE_EXTRA_CA_CERTS"}

// run runs argv chrooted into the root in fresh mount and pid namespaces,
// and a fresh network namespace when isolated; its output is logged line
// by line as it comes, and returned.
func (fr *freshRoot) run(ctx context.Context, t *testing.T, isolated bool, argv ...string) (string, error) {
	unshare := []string{"unshare", "--mount", "--pid", "--fork", "--kill-child"}
	if isolated {
		unshare = append(unshare, "--net")
	}
	cmdEnv := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			cmdEnv = append(cmdEnv, k+"="+v)
		}
	}
	args := append(unshare, "bash", "-c", nsScript, "freshroot", fr.root, fr.cache.debs(), fr.cache.npm())
	args = append(args, "/usr/bin/env", "-i")
	args = append(append(args, cmdEnv...), argv...)
	var stdout, stderr bytes.Buffer
	lw := &lineLogger{t: t, start: time.Now()}
	defer lw.flush()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout = io.MultiWriter(&stdout, lw)
	cmd.Stderr = io.MultiWriter(&stderr, lw)
	cmd.SysProcAttr = dieWithTest()
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		err = fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		// The end of stderr says why, for the failure message.
		if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); lines[0] != "" {
			err = fmt.Errorf("%w\n%s", err, strings.Join(lines[max(0, len(lines)-10):], "\n"))
		}
		return stdout.String(), err
	}
	return stdout.String(), nil
}

// dieWithTest makes unshare get SIGKILL if the test process dies (go
// test's -timeout, a kill): unshare --kill-child then takes its whole pid
// namespace along, so no apt or podman outlives the test. What such a run
// leaves, the next one removes (see openCache).
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// freshCache is the cache dir, held locked for the whole run: two runs
// sharing the .deb cache and the tarball would trip over each other.
type freshCache struct {
	dir  string
	lock *os.File
	// tmpfs says whether work is a tmpfs this run mounted.
	tmpfs bool
}

// tmpfsMemory is the memory a machine must have available for the root
// to be built in memory: the installed root takes about 1.5 GiB.
const tmpfsMemory = 6 << 30

func openCache(ctx context.Context, dir string) (*freshCache, error) {
	c := &freshCache{dir: dir}
	for _, d := range []string{dir, c.debs() + "/partial", c.npm(), c.work()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("making the cache dir %s: %w", d, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the cache lock: %w", err)
	}
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another fresh-root run to release %s: %w", dir, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	c.lock = f
	// What a killed run left in work: no run uses it now that we hold the
	// lock, and the mounts into its roots died with their namespaces.
	if isMount(c.work()) {
		if err := syscall.Unmount(c.work(), syscall.MNT_DETACH); err != nil {
			c.close()
			return nil, fmt.Errorf("unmounting a stale %s: %w", c.work(), err)
		}
	}
	stale, _ := filepath.Glob(filepath.Join(c.work(), "*"))
	for _, s := range stale {
		if err := os.RemoveAll(s); err != nil {
			c.close()
			return nil, fmt.Errorf("removing a stale root: %w", err)
		}
	}
	// dpkg writes some 60,000 files into the root and the cleanup removes
	// them: in memory that is a fifth quicker, and the removal is free.
	if memAvailable() >= tmpfsMemory {
		if err := syscall.Mount("tmpfs", c.work(), "tmpfs", 0, "mode=0755"); err != nil {
			c.close()
			return nil, fmt.Errorf("mounting a tmpfs on %s: %w", c.work(), err)
		}
		c.tmpfs = true
	}
	return c, nil
}

func (c *freshCache) close() {
	if c.tmpfs {
		syscall.Unmount(c.work(), syscall.MNT_DETACH)
	}
	c.lock.Close()
}

func (c *freshCache) debs() string { return filepath.Join(c.dir, "debs") }
func (c *freshCache) npm() string  { return filepath.Join(c.dir, "npm") }

// work holds the root while the test runs, and mmdebstrap's temporary
// files.
func (c *freshCache) work() string { return filepath.Join(c.dir, "work") }

// isMount reports whether dir is a mount point: its device differs from
// its parent's.
func isMount(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// memAvailable is MemAvailable of /proc/meminfo in bytes, 0 if unknown.
func memAvailable() int64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}

// minbase returns the day's minbase tarball, building it with mmdebstrap
// from the host's Debian sources if needed. The name carries a hash of the
// sources and the date, so a tarball is used for one day at most and never
// with other sources; older ones are removed.
func (c *freshCache) minbase(ctx context.Context, t *testing.T) (path string, built bool, err error) {
	var mirror []string
	h := sha256.New()
	fmt.Fprintf(h, "%s minbase\n", suite)
	for _, src := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		if data, err := os.ReadFile(src); err == nil && len(bytes.TrimSpace(data)) > 0 {
			// mmdebstrap copies a file given as the mirror into the
			// root's sources, deb822 or one-line.
			mirror = []string{src}
			h.Write(data)
			break
		}
	}
	name := fmt.Sprintf("minbase-%s-%s-%s.tar", suite, time.Now().Format("20060102"), hex.EncodeToString(h.Sum(nil))[:12])
	path = filepath.Join(c.dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	old, _ := filepath.Glob(filepath.Join(c.dir, "minbase-*.tar"))
	for _, o := range old {
		os.Remove(o)
	}
	tmp := path + ".tmp"
	defer os.Remove(tmp)
	// In private mount and pid namespaces so that neither the bind mount
	// of the .deb cache nor apt can outlive mmdebstrap. The cache is kept (essential/unlink
	// skipped) so the next day's build downloads only what changed; the
	// package lists are kept so apt-get update in the root is quick.
	args := []string{"unshare", "--mount", "--pid", "--fork", "--kill-child", "mmdebstrap", "--variant=minbase", "--format=tar",
		"--skip=essential/unlink", "--skip=cleanup/apt/lists",
		`--setup-hook=mkdir -p "$1/var/cache/apt/archives" && mount --bind ` + c.debs() + ` "$1/var/cache/apt/archives"`,
		`--customize-hook=umount "$1/var/cache/apt/archives"`,
		suite, tmp}
	lw := &lineLogger{t: t, start: time.Now()}
	defer lw.flush()
	cmd := exec.CommandContext(ctx, args[0], append(args[1:], mirror...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+c.work())
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Run(); err != nil {
		return "", false, fmt.Errorf("mmdebstrap: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("keeping the minbase tarball: %w", err)
	}
	return path, true, nil
}

// step runs one step of the test, logging its time; a failed step ends
// the test.
func step(t *testing.T, name string, f func() (string, error)) {
	t.Helper()
	if err := timed(t, name, f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// check is step for an assertion: the test goes on after it fails.
func check(t *testing.T, name string, f func() (string, error)) {
	t.Helper()
	if err := timed(t, name, f); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func timed(t *testing.T, name string, f func() (string, error)) error {
	t.Helper()
	t.Logf("%s ...", name)
	t0 := time.Now()
	detail, err := f()
	status := "done"
	if err != nil {
		status = "FAILED"
	}
	if detail != "" {
		status += ": " + detail
	}
	t.Logf("%s %s (%s)", name, status, since(t0))
	return err
}

func since(t0 time.Time) time.Duration { return time.Since(t0).Round(100 * time.Millisecond) }

// lineLogger logs what a command prints, line by line with the time since
// it started, so a slow step shows where it is.
type lineLogger struct {
	t     *testing.T
	start time.Time
	mu    sync.Mutex
	buf   []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Logf("  %6.1fs | %s", time.Since(l.start).Seconds(), l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Logf("  %6.1fs | %s", time.Since(l.start).Seconds(), l.buf)
		l.buf = nil
	}
}

// run runs a host command, returning its output with the error.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// copyFile copies a file, following symlinks at the source and replacing
// whatever is at the destination (never writing through a symlink there,
// which would point into the host).
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copying into the root: %w", err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("copying into the root: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copying into the root: %w", err)
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("copying into the root: %w", err)
	}
	if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("copying into the root: %w", err)
	}
	return nil
}
