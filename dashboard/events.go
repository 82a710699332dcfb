package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on what one event shows.
const (
	maxSummary     = 300
	maxDetail      = 4000
	maxToolNames   = 2000
	maxItemsOnPage = 300
)

// evItem is one thing the agent did, as the activity list shows it. Every
// string in it is untrusted and goes through html/template escaping; HTML
// is the safe Markdown renderer's output.
type evItem struct {
	// Kind: "text", "thinking", "tool", "result", "plan", "init",
	// "final", "system", "sep" (a new run) or "raw" (a line that is not
	// an event).
	Kind string
	Sub  bool // inside a subagent
	Tool string
	// ToolID is a tool call's ID, on the call and on its result: the page
	// script names a result streamed without its call (the call came
	// before the stream's offset) after the call already on the page.
	ToolID  string
	Summary string
	Detail  string
	HTML    template.HTML
	IsError bool
	Todos   []todo
}

type todo struct {
	Content string
	Status  string // pending, in_progress, completed
}

// streamEvent is a stream-json line, decoded as far as the dashboard
// shows it (internal/claude.Event decodes what the worker needs; this
// also reads tool results and the init event's model).
type streamEvent struct {
	Type            string  `json:"type"`
	Subtype         string  `json:"subtype"`
	Model           string  `json:"model"`
	ParentToolUseID string  `json:"parent_tool_use_id"`
	Result          string  `json:"result"`
	IsError         bool    `json:"is_error"`
	TotalCostUSD    float64 `json:"total_cost_usd"`
	DurationMS      int64   `json:"duration_ms"`
	NumTurns        int     `json:"num_turns"`
	Message         *struct {
		Content json.RawMessage `json:"content"`
	} `json:"message"`
}

type contentBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	Name      string          `json:"name"`
	ID        string          `json:"id"`
	ToolUseID string          `json:"tool_use_id"`
	Input     json.RawMessage `json:"input"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// evState is what rendering remembers across chunks of one stream: the
// names of the tool calls, so their results can say which tool they
// answer.
type evState struct {
	tools map[string]string
}

// parseEvents turns events.jsonl bytes (whole lines) into items.
func parseEvents(st *evState, data []byte) []evItem {
	var out []evItem
	for line := range bytes.Lines(data) {
		out = append(out, st.line(bytes.TrimSuffix(line, []byte("\n")))...)
	}
	return out
}

func (st *evState) line(line []byte) []evItem {
	t := bytes.TrimSpace(line)
	if len(t) == 0 {
		return []evItem{{Kind: "sep", Summary: "new run"}}
	}
	var e streamEvent
	if t[0] != '{' || json.Unmarshal(t, &e) != nil || e.Type == "" {
		return []evItem{{Kind: "raw", Detail: clip(string(t), maxDetail)}}
	}
	sub := e.ParentToolUseID != ""
	switch e.Type {
	case "system":
		if e.Subtype == "init" {
			s := "session started"
			if e.Model != "" {
				s += " · model " + e.Model
			}
			return []evItem{{Kind: "init", Summary: s, Sub: sub}}
		}
		return nil
	case "assistant":
		return st.assistant(e, sub)
	case "user":
		return st.user(e, sub)
	case "result":
		parts := []string{"run finished"}
		if e.Subtype != "" && e.Subtype != "success" {
			parts[0] = "run ended: " + e.Subtype
		}
		if e.TotalCostUSD > 0 {
			parts = append(parts, fmt.Sprintf("$%.4f", e.TotalCostUSD))
		}
		if e.NumTurns > 0 {
			parts = append(parts, fmt.Sprintf("%d turns", e.NumTurns))
		}
		if e.DurationMS > 0 {
			parts = append(parts, fmtMS(e.DurationMS))
		}
		it := evItem{Kind: "final", Summary: strings.Join(parts, " · "), IsError: e.IsError}
		if e.IsError {
			it.Detail = clip(e.Result, maxDetail)
		}
		return []evItem{it}
	}
	return nil
}

func blocks(raw json.RawMessage) []contentBlock {
	var bs []contentBlock
	if json.Unmarshal(raw, &bs) == nil {
		return bs
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []contentBlock{{Type: "text", Text: s}}
	}
	return nil
}

func (st *evState) assistant(e streamEvent, sub bool) []evItem {
	if e.Message == nil {
		return nil
	}
	var out []evItem
	for _, b := range blocks(e.Message.Content) {
		switch b.Type {
		case "text":
			if strings.TrimSpace(b.Text) != "" {
				out = append(out, evItem{Kind: "text", Sub: sub, HTML: renderMarkdown(clip(b.Text, 64<<10))})
			}
		case "thinking":
			if strings.TrimSpace(b.Thinking) != "" {
				out = append(out, evItem{Kind: "thinking", Sub: sub, Detail: clip(b.Thinking, maxDetail)})
			}
		case "tool_use":
			st.remember(b.ID, b.Name)
			out = append(out, toolItem(b, sub))
		}
	}
	return out
}

func (st *evState) user(e streamEvent, sub bool) []evItem {
	if e.Message == nil {
		return nil
	}
	var out []evItem
	for _, b := range blocks(e.Message.Content) {
		if b.Type != "tool_result" {
			continue
		}
		text := resultText(b.Content)
		out = append(out, evItem{
			Kind: "result", Sub: sub, Tool: st.tools[b.ToolUseID], ToolID: b.ToolUseID, IsError: b.IsError,
			Summary: clip(firstLine(text), maxSummary), Detail: clip(text, maxDetail),
		})
	}
	return out
}

func (st *evState) remember(id, name string) {
	if id == "" {
		return
	}
	if st.tools == nil || len(st.tools) >= maxToolNames {
		st.tools = map[string]string{}
	}
	st.tools[id] = name
}

// toolItem shows a tool call by what matters for its tool.
func toolItem(b contentBlock, sub bool) evItem {
	it := evItem{Kind: "tool", Sub: sub, Tool: b.Name, ToolID: b.ID}
	var in map[string]any
	_ = json.Unmarshal(b.Input, &in)
	str := func(k string) string {
		s, _ := in[k].(string)
		return s
	}
	switch b.Name {
	case "TodoWrite":
		it.Kind = "plan"
		it.Todos = todos(b.Input)
		return it
	case "Bash":
		it.Summary = str("command")
		if d := str("description"); d != "" {
			it.Detail = d
		}
	case "Read", "Write", "Edit", "MultiEdit", "NotebookEdit":
		it.Summary = str("file_path") + str("notebook_path")
	case "Glob", "Grep":
		it.Summary = strings.TrimSpace(str("pattern") + " " + str("path"))
	case "WebFetch":
		it.Summary = str("url")
	case "WebSearch":
		it.Summary = str("query")
	case "Task", "Agent":
		it.Summary = strings.TrimSpace(str("description") + " " + str("subagent_type"))
	case "TaskCreate":
		it.Summary = str("subject")
	}
	if it.Summary == "" {
		it.Summary = compactJSON(b.Input)
	}
	if it.Detail == "" && len(b.Input) > 0 && b.Name != "Bash" {
		it.Detail = indentJSON(b.Input)
	}
	it.Summary = clip(oneLine(it.Summary), maxSummary)
	it.Detail = clip(it.Detail, maxDetail)
	return it
}

// todos reads TodoWrite's input: {"todos":[{"content","status"}]}.
func todos(raw json.RawMessage) []todo {
	var in struct {
		Todos []todo `json:"todos"`
	}
	if json.Unmarshal(raw, &in) != nil {
		return nil
	}
	out := in.Todos[:0]
	for _, t := range in.Todos {
		t.Content = clip(t.Content, maxSummary)
		switch t.Status {
		case "pending", "in_progress", "completed":
		default:
			t.Status = "pending"
		}
		out = append(out, t)
	}
	return out
}

// UnmarshalJSON reads a todo whatever else it carries.
func (t *todo) UnmarshalJSON(b []byte) error {
	var v struct {
		Content string `json:"content"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	t.Content, t.Status = v.Content, v.Status
	return nil
}

// resultText is a tool result's content: a string, or blocks of text and
// images.
func resultText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var bs []contentBlock
	if json.Unmarshal(raw, &bs) != nil {
		return ""
	}
	var parts []string
	for _, b := range bs {
		switch b.Type {
		case "text":
			parts = append(parts, b.Text)
		case "image":
			parts = append(parts, "[image]")
		default:
			parts = append(parts, "["+b.Type+"]")
		}
	}
	return strings.Join(parts, "\n")
}

// lastPlan is the newest TodoWrite plan among items (nil: none).
func lastPlan(items []evItem) []todo {
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].Kind == "plan" && !items[i].Sub {
			return items[i].Todos
		}
	}
	return nil
}

// lastRun cuts events.jsonl bytes to the last run: runs are separated by a
// blank line. It returns the cut and where it starts in data.
func lastRun(data []byte) ([]byte, int) {
	i := bytes.LastIndex(data, []byte("\n\n"))
	if i < 0 {
		if bytes.HasPrefix(data, []byte("\n")) {
			return data[1:], 1
		}
		return data, 0
	}
	return data[i+2:], i + 2
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d more bytes)", len(s)-cut)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

func indentJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

// fmtMS shows milliseconds as a duration ("1m23s").
func fmtMS(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return d.String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
