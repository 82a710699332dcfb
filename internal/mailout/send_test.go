package mailout_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/mailout"
	"github.com/airut-go/airut/internal/testing/smtptest"
)

const (
	testFrom = "Airut <airut@example.com>"
	testTo   = "=?utf-8?q?J=C3=B6rg?= <jorg@example.org>, other@example.org"
)

func testMessage(t *testing.T) []byte {
	t.Helper()
	r := baseReply()
	raw, _, _, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	return raw
}

func configFor(s *smtptest.Server, tlsMode string) mailout.SMTPConfig {
	host, port := s.Addr()
	return mailout.SMTPConfig{Server: host, Port: port, TLS: tlsMode, Timeout: 10 * time.Second}
}

// sendErr asserts that err is a *SendError with the given permanence and
// code.
func sendErr(t *testing.T, err error, permanent bool, code int) *mailout.SendError {
	t.Helper()
	var se *mailout.SendError
	if !errors.As(err, &se) {
		t.Fatalf("Send() = %v (%T), want a *SendError", err, err)
	}
	if se.Permanent != permanent || se.Code != code {
		t.Fatalf("Send() = %q: Permanent %v, Code %d; want %v, %d", se.Msg, se.Permanent, se.Code, permanent, code)
	}
	t.Logf("Send() = %v", se)
	return se
}

func checkDelivered(t *testing.T, s *smtptest.Server, msg []byte) {
	t.Helper()
	got := s.WaitFor(t, 1, 5*time.Second)[0]
	if got.From != "airut@example.com" {
		t.Errorf("envelope sender = %q, want the bare address", got.From)
	}
	if want := []string{"jorg@example.org", "other@example.org"}; !slices.Equal(got.To, want) {
		t.Errorf("envelope recipients = %q, want %q", got.To, want)
	}
	if !bytes.Equal(got.Data, msg) {
		t.Errorf("data differs from the message sent")
	}
	if subj := got.Header("Subject"); subj != baseReply().Subject {
		t.Errorf("Subject = %q", subj)
	}
}

func TestSendPlain(t *testing.T) {
	s := smtptest.NewServer(t)
	msg := testMessage(t)
	if err := mailout.Send(context.Background(), configFor(s, mailout.TLSNone), testFrom, []string{testTo}, msg); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	checkDelivered(t, s, msg)
}

func TestSendPlainWithAuth(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithAuth("bot", "s3cret"))
	cfg := configFor(s, mailout.TLSNone)
	cfg.RequireAuth, cfg.Username, cfg.Password = true, "bot", "s3cret"
	msg := testMessage(t)
	if err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	checkDelivered(t, s, msg)
}

func TestSendStartTLSWithAuth(t *testing.T) {
	tests := []struct {
		name   string
		config func(*smtptest.Server, *mailout.SMTPConfig)
	}{
		{"trusted certificate", func(s *smtptest.Server, c *mailout.SMTPConfig) { c.TLSConfig = s.TLSConfigForClients() }},
		{"insecure skip verify", func(_ *smtptest.Server, c *mailout.SMTPConfig) { c.InsecureSkipVerify = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.NewServer(t, smtptest.WithTLS(), smtptest.WithAuth("bot", "s3cret"))
			cfg := configFor(s, "") // default: starttls
			cfg.RequireAuth, cfg.Username, cfg.Password = true, "bot", "s3cret"
			tc.config(s, &cfg)
			msg := testMessage(t)
			if err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg); err != nil {
				t.Fatalf("Send() = %v", err)
			}
			checkDelivered(t, s, msg)
		})
	}
}

func TestSendImplicitTLS(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("bot", "s3cret"))
	cfg := configFor(s, mailout.TLSImplicit)
	cfg.RequireAuth, cfg.Username, cfg.Password = true, "bot", "s3cret"
	cfg.TLSConfig = s.TLSConfigForClients()
	msg := testMessage(t)
	if err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	checkDelivered(t, s, msg)
}

func TestSendUntrustedCertificate(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithTLS())
	err := mailout.Send(context.Background(), configFor(s, mailout.TLSStartTLS), testFrom, []string{testTo}, testMessage(t))
	se := sendErr(t, err, false, 0)
	if !strings.Contains(se.Msg, "certificate") {
		t.Errorf("Send() = %q, want it to name the certificate problem", se.Msg)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d message(s) delivered over an unverified connection", n)
	}
}

func TestSendStartTLSNotOffered(t *testing.T) {
	t.Run("without auth it sends unencrypted", func(t *testing.T) {
		s := smtptest.NewServer(t)
		msg := testMessage(t)
		if err := mailout.Send(context.Background(), configFor(s, mailout.TLSStartTLS), testFrom, []string{testTo}, msg); err != nil {
			t.Fatalf("Send() = %v", err)
		}
		checkDelivered(t, s, msg)
	})
	t.Run("with auth it refuses to send the password", func(t *testing.T) {
		// The server would take AUTH in clear; the client must not offer it.
		s := smtptest.NewServer(t, smtptest.WithAuth("bot", "s3cret"))
		cfg := configFor(s, mailout.TLSStartTLS)
		cfg.RequireAuth, cfg.Username, cfg.Password = true, "bot", "s3cret"
		err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, testMessage(t))
		se := sendErr(t, err, true, 0)
		if !strings.Contains(se.Msg, "STARTTLS") || strings.Contains(se.Msg, "s3cret") {
			t.Errorf("Send() = %q", se.Msg)
		}
		if n := len(s.Messages()); n != 0 {
			t.Errorf("%d message(s) delivered", n)
		}
	})
}

