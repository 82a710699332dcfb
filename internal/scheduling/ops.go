package scheduling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/config"
)

// Temporal applies a trigger, pause or unpause a moment after accepting
// it (the schedule's own workflow takes it in); these bound the wait to
// see it done, and the pause between looks.
const (
	applyWait = 30 * time.Second
	applyPoll = 200 * time.Millisecond
)

// Triggered is what RunNow started.
type Triggered struct {
	// WorkflowID and RunID are the firing's; empty when it is Queued.
	WorkflowID string
	RunID      string
	// Overlap is the schedule's overlap policy, which the run followed.
	Overlap string
	// Running are the firings that were still running: with buffer_one
	// or buffer_all the run waits for them (Queued), with cancel_other or
	// terminate_other they were stopped, with allow_all it runs alongside.
	Running []string
	// Queued: the run starts when the running firings end.
	Queued bool
}

// BusyError: a firing still runs, and the schedule's overlap policy
// (skip) would drop a run now.
type BusyError struct {
	Ref     string
	Running []string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("schedule %s is still running firing %s, and its overlap policy (skip) drops a run while one runs: "+
		"wait for it to end (see `airut schedule show %s`) or stop its conversation's task with `airut stop`",
		e.Ref, strings.Join(e.Running, ", "), e.Ref)
}

// RunNow fires the schedule now, whatever its timetable, and returns the
// firing once Temporal has started it. A paused or disabled schedule
// fires too: running it by hand is how one tries it out.
//
// The run follows the schedule's overlap policy, as a scheduled firing
// would. Forcing it (ALLOW_ALL) was the alternative, but Temporal does
// not count a firing started that way as running, so the schedule's next
// firings would overlap it even under skip. Where the policy would drop
// the run (skip while a firing runs) RunNow does not trigger and says so
// (*BusyError), so a run asked for is never dropped silently.
func RunNow(ctx context.Context, c client.Client, cfg *config.Config, repoID, name string) (Triggered, error) {
	s, err := Find(cfg, repoID, name)
	if err != nil {
		return Triggered{}, err
	}
	h := c.ScheduleClient().GetHandle(ctx, s.Options.ID)
	before, err := h.Describe(ctx)
	if err != nil {
		return Triggered{}, wrapNotFound(s, "run", err)
	}
	policy := enums.SCHEDULE_OVERLAP_POLICY_SKIP
	if p := before.Schedule.Policy; p != nil && p.Overlap != enums.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED {
		policy = p.Overlap
	}
	out := Triggered{Overlap: overlapName(policy)}
	seen := map[string]bool{}
	for _, r := range before.Info.RunningWorkflows {
		seen[r.WorkflowID] = true
		out.Running = append(out.Running, r.WorkflowID)
	}
	if len(out.Running) > 0 && policy == enums.SCHEDULE_OVERLAP_POLICY_SKIP {
		return out, &BusyError{Ref: s.Ref(), Running: out.Running}
	}
	for _, a := range before.Info.RecentActions {
		if a.StartWorkflowResult != nil {
			seen[a.StartWorkflowResult.WorkflowID] = true
		}
	}
	// Temporal names a firing by the schedule's ID and its time to the
	// second, and does not start a second firing of the same name: a run
	// in the same second as the latest firing would be dropped.
	if n := len(before.Info.RecentActions); n > 0 {
		if r := before.Info.RecentActions[n-1].StartWorkflowResult; r != nil {
			if at, err := time.Parse(time.RFC3339, strings.TrimPrefix(r.WorkflowID, s.Options.ID+"-")); err == nil {
				select {
				case <-ctx.Done():
					return Triggered{}, ctx.Err()
				case <-time.After(time.Until(at.Add(time.Second + 50*time.Millisecond))):
				}
			}
		}
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: policy}); err != nil {
		return Triggered{}, wrapNotFound(s, "run", err)
	}
	if len(out.Running) > 0 && (policy == enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE || policy == enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL) {
		out.Queued = true
		return out, nil
	}
	// The newest firing not seen before is this one (unless a scheduled
	// firing fell due in the same instant; then it is one of the two).
	var busy error
	err = await(ctx, h, func(d *client.ScheduleDescription) bool {
		for i := len(d.Info.RecentActions) - 1; i >= 0; i-- {
			if r := d.Info.RecentActions[i].StartWorkflowResult; r != nil && !seen[r.WorkflowID] {
				out.WorkflowID, out.RunID = r.WorkflowID, r.FirstExecutionRunID
				return true
			}
		}
		// A scheduled firing started between the look and the trigger,
		// and the trigger was skipped.
		if d.Info.NumActionsSkippedOverlap > before.Info.NumActionsSkippedOverlap {
			var running []string
			for _, r := range d.Info.RunningWorkflows {
				running = append(running, r.WorkflowID)
			}
			busy = &BusyError{Ref: s.Ref(), Running: running}
			return true
		}
		return false
	})
	switch {
	case busy != nil:
		return out, busy
	case err != nil:
		return Triggered{}, fmt.Errorf("schedule %s: triggered, but the firing has not started: %w", s.Ref(), err)
	}
	return out, nil
}

