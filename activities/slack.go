package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

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
		text := fmt.Sprintf("Repo %s has no Slack settings, but conversation %s came from Slack; the reply was not sent.", r.ID, in.ConversationID)
		return res, workflows.Fail(workflows.ErrDelivery, text, nil)
	}
	addr := in.ReplyTo.SlackThread
	if addr == nil || addr.ChannelID == "" {
		text := fmt.Sprintf("Conversation %s has no Slack thread to answer in; the reply was not sent.", in.ConversationID)
		return res, workflows.Fail(workflows.ErrDelivery, text, nil)
	}
	if done, err := alreadySent(l, in); err != nil || done {
		return res, err
	}
	api := slackclient.New(*r.Slack)
	log := a.log(in.ConversationID, in.TaskID)
	if in.Kind == workflows.ReplyAck {
		return res, acknowledgeSlack(ctx, api, l, in, *addr, log)
	}
	chunks, err := postSlackText(ctx, api, *addr, in)
	if err != nil {
		return res, err
	}
	var attached []string
	if in.AttachOutbox {
		if attached, res.Failed, err = uploadSlackOutbox(ctx, api, l, *addr, log); err != nil {
			return res, err
		}
	}
	if in.Kind == workflows.ReplyFinal || in.Kind == workflows.ReplyError {
		markAnswered(ctx, api, in, log)
	}
	if _, err := l.AppendReply(conversation.Reply{TaskID: in.TaskID, Kind: string(in.Kind), Text: in.Text, Footer: in.Footer, Files: attached, SentAt: time.Now().UTC()}); err != nil {
		return res, fmt.Errorf("record sent reply: %w", err)
	}
	res.Attached = baseNames(attached)
	log.Info("reply delivered", "kind", in.Kind, "channel", in.Channel, "chunks", chunks, "files", len(attached))
	return res, nil
}

// acknowledgeSlack titles a direct-message thread and shows the app as
// working (in channels Slack shows the listener's :eyes: already).
func acknowledgeSlack(ctx context.Context, api *slackapi.Client, l conversation.Layout, in workflows.ReplyInput, addr workflows.SlackThread, log *slog.Logger) error {
	if addr.DM {
		// Best effort: a status or title that cannot be set does not
		// hold up the task.
		if err := api.SetAssistantThreadsTitleContext(ctx, slackapi.AssistantThreadsSetTitleParameters{ChannelID: addr.ChannelID, ThreadTS: addr.ThreadTS, Title: addr.Title}); err != nil {
			log.Debug("thread title not set", "error", err)
		}
		if err := api.SetAssistantThreadsStatusContext(ctx, slackapi.AssistantThreadsSetStatusParameters{ChannelID: addr.ChannelID, ThreadTS: addr.ThreadTS, Status: "is working on this..."}); err != nil {
			log.Debug("thread status not set", "error", err)
		}
	}
	if _, err := l.AppendReply(conversation.Reply{TaskID: in.TaskID, Kind: string(in.Kind), Text: "(title and status)", SentAt: time.Now().UTC()}); err != nil {
		return fmt.Errorf("record acknowledgement: %w", err)
	}
	return nil
}

// postSlackText posts the reply as mrkdwn in the thread, split into
// messages, or as a file when it would take more than maxChunks; it
// returns how many messages it took.
func postSlackText(ctx context.Context, api *slackapi.Client, addr workflows.SlackThread, in workflows.ReplyInput) (int, error) {
	text := mrkdwn.Render(in.Text)
	if in.Footer != "" {
		text += "\n\n_" + in.Footer + "_"
	}
	chunks := mrkdwn.Split(text, slackMaxText)
	if len(chunks) > maxChunks {
		if _, err := api.UploadFileContext(ctx, slackapi.UploadFileParameters{
			Filename: "response.md", Title: "Reply", Content: in.Text, FileSize: len(in.Text),
			Channel: addr.ChannelID, ThreadTimestamp: addr.ThreadTS, InitialComment: "The reply is long, so it is attached as a file.",
		}); err != nil {
			return 0, slackError("upload reply", err)
		}
		return 1, nil
	}
	for _, c := range chunks {
		if _, err := slackclient.Post(ctx, api, addr.ChannelID, addr.ThreadTS, c); err != nil {
			return 0, slackError("post reply", err)
		}
	}
	return len(chunks), nil
}

