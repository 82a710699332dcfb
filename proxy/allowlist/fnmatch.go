package allowlist

import "strings"

// Match reports whether s matches the shell-style pattern, with the same
// semantics as Python's fnmatch.fnmatchcase: case-sensitive, '*' matches
// any run of characters (including '/' and newlines), '?' matches exactly
// one character, and '[...]' is a character class ('[!...]' negates it,
// 'a-z' is a range). A '[' without a closing ']' is a literal. Backslash
// is an ordinary character, never an escape. Matching works on runes
// (Python code points); invalid UTF-8 bytes count as one U+FFFD each.
//
// The matcher is iterative (one backtracking point for the last '*'), so
// its cost is O(len(pattern)*len(s)) whatever the input.
func Match(pattern, s string) bool {
	return matchTokens(compile(pattern), []rune(s))
}

// MatchFold is Match with both sides lower-cased first, as the reference
// does for hosts and header names. Only ASCII letters are folded (see
// List.Allowed for why Unicode folding is unsafe for hosts).
func MatchFold(pattern, s string) bool {
	return Match(asciiLower(pattern), asciiLower(s))
}

// MatchAny reports whether s matches any of the patterns, with MatchFold
// when fold is set and Match otherwise.
func MatchAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if (fold && MatchFold(p, s)) || (!fold && Match(p, s)) {
			return true
		}
	}
	return false
}

// HasWildcard reports whether the pattern contains '*' or '?'. The
// allowlist compares patterns without them exactly (a lone '[...]' class
// is then a literal), as the reference does.
func HasWildcard(pattern string) bool {
	return strings.ContainsAny(pattern, "*?")
}

type tokKind uint8

const (
	tokLit tokKind = iota
	tokAny
	tokStar
	tokSet
)

type runeRange struct{ lo, hi rune }

type token struct {
	kind   tokKind
	r      rune        // tokLit
	neg    bool        // tokSet
	ranges []runeRange // tokSet; empty and !neg = never matches
}

func (t *token) matches(c rune) bool {
	switch t.kind {
	case tokLit:
		return t.r == c
	case tokAny:
		return true
	case tokSet:
		in := false
		for _, rg := range t.ranges {
			if rg.lo <= c && c <= rg.hi {
				in = true
				break
			}
		}
		return in != t.neg
	}
	return false
}

// compile follows CPython's fnmatch._translate (3.9+) token by token,
// including its handling of '-' in classes and its removal of empty
// ranges such as 'z-a', so that the resulting sets equal the regular
// expression Python builds.
func compile(pattern string) []token {
	pat := []rune(pattern)
	n := len(pat)
	var toks []token
	i := 0
	for i < n {
		c := pat[i]
		i++
		switch c {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
				toks = append(toks, token{kind: tokStar})
			}
		case '?':
			toks = append(toks, token{kind: tokAny})
		case '[':
			j := i
			if j < n && pat[j] == '!' {
				j++
			}
			if j < n && pat[j] == ']' {
				j++
			}
			for j < n && pat[j] != ']' {
				j++
			}
			if j >= n {
				toks = append(toks, token{kind: tokLit, r: '['})
				continue
			}
			toks = append(toks, compileSet(pat, i, j))
			i = j + 1
		default:
			toks = append(toks, token{kind: tokLit, r: c})
		}
	}
	return toks
}

// compileSet builds the class for pat[i:j] (the text between '[' and ']').
func compileSet(pat []rune, i, j int) token {
	stuff := pat[i:j]
	var chunks [][]rune
	if !containsRune(stuff, '-') {
		chunks = [][]rune{append([]rune(nil), stuff...)}
	} else {
		k := i + 1
		if pat[i] == '!' {
			k = i + 2
		}
		for {
			k = indexRune(pat, '-', k, j)
			if k < 0 {
				break
			}
			chunks = append(chunks, append([]rune(nil), pat[i:k]...))
			i = k + 1
			k += 3
		}
		chunk := append([]rune(nil), pat[i:j]...)
		if len(chunk) > 0 {
			chunks = append(chunks, chunk)
		} else {
			chunks[len(chunks)-1] = append(chunks[len(chunks)-1], '-')
		}
		// Remove empty ranges, exactly as CPython does.
		for k := len(chunks) - 1; k > 0; k-- {
			prev, cur := chunks[k-1], chunks[k]
			if len(prev) == 0 || len(cur) == 0 {
				continue // cannot happen (see fnmatch.py); stay safe
			}
			if prev[len(prev)-1] > cur[0] {
				merged := append(append([]rune(nil), prev[:len(prev)-1]...), cur[1:]...)
				chunks[k-1] = merged
				chunks = append(chunks[:k], chunks[k+1:]...)
			}
		}
	}
	// Flatten into the regex set body: items are literal runes, and
	// chunk boundaries are unescaped '-' (range operators).
	type item struct {
		r   rune
		sep bool
	}
	var items []item
	for ci, ch := range chunks {
		if ci > 0 {
			items = append(items, item{sep: true})
		}
		for _, r := range ch {
			items = append(items, item{r: r})
		}
	}
	if len(items) == 0 {
		return token{kind: tokSet} // "(?!)": never matches
	}
	neg := false
	if !items[0].sep && items[0].r == '!' {
		if len(items) == 1 {
			return token{kind: tokAny} // "[!]" body => '.'
		}
		neg = true
		items = items[1:]
	}
	var ranges []runeRange
	for p := 0; p < len(items); {
		lo := items[p].r
		if items[p].sep {
			lo = '-'
		}
		if p+2 < len(items) && items[p+1].sep && !items[p+2].sep {
			hi := items[p+2].r
			if lo <= hi { // lo > hi would be a Python re.error; fail closed
				ranges = append(ranges, runeRange{lo, hi})
			}
			p += 3
			continue
		}
		ranges = append(ranges, runeRange{lo, lo})
		p++
	}
	return token{kind: tokSet, neg: neg, ranges: ranges}
}

func containsRune(rs []rune, r rune) bool {
	for _, c := range rs {
		if c == r {
			return true
		}
	}
	return false
}

func indexRune(rs []rune, r rune, from, to int) int {
	for k := from; k < to && k < len(rs); k++ {
		if rs[k] == r {
			return k
		}
	}
	return -1
}

// matchTokens is the classic iterative glob matcher: every non-star token
// consumes exactly one rune, so remembering only the last star is enough.
func matchTokens(toks []token, s []rune) bool {
	p, q := 0, 0
	starP, starQ := -1, 0
	for q < len(s) {
		if p < len(toks) && toks[p].kind == tokStar {
			starP, starQ = p, q
			p++
			continue
		}
		if p < len(toks) && toks[p].matches(s[q]) {
			p++
			q++
			continue
		}
		if starP >= 0 {
			starQ++
			p, q = starP+1, starQ
			continue
		}
		return false
	}
	for p < len(toks) && toks[p].kind == tokStar {
		p++
	}
	return p == len(toks)
}
