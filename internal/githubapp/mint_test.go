package githubapp_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/githubapp"
	"github.com/airut-go/airut/internal/testing/githubtest"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// seen is what a scripted server received.
type seen struct {
	method, path, query string
	header              http.Header
	body                string
}

// scripted starts a server that records each request and answers with
// answer.
func scripted(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []seen) {
	t.Helper()
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

func TestMintRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     string // appended to the server's URL
		n        githubapp.Narrowing
		wantPath string
		wantBody string
	}{
		{name: "github.com, not narrowed", base: "/", wantPath: "/app/installations/42/access_tokens", wantBody: `{}`},
		{name: "enterprise", base: "/api/v3/", wantPath: "/api/v3/app/installations/42/access_tokens", wantBody: `{}`},
		{name: "enterprise without trailing slash", base: "/api/v3", wantPath: "/api/v3/app/installations/42/access_tokens", wantBody: `{}`},
		{
			name: "narrowed; permission names go through as given",
			base: "/",
			n: githubapp.Narrowing{
				Permissions:  map[string]string{"contents": "write", "a_permission_from_the_future": "read"},
				Repositories: []string{"widgets", "gadgets"},
			},
			wantPath: "/app/installations/42/access_tokens",
			wantBody: `{"permissions":{"a_permission_from_the_future":"read","contents":"write"},"repositories":["widgets","gadgets"]}`,
		},
		{
			name:     "permissions only",
			base:     "/",
			n:        githubapp.Narrowing{Permissions: map[string]string{"contents": "read"}},
			wantPath: "/app/installations/42/access_tokens",
			wantBody: `{"permissions":{"contents":"read"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, got := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"token":"ghs_abc","expires_at":"2025-06-01T13:00:00Z",
					"permissions":{"contents":"write"},"repository_selection":"selected",
					"repositories":[{"id":700000001,"node_id":"R_kgDOKbsnAQ","name":"widgets","full_name":"acme/widgets","private":true}]}`)
			})
			tok, err := githubapp.Mint(context.Background(), srv.Client(), mustURL(t, srv.URL+tt.base), 42, "the.jwt", tt.n)
			require.NoError(t, err)
			assert.Equal(t, githubapp.Token{
				Token:               "ghs_abc",
				ExpiresAt:           time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC),
				Permissions:         map[string]string{"contents": "write"},
				Repositories:        []githubapp.Repo{{ID: 700000001, NodeID: "R_kgDOKbsnAQ", FullName: "acme/widgets"}},
				RepositorySelection: "selected",
			}, tok)

			reqs := got()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.method)
			assert.Equal(t, tt.wantPath, r.path)
			assert.Equal(t, "Bearer the.jwt", r.header.Get("Authorization"))
			assert.Equal(t, "application/vnd.github+json", r.header.Get("Accept"))
			assert.Equal(t, "2022-11-28", r.header.Get("X-GitHub-Api-Version"))
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.JSONEq(t, tt.wantBody, r.body)
		})
	}
}

func TestMintAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int    // of the *githubapp.Error; 0: not one
		wantErr    string // the whole text
	}{
		{
			name: "unknown installation", status: 404, body: `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`,
			wantStatus: 404,
			wantErr:    "GitHub refused to mint an installation token for installation 5: Not Found (HTTP 404); check that installation 5 exists and belongs to this app (the app may have been uninstalled)",
		},
		{
			name: "bad JWT", status: 401, body: `{"message":"A JSON web token could not be decoded"}`,
			wantStatus: 401,
			wantErr:    "GitHub refused to mint an installation token for installation 5: A JSON web token could not be decoded (HTTP 401); check the app ID or client ID, that the private key is the app's current one, and this machine's clock",
		},
		{
			name: "a proxy's error page", status: 502, body: `<html>bad gateway</html>`,
			wantStatus: 502,
			wantErr:    "GitHub refused to mint an installation token for installation 5: Bad Gateway (HTTP 502)",
		},
		{name: "no token", status: 201, body: `{"token":"","expires_at":"2025-06-01T13:00:00Z"}`, wantErr: "mint installation token for installation 5: empty token in answer"},
		{name: "not JSON", status: 201, body: `{`, wantErr: "mint installation token for installation 5: read answer: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-RateLimit-Remaining", "4999")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := githubapp.Mint(context.Background(), srv.Client(), mustURL(t, srv.URL), 5, "jwt", githubapp.Narrowing{})
			require.Error(t, err)
			assert.Equal(t, tt.wantErr, err.Error())
			var refused *githubapp.Error
			if tt.wantStatus == 0 {
				assert.False(t, errors.As(err, &refused))
				return
			}
			require.True(t, errors.As(err, &refused))
			assert.Equal(t, tt.wantStatus, refused.StatusCode)
			assert.Equal(t, int64(5), refused.InstallationID)
			assert.Equal(t, "4999", refused.Header.Get("X-RateLimit-Remaining"), "headers kept for rate-limit handling")
		})
	}

	t.Run("GitHub unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		base := mustURL(t, srv.URL)
		srv.Close()
		_, err := githubapp.Mint(context.Background(), nil, base, 5, "jwt", githubapp.Narrowing{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "mint installation token for installation 5: Post ")
	})
}