// uploadSlackOutbox uploads the outbox files into the thread, says in the
// thread which could not be uploaded, and clears the ones that were.
func uploadSlackOutbox(ctx context.Context, api *slackapi.Client, l conversation.Layout, addr workflows.SlackThread, log *slog.Logger) (attached, failed []string, err error) {
	files, err := l.OutboxFiles()
	if err != nil {
		return nil, nil, fmt.Errorf("list outbox: %w", err)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err == nil {
			_, err = api.UploadFileContext(ctx, slackapi.UploadFileParameters{File: f, FileSize: int(st.Size()), Filename: filepath.Base(f), Channel: addr.ChannelID, ThreadTimestamp: addr.ThreadTS})
		}
		if err != nil {
			failed = append(failed, filepath.Base(f))
			continue
		}
		attached = append(attached, f)
	}
	if len(failed) > 0 {
		// The names are the agent's: this goes out like a reply.
		note := fmt.Sprintf("Could not upload %d file(s): `%s`", len(failed), strings.Join(failed, "`, `"))
		if _, err := slackclient.Post(ctx, api, addr.ChannelID, addr.ThreadTS, note); err != nil {
			log.Warn("upload failure not reported in the thread", "error", err)
		}
	}
	if err := l.ClearOutbox(attached); err != nil {
		return attached, failed, fmt.Errorf("clear outbox after uploading: %w", err)
	}
	return attached, failed, nil
}

// markAnswered swaps the :eyes: the listener put on each message the task
// answered for ✅, or ❌ when the task failed. The messages are named by
// their reply addresses (in.Answered); a workflow of an earlier release
// sends none, and its messages keep their :eyes:. Best effort: a reaction
// that cannot be changed does not hold up the reply.
func markAnswered(ctx context.Context, api *slackapi.Client, in workflows.ReplyInput, log *slog.Logger) {
	mark := "white_check_mark"
	if in.Kind == workflows.ReplyError {
		mark = "x"
	}
	for _, r := range in.Answered {
		m := r.SlackThread
		if m == nil || m.ChannelID == "" || m.TS == "" {
			continue
		}
		ref := slackapi.NewRefToMessage(m.ChannelID, m.TS)
		if err := api.RemoveReactionContext(ctx, "eyes", ref); err != nil {
			log.Debug("reaction not removed", "ts", m.TS, "error", err)
		}
		if err := api.AddReactionContext(ctx, mark, ref); err != nil {
			log.Debug("reaction not added", "ts", m.TS, "error", err)
		}
	}
}

// slackErrorText says, for a person, why Slack refused the reply for good;
// errors not listed (rate limits, outages) are retried.
var slackErrorText = map[string]string{
	"invalid_auth":      "Slack does not accept the repo's bot token",
	"not_authed":        "Slack does not accept the repo's bot token",
	"account_inactive":  "Slack does not accept the repo's bot token (the app's account is inactive)",
	"token_revoked":     "Slack does not accept the repo's bot token (it was revoked)",
	"channel_not_found": "the app cannot see the Slack channel of this conversation",
	"not_in_channel":    "the app is not a member of the Slack channel of this conversation",
	"is_archived":       "the Slack channel of this conversation is archived",
	"msg_too_long":      "Slack refused the reply as too long",
}

// slackError marks errors Slack will not get over (bad token, missing
// channel) as permanent; others (rate limits, outages) are retried.
func slackError(what string, err error) error {
	var se slackapi.SlackErrorResponse
	code := err.Error()
	if errors.As(err, &se) {
		code = se.Err
	}
	if why, ok := slackErrorText[code]; ok {
		text := fmt.Sprintf("The reply was not sent: %s (%s).", why, code)
		return workflows.Fail(workflows.ErrDelivery, text, fmt.Errorf("%s: %w", what, err))
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
	addr := in.ReplyTo.SlackThread
	if in.Channel != workflows.ChannelSlack || r.Slack == nil || addr == nil || addr.ChannelID == "" {
		return nil
	}
	return &planStreamer{api: slackclient.New(*r.Slack), channel: addr.ChannelID, thread: addr.ThreadTS, interval: time.Second}
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
