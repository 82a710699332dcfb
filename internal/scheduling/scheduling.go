// Package scheduling makes the config's schedules
// (repos.<id>.schedules.<name>) Temporal Schedules and reads them back.
// Sync creates, updates, pauses and deletes Temporal Schedules until they
// match the config; List and Describe say when each fires next, what it
// fired lately and how the last firing ended; RunNow, Pause and Unpause
// are the operator's levers. `airut schedule`, `airut run` and `airut
// ingest` use it.
//
// It only talks to Temporal's schedule and visibility APIs: it runs no
// workflow or activity. A firing is workflows.FiringWorkflow, started by
// Temporal on the shared queue and run by the workers; Temporal keeps the
// record of every firing, so this package keeps nothing.
package scheduling

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/operate"
	"github.com/airut-go/airut/workflows"
)

// IDPrefix starts the ID of every Temporal Schedule airut manages (see
// workflows.ScheduleID). Sync deletes a schedule with this prefix that the
// config does not have, and leaves every other schedule alone.
const IDPrefix = "airut-schedule/"

// MemoKey names the schedule memo that marks a schedule as airut's.
const MemoKey = "airut"

// Managed is the memo of a schedule airut made from its config, for
// whoever finds it in the Temporal Web UI or CLI: changes made there are
// undone at the next sync.
type Managed struct {
	ManagedBy string
	// Key is the config key of the schedule, like
	// repos.web.schedules.nightly.
	Key string
}

// Schedule is one schedule of the config as the Temporal Schedule it
// should be.
type Schedule struct {
	RepoID string
	Name   string
	// Config is the schedule's config entry.
	Config *config.Schedule
	// Options create the Temporal Schedule; Sync compares an existing one
	// with them.
	Options client.ScheduleOptions
}

// Ref is how people name the schedule: repo/name.
func (s Schedule) Ref() string { return s.RepoID + "/" + s.Name }

// The pause notes airut writes. A schedule paused because the config
// disables it carries configPauseNote; Sync unpauses only those, so a
// pause by a person (`airut schedule pause`) outlasts syncs until `airut
// schedule resume`.
const (
	configPauseNote = "disabled in airut config (enable: false)"
	activeNote      = "managed by airut config; edit airut.yaml, not this schedule"
)

// pausedByConfig reports whether a note is the one Sync writes when the
// config disables a schedule.
func pausedByConfig(note string) bool { return strings.HasPrefix(note, configPauseNote) }

// overlaps maps the config's overlap names to Temporal's policies.
var overlaps = []struct {
	name   string
	policy enums.ScheduleOverlapPolicy
}{
	{"skip", enums.SCHEDULE_OVERLAP_POLICY_SKIP},
	{"buffer_one", enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE},
	{"buffer_all", enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL},
	{"cancel_other", enums.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER},
	{"terminate_other", enums.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER},
	{"allow_all", enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL},
}

// OverlapPolicy is Temporal's overlap policy for a config overlap name;
// "" is the default, skip.
func OverlapPolicy(name string) (enums.ScheduleOverlapPolicy, error) {
	if name == "" {
		name = config.DefaultOverlap
	}
	for _, o := range overlaps {
		if o.name == name {
			return o.policy, nil
		}
	}
	names := make([]string, len(overlaps))
	for i, o := range overlaps {
		names[i] = o.name
	}
	return enums.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED, fmt.Errorf("unknown overlap %q (want one of %s)", name, strings.Join(names, ", "))
}

// overlapName is the config's name for a Temporal overlap policy.
func overlapName(p enums.ScheduleOverlapPolicy) string {
	for _, o := range overlaps {
		if o.policy == p {
			return o.name
		}
	}
	return strings.ToLower(strings.TrimPrefix(p.String(), "SCHEDULE_OVERLAP_POLICY_"))
}

// cronExpression is the cron string given to Temporal. The server turns
// cron strings into calendar ranges and keeps only the text after '#' as
// the calendar's comment, so the expression is repeated there: Sync and
// Describe read it back from the comment (and the Web UI shows it).
func cronExpression(cron string) string {
	c := normalCron(cron)
	return c + " #" + c
}

func normalCron(cron string) string { return strings.Join(strings.Fields(cron), " ") }

// Desired is every schedule of the config as the Temporal Schedule it
// should be, ordered by repo and name. An error names the schedules it
// could not make (only a config that skipped validation has them).
func Desired(cfg *config.Config) ([]Schedule, error) {
	var out []Schedule
	var errs []error
	opts := operate.ConversationOptions(cfg)
	for _, repoID := range cfg.RepoIDs() {
		r := cfg.Repos[repoID]
		names := make([]string, 0, len(r.Schedules))
		for name := range r.Schedules {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			s, err := desired(repoID, name, r.Schedules[name], opts)
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule %s/%s: %w", repoID, name, err))
				continue
			}
			out = append(out, s)
		}
	}
	return out, errors.Join(errs...)
}

