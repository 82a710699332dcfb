package github_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/github"
	"github.com/airut-go/airut/internal/testing/githubtest"
)

const (
	owner = "acme"
	repo  = "widgets"
)

// baseStyles are the two API base URL styles the client must work with.
func baseStyles() []struct {
	name string
	url  func(*githubtest.Server) string
} {
	return []struct {
		name string
		url  func(*githubtest.Server) string
	}{
		{"github.com", (*githubtest.Server).URL},
		{"enterprise", (*githubtest.Server).EnterpriseURL},
	}
}

// forEachStyle runs f as a subtest for each base URL style, with a fresh
// server.
func forEachStyle(t *testing.T, f func(t *testing.T, s *githubtest.Server, base string)) {
	for _, st := range baseStyles() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			s := githubtest.NewServer(t)
			f(t, s, st.url(s))
		})
	}
}

func newClient(t *testing.T, opts github.Options) *github.Client {
	t.Helper()
	if opts.HTTPClient == nil {
		// A transport of its own: httptest.Server.Close closes the idle
		// connections of http.DefaultTransport, which broke a request of
		// a parallel subtest in flight ("CloseIdleConnections called").
		opts.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c, err := github.New(opts)
	require.NoError(t, err)
	return c
}

// apiPath strips the /api/v3 prefix of an enterprise-style request path.
func apiPath(p string) string { return strings.TrimPrefix(p, "/api/v3") }

func ptr[T any](v T) *T { return &v }

func TestFindPR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(s *githubtest.Server) (want int) // 0: no PR expected
		branch string
	}{
		{
			name: "none",
			setup: func(s *githubtest.Server) int {
				s.AddPR(owner, repo, githubtest.PR{HeadBranch: "other", HeadSHA: "a1"})
				n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "a2"})
				s.Close(owner, repo, n)
				s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "a3", HeadOwner: "forker"})
				return 0
			},
			branch: "airut/x",
		},
		{
			name: "one",
			setup: func(s *githubtest.Server) int {
				s.AddPR(owner, repo, githubtest.PR{HeadBranch: "other", HeadSHA: "b1"})
				return s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "b2"})
			},
			branch: "airut/x",
		},
		{
			name: "several, newest wins",
			setup: func(s *githubtest.Server) int {
				s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "c1"})
				middle := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "c2"})
				s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "c3"})
				s.AddIssueComment(owner, repo, middle, "alice", "bump") // most recently updated now
				return middle
			},
			branch: "airut/x",
		},
		{
			name: "fork head given as user:branch",
			setup: func(s *githubtest.Server) int {
				s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "d1"})
				return s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/x", HeadSHA: "d2", HeadOwner: "forker"})
			},
			branch: "forker:airut/x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
				s.SetPerPageLimit(1) // several PRs span pages
				want := tt.setup(s)
				c := newClient(t, github.Options{BaseURL: base})
				got, err := c.FindPR(context.Background(), owner, repo, tt.branch)
				require.NoError(t, err)
				if want == 0 {
					assert.Nil(t, got)
					return
				}
				require.NotNil(t, got)
				assert.Equal(t, want, got.Number)
				assert.Equal(t, owner, got.Owner)
				assert.Equal(t, repo, got.Repo)
				assert.Equal(t, "airut/x", got.HeadBranch)
				assert.NotEmpty(t, got.HeadSHA)
				assert.True(t, strings.HasSuffix(got.URL, "/pull/"+itoa(want)), got.URL)
				for _, r := range s.Requests() {
					assert.Contains(t, r.Query, "state=open")
					assert.Contains(t, r.Query, "head=")
				}
			})
		})
	}
}

func TestFindPRUnknownRepo(t *testing.T) {
	t.Parallel()
	forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
		c := newClient(t, github.Options{BaseURL: base})
		got, err := c.FindPR(context.Background(), "nobody", "nothing", "main")
		require.Error(t, err)
		assert.Nil(t, got)
		assert.Contains(t, err.Error(), "find pull request for nobody/nothing")
	})
}

