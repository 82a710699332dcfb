package activities

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// Stream lines as Claude Code prints them.
const (
	initLine   = `{"type":"system","subtype":"init","session_id":"sess-42"}`
	toolLine   = `{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","id":"t1","input":{"command":"git push"}}]}}`
	textLine   = `{"type":"assistant","message":{"content":[{"type":"text","text":"Pushed the fix and opened PR #7."}]}}`
	resultLine = `{"type":"result","subtype":"success","is_error":false,"session_id":"sess-42","result":"Pushed the fix and opened PR #7.","total_cost_usd":0.12,"num_turns":3}`
	errorLine  = `{"type":"result","subtype":"error_during_execution","is_error":true,"session_id":"sess-42","result":""}`
)

func streamed(t *testing.T, lines ...string) sandbox.Result {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	res, err := sandbox.ClaudeTranscript(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestResumeDecision(t *testing.T) {
	in := workflows.AgentInput{TaskID: "t1", Prompt: "Fix the build", SessionID: ""}
	tests := []struct {
		name        string
		stream      []string
		resuming    string            // the session the interrupted attempt resumed
		wantResult  workflows.Outcome // "" when the agent must run
		wantSession string
		wantPrompt  string
	}{
		{"finished: its result is the run's", []string{initLine, toolLine, textLine, resultLine}, "", workflows.OutcomeSuccess, "", ""},
		{"finished with an error result", []string{initLine, errorLine}, "", workflows.OutcomeContainerFailed, "", ""},
		{"mid-run: resume the session with the note", []string{initLine, toolLine}, "", "", "sess-42", InterruptedNote},
		{"a cut last line is not an event", []string{initLine, `{"type":"resu`}, "", "", "sess-42", InterruptedNote},
		{"nothing started: run as asked", nil, "", "", "", "Fix the build"},
		// Killed twice in a row, the second time before the resumed agent
		// said anything: the session the first attempt worked in is
		// resumed again, not the task redone from the start.
		{"a resumed attempt that never started: resume its session", nil, "sess-41", "", "sess-41", InterruptedNote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := resume(in, streamed(t, tt.stream...), tt.resuming)
			if tt.wantResult != "" {
				if d.result == nil || d.result.Outcome != tt.wantResult {
					t.Fatalf("result = %+v, want outcome %s without running the agent", d.result, tt.wantResult)
				}
				if tt.wantResult == workflows.OutcomeSuccess && (d.result.Text != "Pushed the fix and opened PR #7." || d.result.SessionID != "sess-42") {
					t.Errorf("result = %+v, want the interrupted run's reply and session", d.result)
				}
				return
			}
			if d.result != nil {
				t.Fatalf("result = %+v, want the agent to run", d.result)
			}
			if d.in.SessionID != tt.wantSession || d.in.Prompt != tt.wantPrompt {
				t.Errorf("run with session %q prompt %q, want %q %q", d.in.SessionID, d.in.Prompt, tt.wantSession, tt.wantPrompt)
			}
		})
	}
}

// writeInterrupted leaves what a dead worker leaves: a marker for task
// and the run's lines in events.jsonl after earlier runs' lines.
func writeInterrupted(t *testing.T, f *fixture, conv, task string, lines ...string) {
	t.Helper()
	l := f.layout(conv)
	earlier := initLine + "\n" + resultLine + "\n\n" // an earlier task's run
	body := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(l.Events(), []byte(earlier+body), 0o644); err != nil {
		t.Fatal(err)
	}
	m := runMarker{WorkflowID: "airut/demo/" + conv, RunID: "r1", ActivityID: "9", Attempt: 1, TaskID: task, EventsOffset: int64(len(earlier))}
	data, _ := json.Marshal(m)
	path := markerPath(f.cfg, f.a.HostID, "demo", conv)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A retry of a run whose worker died after the agent's final result uses
// that result: the agent (and anything it did outside the workspace) does
// not run again. The fixture has no Podman client, so a run would panic.
func TestRunAgentUsesTheFinishedInterruptedResult(t *testing.T) {
	f := newFixture(t)
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t2"}); err != nil {
		t.Fatal(err)
	}
	writeInterrupted(t, f, "0000000a", "t2", initLine, toolLine, textLine, strings.Replace(resultLine, "PR #7", "PR #8", 1))
	val, err := f.env.ExecuteActivity(f.a.RunAgent, workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t2", Prompt: "Fix the build"})
	if err != nil {
		t.Fatalf("RunAgent: %v", err)
	}
	var res workflows.AgentResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess || res.SessionID != "sess-42" || res.CostUSD != 0.12 {
		t.Errorf("result = %+v, want the interrupted run's success, session and cost", res)
	}
	if _, err := os.Stat(markerPath(f.cfg, f.a.HostID, "demo", "0000000a")); !os.IsNotExist(err) {
		t.Errorf("the marker of the finished run is still there (%v)", err)
	}
}

// A marker of another task (given up on) does not change this run.
func TestContinueInterruptedIgnoresOtherTasks(t *testing.T) {
	f := newFixture(t)
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t3"}); err != nil {
		t.Fatal(err)
	}
	writeInterrupted(t, f, "0000000a", "t-old", initLine, toolLine)
	in := workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t3", Prompt: "Next thing", SessionID: "sess-1"}
	d, err := continueInterrupted(markerPath(f.cfg, f.a.HostID, "demo", "0000000a"), f.layout("0000000a"), in, f.a.log("0000000a", "t3"))
	if err != nil || d.result != nil || d.in != in {
		t.Errorf("decision = %+v, %v; want the run unchanged", d, err)
	}
}
