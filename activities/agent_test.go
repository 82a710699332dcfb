package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/internal/claude"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/workflows"
)

// The agent's container: the conversation's directories at the paths the
// prompt names, Claude Code read-only, the repo's secrets (masked ones as
// surrogates only), its limits and labels, and a minimal capability set.
func TestAgentSpec(t *testing.T) {
	l := conversation.Layout{Root: "/state/demo/conversations/0000000a"}
	r := &config.Repo{
		ID:      "demo",
		Secrets: map[string]string{"ANTHROPIC_API_KEY": "sk-plain"},
		MaskedSecrets: map[string]config.MaskedSecret{
			"GH_TOKEN": {Value: "ghp_real_secret_value", Scopes: []string{"api.github.com"}},
		},
		ResourceLimits: config.ResourceLimits{Memory: "4g", CPUs: 2, PidsLimit: 512},
	}
	masked := sandbox.Surrogates(maskedSecrets(r))
	in := workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t7", Prompt: "fix the bug",
		SessionID: "s1", Model: "opus", Effort: "high"}
	spec := agentSpec(in, agentSetup{host: "h1", network: "host", repo: r, layout: l, image: "localhost/airut-overlay:abc",
		claude: "/usr/local/bin/claude", masked: masked})

	if spec.Name != "airut-demo-0000000a" || spec.Image != "localhost/airut-overlay:abc" || spec.WorkDir != "/workspace" || spec.Network != "host" {
		t.Errorf("name %q image %q workdir %q network %q", spec.Name, spec.Image, spec.WorkDir, spec.Network)
	}
	cmd := strings.Join(spec.Command, " ")
	if !strings.HasPrefix(cmd, claude.BinaryPath+" --resume s1 --model opus --effort high -p ") {
		t.Errorf("command = %q", cmd)
	}
	if prompt, _ := io.ReadAll(spec.Stdin); string(prompt) != "fix the bug" {
		t.Errorf("stdin = %q, want the prompt", prompt)
	}

	mounts := map[string]podman.Mount{}
	for _, m := range spec.Mounts {
		mounts[m.Target] = m
	}
	for target, source := range map[string]string{
		"/workspace": l.Workspace(), "/inbox": l.Inbox(), "/outbox": l.Outbox(), "/storage": l.Storage(),
		"/root/.claude": l.Claude(), claude.BinaryPath: "/usr/local/bin/claude",
	} {
		m, ok := mounts[target]
		if !ok || m.Source != source || m.ReadOnly != (target == claude.BinaryPath) {
			t.Errorf("mount at %s = %+v, want %s (read-only only for the binary)", target, m, source)
		}
	}
	if len(spec.Mounts) != 6 {
		t.Errorf("%d mounts, want 6: %+v", len(spec.Mounts), spec.Mounts)
	}

	if spec.Env["ANTHROPIC_API_KEY"] != "sk-plain" || spec.Env["IS_SANDBOX"] != "1" {
		t.Errorf("env lacks the plain secret or Claude's settings: %v", spec.Env)
	}
	if got := spec.Env["GH_TOKEN"]; got == "" || got != masked[0].Surrogate {
		t.Errorf("GH_TOKEN = %q, want this run's surrogate", got)
	}
	for k, v := range spec.Env {
		if strings.Contains(v, "ghp_real_secret_value") {
			t.Errorf("env %s carries the masked secret's real value", k)
		}
	}

	if !slices.Equal(spec.CapDrop, []string{"ALL"}) || !spec.NoNewPrivileges ||
		!slices.Equal(spec.CapAdd, []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID"}) {
		t.Errorf("capabilities drop %v add %v no-new-privileges %v", spec.CapDrop, spec.CapAdd, spec.NoNewPrivileges)
	}
	if spec.Limits != (podman.Limits{Memory: "4g", CPUs: 2, PidsLimit: 512}) {
		t.Errorf("limits = %+v", spec.Limits)
	}
	wantLabels := sandbox.Labels("h1", "demo", "0000000a", "t7")
	for k, v := range wantLabels {
		if spec.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, spec.Labels[k], v)
		}
	}
}

// inActivity runs fn with an activity's context, as runContainer needs
// (it heartbeats).
func inActivity(t *testing.T, fn func(ctx context.Context) error) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: "test"})
	_, err := env.ExecuteActivity("test")
	return err
}

// A fake container: it prints what it is told, then exits or, like a
// real one, runs until it is killed (its context ends).
type fakeContainer struct {
	stdout, stderr string
	exit           int
	untilKilled    bool
	fail           error
	// onStart runs once the output is written (a stop arriving, say).
	onStart func()
}

func (c fakeContainer) run(ctx context.Context, spec podman.RunSpec) (podman.Result, error) {
	if c.fail != nil {
		return podman.Result{}, c.fail
	}
	io.WriteString(spec.Stdout, c.stdout)
	io.WriteString(spec.Stderr, c.stderr)
	if c.onStart != nil {
		c.onStart()
	}
	if c.untilKilled {
		<-ctx.Done()
		return podman.Result{ExitCode: 137}, ctx.Err()
	}
	return podman.Result{ExitCode: c.exit}, nil
}

