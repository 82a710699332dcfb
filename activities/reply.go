package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

// DeliverReply sends a reply on the conversation's channel. Email goes
// out over SMTP in the sender's thread. The local channel records it in
// replies.jsonl, where `airut send --wait` and `airut status` read it, and
// moves outbox files to sent/<task>/.
func (a *Activities) DeliverReply(ctx context.Context, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	defer keepAlive(ctx, nil)()
	cfg, r, err := a.repo(in.RepoID)
	if err != nil {
		return workflows.ReplyResult{}, err
	}
	l, err := a.layout(cfg, in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.ReplyResult{}, err
	}
	switch in.Channel {
	case workflows.ChannelLocal:
		return a.deliverLocal(l, in)
	case workflows.ChannelEmail:
		return a.deliverEmail(ctx, r, l, in)
	case workflows.ChannelSlack:
		return a.deliverSlack(ctx, r, l, in)
	default:
		msg := fmt.Sprintf("channel %q is not available in this build", in.Channel)
		return workflows.ReplyResult{}, temporal.NewNonRetryableApplicationError(msg, workflows.ErrDelivery, nil)
	}
}

func (a *Activities) deliverLocal(l conversation.Layout, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	var res workflows.ReplyResult
	var files []string
	if in.AttachOutbox {
		out, err := l.OutboxFiles()
		if err != nil {
			return res, err
		}
		sentDir := filepath.Join(l.Root, "sent", in.TaskID)
		if len(out) > 0 {
			if err := os.MkdirAll(sentDir, 0o755); err != nil {
				return res, fmt.Errorf("deliver outbox: %w", err)
			}
		}
		for _, f := range out {
			dest := filepath.Join(sentDir, filepath.Base(f))
			if err := os.Rename(f, dest); err != nil {
				res.Failed = append(res.Failed, filepath.Base(f))
				continue
			}
			files = append(files, dest)
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
