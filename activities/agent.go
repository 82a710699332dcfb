package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/claude"
	"github.com/airut-go/airut/internal/claudebin"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/workflows"
)

// Container labels: orphans are found by host, and only Airut's are
// touched.
const (
	LabelHost         = "airut.host"
	LabelRepo         = "airut.repo"
	LabelConversation = "airut.conversation"
	LabelTask         = "airut.task"
)

// Progress is the heartbeat detail of a running agent.
type Progress struct {
	Events   int
	LastTool string
}

// ContainerName is the agent container of a conversation: one at a time,
// so a retried run replaces a leftover of the previous attempt.
func ContainerName(repoID, convID string) string {
	return "airut-" + strings.ToLower(repoID) + "-" + convID
}

// RunAgent runs Claude Code in the repo's image with the conversation's
// directories mounted, streams its stream-json output to events.jsonl as it
// arrives and heartbeats progress. A cancelled activity (stop) or an
// expired time limit kills the container.
func (a *Activities) RunAgent(ctx context.Context, in workflows.AgentInput) (workflows.AgentResult, error) {
	log := a.log(in.ConversationID, in.TaskID)
	cfg, r, err := a.repo(in.RepoID)
	if err != nil {
		return workflows.AgentResult{}, err
	}
	l, err := a.layout(cfg, in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.AgentResult{}, err
	}
	if !l.HasWorkspace() {
		return workflows.AgentResult{}, temporal.NewNonRetryableApplicationError("workspace missing on this host", workflows.ErrWorkspace, nil)
	}
	image, err := a.image(ctx, cfg, r, log.Info)
	if err != nil {
		return workflows.AgentResult{}, err
	}
	bin, err := a.claudeBinary(ctx, cfg, r)
	if err != nil {
		return workflows.AgentResult{}, err
	}

	events, err := os.OpenFile(l.Events(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return workflows.AgentResult{}, fmt.Errorf("open event log: %w", err)
	}
	defer events.Close()
	if st, _ := events.Stat(); st != nil && st.Size() > 0 {
		// A blank line separates runs, as in the reference's event log.
		events.Write([]byte("\n"))
	}

	env := claude.Env()
	for k, v := range r.Secrets {
		env[k] = v
	}
	// Masked secrets reach the container only as surrogates, fresh for
	// every task; the proxy holds the real values.
	masked := surrogates(r)
	for _, s := range masked {
		env[s.Name] = s.Surrogate
	}
	_, hasKey := r.Secrets["ANTHROPIC_API_KEY"]
	_, hasOAuth := r.Secrets["CLAUDE_CODE_OAUTH_TOKEN"]

	// An output line longer than claude.MaxLineBytes stops the run (the
	// writers keep the worker's memory bounded; cancelling the run's
	// context kills the container), with ErrLineTooLong as the cause.
	stopCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	lineTooLong := func() { stopRun(claude.ErrLineTooLong) }

	var mu sync.Mutex
	totals := &claude.Totals{}
	plan := newPlanStreamer(r, in)
	stdout := &claude.LineWriter{TooLong: lineTooLong, Line: func(line []byte) {
		events.Write(append(line, '\n'))
		plan.observe(ctx, line)
		mu.Lock()
		totals.Add(line)
		mu.Unlock()
	}}
	stderrTail := &tail{max: 20}
	stderr := &claude.LineWriter{TooLong: lineTooLong, Line: func(line []byte) {
		mu.Lock()
		totals.AddStderr(line)
		mu.Unlock()
		stderrTail.add(string(line))
	}}

	timeout := r.ResourceLimits.TimeoutDuration()
	runCtx, cancel := context.WithTimeout(stopCtx, timeout)
	defer cancel()
	stopHB := keepAlive(runCtx, func() Progress {
		mu.Lock()
		defer mu.Unlock()
		return Progress{Events: totals.Events, LastTool: totals.LastTool}
	})
	defer stopHB()

	labels := map[string]string{
		LabelHost: a.HostID, LabelRepo: in.RepoID, LabelConversation: in.ConversationID, LabelTask: in.TaskID,
	}
	spec := podman.RunSpec{
		Name:    ContainerName(in.RepoID, in.ConversationID),
		Image:   image,
		Command: append([]string{claude.BinaryPath}, claude.Args(in.SessionID, in.Model, in.Effort)...),
		Env:     env,
		WorkDir: "/workspace",
		Mounts: []podman.Mount{
			{Source: l.Workspace(), Target: "/workspace"},
			{Source: l.Inbox(), Target: "/inbox"},
			{Source: l.Outbox(), Target: "/outbox"},
			{Source: l.Storage(), Target: "/storage"},
			{Source: l.Claude(), Target: "/root/.claude"},
			{Source: bin, Target: claude.BinaryPath, ReadOnly: true},
		},
		Stdin:   strings.NewReader(in.Prompt),
		Stdout:  stdout,
		Stderr:  stderr,
		Network: cfg.ContainerNetwork,
		Limits: podman.Limits{
			Memory: r.ResourceLimits.Memory, CPUs: r.ResourceLimits.CPUs, PidsLimit: r.ResourceLimits.PidsLimit,
		},
		Labels: labels,
		// The agent runs as root in its container with every permission
		// Claude Code has: the container is the boundary, so it keeps only
		// the capabilities package installs and file ownership need.
		CapDrop:         []string{"ALL"},
		CapAdd:          []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID"},
		NoNewPrivileges: true,
	}
	var netLogStart int64 = -1
	if r.Network.Sandboxed() {
		if st, err := os.Stat(l.NetworkLog()); err == nil {
			netLogStart = st.Size()
		} else {
			netLogStart = 0
		}
		sb, err := a.startSandbox(ctx, cfg, r, l, in, labels, masked)
		if err != nil {
			return workflows.AgentResult{}, err
		}
		defer func() {
			// The run's ctx may be cancelled (stop): clean up regardless.
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer ccancel()
			if err := sb.Close(cctx); err != nil {
				log.Warn("network sandbox cleanup", "error", err)
			}
		}()
		sb.Apply(&spec)
	} else if len(masked) > 0 {
		log.Warn("network sandbox is off: masked secrets reach the container as surrogates that no proxy replaces", "repo", r.ID)
	}
	a.load.start(in.ConversationID)
	defer a.load.done()
	log.Info("agent started", "image", image, "resume", in.SessionID != "", "model", in.Model)
	started := time.Now()
	res, runErr := a.Podman.Run(runCtx, spec)
	cancel()
	stopHB()
	stdout.Flush()
	stderr.Flush()
	plan.update(ctx, "", true)

	timedOut := errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	// The cause is set only by lineTooLong: a stop or a timeout that came
	// first leaves its own, and a stop still ends the run as a stop.
	tooLong := !timedOut && ctx.Err() == nil && errors.Is(context.Cause(stopCtx), claude.ErrLineTooLong)
	if tooLong {
		log.Warn("agent stopped: output line too long", "limit_bytes", claude.MaxLineBytes,
			"after", time.Since(started).Round(time.Second), "run_error", runErr)
	}
	if runErr != nil && !timedOut && !tooLong {
		if ctx.Err() != nil {
			log.Info("agent stopped", "after", time.Since(started).Round(time.Second))
			return workflows.AgentResult{}, ctx.Err()
		}
		return workflows.AgentResult{}, fmt.Errorf("run agent container: %w", runErr)
	}
	mu.Lock()
	defer mu.Unlock()
	out := agentResult(totals, res, runEnd{timedOut: timedOut, lineTooLong: tooLong}, stderrTail.String())
	out.Subscription = hasOAuth && !hasKey
	if netLogStart >= 0 {
		out.NetworkBlocked, out.BlockedExamples = blockedSince(l.NetworkLog(), netLogStart)
	}
	log.Info("agent finished", "outcome", out.Outcome, "exit", res.ExitCode, "cost_usd", fmt.Sprintf("%.4f", out.CostUSD),
		"turns", out.NumTurns, "took", time.Since(started).Round(100*time.Millisecond))
	return out, nil
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
		return "", temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrConfig, err)
	}
	d := &claudebin.Downloader{BaseURL: cfg.ClaudeDownloadURL, CacheDir: filepath.Join(cfg.StateDir, "claude-binaries"), Log: a.Log}
	bin, err = d.Ensure(ctx, r.ClaudeVersion)
	if err != nil {
		return "", fmt.Errorf("Failed to fetch Claude binary (%w). Please try again later", err)
	}
	return bin, nil
}

// heartbeat reports progress until ctx ends, often enough that a live
// worker is never mistaken for a dead one and a stop request (delivered
// with a heartbeat response) is seen within seconds. The pace follows the
// heartbeat timeout the workflow set on this activity; without one there
// is nothing to report to.
func heartbeat(ctx context.Context, progress func() Progress) {
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return
	}
	every := min(max(timeout/4, 500*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		activity.RecordHeartbeat(ctx, progress())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(strings.Join(t.lines, "\n"))
}
