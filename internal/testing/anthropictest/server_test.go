package anthropictest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testKey = "sk-ant-test-0123456789"

// claudePath finds the claude CLI or fails the test.
func claudePath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("claude")
	if err != nil {
		t.Fatalf("the Claude Code CLI `claude` is not on PATH (%v): run `npm install -g @anthropic-ai/claude-code`", err)
	}
	return p
}

// sandbox is a temp git repo to run claude in, with a private HOME and
// TMPDIR.
type sandbox struct {
	repo, home, tmp string
	// env, when set, replaces ClientEnv(srv.URL(), apiKey) for claude runs.
	env []string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	claudePath(t)
	root := t.TempDir()
	sb := &sandbox{repo: filepath.Join(root, "repo"), home: filepath.Join(root, "home"), tmp: filepath.Join(root, "tmp")}
	for _, d := range []string{sb.repo, sb.home, sb.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "Test"},
		{"config", "user.email", "test@example.com"},
		{"config", "commit.gpgsign", "false"},
	} {
		if out, err := sb.git(args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return sb
}

func (sb *sandbox) git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = sb.repo
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + sb.home, "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run is one finished claude run.
type run struct {
	events   []map[string]any
	stdout   string
	stderr   string
	exitCode int
	took     time.Duration
}

// claude runs `claude -p --output-format stream-json --verbose
// --dangerously-skip-permissions args…` in the sandbox with prompt on stdin.
func (sb *sandbox) claude(t *testing.T, srv *Server, apiKey, prompt string, args ...string) run {
	t.Helper()
	bin := claudePath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	argv := append([]string{"-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Dir = sb.repo
	clientEnv := ClientEnv(srv.URL(), apiKey)
	if sb.env != nil {
		clientEnv = sb.env
	}
	// A clean environment: nothing of the caller's ANTHROPIC_*, CLAUDE_* …
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + sb.home,
		"CLAUDE_CONFIG_DIR=" + filepath.Join(sb.home, ".claude"),
		"TMPDIR=" + sb.tmp,
		"LANG=C.UTF-8",
		"GIT_CONFIG_NOSYSTEM=1",
	}, clientEnv...)
	cmd.Stdin = strings.NewReader(prompt)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("claude %v did not finish in time: %v\nstdout:\n%s\nstderr:\n%s", args, ctx.Err(), r.stdout, r.stderr)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.exitCode = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("claude: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %v\n%s", err, line)
		}
		r.events = append(r.events, ev)
	}
	t.Logf("claude %v: exit %d in %v, %d events", args, r.exitCode, r.took.Round(time.Millisecond), len(r.events))
	return r
}

// find returns the events with the given type (and subtype, if not "").
func (r run) find(typ, subtype string) []map[string]any {
	var out []map[string]any
	for _, ev := range r.events {
		if ev["type"] == typ && (subtype == "" || ev["subtype"] == subtype) {
			out = append(out, ev)
		}
	}
	return out
}

// result returns the single result event.
func (r run) result(t *testing.T) map[string]any {
	t.Helper()
	res := r.find("result", "")
	if len(res) != 1 {
		t.Fatalf("want 1 result event, got %d\nstdout:\n%s\nstderr:\n%s", len(res), r.stdout, r.stderr)
	}
	return res[0]
}

// blocks returns the content blocks of the given type from the message
// events of type typ ("assistant" or "user").
func (r run) blocks(typ, blockType string) []map[string]any {
	var out []map[string]any
	for _, ev := range r.find(typ, "") {
		msg, _ := ev["message"].(map[string]any)
		content, _ := msg["content"].([]any)
		for _, c := range content {
			if b, ok := c.(map[string]any); ok && b["type"] == blockType {
				out = append(out, b)
			}
		}
	}
	return out
}

func (r run) dump(t *testing.T) {
	t.Helper()
	t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
}

