package email

import (
	"regexp"
	"strings"
)

// normalizeNewlines turns CRLF and lone CR into LF.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// unflow decodes format=flowed text (RFC 3676): a line ending in a space
// continues on the next line of the same quote depth; space-stuffing is
// undone. Quoted paragraphs come out as one line prefixed "> " (">> "…).
func unflow(s string, delsp bool) string {
	lines := strings.Split(normalizeNewlines(s), "\n")
	out := make([]string, 0, len(lines))
	var cur strings.Builder
	depth, open := 0, false
	flush := func() {
		if !open {
			return
		}
		prefix := ""
		if depth > 0 {
			prefix = strings.Repeat(">", depth) + " "
		}
		out = append(out, prefix+cur.String())
		cur.Reset()
		open = false
	}
	for _, line := range lines {
		d := 0
		for d < len(line) && line[d] == '>' {
			d++
		}
		content := strings.TrimPrefix(line[d:], " ")
		if open && d != depth {
			flush()
		}
		isSig := content == "-- "
		flowed := !isSig && strings.HasSuffix(content, " ")
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		depth, open = d, true
		if !flowed {
			flush()
		}
	}
	flush()
	return strings.Join(out, "\n")
}

var (
	// attribution matches the line that introduces quoted history:
	// "On <date>, <name> wrote:" and its common translations.
	attribution = []*regexp.Regexp{
		regexp.MustCompile(`(?i)^\s*on\s.{1,400}\swrote\s*:\s*$`),
		regexp.MustCompile(`(?i)^\s*am\s.{1,400}\sschrieb\s.{0,200}:\s*$`),
		regexp.MustCompile(`(?i)^\s*am\s.{1,400}\sschrieb\s*:\s*$`),
		regexp.MustCompile(`(?i)^\s*le\s.{1,400}\sa\s+écrit\s*:\s*$`),
		regexp.MustCompile(`(?i)^\s*el\s.{1,400}\sescribió\s*:\s*$`),
		regexp.MustCompile(`(?i)^\s*il\s.{1,400}\sha\s+scritto\s*:\s*$`),
		regexp.MustCompile(`(?i)^\s*op\s.{1,400}\sschreef\s.{0,200}:\s*$`),
		regexp.MustCompile(`(?i)^\s*em\s.{1,400}\sescreveu\s*:\s*$`),
		regexp.MustCompile(`(?i)^\s*den\s.{1,400}\sskrev\s.{0,200}:\s*$`),
		// Gmail in Japanese: "2024年3月6日(水) 10:00 Name <addr>:".
		regexp.MustCompile(`^\s*\d{4}年\d{1,2}月\d{1,2}日.{0,400}[:：]\s*$`),
		regexp.MustCompile(`^.{1,400}さんは書きました\s*[:：]\s*$`),
	}
	// originalMessage matches Outlook's plain-text separator.
	originalMessage = regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|mensagem original)\s*-{2,}\s*$`)
	// headerFrom, headerSent and headerTo match the lines of the header
	// block Outlook puts above the quoted message.
	headerFrom = regexp.MustCompile(`(?i)^\s*\*?(from|von|de|van|da|från|fra)\s*:\*?\s*\S`)
	headerSent = regexp.MustCompile(`(?i)^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden|skickat|sendt|data)\s*:\*?\s*\S`)
	headerTo   = regexp.MustCompile(`(?i)^\s*\*?(to|subject|cc|an|betreff|à|a|objet|para|asunto|aan|onderwerp|oggetto|till|ämne|emne|til)\s*:`)
	// underscores matches Outlook's separator line above its header block.
	underscores = regexp.MustCompile(`^\s*_{8,}\s*$`)
)

func isBlank(line string) bool  { return strings.TrimSpace(line) == "" }
func isQuoted(line string) bool { return strings.HasPrefix(strings.TrimLeft(line, " "), ">") }

func isAttribution(line string) bool {
	if len(line) > 1000 {
		return false
	}
	for _, re := range attribution {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// plainBody cleans a text/plain body: newlines normalised, trailing
// blanks removed (but the "-- " signature separator kept), and a trailing
// block of quoted history replaced by "[quoted text removed]". History
// is: everything from Outlook's "-----Original Message-----" or
// "From:/Sent:/To:" header block on (not for forwards, whose forwarded
// message is what the sender wants read), and a trailing run of ">"
// lines with the "On … wrote:" line above it. Nothing is removed when
// no text of the sender's own would be left above the cut.
func plainBody(s string, forward bool) string {
	lines := strings.Split(normalizeNewlines(s), "\n")
	for i, line := range lines {
		if line != "-- " {
			lines[i] = strings.TrimRight(line, " \t")
		}
	}
	cut := -1
	if !forward {
		cut = outlookCut(lines)
	}
	if q := trailingQuoteCut(lines); q >= 0 && (cut < 0 || q < cut) {
		cut = q
	}
	if cut < 0 {
		return strings.Trim(strings.Join(lines, "\n"), "\n")
	}
	head := lines[:cut]
	for len(head) > 0 && (isBlank(head[len(head)-1]) || underscores.MatchString(head[len(head)-1])) {
		head = head[:len(head)-1]
	}
	return strings.Trim(strings.Join(head, "\n"), "\n") + "\n\n" + quotedMarker
}

// firstText returns the index of the first line with text of the
// sender's (not blank, not an underscore rule), or len(lines).
func firstText(lines []string) int {
	for i, l := range lines {
		if !isBlank(l) && !underscores.MatchString(l) {
			return i
		}
	}
	return len(lines)
}

// outlookCut returns the index of the first Outlook separator or header
// block below some text of the sender's, or -1.
func outlookCut(lines []string) int {
	first := firstText(lines)
	for i, line := range lines {
		if i <= first {
			continue
		}
		if originalMessage.MatchString(line) {
			return i
		}
		if !headerFrom.MatchString(line) {
			continue
		}
		sent, to := false, false
		for j := i + 1; j < len(lines) && j <= i+5; j++ {
			sent = sent || headerSent.MatchString(lines[j])
			to = to || headerTo.MatchString(lines[j])
		}
		if sent && to {
			return i
		}
	}
	return -1
}

// trailingQuoteCut returns the first line of the trailing run of ">"
// lines (or of the attribution line above it), or -1.
func trailingQuoteCut(lines []string) int {
	last := len(lines) - 1
	for last >= 0 && isBlank(lines[last]) {
		last--
	}
	if last < 0 || !isQuoted(lines[last]) {
		return -1
	}
	i := last
	for i >= 0 && (isBlank(lines[i]) || isQuoted(lines[i])) {
		i--
	}
	q := i + 1
	for q <= last && isBlank(lines[q]) {
		q++
	}
	j := i
	switch {
	case j >= 0 && isAttribution(lines[j]):
		q = j
	case j >= 1 && isAttribution(lines[j-1]+" "+lines[j]):
		q = j - 1
	}
	if firstText(lines) >= q {
		return -1
	}
	return q
}
