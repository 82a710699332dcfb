package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

// BenchmarkDashboardOverview1000 measures the overview page with 1,000
// conversations in Temporal's visibility store (`airut server` and
// `airut dashboard`; no worker, so they stay queued): the whole request,
// listing from Temporal (past the dashboard's short cache) and render.
func BenchmarkDashboardOverview1000(b *testing.B) {
	api := anthropictest.NewServer(b)
	port := freePort(b)
	server := newSite(b, api, siteOptions{repoURL: upstream(b), frontendPort: port})
	server.start("server")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dash := newSite(b, api, siteOptions{repoURL: upstream(b), temporalRemote: addr})
	dash.start("dashboard")
	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for i := range 1000 {
		conv, _ := ingest.NewConversationID()
		m := workflows.Message{ID: fmt.Sprintf("bench-%d", i), Channel: workflows.ChannelLocal, Sender: "bench",
			Subject: fmt.Sprintf("Benchmark conversation %d", i), Body: "go"}
		if _, err := ingest.Deliver(ctx, c, ingest.Target{RepoID: "demo", ConversationID: conv}, m); err != nil {
			b.Fatal(err)
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", dash.dashboardPort)
	eventually(b, time.Minute, "1,000 conversations listed", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/conversations", dash.dashboardPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var n int
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			n += strings.Count(sc.Text(), `"conversation":`)
		}
		return n >= 1000
	})
	var total time.Duration
	var size int64
	for b.Loop() {
		// Past the dashboard's 2 s list cache: every request lists anew.
		b.StopTimer()
		time.Sleep(2100 * time.Millisecond)
		b.StartTimer()
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		var buf strings.Builder
		written, _ := bufio.NewReader(resp.Body).WriteTo(&buf)
		resp.Body.Close()
		total += time.Since(t0)
		size = written
		if resp.StatusCode != http.StatusOK || !strings.Contains(buf.String(), "Benchmark conversation 999") {
			b.Fatalf("overview: %s, %d bytes", resp.Status, written)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/overview")
	b.ReportMetric(float64(size)/1024, "KiB/page")
}

// BenchmarkDashboardEventLatency measures a line written to a running
// conversation's events file → seen by a dashboard's SSE client: on the
// conversation's own host (`airut run` reads the file) and on a
// dashboard elsewhere (`airut dashboard`, which reads it through the
// host's worker over Temporal), in the same run.
func BenchmarkDashboardEventLatency(b *testing.B) {
	api := anthropictest.NewServer(b)
	port := freePort(b)
	s := newSite(b, api, siteOptions{repoURL: upstream(b), frontendPort: port})
	s.start("run")
	remote := newSite(b, api, siteOptions{repoURL: upstream(b), temporalRemote: fmt.Sprintf("127.0.0.1:%d", port)})
	remote.start("dashboard")
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Wait.\nRUN: sleep 600\nREPLY: waited"))
	s.waitForCall(conv, "sleep 600")
	defer s.mustAirut(time.Minute, "stop", conv)
	events := s.layout(conv).Events()

	measure := func(dashPort int) func(i int) time.Duration {
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/conversation/%s/events/stream", dashPort, conv), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("stream: %v %v", resp, err)
		}
		lines := make(chan string, 1000)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		return func(i int) time.Duration {
			marker := fmt.Sprintf("bench-marker-%d-%d", dashPort, i)
			line := fmt.Sprintf(`{"type":"assistant","message":{"id":"bench","content":[{"type":"tool_use","id":"t%d","name":"Bash","input":{"command":"%s"}}]}}`+"\n", i, marker)
			f, err := os.OpenFile(events, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			f.WriteString(line)
			f.Close()
			timeout := time.After(10 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						b.Fatal("stream ended")
					}
					if strings.Contains(l, marker) {
						return time.Since(t0)
					}
				case <-timeout:
					b.Fatalf("%s not seen within 10 s", marker)
				}
			}
		}
	}
	local, far := measure(s.dashboardPort), measure(remote.dashboardPort)
	var lt, rt time.Duration
	i := 0
	for b.Loop() {
		i++
		lt += local(i)
		rt += far(i)
	}
	b.ReportMetric(float64(lt.Microseconds())/1000/float64(i), "ms-same-host")
	b.ReportMetric(float64(rt.Microseconds())/1000/float64(i), "ms-other-host")
}
