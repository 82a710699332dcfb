package activities

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

// DeliverReply sends a reply on the conversation's channel. Email goes
// out over SMTP in the sender's thread, Slack into the message's thread.
// The local channel records it in replies.jsonl, where `airut send --wait`
// and `airut status` read it, and moves outbox files to sent/<task>/.
func (a *Activities) DeliverReply(ctx context.Context, in workflows.ReplyInput) (res workflows.ReplyResult, err error) {
	defer keepAlive(ctx, nil)()
	if !in.Kind.Interim() {
		defer func() {
			if err == nil {
				a.replied(in.ConversationID)
			}
		}()
	}
	cfg, r, l, err := a.conversation(in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.ReplyResult{}, err
	}
	// With a dashboard people can reach (dashboard.base_url), the
	// acknowledgement says where to follow the task; a loopback address
	// would mean nothing to the person who wrote.
	if in.Kind == workflows.ReplyAck && cfg.Dashboard.Enabled && cfg.Dashboard.BaseURL != "" {
		in.Text += fmt.Sprintf("\n\nSee progress at %s/conversation/%s", cfg.Dashboard.URL(), in.ConversationID)
	}
	switch in.Channel {
	case workflows.ChannelLocal:
		return a.deliverLocal(l, in)
	case workflows.ChannelEmail:
		return a.deliverEmail(ctx, r, l, in)
	case workflows.ChannelSlack:
		return a.deliverSlack(ctx, r, l, in)
	}
	text := fmt.Sprintf("channel %q is not available in this build", in.Channel)
	return workflows.ReplyResult{}, workflows.Fail(workflows.ErrDelivery, text, nil)
}

func (a *Activities) deliverLocal(l conversation.Layout, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	var res workflows.ReplyResult
	var files []string
	if in.AttachOutbox {
		var err error
		if files, res.Failed, err = l.MoveOutbox(in.TaskID); err != nil {
			return res, err
		}
		for _, f := range files {
			res.Attached = append(res.Attached, filepath.Base(f))
		}
	}
	wrote, err := l.AppendReply(conversation.Reply{
		TaskID: in.TaskID, Kind: string(in.Kind), Text: in.Text, Footer: in.Footer, Files: files, SentAt: time.Now().UTC(),
	})
	if err != nil {
		return res, err
	}
	if wrote {
		a.log(in.ConversationID, in.TaskID).Info("reply delivered", "kind", in.Kind, "channel", in.Channel, "files", len(files))
	}
	return res, nil
}
