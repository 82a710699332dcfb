package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// PR is what a test says about a pull request when adding it.
type PR struct {
	HeadBranch string
	HeadSHA    string
	// HeadOwner is the owner of the head repository; "" means the base
	// repository's owner (a branch in the same repository, not a fork).
	HeadOwner  string
	BaseBranch string // "" means "main"
	Title      string
	Body       string
	User       string // author login; "" means "octocat"
	State      string // "open" (or "") or "closed"
	Draft      bool
	Merged     bool // implies State "closed"
	Mergeable  *bool
	// MergeableState is GitHub's mergeable_state: clean, dirty, blocked,
	// unstable, behind, draft, unknown, has_hooks. "" means "unknown" when
	// Mergeable is nil and "clean" or "dirty" otherwise.
	MergeableState string
	// UpdatedAt overrides the logical clock for updated_at (and created_at)
	// when not zero.
	UpdatedAt time.Time
}

// Check is a check run as a test sets it on a commit.
type Check struct {
	Name       string
	Status     string // queued, in_progress or completed ("" means queued)
	Conclusion string // when completed: success, failure, neutral, cancelled, skipped, timed_out, action_required, stale
	Title      string // output.title
	Summary    string // output.summary
	DetailsURL string // "" means a URL on the server
	App        string // app slug; "" means "github-actions"
}

// RecordedRequest is one request the server answered.
type RecordedRequest struct {
	Method        string
	Path          string // as sent, including any /api/v3 prefix
	Query         string // raw query, without "?"
	IfNoneMatch   string
	Authorization string
	Status        int // status code answered
}

// Server is a fake GitHub REST API. Create it with [NewServer]; it is closed
// when the test ends.
type Server struct {
	t  testing.TB
	ts *httptest.Server

	mu       sync.Mutex
	clock    time.Time
	nextID   int64
	repos    map[string]*repoState // key: lower-case "owner/repo"
	userIDs  map[string]int64
	requests []RecordedRequest

	perPageLimit int

	rateLimit     int
	rateUsed      int
	rateReset     time.Time
	primaryLeft   int
	primaryReset  time.Time
	secondaryLeft int
	secondaryCode int
	secondaryWait time.Duration

	authRequired bool
	tokens       map[string]bool         // accepted static tokens
	minted       map[string]*mintedToken // installation token -> what it may do
	mintOrder    []*mintedToken          // in minting order, for Minted
	apps         map[int64]*fakeApp      // app ID -> app
	installs     map[int64]*installation // installation ID -> installation
	tokenTTL     time.Duration
	nextRepoID   int64
	gitRepos     map[string]string // lower-case "owner/repo" -> bare repository directory
	gitPath      string            // the git binary, found by ServeGitRepo
}

type fakeApp struct {
	id       int64
	clientID string // "" when the app is known by ID only
	key      *rsa.PublicKey
}

// installation is one installation of an app on an account.
type installation struct {
	id    int64
	appID int64 // 0 until an app is added for it
	// repos are the repositories chosen for the installation, in the order
	// added; none means "All repositories": every repository the server
	// knows.
	repos       []*repoState
	permissions map[string]string
}

// mintedToken is an installation token the server handed out.
type mintedToken struct {
	token          string
	installationID int64
	expires        time.Time
	// repos are those the token covers; nil means every repository.
	repos []*repoState
	// narrowed: the mint named repositories, so the answer lists them.
	narrowed    bool
	permissions map[string]string
}

// covers says whether the token may see r.
func (m *mintedToken) covers(r *repoState) bool {
	return m.repos == nil || slices.Contains(m.repos, r)
}

// MintedToken is an installation token the server minted, for assertions.
type MintedToken struct {
	Token          string
	InstallationID int64
	// Repositories are the full names ("owner/repo") of the repositories
	// the token covers; nil means every repository the server knows (an
	// installation on all repositories, not narrowed).
	Repositories []string
	Permissions  map[string]string
	ExpiresAt    time.Time
}

// defaultInstallationPermissions are what an installation may do unless a
// test says otherwise ([Server.SetInstallationPermissions]): what the pull
// request loop and a sandboxed agent need.
func defaultInstallationPermissions() map[string]string {
	return map[string]string{
		"checks": "read", "contents": "write", "metadata": "read",
		"pull_requests": "write", "statuses": "read",
	}
}

type repoState struct {
	id         int64 // from a range of its own, so that node IDs look like GitHub's
	owner      string
	name       string
	nextNumber int
	prs        map[int]*prState
	checks     map[string][]*checkRun     // sha -> runs, in creation order
	statuses   map[string][]*commitStatus // sha -> statuses, in creation order
}

