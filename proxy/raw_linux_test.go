package proxy

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// The catch-all refuses a raw TCP connection with a line saying why, and
// logs it with the address it was meant for; repeated datagrams to one
// destination are logged once. (IP_TRANSPARENT needs CAP_NET_ADMIN: the
// tests run as root.)
func TestServeRawRefusesAndLogs(t *testing.T) {
	var mu sync.Mutex
	var lines []LogLine
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One port for TCP and UDP: take a free TCP port and try again should
	// its UDP twin be busy (or the port be taken in between).
	var addr string
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
		err = serveRaw(ctx, addr, func(l LogLine) { mu.Lock(); lines = append(lines, l); mu.Unlock() })
		if err == nil {
			break
		}
		if try == 5 {
			t.Fatalf("serveRaw() = %v", err)
		}
	}

	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !strings.Contains(string(got), "raw TCP to "+addr+" is blocked") {
		t.Errorf("read %q, %v; want the refusal naming %s", got, err, addr)
	}

	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range 3 {
		u.Write([]byte("payload"))
	}
	want := []string{"tcp " + addr + " raw_tcp_blocked", "udp " + addr + " raw_udp_blocked"}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		var have []string
		for _, l := range lines {
			have = append(have, l.Kind+" "+l.Host+" "+l.Reason)
			if l.Allowed {
				t.Errorf("log line %+v says allowed", l)
			}
		}
		mu.Unlock()
		if len(have) >= len(want) || time.Now().After(deadline) {
			time.Sleep(200 * time.Millisecond) // a second UDP line, if any, would be written now
			mu.Lock()
			n := len(lines)
			mu.Unlock()
			if strings.Join(have, "|") != strings.Join(want, "|") || n != len(want) {
				t.Errorf("log = %q (%d lines), want %q", have, n, want)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
