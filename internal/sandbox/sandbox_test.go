package sandbox_test

// These tests start the real sandbox: podman networks, the proxy
// container (FROM scratch + airut-proxy) and agent-like containers from
// the local base image (scripts/base-image.sh). The upstream servers are
// this test's own, listening inside a test container's network namespace
// on a test egress network; no test traffic can leave the machine. They
// need root and podman (make test-deps).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/netnstest"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/internal/testcert"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/masking"
)

const baseImage = "localhost/airut-base:latest"

var (
	proxyBin string
	probeBin string
)

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
	probeBin = filepath.Join(tmp, "probe")
	for _, b := range [][2]string{{proxyBin, "./cmd/airut-proxy"}, {probeBin, "./internal/sandbox/testdata/probe"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b[1], err, out)
			return 1
		}
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "base-image.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "base image: %v\n%s", err, out)
		return 1
	}
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

// upstream is the test's server behind the proxy: it records every
// request with the host it was for.
type upstream struct {
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Host, Method, Path, Authorization string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.reqs = append(u.reqs, seen{r.Host, r.Method, r.URL.Path, r.Header.Get("Authorization")})
	u.mu.Unlock()
	fmt.Fprint(w, "upstream ok")
}

func (u *upstream) seen() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// env is one started sandbox with an upstream host.
type env struct {
	// tcpSeen and udpSeen count connections and datagrams that reached
	// the upstream host's raw ports: any would mean the proxy routes
	// packets.
	tcpSeen   *atomic.Int64
	udpSeen   *atomic.Int64
	c         *podman.Client
	sb        *sandbox.Sandbox
	up        *upstream
	upIP      string
	logFile   string
	surrogate string
	real      string
	labels    map[string]string
}

const allowlistYAML = `domains:
  - other.test
url_prefixes:
  - host: api.sandbox.test
    path: /v1/*
    methods: [POST]
  - host: api.sandbox.test
    path: /graphql
    methods: [POST]
    graphql: {queries: [viewer]}
`

func start(t *testing.T, c *podman.Client, allowlist string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := randHex(4)
	egress := "airut-test-egress-" + id
	if err := c.CreateNetwork(ctx, podman.NetworkSpec{Name: egress, DNS: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })
	host := netnstest.StartHost(t, c, egress, baseImage, "api.sandbox.test", "other.test")
	cert, err := testcert.New("upstream", "api.sandbox.test", "other.test")
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{}
	// A plain TCP service on the upstream host: reaching it from the agent
	// would mean the proxy routes packets.
	raw := host.Listen(t, ":2222")
	var tcpSeen atomic.Int64
	go func() {
		for {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			tcpSeen.Add(1)
			c.Write([]byte("raw service\n"))
			c.Close()
		}
	}()
	udp := host.ListenPacket(t, ":5353")
	var udpSeen atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
			udpSeen.Add(1)
		}
	}()
	ln := host.Listen(t, ":443")
	srv := &http.Server{Handler: up, TLSConfig: nil}
	go srv.ServeTLS(ln, writeTemp(t, "cert.pem", cert.CertPEM), writeTemp(t, "key.pem", cert.KeyPEM))
	t.Cleanup(func() { srv.Close() })

	images := &sandbox.ProxyImages{}
	tag, err := images.Ensure(ctx, c, proxyBin)
	if err != nil {
		t.Fatal(err)
	}
	real := "sk-ant-api03-" + randHex(20)
	e := &env{tcpSeen: &tcpSeen, udpSeen: &udpSeen, c: c, up: up, upIP: host.IP, real: real, surrogate: masking.Surrogate(real, rand.Reader),
		logFile: filepath.Join(t.TempDir(), "network.log"), labels: map[string]string{"airut.test.run": id}}
	sb, err := sandbox.Start(ctx, c, sandbox.Options{
		Name: "t" + id, Labels: e.labels, ProxyImage: tag, WorkDir: filepath.Join(t.TempDir(), "sandbox"),
		Allowlist: []byte(allowlist), CADir: filepath.Join(t.TempDir(), "ca"), LogFile: e.logFile, Egress: egress,
		Secrets:     []proxy.Secret{{Name: "SECRET_TOKEN", Surrogate: e.surrogate, Value: real, Scopes: []string{"api.sandbox.test"}, Headers: []string{"Authorization"}}},
		TrustBundle: cert.CertPEM,
	})
	if err != nil {
		t.Fatalf("sandbox.Start: %v", err)
	}
	e.sb = sb
	t.Cleanup(func() { sb.Close(context.Background()) })
	return e
}

