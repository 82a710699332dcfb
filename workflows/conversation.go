package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Bounds that keep workflow state (and so every continue-as-new input) far
// below Temporal's 2 MB payload limit.
const (
	maxSeenIDs        = 1000
	maxTaskSummaries  = 50
	maxActions        = 20
	repliesKeptInFull = 3
	// MaxMessageInState bounds a message body kept in TaskSummary.Messages
	// (the dashboard shows the thread from it).
	MaxMessageInState = 2 << 10
	// MaxReplyInState bounds a reply kept in TaskSummary.Reply; a longer
	// one ends with TruncatedMarker (the full text is in replies.jsonl).
	MaxReplyInState = 32 << 10
	defaultMaxTasks = 100
	defaultIdle     = 7 * 24 * time.Hour
)

// TruncatedMarker ends a reply the workflow shortened to MaxReplyInState.
const TruncatedMarker = "[...truncated; the full reply was delivered]"

// Options tune one conversation; zero values take the defaults.
type Options struct {
	// IdleTimeout: after this long without a message the workspace is
	// removed and the workflow completes.
	IdleTimeout time.Duration
	// MaxTasksPerRun: continue-as-new after this many tasks even if the
	// server does not suggest it yet.
	MaxTasksPerRun int
}

// Start is the workflow's input, also carried through continue-as-new.
type Start struct {
	RepoID         string
	ConversationID string
	Channel        Channel
	Options        Options
	// State is set when continuing as new.
	State *State
	// Firing is set when a schedule started the conversation: its first
	// task's end is signalled to the firing.
	Firing *FiringRef `json:",omitempty"`
}

// State is everything the conversation remembers between tasks.
type State struct {
	Subject   string
	Model     string
	Effort    string
	SessionID string
	HostQueue string
	ReplyTo   ReplyTo
	// Seen holds recently accepted message IDs, oldest first.
	Seen    []string
	Pending []Message
	Tasks   []TaskSummary
	// LastFailed are the messages of the last task if it failed or was
	// stopped, for retry.
	LastFailed []Message
	// Actions are the last stops and retries people asked for, oldest
	// first, with who asked.
	Actions []Action `json:",omitempty"`
	// LastStopped: LastFailed are those of a task that was stopped, not
	// one that failed (the state is then "stopped").
	LastStopped bool `json:",omitempty"`
	TaskCount   int
	// LastReply is the last successful reply, for the recovery prompt.
	LastReply string
	Expired   bool
	// HostTimeout is how long to wait for the host before moving the
	// conversation (from config, via PrepareWorkspace).
	HostTimeout time.Duration
	// HeartbeatTimeout is the host's configured heartbeat timeout.
	HeartbeatTimeout time.Duration
	// LastActivity is when the last task ended; idle expiry counts from it.
	LastActivity time.Time
	// PR is the pull request the agent opened, while it is followed.
	PR *PRWatch
}

// TaskSummary records one task.
type TaskSummary struct {
	TaskID     string
	MessageIDs []string
	// Messages are the task's messages as people sent them, each body cut
	// to MaxMessageInState (ending with TruncatedMarker then).
	Messages   []MessageSummary
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    Outcome
	SessionID  string
	Model      string
	CostUSD    float64
	Usage      Usage
	NumTurns   int
	DurationMS int64
	// Reply is the text sent to the user (kept for the last few tasks).
	Reply     string
	Error     string
	Recovered bool
	Rehomed   bool
}

// MessageSummary is a message as the thread shows it.
type MessageSummary struct {
	Sender     string
	Body       string
	ReceivedAt time.Time
	// Auto marks a follow-up the workflow started itself (the PR loop).
	Auto bool
}

// Status is the answer to the status query.
type Status struct {
	RepoID         string
	ConversationID string
	Subject        string
	State          string
	Busy           bool
	Current        *TaskSummary
	Queued         int
	Model          string
	SessionID      string
	HostQueue      string
	Tasks          []TaskSummary
	// Actions are the recent stops and retries, with who asked.
	Actions  []Action
	CanRetry bool
	PR       string
	PRState  string
	// PRChecks is the pull request's checks as last polled ("pending",
	// "passed", "failed: <names>").
	PRChecks string
}

