package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/claude"
	"github.com/airut-go/airut/internal/claudebin"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/workflows"
)

// Progress is the heartbeat detail of a running agent.
type Progress struct {
	Events   int
	LastTool string
}

// RunAgent runs Claude Code in the repo's image with the conversation's
// directories mounted, streams its stream-json output to events.jsonl as it
// arrives and heartbeats progress. A cancelled activity (stop) or an
// expired time limit kills the container. A stopped run, wherever the
// stop found it, answers with an OutcomeCancelled result (not an error):
// the session the agent ran in, so that the next message resumes it, and
// what it had used.
func (a *Activities) RunAgent(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
	log := a.log(in.ConversationID, in.TaskID)
	cfg, r, l, err := a.conversation(in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.AgentResult{}, err
	}
	if !l.HasWorkspace() {
		return workflows.AgentResult{}, workflows.Fail(workflows.ErrWorkspace, "workspace missing on this host", nil)
	}
	// A retry after a crash continues the interrupted attempt (recovery.go).
	start, err := beginRun(ctx, markerPath(cfg, a.HostID, in.RepoID, in.ConversationID), l, in, log)
	if err != nil {
		return workflows.AgentResult{}, err
	}
	if start.finished {
		return start.result, nil
	}
	defer start.end()
	in, events := start.in, start.events
	p, err := a.prepareRun(ctx, cfg, r, l, in, log)
	if err != nil {
		if stopped(ctx) {
			// The stop killed whatever was running (an image build, git):
			// its error is the stop's, not a failure to report.
			log.Info("agent stopped before it started", "error", err)
			return stoppedResult(in, nil), nil
		}
		return workflows.AgentResult{}, err
	}
	defer p.close()

	a.load.start(in.ConversationID)
	defer a.load.done()
	log.Info("agent started", "image", p.spec.Image, "resume", in.SessionID != "", "model", in.Model)
	plan := newPlanStreamer(r, in)
	run, err := runContainer(ctx, a.Podman.Run, p.spec, r.ResourceLimits.TimeoutDuration(), events, func(line []byte) { plan.observe(ctx, line) })
	plan.update(ctx, "", true)
	if err != nil {
		if stopped(ctx) {
			out := stoppedResult(in, &run)
			log.Info("agent stopped", "after", run.took.Round(100*time.Millisecond), "session", out.SessionID)
			return out, nil
		}
		if ctx.Err() != nil {
			log.Info("agent interrupted", "after", run.took.Round(time.Second), "cause", context.Cause(ctx))
		}
		return workflows.AgentResult{}, err
	}
	if run.end.lineTooLong {
		log.Warn("agent stopped: output line too long", "limit_bytes", claude.MaxLineBytes, "after", run.took.Round(time.Second), "run_error", run.err)
	}
	out := run.result()
	out.Subscription = subscription(r)
	if p.netLogStart >= 0 {
		out.NetworkBlocked, out.BlockedExamples = sandbox.BlockedSince(l.NetworkLog(), p.netLogStart)
	}
	log.Info("agent finished", "outcome", out.Outcome, "exit", out.ExitCode, "cost_usd", fmt.Sprintf("%.4f", out.CostUSD),
		"turns", out.NumTurns, "took", run.took.Round(100*time.Millisecond))
	return out, nil
}

// stopped reports whether ctx ended because the workflow cancelled the
// activity (the stop update). A worker shutting down, a paused activity or
// one the server no longer knows end ctx with other causes: those runs
// are not over for good, and answer with an error so they are retried.
func stopped(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled) && temporal.IsCanceledError(context.Cause(ctx))
}

// stoppedResult is the answer of a stopped run: cancelled, in the session
// the agent's stream named (else the one it was asked to resume), with
// the tokens, turns and time it had used. The CLI reports cost only in
// its final result, which a killed run never prints: cost stays 0 then.
func stoppedResult(in workflows.AgentInput, run *finishedRun) workflows.AgentResult {
	out := workflows.AgentResult{Outcome: workflows.OutcomeCancelled, SessionID: in.SessionID}
	if run == nil || run.output == nil {
		return out
	}
	totals, _ := run.output.Result()
	if totals.SessionID != "" {
		out.SessionID = totals.SessionID
	}
	cost, usage, dur, turns := totals.Final()
	out.CostUSD, out.Usage, out.DurationMS, out.NumTurns = cost, workflows.Usage(usage), dur, turns
	if out.Usage == (workflows.Usage{}) && run.spent != nil {
		out.Usage = run.spent.total()
	}
	if out.DurationMS == 0 {
		out.DurationMS = run.took.Milliseconds()
	}
	out.WebSearches, out.WebFetches = totals.WebSearches, totals.WebFetches
	return out
}

