package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/airut-go/airut/internal/claude"
	"github.com/airut-go/airut/internal/podman"
	parts "github.com/airut-go/airut/internal/sandbox"
)

// Stream is which output of the process a line came from.
type Stream int

const (
	Stdout Stream = iota + 1
	Stderr
)

// Event is one line of a run's output, handed to the run's OnEvent while
// the run goes on.
type Event struct {
	Stream Stream
	// Line is the line without its newline; it is valid only during the
	// call.
	Line []byte
	// For Claude runs, the stream-json event on a stdout line: its type
	// ("system", "assistant", "user", "result") and the tool it calls,
	// if any. Empty for lines that are not such an event.
	Type string
	Tool string
}

// Command is a command to run in a task's container.
type Command struct {
	// Args is the command and its arguments (required); the image's
	// overlay entrypoint runs it.
	Args []string
	// Stdin, if set, is the process's standard input; else it reads EOF.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output as it is written.
	Stdout, Stderr io.Writer
	// OnEvent receives each line of output as it arrives, from another
	// goroutine than the caller's, never after Run returned.
	OnEvent func(Event)
	// Env is added to the task's environment for this run.
	Env map[string]string
}

// Claude is a Claude Code run: the prompt goes to `claude -p` on stdin,
// its stream-json output is read as it arrives.
type Claude struct {
	// Binary is the Claude Code binary on the host, mounted read-only into
	// the container (a standalone build, or the npm package's cli.js with
	// node in the image).
	Binary string
	// StateDir is the host directory kept as the agent's ~/.claude: its
	// sessions, for SessionID to resume. Required.
	StateDir string
	Prompt   string
	// SessionID resumes that session ("" starts a new one).
	SessionID string
	Model     string
	Effort    string
	// Transcript receives every stdout line (the stream-json events) with
	// its newline, as it arrives.
	Transcript io.Writer
	// OnEvent receives each stdout event as it arrives.
	OnEvent func(Event)
	// Env is added to the task's environment for this run (the API key,
	// unless it is a masked secret of the task).
	Env map[string]string
}

// claudeState is where Claude Code keeps its sessions in the container.
const claudeState = "/root/.claude"

// Run runs a command in the task's container and waits for it to end.
// The Result says how: success (exit 0), container failed (another exit
// code, in Result.ExitCode), timeout, cancelled (ctx done: the container
// is killed). An error means the sandbox failed to run it.
func (t *Task) Run(ctx context.Context, cmd Command) (Result, error) {
	if len(cmd.Args) == 0 {
		return Result{ExitCode: -1}, fmt.Errorf("%w: Command.Args is empty", ErrInvalidTask)
	}
	var tail stderrTail
	out := &lineSplit{stream: Stdout, raw: cmd.Stdout, on: cmd.OnEvent}
	errOut := &lineSplit{stream: Stderr, raw: cmd.Stderr, on: cmd.OnEvent, tail: &tail}
	spec := t.containerSpec(cmd.Args, cmd.Env, nil)
	spec.Stdin = cmd.Stdin
	spec.Stdout, spec.Stderr = out, errOut
	r, err := t.run(ctx, spec, func() { out.flush(); errOut.flush() })
	if err != nil {
		return r.result, err
	}
	res := r.result
	res.Stderr = tail.String()
	switch {
	case r.cancelled || r.timedOut:
	case r.exit == 0:
		res.Outcome = OutcomeSuccess
	default:
		res.Outcome = OutcomeContainerFailed
	}
	return res, nil
}

