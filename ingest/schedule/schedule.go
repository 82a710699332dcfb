// Package schedule is the channel side of scheduled tasks: the
// activities with which a schedule's firing (workflows.FiringWorkflow)
// opens the thread its reply goes to, starts its conversation there the
// way any message starts one (ingest.Deliver), and reads how the
// schedule's earlier firings ended. It does not run the agent or the
// trigger command (the activities package does, on a host), and it holds
// no state of its own: Temporal keeps the firings.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	slackin "github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/workflows"
)

// Activities are the firing's channel activities; register them on the
// shared queue.
type Activities struct {
	Config   func() *config.Config
	Temporal client.Client
	Log      *slog.Logger
}

// OpenThread opens the thread a firing's reply goes to and names its
// conversation. By email that is a new conversation ID and a mail still
// to be written (the reply opens the thread). In Slack the thread must
// exist before anyone can answer in it, so a root message is posted
// first; its conversation is the one the listener derives for that
// thread, so the recipient's answers there continue it.
func (a *Activities) OpenThread(ctx context.Context, in workflows.ThreadInput) (workflows.ThreadResult, error) {
	r, err := a.Config().Repo(in.RepoID)
	if err != nil {
		return workflows.ThreadResult{}, workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	switch in.Deliver.Channel {
	case workflows.ChannelEmail:
		conv, err := ingest.NewConversationID()
		if err != nil {
			return workflows.ThreadResult{}, err
		}
		return workflows.ThreadResult{ConversationID: conv, ReplyTo: workflows.ReplyTo{EmailThread: &workflows.EmailThread{
			To: in.Deliver.To, Subject: in.Subject, Opens: true,
		}}}, nil
	case workflows.ChannelSlack:
		if r.Slack == nil {
			text := fmt.Sprintf("Schedule %s delivers by Slack, but repo %s has no Slack settings.", in.Schedule, r.ID)
			return workflows.ThreadResult{}, workflows.Fail(workflows.ErrConfig, text, nil)
		}
		return openSlackThread(ctx, slackclient.New(*r.Slack), in)
	}
	text := fmt.Sprintf("Schedule %s delivers by %q, which cannot start a conversation.", in.Schedule, in.Deliver.Channel)
	return workflows.ThreadResult{}, workflows.Fail(workflows.ErrConfig, text, nil)
}

// openSlackThread posts the thread's root in the channel (or the user's
// direct messages) and returns the conversation the listener will find
// for replies in that thread.
func openSlackThread(ctx context.Context, api *slackapi.Client, in workflows.ThreadInput) (workflows.ThreadResult, error) {
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return workflows.ThreadResult{}, fmt.Errorf("slack auth.test: %w", err)
	}
	channel, dm := in.Deliver.To, false
	if strings.HasPrefix(channel, "U") || strings.HasPrefix(channel, "W") {
		ch, _, _, err := api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{channel}})
		if err != nil {
			return workflows.ThreadResult{}, fmt.Errorf("open a direct message with %s: %w", channel, err)
		}
		channel, dm = ch.ID, true
	}
	ts, err := slackclient.Post(ctx, api, channel, "", fmt.Sprintf("*Scheduled task %s*: %s", in.Schedule, in.Subject))
	if err != nil {
		return workflows.ThreadResult{}, fmt.Errorf("post the scheduled task's thread in %s: %w", channel, err)
	}
	return workflows.ThreadResult{
		ConversationID: slackin.ConversationID(auth.TeamID, channel, ts),
		ReplyTo: workflows.ReplyTo{SlackThread: &workflows.SlackThread{
			ChannelID: channel, ThreadTS: ts, TS: ts, Title: in.Subject, DM: workflows.Flag(dm),
		}},
	}, nil
}

// StartConversation starts the firing's conversation with its message.
func (a *Activities) StartConversation(ctx context.Context, in workflows.ScheduledStart) error {
	firing := in.Firing
	t := ingest.Target{RepoID: in.RepoID, ConversationID: in.ConversationID, Options: in.Options, Firing: &firing}
	if _, err := ingest.Deliver(ctx, a.Temporal, t, in.Message); err != nil {
		return err
	}
	a.log().Info("scheduled task started", "schedule", firing.Schedule, "repo", in.RepoID, "conversation", in.ConversationID)
	return nil
}

// Streak reads how the schedule's latest finished firings ended, newest
// first: failed (the workflow failed or timed out) or not (completed).
// Cancelled and terminated firings are neither and are passed over.
func (a *Activities) Streak(ctx context.Context, in workflows.StreakInput) (workflows.StreakResult, error) {
	cfg := a.Config()
	query := fmt.Sprintf("TemporalScheduledById = '%s' AND ExecutionStatus != 'Running'", strings.ReplaceAll(in.ScheduleID, "'", ""))
	resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: cfg.Temporal.Namespace, Query: query, PageSize: int32(in.Limit + 20),
	})
	if err != nil {
		return workflows.StreakResult{}, fmt.Errorf("list the firings of %s: %w", in.ScheduleID, err)
	}
	execs := resp.Executions
	// Newest first, whatever order the visibility store keeps.
	slices.SortFunc(execs, func(x, y *workflowpb.WorkflowExecutionInfo) int {
		return y.GetStartTime().AsTime().Compare(x.GetStartTime().AsTime())
	})
	var out workflows.StreakResult
	for _, e := range execs {
		if e.GetExecution().GetWorkflowId() == in.Exclude || len(out.Failed) == in.Limit {
			continue
		}
		switch e.GetStatus() {
		case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
			out.Failed = append(out.Failed, true)
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
			out.Failed = append(out.Failed, false)
		}
	}
	return out, nil
}

func (a *Activities) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}
