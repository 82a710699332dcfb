package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/mrkdwn"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/workflows"
)

// Slack limits: one message holds up to 40,000 characters; a reply that
// needs more than maxChunks messages is uploaded as a file instead.
const (
	slackMaxText = 40000
	maxChunks    = 5
)

// deliverSlack answers in the message's thread. The acknowledgement of a
// new conversation is the thread title and status (Slack shows :eyes:
// already); replies are mrkdwn, split or uploaded when long, with the
// outbox uploaded into the thread, and the task's messages get ✅ or ❌.
func (a *Activities) deliverSlack(ctx context.Context, r *config.Repo, l conversation.Layout, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	var res workflows.ReplyResult
	if r.Slack == nil {
		return res, temporal.NewNonRetryableApplicationError("repo "+r.ID+" has no slack configured", workflows.ErrDelivery, nil)
	}
	if done, err := alreadySent(l, in); err != nil || done {
		return res, err
	}
	api := slackclient.New(*r.Slack)
	ch, thread := in.ReplyTo["slack_channel"], in.ReplyTo["thread_ts"]
	log := a.log(in.ConversationID, in.TaskID)
	if in.Kind == workflows.ReplyAck {
		if in.ReplyTo["dm"] == "1" {
			// Best effort: a status or title that cannot be set does not
			// hold up the task.
			if err := api.SetAssistantThreadsTitleContext(ctx, slackapi.AssistantThreadsSetTitleParameters{ChannelID: ch, ThreadTS: thread, Title: in.ReplyTo["title"]}); err != nil {
				log.Debug("thread title not set", "error", err)
			}
			if err := api.SetAssistantThreadsStatusContext(ctx, slackapi.AssistantThreadsSetStatusParameters{ChannelID: ch, ThreadTS: thread, Status: "is working on this..."}); err != nil {
				log.Debug("thread status not set", "error", err)
			}
		}
		_, err := l.AppendReply(conversation.Reply{TaskID: in.TaskID, Kind: string(in.Kind), Text: "(title and status)", SentAt: time.Now().UTC()})
		return res, err
	}

	text := mrkdwn.Render(in.Text)
	if in.Footer != "" {
		text += "\n\n_" + in.Footer + "_"
	}
	chunks := mrkdwn.Split(text, slackMaxText)
	if len(chunks) > maxChunks {
		if _, err := api.UploadFileContext(ctx, slackapi.UploadFileParameters{
			Filename: "response.md", Title: "Reply", Content: in.Text, FileSize: len(in.Text),
			Channel: ch, ThreadTimestamp: thread, InitialComment: "The reply is long, so it is attached as a file.",
		}); err != nil {
			return res, slackError("upload reply", err)
		}
	} else {
		for _, c := range chunks {
			if _, err := slackclient.Post(ctx, api, ch, thread, c); err != nil {
				return res, slackError("post reply", err)
			}
		}
	}
	var attached []string
	if in.AttachOutbox {
		files, err := l.OutboxFiles()
		if err != nil {
			return res, err
		}
		for _, f := range files {
			st, err := os.Stat(f)
			if err == nil {
				_, err = api.UploadFileContext(ctx, slackapi.UploadFileParameters{File: f, FileSize: int(st.Size()), Filename: filepath.Base(f), Channel: ch, ThreadTimestamp: thread})
			}
			if err != nil {
				res.Failed = append(res.Failed, filepath.Base(f))
				continue
			}
			attached = append(attached, f)
		}
		if len(res.Failed) > 0 {
			// The names are the agent's: this goes out like a reply.
			note := fmt.Sprintf("Could not upload %d file(s): `%s`", len(res.Failed), strings.Join(res.Failed, "`, `"))
			if _, err := slackclient.Post(ctx, api, ch, thread, note); err != nil {
				log.Warn("upload failure not reported in the thread", "error", err)
			}
		}
		if err := l.ClearOutbox(attached); err != nil {
			return res, err
		}
	}
	if in.Kind == workflows.ReplyFinal || in.Kind == workflows.ReplyError {
		mark := "white_check_mark"
		if in.Kind == workflows.ReplyError {
			mark = "x"
		}
		for _, id := range in.MessageIDs {
			parts := strings.SplitN(id, ":", 3) // slack:<channel>:<ts>
			if len(parts) != 3 || parts[0] != "slack" {
				continue
			}
			ref := slackapi.NewRefToMessage(parts[1], parts[2])
			api.RemoveReactionContext(ctx, "eyes", ref)
			api.AddReactionContext(ctx, mark, ref)
		}
	}
	if _, err := l.AppendReply(conversation.Reply{TaskID: in.TaskID, Kind: string(in.Kind), Text: in.Text, Footer: in.Footer, Files: attached, SentAt: time.Now().UTC()}); err != nil {
		return res, err
	}
	res.Attached = baseNames(attached)
	log.Info("reply delivered", "kind", in.Kind, "channel", in.Channel, "chunks", len(chunks), "files", len(attached))
	return res, nil
}

