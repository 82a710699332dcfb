package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Bounds that keep workflow state (and so every continue-as-new input) far
// below Temporal's 2 MB payload limit.
const (
	maxSeenIDs        = 1000
	maxTaskSummaries  = 50
	repliesKeptInFull = 3
	maxReplyInState   = 32 << 10
	defaultMaxTasks   = 100
	defaultIdle       = 7 * 24 * time.Hour
)

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
	Channel        string
	Options        Options
	// State is set when continuing as new.
	State *State
}

// State is everything the conversation remembers between tasks.
type State struct {
	Subject   string
	Model     string
	Effort    string
	SessionID string
	HostQueue string
	ReplyTo   map[string]string
	// Seen holds recently accepted message IDs, oldest first.
	Seen    []string
	Pending []Message
	Tasks   []TaskSummary
	// LastFailed are the messages of the last task if it failed, for retry.
	LastFailed []Message
	TaskCount  int
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

// Status is the answer to the status query.
type Status struct {
	RepoID         string
	ConversationID string
	State          string
	Busy           bool
	Current        *TaskSummary
	Queued         int
	Model          string
	SessionID      string
	HostQueue      string
	Tasks          []TaskSummary
	CanRetry       bool
	PR             string
	PRState        string
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
	in          Start
	st          *State
	seen        map[string]bool
	busy        bool
	current     *TaskSummary
	cancelAgent workflow.CancelFunc
	runTasks    int
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

	idle := in.Options.IdleTimeout
	if idle <= 0 {
		idle = defaultIdle
	}
	maxTasks := in.Options.MaxTasksPerRun
	if maxTasks <= 0 {
		maxTasks = defaultMaxTasks
	}
	for {
		var got, pollDue bool
		var err error
		if c.prLoop {
			got, pollDue, err = c.waitForWork(ctx, idle)
		} else {
			got, err = workflow.AwaitWithTimeout(ctx, idle, func() bool { return len(c.st.Pending) > 0 })
		}
		if err != nil {
			return err
		}
		if !got && pollDue {
			c.pollPR(ctx)
			// A PR followed for weeks grows the history with every poll.
			if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				return c.continueAsNew(ctx, msgs)
			}
			continue
		}
		if !got {
			c.expire(ctx)
			drain(msgs, func(m Message) { c.accept(ctx, m) })
			if len(c.st.Pending) == 0 {
				return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			}
			continue
		}
		batch := c.nextBatch()
		c.runTask(ctx, batch)
		c.runTasks++
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() || c.runTasks >= maxTasks {
			return c.continueAsNew(ctx, msgs)
		}
	}
}

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
// whichever comes first. Idle time counts from the end of the last task,
// so PR polls do not keep a conversation alive.
func (c *conversation) waitForWork(ctx workflow.Context, idle time.Duration) (got, pollDue bool, err error) {
	now := workflow.Now(ctx)
	if c.st.LastActivity.IsZero() {
		c.st.LastActivity = now
	}
	wait := c.st.LastActivity.Add(idle).Sub(now)
	if c.st.PR.Open() {
		if until := c.st.PR.NextPoll.Sub(now); until < wait {
			wait, pollDue = until, true
		}
	}
	if len(c.st.Pending) > 0 {
		return true, false, nil
	}
	if wait <= 0 {
		return false, pollDue, nil
	}
	got, err = workflow.AwaitWithTimeout(ctx, wait, func() bool { return len(c.st.Pending) > 0 })
	return got, pollDue && !got, err
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
		if c.busy && c.cancelAgent != nil {
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
		c.st.LastFailed = nil
		c.st.Pending = append(msgs, c.st.Pending...)
		return RetryResult{Messages: len(msgs)}, nil
	}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error {
		switch {
		case c.busy:
			return errors.New("a task is running; stop it first or wait for it to finish")
		case len(c.st.LastFailed) == 0:
			return errors.New("nothing to retry: the last task did not fail")
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
	if m.ReplyTo != nil {
		c.st.ReplyTo = m.ReplyTo
	}
	c.st.Expired = false
	c.st.Pending = append(c.st.Pending, m)
}

func (c *conversation) status() Status {
	s := Status{
		RepoID: c.in.RepoID, ConversationID: c.in.ConversationID,
		Busy: c.busy, Current: c.current, Queued: len(c.st.Pending),
		Model: c.st.Model, SessionID: c.st.SessionID, HostQueue: c.st.HostQueue,
		Tasks: c.st.Tasks, CanRetry: !c.busy && len(c.st.LastFailed) > 0,
	}
	s.State = c.stateName()
	if c.st.PR != nil {
		s.PR, s.PRState = c.st.PR.Ref.URL, c.st.PR.State
	}
	return s
}

func (c *conversation) stateName() string {
	switch {
	case c.busy:
		return StateBusy
	case c.st.Expired:
		return StateExpired
	case len(c.st.Pending) > 0:
		return StateQueued
	case len(c.st.LastFailed) > 0:
		return StateFailed
	}
	return StateIdle
}

func (c *conversation) setStatus(ctx workflow.Context) {
	// Visibility is best effort: a failed upsert must not fail the task.
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(c.stateName()))
}

// taskID is 12 hex characters, unique per run and stable across replay.
func (c *conversation) taskID(ctx workflow.Context) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s:%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, c.runTasks)))
	return hex.EncodeToString(sum[:6])
}

