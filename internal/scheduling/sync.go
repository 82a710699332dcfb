package scheduling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/airut-go/airut/internal/config"
)

// Report is what a Sync did, by schedule (repo/name).
type Report struct {
	Created  []string
	Updated  []string
	Deleted  []string
	Paused   []string
	Unpaused []string
	// Held are schedules the config enables that a person paused (`airut
	// schedule pause`): they stay paused until `airut schedule resume`.
	Held []string
	// Unchanged counts the schedules that already matched.
	Unchanged int
}

// Changed reports whether the sync changed anything in Temporal.
func (r Report) Changed() bool {
	return len(r.Created)+len(r.Updated)+len(r.Deleted)+len(r.Paused)+len(r.Unpaused) > 0
}

// String is the report in one line, like "created web/nightly; 2
// unchanged".
func (r Report) String() string {
	var parts []string
	for _, p := range []struct {
		what string
		refs []string
	}{{"created", r.Created}, {"updated", r.Updated}, {"deleted", r.Deleted}, {"paused", r.Paused},
		{"unpaused", r.Unpaused}, {"kept paused by hand", r.Held}} {
		if len(p.refs) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.refs, ", "))
		}
	}
	if r.Unchanged > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", r.Unchanged))
	}
	return strings.Join(parts, "; ")
}

// LogValue puts the report in a log line as a group of its non-empty
// parts.
func (r Report) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, p := range []struct {
		key  string
		refs []string
	}{{"created", r.Created}, {"updated", r.Updated}, {"deleted", r.Deleted}, {"paused", r.Paused},
		{"unpaused", r.Unpaused}, {"held", r.Held}} {
		if len(p.refs) > 0 {
			attrs = append(attrs, slog.String(p.key, strings.Join(p.refs, ",")))
		}
	}
	attrs = append(attrs, slog.Int("unchanged", r.Unchanged))
	return slog.GroupValue(attrs...)
}

// Sync makes Temporal's schedules match the config's: it creates the
// missing ones, updates those whose timetable, firing input or policies
// differ (and only those, so an unchanged schedule is not written to),
// pauses those the config disables and unpauses those it enabled again,
// and deletes the schedules airut made (IDPrefix) that the config no
// longer has. Schedules of other owners are left alone. A schedule that
// cannot be synced does not stop the others; the error names each one.
// log may be nil.
func Sync(ctx context.Context, c client.Client, cfg *config.Config, log *slog.Logger) (Report, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rep Report
	want, werr := Desired(cfg)
	var errs []error
	if werr != nil {
		errs = append(errs, werr)
	}
	sc := c.ScheduleClient()
	keep := make(map[string]bool, len(want))
	for _, s := range want {
		keep[s.Options.ID] = true
		if err := syncOne(ctx, sc, s, &rep, log); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", s.Ref(), err))
		}
	}
	// A schedule the config has but that could not be read would look
	// removed; delete nothing then.
	if werr == nil {
		if err := deleteOthers(ctx, sc, keep, &rep, log); err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// syncOne makes one schedule match.
func syncOne(ctx context.Context, sc client.ScheduleClient, s Schedule, rep *Report, log *slog.Logger) error {
	h := sc.GetHandle(ctx, s.Options.ID)
	var (
		have    *client.ScheduleDescription
		changed []string
	)
	// Update reads the schedule and hands it to DoUpdate, which writes
	// only when something differs.
	err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		have = &in.Description
		var err error
		changed, err = differences(s.Options, in.Description.Schedule)
		if err != nil {
			return nil, err
		}
		if len(changed) == 0 {
			return nil, temporal.ErrSkipScheduleUpdate
		}
		spec := s.Options.Spec
		return &client.ScheduleUpdate{Schedule: &client.Schedule{
			Spec:   &spec,
			Action: s.Options.Action,
			Policy: &client.SchedulePolicies{Overlap: s.Options.Overlap, CatchupWindow: s.Options.CatchupWindow},
			// Pausing is done apart (below), so that a pause by a
			// person is kept across an update.
			State: in.Description.Schedule.State,
		}}, nil
	}})
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		if _, err := sc.Create(ctx, s.Options); err != nil {
			if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
				// Another airut process created it a moment ago, from
				// the same config; the next sync compares.
				rep.Unchanged++
				return nil
			}
			return fmt.Errorf("create: %w", err)
		}
		log.Debug("schedule created", "schedule", s.Ref(), "id", s.Options.ID, "paused", s.Options.Paused)
		rep.Created = append(rep.Created, s.Ref())
		return nil
	case err != nil:
		return fmt.Errorf("update: %w", err)
	}
	did := false
	if len(changed) > 0 {
		log.Debug("schedule updated", "schedule", s.Ref(), "changed", strings.Join(changed, ","))
		rep.Updated = append(rep.Updated, s.Ref())
		did = true
	}
	var paused bool
	var note string
	if st := have.Schedule.State; st != nil {
		paused, note = st.Paused, st.Note
	}
	switch {
	case !s.Config.Enabled() && !paused:
		if err := h.Pause(ctx, client.SchedulePauseOptions{Note: configPauseNote}); err != nil {
			return fmt.Errorf("pause: %w", err)
		}
		log.Debug("schedule paused: the config disables it", "schedule", s.Ref())
		rep.Paused = append(rep.Paused, s.Ref())
		did = true
	case s.Config.Enabled() && paused && pausedByConfig(note):
		if err := h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: activeNote}); err != nil {
			return fmt.Errorf("unpause: %w", err)
		}
		log.Debug("schedule unpaused: the config enables it again", "schedule", s.Ref())
		rep.Unpaused = append(rep.Unpaused, s.Ref())
		did = true
	case s.Config.Enabled() && paused:
		rep.Held = append(rep.Held, s.Ref())
	}
	if !did {
		rep.Unchanged++
	}
	return nil
}

