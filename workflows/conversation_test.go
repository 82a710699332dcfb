package workflows_test

import (
	"context"
	"errors"
	"fmt"
	sdkpb "go.temporal.io/api/sdk/v1"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/airut-go/airut/workflows"
)

// fakeActivities stands in for the activities package: it records every
// call and answers from per-test functions.
type fakeActivities struct {
	mu       sync.Mutex
	claims   int
	prepares []workflows.PrepareInput
	// prepareQueues are the task queues PrepareWorkspace ran on.
	prepareQueues []string
	runs          []workflows.AgentInput
	runQueue      []string
	replies       []workflows.ReplyInput
	cleanups      int

	claim   func(context.Context, workflows.ClaimInput) (workflows.ClaimResult, error)
	prepare func(context.Context, workflows.PrepareInput) (workflows.PrepareResult, error)
	run     func(context.Context, workflows.AgentInput) (workflows.AgentResult, error)
}

func (f *fakeActivities) Claim(ctx context.Context, in workflows.ClaimInput) (workflows.ClaimResult, error) {
	f.mu.Lock()
	f.claims++
	f.mu.Unlock()
	if f.claim != nil {
		return f.claim(ctx, in)
	}
	return workflows.ClaimResult{HostQueue: "airut-host-a"}, nil
}

func (f *fakeActivities) Prepare(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
	f.mu.Lock()
	f.prepares = append(f.prepares, in)
	f.prepareQueues = append(f.prepareQueues, activity.GetInfo(ctx).TaskQueue)
	f.mu.Unlock()
	if f.prepare != nil {
		return f.prepare(ctx, in)
	}
	return workflows.PrepareResult{HostQueue: "airut-host-a", Created: true, Model: "opus", TimeoutSeconds: 600, HeartbeatSeconds: 10}, nil
}

func (f *fakeActivities) Run(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
	f.mu.Lock()
	f.runs = append(f.runs, in)
	f.runQueue = append(f.runQueue, activity.GetInfo(ctx).TaskQueue)
	f.mu.Unlock()
	if f.run != nil {
		return f.run(ctx, in)
	}
	return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "sess-1", Text: "done", CostUSD: 0.01}, nil
}

func (f *fakeActivities) Reply(ctx context.Context, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	f.mu.Lock()
	f.replies = append(f.replies, in)
	f.mu.Unlock()
	return workflows.ReplyResult{}, nil
}

func (f *fakeActivities) Cleanup(ctx context.Context, in workflows.CleanupInput) error {
	f.mu.Lock()
	f.cleanups++
	f.mu.Unlock()
	return nil
}

func (f *fakeActivities) finalReplies() []workflows.ReplyInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []workflows.ReplyInput
	for _, r := range f.replies {
		if !r.Kind.Interim() {
			out = append(out, r)
		}
	}
	return out
}

type harness struct {
	env *testsuite.TestWorkflowEnvironment
	act *fakeActivities
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	f := &fakeActivities{}
	env.RegisterWorkflow(workflows.ConversationWorkflow)
	env.RegisterActivityWithOptions(f.Claim, activity.RegisterOptions{Name: workflows.ActivityClaimHost})
	env.RegisterActivityWithOptions(f.Prepare, activity.RegisterOptions{Name: workflows.ActivityPrepareWorkspace})
	env.RegisterActivityWithOptions(f.Run, activity.RegisterOptions{Name: workflows.ActivityRunAgent})
	env.RegisterActivityWithOptions(f.Reply, activity.RegisterOptions{Name: workflows.ActivityDeliverReply})
	env.RegisterActivityWithOptions(f.Cleanup, activity.RegisterOptions{Name: workflows.ActivityCleanup})
	return &harness{env: env, act: f}
}

func msg(id, body string) workflows.Message {
	return workflows.Message{ID: id, Channel: workflows.ChannelLocal, Sender: "alice", Body: body,
		ReceivedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (h *harness) signalAt(d time.Duration, m workflows.Message) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalMessage, m) }, d)
}

