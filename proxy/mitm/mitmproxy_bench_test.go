//go:build unix

package mitm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airut-go/airut/proxy/ca"
)

// vsWorkers is the client concurrency of every BenchmarkVsMitmproxy case.
const vsWorkers = 8

// vsResult is what one case measured on its final (largest b.N) run.
type vsResult struct {
	n        int
	rps      float64
	p50, p99 time.Duration
}

// runConcurrentKeepAlive issues b.N GETs from vsWorkers goroutines sharing
// one keep-alive client and reports requests/s and p50/p99 latency.
func runConcurrentKeepAlive(b *testing.B, cl *http.Client, url string) vsResult {
	b.Helper()
	get := func() error {
		resp, err := cl.Get(url)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var (
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	// Warm up: open the workers' connections (handshakes, leaf minting)
	// outside the timing.
	var wg sync.WaitGroup
	for range vsWorkers {
		wg.Go(func() {
			if err := get(); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	lats := make([][]time.Duration, vsWorkers)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for w := range vsWorkers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := get(); err != nil {
					fail(err)
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := vsResult{n: b.N, rps: float64(b.N) / total.Seconds(), p50: all[len(all)/2], p99: all[len(all)*99/100]}
	b.ReportMetric(r.rps, "req/s")
	b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
	return r
}

// BenchmarkVsMitmproxy sends the same keep-alive HTTPS GETs to one upstream
// directly, through our proxy and through mitmdump, and compares them.
//
// mitmdump runs in reverse mode towards the upstream: like our TLS listener
// (reached through the sandbox DNS), it is the client's TLS endpoint, mints
// a leaf for the client's SNI with its own CA and re-originates TLS
// upstream, one upstream connection per client connection, keep-alive on
// both sides. keep_host_header keeps Host: example.com as we do.
func BenchmarkVsMitmproxy(b *testing.B) {
	mitmdump, err := exec.LookPath("mitmdump")
	if err != nil {
		b.Fatalf("mitmdump not found: run `make test-deps` or apt-get install mitmproxy")
	}
	const url = "https://example.com/bench"
	u := newUpstream(b, true)
	upAddr := u.srv.Listener.Addr().String()
	upPool := x509.NewCertPool()
	upPool.AddCert(u.srv.Certificate())

	// Each client routes every dial to its target, like the sandbox DNS.
	clientTo := func(addr string, roots *x509.CertPool) *http.Client {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:     &tls.Config{RootCAs: roots},
			MaxIdleConnsPerHost: 64,
		}
		b.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}

	// Our proxy, set up as in newEnv: policy, rewriter and a log callback.
	c, err := ca.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logged atomic.Int64
	srv, err := Serve(ctx, Options{
		HTTPSAddr: "127.0.0.1:0",
		CA:        c,
		Policy:    fakePolicy{hosts: map[string]bool{"example.com": true}},
		Rewriter:  fakeRewriter{},
		Upstream: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, upAddr)
			},
			TLSClientConfig:     &tls.Config{RootCAs: upPool},
			MaxIdleConnsPerHost: 64,
		},
		Log: func(Entry) { logged.Add(1) },
	})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		select {
		case <-srv.Done():
		case <-time.After(5 * time.Second):
			b.Error("proxy did not stop")
		}
	})
	airutPool := x509.NewCertPool()
	airutPool.AppendCertsFromPEM(c.CertPEM())

	mitmAddr, mitmCA := startMitmdump(b, mitmdump, upAddr, u.srv.Certificate())

	clients := []struct {
		name string
		cl   *http.Client
	}{
		{"direct", clientTo(upAddr, upPool)},
		{"airut", clientTo(srv.HTTPSAddr().String(), airutPool)},
		{"mitmproxy", clientTo(mitmAddr, mitmCA)},
	}
	// Sanity: every path reaches the same upstream with the same Host.
	for _, cc := range clients {
		resp, err := cc.cl.Get(url)
		if err != nil {
			b.Fatalf("%s: %v", cc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || u.last().Host != "example.com" {
			b.Fatalf("%s: status %d, upstream saw Host %q, body %q", cc.name, resp.StatusCode, u.last().Host, body)
		}
	}

	res := map[string]vsResult{}
	for _, cc := range clients {
		b.Run(cc.name, func(b *testing.B) {
			res[cc.name] = runConcurrentKeepAlive(b, cc.cl, url)
		})
	}
	d, a, m := res["direct"], res["airut"], res["mitmproxy"]
	if d.n == 0 || a.n == 0 || m.n == 0 {
		return // a case failed or was filtered out
	}
	ratio := a.rps / m.rps
	verdict := "met"
	if a.p50-d.p50 >= time.Millisecond || ratio < 5 {
		verdict = "NOT met"
	}
	// The parent's b.Log only shows with -v, so print the summary.
	us := func(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }
	fmt.Printf("VsMitmproxy (%d workers, keep-alive): direct %.0f req/s p50 %s p99 %s | airut %.0f req/s p50 %s p99 %s | mitmproxy %.0f req/s p50 %s p99 %s\n",
		vsWorkers, d.rps, us(d.p50), us(d.p99), a.rps, us(a.p50), us(a.p99), m.rps, us(m.p50), us(m.p99))
	fmt.Printf("VsMitmproxy: added vs direct: airut p50 +%s p99 +%s, mitmproxy p50 +%s p99 +%s; req/s airut/mitmproxy = %.1fx; goal (<1ms added p50, >=5x) %s\n",
		us(a.p50-d.p50), us(a.p99-d.p99), us(m.p50-d.p50), us(m.p99-d.p99), ratio, verdict)
}

// startMitmdump runs mitmdump in reverse mode to the upstream at upAddr on a
// free loopback port with a temporary confdir, waits until it accepts
// connections, and stops it (its whole process group) at cleanup. It
// returns the listen address and a pool trusting mitmproxy's CA.
func startMitmdump(b *testing.B, bin, upAddr string, upCert *x509.Certificate) (string, *x509.CertPool) {
	b.Helper()
	dir := b.TempDir()
	confdir := filepath.Join(dir, "conf")
	upCA := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(upCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upCert.Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	logPath := filepath.Join(dir, "mitmdump.log")
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin,
		"--mode", "reverse:https://"+upAddr,
		"--listen-host", "127.0.0.1",
		"--listen-port", strconv.Itoa(port),
		"--set", "confdir="+confdir,
		"--set", "ssl_verify_upstream_trusted_ca="+upCA,
		"--set", "keep_host_header=true",
		"--set", "http2=false",
		"--set", "flow_detail=0",
		"--set", "termlog_verbosity=error",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start mitmdump: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	b.Cleanup(stop)
	failf := func(format string, args ...any) {
		stop()
		out, _ := os.ReadFile(logPath)
		b.Fatalf("mitmdump: "+format+"\n%s", append(args, out)...)
	}

	certPath := filepath.Join(confdir, "mitmproxy-ca-cert.pem")
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			failf("exited before accepting connections")
		default:
		}
		if _, err := os.Stat(certPath); err == nil {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			failf("not listening on %s after 30s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		failf("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		failf("no certificate in %s", certPath)
	}
	return addr, pool
}
