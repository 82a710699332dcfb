package mrkdwn

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// Glyphs the renderer emits for constructs Slack has no syntax for.
const (
	bullet       = "•"
	nestedBullet = "◦"
	unchecked    = "☐"
	checked      = "☑"
	rule         = "———"
	fence        = "```"
	listIndent   = "    "
	// codeBacktick replaces '`' inside inline code, which Slack cannot
	// escape.
	codeBacktick = "ˋ"
)

// markdown is goldmark with the GitHub extensions. Its parser keeps the
// state of a parse in a per-call context, so one instance serves
// concurrent calls (TestRenderConcurrent checks this under -race).
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// Render converts a Markdown reply into Slack mrkdwn. The result has no
// trailing newline; empty or blank input yields "".
func Render(md string) string {
	md = strings.ToValidUTF8(md, "\uFFFD")
	md = strings.ReplaceAll(md, "\r\n", "\n")
	md = strings.ReplaceAll(md, "\r", "\n")
	md = strings.ReplaceAll(md, "\x00", "\uFFFD")
	if strings.TrimSpace(md) == "" {
		return ""
	}
	src := []byte(md)
	doc := markdown.Parser().Parse(text.NewReader(src))
	r := &renderer{src: src}
	return strings.TrimRight(r.blocks(doc, "\n\n"), " \n")
}

type renderer struct {
	src []byte
	// Open emphasis of each kind; Slack cannot nest the same kind, so
	// inner markers are dropped while one is open.
	bold, italic, strike int
	listDepth            int
}

// blocks renders the block children of n, skipping empty ones, joined by
// sep.
func (r *renderer) blocks(n ast.Node, sep string) string {
	var parts []string
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if s := r.block(c); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, sep)
}

func (r *renderer) block(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return r.paragraph(n)
	case *ast.Heading:
		r.bold++
		s := r.paragraph(n)
		r.bold--
		return wrapLines(s, "*")
	case *ast.ThematicBreak:
		return rule
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		return codeBlock(r.lines(n))
	case *ast.HTMLBlock:
		s := r.lines(n)
		if n.HasClosure() {
			s += string(n.ClosureLine.Value(r.src))
		}
		return breakBackticks(escapeText(strings.TrimRight(s, " \t\n")))
	case *ast.Blockquote:
		return prefixLines(r.blocks(n, "\n\n"), "> ", "> ", ">")
	case *ast.List:
		return r.list(n)
	case *east.Table:
		return r.table(n)
	}
	// Anything else: inline content is a paragraph, blocks are rendered in
	// turn.
	if c := n.FirstChild(); c != nil && c.Type() == ast.TypeInline {
		return r.paragraph(n)
	}
	return r.blocks(n, "\n\n")
}

// paragraph renders the inline children of n as one block.
func (r *renderer) paragraph(n ast.Node) string {
	var b strings.Builder
	r.inlines(&b, n)
	s := strings.TrimRight(b.String(), " \t\n")
	return breakBackticks(s)
}

// lines returns the raw source lines of a code or HTML block.
func (r *renderer) lines(n ast.Node) string {
	var b strings.Builder
	l := n.Lines()
	for i := 0; i < l.Len(); i++ {
		seg := l.At(i)
		b.Write(seg.Value(r.src))
	}
	return b.String()
}

// codeBlock wraps literal code in fences. Blank code renders as nothing.
func codeBlock(code string) string {
	code = strings.TrimRight(code, "\n")
	if strings.TrimSpace(code) == "" {
		return ""
	}
	return fence + "\n" + breakBackticks(escapeText(code)) + "\n" + fence
}

// prefixLines prefixes the first line of s with first, the others with
// rest, and blank lines with blank.
func prefixLines(s, first, rest, blank string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		switch {
		case i == 0:
			lines[i] = strings.TrimRight(first+l, " ")
		case l == "":
			lines[i] = blank
		default:
			lines[i] = rest + l
		}
	}
	return strings.Join(lines, "\n")
}

func (r *renderer) list(l *ast.List) string {
	marker := bullet
	if r.listDepth > 0 {
		marker = nestedBullet
	}
	r.listDepth++
	defer func() { r.listDepth-- }()
	sep := "\n"
	if !l.IsTight {
		sep = "\n\n"
	}
	num := l.Start
	var items []string
	for c := l.FirstChild(); c != nil; c = c.NextSibling() {
		m := marker
		if l.IsOrdered() {
			m = strconv.Itoa(num) + "."
			num++
		}
		if box := taskBox(c); box != "" {
			m += " " + box
		}
		// The task checkbox leaves a space before the item text.
		first, rest, more := strings.Cut(r.blocks(c, sep), "\n")
		body := strings.TrimLeft(first, " ")
		if more {
			body += "\n" + rest
		}
		if body == "" {
			items = append(items, m)
			continue
		}
		items = append(items, prefixLines(body, m+" ", listIndent, ""))
	}
	return strings.Join(items, sep)
}

// taskBox returns the checkbox glyph of a task-list item, or "".
func taskBox(item ast.Node) string {
	if p := item.FirstChild(); p != nil {
		if cb, ok := p.FirstChild().(*east.TaskCheckBox); ok {
			if cb.IsChecked {
				return checked
			}
			return unchecked
		}
	}
	return ""
}

// inlines renders the inline children of n into b.
func (r *renderer) inlines(b *strings.Builder, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		r.inline(b, c)
	}
}

