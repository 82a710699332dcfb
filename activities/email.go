package activities

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/mailout"
	"github.com/airut-go/airut/workflows"
)

// deliverEmail answers in the sender's thread: Re: [ID:…] subject,
// In-Reply-To and References of the message being answered, the reply as
// text and HTML, outbox files attached and then removed. The reply log
// keeps a retried activity from sending a reply that already went out.
func (a *Activities) deliverEmail(ctx context.Context, r *config.Repo, l conversation.Layout, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	var res workflows.ReplyResult
	e := r.Email
	if e == nil {
		text := fmt.Sprintf("Repo %s has no email settings, but conversation %s came by email; the reply was not sent.", r.ID, in.ConversationID)
		return res, workflows.Fail(workflows.ErrDelivery, text, nil)
	}
	thread := in.ReplyTo.EmailThread
	if thread == nil || thread.To == "" {
		text := fmt.Sprintf("Conversation %s has no email address to answer; the reply was not sent.", in.ConversationID)
		return res, workflows.Fail(workflows.ErrDelivery, text, nil)
	}
	if done, err := alreadySent(l, in); err != nil || done {
		return res, err
	}
	from, err := mail.ParseAddress(e.Account.From)
	if err != nil {
		text := fmt.Sprintf("The sender address of repo %s (email.account.from: %q) is not an email address; the reply was not sent.", r.ID, e.Account.From)
		return res, workflows.Fail(workflows.ErrConfig, text, err)
	}
	var files []string
	if in.AttachOutbox {
		if files, err = l.OutboxFiles(); err != nil {
			return res, fmt.Errorf("list outbox: %w", err)
		}
	}
	inReplyTo, refs := mailout.ThreadHeaders(thread.MessageID, thread.References)
	subject := mailout.ReplySubject(thread.Subject, in.ConversationID)
	if thread.Opens {
		subject = strings.TrimPrefix(subject, "Re: ")
	}
	nonce := make([]byte, 4)
	rand.Read(nonce)
	now := time.Now()
	raw, attached, failed, err := mailout.Compose(mailout.Reply{
		From:        e.Account.From,
		To:          []string{thread.To},
		Subject:     subject,
		MessageID:   mailout.NewMessageID(in.ConversationID, from.Address, now, hex.EncodeToString(nonce)),
		InReplyTo:   inReplyTo,
		References:  refs,
		Text:        in.Text,
		Footer:      in.Footer,
		Attachments: files,
		Date:        now,
	})
	if err != nil {
		// The same input composes the same way: trying again cannot help.
		text := fmt.Sprintf("The reply to %s could not be written as an email; it was not sent.", thread.To)
		return res, workflows.Fail(workflows.ErrDelivery, text, fmt.Errorf("compose reply: %w", err))
	}
	if err := mailout.Send(ctx, a.smtpConfig(e, a.log(in.ConversationID, in.TaskID)), e.Account.From, []string{thread.To}, raw); err != nil {
		var se *mailout.SendError
		if errors.As(err, &se) && se.Permanent {
			return res, workflows.Fail(workflows.ErrDelivery, refusedText(thread.To, se), fmt.Errorf("send reply: %w", err))
		}
		return res, fmt.Errorf("send reply: %w", err)
	}
	if err := l.ClearOutbox(attached); err != nil {
		return res, fmt.Errorf("clear outbox after sending: %w", err)
	}
	if _, err := l.AppendReply(conversation.Reply{TaskID: in.TaskID, Kind: string(in.Kind), Text: in.Text, Footer: in.Footer, Files: attached, SentAt: time.Now().UTC()}); err != nil {
		return res, fmt.Errorf("record sent reply: %w", err)
	}
	res.Attached, res.Failed = baseNames(attached), failed
	a.log(in.ConversationID, in.TaskID).Info("reply delivered", "kind", in.Kind, "channel", in.Channel, "to", thread.To, "files", len(attached))
	return res, nil
}

// refusedText says, for a person, that the mail server refused the reply
// for good, with its SMTP code when it gave one.
func refusedText(to string, se *mailout.SendError) string {
	if se.Code != 0 {
		return fmt.Sprintf("The mail server refused the reply to %s (SMTP %d); it was not sent.", to, se.Code)
	}
	return fmt.Sprintf("The reply to %s could not be sent with the repo's SMTP settings.", to)
}

func alreadySent(l conversation.Layout, in workflows.ReplyInput) (bool, error) {
	sent, err := l.ReadReplies()
	if err != nil {
		return false, err
	}
	for _, s := range sent {
		if s.TaskID == in.TaskID && s.Kind == string(in.Kind) {
			return true, nil
		}
	}
	return false, nil
}

func (a *Activities) smtpConfig(e *config.Email, log *slog.Logger) mailout.SMTPConfig {
	c := mailout.SMTPConfig{
		Server: e.SMTP.Server, Port: e.SMTP.Port,
		Username: e.Account.Username, Password: e.Account.Password,
		Auth:        a.mailAuths.For(e.Account.Username, e.Account.Password, e.Microsoft()),
		RequireAuth: e.SMTP.Auth(), TLS: e.SMTP.TLS, Timeout: time.Minute,
	}
	tc, err := config.TLSWithCA(e.SMTP.Server, e.SMTP.CAFile)
	if err != nil {
		// The send then fails verification, naming the server.
		log.Error("smtp ca_file not usable", "file", e.SMTP.CAFile, "error", err)
	}
	c.TLSConfig = tc
	return c
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p[strings.LastIndex(p, "/")+1:]
	}
	return out
}
