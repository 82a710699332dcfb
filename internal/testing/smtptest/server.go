package smtptest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/airut-go/airut/internal/testing/testcert"
)

// Server is a running SMTP sink. Its methods are safe for concurrent use.
type Server struct {
	tb        testing.TB
	srv       *smtp.Server
	host      string
	port      int
	user      string
	pass      string
	token     func(string) bool // with WithXOAUTH2
	clientTLS *tls.Config       // nil without WithTLS

	mu       sync.Mutex
	msgs     []Message
	failures []int
	holds    []*hold
	arrived  chan struct{} // closed and replaced whenever a message is stored
	closed   bool
}

// Option configures a Server.
type Option func(*options)

type options struct {
	user, pass string
	auth       bool
	// token, when set, accepts XOAUTH2 for user with a token it approves.
	token       func(string) bool
	tls         bool
	implicitTLS bool
	failures    []int
}

// WithAuth makes the server offer AUTH PLAIN and refuse MAIL until the
// client has logged in as user with pass; other credentials get 535.
// Without WithTLS, AUTH is allowed on the unencrypted connection.
func WithAuth(user, pass string) Option {
	return func(o *options) { o.auth, o.user, o.pass = true, user, pass }
}

// WithXOAUTH2 makes the server offer AUTH XOAUTH2 (Microsoft 365's) and
// refuse MAIL until the client has logged in as user with a token that
// valid approves; a refused token gets the JSON challenge Microsoft's
// servers send, then 535. Plain logins are not offered.
func WithXOAUTH2(user string, valid func(token string) bool) Option {
	return func(o *options) { o.auth, o.user, o.token = true, user, valid }
}

// WithTLS makes the server offer STARTTLS with a self-signed certificate
// for 127.0.0.1, ::1 and localhost, made when the server starts. Clients
// trust it through [Server.TLSConfigForClients], or skip verification.
// With WithAuth, AUTH is only offered after STARTTLS.
func WithTLS() Option {
	return func(o *options) { o.tls = true }
}

// WithImplicitTLS makes the server speak TLS from the first byte, as on
// the SMTPS port 465, with the same kind of certificate as WithTLS.
func WithImplicitTLS() Option {
	return func(o *options) { o.implicitTLS = true }
}

// WithFailures makes the next len(codes) DATA commands fail, in order,
// with these SMTP reply codes (451, 550, …) after the message has been
// read; a failed message is not stored. See also [Server.FailNext].
func WithFailures(codes ...int) Option {
	return func(o *options) { o.failures = append(o.failures, codes...) }
}

// NewServer starts a sink on 127.0.0.1 with a free port. It is closed by
// tb.Cleanup.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	s := &Server{
		tb:       tb,
		host:     tcp.IP.String(),
		port:     tcp.Port,
		user:     o.user,
		pass:     o.pass,
		token:    o.token,
		failures: o.failures,
		arrived:  make(chan struct{}),
	}
	if !o.auth {
		s.user, s.pass = "", ""
	}

	s.srv = smtp.NewServer(backend{s: s, auth: o.auth})
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.AllowInsecureAuth = !o.tls && !o.implicitTLS
	s.srv.EnableSMTPUTF8 = true
	s.srv.ErrorLog = logger{s}
	if o.tls || o.implicitTLS {
		serverTLS, clientTLS, err := selfSigned()
		if err != nil {
			ln.Close()
			tb.Fatalf("smtptest: make certificate: %v", err)
		}
		s.clientTLS = clientTLS
		if o.implicitTLS {
			ln = tls.NewListener(ln, serverTLS)
		} else {
			s.srv.TLSConfig = serverTLS
		}
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		_ = s.srv.Close()
		// Close only closes the listeners Serve has registered, which it
		// may not have done yet.
		_ = ln.Close()
		<-done
	})
	return s
}

// Addr is the host and port the server listens on.
func (s *Server) Addr() (host string, port int) { return s.host, s.port }

// TLSConfigForClients returns a client TLS configuration that trusts the
// server's certificate, or nil when the server was made without WithTLS
// or WithImplicitTLS.
// Each call returns a new copy.
func (s *Server) TLSConfigForClients() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// FailNext adds codes to the failures still to come (see WithFailures).
func (s *Server) FailNext(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, codes...)
}

