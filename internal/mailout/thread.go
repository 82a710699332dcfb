package mailout

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// These are the threading rules of the email channel, kept in one place:
// the listener (ingest/email) finds a conversation again by the
// "airut.<conv>." Message-ID and the "[ID:<conv>]" subject tag written here.

// replyPrefix matches one leading reply prefix: "Re:" in any case, with
// spaces around the colon, and the counted forms some clients write
// ("Re[2]:", "Re^2:"). "Research:" is not one.
var replyPrefix = regexp.MustCompile(`(?i)^\s*re\s*(?:\[\d+\]|\^\d+)?\s*:\s*`)

// ReplySubject is the subject of a reply in conversation convID to a
// message with the given (decoded) subject: "Re: [ID:<convID>] <subject>".
// Leading reply prefixes are dropped first so they do not pile up over a
// long thread, and the tag is not added again when the subject already
// carries it (wherever the sender's client moved it).
func ReplySubject(subject, convID string) string {
	s := strings.TrimSpace(subject)
	for {
		loc := replyPrefix.FindStringIndex(s)
		if loc == nil {
			break
		}
		s = s[loc[1]:]
	}
	tag := "[ID:" + convID + "]"
	if !strings.Contains(s, tag) {
		s = strings.TrimSpace(tag + " " + s)
	}
	return "Re: " + s
}

// NewMessageID is the Message-ID of an outgoing message of conversation
// convID: "<airut.<convID>.<unix seconds>.<nonce>@<domain of fromAddr>>",
// the form the listener recognises in In-Reply-To and References. nonce
// is the caller's random hex (8 digits). fromAddr may be a bare address or
// "Name <address>"; one without a domain gives "localhost".
func NewMessageID(convID, fromAddr string, t time.Time, nonce string) string {
	domain := "localhost"
	addr := addressOf(fromAddr)
	if at := strings.LastIndexByte(addr, '@'); at >= 0 && at < len(addr)-1 {
		domain = strings.ToLower(addr[at+1:])
	}
	return fmt.Sprintf("<airut.%s.%d.%s@%s>", convID, t.Unix(), nonce, domain)
}

// addressOf is the address of a header value, bare or "Name <address>".
func addressOf(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return a.Address
	}
	s = strings.TrimSpace(s)
	if lt := strings.LastIndexByte(s, '<'); lt >= 0 {
		s, _, _ = strings.Cut(s[lt+1:], ">")
	}
	return strings.TrimSpace(s)
}

// ThreadHeaders are the In-Reply-To and References of a reply to the
// message with Message-ID messageID and References references (each with
// or without angle brackets): In-Reply-To is "<messageID>", References are
// the answered message's References and then its Message-ID, each once,
// each in angle brackets.
//
// Only real message IDs are named. messageID may be empty (the message had
// none) or not a message ID at all: conversations started before this rule
// carry the listener's synthetic de-duplication key ("sha256:<hex>") there.
// Either way the reply has no In-Reply-To and the ID is not added to
// References, since a made-up ID in a reply's headers names a message the
// recipient's client never saw.
func ThreadHeaders(messageID string, references []string) (inReplyTo string, refs []string) {
	id := bare(messageID)
	if !isMessageID(id) {
		id = ""
	}
	seen := map[string]bool{}
	for _, r := range references {
		r = bare(r)
		if !isMessageID(r) || seen[r] || r == id {
			continue
		}
		seen[r] = true
		refs = append(refs, "<"+r+">")
	}
	if id == "" {
		return "", refs
	}
	inReplyTo = "<" + id + ">"
	return inReplyTo, append(refs, inReplyTo)
}

// bare is a message ID without the white space and angle brackets around
// it (a stray one on either side included: IDs are stored without them, but
// histories and mail clients are not always tidy).
func bare(id string) string { return strings.Trim(id, "<> \t\r\n") }

// isMessageID reports whether id (without angle brackets) can be named in
// a Message-ID, In-Reply-To or References header: printable ASCII without
// white space or angle brackets, with an "@" that has text on both sides
// (RFC 5322's id-left "@" id-right). The listener's synthetic
// "sha256:<hex>" keys have no "@", so they never pass.
func isMessageID(id string) bool {
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}