func (c *conversation) runTask(ctx workflow.Context, batch []Message) {
	log := workflow.GetLogger(ctx)
	t := &TaskSummary{TaskID: c.taskID(ctx), StartedAt: workflow.Now(ctx), Model: c.st.Model}
	for _, m := range batch {
		t.MessageIDs = append(t.MessageIDs, m.ID)
	}
	c.busy, c.current = true, t
	c.setStatus(ctx)
	defer func() {
		t.FinishedAt = workflow.Now(ctx)
		c.st.LastActivity = t.FinishedAt
		c.record(*t)
		c.busy, c.current = false, nil
		c.setStatus(ctx)
	}()
	first := c.st.TaskCount == 0
	c.st.TaskCount++
	if first && c.st.Subject == "" {
		c.st.Subject = batch[0].Subject
	}
	log.Info("task started", "task", t.TaskID, "messages", len(batch))

	if strings.TrimSpace(joinBodies(batch)) == "" && (!first || c.st.Subject == "") {
		t.Outcome = OutcomeEmpty
		c.reply(ctx, t, ReplyError, EmptyText, "", false)
		return
	}

	prep, rehomed, err := c.prepare(ctx, t, batch)
	if err != nil {
		t.Outcome, t.Error = OutcomeInternalError, ProblemText(err)
		c.st.LastFailed = batch
		c.reply(ctx, t, ReplyError, WorkspaceFailureText(t.Error), "", false)
		return
	}
	t.Rehomed = rehomed
	if c.st.Model == "" {
		c.st.Model, c.st.Effort = prep.Model, prep.Effort
		for _, m := range batch {
			if m.ModelHint != "" {
				c.st.Model = m.ModelHint
				break
			}
		}
		t.Model = c.st.Model
	}
	if first && !batch[0].Retry {
		c.reply(ctx, t, ReplyAck, AckText, "", false)
	}

	subject := ""
	if first {
		subject = c.st.Subject
	}
	notice := ""
	if rehomed {
		notice = RehomeNotice
	}
	prompt := ComposePrompt(c.in.Channel, batch, subject, prep.Inbox, notice)
	resumed := c.st.SessionID != ""
	res, err := c.runAgent(ctx, t, prep, prompt, c.st.SessionID)
	if err == nil && resumed && res.Outcome.Unresumable() {
		log.Info("resumed session unusable; retrying once with a fresh session", "task", t.TaskID, "outcome", res.Outcome)
		t.Recovered = true
		res, err = c.runAgent(ctx, t, prep, RecoveryPrompt(c.in.Channel, batch, c.st.LastReply), "")
	}
	if err != nil {
		// The activity itself failed (image build, missing binary, a
		// worker that kept dying): not the agent's output, so it is shown
		// as an error, not as "Claude output".
		t.Outcome, t.Error = OutcomeInternalError, ProblemText(err)
		c.st.LastFailed = batch
		c.reply(ctx, t, ReplyError, InternalFailureText(t.Error), "", true)
		return
	}

	t.Outcome, t.SessionID = res.Outcome, res.SessionID
	t.CostUSD, t.Usage, t.NumTurns, t.DurationMS = res.CostUSD, res.Usage, res.NumTurns, res.DurationMS
	if res.SessionID != "" {
		// A timed-out or stopped session stays resumable, as in the
		// reference: the next message continues where it stopped.
		c.st.SessionID = res.SessionID
	}
	switch res.Outcome {
	case OutcomeSuccess:
		c.st.LastFailed = nil
		c.st.LastReply = res.Text
		text := res.Text
		if c.prLoop {
			if url := c.findPR(ctx); url != "" && !strings.Contains(text, url) {
				text += "\n\nPull request: " + url
			}
		}
		c.reply(ctx, t, ReplyFinal, text, Footer(res), true)
	case OutcomeTimeout:
		c.st.LastFailed = batch
		c.reply(ctx, t, ReplyError, TimeoutText(prep.TimeoutSeconds), BlockedNote(res), false)
	case OutcomeCancelled:
		c.st.LastFailed = batch
		c.reply(ctx, t, ReplyError, StoppedText, "", false)
	default:
		if res.Outcome.Unresumable() {
			// A fresh session that still fails must not be resumed.
			c.st.SessionID = ""
		}
		c.st.LastFailed = batch
		t.Error = res.ErrorSummary
		c.reply(ctx, t, ReplyError, FailureText(res.ErrorSummary), BlockedNote(res), true)
	}
	log.Info("task finished", "task", t.TaskID, "outcome", t.Outcome)
}

