package workflows

import (
	"strings"
	"testing"
)

func TestFooter(t *testing.T) {
	tests := []struct {
		name string
		r    AgentResult
		want string
	}{
		{"nothing to say", AgentResult{}, ""},
		{"cost", AgentResult{CostUSD: 0.25}, "Cost: $0.2500"},
		{"subscription hides cost", AgentResult{CostUSD: 0.25, Subscription: true, WebSearches: 2}, "Web searches: 2"},
		{"blocked requests named", AgentResult{CostUSD: 0.1, NetworkBlocked: 4, BlockedExamples: []string{"GET a.test/x", "POST b.test/y"}},
			"Cost: $0.1000 · Network sandbox blocked 4 request(s): GET a.test/x, POST b.test/y (allow them in .airut/network-allowlist.yaml)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Footer(tc.r); got != tc.want {
				t.Errorf("Footer = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPromptNamesTheContainerPaths(t *testing.T) {
	text := ComposePrompt(ChannelEmail, []Message{{Sender: "a", Body: "hi"}}, "", []string{"f.txt"}, "")
	for _, p := range []string{ContainerWorkspace, ContainerInbox, ContainerOutbox, ContainerStorage} {
		if !strings.Contains(text, p+" ") && !strings.Contains(text, p+"/") && !strings.Contains(text, p+",") {
			t.Errorf("the prompt does not name %s, where the agent finds it:\n%s", p, text)
		}
	}
}
