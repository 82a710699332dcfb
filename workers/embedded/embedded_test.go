package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/airut-go/airut/internal/testing/syncbuf"
	"github.com/airut-go/airut/workers/embedded"
)

// testAttrs returns the custom search attributes the tests register: four
// keywords, as airut uses.
func testAttrs() map[string]enums.IndexedValueType {
	return map[string]enums.IndexedValueType{
		"AirutRepo":   enums.INDEXED_VALUE_TYPE_KEYWORD,
		"AirutBranch": enums.INDEXED_VALUE_TYPE_KEYWORD,
		"AirutIssue":  enums.INDEXED_VALUE_TYPE_KEYWORD,
		"AirutAgent":  enums.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	b := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, nil))
}

func start(t testing.TB, opts embedded.Options) *embedded.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := embedded.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func dial(t testing.TB, s *embedded.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// tags are the search attribute values tagWorkflow sets.
type tags struct {
	Keywords map[string]string
	Ints     map[string]int64
}

// tagWorkflow upserts the given search attributes and returns how many it
// set.
func tagWorkflow(ctx workflow.Context, in tags) (int, error) {
	var updates []temporal.SearchAttributeUpdate
	for _, name := range slices.Sorted(maps.Keys(in.Keywords)) {
		updates = append(updates, temporal.NewSearchAttributeKeyKeyword(name).ValueSet(in.Keywords[name]))
	}
	for _, name := range slices.Sorted(maps.Keys(in.Ints)) {
		updates = append(updates, temporal.NewSearchAttributeKeyInt64(name).ValueSet(in.Ints[name]))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		return 0, err
	}
	return len(updates), nil
}

// runTagWorkflow runs tagWorkflow to completion on a worker of its own.
func runTagWorkflow(t *testing.T, c client.Client, id string, in tags) client.WorkflowRun {
	t.Helper()
	ctx := t.Context()
	queue := "embedded-test-" + id
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(tagWorkflow)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                queue,
		WorkflowExecutionTimeout: time.Minute,
	}, tagWorkflow, in)
	if err != nil {
		t.Fatalf("start workflow %s: %v", id, err)
	}
	var got int
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow %s: %v", id, err)
	}
	if want := len(in.Keywords) + len(in.Ints); got != want {
		t.Fatalf("workflow %s set %d search attributes, want %d", id, got, want)
	}
	return run
}

