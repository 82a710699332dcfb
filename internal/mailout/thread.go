package mailout

import (
	"fmt"
	"strings"
	"time"
)

// ReplySubject is the subject of a reply in conversation convID to a
// message with the given (decoded) subject: "Re: [ID:<convID>] <subject>".
// Leading "Re: " prefixes are dropped first so they do not pile up, and
// the tag is not added again when the subject already carries it.
func ReplySubject(subject, convID string) string {
	s := strings.TrimSpace(subject)
	for len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		s = strings.TrimSpace(s[3:])
	}
	if strings.Contains(s, "[ID:"+convID+"]") {
		return "Re: " + s
	}
	return strings.TrimSpace("Re: [ID:" + convID + "] " + s)
}

// NewMessageID is the Message-ID of an outgoing message of conversation
// convID: "<airut.<convID>.<unix seconds>.<nonce>@<domain of fromAddr>>",
// the form the listener recognises in In-Reply-To and References. nonce
// is the caller's random hex (8 digits). A from address without a domain
// gives "localhost".
func NewMessageID(convID, fromAddr string, t time.Time, nonce string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(fromAddr, '@'); i >= 0 && i+1 < len(fromAddr) {
		domain = strings.Trim(fromAddr[i+1:], "<> ")
	}
	return fmt.Sprintf("<airut.%s.%d.%s@%s>", convID, t.Unix(), nonce, domain)
}