func (h *harness) status(t *testing.T) workflows.Status {
	t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatalf("QueryWorkflow(status) = %v", err)
	}
	var s workflows.Status
	if err := v.Get(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func start(opts workflows.Options) workflows.Start {
	return workflows.Start{RepoID: "web", ConversationID: "1a2b3c4d", Channel: workflows.ChannelLocal, Options: opts}
}

// idleSoon makes the workflow complete shortly after its work, so tests end.
var idleSoon = workflows.Options{IdleTimeout: time.Hour}

func TestMessagesArrivingWhileBusyAreQueuedAndCoalesced(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "sess-1", Text: "ok"}, nil
	}
	// The first run takes 10 minutes of workflow time; two messages arrive
	// meanwhile and must run together, once, after it.
	h.env.OnActivity(workflows.ActivityRunAgent, mockAny, mockAny).After(10 * time.Minute).Return(h.act.Run)
	h.signalAt(0, msg("m1", "first task"))
	h.signalAt(time.Minute, msg("m2", "second"))
	h.signalAt(2*time.Minute, msg("m3", "third"))
	var during workflows.Status
	var details string
	h.env.RegisterDelayedCallback(func() {
		during = h.status(t)
		if v, err := h.env.QueryWorkflow("__temporal_workflow_metadata"); err == nil {
			var md sdkpb.WorkflowMetadata
			if err := v.Get(&md); err != nil {
				t.Errorf("workflow metadata: %v", err)
			}
			details = md.GetCurrentDetails()
		}
	}, 3*time.Minute)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed=%v err=%v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if !during.Busy || during.Queued != 2 || during.State != workflows.StateBusy {
		t.Errorf("status while busy = busy %v queued %d state %q, want busy with 2 queued", during.Busy, during.Queued, during.State)
	}
	// The Web UI's current details say where the conversation stands.
	if !strings.Contains(details, "state: busy") || !strings.Contains(details, "2 queued") {
		t.Errorf("current details = %q, want the busy state and the queue", details)
	}
	// The thread as the dashboard shows it: who sent what, for the task
	// running and for those done.
	if c := during.Current; c == nil || len(c.Messages) != 1 || c.Messages[0].Body != "first task" || c.Messages[0].Sender != "alice" {
		t.Errorf("current task's messages = %+v, want alice's first task", during.Current)
	}
	if len(h.act.runs) != 2 {
		t.Fatalf("agent runs = %d, want 2 (the first, then one coalesced run)", len(h.act.runs))
	}
	p := h.act.runs[1].Prompt
	if !strings.Contains(p, "second") || !strings.Contains(p, "third") || strings.Index(p, "second") > strings.Index(p, "third") {
		t.Errorf("coalesced prompt lacks both messages in order:\n%s", p)
	}
	if h.act.runs[1].SessionID != "sess-1" {
		t.Errorf("follow-up resumed session %q, want sess-1", h.act.runs[1].SessionID)
	}
	if got := len(h.act.finalReplies()); got != 2 {
		t.Errorf("final replies = %d, want 2 (one per task)", got)
	}
	if tasks := h.status(t).Tasks; len(tasks) != 2 || len(tasks[1].Messages) != 2 || tasks[1].Messages[1].Body != "third" {
		t.Errorf("task summaries = %+v, want the coalesced task with both messages", tasks)
	}
}

// A message or reply kept in workflow state is cut at a character
// boundary, and says it was cut.
func TestStateTextIsBounded(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, Text: "ok"}, nil
	}
	body := strings.Repeat("é", workflows.MaxMessageInState) // 2 bytes each
	h.signalAt(0, msg("m1", body))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	got := h.status(t).Tasks[0].Messages[0].Body
	kept, ok := strings.CutSuffix(got, "\n"+workflows.TruncatedMarker)
	if !ok || len(kept) > workflows.MaxMessageInState || !utf8.ValidString(kept) || !strings.HasPrefix(body, kept) {
		t.Errorf("kept %d bytes (valid UTF-8 %v, marked %v), want at most %d whole characters and the marker",
			len(kept), utf8.ValidString(kept), ok, workflows.MaxMessageInState)
	}
}

