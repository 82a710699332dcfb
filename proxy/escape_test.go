package proxy_test

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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/allowlist"
	"github.com/airut-go/airut/proxy/ca"
)

// Real and surrogate values of the masked secret the attacks go after.
const (
	escReal = "ghp_REALVALUE9999escape"
	escSurr = "ghp_SURROGATE1234escap"
)

// escapeAllowlist has a wildcard entry with a wildcard-scoped secret (the
// setting the Host '?' attack needs), a path rule the fragment and query
// attacks aim at, and one entry that opts into WebSocket.
const escapeAllowlist = `
domains: [api.example.com, "*.wild.example.com"]
url_prefixes:
  - host: rules.example.com
    path: /repos/*/issues
    methods: [POST]
  - host: ws.example.com
    path: /socket
    websocket: true
`

// hit is one request as the test upstream saw it.
type hit struct {
	Dialled string // the address the proxy dialled
	TLS     bool
	SNI     string
	Method  string
	Host    string
	URI     string
	Header  http.Header
}

// escapeUpstream stands in for every server out there: whatever address
// the proxy dials, it lands here (on loopback), and each dial and request
// is recorded. HTTPS is served with certificates from a CA of its own.
type escapeUpstream struct {
	mu    sync.Mutex
	dials []string
	hits  []hit
	tr    *http.Transport
}

func newEscapeUpstream(t testing.TB) *escapeUpstream {
	t.Helper()
	upCA, err := ca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := &escapeUpstream{}
	handler := func(dialled string, isTLS bool, sni string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.hits = append(u.hits, hit{dialled, isTLS, sni, r.Method, r.Host, r.RequestURI, r.Header.Clone()})
			u.mu.Unlock()
			if r.Header.Get("Upgrade") == "websocket" {
				w.Header().Set("Connection", "Upgrade")
				w.Header().Set("Upgrade", "websocket")
				w.WriteHeader(http.StatusSwitchingProtocols)
				return
			}
			io.WriteString(w, "upstream ok")
		})
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(upCA.CertPEM())
	u.tr = &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			u.mu.Lock()
			u.dials = append(u.dials, addr)
			u.mu.Unlock()
			client, server := net.Pipe()
			_, port, _ := net.SplitHostPort(addr)
			go func() {
				defer server.Close()
				var c net.Conn = server
				sni := ""
				if port == "443" {
					tc := tls.Server(server, &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
						sni = h.ServerName
						return upCA.Leaf(h.ServerName)
					}})
					if tc.Handshake() != nil {
						return
					}
					c = tc
				}
				srv := &http.Server{Handler: handler(addr, port == "443", sni)}
				srv.Serve(newOneConnListener(c))
			}()
			return client, nil
		},
	}
	return u
}

func (u *escapeUpstream) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.dials, u.hits = nil, nil
}

func (u *escapeUpstream) seen() ([]string, []hit) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.dials...), append([]hit(nil), u.hits...)
}

// oneConnListener hands out one connection; the next Accept waits for
// it to close and then ends Serve, so no goroutine outlives the exchange.
type oneConnListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{done: make(chan struct{})}
	l.c = &notifyConn{Conn: c, done: l.done}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

type notifyConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *notifyConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

type escapeEnv struct {
	up      *escapeUpstream
	p       *proxy.Proxy
	caPool  *x509.CertPool
	logFile string
}

