package mailout

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// Reply is one outgoing email: a reply in the sender's thread.
type Reply struct {
	From        string   // "Airut <airut@example.com>"
	To          []string // raw address values (the original From header); each may hold a list
	Subject     string   // set as given (RFC 2047-encoded when not ASCII)
	MessageID   string   // "<...>", set as given; omitted when empty
	InReplyTo   string   // "<...>" or "" (see [ThreadHeaders])
	References  []string // "<...>" each, in order (see [ThreadHeaders])
	Text        string   // Markdown body
	Footer      string   // usage line; appended as "\n\n*footer*" (emphasis) when not empty
	Attachments []string // file paths; each is attached under its base name
	Date        time.Time
}

// Compose builds the RFC 5322 message for r.
//
// The body is the Markdown text as text/plain (UTF-8, quoted-printable) and
// its rendering by [RenderHTML] as text/html, in a multipart/alternative;
// when files are attached, that is the first part of a multipart/mixed and
// each file follows, base64-encoded, with a MIME type guessed from its name
// (application/octet-stream when unknown) and its name RFC 2231-encoded
// when not ASCII.
//
// A file that cannot be read is not an error: it is left out, named in the
// body ("Could not attach N file(s): a, b", before the footer) and
// returned in failed by base name. attached holds the paths of the files
// that were attached, as given, so the caller can remove exactly those.
// err is for what makes the message impossible: an address that does not
// parse, no recipient, a header value with a line break, or a Message-ID,
// In-Reply-To or References value that is not a real message ID in angle
// brackets.
func Compose(r Reply) (msg []byte, attached []string, failed []string, err error) {
	from, err := mail.ParseAddress(r.From)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse from address %q: %w", r.From, err)
	}
	var to []*mail.Address
	for _, v := range r.To {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("parse to address %q: %w", v, err)
		}
		to = append(to, list...)
	}
	if len(to) == 0 {
		return nil, nil, nil, errors.New("no recipient")
	}

	type file struct {
		name string
		data []byte
	}
	var files []file
	for _, p := range r.Attachments {
		data, err := os.ReadFile(p)
		if err != nil {
			failed = append(failed, filepath.Base(p))
			continue
		}
		files = append(files, file{filepath.Base(p), data})
		attached = append(attached, p)
	}

	body := bodyText(r.Text, r.Footer, failed)

	var h mail.Header
	date := r.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	h.SetAddressList("From", []*mail.Address{from})
	h.SetAddressList("To", to)
	h.SetSubject(r.Subject)
	// The threading headers name real messages only: a synthetic or
	// empty ID there (the listener's "sha256:" de-duplication key, say)
	// names a message the recipient's client never saw. ThreadHeaders
	// builds them so; this is where a caller that did not is stopped.
	if r.MessageID != "" {
		if !bracketedID(r.MessageID) {
			return nil, nil, nil, fmt.Errorf("Message-ID %q is not a message ID in angle brackets", r.MessageID)
		}
		h.Set("Message-ID", r.MessageID)
	}
	if r.InReplyTo != "" {
		if !bracketedID(r.InReplyTo) {
			return nil, nil, nil, fmt.Errorf("In-Reply-To %q is not a message ID in angle brackets", r.InReplyTo)
		}
		h.Set("In-Reply-To", r.InReplyTo)
	}
	for _, ref := range r.References {
		if !bracketedID(ref) {
			return nil, nil, nil, fmt.Errorf("header References: entry %q is not a message ID in angle brackets", ref)
		}
	}
	if len(r.References) > 0 {
		h.Set("References", strings.Join(r.References, " "))
	}

	var buf bytes.Buffer
	if len(files) == 0 {
		iw, err := mail.CreateInlineWriter(&buf, h)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("write header: %w", err)
		}
		if err := writeAlternatives(iw, body); err != nil {
			return nil, nil, nil, err
		}
		return buf.Bytes(), attached, failed, nil
	}

	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("write header: %w", err)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start text parts: %w", err)
	}
	if err := writeAlternatives(iw, body); err != nil {
		return nil, nil, nil, err
	}
	for _, f := range files {
		if err := writeAttachment(mw, f.name, f.data); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, nil, nil, fmt.Errorf("finish message: %w", err)
	}
	return buf.Bytes(), attached, failed, nil
}

// bracketedID reports whether v is "<id>" with id a message ID.
func bracketedID(v string) bool {
	return len(v) > 2 && v[0] == '<' && v[len(v)-1] == '>' && isMessageID(v[1:len(v)-1])
}

// bodyText is the Markdown of the body: the text, then the note on files
// that could not be attached, then the footer in emphasis.
func bodyText(text, footer string, failed []string) string {
	parts := []string{text}
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("Could not attach %d file(s): %s", len(failed), strings.Join(failed, ", ")))
	}
	if footer != "" {
		parts = append(parts, "*"+footer+"*")
	}
	if text == "" {
		parts = parts[1:]
	}
	return strings.Join(parts, "\n\n")
}

// writeAlternatives writes the text/plain and text/html parts and closes iw.
func writeAlternatives(iw *mail.InlineWriter, markdown string) error {
	for _, part := range []struct{ typ, body string }{
		{"text/plain", markdown},
		{"text/html", htmlDocument(RenderHTML(markdown))},
	} {
		var ph mail.InlineHeader
		ph.SetContentType(part.typ, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := iw.CreatePart(ph)
		if err != nil {
			return fmt.Errorf("start %s part: %w", part.typ, err)
		}
		if _, err := io.WriteString(w, part.body); err != nil {
			return fmt.Errorf("write %s part: %w", part.typ, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("finish %s part: %w", part.typ, err)
		}
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("finish text parts: %w", err)
	}
	return nil
}

// writeAttachment writes one file as a base64 attachment part.
func writeAttachment(mw *mail.Writer, name string, data []byte) error {
	typ := mime.TypeByExtension(filepath.Ext(name))
	if typ == "" {
		typ = "application/octet-stream"
	}
	media, params, err := mime.ParseMediaType(typ)
	if err != nil {
		media, params = "application/octet-stream", map[string]string{}
	}
	// mime.FormatMediaType writes a non-ASCII value as an RFC 2231
	// extended parameter (name*=utf-8''…).
	params["name"] = name
	var ah mail.AttachmentHeader
	ah.Set("Content-Type", mime.FormatMediaType(media, params))
	ah.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	ah.Set("Content-Transfer-Encoding", "base64")
	w, err := mw.CreateAttachment(ah)
	if err != nil {
		return fmt.Errorf("start attachment %q: %w", name, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write attachment %q: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("finish attachment %q: %w", name, err)
	}
	return nil
}

// htmlDocument wraps an HTML fragment in a minimal document that names
// its charset.
func htmlDocument(fragment string) string {
	return "<!DOCTYPE html>\n<html>\n<head>\n" +
		`<meta http-equiv="Content-Type" content="text/html; charset=utf-8">` + "\n" +
		"</head>\n<body>\n" + fragment + "\n</body>\n</html>\n"
}
