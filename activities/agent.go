package activities

import (
	"context"
	"errors"
	"fmt"
	"github.com/airut-go/airut/internal/credentials"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/claude"
	"github.com/airut-go/airut/internal/claudebin"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/sandbox"
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
	if a.stopping() {
		return workflows.AgentResult{}, a.declineWhileStopping()
	}
	// Counted from here, a run being prepared (an image build can take
	// minutes) holds a stopping worker's grace period like a running
	// agent and is cut at its end, so its answer (handed back) reaches
	// Temporal before the worker stops, not lost with the process.
	a.load.start(in.ConversationID)
	defer a.load.done()
	ctx, cancelRun := a.untilShutdown(ctx)
	defer cancelRun()
	p, err := a.prepareRun(ctx, cfg, r, l, in, log)
	if err != nil {
		if errors.Is(context.Cause(ctx), errShuttingDown) {
			log.Info("stopping: the run was cut short while being prepared", "error", err)
			return workflows.AgentResult{}, a.declineWhileStopping()
		}
		if stopped(ctx) {
			// The stop killed whatever was running (an image build, git):
			// its error is the stop's, not a failure to report.
			log.Info("agent stopped before it started", "error", err)
			return workflows.AgentResult{Outcome: workflows.OutcomeCancelled, SessionID: in.SessionID}, nil
		}
		return workflows.AgentResult{}, err
	}
	defer p.close()
	// A stop that began while the run was prepared: no agent starts only
	// to be cut short; the run goes back (to this host after a restart).
	if a.stopping() {
		return workflows.AgentResult{}, a.declineWhileStopping()
	}
	began, outcome, cost := time.Now(), "interrupted", 0.0
	a.Metrics.TaskStarted(in.RepoID, a.HostID)
	defer func() { a.Metrics.TaskFinished(in.RepoID, a.HostID, outcome, time.Since(began), cost) }()
	log.Info("agent started", "image", p.image, "resume", in.SessionID != "", "model", in.Model)
	plan := newPlanStreamer(r, in)
	res, err := runClaude(ctx, p.task, sandbox.Claude{
		Binary: p.claude, StateDir: l.Claude(), Prompt: in.Prompt,
		SessionID: in.SessionID, Model: in.Model, Effort: in.Effort,
		Transcript: events,
	}, func(line []byte) { plan.observe(ctx, line) })
	plan.update(ctx, "", true)
	if err != nil {
		return workflows.AgentResult{}, err
	}
	a.Metrics.SandboxRequests(in.RepoID, res.Network.Allowed, res.Network.Blocked)
	out, err := answer(ctx, res, a.draining())
	if err != nil {
		log.Info("agent interrupted", "after", res.Duration.Round(time.Second), "cause", context.Cause(ctx))
		return out, err
	}
	switch {
	case out.Outcome == workflows.OutcomeCancelled:
		log.Info("agent stopped", "after", res.Duration.Round(100*time.Millisecond), "session", res.SessionID)
	case res.ErrorSummary == claude.ErrLineTooLong.Error():
		log.Warn("agent stopped: output line too long", "limit_bytes", claude.MaxLineBytes, "after", res.Duration.Round(time.Second))
	}
	out.Subscription = subscription(r)
	outcome, cost = string(out.Outcome), out.CostUSD
	log.Info("agent finished", "outcome", out.Outcome, "exit", out.ExitCode, "cost_usd", fmt.Sprintf("%.4f", out.CostUSD),
		"turns", out.NumTurns, "took", res.Duration.Round(100*time.Millisecond))
	a.awaitReply(in.ConversationID)
	return out, nil
}

// answer is the activity's answer for how a run ended. A run cancelled
// by a stop answers as cancelled, in the session it ran in, with what it
// used; one cancelled otherwise (the worker shutting down, the server
// giving up on this attempt) is not over for good: an error, retried.
//
// On a draining host (airut drain), an interrupted run is handed back as
// ErrHostDraining: the conversation moves to another host at once rather
// than waiting for this one to come back.
func answer(ctx context.Context, res sandbox.Result, draining bool) (workflows.AgentResult, error) {
	if res.Outcome == sandbox.OutcomeCancelled && !stopped(ctx) {
		cause := fmt.Errorf("agent run interrupted: %w", context.Cause(ctx))
		if draining {
			return workflows.AgentResult{}, workflows.Fail(workflows.ErrHostDraining,
				"the machine running this task was taken out of service before it finished; the task moves to another one", cause)
		}
		return workflows.AgentResult{}, cause
	}
	return agentResult(res), nil
}

// stopped reports whether ctx ended because the workflow cancelled the
// activity (the stop update). A worker shutting down, a paused activity or
// one the server no longer knows end ctx with other causes: those runs
// are not over for good, and answer with an error so they are retried.
func stopped(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled) && temporal.IsCanceledError(context.Cause(ctx))
}

// runClaude runs the agent in the task's container with its progress
// heartbeated (events seen, last tool) and each stdout line shown to
// observe. A run the sandbox could not start or finish is a transient
// error; how the agent's run ended, stopped included, is in the result.
func runClaude(ctx context.Context, task *sandbox.Task, c sandbox.Claude, observe func([]byte)) (sandbox.Result, error) {
	var mu sync.Mutex
	var progress Progress
	c.OnEvent = func(e sandbox.Event) {
		mu.Lock()
		if e.Type != "" {
			progress.Events++
		}
		if e.Tool != "" {
			progress.LastTool = e.Tool
		}
		mu.Unlock()
		observe(e.Line)
	}
	stopHB := keepAlive(ctx, func() Progress {
		mu.Lock()
		defer mu.Unlock()
		return progress
	})
	res, err := task.RunClaude(ctx, c)
	stopHB()
	if err != nil {
		return res, fmt.Errorf("run agent container: %w", err)
	}
	return res, nil
}

