package mrkdwn

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"# Title **bold**\n\nHello *it* ~~gone~~ `a<b&c>` snake_case_name 2*3*4 foo**bar**baz\nnext\\\nhard",
	"- one\n- two\n  - nested *x*\n    1. deep\n- [ ] todo\n- [x] done\n\n3. a\n4. b",
	"> quote\n>\n> - item\n>> deeper\n\n---\n\n```go\nfmt.Println(\"<hi>\")\n```\n\n    indented",
	"[t](https://x.io/?a=1&b=2) <https://a.b> www.x.io a@b.io [js](javascript:x) ![i](http://x/p.png) [r](./f)",
	"<!channel> <!here> <@U123> <#C1|g> <b>x</b> &amp; &copy; &#x3c; \\< &bogus;",
	"| Name | Qty |\n|:-----|----:|\n| apple | `a\\|b` |\n| 日本語 🙂 | **x** |",
	"***a*** **a *b* c** **a **b** c** *a\nb*",
	"text ``` mid `x` ``` `` a`b ``\n````\n```\n````",
	"<div>\n<!-- c -->\n</div>\n\n<span>&</span>",
	"- a\n\n  ```\n  code <x>\n  ```\n\n  > q",
	"a\r\nb\x00c\xff",
	"[a](javascript:x) [b](&#106;avascript:x) [c](HTTP://X) [d](mailto:) <http://a|b> <x@y.z>",
	"- [ ] t\n- [x] u\n\n***\n~~s~~ \\| &amp; &#0; &#x110000; &#99999999;",
	"[![i](http://a)](http://b) [x www.y.z](http://c) [`a`**b**](https://d)",
	"|a|\n|-|\n|`\\|`|\n|\\`|`|\n| <!here> |",
	"1. a\n   > b\n   > ```\n   > c\n   > ```\n\n   | x |\n   |---|\n   | y |",
	"# *\n\n**\n\n_ _ * * ~~ ~~\n\n`` ` ``\n\n<!---->",
}

func FuzzRender(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		out := Render(md)
		if err := checkRendered(out); err != nil {
			t.Fatalf("Render(%q) = %q: %v", md, out, err)
		}
	})
}

func FuzzSplit(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, 1+i*7)
		f.Add(Render(s), 40+i)
	}
	f.Add(strings.Repeat("x", 500), 7)
	f.Add("```\n"+strings.Repeat("line\n", 50)+"```", 30)
	f.Fuzz(func(t *testing.T, text string, max int) {
		max %= 1000
		if len(text) > 1<<14 {
			return
		}
		chunks := Split(text, max)
		if err := checkSplit(text, max, chunks); err != nil {
			t.Fatalf("Split(%q, %d) = %q: %v", text, max, chunks, err)
		}

		// Rendered text is split with balanced fences in every chunk
		// whenever max can hold them.
		out := Render(text)
		chunks = Split(out, max)
		if err := checkSplit(out, max, chunks); err != nil {
			t.Fatalf("Split(Render(%q), %d) = %q: %v", text, max, chunks, err)
		}
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, fence) && 4*(len([]rune(line))+1) > max {
				return
			}
		}
		for i, c := range chunks {
			if n := strings.Count(c, fence); n%2 != 0 {
				t.Fatalf("Split(Render(%q), %d): chunk %d has %d fences: %q", text, max, i, n, c)
			}
		}
	})
}
