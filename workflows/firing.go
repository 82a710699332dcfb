package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A schedule (repos.<id>.schedules.<name>) is a Temporal Schedule whose
// action is FiringWorkflow. One firing: in script mode the trigger
// command runs first and may end the firing quietly; then a thread is
// opened where the reply will go (a new email, a new Slack post), a new
// conversation starts there with the scheduled prompt, and the firing
// waits for that conversation's first task, so that the Schedule's
// overlap policy covers the whole run. The firing fails when that task
// does not succeed, so failed firings show as failed workflows under the
// schedule; a run of failures tells the recipient once, and so does the
// first success after it.

// Registered names of the schedule path.
const (
	FiringWorkflowName = "FiringWorkflow"
	// SignalFiringDone: a scheduled conversation's first task ended.
	SignalFiringDone = "firing-done"

	ActivityRunTrigger     = "RunTrigger"
	ActivityOpenThread     = "OpenScheduledThread"
	ActivityStartScheduled = "StartScheduledConversation"
	ActivityFiringStreak   = "FiringStreak"
	ActivityScheduleNotice = "SendScheduleNotice"
)

// ChannelSchedule is the AirutChannel search attribute of a conversation a
// schedule started (its replies go by email or Slack).
const ChannelSchedule = "schedule"

// ErrFiringFailed is the error type of a firing whose task did not
// succeed.
const ErrFiringFailed = "ScheduledTaskFailed"

// ScheduleID is the ID of a schedule's Temporal Schedule; its firings'
// workflow IDs start with it.
func ScheduleID(repoID, name string) string { return "airut-schedule/" + repoID + "/" + name }

// FiringInput is a firing: a snapshot of the schedule's settings, taken
// when its Temporal Schedule was last made to match the config.
type FiringInput struct {
	RepoID   string
	Schedule string
	Subject  string
	// Exactly one of Prompt and TriggerCommand is set.
	Prompt         string
	TriggerCommand string
	TriggerTimeout time.Duration
	OutputLimit    int
	Model          string
	Effort         string
	Deliver        Delivery
	// NotifyAfterFailures failed firings in a row send one notice (0:
	// never).
	NotifyAfterFailures int
	// Options are the conversation's workflow options, as ingest gives
	// them.
	Options Options
}

// Delivery is where a scheduled conversation's replies go.
type Delivery struct {
	Channel Channel
	// To is an email address, or a Slack channel or user ID.
	To string
}

// FiringResult is what a firing did.
type FiringResult struct {
	// Quiet: the trigger command found nothing to do; no conversation.
	Quiet          bool   `json:",omitempty"`
	ConversationID string `json:",omitempty"`
	Outcome        Outcome
}

// TriggerInput runs a schedule's command in the repo's container.
type TriggerInput struct {
	RepoID      string
	Schedule    string
	Command     string
	Timeout     time.Duration
	OutputLimit int
}

// TriggerResult is how the command ended.
type TriggerResult struct {
	ExitCode int
	TimedOut bool
	// Output is stdout and stderr as the command wrote them, cut to the
	// output limit (Truncated then names the full size).
	Output    string
	Truncated string `json:",omitempty"`
}

// ThreadInput opens the thread a firing's replies go to.
type ThreadInput struct {
	RepoID   string
	Schedule string
	Subject  string
	Deliver  Delivery
}

// ThreadResult is the new conversation's ID and where it answers.
type ThreadResult struct {
	ConversationID string
	ReplyTo        ReplyTo
}

// ScheduledStart starts the conversation of a firing.
type ScheduledStart struct {
	RepoID         string
	ConversationID string
	Message        Message
	Firing         FiringRef
	Options        Options
}

// FiringRef ties a conversation to the firing that started it.
type FiringRef struct {
	WorkflowID string
	Schedule   string
}

// FiringDone is the conversation's word to its firing.
type FiringDone struct {
	Outcome Outcome
	Error   string `json:",omitempty"`
}

