package email

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/mailout"
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

// The listener recognises what the sending side writes: a mail client's
// reply to our message, which names our Message-ID in In-Reply-To and
// References or only keeps our subject, continues the conversation.
func TestRepliesToOurMailContinueTheConversation(t *testing.T) {
	id := mailout.NewMessageID("1a2b3c4d", "Airut <airut@Example.COM>", time.Unix(1709629920, 0), "9f8e7d6c")
	subject := mailout.ReplySubject("Re: Fix the build", "1a2b3c4d")
	tests := []struct {
		name    string
		headers []string
	}{
		{"In-Reply-To", []string{"Subject: Re: unrelated", "In-Reply-To: " + id}},
		{"References only", []string{"Subject: Re: unrelated", "References: <x@y> " + id}},
		{"subject only (a client that drops threading headers)", []string{"Subject: RE: " + subject}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := rawMessage(append([]string{fromPat, "To: airut@example.com", "Message-ID: <r1@example.org>"}, tt.headers...)...)
			p, err := Parse(raw)
			require.NoError(t, err)
			assert.Equal(t, "1a2b3c4d", ConversationID(p))
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