func joinBodies(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Body)
	}
	return b.String()
}

// prepare runs PrepareWorkspace on the conversation's host, or on the
// shared queue the first time (whichever worker takes it becomes the
// host). If the host does not pick the task up in time it is presumed gone
// and the conversation moves to a new host with a fresh clone.
func (c *conversation) prepare(ctx workflow.Context, t *TaskSummary, batch []Message) (PrepareResult, bool, error) {
	in := PrepareInput{RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, TaskID: t.TaskID}
	for _, m := range batch {
		in.Attachments = append(in.Attachments, m.Attachments...)
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    c.heartbeatTimeout(),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrConfig, ErrWorkspace},
		},
	}
	rehomed := false
	if c.st.HostQueue != "" {
		opts.TaskQueue = c.st.HostQueue
		opts.ScheduleToStartTimeout = c.hostTimeout()
		var res PrepareResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityPrepareWorkspace, in).Get(ctx, &res)
		if err == nil {
			return res, false, nil
		}
		var te *temporal.TimeoutError
		if !errors.As(err, &te) || te.TimeoutType() != enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
			return res, false, err
		}
		workflow.GetLogger(ctx).Warn("host did not answer; moving conversation", "host", c.st.HostQueue)
		c.st.HostQueue, c.st.SessionID = "", ""
		in.Rehome, rehomed = true, true
	}
	// On the shared queue a host may decline (its agent slots are full);
	// the task then waits, retried until some host has room, as a message
	// waits for a free worker in the reference's pool.
	opts.TaskQueue = SharedQueue
	opts.ScheduleToStartTimeout = 0
	opts.ScheduleToCloseTimeout = 24 * time.Hour
	opts.RetryPolicy = &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     1.5,
		MaximumInterval:        10 * time.Second,
		NonRetryableErrorTypes: []string{ErrConfig, ErrWorkspace},
	}
	var res PrepareResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityPrepareWorkspace, in).Get(ctx, &res); err != nil {
		return res, rehomed, err
	}
	c.st.HostQueue = res.HostQueue
	c.st.HostTimeout = time.Duration(res.HostTimeoutSecs) * time.Second
	c.st.HeartbeatTimeout = time.Duration(res.HeartbeatSeconds) * time.Second
	return res, rehomed, nil
}

// heartbeatTimeout is the configured agent heartbeat timeout as last
// reported by the host (30 s before the first task).
func (c *conversation) heartbeatTimeout() time.Duration {
	if c.st.HeartbeatTimeout > 0 {
		return c.st.HeartbeatTimeout
	}
	return 30 * time.Second
}

