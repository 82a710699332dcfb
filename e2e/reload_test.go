package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/slacktest"
	"github.com/airut-go/airut/internal/testing/smtptest"
)

// The config file is edited while `airut run` keeps running, the real
// Claude Code CLI doing the tasks. Repo demo starts with a mailbox and a
// Slack app, repo second with a Slack app of its own. The edit gives
// second a mailbox, takes demo's Slack app away, changes demo's model
// and the Web UI's port:
//   - mail sent to both mailboxes and a Slack message sent to second's app
//     while the file is being reloaded are all answered;
//   - demo's app is disconnected, second's app and demo's mailbox are not
//     touched (no reconnect);
//   - a new conversation of demo runs with the new model, with no restart;
//   - the port is reported as needing a restart by `airut status`, with
//     the generation and the hash of the file in force;
//   - a broken edit is refused naming its line and key (in the log, in
//     `airut status` and `airut check`), and the config in force stays:
//     second's new mailbox still answers.
func TestConfigReloadWhileRunning(t *testing.T) {
	const secondBox, secondPW = "second", "second-secret"
	api := anthropictest.NewServer(t)
	dove := dovecottest.Start(t, map[string]string{mailbox: mailboxPW, secondBox: secondPW})
	sink := smtptest.NewServer(t)
	slackOf := func() *slacktest.Server {
		sl := slacktest.NewServer(t)
		sl.SetBot("UBOT", "BBOT", "T1")
		sl.AddUser(slacktest.User{ID: "UALICE", Name: "alice", RealName: "Alice Example"})
		return sl
	}
	demoApp, secondApp := slackOf(), slackOf()
	slackYAML := func(sl *slacktest.Server) string {
		return fmt.Sprintf("    slack: {bot_token: xoxb-test, app_token: xapp-test, authorized: [{workspace_members: true}], api_url: %q}\n", sl.APIURL())
	}
	demoSlack := slackYAML(demoApp)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: mailYAML(dove, sink) + demoSlack})

	// Repo second is demo's block under another ID, with its own channels.
	text := readFile(t, s.config)
	demoBlock := text[strings.Index(text, "repos:\n")+len("repos:\n"):]
	secondBlock := strings.Replace(demoBlock, "  demo:\n", "  second:\n", 1)
	secondBlock = strings.Replace(secondBlock, mailYAML(dove, sink)+demoSlack, slackYAML(secondApp), 1)
	writeFile(t, s.config, text+secondBlock)

	proc := s.start("run")
	demoApp.WaitConnections(t, 1, 30*time.Second)
	secondApp.WaitConnections(t, 1, 30*time.Second)
	secondOpens := len(secondApp.Calls("apps.connections.open"))
	st := s.mustAirut(30*time.Second, "status")
	if !strings.Contains(st, "generation 1, sha256 "+sha12(t, s.config)) {
		t.Fatalf("airut status does not show generation 1 with the file's hash %s:\n%s", sha12(t, s.config), st)
	}

	// The edit, with a message to each channel that stays or comes sent
	// around it.
	text = readFile(t, s.config)
	edited := strings.Replace(text, demoSlack, "", 1)
	secondMail := strings.ReplaceAll(mailYAML(dove, sink), "username: "+mailbox+",", "username: "+secondBox+",")
	secondMail = strings.ReplaceAll(secondMail, "password: "+mailboxPW+"}", "password: "+secondPW+"}")
	if secondMail == mailYAML(dove, sink) {
		t.Fatal("the second mailbox's YAML is the first's")
	}
	edited = strings.Replace(edited, slackYAML(secondApp), slackYAML(secondApp)+secondMail, 1)
	edited = strings.Replace(edited, "model: claude-sonnet-4-5", "model: claude-haiku-4-5", 1) // demo's: it comes first
	uiPort := regexp.MustCompile(`ui_port: \d+`)
	edited = uiPort.ReplaceAllString(edited, fmt.Sprintf("ui_port: %d", freePort(t)))

	mail := func(box, id, body string) {
		dove.Deliver(t, box, buildMail(mailOpts{from: userAddr, subject: "task " + id, msgID: id + "@example.com", authResults: pass(), body: body}))
	}
	mail(mailbox, "during-demo", "Reloading?\nREPLY: demo mail during the reload")
	env := secondApp.PushEvent(map[string]any{"type": "message", "channel_type": "im", "channel": "D1", "user": "UALICE",
		"text": "Reloading?\nREPLY: second slack during the reload", "ts": "1700000300.000100"})
	writeFile(t, s.config, edited)
	mail(secondBox, "during-second", "New mailbox?\nREPLY: second mail during the reload")

	eventually(t, 30*time.Second, "the reload", func() bool { return strings.Contains(proc.logs.String(), "config reloaded") })
	logs := proc.logs.String()
	reloaded := logs[strings.Index(logs, "config reloaded"):]
	reloaded = reloaded[:strings.Index(reloaded, "\n")]
	for _, want := range []string{"listeners_started=second/email", "listeners_stopped=demo/slack", "repos_changed=demo,second"} {
		if !strings.Contains(reloaded, want) {
			t.Errorf("the reload's log line lacks %s:\n%s", want, reloaded)
		}
	}
	if strings.Contains(reloaded, "listeners_restarted") {
		t.Errorf("a listener whose settings did not change was restarted:\n%s", reloaded)
	}
	demoApp.WaitConnections(t, 0, 30*time.Second)
	secondApp.WaitAcked(t, env, time.Minute)

	for _, want := range []string{"demo mail during the reload", "second mail during the reload"} {
		waitMail(t, sink, want, 3*time.Minute)
	}
	secondApp.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range p {
			if x.Channel == "D1" && strings.Contains(x.Text, "second slack during the reload") {
				return true
			}
		}
		return false
	}, 3*time.Minute)
	if n := len(secondApp.Calls("apps.connections.open")); n != secondOpens || secondApp.Connections() != 1 {
		t.Errorf("second's Slack app reconnected (%d opens, was %d): the reload touched a listener it did not change", n, secondOpens)
	}
	if strings.Count(proc.logs.String(), "repo=demo channel=email server=") > 1 {
		t.Errorf("demo's mailbox was connected again by the reload:\n%s", proc.logs.String())
	}

	// Per-task settings apply to the next task: a new conversation of
	// demo runs with the new model, and so does its agent's API call.
	before := len(api.Requests())
	mail(mailbox, "after-reload", "Which model?\nREPLY: demo after the reload")
	reply := waitMail(t, sink, "demo after the reload", 3*time.Minute)
	conv := regexp.MustCompile(`\[ID:([0-9a-f]{8})\]`).FindStringSubmatch(reply.Header("Subject"))
	if conv == nil {
		t.Fatalf("reply subject %q has no conversation ID", reply.Header("Subject"))
	}
	if m := s.status(conv[1]).Model; m != "claude-haiku-4-5" {
		t.Errorf("demo's new conversation ran with model %q, want claude-haiku-4-5 from the edited file", m)
	}
	var models []string
	for _, r := range api.Requests()[before:] {
		if len(r.Messages) > 0 && strings.Contains(r.Messages[0].Text(), "Which model?") {
			models = append(models, r.Model)
		}
	}
	if len(models) == 0 || slices.ContainsFunc(models, func(m string) bool { return m != "claude-haiku-4-5" }) {
		t.Errorf("the agent's calls for the task ran with models %v, want claude-haiku-4-5", models)
	}

	// What waits for a restart, and the version in force.
	st = s.mustAirut(30*time.Second, "status")
	t.Logf("airut status after the reload:\n%s", st)
	for _, want := range []string{"generation 2, sha256 " + sha12(t, s.config), "needs restart to apply: temporal.embedded.ui_port"} {
		if !strings.Contains(st, want) {
			t.Errorf("airut status lacks %q:\n%s", want, st)
		}
	}

	// A broken edit is refused and the config in force stays.
	writeFile(t, s.config, strings.Replace(edited, "model: claude-haiku-4-5", "model: [claude-haiku-4-5]", 1))
	eventually(t, 30*time.Second, "the broken edit to be refused", func() bool {
		return strings.Contains(proc.logs.String(), "config change refused")
	})
	logs = proc.logs.String()
	if refused := logs[strings.Index(logs, "config change refused"):]; !regexp.MustCompile(`airut\.yaml:\d+: repos\.demo\.model`).MatchString(refused) {
		t.Errorf("the refusal does not name the line and key:\n%s", refused)
	}
	// airut status cannot load the file either: it fails with the
	// file's errors and shows the version the running process keeps.
	st, errOut, err := s.airut(30*time.Second, "status")
	if err == nil || !strings.Contains(errOut, "repos.demo.model") {
		t.Errorf("airut status on the broken file: err %v, stderr %q; want it to fail naming the key", err, errOut)
	}
	for _, want := range []string{"generation 2,", "last reload refused", "repos.demo.model"} {
		if !strings.Contains(st, want) {
			t.Errorf("after a broken edit, airut status lacks %q:\n%s", want, st)
		}
	}
	t.Logf("airut status after a broken edit:\n%s", st)
	out, _, err := s.airut(2*time.Minute, "check")
	t.Logf("airut check after a broken edit:\n%s", out)
	if err == nil || !regexp.MustCompile(`airut\.yaml:\d+: repos\.demo\.model`).MatchString(out) ||
		!strings.Contains(out, "last reload refused") {
		t.Errorf("airut check on the broken file: err %v, want a failure naming line and key, and the running process's refusal:\n%s", err, out)
	}
	mail(secondBox, "after-broken", "Still there?\nREPLY: second mail after the broken edit")
	waitMail(t, sink, "second mail after the broken edit", 3*time.Minute)
}

// waitMail waits for the sink to receive a mail whose text contains want.
func waitMail(t *testing.T, sink *smtptest.Server, want string, timeout time.Duration) smtptest.Message {
	t.Helper()
	var found smtptest.Message
	eventually(t, timeout, "a mail saying "+want, func() bool {
		for _, m := range sink.Messages() {
			if strings.Contains(m.TextBody(), want) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sha12 is the start of the file's SHA-256, as airut status shows it.
func sha12(t *testing.T, path string) string {
	sum := sha256.Sum256([]byte(readFile(t, path)))
	return hex.EncodeToString(sum[:])[:12]
}