// app is a fake GitHub with an app (ID 7, client ID Iv23liTEST) installed
// as installation 70 on acme/widgets and acme/gadgets, and acme/secret in
// another installation.
type app struct {
	gh  *githubtest.Server
	key []byte
	ids map[string]githubapp.Repo // by full name
}

func newApp(t *testing.T) app {
	t.Helper()
	gh := githubtest.NewServer(t)
	a := app{gh: gh, key: gh.AddAppWithClientID(7, 70, "Iv23liTEST"), ids: map[string]githubapp.Repo{}}
	for _, r := range []struct {
		inst        int64
		owner, name string
	}{{70, "acme", "widgets"}, {70, "acme", "gadgets"}, {71, "acme", "secret"}} {
		id, node := gh.AddInstallationRepo(r.inst, r.owner, r.name)
		a.ids[r.owner+"/"+r.name] = githubapp.Repo{ID: id, NodeID: node, FullName: r.owner + "/" + r.name}
	}
	return a
}

func TestMintAgainstFakeGitHub(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	key, err := githubapp.ParseKey(a.key)
	require.NoError(t, err)
	other := githubtest.NewServer(t).AddApp(7, 70)
	block, _ := pem.Decode(other)
	foreignKey, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	installationPerms := map[string]string{"checks": "read", "contents": "write", "metadata": "read", "pull_requests": "write", "statuses": "read"}

	tests := []struct {
		name         string
		issuer       string
		foreignKey   bool
		installation int64
		n            githubapp.Narrowing
		wantPerms    map[string]string
		wantRepos    []string
		wantStatus   int // 0: minted
		wantMessage  string
	}{
		{name: "whole installation, app ID", issuer: "7", installation: 70, wantPerms: installationPerms},
		{name: "whole installation, client ID", issuer: "Iv23liTEST", installation: 70, wantPerms: installationPerms},
		{
			name: "narrowed", issuer: "Iv23liTEST", installation: 70,
			n:         githubapp.Narrowing{Permissions: map[string]string{"contents": "read", "metadata": "read"}, Repositories: []string{"widgets"}},
			wantPerms: map[string]string{"contents": "read", "metadata": "read"},
			wantRepos: []string{"acme/widgets"},
		},
		{
			name: "repository names ignore case", issuer: "7", installation: 70,
			n:         githubapp.Narrowing{Repositories: []string{"Gadgets", "widgets"}},
			wantPerms: installationPerms,
			wantRepos: []string{"acme/gadgets", "acme/widgets"},
		},
		{
			name: "repository of another installation", issuer: "7", installation: 70,
			n:           githubapp.Narrowing{Repositories: []string{"widgets", "secret"}},
			wantStatus:  422,
			wantMessage: "There is at least one repository that does not exist or is not accessible to the parent installation.",
		},
		{
			name: "wider permission", issuer: "7", installation: 70,
			n:           githubapp.Narrowing{Permissions: map[string]string{"contents": "admin"}},
			wantStatus:  422,
			wantMessage: "The permissions requested are not granted to this installation.",
		},
		{
			name: "permission the installation lacks", issuer: "7", installation: 70,
			n:           githubapp.Narrowing{Permissions: map[string]string{"issues": "read"}},
			wantStatus:  422,
			wantMessage: "The permissions requested are not granted to this installation.",
		},
		{name: "unknown installation", issuer: "7", installation: 99, wantStatus: 404, wantMessage: "Not Found"},
		{name: "installation of another app", issuer: "7", installation: 71, wantStatus: 404, wantMessage: "Not Found"},
		{name: "key of another app", issuer: "7", installation: 70, foreignKey: true, wantStatus: 401, wantMessage: "A JSON web token could not be decoded"},
		{name: "unknown client ID", issuer: "Iv23liNOPE", installation: 70, wantStatus: 401, wantMessage: "Integration not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := key
			if tt.foreignKey {
				k = foreignKey
			}
			jwt, err := githubapp.SignJWT(k, tt.issuer, time.Now())
			require.NoError(t, err)
			tok, err := githubapp.Mint(context.Background(), a.gh.Client(), mustURL(t, a.gh.URL()), tt.installation, jwt, tt.n)
			if tt.wantStatus != 0 {
				var refused *githubapp.Error
				require.True(t, errors.As(err, &refused), "got %v", err)
				assert.Equal(t, tt.wantStatus, refused.StatusCode)
				assert.Equal(t, tt.wantMessage, refused.Message)
				assert.Contains(t, err.Error(), "GitHub refused to mint an installation token for installation ")
				return
			}
			require.NoError(t, err)
			assert.Regexp(t, `^ghs_[A-Za-z0-9]{36}$`, tok.Token)
			assert.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresAt, 5*time.Second)
			assert.Equal(t, tt.wantPerms, tok.Permissions)
			assert.Equal(t, "selected", tok.RepositorySelection)
			var want []githubapp.Repo
			for _, full := range tt.wantRepos {
				want = append(want, a.ids[full])
			}
			assert.Equal(t, want, tok.Repositories, "GitHub lists the repositories of a token narrowed by repository")

			var minted *githubtest.MintedToken
			for _, m := range a.gh.Minted() {
				if m.Token == tok.Token {
					minted = &m
				}
			}
			require.NotNil(t, minted)
			assert.Equal(t, tt.wantPerms, minted.Permissions)
			assert.Equal(t, int64(70), minted.InstallationID)
			if tt.wantRepos != nil {
				assert.Equal(t, tt.wantRepos, minted.Repositories)
			} else {
				assert.Equal(t, []string{"acme/widgets", "acme/gadgets"}, minted.Repositories)
			}
		})
	}
}