// hold is a message DATA keeps waiting for its final answer.
type hold struct {
	match   string
	held    chan struct{}
	release chan struct{}
}

// Hold makes the next message whose raw data contains match wait, after
// its body has been read, without an answer until release is called; it
// is then refused with 451 and not stored. held is closed when such a
// message arrives. Tests use it to kill a client in the middle of a
// delivery it cannot know the outcome of.
func (s *Server) Hold(match string) (held <-chan struct{}, release func()) {
	h := &hold{match: match, held: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(h.release) }) }
	s.tb.Cleanup(release) // a failed test must not leave DATA waiting
	return h.held, release
}

// holdFor removes and returns the hold that data matches, if any.
func (s *Server) holdFor(data []byte) *hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.holds {
		if bytes.Contains(data, []byte(h.match)) {
			s.holds = append(s.holds[:i], s.holds[i+1:]...)
			return h
		}
	}
	return nil
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until at least n messages have been accepted and returns
// them all; after timeout it fails the test.
func (s *Server) WaitFor(tb testing.TB, n int, timeout time.Duration) []Message {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return msgs
		}
		arrived, got := s.arrived, len(s.msgs)
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			tb.Fatalf("smtptest: %d message(s) after %v, want %d", got, timeout, n)
			return nil
		}
	}
}

// store keeps an accepted message, or returns the injected failure that
// DATA must answer with instead.
func (s *Server) store(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > 0 {
		code := s.failures[0]
		s.failures = s.failures[1:]
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: fmt.Sprintf("smtptest: injected failure %d", code)}
	}
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

type backend struct {
	s    *Server
	auth bool
}

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, authRequired: b.auth}, nil
}

// session is one SMTP transaction state; go-smtp makes a new one after
// STARTTLS, so a login before STARTTLS does not carry over.
type session struct {
	s            *Server
	authRequired bool
	authed       bool
	from         string
	to           []string
}

func (se *session) AuthMechanisms() []string {
	switch {
	case !se.authRequired:
		return nil
	case se.s.token != nil:
		return []string{"XOAUTH2"}
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.authRequired && se.s.token != nil && mech == "XOAUTH2" {
		return &xoauth2Server{se: se}, nil
	}
	if !se.authRequired || mech != sasl.Plain || se.s.token != nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if (identity != "" && identity != username) || username != se.s.user || password != se.s.pass {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

// xoauth2Server checks an XOAUTH2 login: "user=U^Aauth=Bearer T^A^A".
type xoauth2Server struct {
	se         *session
	challenged bool
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if x.challenged {
		// The client's empty answer to the refusal.
		return nil, true, smtp.ErrAuthFailed
	}
	if response == nil {
		return []byte{}, false, nil // no initial response: ask for it
	}
	var user, token string
	for _, f := range strings.Split(string(response), "\x01") {
		if v, ok := strings.CutPrefix(f, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(f, "auth=Bearer "); ok {
			token = v
		}
	}
	if user == x.se.s.user && token != "" && x.se.s.token(token) {
		x.se.authed = true
		return nil, true, nil
	}
	x.challenged = true
	return []byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}`), false, nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.authRequired && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from, se.to = from, nil
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read data: %w", err)
	}
	if h := se.s.holdFor(data); h != nil {
		close(h.held)
		<-h.release
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "smtptest: held message released"}
	}
	return se.s.store(Message{From: se.from, To: append([]string(nil), se.to...), Data: data})
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// logger sends go-smtp's server errors to the test log while the test
// runs, and drops them once the server is closed.
type logger struct{ s *Server }

func (l logger) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l logger) Println(v ...any)               { l.log(fmt.Sprintln(v...)) }

func (l logger) log(msg string) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if !l.s.closed {
		l.s.tb.Logf("smtptest: %s", msg)
	}
}

// selfSigned returns TLS configurations that serve a throwaway loopback
// certificate and trust it.
func selfSigned() (server, client *tls.Config, err error) {
	c, err := testcert.New("smtptest")
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: c.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client, nil
}
