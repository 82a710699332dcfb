package dashboard

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a dashboard Server.
type Options struct {
	// Source is where every fact comes from and every action goes.
	Source Source
	// Repos lists the configured repos for the repo page and the
	// overview's filter (nil: none known).
	Repos func() []RepoInfo
	// BaseURL is where people reach the dashboard (dashboard.base_url), if
	// it is behind a name or proxy; its host is allowed as a Host header
	// and its origin as a cross-origin request origin. The dashboard's
	// links are absolute paths: a proxy must forward paths unchanged (no
	// path prefix). An https base URL makes the login cookie Secure.
	BaseURL string
	// TemporalUI is the base URL of the Temporal Web UI, for links to a
	// conversation's workflow ("": no links).
	TemporalUI string
	// Namespace is the Temporal namespace of those links ("" : default).
	Namespace string
	// AuthToken, when set, is required on every request: as a bearer
	// token or through the cookie the login form sets (see the package
	// documentation). At least 16 bytes.
	AuthToken string
	// TrustedProxyHeader, when set, names the header an authenticating
	// reverse proxy sets to the user's name; requests without it are
	// refused.
	TrustedProxyHeader string
	// AllowedHosts are the Host header values accepted besides loopback
	// names and addresses: a name ("dash.example.com", any port) or a
	// name with a port ("dash.example.com:8443", that port only).
	AllowedHosts []string
	// MaxStreams bounds the concurrent live streams (default 8).
	MaxStreams int
	// Log receives the dashboard's log (default slog.Default()).
	Log *slog.Logger

	// Timings tests shorten (export_test.go); zero takes the default.
	heartbeat time.Duration
	readWait  time.Duration
	linger    time.Duration
	noCache   bool
}

// RepoInfo is a configured repo as the repo page shows it. The caller fills
// it from the loaded configuration and must never put a secret value in
// it: secrets are listed by name.
type RepoInfo struct {
	ID string
	// Channels are the channels the repo takes messages from ("email",
	// "slack", "local").
	Channels []string
	// Settings are the repo's settings as loaded, one key and value per
	// line, in the order to show them.
	Settings []Setting
	// Secrets are the names of the repo's secrets (never values).
	Secrets []string
	// Allowlist is the network allowlist from the default branch, as
	// text (nil: none).
	Allowlist []byte
}

// Setting is one line of a repo's settings.
type Setting struct {
	Key   string
	Value string
}

// Defaults.
const (
	defaultMaxStreams = 8
	defaultHeartbeat  = 15 * time.Second
	defaultReadWait   = 10 * time.Second
	defaultLinger     = 15 * time.Second
	listCacheTTL      = 2 * time.Second
	minTokenBytes     = 16
)

// Server is the dashboard's HTTP side. Create it with New, serve
// Handler(), and call Close on shutdown (it ends the live streams, which
// http.Server.Shutdown would otherwise wait for).
type Server struct {
	o          Options
	src        Source
	log        *slog.Logger
	handler    http.Handler
	allowed    map[string]bool
	baseOrigin string
	secure     bool
	cookieVal  string
	flashKey   []byte
	streams    chan struct{}
	hub        *hub
	pages      *pages
	ctx        context.Context
	cancel     context.CancelFunc

	cacheMu sync.Mutex
	lists   map[Filter]listEntry
	hosts   *hostsEntry
}

type listEntry struct {
	rows []Row
	at   time.Time
}

type hostsEntry struct {
	hosts []Host
	at    time.Time
}