func writeTemp(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type probeResult struct {
	Name    string   `json:"name"`
	Status  int      `json:"status"`
	Body    string   `json:"body"`
	Err     string   `json:"err"`
	Rcode   string   `json:"rcode"`
	Answers []string `json:"answers"`
}

// probe runs the probe binary in an agent-like container behind the
// sandbox, with the surrogate in its environment as the agent would have.
func (e *env) probe(t *testing.T, cases []map[string]any) map[string]probeResult {
	t.Helper()
	in, _ := json.Marshal(cases)
	var stdout, errOut bytes.Buffer
	outDir := t.TempDir()
	spec := podman.RunSpec{
		Name: "airut-test-agent-" + randHex(4), Image: baseImage,
		Entrypoint: []string{"/probe"},
		Env:        map[string]string{"SECRET_TOKEN": e.surrogate, "PROBE_OUT": "/out/results.jsonl"},
		Mounts:     []podman.Mount{{Source: probeBin, Target: "/probe", ReadOnly: true}, {Source: outDir, Target: "/out"}},
		Stdin:      bytes.NewReader(in), Stdout: &stdout, Stderr: &errOut,
		Labels: e.labels, CapDrop: []string{"ALL"}, NoNewPrivileges: true,
	}
	e.sb.Apply(&spec)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := e.c.Run(ctx, spec)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("probe: exit %d, %v\n%s", res.ExitCode, err, errOut.String())
	}
	out, err := os.ReadFile(filepath.Join(outDir, "results.jsonl"))
	if err != nil {
		t.Fatalf("probe results: %v\n%s", err, errOut.String())
	}
	got := map[string]probeResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r probeResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("probe output %q: %v", sc.Text(), err)
		}
		got[r.Name] = r
	}
	if len(got) != len(cases) {
		t.Fatalf("probe answered %d of %d cases:\n%s\n%s", len(got), len(cases), out, errOut.String())
	}
	return got
}

func (e *env) log(t *testing.T) []proxy.LogLine {
	t.Helper()
	data, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []proxy.LogLine
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var ll proxy.LogLine
		if err := json.Unmarshal(l, &ll); err != nil {
			t.Fatalf("network log line %q: %v", l, err)
		}
		lines = append(lines, ll)
	}
	return lines
}

func httpCase(name, method, url string, extra ...func(map[string]any)) map[string]any {
	c := map[string]any{"name": name, "kind": "http", "method": method, "url": url}
	for _, f := range extra {
		f(c)
	}
	return c
}

func withHeader(k, v string) func(map[string]any) {
	return func(c map[string]any) { c["header"] = map[string]string{k: v} }
}

