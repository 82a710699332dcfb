package email

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/imapbox"
	"github.com/airut-go/airut/workflows"
)

// testListener is a listener that prepare can run without Temporal: the
// messages given to it name no conversation, so none is looked up.
func testListener(t *testing.T, auth config.EmailAuth) *Listener {
	return &Listener{
		RepoID:         "demo",
		Email:          config.Email{Auth: auth},
		AttachmentsDir: t.TempDir(),
		RejectedDir:    t.TempDir(),
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestPrepareRepliesToAuthenticatedSender checks that the reply of an
// accepted message goes exactly to the authenticated address, whatever
// else the From or a Reply-To header say.
func TestPrepareRepliesToAuthenticatedSender(t *testing.T) {
	auth := config.EmailAuth{TrustedAuthservID: "mx.example.com", AuthorizedSenders: []string{"pat@example.org"}}
	tests := []struct {
		name    string
		headers []string
	}{
		{name: "display name", headers: []string{arPass, fromPat}},
		{name: "mixed case address", headers: []string{arPass, "From: Pat <Pat@Example.ORG>"}},
		{name: "quoted display name holding an address", headers: []string{arPass, `From: "boss@corp.example, Pat" <pat@example.org>`}},
		{name: "Reply-To elsewhere", headers: []string{arPass, fromPat, "Reply-To: eve@evil.example"}},
		{name: "Microsoft 365 fallback", headers: []string{fromPat, authAsInt}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testListener(t, auth)
			l.Email.Auth.MicrosoftInternalFallback = true
			raw := rawMessage(append(tt.headers, "Subject: Fix the build", fmt.Sprintf("Message-ID: <m%d@example.org>", i))...)
			h, err := l.prepare(context.Background(), imapbox.Message{UID: 1, Raw: raw})
			require.NoError(t, err)
			require.NotNil(t, h, "message rejected")
			assert.Equal(t, "pat@example.org", h.msg.Sender)
			require.NotNil(t, h.msg.ReplyTo.EmailThread)
			assert.Equal(t, "pat@example.org", h.msg.ReplyTo.To)
		})
	}
}

// TestPrepareReplyAddress checks what the reply will answer: the
// message's own Message-ID and References, and no ID at all for a message
// that had none. Its synthetic ID is a de-duplication key only; as the
// reply's In-Reply-To it would name a message the sender never sent.
func TestPrepareReplyAddress(t *testing.T) {
	auth := config.EmailAuth{TrustedAuthservID: "mx.example.com", AuthorizedSenders: []string{"pat@example.org"}}
	tests := []struct {
		name    string
		headers []string
		want    workflows.EmailThread
		wantID  string // prefix of the message's de-duplication ID
	}{
		{
			name:    "reply in a foreign thread",
			headers: []string{"Message-ID: <m3@example.org>", "In-Reply-To: <m2@example.org>", "References: <m1@example.org> <m2@example.org>"},
			want:    workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build", MessageID: "m3@example.org", References: workflows.IDList{"m1@example.org", "m2@example.org"}},
			wantID:  "email:m3@example.org",
		},
		{
			name:    "no Message-ID",
			headers: nil,
			want:    workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build"},
			wantID:  "email:sha256:",
		},
		{
			name:    "no Message-ID, in a foreign thread",
			headers: []string{"References: <m1@example.org>"},
			want:    workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build", References: workflows.IDList{"m1@example.org"}},
			wantID:  "email:sha256:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testListener(t, auth)
			raw := rawMessage(append([]string{arPass, fromPat, "Subject: Fix the build"}, tt.headers...)...)
			h, err := l.prepare(context.Background(), imapbox.Message{UID: 1, Raw: raw})
			require.NoError(t, err)
			require.NotNil(t, h, "message rejected")
			assert.True(t, strings.HasPrefix(h.msg.ID, tt.wantID), "message ID %q, want it to start with %q", h.msg.ID, tt.wantID)
			assert.Nil(t, h.msg.ReplyTo.SlackThread)
			require.NotNil(t, h.msg.ReplyTo.EmailThread)
			assert.Equal(t, tt.want, *h.msg.ReplyTo.EmailThread)
			wire, err := json.Marshal(h.msg.ReplyTo)
			require.NoError(t, err)
			assert.NotContains(t, string(wire), "sha256", "reply address %s", wire)
		})
	}
}

// TestPrepareStartsNothingForSpoofs runs the spoofed messages through the
// listener's intake: none may become a hand-off, each is kept with its
// reason.
func TestPrepareStartsNothingForSpoofs(t *testing.T) {
	for _, tt := range spoofCases() {
		t.Run(tt.name, func(t *testing.T) {
			l := testListener(t, config.EmailAuth{TrustedAuthservID: tt.cfg.TrustedAuthservID, AuthorizedSenders: tt.cfg.AuthorizedSenders})
			raw := append([]byte("Message-ID: <spoof@evil.example>\r\n"), tt.raw...)
			h, err := l.prepare(context.Background(), imapbox.Message{UID: 1, Raw: raw})
			require.NoError(t, err)
			require.Nil(t, h, "spoof accepted")
			reasons, err := filepath.Glob(filepath.Join(l.RejectedDir, "demo", "*.reason"))
			require.NoError(t, err)
			require.Len(t, reasons, 1)
			got, err := os.ReadFile(reasons[0])
			require.NoError(t, err)
			assert.Contains(t, string(got), tt.reason)
		})
	}
}
