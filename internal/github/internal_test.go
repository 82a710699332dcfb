package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gogithub "github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/githubapp"
	"github.com/airut-go/airut/internal/testing/githubtest"
)

func TestAsRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	reset := now.Add(17 * time.Minute)
	resp := func(code int, h ...string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}, Request: &http.Request{Method: "GET", URL: mustURL("https://api.github.com/x")}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	plain := errors.New("boom")
	ours := &RateLimitError{Reset: reset, Err: plain}
	tests := []struct {
		name      string
		err       error
		wantReset time.Time // zero: not a rate-limit error
		same      bool      // the error comes back unchanged
	}{
		{name: "nil", err: nil, same: true},
		{name: "other error", err: plain, same: true},
		{name: "already ours, wrapped", err: errors.Join(errors.New("ctx"), ours), wantReset: reset, same: true},
		{
			name:      "go-github primary",
			err:       &gogithub.RateLimitError{Rate: gogithub.Rate{Reset: gogithub.Timestamp{Time: reset}}, Response: resp(403)},
			wantReset: reset,
		},
		{
			name:      "go-github primary without reset, Retry-After",
			err:       &gogithub.RateLimitError{Response: resp(403, "Retry-After", "30")},
			wantReset: now.Add(30 * time.Second),
		},
		{
			name:      "go-github secondary with RetryAfter",
			err:       &gogithub.AbuseRateLimitError{RetryAfter: ptrTo(2 * time.Minute), Response: resp(403)},
			wantReset: now.Add(2 * time.Minute),
		},
		{
			name:      "go-github secondary without RetryAfter",
			err:       &gogithub.AbuseRateLimitError{Response: resp(403)},
			wantReset: now.Add(time.Minute),
		},
		{
			name:      "bare 403 with remaining 0",
			err:       &gogithub.ErrorResponse{Response: resp(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1740831420")},
			wantReset: time.Unix(1740831420, 0),
		},
		{
			name:      "bare 429 with remaining 0",
			err:       &gogithub.ErrorResponse{Response: resp(429, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1740831420")},
			wantReset: time.Unix(1740831420, 0),
		},
		{
			name:      "bare 429 with Retry-After date",
			err:       &gogithub.ErrorResponse{Response: resp(429, "Retry-After", now.Add(time.Hour).Format(http.TimeFormat))},
			wantReset: now.Add(time.Hour),
		},
		{
			name:      "bare 429 without headers",
			err:       &gogithub.ErrorResponse{Response: resp(429)},
			wantReset: now.Add(time.Minute),
		},
		{
			name: "403 without rate headers is a permission problem",
			err:  &gogithub.ErrorResponse{Response: resp(403, "X-RateLimit-Remaining", "4000")},
			same: true,
		},
		{name: "404", err: &gogithub.ErrorResponse{Response: resp(404)}, same: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := asRateLimit(tt.err, now)
			if tt.same {
				assert.Equal(t, tt.err, got)
			}
			var rl *RateLimitError
			if tt.wantReset.IsZero() {
				assert.False(t, errors.As(got, &rl))
				return
			}
			require.True(t, errors.As(got, &rl), "got %T %v", got, got)
			assert.True(t, tt.wantReset.Equal(rl.Reset), "reset %v, want %v", rl.Reset, tt.wantReset)
			if !tt.same {
				assert.ErrorIs(t, got, tt.err)
				assert.Contains(t, got.Error(), "github rate limit exceeded until")
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestETagCacheEviction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ops    []string // "put k", "get k", "del k"
		want   []string // keys present at the end
		absent []string
	}{
		{"under the bound", []string{"put a", "put b"}, []string{"a", "b"}, nil},
		{"oldest dropped", []string{"put a", "put b", "put c"}, []string{"b", "c"}, []string{"a"}},
		{"get refreshes", []string{"put a", "put b", "get a", "put c"}, []string{"a", "c"}, []string{"b"}},
		{"put refreshes", []string{"put a", "put b", "put a", "put c"}, []string{"a", "c"}, []string{"b"}},
		{"remove", []string{"put a", "put b", "del a", "put c"}, []string{"b", "c"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newETagCache(2)
			for _, op := range tt.ops {
				verb, key, _ := strings.Cut(op, " ")
				switch verb {
				case "put":
					c.put(key, cacheEntry{etag: key})
				case "get":
					c.get(key)
				case "del":
					c.remove(key)
				}
			}
			for _, k := range tt.want {
				e, ok := c.get(k)
				assert.True(t, ok, k)
				assert.Equal(t, k, e.etag)
			}
			for _, k := range tt.absent {
				_, ok := c.get(k)
				assert.False(t, ok, k)
			}
			assert.Equal(t, len(tt.want), c.len())
		})
	}
}

// TestETagTransport drives the caching transport against a scripted server.
func TestETagTransport(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		header map[string]string
		body   string
	}
	tests := []struct {
		name string
		// answers to successive GETs of the same URL
		answers []answer
		// what the caller sees for each
		wantStatus  []int
		wantBody    []string
		wantINM     []string // If-None-Match the server received
		wantHeaders []map[string]string
		wantFresh   []int64 // tracker fresh count after each
	}{
		{
			name: "304 reuses body and links, takes new rate headers",
			answers: []answer{
				{200, map[string]string{"ETag": `"v1"`, "Link": `<x?page=2>; rel="next"`, "X-RateLimit-Remaining": "10"}, `{"a":1}`},
				{304, map[string]string{"ETag": `"v1"`, "X-RateLimit-Remaining": "10"}, ""},
				{200, map[string]string{"ETag": `"v2"`, "X-RateLimit-Remaining": "9"}, `{"a":2}`},
				{304, map[string]string{"ETag": `"v2"`, "X-RateLimit-Remaining": "8"}, ""},
			},
			wantStatus: []int{200, 200, 200, 200},
			wantBody:   []string{`{"a":1}`, `{"a":1}`, `{"a":2}`, `{"a":2}`},
			wantINM:    []string{"", `"v1"`, `"v1"`, `"v2"`},
			wantHeaders: []map[string]string{
				{"Link": `<x?page=2>; rel="next"`, "X-RateLimit-Remaining": "10"},
				{"Link": `<x?page=2>; rel="next"`, "X-RateLimit-Remaining": "10"},
				{"Link": "", "X-RateLimit-Remaining": "9"},
				{"Link": "", "X-RateLimit-Remaining": "8"},
			},
			wantFresh: []int64{1, 0, 1, 0},
		},
		{
			name: "200 without ETag forgets the entry",
			answers: []answer{
				{200, map[string]string{"ETag": `"v1"`}, `1`},
				{200, nil, `2`},
				{200, map[string]string{"ETag": `"v3"`}, `3`},
			},
			wantStatus: []int{200, 200, 200},
			wantBody:   []string{"1", "2", "3"},
			wantINM:    []string{"", `"v1"`, ""},
			wantFresh:  []int64{1, 1, 1},
		},
		{
			name: "errors are not cached and do not evict",
			answers: []answer{
				{200, map[string]string{"ETag": `"v1"`}, `1`},
				{500, nil, `oops`},
				{304, map[string]string{"ETag": `"v1"`}, ""},
			},
			wantStatus: []int{200, 500, 200},
			wantBody:   []string{"1", "oops", "1"},
			wantINM:    []string{"", `"v1"`, `"v1"`},
			wantFresh:  []int64{1, 1, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var i int
			var inm []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				a := tt.answers[i]
				i++
				inm = append(inm, r.Header.Get("If-None-Match"))
				mu.Unlock()
				for k, v := range a.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(a.status)
				_, _ = io.WriteString(w, a.body)
			}))
			t.Cleanup(srv.Close)
			rt := &etagTransport{next: srv.Client().Transport, cache: newETagCache(10), log: slog.New(slog.DiscardHandler)}
			for k := range tt.answers {
				ctx, tr := withTracker(context.Background())
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
				require.NoError(t, err)
				resp, err := rt.RoundTrip(req)
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, tt.wantStatus[k], resp.StatusCode, "answer %d", k)
				assert.Equal(t, tt.wantBody[k], string(body), "answer %d", k)
				assert.Equal(t, tt.wantFresh[k], tr.freshN.Load(), "answer %d fresh", k)
				if tt.wantHeaders != nil {
					for h, v := range tt.wantHeaders[k] {
						assert.Equal(t, v, resp.Header.Get(h), "answer %d header %s", k, h)
					}
				}
			}
			assert.Equal(t, tt.wantINM, inm)
		})
	}
}

