package scheduling_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/scheduling"
	"github.com/airut-go/airut/internal/testing/importguard"
	"github.com/airut-go/airut/internal/testing/temporaltest"
	"github.com/airut-go/airut/workflows"
)

// server starts an embedded Temporal server for one test and dials it.
func server(t *testing.T) client.Client { return temporaltest.Start(t) }

// schedule is a schedule as the config loads it, defaults applied.
func schedule(name, cron string) *config.Schedule {
	return &config.Schedule{Name: name, Cron: cron, Timezone: "Europe/Helsinki", Subject: name,
		Prompt: "Update the dependencies.", TriggerTimeout: 300, OutputLimit: 102400,
		Deliver: config.ScheduleDelivery{Channel: "email", To: "dev@example.com"},
		Overlap: "skip", CatchupWindow: 86400, NotifyAfterFailures: 3}
}

func newConfig(schedules map[string]map[string]*config.Schedule) *config.Config {
	cfg := &config.Config{Path: "/etc/airut/airut.yaml", Execution: config.Execution{ConversationMaxAgeDays: 7},
		Repos: map[string]*config.Repo{}}
	for repo, ss := range schedules {
		cfg.Repos[repo] = &config.Repo{ID: repo, Schedules: ss}
	}
	return cfg
}

func off() *bool { b := false; return &b }

// eventually retries check until it passes or 15 seconds are up: Temporal
// applies an update or a pause a moment after accepting it.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describe(ctx context.Context, c client.Client, id string) (*client.ScheduleDescription, error) {
	return c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
}