// StopResult answers the stop update.
type StopResult struct {
	Stopped bool
	TaskID  string
	Queued  int
}

// RetryResult answers the retry update.
type RetryResult struct {
	Messages int
}

// conversation is one run's in-memory view; st survives continue-as-new.
type conversation struct {
	in   Start
	st   *State
	seen map[string]bool
	// current is the running task's summary; nil while not busy.
	current     *TaskSummary
	cancelAgent workflow.CancelFunc
	// cancelTask cancels the running phase of the current task (placement,
	// workspace, agent) while it is in it; nil in runs before
	// versionStopTask, whose stop cancelled the agent run only.
	cancelTask workflow.CancelFunc
	// stopping: the stop update cancelled the current task (set only
	// under versionStopTask).
	stopping bool
	runTasks int
	// prLoop: this run follows pull requests (see versionPRLoop).
	prLoop bool
}

// ConversationWorkflow runs a conversation: it receives messages as
// signals, runs one task at a time (messages that arrive meanwhile are
// queued and coalesced into the next task), and keeps the agent session
// across tasks.
func ConversationWorkflow(ctx workflow.Context, in Start) error {
	c := &conversation{in: in, st: in.State, seen: map[string]bool{}}
	if c.st == nil {
		c.st = &State{}
	}
	c.prLoop = workflow.GetVersion(ctx, versionPRLoop, workflow.DefaultVersion, 1) >= 1
	for _, id := range c.st.Seen {
		c.seen[id] = true
	}
	if err := c.registerHandlers(ctx); err != nil {
		return err
	}
	msgs := workflow.GetSignalChannel(ctx, SignalMessage)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var m Message
			msgs.Receive(ctx, &m)
			c.accept(ctx, m)
		}
	})
	// Receiving a signal issues no command: older histories replay as
	// they were.
	actions := workflow.GetSignalChannel(ctx, SignalAction)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a Action
			actions.Receive(ctx, &a)
			c.st.Actions = append(c.st.Actions, a)
			if len(c.st.Actions) > maxActions {
				c.st.Actions = c.st.Actions[len(c.st.Actions)-maxActions:]
			}
		}
	})

	idle := in.Options.IdleTimeout
	if idle <= 0 {
		idle = defaultIdle
	}
	maxTasks := in.Options.MaxTasksPerRun
	if maxTasks <= 0 {
		maxTasks = defaultMaxTasks
	}
	for {
		woke, err := c.waitForWork(ctx, idle)
		if err != nil {
			return err
		}
		switch woke {
		case wokePRPoll:
			c.pollPR(ctx)
			// A PR followed for weeks grows the history with every poll.
			if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				return c.continueAsNew(ctx, msgs)
			}
		case wokeIdle:
			c.expire(ctx)
			drain(msgs, func(m Message) { c.accept(ctx, m) })
			if len(c.st.Pending) == 0 {
				return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			}
		case wokeMessage:
			c.runTask(ctx, c.nextBatch())
			c.runTasks++
			if workflow.GetInfo(ctx).GetContinueAsNewSuggested() || c.runTasks >= maxTasks {
				return c.continueAsNew(ctx, msgs)
			}
		}
	}
}

// wake is what ended a wait for work.
type wake int

const (
	// wokeMessage: messages are pending; run a task.
	wokeMessage wake = iota
	// wokePRPoll: the followed pull request is due for a poll.
	wokePRPoll
	// wokeIdle: nothing came for the idle timeout; expire.
	wokeIdle
)

// continueAsNew ends this run and starts the next with the state, once
// update handlers are done.
func (c *conversation) continueAsNew(ctx workflow.Context, msgs workflow.ReceiveChannel) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	// Signals already delivered to this run must travel with the state:
	// the server refuses to close a run with unread signals, and dropping
	// them here would lose a user's message.
	drain(msgs, func(m Message) { c.accept(ctx, m) })
	next := c.in
	next.State = c.st
	workflow.GetLogger(ctx).Info("continuing as new", "tasks", c.st.TaskCount, "pending", len(c.st.Pending))
	return workflow.NewContinueAsNewError(ctx, ConversationWorkflow, next)
}

