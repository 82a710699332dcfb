package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/config"
	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// What the user reads when the sandbox's or the image's inputs are the
// repo's to fix; the mirror's or podman's troubles are retried instead.
func TestRepoProblems(t *testing.T) {
	cfg := &config.Config{Path: "/etc/airut/airut.yaml"}
	r := &config.Repo{ID: "demo", ContainerPath: ".airut/container", Image: "localhost/base"}
	transient := errors.New("git: connection reset")
	tests := []struct {
		name string
		err  error
		kind string // "" for a transient error
		text []string
	}{
		{"no allowlist", allowlistProblem(cfg, r, parts.ErrNoAllowlist), workflows.ErrConfig,
			[]string{"repo demo", parts.AllowlistPath, "repos.demo.network.sandbox_enabled: false in /etc/airut/airut.yaml"}},
		{"invalid allowlist", allowlistProblem(cfg, r, &parts.AllowlistError{Err: errors.New("domains[0]: must be a string")}), workflows.ErrConfig,
			[]string{"is invalid, so the task did not run: domains[0]: must be a string"}},
		{"allowlist unreadable", allowlistProblem(cfg, r, transient), "", []string{"network sandbox: git: connection reset"}},
		{"no image", imageProblem(r, sandbox.ErrNoDockerfile), workflows.ErrConfig,
			[]string{"repo demo has no .airut/container/Dockerfile", "(repos.demo.image)"}},
		{"image not found", imageProblem(r, sandbox.ErrImageNotFound), workflows.ErrConfig,
			[]string{"image localhost/base not found (repos.demo.image); build or pull it first"}},
		{"build failed", imageProblem(r, errors.Join(sandbox.ErrBuildFailed, errors.New("step 3"))), workflows.ErrConfig, []string{"image build failed"}},
		{"podman down", imageProblem(r, transient), "", []string{"agent image: git: connection reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []string{workflows.ErrConfig, workflows.ErrWorkspace} {
				if got := workflows.IsKind(tt.err, kind); got != (kind == tt.kind) {
					t.Errorf("IsKind(%s) = %v for %v", kind, got, tt.err)
				}
			}
			text := workflows.ProblemText(tt.err)
			if tt.kind == "" {
				text = tt.err.Error()
			}
			for _, want := range tt.text {
				if !strings.Contains(text, want) {
					t.Errorf("problem %q does not say %q", text, want)
				}
			}
		})
	}
}

// The task does not start, and nothing is left behind, when the
// default branch has no allowlist or the proxy binary is missing; both
// are the repo's or the host's to fix.
func TestStartTaskRefusesWithoutItsInputs(t *testing.T) {
	f := newFixture(t)
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	ctx := context.Background()
	sb, err := sandbox.New(ctx, sandbox.Options{StateDir: stateDir, StartPodmanService: true, ProxyBinary: filepath.Join(t.TempDir(), "airut-proxy")})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	f.a.Sandbox = sb
	r := f.cfg.Repos["demo"]
	in := workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t2"}
	start := func() error {
		task, err := f.a.startTask(ctx, f.cfg, r, f.layout("0000000a"), in, "localhost/airut-base:latest", f.a.log("0000000a", "t2"))
		if err == nil {
			task.Close(ctx)
		}
		return err
	}
	if err := start(); !errors.Is(err, parts.ErrNoAllowlist) || !workflows.IsKind(err, workflows.ErrConfig) {
		t.Errorf("without an allowlist: %v, want %s", err, workflows.ErrConfig)
	}

	if err := os.MkdirAll(filepath.Join(f.upstream, ".airut"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.upstream, parts.AllowlistPath), []byte("domains:\n  - api.anthropic.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, f.upstream, "add", ".")
	git(t, f.upstream, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "allowlist")
	if err := mirror(f.cfg, r).Update(ctx); err != nil {
		t.Fatal(err)
	}
	err = start()
	if !workflows.IsKind(err, workflows.ErrConfig) || !strings.Contains(workflows.ProblemText(err), "airut-proxy binary not found") ||
		!strings.Contains(workflows.ProblemText(err), "network.proxy_binary") {
		t.Errorf("without the proxy binary: %v (%q), want %s naming network.proxy_binary", err, workflows.ProblemText(err), workflows.ErrConfig)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "tasks")); !os.IsNotExist(err) {
		t.Errorf("sandbox files left behind: %v", err)
	}
}
