package mrkdwn

import (
	"strings"
	"sync"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Empty input.
		{"empty", "", ""},
		{"blank", " \n\t\n ", ""},

		// Emphasis.
		{"bold stars", "**b**", "*b*"},
		{"bold underscores", "__b__", "*b*"},
		{"italic star", "*i*", "_i_"},
		{"italic underscore", "_i_", "_i_"},
		{"strike double", "~~s~~", "~s~"},
		{"strike single", "~s~", "~s~"},
		{"bold italic", "***x***", "_*x*_"},
		{"italic in bold", "**a *b* c**", "*a _b_ c*"},
		{"bold in italic", "*a **b** c*", "_a *b* c_"},
		{"bold in bold drops inner markers", "**a __b__ c**", "*a b c*"},
		{"strike in bold", "**a ~~b~~**", "*a ~b~*"},
		{"emphasis per line", "**one\ntwo**", "*one*\n*two*"},
		{"emphasis keeps whitespace outside", "**a** **&#32;b**", "*a*  *b*"},
		{"snake case stays literal", "call snake_case_name now", "call snake_case_name now"},
		{"underscores in identifiers", "__init__ and _x_y_", "*init* and _x_y_"},
		{"intraword single star keeps literal", "2*3*4", "2*3*4"},
		{"intraword bold drops markers", "foo**bar**baz", "foobarbaz"},
		{"one-sided intraword drops markers", "**foo**bar", "foobar"},
		{"emphasis before punctuation", "**Note**: read", "*Note*: read"},
		{"literal stars", "a * b * c", "a * b * c"},

		// Inline code.
		{"code", "use `go test`", "use `go test`"},
		{"code escapes only amp lt gt", "`a<b && c>d \"q\" 'x' *y* _z_`", "`a&lt;b &amp;&amp; c&gt;d \"q\" 'x' *y* _z_`"},
		{"code not decoded", "`&amp; \\*`", "`&amp;amp; \\*`"},
		{"code with backtick", "`` a`b ``", "`aˋb`"},
		{"code in bold", "**`x`**", "*`x`*"},
		{"code line break is space", "`a\nb`", "`a b`"},

		// Code blocks.
		{"fenced drops language", "```go\nfmt.Println(\"<hi>\" + a && b)\n```", "```\nfmt.Println(\"&lt;hi&gt;\" + a &amp;&amp; b)\n```"},
		{"fenced tilde", "~~~\nx\n~~~", "```\nx\n```"},
		{"indented", "para\n\n    code <x>\n    more", "para\n\n```\ncode &lt;x&gt;\nmore\n```"},
		{"fence inside code is broken", "````\n```\ninner\n```\n````", "```\n``\u200b`\ninner\n``\u200b`\n```"},
		{"code keeps markdown", "```\n**not bold** [x](y)\n```", "```\n**not bold** [x](y)\n```"},
		{"unclosed fence", "```\nopen", "```\nopen\n```"},
		{"empty code block", "```\n```", ""},
		{"backtick run in text", "a \\`\\`\\` b", "a ``\u200b` b"},

		// Headings and paragraphs.
		{"heading", "# Title", "*Title*"},
		{"heading levels", "## Two\n\n###### Six", "*Two*\n\n*Six*"},
		{"setext heading", "Title\n=====", "*Title*"},
		{"heading with bold", "# A **b** _c_", "*A b _c_*"},
		{"heading then paragraph", "# H\ntext", "*H*\n\ntext"},
		{"empty heading", "#\n\ntext", "text"},
		{"paragraphs", "one\n\n\n\ntwo", "one\n\ntwo"},
		{"soft break", "one\ntwo", "one\ntwo"},
		{"hard breaks", "one  \ntwo\\\nthree", "one\ntwo\nthree"},

		// Links.
		{"link", "[text](https://example.com)", "<https://example.com|text>"},
		{"link text equals url", "[https://example.com](https://example.com)", "<https://example.com>"},
		{"link empty text", "[](https://example.com)", "<https://example.com>"},
		{"link query ampersand", "[q](https://x.io/?a=1&b=2)", "<https://x.io/?a=1&amp;b=2|q>"},
		{"link special chars in url", "[q](<https://x.io/a b|c`d\\>e>)", "<https://x.io/a%20b%7Cc%60d%3Ee|q>"},
		{"link decoded gt in url", "[q](https://x.io/a&gt;b&lt;c)", "<https://x.io/a%3Eb%3Cc|q>"},
		{"link entity in url", "[q](https://x.io/?a=1&amp;b=2)", "<https://x.io/?a=1&amp;b=2|q>"},
		{"link parens in url", "[w](https://en.wikipedia.org/wiki/Go_(language))", "<https://en.wikipedia.org/wiki/Go_(language)|w>"},
		{"link special chars in text", "[a <b> & c|d](https://x.io)", "<https://x.io|a &lt;b&gt; &amp; c|d>"},
		{"link formatted text is plain", "[**b** `c`](https://x.io)", "<https://x.io|b c>"},
		{"bold link", "**[t](https://x.io)**", "*<https://x.io|t>*"},
		{"link scheme lowercased", "[t](HTTPS://X.io)", "<https://X.io|t>"},
		{"mailto link", "[mail me](mailto:a@b.io)", "<mailto:a@b.io|mail me>"},
		{"reference link", "[t][r]\n\n[r]: https://x.io", "<https://x.io|t>"},
		{"autolink", "<https://example.com/a?b=1>", "<https://example.com/a?b=1>"},
		{"autolink email", "<a@b.io>", "<mailto:a@b.io|a@b.io>"},
		{"bare url", "see https://x.io/p, ok", "see <https://x.io/p>, ok"},
		{"bare www", "www.x.io", "<http://www.x.io|www.x.io>"},
		{"bare email", "mail a@b.io", "mail <mailto:a@b.io|a@b.io>"},
		{"javascript link is text", "[click](javascript:alert(1))", "click (javascript:alert(1))"},
		{"relative link is text", "[main.go](./cmd/main.go)", "main.go (./cmd/main.go)"},
		{"ftp autolink is text", "<ftp://x.io/f>", "ftp://x.io/f"},
		{"slack token in url is text", "<slack://open>", "slack://open"},
		{"image", "![a diagram](https://x.io/d.png)", "<https://x.io/d.png|a diagram>"},
		{"image no alt", "![](https://x.io/d.png)", "<https://x.io/d.png>"},
		{"data image is alt text", "![pic](data:image/png;base64,AAAA)", "pic"},

		// Lists.
		{"bullets", "- a\n- b\n* c", "• a\n• b\n\n• c"},
		{"nested bullets", "- a\n  - b\n    - c\n- d", "• a\n    ◦ b\n        ◦ c\n• d"},
		{"ordered", "1. a\n2. b", "1. a\n2. b"},
		{"ordered start", "3. a\n1. b", "3. a\n4. b"},
		{"ordered nested in bullet", "- a\n  1. x\n  2. y", "• a\n    1. x\n    2. y"},
		{"bullet nested in ordered", "1. a\n   - x", "1. a\n    ◦ x"},
		{"tasks", "- [ ] todo\n- [x] done", "• ☐ todo\n• ☑ done"},
		{"ordered task", "1. [x] done", "1. ☑ done"},
		{"loose list", "- a\n\n- b", "• a\n\n• b"},
		{"item with paragraphs", "- a\n\n  more\n- b", "• a\n\n    more\n\n• b"},
		{"item with code", "- a\n\n  ```\n  x\n  ```", "• a\n\n    ```\n    x\n    ```"},
		{"item formatting", "- **b** `c`", "• *b* `c`"},
		{"empty item", "-\n- b", "•\n• b"},
		{"item continuation", "- one\n  two", "• one\n    two"},

		// Tables.
		{"table", "| a | b |\n|---|---|\n| 1 | 2 |", "```\n| a   | b   |\n|-----|-----|\n| 1   | 2   |\n```"},
		{"table alignment", "| Name | Qty | Mid |\n|:--|--:|:-:|\n| apple | 3 | x |",
			"```\n| Name  | Qty | Mid |\n|-------|-----|-----|\n| apple |   3 |  x  |\n```"},
		{"table unicode widths", "| k | v |\n|---|---|\n| 日本語 | 1 |\n| é | 2 |\n| 🙂 | 3 |\n| e\u0301 | 4 |",
			"```\n| k      | v   |\n|--------|-----|\n| 日本語 | 1   |\n| é      | 2   |\n| 🙂     | 3   |\n| e\u0301      | 4   |\n```"},
		{"table pipes in code", "| cmd | note |\n|---|---|\n| `a \\| b` | pipe |", "```\n| cmd   | note |\n|-------|------|\n| a | b | pipe |\n```"},
		{"table formatting is plain", "| h |\n|---|\n| **b** _i_ ~~s~~ [l](https://x.io) `c` |", "```\n| h         |\n|-----------|\n| b i s l c |\n```"},
		{"table escapes", "| h |\n|---|\n| <@U1> & x |", "```\n| h         |\n|-----------|\n| &lt;@U1&gt; &amp; x |\n```"},
		{"table missing cells", "| a | b |\n|---|---|\n| 1 |", "```\n| a   | b   |\n|-----|-----|\n| 1   |     |\n```"},
		{"table header only", "| a |\n|---|", "```\n| a   |\n|-----|\n```"},

		// Rules and quotes.
		{"rule", "a\n\n---\n\nb", "a\n\n———\n\nb"},
		{"rule stars", "***", "———"},
		{"quote", "> a\n> b", "> a\n> b"},
		{"quote paragraphs", "> a\n>\n> b", "> a\n>\n> b"},
		{"quote with list", "> - a\n> - b", "> • a\n> • b"},
		{"nested quote", "> a\n>> b", "> a\n>\n> > b"},
		{"quote with code", "> ```\n> x\n> ```", "> ```\n> x\n> ```"},
		{"quote formatting", "> **b**", "> *b*"},

		// Raw HTML and escaping.
		{"inline html", "a <b>bold</b> c", "a &lt;b&gt;bold&lt;/b&gt; c"},
		{"html block", "<div>\nx\n</div>", "&lt;div&gt;\nx\n&lt;/div&gt;"},
		{"html comment", "<!-- hidden -->", "&lt;!-- hidden --&gt;"},
		{"specials escaped", "a & b < c > d", "a &amp; b &lt; c &gt; d"},
		{"entities decoded then escaped", "&amp; &lt; &gt; &copy; &#35; &#x41; &quot; &nbsp;x", "&amp; &lt; &gt; © # A \" \u00a0x"},
		{"bad entities literal", "&bogus; &#xZZ; & ;", "&amp;bogus; &amp;#xZZ; &amp; ;"},
		{"no other entities", "\"quotes\" 'apos'", "\"quotes\" 'apos'"},
		{"backslash escapes", "\\*not\\* \\_em\\_ \\<x\\> \\\\", "*not* _em_ &lt;x&gt; \\"},
		{"already escaped text stays text", "&amp;lt;", "&amp;lt;"},

		// Slack control sequences the agent writes literally.
		{"broadcast channel", "<!channel> deploy", "&lt;!channel&gt; deploy"},
		{"broadcast here", "ping <!here>", "ping &lt;!here&gt;"},
		{"broadcast everyone", "<!everyone>", "&lt;!everyone&gt;"},
		{"user mention", "thanks <@U123ABC>", "thanks &lt;@U123ABC&gt;"},
		{"channel mention", "<#C123|general>", "&lt;#C123|general&gt;"},
		{"subteam mention", "<!subteam^S123|team>", "&lt;!subteam^S123|team&gt;"},
		{"fake link token", "<https://x.io|evil>", "<https://x.io%7Cevil>"},
		{"mention in code", "`<!channel>`", "`&lt;!channel&gt;`"},
		{"mention in code block", "```\n<@U123>\n```", "```\n&lt;@U123&gt;\n```"},
		{"mention in link text", "[<!here>](https://x.io)", "<https://x.io|&lt;!here&gt;>"},
		{"entity-encoded mention", "&lt;!channel&gt;", "&lt;!channel&gt;"},

		// Input hygiene.
		{"crlf", "a\r\nb\r\n\r\nc", "a\nb\n\nc"},
		{"invalid utf8", "a\xffb", "a\ufffdb"},
		{"nul", "a\x00b", "a\ufffdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Render(tt.in)
			if got != tt.want {
				t.Errorf("Render(%q)\n got: %q\nwant: %q", tt.in, got, tt.want)
			}
			if err := checkRendered(got); err != nil {
				t.Errorf("Render(%q) = %q: %v", tt.in, got, err)
			}
		})
	}
}

