package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/airut-go/airut/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// (e2e tests with AIRUT_RECORD_HISTORIES set) against the current workflow
// code: a change that alters the commands a running conversation issues,
// without workflow.GetVersion, fails here before it breaks live workflows.
//
// Every *.json in testdata/ replays, and none is ever removed: a history
// is a conversation that may still be running somewhere when its workers
// are upgraded. <name>-0.json are the first recordings; the tag after the
// name says when the others were made: a workflow version that came in
// (-claimhost-, -stoptask-), or a release before an upgrade
// (-<commit>-<date>-, e.g. AIRUT_RECORD_HISTORIES=9d54d55-20261206 at
// commit 9d54d55: two tasks resumed in one session, the email round trip,
// the pull-request loop, a crash mid-task and a stop then retry).
// firing-*.json are FiringWorkflow runs: a schedule's failing firings, the
// one that sends the failure notice, and the recovery;
// scheduled-conversation-*.json the conversations they started.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d recorded histories in testdata/, want at least 3", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
			r.RegisterWorkflowWithOptions(workflows.FiringWorkflow, workflow.RegisterOptions{Name: workflows.FiringWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
