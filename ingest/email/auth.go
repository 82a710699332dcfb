package email

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"
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
// The rules are the reference SenderAuthenticator's, tightened where a
// spoof could slip through:
//   - exactly one From header holding exactly one mailbox (no second
//     address, no group, no address-shaped display name): a bare address
//     or exactly one "<...>" pair with a plain addr-spec (lower-cased on
//     return);
//   - only the first (topmost) Authentication-Results header counts: the
//     receiving server prepends its own, so lower ones may be forged;
//   - its authserv-id must be cfg.TrustedAuthservID (unless that is "");
//   - it is parsed aware of comments and quoted strings (see
//     parseAuthResults), since the server copies text the sender chose
//     (MAIL FROM, HELO) into it;
//   - it must hold a dmarc result, every dmarc result must be pass, and
//     each must name the From domain in header.from (SPF alone never
//     suffices: it checks the envelope sender, not From);
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
	sender, reason := fromAddress(froms[0])
	if reason != "" {
		return "", &RejectError{Reason: reason, From: froms[0]}
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
	} else if reason := checkDMARC(results[0], cfg.TrustedAuthservID, domainOf(sender)); reason != "" {
		return "", &RejectError{Reason: reason, From: sender}
	}

	if !authorized(sender, cfg.AuthorizedSenders) {
		return "", &RejectError{Reason: reasonUnauthorized, From: sender}
	}
	return sender, nil
}

// reasonUnauthorized is the rejection of an authenticated sender who is
// not in authorized_senders.
const reasonUnauthorized = "sender not authorized"

// fromAddress returns the lower-cased address of a From header value, or
// why the value is refused. The value must hold exactly one mailbox:
// outside quoted strings and comments there may be no "," (a second
// address), no ":" or ";" (a group), and no "@" in front of the "<"
// (an address-shaped display name, which another parser, the DMARC
// verifier's or a mail client's, may take for the address).
func fromAddress(value string) (addr, reason string) {
	bare, ok := stripQuotesAndComments(value)
	if !ok {
		return "", "malformed From"
	}
	switch {
	case strings.ContainsAny(bare, ":;"):
		return "", "From must hold exactly one address, not a group"
	case strings.Contains(bare, ","):
		return "", "From must hold exactly one address"
	}
	if lt, gt := strings.IndexByte(bare, '<'), strings.LastIndexByte(bare, '>'); lt >= 0 && gt > lt {
		if strings.Contains(bare[:lt], "@") {
			return "", "From must hold exactly one address, but its display name holds another"
		}
		if strings.TrimSpace(bare[gt+1:]) != "" {
			return "", "malformed From"
		}
	}
	// The address must read the same with and without quoted strings and
	// comments, so that a "<...>" hidden in either cannot stand in for it.
	addr, ok = strictAddress(value)
	if plain, ok2 := strictAddress(bare); !ok || !ok2 || plain != addr {
		return "", "malformed From"
	}
	return addr, ""
}

// domainOf returns the domain of an address.
func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// checkDMARC checks one Authentication-Results value against the domain
// of the From address and returns why it does not vouch for it, or ""
// when it does.
func checkDMARC(value, trusted, fromDomain string) string {
	ar, err := parseAuthResults(value)
	if err != nil {
		return "unparsable Authentication-Results header: " + err.Error()
	}
	if !ar.hasID {
		// Microsoft 365 writes no authserv-id: the value starts with a
		// result ("spf=pass ...; dmarc=pass ...").
		if trusted != "" {
			return fmt.Sprintf("authserv-id missing, expected %q", trusted)
		}
	} else if trusted != "" && !strings.EqualFold(ar.id, trusted) {
		return fmt.Sprintf("authserv-id %q is not trusted", ar.id)
	}
	var dmarc []authResult
	for _, r := range ar.results {
		if r.method == "dmarc" {
			dmarc = append(dmarc, r)
		}
	}
	if len(dmarc) == 0 {
		return "no dmarc result"
	}
	// A legitimate server writes one dmarc result per From domain, and we
	// accept one From address: any other result is a sign of injection
	// or of a second From, so every one must pass and be aligned.
	for _, d := range dmarc {
		if d.result != "pass" {
			if len(dmarc) > 1 {
				return "more than one dmarc result, one is " + d.result
			}
			return "dmarc=" + d.result
		}
	}
	for _, d := range dmarc {
		hf, ok := d.props["header.from"]
		switch {
		case !ok || hf == "":
			return "dmarc=pass without header.from"
		case !strings.EqualFold(hf, fromDomain):
			return fmt.Sprintf("dmarc header.from %s does not match From domain %s", hf, fromDomain)
		}
	}
	return ""
}

