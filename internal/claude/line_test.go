package claude_test

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/claude"
)

func TestLineWriterSplitsLines(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		chunks   []string
		want     []string
		overflow bool
	}{
		{"lines in one chunk", 0, []string{"a\nbb\n"}, []string{"a", "bb"}, false},
		{"line across chunks", 0, []string{"ab", "c\nd", "e\n"}, []string{"abc", "de"}, false},
		{"empty line kept", 0, []string{"a\n\nb\n"}, []string{"a", "", "b"}, false},
		{"unfinished last line flushed", 0, []string{"a\nb"}, []string{"a", "b"}, false},
		{"line of exactly max", 4, []string{"ab", "cd\n"}, []string{"abcd"}, false},
		{"line one past max stops", 4, []string{"ok\n", "ab", "cde\n", "later\n"}, []string{"ok"}, true},
		{"unfinished line past max stops", 4, []string{"ok\nabcde"}, []string{"ok"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			calls := 0
			w := &claude.LineWriter{Max: tt.max, Line: func(b []byte) { got = append(got, string(b)) }, TooLong: func() { calls++ }}
			for _, c := range tt.chunks {
				if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", c, n, err, len(c))
				}
			}
			w.Flush()
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
			if w.Overflowed() != tt.overflow || calls != map[bool]int{true: 1}[tt.overflow] {
				t.Errorf("Overflowed() = %v with %d TooLong calls, want %v", w.Overflowed(), calls, tt.overflow)
			}
		})
	}
}

// endless is an agent printing one line without end: it stops only some
// way after it was told to (the container takes a moment to die and its
// last output still drains), or at a hard limit so a broken writer fails
// the test instead of the machine.
type endless struct {
	stopped   bool
	afterStop int // bytes still produced once stopped
	hardLimit int
	total     int
}

func (r *endless) Read(p []byte) (int, error) {
	if r.total >= r.hardLimit || r.stopped && r.afterStop <= 0 {
		return 0, io.EOF
	}
	n := len(p)
	if r.stopped {
		n = min(n, r.afterStop)
		r.afterStop -= n
	}
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.total += n
	return n, nil
}

// TestLineWriterBoundsAnEndlessLine: an agent printing one endless line
// gets its run stopped once the line passes MaxLineBytes, and the writer
// neither keeps the line nor buffers what still arrives after that.
func TestLineWriterBoundsAnEndlessLine(t *testing.T) {
	const limit = claude.MaxLineBytes
	src := &endless{afterStop: 4 * limit, hardLimit: 16 * limit}
	var lines, longest int
	w := &claude.LineWriter{
		Line: func(b []byte) {
			lines++
			longest = max(longest, len(b))
		},
		TooLong: func() { src.stopped = true },
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// A chunk size like the attach stream's frames.
	n, err := io.CopyBuffer(w, src, make([]byte, 32<<10))
	w.Flush()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(w)

	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if !src.stopped || !w.Overflowed() {
		t.Fatalf("after %d MiB of one line the run was not stopped", n>>20)
	}
	// Everything the dying container printed was drained, not refused.
	if want := int64(limit + 1 + 4*limit); n < want-32<<10 || n > want+32<<10 {
		t.Errorf("copied %d bytes, want about %d: the line past the limit plus what came after the stop", n, want)
	}
	if lines != 0 {
		t.Errorf("%d lines handed over (longest %d bytes), want none", lines, longest)
	}
	// The partial line is released at the overflow and nothing after it is
	// kept: what is live now is far below one line.
	if live := int64(after.HeapAlloc) - int64(before.HeapAlloc); live > limit/4 {
		t.Errorf("%d MiB still live after the stream, want the line released", live>>20)
	}
	// Allocation is bounded by buffering one line up to the limit (slice
	// growth included), not by what the agent printed in all.
	if total := after.TotalAlloc - before.TotalAlloc; total > 3*limit {
		t.Errorf("allocated %d MiB for a %d MiB stream, want at most %d MiB", total>>20, n>>20, 3*limit>>20)
	}
	if got := claude.ErrLineTooLong.Error(); got != "agent output line exceeded 16 MiB; run stopped" {
		t.Errorf("ErrLineTooLong = %q", got)
	}
}