func TestSnapshotChecks(t *testing.T) {
	t.Parallel()
	type run = githubtest.Check
	type status struct{ context, state string }
	tests := []struct {
		name       string
		runs       []run
		statuses   []status
		wantChecks []github.Check // URL not compared
		wantDone   bool
		wantFailed []string
	}{
		{
			name:     "no checks yet",
			wantDone: false,
		},
		{
			name: "pending",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "lint", Status: "in_progress"},
				{Name: "test", Status: "queued"},
			},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "lint", Status: "in_progress"},
				{Name: "test", Status: "queued"},
			},
			wantDone: false,
		},
		{
			name: "all success over two pages",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "success", Title: "Built", Summary: "3 targets"},
				{Name: "lint", Status: "completed", Conclusion: "neutral"},
				{Name: "test", Status: "completed", Conclusion: "success"},
				{Name: "docs", Status: "completed", Conclusion: "skipped"},
			},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "success", Summary: "Built\n\n3 targets"},
				{Name: "docs", Status: "completed", Conclusion: "skipped"},
				{Name: "lint", Status: "completed", Conclusion: "neutral"},
				{Name: "test", Status: "completed", Conclusion: "success"},
			},
			wantDone: true,
		},
		{
			name: "one failure",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "test", Status: "completed", Conclusion: "failure", Title: "2 tests failed"},
				{Name: "lint", Status: "completed", Conclusion: "success"},
			},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "lint", Status: "completed", Conclusion: "success"},
				{Name: "test", Status: "completed", Conclusion: "failure", Summary: "2 tests failed"},
			},
			wantDone:   true,
			wantFailed: []string{"test"},
		},
		{
			name: "failure while others still run",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "timed_out"},
				{Name: "test", Status: "in_progress"},
			},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "timed_out"},
				{Name: "test", Status: "in_progress"},
			},
			wantDone:   false,
			wantFailed: []string{"build"},
		},
		{
			name: "check runs done, status pending",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "success"},
			},
			statuses: []status{{"ci/jenkins", "pending"}},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "ci/jenkins", Status: "pending", Conclusion: "pending", Summary: "ci/jenkins: pending"},
			},
			wantDone: false,
		},
		{
			name: "mixed check runs and statuses, all green",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "test", Status: "completed", Conclusion: "success"},
			},
			statuses: []status{{"ci/jenkins", "success"}, {"coverage", "success"}, {"deploy/preview", "success"}},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "ci/jenkins", Status: "completed", Conclusion: "success", Summary: "ci/jenkins: success"},
				{Name: "coverage", Status: "completed", Conclusion: "success", Summary: "coverage: success"},
				{Name: "deploy/preview", Status: "completed", Conclusion: "success", Summary: "deploy/preview: success"},
				{Name: "test", Status: "completed", Conclusion: "success"},
			},
			wantDone: true,
		},
		{
			name: "mixed, status failure and error",
			runs: []run{
				{Name: "build", Status: "completed", Conclusion: "success"},
			},
			statuses: []status{{"ci/jenkins", "failure"}, {"security", "error"}, {"coverage", "success"}},
			wantChecks: []github.Check{
				{Name: "build", Status: "completed", Conclusion: "success"},
				{Name: "ci/jenkins", Status: "completed", Conclusion: "failure", Summary: "ci/jenkins: failure"},
				{Name: "coverage", Status: "completed", Conclusion: "success", Summary: "coverage: success"},
				{Name: "security", Status: "completed", Conclusion: "error", Summary: "security: error"},
			},
			wantDone:   true,
			wantFailed: []string{"ci/jenkins", "security"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
				s.SetPerPageLimit(2)
				n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/ci", HeadSHA: "sha1"})
				for _, r := range tt.runs {
					s.SetCheck(owner, repo, "sha1", r)
				}
				for _, st := range tt.statuses {
					s.SetStatus(owner, repo, "sha1", st.context, st.state)
				}
				// Noise on another commit must not show up.
				s.SetCheck(owner, repo, "old", githubtest.Check{Name: "stale", Status: "completed", Conclusion: "failure"})

				c := newClient(t, github.Options{BaseURL: base})
				snap, err := c.Snapshot(context.Background(), github.PRRef{Owner: owner, Repo: repo, Number: n})
				require.NoError(t, err)

				got := make([]github.Check, len(snap.Checks))
				for i, ch := range snap.Checks {
					assert.NotEmpty(t, ch.URL, "check %s has no URL", ch.Name)
					ch.URL = ""
					got[i] = ch
				}
				if tt.wantChecks == nil {
					assert.Empty(t, got)
				} else {
					assert.Equal(t, tt.wantChecks, got)
				}
				assert.Equal(t, tt.wantDone, snap.ChecksDone, "ChecksDone")
				var failed []string
				for _, ch := range snap.ChecksFailed {
					failed = append(failed, ch.Name)
				}
				assert.Equal(t, tt.wantFailed, failed, "ChecksFailed")

				// More than two check runs or statuses must have been read
				// over several pages.
				pages := map[string]int{}
				for _, r := range s.Requests() {
					p := apiPath(r.Path)
					if strings.HasSuffix(p, "/check-runs") || strings.HasSuffix(p, "/status") {
						pages[p[strings.LastIndex(p, "/"):]]++
					}
				}
				assert.Equal(t, max(1, (len(tt.runs)+1)/2), pages["/check-runs"], "check-runs pages")
				assert.Equal(t, max(1, (len(tt.statuses)+1)/2), pages["/status"], "status pages")
			})
		})
	}
}

