package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// versionClaimHost: a new conversation is placed by ClaimHost on the
// shared queue, then prepared on the host that claimed it (with that
// host's three attempts). Runs recorded before it placed the conversation
// by retrying PrepareWorkspace itself on the shared queue for up to a day.
const versionClaimHost = "claim-host"

// versionStopTask: the stop update cancels whatever the task is doing
// (ClaimHost, PrepareWorkspace, the agent run), and a task stopped before
// its agent ran ends as stopped. Runs recorded before it cancelled the
// agent run only, so a stop during preparation asked for no cancellation.
const versionStopTask = "stop-task"

// task is the one running now: its summary (what the status query shows
// and history keeps) and what the workflow needs while it runs.
type task struct {
	sum   *TaskSummary
	batch []Message
	// first: the conversation's first task (acknowledged, titled).
	first bool
}

// outgoing is one reply of a task.
type outgoing struct {
	Kind   ReplyKind
	Text   string
	Footer string
	// Outbox sends the outbox files with the reply.
	Outbox bool
}

// failure ends a task before or instead of the agent's own result.
type failure struct {
	outcome Outcome
	// problem is recorded on the task; reply is what the user reads.
	problem string
	reply   outgoing
	// retryable: the retry update may run the task again.
	retryable bool
}

// runTask runs one task: the running part (workspace, acknowledgement,
// agent) and then the finishing part (state and reply from the outcome).
func (c *conversation) runTask(ctx workflow.Context, batch []Message) {
	t := c.begin(ctx, batch)
	defer c.end(ctx, t)
	res, prep, fail := c.running(ctx, t)
	if fail != nil {
		c.fail(ctx, t, *fail)
		return
	}
	c.finishing(ctx, t, prep, res)
	workflow.GetLogger(ctx).Info("task finished", "task", t.sum.TaskID, "outcome", t.sum.Outcome)
}

// begin marks the conversation busy with a new task.
func (c *conversation) begin(ctx workflow.Context, batch []Message) *task {
	t := &task{
		sum:   &TaskSummary{TaskID: c.taskID(ctx), StartedAt: workflow.Now(ctx), Model: c.st.Model},
		batch: batch,
		first: c.st.TaskCount == 0,
	}
	for _, m := range batch {
		t.sum.MessageIDs = append(t.sum.MessageIDs, m.ID)
		body := bounded(m.Body, MaxMessageInState)
		sender := m.SenderDisplay
		if sender == "" {
			sender = m.Sender
		}
		t.sum.Messages = append(t.sum.Messages, MessageSummary{Sender: sender, Body: body, ReceivedAt: m.ReceivedAt, Auto: m.Auto})
	}
	c.current = t.sum
	c.stopping = false
	c.st.TaskCount++
	if t.first && c.st.Subject == "" {
		c.st.Subject = batch[0].Subject
	}
	c.setStatus(ctx)
	workflow.GetLogger(ctx).Info("task started", "task", t.sum.TaskID, "messages", len(batch))
	return t
}

// end records the task and marks the conversation no longer busy. The
// first task of a scheduled conversation tells its firing how it ended
// (only conversations started with a Firing do: older histories have
// none).
func (c *conversation) end(ctx workflow.Context, t *task) {
	t.sum.FinishedAt = workflow.Now(ctx)
	c.st.LastActivity = t.sum.FinishedAt
	c.record(*t.sum)
	c.current = nil
	c.setStatus(ctx)
	if f := c.in.Firing; f != nil && t.first {
		done := FiringDone{Outcome: t.sum.Outcome, Error: t.sum.Error}
		if err := workflow.SignalExternalWorkflow(ctx, f.WorkflowID, "", SignalFiringDone, done).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("could not tell the schedule's firing that its task ended", "firing", f.WorkflowID, "error", err)
		}
	}
}