// How a run ended decides what the user is told: the reply, the timeout,
// the failure with its stderr, the cut at a runaway line; a stop and a
// podman failure are errors for the workflow.
func TestRunContainer(t *testing.T) {
	const (
		initLine   = `{"type":"system","subtype":"init","session_id":"s1"}` + "\n"
		textLine   = `{"type":"assistant","message":{"content":[{"type":"text","text":"All fixed."}]}}` + "\n"
		resultLine = `{"type":"result","session_id":"s1","result":"All fixed.","total_cost_usd":0.25,"num_turns":2}` + "\n"
	)
	huge := strings.Repeat("x", claude.MaxLineBytes+1)
	tests := []struct {
		name      string
		container fakeContainer
		timeout   time.Duration
		stop      bool
		wantErr   string
		outcome   workflows.Outcome
		text      string
		summary   string
	}{
		{"success", fakeContainer{stdout: initLine + textLine + resultLine}, time.Minute, false, "", workflows.OutcomeSuccess, "All fixed.", ""},
		{"failure shows stderr", fakeContainer{stdout: initLine, stderr: "node: out of disk\n", exit: 1}, time.Minute, false, "", workflows.OutcomeContainerFailed, "", "node: out of disk"},
		{"timeout", fakeContainer{stdout: initLine + textLine, untilKilled: true}, 50 * time.Millisecond, false, "", workflows.OutcomeTimeout, "", "All fixed."},
		{"runaway line", fakeContainer{stdout: initLine + huge, untilKilled: true}, time.Minute, false, "", workflows.OutcomeContainerFailed, "", claude.ErrLineTooLong.Error()},
		{"stop", fakeContainer{stdout: initLine, untilKilled: true}, time.Minute, true, context.Canceled.Error(), "", "", ""},
		{"podman fails", fakeContainer{fail: errors.New("image not known")}, time.Minute, false, "run agent container: image not known", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events bytes.Buffer
			var observed int
			err := inActivity(t, func(ctx context.Context) error {
				ctx, stop := context.WithCancel(ctx)
				defer stop()
				c := tt.container
				if tt.stop {
					c.onStart = stop
				}
				run, err := runContainer(ctx, c.run, podman.RunSpec{}, tt.timeout, &events, func([]byte) { observed++ })
				if tt.wantErr != "" {
					if err == nil || err.Error() != tt.wantErr {
						return fmt.Errorf("error %v, want %s", err, tt.wantErr)
					}
					return nil
				}
				if err != nil {
					return fmt.Errorf("runContainer: %w", err)
				}
				out := run.result()
				if out.Outcome != tt.outcome || out.Text != tt.text || out.ErrorSummary != tt.summary {
					return fmt.Errorf("result = outcome %q text %q summary %q; want %q %q %q", out.Outcome, out.Text, out.ErrorSummary, tt.outcome, tt.text, tt.summary)
				}
				if out.SessionID != "s1" {
					return fmt.Errorf("session %q, want s1", out.SessionID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" && !strings.HasPrefix(events.String(), initLine) {
				t.Errorf("event log starts %.80q, want the run's first line", events.String())
			}
			if strings.Contains(events.String(), "xxxx") {
				t.Error("the runaway line reached the event log")
			}
			if tt.wantErr == "" && observed == 0 {
				t.Error("the plan observer saw no line")
			}
		})
	}
}

// A stopped run answers with what it knew: the session its stream named
// (so the next message resumes it; else the one it was asked to resume)
// and the tokens it had used. A run whose context ended for another
// reason (the worker shutting down) is no stop: it stays an error, and is
// retried.
func TestStoppedRunReportsItsSession(t *testing.T) {
	const (
		initLine = `{"type":"system","subtype":"init","session_id":"s-new"}` + "\n"
		// One message printed block by block, with its usage so far;
		// then a second message.
		block1 = `{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Looking."}],"usage":{"input_tokens":100,"output_tokens":1}}}` + "\n"
		block2 = `{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","name":"Bash","id":"t1","input":{}}],"usage":{"input_tokens":100,"output_tokens":20}}}` + "\n"
		second = `{"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":"Still going."}],"usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":300}}}` + "\n"
	)
	in := workflows.AgentInput{SessionID: "s-old"}
	tests := []struct {
		name        string
		stdout      string
		cause       error
		wantStopped bool
		session     string
		usage       workflows.Usage
	}{
		{"stop mid-run", initLine + block1 + block2 + second, temporal.NewCanceledError(), true, "s-new",
			workflows.Usage{InputTokens: 105, OutputTokens: 27, CacheReadInputTokens: 300}},
		{"stop before the session began", "", temporal.NewCanceledError(), true, "s-old", workflows.Usage{}},
		{"worker shutting down", initLine, errors.New("worker is now shutdown"), false, "", workflows.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := inActivity(t, func(ctx context.Context) error {
				ctx, cancel := context.WithCancelCause(ctx)
				defer cancel(nil)
				c := fakeContainer{stdout: tt.stdout, untilKilled: true, onStart: func() { cancel(tt.cause) }}
				run, err := runContainer(ctx, c.run, podman.RunSpec{}, time.Minute, io.Discard, func([]byte) {})
				if !errors.Is(err, context.Canceled) {
					return fmt.Errorf("runContainer error = %v, want the stop's", err)
				}
				if got := stopped(ctx); got != tt.wantStopped {
					return fmt.Errorf("stopped = %v, want %v", got, tt.wantStopped)
				}
				if !tt.wantStopped {
					return nil
				}
				out := stoppedResult(in, &run)
				if out.Outcome != workflows.OutcomeCancelled || out.SessionID != tt.session || out.Usage != tt.usage || out.DurationMS < 0 {
					return fmt.Errorf("result = %+v, want cancelled in session %s with usage %+v", out, tt.session, tt.usage)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// Stopped before the container ran (building the image, say).
	if out := stoppedResult(in, nil); out.Outcome != workflows.OutcomeCancelled || out.SessionID != "s-old" {
		t.Errorf("stopped before the run = %+v, want cancelled in s-old", out)
	}
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