// firingInput decodes a schedule's action input.
func firingInput(t *testing.T, a client.ScheduleAction) workflows.FiringInput {
	t.Helper()
	wa, ok := a.(*client.ScheduleWorkflowAction)
	if !ok || len(wa.Args) != 1 {
		t.Fatalf("action %#v: want a workflow action with one argument", a)
	}
	var in workflows.FiringInput
	if err := converter.GetDefaultDataConverter().FromPayload(wa.Args[0].(*commonpb.Payload), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// The package reads and changes schedules; it must not run workflow or
// activity code (the workers do).
func TestImportsNoWorkerCode(t *testing.T) {
	t.Parallel()
	for _, imp := range importguard.Imports(t, ".") {
		switch {
		case imp.Path == "go.temporal.io/sdk/worker", imp.Path == "go.temporal.io/sdk/activity",
			strings.HasPrefix(imp.Path, "github.com/airut-go/airut/workers"),
			strings.HasPrefix(imp.Path, "github.com/airut-go/airut/activities"):
			t.Errorf("%s imports %s; scheduling only talks to Temporal's schedule API", imp.File, imp.Path)
		}
	}
}

// Every config overlap name maps to its Temporal policy; "" is skip.
func TestOverlapPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want enums.ScheduleOverlapPolicy
	}{
		{"", enums.SCHEDULE_OVERLAP_POLICY_SKIP},
		{"skip", enums.SCHEDULE_OVERLAP_POLICY_SKIP},
		{"buffer_one", enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE},
		{"buffer_all", enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL},
		{"cancel_other", enums.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER},
		{"terminate_other", enums.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER},
		{"allow_all", enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL},
	} {
		if got, err := scheduling.OverlapPolicy(tc.name); err != nil || got != tc.want {
			t.Errorf("OverlapPolicy(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := scheduling.OverlapPolicy("queue"); err == nil || !strings.Contains(err.Error(), "skip, buffer_one") {
		t.Errorf("OverlapPolicy(queue) = %v; want an error naming the policies", err)
	}
}

// Desired makes each schedule the Temporal Schedule it should be, with
// the firing's input a snapshot of its settings.
func TestDesired(t *testing.T) {
	t.Parallel()
	weekly := schedule("weekly", "0 9 * * 1")
	weekly.Prompt, weekly.TriggerCommand, weekly.Enable = "", "./triage.sh", off()
	weekly.Deliver = config.ScheduleDelivery{Channel: "slack", To: "C0123"}
	weekly.Overlap, weekly.Jitter, weekly.Model, weekly.Effort = "buffer_all", 90, "opus", "high"
	cfg := newConfig(map[string]map[string]*config.Schedule{
		"web": {"weekly": weekly, "nightly": schedule("nightly", "30  2 * * *")},
		"api": {"nightly": schedule("nightly", "0 3 * * *")},
	})
	got, err := scheduling.Desired(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, s := range got {
		refs = append(refs, s.Ref())
	}
	if want := []string{"api/nightly", "web/nightly", "web/weekly"}; !slices.Equal(refs, want) {
		t.Fatalf("schedules %v, want %v", refs, want)
	}
	w := got[2].Options
	want := client.ScheduleOptions{
		ID:   "airut-schedule/web/weekly",
		Spec: client.ScheduleSpec{CronExpressions: []string{"0 9 * * 1 #0 9 * * 1"}, TimeZoneName: "Europe/Helsinki", Jitter: 90 * time.Second},
		Action: &client.ScheduleWorkflowAction{ID: "airut-schedule/web/weekly", Workflow: workflows.FiringWorkflowName, TaskQueue: workflows.SharedQueue,
			Args: []any{workflows.FiringInput{RepoID: "web", Schedule: "weekly", Subject: "weekly", TriggerCommand: "./triage.sh",
				TriggerTimeout: 300 * time.Second, OutputLimit: 102400, Model: "opus", Effort: "high",
				Deliver:             workflows.Delivery{Channel: workflows.ChannelSlack, To: "C0123"},
				NotifyAfterFailures: 3, Options: workflows.Options{IdleTimeout: 7 * 24 * time.Hour}}}},
		Overlap: enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL, CatchupWindow: 24 * time.Hour, Paused: true,
		Note: "disabled in airut config (enable: false)",
		Memo: map[string]any{"airut": scheduling.Managed{ManagedBy: "airut config", Key: "repos.web.schedules.weekly"}},
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("web/weekly:\n got %+v\nwant %+v", w, want)
	}
	if n := got[1].Options; n.Paused || n.Spec.CronExpressions[0] != "30 2 * * * #30 2 * * *" {
		t.Errorf("web/nightly: paused %v, cron %q; want enabled, spaces normalised", n.Paused, n.Spec.CronExpressions)
	}

	bad := newConfig(map[string]map[string]*config.Schedule{"web": {"x": {Name: "x", Cron: "* * * * *", Overlap: "queue"}}})
	if _, err := scheduling.Desired(bad); err == nil || !strings.Contains(err.Error(), "schedule web/x: unknown overlap") {
		t.Errorf("Desired with a bad overlap = %v; want an error naming the schedule", err)
	}
}

// Resolve takes repo/name, or a name only one repo has; an unknown name
// lists the schedules there are.
func TestResolve(t *testing.T) {
	t.Parallel()
	cfg := newConfig(map[string]map[string]*config.Schedule{
		"web": {"nightly": schedule("nightly", "0 3 * * *"), "weekly": schedule("weekly", "0 9 * * 1")},
		"api": {"nightly": schedule("nightly", "0 3 * * *")},
	})
	for _, tc := range []struct{ ref, want, err string }{
		{"web/nightly", "web/nightly", ""},
		{"weekly", "web/weekly", ""},
		{"nightly", "", `schedule "nightly" is in several repos; say which: api/nightly or web/nightly`},
		{"monthly", "", `unknown schedule "monthly" (configured: api/nightly, web/nightly, web/weekly)`},
		{"api/weekly", "", `unknown schedule "api/weekly" (configured: api/nightly, web/nightly, web/weekly)`},
	} {
		s, err := scheduling.Resolve(cfg, tc.ref)
		var ue *scheduling.UnknownError
		switch {
		case tc.err == "" && (err != nil || s.Ref() != tc.want):
			t.Errorf("Resolve(%q) = %s, %v; want %s", tc.ref, s.Ref(), err, tc.want)
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.As(err, &ue)):
			t.Errorf("Resolve(%q) error %v; want %s", tc.ref, err, tc.err)
		}
	}
	_, err := scheduling.Resolve(newConfig(nil), "nightly")
	if err == nil || !strings.Contains(err.Error(), "no schedules configured; add one under repos.<id>.schedules in /etc/airut/airut.yaml") {
		t.Errorf("Resolve with no schedules: %v", err)
	}
}

// Sync makes Temporal's schedules match the config, step by step as the
// config changes, and writes nothing when nothing changed.
func TestSync(t *testing.T) {
	c := server(t)
	ctx := t.Context()
	// A schedule of someone else, which Sync must leave alone.
	if _, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: "backup-job",
		Spec:   client.ScheduleSpec{CronExpressions: []string{"0 4 * * *"}},
		Action: &client.ScheduleWorkflowAction{Workflow: "Backup", TaskQueue: "backups"}}); err != nil {
		t.Fatal(err)
	}
	nightly := schedule("nightly", "30 2 * * *")
	weekly := schedule("weekly", "0 9 * * 1")
	weekly.Prompt, weekly.TriggerCommand, weekly.Enable = "", "./triage.sh", off()
	weekly.Overlap, weekly.Jitter = "buffer_one", 60
	cfg := newConfig(map[string]map[string]*config.Schedule{"web": {"nightly": nightly, "weekly": weekly}})
	var updatedAt map[string]time.Time

	steps := []struct {
		name string
		edit func()
		want scheduling.Report
		// check runs until it passes (Temporal applies changes a moment
		// after accepting them).
		check func() error
	}{
		{"create", func() {}, scheduling.Report{Created: []string{"web/nightly", "web/weekly"}}, func() error {
			d, err := describe(ctx, c, "airut-schedule/web/nightly")
			if err != nil {
				return err
			}
			sp := d.Schedule.Spec
			if len(sp.Calendars) != 1 || sp.Calendars[0].Comment != "30 2 * * *" || sp.TimeZoneName != "Europe/Helsinki" || sp.Jitter != 0 {
				t.Errorf("nightly spec %+v", sp)
			}
			a := d.Schedule.Action.(*client.ScheduleWorkflowAction)
			if a.Workflow != workflows.FiringWorkflowName || a.TaskQueue != workflows.SharedQueue || a.ID != "airut-schedule/web/nightly" {
				t.Errorf("nightly action %+v", a)
			}
			if in := firingInput(t, a); in.RepoID != "web" || in.Schedule != "nightly" || in.Prompt != "Update the dependencies." ||
				in.Deliver.To != "dev@example.com" || in.TriggerTimeout != 5*time.Minute || in.Options.IdleTimeout != 7*24*time.Hour {
				t.Errorf("nightly firing input %+v", in)
			}
			if p := d.Schedule.Policy; p.Overlap != enums.SCHEDULE_OVERLAP_POLICY_SKIP || p.CatchupWindow != 24*time.Hour {
				t.Errorf("nightly policies %+v", p)
			}
			if d.Schedule.State.Paused {
				t.Errorf("nightly is paused: %+v", d.Schedule.State)
			}
			var memo scheduling.Managed
			if err := converter.GetDefaultDataConverter().FromPayload(d.Memo.GetFields()["airut"], &memo); err != nil || memo.Key != "repos.web.schedules.nightly" {
				t.Errorf("nightly memo %+v (%v)", memo, err)
			}
			w, err := describe(ctx, c, "airut-schedule/web/weekly")
			if err != nil {
				return err
			}
			if !w.Schedule.State.Paused || w.Schedule.State.Note != "disabled in airut config (enable: false)" {
				t.Errorf("weekly state %+v; want paused by the config", w.Schedule.State)
			}
			if w.Schedule.Policy.Overlap != enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE || w.Schedule.Spec.Jitter != time.Minute {
				t.Errorf("weekly policies %+v, jitter %s", w.Schedule.Policy, w.Schedule.Spec.Jitter)
			}
			if in := firingInput(t, w.Schedule.Action); in.TriggerCommand != "./triage.sh" || in.Prompt != "" {
				t.Errorf("weekly firing input %+v", in)
			}
			return nil
		}},
		{"unchanged", func() {}, scheduling.Report{Unchanged: 2}, func() error { return nil }},
		{"cron changed", func() { nightly.Cron = "45 3 * * *" }, scheduling.Report{Updated: []string{"web/nightly"}, Unchanged: 1}, func() error {
			d, err := describe(ctx, c, "airut-schedule/web/nightly")
			if err != nil {
				return err
			}
			if got := d.Schedule.Spec.Calendars[0].Comment; got != "45 3 * * *" {
				return errors.New("nightly cron is still " + got)
			}
			if h := d.Info.NextActionTimes[0].In(time.FixedZone("", 0)); h.Minute() != 45 {
				t.Errorf("next firing %s; want at :45", h)
			}
			return nil
		}},
		{"prompt changed", func() { nightly.Prompt = "Update the dependencies and run the tests." }, scheduling.Report{Updated: []string{"web/nightly"}, Unchanged: 1}, func() error {
			d, err := describe(ctx, c, "airut-schedule/web/nightly")
			if err != nil {
				return err
			}
			if in := firingInput(t, d.Schedule.Action); in.Prompt != nightly.Prompt {
				return errors.New("prompt is still " + in.Prompt)
			}
			return nil
		}},
		{"enable flipped", func() { nightly.Enable, weekly.Enable = off(), nil },
			scheduling.Report{Paused: []string{"web/nightly"}, Unpaused: []string{"web/weekly"}}, func() error {
				n, err := describe(ctx, c, "airut-schedule/web/nightly")
				if err != nil {
					return err
				}
				w, err := describe(ctx, c, "airut-schedule/web/weekly")
				if err != nil {
					return err
				}
				if !n.Schedule.State.Paused || w.Schedule.State.Paused {
					return errors.New("nightly not paused or weekly still paused")
				}
				return nil
			}},
		{"paused by hand stays paused", func() {
			if err := scheduling.Pause(ctx, c, cfg, "web", "weekly", "release freeze"); err != nil {
				t.Fatal(err)
			}
		}, scheduling.Report{Held: []string{"web/weekly"}, Unchanged: 2}, func() error {
			w, err := describe(ctx, c, "airut-schedule/web/weekly")
			if err != nil {
				return err
			}
			if !w.Schedule.State.Paused || w.Schedule.State.Note != "release freeze" {
				t.Errorf("weekly state %+v; want still paused for the release freeze", w.Schedule.State)
			}
			return nil
		}},
		{"removed", func() { delete(cfg.Repos["web"].Schedules, "nightly") }, scheduling.Report{Deleted: []string{"web/nightly"}, Held: []string{"web/weekly"}, Unchanged: 1}, func() error {
			_, err := describe(ctx, c, "airut-schedule/web/nightly")
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				return errors.New("nightly still exists")
			}
			if _, err := describe(ctx, c, "backup-job"); err != nil {
				t.Errorf("someone else's schedule: %v", err)
			}
			return nil
		}},
	}
	for _, step := range steps {
		step.edit()
		var rep scheduling.Report
		// Temporal's schedule list lags behind, so a deletion may take a
		// second sync.
		eventually(t, step.name, func() error {
			var err error
			if rep, err = scheduling.Sync(ctx, c, cfg, nil); err != nil {
				t.Fatalf("%s: Sync: %v", step.name, err)
			}
			if len(step.want.Deleted) > 0 && len(rep.Deleted) == 0 {
				return errors.New("nothing deleted yet")
			}
			return nil
		})
		if !reflect.DeepEqual(rep, step.want) {
			t.Errorf("%s: report %+v, want %+v", step.name, rep, step.want)
		}
		eventually(t, step.name, step.check)
		// A schedule Sync did not change keeps its update time.
		now := map[string]time.Time{}
		for _, id := range []string{"airut-schedule/web/nightly", "airut-schedule/web/weekly"} {
			if d, err := describe(ctx, c, id); err == nil {
				now[id] = d.Info.LastUpdateAt
			}
		}
		if step.name == "unchanged" && !reflect.DeepEqual(now, updatedAt) {
			t.Errorf("unchanged config: update times %v, were %v", now, updatedAt)
		}
		updatedAt = now
	}
	if t.Failed() {
		return
	}
	if got := (scheduling.Report{Created: []string{"web/a"}, Unchanged: 2}).String(); got != "created web/a; 2 unchanged" {
		t.Errorf("report line %q", got)
	}
}