// TestRenderDocument renders a typical agent reply end to end.
func TestRenderDocument(t *testing.T) {
	in := strings.Join([]string{
		"## Summary",
		"",
		"I fixed the **race** in `conn.go` (see [PR #12](https://github.com/o/r/pull/12)).",
		"",
		"- [x] reproduce with `go test -race`",
		"- [ ] add a regression test",
		"  - covering *both* paths",
		"",
		"| File | Lines |",
		"|------|------:|",
		"| `conn.go` | 12 |",
		"",
		"```go",
		"if a < b && c > d {",
		"```",
		"",
		"> Note: don't ping <!channel>.",
	}, "\n")
	want := strings.Join([]string{
		"*Summary*",
		"",
		"I fixed the *race* in `conn.go` (see <https://github.com/o/r/pull/12|PR #12>).",
		"",
		"• ☑ reproduce with `go test -race`",
		"• ☐ add a regression test",
		"    ◦ covering _both_ paths",
		"",
		"```",
		"| File    | Lines |",
		"|---------|-------|",
		"| conn.go |    12 |",
		"```",
		"",
		"```",
		"if a &lt; b &amp;&amp; c &gt; d {",
		"```",
		"",
		"> Note: don't ping &lt;!channel&gt;.",
	}, "\n")
	if got := Render(in); got != want {
		t.Errorf("Render:\n%s\n--- want:\n%s", got, want)
	}
}

func TestRenderConcurrent(t *testing.T) {
	in := "# T\n\n- **a** [l](https://x.io)\n\n| a |\n|---|\n| 1 |"
	want := Render(in)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got := Render(in); got != want {
					t.Errorf("concurrent Render = %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