func newEscapeEnv(t testing.TB) *escapeEnv {
	t.Helper()
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow.yaml")
	secrets := filepath.Join(dir, "secrets.json")
	os.WriteFile(allow, []byte(escapeAllowlist), 0o600)
	os.WriteFile(secrets, []byte(fmt.Sprintf(`{"masked":[{"name":"GH_TOKEN","surrogate":%q,"value":%q,"scopes":["api.example.com","*.wild.example.com","rules.example.com","ws.example.com"],"headers":["Authorization"]}]}`, escSurr, escReal)), 0o600)
	up := newEscapeUpstream(t)
	cfg := proxy.Config{
		ProxyIP: "10.199.1.100", DNSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		CADir: filepath.Join(dir, "ca"), AllowlistFile: allow, SecretsFile: secrets,
		LogFile: filepath.Join(dir, "network.log"), Upstream: up.tr,
	}
	os.MkdirAll(cfg.CADir, 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := proxy.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-p.HTTP.Done() })
	pem, err := os.ReadFile(filepath.Join(cfg.CADir, ca.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &escapeEnv{up: up, p: p, caPool: pool, logFile: cfg.LogFile}
}

// exchange sends one raw request, over TLS with sni when useTLS is set,
// and returns the status (0: the connection was refused or cut before a
// response).
func (e *escapeEnv) exchange(t *testing.T, sni string, useTLS bool, raw string) int {
	t.Helper()
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.Dial("tcp", e.p.HTTP.HTTPSAddr().String(), &tls.Config{ServerName: sni, RootCAs: e.caPool})
		if err != nil {
			return 0 // handshake refused
		}
	} else if conn, err = net.Dial("tcp", e.p.HTTP.HTTPAddr().String()); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// logLines reads the network log as generic maps, waiting for n lines.
func (e *escapeEnv) logLines(t *testing.T, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out = nil
		data, _ := os.ReadFile(e.logFile)
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["kind"] == "http" {
				out = append(out, m)
			}
		}
		if len(out) >= n {
			break
		}
	}
	return out
}

