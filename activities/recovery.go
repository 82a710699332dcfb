package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// Resume, don't redo. A worker that dies mid-run leaves the run's marker
// behind (markers of runs that end are removed). The worker that starts
// next on the host fails those attempts through Temporal at once, so they
// are retried within seconds instead of after the heartbeat timeout; the
// retry reads what the interrupted attempt streamed and either takes its
// final result (the agent had finished) or resumes its Claude Code
// session with a note to check what it already did, rather than running
// the original prompt again in a new session.

// runMarker is one agent run in progress on this host.
type runMarker struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	ActivityID string `json:"activity_id"`
	Attempt    int32  `json:"attempt"`
	TaskID     string `json:"task_id"`
	// EventsOffset is where the run's lines begin in events.jsonl.
	EventsOffset int64 `json:"events_offset"`
	// Resuming is the session this attempt resumes after an earlier
	// interrupted one. An attempt killed before the agent said anything
	// must pass it on: the next would otherwise start the task afresh and
	// redo what the earlier attempts did.
	Resuming string `json:"resuming,omitempty"`
}

// InterruptedNote is the prompt of a resumed run: the session already
// holds the user's message and whatever the agent did for it.
const InterruptedNote = "Your previous run on this task was interrupted before it finished (the machine running it stopped). " +
	"The conversation so far is intact. First check what you already did: `git status` and `git log` in /workspace, the files in /outbox, " +
	"and anything you started outside the workspace (pushes, pull requests, comments). Do not repeat what already took effect. " +
	"Then finish the task and give your final reply to the user's last message as usual."

func markerPath(cfg *config.Config, host, repoID, convID string) string {
	return filepath.Join(cfg.RunningDir(host), repoID+"-"+convID+".json")
}

// markRunning records this attempt as running, until the returned done
// is called.
func markRunning(ctx context.Context, path string, taskID string, eventsOffset int64, resuming string) (done func(), err error) {
	info := activity.GetInfo(ctx)
	m := runMarker{
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		ActivityID: info.ActivityID, Attempt: info.Attempt, TaskID: taskID, EventsOffset: eventsOffset,
		Resuming: resuming,
	}
	data, _ := json.Marshal(m)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("record running agent: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, fmt.Errorf("record running agent: %w", err)
	}
	return func() { os.Remove(path) }, nil
}

// readMarker reads the marker at path; ok is false when there is none.
func readMarker(path string) (runMarker, bool, error) {
	var m runMarker
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read run marker: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		// A marker cut short by the crash says nothing usable.
		return m, false, nil
	}
	return m, true, nil
}

// interrupted is what an interrupted earlier attempt of this task left:
// its stream from where it began, read back.
func interrupted(eventsPath string, m runMarker) (sandbox.Result, error) {
	f, err := os.Open(eventsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return sandbox.Result{}, nil
	}
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("read the interrupted run's events: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(m.EventsOffset, io.SeekStart); err != nil {
		return sandbox.Result{}, fmt.Errorf("read the interrupted run's events: %w", err)
	}
	return sandbox.ClaudeTranscript(f)
}

// resumeDecision is what to do about an interrupted earlier attempt.
type resumeDecision struct {
	// result is set when the interrupted attempt had finished: use it.
	result *workflows.AgentResult
	// in is the input to run now (the interrupted session with the note,
	// or unchanged when nothing had started).
	in workflows.AgentInput
}

// resume decides how this attempt continues an interrupted one of the
// same task, from what that attempt streamed (run) and the session it was
// itself resuming (resuming, "" if it ran as asked).
func resume(in workflows.AgentInput, run sandbox.Result, resuming string) resumeDecision {
	if run.Finished {
		res := agentResult(run)
		return resumeDecision{result: &res, in: in}
	}
	session := run.SessionID
	if session == "" {
		// The agent had not started: nothing happened in that attempt,
		// but an attempt before it may have done work in the session
		// it was resuming.
		session = resuming
	}
	if session == "" {
		return resumeDecision{in: in}
	}
	in.SessionID = session
	in.Prompt = InterruptedNote
	return resumeDecision{in: in}
}

// resuming is the session d resumes after an interruption, "" if it runs
// as asked.
func (d resumeDecision) resuming() string {
	if d.in.Prompt == InterruptedNote {
		return d.in.SessionID
	}
	return ""
}

