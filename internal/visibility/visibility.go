// Package visibility lists Airut's conversations through Temporal's
// visibility API: the search attributes each conversation workflow keeps
// (repo, channel, sender, status, pull request) and its memo (subject).
// `airut status` and the dashboard both list through it.
//
// Queries are built from typed filters with every value quoted here,
// never by pasting text into the query: a filter value comes from a
// person (a flag, a dashboard form) and must not change the query's
// shape. It reads nothing else and changes nothing.
package visibility

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/workflows"
)

// Closed is the status of a conversation whose workflow has completed.
const Closed = "closed"

// Filter selects conversations; empty fields match all.
type Filter struct {
	Repo    string
	Channel string
	Sender  string
	// Status is a conversation state (workflows.StateBusy, ...) or
	// Closed. Open is set for all open conversations, whatever state.
	Status string
	Open   bool
	// Limit caps the result (0: 1,000).
	Limit int
}

// Conversation is one listed conversation.
type Conversation struct {
	RepoID         string
	ConversationID string
	Subject        string
	Channel        string
	Sender         string
	Status         string
	PR             string
	StartedAt      time.Time
	// ClosedAt is when a closed conversation's workflow completed.
	ClosedAt time.Time
}

// Query is the visibility query for f.
func Query(f Filter) string {
	q := []string{"WorkflowType = " + quote(workflows.WorkflowName)}
	switch {
	case f.Status == Closed:
		q = append(q, "ExecutionStatus != 'Running'")
	case f.Status != "":
		q = append(q, "ExecutionStatus = 'Running'", workflows.AttrStatus.GetName()+" = "+quote(f.Status))
	case f.Open:
		q = append(q, "ExecutionStatus = 'Running'")
	}
	for _, c := range []struct{ attr, v string }{
		{workflows.AttrRepo.GetName(), f.Repo},
		{workflows.AttrChannel.GetName(), f.Channel},
		{workflows.AttrSender.GetName(), f.Sender},
	} {
		if c.v != "" {
			q = append(q, c.attr+" = "+quote(c.v))
		}
	}
	return strings.Join(q, " AND ")
}

// quote makes s a string literal of the visibility query language:
// single quotes, with quotes and backslashes escaped. (The SQL stores
// then match no value that holds a backslash: such a filter finds
// nothing, never more.)
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// List returns the conversations matching f, as the store orders them
// (SQL visibility cannot be told otherwise): open ones first, newest
// start first, then closed ones by close time. Of a conversation that
// continued as new, only the current run is listed.
func List(ctx context.Context, c client.Client, namespace string, f Filter) ([]Conversation, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var out []Conversation
	seen := map[string]bool{}
	var token []byte
	for len(out) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: Query(f), NextPageToken: token, PageSize: int32(min(limit, 1000)),
		})
		if err != nil {
			return out, fmt.Errorf("list conversations: %w", err)
		}
		for _, e := range resp.Executions {
			id := e.GetExecution().GetWorkflowId()
			if seen[id] {
				continue // an earlier run of the same conversation
			}
			seen[id] = true
			if conv, ok := fromExecution(e.GetExecution().GetWorkflowId(), e.GetStatus(), e.GetSearchAttributes(), e.GetMemo()); ok {
				conv.StartedAt = e.GetStartTime().AsTime()
				if ct := e.GetCloseTime(); ct != nil {
					conv.ClosedAt = ct.AsTime()
				}
				out = append(out, conv)
			}
			if len(out) == limit {
				break
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	return out, nil
}

// fromExecution reads one listed execution; ok is false for a workflow ID
// that is not a conversation's.
func fromExecution(workflowID string, status enumspb.WorkflowExecutionStatus, sa *commonpb.SearchAttributes, memo *commonpb.Memo) (Conversation, bool) {
	parts := strings.Split(workflowID, "/")
	if len(parts) != 3 || parts[0] != "airut" {
		return Conversation{}, false
	}
	c := Conversation{RepoID: parts[1], ConversationID: parts[2]}
	fields := sa.GetIndexedFields()
	c.Channel = payloadString(fields[workflows.AttrChannel.GetName()])
	c.Sender = payloadString(fields[workflows.AttrSender.GetName()])
	c.Status = payloadString(fields[workflows.AttrStatus.GetName()])
	c.PR = payloadString(fields[workflows.AttrPR.GetName()])
	c.Subject = payloadString(memo.GetFields()["subject"])
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		c.Status = Closed
	}
	return c, true
}

// payloadString decodes a JSON-encoded string payload ("" otherwise).
func payloadString(p *commonpb.Payload) string {
	var s string
	if p == nil || json.Unmarshal(p.GetData(), &s) != nil {
		return ""
	}
	return s
}
