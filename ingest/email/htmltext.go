package email

import (
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlOptions tune htmlToText.
type htmlOptions struct {
	// stripQuotes handles the quoted-history markers of mail clients:
	// a quote followed by more text is kept as "> " lines, a trailing one
	// becomes "[quoted text removed]".
	stripQuotes bool
	// cidNames maps lower-case Content-IDs (without brackets) to
	// attachment names, to name inline images.
	cidNames map[string]string
}

// htmlToText renders HTML as readable markdown-ish text: paragraphs and
// line breaks, "- " and "1. " lists, "# " headings, links as
// "text (url)", `code`, fenced <pre>, tables as "| a | b |" rows, and
// images as "[image: name]". With stripQuotes, quoted history is
// recognised by the markers of Outlook, Gmail, Yahoo, Apple Mail and
// Thunderbird:
//
//   - containers, whose content is quoted: div#mail-editor-reference-
//     message-container (Outlook web), .gmail_quote and
//     .gmail_quote_container (Gmail), .yahoo_quoted (Yahoo),
//     blockquote[type=cite] (Apple Mail, Thunderbird), .moz-cite-prefix
//     (Thunderbird's "On … wrote:" line);
//   - the boundary div#divRplyFwdMsg (Outlook desktop): it, everything
//     after it and the <hr> just before it are quoted.
//
// Consecutive quote containers form one quote. The result is trimmed,
// has no trailing spaces and no more than one blank line in a row.
//
// x/net/html refuses documents nested deeper than 512 elements; such a
// document is parsed again without the tags nested too deep (see
// capNesting), and if that still fails its text is extracted token by
// token (keeping everything, quotes included).
func htmlToText(src string, opts htmlOptions) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		doc, err = html.Parse(strings.NewReader(capNesting(src)))
	}
	if err != nil {
		return tokenText(src)
	}
	c := newConverter(opts)
	if opts.stripQuotes {
		c.markBoundaryRules(doc)
	}
	c.render(doc)
	return c.finish()
}

// textBuf accumulates rendered text.
type textBuf struct {
	b []byte
	// prefix is written before the next visible text: a list marker or
	// heading hashes.
	prefix string
}

func (t *textBuf) atLineStart() bool { return len(t.b) == 0 || t.b[len(t.b)-1] == '\n' }

func (t *textBuf) trimSpaces() {
	for len(t.b) > 0 && t.b[len(t.b)-1] == ' ' {
		t.b = t.b[:len(t.b)-1]
	}
}

// newline makes the text end in at least n newlines (1: a line break,
// 2: a blank line), unless nothing was written yet or a list item or
// heading waits for its text.
func (t *textBuf) newline(n int) {
	if len(t.b) == 0 || t.prefix != "" {
		return
	}
	t.trimSpaces()
	have := 0
	for i := len(t.b) - 1; i >= 0 && t.b[i] == '\n' && have < n; i-- {
		have++
	}
	for ; have < n; have++ {
		t.b = append(t.b, '\n')
	}
}

// br is a hard line break.
func (t *textBuf) br() {
	t.trimSpaces()
	t.b = append(t.b, '\n')
}

// text writes whitespace-collapsed inline text.
func (t *textBuf) text(s string) {
	if t.atLineStart() || t.b[len(t.b)-1] == ' ' {
		s = strings.TrimLeft(s, " ")
	}
	if s == "" {
		return
	}
	if t.prefix != "" {
		t.b = append(t.b, t.prefix...)
		t.prefix = ""
	}
	t.b = append(t.b, s...)
}

// line writes s as a line of its own.
func (t *textBuf) line(s string) {
	if !t.atLineStart() {
		t.trimSpaces()
		t.b = append(t.b, '\n')
	}
	if t.prefix != "" {
		s = t.prefix + s
		t.prefix = ""
	}
	t.b = append(t.b, s...)
	t.b = append(t.b, '\n')
}

// tidy trims trailing blanks of every line, squeezes blank lines and
// trims the whole text.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := true // drops leading blank lines
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

// listState is an open <ul> or <ol>.
type listState struct {
	ordered bool
	next    int
}

