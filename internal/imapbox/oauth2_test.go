package imapbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airut-go/airut/internal/imapbox"
	"github.com/airut-go/airut/internal/mailauth"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/mstokentest"
)

// A Microsoft 365 mailbox logs in with XOAUTH2 against Dovecot's oauth2
// passdb, which asks the test's introspection server about each token:
// a token from the app's client credentials works, a fresh one is
// fetched when the last is about to expire, and a token the server
// refuses ends in an error that says so.
func TestLoginWithMicrosoftOAuth2(t *testing.T) {
	const mailbox = "airut@contoso.example"
	ep := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 60) // within the early refresh: one per login
	var refuse atomic.Bool
	introspect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if refuse.Load() || !ep.Valid(r.Form.Get("token")) {
			json.NewEncoder(w).Encode(map[string]any{"active": false})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"active": true, "username": mailbox})
	}))
	defer introspect.Close()
	// The mailbox also has a password, for the test to deliver to it; the
	// login below uses only the token.
	s := dovecottest.StartWithOAuth2(t, map[string]string{mailbox: "unused-password"}, introspect.URL+"/introspect")
	s.Deliver(t, mailbox, message(1, 200))

	auth := mailauth.OAuth2(mailbox, mailauth.Microsoft{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", Authority: ep.URL()})
	o := options(t, s, "tls")
	o.Username, o.Password, o.Auth = mailbox, "", auth
	for i := range 2 {
		m, err := imapbox.Dial(context.Background(), o)
		if err != nil {
			t.Fatalf("login %d with a token: %v", i+1, err)
		}
		msgs, err := m.Fetch(context.Background(), 10)
		if err != nil || len(msgs) != 1 {
			t.Errorf("login %d: INBOX has %d messages (%v), want the mailbox's one", i+1, len(msgs), err)
		}
		m.Close()
	}
	if got := ep.Issued(); len(got) != 2 {
		t.Errorf("tokens issued %v, want a fresh one per login (each near its expiry)", got)
	}

	refuse.Store(true)
	_, err := imapbox.Dial(context.Background(), o)
	var de *imapbox.DialError
	if !errors.As(err, &de) || de.Stage != "login" || !errors.Is(err, mailauth.ErrTokenRefused) || !strings.Contains(err.Error(), `status "401"`) {
		t.Errorf("refused token: %v, want a login error naming the server's refusal", err)
	}
}
