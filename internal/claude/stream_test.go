package claude_test

import (
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/claude"
)

const (
	initLine   = `{"type":"system","subtype":"init","session_id":"s-init","model":"claude-opus-4-8"}`
	textLine   = `{"type":"assistant","message":{"content":[{"type":"text","text":"%s"}]},"parent_tool_use_id":null}`
	toolLine   = `{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"%s","input":{}}]}}`
	resultLine = `{"type":"result","subtype":"success","session_id":"s-final","result":"%s","is_error":false,"total_cost_usd":0.25,"duration_ms":100,"num_turns":2,"usage":{"input_tokens":10,"output_tokens":5}}`
)

func feed(lines ...string) *claude.Totals {
	var t claude.Totals
	for _, l := range lines {
		t.Add([]byte(l))
	}
	return &t
}

func f(format, arg string) string { return strings.Replace(format, "%s", arg, 1) }

func TestTotals(t *testing.T) {
	long := strings.Repeat("detailed answer ", 10)
	tests := []struct {
		name     string
		lines    []string
		session  string
		response string
		searches int
	}{
		{"last text wins", []string{initLine, f(textLine, "thinking"), f(toolLine, "Bash"), f(textLine, "final"), f(resultLine, "final")}, "s-final", "final", 0},
		{"short sign-off widened to long text", []string{f(textLine, long), f(textLine, "Done.")}, "", long + "\n\nDone.", 0},
		{"interrupted run keeps init session", []string{initLine, f(textLine, "partial")}, "s-init", "partial", 0},
		{"result text fallback", []string{initLine, f(resultLine, "from result")}, "s-final", "from result", 0},
		{"nothing", []string{"not json", "{broken"}, "", "No output received from Claude.", 0},
		{"web tools counted", []string{f(toolLine, "WebSearch"), f(toolLine, "WebSearch"), f(toolLine, "WebFetch"), f(textLine, "x")}, "", "x", 2},
		{"of two results only the last counts", []string{f(resultLine, "one"), f(resultLine, "two")}, "s-final", "two", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := feed(tt.lines...)
			if got.SessionID != tt.session {
				t.Errorf("SessionID = %q, want %q", got.SessionID, tt.session)
			}
			if r := got.Response(); r != tt.response {
				t.Errorf("Response() = %q, want %q", r, tt.response)
			}
			if got.WebSearches != tt.searches {
				t.Errorf("WebSearches = %d, want %d", got.WebSearches, tt.searches)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name     string
		stdout   []string
		stderr   string
		timedOut bool
		exit     int
		want     string
	}{
		{"timeout first", []string{"Prompt is too long"}, "", true, 0, "timeout"},
		{"exit zero", []string{`{"type":"result","is_error":true}`}, "", false, 0, "success"},
		{"prompt too long on stdout", []string{f(resultLine, "Prompt is too long")}, "", false, 1, "prompt_too_long"},
		{"api 4xx on stderr", nil, "API Error: 400 bad", false, 1, "session_corrupted"},
		{"other", []string{"segfault"}, "", false, 137, "container_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := feed(tt.stdout...)
			got.AddStderr([]byte(tt.stderr))
			if o := got.Outcome(tt.timedOut, tt.exit); o != tt.want {
				t.Errorf("Outcome() = %q, want %q", o, tt.want)
			}
		})
	}
}

func TestFinalTakesTheFinalResult(t *testing.T) {
	got := feed(f(resultLine, "a"), f(resultLine, "b"))
	cost, usage, dur, turns := got.Final()
	if cost != 0.25 || usage.InputTokens != 10 || dur != 100 || turns != 2 {
		t.Errorf("Final() = %v %+v %d %d", cost, usage, dur, turns)
	}
	long := make([]string, 0, 15)
	for i := 0; i < 15; i++ {
		long = append(long, "line")
	}
	sum := feed(f(resultLine, strings.Join(long, `\n`))).ErrorSummary()
	if n := strings.Count(sum, "\n") + 1; n != 10 {
		t.Errorf("ErrorSummary has %d lines, want the last 10", n)
	}
}

func TestArgsPutPromptOnStdin(t *testing.T) {
	got := strings.Join(claude.Args("sess", "opus", "high"), " ")
	want := "--resume sess --model opus --effort high -p --dangerously-skip-permissions --output-format stream-json --verbose"
	if got != want {
		t.Errorf("Args() = %q, want %q", got, want)
	}
	for _, a := range claude.Args("", "", "") {
		if a == "-" {
			t.Errorf("a '-' argument would become prompt text")
		}
	}
}

// Claude Code's own telemetry, feature-flag and update calls would be
// blocked by the sandbox and listed in every reply's footer; the agent
// runs with them switched off.
func TestEnvTurnsOffNonessentialTraffic(t *testing.T) {
	env := claude.Env()
	if got := env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"]; got != "1" {
		t.Errorf("Env()[CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC] = %q, want \"1\"", got)
	}
	// Env is a fresh map each time: the caller adds the repo's secrets.
	env["X"] = "y"
	if _, ok := claude.Env()["X"]; ok {
		t.Error("Env() returned a shared map; a caller's secrets leaked into the next run")
	}
}

// The stream is the agent's output: a session ID that could pass for an
// option of the next run's command line is not taken, and not resumed.
func TestSessionIDFromTheStreamCannotBecomeAnOption(t *testing.T) {
	var tot claude.Totals
	tot.Add([]byte(`{"type":"system","subtype":"init","session_id":"--output-format=text"}`))
	tot.Add([]byte(`{"type":"result","subtype":"success","is_error":false,"session_id":"-p --settings /tmp/x","result":"done"}`))
	if tot.SessionID != "" {
		t.Errorf("SessionID = %q from the stream, want none", tot.SessionID)
	}
	for _, id := range []string{"--output-format=text", "-x", "a b", ""} {
		for _, arg := range claude.Args(id, "", "") {
			if arg == "--resume" {
				t.Errorf("Args(%q) resumes: %q", id, claude.Args(id, "", ""))
			}
		}
	}
	if a := claude.Args("3f1e2d4c-5b6a-4789-8abc-def012345678", "", ""); a[0] != "--resume" || a[1] != "3f1e2d4c-5b6a-4789-8abc-def012345678" {
		t.Errorf("Args with a real session ID = %q, want it resumed", a)
	}
}
