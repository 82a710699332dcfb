package mailout_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/mailauth"
	"github.com/airut-go/airut/internal/mailout"
	"github.com/airut-go/airut/internal/testing/mstokentest"
	"github.com/airut-go/airut/internal/testing/smtptest"
)

// A Microsoft 365 mailbox sends with XOAUTH2: a token from the app's
// client credentials, over STARTTLS; a token the server refuses and a
// wrong client secret each end in an error that says so.
func TestSendWithMicrosoftOAuth2(t *testing.T) {
	ep := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 3599)
	ms := mailauth.Microsoft{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", Authority: ep.URL()}
	const user = "airut@contoso.example"

	s := smtptest.NewServer(t, smtptest.WithTLS(), smtptest.WithXOAUTH2(user, ep.Valid))
	cfg := configFor(s, "")
	cfg.RequireAuth, cfg.TLSConfig, cfg.Auth = true, s.TLSConfigForClients(), mailauth.OAuth2(user, ms)
	msg := testMessage(t)
	if err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, msg); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	checkDelivered(t, s, msg)
	if got := ep.Issued(); len(got) != 1 {
		t.Errorf("tokens issued: %v, want one", got)
	}

	refusing := smtptest.NewServer(t, smtptest.WithTLS(), smtptest.WithXOAUTH2(user, func(string) bool { return false }))
	cfg = configFor(refusing, "")
	cfg.RequireAuth, cfg.TLSConfig, cfg.Auth = true, refusing.TLSConfigForClients(), mailauth.OAuth2(user, ms)
	err := mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, testMessage(t))
	if !errors.Is(err, mailauth.ErrTokenRefused) || !strings.Contains(err.Error(), `status "401"`) || !strings.Contains(err.Error(), "authenticate as "+user) {
		t.Errorf("refused token: %v, want the server's refusal named", err)
	}

	bad := ms
	bad.ClientSecret = "wrong"
	cfg.Auth = mailauth.OAuth2(user, bad)
	err = mailout.Send(context.Background(), cfg, testFrom, []string{testTo}, testMessage(t))
	var se *mailout.SendError
	if !errors.As(err, &se) || !se.Permanent || !strings.Contains(err.Error(), "check microsoft_oauth2.client_secret") {
		t.Errorf("wrong secret: %v, want a permanent error naming client_secret", err)
	}
}
