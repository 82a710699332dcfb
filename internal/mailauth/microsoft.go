package mailauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// MicrosoftAuthority is the Microsoft identity platform's endpoint base.
const MicrosoftAuthority = "https://login.microsoftonline.com"

// microsoftScope is what a mailbox's IMAP and SMTP accept with the
// client-credentials flow.
const microsoftScope = "https://outlook.office365.com/.default"

// earlyRefresh: a token this close to expiry is replaced before a
// connection uses it, so it cannot expire during the login.
const earlyRefresh = 2 * time.Minute

// Microsoft is a Microsoft 365 app's credentials (client credentials:
// an app registration with IMAP.AccessAsApp and SMTP.SendAsApp).
type Microsoft struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	// Authority replaces MicrosoftAuthority (tests, sovereign clouds).
	Authority string
}

// Cache keeps one Auth per mailbox and app, so that the connections of a
// process share their tokens. The zero value is ready.
type Cache struct {
	mu sync.Mutex
	m  map[cacheKey]*Auth
}

type cacheKey struct {
	user string
	ms   Microsoft
}

// For is how user logs in: with password, or, when ms is set, with the
// app's tokens (one Auth per user and app, kept).
func (c *Cache) For(user, password string, ms *Microsoft) *Auth {
	if ms == nil {
		return Password(user, password)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{user, *ms}
	if a, ok := c.m[k]; ok {
		return a
	}
	if c.m == nil {
		c.m = map[cacheKey]*Auth{}
	}
	a := OAuth2(user, *ms)
	c.m[k] = a
	return a
}

// Auth is how one mailbox logs in: with a password, or with tokens.
type Auth struct {
	User     string
	Password string
	tokens   oauth2.TokenSource
	once     sync.Once
	ms       *Microsoft
}

// Password logs user in with a password.
func Password(user, password string) *Auth { return &Auth{User: user, Password: password} }

// OAuth2 logs user in with tokens of the Microsoft app.
func OAuth2(user string, ms Microsoft) *Auth { return &Auth{User: user, ms: &ms} }

// Client returns the SASL client for one login: PLAIN with the password,
// or XOAUTH2 with a token good for at least two more minutes (fetched
// if the cached one is not).
func (a *Auth) Client(ctx context.Context) (sasl.Client, error) {
	if a.ms == nil {
		return sasl.NewPlainClient("", a.User, a.Password), nil
	}
	tok, err := a.Token(ctx)
	if err != nil {
		return nil, err
	}
	return NewXoauth2Client(a.User, tok), nil
}

// Token is a current access token of the Microsoft app.
func (a *Auth) Token(ctx context.Context) (string, error) {
	if a.ms == nil {
		return "", errors.New("mailauth: no OAuth2 credentials")
	}
	a.once.Do(func() {
		base := a.ms.Authority
		if base == "" {
			base = MicrosoftAuthority
		}
		cfg := clientcredentials.Config{
			ClientID: a.ms.ClientID, ClientSecret: a.ms.ClientSecret,
			TokenURL:  strings.TrimSuffix(base, "/") + "/" + url.PathEscape(a.ms.TenantID) + "/oauth2/v2.0/token",
			Scopes:    []string{microsoftScope},
			AuthStyle: oauth2.AuthStyleInParams,
		}
		// A fetch abandoned by its caller's context still ends.
		hc := &http.Client{Timeout: 30 * time.Second}
		// The token source keeps the client's context for every refresh.
		tctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
		a.tokens = oauth2.ReuseTokenSourceWithExpiry(nil, cfg.TokenSource(tctx), earlyRefresh)
	})
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		t, err := a.tokens.Token()
		ch <- result{t, err}
	}()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("Microsoft 365 token: %w", ctx.Err())
	case r := <-ch:
		if r.err != nil {
			return "", explain(r.err)
		}
		return r.tok.AccessToken, nil
	}
}

// TokenError is the identity platform refusing the app's credentials,
// said for a person: which setting to check.
type TokenError struct {
	// Problem names what is wrong, in the config's terms.
	Problem string
	// Code and Description are the platform's (AADSTS... codes).
	Code        string
	Description string
}

func (e *TokenError) Error() string {
	if e.Description == "" {
		return "Microsoft 365 token: " + e.Problem
	}
	return fmt.Sprintf("Microsoft 365 token: %s (%s: %s)", e.Problem, e.Code, firstLine(e.Description))
}

// explain turns a token endpoint's refusal into what to fix; other
// failures (the network) are returned as they are, to be retried.
func explain(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("Microsoft 365 token: %w", err)
	}
	var body struct {
		ErrorCodes []int `json:"error_codes"`
	}
	json.Unmarshal(re.Body, &body)
	has := func(codes ...int) bool {
		for _, c := range body.ErrorCodes {
			for _, w := range codes {
				if c == w {
					return true
				}
			}
		}
		return false
	}
	te := &TokenError{Code: re.ErrorCode, Description: re.ErrorDescription}
	switch {
	case has(90002, 900023, 90013):
		te.Problem = "the tenant was not found: check microsoft_oauth2.tenant_id"
	case has(700016):
		te.Problem = "the app was not found in the tenant: check microsoft_oauth2.client_id (and that the app is registered in that tenant)"
	case has(7000215, 7000222) || re.ErrorCode == "invalid_client":
		te.Problem = "the client secret is wrong or expired: check microsoft_oauth2.client_secret"
	case has(65001, 500011) || re.ErrorCode == "unauthorized_client" || re.ErrorCode == "invalid_scope":
		te.Problem = "the app lacks permission: grant it IMAP.AccessAsApp and SMTP.SendAsApp (Office 365 Exchange Online) with admin consent"
	default:
		te.Problem = "the identity platform refused the app's credentials"
	}
	return te
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
