package mrkdwn

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	para := func(c string, n int) string { return strings.Repeat(c, n) }
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"empty", "", 10, nil},
		{"blank", " \n\n ", 10, nil},
		{"short is one chunk", "hello *world*", 100, []string{"hello *world*"}},
		{"exact fit", "abcde", 5, []string{"abcde"}},
		{"runes not bytes", "日本語です", 5, []string{"日本語です"}},
		{"paragraphs", "aaaa\n\nbbbb\n\ncccc", 10, []string{"aaaa\n\nbbbb", "cccc"}},
		{"paragraph preferred over line", "aa\n\nbb\ncc\ndd", 9, []string{"aa", "bb\ncc\ndd"}},
		{"lines", "aaaa\nbbbb\ncccc", 9, []string{"aaaa\nbbbb", "cccc"}},
		{"hard slice", para("a", 25), 10, []string{para("a", 10), para("a", 10), para("a", 5)}},
		{"hard slice after space", "aaaa bbbb cccc", 10, []string{"aaaa bbbb ", "cccc"}},
		{"hard slice keeps entity", "aaaaaaa&amp;b", 10, []string{"aaaaaaa", "&amp;b"}},
		{"hard slice keeps link", "aaaa<https://x.io>", 16, []string{"aaaa", "<https://x.io>"}},
		{"code block moved whole", "intro\n```\ncode\n```", 15, []string{"intro", "```\ncode\n```"}},
		{"code block split with fences", "```\n1111\n2222\n3333\n```", 17, []string{"```\n1111\n2222\n```", "```\n3333\n```"}},
		{"indented fence reopened", "• x\n    ```\n    1111\n    2222\n    ```", 32,
			[]string{"• x", "    ```\n    1111\n    ```", "    ```\n    2222\n    ```"}},
		{"quoted fence reopened", "> ```\n> 1111\n> 2222\n> ```", 24,
			[]string{"> ```\n> 1111\n> ```", "> ```\n> 2222\n> ```"}},
		{"blank line in code is not a paragraph", "```\naaaa\n\nbbbb\n```", 16, []string{"```\naaaa\n\n```", "```\nbbbb\n```"}},
		{"fences dropped when max cannot hold them", "```\n1111\n2222\n```", 12, []string{"```\n1111", "2222\n```"}},
		{"max below one", "ab", 0, []string{"a", "b"}},
		{"crlf", "aaaa\r\n\r\nbbbb", 6, []string{"aaaa", "bbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.in, tt.max)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("Split(%q, %d)\n got: %q\nwant: %q", tt.in, tt.max, got, tt.want)
			}
			if err := checkSplit(tt.in, tt.max, got); err != nil {
				t.Error(err)
			}
		})
	}
}

// A long code block is split across chunks, each of which is a balanced,
// self-contained code block, and no code line is lost or cut.
func TestSplitLongCodeBlock(t *testing.T) {
	var md strings.Builder
	md.WriteString("Here is the log:\n\n```\n")
	for i := range 100 {
		fmt.Fprintf(&md, "line %03d: something happened\n", i)
	}
	md.WriteString("```\n\nThat's all.")
	out := Render(md.String())
	const max = 500
	chunks := Split(out, max)
	if len(chunks) < 7 {
		t.Fatalf("got %d chunks, want at least 7", len(chunks))
	}
	if err := checkSplit(out, max, chunks); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, c := range chunks {
		if n := strings.Count(c, fence); n%2 != 0 {
			t.Errorf("chunk %d has %d fences:\n%s", i, n, c)
		}
		if err := checkRendered(c); err != nil {
			t.Errorf("chunk %d: %v\n%s", i, err, c)
		}
		for l := range strings.SplitSeq(c, "\n") {
			if strings.HasPrefix(l, "line ") {
				lines = append(lines, l)
			}
		}
	}
	if chunks[0] != "Here is the log:" {
		t.Errorf("first chunk = %q, want the intro alone", chunks[0])
	}
	if len(lines) != 100 {
		t.Fatalf("got %d code lines across chunks, want 100", len(lines))
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %03d: something happened", i); l != want {
			t.Fatalf("code line %d = %q, want %q", i, l, want)
		}
	}
	if last := chunks[len(chunks)-1]; !strings.HasSuffix(last, "That's all.") {
		t.Errorf("last chunk = %q", last)
	}
}

// A single huge line is sliced hard, in order, without loss.
func TestSplitHugeLine(t *testing.T) {
	line := strings.Repeat("0123456789", 1000)
	chunks := Split(line, 333)
	if len(chunks) != 31 {
		t.Errorf("got %d chunks, want 31", len(chunks))
	}
	if got := strings.Join(chunks, ""); got != line {
		t.Error("slices do not reassemble the line")
	}
	if err := checkSplit(line, 333, chunks); err != nil {
		t.Error(err)
	}

	// The same inside a code block: every slice is fenced.
	code := "```\n" + line + "\n```"
	chunks = Split(code, 333)
	for i, c := range chunks {
		if !strings.HasPrefix(c, "```\n") || !strings.HasSuffix(c, "\n```") {
			t.Fatalf("chunk %d is not a fenced block: %.20q…%.20q", i, c, c[max(0, len(c)-20):])
		}
	}
	if err := checkSplit(code, 333, chunks); err != nil {
		t.Error(err)
	}
}

// checkSplit verifies what every Split result must hold: each chunk within
// max runes, not blank, and valid UTF-8 when the input is; and the chunks
// together carrying exactly the input's content, in order, apart from
// whitespace and the fences Split adds. Added fences are backticks (checked
// by count) and the spaces and '>' of a quote prefix, so '>' is left out
// of the comparison.
func checkSplit(in string, max int, chunks []string) error {
	max = maxInt(max, 1)
	for i, c := range chunks {
		if n := utf8.RuneCountInString(c); n > max {
			return fmt.Errorf("chunk %d has %d runes, max %d", i, n, max)
		}
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("chunk %d is blank", i)
		}
		if utf8.ValidString(in) && !utf8.ValidString(c) {
			return fmt.Errorf("chunk %d is invalid UTF-8", i)
		}
	}
	joined := strings.Join(chunks, "")
	strip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '`' || r == '>' || unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	if a, b := strip(in), strip(joined); a != b {
		return fmt.Errorf("content changed:\n in: %q\nout: %q", a, b)
	}
	added := strings.Count(joined, "`") - strings.Count(in, "`")
	if added < 0 || added%3 != 0 {
		return fmt.Errorf("backticks changed by %d", added)
	}
	return nil
}
