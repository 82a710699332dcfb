package githubapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// apiVersion is the REST API version asked for; the answers' shapes
	// below are that version's.
	apiVersion = "2022-11-28"
	// maxAnswer bounds a successful answer read into memory: a token
	// narrowed to many repositories carries a full object for each.
	maxAnswer = 16 << 20
	// maxErrorBody bounds the part of a refusal read for its message.
	maxErrorBody = 64 << 10
	// maxRepoPages stops InstallationRepos from following a server that
	// never ends (100 repositories a page: far more than any installation).
	maxRepoPages = 1000
	userAgent    = "airut-githubapp"
)

// Narrowing restricts a minted token to less than the installation can do.
// The zero value asks for everything the installation has.
type Narrowing struct {
	// Permissions maps GitHub permission names ("contents", "pull_requests",
	// …) to "read", "write" or "admin". Names are sent as given, so that
	// new ones work without a change here; GitHub refuses (422) any the
	// installation was not granted, or at a higher level.
	Permissions map[string]string
	// Repositories are repository names (without the owner) in the
	// installation's account; GitHub refuses (422) any the installation
	// cannot reach.
	Repositories []string
}

func (n Narrowing) empty() bool { return len(n.Permissions) == 0 && len(n.Repositories) == 0 }

// clone copies n so that later changes by the caller do not reach a Source.
func (n Narrowing) clone() Narrowing {
	return Narrowing{Permissions: maps.Clone(n.Permissions), Repositories: slices.Clone(n.Repositories)}
}

// Repo is a repository as GitHub names it in token and installation answers.
type Repo struct {
	ID       int64  `json:"id"`
	NodeID   string `json:"node_id"`
	FullName string `json:"full_name"` // "owner/name"
}

// Token is a minted installation token and what GitHub says it may do.
type Token struct {
	Token     string
	ExpiresAt time.Time
	// Permissions are those granted to the token: the narrowing's, or all
	// of the installation's.
	Permissions map[string]string
	// Repositories are those the token was narrowed to; GitHub lists none
	// for a token not narrowed by repository.
	Repositories []Repo
	// RepositorySelection is "all" or "selected", as GitHub answers.
	RepositorySelection string
}

// clone copies t so that callers cannot change a cached token.
func (t Token) clone() Token {
	t.Permissions = maps.Clone(t.Permissions)
	t.Repositories = slices.Clone(t.Repositories)
	return t
}

// Error is GitHub's refusal of a request: the HTTP status and the message
// GitHub gave. Its text says what was asked, why it was refused and, where
// the cause is usually on our side, what to check.
type Error struct {
	// Action is what was asked, in words: "mint an installation token for
	// installation 42".
	Action string
	// InstallationID is the installation a mint was for; 0 otherwise.
	InstallationID int64
	StatusCode     int
	// Message is GitHub's "message", or the status text when the answer
	// had none (a proxy's error page, say).
	Message          string
	DocumentationURL string
	// Header holds the answer's headers, for callers that read the rate
	// limit ones (Retry-After, X-RateLimit-Remaining, X-RateLimit-Reset).
	Header http.Header

	hint string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("GitHub refused to %s: %s (HTTP %d)", e.Action, e.Message, e.StatusCode)
	if e.hint != "" {
		s += "; " + e.hint
	}
	return s
}

// mintHint says what to check after GitHub refused to mint, for the
// refusals whose cause is usually configuration.
func mintHint(status int, installationID int64, n Narrowing) string {
	switch status {
	case http.StatusUnauthorized:
		return "check the app ID or client ID, that the private key is the app's current one, and this machine's clock"
	case http.StatusNotFound:
		return fmt.Sprintf("check that installation %d exists and belongs to this app (the app may have been uninstalled)", installationID)
	case http.StatusUnprocessableEntity:
		if !n.empty() {
			return "check that every repository is one the installation can reach and every permission one the app was granted, at no higher level"
		}
	}
	return ""
}

