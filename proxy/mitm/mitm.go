// Package mitm is the sandbox's intercepting HTTP(S) proxy. The sandbox DNS
// sends every name to it, so it receives plain HTTP on one listener (port 80)
// and TLS on another (port 443). For TLS it presents a leaf certificate for
// the client's SNI minted by proxy/ca, then reads HTTP/1.1 requests inside.
//
// For every request it, in order: rejects CONNECT; rejects requests whose
// Host disagrees with the absolute-form URI (plain listener) or with the SNI
// (TLS listener), or that name a non-default port; asks the Policy; and only
// if allowed applies the Rewriter (masked-secret swap / strip) to the headers
// and forwards the request upstream on the same scheme, streaming the
// response back. Denied requests get a 403 and never cause an upstream
// connection. Each request produces exactly one log Entry.
//
// It must never log header values or any secret, never follow redirects,
// never forward a request the Policy did not allow, and never tunnel
// arbitrary bytes (CONNECT). It must not import Temporal or any airut
// package other than proxy/*.
package mitm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airut-go/airut/proxy/ca"
)

// Policy decides whether a request may leave the sandbox. host is the
// validated host (a DNS name or an IP literal, see Host); path is the raw
// request path as sent by the client, still percent-encoded and without
// the query: a query never satisfies a path rule. The policy is
// responsible for unescaping and traversal checks.
type Policy interface {
	Allowed(host, path, method string) Verdict
	// BlockedBody is the JSON body of the 403 sent for a denied request.
	BlockedBody(host, path, method, reason string) []byte
}

// Verdict is a Policy's decision on one request.
type Verdict struct {
	Allowed bool
	Reason  string
	// Body, for an allowed request whose body also decides (GraphQL
	// operations), gets the body, read whole up to MaxCheckedBody,
	// before anything is sent upstream.
	Body BodyCheck
	// WebSocket lets the request upgrade to WebSocket; after the
	// upstream's 101 the bytes are relayed unchecked, so it is opt-in.
	WebSocket bool
}

// BodyCheck decides a request by its body; blocked is the 403's body when
// it refuses.
type BodyCheck func(body []byte) (ok bool, reason string, blocked []byte)

// MaxCheckedBody bounds the body a BodyCheck gets; a longer body is
// handed over cut at MaxCheckedBody+1 bytes, for the check to refuse.
const MaxCheckedBody = 1 << 20

// Rewriter swaps surrogate credentials for real ones (and strips others)
// in an allowed request to host, just before it is sent: out is the
// request as it will go upstream (its URL, headers and body may be
// rewritten: a re-signed AWS request, a chunked body whose signatures are
// replaced). secure is false for plain HTTP, where a real value must
// never be put in. It returns names only, never values. ctx bounds any
// I/O it does (minting a token).
type Rewriter interface {
	Rewrite(ctx context.Context, host string, secure bool, out *http.Request) Rewritten
}

// Rewritten names what a Rewriter did to one request.
type Rewritten struct {
	Swapped  []string // secrets whose real value was put in
	Stripped []string // headers removed (foreign credentials)
	// Withheld are secrets whose surrogate was sent to a scoped host over
	// plain HTTP: it went out as the surrogate.
	Withheld []string
	// Notes say what else was done or why a swap did not happen
	// ("aws-sigv4 AWS_PROD: re-signed for us-east-1/s3"), without values.
	Notes []string
	// Refuse, when set, is sent to the client instead of the request.
	Refuse *Refusal
}

// Refusal is the answer to a request a Rewriter stopped: Body is JSON
// saying why.
type Refusal struct {
	Status int
	Reason string
	Body   []byte
}

// RewriteTimeout bounds a Rewriter's work on one request.
const RewriteTimeout = 30 * time.Second

