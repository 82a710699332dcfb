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
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
	block, _ := pem.Decode(s.AddAppWithClientID(7, 70, "Iv23liTEST"))
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
		{"iss as the client ID", "70", "Bearer " + jwtFor(t, key, "RS256", with("iss", "Iv23liTEST")), http.StatusCreated},
		{"unknown client ID", "70", "Bearer " + jwtFor(t, key, "RS256", with("iss", "Iv23liNOPE")), http.StatusUnauthorized},
		{"iss neither ID nor client ID", "70", "Bearer " + jwtFor(t, key, "RS256", with("iss", "my-app")), http.StatusUnauthorized},
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
			assert.Regexp(t, `^ghs_[A-Za-z0-9]{36}$`, tok.Token, "shaped like GitHub's")
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

// installedApp is a server with app 7 installed as installation 70 on
// acme/widgets and acme/gadgets, and acme/secret in installation 71.
type installedApp struct {
	s   *githubtest.Server
	key *rsa.PrivateKey
	ids map[string]int64 // repository IDs by name
}

func newInstalledApp(t *testing.T) installedApp {
	t.Helper()
	s := githubtest.NewServer(t)
	block, _ := pem.Decode(s.AddApp(7, 70))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	a := installedApp{s: s, key: key, ids: map[string]int64{}}
	for _, r := range []struct {
		inst int64
		name string
	}{{70, "widgets"}, {70, "gadgets"}, {71, "secret"}} {
		id, node := s.AddInstallationRepo(r.inst, "acme", r.name)
		require.Regexp(t, `^R_kgDO[A-Za-z0-9_-]{6}$`, node)
		a.ids[r.name] = id
	}
	return a
}

// mint asks for an installation token with body and decodes the answer.
func (a installedApp) mint(t *testing.T, installation int64, body string) (int, accessToken) {
	t.Helper()
	now := time.Now().Unix()
	req, err := http.NewRequest(http.MethodPost, a.s.URL()+"app/installations/"+strconv.FormatInt(installation, 10)+"/access_tokens", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+jwtFor(t, a.key, "RS256", map[string]any{"iat": now - 60, "exp": now + 540, "iss": "7"}))
	resp, err := a.s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var tok accessToken
	require.NoError(t, json.Unmarshal(raw, &tok), "body: %s", raw)
	tok.raw = raw
	return resp.StatusCode, tok
}

// token mints with body and fails the test unless GitHub agrees.
func (a installedApp) token(t *testing.T, body string) string {
	t.Helper()
	status, tok := a.mint(t, 70, body)
	require.Equal(t, http.StatusCreated, status, tok.Message)
	return tok.Token
}

type accessToken struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
	Repositories        []struct {
		ID       int64  `json:"id"`
		NodeID   string `json:"node_id"`
		Name     string `json:"name"`
		FullName string `json:"full_name"`
	} `json:"repositories"`
	Message string `json:"message"`
	raw     []byte
}