type recordingTokens struct {
	mu          sync.Mutex
	invalidated []string
}

func (r *recordingTokens) token(context.Context) (string, error) { return "tok", nil }
func (r *recordingTokens) invalidate(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, tok)
}

func TestAuthTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		apiHost         bool
		status          int
		wantAuth        string
		wantInvalidated []string
	}{
		{"API host gets the token", true, 200, "Bearer tok", nil},
		{"401 forgets the token", true, 401, "Bearer tok", []string{"tok"}},
		{"other host gets no token", false, 200, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("Authorization")
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(srv.Close)
			host := mustURL(srv.URL).Host
			if !tt.apiHost {
				host = "api.github.com"
			}
			toks := &recordingTokens{}
			rt := &authTransport{next: srv.Client().Transport, host: host, tokens: toks}
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.wantAuth, got)
			assert.Equal(t, tt.wantInvalidated, toks.invalidated)
			assert.Empty(t, req.Header.Get("Authorization"), "caller's request not modified")
		})
	}
}

func TestMintRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	refused := func(code int, doc string, h ...string) *githubapp.Error {
		e := &githubapp.Error{Action: "mint an installation token for installation 7", InstallationID: 7,
			StatusCode: code, Message: "m", DocumentationURL: doc, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			e.Header.Set(h[i], h[i+1])
		}
		return e
	}
	plain := errors.New("connection refused")
	tests := []struct {
		name      string
		err       error
		wantReset time.Time // zero: not a rate-limit error, returned unchanged
	}{
		{name: "not a refusal", err: plain},
		{name: "bad JWT", err: refused(401, "")},
		{name: "unknown installation", err: refused(404, "")},
		{name: "403 without rate headers is a permission problem", err: refused(403, "", "X-RateLimit-Remaining", "4000")},
		{
			name:      "primary 403",
			err:       refused(403, "", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1740831420"),
			wantReset: time.Unix(1740831420, 0),
		},
		{
			name:      "secondary 403 with Retry-After, wrapped",
			err:       fmt.Errorf("ctx: %w", refused(403, "", "Retry-After", "30")),
			wantReset: now.Add(30 * time.Second),
		},
		{
			name:      "secondary 403 named by its documentation only",
			err:       refused(403, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"),
			wantReset: now.Add(time.Minute),
		},
		{name: "429 without headers", err: refused(429, ""), wantReset: now.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mintRateLimit(tt.err, now)
			var rl *RateLimitError
			if tt.wantReset.IsZero() {
				assert.Equal(t, tt.err, got)
				assert.False(t, errors.As(got, &rl))
				return
			}
			require.True(t, errors.As(got, &rl), "got %T %v", got, got)
			assert.True(t, tt.wantReset.Equal(rl.Reset), "reset %v, want %v", rl.Reset, tt.wantReset)
			assert.ErrorIs(t, got, tt.err)
		})
	}
}