type prState struct {
	id             int64
	number         int
	title, body    string
	user           string
	headOwner      string
	headBranch     string
	headSHA        string
	baseBranch     string
	state          string
	draft          bool
	merged         bool
	mergeable      *bool
	mergeableState string
	mergeCommitSHA string
	createdAt      time.Time
	updatedAt      time.Time
	closedAt       time.Time
	mergedAt       time.Time
	reviews        []*review
	reviewComments []*reviewComment
	issueComments  []*issueComment
}

type checkRun struct {
	id          int64
	sha         string
	c           Check
	startedAt   time.Time
	completedAt time.Time
}

type commitStatus struct {
	id        int64
	context   string
	state     string
	createdAt time.Time
	updatedAt time.Time
}

type review struct {
	id          int64
	user        string
	state       string
	body        string
	commitID    string
	submittedAt time.Time
}

type reviewComment struct {
	id        int64
	user      string
	path      string
	line      int
	body      string
	commitID  string
	createdAt time.Time
}

type issueComment struct {
	id        int64
	user      string
	body      string
	createdAt time.Time
}

// NewServer starts a fake GitHub on 127.0.0.1 and closes it when the test
// ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		clock:     time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		nextID:    1000,
		repos:     map[string]*repoState{},
		userIDs:   map[string]int64{},
		rateLimit: 5000,
		rateReset: time.Now().Add(time.Hour).Truncate(time.Second),
		tokens:    map[string]bool{},
		minted:    map[string]*mintedToken{},
		apps:      map[int64]*fakeApp{},
		installs:  map[int64]*installation{},
		tokenTTL:  time.Hour,
		// Repository IDs of today's GitHub are in the hundreds of millions,
		// which is what makes their node IDs start "R_kgDO".
		nextRepoID: 700_000_000,
		gitRepos:   map[string]string{},
	}
	s.ts = httptest.NewServer(s.Handler())
	t.Cleanup(s.ts.Close)
	return s
}

// Handler is the server's handler, for a test that serves the fake on a
// listener of its own (another network namespace, its own TLS
// certificate). Links in answers use the Host the request was sent to, and
// https when it came over TLS.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// URL is the github.com-style API base URL, with a trailing slash.
func (s *Server) URL() string { return s.ts.URL + "/" }

// EnterpriseURL is the GitHub Enterprise Server-style API base URL
// (…/api/v3/), with a trailing slash.
func (s *Server) EnterpriseURL() string { return s.ts.URL + "/api/v3/" }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// SetPerPageLimit caps per_page at n (GitHub's own cap is 100) so that tests
// can force pagination with little data. n <= 0 removes the cap.
func (s *Server) SetPerPageLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perPageLimit = n
}

// AddPR adds a pull request to owner/repo (created if new) and returns its
// number.
func (s *Server) AddPR(owner, repo string, pr PR) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(owner, repo)
	r.nextNumber++
	now := s.tick()
	if !pr.UpdatedAt.IsZero() {
		now = pr.UpdatedAt.UTC()
	}
	p := &prState{
		id:             s.newID(),
		number:         r.nextNumber,
		title:          pr.Title,
		body:           pr.Body,
		user:           defaultString(pr.User, "octocat"),
		headOwner:      defaultString(pr.HeadOwner, owner),
		headBranch:     pr.HeadBranch,
		headSHA:        pr.HeadSHA,
		baseBranch:     defaultString(pr.BaseBranch, "main"),
		state:          defaultString(pr.State, "open"),
		draft:          pr.Draft,
		merged:         pr.Merged,
		mergeable:      pr.Mergeable,
		mergeableState: pr.MergeableState,
		createdAt:      now,
		updatedAt:      now,
	}
	if p.title == "" {
		p.title = "Change " + pr.HeadBranch
	}
	if p.merged {
		p.state = "closed"
		p.mergedAt = now
		p.mergeCommitSHA = fakeSHA(p.id)
	}
	if p.state == "closed" {
		p.closedAt = now
	}
	r.prs[p.number] = p
	return p.number
}

// SetMergeable sets the PR's mergeable and mergeable_state fields.
func (s *Server) SetMergeable(owner, repo string, n int, mergeable *bool, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pr(owner, repo, n); p != nil {
		p.mergeable = mergeable
		p.mergeableState = state
		p.updatedAt = s.tick()
	}
}

// SetCheck adds a check run on sha, or updates the one with the same name
// (GitHub's filter=latest view).
func (s *Server) SetCheck(owner, repo, sha string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(owner, repo)
	now := s.tick()
	if c.Status == "" {
		c.Status = "queued"
	}
	if c.Status != "completed" {
		c.Conclusion = ""
	}
	for _, run := range r.checks[sha] {
		if run.c.Name == c.Name {
			run.c = c
			if c.Status != "queued" && run.startedAt.IsZero() {
				run.startedAt = now
			}
			if c.Status == "completed" {
				run.completedAt = now
			} else {
				run.completedAt = time.Time{}
			}
			return
		}
	}
	run := &checkRun{id: s.newID(), sha: sha, c: c, startedAt: now}
	if c.Status == "completed" {
		run.completedAt = now
	}
	r.checks[sha] = append(r.checks[sha], run)
}

