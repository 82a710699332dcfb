package email

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// Attachment is a file that came with a message.
type Attachment struct {
	// Name is the decoded file name (RFC 2047 or RFC 2231), reduced to a
	// safe base name and made unique within the message; a part without
	// a name gets "attachment-N.ext".
	Name string
	// ContentType is the lower-case media type, without parameters.
	ContentType string
	// Data is the content, transfer-decoded (no charset conversion).
	Data []byte
}

// Parsed is what Airut needs of one inbound message.
type Parsed struct {
	// MessageID is the Message-ID without angle brackets. A message
	// without one gets "sha256:<hex of the raw bytes>", so a re-delivery
	// of the same bytes gets the same ID. That is a de-duplication key
	// only: a reply names [Parsed.HeaderMessageID].
	MessageID string
	// From is the From header value as received (unfolded), for display
	// and logs. Replies do not go to it but to the address Authenticate
	// returns: the raw value may hold more than that one address.
	From string
	// Sender is the lower-cased address of From, or "" when From holds
	// no address.
	Sender string
	// SenderName is From's decoded display name, else Sender.
	SenderName string
	// To holds the lower-cased addresses of the To headers.
	To []string
	// Subject is the decoded Subject (RFC 2047).
	Subject string
	// InReplyTo is the first message ID of In-Reply-To, without brackets.
	InReplyTo string
	// References holds the message IDs of References in header order,
	// without brackets.
	References []string
	// Date is the Date header, or the zero time when it is missing or
	// unreadable.
	Date time.Time
	// Body is the text for the agent: the HTML part converted to text,
	// else the plain text part, with quoted history replaced by
	// "[quoted text removed]". It is valid UTF-8.
	Body string
	// Attachments are the message's files in message order, inline
	// images with a name included.
	Attachments []Attachment

	// syntheticID: the message had no Message-ID; MessageID was made up.
	syntheticID bool
}

const (
	// syntheticIDPrefix starts the MessageID of a message without one.
	syntheticIDPrefix = "sha256:"
	// maxDepth bounds multipart nesting.
	maxDepth = 32
	// maxParts bounds the number of MIME parts of one message.
	maxParts = 2000
	// quotedMarker replaces quoted history that nothing follows.
	quotedMarker = "[quoted text removed]"
)

// Parse reads a raw RFC 5322 message. It fails, saying what is wrong,
// only when the structure cannot be read (no header, a multipart without
// boundary or parts, nesting too deep); unknown charsets, bad addresses
// or dates and broken transfer encodings are tolerated.
func Parse(raw []byte) (*Parsed, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("parse message: empty message")
	}
	input := raw
	if input[len(input)-1] != '\n' {
		input = append(input[:len(input):len(input)], '\r', '\n')
	}
	br := bufio.NewReader(bytes.NewReader(input))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("parse message: read header: %w", err)
	}
	if h.Len() == 0 {
		return nil, errors.New("parse message: no header fields")
	}

	p := &Parsed{
		Subject:    headerText(h.Get("Subject")),
		References: msgIDs(h.Get("References")),
	}
	if ids := msgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
		p.InReplyTo = ids[0]
	}
	p.MessageID, p.syntheticID = messageID(h.Get("Message-Id"), raw)
	if d, err := mail.ParseDate(strings.TrimSpace(h.Get("Date"))); err == nil {
		p.Date = d
	}
	p.From = validUTF8(h.Get("From"))
	p.Sender, p.SenderName = senderOf(p.From)
	for _, v := range h.Values("To") {
		p.To = append(p.To, addressList(validUTF8(v))...)
	}

	w := &walker{cids: map[string]string{}, names: map[string]bool{}}
	segs, err := w.walk(h, br, 0, "", false)
	if err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	p.Attachments = w.atts
	p.Body = assembleBody(segs, w.cids, isForward(p.Subject))
	return p, nil
}

// messageID returns the first msg-id of a Message-ID value, or a stable
// synthetic ID derived from the raw message when there is none.
func messageID(v string, raw []byte) (id string, synthetic bool) {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0], false
	}
	sum := sha256.Sum256(raw)
	return syntheticIDPrefix + hex.EncodeToString(sum[:]), true
}