// RunClaude runs Claude Code in the task's container and waits for it to
// end. Success rests on the CLI's exit code; a failed run is told apart
// as prompt too long, session corrupted (resume fails) or container
// failed, with ErrorSummary saying what went wrong. A cancelled or timed
// out run still reports the session it ran in and the tokens it used.
// An output line longer than 16 MiB stops the run (container failed).
func (t *Task) RunClaude(ctx context.Context, c Claude) (Result, error) {
	if c.Binary == "" || c.StateDir == "" {
		return Result{ExitCode: -1}, fmt.Errorf("%w: Claude.Binary and Claude.StateDir are required", ErrInvalidTask)
	}
	transcript := c.Transcript
	if transcript == nil {
		transcript = io.Discard
	}
	stopCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	capture := claude.NewCapture(transcript, func(line []byte) {
		if c.OnEvent == nil {
			return
		}
		ev := Event{Stream: Stdout, Line: line}
		if e, ok := claude.ParseLine(line); ok {
			ev.Type = e.Type
			if e.Message != nil {
				for _, b := range e.Message.Content {
					if b.Type == "tool_use" {
						ev.Tool = b.Name
					}
				}
			}
		}
		c.OnEvent(ev)
	}, func() { stop(claude.ErrLineTooLong) })
	env := claude.Env()
	maps.Copy(env, c.Env)
	spec := t.containerSpec(append([]string{claude.BinaryPath}, claude.Args(c.SessionID, c.Model, c.Effort)...), env, []podman.Mount{
		{Source: c.StateDir, Target: claudeState},
		{Source: c.Binary, Target: claude.BinaryPath, ReadOnly: true},
	})
	spec.Stdin = strings.NewReader(c.Prompt)
	spec.Stdout, spec.Stderr = capture.Stdout, capture.Stderr
	r, err := t.run(stopCtx, spec, capture.Flush)
	tooLong := ctx.Err() == nil && errors.Is(context.Cause(stopCtx), claude.ErrLineTooLong)
	if tooLong {
		// The run was stopped by its own output, not by the caller.
		r.cancelled, err = false, nil
	}
	if err != nil {
		return r.result, err
	}
	totals, stderr := capture.Result()
	res := r.result
	res.Stderr = stderr
	switch {
	case r.cancelled:
		claudeTotals(&res, &totals)
		res.SessionID = firstNonEmpty(res.SessionID, c.SessionID)
	case tooLong:
		claudeTotals(&res, &totals)
		res.Outcome = OutcomeContainerFailed
		res.ErrorSummary = claude.ErrLineTooLong.Error()
	default:
		claudeOutcome(&res, &totals, r.timedOut, stderr)
	}
	if res.AgentDurationMS == 0 {
		res.AgentDurationMS = res.Duration.Milliseconds()
	}
	return res, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ClaudeTranscript reads back a Claude run from its transcript (the
// stream-json lines), for a caller that lost the run itself (its process
// died) but kept the transcript: Finished says whether the agent got to
// its final result, and the outcome is then the one that result implies;
// otherwise the Outcome is empty and SessionID is the session the agent
// had started ("" if none), to resume.
func ClaudeTranscript(transcript io.Reader) (Result, error) {
	capture := claude.NewCapture(io.Discard, nil, nil)
	if _, err := io.Copy(capture.Stdout, transcript); err != nil {
		return Result{}, fmt.Errorf("read transcript: %w", err)
	}
	// A last line cut short (by a crash) is no event: it is dropped, not
	// flushed.
	totals, _ := capture.Result()
	res := Result{ExitCode: -1}
	done, isError := totals.Finished()
	if !done {
		res.SessionID = totals.SessionID
		res.Usage = Usage(totals.Spent())
		return res, nil
	}
	res.ExitCode = 0
	if isError {
		res.ExitCode = 1
	}
	claudeOutcome(&res, &totals, false, "")
	return res, nil
}

// claudeOutcome fills in what a Claude run that ended (not cancelled, not
// cut short) says: outcome, reply or error summary, session, cost, usage.
func claudeOutcome(res *Result, totals *claude.Totals, timedOut bool, stderr string) {
	claudeTotals(res, totals)
	res.Finished, _ = totals.Finished()
	res.Outcome = Outcome(totals.Outcome(timedOut, res.ExitCode))
	if res.Outcome == OutcomeSuccess {
		res.Response = totals.Response()
		return
	}
	res.ErrorSummary = totals.ErrorSummary()
	if res.ErrorSummary == "" {
		res.ErrorSummary = stderr
	}
	if res.OutOfMemory {
		res.ErrorSummary = strings.TrimSpace(res.ErrorSummary + "\n(the container ran out of memory: raise its memory limit)")
	}
}

// claudeTotals copies what the stream said into res.
func claudeTotals(res *Result, totals *claude.Totals) {
	res.SessionID = totals.SessionID
	res.WebSearches, res.WebFetches = totals.WebSearches, totals.WebFetches
	cost, usage, dur, turns := totals.Final()
	res.CostUSD, res.Usage, res.AgentDurationMS, res.NumTurns = cost, Usage(usage), dur, turns
	if res.Usage == (Usage{}) {
		res.Usage = Usage(totals.Spent())
	}
}

// containerSpec is the task's container for one run of args: the task's
// mounts, environment (masked secrets as surrogates), limits and labels,
// only the capabilities package installs and file ownership need, and,
// with the network sandbox, its network.
func (t *Task) containerSpec(args []string, extraEnv map[string]string, extraMounts []podman.Mount) podman.RunSpec {
	env := map[string]string{}
	maps.Copy(env, t.spec.Env)
	maps.Copy(env, extraEnv)
	maps.Copy(env, t.creds.Env())
	mounts := make([]podman.Mount, 0, len(t.spec.Mounts)+len(extraMounts))
	for _, m := range t.spec.Mounts {
		mounts = append(mounts, podman.Mount(m))
	}
	mounts = append(mounts, extraMounts...)
	l := t.spec.Limits
	spec := podman.RunSpec{
		Name:    t.ContainerName(),
		Image:   t.spec.Image,
		Command: args,
		Env:     env,
		WorkDir: t.spec.WorkDir,
		Mounts:  mounts,
		Network: t.spec.Network,
		Limits:  podman.Limits{Memory: l.Memory, CPUs: l.CPUs, PidsLimit: l.Pids},
		Labels:  t.s.labels(t.spec.Labels),
		// The process may run as root in its container: the container is
		// the boundary, so it keeps only the capabilities package
		// installs and file ownership need.
		CapDrop:         []string{"ALL"},
		CapAdd:          []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID"},
		NoNewPrivileges: true,
	}
	if t.env != nil {
		t.env.Apply(&spec)
	}
	return spec
}

// ranContainer is how one container run ended, before the kind of run
// reads its output.
type ranContainer struct {
	result    Result
	exit      int
	timedOut  bool
	cancelled bool
}

// run runs spec to its end within the task's timeout; flush hands over
// the output's unfinished last lines once the container is gone.
func (t *Task) run(ctx context.Context, spec podman.RunSpec, flush func()) (ranContainer, error) {
	if t.closed {
		return ranContainer{result: Result{ExitCode: -1}}, errors.New("sandbox: task is closed")
	}
	var r ranContainer
	r.result.ExitCode = -1
	if t.env != nil {
		r.result.Network.Log = t.spec.NetworkLog
		r.result.Network.Offset = parts.LogOffset(t.spec.NetworkLog)
	}
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if t.spec.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, t.spec.Timeout)
	}
	defer cancel()
	started := time.Now()
	res, err := t.s.podman.Run(runCtx, spec)
	r.result.Duration = time.Since(started)
	flush()
	if t.env != nil {
		c := parts.CountSince(t.spec.NetworkLog, r.result.Network.Offset)
		r.result.Network.Allowed, r.result.Network.Blocked, r.result.Network.BlockedExamples = c.Allowed, c.Blocked, c.Examples
	}
	switch {
	case ctx.Err() != nil:
		r.cancelled = true
		r.result.Outcome = OutcomeCancelled
		return r, nil
	case runCtx.Err() != nil:
		r.timedOut = true
		r.result.Outcome = OutcomeTimeout
		return r, nil
	case err != nil:
		return r, fmt.Errorf("run %s: %w", spec.Name, err)
	}
	r.exit = res.ExitCode
	r.result.ExitCode = res.ExitCode
	r.result.OutOfMemory = res.OOMKilled || (res.ExitCode == 137 && t.spec.Limits.Memory != "")
	return r, nil
}