// waitForVisibility polls a visibility query until it lists runID.
func waitForVisibility(t *testing.T, c client.Client, query, runID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			last = err.Error()
		} else {
			for _, e := range resp.GetExecutions() {
				if e.GetExecution().GetRunId() == runID {
					return
				}
			}
			last = fmt.Sprintf("%d other executions", len(resp.GetExecutions()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("query %q did not find run %s within 30s (last: %s)", query, runID, last)
}

func listAttrs(t *testing.T, c client.Client, namespace string) map[string]enums.IndexedValueType {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(t.Context(), &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	return resp.GetCustomAttributes()
}

func checkAttrs(t *testing.T, have, want map[string]enums.IndexedValueType) {
	t.Helper()
	for name, typ := range want {
		if have[name] != typ {
			t.Errorf("search attribute %s: have %v, want %v (all: %v)", name, have[name], typ, have)
		}
	}
}

// TestRestartKeepsHistory runs a workflow that sets custom search
// attributes, finds it by a visibility query, restarts the server on the
// same SQLite file and finds the workflow again.
func TestRestartKeepsHistory(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	const id = "restart-1"

	var runID string
	{
		began := time.Now()
		s := start(t, embedded.Options{DatabaseFile: db, Namespace: "airut-test", UIPort: -1, SearchAttributes: testAttrs()})
		t.Logf("cold start (new file, schema set up): %v", time.Since(began))
		if s.UIAddress() != "" {
			t.Errorf("UIAddress() = %q with the UI disabled", s.UIAddress())
		}
		c := dial(t, s)
		checkAttrs(t, listAttrs(t, c, s.Namespace()), testAttrs())

		run := runTagWorkflow(t, c, id, tags{Keywords: map[string]string{"AirutRepo": "example/repo", "AirutIssue": "17"}})
		runID = run.GetRunID()
		waitForVisibility(t, c, `AirutRepo = "example/repo"`, runID)
		c.Close()
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}

	// Restart on the same file, with one more attribute of another type.
	attrs := testAttrs()
	attrs["AirutRound"] = enums.INDEXED_VALUE_TYPE_INT
	began := time.Now()
	s := start(t, embedded.Options{DatabaseFile: db, Namespace: "airut-test", UIPort: -1, SearchAttributes: attrs})
	t.Logf("warm start (existing file, one new search attribute): %v", time.Since(began))
	c := dial(t, s)

	checkCompletedAfterRestart(t, c, id, runID)
	waitForVisibility(t, c, `AirutRepo = "example/repo" AND AirutIssue = "17"`, runID)

	// The attribute added on restart is usable right after Start.
	checkAttrs(t, listAttrs(t, c, s.Namespace()), attrs)
	run := runTagWorkflow(t, c, "restart-2", tags{Keywords: map[string]string{"AirutAgent": "claude"}, Ints: map[string]int64{"AirutRound": 3}})
	waitForVisibility(t, c, `AirutRound = 3 AND AirutAgent = "claude"`, run.GetRunID())
}

// TestTwoServers runs two servers side by side in one process and checks
// that a third one cannot take the database file of a running one.
func TestTwoServers(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	opts := []embedded.Options{
		{DatabaseFile: db, Namespace: "one", SearchAttributes: testAttrs()},
		{Namespace: "two", SearchAttributes: testAttrs()}, // in memory
	}
	servers := make([]*embedded.Server, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i := range opts {
		opts[i].Logger = testLogger(t)
		wg.Go(func() {
			servers[i], errs[i] = embedded.Start(t.Context(), opts[i])
		})
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	a, b := servers[0], servers[1]
	if a.FrontendAddress() == b.FrontendAddress() || a.UIAddress() == b.UIAddress() {
		t.Fatalf("servers share addresses: %s %s / %s %s", a.FrontendAddress(), a.UIAddress(), b.FrontendAddress(), b.UIAddress())
	}
	for i, s := range servers {
		if got, want := s.Namespace(), opts[i].Namespace; got != want {
			t.Errorf("Namespace() = %q, want %q", got, want)
		}
		c := dial(t, s)
		run := runTagWorkflow(t, c, "side-by-side", tags{Keywords: map[string]string{"AirutRepo": s.Namespace()}})
		waitForVisibility(t, c, fmt.Sprintf("AirutRepo = %q", s.Namespace()), run.GetRunID())
	}

	_, err := embedded.Start(t.Context(), embedded.Options{DatabaseFile: db, UIPort: -1})
	if err == nil || !strings.Contains(err.Error(), db) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Start on the file of a running server: err = %v, want an error naming %s as in use", err, db)
	}
}

// TestStartErrors checks that Start fails early with errors that name the
// culprit.
func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	aFile := filepath.Join(dir, "file")
	if err := os.WriteFile(aFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "not-a-db.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	tooMany := map[string]enums.IndexedValueType{}
	for i := range 11 {
		tooMany[fmt.Sprintf("Kw%d", i)] = enums.INDEXED_VALUE_TYPE_KEYWORD
	}

	tests := []struct {
		name string
		opts embedded.Options
		want []string // substrings of the error
	}{
		{"frontend port in use", embedded.Options{FrontendPort: busyPort}, []string{"frontend", busyAddr, "in use"}},
		{"UI port in use", embedded.Options{UIPort: busyPort}, []string{"web UI", busyAddr, "in use"}},
		{"missing directory", embedded.Options{DatabaseFile: filepath.Join(dir, "nope", "t.db")}, []string{filepath.Join(dir, "nope", "t.db")}},
		{"database is a directory", embedded.Options{DatabaseFile: dir}, []string{dir, "directory"}},
		{"parent is a file", embedded.Options{DatabaseFile: filepath.Join(aFile, "t.db")}, []string{filepath.Join(aFile, "t.db")}},
		{"not a database", embedded.Options{DatabaseFile: notDB}, []string{notDB}},
		{"too many keyword attributes", embedded.Options{SearchAttributes: tooMany}, []string{"11", "Keyword", "at most 10"}},
		{"reserved attribute name", embedded.Options{SearchAttributes: map[string]enums.IndexedValueType{"WorkflowType": enums.INDEXED_VALUE_TYPE_KEYWORD}}, []string{"WorkflowType", "reserved"}},
		{"not an IP", embedded.Options{IP: "localhost"}, []string{`"localhost"`, "not an IP"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = testLogger(t)
			s, err := embedded.Start(t.Context(), tc.opts)
			if err == nil {
				_ = s.Stop()
				t.Fatal("Start succeeded")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if !strings.HasPrefix(msg, "start temporal server: ") {
				t.Errorf("error %q lacks the start temporal server prefix", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

// TestWebUI checks that the UI serves its page and reaches the frontend,
// and that a read-only UI refuses to change a workflow.
func TestWebUI(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-only=%v", readOnly), func(t *testing.T) { testWebUI(t, readOnly) })
	}
}

func testWebUI(t *testing.T, readOnly bool) {
	s := start(t, embedded.Options{Namespace: "ui-test", UIReadOnly: readOnly})
	if !strings.HasPrefix(s.UIAddress(), "http://127.0.0.1:") {
		t.Fatalf("UIAddress() = %q", s.UIAddress())
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := hc.Get(s.UIAddress() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp, string(body)
	}

	resp, body := get("/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /: Content-Type %q, want text/html", ct)
	}
	if !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("GET /: body is not an HTML page: %.200q", body)
	}

	// The UI's API is a proxy to the frontend: it must know the namespace.
	resp, body = get("/api/v1/namespaces/ui-test")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "ui-test") {
		t.Errorf("GET /api/v1/namespaces/ui-test: %s %.300q", resp.Status, body)
	}

	// The settings the UI's page reads, and what its server enforces: a
	// signal sent through a read-only UI is refused.
	_, body = get("/api/v1/settings")
	if want := fmt.Sprintf(`"DisableWriteActions":%v`, readOnly); !strings.Contains(body, want) {
		t.Errorf("GET /api/v1/settings: %.400q lacks %s", body, want)
	}
	// Like the UI's page, echo the CSRF cookie (set by GET /) in the
	// header, so the request reaches the write check.
	u, _ := url.Parse(s.UIAddress())
	var token string
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == "_csrf" {
			token = c.Value
		}
	}
	if token == "" {
		t.Fatalf("GET / set no _csrf cookie: %v", hc.Jar.Cookies(u))
	}
	req, _ := http.NewRequest("POST", s.UIAddress()+"/api/v1/namespaces/ui-test/workflows/w1/signal/message", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-TOKEN", token)
	sig, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sig.Body.Close()
	if refused := sig.StatusCode == http.StatusMethodNotAllowed; refused != readOnly {
		t.Errorf("POST signal through the UI: %s, want refused=%v", sig.Status, readOnly)
	}
}

// TestStartCanceled checks that Start honours a canceled context.
func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := embedded.Start(ctx, embedded.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with canceled context: %v, want context.Canceled", err)
	}
}

// BenchmarkWarmStart measures Start on an existing SQLite file (schema and
// namespace in place, search attributes registered), which is what every
// `airut run` after the first one pays.
func BenchmarkWarmStart(b *testing.B) {
	db := filepath.Join(b.TempDir(), "temporal.db")
	opts := embedded.Options{DatabaseFile: db, SearchAttributes: testAttrs(), UIPort: -1, Logger: testLogger(b)}
	s, err := embedded.Start(b.Context(), opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		b.Fatal(err)
	}
	withUI := opts
	withUI.UIPort = 0
	for _, bc := range []struct {
		name string
		opts embedded.Options
	}{{"noUI", opts}, {"withUI", withUI}} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			n := 0
			for b.Loop() {
				began := time.Now()
				s, err := embedded.Start(b.Context(), bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(began)
				n++
				b.StopTimer()
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			ms := float64(total.Microseconds()) / 1000 / float64(n)
			b.ReportMetric(ms, "ms/start")
			b.Logf("warm start %s: %.1f ms per Start over %d starts", bc.name, ms, n)
		})
	}
}

// checkCompletedAfterRestart: the workflow run, finished before the
// restart, is still there, completed, with its history.
func checkCompletedAfterRestart(t *testing.T, c client.Client, id, runID string) {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(t.Context(), id, runID)
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution after restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %v, want COMPLETED", st)
	}
	events := 0
	it := c.GetWorkflowHistory(t.Context(), id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			t.Fatalf("history after restart: %v", err)
		}
		events++
	}
	if events < 5 {
		t.Errorf("history after restart has %d events, want at least 5", events)
	}
}
