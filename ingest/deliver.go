// Package ingest turns an authorised inbound message into a durable signal
// on its conversation's workflow. Channel listeners live in subpackages
// (email, slack: to come); each acknowledges its source (IMAP delete, Slack
// ack) only after Deliver returned, so a message is never lost between the
// channel and Temporal.
//
// Ingest imports workflows for names and types only; it runs no workflow
// or activity code.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/workflows"
)

// NewConversationID returns 8 random lowercase hex characters.
func NewConversationID() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new conversation id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Target says which conversation a message goes to.
type Target struct {
	RepoID         string
	ConversationID string
	Options        workflows.Options
}

// Deliver starts the conversation's workflow or signals the running one,
// in one call. When it returns nil, Temporal has durably accepted the
// message; a second delivery of the same message ID is a no-op in the
// workflow. A finished conversation (expired) gets a new run under the
// same workflow ID.
func Deliver(ctx context.Context, c client.Client, t Target, m workflows.Message) (client.WorkflowRun, error) {
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = time.Now().UTC()
	}
	id := workflows.WorkflowID(t.RepoID, t.ConversationID)
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                workflows.SharedQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrRepo.ValueSet(t.RepoID),
			workflows.AttrChannel.ValueSet(m.Channel),
			workflows.AttrSender.ValueSet(m.Sender),
			workflows.AttrStatus.ValueSet(workflows.StateQueued),
		),
		Memo: map[string]any{"subject": m.Subject},
	}
	start := workflows.Start{RepoID: t.RepoID, ConversationID: t.ConversationID, Channel: m.Channel, Options: t.Options}
	run, err := c.SignalWithStartWorkflow(ctx, id, workflows.SignalMessage, m, opts, workflows.WorkflowName, start)
	if err != nil {
		return nil, fmt.Errorf("deliver message %s to %s: %w", m.ID, id, err)
	}
	return run, nil
}