// TestEscapes runs the escape suite from inside an agent container: every
// case must be refused, the refusals the proxy sees must be in the
// network log, and the upstream must receive only what the allowlist
// permits, with the real secret only on its scoped host.
func TestEscapes(t *testing.T) {
	c := connect(t)
	e := start(t, c, allowlistYAML)
	ip := e.upIP
	cases := []map[string]any{
		// Positive controls: the allowlisted request arrives, with the
		// real secret swapped in on its scoped host.
		httpCase("allowed", "POST", "https://api.sandbox.test/v1/messages", withHeader("Authorization", "Bearer ${SECRET_TOKEN}")),
		httpCase("blocked-http", "GET", "http://blocked.test/x"),
		httpCase("blocked-https", "GET", "https://blocked.test/x"),
		httpCase("wrong-path", "POST", "https://api.sandbox.test/admin"),
		httpCase("wrong-method", "DELETE", "https://api.sandbox.test/v1/messages"),
		httpCase("direct-ip-http", "GET", "http://"+ip+"/v1/messages"),
		httpCase("direct-ip-https", "POST", "https://"+ip+"/v1/messages"),
		{"name": "dns-txt", "kind": "dns", "qtype": "TXT", "qname": "exfil.blocked.test"},
		{"name": "dns-aaaa", "kind": "dns", "qtype": "AAAA", "qname": "api.sandbox.test"},
		{"name": "dns-a", "kind": "dns", "qtype": "A", "qname": "c2VjcmV0.exfil.test"},
		{"name": "dns-outside", "kind": "dns", "qtype": "A", "qname": "outside-resolver.test", "server": ip + ":53"},
		{"name": "connect-http", "kind": "connect", "url": "http://other.test", "server": "api.sandbox.test:443"},
		{"name": "connect-https", "kind": "connect", "url": "https://other.test", "server": ip + ":443"},
		httpCase("host-mismatch", "POST", "https://api.sandbox.test/v1/messages", func(c map[string]any) { c["host"] = "blocked.test" }),
		{"name": "raw-tcp-name", "kind": "tcp", "server": "api.sandbox.test:22", "payload": "SSH-2.0-probe\r\n"},
		{"name": "raw-tcp-ip", "kind": "tcp", "server": ip + ":2222"},
		{"name": "raw-udp-ip", "kind": "udp", "server": ip + ":5353", "payload": "exfiltrated"},
		httpCase("metadata-dotted", "GET", "http://169.254.169.254/latest/meta-data/"),
		httpCase("metadata-decimal", "GET", "http://2852039166/latest/meta-data/"),
		httpCase("metadata-hex", "GET", "http://0xA9FEA9FE/latest/meta-data/"),
		httpCase("surrogate-out-of-scope", "GET", "https://other.test/collect", withHeader("Authorization", "Bearer ${SECRET_TOKEN}")),
		httpCase("graphql-query", "POST", "https://api.sandbox.test/graphql", func(c map[string]any) { c["payload"] = `{"query":"{ viewer { login } }"}` }),
		httpCase("graphql-mutation", "POST", "https://api.sandbox.test/graphql", func(c map[string]any) {
			c["payload"] = `{"query":"mutation { deleteRepository(input:{}) { clientMutationId } }"}`
		}),
	}
	got := e.probe(t, cases)

	if r := got["allowed"]; r.Status != 200 || r.Body != "upstream ok" {
		t.Errorf("allowed request: %+v, want 200 from upstream", r)
	}
	// Direct addresses, the metadata address in any spelling included, are
	// routed to the proxy and refused there like any other host.
	for _, name := range []string{"blocked-http", "blocked-https", "wrong-path", "wrong-method",
		"direct-ip-http", "direct-ip-https", "metadata-dotted", "metadata-decimal", "metadata-hex"} {
		r := got[name]
		if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Network sandbox blocked") || !strings.Contains(r.Body, "network-allowlist.yaml") {
			t.Errorf("%s: %+v, want 403 explaining the block and how to request access", name, r)
		}
	}
	// Raw TCP, to a name (which resolves to the proxy) or to a direct
	// address whose host really serves that port, meets the proxy's
	// catch-all: it reads why and is closed. Nothing reaches the host.
	for name, dst := range map[string]string{"raw-tcp-ip": ip + ":2222", "raw-tcp-name": e.sb.ProxyIP + ":22"} {
		if r := got[name]; !strings.Contains(r.Body, "raw TCP to "+dst+" is blocked") || strings.Contains(r.Body, "raw service") {
			t.Errorf("%s: %+v, want the sandbox's refusal naming %s", name, r, dst)
		}
	}
	if n := e.tcpSeen.Load(); n != 0 {
		t.Errorf("the upstream host accepted %d raw connections made to its address: the proxy forwards packets", n)
	}
	if n := e.udpSeen.Load(); n != 0 {
		t.Errorf("the upstream host received %d datagrams sent to its address: the proxy forwards packets", n)
	}
	if r := got["connect-https"]; r.Status == 200 {
		t.Errorf("connect-https: %+v, want CONNECT refused", r)
	}
	for _, name := range []string{"dns-txt", "dns-aaaa"} {
		if r := got[name]; r.Rcode != "NOTIMP" || len(r.Answers) != 0 {
			t.Errorf("%s: %+v, want NOTIMP and no answer", name, r)
		}
	}
	if r := got["dns-a"]; len(r.Answers) != 1 || !strings.HasSuffix(r.Answers[0], " "+e.sb.ProxyIP) {
		t.Errorf("dns-a: %+v, want only the proxy address %s", r, e.sb.ProxyIP)
	}
	if r := got["dns-outside"]; r.Err == "" {
		t.Errorf("dns-outside: %+v, want the outside resolver unreachable", r)
	}
	if r := got["connect-http"]; r.Status == 200 {
		t.Errorf("connect-http: %+v, want CONNECT refused", r)
	}
	if r := got["host-mismatch"]; r.Status == 200 || r.Status == 0 && r.Err == "" {
		t.Errorf("host-mismatch: %+v, want refused", r)
	}
	if r := got["graphql-query"]; r.Status != 200 {
		t.Errorf("graphql-query: %+v, want the allowed query through", r)
	}
	if r := got["graphql-mutation"]; r.Status != 403 || !strings.Contains(r.Body, "graphql_operation_blocked") {
		t.Errorf("graphql-mutation: %+v, want 403 graphql_operation_blocked", r)
	}
	if r := got["surrogate-out-of-scope"]; r.Status != 200 {
		t.Errorf("surrogate-out-of-scope: %+v, want the allowlisted host reached (with the surrogate)", r)
	}

	// What the upstream received: only the allowed requests, the real
	// value only on the scoped host.
	var hosts []string
	for _, s := range e.up.seen() {
		hosts = append(hosts, s.Method+" "+s.Host+s.Path)
		switch s.Host {
		case "api.sandbox.test":
			if s.Path == "/v1/messages" && s.Authorization != "Bearer "+e.real {
				t.Errorf("scoped host got Authorization %q, want the real value", s.Authorization)
			}
		case "other.test":
			if strings.Contains(s.Authorization, e.real) {
				t.Errorf("out-of-scope host received the real secret")
			}
			if s.Authorization != "" && s.Authorization != "Bearer "+e.surrogate {
				t.Errorf("out-of-scope host got %q, want the surrogate or nothing", s.Authorization)
			}
		}
	}
	want := []string{"POST api.sandbox.test/v1/messages", "GET other.test/collect", "POST api.sandbox.test/graphql"}
	if strings.Join(hosts, "|") != strings.Join(want, "|") {
		t.Errorf("upstream received %q, want exactly %q", hosts, want)
	}

	// The network log: every refusal the proxy saw, the swap by name,
	// never a secret value.
	logData, _ := os.ReadFile(e.logFile)
	if bytes.Contains(logData, []byte(e.real)) || bytes.Contains(logData, []byte(e.surrogate)) {
		t.Errorf("network log holds a secret value")
	}
	lines := e.log(t)
	find := func(kind, method, host, path string, allowed bool) *proxy.LogLine {
		for i, l := range lines {
			if l.Kind == kind && l.Method == method && l.Host == host && (path == "" || l.Path == path) && l.Allowed == allowed {
				return &lines[i]
			}
		}
		return nil
	}
	for _, w := range []struct {
		kind, method, host, path string
		allowed                  bool
	}{
		{"http", "GET", "blocked.test", "/x", false},
		{"http", "POST", "api.sandbox.test", "/admin", false},
		{"http", "DELETE", "api.sandbox.test", "/v1/messages", false},
		{"http", "GET", "0xa9fea9fe", "/latest/meta-data/", false},
		{"http", "GET", "2852039166", "/latest/meta-data/", false},
		{"http", "GET", "169.254.169.254", "/latest/meta-data/", false},
		{"http", "GET", ip, "/v1/messages", false},
		{"http", "POST", ip, "/v1/messages", false},
		{"http", "CONNECT", ip + ":443", "", false},
		{"dns", "TXT", "exfil.blocked.test.", "", false},
		{"dns", "AAAA", "api.sandbox.test.", "", false},
		{"dns", "A", "c2VjcmV0.exfil.test.", "", true},
		// the query meant for an outside resolver reached the proxy's
		// responder instead (its answer, from the wrong address, is dropped)
		{"dns", "A", "outside-resolver.test.", "", true},
		{"http", "CONNECT", "api.sandbox.test:443", "", false},
		{"http", "POST", "blocked.test", "/v1/messages", false},
		{"http", "GET", "other.test", "/collect", true},
		{"tcp", "", ip + ":2222", "", false},
		{"tcp", "", e.sb.ProxyIP + ":22", "", false},
		{"udp", "", ip + ":5353", "", false},
	} {
		if find(w.kind, w.method, w.host, w.path, w.allowed) == nil {
			t.Errorf("network log has no %s %s %s%s allowed=%v entry", w.kind, w.method, w.host, w.path, w.allowed)
		}
	}
	if l := find("http", "POST", "api.sandbox.test", "/v1/messages", true); l == nil || strings.Join(l.Swapped, ",") != "SECRET_TOKEN" {
		t.Errorf("allowed request's log entry %+v, want swapped [SECRET_TOKEN]", l)
	}
	if t.Failed() || os.Getenv("AIRUT_PROBE_VERBOSE") != "" {
		t.Logf("probe results: %+v", got)
		t.Logf("network log:\n%s", logData)
	}
}

