package listeners_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest/listeners"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/slacktest"
	"github.com/airut-go/airut/workflows"
)

// gatedTemporal takes messages only while its gate is open, so a test can
// hold a listener in the middle of a hand-off.
type gatedTemporal struct {
	client.Client
	entered chan struct{}
	gate    chan struct{}

	mu        sync.Mutex
	delivered []workflows.Message
}

func (g *gatedTemporal) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return nil, serviceerror.NewNotFound("workflow not found")
}

func (g *gatedTemporal) SignalWithStartWorkflow(ctx context.Context, _, _ string, arg any, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delivered = append(g.delivered, arg.(workflows.Message))
	return nil, nil
}

func (g *gatedTemporal) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.delivered)
}

func slackApp(s *slacktest.Server, token string) *config.Slack {
	return &config.Slack{BotToken: token, AppToken: "xapp-t", APIURL: s.APIURL(),
		Authorized: []map[string]any{{"workspace_members": true}}}
}

func configOf(t *testing.T, repos map[string]*config.Repo) *config.Config {
	return &config.Config{StateDir: t.TempDir(), Repos: repos}
}

func newSet(tc *gatedTemporal) *listeners.Set {
	return &listeners.Set{Temporal: tc, Log: slog.New(slog.DiscardHandler),
		Options: func(*config.Config) workflows.Options { return workflows.Options{} }}
}

// Apply starts what the config adds, restarts what it changes, stops what
// it drops, and leaves the rest connected as they were.
func TestApply(t *testing.T) {
	a, b := slacktest.NewServer(t), slacktest.NewServer(t)
	tc := &gatedTemporal{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	set := newSet(tc)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); set.Wait() }()

	rep := set.Apply(ctx, configOf(t, map[string]*config.Repo{"alpha": {Slack: slackApp(a, "xoxb-a")}, "beta": {Slack: slackApp(b, "xoxb-b")}}))
	want := listeners.Report{Started: []listeners.Key{{Repo: "alpha", Kind: listeners.Slack}, {Repo: "beta", Kind: listeners.Slack}}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("first apply %+v, want %+v", rep, want)
	}
	a.WaitConnections(t, 1, 10*time.Second)
	b.WaitConnections(t, 1, 10*time.Second)
	opened := len(a.Calls("apps.connections.open"))

	rep = set.Apply(ctx, configOf(t, map[string]*config.Repo{"alpha": {Slack: slackApp(a, "xoxb-a")}, "beta": {Slack: slackApp(b, "xoxb-b2")}}))
	want = listeners.Report{Restarted: []listeners.Key{{Repo: "beta", Kind: listeners.Slack}}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("token change %+v, want %+v", rep, want)
	}

	rep = set.Apply(ctx, configOf(t, map[string]*config.Repo{"alpha": {Slack: slackApp(a, "xoxb-a")}, "beta": {}}))
	want = listeners.Report{Stopped: []listeners.Key{{Repo: "beta", Kind: listeners.Slack}}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("app removed %+v, want %+v", rep, want)
	}
	b.WaitConnections(t, 0, 10*time.Second)
	if got := len(a.Calls("apps.connections.open")); got != opened || a.Connections() != 1 {
		t.Errorf("alpha's app reconnected (%d opens, was %d; %d sockets): an unchanged listener was touched", got, opened, a.Connections())
	}
	if set.Count() != 1 {
		t.Errorf("%d listeners run, want 1", set.Count())
	}
}

// A listener the config drops while it hands an event to Temporal
// finishes that hand-off and acknowledges the event before it stops: the
// message is not lost with the app.
func TestStopFinishesTheHandOff(t *testing.T) {
	s := slacktest.NewServer(t)
	s.SetBot("UBOT", "BBOT", "T1")
	s.AddUser(slacktest.User{ID: "UALICE", Name: "alice", RealName: "Alice Example"})
	tc := &gatedTemporal{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	set := newSet(tc)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); set.Wait() }()
	set.Apply(ctx, configOf(t, map[string]*config.Repo{"alpha": {Slack: slackApp(s, "xoxb-a")}}))
	s.WaitConnections(t, 1, 10*time.Second)

	env := s.PushEvent(map[string]any{"type": "app_mention", "channel": "C1", "user": "UALICE", "text": "<@UBOT> fix the build", "ts": "1700000200.000900"})
	select {
	case <-tc.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the event never reached Temporal")
	}
	applied := make(chan listeners.Report, 1)
	go func() { applied <- set.Apply(ctx, configOf(t, map[string]*config.Repo{"alpha": {}})) }()
	select {
	case rep := <-applied:
		t.Fatalf("the listener stopped in the middle of a hand-off: %+v", rep)
	case <-time.After(300 * time.Millisecond):
	}
	close(tc.gate)
	rep := <-applied
	if len(rep.Stopped) != 1 {
		t.Fatalf("report %+v, want alpha's app stopped", rep)
	}
	if tc.count() != 1 || !s.Acked(env) {
		t.Errorf("delivered %d, acknowledged %v; want the event handed off and acknowledged", tc.count(), s.Acked(env))
	}
	s.WaitConnections(t, 0, 10*time.Second)
}

// A mailbox the config drops while its listener hands a message to
// Temporal: the hand-off finishes and the message is deleted from the
// mailbox before the listener stops, so it is neither lost nor handed off
// again later.
func TestStopFinishesTheMailHandOff(t *testing.T) {
	dove := dovecottest.Start(t, map[string]string{"airut": "mailbox-secret"})
	host, port, _ := dove.Addr()
	yaml := fmt.Sprintf(`config_version: 5
state_dir: %s
repos:
  alpha:
    repo_url: https://example.com/alpha.git
    email:
      account: {username: airut, from: "Airut <airut@example.com>", password: mailbox-secret}
      imap: {server: %s, port: %d, tls: tls, ca_file: %s, poll_interval: 0.2}
      smtp: {server: 127.0.0.1, port: 25, tls: none, require_auth: false}
      auth: {authorized_senders: [alice@example.com], trusted_authserv_id: mx.example.com}
`, t.TempDir(), host, port, filepath.Join(dove.Dir(), "cert.pem"))
	cfg, err := config.Parse("airut.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	tc := &gatedTemporal{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	set := newSet(tc)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); set.Wait() }()
	set.Apply(ctx, cfg)

	dove.Deliver(t, "airut", []byte("Authentication-Results: mx.example.com; dkim=pass header.d=example.com; spf=pass; dmarc=pass header.from=example.com\r\n"+
		"From: Alice <alice@example.com>\r\nTo: airut@example.com\r\nSubject: fix it\r\nMessage-ID: <m1@example.com>\r\n"+
		"Date: Sun, 06 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nPlease fix the build.\r\n"))
	select {
	case <-tc.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the mail never reached Temporal")
	}
	dropped := *cfg
	dropped.Repos = map[string]*config.Repo{}
	applied := make(chan listeners.Report, 1)
	go func() { applied <- set.Apply(ctx, &dropped) }()
	select {
	case rep := <-applied:
		t.Fatalf("the listener stopped in the middle of a hand-off: %+v", rep)
	case <-time.After(300 * time.Millisecond):
	}
	close(tc.gate)
	if rep := <-applied; len(rep.Stopped) != 1 {
		t.Fatalf("report %+v, want alpha's mailbox stopped", rep)
	}
	if tc.count() != 1 {
		t.Errorf("handed off %d messages, want 1", tc.count())
	}
	if n := dove.Count(t, "airut"); n != 0 {
		t.Errorf("%d message(s) left in the mailbox: the handed-off mail would be handed off again", n)
	}
}