func TestClaudeRunsBashAndReplies(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	sb := newSandbox(t)
	r := sb.claude(t, srv, testKey, "Please commit.\nRUN: git commit --allow-empty -m from-agent\nREPLY: committed\n")

	if log, err := sb.git("log", "--format=%s"); err != nil || !strings.Contains(log, "from-agent") {
		r.dump(t)
		t.Fatalf("git log = %q, %v; want the agent's commit from-agent", log, err)
	}
	if r.exitCode != 0 {
		r.dump(t)
		t.Fatalf("exit code %d, want 0", r.exitCode)
	}
	inits := r.find("system", "init")
	if len(inits) != 1 || inits[0]["session_id"] == "" || inits[0]["session_id"] == nil {
		r.dump(t)
		t.Fatalf("want one system/init event with a session_id, got %v", inits)
	}
	uses := r.blocks("assistant", "tool_use")
	if len(uses) != 1 || uses[0]["name"] != "Bash" {
		r.dump(t)
		t.Fatalf("want one Bash tool_use, got %v", uses)
	}
	input, _ := uses[0]["input"].(map[string]any)
	if input["command"] != "git commit --allow-empty -m from-agent" {
		t.Errorf("tool_use input = %v", input)
	}
	results := r.blocks("user", "tool_result")
	if len(results) != 1 || results[0]["tool_use_id"] != uses[0]["id"] {
		r.dump(t)
		t.Fatalf("want one tool_result for %v, got %v", uses[0]["id"], results)
	}
	if c, _ := results[0]["content"].(string); !strings.Contains(c, "from-agent") {
		t.Errorf("tool_result content = %v, want git's commit summary", results[0]["content"])
	}

	res := r.result(t)
	if res["subtype"] != "success" || res["result"] != "committed" || res["is_error"] != false {
		r.dump(t)
		t.Fatalf("result event = %v; want success, result \"committed\", is_error false", res)
	}
	if cost, _ := res["total_cost_usd"].(float64); cost <= 0 {
		t.Errorf("total_cost_usd = %v, want > 0", res["total_cost_usd"])
	}
	if res["session_id"] != inits[0]["session_id"] {
		t.Errorf("result session_id %v != init session_id %v", res["session_id"], inits[0]["session_id"])
	}
	if n, _ := res["num_turns"].(float64); n != 2 {
		t.Errorf("num_turns = %v, want 2", res["num_turns"])
	}

	// The model saw the tool result on its second call.
	var main []Request
	for _, q := range srv.Requests() {
		if !q.Side {
			main = append(main, q)
		}
	}
	if len(main) != 2 {
		t.Fatalf("want 2 main-loop requests, got %d: %+v", len(main), main)
	}
	last := main[1].Messages
	var sawResult bool
	for _, m := range last {
		for _, b := range m.Content {
			if b.Type == "tool_result" && strings.Contains(b.ResultText(), "from-agent") {
				sawResult = true
			}
		}
	}
	if !sawResult {
		t.Errorf("second request lacks the tool_result: %s", main[1].Body)
	}
	for _, q := range srv.Requests() {
		t.Logf("request: model=%s stream=%v side=%v tools=%d answer=%q", q.Model, q.Stream, q.Side, len(q.Tools), q.Answer)
	}
	for _, q := range srv.OtherRequests() {
		t.Logf("other request: %s %s", q.Method, q.Path)
	}
}

