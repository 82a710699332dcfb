package activities

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airut-go/airut/workflows"
)

// The local channel records the reply in replies.jsonl and files the
// outbox under sent/<task>; a retried delivery sends nothing twice.
func TestDeliverReplyLocal(t *testing.T) {
	f := newFixture(t)
	l := f.layout("0000000a")
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.md", "chart.png"} {
		if err := os.WriteFile(filepath.Join(l.Outbox(), name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := workflows.ReplyInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1", Kind: workflows.ReplyFinal,
		Channel: workflows.ChannelLocal, Text: "Done.", Footer: "cost $0.01", AttachOutbox: true}
	deliver := func() workflows.ReplyResult {
		t.Helper()
		val, err := f.env.ExecuteActivity(f.a.DeliverReply, in)
		if err != nil {
			t.Fatalf("DeliverReply: %v", err)
		}
		var res workflows.ReplyResult
		if err := val.Get(&res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := deliver()
	if !slices.Equal(res.Attached, []string{"chart.png", "report.md"}) || len(res.Failed) != 0 {
		t.Errorf("first delivery attached %v, failed %v; want both outbox files", res.Attached, res.Failed)
	}
	for _, name := range []string{"chart.png", "report.md"} {
		if _, err := os.Stat(filepath.Join(l.Root, "sent", "t1", name)); err != nil {
			t.Errorf("%s not in sent/t1: %v", name, err)
		}
	}
	if left, _ := l.OutboxFiles(); len(left) != 0 {
		t.Errorf("outbox still holds %v", left)
	}

	if again := deliver(); len(again.Attached) != 0 {
		t.Errorf("repeated delivery attached %v again", again.Attached)
	}
	replies, err := l.ReadReplies()
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 {
		t.Fatalf("replies.jsonl has %d replies, want 1", len(replies))
	}
	r := replies[0]
	if r.TaskID != "t1" || r.Kind != "reply" || r.Text != "Done." || r.Footer != "cost $0.01" || len(r.Files) != 2 {
		t.Errorf("recorded reply = %+v", r)
	}
}

// A reply on a channel this build does not have is not retried.
func TestDeliverReplyUnknownChannel(t *testing.T) {
	f := newFixture(t)
	_, err := f.env.ExecuteActivity(f.a.DeliverReply, workflows.ReplyInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1",
		Kind: workflows.ReplyFinal, Channel: "pigeon"})
	if !workflows.IsKind(err, workflows.ErrDelivery) {
		t.Fatalf("error = %v, want %s", err, workflows.ErrDelivery)
	}
	if got := workflows.ProblemText(err); got != `channel "pigeon" is not available in this build` {
		t.Errorf("problem = %q", got)
	}
}

// With dashboard.base_url set, the acknowledgement links the
// conversation's dashboard page; without it (a loopback dashboard) it
// does not.
func TestAckLinksTheDashboard(t *testing.T) {
	for _, tc := range []struct {
		name, baseURL, want string
	}{
		{"base_url", "https://airut.example.com/", "\n\nSee progress at https://airut.example.com/conversation/0000000a"},
		{"loopback only", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.Dashboard.Enabled, f.cfg.Dashboard.BaseURL = true, tc.baseURL
			l := f.layout("0000000a")
			if err := l.EnsureDirs(); err != nil {
				t.Fatal(err)
			}
			in := workflows.ReplyInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1", Kind: workflows.ReplyAck,
				Channel: workflows.ChannelLocal, Text: "On it."}
			if _, err := f.env.ExecuteActivity(f.a.DeliverReply, in); err != nil {
				t.Fatal(err)
			}
			replies, err := l.ReadReplies()
			if err != nil || len(replies) != 1 || replies[0].Text != "On it."+tc.want {
				t.Errorf("ack = %+v, %v; want %q", replies, err, "On it."+tc.want)
			}
		})
	}
}