// Pause stops the schedule's firings until Unpause; note says why (it is
// shown with the schedule). Unlike a pause by the config (enable: false),
// Sync keeps this pause.
func Pause(ctx context.Context, c client.Client, cfg *config.Config, repoID, name, note string) error {
	s, err := Find(cfg, repoID, name)
	if err != nil {
		return err
	}
	switch {
	case note == "":
		note = "paused by hand"
	case pausedByConfig(note):
		// Sync would take it for its own pause and undo it.
		note = "paused by hand: " + note
	}
	h := c.ScheduleClient().GetHandle(ctx, s.Options.ID)
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
		return wrapNotFound(s, "pause", err)
	}
	if err := await(ctx, h, func(d *client.ScheduleDescription) bool {
		return d.Schedule.State != nil && d.Schedule.State.Paused && d.Schedule.State.Note == note
	}); err != nil {
		return fmt.Errorf("schedule %s: paused, but Temporal does not show it yet: %w", s.Ref(), err)
	}
	return nil
}

// DisabledError: the config disables the schedule, so only the config
// can enable it.
type DisabledError struct {
	Ref    string
	Config string
}

func (e *DisabledError) Error() string {
	return fmt.Sprintf("schedule %s is disabled in the config (enable: false in %s); set enable: true there to resume it", e.Ref, e.Config)
}

// Unpause lets a paused schedule fire again. A schedule the config
// disables stays paused (*DisabledError): the next sync would pause it
// again.
func Unpause(ctx context.Context, c client.Client, cfg *config.Config, repoID, name string) error {
	s, err := Find(cfg, repoID, name)
	if err != nil {
		return err
	}
	if !s.Config.Enabled() {
		return &DisabledError{Ref: s.Ref(), Config: cfg.Path}
	}
	h := c.ScheduleClient().GetHandle(ctx, s.Options.ID)
	if err := h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: activeNote}); err != nil {
		return wrapNotFound(s, "resume", err)
	}
	if err := await(ctx, h, func(d *client.ScheduleDescription) bool {
		return d.Schedule.State == nil || !d.Schedule.State.Paused
	}); err != nil {
		return fmt.Errorf("schedule %s: resumed, but Temporal does not show it yet: %w", s.Ref(), err)
	}
	return nil
}

// await describes the schedule until done says what was asked is done.
func await(ctx context.Context, h client.ScheduleHandle, done func(*client.ScheduleDescription) bool) error {
	ctx, cancel := context.WithTimeout(ctx, applyWait)
	defer cancel()
	for {
		d, err := h.Describe(ctx)
		if err != nil {
			return err
		}
		if done(d) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not seen within %s: %w", applyWait, ctx.Err())
		case <-time.After(applyPoll):
		}
	}
}

func wrapNotFound(s Schedule, what string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("schedule %s: %w", s.Ref(), ErrNotInTemporal)
	}
	return fmt.Errorf("%s schedule %s: %w", what, s.Ref(), err)
}
