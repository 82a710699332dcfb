package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/workflows"
)

// A new conversation is placed by ClaimHost on the shared queue and then
// prepared on the host that claimed it; hosts with no free slot decline
// until one has room.
func TestBusyHostsKeepTheConversationWaitingUntilOneHasRoom(t *testing.T) {
	h := newHarness(t)
	h.act.claim = func(ctx context.Context, _ workflows.ClaimInput) (workflows.ClaimResult, error) {
		if activity.GetInfo(ctx).TaskQueue != workflows.SharedQueue {
			t.Errorf("ClaimHost ran on %q, want the shared queue", activity.GetInfo(ctx).TaskQueue)
		}
		if activity.GetInfo(ctx).Attempt < 8 {
			return workflows.ClaimResult{}, temporal.NewApplicationError("host x is at capacity", workflows.ErrHostBusy)
		}
		return workflows.ClaimResult{HostQueue: "airut-host-c"}, nil
	}
	h.act.prepare = func(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
		return workflows.PrepareResult{HostQueue: activity.GetInfo(ctx).TaskQueue, Model: "opus", TimeoutSeconds: 60}, nil
	}
	h.signalAt(0, msg("m1", "hello"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.act.prepareQueues) != 1 || h.act.prepareQueues[0] != "airut-host-c" {
		t.Errorf("PrepareWorkspace ran on %v, want once on the claiming host airut-host-c", h.act.prepareQueues)
	}
	if len(h.act.runQueue) != 1 || h.act.runQueue[0] != "airut-host-c-run" {
		t.Errorf("agent ran on %v, want airut-host-c-run", h.act.runQueue)
	}
	if f := h.act.finalReplies(); len(f) != 1 || f[0].Text != "done" {
		t.Errorf("replies = %+v, want the agent's reply", f)
	}
}

// Preparation failures are retried three times on the host, by the
// workflow's table, not for a day; the user reads the activity's Problem,
// not Temporal's wrapping or the Go cause.
func TestPreparationFailuresAreRetriedByTypeAndExplained(t *testing.T) {
	for _, tc := range []struct {
		name         string
		err          error
		wantAttempts int
		wantText     string
		notText      string
	}{
		{
			name:         "transient failure: three attempts",
			err:          errors.New("refresh git mirror: connection reset"),
			wantAttempts: 3,
			wantText:     "refresh git mirror: connection reset",
		},
		{
			name:         "config error: one attempt, the person's text",
			err:          workflows.Fail(workflows.ErrConfig, "repo web has no .airut/container/Dockerfile", errors.New("git ls-tree: exit status 128")),
			wantAttempts: 1,
			wantText:     "repo web has no .airut/container/Dockerfile",
			notText:      "exit status 128",
		},
		{
			name:         "workspace error: one attempt",
			err:          workflows.Fail(workflows.ErrWorkspace, "attachment refused: a.txt", nil),
			wantAttempts: 1,
			wantText:     "attachment refused: a.txt",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.act.prepare = func(context.Context, workflows.PrepareInput) (workflows.PrepareResult, error) {
				return workflows.PrepareResult{}, tc.err
			}
			h.signalAt(0, msg("m1", "hello"))
			h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(h.act.prepares) != tc.wantAttempts {
				t.Errorf("PrepareWorkspace attempts = %d, want %d", len(h.act.prepares), tc.wantAttempts)
			}
			f := h.act.finalReplies()
			if len(f) != 1 || !strings.Contains(f[0].Text, tc.wantText) || !strings.HasPrefix(f[0].Text, "An error occurred") {
				t.Fatalf("replies = %+v, want the workspace failure naming %q", f, tc.wantText)
			}
			if tc.notText != "" && strings.Contains(f[0].Text, tc.notText) {
				t.Errorf("reply %q shows the Go cause %q", f[0].Text, tc.notText)
			}
			if strings.Contains(f[0].Text, "activity error") {
				t.Errorf("reply %q shows Temporal's wrapping", f[0].Text)
			}
			if st := h.status(t); !st.CanRetry {
				t.Errorf("status: can_retry = false, want the failed task retryable")
			}
		})
	}
}

// A host that claims a conversation and dies before preparing it is passed
// over: the conversation is claimed again.
func TestClaimedHostThatVanishesIsPassedOver(t *testing.T) {
	h := newHarness(t)
	hosts := []string{"airut-host-dead", "airut-host-b"}
	h.act.claim = func(context.Context, workflows.ClaimInput) (workflows.ClaimResult, error) {
		q := hosts[0]
		hosts = hosts[1:]
		return workflows.ClaimResult{HostQueue: q}, nil
	}
	h.act.prepare = func(ctx context.Context, _ workflows.PrepareInput) (workflows.PrepareResult, error) {
		if q := activity.GetInfo(ctx).TaskQueue; q == "airut-host-dead" {
			return workflows.PrepareResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}
		return workflows.PrepareResult{HostQueue: activity.GetInfo(ctx).TaskQueue, Model: "opus", TimeoutSeconds: 60}, nil
	}
	h.signalAt(0, msg("m1", "hello"))
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, start(idleSoon))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if h.act.claims != 2 || len(h.act.runQueue) != 1 || h.act.runQueue[0] != "airut-host-b-run" {
		t.Errorf("claims = %d, agent runs on %v; want 2 claims and a run on airut-host-b-run", h.act.claims, h.act.runQueue)
	}
}

// Replies carry each answered message's own address, so Slack marks the
// right messages done without parsing IDs.
func TestRepliesNameTheAnsweredMessages(t *testing.T) {
	h := newHarness(t)
	m1, m2 := msg("slack:C1:1.1", "first"), msg("slack:C1:1.2", "second")
	m1.Channel, m2.Channel = workflows.ChannelSlack, workflows.ChannelSlack
	m1.ReplyTo = workflows.ReplyTo{SlackThread: &workflows.SlackThread{ChannelID: "C1", ThreadTS: "1.1", TS: "1.1"}}
	m2.ReplyTo = workflows.ReplyTo{SlackThread: &workflows.SlackThread{ChannelID: "C1", ThreadTS: "1.1", TS: "1.2"}}
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalMessage, m1)
		h.env.SignalWorkflow(workflows.SignalMessage, m2)
	}, 0)
	in := start(idleSoon)
	in.Channel = workflows.ChannelSlack
	h.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	f := h.act.finalReplies()
	if len(f) != 1 || len(f[0].Answered) != 2 {
		t.Fatalf("replies = %+v, want one reply answering both messages", f)
	}
	for i, want := range []string{"1.1", "1.2"} {
		if a := f[0].Answered[i]; a.SlackThread == nil || a.ChannelID != "C1" || a.TS != want {
			t.Errorf("Answered[%d] = %+v, want C1/%s", i, a, want)
		}
	}
}