// TestEscapeAttempts replays, against the assembled proxy, the bypasses a
// review found: each must be refused before anything is dialled, or must
// reach only the allowed host with no real secret outside its scope.
func TestEscapeAttempts(t *testing.T) {
	auth := "Authorization: Bearer " + escSurr + "\r\n"
	tests := []struct {
		name   string
		tls    bool
		sni    string
		raw    string
		status int      // 0: refused at the TLS handshake
		dials  []string // exactly these addresses may be dialled
		check  func(t *testing.T, hits []hit)
	}{
		{
			name: "Host with '?' before a wildcard suffix", raw: "GET /x HTTP/1.1\r\nHost: evil.example?.wild.example.com\r\n" + auth + "\r\n",
			status: 403,
		},
		{
			name: "Host with '#' before a wildcard suffix", raw: "GET /x HTTP/1.1\r\nHost: evil.example#.wild.example.com\r\n" + auth + "\r\n",
			status: 403,
		},
		{
			name: "IP literal with '#' before a wildcard suffix", raw: "GET /x HTTP/1.1\r\nHost: 10.0.0.5#.wild.example.com\r\n\r\n",
			status: 403,
		},
		{
			name: "Host with '@' userinfo", raw: "GET /x HTTP/1.1\r\nHost: evil.example@x.wild.example.com\r\n\r\n",
			status: 403,
		},
		{
			name: "SNI and Host with '?' over TLS", tls: true, sni: "evil.example?.wild.example.com",
			raw: "GET /x HTTP/1.1\r\nHost: evil.example?.wild.example.com\r\n" + auth + "\r\n",
		},
		{
			name: "fragment satisfies a path rule", raw: "POST /repos/o/r/git/refs#/issues HTTP/1.1\r\nHost: rules.example.com\r\nContent-Length: 0\r\n\r\n",
			status: 403,
		},
		{
			name: "query satisfies a path rule", raw: "POST /repos/o/r/git/refs?x=/issues HTTP/1.1\r\nHost: rules.example.com\r\nContent-Length: 0\r\n\r\n",
			status: 403,
		},
		{
			name: "the path rule itself, with a query", raw: "POST /repos/o/r/issues?x=1 HTTP/1.1\r\nHost: rules.example.com\r\nContent-Length: 0\r\n\r\n",
			status: 200, dials: []string{"rules.example.com:80"},
			check: func(t *testing.T, hits []hit) {
				if hits[0].URI != "/repos/o/r/issues?x=1" {
					t.Errorf("upstream URI %q", hits[0].URI)
				}
			},
		},
		{
			name: "h2c upgrade is not forwarded", raw: "GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
			status: 200, dials: []string{"api.example.com:80"},
			check: func(t *testing.T, hits []hit) {
				if h := hits[0].Header; h.Get("Upgrade") != "" || h.Get("HTTP2-Settings") != "" {
					t.Errorf("upstream got the upgrade: %v", h)
				}
			},
		},
		{
			name: "websocket without opt-in", raw: "GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			status: 403,
		},
		{
			name: "websocket with opt-in", tls: true, sni: "ws.example.com", raw: "GET /socket HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" + auth + "\r\n",
			status: 101, dials: []string{"ws.example.com:443"},
			check: func(t *testing.T, hits []hit) {
				if hits[0].Header.Get("Authorization") != "Bearer "+escReal {
					t.Errorf("upgrade request over HTTPS not swapped: %q", hits[0].Header.Get("Authorization"))
				}
			},
		},
		{
			name: "secret over plain HTTP stays the surrogate", raw: "GET /user HTTP/1.1\r\nHost: api.example.com\r\n" + auth + "\r\n",
			status: 200, dials: []string{"api.example.com:80"},
			check: func(t *testing.T, hits []hit) {
				if got := hits[0].Header.Get("Authorization"); got != "Bearer "+escSurr {
					t.Errorf("plain HTTP upstream Authorization %q, want the surrogate", got)
				}
			},
		},
		{
			name: "secret over HTTPS is swapped", tls: true, sni: "api.example.com", raw: "GET /user HTTP/1.1\r\nHost: api.example.com\r\n" + auth + "\r\n",
			status: 200, dials: []string{"api.example.com:443"},
			check: func(t *testing.T, hits []hit) {
				if got := hits[0].Header.Get("Authorization"); got != "Bearer "+escReal || !hits[0].TLS || hits[0].SNI != "api.example.com" {
					t.Errorf("HTTPS upstream Authorization %q tls=%v sni=%q", got, hits[0].TLS, hits[0].SNI)
				}
			},
		},
		{
			name: "TRACE echoes the swapped secret", tls: true, sni: "api.example.com", raw: "TRACE / HTTP/1.1\r\nHost: api.example.com\r\n" + auth + "\r\n",
			status: 403,
		},
		{
			name: "foreign x-api-key on a scoped host", tls: true, sni: "api.example.com", raw: "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-Api-Key: attackers-own-key\r\n\r\n",
			status: 200, dials: []string{"api.example.com:443"},
			check: func(t *testing.T, hits []hit) {
				if got := hits[0].Header.Get("X-Api-Key"); got != "" {
					t.Errorf("foreign X-Api-Key reached the scoped host: %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEscapeEnv(t)
			status := e.exchange(t, tt.sni, tt.tls, tt.raw)
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			dials, hits := e.up.seen()
			if fmt.Sprint(dials) != fmt.Sprint(tt.dials) {
				t.Errorf("dialled %v, want %v", dials, tt.dials)
			}
			for _, h := range hits {
				for k, vs := range h.Header {
					for _, v := range vs {
						if strings.Contains(v, escReal) && (!h.TLS || k != "Authorization") {
							t.Errorf("real secret reached %s (tls=%v) in %s", h.Dialled, h.TLS, k)
						}
					}
				}
			}
			if tt.check != nil {
				if len(hits) != 1 {
					t.Fatalf("upstream saw %d requests, want 1: %+v", len(hits), hits)
				}
				tt.check(t, hits)
			}
			lines := e.logLines(t, 1)
			if len(lines) != 1 {
				t.Fatalf("want one http log line, got %v", lines)
			}
			if allowed := lines[0]["allowed"] == true; allowed != (len(tt.dials) > 0) {
				t.Errorf("log line allowed=%v: %v", allowed, lines[0])
			}
			if len(tt.dials) > 0 && lines[0]["upstream"] == nil {
				t.Errorf("log line has no upstream address: %v", lines[0])
			}
		})
	}
}

// FuzzRequestPath feeds raw bytes, as plain HTTP or inside TLS with any
// server name, to the assembled proxy and checks the sandbox's promise on
// whatever comes out: nothing is dialled but a host the allowlist names,
// the upstream is asked for exactly the host it was dialled as, and the
// real secret leaves only over HTTPS, in its header, to a host in its
// scope.
func FuzzRequestPath(f *testing.F) {
	auth := "Authorization: Bearer " + escSurr + "\r\n"
	seeds := []string{
		"GET /x HTTP/1.1\r\nHost: api.example.com\r\n" + auth + "\r\n",
		"GET /x HTTP/1.1\r\nHost: evil.example?.wild.example.com\r\n" + auth + "\r\n",
		"GET http://a.wild.example.com/x HTTP/1.1\r\nHost: a.wild.example.com\r\n" + auth + "\r\n",
		"POST /repos/o/r/issues HTTP/1.1\r\nHost: rules.example.com\r\nContent-Length: 2\r\n\r\n{}",
		"POST /repos/o/r/git/refs#/issues HTTP/1.1\r\nHost: rules.example.com\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
		"GET /socket HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" + auth + "\r\n",
		"TRACE / HTTP/1.1\r\nHost: api.example.com\r\n" + auth + "\r\n",
		"GET /a HTTP/1.1\r\nHost: api.example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: x.wild.example.com\r\n" + auth + "\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), "", false)
		f.Add([]byte(s), "api.example.com", true)
	}
	f.Add([]byte(seeds[1]), "evil.example?.wild.example.com", true)
	f.Add([]byte(seeds[2]), "a.wild.example.com", true)

	e := newEscapeEnv(f)
	list, err := allowlist.Parse([]byte(escapeAllowlist))
	if err != nil {
		f.Fatal(err)
	}
	hosts := append([]string(nil), list.Domains...)
	for _, p := range list.URLPrefixes {
		hosts = append(hosts, p.Host)
	}
	scopes := []string{"api.example.com", "*.wild.example.com", "rules.example.com", "ws.example.com"}
	f.Fuzz(func(t *testing.T, raw []byte, sni string, useTLS bool) {
		e.up.reset()
		e.send(raw, sni, useTLS)
		dials, hits := e.up.seen()
		for _, d := range dials {
			host, port, err := net.SplitHostPort(d)
			if err != nil || !allowlist.MatchAny(hosts, host, true) || (port != "80" && port != "443") {
				t.Fatalf("dialled %q, which the allowlist does not name", d)
			}
			if strings.ContainsAny(host, "?#@/%\\ ") {
				t.Fatalf("dialled a host that is not a plain name: %q", d)
			}
		}
		for _, h := range hits {
			host, _, _ := net.SplitHostPort(h.Dialled)
			if rh, _, err := net.SplitHostPort(h.Host); (err == nil && rh != host) || (err != nil && h.Host != host) {
				t.Fatalf("dialled %s but asked for Host %q", h.Dialled, h.Host)
			}
			if strings.Contains(h.URI, escReal) {
				t.Fatalf("real secret in the URI sent to %s", h.Dialled)
			}
			for k, vs := range h.Header {
				for _, v := range vs {
					if strings.Contains(v, escReal) && (!h.TLS || k != "Authorization" || !allowlist.MatchAny(scopes, host, true)) {
						t.Fatalf("real secret reached %s (tls=%v) in %s", h.Dialled, h.TLS, k)
					}
				}
			}
		}
	})
}

// send writes raw on a fresh connection, closes its sending side and
// reads until the proxy closes, so every request in raw has been decided
// (and any upstream exchange finished) when it returns.
func (e *escapeEnv) send(raw []byte, sni string, useTLS bool) {
	tcp, err := net.Dial("tcp", e.p.HTTP.HTTPAddr().String())
	if useTLS {
		tcp, err = net.Dial("tcp", e.p.HTTP.HTTPSAddr().String())
	}
	if err != nil {
		return
	}
	defer tcp.Close()
	tcp.SetDeadline(time.Now().Add(5 * time.Second))
	var conn net.Conn = tcp
	if useTLS {
		tc := tls.Client(tcp, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if tc.Handshake() != nil {
			return
		}
		conn = tc
	}
	conn.Write(raw)
	if tc, ok := conn.(*tls.Conn); ok {
		tc.CloseWrite()
	} else {
		tcp.(*net.TCPConn).CloseWrite()
	}
	io.Copy(io.Discard, conn)
}
