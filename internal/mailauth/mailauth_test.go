package mailauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/mailauth"
	"github.com/airut-go/airut/internal/testing/mstokentest"
)

// The XOAUTH2 exchange: the initial response carries the user and the
// token; a refusal's JSON challenge is answered with an empty response
// and reported.
func TestXoauth2(t *testing.T) {
	c := mailauth.NewXoauth2Client("airut@example.com", "tok-123")
	mech, ir, err := c.Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=airut@example.com\x01auth=Bearer tok-123\x01\x01" {
		t.Fatalf("Start = %s %q %v", mech, ir, err)
	}
	if err := mailauth.Refused(c); err != nil {
		t.Errorf("Refused before any challenge = %v", err)
	}
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}`))
	if err != nil || len(resp) != 0 {
		t.Errorf("Next(challenge) = %q, %v; want an empty response", resp, err)
	}
	if err := mailauth.Refused(c); !errors.Is(err, mailauth.ErrTokenRefused) || !strings.Contains(err.Error(), `status "401"`) {
		t.Errorf("Refused = %v", err)
	}
	if _, err := c.Next([]byte("again")); err == nil {
		t.Error("a second challenge was answered")
	}
	if _, _, err := mailauth.NewXoauth2Client("", "tok").Start(); err == nil {
		t.Error("Start without a user succeeded")
	}
}

func FuzzXOAUTH2Challenge(f *testing.F) {
	f.Add([]byte(`{"status":"400","schemes":"Bearer","scope":"x"}`))
	f.Add([]byte(`not json`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, challenge []byte) {
		c := mailauth.NewXoauth2Client("u", "t")
		c.Start()
		resp, err := c.Next(challenge)
		if err != nil || len(resp) != 0 {
			t.Fatalf("Next(%q) = %q, %v", challenge, resp, err)
		}
		if !errors.Is(mailauth.Refused(c), mailauth.ErrTokenRefused) {
			t.Fatal("a refusal was not reported")
		}
	})
}

func TestMicrosoftTokens(t *testing.T) {
	ep := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 3599)
	ms := mailauth.Microsoft{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", Authority: ep.URL()}
	ctx := context.Background()

	a := mailauth.OAuth2("airut@example.com", ms)
	c, err := a.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := ep.Issued()[0]
	if _, ir, _ := c.Start(); string(ir) != "user=airut@example.com\x01auth=Bearer "+first+"\x01\x01" {
		t.Errorf("initial response %q", ir)
	}
	// Cached while good: a second login fetches nothing.
	if tok, err := a.Token(ctx); err != nil || tok != first || len(ep.Issued()) != 1 {
		t.Errorf("second token = %q, %v after %d fetches; want the cached one", tok, err, len(ep.Issued()))
	}

	// A token within two minutes of expiry is replaced before use.
	ep2 := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 60)
	ms.Authority = ep2.URL()
	short := mailauth.OAuth2("airut@example.com", ms)
	t1, _ := short.Token(ctx)
	t2, _ := short.Token(ctx)
	if t1 == t2 || len(ep2.Issued()) != 2 {
		t.Errorf("tokens %q then %q after %d fetches; want a fresh one each time near expiry", t1, t2, len(ep2.Issued()))
	}

	for _, tc := range []struct {
		name string
		edit func(*mailauth.Microsoft)
		want string
	}{
		{"wrong secret", func(m *mailauth.Microsoft) { m.ClientSecret = "nope" }, "check microsoft_oauth2.client_secret"},
		{"wrong tenant", func(m *mailauth.Microsoft) { m.TenantID = "other" }, "check microsoft_oauth2.tenant_id"},
		{"wrong app", func(m *mailauth.Microsoft) { m.ClientID = "other" }, "check microsoft_oauth2.client_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mailauth.Microsoft{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", Authority: ep.URL()}
			tc.edit(&m)
			_, err := mailauth.OAuth2("airut@example.com", m).Client(ctx)
			var te *mailauth.TokenError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "Trace ID") {
				t.Errorf("error = %v, want a TokenError saying %q (first line of the platform's text only)", err, tc.want)
			}
		})
	}

	if c, err := mailauth.Password("u", "p").Client(ctx); err != nil {
		t.Fatal(err)
	} else if mech, _, _ := c.Start(); mech != "PLAIN" {
		t.Errorf("password login uses %s, want PLAIN", mech)
	}
}

// A token without the mail permissions is handed out all the same; its
// roles say what the admin consent lacks.
func TestMissingRoles(t *testing.T) {
	ep := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 3599)
	ms := mailauth.Microsoft{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", Authority: ep.URL()}
	for _, tc := range []struct {
		roles []string
		want  string
	}{
		{[]string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}, ""},
		{[]string{"IMAP.AccessAsApp"}, "SMTP.SendAsApp"},
		{nil, "IMAP.AccessAsApp,SMTP.SendAsApp"},
	} {
		ep.SetRoles(tc.roles...)
		tok, err := mailauth.OAuth2("u@example.com", ms).Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		missing, err := mailauth.MissingRoles(tok)
		if err != nil || strings.Join(missing, ",") != tc.want {
			t.Errorf("roles %v: missing = %v, %v; want %q", tc.roles, missing, err, tc.want)
		}
	}
	for _, bad := range []string{"opaque-token", "a.!!!.c", "a." + "bm90IGpzb24" + ".c"} {
		if _, err := mailauth.MissingRoles(bad); err == nil {
			t.Errorf("MissingRoles(%q) accepted", bad)
		}
	}
}
