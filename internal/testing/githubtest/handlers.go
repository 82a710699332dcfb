package githubtest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	docsRoot           = "https://docs.github.com/rest"
	docsPrimaryLimit   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit"
	docsSecondaryLimit = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// reply is what a handler answers; serveHTTP writes it.
type reply struct {
	status int
	body   any
	link   string
	header http.Header
}

// call is one request being answered.
type call struct {
	r       *http.Request
	apiBase string // scheme://host[/api/v3], no trailing slash
	webBase string // scheme://host
	parts   []string
}

func errorReply(status int, message, doc string) reply {
	return reply{status: status, body: map[string]string{
		"message": message, "documentation_url": doc, "status": strconv.Itoa(status),
	}}
}

func notFound() reply { return errorReply(http.StatusNotFound, "Not Found", docsRoot) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Git runs a process per request: it is served without holding s.mu
	// throughout, so it has its own path.
	if owner, name, service, ok := gitRoute(r); ok {
		s.serveGit(w, r, owner, name, service)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	rec := RecordedRequest{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		IfNoneMatch:   r.Header.Get("If-None-Match"),
		Authorization: r.Header.Get("Authorization"),
	}
	rec.Status = s.answer(w, r)
	s.requests = append(s.requests, rec)
}

// answer handles r and returns the status written. s.mu is held.
func (s *Server) answer(w http.ResponseWriter, r *http.Request) int {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	c := &call{r: r, webBase: scheme + "://" + r.Host}
	path := r.URL.Path
	c.apiBase = c.webBase
	if rest, ok := strings.CutPrefix(path, "/api/v3/"); ok {
		c.apiBase += "/api/v3"
		path = "/" + rest
	}
	c.parts = strings.Split(strings.Trim(path, "/"), "/")

	now := time.Now()
	if now.After(s.rateReset) {
		s.rateUsed = 0
		s.rateReset = now.Add(time.Hour).Truncate(time.Second)
	}

	// Injected rate limits come first: "the next n requests".
	if s.primaryLeft > 0 {
		s.primaryLeft--
		return s.write(w, c, s.primaryLimited(s.primaryReset))
	}
	if s.secondaryLeft > 0 {
		s.secondaryLeft--
		rp := errorReply(s.secondaryCode,
			"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			docsSecondaryLimit)
		rp.header = http.Header{"Retry-After": {strconv.Itoa(int(s.secondaryWait / time.Second))}}
		return s.write(w, c, rp)
	}
	if s.rateUsed >= s.rateLimit {
		return s.write(w, c, s.primaryLimited(s.rateReset))
	}

	if r.Method == http.MethodPost && len(c.parts) == 4 && c.parts[0] == "app" &&
		c.parts[1] == "installations" && c.parts[3] == "access_tokens" {
		return s.write(w, c, s.accessToken(c))
	}
	if r.Method == http.MethodGet && len(c.parts) == 2 && c.parts[0] == "installation" && c.parts[1] == "repositories" {
		who, rp, ok := s.authenticate(r)
		if !ok {
			return s.write(w, c, rp)
		}
		return s.write(w, c, s.installationRepos(c, who))
	}
	if r.Method != http.MethodGet || len(c.parts) < 3 || c.parts[0] != "repos" {
		return s.write(w, c, notFound())
	}
	who, rp, ok := s.authenticate(r)
	if !ok {
		return s.write(w, c, rp)
	}
	repo := s.lookupRepo(c.parts[1], c.parts[2])
	// A repository the token may not see does not exist, as on GitHub.
	if repo == nil || (who != nil && !who.covers(repo)) {
		return s.write(w, c, notFound())
	}
	p := c.parts[3:]
	switch {
	case len(p) == 0:
		return s.write(w, c, reply{status: http.StatusOK, body: s.repoJSON(c, repo)})
	case len(p) == 1 && p[0] == "pulls":
		return s.write(w, c, s.listPulls(c, repo))
	case len(p) == 2 && p[0] == "pulls":
		return s.write(w, c, s.withPR(repo, p[1], func(pr *prState) reply {
			return reply{status: http.StatusOK, body: s.prDetailJSON(c, repo, pr)}
		}))
	case len(p) == 3 && p[0] == "pulls" && p[2] == "reviews":
		return s.write(w, c, s.withPR(repo, p[1], func(pr *prState) reply { return s.listReviews(c, repo, pr) }))
	case len(p) == 3 && p[0] == "pulls" && p[2] == "comments":
		return s.write(w, c, s.withPR(repo, p[1], func(pr *prState) reply { return s.listReviewComments(c, repo, pr) }))
	case len(p) == 3 && p[0] == "issues" && p[2] == "comments":
		return s.write(w, c, s.withPR(repo, p[1], func(pr *prState) reply { return s.listIssueComments(c, repo, pr) }))
	case len(p) == 3 && p[0] == "commits" && p[2] == "check-runs":
		return s.write(w, c, s.listCheckRuns(c, repo, p[1]))
	case len(p) == 3 && p[0] == "commits" && p[2] == "status":
		return s.write(w, c, s.combinedStatus(c, repo, p[1]))
	}
	return s.write(w, c, notFound())
}

func (s *Server) primaryLimited(reset time.Time) reply {
	rp := errorReply(http.StatusForbidden,
		"API rate limit exceeded. Please wait until the rate limit resets.", docsPrimaryLimit)
	rp.header = http.Header{
		"X-Ratelimit-Remaining": {"0"},
		"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
	}
	return rp
}

// authenticate checks the Authorization header of an API request. It
// returns the installation token sent, or nil for a token given to
// RequireToken (which may see everything) or when no authentication is
// required.
func (s *Server) authenticate(r *http.Request) (*mintedToken, reply, bool) {
	if !s.authRequired {
		return nil, reply{}, true
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "token ")
	}
	if ok {
		if s.tokens[tok] {
			return nil, reply{}, true
		}
		if m := s.minted[tok]; m != nil && time.Now().Before(m.expires) {
			return m, reply{}, true
		}
	}
	return nil, errorReply(http.StatusUnauthorized, "Bad credentials", docsRoot), false
}

// write writes rp: JSON body, ETag and 304 handling for GET 200s, Link and
// rate-limit headers. It returns the status written.
func (s *Server) write(w http.ResponseWriter, c *call, rp reply) int {
	body, err := json.Marshal(rp.body)
	if err != nil {
		s.t.Errorf("githubtest: encode answer: %v", err)
		rp = errorReply(http.StatusInternalServerError, "encode answer", docsRoot)
		body, _ = json.Marshal(rp.body)
	}
	h := w.Header()
	for k, v := range rp.header {
		h[k] = v
	}
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Request-Id", strconv.FormatInt(s.newID(), 16))
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if rp.link != "" {
		h.Set("Link", rp.link)
	}

	if c.r.Method == http.MethodGet && rp.status == http.StatusOK {
		sum := sha256.Sum256(append([]byte(rp.link+"\n"), body...))
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		h.Set("ETag", etag)
		h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		if etagMatches(c.r.Header.Get("If-None-Match"), etag) {
			// A 304 does not count against the rate limit.
			s.rateHeaders(h)
			w.WriteHeader(http.StatusNotModified)
			return http.StatusNotModified
		}
	}
	if h.Get("X-Ratelimit-Remaining") == "" {
		s.rateUsed++
		s.rateHeaders(h)
	} else {
		s.rateHeaders(h, "X-Ratelimit-Remaining", "X-Ratelimit-Reset")
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rp.status)
	_, _ = w.Write(body)
	return rp.status
}

// rateHeaders sets the X-RateLimit-* headers except those in keep.
func (s *Server) rateHeaders(h http.Header, keep ...string) {
	set := func(k, v string) {
		for _, kk := range keep {
			if http.CanonicalHeaderKey(kk) == http.CanonicalHeaderKey(k) {
				return
			}
		}
		h.Set(k, v)
	}
	set("X-RateLimit-Limit", strconv.Itoa(s.rateLimit))
	set("X-RateLimit-Remaining", strconv.Itoa(max(0, s.rateLimit-s.rateUsed)))
	set("X-RateLimit-Reset", strconv.FormatInt(s.rateReset.Unix(), 10))
	set("X-RateLimit-Used", strconv.Itoa(s.rateUsed))
	set("X-RateLimit-Resource", "core")
}

// etagMatches implements If-None-Match's weak comparison.
func etagMatches(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	strip := func(t string) string { return strings.TrimPrefix(strings.TrimSpace(t), "W/") }
	for _, t := range strings.Split(ifNoneMatch, ",") {
		if strings.TrimSpace(t) == "*" || strip(t) == strip(etag) {
			return true
		}
	}
	return false
}

// page cuts items[0:n) into the requested page and makes the Link header.
func (s *Server) page(c *call, n int) (lo, hi int, link string) {
	q := c.r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	if s.perPageLimit > 0 {
		per = min(per, s.perPageLimit)
	}
	pg, err := strconv.Atoi(q.Get("page"))
	if err != nil || pg <= 0 {
		pg = 1
	}
	last := max(1, (n+per-1)/per)
	lo = min(n, (pg-1)*per)
	hi = min(n, lo+per)

	ref := func(p int, rel string) string {
		q2 := c.r.URL.Query()
		q2.Set("page", strconv.Itoa(p))
		u := url.URL{Path: c.r.URL.Path, RawQuery: q2.Encode()}
		return "<" + c.webBase + u.String() + `>; rel="` + rel + `"`
	}
	var links []string
	if pg > 1 {
		links = append(links, ref(min(pg-1, last), "prev"))
	}
	if pg < last {
		links = append(links, ref(pg+1, "next"), ref(last, "last"))
	}
	if pg > 1 {
		links = append(links, ref(1, "first"))
	}
	return lo, hi, strings.Join(links, ", ")
}

func (s *Server) withPR(repo *repoState, num string, f func(*prState) reply) reply {
	n, err := strconv.Atoi(num)
	if err != nil {
		return notFound()
	}
	pr := repo.prs[n]
	if pr == nil {
		return notFound()
	}
	return f(pr)
}

func (s *Server) listPulls(c *call, repo *repoState) reply {
	q := c.r.URL.Query()
	state := defaultString(q.Get("state"), "open")
	if state != "open" && state != "closed" && state != "all" {
		return errorReply(http.StatusUnprocessableEntity, "Validation Failed", docsRoot)
	}
	var headOwner, headRef string
	if head := q.Get("head"); head != "" {
		var ok bool
		headOwner, headRef, ok = strings.Cut(head, ":")
		if !ok {
			headOwner, headRef = "", head
		}
	}
	base := q.Get("base")

	var prs []*prState
	for _, p := range repo.prs {
		switch {
		case state != "all" && p.state != state:
		case headRef != "" && p.headBranch != headRef:
		case headOwner != "" && !strings.EqualFold(p.headOwner, headOwner):
		case base != "" && p.baseBranch != base:
		default:
			prs = append(prs, p)
		}
	}
	sortBy := defaultString(q.Get("sort"), "created")
	desc := sortBy == "created"
	switch q.Get("direction") {
	case "asc":
		desc = false
	case "desc":
		desc = true
	}
	key := func(p *prState) time.Time {
		if sortBy == "updated" {
			return p.updatedAt
		}
		return p.createdAt
	}
	sort.Slice(prs, func(i, j int) bool {
		a, b := prs[i], prs[j]
		if desc {
			a, b = b, a
		}
		if ka, kb := key(a), key(b); !ka.Equal(kb) {
			return ka.Before(kb)
		}
		return a.number < b.number
	})
	lo, hi, link := s.page(c, len(prs))
	out := make([]prJSON, 0, hi-lo)
	for _, p := range prs[lo:hi] {
		out = append(out, s.prJSON(c, repo, p))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

func (s *Server) listCheckRuns(c *call, repo *repoState, sha string) reply {
	runs := repo.checks[sha]
	lo, hi, link := s.page(c, len(runs))
	out := checkRunsJSON{TotalCount: len(runs), CheckRuns: make([]checkRunJSON, 0, hi-lo)}
	for _, run := range runs[lo:hi] {
		out.CheckRuns = append(out.CheckRuns, s.checkRunJSON(c, repo, run))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

func (s *Server) combinedStatus(c *call, repo *repoState, sha string) reply {
	sts := repo.statuses[sha]
	state := "success"
	pending := len(sts) == 0
	for _, st := range sts {
		switch st.state {
		case "failure", "error":
			state = "failure"
		case "pending":
			pending = true
		}
	}
	if state != "failure" && pending {
		state = "pending"
	}
	lo, hi, link := s.page(c, len(sts))
	out := combinedStatusJSON{
		State:      state,
		SHA:        sha,
		TotalCount: len(sts),
		Statuses:   make([]statusJSON, 0, hi-lo),
		Repository: s.repoJSON(c, repo),
		CommitURL:  c.apiBase + "/repos/" + repo.owner + "/" + repo.name + "/commits/" + sha,
		URL:        c.apiBase + "/repos/" + repo.owner + "/" + repo.name + "/commits/" + sha + "/status",
	}
	// Like GitHub, the newest first.
	newest := slices.Clone(sts)
	slices.Reverse(newest)
	for _, st := range newest[lo:hi] {
		out.Statuses = append(out.Statuses, s.statusJSON(c, repo, st))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

func (s *Server) listReviews(c *call, repo *repoState, pr *prState) reply {
	lo, hi, link := s.page(c, len(pr.reviews))
	out := make([]reviewJSON, 0, hi-lo)
	for _, rv := range pr.reviews[lo:hi] {
		out = append(out, s.reviewJSON(c, repo, pr, rv))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

func (s *Server) listReviewComments(c *call, repo *repoState, pr *prState) reply {
	lo, hi, link := s.page(c, len(pr.reviewComments))
	out := make([]reviewCommentJSON, 0, hi-lo)
	for _, rc := range pr.reviewComments[lo:hi] {
		out = append(out, s.reviewCommentJSON(c, repo, pr, rc))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

func (s *Server) listIssueComments(c *call, repo *repoState, pr *prState) reply {
	lo, hi, link := s.page(c, len(pr.issueComments))
	out := make([]issueCommentJSON, 0, hi-lo)
	for _, ic := range pr.issueComments[lo:hi] {
		out = append(out, s.issueCommentJSON(c, repo, pr, ic))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

// permissionLevel orders the levels a permission may have; 0 is none (or
// not a level).
func permissionLevel(level string) int {
	switch level {
	case "read":
		return 1
	case "write":
		return 2
	case "admin":
		return 3
	}
	return 0
}

// accessToken answers POST /app/installations/{id}/access_tokens, with the
// optional body GitHub takes: repositories (names) or repository_ids, and
// permissions, each only narrowing what the installation has.
func (s *Server) accessToken(c *call) reply {
	instID, err := strconv.ParseInt(c.parts[2], 10, 64)
	if err != nil {
		return notFound()
	}
	bearer, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return errorReply(http.StatusUnauthorized,
			"A JSON web token could not be decoded", docsRoot)
	}
	appID, rejection := s.verifyJWT(bearer, time.Now())
	if rejection != "" {
		return errorReply(http.StatusUnauthorized, rejection, docsRoot)
	}
	inst := s.installs[instID]
	if inst == nil || inst.appID != appID {
		return notFound()
	}
	var body struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		return errorReply(http.StatusBadRequest, "Problems parsing JSON", docsRoot)
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return errorReply(http.StatusBadRequest, "Problems parsing JSON", docsRoot)
		}
	}

	m := &mintedToken{installationID: instID, repos: slices.Clone(inst.repos), permissions: maps.Clone(inst.permissions)}
	if len(body.Repositories) > 0 || len(body.RepositoryIDs) > 0 {
		repos, ok := s.narrowRepos(inst, body.Repositories, body.RepositoryIDs)
		if !ok {
			return errorReply(http.StatusUnprocessableEntity,
				"There is at least one repository that does not exist or is not accessible to the parent installation.",
				docsRoot)
		}
		m.repos, m.narrowed = repos, true
	}
	if len(body.Permissions) > 0 {
		for name, level := range body.Permissions {
			want := permissionLevel(level)
			if want == 0 || want > permissionLevel(inst.permissions[name]) {
				return errorReply(http.StatusUnprocessableEntity,
					"The permissions requested are not granted to this installation.", docsRoot)
			}
		}
		m.permissions = maps.Clone(body.Permissions)
	}
	m.token = newInstallationToken()
	m.expires = time.Now().Add(s.tokenTTL).Truncate(time.Second).UTC()
	s.minted[m.token] = m
	s.mintOrder = append(s.mintOrder, m)

	out := accessTokenJSON{
		Token:               m.token,
		ExpiresAt:           m.expires.Format(time.RFC3339),
		Permissions:         m.permissions,
		RepositorySelection: "all",
	}
	if m.repos != nil {
		out.RepositorySelection = "selected"
	}
	if m.narrowed {
		out.Repositories = []repoJSON{}
		for _, r := range m.repos {
			out.Repositories = append(out.Repositories, s.repoJSON(c, r))
		}
	}
	return reply{status: http.StatusCreated, body: out}
}

// narrowRepos resolves the repositories a mint asks for (names, matched
// without regard to case, or IDs) among those the installation reaches. An
// installation on all repositories reaches every repository the server
// knows; a name held by several owners there means the first created.
func (s *Server) narrowRepos(inst *installation, names []string, ids []int64) ([]*repoState, bool) {
	reach := inst.repos
	if reach == nil {
		reach = s.allRepos()
	}
	var out []*repoState
	add := func(r *repoState) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, name := range names {
		i := slices.IndexFunc(reach, func(r *repoState) bool { return strings.EqualFold(r.name, name) })
		if i < 0 {
			return nil, false
		}
		add(reach[i])
	}
	for _, id := range ids {
		i := slices.IndexFunc(reach, func(r *repoState) bool { return r.id == id })
		if i < 0 {
			return nil, false
		}
		add(reach[i])
	}
	return out, true
}

// allRepos is every repository the server knows, oldest first. s.mu must
// be held.
func (s *Server) allRepos() []*repoState {
	out := slices.Collect(maps.Values(s.repos))
	slices.SortFunc(out, func(a, b *repoState) int { return cmp.Compare(a.id, b.id) })
	return out
}

// installationRepos answers GET /installation/repositories: the
// repositories the installation token sent may reach, a page at a time.
func (s *Server) installationRepos(c *call, who *mintedToken) reply {
	if who == nil {
		if c.r.Header.Get("Authorization") == "" {
			return errorReply(http.StatusUnauthorized, "Requires authentication", docsRoot)
		}
		return errorReply(http.StatusForbidden,
			"You must authenticate with an installation access token in order to list repositories for an installation.",
			docsRoot)
	}
	repos, selection := who.repos, "selected"
	if repos == nil {
		repos, selection = s.allRepos(), "all"
	}
	lo, hi, link := s.page(c, len(repos))
	out := installationReposJSON{TotalCount: len(repos), RepositorySelection: selection, Repositories: make([]repoJSON, 0, hi-lo)}
	for _, r := range repos[lo:hi] {
		out.Repositories = append(out.Repositories, s.repoJSON(c, r))
	}
	return reply{status: http.StatusOK, body: out, link: link}
}

// newInstallationToken makes a token shaped like GitHub's: "ghs_" and 36
// letters and digits.
func newInstallationToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "ghs_" + string(b)
}
