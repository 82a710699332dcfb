package mitm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"sort"
	"testing"
	"time"
)

// runKeepAlive issues b.N sequential GETs on one keep-alive connection and
// reports requests/s and p50/p99 latency.
func runKeepAlive(b *testing.B, cl *http.Client, url string) {
	b.Helper()
	get := func() {
		resp, err := cl.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	get() // warm up: handshake and leaf minting outside the timing
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		get()
		lat[i] = time.Since(t0)
	}
	total := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/total.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkProxyKeepAliveHTTPS(b *testing.B) {
	e := newEnv(b)
	runKeepAlive(b, e.client(), "https://example.com/bench")
}

func BenchmarkDirectKeepAliveHTTPS(b *testing.B) {
	u := newUpstream(b, true)
	pool := x509.NewCertPool()
	pool.AddCert(u.srv.Certificate())
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, u.srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	defer tr.CloseIdleConnections()
	runKeepAlive(b, &http.Client{Transport: tr}, "https://example.com/bench")
}
