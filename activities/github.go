package activities

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/github"
	"github.com/airut-go/airut/workflows"
)

// githubClients keeps one client per repo and credentials, so ETags
// cached by one poll make the next one a cheap conditional request.
type githubClients struct {
	mu      sync.Mutex
	clients map[string]*github.Client
}

func (g *githubClients) get(r *config.Repo) (*github.Client, error) {
	gh := r.GitHub
	key := r.ID + "\x00" + gh.BaseURL + "\x00" + gh.Token + "\x00" + fmt.Sprint(gh.App.AppID, gh.App.InstallationID)
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.clients[key]; ok {
		return c, nil
	}
	opts := github.Options{BaseURL: gh.BaseURL, Token: gh.Token}
	if gh.App.AppID != 0 {
		opts.Token = ""
		opts.App = &github.AppAuth{AppID: gh.App.AppID, InstallationID: gh.App.InstallationID, PrivateKeyPEM: []byte(gh.App.PrivateKey)}
	}
	c, err := github.New(opts)
	if err != nil {
		return nil, workflows.Fail(workflows.ErrConfig, "repos."+r.ID+".github: "+err.Error(), err)
	}
	if g.clients == nil {
		g.clients = map[string]*github.Client{}
	}
	g.clients[key] = c
	return c, nil
}

// FindPullRequest finds the open PR of the branch the agent left the
// workspace on. It runs on the conversation's host, where the workspace is.
func (a *Activities) FindPullRequest(ctx context.Context, in workflows.FindPRInput) (workflows.FindPRResult, error) {
	defer keepAlive(ctx, nil)()
	cfg, r, err := a.repo(in.RepoID)
	if err != nil || r.GitHub == nil {
		return workflows.FindPRResult{}, err
	}
	res := workflows.FindPRResult{Enabled: true, Settings: workflows.PRSettings{
		PollSeconds: r.GitHub.PollInterval, MaxPollSeconds: r.GitHub.MaxPollInterval,
		AutoIterate: r.GitHub.AutoIterate, MaxAutoIterations: r.GitHub.MaxAutoIterations,
	}}
	owner, repo, err := githubRepo(r)
	if err != nil {
		return res, err
	}
	l, err := a.layout(cfg, in.RepoID, in.ConversationID)
	if err != nil {
		return res, err
	}
	branch, err := workspaceBranch(ctx, l.Workspace())
	if err != nil || branch == "" {
		return res, err
	}
	c, err := a.github.get(r)
	if err != nil {
		return res, err
	}
	pr, err := c.FindPR(ctx, owner, repo, branch)
	if err != nil {
		return res, fmt.Errorf("find pull request for %s: %w", branch, err)
	}
	if pr != nil {
		res.PR = &workflows.PRRef{Owner: owner, Repo: repo, Number: pr.Number, URL: pr.URL, HeadBranch: pr.HeadBranch, HeadSHA: pr.HeadSHA}
		a.log(in.ConversationID, "").Info("pull request found", "url", pr.URL, "branch", branch)
	}
	return res, nil
}

// githubRepo is the repo's owner and name on GitHub: github.repository,
// else taken from repo_url.
func githubRepo(r *config.Repo) (owner, repo string, err error) {
	if full := r.GitHub.Repository; full != "" {
		owner, repo, _ = strings.Cut(full, "/")
		return owner, repo, nil
	}
	owner, repo, err = github.RepoFromURL(r.RepoURL)
	if err != nil {
		text := "repos." + r.ID + ".repo_url: " + err.Error() + "; set repos." + r.ID + ".github.repository"
		return "", "", workflows.Fail(workflows.ErrConfig, text, err)
	}
	return owner, repo, nil
}

// workspaceBranch is the branch checked out in the workspace; "" when
// HEAD is detached.
func workspaceBranch(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--abbrev-ref", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("read the workspace's branch: %w", err)
	}
	branch := strings.TrimSpace(string(out))
	if branch == "HEAD" {
		return "", nil
	}
	return branch, nil
}

// PollPullRequest reports the PR's state, failed checks once all are done,
// and reviews and comments newer than the cursors. A rate limit is not an
// error: the workflow waits until its reset with a durable timer.
func (a *Activities) PollPullRequest(ctx context.Context, in workflows.PollPRInput) (workflows.PollPRResult, error) {
	defer keepAlive(ctx, nil)()
	_, r, err := a.repo(in.RepoID)
	if err != nil {
		return workflows.PollPRResult{}, err
	}
	if r.GitHub == nil {
		return workflows.PollPRResult{}, workflows.Fail(workflows.ErrConfig, "repos."+r.ID+".github is no longer configured", nil)
	}
	c, err := a.github.get(r)
	if err != nil {
		return workflows.PollPRResult{}, err
	}
	snap, err := c.Snapshot(ctx, github.PRRef{Owner: in.PR.Owner, Repo: in.PR.Repo, Number: in.PR.Number, URL: in.PR.URL, HeadBranch: in.PR.HeadBranch, HeadSHA: in.PR.HeadSHA})
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		a.log("", "").Warn("GitHub rate limit; polling paused", "pr", in.PR.URL, "until", rl.Reset)
		return workflows.PollPRResult{RateLimitedUntil: rl.Reset}, nil
	}
	if err != nil {
		return workflows.PollPRResult{}, fmt.Errorf("poll %s: %w", in.PR.URL, err)
	}
	res := workflows.PollPRResult{State: snap.State, HeadSHA: snap.PR.HeadSHA, ChecksDone: snap.ChecksDone}
	for _, ch := range snap.ChecksFailed {
		res.ChecksFailed = append(res.ChecksFailed, workflows.PRCheck{Name: ch.Name, Conclusion: ch.Conclusion, URL: ch.URL, Summary: ch.Summary})
	}
	for _, rv := range snap.Reviews {
		if rv.ID > in.ReviewCursor {
			res.Reviews = append(res.Reviews, workflows.PRReview{ID: rv.ID, User: rv.User, State: rv.State, Body: rv.Body, URL: rv.URL})
		}
	}
	for _, cm := range snap.Comments {
		if cm.ID > in.CommentCursor {
			res.Comments = append(res.Comments, workflows.PRComment{ID: cm.ID, User: cm.User, Path: cm.Path, Line: cm.Line, Body: cm.Body, URL: cm.URL})
		}
	}
	return res, nil
}
