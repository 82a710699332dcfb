package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/workflows"
)

// firingFakes stand in for the firing's activities and record what they
// were asked.
type firingFakes struct {
	trigger  *workflows.TriggerResult
	streak   []bool
	started  []workflows.ScheduledStart
	notices  []workflows.ScheduleNotice
	triggers []workflows.TriggerInput
}

func (f *firingFakes) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterWorkflow(workflows.FiringWorkflow)
	env.RegisterActivityWithOptions(func(_ context.Context, in workflows.TriggerInput) (workflows.TriggerResult, error) {
		f.triggers = append(f.triggers, in)
		return *f.trigger, nil
	}, activity.RegisterOptions{Name: workflows.ActivityRunTrigger})
	env.RegisterActivityWithOptions(func(_ context.Context, in workflows.ThreadInput) (workflows.ThreadResult, error) {
		return workflows.ThreadResult{ConversationID: "c0ffee01", ReplyTo: workflows.ReplyTo{EmailThread: &workflows.EmailThread{To: in.Deliver.To, Subject: in.Subject}}}, nil
	}, activity.RegisterOptions{Name: workflows.ActivityOpenThread})
	env.RegisterActivityWithOptions(func(_ context.Context, in workflows.ScheduledStart) error {
		f.started = append(f.started, in)
		return nil
	}, activity.RegisterOptions{Name: workflows.ActivityStartScheduled})
	env.RegisterActivityWithOptions(func(_ context.Context, in workflows.StreakInput) (workflows.StreakResult, error) {
		return workflows.StreakResult{Failed: f.streak}, nil
	}, activity.RegisterOptions{Name: workflows.ActivityFiringStreak})
	env.RegisterActivityWithOptions(func(_ context.Context, in workflows.ScheduleNotice) error {
		f.notices = append(f.notices, in)
		return nil
	}, activity.RegisterOptions{Name: workflows.ActivityScheduleNotice})
}

