package mailout

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Inline styles. Email clients drop <style> blocks and external CSS, so
// every element that needs a look carries its own. Fonts and colours of
// ordinary text are left to the client.
const (
	styleHeading1   = "font-size:1.25em"
	styleCode       = "font-family:Menlo,Consolas,'Courier New',monospace;font-size:0.9em;background-color:#f4f4f4;border-radius:3px;padding:1px 4px"
	stylePre        = "font-family:Menlo,Consolas,'Courier New',monospace;font-size:0.9em;background-color:#f4f4f4;border:1px solid #ddd;border-radius:4px;padding:8px 10px;margin:0;white-space:pre-wrap;word-wrap:break-word"
	styleBlockquote = "margin:0 0 0 0.8em;border-left:2px solid #ccc;padding:0 0 0 0.6em;color:#666"
	styleList       = "margin:0;padding-left:1.8em"
	styleTable      = "border-collapse:collapse;border:1px solid #ccc"
	styleCell       = "border:1px solid #ccc;padding:4px 8px"
	styleHeaderCell = "border:1px solid #ccc;padding:4px 8px;background-color:#f4f4f4;font-weight:bold"
	styleRule       = "border:none;border-top:1px solid #ccc;margin:0.5em 0"
)

// RenderHTML turns the agent's Markdown into an HTML fragment that email
// clients show well. It follows CommonMark with GFM tables, strikethrough,
// task lists and bare-URL links, and these email rules:
//
//   - no <p>: a paragraph ends in <br>, and one more <br> leaves a blank
//     line before whatever block follows it;
//   - no <h1>–<h6>: a heading is styled text (level 1 bold, underlined and
//     larger; level 2 bold; 3 and deeper bold italic);
//   - no <img>: an image is a link to its source, with the alt text;
//   - raw HTML in the Markdown is shown as text, never passed through;
//   - code, code blocks, blockquotes and tables carry inline styles;
//   - a link gets an href only for http, https and mailto; any other link
//     is its text alone;
//   - in a table row a pipe inside a code span does not end the cell, and
//     rows are padded or cut to the delimiter row's column count.
//
// The plain-text alternative of an email is the Markdown itself.
func RenderHTML(markdown string) string {
	src := []byte(strings.ReplaceAll(strings.ToValidUTF8(markdown, "\uFFFD"), "\x00", "\uFFFD"))
	var buf bytes.Buffer
	if err := newMarkdown().Convert(src, &buf); err != nil {
		// The renderer below never fails; should goldmark ever do so, the
		// reader still gets the words.
		return strings.ReplaceAll(string(util.EscapeHTML(src)), "\n", "<br>\n")
	}
	return strings.TrimRight(buf.String(), "\n")
}

// newMarkdown builds the converter. It is built per call: a
// goldmark.Markdown holds lazily initialised state, and this package keeps
// none at package level.
func newMarkdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithParserOptions(
			// Our own GFM table parser (see tableTransformer), after link
			// reference definitions (100) as in goldmark's extension.
			parser.WithParagraphTransformers(util.Prioritized(tableTransformer{}, 200)),
			parser.WithInlineParsers(
				util.Prioritized(extension.NewTaskCheckBoxParser(), 0),
				util.Prioritized(extension.NewStrikethroughParser(), 500),
				util.Prioritized(extension.NewLinkifyParser(), 999),
			),
		),
		// Only our node renderer: a node kind it does not know renders as
		// its children, and text is always escaped.
		goldmark.WithRenderer(renderer.NewRenderer(
			renderer.WithNodeRenderers(util.Prioritized(emailRenderer{}, 100)),
		)),
	)
}

// emailRenderer renders every goldmark node kind that the parser above
// produces, by the rules of RenderHTML.
type emailRenderer struct{}

