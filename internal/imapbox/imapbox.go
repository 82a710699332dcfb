// Package imapbox is the IMAP client of a repo's dedicated mailbox: one
// connection with INBOX selected, from which mail is fetched whole, then
// deleted by UID once the caller has handed it on, and on which the caller
// waits (IDLE or polling) for more.
//
// It must not delete, move or mark anything on its own: fetching uses
// BODY.PEEK[] so nothing becomes \Seen, and only Delete removes mail, and
// only the UIDs it is given. That is what makes the caller's "fetch, hand
// off durably, then delete" order safe: a crash at any point leaves the
// message in the mailbox to be fetched again. It knows nothing of message
// content, senders or workflows, never logs message bytes or the
// password, and keeps no state outside a Mailbox.
//
// The caller's loop:
//
//	m, err := imapbox.Dial(ctx, opts)
//	defer m.Close()
//	for {
//		msgs, err := m.Fetch(ctx, 50)
//		for _, msg := range msgs {
//			// hand msg.Raw on durably, then:
//			err = m.Delete(ctx, msg.UID)
//		}
//		if len(msgs) == 50 {
//			continue // there may be more
//		}
//		err = m.Wait(ctx, true, time.Minute, 0) // IDLE, or poll each minute
//	}
//
// A Mailbox is used by one goroutine at a time; its methods are not safe
// for concurrent use. Once a method returns an error that wraps
// ErrDisconnected the connection is gone and the caller must Close the
// Mailbox and Dial again.
package imapbox

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/airut-go/airut/internal/mailauth"
)

// Defaults for zero Options fields and Wait arguments.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultConnectRetries = 3
	DefaultPollInterval   = time.Minute
	// DefaultIdleRestart matches go-imap's own IDLE restart, under the
	// 30-minute inactivity limit of RFC 9051.
	DefaultIdleRestart = 28 * time.Minute

	firstBackoff    = time.Second
	idleStopTimeout = 5 * time.Second
	minLoginTimeout = 30 * time.Second
	logoutTimeout   = 2 * time.Second
)

// ErrDisconnected is wrapped by every error after which the connection is
// unusable (network failure, server hang-up, or a context that ended
// mid-command): Close the Mailbox and Dial again.
var ErrDisconnected = errors.New("imap connection lost, dial again")