// HeaderMessageID is the Message-ID the message carried, without angle
// brackets, or "" when it had none: the ID a reply may name in its
// In-Reply-To, where a synthetic one would name a message the sender's
// client never saw.
func (p *Parsed) HeaderMessageID() string {
	if p.syntheticID {
		return ""
	}
	return p.MessageID
}

var bracketedID = regexp.MustCompile(`<([^<>]*)>`)

// msgIDs returns the message IDs of an In-Reply-To, References or
// Message-ID value without angle brackets. IDs written without brackets
// (seen in the wild) are taken from whitespace- or comma-separated words
// holding "@".
func msgIDs(v string) []string {
	v = validUTF8(v)
	var ids []string
	for _, m := range bracketedID.FindAllStringSubmatch(v, -1) {
		if id := strings.Join(strings.Fields(m[1]), ""); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 || strings.ContainsAny(v, "<>") {
		return ids
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.Contains(w, "@") {
			ids = append(ids, w)
		}
	}
	return ids
}

// wordDecoder decodes RFC 2047 encoded-words in any charset go-message's
// charset package knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// headerText decodes a header value for display: raw 8-bit bytes are
// read as UTF-8 or else Windows-1252, encoded-words are decoded, and
// control characters become spaces.
func headerText(v string) string {
	v = validUTF8(v)
	if dec, err := wordDecoder.DecodeHeader(v); err == nil {
		v = dec
	}
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	return strings.TrimSpace(v)
}

// validUTF8 returns s unchanged when it is UTF-8, else reads its bytes as
// Windows-1252 (8-bit headers and undeclared text are most often that).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// senderOf returns the lower-cased address and display name of a From
// value. The address is taken as Authenticate takes it when that works.
func senderOf(from string) (addr, name string) {
	addr, _ = strictAddress(from)
	if list, err := gomail.ParseAddressList(from); err == nil && len(list) > 0 {
		if addr == "" {
			addr = strings.ToLower(list[0].Address)
		}
		name = list[0].Name
	} else if lt := strings.IndexByte(from, '<'); lt > 0 {
		name = headerText(strings.Trim(strings.TrimSpace(from[:lt]), `"`))
	}
	name = headerText(name)
	if name == "" {
		name = addr
	}
	return addr, name
}

var looseAddr = regexp.MustCompile("[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9.-]+")

// addressList returns the lower-cased addresses of an address-list value,
// falling back to anything address-shaped when it does not parse.
func addressList(v string) []string {
	var out []string
	if list, err := gomail.ParseAddressList(v); err == nil {
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	for _, a := range looseAddr.FindAllString(v, -1) {
		out = append(out, strings.ToLower(a))
	}
	return out
}

// segment is a piece of body text: HTML or plain text, decoded to UTF-8.
type segment struct {
	html bool
	text string
}

// walker collects the body segments and attachments of a MIME tree.
type walker struct {
	parts int
	atts  []Attachment
	// cids maps lower-case Content-IDs to attachment names.
	cids map[string]string
	// names holds the lower-cased names already used.
	names map[string]bool
}

// walk walks one MIME entity whose header is h and whose (still
// transfer-encoded) body is body, and returns its body segments. path
// names the part in errors ("1.2"); inAlternative says the entity is a
// direct child of multipart/alternative.
func (w *walker) walk(h textproto.Header, body io.Reader, depth int, path string, inAlternative bool) ([]segment, error) {
	w.parts++
	if w.parts > maxParts {
		return nil, fmt.Errorf("more than %d MIME parts", maxParts)
	}
	mt, params := mediaType(h.Get("Content-Type"))
	if !strings.Contains(mt, "/") {
		// Missing or invalid: the RFC 2045 default.
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		return w.multipart(mt, params, body, depth, path)
	}

	data, err := io.ReadAll(body)
	if err != nil && !isTruncation(err) {
		return nil, fmt.Errorf("%s: read: %w", partName(path), err)
	}
	data = decodeTransfer(h.Get("Content-Transfer-Encoding"), data)

	disp, dparams := mediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = headerText(name)
	bodyType := mt == "text/plain" || mt == "text/html"

	if disp != "attachment" && name == "" && bodyType {
		text := decodeText(data, params["charset"])
		if mt == "text/html" {
			if strings.TrimSpace(text) == "" {
				return nil, nil
			}
			return []segment{{html: true, text: text}}, nil
		}
		if strings.EqualFold(params["format"], "flowed") {
			text = unflow(text, strings.EqualFold(params["delsp"], "yes"))
		}
		if strings.TrimSpace(text) == "" {
			return nil, nil
		}
		return []segment{{text: text}}, nil
	}
	if inAlternative && disp != "attachment" && name == "" {
		// Another rendering of the body (text/enriched, text/calendar…).
		return nil, nil
	}
	if len(data) == 0 {
		return nil, nil
	}
	name = w.uniqueName(safeName(name), mt)
	w.atts = append(w.atts, Attachment{Name: name, ContentType: mt, Data: data})
	if cid := contentID(h.Get("Content-Id")); cid != "" {
		if _, seen := w.cids[cid]; !seen {
			w.cids[cid] = name
		}
	}
	return nil, nil
}

// multipart walks the parts of a multipart entity and combines their
// body segments: the best alternative of multipart/alternative, the root
// of multipart/related, all parts in order otherwise.
func (w *walker) multipart(mt string, params map[string]string, body io.Reader, depth int, path string) ([]segment, error) {
	if depth >= maxDepth {
		return nil, fmt.Errorf("%s: multipart nested deeper than %d levels", partName(path), maxDepth)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, fmt.Errorf("%s: %s without boundary", partName(path), mt)
	}
	mr := textproto.NewMultipartReader(body, boundary)
	var (
		children [][]segment
		root     = -1
		start    = contentID(params["start"])
	)
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		childPath := strconv.Itoa(i + 1)
		if path != "" {
			childPath = path + "." + childPath
		}
		if err != nil {
			if isTruncation(err) {
				// The closing boundary is missing (a truncated
				// message): keep the parts read so far.
				break
			}
			return nil, fmt.Errorf("%s: %w", partName(childPath), err)
		}
		if mt == "multipart/signed" && i > 0 {
			// The signature itself is of no use to the agent.
			if st, _ := mediaType(part.Header.Get("Content-Type")); isSignatureType(st) {
				if _, err := io.Copy(io.Discard, part); err != nil && !isTruncation(err) {
					return nil, fmt.Errorf("%s: read: %w", partName(childPath), err)
				}
				children = append(children, nil)
				continue
			}
		}
		if root < 0 && start != "" && contentID(part.Header.Get("Content-Id")) == start {
			root = i
		}
		segs, err := w.walk(part.Header, part, depth+1, childPath, mt == "multipart/alternative")
		if err != nil {
			return nil, err
		}
		children = append(children, segs)
	}
	if len(children) == 0 {
		return nil, fmt.Errorf("%s: %s has no parts (boundary %q not found)", partName(path), mt, boundary)
	}

	switch mt {
	case "multipart/alternative":
		// The last alternative is the preferred one; HTML beats text.
		best := -1
		for i, segs := range children {
			if hasHTML(segs) || (len(segs) > 0 && (best < 0 || !hasHTML(children[best]))) {
				best = i
			}
		}
		if best < 0 {
			return nil, nil
		}
		return children[best], nil
	case "multipart/related":
		if root < 0 {
			root = 0
		}
		return children[root], nil
	default:
		var all []segment
		for _, segs := range children {
			all = append(all, segs...)
		}
		return all, nil
	}
}

func hasHTML(segs []segment) bool {
	for _, s := range segs {
		if s.html {
			return true
		}
	}
	return false
}

func isSignatureType(mt string) bool {
	switch mt {
	case "application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature":
		return true
	}
	return false
}

// isTruncation reports whether err means the input ended early.
func isTruncation(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(err != nil && strings.HasSuffix(err.Error(), ": EOF"))
}

func partName(path string) string {
	if path == "" {
		return "message body"
	}
	return "part " + path
}

// contentID returns a Content-ID (or a "start" parameter) without angle
// brackets, lower-cased.
func contentID(v string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>"))
}

// mediaType parses a Content-Type or Content-Disposition value. It uses
// mime.ParseMediaType (RFC 2231 with UTF-8) and falls back to a lenient
// parser for what that rejects: a bad parameter, RFC 2231 values in other
// charsets. A missing Content-Type means text/plain (RFC 2045).
func mediaType(v string) (string, map[string]string) {
	v = validUTF8(v)
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || missingExtended(v, params) {
		mt, params = parseParamsLenient(v)
	}
	mt = strings.ToLower(mt)
	if params == nil {
		params = map[string]string{}
	}
	return mt, params
}

// missingExtended reports whether v has an RFC 2231 parameter (name*=…)
// that mime.ParseMediaType dropped or could not decode, as it does for
// charsets other than UTF-8 and US-ASCII.
func missingExtended(v string, params map[string]string) bool {
	for _, m := range extendedParam.FindAllStringSubmatch(v, -1) {
		if _, ok := params[strings.ToLower(m[1])]; !ok {
			return true
		}
		if cs := strings.ToLower(strings.TrimSpace(m[2])); cs != "" && cs != "utf-8" && cs != "us-ascii" {
			return true
		}
	}
	return false
}

var extendedParam = regexp.MustCompile(`(?i);\s*([a-z0-9_.-]+)\*(?:0\*)?\s*=\s*"?([^'";\s]*)'`)

// parseParamsLenient parses "type; k=v; k*=charset'lang'%xx; k*0*=…",
// skipping what it cannot read.
func parseParamsLenient(v string) (string, map[string]string) {
	pieces := splitParams(v)
	if len(pieces) == 0 {
		return "", nil
	}
	mt := strings.TrimSpace(pieces[0])
	if i := strings.IndexAny(mt, " \t"); i >= 0 {
		mt = mt[:i]
	}
	params := map[string]string{}
	type cont struct {
		parts   map[int]string
		encoded map[int]bool
	}
	conts := map[string]*cont{}
	for _, piece := range pieces[1:] {
		k, val, ok := strings.Cut(piece, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
		}
		encoded := strings.HasSuffix(k, "*")
		k = strings.TrimSuffix(k, "*")
		name, idx, isCont := strings.Cut(k, "*")
		if isCont {
			n, err := strconv.Atoi(idx)
			if err != nil || n < 0 || n > 100 {
				continue
			}
			c := conts[name]
			if c == nil {
				c = &cont{parts: map[int]string{}, encoded: map[int]bool{}}
				conts[name] = c
			}
			c.parts[n], c.encoded[n] = val, encoded
			continue
		}
		if encoded {
			params[name] = decode2231(val, true)
		} else if _, set := params[name]; !set {
			params[name] = val
		}
	}
	for name, c := range conts {
		var raw strings.Builder
		cs := ""
		for i := 0; ; i++ {
			part, ok := c.parts[i]
			if !ok {
				break
			}
			if c.encoded[i] {
				if i == 0 {
					var rest string
					cs, rest = split2231(part)
					part = rest
				}
				part = pctDecode(part)
			}
			raw.WriteString(part)
		}
		params[name] = decodeText([]byte(raw.String()), cs)
	}
	return mt, params
}

// splitParams splits a header value at semicolons outside quotes.
func splitParams(v string) []string {
	var out []string
	var cur strings.Builder
	inQuote, escaped := false, false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && inQuote:
			escaped = true
		case r == '"':
			inQuote = !inQuote
		case r == ';' && !inQuote:
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(out, cur.String())
}

// decode2231 decodes an RFC 2231 extended value "charset'lang'%xx…".
func decode2231(v string, first bool) string {
	cs := ""
	if first {
		cs, v = split2231(v)
	}
	return decodeText([]byte(pctDecode(v)), cs)
}

// split2231 splits "charset'lang'rest" into charset and rest.
func split2231(v string) (cs, rest string) {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return "", v
	}
	return parts[0], parts[2]
}

