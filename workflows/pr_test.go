package workflows_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/airut-go/airut/workflows"
)

// fakeGitHub answers the PR activities from a script of poll results, one
// per poll; the last one repeats. It honours the cursors as the real
// activity does.
type fakeGitHub struct {
	mu       sync.Mutex
	settings workflows.PRSettings
	polls    []workflows.PollPRResult
	calls    int
	times    []time.Time
	now      func() time.Time
}

func (g *fakeGitHub) Find(ctx context.Context, in workflows.FindPRInput) (workflows.FindPRResult, error) {
	return workflows.FindPRResult{Enabled: true, Settings: g.settings,
		PR: &workflows.PRRef{Owner: "o", Repo: "r", Number: 7, URL: "https://github.example/o/r/pull/7", HeadBranch: "fix", HeadSHA: "aaaaaaa1"}}, nil
}

func (g *fakeGitHub) Poll(ctx context.Context, in workflows.PollPRInput) (workflows.PollPRResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.times = append(g.times, g.now())
	i := min(g.calls, len(g.polls)-1)
	g.calls++
	res := g.polls[i]
	var reviews []workflows.PRReview
	for _, r := range res.Reviews {
		if r.ID > in.ReviewCursor {
			reviews = append(reviews, r)
		}
	}
	var comments []workflows.PRComment
	for _, c := range res.Comments {
		if c.ID > in.CommentCursor {
			comments = append(comments, c)
		}
	}
	res.Reviews, res.Comments = reviews, comments
	return res, nil
}

func (h *harness) withGitHub(g *fakeGitHub) {
	g.now = h.env.Now
	h.env.RegisterActivityWithOptions(g.Find, activity.RegisterOptions{Name: workflows.ActivityFindPullRequest})
	h.env.RegisterActivityWithOptions(g.Poll, activity.RegisterOptions{Name: workflows.ActivityPollPullRequest})
}

func (f *fakeActivities) byKind(kind workflows.ReplyKind) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.replies {
		if r.Kind == kind {
			out = append(out, r.Text)
		}
	}
	return out
}

var (
	failing = workflows.PollPRResult{State: "open", HeadSHA: "aaaaaaa1", ChecksDone: true,
		ChecksFailed: []workflows.PRCheck{{Name: "test", Conclusion: "failure", URL: "https://ci/1", Summary: "TestFoo: expected 1, got 2"}}}
	pending  = workflows.PollPRResult{State: "open", HeadSHA: "aaaaaaa1"}
	passing  = workflows.PollPRResult{State: "open", HeadSHA: "bbbbbbb2", ChecksDone: true}
	reviewed = workflows.PollPRResult{State: "open", HeadSHA: "bbbbbbb2", ChecksDone: true,
		Reviews:  []workflows.PRReview{{ID: 10, User: "carol", State: "CHANGES_REQUESTED", Body: "Please add a test"}},
		Comments: []workflows.PRComment{{ID: 20, User: "carol", Path: "main.go", Line: 3, Body: "typo here"}}}
	merged = workflows.PollPRResult{State: "merged", HeadSHA: "bbbbbbb2", ChecksDone: true}
)

func TestPRLoopTellsEachChangeOnceInOrder(t *testing.T) {
	h := newHarness(t)
	g := &fakeGitHub{settings: workflows.PRSettings{PollSeconds: 60, MaxPollSeconds: 600},
		polls: []workflows.PollPRResult{pending, pending, failing, failing, passing, reviewed, reviewed, merged}}
	h.withGitHub(g)
	h.signalAt(0, msg("m1", "open a PR"))
	// Polls at 1, 3 and 7 minutes (pending, pending, failing).
	var checksAfterFailure string
	h.env.RegisterDelayedCallback(func() { checksAfterFailure = h.status(t).PRChecks }, 7*time.Minute+30*time.Second)
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: 30 * 24 * time.Hour}))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	finals := h.act.byKind(workflows.ReplyFinal)
	if len(finals) != 1 || !strings.Contains(finals[0], "Pull request: https://github.example/o/r/pull/7") {
		t.Errorf("task reply = %q, want the PR link", finals)
	}
	notes := h.act.byKind(workflows.ReplyPR)
	want := []string{"CI failed on pull request [#7]", "requested changes: Please add a test", "was merged"}
	if len(notes) != len(want) {
		t.Fatalf("PR notes = %q, want %d notes", notes, len(want))
	}
	for i, w := range want {
		if !strings.Contains(notes[i], w) {
			t.Errorf("note %d = %q, want it to contain %q", i, notes[i], w)
		}
	}
	if !strings.Contains(notes[0], "TestFoo: expected 1, got 2") || !strings.Contains(notes[1], "main.go:3: typo here") {
		t.Errorf("notes lack the failure text or comment: %q", notes)
	}
	if g.calls != len(g.polls) {
		t.Errorf("polls = %d, want %d (polling stops after the merge)", g.calls, len(g.polls))
	}
	// Unchanged polls back off: the gap after two quiet polls is longer
	// than the first; after a change it is back to the base interval.
	gap := func(i int) time.Duration { return g.times[i].Sub(g.times[i-1]) }
	if gap(1) != 2*time.Minute || gap(2) != 4*time.Minute || gap(3) != time.Minute {
		t.Errorf("poll gaps = %v, %v, %v; want 2m, 4m (backoff while quiet), then 1m after a change", gap(1), gap(2), gap(3))
	}
	if len(h.act.runs) != 1 {
		t.Errorf("agent runs = %d, want 1 (auto_iterate is off)", len(h.act.runs))
	}
	if checksAfterFailure != "failed: test" {
		t.Errorf("status while CI failed: checks %q, want %q", checksAfterFailure, "failed: test")
	}
}