// authResult is one resinfo of an Authentication-Results header.
type authResult struct {
	// method and result are lower-cased keywords ("dmarc", "pass"); a
	// method version ("dkim/1") is dropped.
	method, result string
	// props maps the lower-cased property names ("header.from", and
	// "reason" for the reasonspec) to their values, quoted strings
	// unquoted.
	props map[string]string
}

// authResults is a parsed Authentication-Results header value.
type authResults struct {
	// id is the authserv-id; hasID is false when the value starts with a
	// result instead (Microsoft 365).
	id      string
	hasID   bool
	results []authResult
}

// arToken is a lexical token of an Authentication-Results value: ';',
// '=' or a word ('w').
type arToken struct {
	kind byte
	// text is a word as written, except that a word that is one quoted
	// string is unquoted.
	text string
	// quoted says the word holds a quoted string, which no keyword may.
	quoted bool
}

// parseAuthResults parses an Authentication-Results value (RFC 8601
// section 2.2). It is written here rather than taken from
// github.com/emersion/go-msgauth/authres because that parser (v0.7.0, the
// latest) splits the value at every ";" and then at spaces, ignoring
// comments and quoted strings: a comment or quoted local part that the
// receiving server copied from the SMTP session, such as
// `spf=pass (domain of "x;dmarc=pass"@evil.example ...)`, becomes a result
// of its own. Here comments are skipped (nested, with quoted-pairs) and
// quoted strings stay inside their word. Anything that does not follow the
// grammar (a stray "=", a property without value, a property given twice
// in one result) is an error, so that an ambiguous header is refused
// rather than read one way here and another way elsewhere.
func parseAuthResults(value string) (authResults, error) {
	var ar authResults
	toks, err := lexAuthResults(value)
	if err != nil {
		return ar, err
	}
	if len(toks) == 0 || toks[0].kind != 'w' {
		return ar, errors.New("no authserv-id")
	}
	i := 0
	if len(toks) == 1 || toks[1].kind != '=' {
		ar.id, ar.hasID = toks[0].text, true
		i = 1
		if i < len(toks) && toks[i].kind == 'w' && isDigits(toks[i].text) {
			if v := toks[i].text; v != "1" {
				return ar, fmt.Errorf("unsupported version %q", v)
			}
			i++
		}
		if i < len(toks) && toks[i].kind != ';' {
			return ar, errors.New("expected ';' after authserv-id")
		}
	}
	for i < len(toks) {
		if toks[i].kind == ';' {
			i++ // empty resinfos (";;", a trailing ";") are harmless
			continue
		}
		var r authResult
		r, i, err = parseResinfo(toks, i)
		if err != nil {
			return ar, err
		}
		if r.method != "" {
			ar.results = append(ar.results, r)
		}
	}
	return ar, nil
}

