package githubapp

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	// refreshMargin: a token is replaced this long before it expires, so
	// that one handed out is still good for a request that takes a while.
	refreshMargin = 5 * time.Minute
	// defaultLifetime is GitHub's documented token lifetime, assumed when
	// an answer has no expires_at.
	defaultLifetime = time.Hour
	// firstHoldOff and maxHoldOff bound how long a failed mint is
	// answered from memory before GitHub is asked again: the hold-off
	// doubles with each failure in a row and ends with a success.
	firstHoldOff = 2 * time.Second
	maxHoldOff   = time.Minute
)

// SourceConfig says which token a [Source] keeps and how to mint it.
type SourceConfig struct {
	// BaseURL is the REST API root: https://api.github.com/, or
	// https://HOST/api/v3/ for GitHub Enterprise Server.
	BaseURL *url.URL
	// HTTPClient sends the mint requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Issuer is the app's ID or client ID, the JWT's iss.
	Issuer         string
	Key            *rsa.PrivateKey
	InstallationID int64
	Narrowing      Narrowing
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
}

// Source keeps one installation token for one installation and narrowing,
// and mints a new one when the one it has is within five minutes of
// expiring or was invalidated. Concurrent callers share a single mint. A
// failed mint is given back, without asking GitHub, to the calls of the
// next moments (2 s, doubling with each failure in a row, at most a
// minute): an app with a wrong key or a removed installation would
// otherwise cost a mint per request the agent makes, into GitHub's rate
// limit. It is safe for concurrent use.
type Source struct {
	cfg SourceConfig

	// minting is a one-slot semaphore held while minting, so that callers
	// arriving meanwhile wait for that token instead of minting their own;
	// unlike a sync.Mutex, waiting for it ends with the waiter's context.
	minting chan struct{}

	mu      sync.Mutex // guards current and the failure fields
	current Token      // zero: none
	// failed is the last mint's failure while it is held (until
	// retryAt); holdOff is the length of the next hold-off.
	failed  error
	retryAt time.Time
	holdOff time.Duration
}

// NewSource checks cfg and makes a Source. It does not contact GitHub.
func NewSource(cfg SourceConfig) (*Source, error) {
	switch {
	case cfg.BaseURL == nil || cfg.BaseURL.Host == "" || (cfg.BaseURL.Scheme != "https" && cfg.BaseURL.Scheme != "http"):
		return nil, errors.New("configure github app token source: BaseURL must be an http(s) URL with a host")
	case cfg.Key == nil:
		return nil, errors.New("configure github app token source: no private key")
	case cfg.Issuer == "":
		return nil, errors.New("configure github app token source: no issuer (app ID or client ID)")
	case cfg.InstallationID <= 0:
		return nil, fmt.Errorf("configure github app token source: invalid installation ID %d", cfg.InstallationID)
	}
	u := *cfg.BaseURL
	cfg.BaseURL = &u
	cfg.Narrowing = cfg.Narrowing.clone()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Source{cfg: cfg, minting: make(chan struct{}, 1)}, nil
}

// Token returns the current token, minting one if there is none or it
// expires within five minutes; refreshed says it was minted by this call.
func (s *Source) Token(ctx context.Context) (tok Token, refreshed bool, err error) {
	if t, ok := s.fresh(); ok {
		return t, false, nil
	}
	select {
	case s.minting <- struct{}{}:
	case <-ctx.Done():
		return Token{}, false, fmt.Errorf("wait for installation token for installation %d: %w", s.cfg.InstallationID, ctx.Err())
	}
	defer func() { <-s.minting }()
	// Another caller may have minted while this one waited.
	if t, ok := s.fresh(); ok {
		return t, false, nil
	}

	now := s.cfg.Now()
	if err := s.held(now); err != nil {
		return Token{}, false, err
	}
	jwt, err := SignJWT(s.cfg.Key, s.cfg.Issuer, now)
	if err != nil {
		return Token{}, false, err
	}
	t, err := Mint(ctx, s.cfg.HTTPClient, s.cfg.BaseURL, s.cfg.InstallationID, jwt, s.cfg.Narrowing)
	if err != nil {
		// The caller giving up says nothing of GitHub.
		if ctx.Err() == nil {
			s.hold(err, now)
		}
		return Token{}, false, err
	}
	if t.ExpiresAt.IsZero() {
		t.ExpiresAt = now.Add(defaultLifetime)
	}
	s.mu.Lock()
	s.current = t
	s.failed, s.holdOff = nil, 0
	s.mu.Unlock()
	return t.clone(), true, nil
}

// held is the last mint's failure while it is held, nil once GitHub may
// be asked again.
func (s *Source) held(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil || !now.Before(s.retryAt) {
		return nil
	}
	return fmt.Errorf("%w (GitHub is asked again after %s)", s.failed, s.retryAt.Format(time.TimeOnly))
}

// hold keeps err for the next hold-off.
func (s *Source) hold(err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdOff = min(max(2*s.holdOff, firstHoldOff), maxHoldOff)
	s.failed, s.retryAt = err, now.Add(s.holdOff)
}

// fresh returns the current token if it is not due for replacement.
func (s *Source) fresh() (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current.Token == "" || !s.cfg.Now().Before(s.current.ExpiresAt.Add(-refreshMargin)) {
		return Token{}, false
	}
	return s.current.clone(), true
}

// Invalidate forgets tok if it is the current token, so that the next call
// to Token mints a new one: for when GitHub refused tok (401).
func (s *Source) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok != "" && s.current.Token == tok {
		s.current = Token{}
	}
}
