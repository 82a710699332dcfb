package activities

import (
	"testing"

	"github.com/airut-go/airut/internal/claude"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/workflows"
)

func TestAgentResult(t *testing.T) {
	const (
		initLine   = `{"type":"system","subtype":"init","session_id":"s1"}`
		textLine   = `{"type":"assistant","message":{"content":[{"type":"text","text":"partial"}]}}`
		resultLine = `{"type":"result","session_id":"s1","result":"done","total_cost_usd":0.5,"num_turns":3}`
	)
	tests := []struct {
		name    string
		lines   []string
		res     podman.Result
		end     runEnd
		stderr  string
		outcome workflows.Outcome
		text    string
		summary string
	}{
		{"success", []string{initLine, resultLine}, podman.Result{}, runEnd{}, "", workflows.OutcomeSuccess, "done", ""},
		// The container was killed, so there is no exit code (0): without
		// the cut the run would pass for a success, replying with whatever
		// came before the long line.
		{"line too long", []string{initLine, textLine, resultLine}, podman.Result{}, runEnd{lineTooLong: true}, "", workflows.OutcomeContainerFailed, "", "agent output line exceeded 16 MiB; run stopped"},
		{"timeout", []string{initLine, textLine}, podman.Result{ExitCode: 137}, runEnd{timedOut: true}, "", workflows.OutcomeTimeout, "", "partial"},
		{"failure falls back to stderr", []string{initLine}, podman.Result{ExitCode: 1}, runEnd{}, "boom", workflows.OutcomeContainerFailed, "", "boom"},
		{"out of memory", []string{initLine}, podman.Result{ExitCode: 137, OOMKilled: true}, runEnd{}, "", workflows.OutcomeContainerFailed, "", "(the container ran out of memory: raise resource_limits.memory)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var totals claude.Totals
			for _, l := range tt.lines {
				totals.Add([]byte(l))
			}
			got := agentResult(&totals, tt.res, tt.end, tt.stderr)
			if got.Outcome != tt.outcome || got.Text != tt.text || got.ErrorSummary != tt.summary {
				t.Errorf("agentResult = outcome %q, text %q, summary %q; want %q, %q, %q",
					got.Outcome, got.Text, got.ErrorSummary, tt.outcome, tt.text, tt.summary)
			}
			if got.SessionID != "s1" {
				t.Errorf("SessionID = %q, want s1 (a cut run stays resumable)", got.SessionID)
			}
		})
	}
}
