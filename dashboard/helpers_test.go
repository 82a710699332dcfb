package dashboard_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/dashboard/dashboardtest"
	"github.com/airut-go/airut/workflows"
)

// env is a dashboard on an httptest server with a test double behind it.
type env struct {
	t   testing.TB
	src *dashboardtest.Source
	srv *dashboard.Server
	ts  *httptest.Server
	// client does not follow redirects, so tests see the 303s.
	client *http.Client
}

// Fixed conversations of the seeded double.
const (
	repo1    = "r1"
	busyConv = "0a1b2c3d"
	idleConv = "deadbeef"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, mod func(*dashboard.Options)) *env {
	t.Helper()
	src := dashboardtest.New()
	o := dashboard.Options{
		Source:     src,
		Log:        slog.New(slog.DiscardHandler),
		TemporalUI: "http://127.0.0.1:8233",
		Namespace:  "default",
		Repos: func() []dashboard.RepoInfo {
			return []dashboard.RepoInfo{{
				ID: repo1, Channels: []string{"email", "local"},
				Settings:  []dashboard.Setting{{Key: "model", Value: "opus"}, {Key: "git.repo_url", Value: "https://github.com/o/r"}},
				Secrets:   []string{"GH_TOKEN", "ANTHROPIC_API_KEY"},
				Allowlist: []byte("domains:\n  - api.github.com\n"),
			}, {ID: "r2"}}
		},
	}
	o = dashboard.WithTestTimings(o, 15*time.Second, 300*time.Millisecond, 100*time.Millisecond)
	if mod != nil {
		mod(&o)
	}
	srv, err := dashboard.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return &env{t: t, src: src, srv: srv, ts: ts, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

// seed adds a busy conversation with two tasks and an idle one in r1, and
// a failed one in r2.
func (e *env) seed() {
	e.src.Add(dashboard.Row{RepoID: repo1, ConversationID: busyConv, Subject: "Fix the flaky test", Channel: "email",
		Sender: "alice@example.com", Status: workflows.StateBusy, StartedAt: t0, UpdatedAt: t0.Add(time.Minute)},
		workflows.Status{State: workflows.StateBusy, Busy: true, HostQueue: "airut-host-h1", Model: "opus",
			PR: "https://github.com/o/r/pull/7", PRState: "open", PRChecks: "failed: lint",
			Actions: []workflows.Action{{Kind: "retry", Actor: "bob (dashboard)", At: t0.Add(time.Hour)}},
			Current: &workflows.TaskSummary{TaskID: "t2", StartedAt: t0.Add(time.Hour), MessageIDs: []string{"m2"},
				Messages: []workflows.MessageSummary{{Sender: "alice@example.com", Body: "Also run it 10 times."}}},
			Tasks: []workflows.TaskSummary{{
				TaskID: "t1", MessageIDs: []string{"m1"}, StartedAt: t0, FinishedAt: t0.Add(90 * time.Second),
				Messages: []workflows.MessageSummary{{Sender: "alice@example.com", Body: "Please fix `TestFlaky`.", ReceivedAt: t0}},
				Outcome:  workflows.OutcomeSuccess, CostUSD: 0.25, NumTurns: 7, DurationMS: 90_000, Model: "opus",
				Usage: workflows.Usage{InputTokens: 12000, OutputTokens: 3400},
				Reply: "The test is **fixed** now.\n\n- one\n- two",
			}}})
	e.src.Add(dashboard.Row{RepoID: repo1, ConversationID: idleConv, Subject: "Update the docs", Channel: "slack",
		Sender: "bob", Status: workflows.StateIdle, StartedAt: t0, UpdatedAt: t0},
		workflows.Status{State: workflows.StateIdle, HostQueue: "airut-host-h1", Tasks: []workflows.TaskSummary{{
			TaskID: "t1", StartedAt: t0, FinishedAt: t0.Add(time.Minute), Outcome: workflows.OutcomeSuccess, CostUSD: 0.5,
			Reply: "Docs updated.",
		}}})
	e.src.Add(dashboard.Row{RepoID: "r2", ConversationID: "cafe0001", Subject: "Broken build", Channel: "local",
		Sender: "carol", Status: workflows.StateFailed, StartedAt: t0, UpdatedAt: t0},
		workflows.Status{State: workflows.StateFailed, CanRetry: true, Tasks: []workflows.TaskSummary{{
			TaskID: "t1", Outcome: workflows.OutcomeContainerFailed, Error: "container exited 137",
		}}})
	e.src.SetHosts([]dashboard.Host{
		{ID: "h1", Busy: 2, Free: 1, LastSeen: time.Now(), Reachable: true},
		{ID: "h2", Busy: 0, Free: 4, LastSeen: time.Now().Add(-time.Hour), Reachable: false},
	})
}

// do sends a request and returns the response with its body read.
func (e *env) do(req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

func (e *env) get(path string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

// page GETs path and fails the test unless it is 200.
func (e *env) page(path string) string {
	e.t.Helper()
	resp, body := e.get(path)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	return body
}

// post builds a form POST; headers are added as given.
func (e *env) post(path string, form url.Values, headers ...string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func mustContain(t testing.TB, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustNotContain(t testing.TB, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("page contains %q", b)
		}
	}
}

// jsonLine is one stream-json line.
func jsonLine(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

func assistant(blocks ...map[string]any) string {
	return jsonLine(map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_1", "content": blocks}})
}

func toolUse(id, name string, input map[string]any) map[string]any {
	return map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}
}

func textBlock(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

func toolResult(id, content string) string {
	return jsonLine(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "tool_result", "tool_use_id": id, "content": content},
	}}})
}
