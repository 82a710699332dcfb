package mailout_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/mailout"
)

func TestReplySubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Fix the build", "Re: [ID:1a2b3c4d] Fix the build"},
		{"Re: Fix the build", "Re: [ID:1a2b3c4d] Fix the build"},
		{"Re: Re: x", "Re: [ID:1a2b3c4d] x"},
		{"RE: re:Re: Fix", "Re: [ID:1a2b3c4d] Fix"},
		{"re:RE :  Re: x", "Re: [ID:1a2b3c4d] x"},
		{"Re[2]: Re^3: x", "Re: [ID:1a2b3c4d] x"},
		{"  Re: padded  ", "Re: [ID:1a2b3c4d] padded"},
		{"RE: [ID:1a2b3c4d] x", "Re: [ID:1a2b3c4d] x"},
		{"Re: Re: [ID:1a2b3c4d] Fix", "Re: [ID:1a2b3c4d] Fix"},
		{"x [ID:1a2b3c4d]", "Re: x [ID:1a2b3c4d]"},
		{"[ID:deadbeef] Other", "Re: [ID:1a2b3c4d] [ID:deadbeef] Other"},
		{"Fwd: x", "Re: [ID:1a2b3c4d] Fwd: x"},
		{"Research: x", "Re: [ID:1a2b3c4d] Research: x"},
		{"Regarding X", "Re: [ID:1a2b3c4d] Regarding X"},
		{"", "Re: [ID:1a2b3c4d]"},
		{"Re:", "Re: [ID:1a2b3c4d]"},
	}
	for _, tc := range tests {
		if got := mailout.ReplySubject(tc.in, "1a2b3c4d"); got != tc.want {
			t.Errorf("ReplySubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	ts := time.Unix(1772600767, 0)
	tests := []struct{ from, want string }{
		{"airut@example.com", "<airut.1a2b3c4d.1772600767.0badcafe@example.com>"},
		{"Airut <airut@Example.COM>", "<airut.1a2b3c4d.1772600767.0badcafe@example.com>"},
		{`"Bot, Airut" <airut@example.com>`, "<airut.1a2b3c4d.1772600767.0badcafe@example.com>"},
		{"airut", "<airut.1a2b3c4d.1772600767.0badcafe@localhost>"},
		{"Airut <airut>", "<airut.1a2b3c4d.1772600767.0badcafe@localhost>"},
	}
	for _, tc := range tests {
		if got := mailout.NewMessageID("1a2b3c4d", tc.from, ts, "0badcafe"); got != tc.want {
			t.Errorf("NewMessageID(from %q) = %q, want %q", tc.from, got, tc.want)
		}
	}
}

func TestThreadHeaders(t *testing.T) {
	const synthetic = "sha256:3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"
	tests := []struct {
		name      string
		messageID string
		refs      []string
		inReplyTo string
		want      []string
	}{
		{"first message", "m1@example.org", nil, "<m1@example.org>", []string{"<m1@example.org>"}},
		{"reply in a thread", "m3@example.org", []string{"m1@example.org", "airut.1a2b3c4d.1.2@example.com"},
			"<m3@example.org>", []string{"<m1@example.org>", "<airut.1a2b3c4d.1.2@example.com>", "<m3@example.org>"}},
		{"brackets and spaces tolerated", " <m3@example.org> ", []string{"<m1@example.org>", "m2@example.org>"},
			"<m3@example.org>", []string{"<m1@example.org>", "<m2@example.org>", "<m3@example.org>"}},
		{"own ID already last", "m1@example.org", []string{"m1@example.org"}, "<m1@example.org>", []string{"<m1@example.org>"}},
		{"own ID earlier moves to the end", "m1@example.org", []string{"m1@example.org", "m0@example.org"},
			"<m1@example.org>", []string{"<m0@example.org>", "<m1@example.org>"}},
		{"duplicate references once, first place kept", "m3@example.org", []string{"m1@example.org", "m2@example.org", "<m1@example.org>"},
			"<m3@example.org>", []string{"<m1@example.org>", "<m2@example.org>", "<m3@example.org>"}},
		{"synthetic ID", synthetic, []string{"m1@example.org"}, "", []string{"<m1@example.org>"}},
		{"synthetic ID, no references", synthetic, nil, "", nil},
		{"no ID", "", []string{"m1@example.org"}, "", []string{"<m1@example.org>"}},
		{"references that are not IDs are left out", "m3@example.org", []string{"", "<>", synthetic, "no-at-sign", "a b@c", "m1@example.org"},
			"<m3@example.org>", []string{"<m1@example.org>", "<m3@example.org>"}},
		{"nothing", "", nil, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inReplyTo, refs := mailout.ThreadHeaders(tc.messageID, tc.refs)
			if inReplyTo != tc.inReplyTo || !slices.Equal(refs, tc.want) {
				t.Errorf("ThreadHeaders(%q, %q) = %q, %q; want %q, %q", tc.messageID, tc.refs, inReplyTo, refs, tc.inReplyTo, tc.want)
			}
		})
	}
}

// A message without a Message-ID gets a synthetic "sha256:" key from the
// listener, which conversations of earlier releases carry as the message
// to answer. The reply the user receives must not name it anywhere.
func TestReplyToMessageWithoutMessageID(t *testing.T) {
	const synthetic = "sha256:3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"
	tests := []struct {
		name      string
		messageID string
		refs      []string
		wantRefs  string
	}{
		{"first message", synthetic, nil, ""},
		{"first message, no ID stored", "", nil, ""},
		{"in a thread", synthetic, []string{"m1@example.org", "airut.1a2b3c4d.1.2@example.com"}, "m1@example.org airut.1a2b3c4d.1.2@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := baseReply()
			r.InReplyTo, r.References = mailout.ThreadHeaders(tc.messageID, tc.refs)
			raw, _, _, err := mailout.Compose(r)
			if err != nil {
				t.Fatalf("Compose() = %v", err)
			}
			head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			if bytes.Contains(head, []byte("sha256")) {
				t.Errorf("header names the synthetic ID:\n%s", head)
			}
			h, _ := leaves(t, raw)
			if h.Has("In-Reply-To") {
				t.Errorf("In-Reply-To = %q, want none", h.Get("In-Reply-To"))
			}
			got, _ := h.MsgIDList("References")
			if strings.Join(got, " ") != tc.wantRefs {
				t.Errorf("References = %q, want %q", got, tc.wantRefs)
			}
		})
	}
}

// Compose is where the threading headers are written, so it refuses an ID
// that is not a real one rather than send it.
func TestComposeRefusesMadeUpThreadIDs(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*mailout.Reply)
		want   string
	}{
		{"synthetic In-Reply-To", func(r *mailout.Reply) { r.InReplyTo = "<sha256:00ff>" }, "In-Reply-To"},
		{"empty In-Reply-To in brackets", func(r *mailout.Reply) { r.InReplyTo = "<>" }, "In-Reply-To"},
		{"In-Reply-To without brackets", func(r *mailout.Reply) { r.InReplyTo = "orig@example.org" }, "In-Reply-To"},
		{"synthetic reference", func(r *mailout.Reply) { r.References = []string{"<first@example.org>", "<sha256:00ff>"} }, "References"},
		{"empty reference", func(r *mailout.Reply) { r.References = []string{""} }, "References"},
		{"Message-ID without @", func(r *mailout.Reply) { r.MessageID = "<airut.1a2b3c4d>" }, "Message-ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := baseReply()
			tc.modify(&r)
			raw, _, _, err := mailout.Compose(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "not a message ID") {
				t.Fatalf("Compose() = %d bytes, %v; want an error about %s", len(raw), err, tc.want)
			}
		})
	}
}
