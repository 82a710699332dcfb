package activities

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

// TestPrepareWorkspaceConfinesAttachments: a message's attachment paths
// come from whoever signalled the workflow, so PrepareWorkspace copies
// only files stored under the repo's attachments directory and refuses
// anything else as a workspace error (never retried), naming the
// attachment.
func TestPrepareWorkspaceConfinesAttachments(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed: %v", err)
	}
	base := t.TempDir()
	repoURL := gitRepo(t, filepath.Join(base, "origin"))
	cfg := &config.Config{
		StateDir:       filepath.Join(base, "state"),
		AttachmentsDir: filepath.Join(base, "attachments"),
		Repos:          map[string]*config.Repo{"demo": {ID: "demo", RepoURL: repoURL}},
	}
	stored := filepath.Join(cfg.AttachmentsDir, "demo", "0123456789abcdef", "00-notes.txt")
	otherRepo := filepath.Join(cfg.AttachmentsDir, "other", "0123456789abcdef", "00-theirs.txt")
	secret := filepath.Join(base, "airut.yaml")
	for path, content := range map[string]string{stored: "notes", otherRepo: "theirs", secret: "api_key: hunter2"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(filepath.Dir(stored), "01-link.txt")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		conv    string
		path    string
		refused bool
	}{
		{"stored attachment is copied", "0000000a", stored, false},
		{"host file is refused", "0000000b", secret, true},
		{"dot-dot out of the directory is refused", "0000000c", filepath.Dir(stored) + "/../../../airut.yaml", true},
		{"symlink inside pointing out is refused", "0000000d", link, true},
		{"another repo's attachment is refused", "0000000e", otherRepo, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			a := &Activities{Config: func() *config.Config { return cfg }, HostID: "test"}
			env.RegisterActivity(a.PrepareWorkspace)
			in := workflows.PrepareInput{RepoID: "demo", ConversationID: tt.conv, TaskID: "t1",
				Attachments: []workflows.Attachment{{Name: "notes.txt", Path: tt.path}}}
			val, err := env.ExecuteActivity(a.PrepareWorkspace, in)
			l, lerr := conversation.For(cfg.RepoStateDir("demo"), tt.conv)
			if lerr != nil {
				t.Fatal(lerr)
			}
			inbox, _ := os.ReadDir(l.Inbox())
			if tt.refused {
				if !workflows.IsKind(err, workflows.ErrWorkspace) {
					t.Fatalf("PrepareWorkspace(%s) error = %v, want a %s", tt.path, err, workflows.ErrWorkspace)
				}
				if text := workflows.ProblemText(err); !strings.Contains(text, `"notes.txt"`) {
					t.Errorf("problem %q does not name the attachment", text)
				}
				if len(inbox) != 0 {
					t.Errorf("inbox has %d files after a refusal, want none", len(inbox))
				}
				return
			}
			if err != nil {
				t.Fatalf("PrepareWorkspace: %v", err)
			}
			var res workflows.PrepareResult
			if err := val.Get(&res); err != nil {
				t.Fatal(err)
			}
			if len(res.Inbox) != 1 || res.Inbox[0] != "notes.txt" {
				t.Fatalf("inbox = %v, want [notes.txt]", res.Inbox)
			}
			if b, err := os.ReadFile(filepath.Join(l.Inbox(), "notes.txt")); err != nil || string(b) != "notes" {
				t.Errorf("inbox notes.txt = %q, %v", b, err)
			}
		})
	}
}

// gitRepo makes a repository with one commit at dir and returns its path.
func gitRepo(t *testing.T, dir string) string {
	t.Helper()
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main", dir},
		{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "init"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}
