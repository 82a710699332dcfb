package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/testing/temporaltest"
)

// scheduleWorld is `airut schedule` against a real embedded Temporal
// server, with a config literal.
type scheduleWorld struct {
	cfg *config.Config
	c   client.Client
}

func newScheduleWorld(t *testing.T) *scheduleWorld {
	t.Helper()
	c := temporaltest.Start(t)
	return &scheduleWorld{c: c, cfg: &config.Config{Path: "/etc/airut/airut.yaml", Execution: config.Execution{ConversationMaxAgeDays: 7},
		Repos: map[string]*config.Repo{}}}
}

// run runs `airut schedule ARGS...` as main would, and returns stdout,
// stderr and the exit code.
func (w *scheduleWorld) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	d := deps{
		IO:     ioStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Config: func() (*config.Config, error) { return w.cfg, nil },
		// The command closes its client; this one shares the test's
		// connection.
		Client: func(ctx context.Context) (client.Client, error) {
			return client.NewClientFromExisting(w.c, client.Options{Namespace: "default"})
		},
	}
	cmd := scheduleCmd(d)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	if err != nil {
		fmt.Fprintln(&errOut, "airut:", err)
	}
	return out.String(), errOut.String(), exitCode(err)
}

func testSchedule(cron string) *config.Schedule {
	return &config.Schedule{Cron: cron, Timezone: "Europe/Helsinki", Subject: "deps", Prompt: "Update the dependencies.",
		TriggerTimeout: 300, OutputLimit: 102400, Deliver: config.ScheduleDelivery{Channel: "email", To: "dev@example.com"},
		Overlap: "skip", CatchupWindow: 86400, NotifyAfterFailures: 3}
}

// The schedule commands, in the order an operator would use them, each
// with what it prints and its exit code.
func TestScheduleCommand(t *testing.T) {
	w := newScheduleWorld(t)
	off := false
	weekly := testSchedule("0 9 * * 1")
	weekly.Enable = &off
	weekly.TriggerCommand, weekly.Prompt = "./triage.sh", ""
	w.cfg.Repos["web"] = &config.Repo{ID: "web", Schedules: map[string]*config.Schedule{"nightly": testSchedule("30 2 * * *"), "weekly": weekly}}
	w.cfg.Repos["api"] = &config.Repo{ID: "api", Schedules: map[string]*config.Schedule{"weekly": testSchedule("0 10 * * 1")}}
	user := regexp.QuoteMeta(localUser())

	for _, tc := range []struct {
		name string
		args []string
		// out and errOut are regular expressions the output must match.
		out, errOut string
		code        int
	}{
		{"list syncs first", []string{"list"},
			`(?s)^SCHEDULE +CRON +ZONE +NEXT +LAST +OUTCOME +PAUSED\n` +
				`api/weekly +0 10 \* \* 1 +Europe/Helsinki +\d{4}-\d\d-\d\d 10:00 EES?T +- +- +no\n` +
				`web/nightly +30 2 \* \* \* +Europe/Helsinki +\d{4}-\d\d-\d\d 02:30 EES?T +- +- +no\n` +
				`web/weekly +0 9 \* \* 1 +Europe/Helsinki +- +- +- +disabled in airut config \(enable: false\)\n$`,
			`^synced the schedules with /etc/airut/airut.yaml: created api/weekly, web/nightly, web/weekly\n$`, 0},
		{"list again changes nothing", []string{"list"}, `web/nightly`, `^$`, 0},
		{"show", []string{"show", "nightly"},
			`(?s)^schedule web/nightly  \(Temporal Schedule airut-schedule/web/nightly\)\n` +
				`cron      30 2 \* \* \*  in Europe/Helsinki\n` +
				`state     active\n` +
				`runs      prompt "Update the dependencies."\n` +
				`replies   by email to dev@example.com, subject "deps"\n` +
				`overlap   skip; catch-up window 24h0m0s\n` +
				`fired     0 time\(s\); .*\n` +
				`next      \d{4}-\d\d-\d\d 02:30 EES?T\n(          \d{4}-\d\d-\d\d 02:30 EES?T\n){4}` +
				`recent    none yet\n$`, `^$`, 0},
		{"show a trigger command", []string{"show", "web/weekly"},
			`(?s)state     paused: disabled in airut config \(enable: false\)\nruns      trigger command "./triage.sh" \(timeout 5m0s\).*next      - \(paused\)`, `^$`, 0},
		{"run", []string{"run", "web/nightly"},
			"^started firing airut-schedule/web/nightly-\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z of web/nightly; follow it with `airut schedule show web/nightly`\n$", `^$`, 0},
		{"show after a run", []string{"show", "web/nightly"},
			`(?s)fired     1 time\(s\).*recent firings \(newest last\):\nDUE +STARTED +WORKFLOW\n.* airut-schedule/web/nightly-\S+\n\nlast firing airut-schedule/web/nightly-\S+: running\n$`, `^$`, 0},
		{"list after a run", []string{"list"}, `web/nightly +30 2 \* \* \* +Europe/Helsinki +\d{4}-\d\d-\d\d 02:30 EES?T +\d{4}-\d\d-\d\d [\d:]+ EES?T +running +no\n`, `^$`, 0},
		{"run while it runs", []string{"run", "nightly"}, `^$`,
			"^airut: schedule web/nightly is still running firing airut-schedule/web/nightly-\\S+, and its overlap policy \\(skip\\) drops a run while one runs: wait for it to end \\(see `airut schedule show web/nightly`\\) or stop its conversation's task with `airut stop`\n$", exitRuntime},
		{"pause", []string{"pause", "nightly", "--note", "release freeze"},
			"^paused web/nightly: no firings until `airut schedule resume web/nightly` \\(a firing already running goes on\\)\n$", `^$`, 0},
		{"list shows the pause", []string{"list"}, `web/nightly +30 2 \* \* \* +Europe/Helsinki +- +\S+ \S+ EES?T +running +paused by ` + user + `: release freeze\n`, `^$`, 0},
		{"resume", []string{"resume", "nightly"}, `^resumed web/nightly; next firing \d{4}-\d\d-\d\d 02:30 EES?T\n$`, `^$`, 0},
		{"resume a disabled one", []string{"resume", "web/weekly"}, `^$`,
			`^airut: schedule web/weekly is disabled in the config \(enable: false in /etc/airut/airut.yaml\); set enable: true there to resume it\n$`, exitUsage},
		{"ambiguous", []string{"show", "weekly"}, `^$`, `^airut: schedule "weekly" is in several repos; say which: api/weekly or web/weekly\n$`, exitUsage},
		{"unknown", []string{"run", "hourly"}, `^$`, `^airut: unknown schedule "hourly" \(configured: api/weekly, web/nightly, web/weekly\)\n$`, exitUsage},
		{"no name", []string{"pause"}, `^$`, `accepts 1 arg\(s\), received 0`, exitUsage},
	} {
		out, errOut, code := w.run(t, tc.args...)
		if code != tc.code || !regexp.MustCompile(tc.out).MatchString(out) || !regexp.MustCompile(tc.errOut).MatchString(errOut) {
			t.Errorf("%s: airut schedule %s: exit %d, want %d\nstdout:\n%s\nwant %s\nstderr:\n%s\nwant %s",
				tc.name, strings.Join(tc.args, " "), code, tc.code, out, tc.out, errOut, tc.errOut)
		}
	}
}

