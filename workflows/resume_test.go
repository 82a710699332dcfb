package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/workflows"
)

// An agent run whose workers keep dying (a new worker hands each attempt
// back) is run again rather than failing the task: the user gets the
// agent's reply, not an internal error, however many crashes it took.
func TestRunInterruptedOnEveryAttemptRunsAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		crashes   int
		wantReply string
	}{
		{"four crashes: more than one run's attempts", 4, "done"},
		{"a run that never gets through gives up", 100, "An error occurred"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			calls := 0
			h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
				calls++
				if calls <= tc.crashes {
					return workflows.AgentResult{}, temporal.NewApplicationError("the worker running this attempt stopped", workflows.ErrWorkerRestarted)
				}
				return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "s", Text: "done"}, nil
			}
			h.signalAt(0, msg("m1", "hello"))
			h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			f := h.act.finalReplies()
			if len(f) != 1 || !strings.HasPrefix(f[0].Text, tc.wantReply) {
				t.Fatalf("replies = %+v, want one starting %q", f, tc.wantReply)
			}
			if tc.crashes > 10 && calls != 33 {
				t.Errorf("agent attempts = %d, want 33 (11 runs of 3 attempts)", calls)
			}
		})
	}
}

// A run that failed on its own (not its worker) is not run again.
func TestFailedRunIsNotRunAgain(t *testing.T) {
	h := newHarness(t)
	calls := 0
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		calls++
		return workflows.AgentResult{}, errors.New("podman: no space left on device")
	}
	h.signalAt(0, msg("m1", "hello"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if calls != 3 {
		t.Errorf("agent attempts = %d, want the policy's 3", calls)
	}
}
