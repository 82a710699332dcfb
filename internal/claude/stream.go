package claude

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// sessionIDPattern is what a session ID may look like: Claude Code's are
// UUIDs. The stream is the agent's own output, so a session ID read from
// it is untrusted; it becomes a `--resume` argument of the next run, where
// one beginning with "-" would be taken for another option.
var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidSessionID reports whether id can be resumed.
func ValidSessionID(id string) bool { return sessionIDPattern.MatchString(id) }

// Event is one stream-json line, decoded as far as Airut needs.
type Event struct {
	Type            string          `json:"type"`
	Subtype         string          `json:"subtype"`
	SessionID       string          `json:"session_id"`
	ParentToolUseID string          `json:"parent_tool_use_id"`
	Message         *EventMessage   `json:"message"`
	Result          string          `json:"result"`
	IsError         bool            `json:"is_error"`
	TotalCostUSD    float64         `json:"total_cost_usd"`
	DurationMS      int64           `json:"duration_ms"`
	NumTurns        int             `json:"num_turns"`
	Usage           *Usage          `json:"usage"`
	Raw             json.RawMessage `json:"-"`
}

// EventMessage is the message of an assistant or user event.
type EventMessage struct {
	ID      string         `json:"id"`
	Content []ContentBlock `json:"content"`
	Usage   *Usage         `json:"usage"`
}

// ContentBlock is text, a tool use or a tool result.
type ContentBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	Name  string          `json:"name"`
	ID    string          `json:"id"`
	Input json.RawMessage `json:"input"`
}

// Usage is the token usage of a result event.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// ParseLine decodes one line; ok is false for lines that are not a JSON
// object (they are skipped, as the CLI may print other text).
func ParseLine(line []byte) (Event, bool) {
	var e Event
	t := strings.TrimSpace(string(line))
	if !strings.HasPrefix(t, "{") {
		return e, false
	}
	if err := json.Unmarshal([]byte(t), &e); err != nil || e.Type == "" {
		return e, false
	}
	e.Raw = json.RawMessage(t)
	return e, true
}

// Totals accumulates a run's events into what the reply needs.
//
// The run's result is its final event: the CLI prints one result event as
// the last line before it exits. Anything in the container can print to
// the CLI's stdout (a process the agent left running, writing to
// /proc/1/fd/1, say), so a result event is taken only when it is the last
// event of the stream: a result followed by any other event is not the
// run's result, and of several results only the last can be. The
// session, cost, usage, duration, turns and result text all come from
// that one event; a stream without one has none of them (the session is
// then the init event's).
type Totals struct {
	// SessionID is the final result's session, else the first init
	// event's (an interrupted run stays resumable).
	SessionID   string
	Events      int
	LastTool    string
	WebSearches int
	WebFetches  int

	texts        []string
	sawTooLong   bool
	sawAPIError4 bool
	// initSession is the first init event's session.
	initSession string
	// final is the last event if it is a result event, else nil.
	final *Event
	// spent is each assistant message's usage as last reported.
	spent map[string]Usage
}

// Add takes one stdout line.
func (t *Totals) Add(line []byte) {
	s := string(line)
	if strings.Contains(s, "Prompt is too long") {
		t.sawTooLong = true
	}
	if strings.Contains(s, "API Error: 4") {
		t.sawAPIError4 = true
	}
	e, ok := ParseLine(line)
	if !ok {
		return
	}
	t.Events++
	// Every event ends the reign of the result before it: only a result
	// that nothing follows is the run's.
	t.final = nil
	switch e.Type {
	case "system":
		if e.Subtype == "init" && t.initSession == "" && ValidSessionID(e.SessionID) {
			t.initSession = e.SessionID
		}
	case "assistant":
		if e.Message == nil {
			break
		}
		if e.Message.Usage != nil {
			if t.spent == nil {
				t.spent = map[string]Usage{}
			}
			t.spent[e.Message.ID] = *e.Message.Usage
		}
		for _, b := range e.Message.Content {
			switch b.Type {
			case "text":
				if e.ParentToolUseID == "" && strings.TrimSpace(b.Text) != "" {
					t.texts = append(t.texts, b.Text)
				}
			case "tool_use":
				t.LastTool = b.Name
				switch b.Name {
				case "WebSearch":
					t.WebSearches++
				case "WebFetch":
					t.WebFetches++
				}
			}
		}
	case "result":
		t.final = &e
	}
	t.SessionID = t.initSession
	if t.final != nil && ValidSessionID(t.final.SessionID) {
		t.SessionID = t.final.SessionID
	}
}

// AddStderr takes one stderr line (only outcome markers matter there).
func (t *Totals) AddStderr(line []byte) {
	if strings.Contains(string(line), "API Error: 4") {
		t.sawAPIError4 = true
	}
}

// Outcome classifies a finished run, in the reference's order: timed out,
// exit 0, prompt too long (stdout), API 4xx (stdout or stderr), other.
// Success rests on the CLI's exit code, never on a result event.
func (t *Totals) Outcome(timedOut bool, exitCode int) string {
	switch {
	case timedOut:
		return "timeout"
	case exitCode == 0:
		return "success"
	case t.sawTooLong:
		return "prompt_too_long"
	case t.sawAPIError4:
		return "session_corrupted"
	}
	return "container_failed"
}