// lineSplit passes a stream on as it is written and, for OnEvent, line
// by line (a line is cut at claude.MaxLineBytes: a process printing
// without newlines must not grow the caller's memory).
type lineSplit struct {
	stream Stream
	raw    io.Writer
	on     func(Event)
	tail   *stderrTail
	lw     *claude.LineWriter
	mu     sync.Mutex
}

func (l *lineSplit) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raw != nil {
		// The process's output goes on even if the caller's writer fails.
		l.raw.Write(p)
	}
	if l.on == nil && l.tail == nil {
		return len(p), nil
	}
	if l.lw == nil {
		l.lw = &claude.LineWriter{Line: l.line}
	}
	return l.lw.Write(p)
}

func (l *lineSplit) line(b []byte) {
	if l.tail != nil {
		l.tail.add(string(b))
	}
	if l.on != nil {
		l.on(Event{Stream: l.stream, Line: b})
	}
}

func (l *lineSplit) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lw != nil {
		l.lw.Flush()
	}
}

// stderrTail keeps the last lines of standard error.
type stderrTail struct{ lines []string }

func (s *stderrTail) add(line string) {
	s.lines = append(s.lines, line)
	if len(s.lines) > 20 {
		s.lines = s.lines[1:]
	}
}

func (s *stderrTail) String() string { return strings.TrimSpace(strings.Join(s.lines, "\n")) }
