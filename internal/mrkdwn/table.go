package mrkdwn

import (
	"strings"

	"github.com/mattn/go-runewidth"
	east "github.com/yuin/goldmark/extension/ast"
)

// widths measures monospace display width: East Asian wide and fullwidth
// characters count two columns, combining marks none, grapheme clusters
// (emoji sequences) once. The zero Condition is the non-CJK-locale one, so
// the result never depends on the environment the way runewidth's
// package-level default does.
var widths = &runewidth.Condition{}

// table renders a GFM table as a column-aligned plain-text table in a code
// block, since Slack has no tables:
//
//	| Name  | Qty |
//	|-------|-----|
//	| apple |   3 |
//
// Cells are reduced to plain text, padded by display width and aligned as
// the table's delimiter row asks (left by default).
func (r *renderer) table(t *east.Table) string {
	var rows [][]string
	header := -1
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		if _, ok := row.(*east.TableHeader); ok && header < 0 {
			header = len(rows)
		}
		var cells []string
		for c := row.FirstChild(); c != nil; c = c.NextSibling() {
			cells = append(cells, r.plain(c))
		}
		rows = append(rows, cells)
	}
	cols := 0
	for _, row := range rows {
		cols = max(cols, len(row))
	}
	if cols == 0 {
		return ""
	}
	width := make([]int, cols)
	for i := range width {
		width[i] = 3
	}
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], widths.StringWidth(c))
		}
	}
	align := func(i int) east.Alignment {
		if i < len(t.Alignments) {
			return t.Alignments[i]
		}
		return east.AlignNone
	}

	var lines []string
	for n, row := range rows {
		var b strings.Builder
		b.WriteString("|")
		for i := range cols {
			cell := ""
			if i < len(row) {
				cell = row[i]
			}
			b.WriteString(" ")
			b.WriteString(pad(cell, width[i], align(i)))
			b.WriteString(" |")
		}
		lines = append(lines, b.String())
		if n == header {
			var sep strings.Builder
			sep.WriteString("|")
			for i := range cols {
				sep.WriteString(strings.Repeat("-", width[i]+2))
				sep.WriteString("|")
			}
			lines = append(lines, sep.String())
		}
	}
	return codeBlock(strings.Join(lines, "\n"))
}

// pad pads s with spaces to display width w.
func pad(s string, w int, a east.Alignment) string {
	gap := w - widths.StringWidth(s)
	if gap <= 0 {
		return s
	}
	switch a {
	case east.AlignRight:
		return strings.Repeat(" ", gap) + s
	case east.AlignCenter:
		left := gap / 2
		return strings.Repeat(" ", left) + s + strings.Repeat(" ", gap-left)
	default:
		return s + strings.Repeat(" ", gap)
	}
}