// waitForWork waits for a message, the next PR poll or idle expiry,
// whichever comes first, and says which. Idle time counts from the end of
// the last task, so PR polls do not keep a conversation alive.
func (c *conversation) waitForWork(ctx workflow.Context, idle time.Duration) (wake, error) {
	if !c.prLoop {
		// Runs recorded before the PR loop waited the whole idle timeout
		// from now, even with messages already pending.
		got, err := workflow.AwaitWithTimeout(ctx, idle, func() bool { return len(c.st.Pending) > 0 })
		if got {
			return wokeMessage, err
		}
		return wokeIdle, err
	}
	now := workflow.Now(ctx)
	if c.st.LastActivity.IsZero() {
		c.st.LastActivity = now
	}
	wait := c.st.LastActivity.Add(idle).Sub(now)
	// out is what the wait ends with if no message comes first.
	out := wokeIdle
	if c.st.PR.Open() {
		if until := c.st.PR.NextPoll.Sub(now); until < wait {
			wait, out = until, wokePRPoll
		}
	}
	if len(c.st.Pending) > 0 {
		return wokeMessage, nil
	}
	if wait <= 0 {
		return out, nil
	}
	got, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return len(c.st.Pending) > 0 })
	if got {
		return wokeMessage, err
	}
	return out, err
}

// nextBatch takes the messages for the next task: everything people sent,
// coalesced; automatic follow-ups only when no person is waiting.
func (c *conversation) nextBatch() []Message {
	if !c.prLoop {
		batch := c.st.Pending
		c.st.Pending = nil
		return batch
	}
	var human, auto []Message
	for _, m := range c.st.Pending {
		if m.Auto {
			auto = append(auto, m)
		} else {
			human = append(human, m)
		}
	}
	if len(human) > 0 {
		c.st.Pending = auto
		return human
	}
	c.st.Pending = nil
	return auto
}

func drain(ch workflow.ReceiveChannel, f func(Message)) {
	for {
		var m Message
		if !ch.ReceiveAsync(&m) {
			return
		}
		f(m)
	}
}

func (c *conversation) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return c.status(), nil }); err != nil {
		return fmt.Errorf("register status query: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateStop, func(ctx workflow.Context) (StopResult, error) {
		res := StopResult{Queued: len(c.st.Pending)}
		switch {
		case c.current == nil:
		case c.cancelTask != nil:
			c.stopping = true
			c.cancelTask()
			res.Stopped, res.TaskID = true, c.current.TaskID
		case c.cancelAgent != nil:
			c.cancelAgent()
			res.Stopped, res.TaskID = true, c.current.TaskID
		}
		return res, nil
	}); err != nil {
		return fmt.Errorf("register stop update: %w", err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateRetry, func(ctx workflow.Context) (RetryResult, error) {
		msgs := make([]Message, len(c.st.LastFailed))
		for i, m := range c.st.LastFailed {
			m.Retry = true
			msgs[i] = m
		}
		c.st.LastFailed, c.st.LastStopped = nil, false
		c.st.Pending = append(msgs, c.st.Pending...)
		c.setDetails(ctx)
		return RetryResult{Messages: len(msgs)}, nil
	}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error {
		switch {
		case c.current != nil:
			return errors.New("a task is running; stop it first or wait for it to finish")
		case len(c.st.LastFailed) == 0:
			return errors.New("nothing to retry: the last task did not fail and was not stopped")
		}
		return nil
	}})
}