// With no schedules in the config, list says where one goes, and a name
// is an error that says the same.
func TestScheduleCommandNoneConfigured(t *testing.T) {
	w := newScheduleWorld(t)
	w.cfg.Repos["web"] = &config.Repo{ID: "web"}
	want := `no schedules configured; add one under repos.<id>.schedules in /etc/airut/airut.yaml (see docs/configuration.md, "Scheduled tasks")`
	if out, errOut, code := w.run(t, "list"); code != 0 || out != want+"\n" || errOut != "" {
		t.Errorf("list: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if out, errOut, code := w.run(t, "show", "nightly"); code != exitUsage || out != "" || errOut != `airut: unknown schedule "nightly": `+want+"\n" {
		t.Errorf("show: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// The help says that every subcommand syncs first.
func TestScheduleHelp(t *testing.T) {
	var out bytes.Buffer
	cmd := scheduleCmd(deps{})
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first makes Temporal's schedules match the config file", "list", "show", "run", "pause", "resume"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// At the start of run and ingest, a sync that fails is logged as an error
// naming the schedule, and the process goes on; one that works logs what
// it changed.
func TestSyncSchedulesAtStart(t *testing.T) {
	h := newHarness(t, "web")
	h.cfg.Repos["web"].Schedules = map[string]*config.Schedule{"nightly": testSchedule("30 2 * * *")}
	sc := mocks.NewScheduleClient(t)
	handle := mocks.NewScheduleHandle(t)
	h.c.On("ScheduleClient").Return(sc)
	sc.On("GetHandle", mock.Anything, "airut-schedule/web/nightly").Return(handle)
	handle.On("Update", mock.Anything, mock.Anything).Return(errUnavailable)
	sc.On("List", mock.Anything, mock.Anything).Return(nil, errUnavailable)
	var logs bytes.Buffer
	syncSchedules(t.Context(), h.c, h.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, want := range []string{`level=ERROR msg="schedules not synced with the config; Temporal keeps the schedules it had"`,
		`schedule web/nightly: update: connection refused`, `list schedules: connection refused`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	w := newScheduleWorld(t)
	w.cfg.Repos["web"] = &config.Repo{ID: "web", Schedules: map[string]*config.Schedule{"nightly": testSchedule("30 2 * * *")}}
	logs.Reset()
	syncSchedules(t.Context(), w.c, w.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if want := `level=INFO msg="schedules synced with the config" config=/etc/airut/airut.yaml schedules.created=web/nightly schedules.unchanged=0`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}
