package mailout_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/airut-go/airut/internal/mailout"
)

// testDate is the Date of baseReply.
func testDate() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }

func baseReply() mailout.Reply {
	return mailout.Reply{
		From:       "Airut Bøt <airut@example.com>",
		To:         []string{"=?utf-8?q?J=C3=B6rg?= <jorg@example.org>"},
		Subject:    "Re: [ID:1a2b3c4d] Grüße aus Köln",
		MessageID:  "<airut.1a2b3c4d.1772600767.0badcafe@example.com>",
		InReplyTo:  "<orig@example.org>",
		References: []string{"<first@example.org>", "<second@example.org>", "<orig@example.org>"},
		Text:       "# Done\n\nI fixed **it**: `a < b`.",
		Footer:     "Cost: $0.0423 · Web searches: 2",
		Date:       testDate(),
	}
}

// part is one leaf of a parsed message, with the content types of the
// multiparts it sits in.
type part struct {
	path   []string // content types from the top, e.g. multipart/mixed, multipart/alternative
	header message.Header
	body   []byte
}

// leaves parses raw and returns the top header and the leaf parts in order.
func leaves(t *testing.T, raw []byte) (mail.Header, []part) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("message.Read() = %v", err)
	}
	var out []part
	var walk func(e *message.Entity, path []string)
	walk = func(e *message.Entity, path []string) {
		typ, _, _ := e.Header.ContentType()
		path = append(slices.Clone(path), typ)
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					t.Fatalf("NextPart() = %v", err)
				}
				walk(p, path)
			}
		}
		body, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatalf("read part body: %v", err)
		}
		out = append(out, part{path: path[:len(path)-1], header: e.Header, body: body})
	}
	walk(e, nil)
	return mail.Header{Header: e.Header}, out
}

func crlfToLF(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

func TestComposeHeadersAndAlternatives(t *testing.T) {
	r := baseReply()
	raw, attached, failed, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	if len(attached) != 0 || len(failed) != 0 {
		t.Errorf("Compose() attached %q, failed %q; want none", attached, failed)
	}

	// The header is 7-bit and every line fits SMTP's limit.
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, b := range head {
		if b >= 0x80 {
			t.Fatalf("header byte %d is not ASCII: %q", i, head)
		}
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line longer than 998 bytes: %q", line)
		}
	}

	h, parts := leaves(t, raw)
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Airut Bøt" || from[0].Address != "airut@example.com" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if !strings.Contains(h.Get("From"), "=?utf-8?") {
		t.Errorf("From display name not RFC 2047-encoded: %q", h.Get("From"))
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Jörg" || to[0].Address != "jorg@example.org" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if subj, err := h.Subject(); err != nil || subj != r.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, r.Subject)
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?utf-8?") {
		t.Errorf("Subject not RFC 2047-encoded: %q", h.Get("Subject"))
	}
	if got := h.Get("Message-Id"); got != r.MessageID {
		t.Errorf("Message-ID = %q, want %q", got, r.MessageID)
	}
	if got := h.Get("In-Reply-To"); got != r.InReplyTo {
		t.Errorf("In-Reply-To = %q, want %q", got, r.InReplyTo)
	}
	if got, err := h.MsgIDList("References"); err != nil || strings.Join(got, " ") != "first@example.org second@example.org orig@example.org" {
		t.Errorf("References = %q (%v)", got, err)
	}
	if got, err := h.Date(); err != nil || !got.Equal(testDate()) {
		t.Errorf("Date = %v (%v), want %v", got, err, testDate())
	}
	if got := h.Get("Mime-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if typ, _, _ := h.ContentType(); typ != "multipart/alternative" {
		t.Errorf("top Content-Type = %q, want multipart/alternative without attachments", typ)
	}

	if len(parts) != 2 {
		t.Fatalf("got %d leaf parts, want 2", len(parts))
	}
	wantText := r.Text + "\n\n*" + r.Footer + "*"
	for i, want := range []string{"text/plain", "text/html"} {
		p := parts[i]
		typ, params, _ := p.header.ContentType()
		if typ != want || params["charset"] != "utf-8" {
			t.Errorf("part %d Content-Type = %q %v, want %s; charset=utf-8", i, typ, params, want)
		}
		if cte := p.header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part %d Content-Transfer-Encoding = %q", i, cte)
		}
	}
	if got := crlfToLF(parts[0].body); got != wantText {
		t.Errorf("text/plain = %q, want %q", got, wantText)
	}
	htmlBody := crlfToLF(parts[1].body)
	if !strings.Contains(htmlBody, mailout.RenderHTML(wantText)) {
		t.Errorf("text/html does not hold RenderHTML of the text: %q", htmlBody)
	}
	for _, want := range []string{`charset=utf-8`, "<em>Cost: $0.0423 · Web searches: 2</em>", "<strong>it</strong>", "a &lt; b"} {
		if !strings.Contains(htmlBody, want) {
			t.Errorf("text/html lacks %q: %q", want, htmlBody)
		}
	}
}

