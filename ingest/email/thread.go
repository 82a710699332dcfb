package email

import (
	"regexp"
	"strings"
)

// The listener only finds the conversation an inbound message continues;
// the threading rules of replies (subject, Message-ID, In-Reply-To,
// References) live with the sending side, in internal/mailout, whose
// output these patterns recognise.
var (
	// airutMessageID matches our own Message-IDs (stored without angle
	// brackets), as mailout.NewMessageID writes them:
	// airut.{conversation}.{unix}.{nonce}@domain. The tail is matched
	// loosely so that a format change does not break threading.
	airutMessageID = regexp.MustCompile(`^airut\.([0-9a-f]{8})\.[\w.]+@`)
	// subjectTag matches the conversation tag mailout.ReplySubject puts in
	// the subject.
	subjectTag = regexp.MustCompile(`\[ID:([0-9a-f]{8})\]`)
	// modelSubaddress matches the "+model" of airut+opus@example.com.
	modelSubaddress = regexp.MustCompile(`\+([a-zA-Z0-9_-]+)@`)
)

// ConversationID finds the conversation a message continues: the
// conversation in our Message-ID named by In-Reply-To, then by References
// (newest, that is last, first), then a "[ID:xxxxxxxx]" tag in the
// subject. It returns "" when there is none.
func ConversationID(p *Parsed) string {
	if p == nil {
		return ""
	}
	candidates := make([]string, 0, 1+len(p.References))
	if p.InReplyTo != "" {
		candidates = append(candidates, p.InReplyTo)
	}
	for i := len(p.References) - 1; i >= 0; i-- {
		candidates = append(candidates, p.References[i])
	}
	for _, id := range candidates {
		if m := airutMessageID.FindStringSubmatch(strings.Trim(id, "<> \t")); m != nil {
			return m[1]
		}
	}
	if m := subjectTag.FindStringSubmatch(p.Subject); m != nil {
		return m[1]
	}
	return ""
}

// ModelHint returns the lower-cased subaddress of the first To address
// that has one (airut+opus@example.com gives "opus"), or "". Only an
// address that is the repo's own mailbox counts: its local part before
// "+" and its domain must match mailbox's, case-insensitively. mailbox
// may be a bare address or "Name <address>"; when it is empty or has no
// address, any To address counts (the reference's behaviour).
func ModelHint(p *Parsed, mailbox string) string {
	if p == nil {
		return ""
	}
	wantLocal, wantDomain, haveMailbox := splitMailbox(mailbox)
	for _, to := range p.To {
		m := modelSubaddress.FindStringSubmatch(to)
		if m == nil {
			continue
		}
		if haveMailbox {
			local, domain, ok := splitMailbox(to)
			if !ok || local != wantLocal || domain != wantDomain {
				continue
			}
		}
		return strings.ToLower(m[1])
	}
	return ""
}

// splitMailbox returns the lower-cased local part (without any
// "+subaddress") and domain of an address.
func splitMailbox(s string) (local, domain string, ok bool) {
	addr := addressOf(s)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	local, domain = addr[:at], addr[at+1:]
	local, _, _ = strings.Cut(local, "+")
	return strings.ToLower(local), strings.ToLower(domain), true
}

// addressOf returns the address in "Name <address>" or a bare address.
func addressOf(s string) string {
	s = strings.TrimSpace(s)
	if lt := strings.LastIndexByte(s, '<'); lt >= 0 {
		rest := s[lt+1:]
		if gt := strings.IndexByte(rest, '>'); gt >= 0 {
			return strings.TrimSpace(rest[:gt])
		}
		return strings.TrimSpace(rest)
	}
	return s
}