// running prepares the workspace, acknowledges a new conversation and runs
// the agent (once more with a fresh session if the old one cannot be
// resumed). A failure is what stopped it short of an agent result.
func (c *conversation) running(ctx workflow.Context, t *task) (AgentResult, PrepareResult, *failure) {
	if strings.TrimSpace(joinBodies(t.batch)) == "" && (!t.first || c.st.Subject == "") {
		return AgentResult{}, PrepareResult{}, &failure{outcome: OutcomeEmpty, reply: outgoing{Kind: ReplyError, Text: EmptyText}}
	}
	// The running phase runs under a context the stop update cancels.
	// Acknowledgements and replies use the task's own context: a stop must
	// not cut a message to the user in half.
	rctx := ctx
	if workflow.GetVersion(ctx, versionStopTask, workflow.DefaultVersion, 1) >= 1 {
		var cancel workflow.CancelFunc
		rctx, cancel = workflow.WithCancel(ctx)
		c.cancelTask = cancel
		defer func() { c.cancelTask = nil }()
	}
	prep, rehomed, err := c.prepare(rctx, t, false)
	if c.stopping {
		return AgentResult{}, prep, c.stopped()
	}
	if err != nil {
		problem := ProblemText(err)
		return AgentResult{}, prep, &failure{outcome: OutcomeInternalError, problem: problem, retryable: true,
			reply: outgoing{Kind: ReplyError, Text: WorkspaceFailureText(problem)}}
	}
	t.sum.Rehomed = rehomed
	if c.st.Model == "" {
		c.st.Model, c.st.Effort = prep.Model, prep.Effort
		for _, m := range t.batch {
			if m.ModelHint != "" {
				c.st.Model = m.ModelHint
				break
			}
		}
		t.sum.Model = c.st.Model
	}
	// A scheduled task's recipient asked for nothing: the reply is the
	// first they hear (only conversations with a Firing skip it).
	if t.first && !t.batch[0].Retry && c.in.Firing == nil {
		c.reply(ctx, t, outgoing{Kind: ReplyAck, Text: AckText})
	}
	// A conversation whose host was lost while it waited tells its user
	// why the agent starts over, as a moved run does.
	if rehomed && workflow.GetVersion(ctx, versionRehomeNotice, workflow.DefaultVersion, 1) >= 1 {
		c.reply(ctx, t, outgoing{Kind: ReplyNotice, Text: RehomedText})
	}
	if c.stopping {
		return AgentResult{}, prep, c.stopped()
	}

	subject, notice := "", ""
	if t.first {
		subject = c.st.Subject
	}
	if rehomed {
		notice = RehomeNotice
	}
	prompt := ComposePrompt(c.in.Channel, t.batch, subject, prep.Inbox, notice)
	resumed := c.st.SessionID != ""
	res, err := c.runAgent(rctx, t, prep, prompt, c.st.SessionID)
	// The host went away under the run (or drains): the conversation
	// moves to a host that has room, where the task starts again on a
	// fresh clone, and the user is told.
	for moves := 0; err != nil && hostLost(err) && !c.stopping && moves < maxMoves; moves++ {
		workflow.GetLogger(ctx).Warn("agent run's host is gone or draining; moving the conversation", "task", t.sum.TaskID, "host", c.st.HostQueue)
		// Cleared first: the notice goes from any worker, not the lost host.
		c.st.HostQueue, c.st.SessionID = "", ""
		c.reply(ctx, t, outgoing{Kind: ReplyNotice, Text: MovedText})
		prep, _, err = c.prepare(rctx, t, true)
		if c.stopping {
			return AgentResult{}, prep, c.stopped()
		}
		if err != nil {
			break
		}
		t.sum.Rehomed, resumed = true, false
		prompt = ComposePrompt(c.in.Channel, t.batch, subject, prep.Inbox, RehomeNotice)
		res, err = c.runAgent(rctx, t, prep, prompt, "")
	}
	if err == nil && resumed && res.Outcome.Unresumable() && !c.stopping {
		workflow.GetLogger(ctx).Info("resumed session unusable; retrying once with a fresh session", "task", t.sum.TaskID, "outcome", res.Outcome)
		t.sum.Recovered = true
		res, err = c.runAgent(rctx, t, prep, RecoveryPrompt(c.in.Channel, t.batch, c.st.LastReply), "")
	}
	if err != nil && c.stopping {
		// The run was stopped on its way (an activity of an older worker
		// reports the kill as its own failure): a stop, not an error.
		return AgentResult{}, prep, c.stopped()
	}
	if err != nil {
		// The activity itself failed (image build, missing binary, a
		// worker that kept dying): not the agent's output, so it is shown
		// as an error, not as "Claude output".
		problem := ProblemText(err)
		return res, prep, &failure{outcome: OutcomeInternalError, problem: problem, retryable: true,
			reply: outgoing{Kind: ReplyError, Text: InternalFailureText(problem), Outbox: true}}
	}
	return res, prep, nil
}

