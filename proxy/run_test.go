package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/airut-go/airut/proxy"
)

// The assembled proxy: DNS points every name at it, the allowlist decides,
// a masked secret is swapped for the real value only on its scoped host,
// and the network log records names, never values.
func TestStartAssemblesTheSandboxProxy(t *testing.T) {
	var gotAuth []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = append(gotAuth, r.Host+" "+r.Header.Get("Authorization"))
		io.WriteString(w, "upstream ok")
	}))
	defer up.Close()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := proxy.Config{
		ProxyIP: "10.199.1.100", DNSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		CADir: filepath.Join(dir, "ca"),
		AllowlistFile: write("allow.yaml", "domains: [api.example.com]\nurl_prefixes:\n  - {host: gql.example.com, path: /graphql*, graphql: {queries: ['viewer'], mutations: [createIssue]}}\n"+
			"  - {host: other.example.com, path: /ok, methods: [GET]}\n"),
		SecretsFile: write("secrets.json", `{"masked":[{"name":"GH_TOKEN","surrogate":"ghp_SURROGATE1234","value":"ghp_REALVALUE9999","scopes":["api.example.com"],"headers":["Authorization"]}]}`),
		LogFile:     filepath.Join(dir, "network.log"),
		Upstream: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, up.Listener.Addr().String())
		}},
	}
	os.MkdirAll(cfg.CADir, 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := proxy.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}

	m := new(mdns.Msg)
	m.SetQuestion("anything.evil.example.", mdns.TypeA)
	r, err := mdns.Exchange(m, p.DNS.UDPAddr.String())
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "10.199.1.100" {
		t.Fatalf("DNS A answer = %v, %v", r, err)
	}

	do := func(host, method, path, auth, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+p.HTTP.HTTPAddr().String()+path, strings.NewReader(body))
		req.Host = host
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultTransport.(*http.Transport).Clone().RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s%s: %v", method, host, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, host, method, path, auth, reqBody string
		status                                  int
		body                                    string
	}{
		{"allowed domain, surrogate withheld over plain HTTP", "api.example.com", "GET", "/user", "Bearer ghp_SURROGATE1234", "", 200, "upstream ok"},
		{"surrogate out of scope stays a surrogate", "other.example.com", "GET", "/ok", "Bearer ghp_SURROGATE1234", "", 200, "upstream ok"},
		{"method not allowed", "other.example.com", "POST", "/ok", "", "", 403, "blocked_by_network_allowlist"},
		{"host not allowed", "evil.example", "GET", "/", "", "", 403, "blocked_by_network_allowlist"},
		{"graphql query allowed", "gql.example.com", "POST", "/graphql", "", `{"query":"{ viewer { login } }"}`, 200, "upstream ok"},
		{"graphql mutation refused", "gql.example.com", "POST", "/graphql", "", `{"query":"mutation { deleteRepository(input:{}) { clientMutationId } }"}`, 403, "graphql_operation_blocked"},
		{"graphql body unreadable", "gql.example.com", "POST", "/graphql", "", "", 403, "graphql_operation_blocked"},
		{"graphql in the URL query, not the body", "gql.example.com", "GET", "/graphql?query=mutation%7BdeleteRepository%7D", "", "", 403, "graphql_operation_blocked"},
	}
	for _, tt := range tests {
		status, body := do(tt.host, tt.method, tt.path, tt.auth, tt.reqBody)
		if status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, status, body, tt.status, tt.body)
		}
	}
	if strings.Join(gotAuth, "|") != "api.example.com Bearer ghp_SURROGATE1234|other.example.com Bearer ghp_SURROGATE1234|gql.example.com " {
		t.Errorf("upstream saw %q", gotAuth)
	}

	// A request's log line is written when the proxy is done with it,
	// which may be just after the client has its response.
	var lines []proxy.LogLine
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if lines = readLog(t, cfg.LogFile); len(lines) >= 9 {
			break
		}
	}
	cancel()
	<-p.HTTP.Done()
	if len(lines) != 9 {
		t.Fatalf("log lines = %d, want 1 DNS + 8 HTTP: %+v", len(lines), lines)
	}
	var sawGraphQL bool
	for _, l := range lines {
		if l.Host == "gql.example.com" && !l.Allowed && l.Reason == "graphql-op: mutation/deleteRepository" {
			sawGraphQL = true
		}
	}
	if !sawGraphQL {
		t.Errorf("no log line for the refused GraphQL mutation: %+v", lines)
	}
	var api *proxy.LogLine
	for i := range lines {
		if lines[i].Kind == "http" && lines[i].Host == "api.example.com" {
			api = &lines[i]
		}
	}
	// The swap over HTTPS is TestEscapeAttempts' business.
	if api == nil || !api.Allowed || len(api.Swapped) != 0 || fmt.Sprint(api.Withheld) != "[GH_TOKEN]" || api.Upstream != up.Listener.Addr().String() {
		t.Errorf("api.example.com log line = %+v, want allowed, GH_TOKEN withheld, upstream %s", api, up.Listener.Addr())
	}
}

func readLog(t *testing.T, path string) []proxy.LogLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []proxy.LogLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "REALVALUE") || strings.Contains(sc.Text(), "SURROGATE") {
			t.Errorf("network log holds a secret value: %s", sc.Text())
		}
		var l proxy.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestStartFailsClosed(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("url_prefixes:\n  - {path: /x}\n"), 0o600)
	for name, cfg := range map[string]proxy.Config{
		"missing allowlist": {ProxyIP: "10.0.0.1", AllowlistFile: filepath.Join(dir, "nope.yaml")},
		"broken allowlist":  {ProxyIP: "10.0.0.1", AllowlistFile: bad},
		"bad proxy IP":      {ProxyIP: "nope", AllowlistFile: bad},
	} {
		if _, err := proxy.Start(context.Background(), cfg); err == nil {
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

// An allowlisted name that resolves to loopback (or link-local, or the
// proxy itself) is never dialled, whatever DNS says: the request fails
// and the log says why.
func TestUpstreamAddressesRefused(t *testing.T) {
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow.yaml")
	os.WriteFile(allow, []byte("domains: [localhost, 127.0.0.1, 169.254.169.254]\n"), 0o600)
	cfg := proxy.Config{
		ProxyIP: "10.199.1.100", DNSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		CADir: filepath.Join(dir, "ca"), AllowlistFile: allow, LogFile: filepath.Join(dir, "network.log"),
	}
	os.MkdirAll(cfg.CADir, 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := proxy.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "169.254.169.254"} {
		req, _ := http.NewRequest("GET", "http://"+p.HTTP.HTTPAddr().String()+"/", nil)
		req.Host = host
		resp, err := http.DefaultTransport.(*http.Transport).Clone().RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "could not be reached") || !strings.Contains(string(body), "refused") {
			t.Errorf("%s: %d %q, want 502 saying the upstream address was refused", host, resp.StatusCode, body)
		}
	}
	var lines []proxy.LogLine
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if lines = readLog(t, cfg.LogFile); len(lines) >= 3 {
			break
		}
	}
	want := map[string]string{"localhost": "loopback", "127.0.0.1": "loopback", "169.254.169.254": "link-local"}
	for _, l := range lines {
		if w, ok := want[l.Host]; ok && strings.Contains(l.Error, "refused: "+w) {
			delete(want, l.Host)
		}
	}
	if len(want) > 0 {
		t.Errorf("no refusal logged for %v: %+v", want, lines)
	}
}
