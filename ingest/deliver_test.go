package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/workflows"
)

// Deliver starts the conversation or signals it, in one call, with the
// options that make a conversation findable by repo, channel and sender.
func TestDeliverSignalsWithStart(t *testing.T) {
	c := mocks.NewClient(t)
	target := ingest.Target{RepoID: "web", ConversationID: "0a1b2c3d", Options: workflows.Options{IdleTimeout: time.Hour}}
	msg := workflows.Message{ID: "m1", Channel: workflows.ChannelEmail, Sender: "ann@example.com", Subject: "Fix the build", Body: "please"}
	run := mocks.NewWorkflowRun(t)
	var gotOpts client.StartWorkflowOptions
	var gotMsg workflows.Message
	var gotStart workflows.Start
	c.On("SignalWithStartWorkflow", mock.Anything, "airut/web/0a1b2c3d", workflows.SignalMessage, mock.Anything,
		mock.Anything, workflows.WorkflowName, mock.Anything).
		Run(func(args mock.Arguments) {
			gotMsg = args.Get(3).(workflows.Message)
			gotOpts = args.Get(4).(client.StartWorkflowOptions)
			gotStart = args.Get(6).(workflows.Start)
		}).
		Return(run, nil)

	got, err := ingest.Deliver(context.Background(), c, target, msg)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if got != run {
		t.Errorf("Deliver returned %v, want the run Temporal gave", got)
	}
	if gotMsg.ReceivedAt.IsZero() {
		t.Errorf("message sent without ReceivedAt")
	}
	if gotMsg.ID != "m1" || gotMsg.Body != "please" {
		t.Errorf("message sent = %+v, want the one delivered", gotMsg)
	}
	want := workflows.Start{RepoID: "web", ConversationID: "0a1b2c3d", Channel: workflows.ChannelEmail, Options: target.Options}
	if gotStart.RepoID != want.RepoID || gotStart.ConversationID != want.ConversationID || gotStart.Channel != want.Channel || gotStart.Options != want.Options {
		t.Errorf("workflow input = %+v, want %+v", gotStart, want)
	}
	if gotOpts.ID != "airut/web/0a1b2c3d" || gotOpts.TaskQueue != workflows.SharedQueue {
		t.Errorf("start options ID %q queue %q, want airut/web/0a1b2c3d on %s", gotOpts.ID, gotOpts.TaskQueue, workflows.SharedQueue)
	}
}

func TestStartOptions(t *testing.T) {
	opts := ingest.StartOptions(
		ingest.Target{RepoID: "web", ConversationID: "0a1b2c3d"},
		workflows.Message{Channel: workflows.ChannelSlack, Sender: "U123", Subject: "Deploy"},
	)
	if opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
		t.Errorf("conflict policy %v: a running conversation must take the message, not a second run", opts.WorkflowIDConflictPolicy)
	}
	if opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE {
		t.Errorf("reuse policy %v: an expired conversation must be able to start again", opts.WorkflowIDReusePolicy)
	}
	for _, a := range []struct {
		key  temporal.SearchAttributeKeyKeyword
		want string
	}{
		{workflows.AttrRepo, "web"},
		{workflows.AttrChannel, "slack"},
		{workflows.AttrSender, "U123"},
		{workflows.AttrStatus, workflows.StateQueued},
	} {
		if got, ok := opts.TypedSearchAttributes.GetKeyword(a.key); !ok || got != a.want {
			t.Errorf("search attribute %s = %q (set %v), want %q", a.key.GetName(), got, ok, a.want)
		}
	}
	if opts.Memo["subject"] != "Deploy" {
		t.Errorf("memo subject = %v, want Deploy", opts.Memo["subject"])
	}
}

func TestConversationExists(t *testing.T) {
	unavailable := serviceerror.NewUnavailable("connection refused")
	for _, tc := range []struct {
		name    string
		err     error
		want    bool
		wantErr string
	}{
		{name: "running", want: true},
		{name: "not found", err: serviceerror.NewNotFound("workflow not found"), want: false},
		{name: "server down", err: unavailable, wantErr: "look up conversation 0a1b2c3d in repo web: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mocks.NewClient(t)
			var resp *workflowservice.DescribeWorkflowExecutionResponse
			if tc.err == nil {
				resp = &workflowservice.DescribeWorkflowExecutionResponse{}
			}
			c.On("DescribeWorkflowExecution", mock.Anything, "airut/web/0a1b2c3d", "").Return(resp, tc.err)
			got, err := ingest.ConversationExists(context.Background(), c, "web", "0a1b2c3d")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if !errors.Is(err, unavailable) {
					t.Errorf("error does not wrap Temporal's")
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ConversationExists = %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}
}

func TestFirstLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"Fix the build", 60, "Fix the build"},
		{"\n\n  Fix the build  \r\nthen deploy", 60, "Fix the build"},
		{"Résumé écrit", 6, "Résumé…"},
		{strings.Repeat("x", 10), 10, strings.Repeat("x", 10)},
		{"", 60, ""},
	} {
		if got := ingest.FirstLine(tc.in, tc.n); got != tc.want {
			t.Errorf("FirstLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