func TestSnapshotReviewsAndComments(t *testing.T) {
	t.Parallel()
	forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
		s.SetPerPageLimit(2)
		n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/r", HeadSHA: "sha1"})
		c1 := s.AddIssueComment(owner, repo, n, "alice", "Thanks!")
		r1 := s.AddReview(owner, repo, n, "bob", "CHANGES_REQUESTED", "Please fix")
		rc1 := s.AddReviewComment(owner, repo, n, "bob", "main.go", 12, "nil check?")
		rc2 := s.AddReviewComment(owner, repo, n, "bob", "util/x.go", 3, "rename")
		c2 := s.AddIssueComment(owner, repo, n, "dependabot[bot]", "bump")
		r2 := s.AddReview(owner, repo, n, "carol", "COMMENTED", "")
		rc3 := s.AddReviewComment(owner, repo, n, "carol", "main.go", 40, "typo")
		r3 := s.AddReview(owner, repo, n, "bob", "APPROVED", "LGTM")
		c3 := s.AddIssueComment(owner, repo, n, "alice", "merging")

		c := newClient(t, github.Options{BaseURL: base})
		snap, err := c.Snapshot(context.Background(), github.PRRef{Owner: owner, Repo: repo, Number: n})
		require.NoError(t, err)

		type rv struct {
			ID          int64
			User, State string
			Body        string
		}
		var reviews []rv
		for _, r := range snap.Reviews {
			reviews = append(reviews, rv{r.ID, r.User, r.State, r.Body})
			assert.Contains(t, r.URL, "/pull/"+itoa(n)+"#pullrequestreview-"+itoa64(r.ID))
			assert.False(t, r.SubmittedAt.IsZero())
		}
		assert.Equal(t, []rv{
			{r1, "bob", "CHANGES_REQUESTED", "Please fix"},
			{r2, "carol", "COMMENTED", ""},
			{r3, "bob", "APPROVED", "LGTM"},
		}, reviews)

		type cm struct {
			ID         int64
			User, Path string
			Line       int
			Body       string
		}
		var comments []cm
		for i, x := range snap.Comments {
			comments = append(comments, cm{x.ID, x.User, x.Path, x.Line, x.Body})
			if x.Path != "" {
				assert.Contains(t, x.URL, "#discussion_r"+itoa64(x.ID))
			} else {
				assert.Contains(t, x.URL, "#issuecomment-"+itoa64(x.ID))
			}
			if i > 0 {
				assert.True(t, x.CreatedAt.After(snap.Comments[i-1].CreatedAt), "comments oldest first")
			}
		}
		assert.Equal(t, []cm{
			{c1, "alice", "", 0, "Thanks!"},
			{rc1, "bob", "main.go", 12, "nil check?"},
			{rc2, "bob", "util/x.go", 3, "rename"},
			{c2, "dependabot[bot]", "", 0, "bump"},
			{rc3, "carol", "main.go", 40, "typo"},
			{c3, "alice", "", 0, "merging"},
		}, comments)
	})
}

func TestSnapshotStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		pr             githubtest.PR
		change         func(s *githubtest.Server, n int)
		wantState      string
		wantMergeable  *bool
		wantMergeState string
		wantHead       string
	}{
		{
			name:           "open, mergeable",
			pr:             githubtest.PR{HeadBranch: "b", HeadSHA: "s1", Mergeable: ptr(true)},
			wantState:      "open",
			wantMergeable:  ptr(true),
			wantMergeState: "clean",
			wantHead:       "s1",
		},
		{
			name:           "open, mergeability being computed",
			pr:             githubtest.PR{HeadBranch: "b", HeadSHA: "s1"},
			wantState:      "open",
			wantMergeState: "unknown",
			wantHead:       "s1",
		},
		{
			name: "open, conflicts",
			pr:   githubtest.PR{HeadBranch: "b", HeadSHA: "s1"},
			change: func(s *githubtest.Server, n int) {
				s.SetMergeable(owner, repo, n, ptr(false), "dirty")
			},
			wantState:      "open",
			wantMergeable:  ptr(false),
			wantMergeState: "dirty",
			wantHead:       "s1",
		},
		{
			name:           "closed",
			pr:             githubtest.PR{HeadBranch: "b", HeadSHA: "s1", Mergeable: ptr(true)},
			change:         func(s *githubtest.Server, n int) { s.Close(owner, repo, n) },
			wantState:      "closed",
			wantMergeable:  ptr(true),
			wantMergeState: "clean",
			wantHead:       "s1",
		},
		{
			name:           "merged",
			pr:             githubtest.PR{HeadBranch: "b", HeadSHA: "s1", Mergeable: ptr(true)},
			change:         func(s *githubtest.Server, n int) { s.Merge(owner, repo, n) },
			wantState:      "merged",
			wantMergeable:  ptr(true),
			wantMergeState: "clean",
			wantHead:       "s1",
		},
		{
			name: "new head pushed: checks follow it",
			pr:   githubtest.PR{HeadBranch: "b", HeadSHA: "s1"},
			change: func(s *githubtest.Server, n int) {
				s.SetCheck(owner, repo, "s1", githubtest.Check{Name: "old", Status: "completed", Conclusion: "failure"})
				s.PushHead(owner, repo, n, "s2")
				s.SetCheck(owner, repo, "s2", githubtest.Check{Name: "new", Status: "completed", Conclusion: "success"})
			},
			wantState:      "open",
			wantMergeState: "unknown",
			wantHead:       "s2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
				n := s.AddPR(owner, repo, tt.pr)
				if tt.change != nil {
					tt.change(s, n)
				}
				c := newClient(t, github.Options{BaseURL: base})
				// The caller's PRRef may be stale (old head SHA).
				snap, err := c.Snapshot(context.Background(), github.PRRef{Owner: owner, Repo: repo, Number: n, HeadSHA: "s1"})
				require.NoError(t, err)
				assert.Equal(t, tt.wantState, snap.State)
				assert.Equal(t, tt.wantMergeable, snap.Mergeable)
				assert.Equal(t, tt.wantMergeState, snap.MergeableState)
				assert.Equal(t, tt.wantHead, snap.PR.HeadSHA)
				assert.Equal(t, "b", snap.PR.HeadBranch)
				assert.Equal(t, n, snap.PR.Number)
				for _, ch := range snap.Checks {
					assert.NotEqual(t, "old", ch.Name, "checks of the old head")
				}
			})
		})
	}
}

