package mailout

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Shorthands for the expected markup.
const (
	ul    = `<ul style="` + styleList + `">` + "\n"
	code  = `<code style="` + styleCode + `">`
	pre   = `<pre style="` + stylePre + `">`
	quote = `<blockquote style="` + styleBlockquote + `">` + "\n"
	table = `<table style="` + styleTable + `">` + "\n"
	th    = `<th style="` + styleHeaderCell + `;text-align:left">`
	td    = `<td style="` + styleCell + `">`
	tdR   = `<td style="` + styleCell + `;text-align:right">`
	thR   = `<th style="` + styleHeaderCell + `;text-align:right">`
)

func TestRenderHTML(t *testing.T) {
	tests := []struct {
		name, md, want string
	}{
		{"empty", "", ""},
		{"paragraphs",
			"one\ntwo\n\nthree",
			"one\ntwo<br>\n<br>\nthree<br>"},
		{"hard line break",
			"a  \nb\\\nc",
			"a<br>\nb<br>\nc<br>"},
		{"headings",
			"# One\n## Two\n### Three\n###### Six\nText",
			`<strong style="font-size:1.25em"><u>One</u></strong><br>` + "\n<br>\n" +
				"<strong>Two</strong><br>\n<br>\n" +
				"<strong><em>Three</em></strong><br>\n<br>\n" +
				"<strong><em>Six</em></strong><br>\n<br>\n" +
				"Text<br>"},
		{"setext heading",
			"Title\n=====",
			`<strong style="font-size:1.25em"><u>Title</u></strong><br>`},
		{"list",
			"- a\n- b",
			ul + "<li>a</li>\n<li>b</li>\n</ul>"},
		{"nested list",
			"- a\n  - b\n  - c\n- d",
			ul + "<li>a<br>\n" + ul + "<li>b</li>\n<li>c</li>\n</ul>\n</li>\n<li>d</li>\n</ul>"},
		{"ordered list starting at 3",
			"3. x\n4. y",
			`<ol start="3" style="` + styleList + `">` + "\n<li>x</li>\n<li>y</li>\n</ol>"},
		{"loose list",
			"1. a\n\n   more\n2. b",
			`<ol style="` + styleList + `">` + "\n<li>a<br>\n<br>\nmore<br>\n</li>\n<li>b<br>\n</li>\n</ol>"},
		{"task list",
			"- [ ] todo\n- [x] done",
			ul + "<li>&#9744; todo</li>\n<li>&#9745; done</li>\n</ul>"},
		{"paragraph then list",
			"Intro:\n\n- a",
			"Intro:<br>\n<br>\n" + ul + "<li>a</li>\n</ul>"},
		{"code span with HTML specials",
			"run `a<b && c>\"d\"` now",
			"run " + code + "a&lt;b &amp;&amp; c&gt;&quot;d&quot;</code> now<br>"},
		{"fenced code block with HTML specials",
			"```html\n<script>alert('x') && 1</script>\n```\nafter",
			pre + "&lt;script&gt;alert('x') &amp;&amp; 1&lt;/script&gt;</pre>\n<br>\nafter<br>"},
		{"indented code block",
			"    a < b\n    c",
			pre + "a &lt; b\nc</pre>"},
		{"http link",
			"[site](https://example.com/?a=1&b=2 \"T\")",
			`<a href="https://example.com/?a=1&amp;b=2" title="T">site</a><br>`},
		{"mailto link",
			"[me](mailto:me@example.com)",
			`<a href="mailto:me@example.com">me</a><br>`},
		{"javascript link is text",
			"[click](javascript:alert(1))",
			"click<br>"},
		{"entity-encoded javascript link is text",
			"[click](&#106;avascript:alert(1))",
			"click<br>"},
		{"relative link is text",
			"[doc](docs/a.md)",
			"doc<br>"},
		{"data link is text",
			"[x](data:text/html;base64,PHNjcmlwdD4=)",
			"x<br>"},
		{"autolinks and bare URLs",
			"<https://a.example/x> www.b.example <me@c.example>",
			`<a href="https://a.example/x">https://a.example/x</a> <a href="http://www.b.example">www.b.example</a> <a href="mailto:me@c.example">me@c.example</a><br>`},
		{"image becomes link",
			"![a *cat*](https://example.com/cat.png)",
			`<a href="https://example.com/cat.png">a cat</a><br>`},
		{"image without alt",
			"![](https://example.com/cat.png)",
			`<a href="https://example.com/cat.png">https://example.com/cat.png</a><br>`},
		{"image with other scheme is its alt text",
			"![secret](file:///etc/passwd)",
			"secret<br>"},
		{"image in link is not a nested link",
			"[![logo](https://e.example/l.png)](https://e.example/)",
			`<a href="https://e.example/">logo</a><br>`},
		{"bare URL in link text is not a nested link",
			"[see www.x.example](https://y.example/)",
			`<a href="https://y.example/">see www.x.example</a><br>`},
		{"raw script block is escaped",
			"<script>alert(1)</script>",
			"&lt;script&gt;alert(1)&lt;/script&gt;<br>"},
		{"raw HTML block is escaped line by line",
			"<div>\nhi\n</div>\n\nafter",
			"&lt;div&gt;<br>\nhi<br>\n&lt;/div&gt;<br>\n<br>\nafter<br>"},
		{"inline HTML is escaped",
			`a <img src=x onerror="alert(1)"> b <!-- c -->`,
			`a &lt;img src=x onerror=&quot;alert(1)&quot;&gt; b &lt;!-- c --&gt;<br>`},
		{"entities and escapes",
			`&copy; &lt;b&gt; \*not em\*`,
			"© &lt;b&gt; *not em*<br>"},
		{"emphasis",
			"*a* _b_ **c** __d__ ***e*** ~~f~~",
			"<em>a</em> <em>b</em> <strong>c</strong> <strong>d</strong> <em><strong>e</strong></em> <del>f</del><br>"},
		{"blockquote",
			"> quoted **bold**\n> more\n\nafter",
			quote + "quoted <strong>bold</strong>\nmore<br>\n</blockquote>\n<br>\nafter<br>"},
		{"nested blockquote",
			"> a\n>\n> > b",
			quote + "a<br>\n<br>\n" + quote + "b<br>\n</blockquote>\n</blockquote>"},
		{"thematic break",
			"a\n\n---\n\nb",
			"a<br>\n<br>\n" + `<hr style="` + styleRule + `">` + "\nb<br>"},
		{"table",
			"| Name | Size |\n|------|-----:|\n| a    | 1    |",
			table + "<thead>\n<tr>\n" + th + "Name</th>\n" + thR + "Size</th>\n</tr>\n</thead>\n<tbody>\n" +
				"<tr>\n" + td + "a</td>\n" + tdR + "1</td>\n</tr>\n</tbody>\n</table>"},
		{"table with a pipe in a code span",
			"| Cmd | Note |\n|---|---|\n| `a | b` | x \\| y |",
			table + "<thead>\n<tr>\n" + th + "Cmd</th>\n" + th + "Note</th>\n</tr>\n</thead>\n<tbody>\n" +
				"<tr>\n" + td + code + "a | b</code></td>\n" + td + "x | y</td>\n</tr>\n</tbody>\n</table>"},
		{"table with GFM escaped pipe in a code span",
			"| Cmd |\n|---|\n| `a \\| b` |",
			table + "<thead>\n<tr>\n" + th + "Cmd</th>\n</tr>\n</thead>\n<tbody>\n" +
				"<tr>\n" + td + code + "a | b</code></td>\n</tr>\n</tbody>\n</table>"},
		{"table rows padded and cut to the delimiter row",
			"| a | b | c |\n|---|---|\n| 1 |\n| 1 | 2 | 3 |",
			table + "<thead>\n<tr>\n" + th + "a</th>\n" + th + "b</th>\n</tr>\n</thead>\n<tbody>\n" +
				"<tr>\n" + td + "1</td>\n" + td + "</td>\n</tr>\n" +
				"<tr>\n" + td + "1</td>\n" + td + "2</td>\n</tr>\n</tbody>\n</table>"},
		{"table header only",
			"| a |\n|---|",
			table + "<thead>\n<tr>\n" + th + "a</th>\n</tr>\n</thead>\n</table>"},
		{"text before a table",
			"Results:\n| a |\n|---|\n| 1 |",
			"Results:<br>\n<br>\n" + table + "<thead>\n<tr>\n" + th + "a</th>\n</tr>\n</thead>\n<tbody>\n" +
				"<tr>\n" + td + "1</td>\n</tr>\n</tbody>\n</table>"},
		{"table in a blockquote",
			"> | a |\n> |---|\n> | `x|y` |",
			quote + table + "<thead>\n<tr>\n" + th + "a</th>\n</tr>\n</thead>\n<tbody>\n" +
				"<tr>\n" + td + code + "x|y</code></td>\n</tr>\n</tbody>\n</table>\n</blockquote>"},
		{"prose over a delimiter-like line is not a table",
			"foo bar\n|---|---|",
			"foo bar\n|---|---|<br>"},
		{"NUL and invalid UTF-8 are replaced",
			"a\x00b\xffc",
			"a\uFFFDb\uFFFDc<br>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RenderHTML(tc.md)
			if got != tc.want {
				t.Errorf("RenderHTML(%q)\n got: %q\nwant: %q", tc.md, got, tc.want)
			}
			if err := checkEmailHTML(got); err != nil {
				t.Errorf("RenderHTML(%q) = %q: %v", tc.md, got, err)
			}
		})
	}
}

