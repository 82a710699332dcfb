package allowlist

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "a/b/c", true},
		{"*", "line\nbreak", true},
		{"?", "", false},
		{"?", "é", true},
		{"?", "\n", true},
		{"a*b", "ab", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbc", false},
		{"*.github.com", "api.github.com", true},
		{"*.github.com", "github.com", false},
		{"*.github.com", "a.b.github.com", true},
		{"/repos/org/repo*", "/repos/org/repo/pulls?x=1", true},
		{"/repos/org/repo*", "/Repos/org/repo", false},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[!abc]", "d", true},
		{"[!abc]", "a", false},
		{"[a-c]", "b", true},
		{"[a-c]", "-", false},
		{"[a-]", "-", true},
		{"[-a]", "-", true},
		{"[]]", "]", true},
		{"[!]]", "]", false},
		{"[!]]", "x", true},
		{"[!]", "[!]", true}, // no closing bracket: literal
		{"[", "[", true},
		{"[z-a]", "z", false}, // empty range never matches
		{"[!b-a]", "q", true}, // negated empty: any char
		{"[a--]", "-", false},
		{"[a-c-b]", "-", true},
		{"[a-c-b]", "b", true},
		{`a\b`, `a\b`, true}, // backslash is literal
		{`[\]`, `\`, true},
		{"**a", "xa", true},
		{"*a*a*a*a*a*a*a*b", strings.Repeat("a", 200), false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestMatchFold(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*.GitHub.com", "API.github.COM", true},
		{"api.github.com", "API.GITHUB.COM", true},
		{"[A-C].com", "b.com", true},
		{"*.github.com", "GITHUB.COM", false},
	}
	for _, tt := range tests {
		if got := MatchFold(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchFold(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestMatchPythonGolden checks Match against CPython's fnmatch.fnmatchcase
// on cases produced by testdata/gen_fnmatch_golden.py.
func TestMatchPythonGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/fnmatch_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases [][3]any `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 1000 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		p, s, want := c[0].(string), c[1].(string), c[2].(bool)
		if got := Match(p, s); got != want {
			t.Errorf("Match(%q, %q) = %v, CPython says %v", p, s, got, want)
		}
		if got := oracleMatch(p, s); got != want {
			t.Errorf("oracle(%q, %q) = %v, CPython says %v", p, s, got, want)
		}
	}
}

// oracleTranslate is an independent, string-based port of CPython's
// fnmatch.translate producing a Go regexp.
func oracleTranslate(pat string) string {
	p := []rune(pat)
	n := len(p)
	var b strings.Builder
	b.WriteString(`(?s)\A(?:`)
	q := func(s []rune) string {
		var o strings.Builder
		for _, r := range s {
			if r < utf8.RuneSelf && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				o.WriteByte('\\')
			}
			o.WriteRune(r)
		}
		return o.String()
	}
	for i := 0; i < n; {
		c := p[i]
		i++
		switch c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < n && p[j] == '!' {
				j++
			}
			if j < n && p[j] == ']' {
				j++
			}
			for j < n && p[j] != ']' {
				j++
			}
			if j >= n {
				b.WriteString(`\[`)
				continue
			}
			stuff := string(p[i:j])
			var chunks []string
			if !strings.Contains(stuff, "-") {
				chunks = []string{stuff}
			} else {
				k := i + 1
				if p[i] == '!' {
					k = i + 2
				}
				for {
					f := -1
					for x := k; x < j; x++ {
						if p[x] == '-' {
							f = x
							break
						}
					}
					if f < 0 {
						break
					}
					chunks = append(chunks, string(p[i:f]))
					i = f + 1
					k = f + 3
				}
				if ch := string(p[i:j]); ch != "" {
					chunks = append(chunks, ch)
				} else {
					chunks[len(chunks)-1] += "-"
				}
				for k := len(chunks) - 1; k > 0; k-- {
					a, c := []rune(chunks[k-1]), []rune(chunks[k])
					if a[len(a)-1] > c[0] {
						chunks[k-1] = string(a[:len(a)-1]) + string(c[1:])
						chunks = append(chunks[:k], chunks[k+1:]...)
					}
				}
			}
			neg := false
			if len(chunks) > 0 && strings.HasPrefix(chunks[0], "!") {
				neg = true
				chunks[0] = chunks[0][1:]
			}
			parts := make([]string, len(chunks))
			for x, ch := range chunks {
				parts[x] = q([]rune(ch))
			}
			body := strings.Join(parts, "-")
			i = j + 1
			switch {
			case body == "" && !neg:
				b.WriteString(`[^\x00-\x{10FFFF}]`)
			case body == "" && neg:
				b.WriteString(`.`)
			case neg:
				b.WriteString(`[^` + body + `]`)
			default:
				b.WriteString(`[` + body + `]`)
			}
		default:
			b.WriteString(q([]rune{c}))
		}
	}
	b.WriteString(`)\z`)
	return b.String()
}

func oracleMatch(p, s string) bool {
	re, err := regexp.Compile(oracleTranslate(p))
	if err != nil {
		// CPython would raise re.error (bad range); Match fails closed.
		return false
	}
	return re.MatchString(s)
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"*.github.com", "api.github.com"}, {"[a-c-b]", "-"}, {"[!]]x", "ax"},
		{"*a?[b-d]*", "xxaycz"}, {"[z-a]", "z"}, {"[!b-ac]", "c"}, {"**?*", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 24 || len(s) > 24 || !utf8.ValidString(p) || !utf8.ValidString(s) {
			return
		}
		if got, want := Match(p, s), oracleMatch(p, s); got != want {
			t.Fatalf("Match(%q, %q) = %v, oracle %q says %v", p, s, got, oracleTranslate(p), want)
		}
	})
}
