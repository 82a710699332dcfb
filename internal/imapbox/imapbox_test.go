package imapbox_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/airut-go/airut/internal/imapbox"
	"github.com/airut-go/airut/internal/testing/dovecottest"
)

const (
	user = "agent"
	pass = "s3cret pass"
)

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// options returns Options for s with the given TLS mode.
func options(t testing.TB, s *dovecottest.Server, mode string) imapbox.Options {
	host, tlsPort, plainPort := s.Addr()
	port := plainPort
	if mode == "tls" {
		port = tlsPort
	}
	return imapbox.Options{
		Server: host, Port: port, Username: user, Password: pass,
		TLS: mode, TLSConfig: s.TLSConfig(),
		ConnectTimeout: 2 * time.Second, Logger: logger(t),
	}
}

func dial(t testing.TB, s *dovecottest.Server) *imapbox.Mailbox {
	t.Helper()
	m, err := imapbox.Dial(context.Background(), options(t, s, "tls"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func start(t testing.TB) *dovecottest.Server {
	return dovecottest.Start(t, map[string]string{user: pass, "other": "x"})
}

// message makes a distinct RFC 5322 message with CRLF line endings and a
// body of about size bytes, including 8-bit text.
func message(i, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender <sender@example.com>\r\nTo: %s@example.com\r\nSubject: task %d\r\nMessage-ID: <%d.%d@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", user, i, i, time.Now().UnixNano())
	line := fmt.Sprintf("message %d: fix the bug ✓ — grüße\r\n", i)
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

func TestDial(t *testing.T) {
	s := start(t)
	tests := []struct {
		name string
		mod  func(*imapbox.Options)
	}{
		{"implicit tls", func(o *imapbox.Options) { o.TLS = "tls" }},
		{"implicit tls is the default", func(o *imapbox.Options) { o.TLS = "" }},
		{"starttls", func(o *imapbox.Options) { o.TLS = "starttls" }},
		{"plaintext", func(o *imapbox.Options) { o.TLS = "none" }},
		{"insecure skip verify", func(o *imapbox.Options) { o.TLSConfig = &tls.Config{InsecureSkipVerify: true} }},
		{"server name from Server", func(o *imapbox.Options) { o.TLSConfig = &tls.Config{RootCAs: s.CACert()} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, s, "tls")
			tt.mod(&o)
			if o.TLS != "tls" && o.TLS != "" {
				o = options(t, s, o.TLS)
			}
			m, err := imapbox.Dial(context.Background(), o)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if !m.SupportsIdle() {
				t.Errorf("dovecot should support IDLE")
			}
			msgs, err := m.Fetch(context.Background(), 10)
			if err != nil || len(msgs) != 0 {
				t.Errorf("fetch on empty INBOX = %v, %v", msgs, err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("second close: %v", err)
			}
			if _, err := m.Fetch(context.Background(), 1); err == nil {
				t.Errorf("fetch after close succeeded")
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	s := start(t)
	host, tlsPort, plainPort := s.Addr()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	silentPort := fakeServer(t, false, "")

	tests := []struct {
		name     string
		mod      func(*imapbox.Options)
		stage    string
		attempts int
		want     []string // substrings of the message
		minTime  time.Duration
	}{
		{
			name:  "wrong password",
			mod:   func(o *imapbox.Options) { o.Password = "wrong" },
			stage: "login", want: []string{"login", "failed", fmt.Sprintf("%s:%d", host, tlsPort), `"agent"`},
		},
		{
			name:  "unknown user",
			mod:   func(o *imapbox.Options) { o.Username = "nobody-here" },
			stage: "login", want: []string{"login", "failed"},
		},
		{
			name: "nothing listening",
			mod: func(o *imapbox.Options) {
				o.Port = deadPort
				o.ConnectRetries = 2
				o.ConnectTimeout = 300 * time.Millisecond
			},
			stage: "connect", attempts: 2, minTime: time.Second,
			want: []string{"connect", fmt.Sprintf("127.0.0.1:%d", deadPort), "2 attempts", "refused"},
		},
		{
			name:  "untrusted certificate is not retried",
			mod:   func(o *imapbox.Options) { o.TLSConfig = nil },
			stage: "tls", attempts: 1, want: []string{"tls", "certificate", "1 attempt"},
		},
		{
			name: "wrong server name",
			mod: func(o *imapbox.Options) {
				o.TLSConfig = &tls.Config{RootCAs: s.CACert(), ServerName: "imap.example.com"}
			},
			stage: "tls", attempts: 1, want: []string{"tls", "imap.example.com"},
		},
		{
			name: "starttls with untrusted certificate",
			mod: func(o *imapbox.Options) {
				o.TLS, o.Port, o.TLSConfig = "starttls", plainPort, nil
			},
			stage: "starttls", attempts: 1, want: []string{"starttls", "certificate"},
		},
		{
			name:  "implicit tls to a plaintext port",
			mod:   func(o *imapbox.Options) { o.Port = plainPort; o.ConnectRetries = 1 },
			stage: "tls", attempts: 1, want: []string{"tls", strconv.Itoa(plainPort)},
		},
		{
			name: "no greeting",
			mod: func(o *imapbox.Options) {
				o.TLS, o.Port = "none", silentPort
				o.ConnectRetries = 2
				o.ConnectTimeout = 200 * time.Millisecond
			},
			stage: "connect", attempts: 2, minTime: 1400 * time.Millisecond,
			want: []string{"connect", strconv.Itoa(silentPort), "greeting", "deadline exceeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, s, "tls")
			tt.mod(&o)
			begin := time.Now()
			m, err := imapbox.Dial(context.Background(), o)
			if err == nil {
				m.Close()
				t.Fatalf("dial succeeded")
			}
			took := time.Since(begin)
			t.Logf("error after %v: %v", took.Round(time.Millisecond), err)
			var de *imapbox.DialError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DialError", err)
			}
			if de.Stage != tt.stage {
				t.Errorf("stage %q, want %q", de.Stage, tt.stage)
			}
			if tt.attempts != 0 && de.Attempts != tt.attempts {
				t.Errorf("%d attempts, want %d", de.Attempts, tt.attempts)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if took < tt.minTime {
				t.Errorf("failed after %v, before the retry backoff of %v", took, tt.minTime)
			}
		})
	}

	t.Run("bad options", func(t *testing.T) {
		for _, o := range []imapbox.Options{
			{Server: "", Username: "u"},
			{Server: "h", Username: ""},
			{Server: "h", Username: "u", TLS: "ssl"},
		} {
			if _, err := imapbox.Dial(context.Background(), o); err == nil || !strings.Contains(err.Error(), "imap options") {
				t.Errorf("options %+v: error %v", o, err)
			}
		}
	})

	t.Run("cancel during retry backoff", func(t *testing.T) {
		o := options(t, s, "tls")
		o.Port = deadPort
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := imapbox.Dial(ctx, o)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want one wrapping context.DeadlineExceeded", err)
		}
		if took := time.Since(begin); took > time.Second {
			t.Errorf("returned after %v", took)
		}
	})
}

func TestFetch(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	ctx := context.Background()
	want := [][]byte{message(1, 200), message(2, 300_000), message(3, 10), message(4, 5000)}
	for _, raw := range want {
		s.Deliver(t, user, raw)
	}
	s.Deliver(t, "other", message(99, 100))

	msgs, err := m.Fetch(ctx, 0)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("fetched %d messages, want %d", len(msgs), len(want))
	}
	for i, msg := range msgs {
		if !bytes.Equal(msg.Raw, want[i]) {
			t.Errorf("message %d (uid %d): %d bytes differ from the %d delivered", i, msg.UID, len(msg.Raw), len(want[i]))
		}
		if i > 0 && msg.UID <= msgs[i-1].UID {
			t.Errorf("UIDs not ascending: %d after %d", msg.UID, msgs[i-1].UID)
		}
	}

	// Fetching sets no flag and removes nothing.
	for uid, flags := range s.Flags(t, user) {
		if slices.Contains(flags, string(imap.FlagSeen)) || slices.Contains(flags, string(imap.FlagDeleted)) {
			t.Errorf("uid %d has flags %v after fetch", uid, flags)
		}
	}
	if n := s.Count(t, user); n != len(want) {
		t.Errorf("%d messages left after fetch, want %d", n, len(want))
	}

	tests := []struct {
		max  int
		want int
	}{{0, 4}, {-1, 4}, {1, 1}, {3, 3}, {50, 4}}
	for _, tt := range tests {
		got, err := m.Fetch(ctx, tt.max)
		if err != nil {
			t.Fatalf("fetch %d: %v", tt.max, err)
		}
		if len(got) != tt.want {
			t.Errorf("fetch max %d returned %d messages, want %d", tt.max, len(got), tt.want)
			continue
		}
		for i := range got {
			if got[i].UID != msgs[i].UID {
				t.Errorf("fetch max %d: message %d has uid %d, want %d (oldest first)", tt.max, i, got[i].UID, msgs[i].UID)
			}
		}
	}

	// A message someone else flagged \Deleted but did not expunge is not
	// fetched.
	markDeleted(t, s, msgs[0].UID)
	got, err := m.Fetch(ctx, 0)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(got) != 3 || got[0].UID != msgs[1].UID {
		t.Errorf("after flagging uid %d \\Deleted, fetch returned %v", msgs[0].UID, uids(got))
	}
}

func TestDelete(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	ctx := context.Background()
	for i := range 5 {
		s.Deliver(t, user, message(i, 100))
	}
	msgs, err := m.Fetch(ctx, 0)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("fetch: %d messages, %v", len(msgs), err)
	}
	if err := m.Delete(ctx); err != nil {
		t.Errorf("delete of nothing: %v", err)
	}
	if err := m.Delete(ctx, msgs[1].UID, msgs[3].UID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := s.Count(t, user); n != 3 {
		t.Errorf("%d messages left, want 3", n)
	}
	if f := s.Flags(t, user); len(f) != 3 {
		t.Errorf("%d messages in INBOX (expunged or not), want 3: %v", len(f), f)
	}
	left, err := m.Fetch(ctx, 0)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if got, want := uids(left), []uint32{msgs[0].UID, msgs[2].UID, msgs[4].UID}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	// Deleting again, or a UID that never existed, is harmless.
	if err := m.Delete(ctx, msgs[1].UID, 9999); err != nil {
		t.Errorf("delete of gone UIDs: %v", err)
	}
	if n := s.Count(t, user); n != 3 {
		t.Errorf("%d messages left, want 3", n)
	}
	if err := m.Delete(ctx, uids(left)...); err != nil {
		t.Fatalf("delete rest: %v", err)
	}
	if n := s.Count(t, user); n != 0 {
		t.Errorf("%d messages left, want 0", n)
	}
}

// TestDeleteKeepsOthersDeleted checks that UID EXPUNGE removes only our
// UIDs, not a message someone else flagged \Deleted.
func TestDeleteKeepsOthersDeleted(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	ctx := context.Background()
	s.Deliver(t, user, message(1, 100))
	s.Deliver(t, user, message(2, 100))
	msgs, err := m.Fetch(ctx, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %d, %v", len(msgs), err)
	}
	markDeleted(t, s, msgs[0].UID)
	if err := m.Delete(ctx, msgs[1].UID); err != nil {
		t.Fatal(err)
	}
	f := s.Flags(t, user)
	if _, ok := f[msgs[0].UID]; len(f) != 1 || !ok {
		t.Errorf("INBOX holds %v, want only uid %d (flagged by someone else)", f, msgs[0].UID)
	}
}

func TestWaitIdleWakesOnDelivery(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	ctx := context.Background()
	for round := range 3 {
		woke := make(chan error, 1)
		go func() { woke <- m.Wait(ctx, true, time.Hour, time.Hour) }()
		time.Sleep(200 * time.Millisecond) // let IDLE start
		select {
		case err := <-woke:
			t.Fatalf("round %d: wait returned before delivery: %v", round, err)
		default:
		}
		s.Deliver(t, user, message(round, 100))
		delivered := time.Now()
		select {
		case err := <-woke:
			if err != nil {
				t.Fatalf("round %d: wait: %v", round, err)
			}
			t.Logf("round %d: woke %v after delivery", round, time.Since(delivered).Round(time.Millisecond))
		case <-time.After(time.Second):
			t.Fatalf("round %d: wait did not return within 1 s of delivery", round)
		}
		msgs, err := m.Fetch(ctx, 0)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("round %d: fetch after wake: %d messages, %v", round, len(msgs), err)
		}
		if err := m.Delete(ctx, msgs[0].UID); err != nil {
			t.Fatalf("round %d: delete: %v", round, err)
		}
	}
}

func TestWaitPoll(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	tests := []struct {
		name string
		idle bool
	}{{"idle off", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			begin := time.Now()
			if err := m.Wait(context.Background(), tt.idle, 300*time.Millisecond, time.Hour); err != nil {
				t.Fatalf("wait: %v", err)
			}
			if took := time.Since(begin); took < 300*time.Millisecond || took > time.Second {
				t.Errorf("poll wait took %v, want about 300 ms", took)
			}
		})
	}
	// Mail that arrives while polling is found by the next Fetch.
	s.Deliver(t, user, message(1, 10))
	if err := m.Wait(context.Background(), false, 50*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	if msgs, err := m.Fetch(context.Background(), 0); err != nil || len(msgs) != 1 {
		t.Errorf("fetch after poll: %d messages, %v", len(msgs), err)
	}
}

func TestWaitIdleRestart(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	for range 2 {
		begin := time.Now()
		if err := m.Wait(context.Background(), true, time.Hour, 300*time.Millisecond); err != nil {
			t.Fatalf("wait: %v", err)
		}
		if took := time.Since(begin); took < 300*time.Millisecond || took > time.Second {
			t.Errorf("idle wait took %v, want about 300 ms", took)
		}
		if _, err := m.Fetch(context.Background(), 1); err != nil {
			t.Fatalf("fetch after idle restart: %v", err)
		}
	}
}

// TestWaitCancel: cancelling ctx during IDLE returns promptly with ctx's
// error, and the connection stays usable.
func TestWaitCancel(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	tests := []struct {
		name string
		idle bool
	}{{"idle", true}, {"poll", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Wait(ctx, tt.idle, time.Hour, time.Hour) }()
			time.Sleep(200 * time.Millisecond)
			cancel()
			cancelled := time.Now()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("wait error %v, want context.Canceled", err)
				}
				if errors.Is(err, imapbox.ErrDisconnected) {
					t.Errorf("cancel cost the connection: %v", err)
				}
				t.Logf("returned %v after cancel", time.Since(cancelled).Round(time.Microsecond))
			case <-time.After(500 * time.Millisecond):
				t.Fatalf("wait did not return within 500 ms of cancel")
			}
			// Still usable: fetch, and IDLE again wakes on delivery.
			if _, err := m.Fetch(context.Background(), 1); err != nil {
				t.Fatalf("fetch after cancelled wait: %v", err)
			}
			if err := m.Wait(ctx, tt.idle, time.Hour, time.Hour); !errors.Is(err, context.Canceled) {
				t.Errorf("wait with a done ctx: %v", err)
			}
		})
	}
	woke := make(chan error, 1)
	go func() { woke <- m.Wait(context.Background(), true, time.Hour, time.Hour) }()
	time.Sleep(100 * time.Millisecond)
	s.Deliver(t, user, message(1, 10))
	select {
	case err := <-woke:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("IDLE after a cancelled wait did not wake on delivery")
	}
}

// TestDeliveredWhileNotWaiting: mail that arrives between Fetch and Wait
// makes the next Wait return at once, and Fetch finds it.
func TestDeliveredWhileNotWaiting(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	ctx := context.Background()
	tests := []struct {
		name string
		idle bool
	}{{"idle", true}, {"poll", false}}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msgs, err := m.Fetch(ctx, 0); err != nil || len(msgs) != 0 {
				t.Fatalf("fetch: %d, %v", len(msgs), err)
			}
			s.Deliver(t, user, message(i, 10))
			if tt.idle {
				begin := time.Now()
				if err := m.Wait(ctx, true, time.Hour, time.Hour); err != nil {
					t.Fatal(err)
				}
				if took := time.Since(begin); took > time.Second {
					t.Errorf("wait took %v with mail already there", took)
				}
			}
			msgs, err := m.Fetch(ctx, 0)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("fetch: %d messages, %v", len(msgs), err)
			}
			if err := m.Delete(ctx, msgs[0].UID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestServerGone: when the server dies, waits and commands fail with
// ErrDisconnected instead of hanging.
func TestServerGone(t *testing.T) {
	tests := []struct {
		name string
		act  func(*imapbox.Mailbox) error
	}{
		{"idle", func(m *imapbox.Mailbox) error { return m.Wait(context.Background(), true, time.Hour, time.Hour) }},
		{"poll", func(m *imapbox.Mailbox) error { return m.Wait(context.Background(), false, time.Hour, time.Hour) }},
		{"fetch", func(m *imapbox.Mailbox) error {
			time.Sleep(300 * time.Millisecond) // after the kill
			_, err := m.Fetch(context.Background(), 1)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t)
			m := dial(t, s)
			done := make(chan error, 1)
			go func() { done <- tt.act(m) }()
			time.Sleep(200 * time.Millisecond)
			s.Stop(t)
			select {
			case err := <-done:
				if !errors.Is(err, imapbox.ErrDisconnected) {
					t.Errorf("error %v, want ErrDisconnected", err)
				}
				t.Logf("error: %v", err)
			case <-time.After(3 * time.Second):
				t.Fatal("no return within 3 s of the server's death")
			}
			if _, err := m.Fetch(context.Background(), 1); !errors.Is(err, imapbox.ErrDisconnected) {
				t.Errorf("fetch after disconnect: %v, want ErrDisconnected", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("close after disconnect: %v", err)
			}
		})
	}
}

func TestContextDoneBeforeCommand(t *testing.T) {
	s := start(t)
	m := dial(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Fetch(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("fetch: %v", err)
	}
	if err := m.Delete(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("delete: %v", err)
	}
	// Nothing was sent, so the connection is intact.
	if _, err := m.Fetch(context.Background(), 1); err != nil {
		t.Errorf("fetch afterwards: %v", err)
	}
}

// TestHungServer: a server that stops answering costs the connection, not
// a hung caller: a cancelled Fetch returns at once, an unanswered IDLE
// DONE within 5 s, both wrapping ErrDisconnected.
func TestHungServer(t *testing.T) {
	tests := []struct {
		name   string
		hang   string
		act    func(context.Context, *imapbox.Mailbox) error
		within time.Duration
	}{
		{"fetch", "NOOP", func(ctx context.Context, m *imapbox.Mailbox) error {
			_, err := m.Fetch(ctx, 1)
			return err
		}, time.Second},
		{"delete", "UID", func(ctx context.Context, m *imapbox.Mailbox) error {
			return m.Delete(ctx, 1)
		}, time.Second},
		{"idle", "IDLE", func(ctx context.Context, m *imapbox.Mailbox) error {
			return m.Wait(ctx, true, time.Hour, time.Hour)
		}, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := fakeServer(t, true, tt.hang)
			m, err := imapbox.Dial(context.Background(), imapbox.Options{
				Server: "127.0.0.1", Port: port, TLS: "none", Username: user, Password: pass, Logger: logger(t),
			})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer m.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			begin := time.Now()
			err = tt.act(ctx, m)
			took := time.Since(begin)
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			if !errors.Is(err, imapbox.ErrDisconnected) {
				t.Errorf("error %v, want ErrDisconnected", err)
			}
			if took > tt.within {
				t.Errorf("returned after %v, want within %v", took, tt.within)
			}
			if _, err := m.Fetch(context.Background(), 1); !errors.Is(err, imapbox.ErrDisconnected) {
				t.Errorf("fetch afterwards: %v, want ErrDisconnected", err)
			}
		})
	}
}

// fakeServer speaks just enough IMAP for Dial, then never answers the
// command hang (IDLE: never answers DONE). Without greet it accepts TCP
// connections and stays silent.
func fakeServer(t *testing.T, greet bool, hang string) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	const caps = "IMAP4rev1 IDLE UIDPLUS"
	serve := func(conn net.Conn) {
		defer conn.Close()
		if !greet {
			_, _ = io.Copy(io.Discard, conn)
			return
		}
		fmt.Fprintf(conn, "* OK fake ready\r\n")
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				continue // DONE
			}
			tag, cmd := f[0], strings.ToUpper(f[1])
			switch {
			case cmd == hang:
				if cmd == "IDLE" {
					fmt.Fprintf(conn, "+ idling\r\n")
				}
			case cmd == "CAPABILITY":
				fmt.Fprintf(conn, "* CAPABILITY %s\r\n%s OK done\r\n", caps, tag)
			case cmd == "LOGIN":
				fmt.Fprintf(conn, "%s OK [CAPABILITY %s] logged in\r\n", tag, caps)
			case cmd == "SELECT":
				fmt.Fprintf(conn, "* 0 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n%s OK [READ-WRITE] selected\r\n", tag)
			case cmd == "LOGOUT":
				fmt.Fprintf(conn, "* BYE bye\r\n%s OK done\r\n", tag)
				return
			default:
				fmt.Fprintf(conn, "%s OK done\r\n", tag)
			}
		}
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// BenchmarkFetchDelete measures messages fetched and deleted per second in
// batches of 50, as the listener does. Delivery is not timed.
func BenchmarkFetchDelete(b *testing.B) {
	s := start(b)
	o := options(b, s, "tls")
	o.Logger = slog.New(slog.DiscardHandler)
	m, err := imapbox.Dial(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	raw := message(0, 4000) // a typical short task email with headers
	appendN(b, s, b.N, raw)
	b.ResetTimer()
	ctx := context.Background()
	total := 0
	begin := time.Now()
	for total < b.N {
		msgs, err := m.Fetch(ctx, 50)
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) == 0 {
			b.Fatalf("mailbox empty after %d of %d", total, b.N)
		}
		if err := m.Delete(ctx, uids(msgs)...); err != nil {
			b.Fatal(err)
		}
		total += len(msgs)
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.Logf("%d messages of %d bytes fetched and deleted in batches of 50: %.0f msgs/s", total, len(raw), rate)
}

// appendN puts n copies of raw in the user's INBOX over one pipelined
// connection (Deliver logs in per message, too slow for a benchmark).
func appendN(tb testing.TB, s *dovecottest.Server, n int, raw []byte) {
	host, _, plainPort := s.Addr()
	c, err := imapclient.DialInsecure(net.JoinHostPort(host, strconv.Itoa(plainPort)), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		tb.Fatal(err)
	}
	const window = 100
	var pending []*imapclient.AppendCommand
	flush := func() {
		for _, cmd := range pending {
			if _, err := cmd.Wait(); err != nil {
				tb.Fatal(err)
			}
		}
		pending = pending[:0]
	}
	for range n {
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			tb.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			tb.Fatal(err)
		}
		if pending = append(pending, cmd); len(pending) == window {
			flush()
		}
	}
	flush()
}

// markDeleted flags uid \Deleted from another connection, without
// expunging.
func markDeleted(t testing.TB, s *dovecottest.Server, uid uint32) {
	t.Helper()
	host, tlsPort, _ := s.Addr()
	c, err := imapclient.DialTLS(net.JoinHostPort(host, strconv.Itoa(tlsPort)), &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func uids(msgs []imapbox.Message) []uint32 {
	out := make([]uint32, len(msgs))
	for i, m := range msgs {
		out[i] = m.UID
	}
	return out
}