// checkEmailHTML checks the properties every RenderHTML output must have:
// none of the forbidden elements, only known elements and attributes,
// hrefs only to http, https and mailto, every element closed in order, and
// a tokenizer round trip (tokens → text → tokens) that changes nothing.
func checkEmailHTML(out string) error {
	// The elements RenderHTML may write (br and hr are void) and their
	// attributes.
	allowedTags := map[string]bool{
		"a": true, "br": true, "hr": true, "strong": true, "em": true, "u": true, "del": true,
		"code": true, "pre": true, "blockquote": true, "ul": true, "ol": true, "li": true,
		"table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true,
	}
	allowedAttrs := map[string]bool{"href": true, "title": true, "style": true, "start": true}
	lower := strings.ToLower(out)
	for _, bad := range []string{"<script", "<img", "<p>", "<p ", "<h1", "<h2", "<h3", "<h4", "<h5", "<h6", "<style", "<iframe", "<input", "<!--"} {
		if strings.Contains(lower, bad) {
			return errors.New("output contains " + bad)
		}
	}
	toks, err := tokens(out)
	if err != nil {
		return err
	}
	var open []string
	for _, tok := range toks {
		switch tok.Type {
		case html.StartTagToken:
			if !allowedTags[tok.Data] {
				return errors.New("unexpected element <" + tok.Data + ">")
			}
			for _, a := range tok.Attr {
				if !allowedAttrs[a.Key] {
					return errors.New("unexpected attribute " + a.Key + " on <" + tok.Data + ">")
				}
				if a.Key == "href" {
					v := strings.ToLower(a.Val)
					if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "mailto:") {
						return errors.New("href with another scheme: " + a.Val)
					}
				}
			}
			if tok.Data != "br" && tok.Data != "hr" {
				open = append(open, tok.Data)
			}
		case html.EndTagToken:
			if len(open) == 0 || open[len(open)-1] != tok.Data {
				return errors.New("unbalanced </" + tok.Data + ">, open: " + strings.Join(open, " "))
			}
			open = open[:len(open)-1]
		case html.TextToken:
		default:
			return errors.New("unexpected token " + tok.String())
		}
	}
	if len(open) > 0 {
		return errors.New("unclosed elements: " + strings.Join(open, " "))
	}
	var again strings.Builder
	for _, tok := range toks {
		again.WriteString(tok.String())
	}
	toks2, err := tokens(again.String())
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(toks, toks2) {
		return errors.New("tokenizer round trip changed the tokens")
	}
	return nil
}