func TestClaudeResumeKeepsConversation(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	sb := newSandbox(t)
	first := sb.claude(t, srv, testKey, "Remember the word pelican.\nREPLY: noted\n")
	res1 := first.result(t)
	if res1["result"] != "noted" {
		first.dump(t)
		t.Fatalf("first result = %v", res1["result"])
	}
	session, _ := res1["session_id"].(string)
	if session == "" {
		t.Fatalf("no session_id in %v", res1)
	}
	n := len(srv.Requests())

	second := sb.claude(t, srv, testKey, "What did I say?\nRECALL\n", "--resume", session)
	if second.exitCode != 0 {
		second.dump(t)
		t.Fatalf("exit code %d", second.exitCode)
	}
	res2 := second.result(t)
	want := "I remember: Remember the word pelican."
	if res2["result"] != want {
		second.dump(t)
		t.Fatalf("resumed result = %q, want %q", res2["result"], want)
	}
	if res2["session_id"] != session {
		t.Errorf("resumed session_id = %v, want %v (the resumed session)", res2["session_id"], session)
	}
	if inits := second.find("system", "init"); len(inits) != 1 || inits[0]["session_id"] != session {
		t.Errorf("resumed init event = %v, want session_id %v", inits, session)
	}

	var found bool
	for _, q := range srv.Requests()[n:] {
		if q.Side {
			continue
		}
		for _, m := range q.Messages {
			if m.Role == "user" && strings.Contains(m.Text(), "Remember the word pelican.") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no request of the resumed run carried the first run's prompt")
	}
}

func TestClaudePromptTooLong(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	sb := newSandbox(t)
	r := sb.claude(t, srv, testKey, "Huge.\nFAIL: prompt-too-long\n")
	if r.exitCode == 0 {
		r.dump(t)
		t.Fatalf("exit code 0, want non-zero")
	}
	if !strings.Contains(r.stdout, "Prompt is too long") {
		r.dump(t)
		t.Fatalf("stdout lacks \"Prompt is too long\"")
	}
	res := r.result(t)
	if res["is_error"] != true {
		t.Errorf("result is_error = %v, want true", res["is_error"])
	}
	t.Logf("exit %d; result event: %v; stderr: %q", r.exitCode, res, r.stderr)
}

func TestClaudeServerError(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	sb := newSandbox(t)
	r := sb.claude(t, srv, testKey, "FAIL: 500\n")
	if r.exitCode == 0 {
		r.dump(t)
		t.Fatalf("exit code 0, want non-zero")
	}
	if r.took > 30*time.Second {
		t.Errorf("a 500 took %v to end the run; CLAUDE_CODE_MAX_RETRIES=0 should stop retries", r.took)
	}
	res := r.result(t)
	if res["is_error"] != true {
		t.Errorf("result is_error = %v, want true", res["is_error"])
	}
	var main int
	for _, q := range srv.Requests() {
		if !q.Side {
			main++
		}
	}
	if main != 1 {
		t.Errorf("%d main-loop requests, want 1 (CLAUDE_CODE_MAX_RETRIES=0)", main)
	}
	t.Logf("exit %d after %d main requests; result event: %v; stderr: %q", r.exitCode, main, res, r.stderr)
}

func TestClaudeSendsAPIKey(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithAPIKey(testKey))
	sb := newSandbox(t)
	r := sb.claude(t, srv, testKey, "REPLY: hello")
	if res := r.result(t); res["result"] != "hello" {
		r.dump(t)
		t.Fatalf("result = %v", res["result"])
	}
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("no requests recorded")
	}
	for _, q := range reqs {
		if q.APIKey != testKey {
			t.Errorf("x-api-key = %q, want %q", q.APIKey, testKey)
		}
		if q.Authorization != "" {
			t.Errorf("authorization = %q, want none with an API key", q.Authorization)
		}
		if q.AnthropicVersion != "2023-06-01" {
			t.Errorf("anthropic-version = %q", q.AnthropicVersion)
		}
		if q.Model == "" || len(q.Messages) == 0 {
			t.Errorf("request not decoded: model %q, %d messages", q.Model, len(q.Messages))
		}
	}
}

func TestClaudeWrongAPIKey(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithAPIKey(testKey))
	sb := newSandbox(t)
	r := sb.claude(t, srv, "sk-ant-wrong", "REPLY: hello")
	if r.exitCode == 0 {
		r.dump(t)
		t.Fatal("exit code 0 with a wrong key")
	}
	res := r.result(t)
	if res["is_error"] != true {
		t.Errorf("is_error = %v", res["is_error"])
	}
	t.Logf("exit %d; result %q", r.exitCode, res["result"])
}

func TestClaudeTodoAndSeveralRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		env      []string
		wantCall string
	}{
		// Claude Code 2.1 offers TaskCreate/TaskUpdate… instead of TodoWrite,
		// unless CLAUDE_CODE_ENABLE_TASKS=0.
		{"tasks", nil, "TaskCreate,TaskCreate,Bash,Bash"},
		{"todowrite", []string{"CLAUDE_CODE_ENABLE_TASKS=0"}, "TodoWrite,Bash,Bash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := NewServer(t)
			sb := newSandbox(t)
			sb.env = append(ClientEnv(srv.URL(), testKey), tc.env...)
			r := sb.claude(t, srv, testKey, "TODO: write file; show it\nRUN: echo one > f.txt\nRUN: cat f.txt\n")
			if r.exitCode != 0 {
				r.dump(t)
				t.Fatalf("exit code %d", r.exitCode)
			}
			var names []string
			for _, b := range r.blocks("assistant", "tool_use") {
				names = append(names, b["name"].(string))
			}
			if got := strings.Join(names, ","); got != tc.wantCall {
				r.dump(t)
				t.Fatalf("tool calls = %s, want %s", got, tc.wantCall)
			}
			for _, b := range r.blocks("user", "tool_result") {
				if b["is_error"] == true {
					t.Errorf("tool error: %v", b)
				}
			}
			if res := r.result(t); res["result"] != "Done.\none" {
				r.dump(t)
				t.Fatalf("result = %q, want the default \"Done.\\none\"", res["result"])
			}
		})
	}
}

