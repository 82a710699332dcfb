package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gogithub "github.com/google/go-github/v62/github"

	"github.com/airut-go/airut/internal/githubapp"
)

// defaultCacheEntries bounds the ETag cache: enough for a few hundred
// followed pull requests (a snapshot is about six URLs).
const defaultCacheEntries = 2048

// perPage is the page size asked for on every list endpoint (GitHub's max).
const perPage = 100

// Options configure a [Client].
type Options struct {
	// BaseURL is the REST API root: "" means https://api.github.com/; for
	// GitHub Enterprise Server, https://ghe.example.com/api/v3/. It is used
	// as given (a missing trailing slash is added).
	BaseURL string
	// Token is a personal access token or an installation token. At most
	// one of Token and App may be set; with neither, requests are
	// unauthenticated (public repositories, low rate limit).
	Token string
	// App authenticates as a GitHub App installation instead of Token.
	App *AppAuth
	// HTTPClient is the client whose Transport, Timeout, Jar and
	// CheckRedirect are used; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives debug logs of requests and token minting; nil means
	// slog.Default().
	Logger *slog.Logger
	// CacheEntries bounds how many responses the ETag cache keeps (least
	// recently used are dropped); 0 means 2048.
	CacheEntries int
}

// Client reads pull requests from GitHub. It is safe for concurrent use and
// meant to be long-lived (one per process and credentials), so that its ETag
// cache and installation token are reused.
type Client struct {
	gh    *gogithub.Client
	cache *etagCache
	log   *slog.Logger
	now   func() time.Time
}

// New makes a Client. It does not contact GitHub.
func New(opts Options) (*Client, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	base := opts.BaseURL
	if base == "" {
		base = "https://api.github.com/"
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("parse github base url %q: %w", opts.BaseURL, err)
	}
	if (baseURL.Scheme != "https" && baseURL.Scheme != "http") || baseURL.Host == "" {
		return nil, fmt.Errorf("parse github base url %q: want an http(s) URL with a host", opts.BaseURL)
	}
	if !strings.HasSuffix(baseURL.Path, "/") {
		baseURL.Path += "/"
	}
	if opts.Token != "" && opts.App != nil {
		return nil, errors.New("configure github client: set Token or App, not both")
	}
	entries := opts.CacheEntries
	if entries <= 0 {
		entries = defaultCacheEntries
	}

	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	transport := hc.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	newHTTPClient := func(rt http.RoundTripper) *http.Client {
		return &http.Client{Transport: rt, Timeout: hc.Timeout, Jar: hc.Jar, CheckRedirect: hc.CheckRedirect}
	}

	c := &Client{cache: newETagCache(entries), log: log, now: time.Now}

	var tokens tokenSource
	switch {
	case opts.Token != "":
		tokens = staticToken(opts.Token)
	case opts.App != nil:
		a := opts.App
		if a.AppID <= 0 || a.InstallationID <= 0 {
			return nil, errors.New("configure github app auth: AppID and InstallationID are required")
		}
		key, err := githubapp.ParseKey(a.PrivateKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("configure github app auth: read private key: %w", err)
		}
		// Minting goes straight to the transport: the JWT must not pass
		// through the ETag cache or the token-adding transport.
		src, err := githubapp.NewSource(githubapp.SourceConfig{
			BaseURL:        baseURL,
			HTTPClient:     newHTTPClient(transport),
			Issuer:         strconv.FormatInt(a.AppID, 10),
			Key:            key,
			InstallationID: a.InstallationID,
			Now:            c.now,
		})
		if err != nil {
			return nil, fmt.Errorf("configure github app auth: %w", err)
		}
		tokens = &installationTokens{src: src, installationID: a.InstallationID, now: c.now, log: log}
	}

	rt := http.RoundTripper(&authTransport{next: transport, host: baseURL.Host, tokens: tokens})
	rt = &etagTransport{next: rt, cache: c.cache, log: log}
	c.gh = gogithub.NewClient(newHTTPClient(rt))
	c.gh.BaseURL = baseURL
	return c, nil
}

// PRRef identifies a pull request and where its head was when last seen.
type PRRef struct {
	Owner, Repo string
	Number      int
	URL         string // html_url, for people
	HeadBranch  string
	HeadSHA     string
}

// FindPR returns the open pull request of owner/repo whose head is
// owner:branch, the most recently updated one if there are several, or nil
// if there is none. A branch given as "user:branch" (a fork's) is used as is.
func (c *Client) FindPR(ctx context.Context, owner, repo, branch string) (*PRRef, error) {
	if owner == "" || repo == "" || branch == "" {
		return nil, errors.New("find pull request: owner, repo and branch are required")
	}
	head := branch
	if !strings.Contains(branch, ":") {
		head = owner + ":" + branch
	}
	opts := &gogithub.PullRequestListOptions{
		State:       "open",
		Head:        head,
		Sort:        "updated",
		Direction:   "desc",
		ListOptions: gogithub.ListOptions{PerPage: perPage},
	}
	var best *gogithub.PullRequest
	for {
		prs, resp, err := c.gh.PullRequests.List(ctx, owner, repo, opts)
		if err != nil {
			return nil, fmt.Errorf("find pull request for %s/%s head %s: %w", owner, repo, head, asRateLimit(err, c.now()))
		}
		for _, pr := range prs {
			if best == nil || newer(pr, best) {
				best = pr
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if best == nil {
		c.log.DebugContext(ctx, "no open github pull request", "repo", owner+"/"+repo, "head", head)
		return nil, nil
	}
	ref := prRef(owner, repo, best)
	return &ref, nil
}

// newer says whether a was updated after b (by number when equal).
func newer(a, b *gogithub.PullRequest) bool {
	ta, tb := a.GetUpdatedAt().Time, b.GetUpdatedAt().Time
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.GetNumber() > b.GetNumber()
}

func prRef(owner, repo string, pr *gogithub.PullRequest) PRRef {
	return PRRef{
		Owner:      owner,
		Repo:       repo,
		Number:     pr.GetNumber(),
		URL:        pr.GetHTMLURL(),
		HeadBranch: pr.GetHead().GetRef(),
		HeadSHA:    pr.GetHead().GetSHA(),
	}
}