// continueInterrupted looks for an interrupted attempt of this task on
// this host and says how to go on.
func continueInterrupted(markerFile string, l conversation.Layout, in workflows.AgentInput, log *slog.Logger) (resumeDecision, error) {
	m, ok, err := readMarker(markerFile)
	if err != nil || !ok || m.TaskID != in.TaskID {
		// No marker, or one of an earlier task (its worker died and the
		// task was given up on): this run starts as asked.
		return resumeDecision{in: in}, err
	}
	t, err := interrupted(l.Events(), m)
	if err != nil {
		return resumeDecision{in: in}, err
	}
	d := resume(in, t, m.Resuming)
	switch {
	case d.result != nil:
		log.Info("the interrupted attempt had finished; its result is used and the agent does not run again",
			"interrupted_attempt", m.Attempt, "outcome", d.result.Outcome)
	case d.in.SessionID != in.SessionID:
		log.Info("resuming the interrupted attempt's session", "interrupted_attempt", m.Attempt, "session", d.in.SessionID)
	}
	return d, nil
}

// FailOrphanedRuns fails, through Temporal, the agent attempts that a dead
// worker of this host was running (their markers are still there), so
// Temporal retries them now rather than when their heartbeat times out.
// The markers stay: the retry reads them to resume. Attempts Temporal no
// longer knows (already timed out and retried) are skipped.
func FailOrphanedRuns(ctx context.Context, c client.Client, namespace, dir string, log *slog.Logger) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list interrupted agent runs: %w", err)
	}
	failed := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		m, ok, err := readMarker(filepath.Join(dir, e.Name()))
		if err != nil || !ok {
			continue
		}
		// Retried at once: nothing is wrong that waiting would fix.
		cause := temporal.NewApplicationErrorWithOptions("the worker running this attempt stopped; a new worker on the host resumes it",
			workflows.ErrWorkerRestarted, temporal.ApplicationErrorOptions{NextRetryDelay: time.Millisecond})
		err = c.CompleteActivityByID(ctx, namespace, m.WorkflowID, m.RunID, m.ActivityID, nil, cause)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			log.Debug("interrupted agent run already retried", "workflow", m.WorkflowID, "attempt", m.Attempt)
		case err != nil:
			log.Warn("could not hand back an interrupted agent run; it is retried after its heartbeat timeout",
				"workflow", m.WorkflowID, "attempt", m.Attempt, "error", err)
		default:
			failed++
			log.Info("handed back an interrupted agent run for retry", "workflow", m.WorkflowID, "task", m.TaskID, "attempt", m.Attempt)
		}
	}
	return failed, nil
}

// runStart is an agent attempt begun: its input (resuming an interrupted
// attempt's session, if there was one), its event log and its marker.
type runStart struct {
	in     workflows.AgentInput
	events *os.File
	// finished: an interrupted attempt had already finished; result is
	// the run's and nothing is to run.
	finished bool
	result   workflows.AgentResult
	// end closes the event log and removes the marker, unless the worker
	// is shutting down mid-run: then the marker stays and the retry
	// resumes this attempt instead of redoing it.
	end func()
}

// beginRun continues an interrupted attempt of the task if there is one,
// opens the event log and marks this attempt as running.
func beginRun(ctx context.Context, marker string, l conversation.Layout, in workflows.AgentInput, log *slog.Logger) (runStart, error) {
	d, err := continueInterrupted(marker, l, in, log)
	if err != nil {
		return runStart{}, err
	}
	if d.result != nil {
		os.Remove(marker)
		return runStart{finished: true, result: *d.result}, nil
	}
	offset := parts.LogOffset(l.Events())
	events, err := openEventLog(l.Events())
	if err != nil {
		return runStart{}, err
	}
	unmark, err := markRunning(ctx, marker, d.in.TaskID, offset, d.resuming())
	if err != nil {
		events.Close()
		return runStart{}, err
	}
	end := func() {
		events.Close()
		select {
		case <-activity.GetWorkerStopChannel(ctx):
		default:
			unmark()
		}
	}
	return runStart{in: d.in, events: events, end: end}, nil
}