func TestAccessTokenNarrowing(t *testing.T) {
	t.Parallel()
	installation := map[string]string{"checks": "read", "contents": "write", "metadata": "read", "pull_requests": "write", "statuses": "read"}
	const notAccessible = "There is at least one repository that does not exist or is not accessible to the parent installation."
	const notGranted = "The permissions requested are not granted to this installation."
	tests := []struct {
		name        string
		body        func(a installedApp) string
		wantStatus  int
		wantMessage string
		wantPerms   map[string]string
		wantRepos   []string // listed in the answer; nil: no repositories field
		wantMinted  []string // MintedToken.Repositories
	}{
		{name: "no body", body: func(installedApp) string { return "" }, wantStatus: 201, wantPerms: installation, wantMinted: []string{"acme/widgets", "acme/gadgets"}},
		{name: "empty object", body: func(installedApp) string { return "{}" }, wantStatus: 201, wantPerms: installation, wantMinted: []string{"acme/widgets", "acme/gadgets"}},
		{
			name:       "one repository by name",
			body:       func(installedApp) string { return `{"repositories":["widgets"]}` },
			wantStatus: 201, wantPerms: installation, wantRepos: []string{"acme/widgets"}, wantMinted: []string{"acme/widgets"},
		},
		{
			name: "by ID",
			body: func(a installedApp) string {
				return `{"repository_ids":[` + strconv.FormatInt(a.ids["gadgets"], 10) + `]}`
			},
			wantStatus: 201, wantPerms: installation, wantRepos: []string{"acme/gadgets"}, wantMinted: []string{"acme/gadgets"},
		},
		{
			name:       "fewer permissions",
			body:       func(installedApp) string { return `{"permissions":{"contents":"read","pull_requests":"write"}}` },
			wantStatus: 201, wantPerms: map[string]string{"contents": "read", "pull_requests": "write"},
			wantMinted: []string{"acme/widgets", "acme/gadgets"},
		},
		{
			name: "both",
			body: func(installedApp) string {
				return `{"repositories":["gadgets","widgets"],"permissions":{"contents":"write"}}`
			},
			wantStatus: 201, wantPerms: map[string]string{"contents": "write"},
			wantRepos: []string{"acme/gadgets", "acme/widgets"}, wantMinted: []string{"acme/gadgets", "acme/widgets"},
		},
		{name: "repository of another installation", body: func(installedApp) string { return `{"repositories":["widgets","secret"]}` }, wantStatus: 422, wantMessage: notAccessible},
		{name: "no such repository", body: func(installedApp) string { return `{"repositories":["nope"]}` }, wantStatus: 422, wantMessage: notAccessible},
		{
			name: "ID of another installation's repository",
			body: func(a installedApp) string {
				return `{"repository_ids":[` + strconv.FormatInt(a.ids["secret"], 10) + `]}`
			},
			wantStatus: 422, wantMessage: notAccessible,
		},
		{name: "wider permission", body: func(installedApp) string { return `{"permissions":{"checks":"write"}}` }, wantStatus: 422, wantMessage: notGranted},
		{name: "permission not granted", body: func(installedApp) string { return `{"permissions":{"issues":"read"}}` }, wantStatus: 422, wantMessage: notGranted},
		{name: "not a level", body: func(installedApp) string { return `{"permissions":{"contents":"execute"}}` }, wantStatus: 422, wantMessage: notGranted},
		{name: "not JSON", body: func(installedApp) string { return `{"repositories":` }, wantStatus: 400, wantMessage: "Problems parsing JSON"},
	}
	// One app for all (an app key takes a while to make); in turn, so that
	// each case sees only its own token minted.
	a := newInstalledApp(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.s.Minted())
			status, tok := a.mint(t, 70, tt.body(a))
			require.Equal(t, tt.wantStatus, status, tok.Message)
			if tt.wantStatus != http.StatusCreated {
				assert.Equal(t, tt.wantMessage, tok.Message)
				assert.Len(t, a.s.Minted(), before, "nothing minted")
				return
			}
			assert.Equal(t, tt.wantPerms, tok.Permissions)
			assert.Equal(t, "selected", tok.RepositorySelection)
			if tt.wantRepos == nil {
				assert.NotContains(t, string(tok.raw), `"repositories"`)
			}
			var names []string
			for _, r := range tok.Repositories {
				names = append(names, r.FullName)
				assert.Equal(t, a.ids[r.Name], r.ID)
				assert.True(t, strings.HasPrefix(r.NodeID, "R_kgDO"), r.NodeID)
			}
			assert.Equal(t, tt.wantRepos, names)

			minted := a.s.Minted()[before:]
			require.Len(t, minted, 1)
			assert.Equal(t, tok.Token, minted[0].Token)
			assert.Equal(t, int64(70), minted[0].InstallationID)
			assert.Equal(t, tt.wantPerms, minted[0].Permissions)
			assert.Equal(t, tt.wantMinted, minted[0].Repositories)
			exp, err := time.Parse(time.RFC3339, tok.ExpiresAt)
			require.NoError(t, err)
			assert.True(t, exp.Equal(minted[0].ExpiresAt))
		})
	}
}