// parseResinfo parses the resinfo starting at toks[i] up to the next ';'
// and returns it with the index after it. "none" (no-result) gives a
// result without method.
func parseResinfo(toks []arToken, i int) (authResult, int, error) {
	var r authResult
	keyword := func(i int, what string) (string, error) {
		if i >= len(toks) || toks[i].kind != 'w' || toks[i].quoted {
			return "", fmt.Errorf("expected %s", what)
		}
		return strings.ToLower(toks[i].text), nil
	}
	equals := func(i int, what string) error {
		if i >= len(toks) || toks[i].kind != '=' {
			return fmt.Errorf("expected '=' after %s", what)
		}
		return nil
	}
	method, err := keyword(i, "method")
	if err != nil {
		return r, i, err
	}
	if method == "none" && (i+1 == len(toks) || toks[i+1].kind == ';') {
		return r, i + 1, nil
	}
	if err := equals(i+1, method); err != nil {
		return r, i, err
	}
	result, err := keyword(i+2, method+" result")
	if err != nil {
		return r, i, err
	}
	if method, _, _ = strings.Cut(method, "/"); method == "" {
		return r, i, errors.New("empty method")
	}
	r = authResult{method: method, result: result, props: map[string]string{}}
	for i += 3; i < len(toks) && toks[i].kind != ';'; i += 3 {
		name, err := keyword(i, method+" property")
		if err != nil {
			return r, i, err
		}
		if err := equals(i+1, name); err != nil {
			return r, i, err
		}
		if i+2 >= len(toks) || toks[i+2].kind != 'w' {
			return r, i, fmt.Errorf("%s has no value", name)
		}
		if _, dup := r.props[name]; dup {
			return r, i, fmt.Errorf("%s given twice in %s result", name, method)
		}
		r.props[name] = toks[i+2].text
	}
	return r, i, nil
}

// lexAuthResults splits an Authentication-Results value into tokens,
// dropping white space and comments. A word runs up to white space, a
// comment, ';' or '='; quoted strings (with quoted-pairs) are part of
// their word, so the ';' and '=' inside them separate nothing.
func lexAuthResults(s string) ([]arToken, error) {
	var toks []arToken
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case isSpaceByte(c):
			i++
		case c == '(':
			end, err := skipComment(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == ')':
			return nil, errors.New("unbalanced ')'")
		case c == ';' || c == '=':
			toks = append(toks, arToken{kind: c})
			i++
		default:
			start, quotes := i, 0
			var content string
			qStart, qEnd := -1, -1
			for i < len(s) && !isSpaceByte(s[i]) && !strings.ContainsRune("();=", rune(s[i])) {
				if s[i] != '"' {
					i++
					continue
				}
				end, unq, err := scanQuoted(s, i)
				if err != nil {
					return nil, err
				}
				quotes++
				qStart, qEnd, content = i, end, unq
				i = end
			}
			tok := arToken{kind: 'w', text: s[start:i], quoted: quotes > 0}
			if quotes == 1 && qStart == start && qEnd == i {
				tok.text = content
			}
			toks = append(toks, tok)
		}
	}
	return toks, nil
}

// skipComment returns the index after the comment starting at s[i] ==
// '(': comments nest, and a quoted-pair ("\)") escapes one character.
func skipComment(s string, i int) (int, error) {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, errors.New("unterminated comment")
}

// scanQuoted returns the index after the quoted string starting at s[i]
// == '"' and its content with quoted-pairs resolved.
func scanQuoted(s string, i int) (int, string, error) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return 0, "", errors.New("unterminated quoted string")
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return i + 1, b.String(), nil
		default:
			b.WriteByte(s[i])
		}
	}
	return 0, "", errors.New("unterminated quoted string")
}

// stripQuotesAndComments returns s with its comments removed and each
// quoted string emptied to `""`, leaving the structure of an address
// list; it reports false for an unterminated quoted string or comment, or
// an unbalanced ')'.
func stripQuotesAndComments(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '(':
			end, err := skipComment(s, i)
			if err != nil {
				return "", false
			}
			b.WriteByte(' ')
			i = end
		case ')':
			return "", false
		case '"':
			end, _, err := scanQuoted(s, i)
			if err != nil {
				return "", false
			}
			b.WriteString(`""`)
			i = end
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), true
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
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
