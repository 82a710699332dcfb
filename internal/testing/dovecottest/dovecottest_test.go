package dovecottest_test

import (
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/airut-go/airut/internal/testing/dovecottest"
)

const msg = "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"

func TestStartDeliverCount(t *testing.T) {
	s := dovecottest.Start(t, map[string]string{"alice": "pw-a", "bob": "pw-b"})
	if d := s.StartTime(); d > 2*time.Second {
		t.Errorf("dovecot took %v to start, want well under 2 s", d)
	}
	if n := s.Count(t, "alice"); n != 0 {
		t.Fatalf("fresh INBOX has %d messages", n)
	}
	s.Deliver(t, "alice", []byte(msg))
	s.Deliver(t, "alice", []byte(msg))
	s.Deliver(t, "bob", []byte(msg))
	if n := s.Count(t, "alice"); n != 2 {
		t.Errorf("alice has %d messages, want 2", n)
	}
	if n := s.Count(t, "bob"); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	flags := s.Flags(t, "alice")
	if len(flags) != 2 {
		t.Fatalf("flags of %d messages, want 2: %v", len(flags), flags)
	}
	for uid, f := range flags {
		if slices.Contains(f, string(imap.FlagSeen)) || slices.Contains(f, string(imap.FlagDeleted)) {
			t.Errorf("message %d has flags %v straight after delivery", uid, f)
		}
	}
}

// TestListeners checks both ports with the certificate the server made,
// the way a client under test would connect.
func TestListeners(t *testing.T) {
	s := dovecottest.Start(t, map[string]string{"alice": "pw-a"})
	host, tlsPort, plainPort := s.Addr()
	tests := []struct {
		name string
		dial func() (*imapclient.Client, error)
	}{
		{"implicit TLS", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(net.JoinHostPort(host, strconv.Itoa(tlsPort)), &imapclient.Options{TLSConfig: s.TLSConfig()})
		}},
		{"STARTTLS", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(net.JoinHostPort(host, strconv.Itoa(plainPort)), &imapclient.Options{TLSConfig: s.TLSConfig()})
		}},
		{"plain", func() (*imapclient.Client, error) {
			return imapclient.DialInsecure(net.JoinHostPort(host, strconv.Itoa(plainPort)), nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.dial()
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if err := c.Login("alice", "pw-a").Wait(); err != nil {
				t.Fatalf("login: %v", err)
			}
			if err := c.Login("alice", "wrong").Wait(); err == nil {
				t.Fatalf("second login accepted")
			}
			caps := c.Caps()
			for _, want := range []imap.Cap{imap.CapIdle, imap.CapUIDPlus} {
				if !caps.Has(want) {
					t.Errorf("server lacks %s: %v", want, caps)
				}
			}
			if err := c.Logout().Wait(); err != nil {
				t.Errorf("logout: %v", err)
			}
		})
	}
	// A wrong password is refused (and quickly: auth_failure_delay = 0).
	c, err := imapclient.DialInsecure(net.JoinHostPort(host, strconv.Itoa(plainPort)), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	start := time.Now()
	if err := c.Login("alice", "nope").Wait(); err == nil {
		t.Errorf("wrong password accepted")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("failed login took %v", d)
	}
}

func TestInstancesAreSeparate(t *testing.T) {
	a := dovecottest.Start(t, map[string]string{"u": "p"})
	b := dovecottest.Start(t, map[string]string{"u": "p"})
	a.Deliver(t, "u", []byte(msg))
	if n := b.Count(t, "u"); n != 0 {
		t.Errorf("second instance sees %d messages of the first", n)
	}
}