func desired(repoID, name string, cs *config.Schedule, opts workflows.Options) (Schedule, error) {
	if cs == nil {
		return Schedule{}, errors.New("empty schedule")
	}
	overlap, err := OverlapPolicy(cs.Overlap)
	if err != nil {
		return Schedule{}, err
	}
	id := workflows.ScheduleID(repoID, name)
	in := workflows.FiringInput{
		RepoID: repoID, Schedule: name, Subject: cs.Subject,
		Prompt: cs.Prompt, TriggerCommand: cs.TriggerCommand,
		TriggerTimeout: seconds(cs.TriggerTimeout), OutputLimit: cs.OutputLimit,
		Model: cs.Model, Effort: cs.Effort,
		Deliver:             workflows.Delivery{Channel: workflows.Channel(cs.Deliver.Channel), To: cs.Deliver.To},
		NotifyAfterFailures: cs.NotifyAfterFailures,
		Options:             opts,
	}
	if in.Subject == "" {
		in.Subject = name
	}
	key := "repos." + repoID + ".schedules." + name
	note := activeNote
	if !cs.Enabled() {
		note = configPauseNote
	}
	return Schedule{RepoID: repoID, Name: name, Config: cs, Options: client.ScheduleOptions{
		ID: id,
		Spec: client.ScheduleSpec{
			CronExpressions: []string{cronExpression(cs.Cron)},
			TimeZoneName:    cs.Timezone,
			Jitter:          seconds(cs.Jitter),
		},
		Action: &client.ScheduleWorkflowAction{
			// Temporal appends the firing's time to this ID, so each
			// firing's workflow ID starts with the schedule's ID.
			ID:        id,
			Workflow:  workflows.FiringWorkflowName,
			Args:      []any{in},
			TaskQueue: workflows.SharedQueue,
		},
		Overlap:       overlap,
		CatchupWindow: seconds(cs.CatchupWindow),
		Paused:        !cs.Enabled(),
		Note:          note,
		Memo:          map[string]any{MemoKey: Managed{ManagedBy: "airut config", Key: key}},
	}}, nil
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// Find is the config's schedule repoID/name, or an *UnknownError that
// names the schedules the config has.
func Find(cfg *config.Config, repoID, name string) (Schedule, error) {
	return Resolve(cfg, repoID+"/"+name)
}

// Resolve reads a schedule's name as people write it: repo/name, or just
// name when only one repo has a schedule of that name.
func Resolve(cfg *config.Config, ref string) (Schedule, error) {
	all, err := Desired(cfg)
	var found []Schedule
	for _, s := range all {
		if s.Ref() == ref || !strings.Contains(ref, "/") && s.Name == ref {
			found = append(found, s)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		refs := make([]string, len(found))
		for i, s := range found {
			refs[i] = s.Ref()
		}
		return Schedule{}, &UnknownError{Ref: ref, Ambiguous: refs, Config: cfg.Path}
	case err != nil:
		return Schedule{}, err
	}
	e := &UnknownError{Ref: ref, Config: cfg.Path}
	for _, s := range all {
		e.Known = append(e.Known, s.Ref())
	}
	return Schedule{}, e
}

// UnknownError: the config has no such schedule (or, with Ambiguous,
// several of that name).
type UnknownError struct {
	Ref string
	// Known are the config's schedules, repo/name.
	Known []string
	// Ambiguous are the schedules the name could mean.
	Ambiguous []string
	// Config is the config file's path.
	Config string
}

func (e *UnknownError) Error() string {
	switch {
	case len(e.Ambiguous) > 0:
		return fmt.Sprintf("schedule %q is in several repos; say which: %s", e.Ref, strings.Join(e.Ambiguous, " or "))
	case len(e.Known) == 0:
		return fmt.Sprintf("unknown schedule %q: %s", e.Ref, NoneConfigured(e.Config))
	}
	return fmt.Sprintf("unknown schedule %q (configured: %s)", e.Ref, strings.Join(e.Known, ", "))
}

// NoneConfigured says that a config has no schedules and where one goes.
func NoneConfigured(path string) string {
	if path == "" {
		path = "the config"
	}
	return fmt.Sprintf("no schedules configured; add one under repos.<id>.schedules in %s (see docs/configuration.md, \"Scheduled tasks\")", path)
}

// splitID is the repo and name of a schedule ID airut made; ok is false
// for any other ID. Neither repo IDs nor schedule names contain '/'.
func splitID(id string) (repoID, name string, ok bool) {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok {
		return "", "", false
	}
	repoID, name, ok = strings.Cut(rest, "/")
	return repoID, name, ok && repoID != "" && name != "" && !strings.Contains(name, "/")
}
