package listeners_test

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest/listeners"
	"github.com/airut-go/airut/internal/config"
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
