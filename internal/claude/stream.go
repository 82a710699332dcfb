package claude

import (
	"encoding/json"
	"strings"
)

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
	Content []ContentBlock `json:"content"`
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
type Totals struct {
	SessionID    string
	Results      []Event
	Events       int
	LastTool     string
	WebSearches  int
	WebFetches   int
	texts        []string
	sawTooLong   bool
	sawAPIError4 bool
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
	switch e.Type {
	case "system":
		if e.Subtype == "init" && t.SessionID == "" {
			t.SessionID = e.SessionID
		}
	case "assistant":
		if e.Message == nil {
			return
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
		t.Results = append(t.Results, e)
		if e.SessionID != "" {
			t.SessionID = e.SessionID
		}
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

// Response is the reply text of a successful run: the joined result texts
// when there were several results, else the last assistant text (widened
// to an earlier, much longer text among the last few when the last one is
// a short sign-off), else the result text.
func (t *Totals) Response() string {
	if len(t.Results) > 1 {
		var parts []string
		for _, r := range t.Results {
			if strings.TrimSpace(r.Result) != "" {
				parts = append(parts, r.Result)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "\n\n")
		}
	}
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
	if len(t.Results) == 1 && strings.TrimSpace(t.Results[0].Result) != "" {
		return t.Results[0].Result
	}
	return noOutput
}

// ErrorSummary is the last ten lines of the last result text, or of the
// assistant texts, for a failed run.
func (t *Totals) ErrorSummary() string {
	src := ""
	if n := len(t.Results); n > 0 {
		src = t.Results[n-1].Result
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

// Final returns cost, usage, duration and turns: cost and usage of the last
// result, duration and turns summed over all results.
func (t *Totals) Final() (cost float64, usage Usage, durationMS int64, turns int) {
	for _, r := range t.Results {
		durationMS += r.DurationMS
		turns += r.NumTurns
	}
	if n := len(t.Results); n > 0 {
		cost = t.Results[n-1].TotalCostUSD
		if u := t.Results[n-1].Usage; u != nil {
			usage = *u
		}
	}
	return cost, usage, durationMS, turns
}