// inlineMark is an open element whose rendered text is finished on leave.
type inlineMark struct {
	buf   *textBuf
	start int
}

type converter struct {
	opts  htmlOptions
	depth int // nesting of table cells rendered by sub-converters
	main  *textBuf
	sink  *textBuf // main, or the quote being collected
	lists []listState
	marks map[*html.Node]inlineMark
	skip  map[*html.Node]bool

	quoteNode *html.Node // the quote container being collected
	quoteRest bool       // a boundary was met: the rest is quoted
	pending   *textBuf   // a closed quote nothing visible followed yet
}

func newConverter(opts htmlOptions) *converter {
	main := &textBuf{}
	return &converter{
		opts:  opts,
		main:  main,
		sink:  main,
		marks: map[*html.Node]inlineMark{},
		skip:  map[*html.Node]bool{},
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return true
		}
	}
	return false
}

func hasClass(n *html.Node, names ...string) bool {
	for _, c := range strings.Fields(strings.ToLower(attr(n, "class"))) {
		for _, name := range names {
			if c == name {
				return true
			}
		}
	}
	return false
}

// isQuoteContainer reports whether n's content is quoted history.
func isQuoteContainer(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	if strings.EqualFold(attr(n, "id"), "mail-editor-reference-message-container") {
		return true
	}
	if hasClass(n, "gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix") {
		return true
	}
	return n.DataAtom == atom.Blockquote && strings.EqualFold(strings.TrimSpace(attr(n, "type")), "cite")
}

// isQuoteBoundary reports whether n starts quoted history that runs to
// the end of the document.
func isQuoteBoundary(n *html.Node) bool {
	return n.Type == html.ElementNode && strings.EqualFold(attr(n, "id"), "divRplyFwdMsg")
}

// markBoundaryRules marks the <hr> Outlook puts just before its
// divRplyFwdMsg boundary, which belongs to the quoted history.
func (c *converter) markBoundaryRules(doc *html.Node) {
	stack := []*html.Node{doc}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if isQuoteBoundary(n) {
			if hr := ruleBefore(n); hr != nil {
				c.skip[hr] = true
			}
			continue
		}
		for ch := n.LastChild; ch != nil; ch = ch.PrevSibling {
			stack = append(stack, ch)
		}
	}
}

// ruleBefore returns the <hr> right before n, looking through
// whitespace, comments and up to three enclosing elements of which n is
// the first content.
func ruleBefore(n *html.Node) *html.Node {
	for level := 0; n != nil && level < 4; level++ {
		prev := n.PrevSibling
		for prev != nil && (prev.Type == html.CommentNode || (prev.Type == html.TextNode && isBlankText(prev.Data))) {
			prev = prev.PrevSibling
		}
		if prev != nil {
			if prev.Type == html.ElementNode && prev.DataAtom == atom.Hr {
				return prev
			}
			return nil
		}
		n = n.Parent
	}
	return nil
}

func isBlankText(s string) bool {
	return strings.TrimSpace(collapse(s)) == ""
}

// render walks the tree below root without recursion (mail HTML can nest
// very deeply).
func (c *converter) render(root *html.Node) {
	type frame struct {
		n     *html.Node
		leave bool
	}
	stack := []frame{{n: root}}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if f.leave {
			c.leave(f.n)
			continue
		}
		if !c.enter(f.n) {
			continue
		}
		stack = append(stack, frame{n: f.n, leave: true})
		for ch := f.n.LastChild; ch != nil; ch = ch.PrevSibling {
			stack = append(stack, frame{n: ch})
		}
	}
}

// visible returns the sink for visible content, first writing out a
// pending quote that it follows (an inline reply).
func (c *converter) visible() *textBuf {
	if c.sink == c.main && c.pending != nil {
		q := tidy(string(c.pending.b))
		c.pending = nil
		if q != "" {
			c.main.newline(2)
			for _, l := range strings.Split(q, "\n") {
				if l == "" {
					c.main.line(">")
				} else {
					c.main.line("> " + l)
				}
			}
			c.main.newline(2)
		}
	}
	return c.sink
}

