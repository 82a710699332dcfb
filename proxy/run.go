package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/airut-go/airut/proxy/allowlist"
	"github.com/airut-go/airut/proxy/ca"
	"github.com/airut-go/airut/proxy/dns"
	"github.com/airut-go/airut/proxy/graphql"
	"github.com/airut-go/airut/proxy/mitm"
)

// Config is what one conversation's proxy needs. The files are written by
// the worker and mounted read-only, except the log.
type Config struct {
	// ProxyIP is the address every DNS answer points at (this container's
	// address on the conversation's internal network).
	ProxyIP   string
	DNSAddr   string // default ":53"
	HTTPAddr  string // default ":80"
	HTTPSAddr string // default ":443"
	CADir     string
	// AllowlistFile is .airut/network-allowlist.yaml as read from the
	// default branch; a missing file is an error (fail closed).
	AllowlistFile string
	// SecretsFile is Credentials as JSON; optional.
	SecretsFile string
	// LogFile receives one JSON line per request and DNS query.
	LogFile string
	// Upstream overrides the transport to upstream servers (tests); the
	// default one refuses loopback, link-local and the proxy's own
	// addresses.
	Upstream *http.Transport
	// Transparent makes the HTTP(S) listeners IPv4 transparent sockets
	// (CAP_NET_ADMIN), so a connection routed here for any address, such
	// as a hard-coded IP, is accepted, refused with a 403 and logged.
	Transparent bool
	// RawAddr, with Transparent, is where the worker diverts every other
	// TCP connection and UDP datagram from the conversation network; each
	// is refused and logged (kind "tcp" or "udp", host = the address it
	// was meant for). Empty: no catch-all.
	RawAddr string
}

// Secret is one masked secret as the worker hands it over.
type Secret struct {
	Name         string   `json:"name"`
	Surrogate    string   `json:"surrogate"`
	Value        string   `json:"value"`
	Scopes       []string `json:"scopes"`
	Headers      []string `json:"headers"`
	AllowForeign bool     `json:"allow_foreign_credentials"`
}