// streamUsage adds up the token usage of the assistant messages in a
// stream, for a run killed before its final result (which has the
// totals). The CLI prints a message once per content block, each with
// the message's usage so far: the last one of each message counts.
type streamUsage struct {
	byMessage map[string]workflows.Usage
}

func (s *streamUsage) add(line []byte) {
	if !bytes.Contains(line, []byte(`"assistant"`)) {
		return
	}
	var e struct {
		Type    string `json:"type"`
		Message struct {
			ID    string        `json:"id"`
			Usage *claude.Usage `json:"usage"`
		} `json:"message"`
	}
	if json.Unmarshal(line, &e) != nil || e.Type != "assistant" || e.Message.Usage == nil {
		return
	}
	if s.byMessage == nil {
		s.byMessage = map[string]workflows.Usage{}
	}
	s.byMessage[e.Message.ID] = workflows.Usage(*e.Message.Usage)
}

func (s *streamUsage) total() workflows.Usage {
	var u workflows.Usage
	for _, m := range s.byMessage {
		u.InputTokens += m.InputTokens
		u.OutputTokens += m.OutputTokens
		u.CacheCreationInputTokens += m.CacheCreationInputTokens
		u.CacheReadInputTokens += m.CacheReadInputTokens
	}
	return u
}

// preparedRun is an agent container ready to run.
type preparedRun struct {
	spec podman.RunSpec
	// close removes the run's network sandbox, if any.
	close func()
	// netLogStart is where the run's part of the network log begins; -1
	// without the sandbox.
	netLogStart int64
}

// prepareRun gets what the run needs: the image (built if needed), the
// Claude Code binary, surrogates for the masked secrets and, when the
// repo has it on, the network sandbox, which can take minutes in all, so
// it heartbeats meanwhile (a stop is then seen too).
func (a *Activities) prepareRun(ctx context.Context, cfg *config.Config, r *config.Repo, l conversation.Layout, in workflows.AgentInput, log *slog.Logger) (preparedRun, error) {
	defer keepAlive(ctx, nil)()
	p := preparedRun{close: func() {}, netLogStart: -1}
	image, err := a.agentImage(ctx, cfg, r, log)
	if err != nil {
		return p, err
	}
	bin, err := a.claudeBinary(ctx, cfg, r)
	if err != nil {
		return p, err
	}
	// Masked secrets reach the container only as surrogates, fresh for
	// every task; the proxy holds the real values.
	masked := sandbox.Surrogates(maskedSecrets(r))
	p.spec = agentSpec(in, agentSetup{host: a.HostID, network: cfg.ContainerNetwork, repo: r, layout: l, image: image, claude: bin, masked: masked})
	if !r.Network.Sandboxed() {
		if len(masked) > 0 {
			log.Warn("network sandbox is off: masked secrets reach the container as surrogates that no proxy replaces", "repo", r.ID)
		}
		return p, nil
	}
	p.netLogStart = sandbox.LogOffset(l.NetworkLog())
	closeSandbox, err := a.startSandbox(ctx, cfg, r, l, in, masked, &p.spec)
	if err != nil {
		return p, err
	}
	p.close = closeSandbox
	return p, nil
}

// openEventLog opens the conversation's event log for this run's lines.
func openEventLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	if st, _ := f.Stat(); st != nil && st.Size() > 0 {
		// A blank line separates runs, as in the reference's event log.
		f.Write([]byte("\n"))
	}
	return f, nil
}

// subscription reports whether the agent runs on a subscription token
// (cost is then not shown): an OAuth token and no API key.
func subscription(r *config.Repo) bool {
	_, hasKey := r.Secrets["ANTHROPIC_API_KEY"]
	_, hasOAuth := r.Secrets["CLAUDE_CODE_OAUTH_TOKEN"]
	return hasOAuth && !hasKey
}

// maskedSecrets are the repo's masked secrets as the proxy takes them,
// without surrogates yet.
func maskedSecrets(r *config.Repo) []proxy.Secret {
	out := make([]proxy.Secret, 0, len(r.MaskedSecrets))
	for name, m := range r.MaskedSecrets {
		out = append(out, proxy.Secret{
			Name: name, Value: m.Value, Scopes: m.Scopes, Headers: m.Headers, AllowForeign: m.AllowForeignCredentials,
		})
	}
	return out
}

// agentSetup is what one run's container is made of, besides the task.
type agentSetup struct {
	host    string
	network string // cfg.ContainerNetwork, for runs without the sandbox
	repo    *config.Repo
	layout  conversation.Layout
	image   string
	claude  string // the Claude Code binary on the host
	// masked are the masked secrets with this run's surrogates.
	masked []proxy.Secret
}