// List and Describe say when a schedule fires next and what it fired;
// RunNow starts a firing at once; Pause and Unpause stop and restart it.
func TestInfoAndOperations(t *testing.T) {
	c := server(t)
	ctx := t.Context()
	weekday := schedule("weekday", "0 9 * * 1-5")
	quiet := schedule("quiet", "0 0 1 1 *")
	quiet.Enable = off()
	buffered := schedule("buffered", "0 0 1 1 *")
	buffered.Overlap = "buffer_one"
	parallel := schedule("parallel", "0 0 1 1 *")
	parallel.Overlap = "allow_all"
	cfg := newConfig(map[string]map[string]*config.Schedule{"web": {"weekday": weekday, "quiet": quiet, "buffered": buffered, "parallel": parallel}})
	if _, err := scheduling.Sync(ctx, c, cfg, nil); err != nil {
		t.Fatal(err)
	}

	infos, err := scheduling.List(ctx, c, cfg)
	if err != nil || len(infos) != 4 || infos[2].Ref() != "web/quiet" || infos[3].Ref() != "web/weekday" {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	helsinki, _ := time.LoadLocation("Europe/Helsinki")
	w := infos[3]
	if w.Cron != "0 9 * * 1-5" || w.Timezone != "Europe/Helsinki" || w.Overlap != "skip" || w.Paused || w.Last != nil || len(w.Next) == 0 {
		t.Errorf("weekday info %+v", w)
	}
	for _, next := range w.Next {
		local := next.In(helsinki)
		if !next.After(time.Now()) || local.Hour() != 9 || local.Minute() != 0 || local.Weekday() == time.Saturday || local.Weekday() == time.Sunday {
			t.Errorf("next firing %s: want a future weekday at 09:00 in Helsinki", local)
		}
	}
	if q := infos[2]; !q.Paused || q.Note != "disabled in airut config (enable: false)" {
		t.Errorf("quiet info %+v; want paused by the config", q)
	}

	// Run now: a FiringWorkflow starts on the shared queue with the
	// schedule's input. No worker runs it here, so it stays running.
	first, err := scheduling.RunNow(ctx, c, cfg, "web", "weekday")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.WorkflowID, "airut-schedule/web/weekday-") || len(first.Running) != 0 || first.Overlap != "skip" {
		t.Errorf("RunNow = %+v", first)
	}
	d, err := c.DescribeWorkflowExecution(ctx, first.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if wi := d.GetWorkflowExecutionInfo(); wi.GetType().GetName() != workflows.FiringWorkflowName ||
		wi.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING || wi.GetTaskQueue() != workflows.SharedQueue {
		t.Errorf("firing %s: type %s, status %s, queue %s", first.WorkflowID, wi.GetType().GetName(), wi.GetStatus(), wi.GetTaskQueue())
	}
	var in workflows.FiringInput
	hist := c.GetWorkflowHistory(ctx, first.WorkflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := hist.Next()
	if err != nil {
		t.Fatal(err)
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil ||
		in.RepoID != "web" || in.Schedule != "weekday" || in.Prompt != weekday.Prompt {
		t.Errorf("firing input %+v (%v)", in, err)
	}

	// Run again while it runs: overlap skip would drop it, so it is
	// refused, loudly.
	var busy *scheduling.BusyError
	if _, err := scheduling.RunNow(ctx, c, cfg, "web", "weekday"); !errors.As(err, &busy) || !slices.Equal(busy.Running, []string{first.WorkflowID}) {
		t.Errorf("RunNow while a firing runs under skip = %v; want a BusyError naming %s", err, first.WorkflowID)
	}
	info, err := scheduling.Describe(ctx, c, cfg, "web", "weekday")
	if err != nil {
		t.Fatal(err)
	}
	if info.Last == nil || info.Last.WorkflowID != first.WorkflowID || info.Last.Outcome != scheduling.OutcomeRunning ||
		len(info.Recent) != 1 || !slices.Equal(info.Running, []string{first.WorkflowID}) || info.Fired != 1 {
		t.Errorf("after a run: %+v (last %+v)", info, info.Last)
	}

	// The last firing's outcome and why.
	if err := c.TerminateWorkflow(ctx, first.WorkflowID, "", "stopped by the test"); err != nil {
		t.Fatal(err)
	}
	info, err = scheduling.Describe(ctx, c, cfg, "web", "weekday")
	if err != nil {
		t.Fatal(err)
	}
	if l := info.Last; l.Outcome != scheduling.OutcomeTerminated || l.Detail != "stopped by the test" || l.ClosedAt.IsZero() {
		t.Errorf("last firing %+v; want terminated with the reason", l)
	}

	// buffer_one: a run while one runs waits for it, then starts.
	b1, err := scheduling.RunNow(ctx, c, cfg, "web", "buffered")
	if err != nil {
		t.Fatal(err)
	}
	b2, err := scheduling.RunNow(ctx, c, cfg, "web", "buffered")
	if err != nil || !b2.Queued || b2.WorkflowID != "" || !slices.Equal(b2.Running, []string{b1.WorkflowID}) || b2.Overlap != "buffer_one" {
		t.Fatalf("RunNow under buffer_one while %s runs = %+v, %v; want queued", b1.WorkflowID, b2, err)
	}
	if err := c.TerminateWorkflow(ctx, b1.WorkflowID, "", "make room"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the queued run starts", func() error {
		info, err := scheduling.Describe(ctx, c, cfg, "web", "buffered")
		if err != nil {
			return err
		}
		if info.Last == nil || info.Last.WorkflowID == b1.WorkflowID || info.Last.Outcome != scheduling.OutcomeRunning {
			return errors.New("the queued run has not started")
		}
		return nil
	})

	// allow_all: runs side by side.
	p1, err1 := scheduling.RunNow(ctx, c, cfg, "web", "parallel")
	p2, err2 := scheduling.RunNow(ctx, c, cfg, "web", "parallel")
	if err1 != nil || err2 != nil || p1.WorkflowID == "" || p2.WorkflowID == "" || p1.WorkflowID == p2.WorkflowID {
		t.Errorf("two runs under allow_all = %+v (%v), %+v (%v); want two firings", p1, err1, p2, err2)
	}

	// Pause and resume.
	if err := scheduling.Pause(ctx, c, cfg, "web", "weekday", ""); err != nil {
		t.Fatal(err)
	}
	if info, _ = scheduling.Describe(ctx, c, cfg, "web", "weekday"); !info.Paused || info.Note != "paused by hand" {
		t.Errorf("after Pause: paused %v, note %q", info.Paused, info.Note)
	}
	if err := scheduling.Unpause(ctx, c, cfg, "web", "weekday"); err != nil {
		t.Fatal(err)
	}
	if info, _ = scheduling.Describe(ctx, c, cfg, "web", "weekday"); info.Paused {
		t.Errorf("after Unpause: still paused (%q)", info.Note)
	}
	var de *scheduling.DisabledError
	if err := scheduling.Unpause(ctx, c, cfg, "web", "quiet"); !errors.As(err, &de) ||
		err.Error() != "schedule web/quiet is disabled in the config (enable: false in /etc/airut/airut.yaml); set enable: true there to resume it" {
		t.Errorf("Unpause of a disabled schedule = %v", err)
	}

	// Unknown names, and a configured schedule Temporal lacks.
	var ue *scheduling.UnknownError
	if _, err := scheduling.RunNow(ctx, c, cfg, "web", "hourly"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "configured: web/buffered, web/parallel, web/quiet, web/weekday") {
		t.Errorf("RunNow of an unknown schedule = %v", err)
	}
	cfg.Repos["web"].Schedules["monthly"] = schedule("monthly", "0 0 1 * *")
	if _, err := scheduling.Describe(ctx, c, cfg, "web", "monthly"); !errors.Is(err, scheduling.ErrNotInTemporal) {
		t.Errorf("Describe of a schedule not synced = %v", err)
	}
	if infos, err := scheduling.List(ctx, c, cfg); len(infos) != 4 || !errors.Is(err, scheduling.ErrNotInTemporal) || !strings.Contains(err.Error(), "web/monthly") {
		t.Errorf("List with a schedule not synced = %d infos, %v", len(infos), err)
	}
}
