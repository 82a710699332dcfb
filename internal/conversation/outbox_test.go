package conversation_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The local channel's delivery: outbox files end up under sent/<task>,
// the outbox is left empty, and a repeated delivery moves nothing.
func TestMoveOutbox(t *testing.T) {
	l := layout(t)
	for _, name := range []string{"b.txt", "a.txt"} {
		if err := os.WriteFile(filepath.Join(l.Outbox(), name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(l.Outbox(), "link")); err != nil {
		t.Fatal(err)
	}
	moved, failed, err := l.MoveOutbox("t1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(l.Root, "sent", "t1", "a.txt"), filepath.Join(l.Root, "sent", "t1", "b.txt")}
	if !slices.Equal(moved, want) || len(failed) != 0 {
		t.Fatalf("MoveOutbox = %v, %v; want %v and no failures", moved, failed, want)
	}
	if b, err := os.ReadFile(want[0]); err != nil || string(b) != "a.txt" {
		t.Errorf("sent a.txt = %q, %v", b, err)
	}
	if left, _ := l.OutboxFiles(); len(left) != 0 {
		t.Errorf("outbox still has %v", left)
	}
	again, failed, err := l.MoveOutbox("t1")
	if err != nil || len(again) != 0 || len(failed) != 0 {
		t.Errorf("second MoveOutbox = %v, %v, %v; want nothing moved", again, failed, err)
	}
}