// Where the conversation's directories appear in the agent container:
// the prompt tells the agent about the first four (workflows.Container*).
const (
	workspaceMount = workflows.ContainerWorkspace
	inboxMount     = workflows.ContainerInbox
	outboxMount    = workflows.ContainerOutbox
	storageMount   = workflows.ContainerStorage
	claudeMount    = "/root/.claude"
)

// agentSpec is the agent container of one run: the image with the Claude
// Code binary mounted read-only, the conversation's directories mounted,
// the environment (the repo's secrets; masked ones as surrogates only),
// the repo's resource limits, the task's labels and only the
// capabilities the agent needs. The caller adds the streams and, when
// sandboxed, the sandbox's network.
func agentSpec(in workflows.AgentInput, s agentSetup) podman.RunSpec {
	env := claude.Env()
	for k, v := range s.repo.Secrets {
		env[k] = v
	}
	for _, m := range s.masked {
		env[m.Name] = m.Surrogate
	}
	l, limits := s.layout, s.repo.ResourceLimits
	return podman.RunSpec{
		Name:    sandbox.ContainerName(in.RepoID, in.ConversationID),
		Image:   s.image,
		Command: append([]string{claude.BinaryPath}, claude.Args(in.SessionID, in.Model, in.Effort)...),
		Env:     env,
		WorkDir: workspaceMount,
		Mounts: []podman.Mount{
			{Source: l.Workspace(), Target: workspaceMount},
			{Source: l.Inbox(), Target: inboxMount},
			{Source: l.Outbox(), Target: outboxMount},
			{Source: l.Storage(), Target: storageMount},
			{Source: l.Claude(), Target: claudeMount},
			{Source: s.claude, Target: claude.BinaryPath, ReadOnly: true},
		},
		Stdin:   strings.NewReader(in.Prompt),
		Network: s.network,
		Limits:  podman.Limits{Memory: limits.Memory, CPUs: limits.CPUs, PidsLimit: limits.PidsLimit},
		Labels:  sandbox.Labels(s.host, in.RepoID, in.ConversationID, in.TaskID),
		// The agent runs as root in its container with every permission
		// Claude Code has: the container is the boundary, so it keeps only
		// the capabilities package installs and file ownership need.
		CapDrop:         []string{"ALL"},
		CapAdd:          []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID"},
		NoNewPrivileges: true,
	}
}

// containerRun runs a container to its end (podman.Client.Run).
type containerRun func(context.Context, podman.RunSpec) (podman.Result, error)

// finishedRun is a container run that ran to an end the agent's result
// can describe: it exited, timed out or was cut at a long line.
type finishedRun struct {
	res    podman.Result
	end    runEnd
	output *claude.Capture
	took   time.Duration
	// err is the run's error when it was cut short (timeout, long line).
	err error
	// spent is the usage the stream reported message by message.
	spent *streamUsage
}

func (f finishedRun) result() workflows.AgentResult {
	totals, stderrTail := f.output.Result()
	return agentResult(&totals, f.res, f.end, stderrTail)
}

// runContainer runs spec within timeout with its output captured (stdout
// lines to events and observe) and progress heartbeated. An output line
// longer than claude.MaxLineBytes stops the run: the writers keep the
// worker's memory bounded, and cancelling the run's context kills the
// container. A stop (ctx cancelled) returns ctx's error; a run that
// failed to run at all, a transient error.
func runContainer(ctx context.Context, run containerRun, spec podman.RunSpec, timeout time.Duration, events io.Writer, observe func([]byte)) (finishedRun, error) {
	stopCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	spent := &streamUsage{}
	output := claude.NewCapture(events, func(line []byte) { spent.add(line); observe(line) }, func() { stopRun(claude.ErrLineTooLong) })
	spec.Stdout, spec.Stderr = output.Stdout, output.Stderr
	runCtx, cancel := context.WithTimeout(stopCtx, timeout)
	defer cancel()
	stopHB := keepAlive(runCtx, func() Progress {
		n, tool := output.Progress()
		return Progress{Events: n, LastTool: tool}
	})
	started := time.Now()
	res, err := run(runCtx, spec)
	cancel()
	stopHB()
	output.Flush()
	f := finishedRun{res: res, output: output, took: time.Since(started), err: err, spent: spent}
	f.end.timedOut = errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	// The cause is set only by the line limit: a stop or a timeout that
	// came first leaves its own, and a stop still ends the run as a stop.
	f.end.lineTooLong = !f.end.timedOut && ctx.Err() == nil && errors.Is(context.Cause(stopCtx), claude.ErrLineTooLong)
	switch {
	case err == nil || f.end.timedOut || f.end.lineTooLong:
		return f, nil
	case ctx.Err() != nil:
		return f, ctx.Err()
	}
	return f, fmt.Errorf("run agent container: %w", err)
}

