package githubtest

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// The JSON shapes below follow GitHub's REST API (v3, 2022-11-28): the
// fields clients read, plus enough of the rest to look like the real thing.

type userJSON struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	AvatarURL string `json:"avatar_url"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	Type      string `json:"type"`
	SiteAdmin bool   `json:"site_admin"`
}

type repoJSON struct {
	ID            int64    `json:"id"`
	NodeID        string   `json:"node_id"`
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Private       bool     `json:"private"`
	Owner         userJSON `json:"owner"`
	HTMLURL       string   `json:"html_url"`
	URL           string   `json:"url"`
	DefaultBranch string   `json:"default_branch"`
}

type branchJSON struct {
	Label string    `json:"label"`
	Ref   string    `json:"ref"`
	SHA   string    `json:"sha"`
	User  userJSON  `json:"user"`
	Repo  *repoJSON `json:"repo"`
}

type linkJSON struct {
	Href string `json:"href"`
}

type prJSON struct {
	URL               string              `json:"url"`
	ID                int64               `json:"id"`
	NodeID            string              `json:"node_id"`
	HTMLURL           string              `json:"html_url"`
	DiffURL           string              `json:"diff_url"`
	PatchURL          string              `json:"patch_url"`
	IssueURL          string              `json:"issue_url"`
	CommentsURL       string              `json:"comments_url"`
	ReviewCommentsURL string              `json:"review_comments_url"`
	StatusesURL       string              `json:"statuses_url"`
	Number            int                 `json:"number"`
	State             string              `json:"state"`
	Locked            bool                `json:"locked"`
	Title             string              `json:"title"`
	User              userJSON            `json:"user"`
	Body              *string             `json:"body"`
	CreatedAt         string              `json:"created_at"`
	UpdatedAt         string              `json:"updated_at"`
	ClosedAt          *string             `json:"closed_at"`
	MergedAt          *string             `json:"merged_at"`
	MergeCommitSHA    *string             `json:"merge_commit_sha"`
	Draft             bool                `json:"draft"`
	Head              branchJSON          `json:"head"`
	Base              branchJSON          `json:"base"`
	AuthorAssociation string              `json:"author_association"`
	Links             map[string]linkJSON `json:"_links"`
}

type prDetailJSON struct {
	prJSON
	Merged              bool      `json:"merged"`
	Mergeable           *bool     `json:"mergeable"`
	Rebaseable          *bool     `json:"rebaseable"`
	MergeableState      string    `json:"mergeable_state"`
	MergedBy            *userJSON `json:"merged_by"`
	Comments            int       `json:"comments"`
	ReviewComments      int       `json:"review_comments"`
	MaintainerCanModify bool      `json:"maintainer_can_modify"`
	Commits             int       `json:"commits"`
	Additions           int       `json:"additions"`
	Deletions           int       `json:"deletions"`
	ChangedFiles        int       `json:"changed_files"`
}

type checkRunsJSON struct {
	TotalCount int            `json:"total_count"`
	CheckRuns  []checkRunJSON `json:"check_runs"`
}

type checkOutputJSON struct {
	Title            *string `json:"title"`
	Summary          *string `json:"summary"`
	Text             *string `json:"text"`
	AnnotationsCount int     `json:"annotations_count"`
	AnnotationsURL   string  `json:"annotations_url"`
}

type checkAppJSON struct {
	ID     int64  `json:"id"`
	Slug   string `json:"slug"`
	NodeID string `json:"node_id"`
	Name   string `json:"name"`
}

type checkSuiteJSON struct {
	ID int64 `json:"id"`
}

type checkRunJSON struct {
	ID           int64           `json:"id"`
	NodeID       string          `json:"node_id"`
	HeadSHA      string          `json:"head_sha"`
	ExternalID   string          `json:"external_id"`
	URL          string          `json:"url"`
	HTMLURL      string          `json:"html_url"`
	DetailsURL   string          `json:"details_url"`
	Status       string          `json:"status"`
	Conclusion   *string         `json:"conclusion"`
	StartedAt    *string         `json:"started_at"`
	CompletedAt  *string         `json:"completed_at"`
	Output       checkOutputJSON `json:"output"`
	Name         string          `json:"name"`
	CheckSuite   checkSuiteJSON  `json:"check_suite"`
	App          checkAppJSON    `json:"app"`
	PullRequests []any           `json:"pull_requests"`
}

type statusJSON struct {
	URL         string   `json:"url"`
	AvatarURL   *string  `json:"avatar_url"`
	ID          int64    `json:"id"`
	NodeID      string   `json:"node_id"`
	State       string   `json:"state"`
	Description *string  `json:"description"`
	TargetURL   *string  `json:"target_url"`
	Context     string   `json:"context"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	Creator     userJSON `json:"creator"`
}

