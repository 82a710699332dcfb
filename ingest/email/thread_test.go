package email

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConversationID(t *testing.T) {
	const (
		a = "airut.1a2b3c4d.1709629920.9f8e7d6c@example.com"
		b = "airut.2b3c4d5e.1709630000.0a0b0c0d@example.com"
		c = "airut.3c4d5e6f.1709640000.01020304@example.com"
	)
	tests := []struct {
		name string
		p    Parsed
		want string
	}{
		{"In-Reply-To beats References and subject", Parsed{InReplyTo: a, References: []string{b}, Subject: "Re: [ID:3c4d5e6f] x"}, "1a2b3c4d"},
		{"References beat subject", Parsed{References: []string{b}, Subject: "Re: [ID:3c4d5e6f] x"}, "2b3c4d5e"},
		{"References newest (last) first", Parsed{References: []string{a, b, c}}, "3c4d5e6f"},
		{"foreign In-Reply-To falls through to References", Parsed{InReplyTo: "CAF123@mail.gmail.com", References: []string{a, "CAF123@mail.gmail.com"}}, "1a2b3c4d"},
		{"foreign IDs only fall through to subject", Parsed{InReplyTo: "x@y", References: []string{"z@w"}, Subject: "Re: [ID:3c4d5e6f] x"}, "3c4d5e6f"},
		{"subject tag", Parsed{Subject: "RE: AW: [ID:abcdef01] Deploy"}, "abcdef01"},
		{"subject tag must be 8 lower hex", Parsed{Subject: "Re: [ID:ABCDEF01] [ID:abc] Deploy"}, ""},
		{"none", Parsed{Subject: "New task"}, ""},
		{"brackets tolerated", Parsed{InReplyTo: "<" + a + ">"}, "1a2b3c4d"},
		{"our prefix must start the ID", Parsed{InReplyTo: "xairut.1a2b3c4d.1.2@example.com"}, ""},
		{"upper-case hex is not ours", Parsed{InReplyTo: "airut.1A2B3C4D.1.2@example.com"}, ""},
		{"tail needs a dot-separated part", Parsed{InReplyTo: "airut.1a2b3c4d@example.com"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ConversationID(&tt.p))
		})
	}
	assert.Equal(t, "", ConversationID(nil))
}

func TestNewMessageIDRoundTrip(t *testing.T) {
	now := time.Unix(1709629920, 0)
	id := NewMessageID("1a2b3c4d", "Airut <airut@Example.COM>", now, "9f8e7d6c")
	assert.Equal(t, "<airut.1a2b3c4d.1709629920.9f8e7d6c@example.com>", id)
	assert.Equal(t, "<airut.1a2b3c4d.1709629920.9f8e7d6c@example.com>", NewMessageID("1a2b3c4d", "airut@example.com", now, "9f8e7d6c"))
	assert.Equal(t, "<airut.1a2b3c4d.1709629920.9f8e7d6c@localhost>", NewMessageID("1a2b3c4d", "airut", now, "9f8e7d6c"))

	// A reply to our message, as a mail client writes it, continues the
	// conversation.
	raw := []byte("From: pat@example.org\r\nTo: airut@example.com\r\nSubject: Re: unrelated\r\n" +
		"In-Reply-To: " + id + "\r\nReferences: <x@y> " + id + "\r\nMessage-ID: <r1@example.org>\r\n\r\nok\r\n")
	p, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "1a2b3c4d", ConversationID(p))
}

func TestReplySubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Fix the build", "Re: [ID:1a2b3c4d] Fix the build"},
		{"Re: Fix the build", "Re: [ID:1a2b3c4d] Fix the build"},
		{"Re: Re: x", "Re: [ID:1a2b3c4d] x"},
		{"RE: [ID:1a2b3c4d] x", "Re: [ID:1a2b3c4d] x"},
		{"re:RE :  Re: x", "Re: [ID:1a2b3c4d] x"},
		{"Re: [ID:1a2b3c4d] x", "Re: [ID:1a2b3c4d] x"},
		{"x [ID:1a2b3c4d]", "Re: x [ID:1a2b3c4d]"},
		{"Fwd: x", "Re: [ID:1a2b3c4d] Fwd: x"},
		{"Research: x", "Re: [ID:1a2b3c4d] Research: x"},
		{"", "Re: [ID:1a2b3c4d]"},
		{"Re:", "Re: [ID:1a2b3c4d]"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ReplySubject(tt.in, "1a2b3c4d"), tt.in)
	}
}

func TestThreadHeaders(t *testing.T) {
	tests := []struct {
		name      string
		p         Parsed
		inReplyTo string
		refs      []string
	}{
		{"first message", Parsed{MessageID: "m1@example.org"}, "<m1@example.org>", []string{"<m1@example.org>"}},
		{"reply in a thread", Parsed{MessageID: "m3@example.org", References: []string{"m1@example.org", "airut.1a2b3c4d.1.2@example.com"}},
			"<m3@example.org>", []string{"<m1@example.org>", "<airut.1a2b3c4d.1.2@example.com>", "<m3@example.org>"}},
		{"own ID already last", Parsed{MessageID: "m1@example.org", References: []string{"m1@example.org"}}, "<m1@example.org>", []string{"<m1@example.org>"}},
		{"synthetic ID", Parsed{MessageID: "sha256:00ff", References: []string{"m1@example.org"}}, "", []string{"<m1@example.org>"}},
		{"nothing", Parsed{}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inReplyTo, refs := ThreadHeaders(&tt.p)
			assert.Equal(t, tt.inReplyTo, inReplyTo)
			assert.Equal(t, tt.refs, refs)
		})
	}
}

func TestModelHint(t *testing.T) {
	tests := []struct {
		name    string
		to      []string
		mailbox string
		want    string
	}{
		{"subaddress", []string{"airut+opus@example.com"}, "airut@example.com", "opus"},
		{"lower-cased", []string{"airut+Sonnet@example.com"}, "airut@example.com", "sonnet"},
		{"first with a subaddress", []string{"airut@example.com", "airut+haiku@example.com", "airut+opus@example.com"}, "airut@example.com", "haiku"},
		{"mailbox in Name <addr> form", []string{"airut+opus@example.com"}, "Airut <Airut@Example.com>", "opus"},
		{"another mailbox does not count", []string{"team+urgent@example.com", "airut@example.com"}, "airut@example.com", ""},
		{"another domain does not count", []string{"airut+opus@example.net"}, "airut@example.com", ""},
		{"no subaddress", []string{"airut@example.com"}, "airut@example.com", ""},
		{"characters outside the pattern", []string{"airut+op.us@example.com"}, "airut@example.com", ""},
		{"no mailbox: any address counts", []string{"other+opus@example.net"}, "", "opus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ModelHint(&Parsed{To: tt.to}, tt.mailbox))
		})
	}
	assert.Equal(t, "", ModelHint(nil, "airut@example.com"))
}
