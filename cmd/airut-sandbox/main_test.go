package main

// These tests run the airut-sandbox binary as a user would, in a
// throwaway checkout with .airut/ files, against real Podman: the proxy
// container built from a static airut-proxy binary (next to
// airut-sandbox, as installed), containers of the local base image
// (scripts/base-image.sh). The only upstream servers are the tests' own,
// listening in a test container's network namespace on an egress
// network each test creates; no test traffic leaves the machine. They
// need root and podman (make test-deps).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testing/netnstest"
	"github.com/airut-go/airut/internal/testing/testcert"
)

const baseImage = "localhost/airut-base:latest"

var (
	// binDir holds airut-sandbox and, beside it, airut-proxy.
	binDir string
	// podmanURI is the tests' own Podman API service: CLI runs neither
	// start one nor stop one another process is using.
	podmanURI string
	pm        *podman.Client
	// stateDir is the runs' state directory (CA, run files).
	stateDir string
	// testID marks this test process's images (the Dockerfile's label),
	// so they are told apart from other processes' and removed at the
	// end.
	testID string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	tmp, err := os.MkdirTemp("", "airut-sandbox-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	testID = randHex(4)
	binDir = filepath.Join(tmp, "bin")
	stateDir = filepath.Join(tmp, "state")
	tags := "remote,exclude_graphdriver_btrfs,btrfs_noversion,exclude_graphdriver_devicemapper,containers_image_openpgp"
	builds := [][]string{
		{"go", "build", "-tags", tags, "-o", filepath.Join(binDir, "airut-sandbox"), "./cmd/airut-sandbox"},
		// A build ID of its own makes this proxy binary, and so its image
		// tag, this process's: the image test removes it.
		{"go", "build", "-ldflags=-buildid=airut-sandbox-cli-test-" + testID, "-o", filepath.Join(binDir, "airut-proxy"), "./cmd/airut-proxy"},
	}
	for _, b := range builds {
		cmd := exec.Command(b[0], b[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n%s", strings.Join(b, " "), err, out)
			return 1
		}
	}
	if out, err := exec.Command(filepath.Join(root, "scripts", "base-image.sh")).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "base image: %v\n%s", err, out)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	podmanURI = "unix://" + filepath.Join(tmp, "podman.sock")
	pm, err = podman.Connect(ctx, podman.ConnectOptions{URI: podmanURI, StartService: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "podman:", err)
		return 1
	}
	defer pm.Close()
	defer removeTestImages()
	return m.Run()
}

// removeTestImages removes the images this process built: those with its
// label (repo layers and the overlays on them) and its proxy image.
func removeTestImages() {
	out, _ := exec.Command("podman", "images", "-q", "--filter", "label=airut.test.cli="+testID).Output()
	ids := strings.Fields(string(out))
	if tag, err := proxyTag(); err == nil {
		ids = append(ids, tag)
	}
	if len(ids) > 0 {
		exec.Command("podman", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
}

// proxyTag is the proxy image's tag: the hash of the binary.
func proxyTag() (string, error) {
	data, err := os.ReadFile(filepath.Join(binDir, "airut-proxy"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "localhost/airut-proxy:" + hex.EncodeToString(sum[:])[:32], nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// upstreamHost is the name the tests' upstream server answers to; the
// default allowlist allows its /v1/ paths.
const upstreamHost = "api.cli.test"

const testAllowlist = `url_prefixes:
  - host: api.cli.test
    path: /v1/*
`

// env is one test's world: an egress network of its own with an HTTPS
// upstream on it, a checkout, and the flags that point airut-sandbox at
// them.
type env struct {
	t       *testing.T
	dir     string // the checkout
	egress  string
	caFile  string
	extra   []string // environment variables for the binary
	mu      sync.Mutex
	seen    []http.Header
	seenURI []string
}

// newEnv makes the checkout: .airut/container/Dockerfile (labelled as
// this process's), the allowlist and the given files ("" leaves one out).
func newEnv(t *testing.T, files map[string]string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	all := map[string]string{
		".airut/container/Dockerfile":   "FROM " + baseImage + "\nLABEL airut.test.cli=" + testID + "\n",
		".airut/network-allowlist.yaml": testAllowlist,
	}
	for k, v := range files {
		all[k] = v
	}
	for name, content := range all {
		if content == "" {
			continue // left out
		}
		p := filepath.Join(e.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// withUpstream creates the test's egress network and the HTTPS upstream
// api.cli.test on it, which records each request's headers.
func (e *env) withUpstream() *env {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.egress = "airut-cli-test-egress-" + randHex(4)
	if err := pm.CreateNetwork(ctx, podman.NetworkSpec{Name: e.egress, DNS: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pm.RemoveNetwork(context.Background(), e.egress) })
	host := netnstest.StartHost(t, pm, e.egress, baseImage, upstreamHost)
	cert, err := testcert.New("upstream", upstreamHost)
	if err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(e.caFile, cert.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	host.ServeHTTP(t, ":443", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, r.Header.Clone())
		e.seenURI = append(e.seenURI, r.RequestURI)
		e.mu.Unlock()
		fmt.Fprint(w, "upstream ok")
	}), &cert.TLS)
	return e
}

// requests are the upstream's requests so far: target and headers.
func (e *env) requests() ([]string, []http.Header) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seenURI...), append([]http.Header(nil), e.seen...)
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// globals are the flags pointing the binary at the test's Podman, state
// dir, egress network and upstream CA.
func (e *env) globals() []string {
	g := []string{"--podman-url=" + podmanURI, "--state-dir=" + stateDir}
	if e.egress != "" {
		g = append(g, "--egress-network="+e.egress, "--upstream-ca-file="+e.caFile)
	}
	return g
}

// command is airut-sandbox SUBCOMMAND [globals] ARGS... in the checkout.
func (e *env) command(ctx context.Context, sub string, args ...string) *exec.Cmd {
	full := append(append([]string{sub}, e.globals()...), args...)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "airut-sandbox"), full...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.extra...)
	return cmd
}

// run runs airut-sandbox SUBCOMMAND ARGS... to its end, stdin from
// stdin ("" for /dev/null).
func (e *env) run(sub string, stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := e.command(ctx, sub, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{code: 0, stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("airut-sandbox %s: %v\n%s", sub, err, r)
	}
	e.t.Logf("airut-sandbox %s %s: exit %d in %s", sub, strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	return r
}

// startedContainer is the container name the verbose log reports.
func startedContainer(t *testing.T, stderr string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, `msg="sandbox started"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "container="); ok {
				return v
			}
		}
	}
	t.Fatalf("no \"sandbox started\" line with the container in the verbose log:\n%s", stderr)
	return ""
}

// assertGone checks that nothing of the run with this container is left:
// container, proxy, network.
func assertGone(t *testing.T, container string) {
	t.Helper()
	id := strings.TrimPrefix(container, "airut-")
	out, err := exec.Command("podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=airut.cli.run="+id).CombinedOutput()
	if err != nil {
		t.Fatalf("podman ps: %v\n%s", err, out)
	}
	if names := strings.TrimSpace(string(out)); names != "" {
		t.Errorf("containers of run %s left behind: %s", id, names)
	}
	out, err = exec.Command("podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "name=^"+container+"$").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("container %s left behind (%v): %s", container, err, out)
	}
	out, err = exec.Command("podman", "network", "ls", "--format", "{{.Name}}", "--filter", "label=airut.cli.run="+id).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("network of run %s left behind (%v): %s", id, err, out)
	}
}

// lineReader collects a process's stderr and lets a test wait for a line.
type lineReader struct {
	mu    sync.Mutex
	text  strings.Builder
	lines chan string
	done  chan struct{}
}

func readLines(r io.Reader) *lineReader {
	l := &lineReader{lines: make(chan string, 100), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.text.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
			select {
			case l.lines <- sc.Text():
			default:
			}
		}
	}()
	return l
}

func (l *lineReader) waitFor(t *testing.T, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-l.lines:
			if strings.Contains(line, substr) {
				return line
			}
		case <-deadline:
			t.Fatalf("no line with %q within %s:\n%s", substr, timeout, l.String())
		}
	}
}

func (l *lineReader) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}
