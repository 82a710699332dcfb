package slack

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/airut-go/airut/internal/metrics"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/workflows"
)

// DebugPauseEnv names an unstable debug knob for crash tests: set to
// "before-ack", the listener logs "debug pause" after handing an event to
// Temporal and stops there, unacknowledged, until it is killed.
const DebugPauseEnv = "AIRUT_DEBUG_SLACK_PAUSE"

// Refusal is the reply to a person who may not use the bot.
const Refusal = "Sorry, you are not authorized to use this bot here. Ask an administrator of this workspace for access."

// historyLimit bounds the earlier thread messages included when the bot
// is first mentioned inside an existing thread.
const historyLimit = 200

// maxFileBytes caps one downloaded file.
const maxFileBytes = 100 << 20

// Listener serves one repo's Slack app over Socket Mode.
type Listener struct {
	RepoID         string
	Slack          config.Slack
	Temporal       client.Client
	Options        workflows.Options
	AttachmentsDir string
	Log            *slog.Logger
	// Metrics counts accepted and rejected messages; nil counts nothing.
	Metrics *metrics.Metrics

	api    *slack.Client
	sm     *socketmode.Client
	auth   *Authorizer
	botID  string
	teamID string

	mu   sync.Mutex
	seen map[string]time.Time // channel:ts handled recently (app_mention and message both arrive)
}

// ConversationID is the conversation of a thread: derived, not stored, so
// every event of the thread maps to the same workflow even when two
// arrive while the first is still being set up.
func ConversationID(team, channel, threadTS string) string {
	sum := sha256.Sum256([]byte(team + ":" + channel + ":" + threadTS))
	return hex.EncodeToString(sum[:4])
}

func (l *Listener) log() *slog.Logger {
	lg := l.Log
	if lg == nil {
		lg = slog.Default()
	}
	return lg.With("repo", l.RepoID, "channel", "slack")
}

// Run connects and serves events until ctx ends; the Socket Mode client
// reconnects by itself.
func (l *Listener) Run(ctx context.Context) error {
	rules, err := ParseRules(l.Slack.Authorized)
	if err != nil {
		return err
	}
	l.api = slackclient.New(l.Slack)
	var at *slack.AuthTestResponse
	for attempt := 1; ; attempt++ {
		at, err = l.api.AuthTestContext(ctx)
		if err == nil {
			break
		}
		wait := min(time.Duration(attempt)*10*time.Second, 5*time.Minute)
		l.log().Warn("slack auth.test failed; retrying", "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	l.botID, l.teamID = at.UserID, at.TeamID
	l.auth = &Authorizer{API: l.api, TeamID: at.TeamID, Rules: rules}
	l.sm = socketmode.New(l.api)
	// The socket outlives ctx until the event being handled is
	// acknowledged: a stop (shutdown, or a reload that restarts or
	// removes this app) finishes its hand-off rather than leaving it
	// for Slack to deliver again.
	smCtx, closeSocket := context.WithCancel(context.WithoutCancel(ctx))
	defer closeSocket()
	go l.sm.RunContext(smCtx)
	l.log().Info("slack listener started", "bot", at.User, "team", at.Team)
	for {
		select {
		case <-ctx.Done():
			return nil
		case evt := <-l.sm.Events:
			l.dispatch(ctx, evt)
			if ctx.Err() != nil {
				// The client queues an acknowledgement and writes it
				// from its own goroutine, with no way to wait for the
				// write: give it a moment before the socket closes, or
				// Slack delivers the event again (harmless, but noisy).
				time.Sleep(ackFlush)
				return nil
			}
		}
	}
}

// ackFlush is how long a stopping listener keeps its socket open after
// acknowledging the event it finished.
const ackFlush = 500 * time.Millisecond

func (l *Listener) dispatch(ctx context.Context, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		l.log().Info("slack connected")
	case socketmode.EventTypeConnectionError:
		l.log().Warn("slack connection error; reconnecting", "error", evt.Data)
	case socketmode.EventTypeEventsAPI:
		ea, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok || evt.Request == nil {
			return
		}
		hctx, cancel := ingest.HandOffContext(ctx)
		defer cancel()
		if err := l.handle(hctx, ea); err != nil {
			// Not acknowledged: Slack delivers it again, and the
			// workflow runs it once.
			l.log().Warn("event not handed off; Slack will re-deliver it", "error", err)
			return
		}
		if os.Getenv(DebugPauseEnv) == "before-ack" {
			l.log().Warn("debug pause", "at", "before-ack")
			<-ctx.Done()
			return
		}
		l.sm.Ack(*evt.Request)
	}
}

// inbound is a message the bot may act on.
type inbound struct {
	user, channel, threadTS, ts, text string
	dm, mention                       bool
	files                             []slack.File
}

func (l *Listener) handle(ctx context.Context, ea slackevents.EventsAPIEvent) error {
	switch e := ea.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if e.BotID != "" || e.User == "" || !l.channelAllowed(e.Channel) {
			return nil
		}
		return l.process(ctx, inbound{user: e.User, channel: e.Channel, threadTS: cmp.Or(e.ThreadTimeStamp, e.TimeStamp), ts: e.TimeStamp,
			text: e.Text, mention: true, files: e.Files})
	case *slackevents.MessageEvent:
		if e.BotID != "" || e.User == "" || e.User == l.botID || (e.SubType != "" && e.SubType != "file_share") {
			return nil
		}
		in := inbound{user: e.User, channel: e.Channel, threadTS: cmp.Or(e.ThreadTimeStamp, e.TimeStamp), ts: e.TimeStamp, text: e.Text}
		if e.Message != nil {
			in.files = e.Message.Files
		}
		if e.ChannelType == "im" {
			in.dm = true
			return l.process(ctx, in)
		}
		if !l.channelAllowed(e.Channel) || e.ThreadTimeStamp == "" || l.mentions(e.Text) {
			return nil // a mention arrives as app_mention too
		}
		engaged, err := l.exists(ctx, ConversationID(l.teamID, e.Channel, e.ThreadTimeStamp))
		if err != nil || !engaged {
			return err
		}
		return l.process(ctx, in)
	case *slackevents.AssistantThreadStartedEvent:
		t := e.AssistantThread
		if _, err := slackclient.Post(ctx, l.api, t.ChannelID, t.ThreadTimeStamp, "Hello! How can I help you today?"); err != nil {
			l.log().Warn("greeting not posted", "error", err)
		}
	}
	return nil
}