// agentResult is the activity's answer for how a run ended. The CLI
// reports cost only in its final result, which a killed run never
// prints: cost stays 0 then, and the usage is the stream's.
func agentResult(res sandbox.Result) workflows.AgentResult {
	out := workflows.AgentResult{
		Outcome:      workflows.Outcome(res.Outcome),
		SessionID:    res.SessionID,
		ExitCode:     res.ExitCode,
		Text:         res.Response,
		ErrorSummary: res.ErrorSummary,
		CostUSD:      res.CostUSD,
		DurationMS:   res.AgentDurationMS,
		NumTurns:     res.NumTurns,
		Usage:        workflows.Usage(res.Usage),
		WebSearches:  res.WebSearches,
		WebFetches:   res.WebFetches,
	}
	if out.ExitCode < 0 {
		out.ExitCode = 0
	}
	if res.Network.Log != "" {
		out.NetworkBlocked, out.BlockedExamples = res.Network.Blocked, res.Network.BlockedExamples
	}
	return out
}

// preparedRun is an agent task ready to run.
type preparedRun struct {
	task   *sandbox.Task
	image  string
	claude string
	// close removes what the task started (or leaves its network for the
	// conversation's next task, network.keep_warm_seconds).
	close func()
}

// prepareRun gets what the run needs: the image (built if needed), the
// Claude Code binary and the sandbox task (with the network sandbox
// when the repo has it on), which can take minutes in all, so it
// heartbeats meanwhile (a stop is then seen too).
func (a *Activities) prepareRun(ctx context.Context, cfg *config.Config, r *config.Repo, l conversation.Layout, in workflows.AgentInput, log *slog.Logger) (preparedRun, error) {
	defer keepAlive(ctx, nil)()
	image, err := a.agentImage(ctx, cfg, r, log)
	if err != nil {
		return preparedRun{}, err
	}
	bin, err := a.claudeBinary(ctx, cfg, r)
	if err != nil {
		return preparedRun{}, err
	}
	task, err := a.startTask(ctx, cfg, r, l, in, image, log)
	if err != nil {
		return preparedRun{}, err
	}
	return preparedRun{task: task, image: image, claude: bin, close: func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := task.Close(cctx); err != nil {
			log.Warn("sandbox cleanup", "error", err)
		}
	}}, nil
}

// startTask gets the run's sandbox task ready: with the network sandbox
// on, the allowlist from the default branch and the conversation's proxy.
func (a *Activities) startTask(ctx context.Context, cfg *config.Config, r *config.Repo, l conversation.Layout, in workflows.AgentInput, image string, log *slog.Logger) (*sandbox.Task, error) {
	spec := taskSpec(in, a.HostID, cfg, r, l, image)
	if r.Network.Sandboxed() {
		allow, err := parts.Allowlist(ctx, mirror(cfg, r))
		if err != nil {
			return nil, allowlistProblem(cfg, r, err)
		}
		spec.Allowlist = allow
	} else if len(spec.MaskedSecrets)+len(spec.SigningCredentials)+len(spec.GitHubApps) > 0 {
		log.Warn("network sandbox is off: credentials reach the container as surrogates that no proxy replaces", "repo", r.ID)
	}
	task, err := a.Sandbox.NewTask(ctx, spec)
	if err != nil {
		return nil, sandboxProblem(err)
	}
	return task, nil
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

// Where the conversation's directories appear in the agent container:
// the prompt tells the agent about them (workflows.Container*).
const (
	workspaceMount = workflows.ContainerWorkspace
	inboxMount     = workflows.ContainerInbox
	outboxMount    = workflows.ContainerOutbox
	storageMount   = workflows.ContainerStorage
)

// taskSpec is the sandbox task of one run: the image, the conversation's
// directories mounted, the repo's secrets (masked ones as surrogates
// only), the repo's resource limits and the task's labels. Its ID is the
// conversation's, so a retried run replaces a leftover of the previous
// attempt and the conversation's next task can take over its network.
// The caller adds the allowlist when the network sandbox is on.
func taskSpec(in workflows.AgentInput, host string, cfg *config.Config, r *config.Repo, l conversation.Layout, image string) sandbox.TaskSpec {
	limits := r.ResourceLimits
	spec := sandbox.TaskSpec{
		ID:    parts.ConversationName(in.RepoID, in.ConversationID),
		Dir:   l.Root,
		Image: image,
		Mounts: []sandbox.Mount{
			{Source: l.Workspace(), Target: workspaceMount},
			{Source: l.Inbox(), Target: inboxMount},
			{Source: l.Outbox(), Target: outboxMount},
			{Source: l.Storage(), Target: storageMount},
		},
		Env:                maps.Clone(r.Secrets),
		WorkDir:            workspaceMount,
		MaskedSecrets:      credentials.Masked(r.MaskedSecrets),
		SigningCredentials: credentials.Signing(r.SigningCredentials),
		GitHubApps:         credentials.GitHubApps(r.GitHubAppCredentials),
		NoNetworkSandbox:   !r.Network.Sandboxed(),
		Limits:             sandbox.Limits{Memory: limits.Memory, CPUs: limits.CPUs, Pids: limits.PidsLimit},
		Timeout:            limits.TimeoutDuration(),
		Labels:             parts.Labels(host, in.RepoID, in.ConversationID, in.TaskID),
		NetworkLog:         l.NetworkLog(),
	}
	if spec.NoNetworkSandbox {
		spec.Network = cfg.ContainerNetwork
	}
	return spec
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
