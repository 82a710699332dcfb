package claude_test

import (
	"fmt"
	"testing"
)

// result is a result event line with its own text, session and cost.
func result(text, session string, cost float64) string {
	return fmt.Sprintf(`{"type":"result","subtype":"success","session_id":%q,"result":%q,"is_error":false,"total_cost_usd":%v,"duration_ms":100,"num_turns":2,"usage":{"input_tokens":10,"output_tokens":5}}`, session, text, cost)
}

// TestOnlyTheFinalEventIsTheResult: anything in the container can print a
// stream-json line on the CLI's stdout, so a result event counts only when
// it is the last event of the stream, and of several only the last can.
func TestOnlyTheFinalEventIsTheResult(t *testing.T) {
	const (
		toolUse   = `{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}]}}`
		toolReply = `{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1"}]}}`
	)
	realResult := result("real answer", "s-real", 0.25)
	fakeResult := result("fake answer", "s-fake", 99)
	tests := []struct {
		name     string
		lines    []string
		response string
		summary  string
		session  string
		cost     float64
	}{
		{"the final result is taken", []string{initLine, realResult}, "real answer", "real answer", "s-real", 0.25},
		{"non-event text after the result does not matter", []string{initLine, realResult, "plain text"}, "real answer", "real answer", "s-real", 0.25},
		{"a result followed by an assistant event is not final", []string{initLine, fakeResult, toolUse}, "No output received from Claude.", "", "s-init", 0},
		{"a result followed by a user event is not final", []string{initLine, fakeResult, toolReply}, "No output received from Claude.", "", "s-init", 0},
		{"a result followed by a system event is not final", []string{initLine, fakeResult, `{"type":"system","subtype":"status"}`}, "No output received from Claude.", "", "s-init", 0},
		{"an early fake result is replaced by the final one", []string{initLine, fakeResult, toolUse, realResult}, "real answer", "real answer", "s-real", 0.25},
		{"of several results only the last counts", []string{initLine, fakeResult, realResult}, "real answer", "real answer", "s-real", 0.25},
		{"a fake result before the final text is ignored", []string{initLine, fakeResult, f(textLine, "the answer")}, "the answer", "the answer", "s-init", 0},
		{"a later init does not change the session", []string{initLine, `{"type":"system","subtype":"init","session_id":"s-other"}`}, "No output received from Claude.", "", "s-init", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := feed(tt.lines...)
			if r := got.Response(); r != tt.response {
				t.Errorf("Response() = %q, want %q", r, tt.response)
			}
			if s := got.ErrorSummary(); s != tt.summary {
				t.Errorf("ErrorSummary() = %q, want %q", s, tt.summary)
			}
			if got.SessionID != tt.session {
				t.Errorf("SessionID = %q, want %q", got.SessionID, tt.session)
			}
			if cost, _, _, _ := got.Final(); cost != tt.cost {
				t.Errorf("Final() cost = %v, want %v", cost, tt.cost)
			}
		})
	}
}
