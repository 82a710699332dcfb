package sandbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/claudebin"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/netnstest"
	"github.com/airut-go/airut/internal/testing/testcert"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/sandbox"
)

// fakeClaude stands in for the CLI where only its output matters: it
// prints what the FAKE_* variables say, then exits or hangs until killed.
const fakeClaude = `#!/bin/sh
cat >/dev/null
printf '%s' "$FAKE_STDOUT"
printf '%s' "$FAKE_STDERR" >&2
if [ -n "$FAKE_RUNAWAY" ]; then head -c 17000000 /dev/zero | tr '\0' x; fi
if [ -n "$FAKE_HANG" ]; then exec sleep 600; fi
exit ${FAKE_EXIT:-0}
`

// Stream lines as Claude Code prints them.
const (
	initLine   = `{"type":"system","subtype":"init","session_id":"s1"}` + "\n"
	textLine   = `{"type":"assistant","message":{"content":[{"type":"text","text":"All fixed."}]}}` + "\n"
	toolLine   = `{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","id":"t1","input":{}}]}}` + "\n"
	resultLine = `{"type":"result","session_id":"s1","result":"All fixed.","total_cost_usd":0.25,"num_turns":2,"usage":{"input_tokens":10,"output_tokens":5}}` + "\n"
)

// How a Claude run ended decides its result: the reply, the timeout,
// prompt too long, a corrupted session, the failure with its stderr, the
// cut at a runaway line, and a cancel that keeps the session and the
// tokens used so far.
func TestClaudeOutcomes(t *testing.T) {
	sb, _ := sandboxForTest(t, 0)
	image := baseOverlay(t, sb)
	bin := filepath.Join(t.TempDir(), "claude")
	if err := os.WriteFile(bin, []byte(fakeClaude), 0o755); err != nil {
		t.Fatal(err)
	}
	const (
		sInit  = `{"type":"system","subtype":"init","session_id":"s-new"}` + "\n"
		block1 = `{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Looking."}],"usage":{"input_tokens":100,"output_tokens":1}}}` + "\n"
		block2 = `{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","name":"Bash","id":"t1","input":{}}],"usage":{"input_tokens":100,"output_tokens":20}}}` + "\n"
		second = `{"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":"Still going."}],"usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":300}}}` + "\n"
	)
	tests := []struct {
		name     string
		env      map[string]string
		timeout  time.Duration
		cancelAt int // cancel on this event (1-based); 0: never
		want     sandbox.Result
	}{
		{name: "success", env: map[string]string{"FAKE_STDOUT": initLine + toolLine + textLine + resultLine},
			want: sandbox.Result{Outcome: sandbox.OutcomeSuccess, Finished: true, Response: "All fixed.", SessionID: "s1", CostUSD: 0.25, NumTurns: 2,
				Usage: sandbox.Usage{InputTokens: 10, OutputTokens: 5}}},
		{name: "failure shows stderr", env: map[string]string{"FAKE_STDOUT": initLine, "FAKE_STDERR": "node: out of disk\n", "FAKE_EXIT": "1"},
			want: sandbox.Result{Outcome: sandbox.OutcomeContainerFailed, ExitCode: 1, ErrorSummary: "node: out of disk", SessionID: "s1"}},
		{name: "prompt too long", env: map[string]string{"FAKE_STDOUT": initLine + `{"type":"result","session_id":"s1","is_error":true,"result":"Prompt is too long"}` + "\n", "FAKE_EXIT": "1"},
			want: sandbox.Result{Outcome: sandbox.OutcomePromptTooLong, Finished: true, ExitCode: 1, ErrorSummary: "Prompt is too long", SessionID: "s1"}},
		{name: "session corrupted", env: map[string]string{"FAKE_STDOUT": initLine, "FAKE_STDERR": "API Error: 400 tool_use ids must be unique\n", "FAKE_EXIT": "1"},
			want: sandbox.Result{Outcome: sandbox.OutcomeSessionCorrupted, ExitCode: 1, ErrorSummary: "API Error: 400 tool_use ids must be unique", SessionID: "s1"}},
		{name: "timeout", env: map[string]string{"FAKE_STDOUT": initLine + textLine, "FAKE_HANG": "1"}, timeout: 2 * time.Second,
			want: sandbox.Result{Outcome: sandbox.OutcomeTimeout, ExitCode: -1, ErrorSummary: "All fixed.", SessionID: "s1"}},
		{name: "runaway line", env: map[string]string{"FAKE_STDOUT": initLine, "FAKE_RUNAWAY": "1", "FAKE_HANG": "1"},
			want: sandbox.Result{Outcome: sandbox.OutcomeContainerFailed, ExitCode: -1, ErrorSummary: "agent output line exceeded 16 MiB; run stopped", SessionID: "s1"}},
		{name: "cancel mid-run", env: map[string]string{"FAKE_STDOUT": sInit + block1 + block2 + second, "FAKE_HANG": "1"}, cancelAt: 4,
			want: sandbox.Result{Outcome: sandbox.OutcomeCancelled, ExitCode: -1, SessionID: "s-new",
				Usage: sandbox.Usage{InputTokens: 105, OutputTokens: 27, CacheReadInputTokens: 300}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			task, err := sb.NewTask(context.Background(), sandbox.TaskSpec{ID: "c-" + uniqueID(), Dir: t.TempDir(), Image: image,
				NoNetworkSandbox: true, Network: "none", Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer task.Close(context.Background())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var transcript bytes.Buffer
			var mu sync.Mutex
			var events []sandbox.Event
			res, err := task.RunClaude(ctx, sandbox.Claude{Binary: bin, StateDir: t.TempDir(), Prompt: "go", SessionID: "s-old",
				Env: tt.env, Transcript: &transcript, OnEvent: func(e sandbox.Event) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, sandbox.Event{Type: e.Type, Tool: e.Tool})
					if len(events) == tt.cancelAt {
						cancel()
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			got := sandbox.Result{Outcome: res.Outcome, Finished: res.Finished, ExitCode: res.ExitCode, Response: res.Response, ErrorSummary: res.ErrorSummary,
				SessionID: res.SessionID, CostUSD: res.CostUSD, NumTurns: res.NumTurns, Usage: res.Usage}
			if got.Outcome != tt.want.Outcome || got.Finished != tt.want.Finished || got.ExitCode != tt.want.ExitCode ||
				got.Response != tt.want.Response || got.ErrorSummary != tt.want.ErrorSummary || got.SessionID != tt.want.SessionID ||
				got.CostUSD != tt.want.CostUSD || got.NumTurns != tt.want.NumTurns || got.Usage != tt.want.Usage {
				t.Errorf("result = %+v\nwant     %+v", got, tt.want)
			}
			if !strings.HasPrefix(transcript.String(), strings.SplitAfter(tt.env["FAKE_STDOUT"], "\n")[0]) {
				t.Errorf("transcript starts %.80q, want the run's first line", transcript.String())
			}
			if strings.Contains(transcript.String(), "xxxx") {
				t.Error("the runaway line reached the transcript")
			}
			if len(events) == 0 || events[0].Type != "system" {
				t.Errorf("events = %+v, want the stream's events, init first", events)
			}
			if tt.name == "success" && (len(events) < 2 || events[1].Tool != "Bash") {
				t.Errorf("events = %+v, want the tool call named", events)
			}
			if res.Duration <= 0 || res.AgentDurationMS <= 0 {
				t.Errorf("durations %v, %d ms; want both measured", res.Duration, res.AgentDurationMS)
			}
		})
	}
}

// The real Claude Code CLI behind the network sandbox, against the
// scripted Anthropic API on a host of the test's own: its API calls go
// through the proxy, which puts the real key in; the container sees only
// the surrogate; its events stream while it runs; and a second run
// resumes the session.
func TestClaudeCodeTask(t *testing.T) {
	bin, err := claudebin.Resolve("")
	if err != nil {
		t.Fatalf("the Claude Code CLI is needed (make test-deps): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := podman.Connect(ctx, podman.ConnectOptions{StartService: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := uniqueID()
	egress := "airut-test-egress-" + id
	if err := c.CreateNetwork(ctx, podman.NetworkSpec{Name: egress, DNS: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })
	host := netnstest.StartHost(t, c, egress, baseImage, "api.anthropic.test")
	cert, err := testcert.New("scripted api", "api.anthropic.test")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	os.WriteFile(caFile, cert.CertPEM, 0o644)
	b := make([]byte, 8)
	rand.Read(b)
	realKey := "sk-ant-api03-" + strings.Repeat("Rk", 20) + hex.EncodeToString(b)
	api := anthropictest.NewServer(t, anthropictest.WithTLSListener(host.Listen(t, ":443"), cert.TLS, "https://api.anthropic.test"),
		anthropictest.WithAPIKey(realKey))

	sb, err := sandbox.New(ctx, sandbox.Options{StateDir: t.TempDir(), StartPodmanService: true, EgressNetwork: egress, UpstreamCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	image := baseOverlay(t, sb)
	task, err := sb.NewTask(ctx, sandbox.TaskSpec{
		ID: "claude-" + id, Dir: t.TempDir(), Image: image,
		Env:       map[string]string{"ANTHROPIC_BASE_URL": "https://api.anthropic.test"},
		Allowlist: []byte("domains:\n  - api.anthropic.test\n"),
		MaskedSecrets: []proxy.Secret{{Name: "ANTHROPIC_API_KEY", Value: realKey, Scopes: []string{"api.anthropic.test"},
			Headers: []string{"x-api-key"}}},
		Timeout: 3 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close(ctx)
	surrogate := task.Surrogates()["ANTHROPIC_API_KEY"]
	if surrogate == "" || surrogate == realKey {
		t.Fatalf("surrogate %q", surrogate)
	}
	state := t.TempDir()
	var mu sync.Mutex
	var tools []string
	var toolAt time.Time
	res, err := task.RunClaude(ctx, sandbox.Claude{Binary: bin, StateDir: state,
		Prompt: "Show the key.\nRUN: printenv ANTHROPIC_API_KEY\nREPLY: shown",
		OnEvent: func(e sandbox.Event) {
			if e.Tool != "" {
				mu.Lock()
				tools = append(tools, e.Tool)
				toolAt = time.Now()
				mu.Unlock()
			}
		}})
	ended := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.OutcomeSuccess || res.Response != "shown" || res.SessionID == "" || !res.Finished || res.NumTurns < 2 {
		t.Fatalf("result = %+v, want success replying shown in a session", res)
	}
	if len(tools) != 1 || tools[0] != "Bash" || !toolAt.Before(ended) {
		t.Errorf("tool events = %v, want the Bash call while the run went on", tools)
	}
	reqs := api.Requests()
	if len(reqs) < 2 {
		t.Fatalf("the scripted API got %d requests, want the run's turns", len(reqs))
	}
	sawSurrogate := false
	for _, r := range reqs {
		if r.APIKey != realKey {
			t.Errorf("API request with key %q, want the real key put in by the proxy", r.APIKey)
		}
		if strings.Contains(string(r.Body), surrogate) {
			sawSurrogate = true
		}
		if strings.Contains(string(r.Body), realKey) {
			t.Error("the real key reached the model: the container saw it")
		}
	}
	if !sawSurrogate {
		t.Error("printenv's output (the surrogate) never reached the model")
	}

	again, err := task.RunClaude(ctx, sandbox.Claude{Binary: bin, StateDir: state, SessionID: res.SessionID, Prompt: "RECALL"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcome != sandbox.OutcomeSuccess || again.SessionID != res.SessionID || !strings.Contains(again.Response, "Show the key.") {
		t.Errorf("resumed run = %s in %s replying %q; want success in %s recalling the first prompt", again.Outcome, again.SessionID, again.Response, res.SessionID)
	}
}
