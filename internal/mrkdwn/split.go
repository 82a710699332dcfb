package mrkdwn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Split cuts mrkdwn text into chunks of at most max runes each, for Slack's
// per-message limit. Text that fits is returned as the only chunk.
//
// Each chunk ends at the last boundary that fits, preferring, in order: a
// blank line outside code blocks (a paragraph boundary; the blank line is
// dropped);
// a line break outside code blocks; a line break inside a code block; and,
// for a line too long for any chunk, a hard slice (after a space where one
// falls in the second half of the slice, never inside an entity such as
// &amp;, a backtick run, or — where it fits — a <…> link token). A chunk
// that ends inside a ``` block is closed with a fence and the next one
// reopens it, keeping any indentation or "> " before the original fence;
// only when max is too small to hold the fences are they left unbalanced.
//
// Newlines at either end of a chunk are dropped, and chunks left blank are
// omitted, so blank text yields no chunks. A max below 1 is taken as 1.
func Split(text string, max int) []string {
	max = maxInt(max, 1)
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if utf8.RuneCountInString(text) <= max {
		return []string{text}
	}
	ls := scanLines(text, max)
	var chunks []string
	for s := 0; s < len(ls); {
		// Grow the chunk [s, e) while it fits; one piece always fits.
		e := s + 1
		for e < len(ls) && ls.cost(s, e+1) <= max {
			e++
		}
		cut, next := e, e
		if e < len(ls) {
			cut, next = ls.bestCut(s, e, max)
		}
		if c := ls.chunk(s, cut); strings.TrimSpace(c) != "" {
			chunks = append(chunks, c)
		}
		s = next
	}
	return chunks
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// piece is a line of the text, or a slice of a line too long to fit in a
// chunk.
type piece struct {
	text string
	// cont marks a slice continuing the previous piece on the same line.
	cont bool
	// openBefore: the piece starts inside a code block.
	openBefore bool
	// opener is prepended when a chunk starts with this piece inside a
	// code block; closer is appended when a chunk ends with it inside one.
	// Both are "" outside code blocks, or when max cannot hold them.
	opener, closer string
	openerLen      int
	closerLen      int
	blank          bool
	// end is the rune length of the text from the first piece through
	// this one, separators included.
	end int
}

type pieces []piece

// cost is the rune length of chunk [s, e), fences included.
func (ls pieces) cost(s, e int) int {
	start := ls[s].end - utf8.RuneCountInString(ls[s].text)
	return ls[s].openerLen + (ls[e-1].end - start) + ls[e-1].closerLen
}

func (ls pieces) chunk(s, e int) string {
	var b strings.Builder
	for i := s; i < e; i++ {
		if i > s && !ls[i].cont {
			b.WriteByte('\n')
		}
		b.WriteString(ls[i].text)
	}
	body := b.String()
	if ls[s].opener == "" {
		body = strings.TrimLeft(body, "\n")
	}
	if ls[e-1].closer == "" {
		body = strings.TrimRight(body, "\n")
	}
	return ls[s].opener + body + ls[e-1].closer
}

// bestCut picks where a chunk starting at s, which fits up to e (exclusive)
// but not beyond, ends: the chunk is [s, cut) and the next one starts at
// next.
func (ls pieces) bestCut(s, e, max int) (cut, next int) {
	// A blank line outside code, possibly the one that did not fit.
	for b := e; b > s; b-- {
		if ls[b].blank && !ls[b].openBefore && ls.cost(s, b) <= max {
			return b, b + 1
		}
	}
	// A line break outside code, then one inside.
	for _, inCode := range []bool{false, true} {
		for c := e; c > s; c-- {
			if !ls[c].cont && (inCode || !ls[c].openBefore) && ls.cost(s, c) <= max {
				return c, c
			}
		}
	}
	return e, e
}

// scanLines splits text into pieces, tracking ``` fences (any occurrence
// toggles, as in Slack) and slicing lines that cannot fit in a chunk.
func scanLines(text string, max int) pieces {
	var ls pieces
	open := false
	opener, closer := "", ""
	total := 0
	for _, line := range strings.Split(text, "\n") {
		fences := strings.Count(line, fence)
		// A line that opens a block fixes the fences for reopening it.
		if !open && fences%2 == 1 {
			opener, closer = fencesFor(line, max)
		}
		budget := max
		if open || fences > 0 {
			budget -= utf8.RuneCountInString(opener + closer)
		}
		for i, sl := range sliceLine(line, budget) {
			p := piece{text: sl, cont: i > 0, openBefore: open}
			p.blank = !p.cont && strings.TrimSpace(sl) == ""
			if open {
				p.opener, p.openerLen = opener, utf8.RuneCountInString(opener)
			}
			if strings.Count(sl, fence)%2 == 1 {
				open = !open
			}
			if open {
				p.closer, p.closerLen = closer, utf8.RuneCountInString(closer)
			}
			if len(ls) > 0 && !p.cont {
				total++
			}
			total += utf8.RuneCountInString(sl)
			p.end = total
			ls = append(ls, p)
		}
	}
	return ls
}

// fencesFor returns the opener and closer that continue the code block
// opened on line: the fence with whatever indentation or quote marker
// preceded it. Both are "" when they would take more than half of max.
func fencesFor(line string, max int) (opener, closer string) {
	prefix := line[:strings.LastIndex(line, fence)]
	if strings.TrimLeft(prefix, " >•◦☐☑0123456789.") != "" {
		prefix = ""
	}
	// Markers of a list item belong to its first line only.
	prefix = strings.Map(func(r rune) rune {
		if r == ' ' || r == '>' {
			return r
		}
		return ' '
	}, prefix)
	opener = prefix + fence + "\n"
	closer = "\n" + prefix + fence
	if utf8.RuneCountInString(opener+closer) > max/2 {
		return "", ""
	}
	return opener, closer
}

// sliceLine cuts line into slices of at most budget runes (at least one).
func sliceLine(line string, budget int) []string {
	budget = maxInt(budget, 1)
	rs := []rune(line)
	var out []string
	for len(rs) > budget {
		cut := sliceCut(rs, budget)
		out = append(out, string(rs[:cut]))
		rs = rs[cut:]
	}
	return append(out, string(rs))
}

// sliceCut picks how many runes of rs, len(rs) > budget, go in the next
// slice.
func sliceCut(rs []rune, budget int) int {
	cut := budget
	// After the last space in the second half.
	for i := budget; i > budget/2 && i > 0; i-- {
		if unicode.IsSpace(rs[i-1]) {
			cut = i
			break
		}
	}
	// Not inside an entity (&amp; &lt; &gt; and anything like them): an
	// '&' shortly before the cut whose ';' comes after it.
	for i := cut - 1; i > 0 && i >= cut-8; i-- {
		if rs[i] == ';' {
			break
		}
		if rs[i] == '&' {
			if semi := runIndex(rs[i:], ';', 9); semi >= 0 && i+semi >= cut {
				cut = i
			}
			break
		}
	}
	// Not inside a <…> token that would fit in the next slice whole.
	for i := cut - 1; i > 0; i-- {
		if rs[i] == '>' {
			break
		}
		if rs[i] == '<' {
			if runIndex(rs[cut:], '>', i+budget-cut) >= 0 {
				cut = i
			}
			break
		}
	}
	// Not inside a run of backticks, if it starts past the beginning.
	if rs[cut-1] == '`' && rs[cut] == '`' {
		i := cut - 1
		for i > 0 && rs[i-1] == '`' {
			i--
		}
		if i > 0 {
			cut = i
		}
	}
	return cut
}

// runIndex returns the index of the first c in rs[:limit], or -1.
func runIndex(rs []rune, c rune, limit int) int {
	for i, r := range rs {
		if i >= limit {
			break
		}
		if r == c {
			return i
		}
	}
	return -1
}