// noOutput is the reply when the agent said nothing.
const noOutput = "No output received from Claude."

// Response is the reply text of a successful run: the last assistant text
// (widened to an earlier, much longer text among the last few when the
// last one is a short sign-off), else the final result's text.
func (t *Totals) Response() string {
	if n := len(t.texts); n > 0 {
		start := n - 1
		for i := n - 2; i >= 0 && i >= n-5; i-- {
			if len(t.texts[i]) >= 4*len(t.texts[n-1]) {
				start = i
				break
			}
		}
		return strings.Join(t.texts[start:], "\n\n")
	}
	if t.final != nil && strings.TrimSpace(t.final.Result) != "" {
		return t.final.Result
	}
	return noOutput
}

// ErrorSummary is the last ten lines of the final result's text, or of
// the assistant texts, for a failed run.
func (t *Totals) ErrorSummary() string {
	src := ""
	if t.final != nil {
		src = t.final.Result
	}
	if strings.TrimSpace(src) == "" {
		src = strings.Join(t.texts, "\n")
	}
	lines := strings.Split(strings.TrimSpace(src), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// Final returns cost, usage, duration and turns of the final result; all
// zero when the stream did not end with one.
func (t *Totals) Final() (cost float64, usage Usage, durationMS int64, turns int) {
	if t.final == nil {
		return 0, Usage{}, 0, 0
	}
	if u := t.final.Usage; u != nil {
		usage = *u
	}
	return t.final.TotalCostUSD, usage, t.final.DurationMS, t.final.NumTurns
}

// Spent adds up the token usage of the stream's assistant messages: the
// usage of a run killed before its final result (which has the totals).
// The CLI prints a message once per content block, each with the
// message's usage so far, so the last one of each message counts.
func (t *Totals) Spent() Usage {
	var u Usage
	for _, m := range t.spent {
		u.InputTokens += m.InputTokens
		u.OutputTokens += m.OutputTokens
		u.CacheCreationInputTokens += m.CacheCreationInputTokens
		u.CacheReadInputTokens += m.CacheReadInputTokens
	}
	return u
}

// MaxLineBytes caps one line of an agent's output. The CLI prints each
// stream-json event on one line; the largest real ones carry a tool result,
// such as an image the agent read, base64-encoded (the API takes images of
// a few MB), while text tool output is trimmed by the CLI to far less. 16
// MiB leaves room above those, and is small enough that a worker running
// several agents can afford it for each of their streams, where a line
// without limit (an agent printing without a newline, by mistake or on
// purpose) would exhaust the worker's memory.
const MaxLineBytes = 16 << 20

// ErrLineTooLong is the end of a run whose output had a line longer than
// MaxLineBytes.
var ErrLineTooLong = fmt.Errorf("agent output line exceeded %d MiB; run stopped", MaxLineBytes>>20)

// LineWriter splits a stream into lines as it is written, holding at most
// Max bytes of an unfinished line. A line longer than that stops the
// stream: TooLong is called once, the partial line is dropped and every
// later byte is discarded (not buffered), so memory stays bounded however
// much more the process prints before it is killed. Write never fails, so
// the producer keeps draining until the caller stops it.
type LineWriter struct {
	// Line receives each line without its newline; it may keep the slice.
	Line func([]byte)
	// TooLong is called, once, when a line passes Max; the caller stops
	// the run there (nil: the rest of the stream is just discarded).
	TooLong func()
	// Max is the longest line kept; 0 means MaxLineBytes.
	Max int

	buf      []byte
	overflow bool
}

// Write takes the next chunk of the stream.
func (w *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	limit := w.Max
	if limit <= 0 {
		limit = MaxLineBytes
	}
	for len(p) > 0 && !w.overflow {
		i := bytes.IndexByte(p, '\n')
		part := p
		if i >= 0 {
			part = p[:i]
		}
		if len(w.buf)+len(part) > limit {
			w.overflow = true
			w.buf = nil // release the partial line now, not at the end
			if w.TooLong != nil {
				w.TooLong()
			}
			break
		}
		w.grow(len(part), limit)
		w.buf = append(w.buf, part...)
		if i < 0 {
			break
		}
		// The line is handed over: a fresh buffer starts the next one.
		line := w.buf
		w.buf = nil
		if w.Line != nil {
			w.Line(line)
		}
		p = p[i+1:]
	}
	return n, nil
}

// grow makes room for n more bytes, doubling but never past limit, so a
// line of any length up to limit costs at most twice that in allocations
// and the buffer never holds more than limit.
func (w *LineWriter) grow(n, limit int) {
	need := len(w.buf) + n
	if need <= cap(w.buf) {
		return
	}
	buf := make([]byte, len(w.buf), min(max(2*cap(w.buf), need, 512), limit))
	copy(buf, w.buf)
	w.buf = buf
}

// Flush hands over an unfinished last line (the stream ended without a
// newline). Nothing is handed over after an overflow.
func (w *LineWriter) Flush() {
	if len(w.buf) > 0 && !w.overflow && w.Line != nil {
		w.Line(w.buf)
	}
	w.buf = nil
}

// Overflowed reports whether a line passed the limit.
func (w *LineWriter) Overflowed() bool { return w.overflow }
