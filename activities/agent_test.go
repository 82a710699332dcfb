package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// The agent's task: the conversation's directories at the paths the
// prompt names, the repo's secrets (masked ones handed to the sandbox,
// which gives the container surrogates only), its limits and labels, the
// conversation's network log; the container network only without the
// network sandbox.
func TestTaskSpec(t *testing.T) {
	l := conversation.Layout{Root: "/state/demo/conversations/0000000a"}
	r := &config.Repo{
		ID:      "demo",
		Secrets: map[string]string{"ANTHROPIC_API_KEY": "sk-plain"},
		MaskedSecrets: map[string]config.MaskedSecret{
			"GH_TOKEN": {Value: "ghp_real_secret_value", Scopes: []string{"api.github.com"}, Headers: []string{"Authorization"}},
		},
		SigningCredentials: map[string]config.SigningCredential{"AWS": {Type: config.SigningTypeAWS, Scopes: []string{"*.amazonaws.com"},
			AccessKeyID:     config.NamedSecret{Name: "AWS_ACCESS_KEY_ID", Value: "AKIAREALREALREAL1234"},
			SecretAccessKey: config.NamedSecret{Name: "AWS_SECRET_ACCESS_KEY", Value: "real-secret"},
			SessionToken:    &config.NamedSecret{Name: "AWS_SESSION_TOKEN"}}}, // unset: left out
		GitHubAppCredentials: map[string]config.GitHubAppCredential{"GH_APP_TOKEN": {AppID: 42, PrivateKey: "pem", InstallationID: 7,
			Scopes: []string{"github.com"}, Repositories: []string{"demo"}}},
		ResourceLimits: config.ResourceLimits{Memory: "4g", CPUs: 2, PidsLimit: 512, Timeout: 600},
	}
	cfg := &config.Config{ContainerNetwork: "host"}
	in := workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t7", Prompt: "fix the bug"}
	spec := taskSpec(in, "h1", cfg, r, l, "localhost/airut-overlay:abc")

	if spec.ID != "demo-0000000a" || spec.Image != "localhost/airut-overlay:abc" || spec.WorkDir != "/workspace" || spec.Dir != l.Root {
		t.Errorf("id %q image %q workdir %q dir %q", spec.ID, spec.Image, spec.WorkDir, spec.Dir)
	}
	if spec.NoNetworkSandbox || spec.Network != "" || spec.NetworkLog != l.NetworkLog() {
		t.Errorf("sandboxed task: no sandbox %v, network %q, log %q", spec.NoNetworkSandbox, spec.Network, spec.NetworkLog)
	}
	mounts := map[string]sandbox.Mount{}
	for _, m := range spec.Mounts {
		mounts[m.Target] = m
	}
	for target, source := range map[string]string{
		"/workspace": l.Workspace(), "/inbox": l.Inbox(), "/outbox": l.Outbox(), "/storage": l.Storage(),
	} {
		if m := mounts[target]; m.Source != source || m.ReadOnly {
			t.Errorf("mount at %s = %+v, want %s read-write", target, m, source)
		}
	}
	if len(spec.Mounts) != 4 {
		t.Errorf("%d mounts, want 4: %+v", len(spec.Mounts), spec.Mounts)
	}
	if spec.Env["ANTHROPIC_API_KEY"] != "sk-plain" {
		t.Errorf("env lacks the plain secret: %v", spec.Env)
	}
	for k, v := range spec.Env {
		if strings.Contains(v, "ghp_real_secret_value") {
			t.Errorf("env %s carries the masked secret's real value", k)
		}
	}
	want := []proxy.Secret{{Name: "GH_TOKEN", Value: "ghp_real_secret_value", Scopes: []string{"api.github.com"}, Headers: []string{"Authorization"}}}
	if !reflect.DeepEqual(spec.MaskedSecrets, want) {
		t.Errorf("masked secrets = %+v, want %+v", spec.MaskedSecrets, want)
	}
	wantSigning := []proxy.SigningCredential{{Name: "AWS", Scopes: []string{"*.amazonaws.com"},
		AccessKeyID:     proxy.EnvSecret{Env: "AWS_ACCESS_KEY_ID", Value: "AKIAREALREALREAL1234"},
		SecretAccessKey: proxy.EnvSecret{Env: "AWS_SECRET_ACCESS_KEY", Value: "real-secret"}}}
	if !reflect.DeepEqual(spec.SigningCredentials, wantSigning) {
		t.Errorf("signing credentials = %+v, want %+v", spec.SigningCredentials, wantSigning)
	}
	wantApps := []proxy.GitHubApp{{Name: "GH_APP_TOKEN", Issuer: "42", PrivateKey: "pem", InstallationID: 7,
		BaseURL: "https://api.github.com", Repositories: []string{"demo"}, Scopes: []string{"github.com"}}}
	if !reflect.DeepEqual(spec.GitHubApps, wantApps) {
		t.Errorf("GitHub Apps = %+v, want %+v", spec.GitHubApps, wantApps)
	}
	if spec.Limits != (sandbox.Limits{Memory: "4g", CPUs: 2, Pids: 512}) || spec.Timeout != 10*time.Minute {
		t.Errorf("limits = %+v, timeout %v", spec.Limits, spec.Timeout)
	}
	if !reflect.DeepEqual(spec.Labels, parts.Labels("h1", "demo", "0000000a", "t7")) {
		t.Errorf("labels = %v", spec.Labels)
	}

	off := false
	r.Network.SandboxEnabled = &off
	spec = taskSpec(in, "h1", cfg, r, l, "img")
	if !spec.NoNetworkSandbox || spec.Network != "host" {
		t.Errorf("without the sandbox: no sandbox %v, network %q; want true, host", spec.NoNetworkSandbox, spec.Network)
	}
}

