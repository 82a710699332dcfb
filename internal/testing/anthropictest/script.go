package anthropictest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// modelTurn is what the scripted model answers to one request: content
// blocks, or an HTTP error.
type modelTurn struct {
	blocks      []outBlock
	failStatus  int
	failType    string
	failMessage string
}

func (t modelTurn) summary() string {
	var parts []string
	for _, b := range t.blocks {
		if b.typ == "tool_use" {
			in, _ := json.Marshal(b.input)
			parts = append(parts, "tool_use "+b.name+": "+bound(string(in), 200))
		} else {
			parts = append(parts, "text: "+bound(b.text, 200))
		}
	}
	return strings.Join(parts, "; ")
}

func (t modelTurn) outputTokens() int {
	n := 0
	for _, b := range t.blocks {
		if b.typ == "tool_use" {
			in, _ := json.Marshal(b.input)
			n += len(in) + len(b.name)
		} else {
			n += len(b.text)
		}
	}
	return estimateTokens(n) + 5
}

func textTurn(s string) modelTurn {
	return modelTurn{blocks: []outBlock{{typ: "text", text: s}}}
}

// script is the directives found in a prompt.
type script struct {
	runs    []string
	replies []string
	todos   []string
	fail    string
	recall  bool
}

func parseScript(text string) script {
	var sc script
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if v, ok := directive(line, "RUN"); ok && v != "" {
			sc.runs = append(sc.runs, v)
		} else if v, ok := directive(line, "REPLY"); ok {
			sc.replies = append(sc.replies, v)
		} else if v, ok := directive(line, "TODO"); ok {
			for item := range strings.SplitSeq(v, ";") {
				if item = strings.TrimSpace(item); item != "" {
					sc.todos = append(sc.todos, item)
				}
			}
		} else if v, ok := directive(line, "FAIL"); ok && v != "" && sc.fail == "" {
			sc.fail = v
		} else if line == "RECALL" || strings.HasPrefix(line, "RECALL:") {
			sc.recall = true
		}
	}
	return sc
}

// directive reports whether line is "NAME: value" and returns the value.
func directive(line, name string) (string, bool) {
	rest, ok := strings.CutPrefix(line, name+":")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

var reminderRE = regexp.MustCompile(`(?s)<system-reminder>.*?</system-reminder>`)

// promptText is a user message's own text: its text blocks without the
// <system-reminder> blocks the CLI adds.
func promptText(m Message) string {
	return strings.TrimSpace(reminderRE.ReplaceAllString(m.Text(), ""))
}

// isPrompt reports whether m is a user prompt: a user message with text of
// its own and no tool results.
func isPrompt(m Message) bool {
	if m.Role != "user" {
		return false
	}
	for _, b := range m.Content {
		if b.Type == "tool_result" {
			return false
		}
	}
	return promptText(m) != ""
}

const maxToolOutput = 2000

// ResumeNotePrefix begins the prompt of an agent run resumed after a crash
// (activities.InterruptedNote; the e2e crash tests fail if they part).
const ResumeNotePrefix = "Your previous run on this task was interrupted"

// scriptTurn answers a main-loop request from the newest prompt's script and
// the tool calls made since that prompt.
func scriptTurn(msgs []Message, tools []string) modelTurn {
	p := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if isPrompt(msgs[i]) {
			p = i
			break
		}
	}
	// A run resumed after a crash gets a note as its prompt; the model
	// carries on with the task it was given before, counting the tool
	// calls it already made for it (those of the interrupted run).
	for p > 0 && strings.HasPrefix(promptText(msgs[p]), ResumeNotePrefix) {
		prev := -1
		for i := p - 1; i >= 0; i-- {
			if isPrompt(msgs[i]) {
				prev = i
				break
			}
		}
		if prev < 0 {
			break
		}
		p = prev
	}
	var sc script
	if p >= 0 {
		sc = parseScript(promptText(msgs[p]))
	}
	if sc.fail != "" {
		return failTurn(sc.fail)
	}

	todoDone, bashCalls, lastOutput := false, 0, ""
	for _, m := range msgs[p+1:] {
		for _, b := range m.Content {
			switch {
			case b.Type == "tool_use" && (b.Name == "TodoWrite" || b.Name == "TaskCreate"):
				todoDone = true
			case b.Type == "tool_use" && b.Name == "Bash":
				bashCalls++
			case b.Type == "tool_result":
				lastOutput = b.ResultText()
			}
		}
	}

	if len(sc.todos) > 0 && !todoDone {
		if t, ok := todoTurn(sc.todos, tools); ok {
			return t
		}
	}
	if bashCalls < len(sc.runs) {
		cmd := sc.runs[bashCalls]
		return modelTurn{blocks: []outBlock{{
			typ: "tool_use", id: "toolu_" + randomID(12), name: "Bash",
			input: map[string]any{"command": cmd, "description": "Run " + bound(cmd, 60)},
		}}}
	}

	var parts []string
	if len(sc.replies) > 0 {
		parts = append(parts, strings.Join(sc.replies, "\n"))
	}
	if sc.recall {
		var earlier []string
		for _, m := range msgs[:max(p, 0)] {
			if isPrompt(m) {
				first, _, _ := strings.Cut(promptText(m), "\n")
				earlier = append(earlier, strings.TrimSpace(first))
			}
		}
		if len(earlier) == 0 {
			parts = append(parts, "I remember: nothing")
		} else {
			parts = append(parts, "I remember: "+strings.Join(earlier, " | "))
		}
	}
	if len(parts) == 0 {
		out := "Done."
		if s := strings.TrimSpace(lastOutput); s != "" {
			out += "\n" + bound(s, maxToolOutput)
		}
		parts = append(parts, out)
	}
	return textTurn(strings.Join(parts, "\n"))
}

