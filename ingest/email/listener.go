package email

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/imapbox"
	"github.com/airut-go/airut/workflows"
)

// DebugPauseEnv names an unstable debug knob for crash tests: set to
// "after-fetch" or "after-handoff", the listener logs "debug pause" and
// stops at that point of the first message until it is killed.
const DebugPauseEnv = "AIRUT_DEBUG_EMAIL_PAUSE"

// fetchBatch bounds how many messages one pass hands off before checking
// the mailbox again.
const fetchBatch = 50

// Listener hands the mail of one repo's mailbox to its conversations.
type Listener struct {
	RepoID         string
	Email          config.Email
	AttachmentsDir string
	// RejectedDir keeps mail that was not accepted (malformed, failed
	// authentication, unknown sender) with the reason, so nothing that
	// arrived is lost without a trace.
	RejectedDir string
	Temporal    client.Client
	Options     workflows.Options
	Log         *slog.Logger
	// Dial opens the mailbox; nil means imapbox.Dial with the config.
	Dial func(ctx context.Context) (*imapbox.Mailbox, error)
}

func (l *Listener) log() *slog.Logger {
	if l.Log == nil {
		return slog.Default().With("repo", l.RepoID, "channel", "email")
	}
	return l.Log.With("repo", l.RepoID, "channel", "email")
}

// Run serves the mailbox until ctx ends, reconnecting with backoff (10 s,
// 30 s, 90 s, 270 s, then every 300 s: unlike the reference it never gives
// up, since a mail server outage should not need a restart).
func (l *Listener) Run(ctx context.Context) error {
	log := l.log()
	failures := 0
	for ctx.Err() == nil {
		err := l.serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		failures++
		wait := reconnectDelay(failures)
		log.Warn("mailbox connection lost; reconnecting", "error", err, "attempt", failures, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

func reconnectDelay(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < 300*time.Second; i++ {
		d *= 3
	}
	return min(d, 300*time.Second)
}

func (l *Listener) dial(ctx context.Context) (*imapbox.Mailbox, error) {
	if l.Dial != nil {
		return l.Dial(ctx)
	}
	return imapbox.Dial(ctx, IMAPOptions(l.Email, l.log()))
}

// serve handles one connection: fetch, hand off, delete, wait, repeat.
func (l *Listener) serve(ctx context.Context) error {
	box, err := l.dial(ctx)
	if err != nil {
		return err
	}
	defer box.Close()
	log := l.log()
	log.Info("mailbox connected", "server", l.Email.IMAP.Server, "user", l.Email.Account.Username, "idle", l.Email.IMAP.Idle() && box.SupportsIdle())
	poll := time.Duration(l.Email.IMAP.PollInterval * float64(time.Second))
	idleRestart := time.Duration(l.Email.IMAP.IdleReconnectInterval) * time.Second
	for {
		msgs, err := box.Fetch(ctx, fetchBatch)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		if err := l.handOff(ctx, box, msgs); err != nil {
			return err
		}
		if len(msgs) == fetchBatch {
			continue
		}
		if err := box.Wait(ctx, l.Email.IMAP.Idle(), poll, idleRestart); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("wait for mail: %w", err)
		}
	}
}

// handoff is one accepted message on its way to its conversation.
type handoff struct {
	uid    uint32
	conv   string
	isNew  bool
	sender string
	msg    workflows.Message
}

// handOffConcurrency bounds the signals in flight; messages of one
// conversation still go one after another, in mailbox order.
const handOffConcurrency = 4

// handOff takes a batch of messages from the mailbox to Temporal. A
// message is deleted only after Temporal durably accepted it (or after a
// rejected one was kept on disk), so a crash anywhere re-delivers it, and
// the workflow's de-duplication makes the second delivery a no-op.
func (l *Listener) handOff(ctx context.Context, box *imapbox.Mailbox, msgs []imapbox.Message) error {
	var done []uint32
	var order []string
	groups := map[string][]*handoff{}
	for _, m := range msgs {
		l.debugPause(ctx, "after-fetch")
		h, err := l.prepare(ctx, m)
		if err != nil {
			return err
		}
		if h == nil {
			done = append(done, m.UID) // rejected and kept on disk
			continue
		}
		if _, ok := groups[h.conv]; !ok {
			order = append(order, h.conv)
		}
		groups[h.conv] = append(groups[h.conv], h)
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, handOffConcurrency)
	var wg sync.WaitGroup
	for _, conv := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(hs []*handoff) {
			defer func() { <-sem; wg.Done() }()
			for _, h := range hs {
				target := ingest.Target{RepoID: l.RepoID, ConversationID: h.conv, Options: l.Options}
				if _, err := ingest.Deliver(ctx, l.Temporal, target, h.msg); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return // later messages of this conversation wait for the next pass
				}
				mu.Lock()
				done = append(done, h.uid)
				mu.Unlock()
				l.log().Info("mail accepted", "uid", h.uid, "conversation", h.conv, "new", h.isNew, "from", h.sender, "attachments", len(h.msg.Attachments))
			}
		}(groups[conv])
	}
	wg.Wait()
	if len(done) > 0 {
		l.debugPause(ctx, "after-handoff")
		if err := box.Delete(ctx, done...); err != nil {
			return fmt.Errorf("delete handed-off messages: %w", err)
		}
	}
	return firstErr
}