// Entry is one log record per request. It never holds header values.
type Entry struct {
	Time     time.Time
	Scheme   string
	Method   string
	Host     string
	Path     string // without the query
	Status   int
	Allowed  bool
	Reason   string
	Swapped  []string
	Stripped []string
	Withheld []string
	Notes    []string
	// Upstream is the address actually dialled ("ip:port"), so the log
	// shows where an allowed request really went.
	Upstream string
	Error    string
	Duration time.Duration
}

// Options configures Serve.
type Options struct {
	HTTPAddr  string // e.g. "0.0.0.0:80"; empty disables the plain listener
	HTTPSAddr string // e.g. "0.0.0.0:443"; empty disables the TLS listener
	CA        *ca.CA
	Policy    Policy
	Rewriter  Rewriter // may be nil
	// Upstream is cloned; its DialContext and TLSClientConfig are used (tests
	// point them at local servers). Proxy is forced to nil and compression
	// to pass-through. Nil means a default transport.
	Upstream *http.Transport
	Log      func(Entry) // may be nil
	// IdleTimeout bounds the wait for the next request on a client
	// connection (default 2 minutes).
	IdleTimeout time.Duration
	// Listen opens the listeners (default net.Listen); the sandbox uses
	// transparent sockets so connections to any address can be answered.
	Listen func(network, addr string) (net.Listener, error)
}

// Server is a running proxy.
type Server struct {
	opts      Options
	transport *http.Transport
	httpLn    net.Listener
	httpsLn   net.Listener
	tlsConf   *tls.Config

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	done  chan struct{}
}

// HTTPAddr is the bound address of the plain listener (nil if disabled).
func (s *Server) HTTPAddr() net.Addr { return addrOf(s.httpLn) }

// HTTPSAddr is the bound address of the TLS listener (nil if disabled).
func (s *Server) HTTPSAddr() net.Addr { return addrOf(s.httpsLn) }