func (r emailRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	// Blocks.
	reg.Register(ast.KindDocument, r.document)
	reg.Register(ast.KindParagraph, r.paragraph)
	reg.Register(ast.KindTextBlock, r.textBlock)
	reg.Register(ast.KindHeading, r.heading)
	reg.Register(ast.KindThematicBreak, r.thematicBreak)
	reg.Register(ast.KindCodeBlock, r.codeBlock)
	reg.Register(ast.KindFencedCodeBlock, r.codeBlock)
	reg.Register(ast.KindBlockquote, r.blockquote)
	reg.Register(ast.KindList, r.list)
	reg.Register(ast.KindListItem, r.listItem)
	reg.Register(ast.KindHTMLBlock, r.htmlBlock)
	reg.Register(extast.KindTable, r.table)
	reg.Register(extast.KindTableHeader, r.tableHeader)
	reg.Register(extast.KindTableRow, r.tableRow)
	reg.Register(extast.KindTableCell, r.tableCell)
	// Inlines.
	reg.Register(ast.KindText, r.text)
	reg.Register(ast.KindString, r.string)
	reg.Register(ast.KindCodeSpan, r.codeSpan)
	reg.Register(ast.KindEmphasis, r.emphasis)
	reg.Register(extast.KindStrikethrough, r.strikethrough)
	reg.Register(ast.KindLink, r.link)
	reg.Register(ast.KindAutoLink, r.autoLink)
	reg.Register(ast.KindImage, r.image)
	reg.Register(ast.KindRawHTML, r.rawHTML)
	reg.Register(extast.KindTaskCheckBox, r.taskCheckBox)
}

// escape writes b with <, >, & and " escaped.
func escape(w util.BufWriter, b []byte) { html.DefaultWriter.RawWrite(w, b) }

// writeText writes Markdown text: backslash escapes and entity references
// resolved, then escaped for HTML.
func writeText(w util.BufWriter, b []byte) { html.DefaultWriter.Write(w, b) }

// gap leaves a blank line after block n when another block follows it in
// the same container, except between the blocks of a tight list item.
func gap(w util.BufWriter, n ast.Node) {
	if n.NextSibling() == nil {
		return
	}
	if li, ok := n.Parent().(*ast.ListItem); ok {
		if l, ok := li.Parent().(*ast.List); ok && l.IsTight {
			return
		}
	}
	_, _ = w.WriteString("<br>\n")
}

func (emailRenderer) document(util.BufWriter, []byte, ast.Node, bool) (ast.WalkStatus, error) {
	return ast.WalkContinue, nil
}

func (emailRenderer) paragraph(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		_, _ = w.WriteString("<br>\n")
		gap(w, n)
	}
	return ast.WalkContinue, nil
}

// textBlock is the text of a tight list item: it ends its line when
// something follows it in the item (a nested list, say).
func (emailRenderer) textBlock(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering && n.NextSibling() != nil {
		_, _ = w.WriteString("<br>\n")
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) heading(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Heading)
	switch {
	case entering && n.Level == 1:
		_, _ = w.WriteString(`<strong style="` + styleHeading1 + `"><u>`)
	case entering && n.Level == 2:
		_, _ = w.WriteString("<strong>")
	case entering:
		_, _ = w.WriteString("<strong><em>")
	case n.Level == 1:
		_, _ = w.WriteString("</u></strong><br>\n")
	case n.Level == 2:
		_, _ = w.WriteString("</strong><br>\n")
	default:
		_, _ = w.WriteString("</em></strong><br>\n")
	}
	if !entering {
		gap(w, n)
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) thematicBreak(w util.BufWriter, _ []byte, _ ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString(`<hr style="` + styleRule + `">` + "\n")
	}
	return ast.WalkContinue, nil
}

// codeBlock renders indented and fenced code blocks; the info string of a
// fence is dropped.
func (emailRenderer) codeBlock(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	var code []byte
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		code = append(code, seg.Value(source)...)
	}
	_, _ = w.WriteString(`<pre style="` + stylePre + `">`)
	escape(w, bytes.TrimRight(code, "\r\n"))
	_, _ = w.WriteString("</pre>\n")
	gap(w, n)
	return ast.WalkSkipChildren, nil
}

