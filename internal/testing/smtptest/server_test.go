package smtptest_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/airut-go/airut/internal/testing/smtptest"
)

const sample = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=X\r\n" +
	"\r\n" +
	"--X\r\n" +
	"Content-Type: multipart/alternative; boundary=Y\r\n" +
	"\r\n" +
	"--Y\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"hello =C3=BC\r\n" +
	"--Y\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<b>hello</b>\r\n" +
	"--Y--\r\n" +
	"--X\r\n" +
	"Content-Type: application/pdf\r\n" +
	"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0=\r\n" +
	"--X--\r\n"

func addr(s *smtptest.Server) string {
	host, port := s.Addr()
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func send(t *testing.T, c *smtp.Client) error {
	t.Helper()
	return c.SendMail("a@example.com", []string{"b@example.com", "c@example.com"}, strings.NewReader(sample))
}

func TestPlainMessageIsStoredAndParsed(t *testing.T) {
	s := smtptest.NewServer(t)
	host, port := s.Addr()
	if host != "127.0.0.1" || port == 0 {
		t.Fatalf("Addr() = %q, %d; want 127.0.0.1 and a port", host, port)
	}
	c, err := smtp.Dial(addr(s))
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	defer c.Close()
	if err := send(t, c); err != nil {
		t.Fatalf("SendMail() = %v", err)
	}
	msgs := s.WaitFor(t, 1, 5*time.Second)
	m := msgs[0]
	if m.From != "a@example.com" || strings.Join(m.To, ",") != "b@example.com,c@example.com" {
		t.Errorf("envelope = %q -> %q", m.From, m.To)
	}
	if got := m.Header("Subject"); got != "Grüße" {
		t.Errorf("Header(Subject) = %q, want decoded %q", got, "Grüße")
	}
	if got := m.TextBody(); got != "hello ü" {
		t.Errorf("TextBody() = %q", got)
	}
	if got := m.HTMLBody(); got != "<b>hello</b>" {
		t.Errorf("HTMLBody() = %q", got)
	}
	atts := m.Attachments()
	if len(atts) != 1 || atts[0].Name != "résumé.pdf" || atts[0].ContentType != "application/pdf" || string(atts[0].Data) != "%PDF-" {
		t.Errorf("Attachments() = %+v", atts)
	}
	if got := len(s.Messages()); got != 1 {
		t.Errorf("len(Messages()) = %d, want 1", got)
	}
}

func TestAuthRequired(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithAuth("user", "secret"))

	c, err := smtp.Dial(addr(s))
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	defer c.Close()
	var se *smtp.SMTPError
	if err := send(t, c); !errors.As(err, &se) || se.Code != 502 {
		t.Fatalf("SendMail() without AUTH = %v, want 502", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "user", "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("Auth(wrong password) = %v, want 535", err)
	}

	c2, err := smtp.Dial(addr(s))
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	defer c2.Close()
	if err := c2.Auth(sasl.NewPlainClient("", "user", "secret")); err != nil {
		t.Fatalf("Auth() = %v", err)
	}
	if err := send(t, c2); err != nil {
		t.Fatalf("SendMail() after AUTH = %v", err)
	}
	s.WaitFor(t, 1, 5*time.Second)
}

func TestStartTLSWithAuth(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithTLS(), smtptest.WithAuth("user", "secret"))

	// Before STARTTLS, AUTH is not offered.
	c, err := smtp.Dial(addr(s))
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	if err := c.Hello("localhost"); err != nil {
		t.Fatalf("Hello() = %v", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Errorf("STARTTLS not offered")
	}
	if c.SupportsAuth(sasl.Plain) {
		t.Errorf("AUTH PLAIN offered before STARTTLS")
	}
	c.Close()

	c, err = smtp.DialStartTLS(addr(s), s.TLSConfigForClients())
	if err != nil {
		t.Fatalf("DialStartTLS() = %v", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "user", "secret")); err != nil {
		t.Fatalf("Auth() = %v", err)
	}
	if err := send(t, c); err != nil {
		t.Fatalf("SendMail() = %v", err)
	}
	if _, ok := c.TLSConnectionState(); !ok {
		t.Errorf("connection is not TLS")
	}
	s.WaitFor(t, 1, 5*time.Second)
}

func TestTLSConfigForClientsIsNilWithoutTLS(t *testing.T) {
	if cfg := smtptest.NewServer(t).TLSConfigForClients(); cfg != nil {
		t.Errorf("TLSConfigForClients() = %v, want nil", cfg)
	}
}

func TestFailures(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithFailures(451, 550))
	s.FailNext(452)
	c, err := smtp.Dial(addr(s))
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	defer c.Close()
	for _, want := range []int{451, 550, 452} {
		var se *smtp.SMTPError
		if err := send(t, c); !errors.As(err, &se) || se.Code != want {
			t.Fatalf("SendMail() = %v, want SMTP %d", err, want)
		}
	}
	if got := len(s.Messages()); got != 0 {
		t.Fatalf("failed messages were stored: %d", got)
	}
	if err := send(t, c); err != nil {
		t.Fatalf("SendMail() after the failures = %v", err)
	}
	if got := len(s.WaitFor(t, 1, 5*time.Second)); got != 1 {
		t.Fatalf("WaitFor() returned %d messages", got)
	}
}

func TestWaitForTimesOut(t *testing.T) {
	s := smtptest.NewServer(t)
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WaitFor(ft, 1, 50*time.Millisecond)
	}()
	<-done
	if !strings.Contains(ft.msg, "0 message(s)") {
		t.Errorf("WaitFor() failure = %q", ft.msg)
	}
}

// fatalRecorder records Fatalf instead of failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestImplicitTLS(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("user", "secret"))
	c, err := smtp.DialTLS(addr(s), s.TLSConfigForClients())
	if err != nil {
		t.Fatalf("DialTLS() = %v", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "user", "secret")); err != nil {
		t.Fatalf("Auth() = %v", err)
	}
	if err := send(t, c); err != nil {
		t.Fatalf("SendMail() = %v", err)
	}
	s.WaitFor(t, 1, 5*time.Second)
}

// A held message gets no answer until released, is then refused with
// 451 and not stored; the next one is accepted as usual.
func TestHoldKeepsDataWaiting(t *testing.T) {
	s := smtptest.NewServer(t)
	held, release := s.Hold("hello =C3=BC")
	c, err := smtp.Dial(addr(s))
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- send(t, c) }()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the message was not held")
	}
	select {
	case err := <-done:
		t.Fatalf("SendMail() returned %v while held", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	var se *smtp.SMTPError
	if err := <-done; !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("SendMail() after release = %v, want 451", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("held message stored: %d messages", n)
	}
	if err := send(t, c); err != nil {
		t.Fatalf("SendMail() after the hold = %v", err)
	}
	s.WaitFor(t, 1, 5*time.Second)
}
