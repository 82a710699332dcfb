package mitm

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// The dialler refuses any host but the one the policy allowed for the
// request, and any dial with no allowed host at all, whatever URL the
// request carries: the invariant holds even if a parser before it slips.
func TestDialGuard(t *testing.T) {
	var dialled int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		atomic.AddInt64(&dialled, 1)
		return nil, &net.OpError{Op: "dial", Err: errString("test dialler reached")}
	}}
	guardTransport(tr)
	allowed, _ := parseHost("api.example.com")
	tests := []struct {
		name    string
		url     string
		ctx     context.Context
		wantErr string
		reached bool
	}{
		{"allowed host reaches the dialler", "http://api.example.com/x", withAllowed(context.Background(), allowed), "test dialler reached", true},
		{"allowed host over TLS reaches the dialler", "https://api.example.com/x", withAllowed(context.Background(), allowed), "test dialler reached", true},
		{"other host refused", "http://evil.example/x", withAllowed(context.Background(), allowed), "the policy allowed api.example.com", false},
		{"other host over TLS refused", "https://evil.example/x", withAllowed(context.Background(), allowed), "the policy allowed api.example.com", false},
		{"suffix trick refused", "http://api.example.com.evil.example/x", withAllowed(context.Background(), allowed), "the policy allowed", false},
		{"no allowed host refused", "http://api.example.com/x", context.Background(), "no allowed host", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := atomic.LoadInt64(&dialled)
			u, _ := url.Parse(tt.url)
			req := (&http.Request{Method: "GET", URL: u, Header: http.Header{}, Host: u.Host}).WithContext(tt.ctx)
			_, err := tr.RoundTrip(req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("RoundTrip error %v, want it to say %q", err, tt.wantErr)
			}
			if reached := atomic.LoadInt64(&dialled) > before; reached != tt.reached {
				t.Fatalf("dialler reached = %v, want %v", reached, tt.reached)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// parseHostPort accepts DNS names and IP literals only.
func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in, host, port string
		ok             bool
	}{
		{"example.com", "example.com", "", true},
		{"EXAMPLE.com.", "example.com", "", true},
		{"example.com:443", "example.com", "443", true},
		{"10.0.0.5", "10.0.0.5", "", true},
		{"10.0.0.5:80", "10.0.0.5", "80", true},
		{"[::1]:443", "::1", "443", true},
		{"[fd00:ec2::254]", "fd00:ec2::254", "", true},
		{"a-b.c-d.example", "a-b.c-d.example", "", true},
		{"evil.test?.example.com", "", "", false},
		{"evil.test#.example.com", "", "", false},
		{"user@example.com", "", "", false},
		{"example.com/", "", "", false},
		{"exa mple.com", "", "", false},
		{"example%2ecom", "", "", false},
		{"exa_mple.com", "", "", false},
		{"example..com", "", "", false},
		{".example.com", "", "", false},
		{"example.com:", "", "", false},
		{"example.com:x1", "", "", false},
		{"example.com:123456", "", "", false},
		{"[::1", "", "", false},
		{"[::1]x", "", "", false},
		{"[10.0.0.5]", "", "", false},
		{"[fe80::1%eth0]", "", "", false},
		{"::1", "", "", false},
		{"::1:80", "", "", false},
		{"fd00::1", "", "", false},
		{"ex\u00e4mple.com", "", "", false},
		{"", "", "", false},
		{strings.Repeat("a", 64) + ".com", "", "", false},
	}
	for _, tt := range tests {
		h, port, ok := parseHostPort(tt.in)
		if ok != tt.ok || ok && (h.String() != tt.host || port != tt.port) {
			t.Errorf("parseHostPort(%q) = %q, %q, %v; want %q, %q, %v", tt.in, h, port, ok, tt.host, tt.port, tt.ok)
		}
	}
}