// TestClaudeSideCalls lets the CLI make its non-essential calls: it then
// asks for a session title (no tools, a json_schema output format), which
// must not disturb the scripted main loop. Traffic to Anthropic's own hosts
// goes to a local proxy that refuses it.
func TestClaudeSideCalls(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	refuse := NewServer(t) // answers CONNECT with 404: a dead end for the proxy
	sb := newSandbox(t)
	for _, e := range ClientEnv(srv.URL(), testKey) {
		if !strings.HasPrefix(e, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=") {
			sb.env = append(sb.env, e)
		}
	}
	sb.env = append(sb.env, "HTTPS_PROXY="+refuse.URL(), "HTTP_PROXY="+refuse.URL(), "NO_PROXY=127.0.0.1")
	r := sb.claude(t, srv, testKey, "RUN: true\nREPLY: fine\n")
	if res := r.result(t); r.exitCode != 0 || res["result"] != "fine" {
		r.dump(t)
		t.Fatalf("exit %d, result %v", r.exitCode, res["result"])
	}
	var side []Request
	for _, q := range srv.Requests() {
		if q.Side {
			side = append(side, q)
		}
	}
	if len(side) == 0 {
		t.Fatal("no side call; did the CLI stop asking for session titles?")
	}
	for _, q := range side {
		t.Logf("side call: model %s, system %q → %s", q.Model, bound(q.System, 160), q.Answer)
	}
	for _, q := range refuse.OtherRequests() {
		t.Logf("refused proxy request: %s %s", q.Method, q.Host)
	}
}

// TestNonStreaming checks the JSON answer and the SSE answer directly.
func TestNonStreaming(t *testing.T) {
	srv := NewServer(t)
	if u, err := url.Parse(srv.URL()); err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("URL %q is not on 127.0.0.1", srv.URL())
	}
	body := `{"model":"claude-sonnet-4-5","max_tokens":100,"tools":[{"name":"Bash"}],
		"messages":[{"role":"user","content":"RUN: ls\nREPLY: ok"}]}`
	resp, err := http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg struct {
		Model      string
		StopReason string `json:"stop_reason"`
		Content    []Block
		Usage      struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		t.Fatal(err)
	}
	if msg.Model != "claude-sonnet-4-5" || msg.StopReason != "tool_use" || len(msg.Content) != 1 ||
		msg.Content[0].Name != "Bash" || string(msg.Content[0].Input) == "" || msg.Usage.InputTokens == 0 {
		t.Fatalf("unexpected answer %+v", msg)
	}

	body = `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"tools":[{"name":"Bash"}],
		"messages":[{"role":"user","content":"hi\nREPLY: hello there, friend"}]}`
	resp2, err := http.Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var events []string
	var text strings.Builder
	sc := bufio.NewScanner(resp2.Body)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			events = append(events, name)
		}
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev struct{ Delta struct{ Text string } }
			_ = json.Unmarshal([]byte(data), &ev)
			text.WriteString(ev.Delta.Text)
		}
	}
	if events[0] != "message_start" || events[len(events)-1] != "message_stop" || text.String() != "hello there, friend" {
		t.Fatalf("events %v, text %q", events, text.String())
	}
	if reqs := srv.Requests(); len(reqs) != 2 || reqs[1].Messages[0].Text() != "hi\nREPLY: hello there, friend" || !reqs[1].Stream {
		t.Fatalf("recorded %+v", reqs)
	}
}

