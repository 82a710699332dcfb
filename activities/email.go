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

	"go.temporal.io/sdk/temporal"

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
		msg := fmt.Sprintf("repo %s has no email configured, but conversation %s came by email", r.ID, in.ConversationID)
		return res, temporal.NewNonRetryableApplicationError(msg, workflows.ErrDelivery, nil)
	}
	if done, err := alreadySent(l, in); err != nil || done {
		return res, err
	}
	from, err := mail.ParseAddress(e.Account.From)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError("email.account.from: "+err.Error(), workflows.ErrConfig, err)
	}
	var files []string
	if in.AttachOutbox {
		if files, err = l.OutboxFiles(); err != nil {
			return res, err
		}
	}
	orig := in.ReplyTo["message_id"]
	var refs []string
	for _, ref := range strings.Fields(in.ReplyTo["references"]) {
		refs = append(refs, "<"+strings.Trim(ref, "<>")+">")
	}
	inReplyTo := ""
	if orig != "" {
		inReplyTo = "<" + orig + ">"
		refs = append(refs, inReplyTo)
	}
	nonce := make([]byte, 4)
	rand.Read(nonce)
	raw, attached, failed, err := mailout.Compose(mailout.Reply{
		From:        e.Account.From,
		To:          []string{in.ReplyTo["to"]},
		Subject:     mailout.ReplySubject(in.ReplyTo["subject"], in.ConversationID),
		MessageID:   mailout.NewMessageID(in.ConversationID, from.Address, time.Now(), hex.EncodeToString(nonce)),
		InReplyTo:   inReplyTo,
		References:  refs,
		Text:        in.Text,
		Footer:      in.Footer,
		Attachments: files,
		Date:        time.Now(),
	})
	if err != nil {
		return res, fmt.Errorf("compose reply: %w", err)
	}
	if err := mailout.Send(ctx, smtpConfig(e, a.log(in.ConversationID, in.TaskID)), e.Account.From, []string{in.ReplyTo["to"]}, raw); err != nil {
		var se *mailout.SendError
		if errors.As(err, &se) && se.Permanent {
			return res, temporal.NewNonRetryableApplicationError("send reply: "+err.Error(), workflows.ErrDelivery, err)
		}
		return res, fmt.Errorf("send reply: %w", err)
	}
	if err := l.ClearOutbox(attached); err != nil {
		return res, err
	}
	if _, err := l.AppendReply(conversation.Reply{TaskID: in.TaskID, Kind: string(in.Kind), Text: in.Text, Footer: in.Footer, Files: attached, SentAt: time.Now().UTC()}); err != nil {
		return res, err
	}
	res.Attached, res.Failed = baseNames(attached), failed
	a.log(in.ConversationID, in.TaskID).Info("reply delivered", "kind", in.Kind, "channel", in.Channel, "to", in.ReplyTo["to"], "files", len(attached))
	return res, nil
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

func smtpConfig(e *config.Email, log *slog.Logger) mailout.SMTPConfig {
	c := mailout.SMTPConfig{
		Server: e.SMTP.Server, Port: e.SMTP.Port,
		Username: e.Account.Username, Password: e.Account.Password,
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