func (l *Listener) channelAllowed(ch string) bool {
	if len(l.Slack.AllowedChannels) == 0 || strings.HasPrefix(ch, "D") {
		return true
	}
	for _, c := range l.Slack.AllowedChannels {
		if c == ch {
			return true
		}
	}
	return false
}

func (l *Listener) mentions(text string) bool {
	return strings.Contains(text, "<@"+l.botID+">") || strings.Contains(text, "<@"+l.botID+"|")
}

func (l *Listener) exists(ctx context.Context, conv string) (bool, error) {
	return ingest.ConversationExists(ctx, l.Temporal, l.RepoID, conv)
}

// process authorises a message and hands it to its thread's conversation.
func (l *Listener) process(ctx context.Context, in inbound) error {
	key := in.channel + ":" + in.ts
	if l.recentlySeen(key) {
		return nil
	}
	log := l.log().With("user", in.user, "slack_channel", in.channel, "ts", in.ts)
	user, reason := l.auth.Authorize(ctx, in.user)
	if reason != "" {
		log.Warn("slack message rejected; nothing started", "reason", reason)
		l.Metrics.Message("slack", false, "unauthorized user")
		if user != nil && !user.IsBot {
			if _, err := slackclient.Post(ctx, l.api, in.channel, in.threadTS, Refusal); err != nil {
				log.Warn("refusal not posted", "error", err)
			}
		}
		l.markSeen(key)
		return nil
	}
	conv := ConversationID(l.teamID, in.channel, in.threadTS)
	body := l.readable(ctx, in.text)
	title := ingest.FirstLine(body, 60)
	isNew := false
	if in.mention && in.threadTS != in.ts {
		engaged, err := l.exists(ctx, conv)
		if err != nil {
			return err
		}
		if !engaged {
			isNew = true
			if hist := l.history(ctx, in); hist != "" {
				body = hist + "\n\n" + body
			}
		}
	}
	atts, err := l.download(ctx, in)
	if err != nil {
		return err
	}
	msg := workflows.Message{
		ID:            "slack:" + in.channel + ":" + in.ts,
		Channel:       workflows.ChannelSlack,
		Sender:        in.user,
		SenderDisplay: fmt.Sprintf("%s <%s>", displayName(user), in.user),
		Subject:       title,
		Body:          body,
		ReceivedAt:    time.Now().UTC(),
		Attachments:   atts,
		ReplyTo: workflows.ReplyTo{SlackThread: &workflows.SlackThread{
			ChannelID: in.channel, ThreadTS: in.threadTS, TS: in.ts, Title: title, DM: workflows.Flag(in.dm),
		}},
	}
	target := ingest.Target{RepoID: l.RepoID, ConversationID: conv, Options: l.Options}
	if _, err := ingest.Deliver(ctx, l.Temporal, target, msg); err != nil {
		return err
	}
	l.markSeen(key)
	if err := l.api.AddReactionContext(ctx, "eyes", slack.NewRefToMessage(in.channel, in.ts)); err != nil {
		log.Debug("reaction not added", "error", err)
	}
	l.Metrics.Message("slack", true, "")
	log.Info("slack message accepted", "conversation", conv, "new_thread_history", isNew, "files", len(atts))
	return nil
}

func (l *Listener) recentlySeen(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.seen[key]
	return ok
}

// markSeen remembers a handled event for a while; older entries go, so
// the set stays small (the workflow de-duplicates beyond it).
func (l *Listener) markSeen(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]time.Time{}
	}
	now := time.Now()
	l.seen[key] = now
	if len(l.seen) > 256 {
		for k, at := range l.seen {
			if now.Sub(at) > time.Minute {
				delete(l.seen, k)
			}
		}
	}
}