// accept queues a message unless its ID was seen before: channels may
// deliver a message twice (a crash before the source was acknowledged),
// and each must run once.
func (c *conversation) accept(ctx workflow.Context, m Message) {
	if !m.Retry {
		if c.seen[m.ID] {
			workflow.GetLogger(ctx).Info("duplicate message ignored", "message", m.ID)
			return
		}
		c.seen[m.ID] = true
		c.st.Seen = append(c.st.Seen, m.ID)
		if len(c.st.Seen) > maxSeenIDs {
			delete(c.seen, c.st.Seen[0])
			c.st.Seen = c.st.Seen[1:]
		}
	}
	if !m.ReplyTo.IsZero() {
		c.st.ReplyTo = m.ReplyTo
	}
	c.st.Expired = false
	c.st.Pending = append(c.st.Pending, m)
	c.setDetails(ctx)
}

func (c *conversation) status() Status {
	s := Status{
		RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, Subject: c.st.Subject,
		Busy: c.current != nil, Current: c.current, Queued: len(c.st.Pending),
		Model: c.st.Model, SessionID: c.st.SessionID, HostQueue: c.st.HostQueue,
		Tasks: c.st.Tasks, Actions: c.st.Actions, CanRetry: c.current == nil && len(c.st.LastFailed) > 0,
	}
	s.State = c.stateName()
	if c.st.PR != nil {
		s.PR, s.PRState, s.PRChecks = c.st.PR.Ref.URL, c.st.PR.State, c.st.PR.Checks
	}
	return s
}

func (c *conversation) stateName() string {
	switch {
	case c.current != nil:
		return StateBusy
	case c.st.Expired:
		return StateExpired
	case len(c.st.Pending) > 0:
		return StateQueued
	case len(c.st.LastFailed) > 0 && c.st.LastStopped:
		return StateStopped
	case len(c.st.LastFailed) > 0:
		return StateFailed
	}
	return StateIdle
}

func (c *conversation) setStatus(ctx workflow.Context) {
	// Visibility is best effort: a failed upsert must not fail the task.
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(c.stateName()))
	c.setDetails(ctx)
}

// setDetails sets what the Web UI shows as the workflow's current
// details: the subject (its start summary does not survive
// continue-as-new) and where the conversation stands. It is workflow
// state, not a command: it may be called anywhere without a version.
func (c *conversation) setDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, c.details())
}

// details is the conversation's current details in the Web UI (Markdown).
func (c *conversation) details() string {
	var b strings.Builder
	if c.st.Subject != "" {
		fmt.Fprintf(&b, "**%s**\n\n", strings.NewReplacer("*", "\\*", "_", "\\_", "\n", " ").Replace(c.st.Subject))
	}
	fmt.Fprintf(&b, "state: %s · tasks: %d", c.stateName(), c.st.TaskCount)
	if c.current != nil {
		fmt.Fprintf(&b, " · running task %s since %s", c.current.TaskID, c.current.StartedAt.UTC().Format(time.RFC3339))
	}
	if n := len(c.st.Pending); n > 0 {
		fmt.Fprintf(&b, " · %d queued", n)
	}
	if c.st.HostQueue != "" {
		fmt.Fprintf(&b, " · host %s", strings.TrimPrefix(c.st.HostQueue, HostQueue("")))
	}
	if c.st.PR != nil {
		fmt.Fprintf(&b, " · PR %s (%s)", c.st.PR.Ref.URL, c.st.PR.State)
	}
	return b.String()
}

// expire removes the workspace of an idle conversation and marks it done.
func (c *conversation) expire(ctx workflow.Context) {
	c.st.Expired = true
	c.setStatus(ctx)
	if c.st.HostQueue == "" {
		return
	}
	actx := workflow.WithActivityOptions(ctx, c.hostOptions(5*time.Minute))
	err := workflow.ExecuteActivity(actx, ActivityCleanup, CleanupInput{RepoID: c.in.RepoID, ConversationID: c.in.ConversationID}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("cleanup failed", "error", err)
	}
	// The workspace is gone: a later message starts afresh (new clone, new
	// session) under the same conversation ID.
	c.st.HostQueue, c.st.SessionID, c.st.Model, c.st.Effort = "", "", "", ""
	c.st.TaskCount = 0
	c.st.PR = nil
}