// StreakInput asks for the outcomes of a schedule's latest finished
// firings.
type StreakInput struct {
	ScheduleID string
	// Limit: at most this many, newest first.
	Limit int
	// Exclude is this firing's workflow ID.
	Exclude string
}

// StreakResult: Failed[i] says whether the i-th latest firing failed.
type StreakResult struct {
	Failed []bool
}

// ScheduleNotice tells a schedule's recipient that it keeps failing, or
// works again.
type ScheduleNotice struct {
	RepoID   string
	Schedule string
	Deliver  Delivery
	Subject  string
	Text     string
}

// FiringWorkflow runs one firing of a schedule.
func FiringWorkflow(ctx workflow.Context, in FiringInput) (FiringResult, error) {
	f := &firing{in: in, id: workflow.GetInfo(ctx).WorkflowExecution.ID}
	res, runErr := f.run(ctx)
	if res.Quiet {
		return res, nil
	}
	failed := runErr != nil || res.Outcome != OutcomeSuccess
	f.tell(ctx, failed, res, runErr)
	if runErr != nil {
		return res, runErr
	}
	if failed {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("scheduled task %s ended %s (conversation %s)", in.Schedule, res.Outcome, res.ConversationID), ErrFiringFailed, nil)
	}
	return res, nil
}

// firing is one firing's view.
type firing struct {
	in FiringInput
	id string
}

// run does the firing's work; an error is one of the firing's own steps
// failing, not the agent's task.
func (f *firing) run(ctx workflow.Context) (FiringResult, error) {
	log := workflow.GetLogger(ctx)
	prompt := f.in.Prompt
	if f.in.TriggerCommand != "" {
		var tr TriggerResult
		tctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue: SharedQueue,
			// The command's own limit, plus building the image and
			// cloning the repository.
			StartToCloseTimeout: f.in.TriggerTimeout + 15*time.Minute,
			HeartbeatTimeout:    time.Minute,
			RetryPolicy:         attempts(3, 10*time.Second),
		})
		in := TriggerInput{RepoID: f.in.RepoID, Schedule: f.in.Schedule, Command: f.in.TriggerCommand, Timeout: f.in.TriggerTimeout, OutputLimit: f.in.OutputLimit}
		if err := workflow.ExecuteActivity(tctx, ActivityRunTrigger, in).Get(ctx, &tr); err != nil {
			return FiringResult{}, err
		}
		prompt = TriggerPrompt(f.in.TriggerCommand, tr, f.in.TriggerTimeout)
		if prompt == "" {
			log.Info("trigger command found nothing to do", "schedule", f.in.Schedule)
			return FiringResult{Quiet: true}, nil
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: SharedQueue, StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 8},
	})
	var th ThreadResult
	tin := ThreadInput{RepoID: f.in.RepoID, Schedule: f.in.Schedule, Subject: f.in.Subject, Deliver: f.in.Deliver}
	if err := workflow.ExecuteActivity(actx, ActivityOpenThread, tin).Get(ctx, &th); err != nil {
		return FiringResult{}, err
	}
	res := FiringResult{ConversationID: th.ConversationID}
	msg := Message{
		ID: "schedule:" + f.id, Channel: f.in.Deliver.Channel, Sender: "schedule:" + f.in.Schedule,
		SenderDisplay: "scheduled task " + f.in.Schedule, Subject: f.in.Subject,
		Body:       ScheduledPreamble(f.in.Schedule, f.in.Deliver) + "\n\n" + prompt,
		ReceivedAt: workflow.Now(ctx).UTC(), ReplyTo: th.ReplyTo, ModelHint: f.in.Model,
	}
	start := ScheduledStart{RepoID: f.in.RepoID, ConversationID: th.ConversationID, Message: msg,
		Firing: FiringRef{WorkflowID: f.id, Schedule: f.in.Schedule}, Options: f.in.Options}
	if err := workflow.ExecuteActivity(actx, ActivityStartScheduled, start).Get(ctx, nil); err != nil {
		return res, err
	}
	var done FiringDone
	workflow.GetSignalChannel(ctx, SignalFiringDone).Receive(ctx, &done)
	res.Outcome = done.Outcome
	log.Info("scheduled task ended", "schedule", f.in.Schedule, "conversation", th.ConversationID, "outcome", done.Outcome)
	return res, nil
}