// runEnd says whether a run was cut short, and why.
type runEnd struct {
	timedOut bool
	// lineTooLong: an output line passed claude.MaxLineBytes and the run
	// was stopped there.
	lineTooLong bool
}

// agentResult turns what a finished run printed and how it ended into the
// activity's result; stderrTail is the end of its stderr.
func agentResult(totals *claude.Totals, res podman.Result, end runEnd, stderrTail string) workflows.AgentResult {
	outcome := workflows.Outcome(totals.Outcome(end.timedOut, res.ExitCode))
	if end.lineTooLong {
		outcome = workflows.OutcomeContainerFailed
	}
	out := workflows.AgentResult{
		Outcome:     outcome,
		SessionID:   totals.SessionID,
		ExitCode:    res.ExitCode,
		WebSearches: totals.WebSearches,
		WebFetches:  totals.WebFetches,
	}
	cost, usage, dur, turns := totals.Final()
	out.CostUSD, out.DurationMS, out.NumTurns = cost, dur, turns
	out.Usage = workflows.Usage(usage)
	switch {
	case end.lineTooLong:
		// The stream was cut short: what was read of it is no reply.
		out.ErrorSummary = claude.ErrLineTooLong.Error()
	case out.Outcome == workflows.OutcomeSuccess:
		out.Text = totals.Response()
	default:
		out.ErrorSummary = totals.ErrorSummary()
		if out.ErrorSummary == "" {
			out.ErrorSummary = stderrTail
		}
		if res.OOMKilled {
			out.ErrorSummary = strings.TrimSpace(out.ErrorSummary + "\n(the container ran out of memory: raise resource_limits.memory)")
		}
	}
	return out
}

// claudeBinary is the configured binary, else claude on the host's PATH,
// else claude_version downloaded and verified into the state dir.
func (a *Activities) claudeBinary(ctx context.Context, cfg *config.Config, r *config.Repo) (string, error) {
	bin, err := claudebin.Resolve(r.ClaudeBinary)
	if err == nil {
		return bin, nil
	}
	if r.ClaudeBinary != "" || !errors.Is(err, claudebin.ErrNotFound) {
		return "", workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	d := &claudebin.Downloader{BaseURL: cfg.ClaudeDownloadURL, CacheDir: cfg.ClaudeBinariesDir(), Log: a.Log}
	bin, err = d.Ensure(ctx, r.ClaudeVersion)
	if err != nil {
		return "", fmt.Errorf("fetch the Claude Code binary: %w (it is retried; if it keeps failing, set claude_binary or put claude on the PATH)", err)
	}
	return bin, nil
}

// heartbeatEvery is the longest time between two heartbeats. A stop
// reaches an activity only in the answer to a heartbeat its worker sends,
// so this bounds how long a stopped agent keeps running; the run worker
// sends heartbeats at this pace too (its MaxHeartbeatThrottleInterval, in
// workers.go), instead of the SDK's 80% of the heartbeat timeout. Other
// workers still throttle to that: the pace costs them nothing.
const heartbeatEvery = time.Second

// heartbeat reports progress until ctx ends, often enough that a live
// worker is never mistaken for a dead one and a stop request (delivered
// with a heartbeat response) is seen within about a second: every
// heartbeatEvery, or a quarter of a shorter heartbeat timeout. Without a
// heartbeat timeout there is nothing to report to.
func heartbeat(ctx context.Context, progress func() Progress) {
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return
	}
	every := heartbeatPace(timeout)
	t := time.NewTicker(every)
	defer t.Stop()
	// The SDK sends throttled heartbeats later with the context of the call
	// that opened the throttle window, and takes a failed send for a
	// cancelled activity. ctx here ends when this heartbeating stops (a
	// phase of the activity is over, not the activity), so the sends get
	// the activity's context without that end: otherwise stopping one
	// phase's heartbeat cancelled the whole activity a moment later.
	hctx := context.WithoutCancel(ctx)
	for {
		activity.RecordHeartbeat(hctx, progress())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeatPace is the time between heartbeats for a heartbeat timeout.
func heartbeatPace(timeout time.Duration) time.Duration {
	return min(max(timeout/4, 250*time.Millisecond), heartbeatEvery)
}

// keepAlive heartbeats, with progress (nil: none to report), until the
// returned stop is called; stop waits for the last heartbeat and may be
// called again. Every activity uses it: the agent run to report progress
// and receive stops, short ones (replies, PR polls, cleanup) so that a
// worker killed in the middle of one is noticed within the heartbeat
// timeout and the work retried elsewhere, instead of waiting out the time
// limit.
func keepAlive(ctx context.Context, progress func() Progress) (stop func()) {
	if progress == nil {
		progress = func() Progress { return Progress{} }
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		heartbeat(ctx, progress)
	}()
	return func() { cancel(); <-done }
}
