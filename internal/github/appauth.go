package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/airut-go/airut/internal/githubapp"
)

// AppAuth authenticates as a GitHub App installation.
type AppAuth struct {
	AppID          int64
	InstallationID int64
	// PrivateKeyPEM is the app's private key as GitHub hands it out
	// (PKCS #1, "RSA PRIVATE KEY"); PKCS #8 is accepted too.
	PrivateKeyPEM []byte
}

// installationTokens hands out the installation's token, not narrowed, from
// a githubapp.Source: the one implementation of minting and caching that
// the sandbox proxy uses too. It adds what this package promises on top:
// rate-limit refusals as *RateLimitError, and a debug log of each mint.
type installationTokens struct {
	src            *githubapp.Source
	installationID int64
	now            func() time.Time
	log            *slog.Logger
}

func (s *installationTokens) token(ctx context.Context) (string, error) {
	tok, refreshed, err := s.src.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("mint installation token for installation %d: %w",
			s.installationID, mintRateLimit(err, s.now()))
	}
	if refreshed {
		s.log.DebugContext(ctx, "minted github installation token",
			"installation_id", s.installationID, "expires_at", tok.ExpiresAt)
	}
	return tok.Token, nil
}

func (s *installationTokens) invalidate(tok string) { s.src.Invalidate(tok) }

// mintRateLimit is asRateLimit for githubapp's refusals, which come from
// plain net/http rather than go-github: a 403 or 429 carrying rate-limit
// headers, a 429 without them, or a secondary-limit 403 becomes a
// *RateLimitError; anything else is returned unchanged.
func mintRateLimit(err error, now time.Time) error {
	var refused *githubapp.Error
	if !errors.As(err, &refused) {
		return err
	}
	code := refused.StatusCode
	if code != http.StatusForbidden && code != http.StatusTooManyRequests {
		return err
	}
	if reset, ok := resetFromHeaders(&http.Response{StatusCode: code, Header: refused.Header}, now); ok {
		return &RateLimitError{Reset: reset, Err: err}
	}
	// go-github's test for a secondary limit: its documentation URL.
	secondary := strings.HasSuffix(refused.DocumentationURL, "#abuse-rate-limits") ||
		strings.HasSuffix(refused.DocumentationURL, "secondary-rate-limits")
	if code == http.StatusTooManyRequests || secondary {
		return &RateLimitError{Reset: now.Add(secondaryLimitWait), Err: err}
	}
	return err
}
