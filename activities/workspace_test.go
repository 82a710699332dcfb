package activities

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// fixture is a host with one repo, "demo", whose upstream is a local git
// repository.
type fixture struct {
	t        *testing.T
	cfg      *config.Config
	a        *Activities
	env      *testsuite.TestActivityEnvironment
	upstream string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed: %v", err)
	}
	base := t.TempDir()
	up := gitRepo(t, filepath.Join(base, "origin"))
	git(t, up, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "second")
	cfg := &config.Config{
		StateDir:       filepath.Join(base, "state"),
		AttachmentsDir: filepath.Join(base, "attachments"),
		Execution:      config.Execution{MaxConcurrent: 2, HeartbeatTimeout: 30, HostTimeout: 300},
		Repos: map[string]*config.Repo{"demo": {
			ID: "demo", RepoURL: up, Model: "opus", Effort: "high",
			ResourceLimits: config.ResourceLimits{Timeout: 600},
		}},
	}
	f := &fixture{t: t, cfg: cfg, upstream: up}
	f.a = &Activities{Config: func() *config.Config { return f.cfg }, HostID: "h1"}
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	for _, fn := range []any{f.a.PrepareWorkspace, f.a.CleanupWorkspace, f.a.DeliverReply, f.a.RunAgent, f.a.FindPullRequest, f.a.PollPullRequest, f.a.ReadConversationFile} {
		f.env.RegisterActivity(fn)
	}
	return f
}

// withSandbox gives the activities a real sandbox (Podman's API service is
// started if none answers).
func (f *fixture) withSandbox() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandbox.New(ctx, sandbox.Options{StateDir: f.t.TempDir(), StartPodmanService: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { sb.Close() })
	f.a.Sandbox = sb
}

func (f *fixture) layout(conv string) conversation.Layout {
	f.t.Helper()
	l, err := conversation.For(f.cfg.RepoStateDir("demo"), conv)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func (f *fixture) prepare(in workflows.PrepareInput) (workflows.PrepareResult, error) {
	f.t.Helper()
	var res workflows.PrepareResult
	val, err := f.env.ExecuteActivity(f.a.PrepareWorkspace, in)
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A new conversation's workspace is cloned from the mirror with the
// mounted directories beside it and the repo's settings reported; the
// next task reuses it as the agent left it.
func TestPrepareWorkspaceClonesOnceAndReuses(t *testing.T) {
	f := newFixture(t)
	in := workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}
	res, err := f.prepare(in)
	if err != nil {
		t.Fatalf("first PrepareWorkspace: %v", err)
	}
	want := workflows.PrepareResult{HostQueue: "airut-host-h1", Created: true, Model: "opus", Effort: "high",
		TimeoutSeconds: 600, HeartbeatSeconds: 30, HostTimeoutSecs: 300}
	if res.HostQueue != want.HostQueue || !res.Created || res.Model != want.Model || res.Effort != want.Effort ||
		res.TimeoutSeconds != want.TimeoutSeconds || res.HeartbeatSeconds != want.HeartbeatSeconds || res.HostTimeoutSecs != want.HostTimeoutSecs {
		t.Errorf("first PrepareWorkspace = %+v, want %+v", res, want)
	}
	l := f.layout("0000000a")
	if got, want := git(t, l.Workspace(), "log", "--format=%s", "-1"), "second"; got != want {
		t.Errorf("workspace HEAD is %q, want the upstream's %q", got, want)
	}
	for _, d := range []string{l.Inbox(), l.Outbox(), l.Storage(), l.Claude()} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}

	work := filepath.Join(l.Workspace(), "agent-notes.txt")
	if err := os.WriteFile(work, []byte("half done"), 0o644); err != nil {
		t.Fatal(err)
	}
	in.TaskID = "t2"
	res, err = f.prepare(in)
	if err != nil {
		t.Fatalf("second PrepareWorkspace: %v", err)
	}
	if res.Created {
		t.Error("second PrepareWorkspace cloned again")
	}
	if b, err := os.ReadFile(work); err != nil || string(b) != "half done" {
		t.Errorf("the agent's work in the workspace is gone: %q, %v", b, err)
	}
}

// Errors say who must act: an unknown repo or conversation ID is
// configuration, an unreachable upstream is transient (retried).
func TestPrepareWorkspaceErrors(t *testing.T) {
	tests := []struct {
		name string
		in   workflows.PrepareInput
		edit func(*config.Config)
		kind string // "" for a transient error
		text string
	}{
		{"unknown repo", workflows.PrepareInput{RepoID: "nope", ConversationID: "0000000a"}, nil, workflows.ErrConfig, "nope"},
		{"invalid conversation id", workflows.PrepareInput{RepoID: "demo", ConversationID: "../../etc"}, nil, workflows.ErrConfig, "invalid conversation id"},
		{"upstream unreachable", workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a"},
			func(c *config.Config) { c.Repos["demo"].RepoURL = filepath.Join(c.StateDir, "gone") }, "", "refresh git mirror"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.edit != nil {
				tt.edit(f.cfg)
			}
			_, err := f.prepare(tt.in)
			if err == nil {
				t.Fatal("PrepareWorkspace succeeded")
			}
			for _, kind := range []string{workflows.ErrConfig, workflows.ErrWorkspace} {
				if workflows.IsKind(err, kind) != (kind == tt.kind) {
					t.Errorf("error %v: IsKind(%s) = %v", err, kind, !(kind == tt.kind))
				}
			}
			if !strings.Contains(workflows.ProblemText(err)+err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

// An expired conversation's files leave the host.
func TestCleanupWorkspace(t *testing.T) {
	f := newFixture(t)
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.ExecuteActivity(f.a.CleanupWorkspace, workflows.CleanupInput{RepoID: "demo", ConversationID: "0000000a"}); err != nil {
		t.Fatalf("CleanupWorkspace: %v", err)
	}
	if _, err := os.Stat(f.layout("0000000a").Root); !os.IsNotExist(err) {
		t.Errorf("conversation directory still there: %v", err)
	}
	if _, err := os.Stat(f.cfg.MirrorDir("demo")); err != nil {
		t.Errorf("the repo's mirror went with the conversation: %v", err)
	}
}
