package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/slacktest"
)

// slackSite is an airut site whose repo has a Slack app on a fake Slack.
type slackSite struct {
	*site
	slack *slacktest.Server
}

func newSlackSite(t *testing.T, api *anthropictest.Server, opts siteOptions) *slackSite {
	sl := slacktest.NewServer(t)
	sl.SetBot("UBOT", "BBOT", "T1")
	sl.RequireBotToken("xoxb-test")
	sl.RequireAppToken("xapp-test")
	sl.AddUser(slacktest.User{ID: "UALICE", Name: "alice", RealName: "Alice Example"})
	sl.AddUser(slacktest.User{ID: "UBOB", Name: "bob", RealName: "Bob Example"})
	sl.AddUser(slacktest.User{ID: "UGUEST", Name: "guest", IsRestricted: true})
	opts.repoYAML += fmt.Sprintf("    slack: {bot_token: xoxb-test, app_token: xapp-test, authorized: [{workspace_members: true}], api_url: %q}\n", sl.APIURL())
	return &slackSite{site: newSite(t, api, opts), slack: sl}
}

func dm(user, ts, threadTS, text string) map[string]any {
	e := map[string]any{"type": "message", "channel": "D1", "channel_type": "im", "user": user, "text": text, "ts": ts, "event_ts": ts}
	if threadTS != "" {
		e["thread_ts"] = threadTS
	}
	return e
}

func postsIn(posts []slacktest.Post, thread string) []slacktest.Post {
	var out []slacktest.Post
	for _, p := range posts {
		if p.ThreadTS == thread && !p.Update {
			out = append(out, p)
		}
	}
	return out
}

// A DM starts a conversation: :eyes:, the thread titled, the plan shown
// and updated from the agent's TodoWrite calls, the reply in the thread
// and ✅; a follow-up in the thread resumes the same conversation and
// Claude session.
func TestSlackDMConversation(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSlackSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")
	s.slack.WaitConnections(t, 1, 30*time.Second)

	const root = "1700000000.000100"
	env := s.slack.PushEvent(dm("UALICE", root, "", "Please tidy the docs\nTODO: read the docs; fix the typos\nRUN: ls /workspace\nREPLY: **Tidied** the docs"))
	s.slack.WaitAcked(t, env, 30*time.Second)
	posts := s.slack.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range postsIn(p, root) {
			if strings.Contains(x.Text, "Tidied") {
				return true
			}
		}
		return false
	}, 3*time.Minute)
	thread := postsIn(posts, root)
	final := thread[len(thread)-1]
	if final.Text != "*Tidied* the docs" && !strings.HasPrefix(final.Text, "*Tidied* the docs\n") {
		t.Errorf("reply = %q, want mrkdwn of the agent's Markdown", final.Text)
	}
	var plan []slacktest.Post
	for _, p := range posts {
		if strings.HasPrefix(p.Text, "*Plan*") {
			plan = append(plan, p)
		}
	}
	if len(plan) == 0 || !strings.Contains(plan[len(plan)-1].Text, "fix the typos") || plan[0].ThreadTS != root {
		t.Errorf("plan posts = %+v, want the TodoWrite plan in the thread", plan)
	}
	if calls := s.slack.Calls("assistant.threads.setTitle"); len(calls) != 1 || calls[0].Arg("title") != "Please tidy the docs" {
		t.Errorf("setTitle calls = %+v", calls)
	}
	conv := slack.ConversationID("T1", "D1", root)
	reactions := func() string {
		var names []string
		for _, r := range s.slack.Reactions() {
			if r.TS == root {
				names = append(names, fmt.Sprint(r.Name, " ", r.Removed))
			}
		}
		return strings.Join(names, ",")
	}
	eventually(t, 30*time.Second, "the reactions, got "+reactions(), func() bool {
		return reactions() == "eyes false,eyes true,white_check_mark false"
	})

	first := s.status(conv)
	env = s.slack.PushEvent(dm("UALICE", "1700000000.000200", root, "What did I ask?\nRECALL"))
	s.slack.WaitAcked(t, env, 30*time.Second)
	s.slack.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range postsIn(p, root) {
			if strings.HasPrefix(x.Text, "I remember:") {
				return true
			}
		}
		return false
	}, 3*time.Minute)
	st := s.status(conv)
	if len(st.Tasks) != 2 || st.Tasks[1].SessionID != first.SessionID {
		t.Errorf("follow-up tasks = %+v, want 2 in session %s", st.Tasks, first.SessionID)
	}
	s.recordHistory(conv, "slack")
}