var (
	userMention    = regexp.MustCompile(`<@([UW][A-Z0-9]+)(\|[^>]*)?>`)
	channelMention = regexp.MustCompile(`<#C[A-Z0-9]+\|([^>]*)>`)
	groupMention   = regexp.MustCompile(`<!subteam\^[A-Z0-9]+\|([^>]*)>`)
)

// readable strips the bot's mention and turns Slack's tokens into names.
func (l *Listener) readable(ctx context.Context, text string) string {
	text = strings.ReplaceAll(text, "<@"+l.botID+">", "")
	text = userMention.ReplaceAllStringFunc(text, func(m string) string {
		id := userMention.FindStringSubmatch(m)[1]
		if u, err := l.auth.user(ctx, id); err == nil {
			return "@" + displayName(u)
		}
		return "@" + id
	})
	text = channelMention.ReplaceAllString(text, "#$1")
	text = groupMention.ReplaceAllString(text, "@$1")
	return strings.TrimSpace(text)
}

// history renders the thread's earlier messages for a first mention
// inside an existing thread. Only messages of people who may use the bot
// themselves are included: the history becomes part of the agent's
// prompt, so anyone else's message there would be an instruction from
// someone the bot refuses (a guest, an external user in a shared channel,
// another bot). Those are dropped and counted.
func (l *Listener) history(ctx context.Context, in inbound) string {
	var lines []string
	dropped := 0
	cursor := ""
	for fetched := 0; fetched < 1000; {
		msgs, more, next, err := l.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: in.channel, Timestamp: in.threadTS, Cursor: cursor, Limit: 200})
		if err != nil {
			l.log().Warn("thread history not read", "error", err)
			break
		}
		fetched += len(msgs)
		for _, m := range msgs {
			if m.Timestamp == in.ts {
				continue // the mention itself is the message's body
			}
			if m.BotID != "" || m.User == "" || m.User == l.botID || (m.SubType != "" && m.SubType != "file_share") {
				dropped++
				continue
			}
			u, reason := l.auth.Authorize(ctx, m.User)
			if reason != "" {
				dropped++
				continue
			}
			line := fmt.Sprintf("[%s]: %s", displayName(u), l.readable(ctx, m.Text))
			if len(m.Files) > 0 {
				var names []string
				for _, f := range m.Files {
					names = append(names, f.Name)
				}
				line += " [attached: " + strings.Join(names, ", ") + "]"
			}
			lines = append(lines, line)
		}
		if !more {
			break
		}
		cursor = next
	}
	if dropped > 0 {
		l.log().Info("thread history: messages of bots and of people not authorized left out",
			"slack_channel", in.channel, "thread_ts", in.threadTS, "dropped", dropped, "included", len(lines))
	}
	if len(lines) == 0 {
		return ""
	}
	omitted := ""
	if len(lines) > historyLimit {
		omitted = fmt.Sprintf("[%d earlier messages omitted]\n", len(lines)-historyLimit)
		lines = lines[len(lines)-historyLimit:]
	}
	return "Earlier messages in this thread:\n" + omitted + strings.Join(lines, "\n")
}

// download saves the message's files where any worker can read them; only
// Slack's own hosts over https are fetched, with the bot token.
func (l *Listener) download(ctx context.Context, in inbound) ([]workflows.Attachment, error) {
	if len(in.files) == 0 {
		return nil, nil
	}
	dir := filepath.Join(l.AttachmentsDir, "slack-"+strings.ReplaceAll(in.channel+"-"+in.ts, ".", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save slack files: %w", err)
	}
	var out []workflows.Attachment
	for i, f := range in.files {
		src := cmp.Or(f.URLPrivateDownload, f.URLPrivate)
		u, err := url.Parse(src)
		if err != nil || !l.trustedFileHost(u) {
			l.log().Warn("file not downloaded: untrusted URL", "file", f.Name, "url", src)
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		req.Header.Set("Authorization", "Bearer "+l.Slack.BotToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", f.Name, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxFileBytes+1))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(data) > maxFileBytes {
			l.log().Warn("file not downloaded", "file", f.Name, "status", resp.StatusCode, "error", err)
			continue
		}
		name := filepath.Base(filepath.Clean("/" + f.Name))
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, name))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("save %s: %w", f.Name, err)
		}
		out = append(out, workflows.Attachment{Name: name, Path: path})
	}
	return out, nil
}

func (l *Listener) trustedFileHost(u *url.URL) bool {
	if l.Slack.APIURL != "" {
		// Tests point the app at a local Slack; trust its host only.
		api, err := url.Parse(l.Slack.APIURL)
		return err == nil && u.Host == api.Host
	}
	return u.Scheme == "https" && (u.Host == "files.slack.com" || u.Host == "slack.com")
}

// displayName is how a person is shown: display name, else real name,
// else user name.
func displayName(u *slack.User) string {
	return cmp.Or(u.Profile.DisplayName, u.RealName, u.Name)
}