// TestAppAuthRateLimitedMint: a rate limit met while minting reaches the
// caller as *RateLimitError, the same as one met reading pull requests.
func TestAppAuthRateLimitedMint(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(42 * time.Minute).Truncate(time.Second)
	tests := []struct {
		name      string
		limit     func(s *githubtest.Server)
		wantReset func(now time.Time) time.Time
	}{
		{"primary 403", func(s *githubtest.Server) { s.RateLimitNext(1, reset) }, func(time.Time) time.Time { return reset }},
		{
			"secondary 429", func(s *githubtest.Server) { s.SecondaryRateLimitNext(1, http.StatusTooManyRequests, 30*time.Second) },
			func(now time.Time) time.Time { return now.Add(30 * time.Second) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.NewServer(t)
			key := s.AddApp(1, 2)
			n := s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s1"})
			c, err := New(Options{BaseURL: s.URL(), App: &AppAuth{AppID: 1, InstallationID: 2, PrivateKeyPEM: key},
				Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			tt.limit(s)
			now := time.Now()
			_, err = c.Snapshot(context.Background(), PRRef{Owner: "o", Repo: "r", Number: n})
			var rl *RateLimitError
			require.True(t, errors.As(err, &rl), "want *RateLimitError, got %T: %v", err, err)
			assert.WithinDuration(t, tt.wantReset(now), rl.Reset, 2*time.Second)
			assert.Contains(t, err.Error(), "mint installation token for installation 2")
			reqs := s.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, http.MethodPost, reqs[0].Method)

			// The refusal is held for a moment (githubapp.Source): a call
			// right after gets it back without asking GitHub again...
			_, err = c.Snapshot(context.Background(), PRRef{Owner: "o", Repo: "r", Number: n})
			require.True(t, errors.As(err, &rl), "want the held *RateLimitError, got %T: %v", err, err)
			require.Len(t, s.Requests(), 1, "GitHub was asked again during the hold-off")
			// ...and once it is over, the next call mints and reads.
			time.Sleep(2100 * time.Millisecond)
			_, err = c.Snapshot(context.Background(), PRRef{Owner: "o", Repo: "r", Number: n})
			require.NoError(t, err)
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