// LogLine is one line of the network log. It never holds secret values.
type LogLine struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // "http", "dns", "tcp" or "udp"
	Method   string    `json:"method,omitempty"`
	Host     string    `json:"host"`
	Path     string    `json:"path,omitempty"`
	Status   int       `json:"status,omitempty"`
	Allowed  bool      `json:"allowed"`
	Reason   string    `json:"reason,omitempty"`
	Swapped  []string  `json:"swapped,omitempty"`
	Stripped []string  `json:"stripped,omitempty"`
	// Withheld names secrets whose surrogate went to a scoped host over
	// plain HTTP, where the real value is never put in.
	Withheld []string `json:"withheld,omitempty"`
	// Notes say what else the proxy did to the request (an AWS request
	// re-signed, a GitHub App token minted) or why it did not.
	Notes []string `json:"notes,omitempty"`
	// Upstream is the address the proxy actually dialled for an allowed
	// request.
	Upstream string `json:"upstream,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Proxy is a running sandbox proxy; it stops when the context given to
// Start ends or Stop is called.
type Proxy struct {
	DNS  *dns.Server
	HTTP *mitm.Server
	stop context.CancelFunc
}

// Stop shuts the proxy down.
func (p *Proxy) Stop() { p.stop() }

// Start loads the allowlist, secrets and CA and starts the DNS responder
// and the intercepting proxy; it fails, starting nothing, when any part
// cannot start.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	cfg = withDefaults(cfg)
	ip := net.ParseIP(cfg.ProxyIP)
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("proxy IP %q is not an IPv4 address", cfg.ProxyIP)
	}
	data, err := os.ReadFile(cfg.AllowlistFile)
	if err != nil {
		return nil, fmt.Errorf("read allowlist: %w", err)
	}
	list, err := allowlist.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("allowlist %s: %w", cfg.AllowlistFile, err)
	}
	creds, err := readCredentials(cfg.SecretsFile)
	if err != nil {
		return nil, err
	}
	authority, err := ca.LoadOrCreate(cfg.CADir)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	logw, err := newLog(cfg.LogFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	d, err := dns.Start(ctx, cfg.DNSAddr, ip, func(qtype, name, answer string) {
		logw.write(LogLine{Kind: "dns", Method: qtype, Host: name, Allowed: answer != "NOTIMP", Reason: answer})
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start DNS responder: %w", err)
	}
	upstream := cfg.Upstream
	if upstream == nil {
		if upstream, err = upstreamTransport(); err != nil {
			cancel()
			return nil, err
		}
	}
	var listen func(network, addr string) (net.Listener, error)
	if cfg.Transparent {
		listen = listenTransparent
	}
	h, err := mitm.Serve(ctx, mitm.Options{
		HTTPAddr: cfg.HTTPAddr, HTTPSAddr: cfg.HTTPSAddr, CA: authority, Listen: listen,
		Policy: policy{list}, Rewriter: newRewriter(creds, mintClient(upstream)), Upstream: upstream,
		Log: func(e mitm.Entry) {
			logw.write(LogLine{Kind: "http", Method: e.Method, Host: e.Host, Path: e.Path, Status: e.Status,
				Allowed: e.Allowed, Reason: e.Reason, Swapped: e.Swapped, Stripped: e.Stripped, Withheld: e.Withheld,
				Notes: e.Notes, Upstream: e.Upstream, Error: e.Error})
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start proxy: %w", err)
	}
	if cfg.Transparent && cfg.RawAddr != "" {
		if err := serveRaw(ctx, cfg.RawAddr, logw.write); err != nil {
			cancel()
			return nil, err
		}
	}
	go func() { <-ctx.Done(); logw.close() }()
	return &Proxy{DNS: d, HTTP: h, stop: cancel}, nil
}

func withDefaults(c Config) Config {
	if c.DNSAddr == "" {
		c.DNSAddr = ":53"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":80"
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = ":443"
	}
	return c
}

// policy enforces the allowlist; entries with a graphql block also have
// each request's operation checked against it.
type policy struct{ list *allowlist.List }

// Allowed checks the allowlist once; the matching url_prefixes entry may
// add the check of the request's GraphQL operation and allow WebSocket.
func (p policy) Allowed(host, path, method string) mitm.Verdict {
	d := p.list.Check(host, path, method)
	v := mitm.Verdict{Allowed: d.Allowed, Reason: d.Reason}
	if !d.Allowed || d.Entry < 0 || d.Entry >= len(p.list.URLPrefixes) {
		return v
	}
	e := p.list.URLPrefixes[d.Entry]
	v.WebSocket = e.WebSocket
	if e.GraphQL != nil {
		v.Body = graphqlCheck(e.GraphQL, host, path)
	}
	return v
}

func (p policy) BlockedBody(host, path, method, reason string) []byte {
	return []byte(p.list.BlockedMessage(host, path, method))
}

// graphqlCheck refuses operations the entry's rules do not list, with a
// 403 body that says how to ask for them.
func graphqlCheck(rules *allowlist.GraphQL, host, path string) mitm.BodyCheck {
	return func(body []byte) (bool, string, []byte) {
		g := graphql.Check(body, rules)
		reason := "graphql-op: " + g.Op
		if g.Allowed {
			return true, reason, nil
		}
		msg, _ := json.Marshal(map[string]string{
			"error": "graphql_operation_blocked",
			"message": fmt.Sprintf("Network sandbox blocked the GraphQL operation %s on %s%s: %s. To request access, add the "+
				"field to the graphql block (queries, mutations or subscriptions) of the matching url_prefixes entry in "+
				".airut/network-allowlist.yaml and open a pull request; the change applies to new tasks once it is merged "+
				"into the default branch.", g.Op, host, path, g.Detail),
			"detail": g.Detail,
		})
		return false, reason, msg
	}
}

// netLog appends JSON lines; writes from the DNS and HTTP goroutines are
// serialised.
type netLog struct {
	mu  sync.Mutex
	f   *os.File
	enc *json.Encoder
}

func newLog(path string) (*netLog, error) {
	if path == "" {
		return &netLog{}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open network log: %w", err)
	}
	return &netLog{f: f, enc: json.NewEncoder(f)}, nil
}

func (l *netLog) write(line LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.enc == nil {
		return
	}
	line.Time = time.Now().UTC()
	if err := l.enc.Encode(line); err != nil && !errors.Is(err, os.ErrClosed) {
		fmt.Fprintln(os.Stderr, "network log:", err)
	}
}

func (l *netLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.enc = nil
	}
}
