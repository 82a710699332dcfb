package scheduling

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

// Info is a schedule as Temporal has it: its timetable and state, when it
// fires next, what it fired lately and how the last firing ended.
type Info struct {
	RepoID string
	Name   string
	// ID is the Temporal Schedule's ID.
	ID string
	// Config is the schedule's config entry.
	Config *config.Schedule
	// Cron and Timezone are the timetable Temporal has.
	Cron          string
	Timezone      string
	Jitter        time.Duration
	Overlap       string
	CatchupWindow time.Duration
	Paused        bool
	// Note says why it is paused (or that airut manages it).
	Note string
	// Next are the coming firing times (up to 10).
	Next []time.Time
	// Recent are the latest firings, scheduled or run by hand, oldest
	// first (up to 10).
	Recent []Firing
	// Last is the latest firing with its outcome; nil before the first.
	Last *Firing
	// Running are the workflow IDs of the firings still running, as
	// Temporal tracks them for the overlap policy (not under allow_all).
	Running []string
	// Fired counts the firings so far; SkippedOverlap those skipped
	// because one still ran; MissedCatchup those dropped as older than
	// the catch-up window after downtime.
	Fired          int
	SkippedOverlap int
	MissedCatchup  int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Ref is repo/name.
func (i Info) Ref() string { return i.RepoID + "/" + i.Name }

// Firing is one firing of a schedule: a FiringWorkflow execution.
type Firing struct {
	WorkflowID string
	RunID      string
	// ScheduledAt is the time it was due (jitter included); StartedAt
	// when Temporal started it.
	ScheduledAt time.Time
	StartedAt   time.Time
	// Outcome, ClosedAt and Detail are set on Info.Last only.
	Outcome  Outcome
	ClosedAt time.Time
	// Detail: the conversation it started, that the trigger command found
	// nothing to do, or why it failed.
	Detail string
}

// Outcome is how a firing's workflow stands.
type Outcome string

// Outcomes; OutcomeGone is a firing Temporal no longer keeps (past the
// namespace's retention).
const (
	OutcomeRunning    Outcome = "running"
	OutcomeCompleted  Outcome = "completed"
	OutcomeFailed     Outcome = "failed"
	OutcomeCanceled   Outcome = "canceled"
	OutcomeTerminated Outcome = "terminated"
	OutcomeTimedOut   Outcome = "timed out"
	OutcomeContinued  Outcome = "continued as new"
	OutcomeGone       Outcome = "no longer kept"
	OutcomeUnknown    Outcome = "unknown"
)

// List describes every schedule of the config, in the order of Desired.
// It reads each schedule itself rather than Temporal's schedule list,
// which lags behind (a schedule Sync just created may not be in it) and
// carries fewer firings. A schedule Temporal lacks is left out and named
// in the error; the others are still returned.
func List(ctx context.Context, c client.Client, cfg *config.Config) ([]Info, error) {
	all, err := Desired(cfg)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	out := make([]Info, 0, len(all))
	for _, s := range all {
		info, err := describe(ctx, c, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, info)
	}
	return out, errors.Join(errs...)
}

// Describe describes the config's schedule repoID/name.
func Describe(ctx context.Context, c client.Client, cfg *config.Config, repoID, name string) (Info, error) {
	s, err := Find(cfg, repoID, name)
	if err != nil {
		return Info{}, err
	}
	return describe(ctx, c, s)
}

// ErrNotInTemporal: the config has the schedule but Temporal does not
// (Sync has not run, or failed for it).
var ErrNotInTemporal = errors.New("not in Temporal yet: the sync with the config failed or has not run (see the log of `airut run`)")

func describe(ctx context.Context, c client.Client, s Schedule) (Info, error) {
	d, err := c.ScheduleClient().GetHandle(ctx, s.Options.ID).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Info{}, fmt.Errorf("schedule %s: %w", s.Ref(), ErrNotInTemporal)
	}
	if err != nil {
		return Info{}, fmt.Errorf("describe schedule %s: %w", s.Ref(), err)
	}
	info := Info{RepoID: s.RepoID, Name: s.Name, ID: s.Options.ID, Config: s.Config,
		Cron: normalCron(s.Config.Cron), Timezone: s.Config.Timezone,
		Next: d.Info.NextActionTimes, Fired: d.Info.NumActions, SkippedOverlap: d.Info.NumActionsSkippedOverlap,
		MissedCatchup: d.Info.NumActionsMissedCatchupWindow, CreatedAt: d.Info.CreatedAt, UpdatedAt: d.Info.LastUpdateAt}
	// What Temporal has wins over the config: they differ only when the
	// sync failed, and then Temporal's is what fires.
	if sp := d.Schedule.Spec; sp != nil {
		if len(sp.Calendars) == 1 && sp.Calendars[0].Comment != "" {
			info.Cron = sp.Calendars[0].Comment
		}
		info.Timezone, info.Jitter = sp.TimeZoneName, sp.Jitter
	}
	if info.Timezone == "" {
		info.Timezone = "UTC"
	}
	if p := d.Schedule.Policy; p != nil {
		info.Overlap, info.CatchupWindow = overlapName(p.Overlap), p.CatchupWindow
	}
	if st := d.Schedule.State; st != nil {
		info.Paused, info.Note = st.Paused, st.Note
	}
	for _, r := range d.Info.RunningWorkflows {
		info.Running = append(info.Running, r.WorkflowID)
	}
	for _, a := range d.Info.RecentActions {
		if a.StartWorkflowResult == nil {
			continue
		}
		info.Recent = append(info.Recent, Firing{WorkflowID: a.StartWorkflowResult.WorkflowID, RunID: a.StartWorkflowResult.FirstExecutionRunID,
			ScheduledAt: a.ScheduleTime, StartedAt: a.ActualTime})
	}
	if n := len(info.Recent); n > 0 {
		last := info.Recent[n-1]
		if err := outcome(ctx, c, &last); err != nil {
			return Info{}, fmt.Errorf("schedule %s: last firing %s: %w", s.Ref(), last.WorkflowID, err)
		}
		info.Last = &last
	}
	return info, nil
}