func post(t *testing.T, srv *Server, path, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type apiError struct {
	Type  string
	Error struct {
		Type    string
		Message string
	}
	RequestID string `json:"request_id"`
}

func TestDelayAndAPIKey(t *testing.T) {
	srv := NewServer(t, WithDelay(150*time.Millisecond), WithAPIKey("good"))
	body := `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	start := time.Now()
	resp, b := post(t, srv, "/v1/messages", "bad", body)
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 150ms", took)
	}
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 401 || e.Type != "error" ||
		e.Error.Type != "authentication_error" || e.Error.Message != "invalid x-api-key" || e.RequestID == "" {
		t.Fatalf("wrong key: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, srv, "/v1/messages", "good", body); resp.StatusCode != 200 {
		t.Fatalf("right key: %d %s", resp.StatusCode, b)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].APIKey != "bad" || reqs[0].Answer != "error 401: invalid x-api-key" ||
		reqs[1].APIKey != "good" || reqs[1].Model != "claude-haiku-4-5" || !reqs[1].Side {
		t.Fatalf("recorded %+v", reqs)
	}
}

func TestFailDirectives(t *testing.T) {
	srv := NewServer(t)
	for _, tc := range []struct {
		directive string
		status    int
		errType   string
		message   string
	}{
		{"prompt-too-long", 400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"},
		{"500", 500, "api_error", "Internal server error"},
		{"529", 529, "overloaded_error", "Overloaded"},
		{"429", 429, "rate_limit_error", ""},
	} {
		body := `{"model":"claude-sonnet-4-5","max_tokens":10,"tools":[{"name":"Bash"}],"stream":true,
			"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},
			{"type":"text","text":"go\nFAIL: ` + tc.directive + `"}]}]}`
		resp, b := post(t, srv, "/v1/messages", "k", body)
		var e apiError
		if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != tc.status || e.Error.Type != tc.errType ||
			(tc.message != "" && e.Error.Message != tc.message) {
			t.Errorf("FAIL: %s → %d %s", tc.directive, resp.StatusCode, b)
		}
	}
}

func TestSideCallsAndOtherPaths(t *testing.T) {
	srv := NewServer(t)
	body := `{"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"RUN: rm -rf /"}],
		"output_config":{"format":{"type":"json_schema","schema":{"type":"object","required":["title","tags","ok"],
		"properties":{"title":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"ok":{"type":"boolean"}}}}}}`
	resp, b := post(t, srv, "/v1/messages", "k", body)
	var msg struct {
		StopReason string `json:"stop_reason"`
		Content    []Block
	}
	if err := json.Unmarshal(b, &msg); err != nil || resp.StatusCode != 200 || len(msg.Content) != 1 || msg.StopReason != "end_turn" {
		t.Fatalf("side call: %d %s", resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(msg.Content[0].Text), &out); err != nil || out["title"] == nil || out["tags"] == nil || out["ok"] != true {
		t.Fatalf("side call answer %q is not an instance of the schema", msg.Content[0].Text)
	}

	resp, b = post(t, srv, "/v1/messages/count_tokens", "k", body)
	var ct struct {
		InputTokens int `json:"input_tokens"`
	}
	if err := json.Unmarshal(b, &ct); err != nil || resp.StatusCode != 200 || ct.InputTokens <= 0 {
		t.Fatalf("count_tokens: %d %s", resp.StatusCode, b)
	}
	if r, err := http.Head(srv.URL() + "/"); err != nil || r.StatusCode != 200 {
		t.Fatalf("HEAD /: %v %v", r, err)
	}
	if others := srv.OtherRequests(); len(others) != 2 || others[0].Path != "/v1/messages/count_tokens" || others[1].Method != "HEAD" {
		t.Fatalf("other requests %+v", others)
	}
}

func TestScriptIsStateless(t *testing.T) {
	user := func(text string) Message {
		return Message{Role: "user", Content: []Block{
			{Type: "text", Text: "<system-reminder>\nRUN: not me\n</system-reminder>"},
			{Type: "text", Text: text},
		}}
	}
	toolUse := func(cmd string) Message {
		in, _ := json.Marshal(map[string]string{"command": cmd})
		return Message{Role: "assistant", Content: []Block{{Type: "tool_use", ID: "t1", Name: "Bash", Input: in}}}
	}
	result := func(out string) Message {
		c, _ := json.Marshal(out)
		return Message{Role: "user", Content: []Block{{Type: "tool_result", ToolUseID: "t1", Content: c}}}
	}
	tools := []string{"Bash"}
	first := user("first prompt\nRUN: a\nRUN: b")
	cases := []struct {
		msgs []Message
		want string
	}{
		{[]Message{first}, "tool_use Bash: a"},
		{[]Message{first, toolUse("a"), result("out a")}, "tool_use Bash: b"},
		{[]Message{first, toolUse("a"), result("out a"), toolUse("b"), result("  out b\n")}, "text: Done.\nout b"},
		{[]Message{first, toolUse("a"), result("x"), {Role: "assistant", Content: []Block{{Type: "text", Text: "ok"}}},
			user("second\nREPLY: yes\nRECALL")}, "text: yes\nI remember: first prompt"},
		{[]Message{user("plain")}, "text: Done."},
	}
	for i, c := range cases {
		turn := scriptTurn(c.msgs, tools)
		got := turn.summary()
		if len(turn.blocks) == 1 && turn.blocks[0].typ == "tool_use" {
			got = "tool_use Bash: " + turn.blocks[0].input.(map[string]any)["command"].(string)
		}
		if got != c.want {
			t.Errorf("case %d: got %q, want %q", i, got, c.want)
		}
	}
}