func (emailRenderer) blockquote(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString(`<blockquote style="` + styleBlockquote + `">` + "\n")
	} else {
		_, _ = w.WriteString("</blockquote>\n")
		gap(w, n)
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) list(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.List)
	tag := "ul"
	if n.IsOrdered() {
		tag = "ol"
	}
	if entering {
		_, _ = w.WriteString("<" + tag)
		if n.IsOrdered() && n.Start != 1 {
			_, _ = fmt.Fprintf(w, ` start="%d"`, n.Start)
		}
		_, _ = w.WriteString(` style="` + styleList + `">` + "\n")
	} else {
		_, _ = w.WriteString("</" + tag + ">\n")
		gap(w, n)
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) listItem(w util.BufWriter, _ []byte, _ ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString("<li>")
	} else {
		_, _ = w.WriteString("</li>\n")
	}
	return ast.WalkContinue, nil
}

// htmlBlock shows a block of raw HTML as the text it is, line by line.
func (emailRenderer) htmlBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.HTMLBlock)
	var lines [][]byte
	for i := 0; i < n.Lines().Len(); i++ {
		seg := n.Lines().At(i)
		lines = append(lines, seg.Value(source))
	}
	if n.HasClosure() {
		lines = append(lines, n.ClosureLine.Value(source))
	}
	for _, line := range lines {
		escape(w, bytes.TrimRight(line, "\r\n"))
		_, _ = w.WriteString("<br>\n")
	}
	gap(w, n)
	return ast.WalkSkipChildren, nil
}

func (emailRenderer) table(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString(`<table style="` + styleTable + `">` + "\n")
	} else {
		_, _ = w.WriteString("</table>\n")
		gap(w, n)
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) tableHeader(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString("<thead>\n<tr>\n")
	} else {
		_, _ = w.WriteString("</tr>\n</thead>\n")
		if n.NextSibling() != nil {
			_, _ = w.WriteString("<tbody>\n")
		}
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) tableRow(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString("<tr>\n")
	} else {
		_, _ = w.WriteString("</tr>\n")
		if n.NextSibling() == nil {
			_, _ = w.WriteString("</tbody>\n")
		}
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) tableCell(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*extast.TableCell)
	tag, style := "td", styleCell
	if n.Parent().Kind() == extast.KindTableHeader {
		tag, style = "th", styleHeaderCell
	}
	if !entering {
		_, _ = w.WriteString("</" + tag + ">\n")
		return ast.WalkContinue, nil
	}
	switch n.Alignment {
	case extast.AlignLeft, extast.AlignRight, extast.AlignCenter:
		style += ";text-align:" + n.Alignment.String()
	default:
		if tag == "th" {
			style += ";text-align:left"
		}
	}
	_, _ = w.WriteString("<" + tag + ` style="` + style + `">`)
	return ast.WalkContinue, nil
}

func (emailRenderer) text(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Text)
	if n.IsRaw() {
		escape(w, n.Segment.Value(source))
	} else {
		writeText(w, n.Segment.Value(source))
	}
	switch {
	case n.HardLineBreak():
		_, _ = w.WriteString("<br>\n")
	case n.SoftLineBreak():
		_ = w.WriteByte('\n')
	}
	return ast.WalkContinue, nil
}

// string writes a String node. Unlike goldmark's HTML renderer it escapes
// "code" strings too: nothing reaches the output unescaped.
func (emailRenderer) string(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.String)
	if n.IsRaw() || n.IsCode() {
		escape(w, n.Value)
	} else {
		writeText(w, n.Value)
	}
	return ast.WalkContinue, nil
}

// codeSpan writes inline code. In a table cell, GFM's escaped pipe "\|"
// inside the code stands for "|".
func (emailRenderer) codeSpan(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		_, _ = w.WriteString("</code>")
		return ast.WalkContinue, nil
	}
	inCell := hasAncestor(n, extast.KindTableCell)
	_, _ = w.WriteString(`<code style="` + styleCode + `">`)
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		var v []byte
		switch c := c.(type) {
		case *ast.Text:
			v = c.Segment.Value(source)
			if bytes.HasSuffix(v, []byte("\n")) {
				v = append(v[:len(v)-1:len(v)-1], ' ')
			}
		case *ast.String:
			v = c.Value
		}
		if inCell {
			v = bytes.ReplaceAll(v, []byte(`\|`), []byte("|"))
		}
		escape(w, v)
	}
	return ast.WalkSkipChildren, nil
}

