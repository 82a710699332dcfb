package claude

import (
	"io"
	"strings"
	"sync"
)

// stderrTailLines is how much of a run's stderr is kept for the error
// summary of a run that printed no better explanation.
const stderrTailLines = 20

// Capture takes one run's stdout and stderr as they are written. Every
// stdout line goes to the event log and the totals; stderr lines go to
// the totals (outcome markers) and a short tail. It is safe for the two
// streams' concurrent writes and a progress reporter's reads.
type Capture struct {
	// Stdout and Stderr are the run's output streams.
	Stdout, Stderr *LineWriter

	mu     sync.Mutex
	totals Totals
	tail   []string
}

// NewCapture writes each stdout line, with its newline, to events and
// shows it to observe (nil: nobody). A line longer than MaxLineBytes on
// either stream calls tooLong, once per stream; the caller stops the run.
func NewCapture(events io.Writer, observe func(line []byte), tooLong func()) *Capture {
	c := &Capture{}
	c.Stdout = &LineWriter{TooLong: tooLong, Line: func(line []byte) {
		// The event log is the run's transcript; a failed write loses a
		// line of it but must not stop the run.
		events.Write(append(line, '\n'))
		if observe != nil {
			observe(line)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.totals.Add(line)
	}}
	c.Stderr = &LineWriter{TooLong: tooLong, Line: func(line []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.totals.AddStderr(line)
		c.tail = append(c.tail, string(line))
		if len(c.tail) > stderrTailLines {
			c.tail = c.tail[1:]
		}
	}}
	return c
}

// Progress is how far the run has got: events read and the last tool used.
func (c *Capture) Progress() (events int, lastTool string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totals.Events, c.totals.LastTool
}

// Flush hands over the streams' unfinished last lines, once the run has
// ended.
func (c *Capture) Flush() {
	c.Stdout.Flush()
	c.Stderr.Flush()
}

// Result is what the run printed: the totals of its stdout and the end
// of its stderr.
func (c *Capture) Result() (Totals, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totals, strings.TrimSpace(strings.Join(c.tail, "\n"))
}