// stopped is the end of a task the stop update cancelled before its agent
// gave a result: it can be retried, and the session stays as it was.
func (c *conversation) stopped() *failure {
	return &failure{outcome: OutcomeCancelled, retryable: true,
		reply: outgoing{Kind: ReplyError, Text: StoppedText(c.in.ConversationID)}}
}

// fail ends a task that produced no agent result.
func (c *conversation) fail(ctx workflow.Context, t *task, f failure) {
	t.sum.Outcome, t.sum.Error = f.outcome, f.problem
	if f.retryable {
		c.st.LastFailed, c.st.LastStopped = t.batch, f.outcome == OutcomeCancelled
	}
	c.reply(ctx, t, f.reply)
}

// finishing turns the agent's result into the conversation's state and
// the reply.
func (c *conversation) finishing(ctx workflow.Context, t *task, prep PrepareResult, res AgentResult) {
	s := t.sum
	s.Outcome, s.SessionID = res.Outcome, res.SessionID
	s.CostUSD, s.Usage, s.NumTurns, s.DurationMS = res.CostUSD, res.Usage, res.NumTurns, res.DurationMS
	if res.SessionID != "" {
		// A timed-out or stopped session stays resumable, as in the
		// reference: the next message continues where it stopped.
		c.st.SessionID = res.SessionID
	}
	if res.Outcome == OutcomeSuccess {
		c.st.LastFailed, c.st.LastStopped = nil, false
		c.st.LastReply = res.Text
		text := res.Text
		if c.prLoop {
			if url := c.findPR(ctx); url != "" && !strings.Contains(text, url) {
				text += "\n\nPull request: " + url
			}
		}
		c.reply(ctx, t, outgoing{Kind: ReplyFinal, Text: text, Footer: Footer(res), Outbox: true})
		return
	}
	c.st.LastFailed, c.st.LastStopped = t.batch, res.Outcome == OutcomeCancelled
	switch res.Outcome {
	case OutcomeTimeout:
		c.reply(ctx, t, outgoing{Kind: ReplyError, Text: TimeoutText(prep.TimeoutSeconds), Footer: BlockedNote(res)})
	case OutcomeCancelled:
		c.reply(ctx, t, outgoing{Kind: ReplyError, Text: StoppedText(c.in.ConversationID)})
	default:
		if res.Outcome.Unresumable() {
			// A fresh session that still fails must not be resumed.
			c.st.SessionID = ""
		}
		s.Error = res.ErrorSummary
		c.reply(ctx, t, outgoing{Kind: ReplyError, Text: FailureText(res.ErrorSummary), Footer: BlockedNote(res), Outbox: true})
	}
}

func joinBodies(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Body)
	}
	return b.String()
}

// taskID is 12 hex characters, unique per run and stable across replay.
func (c *conversation) taskID(ctx workflow.Context) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s:%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, c.runTasks)))
	return hex.EncodeToString(sum[:6])
}

