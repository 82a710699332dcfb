package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/githubtest"
	"github.com/airut-go/airut/workflows"
)

// The conversation follows the pull request its agent opened: a failing
// check, a review with comments and the merge each reach the user once, in
// order, although the worker is killed and restarted in the middle.
func TestPullRequestLoopAcrossWorkerRestart(t *testing.T) {
	gh := githubtest.NewServer(t)
	gh.RequireToken("ghp_test")
	n := gh.AddPR("acme", "demo", githubtest.PR{HeadBranch: "fix-readme", HeadSHA: "1111111aaaa", Title: "Fix the README"})
	api := anthropictest.NewServer(t)
	// A short heartbeat: the kill below may land in the middle of a poll
	// or a reply, which the restarted worker retries once it is noticed.
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 4, repoYAML: fmt.Sprintf(
		"    github: {repository: acme/demo, token: ghp_test, base_url: %q, poll_interval: 1, max_poll_interval: 2}\n", gh.URL())})
	p := s.start("run")

	out, errOut, err := s.airut(5*time.Minute, "send", "--wait",
		"Fix the README and open a PR.\nRUN: git checkout -q -b fix-readme && git -c user.name=a -c user.email=a@x commit -q --allow-empty -m fix\nREPLY: opened the PR")
	if err != nil {
		t.Fatalf("send: %v\n%s\n%s", err, out, errOut)
	}
	prURL := fmt.Sprintf("/acme/demo/pull/%d", n)
	if !strings.Contains(out, "Pull request: ") || !strings.Contains(out, prURL) {
		t.Fatalf("reply = %q, want the PR link", out)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
	notes := func() []conversation.Reply { return s.replies(conv, string(workflows.ReplyPR)) }

	gh.SetCheck("acme", "demo", "1111111aaaa", githubtest.Check{Name: "unit-tests", Status: "completed", Conclusion: "failure", Summary: "TestReadme: missing title"})
	eventually(t, time.Minute, "the CI failure note", func() bool { return len(notes()) == 1 })

	p.kill()
	s.start("run")
	gh.PushHead("acme", "demo", n, "2222222bbbb")
	gh.SetCheck("acme", "demo", "2222222bbbb", githubtest.Check{Name: "unit-tests", Status: "completed", Conclusion: "success"})
	gh.AddReview("acme", "demo", n, "carol", "CHANGES_REQUESTED", "Please mention the license")
	gh.AddReviewComment("acme", "demo", n, "carol", "README.md", 1, "typo in the title")
	eventually(t, time.Minute, "the review note", func() bool { return len(notes()) == 2 })
	gh.Merge("acme", "demo", n)
	eventually(t, time.Minute, "the merge note", func() bool { return len(notes()) == 3 })
	time.Sleep(4 * time.Second) // a repeated note, if any, would arrive now

	got := notes()
	want := []string{"CI failed on pull request", "requested changes: Please mention the license", "was merged"}
	if len(got) != len(want) {
		t.Fatalf("notes = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i].Text, w) {
			t.Errorf("note %d = %q, want %q", i, got[i].Text, w)
		}
	}
	if !strings.Contains(got[0].Text, "TestReadme: missing title") || !strings.Contains(got[1].Text, "README.md:1: typo in the title") {
		t.Errorf("notes lack the failure or the comment: %q / %q", got[0].Text, got[1].Text)
	}
	st := s.status(conv)
	if st.PRState != "merged" || !strings.Contains(st.PR, prURL) {
		t.Errorf("status PR = %q %q", st.PR, st.PRState)
	}
	list := s.mustAirut(30*time.Second, "status", "--repo", "demo")
	if !strings.Contains(list, conv) {
		t.Errorf("status list: %s", list)
	}
	s.recordHistory(conv, "pr-loop")
}