// tell sends the recipient a notice when this firing makes a run of
// NotifyAfterFailures failures, or ends one.
func (f *firing) tell(ctx workflow.Context, failed bool, res FiringResult, runErr error) {
	n := f.in.NotifyAfterFailures
	if n <= 0 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: SharedQueue, StartToCloseTimeout: 2 * time.Minute, RetryPolicy: attempts(5, 5*time.Second),
	})
	var streak StreakResult
	sin := StreakInput{ScheduleID: ScheduleID(f.in.RepoID, f.in.Schedule), Limit: n, Exclude: f.id}
	if err := workflow.ExecuteActivity(actx, ActivityFiringStreak, sin).Get(ctx, &streak); err != nil {
		workflow.GetLogger(ctx).Warn("could not read the schedule's earlier firings; no failure notice", "error", err)
		return
	}
	before := 0
	for _, fl := range streak.Failed {
		if !fl {
			break
		}
		before++
	}
	var text string
	switch {
	case failed && before+1 == n:
		why := string(res.Outcome)
		if runErr != nil {
			why = ProblemText(runErr)
		}
		text = FailingText(f.in.Schedule, n, why, res.ConversationID)
	case !failed && before >= n:
		text = RecoveredText(f.in.Schedule)
	default:
		return
	}
	notice := ScheduleNotice{RepoID: f.in.RepoID, Schedule: f.in.Schedule, Deliver: f.in.Deliver, Subject: f.in.Subject, Text: text}
	if err := workflow.ExecuteActivity(actx, ActivityScheduleNotice, notice).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("schedule notice not sent", "error", err)
	}
}

// ScheduledPreamble tells the agent it runs on a schedule and where its
// reply goes.
func ScheduledPreamble(schedule string, d Delivery) string {
	return fmt.Sprintf("This is a scheduled task %q. Your response will be delivered to %s via %s.", schedule, d.To, d.Channel)
}

// TriggerPrompt is the prompt a trigger command's result makes: none
// when it succeeded without output, its output when it succeeded with
// some, a request to investigate when it failed.
func TriggerPrompt(command string, r TriggerResult, timeout time.Duration) string {
	out := r.Output
	if r.Truncated != "" {
		out += "\n" + r.Truncated
	}
	switch {
	case r.TimedOut:
		return fmt.Sprintf("The scheduled check `%s` did not finish within %s and was stopped. Its output so far:\n\n```\n%s\n```\n\nInvestigate the failure and report findings.",
			command, timeout, strings.TrimRight(out, "\n"))
	case r.ExitCode != 0:
		return fmt.Sprintf("The scheduled check `%s` failed with exit code %d. Its output:\n\n```\n%s\n```\n\nInvestigate the failure and report findings.",
			command, r.ExitCode, strings.TrimRight(out, "\n"))
	case strings.TrimSpace(r.Output) == "":
		return ""
	}
	return out
}

// FailingText tells a schedule's recipient that its last n firings
// failed.
func FailingText(schedule string, n int, why, conversation string) string {
	s := fmt.Sprintf("The scheduled task %q has failed %d times in a row (last: %s).", schedule, n, why)
	if conversation != "" {
		s += fmt.Sprintf(" The last run is conversation %s.", conversation)
	}
	return s + " It keeps running on its schedule; you will hear again when it succeeds."
}

// RecoveredText tells a schedule's recipient that it works again.
func RecoveredText(schedule string) string {
	return fmt.Sprintf("The scheduled task %q succeeded again after failing.", schedule)
}