func TestDuplicateMessageIDsRunOnce(t *testing.T) {
	h := newHarness(t)
	h.signalAt(0, msg("same", "do it"))
	h.signalAt(time.Second, msg("same", "do it"))
	h.signalAt(time.Hour/2, msg("same", "do it"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.runs) != 1 {
		t.Errorf("agent runs = %d, want 1", len(h.act.runs))
	}
	acks := 0
	for _, r := range h.act.replies {
		if r.Kind == workflows.ReplyAck {
			acks++
		}
	}
	if acks != 1 || len(h.act.finalReplies()) != 1 {
		t.Errorf("acks=%d finals=%d, want 1 and 1", acks, len(h.act.finalReplies()))
	}
}

func TestStopCancelsRunningAgent(t *testing.T) {
	h := newHarness(t)
	cancelled := make(chan struct{}, 1)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		for {
			select {
			case <-ctx.Done():
				cancelled <- struct{}{}
				return workflows.AgentResult{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
				activity.RecordHeartbeat(ctx, "working")
			}
		}
	}
	h.signalAt(0, msg("m1", "long job"))
	var stopped workflows.Status
	h.env.RegisterDelayedCallback(func() { stopped = h.status(t) }, 10*time.Second)
	var stop workflows.StopResult
	var stopErr error
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(workflows.UpdateStop, "stop-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { stopErr = err },
			OnComplete: func(v any, err error) {
				if err != nil {
					stopErr = err
					return
				}
				stop = v.(workflows.StopResult)
			},
		})
	}, 5*time.Second)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if stopErr != nil || !stop.Stopped {
		t.Fatalf("stop = %+v, %v; want stopped", stop, stopErr)
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("the agent activity never saw cancellation")
	}
	finals := h.act.finalReplies()
	if len(finals) != 1 || finals[0].Text != workflows.StoppedText("1a2b3c4d") {
		t.Fatalf("replies = %+v, want the stopped text", finals)
	}
	if st := stopped; st.State != workflows.StateStopped || !st.CanRetry || st.Tasks[0].Outcome != workflows.OutcomeCancelled {
		t.Errorf("status after stop = state %q canRetry %v outcome %q; want stopped, retryable, cancelled", st.State, st.CanRetry, st.Tasks[0].Outcome)
	}
}

// The stopped reply tells both ways on: a reply resumes the session, the
// retry command (with this conversation's ID) runs the task again.
func TestStoppedTextSaysHowToContinue(t *testing.T) {
	text := workflows.StoppedText("1a2b3c4d")
	for _, want := range []string{"stopped", "Reply to continue in the same session", "`airut retry 1a2b3c4d`"} {
		if !strings.Contains(text, want) {
			t.Errorf("StoppedText lacks %q:\n%s", want, text)
		}
	}
}

// stopAt sends the stop update after d and returns where its answer goes.
func (h *harness) stopAt(d time.Duration) *workflows.StopResult {
	var res workflows.StopResult
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(workflows.UpdateStop, "stop", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { panic(err) },
			OnComplete: func(v any, err error) { res, _ = v.(workflows.StopResult) },
		})
	}, d)
	return &res
}

// A stop while the workspace is being prepared (a long clone, say) ends
// the task as stopped, not as a workspace failure, without running the
// agent; retry then runs it.
func TestStopDuringPrepareEndsStopped(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(workflows.ActivityPrepareWorkspace, mockAny, mockAny).After(10 * time.Minute).Return(h.act.Prepare)
	h.signalAt(0, msg("m1", "clone the big repo"))
	stop := h.stopAt(time.Minute)
	var stopped, retried workflows.Status
	h.env.RegisterDelayedCallback(func() { retried = h.status(t) }, 20*time.Minute)
	h.env.RegisterDelayedCallback(func() {
		stopped = h.status(t)
		h.env.UpdateWorkflow(workflows.UpdateRetry, "r1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { t.Errorf("retry of the stopped task refused: %v", err) },
			OnComplete: func(any, error) {},
		})
	}, 2*time.Minute)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !stop.Stopped {
		t.Fatalf("stop = %+v, want stopped", stop)
	}
	if stopped.State != workflows.StateStopped || !stopped.CanRetry || len(stopped.Tasks) != 1 ||
		stopped.Tasks[0].Outcome != workflows.OutcomeCancelled || stopped.Tasks[0].Error != "" {
		t.Fatalf("status after the stop = %+v, want state stopped, retryable, one cancelled task without error", stopped)
	}
	finals := h.act.finalReplies()
	if len(finals) != 2 || finals[0].Text != workflows.StoppedText("1a2b3c4d") || finals[1].Text != "done" {
		t.Errorf("replies = %+v, want the stopped text, then the retried task's reply", finals)
	}
	if len(h.act.runs) != 1 {
		t.Errorf("agent runs = %d, want only the retried task's", len(h.act.runs))
	}
	if st := retried; st.State != workflows.StateIdle || st.CanRetry {
		t.Errorf("after the retry: state %q canRetry %v, want idle", st.State, st.CanRetry)
	}
}