// An installation without chosen repositories is on all of them.
func TestAccessTokenAllRepositories(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	block, _ := pem.Decode(s.AddApp(7, 70))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	s.AddPR("acme", "widgets", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
	s.AddPR("other", "tools", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
	a := installedApp{s: s, key: key}
	tests := []struct {
		body          string
		wantSelection string
		wantMinted    []string
	}{
		{"{}", "all", nil},
		{`{"repositories":["tools"]}`, "selected", []string{"other/tools"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			status, tok := a.mint(t, 70, tt.body)
			require.Equal(t, http.StatusCreated, status, tok.Message)
			assert.Equal(t, tt.wantSelection, tok.RepositorySelection)
			minted := s.Minted()
			assert.Equal(t, tt.wantMinted, minted[len(minted)-1].Repositories)
		})
	}
}

func TestInstallationRepositories(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		auth       func(t *testing.T, a installedApp) string // the Authorization header
		query      string
		wantStatus int
		wantRepos  []string
		wantTotal  int
		wantRels   []string
	}{
		{
			name: "whole installation, first page", auth: func(t *testing.T, a installedApp) string { return "Bearer " + a.token(t, "") },
			query: "per_page=1", wantStatus: 200, wantRepos: []string{"acme/widgets"}, wantTotal: 2, wantRels: []string{"next", "last"},
		},
		{
			name: "whole installation, last page", auth: func(t *testing.T, a installedApp) string { return "token " + a.token(t, "") },
			query: "per_page=1&page=2", wantStatus: 200, wantRepos: []string{"acme/gadgets"}, wantTotal: 2, wantRels: []string{"prev", "first"},
		},
		{
			name: "narrowed", auth: func(t *testing.T, a installedApp) string {
				return "Bearer " + a.token(t, `{"repositories":["gadgets"]}`)
			},
			wantStatus: 200, wantRepos: []string{"acme/gadgets"}, wantTotal: 1,
		},
		{name: "not an installation token", auth: func(*testing.T, installedApp) string { return "Bearer ghp_static" }, wantStatus: 403},
		{name: "unknown token", auth: func(*testing.T, installedApp) string { return "Bearer ghs_nope" }, wantStatus: 401},
		{name: "no token", auth: func(*testing.T, installedApp) string { return "" }, wantStatus: 401},
	}
	a := newInstalledApp(t)
	a.s.RequireToken("ghp_static")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var answer struct {
				TotalCount   int `json:"total_count"`
				Repositories []struct {
					FullName string `json:"full_name"`
					NodeID   string `json:"node_id"`
				} `json:"repositories"`
				RepositorySelection string `json:"repository_selection"`
				Message             string `json:"message"`
			}
			header := map[string]string{}
			if h := tt.auth(t, a); h != "" {
				header["Authorization"] = h
			}
			resp := get(t, a.s, "GET", a.s.EnterpriseURL()+"installation/repositories?"+tt.query, header, &answer)
			require.Equal(t, tt.wantStatus, resp.StatusCode, answer.Message)
			if tt.wantStatus != http.StatusOK {
				assert.NotEmpty(t, answer.Message)
				return
			}
			var names []string
			for _, r := range answer.Repositories {
				names = append(names, r.FullName)
				assert.True(t, strings.HasPrefix(r.NodeID, "R_kgDO"), r.NodeID)
			}
			assert.Equal(t, tt.wantRepos, names)
			assert.Equal(t, tt.wantTotal, answer.TotalCount)
			assert.Equal(t, "selected", answer.RepositorySelection)
			var rels []string
			for _, l := range parseLinks(resp.Header.Get("Link")) {
				rels = append(rels, l.rel)
				assert.True(t, strings.HasPrefix(l.url, strings.TrimSuffix(a.s.EnterpriseURL(), "/")+"/installation/repositories?"), l.url)
			}
			assert.Equal(t, tt.wantRels, rels)
		})
	}
}

func TestRepositoryVisibility(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		auth  func(t *testing.T, a installedApp) string
		paths map[string]int // path under the API root -> status
	}{
		{
			name: "narrowed token sees only its repositories",
			auth: func(t *testing.T, a installedApp) string {
				return "Bearer " + a.token(t, `{"repositories":["widgets"]}`)
			},
			paths: map[string]int{
				"repos/acme/widgets": 200, "repos/ACME/Widgets": 200, "repos/acme/gadgets": 404, "repos/acme/secret": 404,
				"repos/acme/nope": 404, "repos/acme/widgets/pulls": 200, "repos/acme/gadgets/pulls": 404,
			},
		},
		{
			name:  "installation token sees the installation's",
			auth:  func(t *testing.T, a installedApp) string { return "Bearer " + a.token(t, "") },
			paths: map[string]int{"repos/acme/widgets": 200, "repos/acme/gadgets": 200, "repos/acme/secret": 404, "repos/acme/secret/pulls": 404},
		},
		{
			name:  "a RequireToken token sees all",
			auth:  func(*testing.T, installedApp) string { return "Bearer ghp_static" },
			paths: map[string]int{"repos/acme/widgets": 200, "repos/acme/gadgets": 200, "repos/acme/secret": 200, "repos/acme/nope": 404},
		},
		{
			name:  "no token",
			auth:  func(*testing.T, installedApp) string { return "" },
			paths: map[string]int{"repos/acme/widgets": 401, "repos/acme/secret": 401},
		},
	}
	a := newInstalledApp(t)
	a.s.RequireToken("ghp_static")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := map[string]string{}
			if h := tt.auth(t, a); h != "" {
				header["Authorization"] = h
			}
			for path, want := range tt.paths {
				var body json.RawMessage
				resp := get(t, a.s, "GET", a.s.URL()+path, header, &body)
				assert.Equal(t, want, resp.StatusCode, path)
				var repo map[string]any
				if strings.HasPrefix(string(body), "{") {
					require.NoError(t, json.Unmarshal(body, &repo))
				}
				if want == http.StatusOK && strings.Count(path, "/") == 2 {
					name := strings.ToLower(path[strings.LastIndex(path, "/")+1:])
					assert.Equal(t, "acme/"+name, repo["full_name"], path)
					assert.Equal(t, name, repo["name"], path)
					assert.Equal(t, float64(a.ids[name]), repo["id"], path)
					assert.True(t, strings.HasPrefix(repo["node_id"].(string), "R_kgDO"), repo["node_id"])
				}
				if want == http.StatusNotFound {
					assert.Equal(t, "Not Found", repo["message"], path)
				}
			}
		})
	}
}

