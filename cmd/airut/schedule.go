package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/scheduling"
)

// scheduleOptions are the inputs of `airut schedule ...`.
type scheduleOptions struct {
	deps
	// Name is the schedule: repo/name, or a name only one repo has.
	Name string
	// Note is why `pause` pauses.
	Note string
}

func newScheduleCmd(a *app) *cobra.Command { return scheduleCmd(a.deps()) }

// scheduleCmd is `airut schedule` on d (tests give it their own).
func scheduleCmd(d deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "List the scheduled tasks, show one, run one now, pause or resume one",
		Long: `Scheduled tasks are the repos.<id>.schedules entries of the config; each
is a Temporal Schedule whose firings start conversations.

Every subcommand first makes Temporal's schedules match the config file,
as airut run and airut ingest do when they start: missing schedules are
created, changed ones updated, removed ones deleted, and those with
enable: false paused. So what it shows and runs is what the file says.

A pause by "airut schedule pause" lasts, across syncs and restarts, until
"airut schedule resume". A schedule the file disables (enable: false) can
only be enabled in the file.

NAME is repo/name, or just name when only one repo has a schedule of
that name.`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the schedules: timetable, next firing, last firing and its outcome",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return runScheduleList(cmd.Context(), scheduleOptions{deps: d})
			},
		},
		&cobra.Command{
			Use:   "show NAME",
			Short: "Show one schedule: its settings, next firings, recent firings and the last one's outcome",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runScheduleShow(cmd.Context(), scheduleOptions{deps: d, Name: args[0]})
			},
		},
		&cobra.Command{
			Use:   "run NAME",
			Short: "Fire the schedule now (following its overlap policy) and print the firing's workflow ID",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runScheduleRun(cmd.Context(), scheduleOptions{deps: d, Name: args[0]})
			},
		},
		newSchedulePauseCmd(d),
		&cobra.Command{
			Use:   "resume NAME",
			Short: "Let a paused schedule fire again",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runScheduleResume(cmd.Context(), scheduleOptions{deps: d, Name: args[0]})
			},
		},
	)
	return cmd
}

func newSchedulePauseCmd(d deps) *cobra.Command {
	opts := scheduleOptions{deps: d}
	cmd := &cobra.Command{
		Use:   "pause NAME",
		Short: "Stop the schedule's firings until `airut schedule resume` (a running firing goes on)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runSchedulePause(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Note, "note", "", "why, shown with the schedule")
	return cmd
}

// withSchedules loads the config, dials Temporal, syncs the schedules
// with the config and then runs do. With a name, the schedule is looked
// up in the config before anything is dialled. A failed sync is reported
// after do has run (do may still work, on the schedules that synced).
func withSchedules(ctx context.Context, opts scheduleOptions, do func(c client.Client, cfg *config.Config, s scheduling.Schedule) error) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	var s scheduling.Schedule
	if opts.Name != "" {
		if s, err = scheduling.Resolve(cfg, opts.Name); err != nil {
			return scheduleError(err)
		}
	}
	c, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rep, syncErr := scheduling.Sync(ctx, c, cfg, nil)
	if rep.Changed() {
		fmt.Fprintf(opts.IO.ErrOut, "synced the schedules with %s: %s\n", cfg.Path, rep)
	}
	err = do(c, cfg, s)
	if syncErr != nil {
		syncErr = withCode(exitRuntime, fmt.Errorf("schedules not synced with %s: %w", cfg.Path, syncErr))
		if err == nil {
			return syncErr
		}
		fmt.Fprintln(opts.IO.ErrOut, "airut:", syncErr)
	}
	return scheduleError(err)
}

// scheduleError gives a scheduling error its exit code: a schedule the
// config lacks, or cannot resume, is the caller's mistake.
func scheduleError(err error) error {
	var (
		ee       *exitError
		unknown  *scheduling.UnknownError
		disabled *scheduling.DisabledError
	)
	switch {
	case err == nil, errors.As(err, &ee):
		return err
	case errors.As(err, &unknown), errors.As(err, &disabled):
		return withCode(exitUsage, err)
	}
	return withCode(exitRuntime, err)
}

