package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus/*.golden.json from the parser's output")

// corpusMailbox is the repo address the corpus messages were sent to.
const corpusMailbox = "airut@example.com"

// golden is what a corpus message must parse to.
type golden struct {
	MessageID      string             `json:"message_id"`
	Subject        string             `json:"subject"`
	Sender         string             `json:"sender"`
	SenderName     string             `json:"sender_name"`
	To             []string           `json:"to"`
	InReplyTo      string             `json:"in_reply_to,omitempty"`
	References     []string           `json:"references,omitempty"`
	Date           string             `json:"date"`
	ConversationID string             `json:"conversation_id"`
	ModelHint      string             `json:"model_hint,omitempty"`
	Body           string             `json:"body"`
	Attachments    []goldenAttachment `json:"attachments,omitempty"`
}

type goldenAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
}

func goldenOf(p *Parsed) golden {
	g := golden{
		MessageID:      p.MessageID,
		Subject:        p.Subject,
		Sender:         p.Sender,
		SenderName:     p.SenderName,
		To:             p.To,
		InReplyTo:      p.InReplyTo,
		References:     p.References,
		ConversationID: ConversationID(p),
		ModelHint:      ModelHint(p, corpusMailbox),
		Body:           p.Body,
	}
	if !p.Date.IsZero() {
		g.Date = p.Date.UTC().Format(time.RFC3339)
	}
	for _, a := range p.Attachments {
		sum := sha256.Sum256(a.Data)
		g.Attachments = append(g.Attachments, goldenAttachment{
			Name: a.Name, ContentType: a.ContentType, Size: len(a.Data),
			SHA256: hex.EncodeToString(sum[:8]),
		})
	}
	return g
}

func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// TestCorpus parses messages in the shapes of real clients and compares
// everything Airut uses with the golden file next to each.
func TestCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			p, err := Parse(raw)
			require.NoError(t, err)
			got := goldenOf(p)
			goldenPath := strings.TrimSuffix(path, ".eml") + ".golden.json"
			if *update {
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(goldenPath, append(b, '\n'), 0o644))
				return
			}
			b, err := os.ReadFile(goldenPath)
			require.NoError(t, err, "run go test -run TestCorpus -update to create it")
			var want golden
			require.NoError(t, json.Unmarshal(b, &want))
			assert.Equal(t, want.Body, got.Body, "body")
			assert.Equal(t, want, got)
			assert.True(t, utf8.ValidString(p.Body))
		})
	}
}

// TestCorpusLineEndings checks that a message with bare LF line endings
// parses like the CRLF original.
func TestCorpusLineEndings(t *testing.T) {
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		crlf, err := Parse(raw)
		require.NoError(t, err)
		lf, err := Parse(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
		require.NoError(t, err, path)
		assert.Equal(t, crlf.Body, lf.Body, path)
		assert.Equal(t, len(crlf.Attachments), len(lf.Attachments), path)
		if !strings.HasPrefix(crlf.MessageID, syntheticIDPrefix) {
			assert.Equal(t, crlf.MessageID, lf.MessageID, path)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"empty", "", "empty message"},
		{"blank", " \r\n\r\n", "empty message"},
		{"no header", "hello world\r\n", "malformed MIME header line"},
		{"leading space", " From: a@b\r\n\r\nx", "malformed MIME header initial line"},
		{"no header fields", "\r\nbody only\r\n", "no header fields"},
		{"multipart without boundary", "From: a@b.c\r\nContent-Type: multipart/mixed\r\n\r\nx", "multipart/mixed without boundary"},
		{"boundary never found", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n", `has no parts (boundary "zz" not found)`},
		{"nested part without boundary", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: multipart/alternative\r\n\r\nx\r\n--zz--\r\n",
			"part 1: multipart/alternative without boundary"},
		{"nesting too deep", deepMultipart(40), "nested deeper than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.raw))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "parse message: "), err.Error())
		})
	}
}

func deepMultipart(n int) string {
	var b strings.Builder
	b.WriteString("From: a@b.c\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// parse is Parse for messages that must parse.
func parse(t *testing.T, raw string) *Parsed {
	t.Helper()
	p, err := Parse([]byte(raw))
	require.NoError(t, err)
	return p
}

func TestParseHeaders(t *testing.T) {
	p := parse(t, "From: =?utf-8?q?P=C3=A4t_Example?= <Pat@Example.ORG>\r\n"+
		"To: Airut <airut+opus@example.com>, \"Team, All\" <team@example.org>\r\n"+
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n =?utf-8?q?_und_mehr?= [ID:1a2b3c4d]\r\n"+
		"Message-ID:  <abc@example.org> (comment)\r\n"+
		"In-Reply-To: <first@x> <second@x>\r\n"+
		"References: <r1@x>,\r\n\t<r2@x> <r3@x>\r\n"+
		"Date: Tue, 5 Mar 2024 10:20:00 +0100\r\n\r\nbody")
	assert.Equal(t, "Pät Example", p.SenderName)
	assert.Equal(t, "pat@example.org", p.Sender)
	assert.Equal(t, "=?utf-8?q?P=C3=A4t_Example?= <Pat@Example.ORG>", p.From)
	assert.Equal(t, []string{"airut+opus@example.com", "team@example.org"}, p.To)
	assert.Equal(t, "Grüße und mehr [ID:1a2b3c4d]", p.Subject)
	assert.Equal(t, "abc@example.org", p.MessageID)
	assert.Equal(t, "first@x", p.InReplyTo)
	assert.Equal(t, []string{"r1@x", "r2@x", "r3@x"}, p.References)
	assert.Equal(t, time.Date(2024, 3, 5, 9, 20, 0, 0, time.UTC), p.Date.UTC())
	assert.Equal(t, "body", p.Body)

	t.Run("lenient fallbacks", func(t *testing.T) {
		p := parse(t, "From: Pat Example <pat@example.org\r\n"+
			"To: airut@example.com; other@example.org\r\n"+
			"Subject: Gr\xfc\xdfe\r\n"+
			"Message-ID: bare-id@example.org\r\n"+
			"In-Reply-To: bare@example.org (Pat's message)\r\n"+
			"Date: yesterday\r\n\r\nbody")
		assert.Equal(t, "", p.Sender)
		assert.Equal(t, "Pat Example", p.SenderName)
		assert.Equal(t, []string{"airut@example.com", "other@example.org"}, p.To)
		assert.Equal(t, "Grüße", p.Subject)
		assert.Equal(t, "bare-id@example.org", p.MessageID)
		assert.Equal(t, "bare@example.org", p.InReplyTo)
		assert.True(t, p.Date.IsZero())
	})
	t.Run("no name", func(t *testing.T) {
		p := parse(t, "From: pat@example.org\r\n\r\nx")
		assert.Equal(t, "pat@example.org", p.SenderName)
	})
	t.Run("header only, no final newline", func(t *testing.T) {
		p := parse(t, "From: pat@example.org\r\nSubject: only a subject")
		assert.Equal(t, "only a subject", p.Subject)
		assert.Equal(t, "", p.Body)
	})
	t.Run("synthetic message ID is stable", func(t *testing.T) {
		raw := "From: pat@example.org\r\nSubject: x\r\n\r\nbody\r\n"
		a, b := parse(t, raw), parse(t, raw)
		sum := sha256.Sum256([]byte(raw))
		assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), a.MessageID)
		assert.Equal(t, a.MessageID, b.MessageID)
		assert.NotEqual(t, a.MessageID, parse(t, raw+"more").MessageID)
	})
}

func TestParseBody(t *testing.T) {
	alt := func(first, second string) string {
		return "From: a@b.c\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n" + first + "\r\n--b\r\n" + second + "\r\n--b--\r\n"
	}
	const (
		plain = "Content-Type: text/plain\r\n\r\nplain text"
		html  = "Content-Type: text/html\r\n\r\n<p>html text</p>"
	)
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"html preferred", alt(plain, html), "html text"},
		{"html preferred when first", alt(html, plain), "html text"},
		{"empty html falls back to plain", alt(plain, "Content-Type: text/html\r\n\r\n  "), "plain text"},
		{"plain only", "From: a@b.c\r\n\r\nhello\r\n", "hello"},
		{"html only", "From: a@b.c\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>hi</b>", "hi"},
		{"alternative with calendar", alt(plain, "Content-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR"), "plain text"},
		{"mixed parts are joined", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + plain +
			"\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n", "plain text\nsecond part"},
		{"mixed html and plain parts", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + html +
			"\r\n--b\r\nContent-Type: text/plain\r\n\r\nline 1\r\n<line 2>\r\n--b--\r\n", "html text\n\nline 1\n<line 2>"},
		{"related root by start", "From: a@b.c\r\nContent-Type: multipart/related; boundary=b; start=\"<root@x>\"\r\n\r\n--b\r\n" +
			"Content-Type: text/plain\r\nContent-ID: <other@x>\r\n\r\nnot the root\r\n--b\r\nContent-Type: text/html\r\nContent-ID: <root@x>\r\n\r\nthe root\r\n--b--\r\n", "the root"},
		{"declared utf-8 with invalid bytes", "From: a@b.c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad \xff byte", "bad \uFFFD byte"},
		{"undeclared 8-bit text", "From: a@b.c\r\nContent-Type: text/plain\r\n\r\nGr\xfc\xdfe \x80", "Grüße €"},
		{"unknown charset", "From: a@b.c\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nplain", "plain"},
		{"ISO-8859-15", "From: a@b.c\r\nContent-Type: text/plain; charset=iso-8859-15\r\n\r\n\xa4 5", "€ 5"},
		{"base64 with garbage", "From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs*bG8g\r\nd29y!bGQ", "hello world"},
		{"truncated base64", "From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ", "hello world"},
		{"bad quoted-printable escapes kept", "From: a@b.c\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=ZZb =3D c=\r\nd=", "a=ZZb = cd"},
		{"unknown transfer encoding passes through", "From: a@b.c\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nraw", "raw"},
		{"NUL removed", "From: a@b.c\r\n\r\na\x00b", "ab"},
		{"truncated multipart keeps what was read", "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond, cut", "first\nsecond, cut"},
		{"signed message", "From: a@b.c\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=b\r\n\r\n--b\r\n" + plain +
			"\r\n--b\r\nContent-Type: application/pgp-signature; name=signature.asc\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n--b--\r\n", "plain text"},
		{"malformed Content-Type is plain text", "From: a@b.c\r\nContent-Type: text/plain; charset=\"utf-8\r\n\r\nok", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parse(t, tt.raw)
			assert.Equal(t, tt.want, p.Body)
		})
	}
	t.Run("signature is no attachment", func(t *testing.T) {
		assert.Empty(t, parse(t, tests[len(tests)-2].raw).Attachments)
	})
}

func TestParseAttachments(t *testing.T) {
	part := func(headers, body string) string { return "--b\r\n" + headers + "\r\n\r\n" + body + "\r\n" }
	raw := "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		part("Content-Type: text/plain", "see attached") +
		part("Content-Type: text/plain\r\nContent-Disposition: attachment; filename=notes.txt", "one") +
		part("Content-Type: text/plain\r\nContent-Disposition: attachment; filename=NOTES.txt", "two") +
		part("Content-Type: text/plain; name=\"notes.txt\"", "three") +
		part("Content-Type: image/png\r\nContent-Transfer-Encoding: base64", "iVBORw0KGgo=") +
		part("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"empty.bin\"", "") +
		part("Content-Type: message/rfc822", "From: x@y.z\r\nSubject: forwarded\r\n\r\nold") +
		part("Content-Type: application/x-thing\r\nContent-Disposition: attachment; filename=\"/etc/..\"", "dots") +
		part("Content-Type: text/plain\r\nContent-Disposition: inline; filename=\"a\x01b.txt\"", "ctl") +
		"--b--\r\n"
	p := parse(t, raw)
	assert.Equal(t, "see attached", p.Body)
	var names, types []string
	for _, a := range p.Attachments {
		names = append(names, a.Name)
		types = append(types, a.ContentType)
	}
	assert.Equal(t, []string{"notes.txt", "NOTES-2.txt", "notes-3.txt", "attachment-4.png", "attachment-5.eml", "attachment-6.bin", "a b.txt"}, names)
	assert.Equal(t, []string{"text/plain", "text/plain", "text/plain", "image/png", "message/rfc822", "application/x-thing", "text/plain"}, types)
	assert.Equal(t, "two", string(p.Attachments[1].Data))
	assert.Equal(t, []byte("\x89PNG\r\n\x1a\n"), p.Attachments[3].Data)
	assert.Equal(t, "From: x@y.z\r\nSubject: forwarded\r\n\r\nold", string(p.Attachments[4].Data))
}

func TestMediaType(t *testing.T) {
	tests := []struct {
		in     string
		mt     string
		params map[string]string
	}{
		{"", "", map[string]string{}},
		{"Text/HTML; Charset=UTF-8", "text/html", map[string]string{"charset": "UTF-8"}},
		{`attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf`, "attachment", map[string]string{"filename": "€ rates.pdf"}},
		{`attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt`, "attachment", map[string]string{"filename": "Grüße.txt"}},
		{"attachment; filename*0*=windows-1252''%80%20a; filename*1=\" b.txt\"", "attachment", map[string]string{"filename": "€ a b.txt"}},
		{`attachment; filename="a;b.txt"; size=12`, "attachment", map[string]string{"filename": "a;b.txt", "size": "12"}},
		{`text/plain; charset="utf-8`, "text/plain", map[string]string{"charset": `"utf-8`}},
		{`text/plain; charset=utf-8; charset=latin1`, "text/plain", map[string]string{"charset": "utf-8"}},
	}
	for _, tt := range tests {
		mt, params := mediaType(tt.in)
		assert.Equal(t, tt.mt, mt, tt.in)
		assert.Equal(t, tt.params, params, tt.in)
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range corpusFiles(f) {
		raw, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Add([]byte(deepMultipart(3)))
	f.Add([]byte("From: a@b.c\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\n\r\n> a \r\n> b\r\nc"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(raw)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a message and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "parse message: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for what, s := range map[string]string{"body": p.Body, "subject": p.Subject, "sender name": p.SenderName} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8: %q", what, s)
			}
		}
		if p.MessageID == "" {
			t.Fatal("empty MessageID")
		}
		for _, a := range p.Attachments {
			if a.Name == "" || a.Name == "." || a.Name == ".." || strings.ContainsAny(a.Name, "/\\\x00") || !utf8.ValidString(a.Name) {
				t.Fatalf("unsafe attachment name %q", a.Name)
			}
			if len(a.Data) == 0 {
				t.Fatalf("empty attachment %q", a.Name)
			}
		}
	})
}
