package email

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name string
		html string
		want string
	}{
		{"empty", "", ""},
		{"paragraphs", "<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"whitespace collapses", "<p>  a\n\tb  &nbsp; c </p>", "a b c"},
		{"line breaks", "a<br>b<br><br>c", "a\nb\n\nc"},
		{"Gmail divs", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"},
		{"trailing br in a block adds no line", "<div>a<br></div><div>b</div>", "a\nb"},
		{"lists", "<p>Do:</p><ul><li>one</li><li>two<ol><li>x</li><li>y</li></ol></li></ul><p>end</p>",
			"Do:\n\n- one\n- two\n  1. x\n  2. y\n\nend"},
		{"ordered list start", `<ol start="4"><li>d</li><li>e</li></ol>`, "4. d\n5. e"},
		{"list item with paragraphs", "<ul><li><p>a</p></li><li><p>b</p></li></ul>", "- a\n\n- b"},
		{"empty list item", "<ul><li></li><li>b</li></ul>", "- b"},
		{"link", `See <a href="https://example.org/x">the docs</a>.`, "See the docs (https://example.org/x)."},
		{"link showing its URL", `<a href="https://example.org/">https://example.org</a>`, "https://example.org"},
		{"mailto link", `<a href="mailto:pat@example.org">pat@example.org</a> or <a href="mailto:pat@example.org">Pat</a>`,
			"pat@example.org or Pat (mailto:pat@example.org)"},
		{"anchor and script links", `<a href="#top">top</a> <a href="javascript:x()">run</a> <a name="x">n</a>`, "top run n"},
		{"Safe Links unwrapped", `<a href="https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.org%2Fa&amp;data=1">a</a>`,
			"a (https://example.org/a)"},
		{"image-only link", `<a href="https://example.org"><img src="https://example.org/p.gif"></a>x`, "x"},
		{"headings", "<h1>Title</h1><p>text</p><h3>Sub</h3>", "# Title\n\ntext\n\n### Sub"},
		{"empty heading", "<h2> </h2><p>a</p>", "a"},
		{"inline code", "Run <code>go test ./...</code> now", "Run `go test ./...` now"},
		{"code with spaces around", "Run <code> make </code>now", "Run `make` now"},
		{"pre", "<p>Output:</p><pre>\n  line 1\n    line 2\n</pre><p>done</p>", "Output:\n\n```\n  line 1\n    line 2\n```\n\ndone"},
		{"pre with markup", "<pre><code>a &lt; b<br>c</code></pre>", "```\na < b\nc\n```"},
		{"table", "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2 <b>x</b></td></tr><tr><td>3</td></tr></table>",
			"| A | B |\n| --- | --- |\n| 1 | 2 x |\n| 3 |  |"},
		{"table without header", "<table><tr><td>a|b</td><td><p>c</p><p>d</p></td></tr></table>", `| a\|b | c d |`},
		{"layout table", "<table><tr><td><p>Hello</p></td></tr><tr><td>World</td></tr></table>", "Hello\n\nWorld"},
		{"nested tables", "<table><tr><td>a</td><td><table><tr><td>b</td><td>c</td></tr></table></td></tr></table>", "| a | \\| b \\| c \\| |"},
		{"list nested without an item keeps its depth", "<ul><ul><li>a<li>b</ul><li>c</ul>", "  - a\n  - b\n- c"},
		{"hr", "a<hr>b", "a\n\n---\nb"},
		{"images", `<img src="cid:img1@x" alt="ignored"> <img alt="Logo"> <img src="https://t.example/p.gif">`, "[image: one.png] [image: Logo]"},
		{"script, style and hidden", `<style>p{}</style><script>x()</script><p hidden>h</p><p style="DISPLAY: none">h</p><p style="mso-hide:all">h</p>shown`, "shown"},
		{"title skipped", "<html><head><title>T</title></head><body>b</body></html>", "b"},
		{"comments skipped", "a<!-- c -->b<!--[if mso]>x<![endif]-->", "ab"},
		{"entities", "&lt;tag&gt; &amp; &quot;q&quot; &euro;", `<tag> & "q" €`},
		{"zero-width spaces go", "a\u200bb\ufeff", "ab"},
		{"blank lines squeezed", "<p>a</p><p></p><p>&nbsp;</p><p>b</p>", "a\n\nb"},
		{"bold and italic keep only text", "<b>bold</b> and <i>it</i>", "bold and it"},
		{"unclosed tags", "<div><p>a<ul><li>b", "a\n\n- b"},
		{"deep nesting", strings.Repeat("<div>", 10000) + "deep" + strings.Repeat("</div>", 10000) + "<p>after</p>", "deep\n\nafter"},
		{"deep unclosed formatting", "<p>start</p>" + strings.Repeat(`<font color="red">x`, 3000) + "<p>end</p>", "start\n\n" + strings.Repeat("x", 3000) + "\n\nend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := htmlToText(tt.html, htmlOptions{cidNames: map[string]string{"img1@x": "one.png"}})
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHTMLQuotes(t *testing.T) {
	tests := []struct {
		name string
		html string
		want string
	}{
		{"Gmail reply",
			`<div dir="ltr">Yes.</div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, Bob wrote:<br></div><blockquote class="gmail_quote">old</blockquote></div>`,
			"Yes.\n\n[quoted text removed]"},
		{"Gmail quote container class",
			`<div>Yes.</div><div class="gmail_quote_container"><blockquote>old</blockquote></div>`,
			"Yes.\n\n[quoted text removed]"},
		{"Outlook web container",
			`<div>Yes.</div><div id="mail-editor-reference-message-container"><div>From: Bob</div><div>old</div></div>`,
			"Yes.\n\n[quoted text removed]"},
		{"Outlook desktop boundary and its rule",
			`<div>Yes.</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg"><b>From:</b> Bob</div><div>old</div><p>more old</p>`,
			"Yes.\n\n[quoted text removed]"},
		{"boundary rule seen through a wrapper",
			`<p>Yes.</p><hr><div><div id="divRplyFwdMsg">From: Bob</div></div><div>old</div>`,
			"Yes.\n\n[quoted text removed]"},
		{"other rules stay",
			`<p>a</p><hr><p>b</p><div id="divRplyFwdMsg">From: Bob</div>`,
			"a\n\n---\n\nb\n\n[quoted text removed]"},
		{"boundary ends the document even when nested",
			`<div><div id="divRplyFwdMsg">From: Bob</div><p>old</p></div><p>also old</p>`,
			"[quoted text removed]"},
		{"Yahoo", `<div>Yes.</div><div class="yahoo_quoted">On Monday, Bob wrote: old</div>`, "Yes.\n\n[quoted text removed]"},
		{"Apple Mail", `Yes.<div><br><blockquote type="cite">On 5 Mar, Bob wrote:<br>old</blockquote></div>`, "Yes.\n\n[quoted text removed]"},
		{"type=cite compared case-insensitively", `Yes.<blockquote TYPE="Cite">old</blockquote>`, "Yes.\n\n[quoted text removed]"},
		{"plain blockquote is content", `<blockquote>cited on purpose</blockquote>Yes.`, "cited on purpose\nYes."},
		{"Thunderbird prefix and blockquote form one quote",
			`<p>Yes.</p><div class="moz-cite-prefix">On 5 Mar, Bob wrote:<br></div><blockquote type="cite">old</blockquote>`,
			"Yes.\n\n[quoted text removed]"},
		{"quote followed by text is kept as > lines",
			`<div class="moz-cite-prefix">Bob wrote:</div><blockquote type="cite"><p>q1</p><p>q2</p></blockquote><p>answer</p>`,
			"> Bob wrote:\n>\n> q1\n>\n> q2\n\nanswer"},
		{"interleaved", `Hi<blockquote type="cite">q1</blockquote>a1<blockquote type="cite">q2</blockquote>a2<blockquote type="cite">q3</blockquote>`,
			"Hi\n\n> q1\n\na1\n\n> q2\n\na2\n\n[quoted text removed]"},
		{"nested quotes inside a quote", `<blockquote type="cite">q1<blockquote type="cite">q0</blockquote></blockquote>a`, "> q1\n> q0\n\na"},
		{"whitespace after a quote does not flush it", "Yes.<blockquote type=\"cite\">old</blockquote>\n&nbsp; <div> </div>", "Yes.\n\n[quoted text removed]"},
		{"image after a quote flushes it", `<blockquote type="cite">old</blockquote><img alt="pic">`, "> old\n\n[image: pic]"},
		{"empty trailing quote still marked", `Yes.<blockquote type="cite"> </blockquote>`, "Yes.\n\n[quoted text removed]"},
		{"quote class on an image", `<img class="gmail_quote" alt="x">Yes.`, "> [image: x]\n\nYes."},
		{"hidden quote container is just hidden", `Yes.<div class="gmail_quote" style="display:none">old</div>`, "Yes."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, htmlToText(tt.html, htmlOptions{stripQuotes: true}))
		})
	}
	// Without stripQuotes, quotes are ordinary content.
	assert.Equal(t, "Yes.\nold", htmlToText(`Yes.<blockquote type="cite">old</blockquote>`, htmlOptions{}))
}

func FuzzHTMLToText(f *testing.F) {
	for _, path := range corpusFiles(f) {
		raw, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(string(raw))
	}
	f.Add(`<div>Yes.</div><hr><div id="divRplyFwdMsg">x</div><blockquote type="cite">q</blockquote><table><tr><td>a<td><pre>b</pre><a href="https://x">c</a><code>d</code>`)
	f.Add(`<ol start="-5"><li><h1>x<li><table><tr><th>a<th><table><tr><td>b<td>c</table></table>`)
	f.Fuzz(func(t *testing.T, src string) {
		for _, strip := range []bool{false, true} {
			out := htmlToText(src, htmlOptions{stripQuotes: strip, cidNames: map[string]string{"a": "b"}})
			if utf8.ValidString(src) && !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of valid input: %q", out)
			}
			// Tidy: no run of blank lines, nothing blank at either end.
			// The first line may be indented (a nested list, say).
			if strings.Contains(out, "\n\n\n") || out != strings.TrimRight(out, " \t\r\n\f") ||
				strings.HasPrefix(strings.TrimLeft(out, " \t"), "\n") {
				t.Fatalf("untidy output %q", out)
			}
		}
	})
}
