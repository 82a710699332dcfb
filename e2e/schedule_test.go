package e2e_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/slacktest"
	"github.com/airut-go/airut/internal/testing/smtptest"
	"github.com/airut-go/airut/workflows"
)

// Two schedules on one repo, fired with `airut schedule run`, the real
// Claude Code CLI doing the work. By email: the reply is a new thread
// ("[ID:…] subject", no acknowledgement first) to the recipient, and
// their answer continues the conversation in the same session. By
// Slack: a root post in the channel and the reply in its thread; an
// answer in that thread continues it. Both conversations are found as
// channel "schedule".
func TestScheduledTaskRepliesByEmailAndSlackAndContinues(t *testing.T) {
	api := anthropictest.NewServer(t)
	dove := dovecottest.Start(t, map[string]string{mailbox: mailboxPW})
	sink := smtptest.NewServer(t)
	sl := slacktest.NewServer(t)
	sl.SetBot("UBOT", "BBOT", "T1")
	sl.AddUser(slacktest.User{ID: "UALICE", Name: "alice", RealName: "Alice Example"})
	sl.AddChannel(slacktest.Channel{ID: "C0TEAM", Name: "team"})
	yaml := mailYAML(dove, sink) +
		fmt.Sprintf("    slack: {bot_token: xoxb-test, app_token: xapp-test, authorized: [{workspace_members: true}], api_url: %q}\n", sl.APIURL()) +
		"    schedules:\n" +
		"      nightly: {cron: \"0 3 * * *\", timezone: UTC, subject: Nightly check, prompt: \"Look at the repo.\\nRUN: ls /workspace\\nREPLY: nightly done\", deliver: {to: " + userAddr + "}}\n" +
		"      weekly: {cron: \"0 9 * * 1\", timezone: UTC, subject: Weekly triage, prompt: \"REPLY: weekly done\", deliver: {channel: slack, to: C0TEAM}}\n"
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: yaml})
	proc := s.start("run")
	sl.WaitConnections(t, 1, 30*time.Second)

	// By email.
	out := s.mustAirut(time.Minute, "schedule", "run", "nightly")
	t.Logf("airut schedule run nightly:\n%s", out)
	msgs := sink.WaitFor(t, 1, 3*time.Minute)
	first := msgs[0]
	sub := regexp.MustCompile(`^\[ID:([0-9a-f]{8})\] Nightly check$`).FindStringSubmatch(first.Header("Subject"))
	if sub == nil || first.Header("In-Reply-To") != "" || len(first.To) != 1 || first.To[0] != userAddr {
		t.Fatalf("first mail: subject %q, In-Reply-To %q, to %v; want a new thread \"[ID:…] Nightly check\" to %s", first.Header("Subject"), first.Header("In-Reply-To"), first.To, userAddr)
	}
	conv := sub[1]
	if !strings.HasPrefix(strings.TrimSpace(first.TextBody()), "nightly done") {
		t.Errorf("the first mail is not the reply: %q", first.TextBody())
	}
	st := s.status(conv)
	if st.Subject != "Nightly check" || len(st.Tasks) != 1 || st.Tasks[0].Outcome != workflows.OutcomeSuccess {
		t.Errorf("status = %+v", st)
	}
	dove.Deliver(t, mailbox, buildMail(mailOpts{from: userAddr, subject: "Re: " + first.Header("Subject"), msgID: "sched-answer@example.com", authResults: pass(),
		inReplyTo: first.Header("Message-ID"), references: first.Header("Message-ID"), body: "Thanks. One more look?\nREPLY: looked again"}))
	msgs = sink.WaitFor(t, 2, 3*time.Minute)
	if second := msgs[1]; !strings.HasPrefix(strings.TrimSpace(second.TextBody()), "looked again") || second.Header("Subject") != "Re: [ID:"+conv+"] Nightly check" {
		t.Errorf("answer's reply: subject %q body %q", second.Header("Subject"), second.TextBody())
	}
	if st := s.status(conv); len(st.Tasks) != 2 || st.Tasks[1].SessionID != st.Tasks[0].SessionID {
		t.Errorf("the answer did not continue the scheduled conversation's session: %+v", st.Tasks)
	}

	// By Slack.
	s.mustAirut(time.Minute, "schedule", "run", "weekly")
	posts := sl.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range p {
			if x.Channel == "C0TEAM" && x.ThreadTS != "" && strings.Contains(x.Text, "weekly done") {
				return true
			}
		}
		return false
	}, 3*time.Minute)
	var root, reply slacktest.Post
	for _, p := range posts {
		switch {
		case p.Channel == "C0TEAM" && p.ThreadTS == "" && strings.Contains(p.Text, "Weekly triage"):
			root = p
		case p.Channel == "C0TEAM" && strings.Contains(p.Text, "weekly done"):
			reply = p
		}
	}
	if root.TS == "" || reply.ThreadTS != root.TS {
		t.Fatalf("slack: root %+v, reply %+v; want the reply in the root's thread", root, reply)
	}
	env := sl.PushEvent(map[string]any{"type": "message", "channel": "C0TEAM", "channel_type": "channel", "user": "UALICE",
		"text": "And now?\nREPLY: weekly again", "ts": "1700000100.000100", "event_ts": "1700000100.000100", "thread_ts": root.TS})
	sl.WaitAcked(t, env, 30*time.Second)
	sl.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range p {
			if x.ThreadTS == root.TS && strings.Contains(x.Text, "weekly again") {
				return true
			}
		}
		return false
	}, 3*time.Minute)

	// Every firing is on record: the schedule shows how the last one
	// ended, and its conversations are found as channel "schedule".
	show := s.mustAirut(30*time.Second, "schedule", "show", "nightly")
	if !strings.Contains(show, "completed") || !strings.Contains(show, "conversation "+conv) {
		t.Errorf("airut schedule show nightly does not show the completed firing and its conversation %s:\n%s", conv, show)
	}
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Query: "AirutChannel = 'schedule'"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Executions); n != 2 {
		t.Errorf("%d conversations with AirutChannel = 'schedule', want 2 (one per firing)", n)
	}

	list := s.mustAirut(30*time.Second, "schedule", "list")
	for _, want := range []string{"nightly", "weekly", "0 3 * * *"} {
		if !strings.Contains(list, want) {
			t.Errorf("airut schedule list lacks %q:\n%s", want, list)
		}
	}

	// The file is edited while airut run keeps running: the Temporal
	// Schedule follows it (read from Temporal, not through airut schedule,
	// which syncs itself); a broken edit is refused with its line and key,
	// and the schedule stays as it was.
	cronOf := func() string {
		d, err := c.ScheduleClient().GetHandle(t.Context(), workflows.ScheduleID("demo", "nightly")).Describe(t.Context())
		if err != nil {
			t.Fatalf("describe the nightly schedule: %v", err)
		}
		if cals := d.Schedule.Spec.Calendars; len(cals) == 1 {
			return cals[0].Comment
		}
		return ""
	}
	edit := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(s.config)
		if err != nil || !strings.Contains(string(b), from) {
			t.Fatalf("config lacks %q (%v)", from, err)
		}
		if err := os.WriteFile(s.config, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit(`cron: "0 3 * * *"`, `cron: "15 4 * * *"`)
	eventually(t, 30*time.Second, "the schedule to follow the edited file", func() bool { return cronOf() == "15 4 * * *" })
	edit(`cron: "15 4 * * *"`, `cron: "99 4 * * *"`)
	eventually(t, 30*time.Second, "the broken edit to be refused", func() bool {
		return strings.Contains(proc.logs.String(), "config change refused")
	})
	if logs := proc.logs.String(); !strings.Contains(logs, "airut.yaml:") || !strings.Contains(logs, "repos.demo.schedules.nightly.cron") {
		t.Errorf("the refusal does not name the file, line and key:\n%s", logs[strings.LastIndex(logs, "config change refused"):])
	}
	if got := cronOf(); got != "15 4 * * *" {
		t.Errorf("after a broken edit the schedule's cron is %q, want it unchanged (15 4 * * *)", got)
	}
}