// Two conversations' sandboxes share nothing: an agent aiming at the
// other conversation's proxy lands on its own proxy and is refused there,
// and the other proxy never hears of it.
func TestSandboxesAreIsolated(t *testing.T) {
	c := connect(t)
	a := start(t, c, allowlistYAML)
	b := start(t, c, allowlistYAML)
	got := a.probe(t, []map[string]any{
		httpCase("other-proxy-http", "GET", "http://"+b.sb.ProxyIP+"/"),
		{"name": "other-proxy-dns", "kind": "dns", "qtype": "A", "qname": "via-other.test", "server": b.sb.ProxyIP + ":53"},
		{"name": "other-proxy-raw", "kind": "tcp", "server": b.sb.ProxyIP + ":8080"},
	})
	if r := got["other-proxy-http"]; r.Status != http.StatusForbidden {
		t.Errorf("other-proxy-http: %+v, want the own proxy's 403", r)
	}
	if r := got["other-proxy-raw"]; !strings.Contains(r.Body, "raw TCP to "+b.sb.ProxyIP+":8080 is blocked") {
		t.Errorf("other-proxy-raw: %+v, want the own proxy's refusal", r)
	}
	if lines := b.log(t); len(lines) != 0 {
		t.Errorf("the other conversation's proxy logged %d lines: %+v", len(lines), lines)
	}
	found, rawFound := false, false
	for _, l := range a.log(t) {
		if l.Kind == "http" && l.Host == b.sb.ProxyIP && !l.Allowed {
			found = true
		}
		if l.Kind == "tcp" && l.Host == b.sb.ProxyIP+":8080" {
			rawFound = true
		}
	}
	if !found || !rawFound {
		t.Errorf("own network log lacks the refused request (%v) or raw connection (%v) to %s", found, rawFound, b.sb.ProxyIP)
	}
}

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