// localIP is the address a client connected to (with a transparent
// listener, the one it meant to reach).
func localIP(c net.Conn) string {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

func addrOf(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// Done is closed once the server has stopped and all connections ended.
func (s *Server) Done() <-chan struct{} { return s.done }

// Serve starts the listeners and returns once they accept connections. The
// server stops when ctx is cancelled.
func Serve(ctx context.Context, opts Options) (*Server, error) {
	if opts.Policy == nil {
		return nil, errors.New("mitm: Policy is required")
	}
	if opts.HTTPSAddr != "" && opts.CA == nil {
		return nil, errors.New("mitm: CA is required for the TLS listener")
	}
	if opts.HTTPAddr == "" && opts.HTTPSAddr == "" {
		return nil, errors.New("mitm: no listen address")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	var tr *http.Transport
	if opts.Upstream != nil {
		tr = opts.Upstream.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.Proxy = nil
	tr.DisableCompression = true
	guardTransport(tr)
	s := &Server{opts: opts, transport: tr, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	listen := opts.Listen
	if listen == nil {
		listen = net.Listen
	}
	if opts.HTTPAddr != "" {
		ln, err := listen("tcp", opts.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("mitm: %w", err)
		}
		s.httpLn = ln
	}
	if opts.HTTPSAddr != "" {
		ln, err := listen("tcp", opts.HTTPSAddr)
		if err != nil {
			if s.httpLn != nil {
				s.httpLn.Close()
			}
			return nil, fmt.Errorf("mitm: %w", err)
		}
		s.httpsLn = ln
		s.tlsConf = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"},
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if hello.ServerName == "" {
					// Clients send no SNI for an IP address: the
					// certificate is for the address they dialled.
					ip := localIP(hello.Conn)
					if ip == "" {
						return nil, errors.New("mitm: TLS client sent no SNI")
					}
					return opts.CA.Leaf(ip)
				}
				// No certificate is minted for a name that is not a
				// plain host: the same rule as for the Host header.
				h, ok := parseHost(hello.ServerName)
				if !ok {
					return nil, invalidSNI(hello.ServerName)
				}
				return opts.CA.Leaf(h.String())
			},
		}
	}
	for _, l := range []struct {
		ln  net.Listener
		tls bool
	}{{s.httpLn, false}, {s.httpsLn, true}} {
		if l.ln == nil {
			continue
		}
		s.wg.Add(1)
		go s.acceptLoop(l.ln, l.tls)
	}
	go func() {
		<-ctx.Done()
		if s.httpLn != nil {
			s.httpLn.Close()
		}
		if s.httpsLn != nil {
			s.httpsLn.Close()
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.transport.CloseIdleConnections()
		close(s.done)
	}()
	return s, nil
}

func (s *Server) acceptLoop(ln net.Listener, isTLS bool) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serveConn(c, isTLS)
		}()
	}
}

const maxHeaderBytes = 64 << 10

func (s *Server) serveConn(raw net.Conn, isTLS bool) {
	conn := raw
	sni := ""
	scheme := "http"
	if isTLS {
		scheme = "https"
		tc := tls.Server(raw, s.tlsConf)
		_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			var bad invalidSNI
			if errors.As(err, &bad) && s.opts.Log != nil {
				s.opts.Log(Entry{Time: time.Now(), Scheme: scheme, Host: string(bad), Reason: "invalid TLS server name (a DNS name or an IP address)"})
			}
			return
		}
		_ = raw.SetDeadline(time.Time{})
		sni = strings.ToLower(tc.ConnectionState().ServerName)
		if sni == "" {
			sni = localIP(raw)
		}
		conn = tc
	}
	br := bufio.NewReaderSize(conn, maxHeaderBytes)
	bw := bufio.NewWriterSize(conn, 32<<10)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		hostHeaders, err := peekHostHeaders(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !isNetClosed(err) {
				writeSimple(bw, http.StatusBadRequest, "bad request\n", true)
			}
			return
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			writeSimple(bw, http.StatusBadRequest, "bad request\n", true)
			if s.opts.Log != nil {
				s.opts.Log(Entry{Time: time.Now(), Scheme: scheme, Host: sni, Status: http.StatusBadRequest, Reason: "malformed request: " + err.Error()})
			}
			return
		}
		_ = conn.SetReadDeadline(time.Time{})
		keep := s.handle(conn, br, bw, req, scheme, sni, hostHeaders)
		if !keep {
			return
		}
	}
}

// invalidSNI is the handshake error for a server name that is not a
// plain host; no certificate is minted for it, and the refusal is logged.
type invalidSNI string

func (e invalidSNI) Error() string { return fmt.Sprintf("mitm: invalid TLS server name %q", string(e)) }

func isNetClosed(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "connection reset")
}

// peekHostHeaders returns the raw Host header values of the next request
// without consuming it (net/http drops the Host header for absolute-form
// requests, and the host-mismatch guard needs it).
func peekHostHeaders(br *bufio.Reader) ([]string, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	var buf []byte
	for {
		n := br.Buffered()
		buf, _ = br.Peek(n)
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			buf = buf[:i]
			break
		}
		if i := bytes.Index(buf, []byte("\n\n")); i >= 0 {
			buf = buf[:i]
			break
		}
		if n >= maxHeaderBytes {
			return nil, errors.New("headers too large")
		}
		if _, err := br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
	var hosts []string
	lines := strings.Split(string(buf), "\n")
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(strings.TrimRight(l, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Host") {
			hosts = append(hosts, strings.TrimSpace(v))
		}
	}
	return hosts, nil
}