// startQuote directs output to a quote buffer, continuing a pending
// quote so that adjacent containers form one quote.
func (c *converter) startQuote() {
	if c.pending != nil {
		c.sink = c.pending
		c.pending = nil
		c.sink.newline(1)
		return
	}
	c.sink = &textBuf{}
}

// endQuote closes the quote being collected; it stays pending until
// visible content follows.
func (c *converter) endQuote() {
	c.pending = c.sink
	c.pending.prefix = ""
	c.sink = c.main
	c.quoteNode = nil
}

func (c *converter) finish() string {
	if c.quoteRest || c.quoteNode != nil {
		c.endQuote()
	}
	if c.pending != nil {
		c.pending = nil
		c.main.prefix = ""
		c.main.newline(2)
		c.main.line(quotedMarker)
	}
	return tidy(string(c.main.b))
}

// hidden reports whether an element is not displayed.
func hidden(n *html.Node) bool {
	if hasAttr(n, "hidden") {
		return true
	}
	style := strings.ToLower(strings.Join(strings.Fields(attr(n, "style")), ""))
	return strings.Contains(style, "display:none") || strings.Contains(style, "mso-hide:all")
}

// enter handles the start of n and reports whether its children are to
// be rendered (then leave is called after them).
func (c *converter) enter(n *html.Node) bool {
	switch n.Type {
	case html.DocumentNode:
		return true
	case html.TextNode:
		c.textNode(n.Data)
		return false
	case html.ElementNode:
	default:
		return false
	}
	if c.skip[n] || hidden(n) {
		return false
	}
	if c.opts.stripQuotes && c.quoteNode == nil && !c.quoteRest {
		switch {
		case isQuoteBoundary(n):
			c.startQuote()
			c.quoteRest = true
		case isQuoteContainer(n):
			c.startQuote()
			c.quoteNode = n
		}
	}
	if !c.element(n) {
		if n == c.quoteNode {
			c.endQuote()
		}
		return false
	}
	return true
}

// element handles the start of an element and reports whether its
// children are to be rendered.
func (c *converter) element(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Noscript,
		atom.Object, atom.Embed, atom.Iframe, atom.Svg, atom.Math, atom.Select, atom.Button, atom.Input:
		return false
	case atom.Br:
		c.sink.br()
		return false
	case atom.Hr:
		t := c.visible()
		t.newline(2)
		t.line("---")
		t.newline(1)
		return false
	case atom.Img:
		if s := c.imageText(n); s != "" {
			c.visible().text(" " + s + " ")
		}
		return false
	case atom.Pre:
		c.pre(n)
		return false
	case atom.Table:
		if !c.layoutTable(n) {
			c.dataTable(n)
			return false
		}
		c.sink.newline(1)
	case atom.P:
		c.sink.newline(2)
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		c.sink.newline(2)
		level := int(n.Data[1] - '0')
		c.sink.prefix += strings.Repeat("#", level) + " "
	case atom.Ul, atom.Ol, atom.Menu:
		if len(c.lists) == 0 {
			c.sink.newline(2)
		} else {
			c.sink.newline(1)
		}
		l := listState{ordered: n.DataAtom == atom.Ol, next: 1}
		if s, err := strconv.Atoi(strings.TrimSpace(attr(n, "start"))); err == nil && s >= 0 && s < 1e6 {
			l.next = s
		}
		c.lists = append(c.lists, l)
	case atom.Li:
		c.sink.prefix = ""
		c.sink.newline(1)
		marker := "- "
		depth := len(c.lists)
		if depth > 0 && c.lists[depth-1].ordered {
			marker = strconv.Itoa(c.lists[depth-1].next) + ". "
			c.lists[depth-1].next++
		}
		if depth > 1 {
			marker = strings.Repeat("  ", min(depth-1, 10)) + marker
		}
		c.sink.prefix = marker
	case atom.A, atom.Code, atom.Tt, atom.Kbd, atom.Samp:
		c.marks[n] = inlineMark{buf: c.sink, start: len(c.sink.b)}
	default:
		if isBlock(n.DataAtom) {
			c.sink.newline(1)
		}
	}
	return true
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.Div, atom.Blockquote, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Nav, atom.Aside, atom.Main, atom.Address, atom.Figure, atom.Figcaption,
		atom.Center, atom.Dl, atom.Dt, atom.Dd, atom.Form, atom.Fieldset, atom.Details,
		atom.Summary, atom.Tr, atom.Td, atom.Th, atom.Tbody, atom.Thead, atom.Tfoot,
		atom.Caption, atom.Body, atom.Html, atom.Legend:
		return true
	}
	return false
}

