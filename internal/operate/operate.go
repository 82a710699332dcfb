// Package operate is what a person does to a conversation from outside
// its channel: read its status, stop its task, retry the last failed one,
// send it a message. `airut status|stop|retry|send` and the dashboard do
// it through here, over Temporal (the status query, the stop and retry
// updates, ingest's hand-off). It keeps nothing and reads no files.
package operate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

// ErrNotFound: there is no such conversation.
var ErrNotFound = errors.New("no such conversation")

// Refused is the workflow's refusal of an update, for a person
// ("nothing to retry: ...").
type Refused struct{ Reason string }

func (r *Refused) Error() string { return r.Reason }

// Status queries a conversation's status.
func Status(ctx context.Context, c client.Client, repoID, convID string) (workflows.Status, error) {
	var st workflows.Status
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, workflows.WorkflowID(repoID, convID), "", workflows.QueryStatus)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("conversation %s of repo %s: %w", convID, repoID, ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("status of conversation %s: %w", convID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("status of conversation %s: %w", convID, err)
	}
	return st, nil
}

// Stop stops the conversation's running task; actor is who asked, which
// the conversation records.
func Stop(ctx context.Context, c client.Client, repoID, convID, actor string) (workflows.StopResult, error) {
	var out workflows.StopResult
	return out, update(ctx, c, repoID, convID, workflows.UpdateStop, actor, &out)
}

// Retry runs the conversation's last failed task again; actor is who
// asked.
func Retry(ctx context.Context, c client.Client, repoID, convID, actor string) (workflows.RetryResult, error) {
	var out workflows.RetryResult
	return out, update(ctx, c, repoID, convID, workflows.UpdateRetry, actor, &out)
}

func update(ctx context.Context, c client.Client, repoID, convID, name, actor string, out any) error {
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Who asked goes first, as a signal: the updates take no arguments
	// (callers of earlier releases send none).
	err := c.SignalWorkflow(uctx, workflows.WorkflowID(repoID, convID), "", workflows.SignalAction,
		workflows.Action{Kind: name, Actor: actor, At: time.Now().UTC()})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%s conversation %s: %w", name, convID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s conversation %s: %w", name, convID, err)
	}
	h, err := c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID(repoID, convID), UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(uctx, out)
	}
	// A refusal by the workflow's validator is an answer for the user:
	// its message, without the SDK's "(type: errorString, retryable:
	// true)" decoration.
	var refused *temporal.ApplicationError
	switch {
	case errors.As(err, &refused):
		return &Refused{Reason: refused.Message()}
	case errors.As(err, &nf):
		return fmt.Errorf("%s conversation %s: %w", name, convID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s conversation %s: %w", name, convID, err)
	}
	return nil
}

// ConversationOptions are the workflow options the configuration gives
// every conversation it starts, whatever the channel.
func ConversationOptions(cfg *config.Config) workflows.Options {
	return workflows.Options{IdleTimeout: time.Duration(cfg.Execution.ConversationMaxAgeDays) * 24 * time.Hour}
}

// Message is a message sent from outside a channel (`airut send`, the
// dashboard): it goes to the conversation like any other, and its reply
// is kept on the worker host (the local channel).
type Message struct {
	RepoID string
	// ConversationID continues that conversation; "" starts a new one.
	ConversationID string
	Sender         string
	Text           string
	Options        workflows.Options
}

// Send hands m to its conversation and returns the conversation's ID and
// the message's.
func Send(ctx context.Context, c client.Client, m Message) (convID, msgID string, err error) {
	convID = m.ConversationID
	if convID == "" {
		if convID, err = ingest.NewConversationID(); err != nil {
			return "", "", err
		}
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("message id: %w", err)
	}
	msgID = "local-" + hex.EncodeToString(b)
	msg := workflows.Message{
		ID: msgID, Channel: workflows.ChannelLocal, Sender: m.Sender, SenderDisplay: m.Sender,
		Body: m.Text, ReceivedAt: time.Now().UTC(),
	}
	if m.ConversationID == "" {
		msg.Subject = ingest.FirstLine(m.Text, 60)
	}
	target := ingest.Target{RepoID: m.RepoID, ConversationID: convID, Options: m.Options}
	if _, err := ingest.Deliver(ctx, c, target, msg); err != nil {
		return "", "", err
	}
	return convID, msgID, nil
}