// Options says where and how to connect.
type Options struct {
	Server string
	Port   int // default 993 for "tls", 143 otherwise
	// Username and Password are sent with LOGIN.
	Username, Password string
	// Auth, when set, logs in with AUTHENTICATE instead (XOAUTH2 with a
	// Microsoft 365 token, say); Username is then Auth's user.
	Auth *mailauth.Auth
	// TLS is "tls" (implicit TLS, the default), "starttls", or "none"
	// (plaintext; for tests only).
	TLS string
	// TLSConfig is optional; ServerName defaults to Server.
	TLSConfig *tls.Config
	// ConnectTimeout bounds each step of Dial (TCP connect with TLS and
	// greeting, capabilities, select; login gets at least 30 s, since
	// servers delay failed logins). Default 10 s.
	ConnectTimeout time.Duration
	// ConnectRetries is how many times the connect step (TCP, TLS,
	// greeting) is tried, waiting 1 s, then 2 s, 4 s… between tries.
	// Certificate and login failures are not retried. Default 3.
	ConnectRetries int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Message is one message of INBOX: its UID and its full RFC 822 bytes as
// the server serves them (CRLF line endings).
type Message struct {
	UID uint32
	Raw []byte
}

// DialError says which step of Dial failed, against which server.
type DialError struct {
	Stage    string // "connect", "tls", "starttls", "login" or "select"
	Addr     string // host:port
	User     string
	Attempts int // connect tries made (connect, tls and starttls stages)
	Err      error
}

func (e *DialError) Error() string {
	switch e.Stage {
	case "login":
		return fmt.Sprintf("imap login to %s as %q failed: %v", e.Addr, e.User, e.Err)
	case "select":
		return fmt.Sprintf("imap select INBOX on %s failed: %v", e.Addr, e.Err)
	case "tls":
		return fmt.Sprintf("imap tls handshake with %s failed (%s): %v", e.Addr, tries(e.Attempts), e.Err)
	case "starttls":
		return fmt.Sprintf("imap starttls with %s failed (%s): %v", e.Addr, tries(e.Attempts), e.Err)
	default:
		return fmt.Sprintf("imap connect to %s failed (%s): %v", e.Addr, tries(e.Attempts), e.Err)
	}
}

func (e *DialError) Unwrap() error { return e.Err }

func tries(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// Mailbox is one logged-in IMAP connection with INBOX selected.
type Mailbox struct {
	c      *imapclient.Client
	addr   string
	log    *slog.Logger
	caps   imap.CapSet
	closed bool
	broken bool // the connection is gone; only Close is useful
	// newMail holds a token once the server reported EXISTS outside a
	// SELECT; written by go-imap's reader goroutine, taken by Wait.
	newMail chan struct{}
}

// Dial connects (with retries), logs in and selects INBOX. Errors are
// *DialError values naming the server and the step that failed.
func Dial(ctx context.Context, opts Options) (*Mailbox, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("imap options: %w", err)
	}
	addr := net.JoinHostPort(o.Server, strconv.Itoa(o.Port))
	m := &Mailbox{
		addr:    addr,
		log:     o.Logger.With("imap", addr, "user", o.Username),
		newMail: make(chan struct{}, 1),
	}
	copts := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: m.onMailboxData},
	}
	if o.TLS == "none" {
		m.log.Warn("imap without TLS: password and mail cross the network in clear")
	}

	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		c, stage, err := connect(ctx, o, addr, copts)
		if err == nil {
			m.c = c
			break
		}
		derr := &DialError{Stage: stage, Addr: addr, User: o.Username, Attempts: attempt, Err: err}
		if attempt >= o.ConnectRetries || !retryable(err) || ctx.Err() != nil {
			return nil, derr
		}
		m.log.Warn("imap connect failed, retrying", "attempt", attempt, "max_attempts", o.ConnectRetries, "backoff", backoff, "error", err)
		select {
		case <-ctx.Done():
			derr.Err = fmt.Errorf("%w (then %w while waiting to retry)", err, ctx.Err())
			return nil, derr
		case <-time.After(backoff):
		}
		backoff *= 2
	}

	fail := func(stage string, err error) (*Mailbox, error) {
		m.c.Close()
		return nil, &DialError{Stage: stage, Addr: addr, User: o.Username, Err: err}
	}
	// Servers delay failed logins (Dovecot: 2 s, growing to 15 s for
	// repeated failures from one address), so the login step gets longer.
	login := func() error { return m.c.Login(o.Username, o.Password).Wait() }
	if o.Auth != nil {
		sc, err := o.Auth.Client(ctx)
		if err != nil {
			return fail("login", err)
		}
		login = func() error {
			err := m.c.Authenticate(sc)
			if why := mailauth.Refused(sc); err != nil && why != nil {
				err = fmt.Errorf("%w: %w", err, why)
			}
			return err
		}
	}
	if err := step(ctx, max(o.ConnectTimeout, minLoginTimeout), m.c, login); err != nil {
		return fail("login", err)
	}
	if err := step(ctx, o.ConnectTimeout, m.c, func() error {
		caps, err := m.c.Capability().Wait()
		m.caps = caps
		return err
	}); err != nil {
		return fail("login", fmt.Errorf("reading capabilities after login: %w", err))
	}
	var sel *imap.SelectData
	if err := step(ctx, o.ConnectTimeout, m.c, func() error {
		var err error
		sel, err = m.c.Select("INBOX", nil).Wait()
		return err
	}); err != nil {
		return fail("select", err)
	}
	m.log.Info("imap mailbox open", "messages", sel.NumMessages, "idle", m.SupportsIdle(), "uidplus", m.caps.Has(imap.CapUIDPlus))
	return m, nil
}

