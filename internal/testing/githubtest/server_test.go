package githubtest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/testing/githubtest"
)

// get sends a request to the server and decodes a JSON answer into v (if
// not nil and the answer has a body).
func get(t *testing.T, s *githubtest.Server, method, url string, header map[string]string, v any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, val := range header {
		req.Header.Set(k, val)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil && len(body) > 0 {
		require.NoError(t, json.Unmarshal(body, v), "body: %s", body)
	}
	return resp
}

func TestPaginationAndPrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base      func(s *githubtest.Server) string
		query     string
		wantIDs   int // comments on this page
		wantRels  []string
		wantPages map[string]string // rel -> page
	}{
		{"first page", (*githubtest.Server).URL, "per_page=2", 2, []string{"next", "last"}, map[string]string{"next": "2", "last": "3"}},
		{"middle page", (*githubtest.Server).URL, "per_page=2&page=2", 2, []string{"prev", "next", "last", "first"}, map[string]string{"prev": "1", "next": "3", "last": "3", "first": "1"}},
		{"last page", (*githubtest.Server).EnterpriseURL, "per_page=2&page=3", 1, []string{"prev", "first"}, map[string]string{"prev": "2", "first": "1"}},
		{"server cap", (*githubtest.Server).EnterpriseURL, "per_page=100", 1, []string{"next", "last"}, map[string]string{"next": "2", "last": "5"}},
		{"one page", (*githubtest.Server).URL, "", 5, nil, nil},
		{"past the end", (*githubtest.Server).URL, "page=9", 0, []string{"prev", "first"}, map[string]string{"prev": "1", "first": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.NewServer(t)
			if tt.name == "server cap" {
				s.SetPerPageLimit(1)
			}
			n := s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
			for i := range 5 {
				s.AddIssueComment("o", "r", n, "u"+strconv.Itoa(i), "c")
			}
			base := tt.base(s)
			var comments []map[string]any
			resp := get(t, s, "GET", base+"repos/o/r/issues/1/comments?"+tt.query, nil, &comments)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Len(t, comments, tt.wantIDs)
			for _, c := range comments {
				assert.NotZero(t, c["id"])
				assert.Contains(t, c["html_url"], "/o/r/pull/1#issuecomment-")
				assert.Contains(t, c["url"], strings.TrimSuffix(base, "/")+"/repos/o/r/issues/comments/")
				assert.NotEmpty(t, c["user"].(map[string]any)["login"])
				_, err := time.Parse(time.RFC3339, c["created_at"].(string))
				assert.NoError(t, err)
			}
			links := parseLinks(resp.Header.Get("Link"))
			var rels []string
			for _, l := range links {
				rels = append(rels, l.rel)
				assert.True(t, strings.HasPrefix(l.url, strings.TrimSuffix(base, "/")+"/repos/o/r/issues/1/comments?"), l.url)
				assert.Equal(t, tt.wantPages[l.rel], l.page, l.rel)
			}
			assert.Equal(t, tt.wantRels, rels)
		})
	}
}

type link struct{ url, rel, page string }

func parseLinks(h string) []link {
	if h == "" {
		return nil
	}
	var out []link
	for _, part := range strings.Split(h, ",") {
		segs := strings.Split(strings.TrimSpace(part), ";")
		u := strings.Trim(segs[0], "<>")
		rel := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(segs[1]), `rel="`), `"`)
		page := ""
		if i := strings.Index(u, "page="); i >= 0 {
			for _, kv := range strings.Split(u[strings.Index(u, "?")+1:], "&") {
				if v, ok := strings.CutPrefix(kv, "page="); ok {
					page = v
				}
			}
		}
		out = append(out, link{u, rel, page})
	}
	return out
}

func TestETagAndRateHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ifNoneMatch func(etag string) string
		wantStatus  int
	}{
		{"no If-None-Match", func(string) string { return "" }, http.StatusOK},
		{"matching", func(e string) string { return e }, http.StatusNotModified},
		{"weak form matches", func(e string) string { return "W/" + e }, http.StatusNotModified},
		{"one of a list", func(e string) string { return `"nope", ` + e }, http.StatusNotModified},
		{"star", func(string) string { return "*" }, http.StatusNotModified},
		{"stale", func(string) string { return `"stale"` }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.NewServer(t)
			s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
			url := s.URL() + "repos/o/r/pulls/1"
			first := get(t, s, "GET", url, nil, nil)
			etag := first.Header.Get("ETag")
			require.NotEmpty(t, etag)
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used", "X-RateLimit-Resource"} {
				assert.NotEmpty(t, first.Header.Get(h), h)
			}
			assert.Equal(t, "1", first.Header.Get("X-RateLimit-Used"))

			var body map[string]any
			second := get(t, s, "GET", url, map[string]string{"If-None-Match": tt.ifNoneMatch(etag)}, &body)
			assert.Equal(t, tt.wantStatus, second.StatusCode)
			assert.Equal(t, etag, second.Header.Get("ETag"))
			if tt.wantStatus == http.StatusNotModified {
				assert.Nil(t, body)
				assert.Equal(t, first.Header.Get("X-RateLimit-Remaining"), second.Header.Get("X-RateLimit-Remaining"), "a 304 is free")
				assert.Equal(t, "1", second.Header.Get("X-RateLimit-Used"))
			} else {
				assert.Equal(t, float64(1), body["number"])
				assert.Equal(t, "2", second.Header.Get("X-RateLimit-Used"))
			}

			// A change makes a new ETag.
			s.AddIssueComment("o", "r", 1, "u", "c")
			third := get(t, s, "GET", url, map[string]string{"If-None-Match": etag}, nil)
			assert.Equal(t, http.StatusOK, third.StatusCode)
			assert.NotEqual(t, etag, third.Header.Get("ETag"))

			reqs := s.Requests()
			require.Len(t, reqs, 3)
			assert.Equal(t, tt.ifNoneMatch(etag), reqs[1].IfNoneMatch)
			assert.Equal(t, tt.wantStatus, reqs[1].Status)
		})
	}
}

func TestPullRequestShapes(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	n := s.AddPR("o", "r", githubtest.PR{HeadBranch: "feat", HeadSHA: "abc", Title: "Add", Mergeable: nil})
	var list []map[string]any
	get(t, s, "GET", s.URL()+"repos/o/r/pulls?head=o:feat&state=open", nil, &list)
	require.Len(t, list, 1)
	assert.NotContains(t, list[0], "mergeable", "list items have no mergeable")
	assert.Equal(t, "feat", list[0]["head"].(map[string]any)["ref"])

	var pr map[string]any
	get(t, s, "GET", s.EnterpriseURL()+"repos/o/r/pulls/"+strconv.Itoa(n), nil, &pr)
	assert.Contains(t, pr, "mergeable")
	assert.Nil(t, pr["mergeable"], "null while computing")
	assert.Equal(t, "unknown", pr["mergeable_state"])
	assert.Equal(t, false, pr["merged"])
	assert.Nil(t, pr["merged_at"])
	assert.Equal(t, "open", pr["state"])
	assert.True(t, strings.HasPrefix(pr["url"].(string), strings.TrimSuffix(s.EnterpriseURL(), "/")+"/repos/o/r/pulls/"))

	s.Merge("o", "r", n)
	get(t, s, "GET", s.URL()+"repos/o/r/pulls/"+strconv.Itoa(n), nil, &pr)
	assert.Equal(t, true, pr["merged"])
	assert.Equal(t, "closed", pr["state"])
	assert.NotNil(t, pr["merged_at"])

	s.SetCheck("o", "r", "abc", githubtest.Check{Name: "ci", Status: "in_progress"})
	var runs struct {
		TotalCount int              `json:"total_count"`
		CheckRuns  []map[string]any `json:"check_runs"`
	}
	get(t, s, "GET", s.URL()+"repos/o/r/commits/abc/check-runs", nil, &runs)
	require.Equal(t, 1, runs.TotalCount)
	assert.Nil(t, runs.CheckRuns[0]["conclusion"])
	assert.Nil(t, runs.CheckRuns[0]["completed_at"])
	s.SetCheck("o", "r", "abc", githubtest.Check{Name: "ci", Status: "completed", Conclusion: "failure"})
	get(t, s, "GET", s.URL()+"repos/o/r/commits/abc/check-runs", nil, &runs)
	require.Equal(t, 1, runs.TotalCount, "updated by name, not added")
	assert.Equal(t, "failure", runs.CheckRuns[0]["conclusion"])
	assert.NotNil(t, runs.CheckRuns[0]["completed_at"])
}