// todoTurn makes the plan turn: one TodoWrite call when the request offers
// TodoWrite, else one TaskCreate call per item when it offers TaskCreate
// (Claude Code 2.1 offers TaskCreate unless CLAUDE_CODE_ENABLE_TASKS=0).
func todoTurn(items, tools []string) (modelTurn, bool) {
	offered := func(name string) bool {
		for _, t := range tools {
			if t == name {
				return true
			}
		}
		return false
	}
	switch {
	case offered("TodoWrite"):
		var todos []any
		for _, it := range items {
			todos = append(todos, map[string]any{"content": it, "status": "pending", "activeForm": it})
		}
		return modelTurn{blocks: []outBlock{{
			typ: "tool_use", id: "toolu_" + randomID(12), name: "TodoWrite",
			input: map[string]any{"todos": todos},
		}}}, true
	case offered("TaskCreate"):
		var t modelTurn
		for _, it := range items {
			t.blocks = append(t.blocks, outBlock{
				typ: "tool_use", id: "toolu_" + randomID(12), name: "TaskCreate",
				input: map[string]any{"subject": it, "description": it, "activeForm": it},
			})
		}
		return t, true
	}
	return modelTurn{}, false
}

// failTurn maps a FAIL directive to the real API's error answer.
func failTurn(what string) modelTurn {
	f := func(status int, typ, msg string) modelTurn {
		return modelTurn{failStatus: status, failType: typ, failMessage: msg}
	}
	switch strings.ToLower(what) {
	case "prompt-too-long", "prompt_too_long", "too-long":
		return f(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
	case "overloaded":
		return f(529, "overloaded_error", "Overloaded")
	case "rate-limit", "rate_limit":
		return f(429, "rate_limit_error", "This request would exceed the rate limit for your organization of 10,000 input tokens per minute.")
	}
	code, err := strconv.Atoi(what)
	if err != nil || code < 400 || code > 599 {
		return f(500, "api_error", "Internal server error (anthropictest: unknown FAIL directive "+strconv.Quote(what)+")")
	}
	switch code {
	case 400:
		return f(code, "invalid_request_error", "Invalid request")
	case 401:
		return f(code, "authentication_error", "invalid x-api-key")
	case 402:
		return f(code, "billing_error", "Your credit balance is too low to access the Anthropic API.")
	case 403:
		return f(code, "permission_error", "Your API key does not have permission to use the specified resource.")
	case 404:
		return f(code, "not_found_error", "The requested resource could not be found.")
	case 413:
		return f(code, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
	case 429:
		return f(code, "rate_limit_error", "This request would exceed the rate limit for your organization of 10,000 input tokens per minute.")
	case 500:
		return f(code, "api_error", "Internal server error")
	case 529:
		return f(code, "overloaded_error", "Overloaded")
	}
	return f(code, "api_error", fmt.Sprintf("HTTP %d", code))
}

// sideTurn answers a request without tools: a minimal instance of the
// requested JSON schema, or a short text.
func sideTurn(format *outputFormat) modelTurn {
	if format != nil && format.Type == "json_schema" && format.Schema != nil {
		out, _ := json.Marshal(schemaInstance(format.Schema, 0))
		return textTurn(string(out))
	}
	return textTurn("OK")
}

// schemaInstance makes a small value that satisfies common JSON schemas.
func schemaInstance(s map[string]any, depth int) any {
	if depth > 8 {
		return nil
	}
	if v, ok := s["const"]; ok {
		return v
	}
	if v, ok := s["default"]; ok {
		return v
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			if m, ok := alts[0].(map[string]any); ok {
				return schemaInstance(m, depth+1)
			}
		}
	}
	typ, _ := s["type"].(string)
	if ts, ok := s["type"].([]any); ok && len(ts) > 0 {
		typ, _ = ts[0].(string)
	}
	num := func(k string) int {
		f, _ := s[k].(float64)
		return int(f)
	}
	switch typ {
	case "object", "":
		props, _ := s["properties"].(map[string]any)
		if typ == "" && props == nil {
			return "ok"
		}
		out := map[string]any{}
		req, _ := s["required"].([]any)
		names := make([]string, 0, len(req))
		for _, r := range req {
			if n, ok := r.(string); ok {
				names = append(names, n)
			}
		}
		if len(req) == 0 {
			for n := range props {
				names = append(names, n)
			}
		}
		for _, n := range names {
			if ps, ok := props[n].(map[string]any); ok {
				out[n] = schemaInstance(ps, depth+1)
			} else {
				out[n] = "ok"
			}
		}
		return out
	case "array":
		out := []any{}
		items, _ := s["items"].(map[string]any)
		for range num("minItems") {
			out = append(out, schemaInstance(items, depth+1))
		}
		return out
	case "string":
		return "ok" + strings.Repeat("k", max(0, num("minLength")-2))
	case "integer", "number":
		return num("minimum")
	case "boolean":
		return true
	}
	return nil
}

// bound cuts s to at most n runes, marking a cut with "…".
func bound(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