// SetStatus sets the commit status of context on sha (state: pending,
// success, failure or error), replacing an earlier one of the same context.
func (s *Server) SetStatus(owner, repo, sha, context, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch state {
	case "pending", "success", "failure", "error":
	default:
		s.t.Errorf("githubtest: SetStatus: invalid state %q", state)
		return
	}
	r := s.repo(owner, repo)
	now := s.tick()
	for _, st := range r.statuses[sha] {
		if st.context == context {
			st.state = state
			st.updatedAt = now
			return
		}
	}
	r.statuses[sha] = append(r.statuses[sha], &commitStatus{
		id: s.newID(), context: context, state: state, createdAt: now, updatedAt: now,
	})
}

// AddReview submits a review on PR n (state: APPROVED, CHANGES_REQUESTED,
// COMMENTED, DISMISSED or PENDING) and returns its ID.
func (s *Server) AddReview(owner, repo string, n int, user, state, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	state = strings.ToUpper(state)
	switch state {
	case "APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING":
	default:
		s.t.Errorf("githubtest: AddReview: invalid state %q", state)
		return 0
	}
	p := s.pr(owner, repo, n)
	if p == nil {
		return 0
	}
	rv := &review{id: s.newID(), user: user, state: state, body: body, commitID: p.headSHA}
	if state != "PENDING" {
		rv.submittedAt = s.tick()
		p.updatedAt = rv.submittedAt
	}
	p.reviews = append(p.reviews, rv)
	return rv.id
}

// AddReviewComment adds an inline review comment on path:line of PR n and
// returns its ID.
func (s *Server) AddReviewComment(owner, repo string, n int, user, path string, line int, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pr(owner, repo, n)
	if p == nil {
		return 0
	}
	c := &reviewComment{
		id: s.newID(), user: user, path: path, line: line, body: body,
		commitID: p.headSHA, createdAt: s.tick(),
	}
	p.updatedAt = c.createdAt
	p.reviewComments = append(p.reviewComments, c)
	return c.id
}

// AddIssueComment adds a conversation comment to PR n and returns its ID.
func (s *Server) AddIssueComment(owner, repo string, n int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pr(owner, repo, n)
	if p == nil {
		return 0
	}
	c := &issueComment{id: s.newID(), user: user, body: body, createdAt: s.tick()}
	p.updatedAt = c.createdAt
	p.issueComments = append(p.issueComments, c)
	return c.id
}

// Merge merges PR n: state closed, merged true, merged_at set.
func (s *Server) Merge(owner, repo string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pr(owner, repo, n); p != nil {
		now := s.tick()
		p.state, p.merged = "closed", true
		p.mergedAt, p.closedAt, p.updatedAt = now, now, now
		p.mergeCommitSHA = fakeSHA(s.newID())
	}
}

// Close closes PR n without merging it.
func (s *Server) Close(owner, repo string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pr(owner, repo, n); p != nil {
		now := s.tick()
		p.state = "closed"
		p.closedAt, p.updatedAt = now, now
	}
}

// PushHead moves PR n's head to sha, as a push to its branch does.
func (s *Server) PushHead(owner, repo string, n int, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pr(owner, repo, n); p != nil {
		p.headSHA = sha
		p.updatedAt = s.tick()
	}
}

// RateLimitNext makes the next n requests fail with GitHub's primary rate
// limit answer: 403, X-RateLimit-Remaining: 0, X-RateLimit-Reset: reset.
func (s *Server) RateLimitNext(n int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.primaryLeft, s.primaryReset = n, reset
}

// SecondaryRateLimitNext makes the next n requests fail with GitHub's
// secondary rate limit answer: status (403 or 429), Retry-After in whole
// seconds and the secondary-rate-limits documentation_url.
func (s *Server) SecondaryRateLimitNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondaryLeft, s.secondaryCode, s.secondaryWait = n, status, retryAfter
}

// RequireToken makes every API request need "Authorization: Bearer token"
// (or "token token"); others get 401. It may be called several times to
// accept several tokens. Installation tokens minted by the server are
// accepted too.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authRequired = true
	s.tokens[token] = true
}