// Script mode, in the repo's sandboxed container: a trigger command that
// succeeds without output starts nothing; one with output makes it the
// prompt; one that fails asks the agent to investigate, with its output.
func TestScheduledTriggerCommands(t *testing.T) {
	api := anthropictest.NewServer(t)
	dove := dovecottest.Start(t, map[string]string{mailbox: mailboxPW})
	sink := smtptest.NewServer(t)
	sched := func(name, command string) string {
		return fmt.Sprintf("      %s: {cron: \"0 3 * * *\", timezone: UTC, subject: %s, trigger_command: %q, deliver: {to: %s}}\n", name, name, command, userAddr)
	}
	yaml := mailYAML(dove, sink) + "    schedules:\n" +
		sched("quiet", "test -f /workspace/README.md") +
		sched("found", "echo 'Two files need attention.'; echo 'REPLY: handled the '$(ls /workspace | wc -l)' file(s)'") +
		sched("broken", "echo 'disk check failed'; echo 'REPLY: investigated the failure'; exit 3")
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: yaml})
	s.start("run")

	for _, name := range []string{"quiet", "found", "broken"} {
		s.mustAirut(time.Minute, "schedule", "run", name)
	}
	msgs := sink.WaitFor(t, 2, 4*time.Minute)
	eventually(t, time.Minute, "the quiet firing to end", func() bool {
		return strings.Contains(s.mustAirut(30*time.Second, "schedule", "show", "quiet"), "found nothing to do")
	})
	time.Sleep(2 * time.Second) // a mail for the quiet firing, if any, would land now
	got := map[string]string{}
	for _, m := range sink.Messages() {
		got[m.Header("Subject")[len("[ID:12345678] "):]] = strings.TrimSpace(m.TextBody())
	}
	if len(msgs) != 2 || len(got) != 2 {
		t.Fatalf("mails: %v; want one for found and one for broken", got)
	}
	if !strings.HasPrefix(got["found"], "handled the 1 file(s)") {
		t.Errorf("found's reply = %q: the command's output, run on a checkout of the repo, should have been the prompt", got["found"])
	}
	if !strings.HasPrefix(got["broken"], "investigated the failure") {
		t.Errorf("broken's reply = %q", got["broken"])
	}
	var investigate bool
	for _, r := range api.Requests() {
		b := string(r.Body)
		investigate = investigate || (strings.Contains(b, "failed with exit code 3") && strings.Contains(b, "disk check failed") &&
			strings.Contains(b, "Investigate the failure and report findings."))
	}
	if !investigate {
		t.Error("no request to the model asked to investigate the failed command with its output")
	}
}

