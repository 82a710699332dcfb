package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/testing/githubtest"
	"github.com/airut-go/airut/workflows"
)

// withGitHub points the fixture's repo at a fake GitHub as o/r.
func withGitHub(f *fixture) *githubtest.Server {
	s := githubtest.NewServer(f.t)
	f.cfg.Repos["demo"].GitHub = &config.GitHub{BaseURL: s.URL(), Token: "tok", Repository: "o/r",
		PollInterval: 60, MaxPollInterval: 600, AutoIterate: true, MaxAutoIterations: 3}
	return s
}

func (f *fixture) findPR(conv string) (workflows.FindPRResult, error) {
	f.t.Helper()
	var res workflows.FindPRResult
	val, err := f.env.ExecuteActivity(f.a.FindPullRequest, workflows.FindPRInput{RepoID: "demo", ConversationID: conv})
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

// The PR loop follows the open PR of the branch the agent left the
// workspace on, with the repo's loop settings; no GitHub settings, no loop.
func TestFindPullRequest(t *testing.T) {
	f := newFixture(t)
	if res, err := f.findPR("0000000a"); err != nil || res.Enabled {
		t.Fatalf("without github settings: %+v, %v; want the loop off", res, err)
	}
	gh := withGitHub(f)
	gh.AddPR("o", "r", githubtest.PR{HeadBranch: "other", HeadSHA: "def456"})
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	ws := f.layout("0000000a").Workspace()

	res, err := f.findPR("0000000a")
	if err != nil || !res.Enabled || res.PR != nil {
		t.Fatalf("on main without a PR: %+v, %v; want the loop on and no PR", res, err)
	}
	want := workflows.PRSettings{PollSeconds: 60, MaxPollSeconds: 600, AutoIterate: true, MaxAutoIterations: 3}
	if res.Settings != want {
		t.Errorf("settings = %+v, want %+v", res.Settings, want)
	}

	git(t, ws, "checkout", "--quiet", "-b", "fix-typo")
	n := gh.AddPR("o", "r", githubtest.PR{HeadBranch: "fix-typo", HeadSHA: "abc123"})
	res, err = f.findPR("0000000a")
	if err != nil || res.PR == nil {
		t.Fatalf("on fix-typo: %+v, %v; want its PR", res, err)
	}
	if pr := res.PR; pr.Owner != "o" || pr.Repo != "r" || pr.Number != n || pr.HeadBranch != "fix-typo" || pr.HeadSHA != "abc123" || pr.URL == "" {
		t.Errorf("PR = %+v, want o/r#%d of fix-typo", pr, n)
	}

	git(t, ws, "checkout", "--quiet", "--detach")
	if res, err := f.findPR("0000000a"); err != nil || res.PR != nil {
		t.Errorf("detached HEAD: %+v, %v; want no PR", res, err)
	}
}

func (f *fixture) pollPR(in workflows.PollPRInput) (workflows.PollPRResult, error) {
	f.t.Helper()
	var res workflows.PollPRResult
	val, err := f.env.ExecuteActivity(f.a.PollPullRequest, in)
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

// A poll reports the PR's state, the checks that failed once all are
// done, and only the reviews and comments newer than the cursors.
func TestPollPullRequest(t *testing.T) {
	f := newFixture(t)
	gh := withGitHub(f)
	n := gh.AddPR("o", "r", githubtest.PR{HeadBranch: "fix-typo", HeadSHA: "abc123"})
	gh.SetCheck("o", "r", "abc123", githubtest.Check{Name: "lint", Status: "completed", Conclusion: "success"})
	gh.SetCheck("o", "r", "abc123", githubtest.Check{Name: "test", Status: "completed", Conclusion: "failure", Summary: "2 failed"})
	seen := gh.AddReview("o", "r", n, "alice", "commented", "first look")
	gh.AddReview("o", "r", n, "bob", "changes_requested", "please rename")
	oldComment := gh.AddIssueComment("o", "r", n, "alice", "old")
	gh.AddReviewComment("o", "r", n, "bob", "main.go", 12, "typo here")
	in := workflows.PollPRInput{RepoID: "demo", PR: workflows.PRRef{Owner: "o", Repo: "r", Number: n, HeadBranch: "fix-typo", HeadSHA: "abc123"},
		ReviewCursor: seen, CommentCursor: oldComment}

	res, err := f.pollPR(in)
	if err != nil {
		t.Fatalf("PollPullRequest: %v", err)
	}
	if res.State != "open" || res.HeadSHA != "abc123" || !res.ChecksDone {
		t.Errorf("state %q head %q checks done %v; want open, abc123, done", res.State, res.HeadSHA, res.ChecksDone)
	}
	if len(res.ChecksFailed) != 1 || res.ChecksFailed[0].Name != "test" || res.ChecksFailed[0].Conclusion != "failure" {
		t.Errorf("failed checks = %+v, want test", res.ChecksFailed)
	}
	if len(res.Reviews) != 1 || res.Reviews[0].User != "bob" || res.Reviews[0].Body != "please rename" {
		t.Errorf("reviews = %+v, want only bob's new one", res.Reviews)
	}
	if len(res.Comments) != 1 || res.Comments[0].Path != "main.go" || res.Comments[0].Line != 12 {
		t.Errorf("comments = %+v, want only the new review comment", res.Comments)
	}

	reset := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	gh.RateLimitNext(1, reset)
	res, err = f.pollPR(in)
	if err != nil || !res.RateLimitedUntil.Equal(reset) || res.State != "" {
		t.Errorf("rate limited: %+v, %v; want only RateLimitedUntil %v", res, err, reset)
	}

	f.cfg.Repos["demo"].GitHub = nil
	if _, err := f.pollPR(in); !workflows.IsKind(err, workflows.ErrConfig) {
		t.Errorf("github settings removed: error %v, want %s", err, workflows.ErrConfig)
	}
}

// The PR's repository is github.repository, else read from repo_url.
func TestGitHubRepo(t *testing.T) {
	tests := []struct {
		name, url, full string
		owner, repo     string
		configErr       bool
	}{
		{"from repo_url", "https://github.com/acme/widgets.git", "", "acme", "widgets", false},
		{"from ssh repo_url", "git@github.com:acme/widgets.git", "", "acme", "widgets", false},
		{"configured", "/srv/git/widgets", "acme/widgets", "acme", "widgets", false},
		{"neither", "/srv/git/widgets", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &config.Repo{ID: "demo", RepoURL: tt.url, GitHub: &config.GitHub{Repository: tt.full}}
			owner, repo, err := githubRepo(r)
			if tt.configErr {
				if !workflows.IsKind(err, workflows.ErrConfig) || !strings.Contains(workflows.ProblemText(err), "set repos.demo.github.repository") {
					t.Errorf("error = %v, want %s saying what to set", err, workflows.ErrConfig)
				}
				return
			}
			if err != nil || owner != tt.owner || repo != tt.repo {
				t.Errorf("githubRepo = %q, %q, %v; want %q, %q", owner, repo, err, tt.owner, tt.repo)
			}
		})
	}
}