func TestComposeWithoutFooterOrThreading(t *testing.T) {
	r := baseReply()
	r.Footer, r.InReplyTo, r.References = "", "", nil
	r.Subject = "Plain subject"
	r.Date = time.Time{}
	raw, _, _, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	h, parts := leaves(t, raw)
	if got := crlfToLF(parts[0].body); got != r.Text {
		t.Errorf("text/plain = %q, want the text alone %q", got, r.Text)
	}
	if h.Has("In-Reply-To") || h.Has("References") {
		t.Errorf("threading headers set although empty: %q %q", h.Get("In-Reply-To"), h.Get("References"))
	}
	if got := h.Get("Subject"); got != "Plain subject" {
		t.Errorf("ASCII Subject = %q, want it unencoded", got)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %v (%v), want now when not given", d, err)
	}
}

func TestComposeAttachments(t *testing.T) {
	dir := t.TempDir()
	binary := make([]byte, 3000)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	files := []struct {
		name     string
		data     []byte
		wantType string
	}{
		{"report.pdf", []byte("%PDF-1.4 fake"), "application/pdf"},
		{"naïve café.png", []byte("\x89PNG\r\n\x1a\n"), "image/png"},
		{"blob.zzunknown", binary, "application/octet-stream"},
	}
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	missing := filepath.Join(dir, "gone.txt")
	unreadable := filepath.Join(dir, "a dir")
	if err := os.Mkdir(unreadable, 0o755); err != nil {
		t.Fatal(err)
	}

	r := baseReply()
	r.Attachments = []string{paths[0], missing, paths[1], unreadable, paths[2]}
	raw, attached, failed, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	if !slices.Equal(attached, paths) {
		t.Errorf("attached = %q, want %q", attached, paths)
	}
	if want := []string{"gone.txt", "a dir"}; !slices.Equal(failed, want) {
		t.Errorf("failed = %q, want %q", failed, want)
	}

	h, parts := leaves(t, raw)
	if typ, _, _ := h.ContentType(); typ != "multipart/mixed" {
		t.Fatalf("top Content-Type = %q, want multipart/mixed", typ)
	}
	if len(parts) != 2+len(files) {
		t.Fatalf("got %d leaf parts, want %d", len(parts), 2+len(files))
	}
	for i, want := range []string{"text/plain", "text/html"} {
		typ, _, _ := parts[i].header.ContentType()
		if typ != want || !slices.Equal(parts[i].path, []string{"multipart/mixed", "multipart/alternative"}) {
			t.Errorf("part %d = %s in %v, want %s in multipart/mixed > multipart/alternative", i, typ, parts[i].path, want)
		}
	}
	note := "Could not attach 2 file(s): gone.txt, a dir"
	text := crlfToLF(parts[0].body)
	if want := r.Text + "\n\n" + note + "\n\n*" + r.Footer + "*"; text != want {
		t.Errorf("text/plain = %q, want %q", text, want)
	}
	if !strings.Contains(crlfToLF(parts[1].body), note) {
		t.Errorf("text/html does not name the files that failed")
	}

	for i, f := range files {
		p := parts[2+i]
		ah := mail.AttachmentHeader{Header: p.header}
		if !slices.Equal(p.path, []string{"multipart/mixed"}) {
			t.Errorf("%s sits in %v, want multipart/mixed", f.name, p.path)
		}
		if name, err := ah.Filename(); err != nil || name != f.name {
			t.Errorf("attachment %d filename = %q (%v), want %q", i, name, err, f.name)
		}
		typ, params, _ := ah.ContentType()
		if typ != f.wantType || params["name"] != f.name {
			t.Errorf("%s Content-Type = %q %v, want %s with its name", f.name, typ, params, f.wantType)
		}
		if disp, _, _ := ah.ContentDisposition(); disp != "attachment" {
			t.Errorf("%s Content-Disposition = %q", f.name, disp)
		}
		if cte := ah.Get("Content-Transfer-Encoding"); cte != "base64" {
			t.Errorf("%s Content-Transfer-Encoding = %q", f.name, cte)
		}
		if !bytes.Equal(p.body, f.data) {
			t.Errorf("%s content differs: %d bytes, want %d", f.name, len(p.body), len(f.data))
		}
	}
	// Non-ASCII names use RFC 2231, not RFC 2047, in the parameters.
	disp := parts[3].header.Get("Content-Disposition")
	if !strings.Contains(disp, "filename*=utf-8''na%C3%AFve%20caf%C3%A9.png") {
		t.Errorf("Content-Disposition = %q, want an RFC 2231 filename", disp)
	}
}