// SupportsIdle says whether the server offers IDLE.
func (m *Mailbox) SupportsIdle() bool { return m.caps.Has(imap.CapIdle) }

// Fetch returns up to limit messages of INBOX that are not flagged
// \Deleted, oldest (lowest UID) first, each whole as BODY.PEEK[] returns
// it, so fetching sets no flag. limit <= 0 means no limit; when Fetch
// returns limit messages there may be more. A message expunged by someone else between
// search and fetch is left out.
//
// Fetch sends NOOP, so that the server reports everything delivered so
// far, then UID SEARCH and UID FETCH. It consumes a pending new-mail
// notice (see Wait), as its search sees every message announced before.
func (m *Mailbox) Fetch(ctx context.Context, limit int) ([]Message, error) {
	// A session's view of the mailbox only grows when the server syncs
	// it, which Dovecot does not do for UID SEARCH: NOOP first, so the
	// search sees everything delivered until now.
	if err := m.do(ctx, "sync INBOX", func() error { return m.c.Noop().Wait() }); err != nil {
		return nil, err
	}
	var uids []imap.UID
	if err := m.do(ctx, "search INBOX", func() error {
		// The NOOP's EXISTS, if any, is covered by this search.
		select {
		case <-m.newMail:
		default:
		}
		data, err := m.c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
		if err != nil {
			return err
		}
		uids = data.AllUIDs()
		return nil
	}); err != nil {
		return nil, err
	}
	slices.Sort(uids)
	if limit > 0 && len(uids) > limit {
		uids = uids[:limit]
	}
	if len(uids) == 0 {
		return nil, nil
	}

	whole := &imap.FetchItemBodySection{Peek: true} // BODY.PEEK[]
	var bufs []*imapclient.FetchMessageBuffer
	if err := m.do(ctx, fmt.Sprintf("fetch %d messages", len(uids)), func() error {
		var err error
		bufs, err = m.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{whole},
		}).Collect()
		return err
	}); err != nil {
		return nil, err
	}
	msgs := make([]Message, 0, len(bufs))
	for _, b := range bufs {
		raw := b.FindBodySection(whole)
		if b.UID == 0 || raw == nil {
			m.log.Warn("imap fetch response without UID or body, skipped", "seq", b.SeqNum, "uid", b.UID)
			continue
		}
		msgs = append(msgs, Message{UID: uint32(b.UID), Raw: raw})
	}
	slices.SortFunc(msgs, func(a, b Message) int { return cmp.Compare(a.UID, b.UID) })
	if len(msgs) < len(uids) {
		m.log.Info("imap messages vanished between search and fetch", "searched", len(uids), "fetched", len(msgs))
	}
	m.log.Debug("imap fetched", "messages", len(msgs))
	return msgs, nil
}

// Delete flags the given UIDs \Deleted and expunges them: with UID
// EXPUNGE (UIDPLUS) only those; without UIDPLUS, plain EXPUNGE, which also
// removes any message someone else flagged \Deleted. UIDs that no longer
// exist are ignored, so deleting twice is harmless.
func (m *Mailbox) Delete(ctx context.Context, uids ...uint32) error {
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSet{}
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	if err := m.do(ctx, "flag "+set.String()+` \Deleted`, func() error {
		return m.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	}); err != nil {
		return err
	}
	if m.caps.Has(imap.CapUIDPlus) {
		if err := m.do(ctx, "uid expunge "+set.String(), func() error { return m.c.UIDExpunge(set).Close() }); err != nil {
			return err
		}
	} else if err := m.do(ctx, "expunge", func() error { return m.c.Expunge().Close() }); err != nil {
		return err
	}
	m.log.Debug("imap deleted", "uids", set.String())
	return nil
}