// A stop while the conversation waits for a host with a free slot
// (ClaimHost retried on the shared queue) ends the wait.
func TestStopWhileWaitingForAHost(t *testing.T) {
	h := newHarness(t)
	h.act.claim = func(context.Context, workflows.ClaimInput) (workflows.ClaimResult, error) {
		return workflows.ClaimResult{}, temporal.NewApplicationError("host is at capacity", workflows.ErrHostBusy)
	}
	h.signalAt(0, msg("m1", "busy day"))
	stop := h.stopAt(10 * time.Second)
	var st workflows.Status
	h.env.RegisterDelayedCallback(func() { st = h.status(t) }, time.Minute)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if st.State != workflows.StateStopped {
		t.Errorf("state after the stop = %q, want stopped", st.State)
	}
	if !stop.Stopped || st.Tasks[0].Outcome != workflows.OutcomeCancelled {
		t.Fatalf("stop = %+v, task = %+v; want the waiting task stopped", stop, st.Tasks[0])
	}
	if f := h.act.finalReplies(); len(f) != 1 || f[0].Text != workflows.StoppedText("1a2b3c4d") {
		t.Errorf("replies = %+v, want the stopped text", f)
	}
	if h.act.prepares != nil || h.act.runs != nil {
		t.Errorf("prepared %d, ran %d after a stop during placement", len(h.act.prepares), len(h.act.runs))
	}
}

// A stopped agent run answers with the session it ran in (the server
// waits for that answer: the run has WaitForCancellation; the test
// environment does not wait, so the activity answers as a stopped run
// does). The conversation keeps that session, even on its first task,
// and the next message resumes it.
func TestStoppedRunsSessionIsResumed(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		if in.SessionID == "" {
			return workflows.AgentResult{Outcome: workflows.OutcomeCancelled, SessionID: "sess-stopped",
				Usage: workflows.Usage{InputTokens: 900, OutputTokens: 40}}, nil
		}
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: in.SessionID, Text: "picked up"}, nil
	}
	h.signalAt(0, msg("m1", "start the migration"))
	var stopped, resumed workflows.Status
	h.env.RegisterDelayedCallback(func() { stopped = h.status(t) }, time.Minute)
	h.signalAt(2*time.Minute, msg("m2", "go on"))
	h.env.RegisterDelayedCallback(func() { resumed = h.status(t) }, 3*time.Minute)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if stopped.State != workflows.StateStopped || stopped.SessionID != "sess-stopped" || stopped.Tasks[0].Usage.InputTokens != 900 {
		t.Errorf("status after the stopped run = state %q session %q usage %+v; want stopped in sess-stopped with its usage",
			stopped.State, stopped.SessionID, stopped.Tasks[0].Usage)
	}
	if len(h.act.runs) != 2 || h.act.runs[1].SessionID != "sess-stopped" {
		t.Fatalf("runs = %+v, want the second to resume sess-stopped", h.act.runs)
	}
	if strings.Contains(h.act.runs[1].Prompt, "start the migration") {
		t.Errorf("the next message re-sent the stopped task's message:\n%s", h.act.runs[1].Prompt)
	}
	if st := resumed; st.State != workflows.StateIdle || st.CanRetry {
		t.Errorf("after the next message: state %q canRetry %v, want idle and nothing to retry", st.State, st.CanRetry)
	}
}