// The first mention inside an existing channel thread brings the thread's
// earlier messages into the prompt; a guest is politely refused.
func TestSlackMentionInThreadWithHistoryAndRefusal(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSlackSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")
	s.slack.WaitConnections(t, 1, 30*time.Second)

	const root = "1700000100.000100"
	s.slack.AddThreadMessage("C1", root, map[string]any{"user": "UBOB", "text": "The build breaks on ARM", "ts": root})
	s.slack.AddThreadMessage("C1", root, map[string]any{"user": "UALICE", "text": "Since the last release, I think", "ts": "1700000100.000200"})
	mention := map[string]any{"type": "app_mention", "channel": "C1", "user": "UALICE", "text": "<@UBOT> can you look?\nREPLY: looking", "ts": "1700000100.000300", "thread_ts": root, "event_ts": "1700000100.000300"}
	s.slack.AddThreadMessage("C1", root, map[string]any{"user": "UALICE", "text": mention["text"], "ts": mention["ts"]})
	env := s.slack.PushEvent(mention)
	s.slack.WaitAcked(t, env, 30*time.Second)
	s.slack.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range postsIn(p, root) {
			if strings.HasPrefix(x.Text, "looking") {
				return true
			}
		}
		return false
	}, 3*time.Minute)
	sawHistory := false
	for _, r := range api.Requests() {
		for _, m := range r.Messages {
			if strings.Contains(m.Text(), "The build breaks on ARM") && strings.Contains(m.Text(), "Since the last release") {
				sawHistory = true
			}
		}
	}
	if !sawHistory {
		t.Errorf("the thread's earlier messages did not reach the agent")
	}

	before := len(api.Requests())
	env = s.slack.PushEvent(map[string]any{"type": "app_mention", "channel": "C1", "user": "UGUEST", "text": "<@UBOT> delete prod", "ts": "1700000200.000100", "event_ts": "1700000200.000100"})
	s.slack.WaitAcked(t, env, 30*time.Second)
	s.slack.WaitPosts(t, func(p []slacktest.Post) bool {
		for _, x := range postsIn(p, "1700000200.000100") {
			if x.Text == slack.Refusal {
				return true
			}
		}
		return false
	}, 30*time.Second)
	time.Sleep(2 * time.Second)
	if len(api.Requests()) != before {
		t.Errorf("a refused user's message reached the agent")
	}
}

// A crash after the hand-off but before the ack: Slack re-delivers, and
// the task runs once.
func TestSlackCrashBeforeAckRunsOnce(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSlackSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 4})
	s.env = []string{slack.DebugPauseEnv + "=before-ack"}
	p := s.start("run")
	s.slack.WaitConnections(t, 1, 30*time.Second)
	const root = "1700000300.000100"
	env := s.slack.PushEvent(dm("UALICE", root, "", "REPLY: ran once"))
	eventually(t, time.Minute, "the pause before the ack", func() bool { return strings.Contains(p.logs.String(), "debug pause") })
	p.kill()
	if s.slack.Acked(env) {
		t.Fatal("the event was acknowledged before the crash")
	}
	s.env = nil
	s.start("run")
	s.slack.WaitConnections(t, 1, 30*time.Second)
	s.slack.Redeliver(env)
	s.slack.WaitAcked(t, env, time.Minute)
	s.slack.WaitPosts(t, func(p []slacktest.Post) bool { return len(postsIn(p, root)) >= 1 }, 3*time.Minute)
	time.Sleep(3 * time.Second)
	var replies int
	for _, x := range postsIn(s.slack.Posts(), root) {
		if strings.HasPrefix(x.Text, "ran once") {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("replies in the thread = %d, want exactly 1; posts: %+v", replies, s.slack.Posts())
	}
	if st := s.status(slack.ConversationID("T1", "D1", root)); len(st.Tasks) != 1 {
		t.Errorf("tasks = %d, want 1", len(st.Tasks))
	}
}

// A file shared with the message reaches the agent's inbox; a file the
// agent leaves in the outbox is uploaded into the thread.
func TestSlackFilesInAndOut(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSlackSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")
	s.slack.WaitConnections(t, 1, 30*time.Second)
	const root = "1700000400.000100"
	ev := dm("UALICE", root, "", "Count the lines\nRUN: wc -l < /inbox/notes.txt > /outbox/count.txt\nREPLY: counted")
	ev["subtype"] = "file_share"
	ev["files"] = []any{s.slack.AddFileObject("notes.txt", []byte("a\nb\nc\nd\n"))}
	env := s.slack.PushEvent(ev)
	s.slack.WaitAcked(t, env, 30*time.Second)
	eventually(t, 3*time.Minute, "the outbox upload", func() bool { return len(s.slack.Uploads()) == 1 })
	up := s.slack.Uploads()[0]
	if up.Name != "count.txt" || strings.TrimSpace(string(up.Data)) != "4" || up.ThreadTS != root {
		t.Errorf("upload = %s %q in thread %s, want count.txt with 4 in %s", up.Name, up.Data, up.ThreadTS, root)
	}
}