func (emailRenderer) emphasis(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	tag := "em"
	if node.(*ast.Emphasis).Level == 2 {
		tag = "strong"
	}
	if entering {
		_, _ = w.WriteString("<" + tag + ">")
	} else {
		_, _ = w.WriteString("</" + tag + ">")
	}
	return ast.WalkContinue, nil
}

func (emailRenderer) strikethrough(w util.BufWriter, _ []byte, _ ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString("<del>")
	} else {
		_, _ = w.WriteString("</del>")
	}
	return ast.WalkContinue, nil
}

// link writes <a href> around the link text when the destination is
// allowed and the link is not inside another one; otherwise only the text.
func (emailRenderer) link(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Link)
	href, ok := anchorHref(n)
	if !ok {
		return ast.WalkContinue, nil
	}
	if !entering {
		_, _ = w.WriteString("</a>")
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString(`<a href="` + href + `"`)
	if len(n.Title) > 0 {
		_, _ = w.WriteString(` title="`)
		writeText(w, n.Title)
		_ = w.WriteByte('"')
	}
	_ = w.WriteByte('>')
	return ast.WalkContinue, nil
}

// autoLink writes <https://…>, <user@host> and bare URLs found by linkify.
func (emailRenderer) autoLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.AutoLink)
	url := n.URL(source)
	if n.AutoLinkType == ast.AutoLinkEmail && !bytes.HasPrefix(bytes.ToLower(url), []byte("mailto:")) {
		url = append([]byte("mailto:"), url...)
	}
	href, ok := safeHref(url, false)
	if ok && !insideAnchor(n) {
		_, _ = w.WriteString(`<a href="` + href + `">`)
		escape(w, n.Label(source))
		_, _ = w.WriteString("</a>")
	} else {
		escape(w, n.Label(source))
	}
	return ast.WalkSkipChildren, nil
}

// image writes a link to the image, labelled with its alt text, or only
// the alt text when the source is not an allowed link.
func (emailRenderer) image(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Image)
	var alt bytes.Buffer
	altw := bufio.NewWriter(&alt)
	writeTexts(altw, source, n)
	_ = altw.Flush()
	href, ok := safeHref(n.Destination, true)
	ok = ok && !insideAnchor(n)
	switch {
	case ok && alt.Len() > 0:
		_, _ = w.WriteString(`<a href="` + href + `">`)
		_, _ = w.Write(alt.Bytes())
		_, _ = w.WriteString("</a>")
	case ok:
		_, _ = w.WriteString(`<a href="` + href + `">` + href + "</a>")
	case alt.Len() > 0:
		_, _ = w.Write(alt.Bytes())
	default:
		_, _ = w.WriteString("[image]")
	}
	return ast.WalkSkipChildren, nil
}

// writeTexts writes the text inside n (an image's alt text), escaped,
// without any markup.
func writeTexts(w util.BufWriter, source []byte, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			if c.IsRaw() {
				escape(w, c.Segment.Value(source))
			} else {
				writeText(w, c.Segment.Value(source))
			}
			if c.SoftLineBreak() || c.HardLineBreak() {
				_ = w.WriteByte(' ')
			}
		case *ast.String:
			escape(w, c.Value)
		case *ast.AutoLink:
			escape(w, c.Label(source))
		default:
			writeTexts(w, source, c)
		}
	}
}

// rawHTML shows inline HTML as the text it is.
func (emailRenderer) rawHTML(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	segs := node.(*ast.RawHTML).Segments
	for i := 0; i < segs.Len(); i++ {
		seg := segs.At(i)
		escape(w, seg.Value(source))
	}
	return ast.WalkSkipChildren, nil
}

