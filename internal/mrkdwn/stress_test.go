package mrkdwn

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRandomDocuments holds Render and Split to their invariants on
// deterministic pseudo-random documents built from Markdown and mrkdwn
// fragments, complementing the fuzz corpora.
func TestRandomDocuments(t *testing.T) {
	frags := []string{"\n", "\n\n", "`", "```", ">", "> ", " ", "a", "bb ", "&amp;", "<", "<https://x.io|y>",
		"- ", "1. ", "|", "---", "*", "_", "~", "日", "    ", "\t", "#", "[x](https://y)", "<!here>", "\\"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 60 {
		var b strings.Builder
		for b.Len() < 4000 {
			b.WriteString(frags[r.IntN(len(frags))])
		}
		md, max := b.String(), r.IntN(600)
		if err := checkSplit(md, max, Split(md, max)); err != nil {
			t.Fatalf("Split(%q, %d): %v", md, max, err)
		}
		out := Render(md)
		if err := checkRendered(out); err != nil {
			t.Fatalf("Render(%q) = %q: %v", md, out, err)
		}
		if err := checkSplit(out, max, Split(out, max)); err != nil {
			t.Fatalf("Split(Render(%q), %d): %v", md, max, err)
		}
	}
}