// New checks o and builds the server.
func New(o Options) (*Server, error) {
	if o.Source == nil {
		return nil, errors.New("dashboard: no Source")
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = defaultMaxStreams
	}
	if o.heartbeat <= 0 {
		o.heartbeat = defaultHeartbeat
	}
	if o.readWait <= 0 {
		o.readWait = defaultReadWait
	}
	if o.linger <= 0 {
		o.linger = defaultLinger
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.AuthToken != "" && len(o.AuthToken) < minTokenBytes {
		return nil, fmt.Errorf("dashboard: the auth token must be at least %d bytes", minTokenBytes)
	}
	o.TrustedProxyHeader = strings.TrimSpace(o.TrustedProxyHeader)
	if o.TemporalUI != "" {
		u, err := url.Parse(o.TemporalUI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("dashboard: Temporal UI URL %q is not an http(s) URL", o.TemporalUI)
		}
		o.TemporalUI = strings.TrimRight(o.TemporalUI, "/")
	}
	s := &Server{o: o, src: o.Source, log: o.Log, allowed: map[string]bool{}, lists: map[Filter]listEntry{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, h := range o.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.Contains(h, "/") {
			return nil, fmt.Errorf("dashboard: allowed host %q: want a host name, optionally with a port", h)
		}
		s.allowed[strings.TrimSuffix(h, ".")] = true
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("dashboard: base URL %q is not an http(s) URL", o.BaseURL)
		}
		s.allowed[strings.ToLower(u.Hostname())] = true
		s.baseOrigin = u.Scheme + "://" + u.Host
		s.secure = u.Scheme == "https"
	}
	s.flashKey = make([]byte, 32)
	if _, err := rand.Read(s.flashKey); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if o.AuthToken != "" {
		s.cookieVal = sessionValue(o.AuthToken)
	}
	s.streams = make(chan struct{}, o.MaxStreams)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub = newHub(s)
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s.pages = p
	h, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = h
	return s, nil
}

// Handler serves the dashboard.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends the live streams and their readers. Pages still work
// afterwards, streams do not.
func (s *Server) Close() { s.cancel() }

func (s *Server) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /conversation/{id}", s.conversation)
	mux.HandleFunc("GET /conversation/{repo}/{id}", s.conversation)
	mux.HandleFunc("GET /conversation/{id}/network", s.network)
	mux.HandleFunc("GET /conversation/{id}/events/stream", s.stream(FileEvents))
	mux.HandleFunc("GET /conversation/{id}/network/stream", s.stream(FileNetwork))
	mux.HandleFunc("GET /conversation/{id}/events/poll", s.poll(FileEvents))
	mux.HandleFunc("GET /conversation/{id}/network/poll", s.poll(FileNetwork))
	mux.HandleFunc("POST /conversation/{id}/stop", s.stop)
	mux.HandleFunc("POST /conversation/{id}/retry", s.retry)
	mux.HandleFunc("POST /conversation/{id}/send", s.send)
	mux.HandleFunc("GET /repo/{id}", s.repo)
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("GET /api/conversations", s.apiConversations)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	csrf := http.NewCrossOriginProtection()
	if s.baseOrigin != "" {
		if err := csrf.AddTrustedOrigin(s.baseOrigin); err != nil {
			return nil, fmt.Errorf("dashboard: base URL origin: %w", err)
		}
	}
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("dashboard: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		refuse(w, http.StatusForbidden, "cross-origin request refused")
	}))
	var h http.Handler = mux
	h = securityHeaders(h)
	h = csrf.Handler(h)
	h = s.authenticate(h)
	h = s.checkHost(h)
	return h, nil
}

// list is Source.List behind a short cache shared by every viewer, so a
// room full of open overviews costs one visibility query per filter every
// two seconds.
func (s *Server) list(ctx context.Context, f Filter) ([]Row, error) {
	if !s.o.noCache {
		s.cacheMu.Lock()
		e, ok := s.lists[f]
		s.cacheMu.Unlock()
		if ok && time.Since(e.at) < listCacheTTL {
			return e.rows, nil
		}
	}
	rows, err := s.src.List(ctx, f)
	if err != nil {
		return nil, err
	}
	if !s.o.noCache {
		s.cacheMu.Lock()
		if len(s.lists) > 64 {
			clear(s.lists)
		}
		s.lists[f] = listEntry{rows: rows, at: time.Now()}
		s.cacheMu.Unlock()
	}
	return rows, nil
}

func (s *Server) hostList(ctx context.Context) ([]Host, error) {
	if !s.o.noCache {
		s.cacheMu.Lock()
		e := s.hosts
		s.cacheMu.Unlock()
		if e != nil && time.Since(e.at) < listCacheTTL {
			return e.hosts, nil
		}
	}
	hosts, err := s.src.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	if !s.o.noCache {
		s.cacheMu.Lock()
		s.hosts = &hostsEntry{hosts: hosts, at: time.Now()}
		s.cacheMu.Unlock()
	}
	return hosts, nil
}

// repos returns the configured repos (none when Options.Repos is nil).
func (s *Server) repos() []RepoInfo {
	if s.o.Repos == nil {
		return nil
	}
	return s.o.Repos()
}

// actor names who asked for an action: the user the trusted proxy
// authenticated, else the dashboard and the client's address.
func (s *Server) actor(r *http.Request) string {
	if h := s.o.TrustedProxyHeader; h != "" {
		if u := cleanActor(r.Header.Get(h)); u != "" {
			return u
		}
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return "dashboard (" + cleanActor(host) + ")"
}

// cleanActor keeps a name printable and short: it ends up in workflow
// history and logs.
func cleanActor(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}

// validConvID: 8 lowercase hex characters.
func validConvID(id string) bool {
	if len(id) != 8 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validRepoID is the config's repo ID pattern, [A-Za-z0-9][A-Za-z0-9_.-]{0,63}.
func validRepoID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i, c := range id {
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

// convURL is the conversation page of repo/id, plus a suffix path
// ("/network").
func convURL(repo, id, suffix string) string {
	return "/conversation/" + id + suffix + "?repo=" + url.QueryEscape(repo)
}