// taskCheckBox writes a ballot box: ☑ when checked, ☐ when not.
func (emailRenderer) taskCheckBox(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	if node.(*extast.TaskCheckBox).IsChecked {
		_, _ = w.WriteString("&#9745; ")
	} else {
		_, _ = w.WriteString("&#9744; ")
	}
	return ast.WalkContinue, nil
}

// safeHref returns dest ready for an href attribute if it is an http,
// https or mailto URL. resolve says whether dest still holds Markdown
// backslash escapes and entity references (link destinations do,
// autolinks do not); the scheme is checked after they are resolved.
func safeHref(dest []byte, resolve bool) (string, bool) {
	u := dest
	if resolve {
		u = util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(dest)))
	}
	lower := bytes.ToLower(u[:min(len(u), len("https://"))])
	for _, scheme := range []string{"http://", "https://", "mailto:"} {
		if bytes.HasPrefix(lower, []byte(scheme)) {
			return string(util.EscapeHTML(util.URLEscape(u, false))), true
		}
	}
	return "", false
}

// anchorHref returns the href of link n and whether n is written as an
// <a> element: its destination is allowed and no ancestor is an <a>.
func anchorHref(n *ast.Link) (string, bool) {
	href, ok := safeHref(n.Destination, true)
	if !ok || insideAnchor(n) {
		return "", false
	}
	return href, true
}

// insideAnchor reports whether an ancestor of n is written as an <a>, so
// that n must not be one too (HTML does not nest links).
func insideAnchor(n ast.Node) bool {
	for p := n.Parent(); p != nil; p = p.Parent() {
		if l, ok := p.(*ast.Link); ok {
			if _, ok := anchorHref(l); ok {
				return true
			}
		}
	}
	return false
}

func hasAncestor(n ast.Node, kind ast.NodeKind) bool {
	for p := n.Parent(); p != nil; p = p.Parent() {
		if p.Kind() == kind {
			return true
		}
	}
	return false
}

// tableTransformer turns a paragraph holding a GFM table into a table
// node, like goldmark's extension.Table but by the reference's rules: a
// pipe inside a code span does not split a cell (GFM would split it unless
// escaped), and the header row is padded or cut to the delimiter row's
// column count as the body rows are. A header whose cell count differs
// from the delimiter row's must contain a pipe, so that prose followed by a
// line like ":--" stays prose.
type tableTransformer struct{}

func (tableTransformer) Transform(node *ast.Paragraph, reader text.Reader, _ parser.Context) {
	lines := node.Lines()
	if lines.Len() < 2 {
		return
	}
	source := reader.Source()
	for i := 1; i < lines.Len(); i++ {
		delim := lines.At(i)
		aligns := parseDelimiterRow(source[delim.Start:delim.Stop])
		if aligns == nil {
			continue
		}
		header, pipes := splitRow(source, lines.At(i-1))
		if len(header) == 0 || (len(header) != len(aligns) && pipes == 0) {
			continue
		}
		table := extast.NewTable()
		table.Alignments = aligns
		table.SetPos(node.Pos())
		table.AppendChild(table, extast.NewTableHeader(tableRow(header, aligns)))
		for j := i + 1; j < lines.Len(); j++ {
			cells, _ := splitRow(source, lines.At(j))
			table.AppendChild(table, tableRow(cells, aligns))
		}
		parent := node.Parent()
		lines.SetSliced(0, i-1)
		parent.InsertAfter(parent, node, table)
		if lines.Len() == 0 {
			parent.RemoveChild(parent, node)
		} else {
			// The text before the table stays a paragraph; its last line
			// no longer continues.
			last := lines.At(lines.Len() - 1)
			lines.Set(lines.Len()-1, last.TrimRightSpace(source))
		}
		return
	}
}

// tableRow builds a row of exactly len(aligns) cells.
func tableRow(cells []text.Segment, aligns []extast.Alignment) *extast.TableRow {
	row := extast.NewTableRow(aligns)
	for k, a := range aligns {
		cell := extast.NewTableCell()
		cell.Alignment = a
		if k < len(cells) {
			cell.Lines().Append(cells[k])
			cell.SetPos(cells[k].Start)
		}
		row.AppendChild(row, cell)
	}
	return row
}

