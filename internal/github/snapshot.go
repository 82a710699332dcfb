package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	gogithub "github.com/google/go-github/v62/github"
)

// Check is one CI result on the pull request's head commit: a check run
// (checks API) or a commit status context (statuses API).
type Check struct {
	Name string // check run name, or status context
	// Status is the check run's status (queued, in_progress, completed,
	// waiting, requested, pending). For a commit status it is "completed"
	// unless its state is pending, then "pending".
	Status string
	// Conclusion is the check run's conclusion once completed (success,
	// failure, neutral, cancelled, skipped, timed_out, action_required,
	// stale, startup_failure), else "". For a commit status it is its state:
	// success, failure, error or pending.
	Conclusion string
	URL        string // check run html_url (else details_url), or status target_url
	// Summary is the check run's output title and summary (separated by a
	// blank line when both are set), or the status description.
	Summary string
}

// Done says whether the check has finished.
func (c Check) Done() bool { return c.Status == "completed" }

// Failed says whether the check finished without passing. neutral and
// skipped count as passing, as in branch protection.
func (c Check) Failed() bool {
	if !c.Done() {
		return false
	}
	switch c.Conclusion {
	case "success", "neutral", "skipped":
		return false
	}
	return true
}

// Review is a submitted pull request review.
type Review struct {
	ID          int64
	User        string
	State       string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED (PENDING only for the token's own unsubmitted review)
	Body        string
	URL         string
	SubmittedAt time.Time
}

// Comment is an inline review comment (Path set) or a conversation comment
// on the pull request (Path "").
type Comment struct {
	ID        int64
	User      string
	Path      string
	Line      int // line in the file; for an outdated comment, its original line; 0 for conversation comments
	Body      string
	URL       string
	CreatedAt time.Time
}

// Snapshot is everything worth reporting about a pull request at one time.
type Snapshot struct {
	// PR is the reference refreshed from GitHub: HeadSHA is the current
	// head, which the checks are for.
	PR             PRRef
	State          string // open, closed or merged
	Mergeable      *bool  // nil while GitHub is still computing it
	MergeableState string // GitHub's mergeable_state: clean, dirty, blocked, unstable, behind, draft, unknown, …

	// Checks are the check runs (latest per name) and commit statuses
	// (latest per context) of the head commit, sorted by name.
	Checks []Check
	// ChecksDone is true when there is at least one check and all have
	// finished. With no checks at all (no CI, or CI not started yet) it is
	// false: callers should not read "no checks" as "CI passed".
	ChecksDone bool
	// ChecksFailed are the finished checks that did not pass, even while
	// others are still running.
	ChecksFailed []Check

	Reviews []Review // in the order GitHub returns them (oldest first)
	// Comments are the inline review comments and the conversation
	// comments, oldest first.
	Comments []Comment

	// ETagsChanged is false when every request of this snapshot was
	// answered 304 Not Modified, i.e. nothing changed since the previous
	// snapshot taken by the same Client.
	ETagsChanged bool
}

// Snapshot reads the pull request's state, merge status, checks of its
// current head commit, reviews and comments. It makes its requests one
// after the other (GitHub asks integrators not to send concurrent
// requests), all conditional; an error from any of them fails the whole
// snapshot. A *RateLimitError in the chain says when to try again.
func (c *Client) Snapshot(ctx context.Context, pr PRRef) (*Snapshot, error) {
	if pr.Owner == "" || pr.Repo == "" || pr.Number <= 0 {
		return nil, errors.New("take pull request snapshot: owner, repo and number are required")
	}
	ctx, tr := withTracker(ctx)
	name := fmt.Sprintf("%s/%s#%d", pr.Owner, pr.Repo, pr.Number)

	p, _, err := c.gh.PullRequests.Get(ctx, pr.Owner, pr.Repo, pr.Number)
	if err != nil {
		return nil, fmt.Errorf("get pull request %s: %w", name, asRateLimit(err, c.now()))
	}
	snap := &Snapshot{
		PR:             prRef(pr.Owner, pr.Repo, p),
		State:          p.GetState(),
		Mergeable:      p.Mergeable,
		MergeableState: p.GetMergeableState(),
	}
	if p.GetMerged() || p.MergedAt != nil {
		snap.State = "merged"
	}
	sha := snap.PR.HeadSHA
	if sha == "" {
		sha = pr.HeadSHA
		snap.PR.HeadSHA = sha
	}

	if sha != "" {
		runs, err := c.checkRuns(ctx, pr.Owner, pr.Repo, sha)
		if err != nil {
			return nil, err
		}
		statuses, err := c.statuses(ctx, pr.Owner, pr.Repo, sha)
		if err != nil {
			return nil, err
		}
		snap.Checks = append(runs, statuses...)
		slices.SortStableFunc(snap.Checks, func(a, b Check) int { return cmp.Compare(a.Name, b.Name) })
	}
	snap.ChecksDone = len(snap.Checks) > 0
	for _, ch := range snap.Checks {
		if !ch.Done() {
			snap.ChecksDone = false
		}
		if ch.Failed() {
			snap.ChecksFailed = append(snap.ChecksFailed, ch)
		}
	}

	if snap.Reviews, err = c.reviews(ctx, pr.Owner, pr.Repo, pr.Number); err != nil {
		return nil, err
	}
	inline, err := c.reviewComments(ctx, pr.Owner, pr.Repo, pr.Number)
	if err != nil {
		return nil, err
	}
	conversation, err := c.issueComments(ctx, pr.Owner, pr.Repo, pr.Number)
	if err != nil {
		return nil, err
	}
	snap.Comments = append(inline, conversation...)
	slices.SortStableFunc(snap.Comments, func(a, b Comment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})

	snap.ETagsChanged = tr.freshN.Load() > 0
	c.log.DebugContext(ctx, "github pull request snapshot",
		"pr", name, "state", snap.State, "head", sha,
		"checks", len(snap.Checks), "checks_done", snap.ChecksDone, "checks_failed", len(snap.ChecksFailed),
		"reviews", len(snap.Reviews), "comments", len(snap.Comments),
		"fresh", tr.freshN.Load(), "not_modified", tr.notModifiedN.Load())
	return snap, nil
}

// allPages calls list for each page until GitHub reports no next page,
// converting every item; what names the list in errors.
func allPages[T, R any](c *Client, what string, list func(page int) ([]T, *gogithub.Response, error), conv func(T) R) ([]R, error) {
	var out []R
	for page := 0; ; {
		items, resp, err := list(page)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, asRateLimit(err, c.now()))
		}
		for _, it := range items {
			out = append(out, conv(it))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		page = resp.NextPage
	}
}