// How a run ended decides the activity's answer: a stop is a cancelled
// result in the session the agent ran in, with what it used; a run
// cancelled for another reason (the worker shutting down) is an error,
// retried; the rest is the run's result as it is.
func TestAnswer(t *testing.T) {
	stoppedRun := sandbox.Result{Outcome: sandbox.OutcomeCancelled, ExitCode: -1, SessionID: "s-new",
		Usage: sandbox.Usage{InputTokens: 105, OutputTokens: 27}, AgentDurationMS: 900}
	done := sandbox.Result{Outcome: sandbox.OutcomeSuccess, SessionID: "s1", Response: "All fixed.", CostUSD: 0.25, NumTurns: 2,
		Network: sandbox.NetworkSummary{Log: "/x/network.log", Blocked: 2, BlockedExamples: []string{"GET evil.test/"}}}
	tests := []struct {
		name    string
		res     sandbox.Result
		cause   error // the activity's context ends with this cause; nil: it does not end
		want    workflows.AgentResult
		wantErr bool
		// draining: the host is leaving; kind is the error's type.
		draining bool
		kind     string
	}{
		{"stop", stoppedRun, temporal.NewCanceledError(), workflows.AgentResult{Outcome: workflows.OutcomeCancelled, SessionID: "s-new",
			Usage: workflows.Usage{InputTokens: 105, OutputTokens: 27}, DurationMS: 900}, false, false, ""},
		{"worker shutting down", stoppedRun, errors.New("worker is now shutdown"), workflows.AgentResult{}, true, false, ""},
		{"worker draining", stoppedRun, errors.New("worker is now shutdown"), workflows.AgentResult{}, true, true, workflows.ErrHostDraining},
		{"stop while draining", stoppedRun, temporal.NewCanceledError(), workflows.AgentResult{Outcome: workflows.OutcomeCancelled, SessionID: "s-new",
			Usage: workflows.Usage{InputTokens: 105, OutputTokens: 27}, DurationMS: 900}, false, true, ""},
		{"finished", done, nil, workflows.AgentResult{Outcome: workflows.OutcomeSuccess, SessionID: "s1", Text: "All fixed.", CostUSD: 0.25,
			NumTurns: 2, NetworkBlocked: 2, BlockedExamples: []string{"GET evil.test/"}}, false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := inActivity(t, func(ctx context.Context) error {
				ctx, cancel := context.WithCancelCause(ctx)
				defer cancel(nil)
				if tt.cause != nil {
					cancel(tt.cause)
				}
				got, err := answer(ctx, tt.res, tt.draining)
				if (err != nil) != tt.wantErr {
					return fmt.Errorf("answer error = %v, want error %v", err, tt.wantErr)
				}
				if err != nil && (tt.kind != "") != workflows.IsKind(err, tt.kind) {
					return fmt.Errorf("answer error = %v, want kind %q", err, tt.kind)
				}
				if !reflect.DeepEqual(got, tt.want) {
					return fmt.Errorf("answer = %+v, want %+v", got, tt.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// inActivity runs fn with an activity's context.
func inActivity(t *testing.T, fn func(ctx context.Context) error) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: "test"})
	_, err := env.ExecuteActivity("test")
	return err
}

// A stop reaches the activity only in the answer to a heartbeat, so the
// run heartbeats about every second, however long the heartbeat timeout
// (30 s used to mean every 5 s, and a stop took that long to arrive).
func TestHeartbeatPace(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{30 * time.Second, time.Second},
		{10 * time.Minute, time.Second},
		{4 * time.Second, time.Second},
		{2 * time.Second, 500 * time.Millisecond},
		{200 * time.Millisecond, 250 * time.Millisecond},
	} {
		if got := heartbeatPace(tt.timeout); got != tt.want {
			t.Errorf("heartbeatPace(%v) = %v, want %v", tt.timeout, got, tt.want)
		}
	}
}

// RunAgent refuses before starting anything when the repo, the workspace
// or the image is not there.
func TestRunAgentPreconditions(t *testing.T) {
	f := newFixture(t)
	f.withSandbox()
	f.cfg.Repos["demo"].ContainerPath = ".airut/container"
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   workflows.AgentInput
		kind string
		text string
	}{
		{"unknown repo", workflows.AgentInput{RepoID: "nope", ConversationID: "0000000a"}, workflows.ErrConfig, "nope"},
		{"workspace elsewhere", workflows.AgentInput{RepoID: "demo", ConversationID: "0000000b"}, workflows.ErrWorkspace, "workspace missing on this host"},
		{"no image", workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a"}, workflows.ErrConfig, "repo demo has no .airut/container/Dockerfile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.env.ExecuteActivity(f.a.RunAgent, tt.in)
			if !workflows.IsKind(err, tt.kind) || !strings.Contains(workflows.ProblemText(err), tt.text) {
				t.Errorf("RunAgent error = %v (problem %q), want %s saying %q", err, workflows.ProblemText(err), tt.kind, tt.text)
			}
		})
	}
}

// Runs in one conversation's event log are separated by a blank line.
func TestOpenEventLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	for _, line := range []string{"run 1", "run 2"} {
		f, err := openEventLog(path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, line)
		f.Close()
	}
	if b, _ := os.ReadFile(path); string(b) != "run 1\n\nrun 2\n" {
		t.Errorf("event log = %q", b)
	}
}