// slackError marks errors Slack will not get over (bad token, missing
// channel) as permanent; others (rate limits, outages) are retried.
func slackError(what string, err error) error {
	var se slackapi.SlackErrorResponse
	msg := err.Error()
	if errors.As(err, &se) {
		msg = se.Err
	}
	switch msg {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found", "not_in_channel", "is_archived", "msg_too_long":
		return temporal.NewNonRetryableApplicationError(what+": "+msg, workflows.ErrDelivery, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// planStreamer shows the agent's TodoWrite plan as one Slack message in
// the thread, posted on the first plan and then edited, at most once a
// second. Failures are logged, never fatal.
type planStreamer struct {
	api      *slackapi.Client
	channel  string
	thread   string
	ts       string
	last     time.Time
	pending  string
	mu       sync.Mutex
	interval time.Duration
}

func newPlanStreamer(r *config.Repo, in workflows.AgentInput) *planStreamer {
	if in.Channel != workflows.ChannelSlack || r.Slack == nil || in.ReplyTo["slack_channel"] == "" {
		return nil
	}
	return &planStreamer{api: slackclient.New(*r.Slack), channel: in.ReplyTo["slack_channel"], thread: in.ReplyTo["thread_ts"], interval: time.Second}
}

// todoInput is TodoWrite's tool input.
type todoInput struct {
	Todos []struct {
		Content string `json:"content"`
		Status  string `json:"status"`
	} `json:"todos"`
}

// observe takes a stream-json line; a TodoWrite tool call updates the plan.
func (p *planStreamer) observe(ctx context.Context, line []byte) {
	if p == nil || !strings.Contains(string(line), `"TodoWrite"`) {
		return
	}
	var ev struct {
		Message struct {
			Content []struct {
				Type  string          `json:"type"`
				Name  string          `json:"name"`
				Input json.RawMessage `json:"input"`
			} `json:"content"`
		} `json:"message"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	for _, b := range ev.Message.Content {
		if b.Type != "tool_use" || b.Name != "TodoWrite" {
			continue
		}
		var in todoInput
		if json.Unmarshal(b.Input, &in) != nil {
			continue
		}
		var sb strings.Builder
		sb.WriteString("*Plan*")
		for _, t := range in.Todos {
			mark := "⚪"
			switch t.Status {
			case "in_progress":
				mark = "🔄"
			case "completed":
				mark = "✅"
			}
			fmt.Fprintf(&sb, "\n%s %s", mark, mrkdwn.Render(t.Content))
		}
		p.update(ctx, sb.String(), false)
	}
}

// update posts or edits the plan message, debounced; flush forces the
// last pending text out.
func (p *planStreamer) update(ctx context.Context, text string, flush bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if text != "" {
		p.pending = text
	}
	if p.pending == "" || (!flush && time.Since(p.last) < p.interval && p.ts != "") {
		return
	}
	var err error
	if p.ts == "" {
		p.ts, err = slackclient.Post(ctx, p.api, p.channel, p.thread, p.pending)
	} else {
		err = slackclient.Update(ctx, p.api, p.channel, p.ts, p.pending)
	}
	if err != nil {
		return
	}
	p.pending, p.last = "", time.Now()
}
