package config

import (
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	// Time zones are checked and used wherever airut runs, even on a
	// host without the system's zoneinfo files.
	_ "time/tzdata"
)

// Schedule runs the agent on a timetable (repos.<id>.schedules.<name>):
// each firing starts a new conversation whose reply goes to Deliver.
// Exactly one of Prompt and TriggerCommand is set.
type Schedule struct {
	Name string `mapstructure:"-"`
	// Cron is five fields: minute, hour, day of month, month, day of week.
	Cron string `mapstructure:"cron"`
	// Timezone is an IANA zone name; default the host's zone, else UTC.
	Timezone string `mapstructure:"timezone"`
	// Subject titles the conversation (default the schedule's name).
	Subject string `mapstructure:"subject"`
	Enable  *bool  `mapstructure:"enable"`
	Prompt  string `mapstructure:"prompt"`
	// TriggerCommand runs in the repo's sandboxed container first: exit 0
	// with no output ends the firing quietly, output becomes the prompt,
	// a failure becomes a prompt to investigate it.
	TriggerCommand string `mapstructure:"trigger_command"`
	// TriggerTimeout bounds the command, in seconds.
	TriggerTimeout int `mapstructure:"trigger_timeout"`
	// OutputLimit is how much of the command's output the prompt takes,
	// in bytes.
	OutputLimit int              `mapstructure:"output_limit"`
	Model       string           `mapstructure:"model"`
	Effort      string           `mapstructure:"effort"`
	Deliver     ScheduleDelivery `mapstructure:"deliver"`
	// Overlap is what a firing does while the previous one still runs:
	// skip (default), buffer_one, buffer_all, cancel_other,
	// terminate_other or allow_all (Temporal's overlap policies).
	Overlap string `mapstructure:"overlap"`
	// CatchupWindow: after downtime, firings missed within this many
	// seconds run (once, with overlap skip); older ones are dropped.
	CatchupWindow int `mapstructure:"catchup_window"`
	// Jitter delays each firing by a random time up to this many seconds.
	Jitter int `mapstructure:"jitter"`
	// NotifyAfterFailures: this many failed firings in a row send one
	// notice to the recipient (and another when a firing succeeds again).
	NotifyAfterFailures int `mapstructure:"notify_after_failures"`
}

// ScheduleDelivery is where a firing's reply goes.
type ScheduleDelivery struct {
	// Channel is email (default) or slack.
	Channel string `mapstructure:"channel"`
	// To is an email address, or a Slack channel ID (C…) or user ID (U…).
	To string `mapstructure:"to"`
}

// Enabled reports whether the schedule fires (enable defaults to true).
func (s *Schedule) Enabled() bool { return s.Enable == nil || *s.Enable }

// Schedule defaults, the reference's where it has them.
const (
	DefaultTriggerTimeout      = 300
	DefaultOutputLimit         = 102400
	DefaultCatchupWindow       = 24 * 60 * 60
	DefaultNotifyAfterFailures = 3
	DefaultOverlap             = "skip"
)

var (
	validOverlaps        = []string{"skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"}
	validDeliverChannels = []string{"email", "slack"}
	scheduleNamePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	slackTargetPattern   = regexp.MustCompile(`^[CDGUW][A-Z0-9]{2,}$`)
)

// applyScheduleDefaults fills a repo's schedules' unset fields; present
// says whether a dotted key is in the file.
func applyScheduleDefaults(repoKey string, r *Repo, present func(string) bool) {
	for name, s := range r.Schedules {
		if s == nil {
			s = &Schedule{}
			r.Schedules[name] = s
		}
		s.Name = name
		k := repoKey + ".schedules." + name + "."
		if s.Subject == "" {
			s.Subject = name
		}
		if s.Timezone == "" {
			s.Timezone = LocalTimezone()
		}
		if s.Deliver.Channel == "" {
			s.Deliver.Channel = "email"
		}
		if s.Overlap == "" {
			s.Overlap = DefaultOverlap
		}
		if !present(k + "trigger_timeout") {
			s.TriggerTimeout = DefaultTriggerTimeout
		}
		if !present(k + "output_limit") {
			s.OutputLimit = DefaultOutputLimit
		}
		if !present(k + "catchup_window") {
			s.CatchupWindow = DefaultCatchupWindow
		}
		if !present(k + "notify_after_failures") {
			s.NotifyAfterFailures = DefaultNotifyAfterFailures
		}
	}
}