// prepare makes the workspace ready on the conversation's host. A
// conversation without a host (its first task, or its host is gone) is
// placed first: ClaimHost on the shared queue is taken by whichever worker
// has a free agent slot, which becomes its host. A host that does not pick
// up the preparation within the host timeout is presumed gone, and the
// conversation moves to a new host with a fresh clone.
func (c *conversation) prepare(ctx workflow.Context, t *task, moved bool) (PrepareResult, bool, error) {
	in := PrepareInput{RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, TaskID: t.sum.TaskID, Rehome: moved}
	for _, m := range t.batch {
		in.Attachments = append(in.Attachments, m.Attachments...)
	}
	rehomed := moved
	if c.st.HostQueue != "" {
		res, err := c.prepareOn(ctx, c.prepareOptions(c.st.HostQueue), in)
		if !hostGone(err) {
			return res, false, err
		}
		workflow.GetLogger(ctx).Warn("host did not answer; moving conversation", "host", c.st.HostQueue)
		c.st.HostQueue, c.st.SessionID = "", ""
		in.Rehome, rehomed = true, true
	}
	if workflow.GetVersion(ctx, versionClaimHost, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		res, err := c.prepareOn(ctx, c.legacyPrepareOptions(), in)
		return res, rehomed, err
	}
	// A host that dies between claiming and preparing is passed over once.
	var err error
	for range 2 {
		var claim ClaimResult
		cin := ClaimInput{RepoID: c.in.RepoID, ConversationID: c.in.ConversationID}
		if err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, c.claimOptions()), ActivityClaimHost, cin).Get(ctx, &claim); err != nil {
			return PrepareResult{}, rehomed, err
		}
		var res PrepareResult
		res, err = c.prepareOn(ctx, c.prepareOptions(claim.HostQueue), in)
		if !hostGone(err) {
			return res, rehomed, err
		}
		workflow.GetLogger(ctx).Warn("claimed host did not answer; placing the conversation again", "host", claim.HostQueue)
	}
	return PrepareResult{}, rehomed, err
}

// prepareOn runs PrepareWorkspace with opts; on success the host that ran
// it is the conversation's home, with its settings.
func (c *conversation) prepareOn(ctx workflow.Context, opts workflow.ActivityOptions, in PrepareInput) (PrepareResult, error) {
	var res PrepareResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityPrepareWorkspace, in).Get(ctx, &res); err != nil {
		return res, err
	}
	c.st.HostQueue = res.HostQueue
	c.st.HostTimeout = secondsOr(res.HostTimeoutSecs, c.st.HostTimeout)
	c.st.HeartbeatTimeout = secondsOr(res.HeartbeatSeconds, c.st.HeartbeatTimeout)
	return res, nil
}

