package sandbox_test

// These tests start the network sandbox itself (Start): podman networks
// and the proxy container (FROM scratch + airut-proxy). The escape suite,
// which attacks a started sandbox from inside a container, runs through
// the public package: sandbox/escape_test.go. They need root and podman
// (make test-deps).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/internal/testing/podmantest"
)

var proxyBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	tmp, err := os.MkdirTemp("", "airut-sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	proxyBin = filepath.Join(tmp, "airut-proxy")
	cmd := exec.Command("go", "build", "-o", proxyBin, "./cmd/airut-proxy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ./cmd/airut-proxy: %v\n%s", err, out)
		return 1
	}
	stop, err := podmantest.Private()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	return m.Run()
}

func connect(t *testing.T) *podman.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := podman.Connect(ctx, podman.ConnectOptions{StartService: true})
	if err != nil {
		t.Fatalf("podman: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const allowlistYAML = `domains:
  - other.test
  - "*.wild.test"
url_prefixes:
  - host: api.sandbox.test
    path: /v1/*
    methods: [POST]
  - host: api.sandbox.test
    path: /graphql
    methods: [POST]
    graphql: {queries: [viewer]}
  - host: api.sandbox.test
    path: /repos/*/issues
    methods: [POST]
`

// Fail closed: a sandbox that cannot start says why and leaves nothing.
func TestStartFailsClosed(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	images := &sandbox.ProxyImages{}
	tag, err := images.Ensure(ctx, c, proxyBin)
	if err != nil {
		t.Fatal(err)
	}
	egress := "airut-test-egress-" + randHex(4)
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })
	tests := []struct {
		name      string
		allowlist string
		image     string
		wantErr   string
	}{
		{"broken allowlist", "domains: [", tag, "allowlist"},
		{"unknown allowlist key", "domain: [x.test]\n", tag, "domain"},
		{"no proxy image", allowlistYAML, "localhost/airut-proxy:missing", "start proxy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "t" + randHex(4)
			work := filepath.Join(t.TempDir(), "sandbox")
			sb, err := sandbox.Start(ctx, c, sandbox.Options{
				Name: name, ProxyImage: tc.image, WorkDir: work, Allowlist: []byte(tc.allowlist),
				CADir: filepath.Join(t.TempDir(), "ca"), LogFile: filepath.Join(t.TempDir(), "network.log"), Egress: egress,
				TrustBundle: []byte("\n"), ReadyTimeout: 20 * time.Second,
			})
			if err == nil {
				sb.Close(ctx)
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not name %q", err, tc.wantErr)
			}
			if ok, _ := c.NetworkExists(ctx, "airut-conv-"+name); ok {
				t.Error("network left behind")
			}
			if running, _, err := c.Running(ctx, "airut-proxy-"+name); err == nil || running {
				t.Error("proxy container left behind")
			}
			if _, err := os.Stat(work); !os.IsNotExist(err) {
				t.Errorf("work dir (with the secrets) left behind: %v", err)
			}
		})
	}
}

// BenchmarkStartClose is the sandbox's cost per task: network, proxy
// container, readiness and routing up, then all of it down again.
func BenchmarkStartClose(b *testing.B) {
	ctx := context.Background()
	c, err := podman.Connect(ctx, podman.ConnectOptions{StartService: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	images := &sandbox.ProxyImages{}
	tag, err := images.Ensure(ctx, c, proxyBin)
	if err != nil {
		b.Fatal(err)
	}
	egress := "airut-test-egress-" + randHex(4)
	defer c.RemoveNetwork(ctx, egress)
	dir := b.TempDir()
	var up, down time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		sb, err := sandbox.Start(ctx, c, sandbox.Options{
			Name: "b" + randHex(4), ProxyImage: tag, WorkDir: filepath.Join(dir, "w"), Allowlist: []byte(allowlistYAML),
			CADir: filepath.Join(dir, "ca"), LogFile: filepath.Join(dir, "network.log"), Egress: egress, TrustBundle: []byte("\n"),
		})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sb.Close(ctx); err != nil {
			b.Fatal(err)
		}
		up += t1.Sub(t0)
		down += time.Since(t1)
	}
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-start")
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms-close")
}

// Sandboxes started at once (one host, several conversations) all come
// up on subnets of their own, sharing one egress network, and a subnet
// already taken by another network is skipped.
func TestConcurrentStartsAndSubnetConflict(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag, err := (&sandbox.ProxyImages{}).Ensure(ctx, c, proxyBin)
	if err != nil {
		t.Fatal(err)
	}
	egress := "airut-test-egress-" + randHex(4)
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })

	// Take the subnet the first name would start from (FNV-1a of the
	// name, as documented on Start).
	names := []string{"c" + randHex(4), "c" + randHex(4), "c" + randHex(4), "c" + randHex(4)}
	h := fnv.New32a()
	h.Write([]byte(names[0]))
	taken := fmt.Sprintf("10.199.%d.", h.Sum32()%254+1)
	blocker := "airut-test-blocker-" + randHex(4)
	if err := c.CreateNetwork(ctx, podman.NetworkSpec{Name: blocker, Subnet: taken + "0/24", Internal: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), blocker) })

	sbs := make([]*sandbox.Sandbox, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			sbs[i], errs[i] = sandbox.Start(ctx, c, sandbox.Options{
				Name: name, ProxyImage: tag, WorkDir: filepath.Join(t.TempDir(), "w"), Allowlist: []byte(allowlistYAML),
				CADir: filepath.Join(t.TempDir(), "ca"), LogFile: filepath.Join(t.TempDir(), "network.log"), Egress: egress,
				TrustBundle: []byte("\n"),
			})
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, sb := range sbs {
		if errs[i] != nil {
			t.Errorf("Start %s: %v", names[i], errs[i])
			continue
		}
		defer sb.Close(context.Background())
		if seen[sb.ProxyIP] || strings.HasPrefix(sb.ProxyIP, taken) {
			t.Errorf("%s got %s: shared or on the taken subnet %s0/24", names[i], sb.ProxyIP, taken)
		}
		seen[sb.ProxyIP] = true
	}
}