// validateSchedules checks a repo's schedules (k is the repo's key).
func validateSchedules(k string, r *Repo) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(r.Schedules))
	for name := range r.Schedules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := r.Schedules[name]
		sk := k + ".schedules." + name
		if !scheduleNamePattern.MatchString(name) {
			bad(sk, "schedule name must be letters, digits, '.', '_' or '-' (it names the Temporal Schedule)")
		}
		if s.Cron == "" {
			bad(sk+".cron", "is required: five fields, minute hour day-of-month month day-of-week, like \"0 9 * * 1-5\"")
		} else if _, err := cron.ParseStandard(s.Cron); err != nil || len(strings.Fields(s.Cron)) != 5 {
			why := "it needs exactly five fields"
			if err != nil {
				why = err.Error()
			}
			bad(sk+".cron", "is not a five-field cron expression (%q): %s", s.Cron, why)
		}
		if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
			bad(sk+".timezone", "must be an IANA time zone, like Europe/Helsinki or UTC (got %q)", s.Timezone)
		}
		switch {
		case s.Prompt == "" && s.TriggerCommand == "":
			bad(sk, "needs prompt or trigger_command")
		case s.Prompt != "" && s.TriggerCommand != "":
			bad(sk, "has both prompt and trigger_command; give exactly one")
		}
		if s.TriggerTimeout < 1 {
			bad(sk+".trigger_timeout", "must be at least 1 second (got %d)", s.TriggerTimeout)
		}
		if s.OutputLimit < 1 {
			bad(sk+".output_limit", "must be at least 1 byte (got %d)", s.OutputLimit)
		}
		if s.Effort != "" && !slices.Contains(validEfforts, s.Effort) {
			bad(sk+".effort", "must be one of %s (got %q)", strings.Join(validEfforts, ", "), s.Effort)
		}
		if !slices.Contains(validOverlaps, s.Overlap) {
			bad(sk+".overlap", "must be one of %s (got %q)", strings.Join(validOverlaps, ", "), s.Overlap)
		}
		if s.CatchupWindow < 60 {
			// Temporal's floor for a schedule's catch-up window.
			bad(sk+".catchup_window", "must be at least 60 seconds (got %d)", s.CatchupWindow)
		}
		if s.Jitter < 0 {
			bad(sk+".jitter", "must not be negative (got %d)", s.Jitter)
		}
		if s.NotifyAfterFailures < 0 {
			bad(sk+".notify_after_failures", "must be 0 (never) or more (got %d)", s.NotifyAfterFailures)
		}
		d := s.Deliver
		switch {
		case !slices.Contains(validDeliverChannels, d.Channel):
			bad(sk+".deliver.channel", "must be email or slack (got %q)", d.Channel)
		case d.To == "":
			bad(sk+".deliver.to", "is required: who gets the reply (an email address, or a Slack channel or user ID)")
		case d.Channel == "email" && r.Email == nil:
			bad(sk+".deliver.channel", "is email, but repo has no email section to send from")
		case d.Channel == "slack" && r.Slack == nil:
			bad(sk+".deliver.channel", "is slack, but repo has no slack section to post with")
		case d.Channel == "email":
			if a, err := mail.ParseAddress(d.To); err != nil || a.Address != d.To {
				bad(sk+".deliver.to", "must be one email address, like you@example.com (got %q)", d.To)
			}
		case d.Channel == "slack":
			if !slackTargetPattern.MatchString(d.To) {
				bad(sk+".deliver.to", "must be a Slack channel ID (C…) or user ID (U…), not a name (got %q)", d.To)
			}
		}
	}
	return errs
}

// LocalTimezone is the host's IANA time zone name: $TZ, /etc/timezone or
// the target of /etc/localtime, else UTC.
func LocalTimezone() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" {
		if _, err := time.LoadLocation(tz); err == nil {
			return tz
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(b)); tz != "" {
			if _, err := time.LoadLocation(tz); err == nil {
				return tz
			}
		}
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if _, tz, ok := strings.Cut(target, "/zoneinfo/"); ok {
			if _, err := time.LoadLocation(tz); err == nil {
				return tz
			}
		}
	}
	return "UTC"
}