// leave handles the end of an element whose children were rendered.
func (c *converter) leave(n *html.Node) {
	if n.Type != html.ElementNode {
		return
	}
	switch n.DataAtom {
	case atom.P:
		c.sink.newline(2)
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		c.sink.prefix = ""
		c.sink.newline(2)
	case atom.Ul, atom.Ol, atom.Menu:
		if len(c.lists) > 0 {
			c.lists = c.lists[:len(c.lists)-1]
		}
		c.sink.prefix = ""
		if len(c.lists) == 0 {
			c.sink.newline(2)
		} else {
			c.sink.newline(1)
		}
	case atom.Li:
		c.sink.prefix = ""
		c.sink.newline(1)
	case atom.A:
		c.finishLink(n)
	case atom.Code, atom.Tt, atom.Kbd, atom.Samp:
		c.finishCode(n)
	default:
		if isBlock(n.DataAtom) || n.DataAtom == atom.Table {
			c.sink.newline(1)
		}
	}
	if n == c.quoteNode {
		c.endQuote()
	}
}

// collapse applies HTML whitespace collapsing: runs of whitespace (and
// no-break spaces) become one space; zero-width spaces, BOMs and other
// control characters go.
func collapse(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\u00a0':
			space = true
			continue
		case '\u200b', '\ufeff':
			continue
		}
		if r < 0x20 || r == 0x7f {
			// Other control characters are noise.
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

func (c *converter) textNode(data string) {
	s := collapse(data)
	if strings.TrimSpace(s) == "" {
		if s != "" {
			c.sink.text(" ")
		}
		return
	}
	c.visible().text(s)
}

// imageText names an image: its attachment for a cid: source, else its
// alt text; "" for an unnamed remote image.
func (c *converter) imageText(n *html.Node) string {
	src := strings.TrimSpace(attr(n, "src"))
	if len(src) > 4 && strings.EqualFold(src[:4], "cid:") {
		cid := src[4:]
		if u, err := url.PathUnescape(cid); err == nil {
			cid = u
		}
		if name := c.opts.cidNames[contentID(cid)]; name != "" {
			return "[image: " + name + "]"
		}
	}
	if alt := strings.TrimSpace(collapse(attr(n, "alt"))); alt != "" {
		return "[image: " + alt + "]"
	}
	return ""
}

// finishLink appends " (url)" to a link's text unless the text already
// says it or the link goes nowhere useful.
func (c *converter) finishLink(n *html.Node) {
	m, ok := c.marks[n]
	delete(c.marks, n)
	if !ok || m.buf != c.sink || m.start > len(m.buf.b) {
		return
	}
	href := linkTarget(attr(n, "href"))
	if href == "" {
		return
	}
	inner := strings.TrimSpace(collapse(string(m.buf.b[m.start:])))
	if inner == "" || sameLink(inner, href) {
		return
	}
	m.buf.text(" (" + href + ")")
}

// linkTarget returns the URL worth showing for an href: web, FTP and
// mailto links, with Outlook Safe Links unwrapped; "" for anchors,
// scripts, cid: and the like.
func linkTarget(href string) string {
	href = strings.TrimSpace(href)
	lower := strings.ToLower(href)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "ftp://"):
	case strings.HasPrefix(lower, "mailto:"):
		return href
	default:
		return ""
	}
	if u, err := url.Parse(href); err == nil && strings.HasSuffix(strings.ToLower(u.Hostname()), ".safelinks.protection.outlook.com") {
		if target := u.Query().Get("url"); target != "" {
			return linkTarget(target)
		}
	}
	return href
}

// sameLink reports whether a link's text already shows its target.
func sameLink(text, href string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"mailto:", "https://", "http://", "ftp://"} {
			s = strings.TrimPrefix(s, p)
		}
		s = strings.TrimPrefix(s, "www.")
		return strings.TrimRight(s, "/")
	}
	t, h := norm(text), norm(href)
	return t == h || strings.Contains(t, h)
}