// Wait returns when new mail may have arrived, after which the caller
// calls Fetch. With idle and a server that supports IDLE, that is when the
// server reports EXISTS, or after idleRestart (default 28 min) so the
// caller re-checks and IDLE is restarted by the next Wait. Otherwise it is
// after pollInterval (default 1 min). It returns at once if the server
// reported EXISTS since the last Fetch searched the mailbox (say during
// its FETCH or a Delete).
//
// When ctx ends, Wait stops IDLE, waits for the server to confirm and
// returns ctx's error; the Mailbox is then still usable. Only if the
// server does not confirm within 5 s is the connection closed, and the
// error wraps ErrDisconnected.
func (m *Mailbox) Wait(ctx context.Context, idle bool, pollInterval, idleRestart time.Duration) error {
	if err := m.usable(); err != nil {
		return fmt.Errorf("wait for mail on %s: %w", m.addr, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for mail on %s: %w", m.addr, err)
	}
	select {
	case <-m.newMail:
		return nil
	default:
	}
	if idle && m.SupportsIdle() {
		return m.waitIdle(ctx, cmp.Or(max(idleRestart, 0), DefaultIdleRestart))
	}
	if idle {
		m.log.Debug("imap server has no IDLE, polling")
	}
	timer := time.NewTimer(cmp.Or(max(pollInterval, 0), DefaultPollInterval))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-m.newMail:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for mail on %s: %w", m.addr, ctx.Err())
	case <-m.c.Closed():
		m.broken = true
		return fmt.Errorf("wait for mail on %s: server closed the connection: %w", m.addr, ErrDisconnected)
	}
}

func (m *Mailbox) waitIdle(ctx context.Context, restart time.Duration) error {
	var cmd *imapclient.IdleCommand
	if err := m.do(ctx, "start IDLE", func() error {
		var err error
		cmd, err = m.c.Idle()
		return err
	}); err != nil {
		return err
	}
	m.log.Debug("imap idling", "restart", restart)
	timer := time.NewTimer(restart)
	defer timer.Stop()
	why := "restart"
	select {
	case <-m.newMail:
		why = "exists"
	case <-timer.C:
	case <-ctx.Done():
		why = "context"
	case <-m.c.Closed():
		m.broken = true
		return fmt.Errorf("idle on %s: server closed the connection: %w", m.addr, ErrDisconnected)
	}

	// Send DONE and wait for the tagged OK; a server that does not answer
	// in time costs the connection rather than a hung caller.
	watchdog := time.AfterFunc(idleStopTimeout, func() { m.c.Close() })
	err := cmd.Close()
	if err == nil {
		err = cmd.Wait()
	}
	if !watchdog.Stop() {
		m.broken = true
		err := fmt.Errorf("stop IDLE on %s: no answer within %v: %w", m.addr, idleStopTimeout, ErrDisconnected)
		if why == "context" {
			err = fmt.Errorf("%w (after %w)", err, ctx.Err())
		}
		return err
	}
	if err != nil {
		return m.classify(fmt.Sprintf("stop IDLE on %s", m.addr), err)
	}
	m.log.Debug("imap idle ended", "why", why)
	if why == "context" {
		return fmt.Errorf("wait for mail on %s: %w", m.addr, ctx.Err())
	}
	return nil
}

// Close logs out (briefly, if the connection still works) and closes the
// connection. It may be called more than once.
func (m *Mailbox) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	if !m.broken {
		watchdog := time.AfterFunc(logoutTimeout, func() { m.c.Close() })
		if err := m.c.Logout().Wait(); err != nil {
			m.log.Debug("imap logout", "error", err)
		}
		watchdog.Stop()
	}
	if err := m.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close imap connection to %s: %w", m.addr, err)
	}
	return nil
}

// onMailboxData runs in go-imap's reader goroutine for unilateral mailbox
// updates; an EXISTS (a new message count) leaves a token for Wait.
func (m *Mailbox) onMailboxData(d *imapclient.UnilateralDataMailbox) {
	if d.NumMessages == nil {
		return
	}
	select {
	case m.newMail <- struct{}{}:
	default:
	}
}

