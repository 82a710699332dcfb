package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/workflows"
)

func TestOverviewListsRowsCountsAndHosts(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.src.Add(dashboard.Row{RepoID: "r2", ConversationID: "cafe0002", Subject: "<script>alert('subject')</script>",
		Channel: "email", Sender: "dave", Status: workflows.StateBusy}, workflows.Status{Busy: true})
	body := e.page("/")
	mustContain(t, body,
		"Fix the flaky test", "Update the docs", "Broken build",
		`href="/conversation/0a1b2c3d?repo=r1"`, `href="/conversation/cafe0001?repo=r2"`,
		"&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;",
		// counts per state
		`<li class="count state-busy"><span class="n">2</span> busy</li>`,
		`<li class="count state-idle"><span class="n">1</span> idle</li>`,
		`<li class="count state-failed"><span class="n">1</span> failed</li>`,
		`<li class="count state-queued"><span class="n">0</span> queued</li>`,
		`<span class="n">4</span> in all`,
		// hosts with their slots
		"<td>h1</td><td>2</td><td>1</td><td>yes</td>",
		"<td>h2</td><td>0</td><td>4</td><td><strong>no</strong></td>",
	)
	mustNotContain(t, body, "<script>alert")
}

func TestOverviewFiltersPassThroughToList(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	body := e.page("/?repo=r1&channel=email&sender=alice%40example.com&status=busy&q=flaky")
	want := dashboard.Filter{Repo: "r1", Channel: "email", Sender: "alice@example.com", Status: "busy", Text: "flaky"}
	found := false
	for _, f := range e.src.Filters() {
		found = found || f == want
	}
	if !found {
		t.Errorf("List was called with %+v, want %+v among them", e.src.Filters(), want)
	}
	mustContain(t, body, "Fix the flaky test", `<option value="r1" selected>`, `<option value="busy" selected>`,
		`name="sender" value="alice@example.com"`, `name="q" value="flaky"`)
	mustNotContain(t, body, "Update the docs", "Broken build")
	// The counts are over the other filters, all statuses.
	mustContain(t, body, `<li class="count state-busy"><span class="n">1</span> busy</li>`)
}

func TestConversationPageShowsThreadActivityAndLinks(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.src.Append(repo1, busyConv, dashboard.FileEvents,
		jsonLine(map[string]any{"type": "system", "subtype": "init", "model": "claude-opus"})+
			assistant(toolUse("toolu_1", "TodoWrite", map[string]any{"todos": []any{
				map[string]any{"content": "Find the flake", "status": "completed", "activeForm": "Finding"},
				map[string]any{"content": "Fix it", "status": "in_progress", "activeForm": "Fixing"},
			}}))+
			assistant(textBlock("Let me look at the *test*."), toolUse("toolu_2", "Bash", map[string]any{"command": "go test -run TestFlaky ./..."}))+
			toolResult("toolu_2", "ok  \tgithub.com/o/r\t0.1s"))
	for _, path := range []string{"/conversation/" + busyConv, "/conversation/" + repo1 + "/" + busyConv, "/conversation/" + busyConv + "?repo=r1"} {
		body := e.page(path)
		mustContain(t, body,
			"<h1>Fix the flaky test</h1>",
			// thread: task, reply Markdown, stats, messages
			"retry asked by bob (dashboard)", "open · checks failed: lint",
			"Task t1", "The test is <strong>fixed</strong> now.", "<li>one</li>", "1m30s", "7 turns", "12,000 in", "3,400 out", "$0.2500",
			"Please fix <code>TestFlaky</code>.", "Also run it 10 times.", "Task t2",
			// live activity: the tool call, its result, text and plan
			`<span class="badge badge-tool">Bash</span> <code>go test -run TestFlaky ./...</code>`,
			`<span class="tool-name">Bash</span> result`, "Let me look at the <em>test</em>.", "session started · model claude-opus",
			`<input type="checkbox" disabled checked> <span>Find the flake</span>`, "<span>Fix it</span> <em>(in progress)</em>",
			// links, PR, actions
			`href="http://127.0.0.1:8233/namespaces/default/workflows/airut%2Fr1%2F0a1b2c3d"`,
			`href="https://github.com/o/r/pull/7"`, "open",
			`action="/conversation/0a1b2c3d/stop"`, `action="/conversation/0a1b2c3d/send"`, `<textarea name="text"`,
			`data-stream="/conversation/0a1b2c3d/events/stream?repo=r1"`,
		)
		// Nothing to retry while busy: the form is there for the page
		// script (which shows it when the state allows), hidden.
		mustContain(t, body, `action="/conversation/0a1b2c3d/retry" data-when="failed stopped" hidden>`)
		mustNotContain(t, body, `action="/conversation/0a1b2c3d/stop" data-when="busy" hidden`)
	}
}