// finishCode wraps inline code in backticks.
func (c *converter) finishCode(n *html.Node) {
	m, ok := c.marks[n]
	delete(c.marks, n)
	if !ok || m.buf != c.sink || m.start > len(m.buf.b) {
		return
	}
	b := m.buf.b
	i := m.start
	for i < len(b) && (b[i] == ' ' || b[i] == '\n') {
		i++
	}
	j := len(b)
	for j > i && b[j-1] == ' ' {
		j--
	}
	if i >= j || strings.ContainsRune(string(b[i:j]), '\n') || strings.ContainsRune(string(b[i:j]), '`') {
		return
	}
	// Insert the backticks in place: only the code and what follows it
	// move.
	b = append(b, 0, 0)
	copy(b[j+2:], b[j:len(b)-2])
	b[j+1] = '`'
	copy(b[i+1:j+1], b[i:j])
	b[i] = '`'
	m.buf.b = b
}

// pre writes preformatted text as a fenced block.
func (c *converter) pre(n *html.Node) {
	var b strings.Builder
	stack := []*html.Node{}
	for ch := n.LastChild; ch != nil; ch = ch.PrevSibling {
		stack = append(stack, ch)
	}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x.Type {
		case html.TextNode:
			b.WriteString(strings.ReplaceAll(x.Data, "\u00a0", " "))
			continue
		case html.ElementNode:
		default:
			continue
		}
		switch x.DataAtom {
		case atom.Script, atom.Style:
			continue
		case atom.Br:
			b.WriteByte('\n')
			continue
		case atom.Img:
			b.WriteString(c.imageText(x))
			continue
		}
		if hidden(x) {
			continue
		}
		for ch := x.LastChild; ch != nil; ch = ch.PrevSibling {
			stack = append(stack, ch)
		}
	}
	text := strings.Trim(normalizeNewlines(b.String()), "\n")
	if strings.TrimSpace(text) == "" {
		return
	}
	t := c.visible()
	t.newline(2)
	if hasClass(n, "moz-signature") {
		// Thunderbird's plain-text signature: lines, not code.
		for _, l := range strings.Split(text, "\n") {
			t.line(strings.TrimRight(l, " \t"))
		}
		t.newline(2)
		return
	}
	t.line("```")
	for _, l := range strings.Split(text, "\n") {
		t.line(strings.TrimRight(l, " \t"))
	}
	t.line("```")
	t.newline(2)
}

// tableRows returns the rows of a table (not of tables inside it) and
// their cells.
func tableRows(table *html.Node) [][]*html.Node {
	var rows [][]*html.Node
	addRow := func(tr *html.Node) {
		var cells []*html.Node
		for td := tr.FirstChild; td != nil; td = td.NextSibling {
			if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
				cells = append(cells, td)
			}
		}
		rows = append(rows, cells)
	}
	for ch := table.FirstChild; ch != nil; ch = ch.NextSibling {
		if ch.Type != html.ElementNode {
			continue
		}
		switch ch.DataAtom {
		case atom.Tr:
			addRow(ch)
		case atom.Thead, atom.Tbody, atom.Tfoot:
			for tr := ch.FirstChild; tr != nil; tr = tr.NextSibling {
				if tr.Type == html.ElementNode && tr.DataAtom == atom.Tr {
					addRow(tr)
				}
			}
		}
	}
	return rows
}

// layoutTable reports whether a table only lays content out (no row has
// more than one cell); it is then rendered as ordinary blocks.
func (c *converter) layoutTable(n *html.Node) bool {
	for _, row := range tableRows(n) {
		if len(row) > 1 {
			return false
		}
	}
	return true
}