// parseDelimiterRow returns the column alignments of a GFM delimiter row
// such as "| :-- | :-: | --: |", or nil if line is not one.
func parseDelimiterRow(line []byte) []extast.Alignment {
	if w, _ := util.IndentWidth(line, 0); w > 3 {
		return nil
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || bytes.Count(line, []byte("-")) == len(line) {
		return nil // empty, or a thematic break / setext underline
	}
	cols := bytes.Split(line, []byte("|"))
	if len(bytes.TrimSpace(cols[0])) == 0 {
		cols = cols[1:]
	}
	if len(cols) > 0 && len(bytes.TrimSpace(cols[len(cols)-1])) == 0 {
		cols = cols[:len(cols)-1]
	}
	if len(cols) == 0 {
		return nil
	}
	aligns := make([]extast.Alignment, 0, len(cols))
	for _, col := range cols {
		c := bytes.TrimSpace(col)
		left := bytes.HasPrefix(c, []byte(":"))
		right := len(c) > 1 && bytes.HasSuffix(c, []byte(":"))
		dashes := bytes.TrimSuffix(bytes.TrimPrefix(c, []byte(":")), []byte(":"))
		if len(dashes) == 0 || bytes.Count(dashes, []byte("-")) != len(dashes) {
			return nil
		}
		switch {
		case left && right:
			aligns = append(aligns, extast.AlignCenter)
		case left:
			aligns = append(aligns, extast.AlignLeft)
		case right:
			aligns = append(aligns, extast.AlignRight)
		default:
			aligns = append(aligns, extast.AlignNone)
		}
	}
	return aligns
}

// splitRow splits a table row into its cells, trimmed, and counts the
// pipes that separate or frame them. A pipe splits unless it is escaped
// ("\|") or inside a code span; a leading and a trailing pipe only frame
// the row.
func splitRow(source []byte, line text.Segment) (cells []text.Segment, pipes int) {
	seg := trimSegment(source, text.NewSegment(line.Start, line.Stop))
	row := source[seg.Start:seg.Stop]
	var splits []int
	for i := 0; i < len(row); {
		switch c := row[i]; {
		case c == '\\' && i+1 < len(row) && util.IsPunct(row[i+1]):
			i += 2
		case c == '`':
			i = skipCodeSpan(row, i)
		case c == '|':
			splits = append(splits, i)
			i++
		default:
			i++
		}
	}
	type span struct{ from, to int }
	var pieces []span
	prev := 0
	for _, p := range splits {
		pieces = append(pieces, span{prev, p})
		prev = p + 1
	}
	pieces = append(pieces, span{prev, len(row)})
	if len(splits) > 0 && splits[0] == 0 {
		pieces = pieces[1:]
	}
	if len(splits) > 0 && splits[len(splits)-1] == len(row)-1 && len(pieces) > 0 {
		pieces = pieces[:len(pieces)-1]
	}
	for _, p := range pieces {
		cells = append(cells, trimSegment(source, text.NewSegment(seg.Start+p.from, seg.Start+p.to)))
	}
	return cells, len(splits)
}

// trimSegment returns s without leading and trailing white space.
func trimSegment(source []byte, s text.Segment) text.Segment {
	s = s.TrimLeftSpace(source)
	return s.TrimRightSpace(source)
}

// skipCodeSpan returns the index just past the code span that opens with
// the backtick run at row[i], or just past the run if nothing closes it
// (then the backticks are literal, as in CommonMark).
func skipCodeSpan(row []byte, i int) int {
	n := 0
	for i+n < len(row) && row[i+n] == '`' {
		n++
	}
	for j := i + n; j < len(row); {
		if row[j] != '`' {
			j++
			continue
		}
		k := j
		for k < len(row) && row[k] == '`' {
			k++
		}
		if k-j == n {
			return k
		}
		j = k
	}
	return i + n
}
