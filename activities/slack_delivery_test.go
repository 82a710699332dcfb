package activities_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/internal/testing/slacktest"
	"github.com/airut-go/airut/workflows"
)

// A thread in channel C1: the person's first message (the root), a
// second one the same task answers, and a third that came in while the
// task ran and waits for the next one. The listener put :eyes: on each.
const (
	slackRoot   = "1700000000.000100"
	slackSecond = "1700000000.000200"
	slackQueued = "1700000000.000300"
)

func slackRepo(t *testing.T) (*slacktest.Server, *config.Config) {
	t.Helper()
	s := slacktest.NewServer(t)
	s.SetBot("UBOT", "BBOT", "T1")
	sc := config.Slack{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: s.APIURL()}
	cfg := &config.Config{
		StateDir: t.TempDir(),
		Repos:    map[string]*config.Repo{testRepo: {ID: testRepo, Slack: &sc}},
	}
	api := slackclient.New(sc)
	for _, m := range []struct{ ts, text string }{
		{slackRoot, "Please tidy the docs"}, {slackSecond, "and the README"}, {slackQueued, "one more thing"},
	} {
		s.AddThreadMessage("C1", slackRoot, map[string]any{"user": "UALICE", "text": m.text, "ts": m.ts})
		if err := api.AddReactionContext(context.Background(), "eyes", slackapi.NewRefToMessage("C1", m.ts)); err != nil {
			t.Fatal(err)
		}
	}
	return s, cfg
}

// slackAddress is the reply address of the thread's message ts.
func slackAddress(ts string) workflows.ReplyTo {
	return workflows.ReplyTo{SlackThread: &workflows.SlackThread{ChannelID: "C1", ThreadTS: slackRoot, TS: ts, Title: "Please tidy the docs"}}
}

func slackReply(kind workflows.ReplyKind, text string) workflows.ReplyInput {
	return workflows.ReplyInput{
		RepoID: testRepo, ConversationID: testConv, TaskID: "t1", Kind: kind, Channel: workflows.ChannelSlack,
		ReplyTo: slackAddress(slackSecond), Text: text, Footer: "Cost: $0.26",
		// Only Answered names the messages to mark: MessageIDs are not
		// parsed for Slack coordinates.
		Answered: []workflows.ReplyTo{slackAddress(slackRoot), slackAddress(slackSecond)},
	}
}

// reactions are the names of the reactions on message ts of C1, as
// Slack shows them now.
func reactions(s *slacktest.Server, ts string) []string {
	var names []string
	for _, m := range s.Messages("C1") {
		if m["ts"] != ts {
			continue
		}
		rs, _ := m["reactions"].([]any)
		for _, r := range rs {
			names = append(names, r.(map[string]any)["name"].(string))
		}
	}
	return names
}