// dataTable writes a table as "| a | b |" rows, with a "| --- |"
// separator after a first row of header cells.
func (c *converter) dataTable(n *html.Node) {
	var lines []string
	cols := 0
	for _, row := range tableRows(n) {
		if len(row) > cols {
			cols = len(row)
		}
	}
	for _, row := range tableRows(n) {
		cells := make([]string, cols)
		empty, header := true, false
		for i, td := range row {
			cells[i] = c.cellText(td)
			if cells[i] != "" {
				empty = false
			}
			if td.DataAtom == atom.Th {
				header = true
			}
		}
		if empty {
			continue
		}
		lines = append(lines, "| "+strings.Join(cells, " | ")+" |")
		if len(lines) == 1 && header {
			lines = append(lines, "|"+strings.Repeat(" --- |", cols))
		}
	}
	if len(lines) == 0 {
		return
	}
	t := c.visible()
	t.newline(2)
	for _, l := range lines {
		t.line(l)
	}
	t.newline(2)
}

// maxCellDepth bounds the nesting of data tables rendered cell by cell;
// deeper cells are reduced to their text.
const maxCellDepth = 8

// cellText renders a table cell on one line.
func (c *converter) cellText(td *html.Node) string {
	if c.depth >= maxCellDepth {
		return strings.TrimSpace(collapse(strings.ReplaceAll(textContent(td), "|", `\|`)))
	}
	sub := newConverter(htmlOptions{cidNames: c.opts.cidNames})
	sub.depth = c.depth + 1
	for ch := td.FirstChild; ch != nil; ch = ch.NextSibling {
		sub.render(ch)
	}
	return strings.TrimSpace(collapse(strings.ReplaceAll(sub.finish(), "|", `\|`)))
}

// textContent returns the text of the nodes below n, without markup.
func textContent(n *html.Node) string {
	var b strings.Builder
	stack := []*html.Node{n}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case x.Type == html.TextNode:
			b.WriteString(x.Data)
			continue
		case x.Type == html.ElementNode && (x.DataAtom == atom.Script || x.DataAtom == atom.Style):
			continue
		case x.Type == html.ElementNode:
			b.WriteByte(' ')
		}
		for ch := x.LastChild; ch != nil; ch = ch.PrevSibling {
			stack = append(stack, ch)
		}
	}
	return b.String()
}

// Element depths capNesting keeps: elements that only style text are
// dropped from inlineNesting on, all others from blockNesting on.
const (
	inlineNesting = 100
	blockNesting  = 400
)

// capNesting drops the tags of elements nested too deep (counted
// naively, start tag to end tag, over the tags kept), keeping all text.
func capNesting(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	b.Grow(len(src))
	depth := 0
	dropped := map[string]int{}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if !isVoid(a) {
				limit := blockNesting
				if !structural(a) {
					limit = inlineNesting
				}
				if depth >= limit {
					dropped[string(name)]++
					continue
				}
				depth++
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if dropped[string(name)] > 0 {
				dropped[string(name)]--
				continue
			}
			if depth > 0 {
				depth--
			}
		}
		b.Write(z.Raw())
	}
}

// structural reports whether an element matters to htmlToText beyond its
// text.
func structural(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Li, atom.Ul, atom.Ol, atom.Menu, atom.Table, atom.Pre, atom.A, atom.Code,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Script, atom.Style,
		atom.Head, atom.Title, atom.Template, atom.Noscript, atom.Object, atom.Iframe, atom.Svg,
		atom.Math, atom.Select, atom.Button:
		return true
	}
	return isBlock(a)
}

func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr, atom.Param, atom.Keygen:
		return true
	}
	return false
}

// tokenText is the last resort for HTML that cannot be parsed into a
// tree: its text, with line breaks at block elements.
func tokenText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var t textBuf
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidy(string(t.b))
		case html.TextToken:
			t.text(collapse(string(z.Text())))
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case a == atom.Script || a == atom.Style || a == atom.Title:
				if tt == html.StartTagToken {
					// The tokenizer returns their content as one text
					// token: skip it.
					if z.Next() == html.TextToken {
						continue
					}
				}
			case a == atom.Br && tt != html.EndTagToken:
				t.br()
			case a == atom.P || a == atom.Li || a == atom.Hr || a == atom.Pre || isBlock(a) ||
				a == atom.Ul || a == atom.Ol || a == atom.Table || a == atom.H1 || a == atom.H2 ||
				a == atom.H3 || a == atom.H4 || a == atom.H5 || a == atom.H6:
				t.newline(1)
			}
		}
	}
}