func TestSnapshotConditionalRequests(t *testing.T) {
	t.Parallel()
	forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
		s.SetPerPageLimit(2)
		n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "airut/e", HeadSHA: "sha1", Mergeable: ptr(true)})
		for _, name := range []string{"a", "b", "c"} { // two pages
			s.SetCheck(owner, repo, "sha1", githubtest.Check{Name: name, Status: "completed", Conclusion: "success"})
		}
		s.SetStatus(owner, repo, "sha1", "ci", "success")
		s.AddReview(owner, repo, n, "bob", "APPROVED", "ok")
		s.AddReviewComment(owner, repo, n, "bob", "a.go", 1, "hm")
		s.AddIssueComment(owner, repo, n, "alice", "hi")

		c := newClient(t, github.Options{BaseURL: base})
		ref := github.PRRef{Owner: owner, Repo: repo, Number: n}
		ctx := context.Background()

		first, err := c.Snapshot(ctx, ref)
		require.NoError(t, err)
		assert.True(t, first.ETagsChanged)
		firstReqs := s.Requests()
		for _, r := range firstReqs {
			assert.Empty(t, r.IfNoneMatch, "first snapshot sends no If-None-Match: %s", r.Path)
			assert.Equal(t, http.StatusOK, r.Status, r.Path)
		}

		second, err := c.Snapshot(ctx, ref)
		require.NoError(t, err)
		assert.False(t, second.ETagsChanged)
		secondReqs := s.Requests()[len(firstReqs):]
		require.Len(t, secondReqs, len(firstReqs), "same requests again")
		for i, r := range secondReqs {
			assert.Equal(t, firstReqs[i].Path, r.Path)
			assert.Equal(t, firstReqs[i].Query, r.Query)
			assert.NotEmpty(t, r.IfNoneMatch, "If-None-Match sent: %s", r.Path)
			assert.Equal(t, http.StatusNotModified, r.Status, r.Path)
		}
		second.ETagsChanged = first.ETagsChanged
		assert.Equal(t, first, second, "a snapshot from 304s equals the fresh one")

		// A change: fresh data for what changed, 304 for the rest.
		s.AddIssueComment(owner, repo, n, "carol", "new")
		third, err := c.Snapshot(ctx, ref)
		require.NoError(t, err)
		assert.True(t, third.ETagsChanged)
		require.Len(t, third.Comments, 3)
		assert.Equal(t, "new", third.Comments[2].Body)
		fresh := map[string]bool{}
		for _, r := range s.Requests()[len(firstReqs)*2:] {
			assert.NotEmpty(t, r.IfNoneMatch, r.Path)
			if r.Status == http.StatusOK {
				fresh[apiPath(r.Path)] = true
			} else {
				assert.Equal(t, http.StatusNotModified, r.Status, r.Path)
			}
		}
		pr := "/repos/" + owner + "/" + repo
		assert.Equal(t, map[string]bool{
			pr + "/pulls/" + itoa(n):                true, // updated_at moved
			pr + "/issues/" + itoa(n) + "/comments": true,
		}, fresh)

		// FindPR is conditional too.
		_, err = c.FindPR(ctx, owner, repo, "airut/e")
		require.NoError(t, err)
		_, err = c.FindPR(ctx, owner, repo, "airut/e")
		require.NoError(t, err)
		all := s.Requests()
		assert.Equal(t, http.StatusNotModified, all[len(all)-1].Status)
	})
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(42 * time.Minute).Truncate(time.Second)
	tests := []struct {
		name      string
		limit     func(s *githubtest.Server)
		wantReset func(now time.Time) time.Time
	}{
		{
			name:      "primary 403",
			limit:     func(s *githubtest.Server) { s.RateLimitNext(1, reset) },
			wantReset: func(time.Time) time.Time { return reset },
		},
		{
			name:      "secondary 403 with Retry-After",
			limit:     func(s *githubtest.Server) { s.SecondaryRateLimitNext(1, http.StatusForbidden, 90*time.Second) },
			wantReset: func(now time.Time) time.Time { return now.Add(90 * time.Second) },
		},
		{
			name:      "secondary 429 with Retry-After",
			limit:     func(s *githubtest.Server) { s.SecondaryRateLimitNext(1, http.StatusTooManyRequests, 30*time.Second) },
			wantReset: func(now time.Time) time.Time { return now.Add(30 * time.Second) },
		},
	}
	calls := []struct {
		name string
		call func(c *github.Client, n int) error
	}{
		{"FindPR", func(c *github.Client, n int) error {
			_, err := c.FindPR(context.Background(), owner, repo, "b")
			return err
		}},
		{"Snapshot", func(c *github.Client, n int) error {
			_, err := c.Snapshot(context.Background(), github.PRRef{Owner: owner, Repo: repo, Number: n})
			return err
		}},
	}
	for _, tt := range tests {
		for _, call := range calls {
			t.Run(tt.name+"/"+call.name, func(t *testing.T) {
				t.Parallel()
				forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
					n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "b", HeadSHA: "s1"})
					c := newClient(t, github.Options{BaseURL: base})
					tt.limit(s)
					now := time.Now()
					err := call.call(c, n)
					require.Error(t, err)
					var rl *github.RateLimitError
					require.True(t, errors.As(err, &rl), "want *RateLimitError, got %T: %v", err, err)
					assert.WithinDuration(t, tt.wantReset(now), rl.Reset, 2*time.Second)
					assert.Error(t, rl.Err)
					reqs := s.Requests()
					require.Len(t, reqs, 1, "no retry inside the client")

					// Until Reset the client does not even ask GitHub again
					// (go-github remembers the limit), except for the
					// un-remembered 429.
					err = call.call(c, n)
					if tt.name == "secondary 429 with Retry-After" {
						require.NoError(t, err)
						return
					}
					require.True(t, errors.As(err, &rl), "want *RateLimitError, got %T: %v", err, err)
					assert.WithinDuration(t, tt.wantReset(now), rl.Reset, 2*time.Second)
					assert.Len(t, s.Requests(), 1)
				})
			})
		}
	}
}

func TestTokenAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"right token", "ghp_right", false},
		{"wrong token", "ghp_wrong", true},
		{"no token", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
				s.RequireToken("ghp_right")
				n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "b", HeadSHA: "s1"})
				c := newClient(t, github.Options{BaseURL: base, Token: tt.token})
				_, err := c.Snapshot(context.Background(), github.PRRef{Owner: owner, Repo: repo, Number: n})
				if tt.wantErr {
					require.Error(t, err)
					assert.Contains(t, err.Error(), "401")
					var rl *github.RateLimitError
					assert.False(t, errors.As(err, &rl))
					return
				}
				require.NoError(t, err)
				for _, r := range s.Requests() {
					assert.Equal(t, "Bearer ghp_right", r.Authorization, r.Path)
				}
			})
		})
	}
}

func TestAppAuth(t *testing.T) {
	t.Parallel()
	const appID, installationID = 4242, 77
	tests := []struct {
		name string
		// tokenTTL 0: GitHub's hour. Under 5 min: every request mints.
		tokenTTL       time.Duration
		installationID int64
		foreignKey     bool
		wantErr        string
	}{
		{name: "mints once, caches", installationID: installationID},
		{name: "token near expiry is replaced", installationID: installationID, tokenTTL: 4 * time.Minute},
		{name: "unknown installation", installationID: 999, wantErr: "mint installation token for installation 999"},
		{name: "key of another app", installationID: installationID, foreignKey: true, wantErr: "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStyle(t, func(t *testing.T, s *githubtest.Server, base string) {
				key := s.AddApp(appID, installationID)
				if tt.foreignKey {
					other := githubtest.NewServer(t)
					key = other.AddApp(appID, installationID)
				}
				if tt.tokenTTL > 0 {
					s.SetTokenTTL(tt.tokenTTL)
				}
				n := s.AddPR(owner, repo, githubtest.PR{HeadBranch: "b", HeadSHA: "s1"})
				c := newClient(t, github.Options{BaseURL: base, App: &github.AppAuth{
					AppID: appID, InstallationID: tt.installationID, PrivateKeyPEM: key,
				}})
				ref := github.PRRef{Owner: owner, Repo: repo, Number: n}
				for range 2 {
					_, err := c.Snapshot(context.Background(), ref)
					if tt.wantErr != "" {
						require.Error(t, err)
						assert.Contains(t, err.Error(), tt.wantErr)
						return
					}
					require.NoError(t, err)
				}

				var posts, gets int
				tokens := map[string]bool{}
				for _, r := range s.Requests() {
					switch r.Method {
					case http.MethodPost:
						posts++
						assert.Equal(t, "/app/installations/77/access_tokens", apiPath(r.Path))
						assert.Equal(t, http.StatusCreated, r.Status)
						assert.True(t, strings.HasPrefix(r.Authorization, "Bearer ey"), "JWT sent: %q", r.Authorization)
					case http.MethodGet:
						gets++
						assert.True(t, strings.HasPrefix(r.Authorization, "Bearer ghs_"), "installation token sent: %q", r.Authorization)
						tokens[r.Authorization] = true
						assert.Contains(t, []int{http.StatusOK, http.StatusNotModified}, r.Status)
					}
				}
				if tt.tokenTTL == 0 {
					assert.Equal(t, 1, posts, "one token for two snapshots")
					assert.Len(t, tokens, 1)
				} else {
					assert.Equal(t, gets, posts, "a token about to expire is not reused")
				}
			})
		})
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    github.Options
		wantErr string
	}{
		{"defaults", github.Options{}, ""},
		{"enterprise without trailing slash", github.Options{BaseURL: "https://ghe.example.com/api/v3"}, ""},
		{"token and app", github.Options{Token: "t", App: &github.AppAuth{AppID: 1, InstallationID: 2}}, "not both"},
		{"app without ids", github.Options{App: &github.AppAuth{}}, "AppID and InstallationID are required"},
		{"app with bad key", github.Options{App: &github.AppAuth{AppID: 1, InstallationID: 2, PrivateKeyPEM: []byte("nope")}}, "no PEM block"},
		{"relative base url", github.Options{BaseURL: "api/v3/"}, "want an http(s) URL"},
		{"bad base url", github.Options{BaseURL: "https://[::1"}, "parse github base url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := github.New(tt.opts)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