func TestComposeAllAttachmentsMissing(t *testing.T) {
	r := baseReply()
	r.Footer = ""
	r.Attachments = []string{filepath.Join(t.TempDir(), "out", "x.log")}
	raw, attached, failed, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	if len(attached) != 0 || !slices.Equal(failed, []string{"x.log"}) {
		t.Errorf("attached %q, failed %q", attached, failed)
	}
	h, parts := leaves(t, raw)
	if typ, _, _ := h.ContentType(); typ != "multipart/alternative" {
		t.Errorf("top Content-Type = %q, want multipart/alternative when nothing is attached", typ)
	}
	if got := crlfToLF(parts[0].body); !strings.HasSuffix(got, "\n\nCould not attach 1 file(s): x.log") {
		t.Errorf("text/plain = %q", got)
	}
}

func TestComposeLongTextHasShortLines(t *testing.T) {
	r := baseReply()
	r.Text = strings.Repeat("word ", 2000) + "\n\n" + strings.Repeat("x", 5000)
	raw, _, _, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, len(raw))
	for sc.Scan() {
		if len(sc.Bytes()) > 998 {
			t.Fatalf("line of %d bytes", len(sc.Bytes()))
		}
	}
	_, parts := leaves(t, raw)
	if got := crlfToLF(parts[0].body); !strings.HasPrefix(got, r.Text) {
		t.Errorf("text/plain does not round-trip")
	}
}

func TestComposeErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*mailout.Reply)
		want   string
	}{
		{"bad from", func(r *mailout.Reply) { r.From = "not an address" }, "parse from address"},
		{"bad to", func(r *mailout.Reply) { r.To = []string{"<<>>"} }, "parse to address"},
		{"no recipient", func(r *mailout.Reply) { r.To = nil }, "no recipient"},
		{"line break in a header", func(r *mailout.Reply) { r.InReplyTo = "<a@b>\r\nBcc: x@y" }, "\\r\\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := baseReply()
			tc.modify(&r)
			_, _, _, err := mailout.Compose(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compose() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestComposeSubjectWithLineBreakIsEncoded(t *testing.T) {
	r := baseReply()
	r.Subject = "a\r\nBcc: x@example.com"
	raw, _, _, err := mailout.Compose(r)
	if err != nil {
		t.Fatalf("Compose() = %v", err)
	}
	h, _ := leaves(t, raw)
	if h.Has("Bcc") {
		t.Fatalf("a line break in the subject injected a header")
	}
	if got, _ := h.Subject(); got != r.Subject {
		t.Errorf("Subject = %q, want %q", got, r.Subject)
	}
}
