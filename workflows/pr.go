package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// versionPRLoop gates the pull-request loop: runs recorded before it
// replay without the PR lookup after each task and the poll timers.
const versionPRLoop = "pr-loop"

// PRWatch is the conversation's pull request and what was already told.
type PRWatch struct {
	Ref           PRRef
	Settings      PRSettings
	ReviewCursor  int64
	CommentCursor int64
	// ChecksReportedSHA is the head commit whose failed checks were told.
	ChecksReportedSHA string
	Interval          time.Duration
	NextPoll          time.Time
	AutoIterations    int
	State             string
	Notes             int
	// Checks is the head commit's checks as last polled: "pending",
	// "passed" or "failed: <names>" ("" before the first poll).
	Checks string `json:",omitempty"`
}

// checksSummary says how a poll found the head commit's checks.
func checksSummary(res PollPRResult) string {
	switch {
	case len(res.ChecksFailed) > 0:
		names := make([]string, len(res.ChecksFailed))
		for i, c := range res.ChecksFailed {
			names[i] = c.Name
		}
		return "failed: " + strings.Join(names, ", ")
	case res.ChecksDone:
		return "passed"
	}
	return "pending"
}

// Open reports whether the PR is still followed.
func (w *PRWatch) Open() bool { return w != nil && w.State != "merged" && w.State != "closed" }

func (w *PRWatch) minInterval() time.Duration {
	if w.Settings.PollSeconds > 0 {
		return time.Duration(w.Settings.PollSeconds) * time.Second
	}
	return time.Minute
}

func (w *PRWatch) maxInterval() time.Duration {
	if w.Settings.MaxPollSeconds > 0 {
		return time.Duration(w.Settings.MaxPollSeconds) * time.Second
	}
	return 15 * time.Minute
}

// findPR looks up the PR of the branch the agent left the workspace on,
// on the conversation's host (where the workspace is).
func (c *conversation) findPR(ctx workflow.Context) string {
	actx := workflow.WithActivityOptions(ctx, c.hostOptions(2*time.Minute))
	var res FindPRResult
	in := FindPRInput{RepoID: c.in.RepoID, ConversationID: c.in.ConversationID}
	if err := workflow.ExecuteActivity(actx, ActivityFindPullRequest, in).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("pull request lookup failed", "error", err)
		return ""
	}
	if !res.Enabled || res.PR == nil {
		return ""
	}
	w := c.st.PR
	if w == nil || w.Ref.Number != res.PR.Number || w.Ref.Repo != res.PR.Repo || w.Ref.Owner != res.PR.Owner {
		w = &PRWatch{Ref: *res.PR, State: "open"}
		c.st.PR = w
		_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPR.ValueSet(res.PR.URL))
	}
	w.Settings = res.Settings
	w.Interval = w.minInterval()
	w.NextPoll = workflow.Now(ctx).Add(w.Interval)
	return res.PR.URL
}

// pollPR takes a snapshot of the PR, tells the user what is new, starts an
// automatic follow-up when asked to, and schedules the next poll (sooner
// after a change, backing off while nothing happens).
func (c *conversation) pollPR(ctx workflow.Context) {
	w := c.st.PR
	actx := workflow.WithActivityOptions(ctx, c.pollOptions())
	var res PollPRResult
	in := PollPRInput{RepoID: c.in.RepoID, PR: w.Ref, ReviewCursor: w.ReviewCursor, CommentCursor: w.CommentCursor}
	now := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(actx, ActivityPollPullRequest, in).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("pull request poll failed", "pr", w.Ref.URL, "error", err)
		w.Interval = min(w.Interval*2, w.maxInterval())
		w.NextPoll = now.Add(w.Interval)
		return
	}
	if !res.RateLimitedUntil.IsZero() {
		w.NextPoll = res.RateLimitedUntil.Add(time.Second)
		return
	}
	w.Checks = checksSummary(res)
	notes, auto := c.prNews(w, res)
	if len(notes) == 0 {
		w.Interval = min(w.Interval*2, w.maxInterval())
		w.NextPoll = now.Add(w.Interval)
		return
	}
	w.Interval = w.minInterval()
	w.NextPoll = now.Add(w.Interval)
	if auto != "" {
		if w.Settings.AutoIterate && w.AutoIterations < w.Settings.MaxAutoIterations {
			w.AutoIterations++
			notes = append(notes, fmt.Sprintf("Starting automatic follow-up %d of %d to address this.", w.AutoIterations, w.Settings.MaxAutoIterations))
			c.st.Pending = append(c.st.Pending, Message{
				ID:         fmt.Sprintf("pr:%d:auto:%d", w.Ref.Number, w.AutoIterations),
				Channel:    c.in.Channel,
				Sender:     "github",
				Body:       auto,
				ReceivedAt: now,
				Auto:       true,
			})
		} else if w.Settings.AutoIterate {
			notes = append(notes, fmt.Sprintf("Automatic follow-ups have reached their limit (%d); reply to continue.", w.Settings.MaxAutoIterations))
		}
	}
	w.Notes++
	t := &task{sum: &TaskSummary{TaskID: fmt.Sprintf("pr-%d-%d", w.Ref.Number, w.Notes)}}
	c.reply(ctx, t, outgoing{Kind: ReplyPR, Text: strings.Join(notes, "\n\n")})
}