func TestListPullsFilters(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	a := s.AddPR("o", "r", githubtest.PR{HeadBranch: "x", HeadSHA: "1"})
	b := s.AddPR("o", "r", githubtest.PR{HeadBranch: "x", HeadSHA: "2"})
	c := s.AddPR("o", "r", githubtest.PR{HeadBranch: "x", HeadSHA: "3", HeadOwner: "fork"})
	d := s.AddPR("o", "r", githubtest.PR{HeadBranch: "y", HeadSHA: "4", State: "closed"})
	s.AddIssueComment("o", "r", a, "u", "bump") // a is now the most recently updated
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{c, b, a}}, // open, created desc
		{"state=all", []int{d, c, b, a}},
		{"state=closed", []int{d}},
		{"head=o:x", []int{b, a}},
		{"head=fork:x", []int{c}},
		{"head=x", []int{c, b, a}},
		{"head=o:x&sort=updated&direction=desc", []int{a, b}},
		{"head=o:x&sort=updated", []int{b, a}}, // asc by default for updated
		{"state=all&direction=asc", []int{a, b, c, d}},
		{"base=main&head=o:y&state=all", []int{d}},
		{"base=dev", []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			var list []struct {
				Number int `json:"number"`
			}
			resp := get(t, s, "GET", s.URL()+"repos/o/r/pulls?"+tt.query, nil, &list)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			got := []int{}
			for _, p := range list {
				got = append(got, p.Number)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCombinedStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses [][2]string
		want     string
	}{
		{"none is pending", nil, "pending"},
		{"all success", [][2]string{{"a", "success"}, {"b", "success"}}, "success"},
		{"one pending", [][2]string{{"a", "success"}, {"b", "pending"}}, "pending"},
		{"failure wins over pending", [][2]string{{"a", "failure"}, {"b", "pending"}}, "failure"},
		{"error is failure", [][2]string{{"a", "error"}}, "failure"},
		{"latest per context", [][2]string{{"a", "failure"}, {"a", "success"}}, "success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.NewServer(t)
			s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
			for _, st := range tt.statuses {
				s.SetStatus("o", "r", "s", st[0], st[1])
			}
			var cs struct {
				State      string           `json:"state"`
				TotalCount int              `json:"total_count"`
				Statuses   []map[string]any `json:"statuses"`
			}
			get(t, s, "GET", s.URL()+"repos/o/r/commits/s/status", nil, &cs)
			assert.Equal(t, tt.want, cs.State)
			assert.Len(t, cs.Statuses, cs.TotalCount)
		})
	}
}

func TestErrorsAndLimits(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name       string
		setup      func(s *githubtest.Server)
		method     string
		path       string
		header     map[string]string
		wantStatus []int // for two requests in a row
		wantHeader map[string]string
		wantDoc    string
	}{
		{name: "unknown endpoint", method: "GET", path: "repos/o/r/branches", wantStatus: []int{404, 404}},
		{name: "unknown repo", method: "GET", path: "repos/x/y/pulls", wantStatus: []int{404, 404}},
		{name: "unknown PR", method: "GET", path: "repos/o/r/pulls/99", wantStatus: []int{404, 404}},
		{name: "wrong method", method: "POST", path: "repos/o/r/pulls", wantStatus: []int{404, 404}},
		{
			name: "token required, none sent", setup: func(s *githubtest.Server) { s.RequireToken("good") },
			method: "GET", path: "repos/o/r/pulls/1", wantStatus: []int{401, 401},
		},
		{
			name: "token required, Bearer", setup: func(s *githubtest.Server) { s.RequireToken("good") },
			method: "GET", path: "repos/o/r/pulls/1", header: map[string]string{"Authorization": "Bearer good"},
			wantStatus: []int{200, 200},
		},
		{
			name: "token required, token scheme", setup: func(s *githubtest.Server) { s.RequireToken("good") },
			method: "GET", path: "repos/o/r/pulls/1", header: map[string]string{"Authorization": "token good"},
			wantStatus: []int{200, 200},
		},
		{
			name: "token required, wrong one", setup: func(s *githubtest.Server) { s.RequireToken("good") },
			method: "GET", path: "repos/o/r/pulls/1", header: map[string]string{"Authorization": "Bearer bad"},
			wantStatus: []int{401, 401},
		},
		{
			name: "primary rate limit once", setup: func(s *githubtest.Server) { s.RateLimitNext(1, reset) },
			method: "GET", path: "repos/o/r/pulls/1", wantStatus: []int{403, 200},
			wantHeader: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)},
			wantDoc:    "rate-limits-for-the-rest-api",
		},
		{
			name: "secondary rate limit 429", setup: func(s *githubtest.Server) { s.SecondaryRateLimitNext(2, 429, 90*time.Second) },
			method: "GET", path: "repos/o/r/pulls/1", wantStatus: []int{429, 429},
			wantHeader: map[string]string{"Retry-After": "90"},
			wantDoc:    "#about-secondary-rate-limits",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.NewServer(t)
			s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
			if tt.setup != nil {
				tt.setup(s)
			}
			for i, want := range tt.wantStatus {
				var body map[string]any
				resp := get(t, s, tt.method, s.URL()+tt.path, tt.header, &body)
				assert.Equal(t, want, resp.StatusCode, "request %d", i)
				if i == 0 {
					for k, v := range tt.wantHeader {
						assert.Equal(t, v, resp.Header.Get(k), k)
					}
					if tt.wantDoc != "" {
						assert.Contains(t, body["documentation_url"], tt.wantDoc)
					}
				}
				if want >= 400 {
					assert.NotEmpty(t, body["message"])
				}
			}
			reqs := s.Requests()
			require.Len(t, reqs, len(tt.wantStatus))
			assert.Equal(t, tt.wantStatus[0], reqs[0].Status)
			assert.Equal(t, tt.header["Authorization"], reqs[0].Authorization)
		})
	}
}

