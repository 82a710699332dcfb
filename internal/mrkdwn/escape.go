package mrkdwn

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/util"
)

// escapeText escapes the three characters Slack reserves. It is applied to
// every piece of content the renderer emits, so the output never carries a
// raw '&', '<' or '>' it did not put there itself.
func escapeText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// zwsp is inserted to break runs of backticks that Slack would otherwise
// read as a code fence.
const zwsp = "\u200b"

// breakBackticks inserts a zero-width space after every second backtick of
// a run, so no run of three or more survives. Only the renderer's own
// fences may contain "```".
func breakBackticks(s string) string {
	if !strings.Contains(s, "```") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			if run == 2 {
				b.WriteString(zwsp)
				run = 0
			}
			run++
		} else {
			run = 0
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeText resolves what CommonMark resolves in ordinary text: backslash
// escapes of ASCII punctuation, named entities, numeric character
// references, and NUL (to U+FFFD). The result is the literal text, not yet
// escaped for Slack. It mirrors goldmark's own HTML writer.
func decodeText(src []byte) string {
	var b strings.Builder
	b.Grow(len(src))
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src) && util.IsPunct(src[i+1]):
			b.WriteByte(src[i+1])
			i += 2
		case c == 0:
			b.WriteRune(utf8.RuneError)
			i++
		case c == '&':
			if s, n := entityAt(src[i:]); n > 0 {
				b.WriteString(s)
				i += n
			} else {
				b.WriteByte('&')
				i++
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// entityAt decodes an entity or numeric character reference at the start
// of s ("&amp;", "&#35;", "&#x23;"), returning its characters and length,
// or n == 0 when s does not start with one.
func entityAt(s []byte) (string, int) {
	if len(s) < 3 || s[0] != '&' {
		return "", 0
	}
	if s[1] == '#' {
		start, base, maxDigits := 2, 10, 7
		if s[2] == 'x' || s[2] == 'X' {
			start, base, maxDigits = 3, 16, 6
		}
		i := start
		for i < len(s) && i-start <= maxDigits && isDigit(s[i], base) {
			i++
		}
		if i == start || i-start > maxDigits || i >= len(s) || s[i] != ';' {
			return "", 0
		}
		v, err := strconv.ParseUint(string(s[start:i]), base, 32)
		if err != nil {
			return "", 0
		}
		return string(util.ToValidRune(rune(v))), i + 1
	}
	i := 1
	for i < len(s) && util.IsAlphaNumeric(s[i]) {
		i++
	}
	if i == 1 || i >= len(s) || s[i] != ';' {
		return "", 0
	}
	e, ok := util.LookUpHTML5EntityByName(string(s[1:i]))
	if !ok {
		return "", 0
	}
	return string(e.Characters), i + 1
}

func isDigit(c byte, base int) bool {
	if base == 16 {
		return util.IsHexDecimal(c)
	}
	return c >= '0' && c <= '9'
}

// linkURL returns the URL as it may appear inside a Slack link token, and
// whether it may be linked at all: only http, https and mailto URLs with
// something after the scheme are. The scheme is lower-cased; whitespace,
// control characters and the characters that would end or split the token
// ('<', '>', '|') or read as a fence ('`') are percent-encoded; '&' becomes
// &amp;. raw is the already-decoded destination.
func linkURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	lower := strings.ToLower(raw)
	var scheme string
	for _, p := range []string{"http://", "https://", "mailto:"} {
		if strings.HasPrefix(lower, p) {
			scheme = p
			break
		}
	}
	if scheme == "" || len(raw) == len(scheme) {
		return "", false
	}
	var b strings.Builder
	b.WriteString(scheme)
	for i := len(scheme); i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '&':
			b.WriteString("&amp;")
		case c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '|' || c == '`' || c == '"':
			b.WriteString("%")
			b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)))
			b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)&0xf, 16)))
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