func (m *Mailbox) usable() error {
	if m.closed {
		return errors.New("mailbox is closed")
	}
	if m.broken {
		return ErrDisconnected
	}
	return nil
}

// do runs one command under ctx. go-imap's commands take no context, so if
// ctx ends first the connection is closed, which fails the command.
func (m *Mailbox) do(ctx context.Context, what string, f func() error) error {
	if err := m.usable(); err != nil {
		return fmt.Errorf("%s on %s: %w", what, m.addr, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s on %s: %w", what, m.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { m.c.Close() })
	err := f()
	if !stop() {
		m.broken = true
		return fmt.Errorf("%s on %s: %w: %w", what, m.addr, ctx.Err(), ErrDisconnected)
	}
	if err != nil {
		return m.classify(what+" on "+m.addr, err)
	}
	return nil
}

// classify wraps a command error; anything but a server's NO or BAD means
// the connection is gone.
func (m *Mailbox) classify(what string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && m.c.State() != imap.ConnStateLogout {
		return fmt.Errorf("%s: %w", what, err)
	}
	m.broken = true
	return fmt.Errorf("%s: %w: %w", what, ErrDisconnected, err)
}

// connect makes one connection attempt up to the IMAP greeting (and
// STARTTLS), bounded by ConnectTimeout. stage names what failed.
func connect(ctx context.Context, o Options, addr string, copts *imapclient.Options) (*imapclient.Client, string, error) {
	actx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(actx, "tcp", addr)
	if err != nil {
		return nil, "connect", err
	}
	cfg := o.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = o.Server
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}

	switch o.TLS {
	case "starttls":
		opts := *copts
		opts.TLSConfig = cfg
		var c *imapclient.Client
		err := guarded(actx, func() { conn.Close() }, func() error {
			var err error
			c, err = imapclient.NewStartTLS(conn, &opts)
			return err
		})
		if err != nil {
			conn.Close()
			return nil, "starttls", err
		}
		return c, "", nil
	case "tls":
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(actx); err != nil {
			conn.Close()
			return nil, "tls", err
		}
		conn = tc
	}
	c := imapclient.New(conn, copts)
	if err := guarded(actx, func() { c.Close() }, c.WaitGreeting); err != nil {
		c.Close()
		return nil, "connect", fmt.Errorf("waiting for greeting: %w", err)
	}
	return c, "", nil
}

// step runs one Dial command bounded by timeout and ctx.
func step(ctx context.Context, timeout time.Duration, c *imapclient.Client, f func() error) error {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return guarded(sctx, func() { c.Close() }, f)
}

// guarded runs f; if ctx ends first, abort is called (closing the
// connection, which makes f fail) and ctx's error is returned.
func guarded(ctx context.Context, abort func(), f func() error) error {
	stop := context.AfterFunc(ctx, abort)
	err := f()
	if !stop() {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// retryable says whether another connect attempt could succeed: not after
// a certificate was refused or the server answered STARTTLS with NO/BAD.
func retryable(err error) bool {
	var cv *tls.CertificateVerificationError
	var ie *imap.Error
	return !errors.As(err, &cv) && !errors.As(err, &ie)
}

func (o Options) withDefaults() (Options, error) {
	if o.Server == "" {
		return o, errors.New("no server")
	}
	if o.Username == "" {
		return o, errors.New("no username")
	}
	o.TLS = strings.ToLower(cmp.Or(o.TLS, "tls"))
	switch o.TLS {
	case "tls":
		o.Port = cmp.Or(o.Port, 993)
	case "starttls", "none":
		o.Port = cmp.Or(o.Port, 143)
	default:
		return o, fmt.Errorf("tls %q is not one of tls, starttls, none", o.TLS)
	}
	if o.Port < 0 || o.Port > 65535 {
		return o, fmt.Errorf("port %d out of range", o.Port)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ConnectRetries <= 0 {
		o.ConnectRetries = DefaultConnectRetries
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
