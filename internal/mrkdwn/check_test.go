package mrkdwn

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// linePrefix matches the structure a rendered line may start with: list
// markers (with task boxes), their indentation, and blockquote markers, in
// any nesting.
var linePrefix = regexp.MustCompile(`^(?: *(?:[•◦]|[0-9]+\.)(?: [☐☑])?| *>)*`)

// checkRendered verifies the invariants every Render output must hold,
// by scanning it:
//   - valid UTF-8;
//   - every '&' starts &amp; &lt; or &gt;;
//   - every '<' opens a link token to an http, https or mailto URL that
//     closes with '>' on the same line, with no '<' inside;
//   - every other '>' is a blockquote marker in the line's leading
//     prefix of list markers, spaces and '>';
//   - "```" only as a whole fence line (after such a prefix), and fences
//     balanced.
func checkRendered(out string) error {
	if !utf8.ValidString(out) {
		return fmt.Errorf("invalid UTF-8")
	}
	fences := 0
	for n, line := range strings.Split(out, "\n") {
		prefix := len(linePrefix.FindString(line))
		for i := 0; i < len(line); i++ {
			switch c := line[i]; c {
			case '&':
				rest := line[i:]
				if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
					return fmt.Errorf("line %d: bare '&' at %d: %q", n, i, line)
				}
			case '<':
				rest := line[i:]
				if !strings.HasPrefix(rest, "<http://") && !strings.HasPrefix(rest, "<https://") && !strings.HasPrefix(rest, "<mailto:") {
					return fmt.Errorf("line %d: raw '<' at %d: %q", n, i, line)
				}
				end := strings.IndexByte(rest, '>')
				if end < 0 {
					return fmt.Errorf("line %d: unclosed link token at %d: %q", n, i, line)
				}
				if strings.IndexByte(rest[1:end], '<') >= 0 {
					return fmt.Errorf("line %d: '<' inside link token: %q", n, line)
				}
				i += end
			case '>':
				if i >= prefix {
					return fmt.Errorf("line %d: raw '>' at %d: %q", n, i, line)
				}
			}
		}
		if k := strings.Count(line, fence); k > 0 {
			if k != 1 || strings.TrimSpace(line[prefix:]) != fence {
				return fmt.Errorf("line %d: ``` outside a fence line: %q", n, line)
			}
			fences++
		}
	}
	if fences%2 != 0 {
		return fmt.Errorf("unbalanced fences (%d)", fences)
	}
	return nil
}

// TestCheckRendered makes sure the fuzz oracle rejects what it must.
func TestCheckRendered(t *testing.T) {
	for _, bad := range []string{
		"a & b",
		"&quot;",
		"&#60;",
		"<!channel>",
		"<@U123>",
		"<javascript:x|y>",
		"<https://x.io",
		"<https://x.io <http://y>",
		"a > b",
		"a\n```",
		"```\nx",
		"text ```",
		"``` x\n```",
		"\xff",
	} {
		if checkRendered(bad) == nil {
			t.Errorf("checkRendered accepted %q", bad)
		}
	}
	for _, good := range []string{
		"",
		"&amp; &lt; &gt;",
		"<https://x.io|a> <http://y> <mailto:a@b.io|a>",
		"> q\n>\n> > qq",
		"• > q\n    ◦ 1. > x",
		"• ☐ ```\n    x\n    ```",
		"> ```\n> x\n> ```",
	} {
		if err := checkRendered(good); err != nil {
			t.Errorf("checkRendered(%q): %v", good, err)
		}
	}
}