// deleteOthers deletes airut's schedules that are not in keep.
func deleteOthers(ctx context.Context, sc client.ScheduleClient, keep map[string]bool, rep *Report, log *slog.Logger) error {
	// The list comes from visibility, which lags: a schedule created a
	// moment ago may be missing (it is kept anyway) and one deleted a
	// moment ago may still show (deleting it again is not found, and
	// ignored).
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	var errs []error
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list schedules: %w", err))...)
		}
		repoID, name, ours := splitID(e.ID)
		if !ours || keep[e.ID] {
			continue
		}
		var nf *serviceerror.NotFound
		switch err := sc.GetHandle(ctx, e.ID).Delete(ctx); {
		case errors.As(err, &nf):
		case err != nil:
			errs = append(errs, fmt.Errorf("schedule %s/%s: delete: %w", repoID, name, err))
		default:
			log.Debug("schedule deleted: no longer in the config", "schedule", repoID+"/"+name, "id", e.ID)
			rep.Deleted = append(rep.Deleted, repoID+"/"+name)
		}
	}
	return errors.Join(errs...)
}

// differences names what of a schedule in Temporal differs from what it
// should be: "spec", "action", "policies". The pause state is not
// compared here: Sync handles it apart.
func differences(want client.ScheduleOptions, have client.Schedule) ([]string, error) {
	var out []string
	if !sameSpec(want.Spec, have.Spec) {
		out = append(out, "spec")
	}
	same, err := sameAction(want.Action, have.Action)
	if err != nil {
		return nil, err
	}
	if !same {
		out = append(out, "action")
	}
	if p := have.Policy; p == nil || p.Overlap != want.Overlap || p.CatchupWindow != want.CatchupWindow || p.PauseOnFailure {
		out = append(out, "policies")
	}
	return out, nil
}

// sameSpec compares the timetable. Temporal keeps a cron expression as
// calendar ranges with the text after '#' as comment, which is where
// cronExpression put the expression.
func sameSpec(want client.ScheduleSpec, have *client.ScheduleSpec) bool {
	if have == nil || len(have.CronExpressions) != 0 || len(have.Intervals) != 0 || len(have.Skip) != 0 ||
		!have.StartAt.IsZero() || !have.EndAt.IsZero() || len(have.Calendars) != len(want.CronExpressions) {
		return false
	}
	for i, expr := range want.CronExpressions {
		if have.Calendars[i].Comment != cronComment(expr) {
			return false
		}
	}
	return have.Jitter == want.Jitter && have.TimeZoneName == want.TimeZoneName
}

// cronComment is the comment part of a cron expression.
func cronComment(expr string) string {
	_, c, _ := strings.Cut(expr, "#")
	return strings.TrimSpace(c)
}

// sameAction compares the firing: workflow, ID, queue and the encoded
// input. The input is encoded as the client encodes it (the default data
// converter; airut sets no other), so an equal input is equal bytes.
func sameAction(want, have client.ScheduleAction) (bool, error) {
	w, ok := want.(*client.ScheduleWorkflowAction)
	if !ok {
		return false, fmt.Errorf("action %T: airut schedules start workflows", want)
	}
	h, ok := have.(*client.ScheduleWorkflowAction)
	if !ok || h.Workflow != w.Workflow || h.ID != w.ID || h.TaskQueue != w.TaskQueue || len(h.Args) != len(w.Args) {
		return false, nil
	}
	dc := converter.GetDefaultDataConverter()
	for i, arg := range w.Args {
		p, err := dc.ToPayload(arg)
		if err != nil {
			return false, fmt.Errorf("encode the firing input: %w", err)
		}
		hp, ok := h.Args[i].(*commonpb.Payload)
		if !ok || !proto.Equal(p, hp) {
			return false, nil
		}
	}
	return true, nil
}