// A firing opens its thread, starts the conversation with the scheduled
// prompt (or what the trigger command made of it), waits for the first
// task and ends as that task did; a run of failures tells the recipient
// once when it reaches notify_after_failures, and once when it ends.
func TestFiringWorkflow(t *testing.T) {
	base := workflows.FiringInput{RepoID: "demo", Schedule: "nightly", Subject: "Nightly deps", TriggerTimeout: time.Minute,
		OutputLimit: 100, Deliver: workflows.Delivery{Channel: workflows.ChannelEmail, To: "alice@example.com"}, NotifyAfterFailures: 3}
	tests := []struct {
		name       string
		prompt     string
		trigger    *workflows.TriggerResult
		outcome    workflows.Outcome // the first task's, "" for none
		streak     []bool
		wantBody   string // "" when no conversation starts
		wantFailed bool
		wantNotice string
	}{
		{name: "prompt", prompt: "Update the dependencies.", outcome: workflows.OutcomeSuccess,
			wantBody: "Update the dependencies."},
		{name: "trigger quiet", trigger: &workflows.TriggerResult{ExitCode: 0, Output: " \n"}},
		{name: "trigger output is the prompt", trigger: &workflows.TriggerResult{Output: "3 dependencies are outdated"}, outcome: workflows.OutcomeSuccess,
			wantBody: "3 dependencies are outdated"},
		{name: "trigger failure asks to investigate", trigger: &workflows.TriggerResult{ExitCode: 2, Output: "boom", Truncated: "[...truncated]"}, outcome: workflows.OutcomeSuccess,
			wantBody: "The scheduled check `./check.sh` failed with exit code 2. Its output:\n\n```\nboom\n[...truncated]\n```\n\nInvestigate the failure and report findings."},
		{name: "trigger timeout asks to investigate", trigger: &workflows.TriggerResult{TimedOut: true, ExitCode: -1, Output: "partial"}, outcome: workflows.OutcomeSuccess,
			wantBody: "did not finish within 1m0s and was stopped"},
		{name: "failure below the threshold", prompt: "p", outcome: workflows.OutcomeTimeout, streak: []bool{true},
			wantBody: "p", wantFailed: true},
		{name: "third failure in a row tells", prompt: "p", outcome: workflows.OutcomeTimeout, streak: []bool{true, true, false},
			wantBody: "p", wantFailed: true, wantNotice: `The scheduled task "nightly" has failed 3 times in a row (last: timeout). The last run is conversation c0ffee01.`},
		{name: "fourth failure is quiet", prompt: "p", outcome: workflows.OutcomeTimeout, streak: []bool{true, true, true},
			wantBody: "p", wantFailed: true},
		{name: "success after the run tells", prompt: "p", outcome: workflows.OutcomeSuccess, streak: []bool{true, true, true},
			wantBody: "p", wantNotice: `The scheduled task "nightly" succeeded again after failing.`},
		{name: "success after fewer failures is quiet", prompt: "p", outcome: workflows.OutcomeSuccess, streak: []bool{true, true},
			wantBody: "p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			f := &firingFakes{trigger: tt.trigger, streak: tt.streak}
			f.register(env)
			in := base
			in.Prompt = tt.prompt
			if tt.trigger != nil {
				in.TriggerCommand = "./check.sh"
			}
			if tt.outcome != "" {
				// The conversation's first task ends an hour later.
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(workflows.SignalFiringDone, workflows.FiringDone{Outcome: tt.outcome})
				}, time.Hour)
			}
			env.ExecuteWorkflow(workflows.FiringWorkflow, in)
			if !env.IsWorkflowCompleted() {
				t.Fatal("the firing did not complete")
			}
			err := env.GetWorkflowError()
			var app *temporal.ApplicationError
			if failed := err != nil; failed != tt.wantFailed || (failed && (!errors.As(err, &app) || app.Type() != workflows.ErrFiringFailed)) {
				t.Errorf("firing error = %v, want failed=%v as %s", err, tt.wantFailed, workflows.ErrFiringFailed)
			}
			if tt.trigger != nil && (len(f.triggers) != 1 || f.triggers[0].Command != "./check.sh" || f.triggers[0].OutputLimit != 100) {
				t.Errorf("trigger runs = %+v", f.triggers)
			}
			if tt.wantBody == "" {
				if len(f.started) != 0 {
					t.Errorf("a quiet trigger started a conversation: %+v", f.started)
				}
				return
			}
			if len(f.started) != 1 {
				t.Fatalf("conversations started = %d, want 1", len(f.started))
			}
			st := f.started[0]
			m := st.Message
			if !strings.HasPrefix(m.Body, `This is a scheduled task "nightly". Your response will be delivered to alice@example.com via email.`) ||
				!strings.Contains(m.Body, tt.wantBody) {
				t.Errorf("message body = %q, want the preamble and %q", m.Body, tt.wantBody)
			}
			if st.ConversationID != "c0ffee01" || m.Channel != workflows.ChannelEmail || m.Sender != "schedule:nightly" || m.Subject != "Nightly deps" ||
				m.ReplyTo.EmailThread == nil || m.ReplyTo.EmailThread.To != "alice@example.com" || !strings.HasPrefix(st.Firing.WorkflowID, "default-test-workflow-id") {
				t.Errorf("start = %+v", st)
			}
			var notices []string
			for _, n := range f.notices {
				notices = append(notices, n.Text)
			}
			if want := []string{tt.wantNotice}; (tt.wantNotice == "" && len(notices) != 0) || (tt.wantNotice != "" && (len(notices) != 1 || !strings.HasPrefix(notices[0], tt.wantNotice))) {
				t.Errorf("notices = %q, want %q", notices, want)
			}
		})
	}
}

// A conversation a schedule started tells its firing how its first task
// ended, once: later tasks (the recipient's replies) do not.
func TestScheduledConversationReportsItsFirstTask(t *testing.T) {
	h := newHarness(t)
	var told []workflows.FiringDone
	h.env.OnSignalExternalWorkflow(mockAny, "airut-schedule/web/nightly-1", "", workflows.SignalFiringDone, mockAny).Return(
		func(_, _, _, _ string, arg any) error {
			told = append(told, arg.(workflows.FiringDone))
			return nil
		})
	in := start(idleSoon)
	in.Firing = &workflows.FiringRef{WorkflowID: "airut-schedule/web/nightly-1", Schedule: "nightly"}
	h.signalAt(0, msg("m1", "scheduled prompt"))
	h.signalAt(time.Minute, msg("m2", "a reply from the recipient"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.runs) != 2 {
		t.Fatalf("agent runs = %d, want 2", len(h.act.runs))
	}
	if len(told) != 1 || told[0].Outcome != workflows.OutcomeSuccess {
		t.Errorf("firing told %+v, want once, success", told)
	}
	// The recipient asked for nothing: no acknowledgement, the reply is
	// the first they hear.
	for _, r := range h.act.replies {
		if r.Kind == workflows.ReplyAck {
			t.Errorf("a scheduled conversation sent an acknowledgement: %+v", r)
		}
	}
}