type combinedStatusJSON struct {
	State      string       `json:"state"`
	Statuses   []statusJSON `json:"statuses"`
	SHA        string       `json:"sha"`
	TotalCount int          `json:"total_count"`
	Repository repoJSON     `json:"repository"`
	CommitURL  string       `json:"commit_url"`
	URL        string       `json:"url"`
}

type reviewJSON struct {
	ID                int64               `json:"id"`
	NodeID            string              `json:"node_id"`
	User              userJSON            `json:"user"`
	Body              string              `json:"body"`
	State             string              `json:"state"`
	HTMLURL           string              `json:"html_url"`
	PullRequestURL    string              `json:"pull_request_url"`
	AuthorAssociation string              `json:"author_association"`
	Links             map[string]linkJSON `json:"_links"`
	SubmittedAt       *string             `json:"submitted_at,omitempty"`
	CommitID          string              `json:"commit_id"`
}

type reviewCommentJSON struct {
	URL                 string              `json:"url"`
	PullRequestReviewID *int64              `json:"pull_request_review_id"`
	ID                  int64               `json:"id"`
	NodeID              string              `json:"node_id"`
	DiffHunk            string              `json:"diff_hunk"`
	Path                string              `json:"path"`
	Position            *int                `json:"position"`
	OriginalPosition    *int                `json:"original_position"`
	CommitID            string              `json:"commit_id"`
	OriginalCommitID    string              `json:"original_commit_id"`
	User                userJSON            `json:"user"`
	Body                string              `json:"body"`
	CreatedAt           string              `json:"created_at"`
	UpdatedAt           string              `json:"updated_at"`
	HTMLURL             string              `json:"html_url"`
	PullRequestURL      string              `json:"pull_request_url"`
	AuthorAssociation   string              `json:"author_association"`
	Links               map[string]linkJSON `json:"_links"`
	StartLine           *int                `json:"start_line"`
	OriginalStartLine   *int                `json:"original_start_line"`
	StartSide           *string             `json:"start_side"`
	Line                *int                `json:"line"`
	OriginalLine        *int                `json:"original_line"`
	Side                string              `json:"side"`
	SubjectType         string              `json:"subject_type"`
}

type issueCommentJSON struct {
	URL               string   `json:"url"`
	HTMLURL           string   `json:"html_url"`
	IssueURL          string   `json:"issue_url"`
	ID                int64    `json:"id"`
	NodeID            string   `json:"node_id"`
	User              userJSON `json:"user"`
	CreatedAt         string   `json:"created_at"`
	UpdatedAt         string   `json:"updated_at"`
	AuthorAssociation string   `json:"author_association"`
	Body              string   `json:"body"`
}

type accessTokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
	// Repositories is present only when the mint named repositories.
	Repositories []repoJSON `json:"repositories,omitempty"`
}

