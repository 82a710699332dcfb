package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	gogithub "github.com/google/go-github/v62/github"
)

// AppAuth authenticates as a GitHub App installation.
type AppAuth struct {
	AppID          int64
	InstallationID int64
	// PrivateKeyPEM is the app's private key as GitHub hands it out
	// (PKCS #1, "RSA PRIVATE KEY"); PKCS #8 is accepted too.
	PrivateKeyPEM []byte
}

const (
	// tokenRefreshMargin: an installation token is replaced this long
	// before it expires.
	tokenRefreshMargin = 5 * time.Minute
	// jwtLifetime is how long the app JWT is valid (GitHub allows 10 min);
	// its iat is backdated by jwtBackdate against clock drift.
	jwtLifetime = 9 * time.Minute
	jwtBackdate = time.Minute
)

// parseAppKey reads an RSA private key in PKCS #1 or PKCS #8 PEM.
func parseAppKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not RSA", k)
	}
	return key, nil
}

// signAppJWT makes the RS256 JWT that authenticates as the app itself.
func signAppJWT(key *rsa.PrivateKey, appID int64, now time.Time) (string, error) {
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	header, err := enc(map[string]string{"alg": "RS256", "typ": "JWT"})
	if err != nil {
		return "", fmt.Errorf("encode jwt header: %w", err)
	}
	claims, err := enc(map[string]any{
		"iat": now.Add(-jwtBackdate).Unix(),
		"exp": now.Add(jwtLifetime).Unix(),
		"iss": strconv.FormatInt(appID, 10),
	})
	if err != nil {
		return "", fmt.Errorf("encode jwt claims: %w", err)
	}
	digest := sha256.Sum256([]byte(header + "." + claims))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return header + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// jwtTransport authenticates requests to the API host as the app with a
// fresh JWT; requests elsewhere (redirects) get none.
type jwtTransport struct {
	next  http.RoundTripper
	host  string
	key   *rsa.PrivateKey
	appID int64
	now   func() time.Time
}

func (t *jwtTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.next.RoundTrip(req)
	}
	jwt, err := signAppJWT(t.key, t.appID, t.now())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+jwt)
	return t.next.RoundTrip(req)
}

// installationTokens mints installation tokens and caches the current one
// until tokenRefreshMargin before it expires. Concurrent callers wait for a
// single mint.
type installationTokens struct {
	app            *gogithub.Client // authenticated by jwtTransport
	installationID int64
	now            func() time.Time
	log            *slog.Logger

	mu      sync.Mutex
	current string
	expires time.Time
}

func (s *installationTokens) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.current != "" && now.Before(s.expires.Add(-tokenRefreshMargin)) {
		return s.current, nil
	}
	tok, _, err := s.app.Apps.CreateInstallationToken(ctx, s.installationID, nil)
	if err != nil {
		return "", fmt.Errorf("mint installation token for installation %d: %w",
			s.installationID, asRateLimit(err, now))
	}
	if tok.GetToken() == "" {
		return "", fmt.Errorf("mint installation token for installation %d: empty token in answer", s.installationID)
	}
	s.current = tok.GetToken()
	s.expires = tok.GetExpiresAt().Time
	if s.expires.IsZero() {
		s.expires = now.Add(time.Hour) // GitHub's documented lifetime
	}
	s.log.DebugContext(ctx, "minted github installation token",
		"installation_id", s.installationID, "expires_at", s.expires)
	return s.current, nil
}

func (s *installationTokens) invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == tok {
		s.current = ""
	}
}
