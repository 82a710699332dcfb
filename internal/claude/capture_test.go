package claude

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// What a run printed reaches the event log line by line, the totals and
// progress see stdout, and only the end of stderr is kept.
func TestCapture(t *testing.T) {
	var events bytes.Buffer
	var observed []string
	tooLong := 0
	c := NewCapture(&events, func(line []byte) { observed = append(observed, string(line)) }, func() { tooLong++ })
	fmt.Fprint(c.Stdout, `{"type":"system","subtype":"init","session_id":"s1"}`+"\n")
	fmt.Fprint(c.Stdout, `{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash"}]}}`+"\n")
	for i := range 25 {
		fmt.Fprintf(c.Stderr, "warning %d\n", i)
	}
	fmt.Fprint(c.Stdout, `{"type":"result","session_id":"s1","result":"done"}`) // no newline: the stream ended
	if n, tool := c.Progress(); n != 2 || tool != "Bash" {
		t.Errorf("Progress before flush = %d, %q; want 2, Bash", n, tool)
	}
	c.Flush()

	if got := strings.Count(events.String(), "\n"); got != 3 {
		t.Errorf("event log has %d lines, want 3:\n%s", got, events.String())
	}
	if len(observed) != 3 {
		t.Errorf("observer saw %d lines, want 3", len(observed))
	}
	totals, tail := c.Result()
	if totals.SessionID != "s1" || totals.Events != 3 {
		t.Errorf("totals = session %q, %d events; want s1, 3", totals.SessionID, totals.Events)
	}
	lines := strings.Split(tail, "\n")
	if len(lines) != stderrTailLines || lines[0] != "warning 5" || lines[len(lines)-1] != "warning 24" {
		t.Errorf("stderr tail = %q, want warnings 5 to 24", lines)
	}
	if tooLong != 0 {
		t.Errorf("tooLong called %d times for short lines", tooLong)
	}
}

// A line over the limit on either stream asks the caller to stop the run,
// and nothing of it reaches the event log.
func TestCaptureLineTooLong(t *testing.T) {
	var events bytes.Buffer
	tooLong := 0
	c := NewCapture(&events, nil, func() { tooLong++ })
	c.Stdout.Max, c.Stderr.Max = 16, 16
	fmt.Fprint(c.Stdout, "short\n"+strings.Repeat("x", 40)+"\nafter\n")
	fmt.Fprint(c.Stderr, strings.Repeat("y", 40))
	c.Flush()
	if tooLong != 2 {
		t.Errorf("tooLong called %d times, want once per stream", tooLong)
	}
	if events.String() != "short\n" {
		t.Errorf("event log = %q, want only the line before the long one", events.String())
	}
}
