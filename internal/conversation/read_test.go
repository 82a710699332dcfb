package conversation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if c, err := ReadChunk(path, 0, 100); err != nil || !c.Gone {
		t.Fatalf("missing file: %+v, %v; want Gone", c, err)
	}
	os.WriteFile(path, []byte("one\ntwo\nthr"), 0o644)
	tests := []struct {
		name     string
		offset   int64
		max      int
		data     string
		next     int64
		fromZero bool
	}{
		{"whole lines only", 0, 100, "one\ntwo\n", 8, false},
		{"bounded", 0, 6, "one\n", 4, false},
		{"from an offset", 4, 100, "two\n", 8, false},
		{"an unfinished line waits", 8, 100, "", 8, false},
		{"a line longer than max still moves on", 0, 2, "on", 2, false},
		{"past the end starts over", 50, 100, "one\ntwo\n", 8, true},
	}
	for _, tt := range tests {
		c, err := ReadChunk(path, tt.offset, tt.max)
		if err != nil || string(c.Data) != tt.data || c.Next != tt.next || c.Size != 11 || c.Gone {
			t.Errorf("%s: %+v (%q), %v; want %q next %d", tt.name, c, c.Data, err, tt.data, tt.next)
		}
	}
	l := Layout{Root: "/r"}
	if p, ok := l.LogFile("network"); !ok || p != "/r/network.log" {
		t.Errorf("LogFile(network) = %s, %v", p, ok)
	}
	if _, ok := l.LogFile("../../etc/passwd"); ok {
		t.Error("LogFile took a path")
	}
}

// A waiting reader gets a line written while it waits.
func TestWaitChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(path, nil, 0o644)
	go func() {
		time.Sleep(200 * time.Millisecond)
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("late\n")
		f.Close()
	}()
	began := time.Now()
	c, err := WaitChunk(context.Background(), path, 0, 100, 5*time.Second)
	if err != nil || strings.TrimSpace(string(c.Data)) != "late" || time.Since(began) > 2*time.Second {
		t.Errorf("WaitChunk = %q after %v, %v; want the late line at once", c.Data, time.Since(began), err)
	}
}