var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHop(h http.Header) {
	for _, f := range h["Connection"] {
		for _, sf := range strings.Split(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// upgradeOf is the protocol a request asks to switch to ("" for none).
func upgradeOf(h http.Header) string {
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// relayUpgraded hands the upstream's 101 to the client and then copies
// bytes both ways until either side closes.
func relayUpgraded(conn net.Conn, br *bufio.Reader, bw *bufio.Writer, resp *http.Response, up io.ReadWriteCloser) {
	defer up.Close()
	fmt.Fprintf(bw, "HTTP/1.1 101 %s\r\n", http.StatusText(http.StatusSwitchingProtocols))
	if err := resp.Header.Write(bw); err != nil {
		return
	}
	bw.WriteString("\r\n")
	if bw.Flush() != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(conn, up); done <- struct{}{} }()
	<-done
	// One direction ended: end both, so neither goroutine outlives us.
	up.Close()
	conn.Close()
	<-done
}

// handle serves one request and reports whether the connection may be reused.
//
// The request loop is written out rather than served by net/http's Server
// and httputil.ReverseProxy because the guards need what those hide: the
// raw Host header lines (net/http keeps one and replaces it by the URI's
// host for absolute-form requests), the SNI of this very connection, and
// control of 100-continue, so that a refused request never waits for, or
// reaches, an upstream. Everything after the decision (the outgoing URL,
// the dial, TLS) uses typed values: url.URL and Host.
func (s *Server) handle(conn net.Conn, br *bufio.Reader, bw *bufio.Writer, req *http.Request, scheme, sni string, hostHeaders []string) bool {
	start := time.Now()
	e := Entry{Time: start, Scheme: scheme, Method: req.Method}
	target := req.RequestURI
	if req.URL.IsAbs() || req.URL.Host != "" {
		target = req.URL.RequestURI()
	}
	// The log keeps the path only: a query string may carry tokens.
	rawPath, rawQuery, _ := strings.Cut(target, "?")
	e.Path = rawPath
	wantClose := req.Close
	// A client that asked for 100-continue holds its body back: the
	// proxy answers the expectation itself once the request is allowed,
	// and a refusal closes the connection instead of waiting for a body
	// that may never come.
	expect := strings.EqualFold(req.Header.Get("Expect"), "100-continue")
	defer func() {
		e.Duration = time.Since(start)
		if s.opts.Log != nil {
			s.opts.Log(e)
		}
	}()
	deny := func(status int, reason string, body []byte, ctype string) bool {
		e.Status, e.Reason = status, reason
		if expect {
			wantClose = true
		}
		writeResp(bw, status, body, ctype, wantClose)
		return !wantClose && drain(req.Body)
	}
	denyText := func(reason, msg string) bool {
		return deny(http.StatusForbidden, reason, []byte(msg+"\n"), "text/plain; charset=utf-8")
	}

	switch strings.ToUpper(req.Method) {
	case http.MethodConnect:
		e.Host = req.RequestURI
		return denyText("CONNECT is not allowed", "CONNECT is not allowed")
	case http.MethodTrace, "TRACK":
		// The server echoes the request, real secrets included, back
		// into the sandbox.
		e.Host = req.Host
		return denyText(req.Method+" is not allowed (it echoes the request back)", req.Method+" is not allowed")
	}
	if len(hostHeaders) != 1 {
		e.Host = req.Host
		return denyText("request must carry exactly one Host header", "exactly one Host header required")
	}
	host, port, ok := parseHostPort(hostHeaders[0])
	e.Host = host.String()
	if !ok {
		e.Host = hostHeaders[0]
		return denyText("invalid Host header (a DNS name or an IP address, and a port)", "invalid Host header")
	}
	defPort := "80"
	if scheme == "https" {
		defPort = "443"
	}
	if port != "" && port != defPort {
		return denyText("non-default port "+port, "only the default port is allowed")
	}
	if req.URL.Host != "" {
		uh, up, ok := parseHostPort(req.URL.Host)
		if !ok || uh != host || (up != "" && up != defPort) || (req.URL.Scheme != "" && !strings.EqualFold(req.URL.Scheme, scheme)) {
			return denyText("host mismatch: URI "+req.URL.Host+" vs Host "+hostHeaders[0], "host mismatch")
		}
	}
	if scheme == "https" {
		if sh, ok := parseHost(sni); !ok || sh != host {
			return denyText("host mismatch: SNI "+sni+" vs Host "+host.String(), "host mismatch")
		}
	}
	if !strings.HasPrefix(target, "/") {
		return denyText("invalid request target", "invalid request target")
	}
	if strings.ContainsRune(target, '#') {
		// A fragment is never sent by a client; a parser downstream
		// would drop it after the path rule had matched it.
		return denyText("'#' in the request target", "invalid request target: '#' is not allowed")
	}
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return denyText("invalid percent-encoding in the path", "invalid request target: bad percent-encoding")
	}
	v := s.opts.Policy.Allowed(host.String(), rawPath, req.Method)
	e.Reason = v.Reason
	if !v.Allowed {
		return deny(http.StatusForbidden, v.Reason, s.opts.Policy.BlockedBody(host.String(), rawPath, req.Method, v.Reason), "application/json")
	}
	upgrade := upgradeOf(req.Header)
	switch {
	case upgrade == "":
	case !strings.EqualFold(upgrade, "websocket"):
		// h2c and anything else would turn an allowed request into a
		// connection carrying requests nobody checks: the request goes
		// on as plain HTTP/1.1 without it.
		e.Reason += "; upgrade to " + upgrade + " dropped"
		upgrade = ""
	case !v.WebSocket:
		return deny(http.StatusForbidden, "websocket not enabled for this entry",
			[]byte("Network sandbox: WebSocket to "+host.String()+" is not allowed; set websocket: true on the matching url_prefixes entry of .airut/network-allowlist.yaml\n"),
			"text/plain; charset=utf-8")
	}
	e.Allowed = true

	if expect {
		if _, werr := bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); werr != nil || bw.Flush() != nil {
			return false
		}
		req.Header.Del("Expect")
	}
	u := &url.URL{Scheme: scheme, Host: host.URLHost(), Path: path, RawPath: rawPath, RawQuery: rawQuery}
	out := &http.Request{
		Method:        req.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        req.Header.Clone(),
		Body:          req.Body,
		ContentLength: req.ContentLength,
		Host:          host.URLHost(),
	}
	var sent *sentBody
	if v.Body != nil {
		body, err := io.ReadAll(io.LimitReader(req.Body, MaxCheckedBody+1))
		if err != nil {
			e.Error = err.Error()
			return false
		}
		ok, why, blocked := v.Body(body)
		e.Reason = why
		if !ok {
			e.Allowed = false
			if len(body) > MaxCheckedBody {
				wantClose = true // the rest of the body is not read
			}
			return deny(http.StatusForbidden, why, blocked, "application/json")
		}
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if len(body) == 0 {
			out.Body = nil
		}
	} else if req.ContentLength == 0 {
		out.Body = nil
	} else {
		// The transport closes the body it is given (maybe after RoundTrip
		// returns); shield req.Body so the rest can still be drained.
		sent = &sentBody{r: req.Body, closed: make(chan struct{})}
		out.Body = sent
	}
	removeHop(out.Header)
	if upgrade != "" {
		// A WebSocket upgrade the entry opted into: ask upstream for it;
		// after a 101 the bytes are relayed as is.
		out.Header.Set("Connection", "Upgrade")
		out.Header.Set("Upgrade", upgrade)
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // don't add Go's default
	}
	if s.opts.Rewriter != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), RewriteTimeout)
		rw := s.opts.Rewriter.Rewrite(rctx, host.String(), scheme == "https", out)
		rcancel()
		e.Swapped, e.Stripped, e.Withheld, e.Notes = rw.Swapped, rw.Stripped, rw.Withheld, rw.Notes
		if rw.Refuse != nil {
			e.Allowed = false
			wantClose = true // the body may be half read
			return deny(rw.Refuse.Status, rw.Refuse.Reason, rw.Refuse.Body, "application/json")
		}
		if out.URL.Host != host.URLHost() || out.Host != host.URLHost() || out.URL.Scheme != scheme {
			// A rewriter changes credentials, never where the request goes.
			e.Allowed = false
			return deny(http.StatusInternalServerError, "rewriter changed the host", []byte("Network sandbox: internal error\n"), "text/plain; charset=utf-8")
		}
	}
	ctx, cancel := context.WithCancel(withAllowed(context.Background(), host))
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(c httptrace.GotConnInfo) { e.Upstream = c.Conn.RemoteAddr().String() },
	})
	out = out.WithContext(ctx)
	resp, err := s.transport.RoundTrip(out)
	if err != nil {
		e.Error = err.Error()
		e.Status = http.StatusBadGateway
		// Say why, so the agent does not retry blindly; transport errors
		// name the host and address, never header values.
		msg := fmt.Sprintf("Network sandbox: %s %s%s is allowed, but the upstream server could not be reached: %v\n", req.Method, host.String(), e.Path, err)
		writeResp(bw, http.StatusBadGateway, []byte(msg), "text/plain; charset=utf-8", true)
		return false
	}
	defer resp.Body.Close()
	e.Status = resp.StatusCode
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if up, ok := resp.Body.(io.ReadWriteCloser); ok && upgrade != "" {
			relayUpgraded(conn, br, bw, resp, up)
		}
		return false
	}
	removeHop(resp.Header)
	// Hand the response to the client: HTTP/1.1, chunked when length unknown.
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	resp.TransferEncoding = nil
	if resp.ContentLength < 0 && req.Method != http.MethodHead && resp.StatusCode >= 200 && resp.StatusCode != 204 && resp.StatusCode != 304 {
		resp.TransferEncoding = []string{"chunked"}
	}
	resp.Close = wantClose
	resp.Request = req
	resp.Body = &flushingBody{r: resp.Body, w: bw}
	// Hide bufio.Writer's ReadFrom: flushingBody flushes bw between reads,
	// which must not happen while ReadFrom reads into bw's own buffer.
	if err := resp.Write(struct{ io.Writer }{bw}); err != nil {
		e.Error = err.Error()
		return false
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	if wantClose {
		return false
	}
	if sent != nil {
		select {
		case <-sent.closed:
		case <-time.After(5 * time.Second):
			return false
		}
	}
	return drain(req.Body)
}