// Node IDs are GitHub's current format: "R_" and base64url(msgpack [0, id]).
func TestRepositoryNodeID(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	for _, name := range []string{"a", "b"} {
		id, node := s.AddInstallationRepo(1, "acme", name)
		rest, ok := strings.CutPrefix(node, "R_")
		require.True(t, ok, node)
		b, err := base64.RawURLEncoding.DecodeString(rest)
		require.NoError(t, err)
		require.Len(t, b, 7)
		assert.Equal(t, []byte{0x92, 0x00, 0xce}, b[:3], "array of two: 0, uint32")
		assert.Equal(t, uint64(id), uint64(b[3])<<24|uint64(b[4])<<16|uint64(b[5])<<8|uint64(b[6]))
		id2, node2 := s.AddInstallationRepo(2, "acme", name)
		assert.Equal(t, id, id2, "the same repository in another installation")
		assert.Equal(t, node, node2)
	}
}

// The handler can be served elsewhere, over TLS: links follow.
func TestHandlerOnAnotherListener(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	s.AddPR("acme", "widgets", githubtest.PR{HeadBranch: "b", HeadSHA: "s"})
	tls := httptest.NewTLSServer(s.Handler())
	t.Cleanup(tls.Close)
	resp, err := tls.Client().Get(tls.URL + "/repos/acme/widgets")
	require.NoError(t, err)
	defer resp.Body.Close()
	var repo map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&repo))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, tls.URL+"/acme/widgets", repo["html_url"])
	assert.Equal(t, tls.URL+"/repos/acme/widgets", repo["url"])
	require.Len(t, s.Requests(), 1, "recorded like any other")
}

// git runs the git CLI in dir, isolated from the machine's configuration,
// and returns its combined output.
func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := git(t, dir, args...)
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(out)
}

// bareRepo makes a bare repository with one commit on main.
func bareRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	work := filepath.Join(root, "work")
	bare := filepath.Join(root, "repo.git")
	mustGit(t, root, "init", "--quiet", work)
	require.NoError(t, os.WriteFile(filepath.Join(work, "README"), []byte("hello\n"), 0o644))
	mustGit(t, work, "add", "README")
	mustGit(t, work, "commit", "--quiet", "-m", "first")
	mustGit(t, root, "clone", "--quiet", "--bare", work, bare)
	return bare
}