// A schedule's timetable across a firing that overlaps and a server that
// was down: a firing due while the previous one still runs is skipped
// (overlap skip); firings missed while the server (airut run, with its
// embedded Temporal) was down run once when it is back, never twice.
func TestScheduleSkipsOverlapsAndCatchesUpOnce(t *testing.T) {
	api := anthropictest.NewServer(t)
	dove := dovecottest.Start(t, map[string]string{mailbox: mailboxPW})
	sink := smtptest.NewServer(t)
	yaml := mailYAML(dove, sink) + "    schedules:\n" +
		"      minutely: {cron: \"* * * * *\", timezone: UTC, subject: Tick, prompt: \"RUN: sleep 75\\nREPLY: tick\", deliver: {to: " + userAddr + "}}\n"
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: yaml})
	p := s.start("run")
	firings := func() []*workflowpb.WorkflowExecutionInfo {
		t.Helper()
		c, err := client.Dial(client.Options{HostPort: s.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: "TemporalScheduledById = '" + workflows.ScheduleID("demo", "minutely") + "'"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Executions
	}

	// A firing now runs 75 s: the one due at the next minute is skipped.
	s.mustAirut(time.Minute, "schedule", "run", "minutely")
	eventually(t, 90*time.Second, "a timed firing skipped for overlap", func() bool {
		return strings.Contains(s.mustAirut(30*time.Second, "schedule", "show", "minutely"), "skipped for overlap 1")
	})
	if n := len(firings()); n != 1 {
		t.Fatalf("%d firings while the first ran, want 1 (overlap skip)", n)
	}
	sink.WaitFor(t, 1, 3*time.Minute) // the first firing's reply
	// The firing closes just after the reply; killed before that, it
	// would still count as running at the restart and the catch-up would
	// be skipped for overlap.
	eventually(t, time.Minute, "the first firing to close", func() bool {
		f := firings()
		return len(f) == 1 && f[0].GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})

	// Down across at least two firing times.
	p.kill()
	down := time.Now()
	time.Sleep(time.Until(down.Truncate(time.Minute).Add(2*time.Minute + 5*time.Second)))
	missedFrom := down
	s.start("run")
	back := time.Now()
	var caught []*workflowpb.WorkflowExecutionInfo
	eventually(t, time.Minute, "the missed firings to be caught up", func() bool {
		caught = nil
		for _, f := range firings() {
			if f.GetStartTime().AsTime().After(missedFrom) {
				caught = append(caught, f)
			}
		}
		return len(caught) > 0
	})
	time.Sleep(20 * time.Second) // a second catch-up firing, if any, would start now
	caught = caught[:0]
	for _, f := range firings() {
		if st := f.GetStartTime().AsTime(); st.After(missedFrom) && st.Before(back.Add(50*time.Second)) {
			caught = append(caught, f)
		}
	}
	if len(caught) != 1 {
		var ids []string
		for _, f := range caught {
			ids = append(ids, f.GetExecution().GetWorkflowId())
		}
		t.Errorf("after %s down, %d firings caught up (%v); want exactly one", back.Sub(down).Round(time.Second), len(caught), ids)
	}
}

// A schedule whose task fails notify_after_failures times in a row sends
// its recipient one notice naming the last failed conversation; the next
// failure sends none; once the file is fixed (reloaded while airut run
// keeps running) the next firing succeeds and sends one "succeeded
// again" notice. Each firing's failure shows in airut schedule show.
func TestScheduleFailureNoticeAndRecovery(t *testing.T) {
	api := anthropictest.NewServer(t)
	dove := dovecottest.Start(t, map[string]string{mailbox: mailboxPW})
	sink := smtptest.NewServer(t)
	yaml := mailYAML(dove, sink) + "    schedules:\n" +
		"      nightly: {cron: \"0 3 * * *\", timezone: UTC, subject: Nightly check, notify_after_failures: 2, prompt: \"Check.\\nFAIL: 400\", deliver: {to: " + userAddr + "}}\n"
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: yaml})
	proc := s.start("run")
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	notices := func() []string {
		var out []string
		for _, m := range sink.Messages() {
			if strings.HasPrefix(m.Header("Subject"), "[schedule nightly]") {
				out = append(out, strings.TrimSpace(m.TextBody()))
			}
		}
		return out
	}
	// fire runs the schedule now, once the previous firing has closed
	// (under overlap skip, airut schedule run refuses while one runs), and
	// waits for this firing to close.
	fired := 0
	fire := func() {
		t.Helper()
		eventually(t, 3*time.Minute, "the schedule to accept a manual firing", func() bool {
			_, _, err := s.airut(time.Minute, "schedule", "run", "nightly")
			return err == nil
		})
		fired++
		eventually(t, 3*time.Minute, fmt.Sprintf("firing %d to close", fired), func() bool {
			resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
				Query: "WorkflowType = 'FiringWorkflow' AND ExecutionStatus != 'Running'"})
			return err == nil && len(resp.Executions) >= fired
		})
	}
	fire()
	if n := notices(); len(n) != 0 {
		t.Fatalf("a notice after one failure: %q", n)
	}
	fire()
	eventually(t, time.Minute, "the failure notice", func() bool { return len(notices()) == 1 })
	if n := notices()[0]; !strings.Contains(n, `"nightly" has failed 2 times in a row`) || !strings.Contains(n, "conversation ") {
		t.Errorf("failure notice %q: want the count and the last conversation", n)
	}
	fire()
	time.Sleep(2 * time.Second) // a second notice, if one were sent, would land now
	if n := notices(); len(n) != 1 {
		t.Fatalf("%d notices after the third failure, want still 1: %q", len(n), n)
	}

	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(b), `FAIL: 400`, `REPLY: all good again`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the fixed file to load", func() bool { return strings.Contains(proc.logs.String(), "config reloaded") })
	fire()
	eventually(t, time.Minute, "the recovery notice", func() bool { return len(notices()) == 2 })
	if n := notices()[1]; !strings.Contains(n, `"nightly" succeeded again`) {
		t.Errorf("recovery notice %q", n)
	}
	waitMail(t, sink, "all good again", time.Minute)
	s.recordHistories("WorkflowType = 'FiringWorkflow'", "firing")
	s.recordHistories("AirutChannel = 'schedule'", "scheduled-conversation")
}