// pctDecode decodes %xx escapes, leaving malformed ones as they are.
func pctDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeTransfer undoes a Content-Transfer-Encoding leniently: base64
// ignores characters outside its alphabet and a truncated last group,
// quoted-printable keeps malformed escapes; unknown encodings pass
// through.
func decodeTransfer(enc string, data []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return decodeBase64(data)
	case "quoted-printable":
		return decodeQP(data)
	}
	return data
}

func decodeBase64(data []byte) []byte {
	clean := make([]byte, 0, len(data))
	for _, c := range data {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

func decodeQP(data []byte) []byte {
	out := make([]byte, 0, len(data))
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, line := range lines {
		hasNL := bytes.HasSuffix(line, []byte("\n"))
		line = bytes.TrimRight(line, "\r\n")
		// Trailing whitespace is transport padding (RFC 2045 6.7).
		line = bytes.TrimRight(line, " \t")
		soft := bytes.HasSuffix(line, []byte("="))
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			out = append(out, c)
		}
		if hasNL && !soft {
			out = append(out, '\n')
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// decodeText converts text in the declared charset to valid UTF-8. Text
// declared UTF-8 keeps its invalid bytes as U+FFFD; text with no, an
// ASCII or an unknown charset is read as UTF-8 when it is, else as
// Windows-1252.
func decodeText(data []byte, cs string) string {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(data), "\uFFFD")
	case "", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "default":
		return validUTF8(string(data))
	}
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		return validUTF8(string(data))
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return validUTF8(string(data))
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// safeName reduces a file name to a base name without control
// characters, at most 200 bytes long; "" when nothing usable is left.
func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	if len(name) > 200 {
		ext := ""
		if dot := strings.LastIndexByte(name, '.'); dot >= 0 && len(name)-dot <= 16 {
			ext = name[dot:]
		}
		stem := name[:200-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		name = stem + ext
	}
	return name
}

// extensions gives synthetic names of common unnamed parts an extension.
var extensions = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
	"image/bmp": ".bmp", "image/svg+xml": ".svg", "image/tiff": ".tif", "image/heic": ".heic",
	"application/pdf": ".pdf", "application/zip": ".zip", "application/json": ".json",
	"message/rfc822": ".eml", "text/calendar": ".ics", "text/plain": ".txt",
	"text/html": ".html", "text/csv": ".csv", "text/vcard": ".vcf", "text/x-vcard": ".vcf",
}

// uniqueName names an attachment: name, or "attachment-N.ext" when it
// has none, with "-2", "-3"… before the extension when it is taken.
func (w *walker) uniqueName(name, mt string) string {
	if name == "" {
		ext, ok := extensions[mt]
		if !ok {
			ext = ".bin"
		}
		name = fmt.Sprintf("attachment-%d%s", len(w.atts)+1, ext)
	}
	stem, ext := name, ""
	if dot := strings.LastIndexByte(name, '.'); dot > 0 {
		stem, ext = name[:dot], name[dot:]
	}
	candidate := name
	for n := 2; w.names[strings.ToLower(candidate)]; n++ {
		candidate = fmt.Sprintf("%s-%d%s", stem, n, ext)
	}
	w.names[strings.ToLower(candidate)] = true
	return candidate
}

// forwardPrefix matches the subject prefix of a forwarded message.
var forwardPrefix = regexp.MustCompile(`(?i)^\s*(fwd?|wg|tr|rv|i)\s*:`)

func isForward(subject string) bool {
	return forwardPrefix.MatchString(subject)
}

// assembleBody turns the body segments into the agent's text: with any
// HTML, all segments as one HTML document (plain segments escaped), with
// quotes stripped by their HTML markers; else the plain text with a
// trailing quoted block stripped.
func assembleBody(segs []segment, cids map[string]string, forward bool) string {
	var body string
	if hasHTML(segs) {
		var doc strings.Builder
		for _, s := range segs {
			if s.html {
				doc.WriteString(s.text)
				continue
			}
			doc.WriteString("<div>")
			for i, line := range strings.Split(normalizeNewlines(s.text), "\n") {
				if i > 0 {
					doc.WriteString("<br>")
				}
				doc.WriteString(html.EscapeString(line))
			}
			doc.WriteString("</div>")
		}
		body = htmlToText(doc.String(), htmlOptions{stripQuotes: true, cidNames: cids})
	} else {
		texts := make([]string, len(segs))
		for i, s := range segs {
			texts[i] = s.text
		}
		body = plainBody(strings.Join(texts, "\n"), forward)
	}
	body = strings.ReplaceAll(body, "\x00", "")
	return strings.ToValidUTF8(body, "\uFFFD")
}