func (c *Client) checkRuns(ctx context.Context, owner, repo, sha string) ([]Check, error) {
	return allPages(c, fmt.Sprintf("list check runs of %s/%s@%s", owner, repo, sha),
		func(page int) ([]*gogithub.CheckRun, *gogithub.Response, error) {
			res, resp, err := c.gh.Checks.ListCheckRunsForRef(ctx, owner, repo, sha,
				&gogithub.ListCheckRunsOptions{ListOptions: gogithub.ListOptions{PerPage: perPage, Page: page}})
			if err != nil {
				return nil, resp, err
			}
			return res.CheckRuns, resp, nil
		},
		func(run *gogithub.CheckRun) Check {
			url := run.GetHTMLURL()
			if url == "" {
				url = run.GetDetailsURL()
			}
			summary := run.GetOutput().GetTitle()
			if s := run.GetOutput().GetSummary(); s != "" {
				if summary != "" {
					summary += "\n\n"
				}
				summary += s
			}
			ch := Check{Name: run.GetName(), Status: run.GetStatus(), URL: url, Summary: summary}
			if ch.Status == "completed" {
				ch.Conclusion = run.GetConclusion()
			}
			return ch
		})
}

func (c *Client) statuses(ctx context.Context, owner, repo, sha string) ([]Check, error) {
	return allPages(c, fmt.Sprintf("get combined status of %s/%s@%s", owner, repo, sha),
		func(page int) ([]*gogithub.RepoStatus, *gogithub.Response, error) {
			res, resp, err := c.gh.Repositories.GetCombinedStatus(ctx, owner, repo, sha, &gogithub.ListOptions{PerPage: perPage, Page: page})
			if err != nil {
				return nil, resp, err
			}
			return res.Statuses, resp, nil
		},
		func(st *gogithub.RepoStatus) Check {
			ch := Check{Name: st.GetContext(), Status: "completed", Conclusion: st.GetState(), URL: st.GetTargetURL(), Summary: st.GetDescription()}
			if ch.Conclusion == "pending" {
				ch.Status = "pending"
			}
			return ch
		})
}

func (c *Client) reviews(ctx context.Context, owner, repo string, n int) ([]Review, error) {
	return allPages(c, fmt.Sprintf("list reviews of %s/%s#%d", owner, repo, n),
		func(page int) ([]*gogithub.PullRequestReview, *gogithub.Response, error) {
			return c.gh.PullRequests.ListReviews(ctx, owner, repo, n, &gogithub.ListOptions{PerPage: perPage, Page: page})
		},
		func(r *gogithub.PullRequestReview) Review {
			return Review{ID: r.GetID(), User: r.GetUser().GetLogin(), State: r.GetState(), Body: r.GetBody(), URL: r.GetHTMLURL(), SubmittedAt: r.GetSubmittedAt().Time}
		})
}

func (c *Client) reviewComments(ctx context.Context, owner, repo string, n int) ([]Comment, error) {
	return allPages(c, fmt.Sprintf("list review comments of %s/%s#%d", owner, repo, n),
		func(page int) ([]*gogithub.PullRequestComment, *gogithub.Response, error) {
			return c.gh.PullRequests.ListComments(ctx, owner, repo, n,
				&gogithub.PullRequestListCommentsOptions{ListOptions: gogithub.ListOptions{PerPage: perPage, Page: page}})
		},
		func(cm *gogithub.PullRequestComment) Comment {
			line := cm.GetLine()
			if line == 0 {
				line = cm.GetOriginalLine()
			}
			return Comment{ID: cm.GetID(), User: cm.GetUser().GetLogin(), Path: cm.GetPath(), Line: line,
				Body: cm.GetBody(), URL: cm.GetHTMLURL(), CreatedAt: cm.GetCreatedAt().Time}
		})
}

func (c *Client) issueComments(ctx context.Context, owner, repo string, n int) ([]Comment, error) {
	return allPages(c, fmt.Sprintf("list conversation comments of %s/%s#%d", owner, repo, n),
		func(page int) ([]*gogithub.IssueComment, *gogithub.Response, error) {
			return c.gh.Issues.ListComments(ctx, owner, repo, n,
				&gogithub.IssueListCommentsOptions{ListOptions: gogithub.ListOptions{PerPage: perPage, Page: page}})
		},
		func(cm *gogithub.IssueComment) Comment {
			return Comment{ID: cm.GetID(), User: cm.GetUser().GetLogin(), Body: cm.GetBody(), URL: cm.GetHTMLURL(), CreatedAt: cm.GetCreatedAt().Time}
		})
}