// Cost is hidden for runs on a subscription: an OAuth token, no API key.
func TestSubscription(t *testing.T) {
	for _, tt := range []struct {
		secrets map[string]string
		want    bool
	}{
		{map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": "t"}, true},
		{map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": "t", "ANTHROPIC_API_KEY": "k"}, false},
		{map[string]string{"ANTHROPIC_API_KEY": "k"}, false},
	} {
		if got := subscription(&config.Repo{Secrets: tt.secrets}); got != tt.want {
			t.Errorf("subscription(%v) = %v, want %v", tt.secrets, got, tt.want)
		}
	}
}

// A configured Claude binary that is not there is the repo's to fix; a
// download that fails (the release host down) is retried.
func TestClaudeBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	a := &Activities{}
	cfg := &config.Config{StateDir: t.TempDir(), ClaudeDownloadURL: "http://127.0.0.1:1/"}
	_, err := a.claudeBinary(context.Background(), cfg, &config.Repo{ClaudeBinary: "/nonexistent/claude"})
	if !workflows.IsKind(err, workflows.ErrConfig) || !strings.Contains(workflows.ProblemText(err), "/nonexistent/claude") {
		t.Errorf("configured binary missing: %v, want %s naming it", err, workflows.ErrConfig)
	}
	// The release host's retries are cut short: one failed try is enough.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = a.claudeBinary(ctx, cfg, &config.Repo{ClaudeVersion: "2.0.0"})
	if err == nil || workflows.IsKind(err, workflows.ErrConfig) || !strings.HasPrefix(err.Error(), "fetch the Claude Code binary") {
		t.Errorf("download failed: %v, want a transient error", err)
	}
}
