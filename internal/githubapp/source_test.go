package githubapp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/githubapp"
	"github.com/airut-go/airut/internal/testing/githubtest"
)

// clock is a settable clock for a Source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// minter is a scripted access_tokens endpoint: token N is "tok-N" and
// lives an hour from the clock's now; fail makes the next answers 500s.
type minter struct {
	clock *clock
	mints atomic.Int64
	fail  atomic.Int64
	// When gate is not nil, each request is announced on arrived and then
	// held until gate is closed.
	arrived chan struct{}
	gate    chan struct{}
}

func (m *minter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.gate != nil {
		m.arrived <- struct{}{}
		<-m.gate
	}
	if m.fail.Load() > 0 {
		m.fail.Add(-1)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	n := m.mints.Add(1)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"token":"tok-%d","expires_at":%q}`, n, m.clock.Now().Add(time.Hour).Format(time.RFC3339))
}

func newSource(t *testing.T, key *rsa.PrivateKey, srv *httptest.Server, c *clock) *githubapp.Source {
	t.Helper()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	src, err := githubapp.NewSource(githubapp.SourceConfig{
		BaseURL: u, HTTPClient: srv.Client(), Issuer: "7", Key: key, InstallationID: 70, Now: c.Now,
	})
	require.NoError(t, err)
	return src
}

func TestSourceCaching(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 1024) // signs JWTs nobody checks; small is quick
	require.NoError(t, err)
	type step struct {
		advance    time.Duration
		invalidate string // before asking
		failNext   int64  // mint answers that fail
		want       string // token; "" means an error
		refreshed  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"minted once, then cached", []step{
			{want: "tok-1", refreshed: true},
			{advance: 30 * time.Minute, want: "tok-1"},
			{advance: 24*time.Minute + 59*time.Second, want: "tok-1"},
		}},
		{"replaced five minutes before expiry", []step{
			{want: "tok-1", refreshed: true},
			{advance: 55 * time.Minute, want: "tok-2", refreshed: true},
			{advance: time.Minute, want: "tok-2"},
		}},
		{"invalidated", []step{
			{want: "tok-1", refreshed: true},
			{invalidate: "tok-1", want: "tok-2", refreshed: true},
			{invalidate: "tok-1", want: "tok-2"}, // an old token changes nothing
		}},
		{"a failure is held for a moment, then GitHub is asked again", []step{
			{failNext: 1, want: ""},
			{want: ""}, // held: GitHub is not asked (the mint would succeed)
			{advance: 2 * time.Second, want: "tok-1", refreshed: true},
			{advance: time.Hour, failNext: 1, want: ""},
			{advance: 2 * time.Second, want: "tok-2", refreshed: true},
		}},
		{"failures in a row hold longer, and a success ends it", []step{
			// A held step would get a token if GitHub were asked.
			{failNext: 1, want: ""},                           // 0 s: fails, held 2 s
			{advance: 2 * time.Second, failNext: 1, want: ""}, // 2 s: fails, held 4 s
			{advance: 2 * time.Second, want: ""},              // 4 s: held
			{advance: 2 * time.Second, failNext: 1, want: ""}, // 6 s: fails, held 8 s
			{advance: 7 * time.Second, want: ""},              // 13 s: held
			{advance: time.Second, want: "tok-1", refreshed: true},
			{invalidate: "tok-1", failNext: 1, want: ""}, // held 2 s again
			{advance: 2 * time.Second, want: "tok-2", refreshed: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
			m := &minter{clock: c}
			srv := httptest.NewServer(m)
			t.Cleanup(srv.Close)
			src := newSource(t, key, srv, c)
			for i, st := range tt.steps {
				c.advance(st.advance)
				m.fail.Store(st.failNext)
				if st.invalidate != "" {
					src.Invalidate(st.invalidate)
				}
				tok, refreshed, err := src.Token(context.Background())
				if st.want == "" {
					require.Error(t, err, "step %d", i)
					var refused *githubapp.Error
					assert.True(t, errors.As(err, &refused), "step %d", i)
					continue
				}
				require.NoError(t, err, "step %d", i)
				assert.Equal(t, st.want, tok.Token, "step %d", i)
				assert.Equal(t, st.refreshed, refreshed, "step %d", i)
			}
		})
	}
}

// TestSourceConcurrentCallersShareOneMint: run with -race.
func TestSourceConcurrentCallersShareOneMint(t *testing.T) {
	t.Parallel()
	gh := githubtest.NewServer(t)
	pemKey := gh.AddApp(7, 70)
	gh.AddInstallationRepo(70, "acme", "widgets")
	key, err := githubapp.ParseKey(pemKey)
	require.NoError(t, err)
	src, err := githubapp.NewSource(githubapp.SourceConfig{
		BaseURL: mustURL(t, gh.URL()), HTTPClient: gh.Client(), Issuer: "7", Key: key, InstallationID: 70,
		Narrowing: githubapp.Narrowing{Permissions: map[string]string{"contents": "read"}, Repositories: []string{"widgets"}},
	})
	require.NoError(t, err)

	var wg sync.WaitGroup
	var refreshed atomic.Int64
	tokens := make([]string, 16)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, r, err := src.Token(context.Background())
			if assert.NoError(t, err) {
				tokens[i] = tok.Token
				if r {
					refreshed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	minted := gh.Minted()
	require.Len(t, minted, 1, "one mint for all callers")
	assert.Equal(t, int64(1), refreshed.Load())
	for _, tok := range tokens {
		assert.Equal(t, minted[0].Token, tok)
	}
	assert.Equal(t, []string{"acme/widgets"}, minted[0].Repositories)
	assert.Equal(t, map[string]string{"contents": "read"}, minted[0].Permissions)

	// What a caller gets is a copy: changing it changes nothing.
	tok, _, err := src.Token(context.Background())
	require.NoError(t, err)
	tok.Permissions["contents"] = "admin"
	tok.Repositories[0].FullName = "x/y"
	again, _, err := src.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "read", again.Permissions["contents"])
	assert.Equal(t, "acme/widgets", again.Repositories[0].FullName)
}

// A caller waiting for another's mint gives up when its context ends.
func TestSourceWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 1024) // signs JWTs nobody checks; small is quick
	require.NoError(t, err)
	c := &clock{now: time.Now()}
	m := &minter{clock: c, arrived: make(chan struct{}, 8), gate: make(chan struct{})}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	src := newSource(t, key, srv, c)

	first := make(chan error, 1)
	go func() {
		_, _, err := src.Token(context.Background())
		first <- err
	}()
	<-m.arrived // the first caller is minting
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = src.Token(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "wait for installation token for installation 70")

	close(m.gate)
	require.NoError(t, <-first)
	assert.Equal(t, int64(1), m.mints.Load())
}

func TestNewSource(t *testing.T) {
	t.Parallel()
	key := &rsa.PrivateKey{} // never used to sign here
	base := &url.URL{Scheme: "https", Host: "api.github.com", Path: "/"}
	ok := githubapp.SourceConfig{BaseURL: base, Issuer: "7", Key: key, InstallationID: 1}
	tests := []struct {
		name    string
		change  func(c *githubapp.SourceConfig)
		wantErr string
	}{
		{"valid", func(*githubapp.SourceConfig) {}, ""},
		{"no base URL", func(c *githubapp.SourceConfig) { c.BaseURL = nil }, "BaseURL must be an http(s) URL"},
		{"relative base URL", func(c *githubapp.SourceConfig) { c.BaseURL = &url.URL{Path: "/api/v3/"} }, "BaseURL must be an http(s) URL"},
		{"no key", func(c *githubapp.SourceConfig) { c.Key = nil }, "no private key"},
		{"no issuer", func(c *githubapp.SourceConfig) { c.Issuer = "" }, "no issuer"},
		{"no installation", func(c *githubapp.SourceConfig) { c.InstallationID = 0 }, "invalid installation ID 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tt.change(&cfg)
			src, err := githubapp.NewSource(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, src)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