func TestInstallationRepos(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		enterprise bool
		n          githubapp.Narrowing
		token      string // "" means mint one with n
		want       []string
		wantPages  int
		wantStatus int
	}{
		{name: "whole installation, three pages", want: []string{"acme/a", "acme/b", "acme/c", "acme/d", "acme/e"}, wantPages: 3},
		{name: "narrowed, two pages", enterprise: true, n: githubapp.Narrowing{Repositories: []string{"e", "b", "c"}}, want: []string{"acme/e", "acme/b", "acme/c"}, wantPages: 2},
		{name: "narrowed, one page", n: githubapp.Narrowing{Repositories: []string{"d"}}, want: []string{"acme/d"}, wantPages: 1},
		{name: "bad token", token: "ghs_000000000000000000000000000000000000", wantStatus: 401},
	}
	// One fake for all (an app key takes a while to make); in turn, so
	// that each case counts only its own requests.
	gh := githubtest.NewServer(t)
	gh.SetPerPageLimit(2)
	pemKey := gh.AddApp(7, 70)
	ids := map[string]githubapp.Repo{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		id, node := gh.AddInstallationRepo(70, "acme", name)
		ids["acme/"+name] = githubapp.Repo{ID: id, NodeID: node, FullName: "acme/" + name}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := mustURL(t, gh.URL())
			if tt.enterprise {
				base = mustURL(t, gh.EnterpriseURL())
			}
			tok := tt.token
			if tok == "" {
				key, err := githubapp.ParseKey(pemKey)
				require.NoError(t, err)
				jwt, err := githubapp.SignJWT(key, "7", time.Now())
				require.NoError(t, err)
				minted, err := githubapp.Mint(context.Background(), gh.Client(), base, 70, jwt, tt.n)
				require.NoError(t, err)
				tok = minted.Token
			}
			before := len(gh.Requests())

			repos, err := githubapp.InstallationRepos(context.Background(), gh.Client(), base, tok)
			if tt.wantStatus != 0 {
				var refused *githubapp.Error
				require.True(t, errors.As(err, &refused), "got %v", err)
				assert.Equal(t, tt.wantStatus, refused.StatusCode)
				assert.Equal(t, "GitHub refused to list the repositories of an installation token: Bad credentials (HTTP 401)", err.Error())
				return
			}
			require.NoError(t, err)
			var want []githubapp.Repo
			for _, full := range tt.want {
				want = append(want, ids[full])
			}
			assert.Equal(t, want, repos)
			reqs := gh.Requests()[before:]
			require.Len(t, reqs, tt.wantPages)
			for i, r := range reqs {
				assert.Equal(t, base.JoinPath("installation", "repositories").Path, r.Path)
				assert.Equal(t, url.Values{"page": {strconv.Itoa(i + 1)}, "per_page": {"100"}}.Encode(), r.Query)
				assert.Equal(t, "Bearer "+tok, r.Authorization)
			}
		})
	}
}