func TestConversationUnknownIs404(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	for _, path := range []string{"/conversation/00000000", "/conversation/00000000?repo=r1", "/conversation/notanid", "/conversation/r1/ZZZ"} {
		if resp, _ := e.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

func TestAgentOutputIsShownAsTextNeverAsMarkup(t *testing.T) {
	e := newEnv(t, nil)
	evil := "Look: <script>alert(1)</script> and <img src=x onerror=alert(2)> and [click me](javascript:alert(3)) " +
		"and [tab](java\tscript:alert(4)) and <javascript:alert(5)> and ![pic](javascript:alert(6))"
	e.src.Add(dashboard.Row{RepoID: repo1, ConversationID: busyConv, Subject: "x", Status: workflows.StateBusy},
		workflows.Status{State: workflows.StateBusy, Busy: true, PR: "javascript:alert(11)", Tasks: []workflows.TaskSummary{{
			TaskID: "t1", Outcome: workflows.OutcomeSuccess, Reply: evil, Error: "<script>alert(7)</script>",
		}}})
	e.src.Append(repo1, busyConv, dashboard.FileEvents,
		assistant(textBlock(evil), toolUse("toolu_1", "Bash", map[string]any{"command": "echo '<script>alert(8)</script>'"}))+
			toolResult("toolu_1", "<img src=x onerror=alert(9)>")+
			"not json <script>alert(10)</script>\n")
	body := e.page("/conversation/" + busyConv + "?repo=r1")
	mustNotContain(t, body, "<script>alert", "<img src=x", "onerror=alert(2)>", `href="javascript:`, "javascript:alert(3)\"", `href="javascript:alert(11)"`,
		`href="java`, "<img")
	mustContain(t, body, "click me", "&lt;script&gt;alert(8)&lt;/script&gt;", "&lt;img src=x onerror=alert(9)&gt;",
		"&lt;script&gt;alert(10)&lt;/script&gt;", "&lt;script&gt;alert(7)&lt;/script&gt;")
	if n := strings.Count(body, "<script"); n != 1 {
		t.Errorf("%d <script> tags, want only the dashboard's own", n)
	}
}

func TestNetworkPageMarksBlockedAndSuggestsEntries(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	line := func(m map[string]any) string { return jsonLine(m) }
	e.src.Append(repo1, busyConv, dashboard.FileNetwork,
		line(map[string]any{"time": t0, "kind": "http", "method": "GET", "host": "api.github.com", "path": "/repos/o/r", "status": 200, "allowed": true, "reason": "allowed by domains"})+
			line(map[string]any{"time": t0, "kind": "http", "method": "POST", "host": "evil.example.com", "path": "/upload%20it", "status": 403, "allowed": false, "reason": "host/path not allowed"})+
			line(map[string]any{"time": t0, "kind": "http", "method": "GET", "host": "evil.example.com", "path": "/upload%20it", "status": 403, "allowed": false, "reason": "host/path not allowed"})+
			line(map[string]any{"time": t0, "kind": "tcp", "host": "203.0.113.9:22", "allowed": false, "reason": "raw_tcp_blocked"})+
			line(map[string]any{"time": t0, "kind": "dns", "method": "AAAA", "host": "example.com", "allowed": false, "reason": "NOTIMP"})+
			line(map[string]any{"time": t0, "kind": "http", "method": "GET", "host": "x.test", "path": "/a/../b", "allowed": false, "reason": "path not allowed (NUL, backslash, dot-dot segment or '#')"})+
			line(map[string]any{"time": t0, "kind": "http", "method": "GET", "host": "<b>bold</b>", "path": "/<script>", "allowed": false, "reason": "host/path not allowed"}))
	body := e.page("/conversation/" + busyConv + "/network?repo=r1")
	mustContain(t, body,
		`<tr class="allowed">`, "api.github.com",
		`<tr class="blocked">`, `<strong class="mark-blocked">BLOCKED</strong>`, "evil.example.com",
		// per-request and merged suggestions
		"host: evil.example.com\n", "path: /upload it\n", "methods: [POST]\n", "methods: [POST, GET]\n",
		"raw TCP: never allowed", `<tr class="refused">`, "this path can never be allowed",
		"&lt;b&gt;bold&lt;/b&gt;",
		`data-stream="/conversation/0a1b2c3d/network/stream?repo=r1"`,
	)
	mustNotContain(t, body, "<b>bold</b>", "<script>\"")
	if n := strings.Count(body, "BLOCKED</strong>"); n != 5 {
		t.Errorf("%d requests marked BLOCKED, want 5 (3 HTTP to evil/x.test/bold, 1 TCP... )", n)
	}
}

func TestRepoPageShowsSettingsAllowlistConversationsAndCost(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.src.SetStatus(repo1, busyConv, workflows.Status{State: workflows.StateIdle, Tasks: []workflows.TaskSummary{
		{TaskID: "t1", FinishedAt: t0, CostUSD: 0.25},
		{TaskID: "t2", FinishedAt: t0.Add(24 * time.Hour), CostUSD: 1.5},
	}})
	body := e.page("/repo/r1")
	mustContain(t, body, "Repo r1", "<dt>model</dt><dd><code>opus</code></dd>", "<code>GH_TOKEN</code>", "<code>ANTHROPIC_API_KEY</code>",
		"names only", "api.github.com", "Fix the flaky test", "Update the docs",
		// t1 of both conversations on 2026-03-01 ($0.25 + $0.50), t2 the day after
		"<td>2026-03-02</td><td>1</td><td>$1.5000</td>", "<td>2026-03-01</td><td>2</td><td>$0.7500</td>", "<td>$2.2500</td>")
	mustNotContain(t, body, "Broken build")
	if resp, _ := e.get("/repo/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo: %s", resp.Status)
	}
}

func TestAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	if body := e.page("/api/health"); !strings.Contains(body, `"status": "ok"`) {
		t.Errorf("health: %s", body)
	}
	var got struct {
		Conversations []struct {
			Repo, Conversation, Subject, Status, URL string
		}
	}
	if err := json.Unmarshal([]byte(e.page("/api/conversations?repo=r1")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Conversations) != 2 || got.Conversations[0].Conversation != busyConv || got.Conversations[0].Status != "busy" ||
		got.Conversations[0].URL != "/conversation/0a1b2c3d?repo=r1" {
		t.Errorf("conversations = %+v", got.Conversations)
	}
}

// The pages are complete HTML without JavaScript: their content is in the
// markup, forms post without script, and there is no inline script,
// style or event handler (the CSP would block them anyway).
func TestPagesWorkWithoutJavaScript(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.src.Append(repo1, busyConv, dashboard.FileEvents, assistant(toolUse("toolu_1", "Bash", map[string]any{"command": "make test"})))
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\sstyle\s*=|<style|\son[a-z]+\s*=`)
	for _, path := range []string{"/", "/conversation/" + busyConv, "/conversation/" + busyConv + "/network?repo=r1", "/repo/r1", "/conversation/cafe0001?repo=r2"} {
		body := e.page(path)
		if m := inline.FindString(body); m != "" {
			t.Errorf("%s has inline script or style: %q", path, m)
		}
		mustContain(t, body, `<script src="/static/app.js?v=`, `<link rel="stylesheet" href="/static/style.css?v=`)
	}
	conv := e.page("/conversation/" + busyConv)
	mustContain(t, conv, "make test", `<form method="post" action="/conversation/0a1b2c3d/stop" data-when="busy">`, `<input type="hidden" name="repo" value="r1">`)
	retry := e.page("/conversation/cafe0001?repo=r2")
	mustContain(t, retry, `<form method="post" action="/conversation/cafe0001/retry" data-when="failed stopped">`, "container exited 137")
	for _, f := range []string{"/static/app.js", "/static/style.css"} {
		if resp, _ := e.get(f); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", f, resp.Status)
		}
	}
}

func TestLongRunShowsItsEnd(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	var b strings.Builder
	b.WriteString(assistant(textBlock("earlier run")) + "\n")
	for i := range 400 {
		b.WriteString(assistant(toolUse(fmt.Sprintf("toolu_%d", i), "Bash", map[string]any{"command": fmt.Sprintf("step %d", i)})))
	}
	e.src.Append(repo1, busyConv, dashboard.FileEvents, b.String())
	body := e.page("/conversation/" + busyConv + "?repo=r1")
	mustContain(t, body, "step 399", "100 earlier items of this run are not shown.")
	mustNotContain(t, body, "earlier run", "<code>step 99</code>")
}