func runScheduleList(ctx context.Context, opts scheduleOptions) error {
	return withSchedules(ctx, opts, func(c client.Client, cfg *config.Config, _ scheduling.Schedule) error {
		infos, err := scheduling.List(ctx, c, cfg)
		if len(infos) == 0 && err == nil {
			fmt.Fprintln(opts.IO.Out, scheduling.NoneConfigured(cfg.Path))
			return nil
		}
		tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCHEDULE\tCRON\tZONE\tNEXT\tLAST\tOUTCOME\tPAUSED")
		for _, i := range infos {
			next, last, outcome, paused := "-", "-", "-", "no"
			if i.Paused {
				paused = ingest.FirstLine(i.Note, 50)
			} else if len(i.Next) > 0 {
				next = when(i.Next[0], i.Timezone)
			}
			if i.Last != nil {
				last, outcome = when(i.Last.StartedAt, i.Timezone), string(i.Last.Outcome)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Ref(), i.Cron, i.Timezone, next, last, outcome, paused)
		}
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
		return err
	})
}

func runScheduleShow(ctx context.Context, opts scheduleOptions) error {
	return withSchedules(ctx, opts, func(c client.Client, cfg *config.Config, s scheduling.Schedule) error {
		info, err := scheduling.Describe(ctx, c, cfg, s.RepoID, s.Name)
		if err != nil {
			return err
		}
		printSchedule(opts.IO.Out, info)
		return nil
	})
}

// printSchedule shows everything about one schedule; times are in the
// schedule's zone, as its cron is.
func printSchedule(w io.Writer, i scheduling.Info) {
	cs := i.Config
	fmt.Fprintf(w, "schedule %s  (Temporal Schedule %s)\n", i.Ref(), i.ID)
	cron := fmt.Sprintf("%s  in %s", i.Cron, i.Timezone)
	if i.Jitter > 0 {
		cron += fmt.Sprintf(", each firing delayed by up to %s", i.Jitter)
	}
	fmt.Fprintf(w, "cron      %s\n", cron)
	if i.Paused {
		fmt.Fprintf(w, "state     paused: %s\n", i.Note)
	} else {
		fmt.Fprintln(w, "state     active")
	}
	if cs.TriggerCommand != "" {
		fmt.Fprintf(w, "runs      trigger command %q (timeout %s); its output, if any, is the prompt\n", cs.TriggerCommand, time.Duration(cs.TriggerTimeout)*time.Second)
	} else {
		fmt.Fprintf(w, "runs      prompt %q\n", ingest.FirstLine(cs.Prompt, 70))
	}
	fmt.Fprintf(w, "replies   by %s to %s, subject %q\n", cs.Deliver.Channel, cs.Deliver.To, cs.Subject)
	fmt.Fprintf(w, "overlap   %s; catch-up window %s\n", i.Overlap, i.CatchupWindow)
	fmt.Fprintf(w, "fired     %d time(s); skipped for overlap %d; missed (past the catch-up window) %d\n", i.Fired, i.SkippedOverlap, i.MissedCatchup)
	switch {
	case i.Paused:
		fmt.Fprintln(w, "next      - (paused)")
	case len(i.Next) == 0:
		fmt.Fprintln(w, "next      -")
	default:
		for n, t := range i.Next[:min(5, len(i.Next))] {
			label := "next     "
			if n > 0 {
				label = "         "
			}
			fmt.Fprintf(w, "%s %s\n", label, when(t, i.Timezone))
		}
	}
	if len(i.Recent) == 0 {
		fmt.Fprintln(w, "recent    none yet")
		return
	}
	fmt.Fprintln(w, "\nrecent firings (newest last):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DUE\tSTARTED\tWORKFLOW")
	for _, f := range i.Recent {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", when(f.ScheduledAt, i.Timezone), when(f.StartedAt, i.Timezone), f.WorkflowID)
	}
	tw.Flush()
	l := i.Last
	last := fmt.Sprintf("\nlast firing %s: %s", l.WorkflowID, l.Outcome)
	if !l.ClosedAt.IsZero() {
		last += " at " + when(l.ClosedAt, i.Timezone)
	}
	if l.Detail != "" {
		last += ": " + ingest.FirstLine(l.Detail, 200)
	}
	fmt.Fprintln(w, last)
}