// AddApp registers a GitHub App with one installation, turns on
// authentication (as [Server.RequireToken] does) and returns the app's
// private key as PKCS #1 PEM, the format GitHub hands out. The app's JWTs
// must name it by ID (iss); see [Server.AddAppWithClientID] for client IDs.
//
// The installation is on all repositories the server knows until
// [Server.AddInstallationRepo] chooses some, and has the permissions
// checks, statuses and metadata read, contents and pull_requests write
// until [Server.SetInstallationPermissions] says otherwise. Adding an app
// again replaces its key.
func (s *Server) AddApp(appID, installationID int64) []byte {
	s.t.Helper()
	return s.AddAppWithClientID(appID, installationID, "")
}

// AddAppWithClientID is [Server.AddApp] for an app that also has a client
// ID ("Iv23li…"), which GitHub accepts as the JWT's iss in place of the app
// ID (and recommends).
func (s *Server) AddAppWithClientID(appID, installationID int64, clientID string) []byte {
	s.t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("githubtest: generate app key: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authRequired = true
	s.apps[appID] = &fakeApp{id: appID, clientID: clientID, key: &key.PublicKey}
	s.installation(installationID).appID = appID
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// AddInstallationRepo adds owner/name (created if new) to the repositories
// chosen for an installation, which from then on reaches only those
// ("Only select repositories" on GitHub). It returns the repository's ID
// and node ID.
//
// Node IDs have GitHub's current format: "R_" and the unpadded URL-safe
// base64 of the MessagePack array [0, id], so the hundreds of millions
// this server numbers repositories from give "R_kgDO…" as on GitHub (0x92:
// an array of two, 0x00: the 0, 0xce: a 32-bit unsigned integer).
func (s *Server) AddInstallationRepo(installationID int64, owner, name string) (id int64, nodeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.installation(installationID)
	r := s.repo(owner, name)
	if !slices.Contains(inst.repos, r) {
		inst.repos = append(inst.repos, r)
	}
	return r.id, repoNodeID(r.id)
}

// SetInstallationPermissions sets what an installation may do: permission
// name ("contents", "pull_requests", …) to "read", "write" or "admin".
// Minting may narrow these, never widen them.
func (s *Server) SetInstallationPermissions(installationID int64, perms map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installation(installationID).permissions = maps.Clone(perms)
}

// Minted returns the installation tokens minted so far, oldest first.
func (s *Server) Minted() []MintedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MintedToken, 0, len(s.mintOrder))
	for _, m := range s.mintOrder {
		mt := MintedToken{
			Token: m.token, InstallationID: m.installationID,
			Permissions: maps.Clone(m.permissions), ExpiresAt: m.expires,
		}
		if m.repos != nil {
			mt.Repositories = []string{}
			for _, r := range m.repos {
				mt.Repositories = append(mt.Repositories, r.owner+"/"+r.name)
			}
		}
		out = append(out, mt)
	}
	return out
}

// installation returns an installation's state, creating it. s.mu must be
// held.
func (s *Server) installation(id int64) *installation {
	inst := s.installs[id]
	if inst == nil {
		inst = &installation{id: id, permissions: defaultInstallationPermissions()}
		s.installs[id] = inst
	}
	return inst
}

// SetTokenTTL sets how long minted installation tokens live (default one
// hour, as on GitHub).
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// Requests returns the requests answered so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// repo returns owner/repo's state, creating it. s.mu must be held.
func (s *Server) repo(owner, name string) *repoState {
	key := strings.ToLower(owner + "/" + name)
	r := s.repos[key]
	if r == nil {
		s.nextRepoID++
		r = &repoState{
			id: s.nextRepoID, owner: owner, name: name,
			prs:      map[int]*prState{},
			checks:   map[string][]*checkRun{},
			statuses: map[string][]*commitStatus{},
		}
		s.repos[key] = r
	}
	return r
}

// lookupRepo returns owner/repo's state or nil. s.mu must be held.
func (s *Server) lookupRepo(owner, name string) *repoState {
	return s.repos[strings.ToLower(owner+"/"+name)]
}

// pr returns PR n of owner/repo, reporting a test error if there is none.
// s.mu must be held.
func (s *Server) pr(owner, repo string, n int) *prState {
	if r := s.lookupRepo(owner, repo); r != nil {
		if p := r.prs[n]; p != nil {
			return p
		}
	}
	s.t.Errorf("githubtest: no pull request %s/%s#%d", owner, repo, n)
	return nil
}

// tick advances the logical clock by a minute and returns it. s.mu must be
// held.
func (s *Server) tick() time.Time {
	s.clock = s.clock.Add(time.Minute)
	return s.clock
}

// newID returns a fresh object ID. s.mu must be held.
func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

// userID returns a stable ID for login. s.mu must be held.
func (s *Server) userID(login string) int64 {
	id, ok := s.userIDs[login]
	if !ok {
		id = s.newID()
		s.userIDs[login] = id
	}
	return id
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fakeSHA makes a 40-hex-digit commit ID from n.
func fakeSHA(n int64) string {
	return fmt.Sprintf("%040x", n)
}
