package dns

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

type logRec struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRec) log(qtype, name, answer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, qtype+" "+name+" -> "+answer)
}

func longName() string {
	// ~200 chars of exfiltration-style labels (each label <= 63).
	var parts []string
	for i := 0; i < 4; i++ {
		parts = append(parts, strings.Repeat("a1b2c3d4e5", 4)+"abcdefghi")
	}
	return strings.Join(parts, ".") + ".evil.example.com."
}

// fakeUpstream counts any packet it receives; the responder must never send it one.
func fakeUpstream(t *testing.T) (*int64, string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			atomic.AddInt64(&n, 1)
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return &n, pc.LocalAddr().String()
}

func TestResponder(t *testing.T) {
	upstreamCount, _ := fakeUpstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &logRec{}
	proxyIP := net.ParseIP("10.199.1.100")
	srv, err := Start(ctx, "127.0.0.1:0", proxyIP, rec.log)
	if err != nil {
		t.Fatal(err)
	}
	if len(longName()) < 200 {
		t.Fatalf("long name too short: %d", len(longName()))
	}
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		wantIP bool
	}{
		{"A simple", "example.com.", mdns.TypeA, mdns.RcodeSuccess, true},
		{"A github", "api.github.com.", mdns.TypeA, mdns.RcodeSuccess, true},
		{"A exfil 200 chars", longName(), mdns.TypeA, mdns.RcodeSuccess, true},
		{"AAAA", "example.com.", mdns.TypeAAAA, mdns.RcodeNotImplemented, false},
		{"TXT", "example.com.", mdns.TypeTXT, mdns.RcodeNotImplemented, false},
		{"MX", "example.com.", mdns.TypeMX, mdns.RcodeNotImplemented, false},
		{"ANY", "example.com.", mdns.TypeANY, mdns.RcodeNotImplemented, false},
		{"TXT exfil", longName(), mdns.TypeTXT, mdns.RcodeNotImplemented, false},
	}
	for _, netw := range []string{"udp", "tcp"} {
		addr := srv.UDPAddr.String()
		if netw == "tcp" {
			addr = srv.TCPAddr.String()
		}
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				c := &mdns.Client{Net: netw, Timeout: 2 * time.Second}
				m := new(mdns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				r, _, err := c.Exchange(m, addr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tc.rcode {
					t.Fatalf("rcode = %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
				}
				if r.Id != m.Id || !r.Response {
					t.Fatalf("bad reply header: %+v", r.MsgHdr)
				}
				if !tc.wantIP {
					if len(r.Answer) != 0 {
						t.Fatalf("want no answer, got %v", r.Answer)
					}
					return
				}
				if len(r.Answer) != 1 {
					t.Fatalf("want 1 answer, got %v", r.Answer)
				}
				a, ok := r.Answer[0].(*mdns.A)
				if !ok || !a.A.Equal(proxyIP) || a.Hdr.Ttl != TTL || a.Hdr.Name != tc.qname {
					t.Fatalf("bad answer %v", r.Answer[0])
				}
			})
		}
	}

	t.Run("malformed packets", func(t *testing.T) {
		conn, err := net.Dial("udp", srv.UDPAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, p := range [][]byte{
			{},
			{0x01},
			{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			// header claiming 1 question then a compression-pointer loop
			{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1},
			[]byte(strings.Repeat("\x3f", 600)),
		} {
			_, _ = conn.Write(p)
		}
		// Still alive:
		c := &mdns.Client{Timeout: 2 * time.Second}
		m := new(mdns.Msg)
		m.SetQuestion("still.alive.", mdns.TypeA)
		r, _, err := c.Exchange(m, srv.UDPAddr.String())
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("responder dead after malformed input: %v %v", r, err)
		}
	})

	if n := atomic.LoadInt64(upstreamCount); n != 0 {
		t.Fatalf("upstream received %d queries; responder must never forward", n)
	}
	rec.mu.Lock()
	got := strings.Join(rec.lines, "\n")
	rec.mu.Unlock()
	for _, want := range []string{"A example.com. -> 10.199.1.100", "AAAA example.com. -> NOTIMP", "TXT example.com. -> NOTIMP"} {
		if !strings.Contains(got, want) {
			t.Errorf("log missing %q in:\n%s", want, got)
		}
	}
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop on ctx cancel")
	}
}

func TestServeErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tests := []struct {
		name string
		addr string
		ip   net.IP
	}{
		{"ipv6 proxy ip", "127.0.0.1:0", net.ParseIP("::1")},
		{"bad addr", "256.0.0.1:53", net.ParseIP("10.0.0.1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Serve(ctx, tc.addr, tc.ip, nil); err == nil {
				t.Fatal("want error")
			}
		})
	}
}
