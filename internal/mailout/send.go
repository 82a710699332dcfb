package mailout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/airut-go/airut/internal/mailauth"
)

// TLS modes of [SMTPConfig].
const (
	TLSStartTLS = "starttls" // STARTTLS when the server offers it; required before a password is sent
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
	TLSNone     = "none"     // never encrypt; for tests on loopback
)

// SMTPConfig says how to reach the outbound SMTP server.
type SMTPConfig struct {
	Server string
	// Port defaults to 465 for TLS "tls" and to 587 otherwise.
	Port     int
	Username string
	Password string
	// Auth, when set, is how to log in (an OAuth2 token for Microsoft
	// 365, say) instead of Username and Password.
	Auth *mailauth.Auth
	// RequireAuth logs in (AUTH PLAIN, or Auth's mechanism) before
	// sending. With TLS
	// "starttls" the password is only ever sent after STARTTLS: a server
	// that does not offer it gets no password and Send fails.
	RequireAuth bool
	// TLS is "starttls" (the default when empty), "tls" or "none".
	TLS string
	// TLSConfig is used for the TLS handshake when set (a private CA, say);
	// its ServerName defaults to Server.
	TLSConfig *tls.Config
	// InsecureSkipVerify accepts any server certificate. Tests only.
	InsecureSkipVerify bool
	// Timeout bounds connecting and each command's reply, the reply to the
	// end of the message data included. Default 1 minute. The context
	// passed to Send bounds the whole exchange as well.
	Timeout time.Duration
}

// SendError is what [Send] returns on failure.
type SendError struct {
	// Permanent means that sending the same message again will fail the
	// same way: the server answered 5xx, or the message, addresses or
	// configuration are unusable. Otherwise (4xx, connection failures,
	// timeouts, a cancelled context) a later attempt may succeed.
	Permanent bool
	// Code is the server's SMTP reply code, or 0 if it gave none.
	Code int
	// Msg says what failed, naming the server and the step.
	Msg string
	// Err is the underlying error, for errors.Is and errors.As.
	Err error
}

func (e *SendError) Error() string { return e.Msg }
func (e *SendError) Unwrap() error { return e.Err }