// hostGone reports whether err says the host never picked the task up.
func hostGone(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// runAgent runs the agent on the host's run queue. The activity heartbeats
// every second and its worker sends them at that pace, so a stop (cancel)
// reaches it within about a second, and a dead worker is noticed within
// the heartbeat timeout, not the task timeout. A stopped run answers with
// an OutcomeCancelled result carrying the session it ran in (so the next
// message resumes it); one that could not (an older worker) is cancelled,
// and the task then keeps the session it started with.
func (c *conversation) runAgent(ctx workflow.Context, t *task, prep PrepareResult, prompt, session string) (AgentResult, error) {
	actx, cancel := workflow.WithCancel(ctx)
	c.cancelAgent = cancel
	defer func() { c.cancelAgent = nil }()
	moving := workflow.GetVersion(ctx, versionMoveRuns, workflow.DefaultVersion, 1) >= 1
	actx = workflow.WithActivityOptions(actx, c.agentOptions(prep.TimeoutSeconds, moving))
	in := AgentInput{
		RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, TaskID: t.sum.TaskID,
		Prompt: prompt, SessionID: session, Model: c.st.Model, Effort: c.st.Effort,
		Channel: c.in.Channel, ReplyTo: c.st.ReplyTo,
	}
	var res AgentResult
	var err error
	for restarts := 0; ; restarts++ {
		res = AgentResult{}
		err = workflow.ExecuteActivity(actx, ActivityRunAgent, in).Get(ctx, &res)
		if err != nil && temporal.IsCanceledError(err) {
			return AgentResult{Outcome: OutcomeCancelled, SessionID: session}, nil
		}
		// A run whose workers kept dying under it has used up its
		// attempts without failing: it runs again (and resumes where the
		// last attempt stopped), up to maxAgentRestarts times.
		if !interruptedRun(err) || restarts >= maxAgentRestarts ||
			workflow.GetVersion(ctx, versionResumeRuns, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return res, err
		}
		workflow.GetLogger(ctx).Warn("agent run interrupted on every attempt; running it again, resuming", "task", t.sum.TaskID, "restarts", restarts+1)
	}
}

// versionMoveRuns: an agent run whose host is gone (it did not pick the
// run up within the host timeout) or draining moves the conversation to
// another host, where the task runs again from a fresh clone.
const versionMoveRuns = "move-runs"

// versionRehomeNotice: a conversation that moves because its host was
// lost while it was idle sends its user a notice (RehomedText) before the
// agent runs on the new host.
const versionRehomeNotice = "rehome-notice"

// maxMoves bounds the moves of one task.
const maxMoves = 3

// hostLost reports whether err says the run's host will not run it: it
// never picked the run up within the host timeout, or it is draining.
func hostLost(err error) bool {
	return hostGone(err) || IsKind(err, ErrHostDraining)
}

// versionResumeRuns: an agent run whose attempts all ended with their
// worker gone is run again (it resumes) instead of failing the task.
const versionResumeRuns = "resume-runs"

// maxAgentRestarts bounds the runs again of an agent run interrupted on
// every attempt (each run has agentOptions' three attempts).
const maxAgentRestarts = 10

// interruptedRun reports whether err says the run's worker went away (a
// new worker on the host handed it back, or its heartbeats stopped),
// rather than that the run failed.
func interruptedRun(err error) bool {
	if IsKind(err, ErrWorkerRestarted) {
		return true
	}
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_HEARTBEAT
}

// reply delivers a message about task t (nil batch for the PR loop's
// notes) to the user. Acknowledgements are best effort; a reply that
// cannot be delivered is recorded on the task.
func (c *conversation) reply(ctx workflow.Context, t *task, o outgoing) {
	in := ReplyInput{
		RepoID: c.in.RepoID, ConversationID: c.in.ConversationID, TaskID: t.sum.TaskID,
		Kind: o.Kind, Channel: c.in.Channel, ReplyTo: c.st.ReplyTo, Subject: c.st.Subject,
		Text: o.Text, Footer: o.Footer, AttachOutbox: o.Outbox, MessageIDs: t.sum.MessageIDs,
	}
	for _, m := range t.batch {
		in.Answered = append(in.Answered, m.ReplyTo)
	}
	if !o.Kind.Interim() {
		t.sum.Reply = o.Text
	}
	actx := workflow.WithActivityOptions(ctx, c.replyOptions(o.Kind))
	var res ReplyResult
	if err := workflow.ExecuteActivity(actx, ActivityDeliverReply, in).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Error("reply not delivered", "task", t.sum.TaskID, "kind", o.Kind, "error", err)
		if !o.Kind.Interim() {
			t.sum.Error = strings.TrimSpace(t.sum.Error + "; reply not delivered: " + ProblemText(err))
		}
	}
}

// record keeps a finished task's summary, bounded: the last
// maxTaskSummaries tasks, full reply text for the last few only.
func (c *conversation) record(t TaskSummary) {
	t.Reply = bounded(t.Reply, MaxReplyInState)
	c.st.Tasks = append(c.st.Tasks, t)
	if len(c.st.Tasks) > maxTaskSummaries {
		c.st.Tasks = c.st.Tasks[len(c.st.Tasks)-maxTaskSummaries:]
	}
	for i := 0; i < len(c.st.Tasks)-repliesKeptInFull; i++ {
		c.st.Tasks[i].Reply = ""
	}
}

// bounded cuts s to at most n bytes, at a character boundary, marking
// the cut with TruncatedMarker.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "\n" + TruncatedMarker
}

// secondsOr is n seconds, or old when n is not set.
func secondsOr(n int, old time.Duration) time.Duration {
	if n > 0 {
		return time.Duration(n) * time.Second
	}
	return old
}