func tokens(s string) ([]html.Token, error) {
	z := html.NewTokenizer(strings.NewReader(s))
	var toks []html.Token
	for {
		if z.Next() == html.ErrorToken {
			if err := z.Err(); !errors.Is(err, io.EOF) {
				return nil, err
			}
			return toks, nil
		}
		toks = append(toks, z.Token())
	}
}

func FuzzRenderHTML(f *testing.F) {
	for _, seed := range []string{
		"# h\n\npara *em* **strong** `code` [l](https://x) ![i](https://y)",
		"| a | `b|c` |\n|:-|-:|\n| 1 | 2 | 3 |\n| x",
		"> q\n> - l\n>   1. n\n\n```\n<script>\n```\n",
		"<script>alert(1)</script>\n<p>x</p><img src=x>",
		"[a](javascript:x) [b](&#106;avascript:x) <http://a> www.b.c <x@y.z>",
		"- [ ] t\n- [x] u\n\n***\n~~s~~ \\| &amp; &#0; &#x110000;",
		"[![i](http://a)](http://b) [x www.y.z](http://c)",
		"a  \nb\\\n`` ` `` ``` x\n\n    indented",
		"|a|\n|-|\n|`\\|`|\n|\\`|`|",
		"<div>\n\n*x*\n\n</div>\n<!-- c -->\n<?php ?>\n<![CDATA[x]]>",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, md string) {
		out := RenderHTML(md)
		if err := checkEmailHTML(out); err != nil {
			t.Fatalf("RenderHTML(%q) = %q: %v", md, out, err)
		}
	})
}

// TestCheckEmailHTML makes sure the fuzz oracle rejects what it must.
func TestCheckEmailHTML(t *testing.T) {
	for _, bad := range []string{
		"<p>x</p>",
		"<h2>x</h2>",
		"<img src=x>",
		"<script>x</script>",
		"<strong>x",
		"<em>x</strong>",
		"x</em>",
		`<a href="javascript:x">x</a>`,
		`<a href=" https://x">x</a>`,
		`<span>x</span>`,
		`<code onclick="x">x</code>`,
		"<br/>",
		"<!-- x -->",
	} {
		if err := checkEmailHTML(bad); err == nil {
			t.Errorf("checkEmailHTML(%q) = nil, want an error", bad)
		}
	}
	good := `<a href="mailto:x@y" title="t">x</a><br>` + "\n" + `<hr style="a">&lt;p&gt;`
	if err := checkEmailHTML(good); err != nil {
		t.Errorf("checkEmailHTML(%q) = %v", good, err)
	}
}