func (c *conversation) hostTimeout() time.Duration {
	if c.st.HostTimeout > 0 {
		return c.st.HostTimeout
	}
	return 10 * time.Minute
}

// runAgent runs the agent on the host's run queue. The activity heartbeats,
// so a stop (cancel) reaches it within a heartbeat interval and a dead
// worker is noticed within the heartbeat timeout, not the task timeout.
func (c *conversation) runAgent(ctx workflow.Context, t *TaskSummary, prep PrepareResult, prompt, session string) (AgentResult, error) {
	actx, cancel := workflow.WithCancel(ctx)
	c.cancelAgent = cancel
	defer func() { c.cancelAgent = nil }()
	hb := time.Duration(prep.HeartbeatSeconds) * time.Second
	if hb <= 0 {
		hb = 30 * time.Second
	}
	actx = workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		TaskQueue:           RunQueue(c.st.HostQueue),
		StartToCloseTimeout: time.Duration(prep.TimeoutSeconds)*time.Second + 5*time.Minute,
		HeartbeatTimeout:    hb,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrConfig, ErrWorkspace},
		},
	})
	in := AgentInput{
		RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, TaskID: t.TaskID,
		Prompt: prompt, SessionID: session, Model: c.st.Model, Effort: c.st.Effort,
		Channel: c.in.Channel, ReplyTo: c.st.ReplyTo,
	}
	var res AgentResult
	err := workflow.ExecuteActivity(actx, ActivityRunAgent, in).Get(ctx, &res)
	if err != nil && temporal.IsCanceledError(err) {
		return AgentResult{Outcome: OutcomeCancelled, SessionID: session}, nil
	}
	return res, err
}

// reply delivers a message to the user on the conversation's host (where
// the outbox is). Acknowledgements are best effort; a final reply that
// cannot be delivered is recorded on the task.
func (c *conversation) reply(ctx workflow.Context, t *TaskSummary, kind ReplyKind, text, footer string, outbox bool) {
	queue := c.st.HostQueue
	if queue == "" {
		queue = SharedQueue
	}
	attempts := int32(10)
	if kind == ReplyAck {
		attempts = 3
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    c.heartbeatTimeout(),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			MaximumAttempts:        attempts,
			NonRetryableErrorTypes: []string{ErrDelivery, ErrConfig},
		},
	})
	in := ReplyInput{
		RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, TaskID: t.TaskID,
		Kind: kind, Channel: c.in.Channel, ReplyTo: c.st.ReplyTo, Subject: c.st.Subject,
		Text: text, Footer: footer, AttachOutbox: outbox, MessageIDs: t.MessageIDs,
	}
	if kind != ReplyAck {
		t.Reply = text
	}
	var res ReplyResult
	if err := workflow.ExecuteActivity(actx, ActivityDeliverReply, in).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Error("reply not delivered", "task", t.TaskID, "kind", kind, "error", err)
		if kind != ReplyAck {
			t.Error = strings.TrimSpace(t.Error + "; reply not delivered: " + ProblemText(err))
		}
	}
}

// expire removes the workspace of an idle conversation and marks it done.
func (c *conversation) expire(ctx workflow.Context) {
	c.st.Expired = true
	c.setStatus(ctx)
	if c.st.HostQueue == "" {
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              c.st.HostQueue,
		ScheduleToStartTimeout: c.hostTimeout(),
		StartToCloseTimeout:    5 * time.Minute,
		HeartbeatTimeout:       c.heartbeatTimeout(),
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 3},
	})
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

func (c *conversation) record(t TaskSummary) {
	if len(t.Reply) > maxReplyInState {
		t.Reply = t.Reply[:maxReplyInState] + "\n[...truncated; the full reply was delivered]"
	}
	c.st.Tasks = append(c.st.Tasks, t)
	if len(c.st.Tasks) > maxTaskSummaries {
		c.st.Tasks = c.st.Tasks[len(c.st.Tasks)-maxTaskSummaries:]
	}
	for i := 0; i < len(c.st.Tasks)-repliesKeptInFull; i++ {
		c.st.Tasks[i].Reply = ""
	}
}
