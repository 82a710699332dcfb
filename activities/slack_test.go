package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/testing/slacktest"
	"github.com/airut-go/airut/workflows"
)

// exfil is a link as an agent might write it to carry data out: Slack's
// servers would fetch it, outside the sandbox, if the message unfurled.
const exfil = "https://exfil.example/c?d=c2VjcmV0"

// todoLine is a stream-json line of a TodoWrite call with one task.
func todoLine(content, status string) []byte {
	return []byte(`{"type":"assistant","message":{"content":[{"type":"tool_use","name":"TodoWrite","input":{"todos":[{"content":"` +
		content + `","status":"` + status + `"}]}}]}}`)
}

// Every message whose text comes from the agent is posted and edited with
// unfurling off, as seen on the wire by Slack.
func TestSlackAgentTextIsNeverUnfurled(t *testing.T) {
	const thread = "1700000000.000100"
	replyTo := workflows.ReplyTo{SlackThread: &workflows.SlackThread{ChannelID: "C1", ThreadTS: thread}}
	reply := func(text string, outbox bool) func(*testing.T, *Activities, *config.Repo, conversation.Layout) {
		return func(t *testing.T, a *Activities, r *config.Repo, l conversation.Layout) {
			in := workflows.ReplyInput{RepoID: r.ID, ConversationID: "0123abcd", TaskID: "t1", Kind: workflows.ReplyFinal,
				Channel: workflows.ChannelSlack, ReplyTo: replyTo, Text: text, AttachOutbox: outbox}
			if _, err := a.deliverSlack(context.Background(), r, l, in); err != nil {
				t.Fatalf("deliverSlack: %v", err)
			}
		}
	}
	tests := []struct {
		name         string
		setup        func(*testing.T, *slacktest.Server, conversation.Layout)
		run          func(*testing.T, *Activities, *config.Repo, conversation.Layout)
		posts, edits int // at least
	}{
		{name: "reply", run: reply("Done, see "+exfil, false), posts: 1},
		{name: "reply split into parts", run: reply(strings.Repeat("See "+exfil+" for details.\n\n", 1500), false), posts: 2},
		{
			name: "note on an outbox file that failed to upload",
			setup: func(t *testing.T, s *slacktest.Server, l conversation.Layout) {
				// The agent names the file; the note quotes the name.
				if err := os.WriteFile(filepath.Join(l.Outbox(), "exfil.example?d=c2VjcmV0"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				s.FailNext("files.getUploadURLExternal", "fatal_error", 1)
			},
			run:   reply("Here is the file.", true),
			posts: 2,
		},
		{
			name: "plan posted, then edited",
			run: func(t *testing.T, _ *Activities, r *config.Repo, _ conversation.Layout) {
				ctx := context.Background()
				p := newPlanStreamer(r, workflows.AgentInput{Channel: workflows.ChannelSlack, ReplyTo: replyTo})
				p.observe(ctx, todoLine("read "+exfil, "in_progress"))
				p.observe(ctx, todoLine("read "+exfil, "completed"))
				p.update(ctx, "", true)
			},
			posts: 1, edits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := slacktest.NewServer(t)
			r := &config.Repo{ID: "r1", Slack: &config.Slack{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: s.APIURL()}}
			l, err := conversation.For(t.TempDir(), "0123abcd")
			if err != nil {
				t.Fatal(err)
			}
			if err := l.EnsureDirs(); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, s, l)
			}
			tt.run(t, &Activities{}, r, l)

			var posts, edits int
			for _, p := range s.Posts() {
				if p.Update {
					edits++
				} else {
					posts++
				}
				if p.UnfurlLinks != "false" || p.UnfurlMedia != "false" {
					t.Errorf("%s %.40q… sent unfurl_links=%q unfurl_media=%q, want both false",
						p.Method, p.Text, p.UnfurlLinks, p.UnfurlMedia)
				}
			}
			if posts < tt.posts || edits < tt.edits {
				t.Errorf("%d posts and %d edits, want at least %d and %d", posts, edits, tt.posts, tt.edits)
			}
		})
	}
}

// A reply too long for messages goes out as a file; the upload's comment,
// which Slack shows as a message, carries none of the agent's text.
func TestSlackLongReplyCommentHasNoAgentText(t *testing.T) {
	s := slacktest.NewServer(t)
	r := &config.Repo{ID: "r1", Slack: &config.Slack{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: s.APIURL()}}
	l, err := conversation.For(t.TempDir(), "0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("See "+exfil+" for details.\n\n", 5000)
	in := workflows.ReplyInput{RepoID: "r1", ConversationID: "0123abcd", TaskID: "t1", Kind: workflows.ReplyFinal,
		Channel: workflows.ChannelSlack, ReplyTo: workflows.ReplyTo{SlackThread: &workflows.SlackThread{ChannelID: "C1", ThreadTS: "1700000000.000100"}}, Text: text}
	if _, err := (&Activities{}).deliverSlack(context.Background(), r, l, in); err != nil {
		t.Fatalf("deliverSlack: %v", err)
	}
	ups := s.Uploads()
	if len(ups) != 1 || len(s.Posts()) != 0 {
		t.Fatalf("%d uploads and %d posts, want the reply as one file", len(ups), len(s.Posts()))
	}
	if strings.Contains(ups[0].InitialComment, "exfil") {
		t.Errorf("upload comment %q carries the agent's text", ups[0].InitialComment)
	}
}
