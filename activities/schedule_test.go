package activities

import (
	"strings"
	"testing"
)

// The trigger's output keeps its first limit bytes and counts the rest,
// for the note that says how much was cut.
func TestCappedOutput(t *testing.T) {
	c := &cappedOutput{limit: 10}
	for _, w := range []string{"hello ", "world, ", strings.Repeat("x", 3000)} {
		if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if string(c.buf) != "hello worl" || c.total != 3013 {
		t.Errorf("kept %q of %d bytes, want \"hello worl\" of 3013", c.buf, c.total)
	}
	for n, want := range map[int]string{512: "512 bytes", 102400: "100KB", 2411724: "2.3MB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
