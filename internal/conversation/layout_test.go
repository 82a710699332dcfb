package conversation_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/airut-go/airut/internal/conversation"
)

func layout(t *testing.T) conversation.Layout {
	t.Helper()
	l, err := conversation.For(t.TempDir(), "1a2b3c4d")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestForRejectsBadIDs(t *testing.T) {
	for _, id := range []string{"", "1A2B3C4D", "../../etc", "1a2b3c4", "1a2b3c4d5"} {
		if _, err := conversation.For("/x", id); err == nil {
			t.Errorf("For(%q) accepted an invalid id", id)
		}
	}
}

func TestSaveAttachmentUniqueBaseNames(t *testing.T) {
	l := layout(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("data"), 0o644)
	var got []string
	for _, name := range []string{"report.pdf", "../../report.pdf", "report.pdf", "/"} {
		n, err := l.SaveAttachment(dir, name, src)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	want := []string{"report.pdf", "report-1.pdf", "report-2.pdf", "attachment"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("names = %v, want %v", got, want)
			break
		}
	}
	if b, _ := os.ReadFile(filepath.Join(l.Inbox(), "report-2.pdf")); string(b) != "data" {
		t.Errorf("content = %q", b)
	}
}

func TestOutboxSkipsDirsAndSymlinksAndClears(t *testing.T) {
	l := layout(t)
	os.WriteFile(filepath.Join(l.Outbox(), "b.txt"), []byte("b"), 0o644)
	os.WriteFile(filepath.Join(l.Outbox(), "a.txt"), []byte("a"), 0o644)
	os.Mkdir(filepath.Join(l.Outbox(), "dir"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(l.Outbox(), "passwd"))
	files, err := l.OutboxFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || filepath.Base(files[0]) != "a.txt" || filepath.Base(files[1]) != "b.txt" {
		t.Fatalf("OutboxFiles() = %v, want a.txt, b.txt", files)
	}
	if err := l.ClearOutbox(files); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(l.Outbox())
	if len(left) != 1 || left[0].Name() != "dir" {
		t.Errorf("outbox after clear = %v, want only dir", left)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Errorf("clearing followed the symlink: %v", err)
	}
}

func TestAppendReplyOncePerTaskAndKind(t *testing.T) {
	l := layout(t)
	for i, r := range []conversation.Reply{
		{TaskID: "t1", Kind: "ack", Text: "started"},
		{TaskID: "t1", Kind: "reply", Text: "done"},
		{TaskID: "t1", Kind: "reply", Text: "done again"},
	} {
		wrote, err := l.AppendReply(r)
		if err != nil {
			t.Fatal(err)
		}
		if wrote != (i < 2) {
			t.Errorf("reply %d wrote=%v", i, wrote)
		}
	}
	rs, err := l.ReadReplies()
	if err != nil || len(rs) != 2 || rs[1].Text != "done" {
		t.Errorf("ReadReplies() = %+v, %v", rs, err)
	}
}
