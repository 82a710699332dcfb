package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/metrics"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// What an operator scrapes: Airut's series with their labels, the
// runtime's, and the Temporal SDK's through its handler.
func TestServe(t *testing.T) {
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Serve(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m.Slots("h1", 4)
	m.TaskStarted("web", "h1")
	m.TaskStarted("web", "h1")
	m.TaskFinished("web", "h1", "success", 90*time.Second, 0.25)
	m.SandboxRequests("web", 7, 2)
	m.Message("email", true, "")
	m.Message("slack", false, "unauthorized user")
	m.QueueBacklog("airut", "activity", 5)
	m.Temporal().WithTags(map[string]string{"task_queue": "airut-shared"}).Counter("temporal_request").Inc(3)

	url := "http://" + addr.String() + "/metrics"
	var body string
	// tally reports to Prometheus every second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		body = scrape(t, url)
		if strings.Contains(body, `temporal_request_total{task_queue="airut_shared"} 3`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{
		`airut_agent_slots{host="h1"} 4`,
		`airut_agent_slots_busy{host="h1"} 1`,
		`airut_tasks_started_total{repo="web"} 2`,
		`airut_tasks_finished_total{outcome="success",repo="web"} 1`,
		`airut_task_duration_seconds_sum{outcome="success",repo="web"} 90`,
		`airut_agent_cost_usd_total{repo="web"} 0.25`,
		`airut_sandbox_requests_total{decision="allowed",repo="web"} 7`,
		`airut_sandbox_requests_total{decision="refused",repo="web"} 2`,
		`airut_ingest_messages_total{channel="email",reason="",result="accepted"} 1`,
		`airut_ingest_messages_total{channel="slack",reason="unauthorized user",result="rejected"} 1`,
		`airut_queue_backlog{kind="activity",queue="airut"} 5`,
		// The SDK's names, as its Prometheus naming makes them.
		`temporal_request_total{task_queue="airut_shared"} 3`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if resp, err := http.Post(url, "text/plain", nil); err == nil && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", resp.StatusCode)
	}
}

// Code that records metrics needs no check for a process without them.
func TestNilCountsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.Slots("h", 1)
	m.TaskStarted("r", "h")
	m.TaskFinished("r", "h", "success", time.Second, 1)
	m.SandboxRequests("r", 1, 1)
	m.Message("email", false, "x")
	m.QueueBacklog("q", "activity", 1)
	if m.Temporal() != nil {
		t.Error("a nil Metrics gave the SDK a handler")
	}
}

// A port in use is an error naming the address, not a silent no-op.
func TestServeRefusesABusyPort(t *testing.T) {
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Serve(ctx, "127.0.0.1:0", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New().Serve(ctx, addr.String(), slog.Default()); err == nil || !strings.Contains(err.Error(), addr.String()) {
		t.Errorf("second Serve on %s: %v, want an error naming it", addr, err)
	}
}
