package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/mail"
)

// Message is one message the server accepted.
type Message struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Data []byte   // the message as sent after DATA
}

// Attachment is a part of a message that is not inline text.
type Attachment struct {
	Name        string // file name, RFC 2231 / RFC 2047 decoded
	ContentType string // media type without parameters
	Data        []byte // decoded content
}

// Parsed is a message read with go-message: the header and the decoded
// parts, nested multiparts flattened.
type Parsed struct {
	Header      mail.Header
	Text        string // first text/plain inline part
	HTML        string // first text/html inline part
	Attachments []Attachment
}

// Parse reads m.Data as a MIME message.
func (m Message) Parse() (*Parsed, error) {
	r, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("smtptest: read message: %w", err)
	}
	defer r.Close()
	p := &Parsed{Header: r.Header}
	var seenText, seenHTML bool
	for {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, fmt.Errorf("smtptest: read part: %w", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return nil, fmt.Errorf("smtptest: read part body: %w", err)
		}
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			t, _, _ := h.ContentType()
			switch {
			case t == "text/plain" && !seenText:
				p.Text, seenText = string(body), true
			case t == "text/html" && !seenHTML:
				p.HTML, seenHTML = string(body), true
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			t, _, _ := h.ContentType()
			p.Attachments = append(p.Attachments, Attachment{Name: name, ContentType: t, Data: body})
		}
	}
}

// Header returns the first value of the named header field, RFC 2047
// decoded, or "" if the field is missing or the message does not parse.
func (m Message) Header(name string) string {
	p, err := m.Parse()
	if err != nil {
		return ""
	}
	v, err := p.Header.Text(name)
	if err != nil {
		return p.Header.Get(name)
	}
	return v
}

// TextBody returns the decoded text/plain part, with CRLF line ends
// turned into LF, or "" if there is none.
func (m Message) TextBody() string {
	p, err := m.Parse()
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(p.Text, "\r\n", "\n")
}

// HTMLBody returns the decoded text/html part, with CRLF line ends turned
// into LF, or "" if there is none.
func (m Message) HTMLBody() string {
	p, err := m.Parse()
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(p.HTML, "\r\n", "\n")
}

// Attachments returns the decoded attachments, in order.
func (m Message) Attachments() []Attachment {
	p, err := m.Parse()
	if err != nil {
		return nil
	}
	return p.Attachments
}