func TestSendWrongPasswordIsPermanent(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithTLS(), smtptest.WithAuth("bot", "s3cret"))
	cfg := configFor(s, mailout.TLSStartTLS)
	cfg.RequireAuth, cfg.Username, cfg.Password = true, "bot", "wrong"
	cfg.TLSConfig = s.TLSConfigForClients()
	err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, testMessage(t))
	se := sendErr(t, err, true, 535)
	if strings.Contains(se.Error(), "wrong") {
		t.Errorf("error reveals the password: %q", se.Error())
	}
}

func TestSendServerFailures(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithFailures(451, 550))
	cfg := configFor(s, mailout.TLSNone)
	msg := testMessage(t)

	err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg)
	se := sendErr(t, err, false, 451)
	if !strings.Contains(se.Msg, "end of message data") {
		t.Errorf("Send() = %q, want the step named", se.Msg)
	}
	sendErr(t, mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg), true, 550)

	// The failures are used up: a retry goes through.
	if err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg); err != nil {
		t.Fatalf("Send() after the failures = %v", err)
	}
	checkDelivered(t, s, msg)
}

func TestSendServerNotListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	cfg := mailout.SMTPConfig{Server: "127.0.0.1", Port: port, TLS: mailout.TLSNone, Timeout: 5 * time.Second}
	err = mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, []byte("x"))
	se := sendErr(t, err, false, 0)
	if want := "127.0.0.1:" + strconv.Itoa(port); !strings.Contains(se.Error(), want) {
		t.Errorf("Send() = %q, want it to name %s", se.Error(), want)
	}
}

func TestSendContextCancelled(t *testing.T) {
	s := smtptest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := mailout.Send(ctx, configFor(s, mailout.TLSNone), testFrom, []string{testTo}, testMessage(t))
	sendErr(t, err, false, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send() = %v, want it to wrap context.Canceled", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d message(s) delivered with a cancelled context", n)
	}
}

// silentServer accepts connections and never answers, like a server that
// hangs before its greeting.
func silentServer(t *testing.T) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

func TestSendHangingServer(t *testing.T) {
	host, port := silentServer(t)
	for _, mode := range []string{mailout.TLSStartTLS, mailout.TLSNone} {
		t.Run("context deadline/"+mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			cfg := mailout.SMTPConfig{Server: host, Port: port, TLS: mode, Timeout: time.Minute}
			start := time.Now()
			err := mailout.Send(ctx, cfg, testFrom, []string{testTo}, []byte("x"))
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Send() took %v with a 200ms context", took)
			}
			sendErr(t, err, false, 0)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Send() = %v, want it to wrap context.DeadlineExceeded", err)
			}
		})
		t.Run("config timeout/"+mode, func(t *testing.T) {
			cfg := mailout.SMTPConfig{Server: host, Port: port, TLS: mode, Timeout: 200 * time.Millisecond}
			start := time.Now()
			err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, []byte("x"))
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Send() took %v with a 200ms timeout", took)
			}
			se := sendErr(t, err, false, 0)
			if !strings.Contains(se.Msg, "timeout") && !strings.Contains(se.Msg, "deadline") && !strings.Contains(se.Msg, "no answer") {
				t.Errorf("Send() = %q, want a timeout", se.Msg)
			}
		})
	}
}

func TestSendBadInputIsPermanent(t *testing.T) {
	s := smtptest.NewServer(t)
	cfg := configFor(s, mailout.TLSNone)
	tests := []struct {
		name     string
		cfg      mailout.SMTPConfig
		from     string
		to       []string
		contains string
	}{
		{"bad from", cfg, "nobody", []string{testTo}, "from address"},
		{"bad to", cfg, testFrom, []string{"<<"}, "to address"},
		{"no recipient", cfg, testFrom, nil, "no recipient"},
		{"unknown tls mode", func() mailout.SMTPConfig { c := cfg; c.TLS = "ssl"; return c }(), testFrom, []string{testTo}, "tls mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mailout.Send(context.Background(), tc.cfg, tc.from, tc.to, []byte("x"))
			se := sendErr(t, err, true, 0)
			if !strings.Contains(se.Msg, tc.contains) {
				t.Errorf("Send() = %q, want it to mention %q", se.Msg, tc.contains)
			}
		})
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d message(s) delivered", n)
	}
}

func TestSendNonASCIIAddress(t *testing.T) {
	s := smtptest.NewServer(t)
	if err := mailout.Send(context.Background(), configFor(s, mailout.TLSNone), testFrom, []string{"Jörg <jörg@exämple.org>"}, testMessage(t)); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	if got := s.WaitFor(t, 1, 5*time.Second)[0].To; !slices.Equal(got, []string{"jörg@exämple.org"}) {
		t.Errorf("envelope recipients = %q", got)
	}
}