// Mint asks GitHub for an installation token, narrowed by n, with the app
// JWT jwt (see [SignJWT]). baseURL is the REST API root
// (https://api.github.com/, or https://HOST/api/v3/ for GitHub Enterprise
// Server); hc nil means http.DefaultClient. A refusal is an [*Error].
func Mint(ctx context.Context, hc *http.Client, baseURL *url.URL, installationID int64, jwt string, n Narrowing) (Token, error) {
	if baseURL == nil {
		return Token{}, fmt.Errorf("mint installation token for installation %d: no API base URL", installationID)
	}
	if installationID <= 0 {
		return Token{}, fmt.Errorf("mint installation token: invalid installation ID %d", installationID)
	}
	// Raw JSON rather than go-github's typed options, which drop
	// permission names they do not know and so would widen the token.
	body := []byte("{}")
	if !n.empty() {
		var err error
		body, err = json.Marshal(struct {
			Permissions  map[string]string `json:"permissions,omitempty"`
			Repositories []string          `json:"repositories,omitempty"`
		}{n.Permissions, n.Repositories})
		if err != nil {
			return Token{}, fmt.Errorf("mint installation token for installation %d: encode request: %w", installationID, err)
		}
	}
	u := baseURL.JoinPath("app", "installations", strconv.FormatInt(installationID, 10), "access_tokens")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Token{}, fmt.Errorf("mint installation token for installation %d: %w", installationID, err)
	}
	setHeaders(req, jwt)
	req.Header.Set("Content-Type", "application/json")

	resp, err := client(hc).Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("mint installation token for installation %d: %w", installationID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e := refusal(resp, fmt.Sprintf("mint an installation token for installation %d", installationID))
		e.InstallationID = installationID
		e.hint = mintHint(resp.StatusCode, installationID, n)
		return Token{}, e
	}
	var answer struct {
		Token               string            `json:"token"`
		ExpiresAt           time.Time         `json:"expires_at"`
		Permissions         map[string]string `json:"permissions"`
		Repositories        []Repo            `json:"repositories"`
		RepositorySelection string            `json:"repository_selection"`
	}
	if err := decode(resp.Body, &answer); err != nil {
		return Token{}, fmt.Errorf("mint installation token for installation %d: read answer: %w", installationID, err)
	}
	if answer.Token == "" {
		return Token{}, fmt.Errorf("mint installation token for installation %d: empty token in answer", installationID)
	}
	return Token{
		Token:               answer.Token,
		ExpiresAt:           answer.ExpiresAt,
		Permissions:         answer.Permissions,
		Repositories:        answer.Repositories,
		RepositorySelection: answer.RepositorySelection,
	}, nil
}

// InstallationRepos lists the repositories the installation token token can
// reach (GET /installation/repositories, all pages). baseURL and hc are as
// for [Mint]. A refusal is an [*Error].
func InstallationRepos(ctx context.Context, hc *http.Client, baseURL *url.URL, token string) ([]Repo, error) {
	if baseURL == nil {
		return nil, errors.New("list installation repositories: no API base URL")
	}
	var all []Repo
	for page := 1; ; page++ {
		if page > maxRepoPages {
			return nil, fmt.Errorf("list installation repositories: more than %d pages", maxRepoPages)
		}
		u := baseURL.JoinPath("installation", "repositories")
		u.RawQuery = url.Values{"per_page": {"100"}, "page": {strconv.Itoa(page)}}.Encode()
		repos, next, err := reposPage(ctx, hc, u, token)
		if err != nil {
			return nil, err
		}
		all = append(all, repos...)
		if !next || len(repos) == 0 {
			return all, nil
		}
	}
}

// reposPage fetches one page of GET /installation/repositories and says
// whether the Link header names a next one.
func reposPage(ctx context.Context, hc *http.Client, u *url.URL, token string) ([]Repo, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("list installation repositories: %w", err)
	}
	setHeaders(req, token)
	resp, err := client(hc).Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("list installation repositories: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false, refusal(resp, "list the repositories of an installation token")
	}
	var answer struct {
		Repositories []Repo `json:"repositories"`
	}
	if err := decode(resp.Body, &answer); err != nil {
		return nil, false, fmt.Errorf("list installation repositories: read page: %w", err)
	}
	return answer.Repositories, hasNext(resp.Header.Get("Link")), nil
}

func client(hc *http.Client) *http.Client {
	if hc == nil {
		return http.DefaultClient
	}
	return hc
}

func setHeaders(req *http.Request, bearer string) {
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", "Bearer "+bearer)
}

func decode(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, maxAnswer+1))
	if err != nil {
		return err
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	return json.Unmarshal(b, v)
}

// refusal reads GitHub's error answer into an *Error.
func refusal(resp *http.Response, action string) *Error {
	e := &Error{Action: action, StatusCode: resp.StatusCode, Header: resp.Header.Clone()}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Message          string `json:"message"`
		DocumentationURL string `json:"documentation_url"`
	}
	if json.Unmarshal(b, &body) == nil && body.Message != "" {
		e.Message, e.DocumentationURL = body.Message, body.DocumentationURL
		return e
	}
	e.Message = http.StatusText(resp.StatusCode)
	if e.Message == "" {
		e.Message = "no message"
	}
	return e
}

// hasNext says whether a Link header has a rel="next" link.
func hasNext(link string) bool {
	for _, part := range strings.Split(link, ",") {
		for _, param := range strings.Split(part, ";")[1:] {
			if strings.TrimSpace(param) == `rel="next"` {
				return true
			}
		}
	}
	return false
}