// auto_iterate: a failing check starts one follow-up task in the same
// session with the failure in its prompt; the cap holds.
func TestAutoIterateOnFailingCheck(t *testing.T) {
	gh := githubtest.NewServer(t)
	n := gh.AddPR("acme", "demo", githubtest.PR{HeadBranch: "feature", HeadSHA: "aaaa1111"})
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: fmt.Sprintf(
		"    github: {repository: acme/demo, token: t, base_url: %q, poll_interval: 1, max_poll_interval: 2, auto_iterate: true, max_auto_iterations: 1}\n", gh.URL())})
	s.start("run")
	_, errOut, err := s.airut(5*time.Minute, "send", "--wait", "Work.\nRUN: git checkout -q -b feature\nREPLY: pushed")
	if err != nil {
		t.Fatalf("send: %v\n%s", err, errOut)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
	gh.SetCheck("acme", "demo", "aaaa1111", githubtest.Check{Name: "lint", Status: "completed", Conclusion: "failure", Summary: "lint: unused variable x"})
	eventually(t, 2*time.Minute, "the automatic follow-up task", func() bool { return len(s.replies(conv, "reply")) == 2 })
	var autoPrompt string
	for _, r := range api.Requests() {
		for _, m := range r.Messages {
			if strings.Contains(m.Text(), "Automatic follow-up") {
				autoPrompt = m.Text()
			}
		}
	}
	if !strings.Contains(autoPrompt, "lint: unused variable x") {
		t.Errorf("no follow-up prompt with the failure reached the model")
	}
	st := s.status(conv)
	if len(st.Tasks) != 2 || st.Tasks[1].SessionID != st.Tasks[0].SessionID {
		t.Errorf("tasks = %+v, want the follow-up in the same session", st.Tasks)
	}
	// A second failure on a new push: the cap (1) holds and the user is told.
	gh.PushHead("acme", "demo", n, "bbbb2222")
	gh.SetCheck("acme", "demo", "bbbb2222", githubtest.Check{Name: "lint", Status: "completed", Conclusion: "failure", Summary: "lint: still failing"})
	eventually(t, time.Minute, "the cap note", func() bool {
		for _, r := range s.replies(conv, string(workflows.ReplyPR)) {
			if strings.Contains(r.Text, "reached their limit (1)") {
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second)
	if n := len(s.replies(conv, "reply")); n != 2 {
		t.Errorf("task replies = %d, want 2 (no second automatic follow-up)", n)
	}
}

// A 403 with rate-limit headers pauses polling until the reset: no
// requests in between, and the news arrives after it.
func TestPullRequestPollingWaitsOutRateLimit(t *testing.T) {
	gh := githubtest.NewServer(t)
	gh.AddPR("acme", "demo", githubtest.PR{HeadBranch: "limits", HeadSHA: "cccc3333"})
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), repoYAML: fmt.Sprintf(
		"    github: {repository: acme/demo, token: t, base_url: %q, poll_interval: 1, max_poll_interval: 2}\n", gh.URL())})
	s.start("run")
	_, errOut, err := s.airut(5*time.Minute, "send", "--wait", "Work.\nRUN: git checkout -q -b limits\nREPLY: pushed")
	if err != nil {
		t.Fatalf("send: %v\n%s", err, errOut)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
	reset := time.Now().Add(8 * time.Second).Truncate(time.Second)
	gh.RateLimitNext(1, reset)
	gh.SetCheck("acme", "demo", "cccc3333", githubtest.Check{Name: "test", Status: "completed", Conclusion: "failure"})
	limited := func() int {
		n := 0
		for _, r := range gh.Requests() {
			if r.Status == 403 {
				n++
			}
		}
		return n
	}
	eventually(t, 30*time.Second, "the rate-limited poll", func() bool { return limited() == 1 })
	seen := len(gh.Requests())
	time.Sleep(time.Until(reset.Add(-time.Second)))
	if n := len(gh.Requests()); n != seen {
		t.Errorf("%d requests to GitHub while rate-limited, want none", n-seen)
	}
	eventually(t, time.Minute, "the CI note after the reset", func() bool { return len(s.replies(conv, string(workflows.ReplyPR))) == 1 })
	if note := s.replies(conv, string(workflows.ReplyPR))[0]; note.SentAt.Before(reset) {
		t.Errorf("note sent at %v, before the rate-limit reset %v", note.SentAt, reset)
	}
	if limited() != 1 {
		t.Errorf("403 answers = %d, want 1", limited())
	}
}