type installationReposJSON struct {
	TotalCount          int        `json:"total_count"`
	RepositorySelection string     `json:"repository_selection"`
	Repositories        []repoJSON `json:"repositories"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func stampOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := stamp(t)
	return &s
}

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nodeID(kind string, id int64) string {
	return kind + "_" + base64.RawURLEncoding.EncodeToString([]byte(kind+strconv.FormatInt(id, 10)))
}

// repoNodeID is a repository's node ID in GitHub's current format: "R_" and
// the unpadded URL-safe base64 of the MessagePack array [0, id], the
// integer in its shortest MessagePack form. (Other objects here keep a
// simpler made-up format: nothing reads theirs.)
func repoNodeID(id int64) string {
	b := []byte{0x92, 0x00} // fixarray of 2, positive fixint 0
	u := uint64(id)
	switch {
	case id < 0:
		b = binary.BigEndian.AppendUint64(append(b, 0xd3), u) // int 64
	case u < 0x80:
		b = append(b, byte(u)) // positive fixint
	case u <= 0xff:
		b = append(b, 0xcc, byte(u)) // uint 8
	case u <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(u)) // uint 16
	case u <= 0xffffffff:
		b = binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u)) // uint 32
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0xcf), u) // uint 64
	}
	return "R_" + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) userJSON(c *call, login string) userJSON {
	id := s.userID(login)
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return userJSON{
		Login:     login,
		ID:        id,
		NodeID:    nodeID("U", id),
		AvatarURL: c.webBase + "/avatars/u/" + strconv.FormatInt(id, 10),
		URL:       c.apiBase + "/users/" + login,
		HTMLURL:   c.webBase + "/" + login,
		Type:      typ,
	}
}

func (s *Server) repoJSON(c *call, r *repoState) repoJSON {
	full := r.owner + "/" + r.name
	return repoJSON{
		ID:            r.id,
		NodeID:        repoNodeID(r.id),
		Name:          r.name,
		FullName:      full,
		Owner:         s.userJSON(c, r.owner),
		HTMLURL:       c.webBase + "/" + full,
		URL:           c.apiBase + "/repos/" + full,
		DefaultBranch: "main",
	}
}

func (s *Server) prJSON(c *call, r *repoState, p *prState) prJSON {
	full := r.owner + "/" + r.name
	api := c.apiBase + "/repos/" + full
	html := c.webBase + "/" + full + "/pull/" + strconv.Itoa(p.number)
	n := strconv.Itoa(p.number)
	repo := s.repoJSON(c, r)
	headRepo := repo
	if !strings.EqualFold(p.headOwner, r.owner) {
		headRepo = s.repoJSON(c, &repoState{id: r.id + 1, owner: p.headOwner, name: r.name})
	}
	var mergeSHA *string
	if p.mergeCommitSHA != "" {
		mergeSHA = &p.mergeCommitSHA
	}
	return prJSON{
		URL:               api + "/pulls/" + n,
		ID:                p.id,
		NodeID:            nodeID("PR", p.id),
		HTMLURL:           html,
		DiffURL:           html + ".diff",
		PatchURL:          html + ".patch",
		IssueURL:          api + "/issues/" + n,
		CommentsURL:       api + "/issues/" + n + "/comments",
		ReviewCommentsURL: api + "/pulls/" + n + "/comments",
		StatusesURL:       api + "/statuses/" + p.headSHA,
		Number:            p.number,
		State:             p.state,
		Title:             p.title,
		User:              s.userJSON(c, p.user),
		Body:              strOrNull(p.body),
		CreatedAt:         stamp(p.createdAt),
		UpdatedAt:         stamp(p.updatedAt),
		ClosedAt:          stampOrNull(p.closedAt),
		MergedAt:          stampOrNull(p.mergedAt),
		MergeCommitSHA:    mergeSHA,
		Draft:             p.draft,
		Head: branchJSON{
			Label: p.headOwner + ":" + p.headBranch, Ref: p.headBranch, SHA: p.headSHA,
			User: s.userJSON(c, p.headOwner), Repo: &headRepo,
		},
		Base: branchJSON{
			Label: r.owner + ":" + p.baseBranch, Ref: p.baseBranch, SHA: fakeSHA(r.id),
			User: s.userJSON(c, r.owner), Repo: &repo,
		},
		AuthorAssociation: "CONTRIBUTOR",
		Links: map[string]linkJSON{
			"self":     {api + "/pulls/" + n},
			"html":     {html},
			"issue":    {api + "/issues/" + n},
			"comments": {api + "/issues/" + n + "/comments"},
			"statuses": {api + "/statuses/" + p.headSHA},
		},
	}
}

func (s *Server) prDetailJSON(c *call, r *repoState, p *prState) prDetailJSON {
	d := prDetailJSON{
		prJSON:         s.prJSON(c, r, p),
		Merged:         p.merged,
		Mergeable:      p.mergeable,
		Rebaseable:     p.mergeable,
		MergeableState: p.mergeableState,
		Comments:       len(p.issueComments),
		ReviewComments: len(p.reviewComments),
		Commits:        1,
		ChangedFiles:   1,
	}
	if d.MergeableState == "" {
		switch {
		case p.mergeable == nil:
			d.MergeableState = "unknown"
		case *p.mergeable:
			d.MergeableState = "clean"
		default:
			d.MergeableState = "dirty"
		}
	}
	if p.merged {
		u := s.userJSON(c, p.user)
		d.MergedBy = &u
	}
	return d
}

func (s *Server) checkRunJSON(c *call, r *repoState, run *checkRun) checkRunJSON {
	full := r.owner + "/" + r.name
	id := strconv.FormatInt(run.id, 10)
	html := c.webBase + "/" + full + "/runs/" + id
	slug := defaultString(run.c.App, "github-actions")
	out := checkRunJSON{
		ID:          run.id,
		NodeID:      nodeID("CR", run.id),
		HeadSHA:     run.sha,
		URL:         c.apiBase + "/repos/" + full + "/check-runs/" + id,
		HTMLURL:     html,
		DetailsURL:  defaultString(run.c.DetailsURL, html),
		Status:      run.c.Status,
		Conclusion:  strOrNull(run.c.Conclusion),
		StartedAt:   stampOrNull(run.startedAt),
		CompletedAt: stampOrNull(run.completedAt),
		Output: checkOutputJSON{
			Title:          strOrNull(run.c.Title),
			Summary:        strOrNull(run.c.Summary),
			AnnotationsURL: c.apiBase + "/repos/" + full + "/check-runs/" + id + "/annotations",
		},
		Name:         run.c.Name,
		App:          checkAppJSON{ID: 15368, Slug: slug, NodeID: nodeID("A", 15368), Name: slug},
		PullRequests: []any{},
	}
	out.CheckSuite.ID = run.id + 1_000_000
	return out
}

func (s *Server) statusJSON(c *call, r *repoState, st *commitStatus) statusJSON {
	desc := st.context + ": " + st.state
	target := c.webBase + "/ci/" + r.owner + "/" + r.name + "/" + strconv.FormatInt(st.id, 10)
	return statusJSON{
		URL:         c.apiBase + "/repos/" + r.owner + "/" + r.name + "/statuses/" + strconv.FormatInt(st.id, 10),
		ID:          st.id,
		NodeID:      nodeID("SC", st.id),
		State:       st.state,
		Description: &desc,
		TargetURL:   &target,
		Context:     st.context,
		CreatedAt:   stamp(st.createdAt),
		UpdatedAt:   stamp(st.updatedAt),
		Creator:     s.userJSON(c, "ci-bot"),
	}
}

func (s *Server) reviewJSON(c *call, r *repoState, p *prState, rv *review) reviewJSON {
	full := r.owner + "/" + r.name
	n := strconv.Itoa(p.number)
	html := c.webBase + "/" + full + "/pull/" + n + "#pullrequestreview-" + strconv.FormatInt(rv.id, 10)
	prURL := c.apiBase + "/repos/" + full + "/pulls/" + n
	return reviewJSON{
		ID:                rv.id,
		NodeID:            nodeID("PRR", rv.id),
		User:              s.userJSON(c, rv.user),
		Body:              rv.body,
		State:             rv.state,
		HTMLURL:           html,
		PullRequestURL:    prURL,
		AuthorAssociation: "CONTRIBUTOR",
		Links:             map[string]linkJSON{"html": {html}, "pull_request": {prURL}},
		SubmittedAt:       stampOrNull(rv.submittedAt),
		CommitID:          rv.commitID,
	}
}

func (s *Server) reviewCommentJSON(c *call, r *repoState, p *prState, rc *reviewComment) reviewCommentJSON {
	full := r.owner + "/" + r.name
	n := strconv.Itoa(p.number)
	id := strconv.FormatInt(rc.id, 10)
	self := c.apiBase + "/repos/" + full + "/pulls/comments/" + id
	html := c.webBase + "/" + full + "/pull/" + n + "#discussion_r" + id
	prURL := c.apiBase + "/repos/" + full + "/pulls/" + n
	line := rc.line
	return reviewCommentJSON{
		URL:               self,
		ID:                rc.id,
		NodeID:            nodeID("PRRC", rc.id),
		DiffHunk:          "@@ -1,1 +1,1 @@",
		Path:              rc.path,
		Position:          &line,
		OriginalPosition:  &line,
		CommitID:          rc.commitID,
		OriginalCommitID:  rc.commitID,
		User:              s.userJSON(c, rc.user),
		Body:              rc.body,
		CreatedAt:         stamp(rc.createdAt),
		UpdatedAt:         stamp(rc.createdAt),
		HTMLURL:           html,
		PullRequestURL:    prURL,
		AuthorAssociation: "CONTRIBUTOR",
		Links:             map[string]linkJSON{"self": {self}, "html": {html}, "pull_request": {prURL}},
		Line:              &line,
		OriginalLine:      &line,
		Side:              "RIGHT",
		SubjectType:       "line",
	}
}

func (s *Server) issueCommentJSON(c *call, r *repoState, p *prState, ic *issueComment) issueCommentJSON {
	full := r.owner + "/" + r.name
	n := strconv.Itoa(p.number)
	id := strconv.FormatInt(ic.id, 10)
	return issueCommentJSON{
		URL:               c.apiBase + "/repos/" + full + "/issues/comments/" + id,
		HTMLURL:           c.webBase + "/" + full + "/pull/" + n + "#issuecomment-" + id,
		IssueURL:          c.apiBase + "/repos/" + full + "/issues/" + n,
		ID:                ic.id,
		NodeID:            nodeID("IC", ic.id),
		User:              s.userJSON(c, ic.user),
		CreatedAt:         stamp(ic.createdAt),
		UpdatedAt:         stamp(ic.createdAt),
		AuthorAssociation: "CONTRIBUTOR",
		Body:              ic.body,
	}
}