// when is t in the schedule's zone, to the minute (seconds when it has
// them, as a firing run by hand does).
func when(t time.Time, zone string) string {
	if loc, err := time.LoadLocation(zone); err == nil {
		t = t.In(loc)
	}
	if t.Second() != 0 {
		return t.Format("2006-01-02 15:04:05 MST")
	}
	return t.Format("2006-01-02 15:04 MST")
}

func runScheduleRun(ctx context.Context, opts scheduleOptions) error {
	return withSchedules(ctx, opts, func(c client.Client, cfg *config.Config, s scheduling.Schedule) error {
		tr, err := scheduling.RunNow(ctx, c, cfg, s.RepoID, s.Name)
		if err != nil {
			return err
		}
		if tr.Queued {
			fmt.Fprintf(opts.IO.Out, "queued a firing of %s: it starts when %s ends (overlap %s); see `airut schedule show %s`\n",
				s.Ref(), strings.Join(tr.Running, ", "), tr.Overlap, s.Ref())
			return nil
		}
		switch {
		case len(tr.Running) == 0:
		case tr.Overlap == "cancel_other" || tr.Overlap == "terminate_other":
			fmt.Fprintf(opts.IO.Out, "stopping %s (overlap %s)\n", strings.Join(tr.Running, ", "), tr.Overlap)
		default:
			fmt.Fprintf(opts.IO.Out, "running alongside %s (overlap %s)\n", strings.Join(tr.Running, ", "), tr.Overlap)
		}
		fmt.Fprintf(opts.IO.Out, "started firing %s of %s; follow it with `airut schedule show %s`\n", tr.WorkflowID, s.Ref(), s.Ref())
		return nil
	})
}

func runSchedulePause(ctx context.Context, opts scheduleOptions) error {
	return withSchedules(ctx, opts, func(c client.Client, cfg *config.Config, s scheduling.Schedule) error {
		note := "paused by " + localUser()
		if opts.Note != "" {
			note += ": " + opts.Note
		}
		if err := scheduling.Pause(ctx, c, cfg, s.RepoID, s.Name, note); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "paused %s: no firings until `airut schedule resume %s` (a firing already running goes on)\n", s.Ref(), s.Ref())
		return nil
	})
}

func runScheduleResume(ctx context.Context, opts scheduleOptions) error {
	return withSchedules(ctx, opts, func(c client.Client, cfg *config.Config, s scheduling.Schedule) error {
		if err := scheduling.Unpause(ctx, c, cfg, s.RepoID, s.Name); err != nil {
			return err
		}
		msg := "resumed " + s.Ref()
		if info, err := scheduling.Describe(ctx, c, cfg, s.RepoID, s.Name); err == nil && len(info.Next) > 0 {
			msg += "; next firing " + when(info.Next[0], info.Timezone)
		}
		fmt.Fprintln(opts.IO.Out, msg)
		return nil
	})
}

// syncSchedules makes Temporal's schedules match the config when a
// process that owns the channel listeners starts. A failure is logged and
// the process goes on: the schedules Temporal has keep firing, and the
// next start or `airut schedule` syncs again.
func syncSchedules(ctx context.Context, c client.Client, cfg *config.Config, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rep, err := scheduling.Sync(sctx, c, cfg, log)
	switch {
	case err != nil:
		log.Error("schedules not synced with the config; Temporal keeps the schedules it had", "config", cfg.Path, "schedules", rep, "error", err)
	case rep.Changed() || len(rep.Held) > 0:
		log.Info("schedules synced with the config", "config", cfg.Path, "schedules", rep)
	default:
		log.Debug("schedules match the config", "schedules", rep)
	}
}
