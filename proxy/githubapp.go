package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/airut-go/airut/internal/githubapp"
	"github.com/airut-go/airut/proxy/graphql"
)

// appCredential is one GitHub App credential on the proxy: its token
// source (minting narrowed installation tokens, cached until shortly
// before they expire) and the repositories the current token covers, for
// GraphQL scoping.
type appCredential struct {
	cfg  GitHubApp
	base *url.URL
	hc   *http.Client
	// graphqlPath is where the API serves GraphQL: /graphql on
	// github.com, /api/graphql on GitHub Enterprise Server.
	graphqlPath string
	src         *githubapp.Source
	srcErr      error

	mu       sync.Mutex
	reposFor string // the token repos was read for
	repos    graphql.Repos
}

type appToken struct {
	token string
	repos graphql.Repos
}

func newAppCredential(c GitHubApp, hc *http.Client) *appCredential {
	a := &appCredential{cfg: c, hc: hc}
	base, err := url.Parse(c.BaseURL)
	if err != nil {
		a.srcErr = fmt.Errorf("base URL: %w", err)
		return a
	}
	a.base = base
	a.graphqlPath = "/graphql"
	if p := strings.TrimSuffix(base.Path, "/"); p != "" {
		// https://HOST/api/v3 serves GraphQL at https://HOST/api/graphql.
		a.graphqlPath = path.Join(path.Dir(p), "graphql")
	}
	key, err := githubapp.ParseKey([]byte(c.PrivateKey))
	if err != nil {
		// Reported on each use, as a refresh failure: the proxy still
		// starts, and the agent is told why its requests fail.
		a.srcErr = fmt.Errorf("the app's private key: %w", err)
		return a
	}
	a.src, a.srcErr = githubapp.NewSource(githubapp.SourceConfig{
		BaseURL: base, HTTPClient: hc, Issuer: c.Issuer, Key: key, InstallationID: c.InstallationID,
		Narrowing: githubapp.Narrowing{Permissions: c.Permissions, Repositories: c.Repositories},
	})
	return a
}

// isGraphQL reports whether out is a request to the API's GraphQL
// endpoint (the decoded path; a query string does not hide it).
func (a *appCredential) isGraphQL(out *http.Request) bool {
	return a.base != nil && strings.EqualFold(out.URL.Hostname(), a.base.Hostname()) &&
		strings.TrimSuffix(out.URL.Path, "/") == a.graphqlPath
}

// token is the current installation token and its repositories. A
// token's repositories come from the mint's answer when it was narrowed
// by repository, else from the installation's list; if that list cannot
// be read the set stays empty, so GraphQL scoping refuses rather than
// guesses.
func (a *appCredential) token(ctx context.Context) (appToken, bool, error) {
	if a.srcErr != nil {
		return appToken{}, false, a.srcErr
	}
	tok, refreshed, err := a.src.Token(ctx)
	if err != nil {
		return appToken{}, false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reposFor != tok.Token {
		list := tok.Repositories
		if len(list) == 0 {
			if all, err := githubapp.InstallationRepos(ctx, a.hc, a.base, tok.Token); err == nil {
				list = all
			}
		}
		a.repos = reposOf(list, a.cfg.Repositories)
		a.reposFor = tok.Token
	}
	return appToken{token: tok.Token, repos: a.repos}, refreshed, nil
}

// reposOf is the GraphQL scope of a token's repositories; names, when
// configured, keep only those repositories.
func reposOf(list []githubapp.Repo, names []string) graphql.Repos {
	r := graphql.Repos{FullNames: map[string]bool{}, NodeIDs: map[string]bool{}, DBIDs: map[int64]bool{}}
	keep := map[string]bool{}
	for _, n := range names {
		keep[strings.ToLower(n)] = true
	}
	for _, repo := range list {
		_, name, _ := strings.Cut(repo.FullName, "/")
		if len(keep) > 0 && !keep[strings.ToLower(name)] {
			continue
		}
		r.FullNames[strings.ToLower(repo.FullName)] = true
		if repo.NodeID != "" {
			r.NodeIDs[repo.NodeID] = true
		}
		if repo.ID != 0 {
			r.DBIDs[repo.ID] = true
		}
	}
	return r
}