func TestRetryRerunsLastFailedTask(t *testing.T) {
	h := newHarness(t)
	calls := 0
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		calls++
		if calls == 1 {
			return workflows.AgentResult{Outcome: workflows.OutcomeContainerFailed, ErrorSummary: "boom", ExitCode: 1}, nil
		}
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "s2", Text: "fixed"}, nil
	}
	h.signalAt(0, msg("m1", "please work"))
	var failedStatus workflows.Status
	var retry workflows.RetryResult
	var rejectedEarly error
	h.env.RegisterDelayedCallback(func() {
		failedStatus = h.status(t)
		h.env.UpdateWorkflow(workflows.UpdateRetry, "r1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { t.Errorf("retry rejected: %v", err) },
			OnComplete: func(v any, err error) { retry, _ = v.(workflows.RetryResult) },
		})
	}, time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(workflows.UpdateRetry, "r2", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { rejectedEarly = err },
			OnComplete: func(any, error) {},
		})
	}, 10*time.Minute)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if failedStatus.State != workflows.StateFailed || !failedStatus.CanRetry {
		t.Errorf("status after failure = %q canRetry=%v, want failed and retryable", failedStatus.State, failedStatus.CanRetry)
	}
	if retry.Messages != 1 || calls != 2 {
		t.Fatalf("retry=%+v agent calls=%d, want 1 message re-run", retry, calls)
	}
	if !strings.Contains(h.act.runs[1].Prompt, "please work") {
		t.Errorf("retried prompt lost the message: %s", h.act.runs[1].Prompt)
	}
	finals := h.act.finalReplies()
	if len(finals) != 2 || !strings.Contains(finals[0].Text, "boom") || finals[1].Text != "fixed" {
		t.Errorf("replies = %+v", finals)
	}
	if rejectedEarly == nil || !strings.Contains(rejectedEarly.Error(), "nothing to retry") {
		t.Errorf("second retry after success: err = %v, want 'nothing to retry'", rejectedEarly)
	}
}

func TestContinueAsNewCarriesQueuedSignals(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "sess-9", Text: "one"}, nil
	}
	h.env.OnActivity(workflows.ActivityRunAgent, mockAny, mockAny).After(5 * time.Minute).Return(h.act.Run)
	h.signalAt(0, msg("m1", "first"))
	h.signalAt(time.Minute, msg("m2", "arrives during task"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: time.Hour, MaxTasksPerRun: 1}))
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		for e := err; e != nil; e = errors.Unwrap(e) {
			t.Logf("%T", e)
		}
		t.Fatalf("workflow error = %v, want continue-as-new", err)
	}
	var next workflows.Start
	if err := converterFromEnv().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	st := next.State
	if st == nil || len(st.Pending) != 1 || st.Pending[0].ID != "m2" {
		t.Fatalf("continued state pending = %+v, want m2", st)
	}
	if st.SessionID != "sess-9" || len(st.Seen) != 2 || st.TaskCount != 1 {
		t.Errorf("continued state = session %q seen %v tasks %d", st.SessionID, st.Seen, st.TaskCount)
	}

	// The next run picks up the carried message at once and keeps the
	// session, and a redelivery of m1 is still recognised as a duplicate.
	next.Options = idleSoon
	h2 := newHarness(t)
	h2.signalAt(time.Second, msg("m1", "first"))
	h2.env.ExecuteWorkflow(workflows.ConversationWorkflow, next)
	if err := h2.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h2.act.runs) != 1 || h2.act.runs[0].SessionID != "sess-9" || !strings.Contains(h2.act.runs[0].Prompt, "arrives during task") {
		t.Errorf("next run: runs=%+v", h2.act.runs)
	}
}