// Send delivers msg over SMTP from the address in from (a header value
// such as "Airut <airut@example.com>") to every address in to (header
// values, each possibly a list). The envelope uses the bare addresses.
//
// Every error is a *SendError. ctx bounds the whole exchange: when it is
// done the connection is closed and Send returns a non-permanent error
// that wraps ctx.Err().
func Send(ctx context.Context, cfg SMTPConfig, from string, to []string, msg []byte) error {
	cfg = withDefaults(cfg)
	addr := net.JoinHostPort(cfg.Server, strconv.Itoa(cfg.Port))
	fail := func(step string, err error) error { return classify(ctx, addr, step, err) }

	sender, err := mail.ParseAddress(from)
	if err != nil {
		return permanent(addr, fmt.Sprintf("parse from address %q", from), err)
	}
	var rcpts []string
	for _, v := range to {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return permanent(addr, fmt.Sprintf("parse to address %q", v), err)
		}
		for _, a := range list {
			rcpts = append(rcpts, a.Address)
		}
	}
	if len(rcpts) == 0 {
		return permanent(addr, "no recipient", errors.New("no recipient address given"))
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return permanent(addr, "config", fmt.Errorf("unknown tls mode %q: want starttls, tls or none", cfg.TLS))
	}
	if err := ctx.Err(); err != nil {
		return fail("before connecting", err)
	}

	c, encrypted, err := connect(ctx, cfg, addr)
	if err != nil {
		var se *SendError
		if errors.As(err, &se) {
			return se
		}
		return fail("connect", err)
	}
	defer c.Close()

	if cfg.RequireAuth {
		auth := cfg.Auth
		if auth == nil {
			auth = mailauth.Password(cfg.Username, cfg.Password)
		}
		sc, err := auth.Client(ctx)
		if err != nil {
			// No token: nothing was said to the server. The identity
			// platform's refusal is for a person to fix; its silence
			// (the network) is retried.
			var te *mailauth.TokenError
			if errors.As(err, &te) {
				return permanent(addr, "get a token for "+auth.User, err)
			}
			return fail("get a token for "+auth.User, err)
		}
		if err := c.Auth(sc); err != nil {
			if why := mailauth.Refused(sc); why != nil {
				err = fmt.Errorf("%w: %w", err, why)
			}
			return fail("authenticate as "+auth.User, err)
		}
	}
	var opts *smtp.MailOptions
	if !isASCII(sender.Address) || !isASCII(strings.Join(rcpts, "")) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return permanent(addr, "MAIL FROM:<"+sender.Address+">", errors.New("an address is not ASCII and the server does not offer SMTPUTF8"))
		}
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(sender.Address, opts); err != nil {
		return fail("MAIL FROM:<"+sender.Address+">", err)
	}
	for _, rcpt := range rcpts {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return fail("RCPT TO:<"+rcpt+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fail("write message", err)
	}
	if err := w.Close(); err != nil {
		return fail("end of message data", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	slog.DebugContext(ctx, "smtp: message accepted", "server", addr, "encrypted", encrypted, "recipients", len(rcpts), "bytes", len(msg))
	return nil
}

func withDefaults(cfg SMTPConfig) SMTPConfig {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	return cfg
}

// connect dials addr and returns a client that has been greeted and has
// said EHLO, over TLS when cfg asks for it (or, for "starttls", when the
// server offers it). The connection is closed when ctx is done.
func connect(ctx context.Context, cfg SMTPConfig, addr string) (c *smtp.Client, encrypted bool, err error) {
	tlsConfig := clientTLSConfig(cfg)
	switch cfg.TLS {
	case TLSImplicit:
		conn, err := dial(ctx, cfg, addr, tlsConfig)
		if err != nil {
			return nil, false, err
		}
		c, err := hello(newClient(conn, cfg.Timeout))
		return c, true, err
	case TLSNone:
		conn, err := dial(ctx, cfg, addr, nil)
		if err != nil {
			return nil, false, err
		}
		c, err := hello(newClient(conn, cfg.Timeout))
		return c, false, err
	}

	// STARTTLS. go-smtp has no exported way to send STARTTLS once the
	// client has said EHLO, so ask for it straight away; if the server
	// does not offer it, go on unencrypted on a new connection, unless a
	// password would be sent.
	conn, err := dial(ctx, cfg, addr, nil)
	if err != nil {
		return nil, false, err
	}
	c, err = newClientStartTLS(conn, tlsConfig, cfg.Timeout)
	if err == nil {
		// EHLO again over TLS (the capabilities may differ); this runs the
		// TLS handshake, so a certificate problem shows here.
		c, err := hello(c)
		return c, true, err
	}
	conn.Close()
	if !errors.Is(err, errNoStartTLS) {
		return nil, false, err
	}
	if cfg.RequireAuth {
		return nil, false, permanent(addr, "STARTTLS", errors.New("server does not offer STARTTLS; refusing to send the password unencrypted"))
	}
	slog.WarnContext(ctx, "smtp: server does not offer STARTTLS; sending unencrypted", "server", addr)
	conn, err = dial(ctx, cfg, addr, nil)
	if err != nil {
		return nil, false, err
	}
	c, err = hello(newClient(conn, cfg.Timeout))
	return c, false, err
}

// dial connects to addr, with TLS from the first byte when tlsConfig is
// set. The connection is closed when ctx is done: go-smtp sets and clears
// a deadline around every command, so a deadline of ours would not last,
// and closing is what interrupts a blocked read or write.
func dial(ctx context.Context, cfg SMTPConfig, addr string, tlsConfig *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: cfg.Timeout}
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

func newClient(conn net.Conn, timeout time.Duration) *smtp.Client {
	c := smtp.NewClient(conn)
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout
	return c
}

// hello reads the greeting and says EHLO, closing c if that fails.
func hello(c *smtp.Client) (*smtp.Client, error) {
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// errNoStartTLS marks a server that does not offer STARTTLS.
var errNoStartTLS = errors.New("server does not offer STARTTLS")

// newClientStartTLS is smtp.NewClientStartTLS bounded by timeout, with
// the "not offered" case told apart from other failures.
func newClientStartTLS(conn net.Conn, tlsConfig *tls.Config, timeout time.Duration) (*smtp.Client, error) {
	// NewClientStartTLS greets, says EHLO and sends STARTTLS with the
	// client's default 5-minute timeouts, and sets its own deadlines, so
	// bound it by closing the connection instead.
	var expired atomic.Bool
	timer := time.AfterFunc(timeout, func() {
		expired.Store(true)
		conn.Close()
	})
	c, err := smtp.NewClientStartTLS(conn, tlsConfig)
	timer.Stop()
	switch {
	case expired.Load():
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("no answer within %v: %w", timeout, os.ErrDeadlineExceeded)
	case err != nil:
		var se *smtp.SMTPError
		if !errors.As(err, &se) && strings.Contains(err.Error(), "doesn't support STARTTLS") {
			return nil, errNoStartTLS
		}
		return nil, err
	}
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout
	return c, nil
}

func clientTLSConfig(cfg SMTPConfig) *tls.Config {
	var t *tls.Config
	if cfg.TLSConfig != nil {
		t = cfg.TLSConfig.Clone()
	} else {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if t.ServerName == "" {
		t.ServerName = cfg.Server
	}
	if cfg.InsecureSkipVerify {
		t.InsecureSkipVerify = true
	}
	return t
}

// ctxConn releases the context watch when the connection is closed.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// classify turns a failure at step into a *SendError: 5xx replies are
// permanent, everything else (4xx, network errors, timeouts, ctx) is not.
func classify(ctx context.Context, addr, step string, err error) *SendError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &SendError{Msg: fmt.Sprintf("smtp %s: %s: %v", addr, step, ctxErr), Err: ctxErr}
	}
	e := &SendError{Msg: fmt.Sprintf("smtp %s: %s: %v", addr, step, err), Err: err}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e.Code = se.Code
		e.Permanent = se.Code >= 500 && se.Code <= 599
	}
	return e
}

func permanent(addr, step string, err error) *SendError {
	return &SendError{Permanent: true, Msg: fmt.Sprintf("smtp %s: %s: %v", addr, step, err), Err: err}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
