package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/workflows"
)

// BenchmarkOverview1000 renders the overview of 1,000 conversations (the
// Source's default limit) from the double, as one request through the
// whole handler chain, and reports the time per render.
func BenchmarkOverview1000(b *testing.B) {
	e := newEnv(b, nil)
	states := []string{workflows.StateBusy, workflows.StateQueued, workflows.StateIdle, workflows.StateFailed, "closed"}
	for i := range 1000 {
		e.src.Add(dashboard.Row{
			RepoID: fmt.Sprintf("repo%d", i%7), ConversationID: fmt.Sprintf("%08x", i), Subject: fmt.Sprintf("Task number %d <with> & markup", i),
			Channel: "email", Sender: fmt.Sprintf("user%d@example.com", i%13), Status: states[i%len(states)],
			PR: "https://github.com/o/r/pull/1", StartedAt: time.Now().Add(-time.Hour), UpdatedAt: time.Now().Add(-time.Duration(i) * time.Minute),
		}, workflows.Status{})
	}
	e.src.SetHosts([]dashboard.Host{{ID: "h1", Busy: 3, Free: 1, Reachable: true, LastSeen: time.Now()}})
	h := e.srv.Handler()
	var size int
	start := time.Now()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "000003e7") {
			b.Fatalf("overview: %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/render")
	b.ReportMetric(float64(size)/1024, "KiB/page")
}