func TestResumedPromptTooLongRetriesOnceFresh(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		if in.SessionID != "" {
			return workflows.AgentResult{Outcome: workflows.OutcomePromptTooLong, SessionID: in.SessionID}, nil
		}
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "fresh", Text: "recovered"}, nil
	}
	in := start(idleSoon)
	in.State = &workflows.State{SessionID: "old", Model: "opus", HostQueue: "airut-host-a", TaskCount: 3, LastReply: "earlier answer"}
	h.signalAt(0, msg("m1", "continue please"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.runs) != 2 {
		t.Fatalf("runs = %d, want resumed + one fresh retry", len(h.act.runs))
	}
	r := h.act.runs[1]
	if r.SessionID != "" || !strings.Contains(r.Prompt, "could not be resumed") || !strings.Contains(r.Prompt, "earlier answer") || !strings.Contains(r.Prompt, "continue please") {
		t.Errorf("recovery run = session %q prompt:\n%s", r.SessionID, r.Prompt)
	}
	finals := h.act.finalReplies()
	if len(finals) != 1 || finals[0].Text != "recovered" {
		t.Errorf("replies = %+v, want only the recovered reply", finals)
	}
	for _, rep := range h.act.replies {
		if rep.Kind == workflows.ReplyAck {
			t.Errorf("an existing conversation must not be acknowledged again")
		}
	}
}

func TestFreshSessionPromptTooLongIsAFailure(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		return workflows.AgentResult{Outcome: workflows.OutcomePromptTooLong, ErrorSummary: "Prompt is too long"}, nil
	}
	h.signalAt(0, msg("m1", "huge"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if len(h.act.runs) != 1 {
		t.Errorf("runs = %d, want no recovery retry for a new session", len(h.act.runs))
	}
	f := h.act.finalReplies()
	if len(f) != 1 || !strings.Contains(f[0].Text, "Prompt is too long") {
		t.Errorf("replies = %+v", f)
	}
}

func TestIdleExpiryCleansUpAndCompletes(t *testing.T) {
	h := newHarness(t)
	h.signalAt(0, msg("m1", "hello"))
	var expired workflows.Status
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: 24 * time.Hour}))
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed=%v err=%v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if h.act.cleanups != 1 {
		t.Errorf("cleanups = %d, want 1", h.act.cleanups)
	}
	expired = h.status(t)
	if expired.State != workflows.StateExpired {
		t.Errorf("final state = %q, want expired", expired.State)
	}
}

func TestMessageDuringCleanupStartsAfresh(t *testing.T) {
	h := newHarness(t)
	h.env.OnActivity(workflows.ActivityCleanup, mockAny, mockAny).After(time.Minute).Return(nil)
	h.signalAt(0, msg("m1", "hello"))
	h.signalAt(24*time.Hour+30*time.Second, msg("m2", "back again"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: 24 * time.Hour}))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.runs) != 2 || h.act.runs[1].SessionID != "" {
		t.Fatalf("runs = %+v, want a second, fresh run", h.act.runs)
	}
	if last := h.act.prepares[len(h.act.prepares)-1]; last.Rehome {
		t.Errorf("fresh start after expiry flagged as rehome")
	}
}

func TestEmptyMessageGetsEmptyReply(t *testing.T) {
	h := newHarness(t)
	h.signalAt(0, msg("m1", "   "))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if len(h.act.runs) != 0 {
		t.Errorf("agent ran on an empty message")
	}
	f := h.act.finalReplies()
	if len(f) != 1 || f[0].Text != workflows.EmptyText {
		t.Errorf("replies = %+v", f)
	}
}