func (r *renderer) inline(b *strings.Builder, n ast.Node) {
	switch n := n.(type) {
	case *ast.Text:
		b.WriteString(escapeText(r.textValue(n)))
		if n.HardLineBreak() || n.SoftLineBreak() {
			b.WriteByte('\n')
		}
	case *ast.String:
		b.WriteString(escapeText(r.stringValue(n)))
	case *ast.CodeSpan:
		code := r.codeSpan(n)
		if code == "" {
			return
		}
		b.WriteString("`")
		b.WriteString(escapeText(strings.ReplaceAll(code, "`", codeBacktick)))
		b.WriteString("`")
	case *ast.Emphasis:
		if n.Level >= 2 {
			r.emphasis(b, n, "*", "", &r.bold)
		} else {
			r.emphasis(b, n, "_", "*", &r.italic)
		}
	case *east.Strikethrough:
		r.emphasis(b, n, "~", "", &r.strike)
	case *ast.Link:
		r.link(b, decodeText(n.Destination), r.plain(n), true)
	case *ast.Image:
		r.link(b, decodeText(n.Destination), r.plain(n), false)
	case *ast.AutoLink:
		url := string(n.URL(r.src))
		if n.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(url), "mailto:") {
			url = "mailto:" + url
		}
		r.link(b, url, string(n.Label(r.src)), false)
	case *ast.RawHTML:
		b.WriteString(escapeText(string(n.Segments.Value(r.src))))
	case *east.TaskCheckBox:
		// Rendered by the list item.
	default:
		r.inlines(b, n)
	}
}

func (r *renderer) textValue(n *ast.Text) string {
	v := n.Value(r.src)
	if n.IsRaw() {
		return string(v)
	}
	return decodeText(v)
}

func (r *renderer) stringValue(n *ast.String) string {
	if n.IsRaw() || n.IsCode() {
		return string(n.Value)
	}
	return decodeText(n.Value)
}

// codeSpan returns the literal content of inline code, line breaks turned
// into spaces as CommonMark prescribes.
func (r *renderer) codeSpan(n ast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(r.src))
		case *ast.String:
			b.Write(c.Value)
		}
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}

// emphasis renders bold, italic or strikethrough. depth counts open
// emphasis of the same kind: when one is already open the markers are
// dropped. Slack only formats at word boundaries, so emphasis that Markdown
// allows inside a word (foo**bar**baz) loses its markers, except that a
// single '*' between letters or digits on both sides (2*3*4) is kept as
// the literal, since Slack can neither open nor close there. literal is ""
// where that does not apply.
func (r *renderer) emphasis(b *strings.Builder, n ast.Node, marker, literal string, depth *int) {
	before, _ := utf8.DecodeLastRuneInString(b.String())
	after := r.runeAfter(n)
	*depth++
	var inner strings.Builder
	r.inlines(&inner, n)
	*depth--
	content := inner.String()
	switch {
	case *depth > 0:
		b.WriteString(content)
	case literal != "" && isWordRune(before) && isWordRune(after):
		b.WriteString(literal + content + literal)
	case isWordRune(before) || isWordRune(after):
		b.WriteString(content)
	default:
		b.WriteString(wrapLines(content, marker))
	}
}

// runeAfter returns the first character rendered after n inside its
// parent, or 0 when that is a boundary.
func (r *renderer) runeAfter(n ast.Node) rune {
	var s string
	switch next := n.NextSibling().(type) {
	case *ast.Text:
		s = r.textValue(next)
		if s == "" && (next.SoftLineBreak() || next.HardLineBreak()) {
			return '\n'
		}
	case *ast.String:
		s = r.stringValue(next)
	}
	c, _ := utf8.DecodeRuneInString(s)
	if c == utf8.RuneError {
		return 0
	}
	return c
}

func isWordRune(c rune) bool {
	return unicode.IsLetter(c) || unicode.IsDigit(c)
}

// wrapLines puts marker around the content of every non-blank line of s,
// inside its leading and trailing whitespace, which Slack requires.
func wrapLines(s, marker string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		core := strings.TrimFunc(l, unicode.IsSpace)
		if core == "" {
			continue
		}
		start := strings.Index(l, core)
		lines[i] = l[:start] + marker + core + marker + l[start+len(core):]
	}
	return strings.Join(lines, "\n")
}

// link renders a link, autolink or image. label and rawURL are literal
// (unescaped) text. URLs Slack should not link come out as plain text: the
// label, followed by the URL in parentheses when withURL is set and it
// says something the label does not.
func (r *renderer) link(b *strings.Builder, rawURL, label string, withURL bool) {
	url, ok := linkURL(rawURL)
	if !ok {
		s := label
		if withURL && rawURL != "" && rawURL != label {
			if s == "" {
				s = rawURL
			} else {
				s += " (" + rawURL + ")"
			}
		}
		b.WriteString(escapeText(s))
		return
	}
	b.WriteString("<")
	b.WriteString(url)
	if label != "" && label != strings.TrimSpace(rawURL) {
		b.WriteString("|")
		b.WriteString(escapeText(label))
	}
	b.WriteString(">")
}

// plain returns the literal text of n's inline content with all formatting
// dropped and line breaks turned into spaces; it is used where Slack
// cannot format (link labels, table cells in a code block).
func (r *renderer) plain(n ast.Node) string {
	var b strings.Builder
	r.plainInto(&b, n)
	return strings.TrimSpace(strings.NewReplacer("\n", " ", "\t", " ").Replace(b.String()))
}

func (r *renderer) plainInto(b *strings.Builder, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b.WriteString(r.textValue(c))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.WriteString(r.stringValue(c))
		case *ast.CodeSpan:
			b.WriteString(r.codeSpan(c))
		case *ast.AutoLink:
			b.Write(c.Label(r.src))
		case *ast.RawHTML:
			b.Write(c.Segments.Value(r.src))
		default:
			r.plainInto(b, c)
		}
	}
}