// outcome looks the firing's workflow up and fills in how it stands.
func outcome(ctx context.Context, c client.Client, f *Firing) error {
	resp, err := c.DescribeWorkflowExecution(ctx, f.WorkflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		f.Outcome = OutcomeGone
		return nil
	}
	if err != nil {
		return err
	}
	wi := resp.GetWorkflowExecutionInfo()
	switch wi.GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		f.Outcome = OutcomeRunning
		return nil
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		f.Outcome = OutcomeCompleted
	case enums.WORKFLOW_EXECUTION_STATUS_FAILED:
		f.Outcome = OutcomeFailed
	case enums.WORKFLOW_EXECUTION_STATUS_CANCELED:
		f.Outcome = OutcomeCanceled
	case enums.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		f.Outcome = OutcomeTerminated
	case enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		f.Outcome = OutcomeTimedOut
	case enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		f.Outcome = OutcomeContinued
	default:
		f.Outcome = OutcomeUnknown
	}
	if wi.GetCloseTime() != nil {
		f.ClosedAt = wi.GetCloseTime().AsTime()
	}
	f.Detail = closeDetail(ctx, c, f.WorkflowID, wi.GetExecution().GetRunId())
	return nil
}

// closeDetail reads a finished firing's close event: the conversation it
// started, that it found nothing to do, or why it failed. It is a detail:
// when it cannot be read there is none.
func closeDetail(ctx context.Context, c client.Client, workflowID, runID string) string {
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return ""
		}
		if a := ev.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			var res workflows.FiringResult
			if converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &res) != nil {
				return ""
			}
			switch {
			case res.Quiet:
				return "the trigger command found nothing to do"
			case res.ConversationID != "":
				return fmt.Sprintf("conversation %s (%s)", res.ConversationID, res.Outcome)
			}
			return ""
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			return a.GetFailure().GetMessage()
		}
		if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
			return a.GetReason()
		}
		if a := ev.GetWorkflowExecutionTimedOutEventAttributes(); a != nil {
			return "the firing timed out"
		}
	}
	return ""
}
