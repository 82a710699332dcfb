package dashboard

import (
	"strings"
	"testing"

	"github.com/airut-go/airut/proxy"
)

func TestMarkdownIsSafe(t *testing.T) {
	for _, c := range []struct{ in, want, bad string }{
		{"**bold** and `code`", "<strong>bold</strong> and <code>code</code>", ""},
		{"<script>alert(1)</script>", "raw HTML omitted", "<script"},
		{"x <img src=x onerror=alert(1)> y", "x <!-- raw HTML omitted --> y", "<img"},
		{"[a](javascript:alert(1))", "<p>a</p>", "href"},
		{"[a](JaVaScRiPt:alert(1))", "<p>a</p>", "href"},
		{"[a](data:text/html;base64,PHNjcmlwdD4=)", "<p>a</p>", "href"},
		{"[a](vbscript:x)", "<p>a</p>", "href"},
		{"<javascript:alert(1)>", "javascript:alert(1)", "href"},
		{"[ok](https://example.com/x?y=1)", `<a href="https://example.com/x?y=1">ok</a>`, ""},
		{"[rel](/repo/r1)", `<a href="/repo/r1">rel</a>`, ""},
		{"mail <mailto:a@b.c>", `href="mailto:a@b.c"`, ""},
		{"![pixel](https://tracker.example/p.gif)", `<a href="https://tracker.example/p.gif">pixel</a>`, "<img"},
		{"![x](javascript:alert(1))", "<p>x</p>", "href"},
		{"see https://example.com/a", `<a href="https://example.com/a">https://example.com/a</a>`, ""},
		{"| a | b |\n|:--|--:|\n| 1 | 2 |", `<td align="left">1</td>`, "style="},
		{"- [x] done\n- [ ] todo", `checked="" disabled="" type="checkbox"`, ""},
	} {
		got := string(renderMarkdown(c.in))
		if !strings.Contains(got, c.want) || (c.bad != "" && strings.Contains(got, c.bad)) {
			t.Errorf("renderMarkdown(%q) = %q, want %q and no %q", c.in, got, c.want, c.bad)
		}
	}
}

func TestLastRun(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\n":         "a\nb\n",
		"a\n\nb\nc\n":    "b\nc\n",
		"a\n\nb\n\nc\n":  "c\n",
		"a\n\n":          "",
		"\nfirst\n":      "first\n",
		"":               "",
		"x\n\ny\n\nz\nw": "z\nw",
	} {
		if got, _ := lastRun([]byte(in)); string(got) != want {
			t.Errorf("lastRun(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggestions(t *testing.T) {
	for _, c := range []struct {
		l      proxy.LogLine
		yaml   string
		advice string
	}{
		{proxy.LogLine{Kind: "http", Method: "get", Host: "Example.COM", Path: "/a%2Fb?q=1", Reason: "host/path not allowed"},
			"url_prefixes:\n  - host: example.com\n    path: /a/b\n    methods: [GET]\n", ""},
		{proxy.LogLine{Kind: "http", Method: "DELETE", Host: "api.example.com", Path: "/x", Reason: "method not allowed"},
			"methods: [DELETE]", ""},
		{proxy.LogLine{Kind: "http", Method: "GET", Host: "h.test", Path: "/..%2f", Reason: "path not allowed (NUL, backslash, dot-dot segment or '#')"},
			"", "can never be allowed"},
		{proxy.LogLine{Kind: "http", Method: "CONNECT", Host: "h.test:443", Reason: "CONNECT is not allowed"},
			"", "refused by the proxy itself"},
		{proxy.LogLine{Kind: "http", Method: "POST", Host: "api.github.com", Path: "/graphql", Reason: "graphql-op: mutation deleteRepo"},
			"", "graphql block"},
		{proxy.LogLine{Kind: "udp", Host: "8.8.8.8:53", Reason: "raw_udp_blocked"}, "", "raw UDP: never allowed"},
		{proxy.LogLine{Kind: "http", Method: "GET", Host: "odd.test", Path: "/a*b[", Reason: "host/path not allowed"}, "", ""},
	} {
		it := netRow(c.l)
		if !it.Blocked {
			t.Errorf("%+v not marked blocked", c.l)
		}
		if !strings.Contains(it.Suggestion, c.yaml) || (c.yaml == "" && it.Suggestion != "" && c.l.Host != "odd.test") {
			t.Errorf("%+v: suggestion %q, want %q", c.l, it.Suggestion, c.yaml)
		}
		if !strings.Contains(it.Advice, c.advice) {
			t.Errorf("%+v: advice %q, want %q", c.l, it.Advice, c.advice)
		}
		if it.Suggestion == "" && it.Advice == "" {
			t.Errorf("%+v: neither a suggestion nor advice", c.l)
		}
	}
}