// TestSlackDeliverReply checks a reply as the person sees it in Slack: in
// the thread, as a message or (when long) a file, with the outbox files,
// and the reactions on the messages it answers changed from :eyes: to the
// outcome.
func TestSlackDeliverReply(t *testing.T) {
	long := strings.Repeat("A line of a very long reply.\n\n", 8000)
	tests := []struct {
		name     string
		kind     workflows.ReplyKind
		text     string
		outbox   bool
		posts    []string // texts posted in the thread
		uploads  []string // names of files uploaded into the thread
		attached []string
		mark     string // reaction on the answered messages
	}{
		{name: "reply", kind: workflows.ReplyFinal, text: "**Tidied** the docs",
			posts: []string{"*Tidied* the docs\n\n_Cost: $0.26_"}, mark: "white_check_mark"},
		{name: "error", kind: workflows.ReplyError, text: "The agent stopped: out of time.",
			posts: []string{"The agent stopped: out of time.\n\n_Cost: $0.26_"}, mark: "x"},
		{name: "long reply as a file", kind: workflows.ReplyFinal, text: long,
			uploads: []string{"response.md"}, mark: "white_check_mark"},
		{name: "outbox files", kind: workflows.ReplyFinal, text: "Here it is.", outbox: true,
			posts: []string{"Here it is.\n\n_Cost: $0.26_"}, uploads: []string{"report.csv"}, attached: []string{"report.csv"}, mark: "white_check_mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, cfg := slackRepo(t)
			l := layout(t, cfg)
			if err := os.WriteFile(filepath.Join(l.Outbox(), "report.csv"), []byte("a,b\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			in := slackReply(tt.kind, tt.text)
			in.AttachOutbox = tt.outbox
			res, err := deliver(t, cfg, in)
			if err != nil {
				t.Fatalf("DeliverReply: %v", err)
			}
			if !slices.Equal(res.Attached, tt.attached) {
				t.Errorf("attached %q, want %q", res.Attached, tt.attached)
			}

			var posts []string
			for _, p := range s.Posts() {
				if p.Channel != "C1" || p.ThreadTS != slackRoot {
					t.Errorf("posted %.40q in %s thread %q, want C1 thread %s", p.Text, p.Channel, p.ThreadTS, slackRoot)
				}
				posts = append(posts, p.Text)
			}
			if !slices.Equal(posts, tt.posts) {
				t.Errorf("posts %q, want %q", posts, tt.posts)
			}
			var uploads []string
			for _, u := range s.Uploads() {
				if u.Channel != "C1" || u.ThreadTS != slackRoot {
					t.Errorf("uploaded %s to %s thread %q, want C1 thread %s", u.Name, u.Channel, u.ThreadTS, slackRoot)
				}
				if u.Name == "response.md" && string(u.Data) != tt.text {
					t.Errorf("response.md holds %d bytes, want the reply's %d", len(u.Data), len(tt.text))
				}
				uploads = append(uploads, u.Name)
			}
			if !slices.Equal(uploads, tt.uploads) {
				t.Errorf("uploads %q, want %q", uploads, tt.uploads)
			}

			for _, ts := range []string{slackRoot, slackSecond} {
				if got := reactions(s, ts); !slices.Equal(got, []string{tt.mark}) {
					t.Errorf("answered message %s has reactions %q, want only %s", ts, got, tt.mark)
				}
			}
			if got := reactions(s, slackQueued); !slices.Equal(got, []string{"eyes"}) {
				t.Errorf("message %s, not answered by this task, has reactions %q, want only eyes", slackQueued, got)
			}
		})
	}
}

// The acknowledgement of a task posts nothing (Slack shows :eyes:
// already); in a direct message it names the assistant thread and shows
// that the bot is working.
func TestSlackAcknowledge(t *testing.T) {
	tests := []struct {
		name   string
		dm     bool
		titled bool
	}{
		{"channel thread", false, false},
		{"direct message", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, cfg := slackRepo(t)
			layout(t, cfg)
			in := slackReply(workflows.ReplyAck, "I've started working on this.")
			in.ReplyTo.DM = workflows.Flag(tt.dm)
			if _, err := deliver(t, cfg, in); err != nil {
				t.Fatalf("DeliverReply: %v", err)
			}
			if n := len(s.Posts()); n != 0 {
				t.Errorf("%d messages posted for an acknowledgement, want none", n)
			}
			titles := s.Calls("assistant.threads.setTitle")
			if (len(titles) == 1) != tt.titled {
				t.Fatalf("%d title calls, want titled=%v", len(titles), tt.titled)
			}
			if tt.titled && (titles[0].Arg("title") != "Please tidy the docs" || titles[0].Arg("thread_ts") != slackRoot) {
				t.Errorf("title %q on thread %q", titles[0].Arg("title"), titles[0].Arg("thread_ts"))
			}
			if got := reactions(s, slackSecond); !slices.Equal(got, []string{"eyes"}) {
				t.Errorf("reactions %q after the acknowledgement, want eyes still", got)
			}
		})
	}
}

// A retried delivery of a reply that went out posts nothing more.
func TestSlackDeliverReplyOnce(t *testing.T) {
	s, cfg := slackRepo(t)
	layout(t, cfg)
	for i := range 2 {
		if _, err := deliver(t, cfg, slackReply(workflows.ReplyFinal, "Done")); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if n := len(s.Posts()); n != 1 {
		t.Errorf("%d messages posted by two deliveries of one reply, want 1", n)
	}
	if n := len(s.Calls("reactions.add")); n != 3+2 { // the listener's three :eyes:, then the two marks
		t.Errorf("%d reactions added, want 5", n)
	}
}

// Slack refusing the reply for good (the app left the channel) fails the
// delivery with ErrDelivery, in words a person can act on; a passing
// failure gives an ordinary error, which the workflow retries. Either way
// the reply is not recorded as sent.
func TestSlackDeliverReplyRefused(t *testing.T) {
	tests := []struct {
		slackErr  string
		permanent bool
		text      string
	}{
		{"not_in_channel", true, "The reply was not sent: the app is not a member of the Slack channel of this conversation (not_in_channel)."},
		{"invalid_auth", true, "The reply was not sent: Slack does not accept the repo's bot token (invalid_auth)."},
		{"internal_error", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.slackErr, func(t *testing.T) {
			s, cfg := slackRepo(t)
			l := layout(t, cfg)
			s.FailNext("chat.postMessage", tt.slackErr, 1)
			_, err := deliver(t, cfg, slackReply(workflows.ReplyFinal, "Done"))
			if err == nil {
				t.Fatal("DeliverReply succeeded, want an error")
			}
			checkDeliveryError(t, err, tt.permanent)
			if tt.permanent {
				if got := workflows.ProblemText(err); got != tt.text {
					t.Errorf("the user reads %q, want %q", got, tt.text)
				}
			}
			if sent, _ := l.ReadReplies(); len(sent) != 0 {
				t.Errorf("reply log holds %d entries after a failed delivery, want none", len(sent))
			}
			if got := reactions(s, slackSecond); !slices.Equal(got, []string{"eyes"}) {
				t.Errorf("reactions %q after a failed delivery, want eyes still", got)
			}
		})
	}
}
