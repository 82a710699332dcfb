package schedule_test

import (
	"context"
	"testing"

	"github.com/airut-go/airut/ingest/schedule"
	slackin "github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/testing/slacktest"
	"github.com/airut-go/airut/workflows"
)

// A firing's thread: by email a new conversation whose reply opens the
// thread; in Slack a root message posted first (in the channel, or in the
// user's direct messages), whose thread the listener maps to the same
// conversation when the recipient answers there.
func TestOpenThread(t *testing.T) {
	fake := slacktest.NewServer(t)
	fake.SetBot("UBOT", "BBOT", "T1")
	cfg := &config.Config{Repos: map[string]*config.Repo{"demo": {ID: "demo",
		Slack: &config.Slack{BotToken: "xoxb-1", AppToken: "xapp-1", APIURL: fake.APIURL()}}}}
	a := &schedule.Activities{Config: func() *config.Config { return cfg }}
	open := func(d workflows.Delivery) workflows.ThreadResult {
		t.Helper()
		res, err := a.OpenThread(context.Background(), workflows.ThreadInput{RepoID: "demo", Schedule: "nightly", Subject: "Nightly deps", Deliver: d})
		if err != nil {
			t.Fatalf("OpenThread(%+v): %v", d, err)
		}
		return res
	}

	mail := open(workflows.Delivery{Channel: workflows.ChannelEmail, To: "pat@example.org"})
	if th := mail.ReplyTo.EmailThread; len(mail.ConversationID) != 8 || th == nil || th.To != "pat@example.org" || th.Subject != "Nightly deps" || !th.Opens || th.MessageID != "" {
		t.Errorf("email thread = %+v %+v", mail, mail.ReplyTo.EmailThread)
	}
	if again := open(workflows.Delivery{Channel: workflows.ChannelEmail, To: "pat@example.org"}); again.ConversationID == mail.ConversationID {
		t.Errorf("two firings share conversation %s", again.ConversationID)
	}

	for _, tc := range []struct{ to, channel string }{{"C0123456789", "C0123456789"}, {"U0PAT", "D0PAT"}} {
		res := open(workflows.Delivery{Channel: workflows.ChannelSlack, To: tc.to})
		posts := fake.Posts()
		root := posts[len(posts)-1]
		th := res.ReplyTo.SlackThread
		if root.Channel != tc.channel || root.ThreadTS != "" || root.Text != "*Scheduled task nightly*: Nightly deps" {
			t.Errorf("root post for %s = %+v", tc.to, root)
		}
		if th == nil || th.ChannelID != tc.channel || th.ThreadTS != root.TS || res.ConversationID != slackin.ConversationID("T1", tc.channel, root.TS) {
			t.Errorf("slack thread for %s = %+v %+v; want the root's thread and the listener's conversation for it", tc.to, res, th)
		}
	}
}
