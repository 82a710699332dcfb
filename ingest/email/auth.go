package email

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
)

// AuthConfig says which mail Authenticate accepts: DMARC results from one
// trusted server, and an allowlist of senders.
type AuthConfig struct {
	// TrustedAuthservID is the authserv-id (RFC 8601) of the receiving
	// server whose Authentication-Results header is trusted, compared
	// case-insensitively. Empty skips the check: Microsoft 365 omits the
	// authserv-id, and the first-header-only rule is then the only guard.
	TrustedAuthservID string
	// AuthorizedSenders holds exact addresses or "*@domain" patterns,
	// compared case-insensitively. Empty authorizes nobody.
	AuthorizedSenders []string
	// MicrosoftInternalFallback accepts intra-tenant Microsoft 365 mail,
	// stamped "X-MS-Exchange-Organization-AuthAs: Internal", when the
	// message has no Authentication-Results header at all.
	MicrosoftInternalFallback bool
}

// RejectError says why Authenticate refused a message.
type RejectError struct {
	// Reason is a short lowercase explanation, such as "dmarc=fail" or
	// "sender not authorized".
	Reason string
	// From is the sender address once it has been parsed, else the raw
	// From header value (possibly empty); it is meant for logs.
	From string
}

// Error implements error.
func (e *RejectError) Error() string {
	if e.From == "" {
		return "sender rejected: " + e.Reason
	}
	return fmt.Sprintf("sender %q rejected: %s", e.From, e.Reason)
}

// strictAddr is the reference's addr-spec check: deliberately narrower
// than RFC 5322 so that display-name and bracket tricks cannot slip an
// unexpected address through.
var strictAddr = regexp.MustCompile("^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9.-]+$")

// strictAddress extracts the address of a From header value: either a
// bare address or exactly one "<...>" pair, checked against strictAddr
// and lower-cased. It reports false when the value does not have that
// shape (two addresses, several brackets, an invalid address).
func strictAddress(value string) (string, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", false
	}
	addr := value
	if strings.ContainsAny(value, "<>") {
		if strings.Count(value, "<") != 1 || strings.Count(value, ">") != 1 {
			return "", false
		}
		lt, gt := strings.IndexByte(value, '<'), strings.IndexByte(value, '>')
		if gt < lt {
			return "", false
		}
		addr = strings.TrimSpace(value[lt+1 : gt])
	}
	if !strictAddr.MatchString(addr) {
		return "", false
	}
	return strings.ToLower(addr), true
}

// maxAuthHeaderBytes bounds the header block Authenticate reads.
const maxAuthHeaderBytes = 1 << 20

// readHeader parses the header block of a raw message.
func readHeader(raw []byte) (textproto.Header, error) {
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		// A message that ends inside its header block: the last field
		// would otherwise be lost to an unexpected EOF.
		raw = append(raw[:len(raw):len(raw)], '\r', '\n')
	}
	limited := raw
	if len(limited) > maxAuthHeaderBytes {
		limited = limited[:maxAuthHeaderBytes]
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(limited)))
	if err != nil {
		return h, fmt.Errorf("read header: %w", err)
	}
	return h, nil
}

// Authenticate applies the DMARC rules to the message's headers and
// returns the sender address, or a *RejectError.
//
// The rules are the reference SenderAuthenticator's:
//   - exactly one From header, holding a bare address or exactly one
//     "<...>" pair with a plain addr-spec (lower-cased on return);
//   - only the first (topmost) Authentication-Results header counts: the
//     receiving server prepends its own, so lower ones may be forged;
//   - its authserv-id must be cfg.TrustedAuthservID (unless that is "");
//   - it must hold dmarc=pass (SPF alone never suffices: it checks the
//     envelope sender, not From);
//   - with cfg.MicrosoftInternalFallback, a message without any
//     Authentication-Results header is accepted when it carries
//     "X-MS-Exchange-Organization-AuthAs: Internal".
//
// The authenticated sender must then match cfg.AuthorizedSenders.
func Authenticate(raw []byte, cfg AuthConfig) (sender string, err error) {
	h, err := readHeader(raw)
	if err != nil {
		return "", &RejectError{Reason: "malformed header: " + err.Error()}
	}

	froms := h.Values("From")
	if len(froms) != 1 {
		rawFrom := ""
		if len(froms) > 0 {
			rawFrom = froms[0]
		}
		return "", &RejectError{Reason: fmt.Sprintf("%d From headers", len(froms)), From: rawFrom}
	}
	sender, ok := strictAddress(froms[0])
	if !ok {
		return "", &RejectError{Reason: "malformed From", From: froms[0]}
	}

	results := h.Values("Authentication-Results")
	if len(results) == 0 {
		if !cfg.MicrosoftInternalFallback {
			return "", &RejectError{Reason: "no Authentication-Results header", From: sender}
		}
		authAs := strings.TrimSpace(h.Get("X-MS-Exchange-Organization-AuthAs"))
		if !strings.EqualFold(authAs, "Internal") {
			reason := "no Authentication-Results header and no X-MS-Exchange-Organization-AuthAs: Internal"
			if authAs != "" {
				reason = fmt.Sprintf("no Authentication-Results header and X-MS-Exchange-Organization-AuthAs is %q", authAs)
			}
			return "", &RejectError{Reason: reason, From: sender}
		}
	} else if reason := checkDMARC(results[0], cfg.TrustedAuthservID); reason != "" {
		return "", &RejectError{Reason: reason, From: sender}
	}

	if !authorized(sender, cfg.AuthorizedSenders) {
		return "", &RejectError{Reason: "sender not authorized", From: sender}
	}
	return sender, nil
}

// checkDMARC checks one Authentication-Results value and returns why it
// does not vouch for the From domain, or "" when it does.
func checkDMARC(value, trusted string) string {
	// Microsoft 365 writes no authserv-id: the value starts with a result
	// ("spf=pass ...; dmarc=pass ..."). An authserv-id is a MIME token or
	// quoted string and so never holds "=" before the first ";".
	first, _, _ := strings.Cut(value, ";")
	missingID := strings.Contains(first, "=")
	if missingID {
		if trusted != "" {
			return fmt.Sprintf("authserv-id missing, expected %q", trusted)
		}
		value = ";" + value
	}
	id, results, err := authres.Parse(value)
	if err != nil {
		return fmt.Sprintf("unparsable Authentication-Results header: %v", err)
	}
	if trusted != "" && !strings.EqualFold(id, trusted) {
		return fmt.Sprintf("authserv-id %q is not trusted", id)
	}
	var seen []string
	for _, r := range results {
		d, ok := r.(*authres.DMARCResult)
		if !ok {
			continue
		}
		if d.Value == authres.ResultPass {
			return ""
		}
		seen = append(seen, "dmarc="+string(d.Value))
	}
	if len(seen) == 0 {
		return "no dmarc result"
	}
	return strings.Join(seen, ", ")
}

// authorized reports whether sender (lower-case) matches one of the
// patterns: an exact address or "*@domain", case-insensitively.
func authorized(sender string, patterns []string) bool {
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if domain, ok := strings.CutPrefix(p, "*@"); ok {
			if domain != "" && strings.HasSuffix(sender, "@"+domain) {
				return true
			}
			continue
		}
		if p != "" && sender == p {
			return true
		}
	}
	return false
}