type sentBody struct {
	r      io.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *sentBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *sentBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// flushingBody flushes what has been written so far before each upstream
// read, so streaming responses (SSE, long polls) reach the client promptly
// while bulk copies still batch writes.
type flushingBody struct {
	r io.ReadCloser
	w *bufio.Writer
}

func (f *flushingBody) Close() error { return f.r.Close() }

func (f *flushingBody) Read(p []byte) (int, error) {
	if f.w.Buffered() > 0 {
		if err := f.w.Flush(); err != nil {
			return 0, err
		}
	}
	return f.r.Read(p)
}

// drain discards an unread request body so the connection can carry the
// next request; it gives up (close) past 256 KiB.
func drain(body io.ReadCloser) bool {
	if body == nil || body == http.NoBody {
		return true
	}
	n, err := io.Copy(io.Discard, io.LimitReader(body, 256<<10))
	if err != nil {
		return false
	}
	if n == 256<<10 {
		var one [1]byte
		if m, _ := body.Read(one[:]); m > 0 {
			return false
		}
	}
	return true
}

func writeResp(bw *bufio.Writer, status int, body []byte, ctype string, close bool) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n", status, http.StatusText(status), ctype, strconv.Itoa(len(body)))
	if close {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	bw.Write(body)
	bw.Flush()
}

func writeSimple(bw *bufio.Writer, status int, msg string, close bool) {
	writeResp(bw, status, []byte(msg), "text/plain; charset=utf-8", close)
}
