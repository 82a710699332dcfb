package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/workflows"
)

// sseEvent is one event as a client reads it.
type sseEvent struct {
	id, name, data string
	comment        bool
}

// sseClient reads a stream with plain net/http.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

func (e *env) openStream(path string, hdr ...string) (*sseClient, *http.Response) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 100), cancel: cancel}
	e.t.Cleanup(c.close)
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || len(data) > 0 {
					ev.data = strings.Join(data, "\n")
					c.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				c.events <- sseEvent{comment: true, data: line}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	return c, resp
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next waits for the next event named name (skipping others).
func (c *sseClient) next(t testing.TB, name string, within time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended before a %q event", name)
			}
			if ev.name == name || (name == ":" && ev.comment) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within %s", name, within)
		}
	}
}

func streamPath(conv, offset string) string {
	return "/conversation/" + conv + "/events/stream?repo=r1&offset=" + offset
}

func TestStreamDeliversAppendedLinesWithinASecond(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	first := assistant(textBlock("before the viewer came"))
	e.src.Append(repo1, busyConv, dashboard.FileEvents, first)
	c, resp := e.openStream(streamPath(busyConv, strconv.Itoa(len(first))))
	if c == nil {
		t.Fatalf("stream: %s", resp.Status)
	}
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if st := c.next(t, "status", 2*time.Second); st.data != "busy" {
		t.Errorf("status event %q", st.data)
	}
	line := assistant(toolUse("toolu_9", "Bash", map[string]any{"command": "go vet ./..."}))
	start := time.Now()
	e.src.Append(repo1, busyConv, dashboard.FileEvents, line)
	ev := c.next(t, "html", time.Second)
	t.Logf("appended line seen after %s", time.Since(start))
	mustContain(t, ev.data, "badge-tool", "go vet ./...")
	mustNotContain(t, ev.data, "before the viewer came")
	if want := strconv.Itoa(len(first) + len(line)); ev.id != want {
		t.Errorf("event id %s, want the offset %s", ev.id, want)
	}
	// The plan and text arrive the same way; agent HTML stays text.
	e.src.Append(repo1, busyConv, dashboard.FileEvents, assistant(textBlock("<script>alert(1)</script>done")))
	ev = c.next(t, "html", time.Second)
	mustNotContain(t, ev.data, "<script>")
	// The conversation goes idle: the stream says so and ends.
	e.src.SetStatus(repo1, busyConv, workflows.Status{State: workflows.StateIdle})
	e.src.Append(repo1, busyConv, dashboard.FileEvents, jsonLine(map[string]any{"type": "result", "subtype": "success", "total_cost_usd": 0.5}))
	ev = c.next(t, "html", 2*time.Second)
	mustContain(t, ev.data, "run finished · $0.5000")
	if st := c.next(t, "status", 3*time.Second); st.data != "idle" {
		t.Errorf("status %q, want idle", st.data)
	}
	c.next(t, "done", 3*time.Second)
}

func TestStreamResumesFromLastEventID(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	c, _ := e.openStream(streamPath(busyConv, "0"))
	one := assistant(toolUse("toolu_1", "Bash", map[string]any{"command": "first-command"}))
	e.src.Append(repo1, busyConv, dashboard.FileEvents, one)
	ev := c.next(t, "html", 2*time.Second)
	mustContain(t, ev.data, "first-command")
	c.close()

	two := assistant(toolUse("toolu_2", "Bash", map[string]any{"command": "second-command"}))
	e.src.Append(repo1, busyConv, dashboard.FileEvents, two)
	// A reconnecting EventSource sends the last id as a header; it wins
	// over the ?offset= of the URL it was opened with.
	c2, resp := e.openStream(streamPath(busyConv, "0"), "Last-Event-ID", ev.id)
	if c2 == nil {
		t.Fatalf("reconnect: %s", resp.Status)
	}
	ev2 := c2.next(t, "html", 2*time.Second)
	mustContain(t, ev2.data, "second-command")
	mustNotContain(t, ev2.data, "first-command")
	if want := strconv.Itoa(len(one) + len(two)); ev2.id != want {
		t.Errorf("id %s, want %s", ev2.id, want)
	}
}

