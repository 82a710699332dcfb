package visibility

import "testing"

// Filter values are quoted, so none can change the query's shape.
func TestQuery(t *testing.T) {
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "WorkflowType = 'ConversationWorkflow'"},
		{"open of a repo", Filter{Open: true, Repo: "demo"},
			"WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Running' AND AirutRepo = 'demo'"},
		{"busy by a sender on slack", Filter{Status: "busy", Sender: "bob@example.com", Channel: "slack"},
			"WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Running' AND AirutStatus = 'busy' AND AirutChannel = 'slack' AND AirutSender = 'bob@example.com'"},
		{"closed", Filter{Status: Closed}, "WorkflowType = 'ConversationWorkflow' AND ExecutionStatus != 'Running'"},
		{"a quote cannot end the literal", Filter{Sender: `x' OR AirutRepo != '`},
			`WorkflowType = 'ConversationWorkflow' AND AirutSender = 'x\' OR AirutRepo != \''`},
		{"nor a backslash before it", Filter{Repo: `a\' OR 1=1`},
			`WorkflowType = 'ConversationWorkflow' AND AirutRepo = 'a\\\' OR 1=1'`},
	}
	for _, tt := range tests {
		if got := Query(tt.f); got != tt.want {
			t.Errorf("%s: Query = %s\nwant          %s", tt.name, got, tt.want)
		}
	}
}