// prNews compares a snapshot with what was told and returns the new
// notes, plus the prompt for an automatic follow-up ("" for none).
func (c *conversation) prNews(w *PRWatch, res PollPRResult) (notes []string, auto string) {
	link := fmt.Sprintf("[#%d](%s)", w.Ref.Number, w.Ref.URL)
	if res.HeadSHA != "" {
		w.Ref.HeadSHA = res.HeadSHA
	}
	var autoParts []string
	if res.ChecksDone && len(res.ChecksFailed) > 0 && w.ChecksReportedSHA != w.Ref.HeadSHA {
		w.ChecksReportedSHA = w.Ref.HeadSHA
		var b strings.Builder
		fmt.Fprintf(&b, "CI failed on pull request %s (commit %s):", link, short(w.Ref.HeadSHA))
		for _, ch := range res.ChecksFailed {
			fmt.Fprintf(&b, "\n- %s: %s", ch.Name, ch.Conclusion)
			if ch.URL != "" {
				fmt.Fprintf(&b, " (%s)", ch.URL)
			}
			if s := strings.TrimSpace(ch.Summary); s != "" {
				fmt.Fprintf(&b, "\n  %s", firstLines(s, 5))
			}
		}
		notes = append(notes, b.String())
		autoParts = append(autoParts, b.String())
	}
	var reviewLines []string
	changesRequested := false
	for _, r := range res.Reviews {
		w.ReviewCursor = max(w.ReviewCursor, r.ID)
		switch r.State {
		case "CHANGES_REQUESTED":
			changesRequested = true
			reviewLines = append(reviewLines, fmt.Sprintf("- %s requested changes: %s", r.User, oneLine(r.Body)))
		case "COMMENTED":
			if strings.TrimSpace(r.Body) != "" {
				reviewLines = append(reviewLines, fmt.Sprintf("- %s commented: %s", r.User, oneLine(r.Body)))
			}
		}
	}
	for _, cm := range res.Comments {
		w.CommentCursor = max(w.CommentCursor, cm.ID)
		where := ""
		if cm.Path != "" {
			where = fmt.Sprintf(" on %s:%d", cm.Path, cm.Line)
		}
		reviewLines = append(reviewLines, fmt.Sprintf("- %s%s: %s", cm.User, where, oneLine(cm.Body)))
	}
	if len(reviewLines) > 0 {
		text := fmt.Sprintf("New review feedback on pull request %s:\n%s", link, strings.Join(reviewLines, "\n"))
		notes = append(notes, text)
		if changesRequested {
			autoParts = append(autoParts, text)
		}
	}
	if res.State != "" && res.State != w.State {
		w.State = res.State
		switch res.State {
		case "merged":
			notes = append(notes, fmt.Sprintf("Pull request %s was merged.", link))
			autoParts = nil
		case "closed":
			notes = append(notes, fmt.Sprintf("Pull request %s was closed without merging.", link))
			autoParts = nil
		}
	}
	if len(autoParts) > 0 {
		auto = "Automatic follow-up: the pull request you opened needs attention. Fix what is below, push to the same branch, and summarise what you changed.\n\n" +
			strings.Join(autoParts, "\n\n")
	}
	return notes, auto
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		return string(r[:300]) + "…"
	}
	return s
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n  ")
}
