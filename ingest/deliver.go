// Package ingest turns an authorised inbound message into a durable signal
// on its conversation's workflow. Channel listeners live in subpackages
// (email, slack); each acknowledges its source (IMAP delete, Slack ack)
// only after Deliver returned, so a message is never lost between the
// channel and Temporal.
//
// Ingest imports workflows for names and types only; it runs no workflow
// or activity code.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
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
	// Firing is set for a conversation a schedule starts: it reports its
	// first task's end to the firing, and is found as channel "schedule".
	Firing *workflows.FiringRef
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
	opts := StartOptions(t, m)
	start := workflows.Start{RepoID: t.RepoID, ConversationID: t.ConversationID, Channel: m.Channel, Options: t.Options, Firing: t.Firing}
	run, err := c.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalMessage, m, opts, workflows.WorkflowName, start)
	if err != nil {
		return nil, fmt.Errorf("deliver message %s to %s: %w", m.ID, opts.ID, err)
	}
	return run, nil
}

// StartOptions are the options of a conversation's workflow when message m
// starts it. Every start goes through here so that a conversation is
// found the same way (search attributes) and started the same way (one
// running workflow per conversation ID, a new run after it expired),
// whichever channel it came from.
func StartOptions(t Target, m workflows.Message) client.StartWorkflowOptions {
	channel := string(m.Channel)
	if t.Firing != nil {
		channel = workflows.ChannelSchedule
	}
	return client.StartWorkflowOptions{
		ID:        workflows.WorkflowID(t.RepoID, t.ConversationID),
		TaskQueue: workflows.SharedQueue,
		// A running conversation takes the message as a signal; starting
		// a second run would split it.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// An expired conversation is continued by a reply to its thread.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrRepo.ValueSet(t.RepoID),
			workflows.AttrChannel.ValueSet(channel),
			workflows.AttrSender.ValueSet(m.Sender),
			workflows.AttrStatus.ValueSet(workflows.StateQueued),
		),
		Memo: map[string]any{"subject": m.Subject},
		// The Web UI shows it on the workflow's page. Continue-as-new
		// does not carry it: the workflow's current details repeat it.
		StaticSummary: m.Subject,
	}
}

// ConversationExists reports whether Temporal knows the conversation's
// workflow in that repo (running or closed but not yet deleted). Only
// "not found" is a no: any other failure is returned, so a caller never
// mistakes an unreachable server for a new conversation.
func ConversationExists(ctx context.Context, c client.Client, repoID, conversationID string) (bool, error) {
	_, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(repoID, conversationID), "")
	if err == nil {
		return true, nil
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	return false, fmt.Errorf("look up conversation %s in repo %s: %w", conversationID, repoID, err)
}

// FirstLine returns the first non-blank line of s, cut to n characters
// with an ellipsis: a subject or title for a message that has none, or a
// one-line preview of a reply.
func FirstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}