func TestStreamsAreBoundedWith429(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) { o.MaxStreams = 2 })
	e.seed()
	var first *sseClient
	for i := range 2 {
		c, resp := e.openStream(streamPath(busyConv, "0"))
		if c == nil {
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
		first = c
	}
	_, resp := e.openStream(streamPath(busyConv, "0"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("third stream: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	// A client that goes away frees its slot.
	first.close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, resp := e.openStream(streamPath(busyConv, "0"))
		if c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a client left: %s", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Polling still works.
	if body := e.page("/conversation/" + busyConv + "/events/poll?repo=r1&offset=0"); !strings.Contains(body, `"offset"`) {
		t.Errorf("poll: %s", body)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) {
		*o = dashboard.WithTestTimings(*o, 100*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond)
	})
	e.seed()
	c, _ := e.openStream(streamPath(busyConv, "0"))
	if ev := c.next(t, ":", 2*time.Second); ev.data != ": ping" {
		t.Errorf("heartbeat %q", ev.data)
	}
}

func TestStreamOfNetworkLog(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	c, _ := e.openStream("/conversation/" + busyConv + "/network/stream?repo=r1")
	e.src.Append(repo1, busyConv, dashboard.FileNetwork, jsonLine(map[string]any{
		"kind": "http", "method": "PUT", "host": "upload.example.com", "path": "/f", "allowed": false, "reason": "host/path not allowed"}))
	ev := c.next(t, "html", 2*time.Second)
	mustContain(t, ev.data, `<tr class="blocked">`, "BLOCKED", "host: upload.example.com", "methods: [PUT]")
}

func TestPollFallback(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	line := assistant(toolUse("toolu_1", "Grep", map[string]any{"pattern": "TODO"}))
	e.src.Append(repo1, busyConv, dashboard.FileEvents, line)
	var a struct {
		Offset int64
		HTML   string
		Done   bool
		State  string
	}
	get := func(offset int64, etag string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/conversation/%s/events/poll?repo=r1&offset=%d", e.ts.URL, busyConv, offset), nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, body := e.do(req)
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatal(err)
			}
		}
		return resp
	}
	resp := get(0, "")
	if a.Offset != int64(len(line)) || !strings.Contains(a.HTML, "Grep") || a.Done || a.State != "busy" {
		t.Errorf("poll = %+v", a)
	}
	etag := resp.Header.Get("ETag")
	if etag != fmt.Sprintf(`"o%d-false"`, len(line)) {
		t.Errorf("ETag %q", etag)
	}
	if resp := get(a.Offset, etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("unchanged poll: %s, want 304", resp.Status)
	}
	e.src.SetStatus(repo1, busyConv, workflows.Status{State: workflows.StateIdle})
	deadline := time.Now().Add(3 * time.Second)
	for !a.Done && time.Now().Before(deadline) {
		get(int64(len(line)), "")
	}
	if !a.Done || a.State != "idle" {
		t.Errorf("poll after the task ended = %+v", a)
	}
}

// N viewers of one file share one reader: reads do not grow with them.
func TestViewersShareOneReader(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) {
		*o = dashboard.WithTestTimings(*o, 15*time.Second, 500*time.Millisecond, 100*time.Millisecond)
	})
	e.seed()
	const viewers = 6
	var wg sync.WaitGroup
	clients := make([]*sseClient, viewers)
	for i := range viewers {
		c, resp := e.openStream(streamPath(busyConv, "0"))
		if c == nil {
			t.Fatalf("viewer %d: %s", i, resp.Status)
		}
		clients[i] = c
	}
	before := e.src.Reads()
	e.src.Append(repo1, busyConv, dashboard.FileEvents, assistant(toolUse("toolu_1", "Bash", map[string]any{"command": "shared"})))
	for _, c := range clients {
		wg.Go(func() { mustContain(t, c.next(t, "html", 2*time.Second).data, "shared") })
	}
	wg.Wait()
	time.Sleep(time.Second)
	// One tail long-polling every 500 ms does about 3 reads in this time;
	// six independent readers would do 18 or more.
	if n := e.src.Reads() - before; n > 8 {
		t.Errorf("%d reads for %d viewers in about 1.5 s", n, viewers)
	}
}