func TestHostGoneMovesConversation(t *testing.T) {
	h := newHarness(t)
	h.act.prepare = func(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
		// The old host's queue has no worker: the server answers with a
		// schedule-to-start timeout, which the fake plays here.
		if activity.GetInfo(ctx).TaskQueue == "airut-host-a" {
			return workflows.PrepareResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}
		return workflows.PrepareResult{HostQueue: "airut-host-b", Model: "opus", TimeoutSeconds: 60, HeartbeatSeconds: 5}, nil
	}
	h.act.claim = func(context.Context, workflows.ClaimInput) (workflows.ClaimResult, error) {
		return workflows.ClaimResult{HostQueue: "airut-host-b"}, nil
	}
	in := start(idleSoon)
	in.State = &workflows.State{SessionID: "old", Model: "opus", HostQueue: "airut-host-a", TaskCount: 1}
	h.signalAt(0, msg("m1", "go on"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.runs) != 1 || h.act.runs[0].SessionID != "" || !strings.Contains(h.act.runs[0].Prompt, "moved to a new host") {
		t.Fatalf("runs = %+v, want one fresh run with the rehome notice", h.act.runs)
	}
	if h.act.runQueue[0] != "airut-host-b-run" {
		t.Errorf("agent ran on %q, want the new host's run queue airut-host-b-run", h.act.runQueue[0])
	}
	var notices []string
	for _, r := range h.act.replies {
		if r.Kind == workflows.ReplyNotice {
			notices = append(notices, r.Text)
		}
	}
	if len(notices) != 1 || notices[0] != workflows.RehomedText {
		t.Errorf("notices = %q, want the user told once that the conversation moved", notices)
	}
}

// An agent run whose host is lost (never picked up within the host
// timeout, or handed back by a draining host) moves the conversation:
// the user is told, another host is claimed, the workspace is prepared
// afresh there and the task runs again in a new session; one final reply.
func TestAgentRunOnALostHostMoves(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"host gone", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)},
		{"host draining", workflows.Fail(workflows.ErrHostDraining, "this host is draining", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.act.claim = func(context.Context, workflows.ClaimInput) (workflows.ClaimResult, error) {
				if h.act.claims == 1 {
					return workflows.ClaimResult{HostQueue: "airut-host-a"}, nil
				}
				return workflows.ClaimResult{HostQueue: "airut-host-b"}, nil
			}
			h.act.prepare = func(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
				q := activity.GetInfo(ctx).TaskQueue
				return workflows.PrepareResult{HostQueue: q, Model: "opus", TimeoutSeconds: 60, HeartbeatSeconds: 5}, nil
			}
			h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
				if activity.GetInfo(ctx).TaskQueue == "airut-host-a-run" {
					return workflows.AgentResult{}, tc.err
				}
				return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "sess-b", Text: "done on b"}, nil
			}
			h.signalAt(0, msg("m1", "fix it"))
			h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(h.act.runs) != 2 || h.act.runQueue[1] != "airut-host-b-run" || h.act.runs[1].SessionID != "" ||
				!strings.Contains(h.act.runs[1].Prompt, "moved to a new host") || !strings.Contains(h.act.runs[1].Prompt, "fix it") {
				t.Fatalf("runs = %+v on %v, want a second, fresh run on host b with the message and the rehome notice", h.act.runs, h.act.runQueue)
			}
			if len(h.act.prepares) != 2 || !h.act.prepares[1].Rehome || h.act.prepareQueues[1] != "airut-host-b" {
				t.Errorf("prepares = %+v on %v, want the second on host b as a rehome", h.act.prepares, h.act.prepareQueues)
			}
			var moved bool
			for _, r := range h.act.replies {
				moved = moved || r.Text == workflows.MovedText
			}
			finals := h.act.finalReplies()
			if !moved || len(finals) != 1 || finals[0].Text != "done on b" {
				t.Errorf("replies = %+v, want the move notice and one final reply from host b", h.act.replies)
			}
			if st := h.status(t); st.Tasks[0].Outcome != workflows.OutcomeSuccess || !st.Tasks[0].Rehomed {
				t.Errorf("task = %+v, want success, rehomed", st.Tasks[0])
			}
		})
	}
}

var mockAny = mock.Anything

func converterFromEnv() converter.DataConverter { return converter.GetDefaultDataConverter() }

// A stop or retry asked from outside the channel is recorded with who
// asked, bounded to the last few.
func TestActionsAreRecordedWithWhoAsked(t *testing.T) {
	h := newHarness(t)
	h.act.run = func(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
		return workflows.AgentResult{Outcome: workflows.OutcomeSuccess, Text: "ok"}, nil
	}
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	h.signalAt(0, msg("m1", "go"))
	for i := 0; i < 25; i++ {
		a := workflows.Action{Kind: "stop", Actor: fmt.Sprintf("op%d", i), At: at}
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalAction, a) }, time.Second)
	}
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	acts := h.status(t).Actions
	if len(acts) != 20 || acts[0].Actor != "op5" || acts[19].Actor != "op24" || acts[19].Kind != "stop" || !acts[19].At.Equal(at) {
		t.Errorf("actions = %+v, want the last 20, op5..op24", acts)
	}
}
