package conversation_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/airut-go/airut/internal/conversation"
)

// TestSaveAttachmentConfinedToAttachmentsDir: a message names its
// attachments by host path, and anyone who can signal a workflow can send
// one, so only files inside the attachments directory may reach the inbox.
func TestSaveAttachmentConfinedToAttachmentsDir(t *testing.T) {
	base := t.TempDir()
	attDir := filepath.Join(base, "attachments", "demo")
	msgDir := filepath.Join(attDir, "0123456789abcdef")
	if err := os.MkdirAll(msgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// secret stands for a host file such as the worker's airut.yaml.
	secret := filepath.Join(base, "airut.yaml")
	write(t, secret, "api_key: hunter2")
	// A sibling directory whose name starts like the attachments
	// directory's must not pass a prefix check.
	sibling := filepath.Join(base, "attachments", "demo-other", "f.txt")
	write(t, sibling, "other repo")
	legit := filepath.Join(msgDir, "00-report.txt")
	write(t, legit, "quarterly numbers")
	if err := os.Symlink(secret, filepath.Join(msgDir, "01-link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(msgDir, "up")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(msgDir, "02-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An attachments directory reached through a symlink still works.
	linkedDir := filepath.Join(base, "linked")
	if err := os.Symlink(attDir, linkedDir); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		dir     string
		src     string
		want    string // inbox content when accepted
		refused bool
	}{
		{"file inside is accepted", attDir, legit, "quarterly numbers", false},
		{"file inside via a symlinked attachments dir", linkedDir, filepath.Join(linkedDir, "0123456789abcdef", "00-report.txt"), "quarterly numbers", false},
		{"absolute path outside", attDir, secret, "", true},
		{"system file", attDir, "/etc/passwd", "", true},
		{"dot-dot climbing out", attDir, filepath.Join(msgDir, "..", "..", "..", "airut.yaml"), "", true},
		{"dot-dot as written, unresolved", attDir, msgDir + "/../../../airut.yaml", "", true},
		{"dot-dot to a missing file outside", attDir, msgDir + "/../../../no-such-file", "", true},
		{"sibling directory with a common prefix", attDir, sibling, "", true},
		{"symlink inside pointing outside", attDir, filepath.Join(msgDir, "01-link.txt"), "", true},
		{"symlinked directory inside pointing outside", attDir, filepath.Join(msgDir, "up", "airut.yaml"), "", true},
		{"the directory itself", attDir, attDir, "", true},
		{"a subdirectory", attDir, msgDir, "", true},
		{"a fifo inside", attDir, filepath.Join(msgDir, "02-fifo"), "", true},
		{"no attachments directory configured", "", legit, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := layout(t)
			got, err := l.SaveAttachment(tt.dir, "report.txt", tt.src)
			if tt.refused {
				if !errors.Is(err, conversation.ErrAttachmentRefused) {
					t.Fatalf("SaveAttachment(%q) = %q, %v; want an error wrapping ErrAttachmentRefused", tt.src, got, err)
				}
				if !strings.Contains(err.Error(), `"report.txt"`) {
					t.Errorf("error %q does not name the attachment", err)
				}
				if entries, _ := os.ReadDir(l.Inbox()); len(entries) != 0 {
					t.Errorf("inbox has %d entries after a refusal, want none", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatalf("SaveAttachment(%q): %v", tt.src, err)
			}
			b, err := os.ReadFile(filepath.Join(l.Inbox(), got))
			if err != nil || string(b) != tt.want {
				t.Errorf("inbox %s = %q, %v; want %q", got, b, err, tt.want)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