func TestAutoIterateStartsOneFollowUpWithinTheCap(t *testing.T) {
	h := newHarness(t)
	failing2 := failing
	failing2.HeadSHA = "ccccccc3"
	g := &fakeGitHub{settings: workflows.PRSettings{PollSeconds: 60, MaxPollSeconds: 600, AutoIterate: true, MaxAutoIterations: 1},
		polls: []workflows.PollPRResult{failing, failing, failing2, merged}}
	h.withGitHub(g)
	h.signalAt(0, msg("m1", "open a PR"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: 30 * 24 * time.Hour}))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.runs) != 2 {
		t.Fatalf("agent runs = %d, want the task plus one automatic follow-up", len(h.act.runs))
	}
	auto := h.act.runs[1]
	if !strings.Contains(auto.Prompt, "Automatic follow-up") || !strings.Contains(auto.Prompt, "TestFoo: expected 1, got 2") || auto.SessionID == "" {
		t.Errorf("follow-up prompt/session = %q / %q", auto.Prompt, auto.SessionID)
	}
	notes := strings.Join(h.act.byKind(workflows.ReplyPR), "\n---\n")
	if !strings.Contains(notes, "Starting automatic follow-up 1 of 1") || !strings.Contains(notes, "reached their limit (1)") {
		t.Errorf("notes = %s", notes)
	}
}

func TestPeopleGoBeforeAutomaticFollowUps(t *testing.T) {
	h := newHarness(t)
	g := &fakeGitHub{settings: workflows.PRSettings{PollSeconds: 60, AutoIterate: true, MaxAutoIterations: 3},
		polls: []workflows.PollPRResult{failing, merged}}
	h.withGitHub(g)
	// A person writes while the poll that finds the failure is under way:
	// both are pending when the poll ends, and the person's message runs
	// first.
	h.env.OnActivity(workflows.ActivityPollPullRequest, mockAny, mockAny).After(2 * time.Minute).Return(g.Poll)
	h.signalAt(0, msg("m1", "open a PR"))
	h.signalAt(2*time.Minute, msg("m2", "a person asks"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: 30 * 24 * time.Hour}))
	if len(h.act.runs) < 3 {
		t.Fatalf("runs = %d", len(h.act.runs))
	}
	if !strings.Contains(h.act.runs[1].Prompt, "a person asks") || !strings.Contains(h.act.runs[2].Prompt, "Automatic follow-up") {
		t.Errorf("order: run 2 = %q, run 3 = %q", h.act.runs[1].Prompt, h.act.runs[2].Prompt)
	}
}

func TestRateLimitedPollWaitsUntilReset(t *testing.T) {
	h := newHarness(t)
	g := &fakeGitHub{settings: workflows.PRSettings{PollSeconds: 60}}
	h.withGitHub(g)
	var reset time.Time
	h.env.RegisterDelayedCallback(func() { reset = h.env.Now().Add(45 * time.Minute) }, 0)
	g.polls = []workflows.PollPRResult{{}, merged}
	limited := true
	h.env.OnActivity(workflows.ActivityPollPullRequest, mockAny, mockAny).Return(func(ctx context.Context, in workflows.PollPRInput) (workflows.PollPRResult, error) {
		g.mu.Lock()
		g.times = append(g.times, h.env.Now())
		g.mu.Unlock()
		if limited {
			limited = false
			return workflows.PollPRResult{RateLimitedUntil: reset}, nil
		}
		return merged, nil
	})
	h.signalAt(0, msg("m1", "open a PR"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(workflows.Options{IdleTimeout: 30 * 24 * time.Hour}))
	if len(g.times) != 2 {
		t.Fatalf("polls = %d, want 2", len(g.times))
	}
	if g.times[1].Before(reset) {
		t.Errorf("second poll at %v, before the rate-limit reset %v", g.times[1], reset)
	}
}