// jwtFor signs claims with key the way a GitHub App does (RS256 unless alg
// says otherwise).
func jwtFor(t *testing.T, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	require.NoError(t, err)
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestAppAccessTokens(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	block, _ := pem.Decode(s.AddApp(7, 70))
	require.NotNil(t, block)
	require.Equal(t, "RSA PRIVATE KEY", block.Type)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})

	now := time.Now().Unix()
	good := map[string]any{"iat": now - 60, "exp": now + 540, "iss": "7"}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	tests := []struct {
		name         string
		installation string
		auth         string
		wantStatus   int
	}{
		{"valid", "70", "Bearer " + jwtFor(t, key, "RS256", good), http.StatusCreated},
		{"iss as a number", "70", "Bearer " + jwtFor(t, key, "RS256", with("iss", 7)), http.StatusCreated},
		{"no JWT", "70", "", http.StatusUnauthorized},
		{"not a JWT", "70", "Bearer abc", http.StatusUnauthorized},
		{"wrong key", "70", "Bearer " + jwtFor(t, otherKey, "RS256", good), http.StatusUnauthorized},
		{"wrong alg", "70", "Bearer " + jwtFor(t, key, "HS256", good), http.StatusUnauthorized},
		{"unknown app", "70", "Bearer " + jwtFor(t, key, "RS256", with("iss", "8")), http.StatusUnauthorized},
		{"expired", "70", "Bearer " + jwtFor(t, key, "RS256", with("exp", now-1)), http.StatusUnauthorized},
		{"issued in the future", "70", "Bearer " + jwtFor(t, key, "RS256", with("iat", now+600)), http.StatusUnauthorized},
		{"lives too long", "70", "Bearer " + jwtFor(t, key, "RS256", with("exp", now+3600)), http.StatusUnauthorized},
		{"other installation", "71", "Bearer " + jwtFor(t, key, "RS256", good), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tok struct {
				Token     string `json:"token"`
				ExpiresAt string `json:"expires_at"`
				Message   string `json:"message"`
			}
			resp := get(t, s, "POST", s.URL()+"app/installations/"+tt.installation+"/access_tokens",
				map[string]string{"Authorization": tt.auth}, &tok)
			require.Equal(t, tt.wantStatus, resp.StatusCode, tok.Message)
			if tt.wantStatus != http.StatusCreated {
				assert.NotEmpty(t, tok.Message)
				return
			}
			assert.True(t, strings.HasPrefix(tok.Token, "ghs_"))
			exp, err := time.Parse(time.RFC3339, tok.ExpiresAt)
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now().Add(time.Hour), exp, 5*time.Second)
			// The minted token works on the API; the JWT does not.
			r := get(t, s, "GET", s.EnterpriseURL()+"repos/o/r/pulls/1", map[string]string{"Authorization": "Bearer " + tok.Token}, nil)
			assert.Equal(t, http.StatusOK, r.StatusCode)
			r = get(t, s, "GET", s.URL()+"repos/o/r/pulls/1", map[string]string{"Authorization": tt.auth}, nil)
			assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
		})
	}
}

func TestExpiredInstallationToken(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	block, _ := pem.Decode(s.AddApp(7, 70))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	s.SetTokenTTL(-time.Second) // born expired
	s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
	now := time.Now().Unix()
	var tok struct {
		Token string `json:"token"`
	}
	resp := get(t, s, "POST", s.URL()+"app/installations/70/access_tokens",
		map[string]string{"Authorization": "Bearer " + jwtFor(t, key, "RS256", map[string]any{"iat": now - 60, "exp": now + 500, "iss": "7"})}, &tok)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	r := get(t, s, "GET", s.URL()+"repos/o/r/pulls/1", map[string]string{"Authorization": "Bearer " + tok.Token}, nil)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
}

// TestConcurrentUse changes the state while requests are served; run with
// -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	n := s.AddPR("o", "r", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.AddIssueComment("o", "r", n, "u", "c")
			s.SetCheck("o", "r", "s", githubtest.Check{Name: "c" + strconv.Itoa(i), Status: "completed", Conclusion: "success"})
			s.SetStatus("o", "r", "s", "ctx", "success")
		}()
		go func() {
			defer wg.Done()
			for _, p := range []string{"pulls/1", "issues/1/comments", "commits/s/check-runs", "commits/s/status"} {
				resp, err := s.Client().Get(s.URL() + "repos/o/r/" + p)
				if assert.NoError(t, err) {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					assert.Equal(t, http.StatusOK, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, s.Requests(), 32)
	var comments []map[string]any
	get(t, s, "GET", s.URL()+"repos/o/r/issues/1/comments", nil, &comments)
	assert.Len(t, comments, 8)
}