func TestStreamOfAnUnknownConversationEnds(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	c, resp := e.openStream(streamPath("00000000", "0"))
	if c == nil {
		t.Fatalf("stream: %s", resp.Status)
	}
	if ev := c.next(t, "done", 2*time.Second); ev.data != "no such conversation" {
		t.Errorf("done %q", ev.data)
	}
	if _, resp := e.openStream("/conversation/nothex!/events/stream?repo=r1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bad id: %s", resp.Status)
	}
}

// A line longer than one read (an image the agent looked at, say) comes
// from the Source in pieces: the live view skips it with a note and
// carries on with the next line, showing no fragments of it.
func TestStreamSkipsALineLongerThanARead(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	c, _ := e.openStream(streamPath(busyConv, "0"))
	huge := toolResult("toolu_1", strings.Repeat("A", 600<<10))
	e.src.Append(repo1, busyConv, dashboard.FileEvents,
		assistant(toolUse("toolu_1", "Read", map[string]any{"file_path": "/workspace/big.png"}))+huge+
			assistant(textBlock("after the big one")))
	var all strings.Builder
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(all.String(), "after the big one") && time.Now().Before(deadline) {
		all.WriteString(c.next(t, "html", 3*time.Second).data)
	}
	got := all.String()
	mustContain(t, got, "/workspace/big.png", "a line too long to show was skipped", "after the big one")
	mustNotContain(t, got, "AAAA", "ev-raw")
}

// An http.Server WriteTimeout (one deadline for a whole response) must not
// end a stream: the handler clears it and sets one per write.
func TestStreamOutlivesServerWriteTimeout(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) {
		*o = dashboard.WithTestTimings(*o, 100*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond)
	})
	e.seed()
	e.ts.Close()
	e.ts = httptest.NewUnstartedServer(e.srv.Handler())
	e.ts.Config.WriteTimeout = 300 * time.Millisecond
	e.ts.Start()
	t.Cleanup(e.ts.Close)
	c, resp := e.openStream(streamPath(busyConv, "0"))
	if c == nil {
		t.Fatalf("stream: %s", resp.Status)
	}
	time.Sleep(time.Second)
	e.src.Append(repo1, busyConv, dashboard.FileEvents, assistant(toolUse("toolu_1", "Bash", map[string]any{"command": "still-here"})))
	mustContain(t, c.next(t, "html", 2*time.Second).data, "still-here")
}

// BenchmarkStreamLatency measures how long a line appended to the
// events file takes to reach a connected SSE client (through the hub,
// the renderer and a real HTTP connection; the double wakes a waiting
// read at once, as the local file reader does within 100 ms).
func BenchmarkStreamLatency(b *testing.B) {
	e := newEnv(b, nil)
	e.seed()
	c, resp := e.openStream(streamPath(busyConv, "0"))
	if c == nil {
		b.Fatalf("stream: %s", resp.Status)
	}
	c.next(b, "status", 2*time.Second)
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		cmd := fmt.Sprintf("cmd-%d", i)
		start := time.Now()
		e.src.Append(repo1, busyConv, dashboard.FileEvents, assistant(toolUse("toolu", "Bash", map[string]any{"command": cmd})))
		if ev := c.next(b, "html", 2*time.Second); !strings.Contains(ev.data, cmd) {
			b.Fatalf("got %q", ev.data)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(i), "ms/event")
}