// prepare parses, authenticates and places one message. It returns nil
// (and no error) for a message that was rejected and kept on disk.
func (l *Listener) prepare(ctx context.Context, m imapbox.Message) (*handoff, error) {
	p, err := Parse(m.Raw)
	if err != nil {
		return nil, l.reject(m, "", "malformed message: "+err.Error())
	}
	sender, err := Authenticate(m.Raw, AuthConfig{
		TrustedAuthservID:         l.Email.Auth.TrustedAuthservID,
		AuthorizedSenders:         l.Email.Auth.AuthorizedSenders,
		MicrosoftInternalFallback: l.Email.Auth.MicrosoftInternalFallback,
	})
	if err != nil {
		var re *RejectError
		if errors.As(err, &re) {
			return nil, l.reject(m, re.From, re.Reason)
		}
		return nil, l.reject(m, p.From, err.Error())
	}
	conv, isNew, err := l.conversation(ctx, p)
	if err != nil {
		return nil, err
	}
	atts, err := l.saveAttachments(p)
	if err != nil {
		return nil, err
	}
	msg := workflows.Message{
		ID:            "email:" + p.MessageID,
		Channel:       workflows.ChannelEmail,
		Sender:        sender,
		SenderDisplay: p.SenderName,
		Subject:       p.Subject,
		Body:          p.Body,
		ReceivedAt:    time.Now().UTC(),
		Attachments:   atts,
		ReplyTo: map[string]string{
			"to":         p.From,
			"message_id": p.MessageID,
			"references": strings.Join(p.References, " "),
			"subject":    p.Subject,
		},
	}
	if isNew {
		msg.ModelHint = ModelHint(p, l.mailboxAddress())
	}
	return &handoff{uid: m.UID, conv: conv, isNew: isNew, sender: sender, msg: msg}, nil
}

// conversation finds the conversation a message continues in this repo,
// or names a new one. A new conversation's ID is derived from the
// Message-ID, so a message delivered again after a crash reaches the same
// workflow (where it is recognised as a duplicate) instead of opening a
// second conversation.
func (l *Listener) conversation(ctx context.Context, p *Parsed) (string, bool, error) {
	if id := ConversationID(p); id != "" {
		_, err := l.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(l.RepoID, id), "")
		if err == nil {
			return id, false, nil
		}
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			return "", false, fmt.Errorf("look up conversation %s: %w", id, err)
		}
		// An ID of another repo, or one Temporal no longer knows: new.
	}
	sum := sha256.Sum256([]byte(l.RepoID + "\x00" + p.MessageID))
	return hex.EncodeToString(sum[:4]), true, nil
}

func (l *Listener) mailboxAddress() string {
	if a, err := mail.ParseAddress(l.Email.Account.From); err == nil {
		return a.Address
	}
	return l.Email.Account.Username
}

// saveAttachments writes attachments under a directory named after the
// message, so a re-delivery overwrites rather than duplicates.
func (l *Listener) saveAttachments(p *Parsed) ([]workflows.Attachment, error) {
	if len(p.Attachments) == 0 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(p.MessageID))
	dir := filepath.Join(l.AttachmentsDir, l.RepoID, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save attachments: %w", err)
	}
	var out []workflows.Attachment
	for i, a := range p.Attachments {
		name := filepath.Base(filepath.Clean("/" + a.Name))
		if name == "/" || name == "." {
			name = "attachment"
		}
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, name))
		if err := os.WriteFile(path, a.Data, 0o644); err != nil {
			return nil, fmt.Errorf("save attachment %s: %w", name, err)
		}
		out = append(out, workflows.Attachment{Name: name, Path: path})
	}
	return out, nil
}

// reject keeps a message that starts nothing on disk with its reason and
// logs it; the caller then removes it from the mailbox.
func (l *Listener) reject(m imapbox.Message, from, reason string) error {
	sum := sha256.Sum256(m.Raw)
	base := filepath.Join(l.RejectedDir, l.RepoID, time.Now().UTC().Format("20060102T150405")+"-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return fmt.Errorf("keep rejected message: %w", err)
	}
	if err := os.WriteFile(base+".eml", m.Raw, 0o600); err != nil {
		return fmt.Errorf("keep rejected message: %w", err)
	}
	if err := os.WriteFile(base+".reason", []byte(reason+"\n"), 0o600); err != nil {
		return fmt.Errorf("keep rejected message: %w", err)
	}
	l.log().Warn("mail rejected; nothing started", "uid", m.UID, "from", from, "reason", reason, "kept", base+".eml")
	return nil
}

func (l *Listener) debugPause(ctx context.Context, at string) {
	if os.Getenv(DebugPauseEnv) != at {
		return
	}
	l.log().Warn("debug pause", "at", at)
	<-ctx.Done()
}