func TestGitSmartHTTP(t *testing.T) {
	t.Parallel()
	const (
		clone = "clone"
		push  = "push"
	)
	tests := []struct {
		name string
		op   string
		// token mints (or names) the credential; "" means none.
		token      func(t *testing.T, a installedApp) string
		viaHeader  bool // http.extraHeader instead of the URL's userinfo
		wantOK     bool
		wantStatus int    // of the refused request
		wantOutput string // in git's output when refused
	}{
		{
			name: "clone with a narrowed read token", op: clone, wantOK: true,
			token: func(t *testing.T, a installedApp) string {
				return a.token(t, `{"repositories":["widgets"],"permissions":{"contents":"read"}}`)
			},
		},
		{
			name: "clone with the token in a header", op: clone, wantOK: true, viaHeader: true,
			token: func(t *testing.T, a installedApp) string { return a.token(t, `{"repositories":["widgets"]}`) },
		},
		{
			name: "push with a narrowed write token", op: push, wantOK: true,
			token: func(t *testing.T, a installedApp) string {
				return a.token(t, `{"repositories":["widgets"],"permissions":{"contents":"write"}}`)
			},
		},
		{
			name: "push with the token in a header", op: push, wantOK: true, viaHeader: true,
			token: func(t *testing.T, a installedApp) string { return a.token(t, `{"repositories":["widgets"]}`) },
		},
		{name: "push with a RequireToken token", op: push, wantOK: true, token: func(*testing.T, installedApp) string { return "ghp_static" }},
		{
			name: "push without contents write", op: push, wantStatus: 403, wantOutput: "403",
			token: func(t *testing.T, a installedApp) string {
				return a.token(t, `{"repositories":["widgets"],"permissions":{"contents":"read"}}`)
			},
		},
		{
			name: "push with a token for another repository", op: push, wantStatus: 403, wantOutput: "403",
			token: func(t *testing.T, a installedApp) string { return a.token(t, `{"repositories":["gadgets"]}`) },
		},
		{
			name: "clone with a token for another repository", op: clone, wantStatus: 404, wantOutput: "not found",
			token: func(t *testing.T, a installedApp) string { return a.token(t, `{"repositories":["gadgets"]}`) },
		},
		{
			name: "clone without contents", op: clone, wantStatus: 404, wantOutput: "not found",
			token: func(t *testing.T, a installedApp) string {
				return a.token(t, `{"repositories":["widgets"],"permissions":{"metadata":"read"}}`)
			},
		},
		{
			name: "clone with an expired token", op: clone, wantStatus: 401, wantOutput: "Authentication failed",
			token: func(t *testing.T, a installedApp) string {
				a.s.SetTokenTTL(-time.Second)
				defer a.s.SetTokenTTL(time.Hour)
				return a.token(t, "")
			},
		},
		{name: "clone with an unknown token", op: clone, wantStatus: 401, wantOutput: "Authentication failed", token: func(*testing.T, installedApp) string { return "ghs_nope" }},
		{name: "clone without a token", op: clone, wantStatus: 401, wantOutput: "could not read Username", token: func(*testing.T, installedApp) string { return "" }},
	}
	// One app and one pair of repositories for all; in turn, as pushes
	// move main and one case changes the token lifetime.
	a := newInstalledApp(t)
	a.s.RequireToken("ghp_static")
	widgets, gadgets := bareRepo(t), bareRepo(t)
	a.s.ServeGitRepo("acme", "widgets", widgets)
	a.s.ServeGitRepo("acme", "gadgets", gadgets)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.s.Requests())
			tok := tt.token(t, a)

			u, err := url.Parse(a.s.URL() + "acme/widgets.git")
			require.NoError(t, err)
			var extra []string
			switch {
			case tok == "":
			case tt.viaHeader:
				basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + tok))
				extra = []string{"-c", "http.extraHeader=Authorization: Basic " + basic}
			default:
				u.User = url.UserPassword("x-access-token", tok)
			}
			dir := t.TempDir()
			work := filepath.Join(dir, "work")
			var out string
			switch tt.op {
			case clone:
				out, err = git(t, dir, append(extra, "clone", u.String(), work)...)
				if err == nil {
					assert.Equal(t, mustGit(t, "", "--git-dir", widgets, "rev-parse", "main"), mustGit(t, work, "rev-parse", "HEAD"))
				}
			case push:
				mustGit(t, dir, "clone", "--quiet", widgets, work) // not over HTTP: the push is under test
				require.NoError(t, os.WriteFile(filepath.Join(work, "NEW"), []byte(tt.name+"\n"), 0o644))
				mustGit(t, work, "add", "NEW")
				mustGit(t, work, "commit", "--quiet", "-m", "second")
				out, err = git(t, work, append(extra, "push", u.String(), "HEAD:main")...)
				head := mustGit(t, work, "rev-parse", "HEAD")
				remote := mustGit(t, "", "--git-dir", widgets, "rev-parse", "main")
				if tt.wantOK {
					assert.Equal(t, head, remote, "pushed")
				} else {
					assert.NotEqual(t, head, remote, "not pushed")
				}
			}
			if tt.wantOK {
				require.NoError(t, err, out)
			} else {
				require.Error(t, err, out)
				assert.Contains(t, out, tt.wantOutput)
			}

			var statuses []int
			for _, r := range a.s.Requests()[before:] {
				if strings.HasPrefix(r.Path, "/acme/widgets.git/") {
					statuses = append(statuses, r.Status)
					if r.Status != http.StatusUnauthorized {
						assert.True(t, strings.HasPrefix(r.Authorization, "Basic "), r.Authorization)
					}
				}
			}
			require.NotEmpty(t, statuses, "git requests recorded")
			if tt.wantOK {
				assert.Equal(t, http.StatusOK, statuses[len(statuses)-1])
			} else {
				assert.Equal(t, tt.wantStatus, statuses[len(statuses)-1])
			}
		})
	}
}
