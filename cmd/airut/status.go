package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

type convOptions struct {
	repo string
	json bool
}

func newStatusCmd(a *app) *cobra.Command {
	var opts convOptions
	cmd := &cobra.Command{
		Use:   "status [CONVERSATION]",
		Short: "Show one conversation, or list the open ones",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return runList(cmd.Context(), a, opts)
			}
			return runStatus(cmd.Context(), a, opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.repo, "repo", "", "repo ID (default: found among the configured repos)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func newStopCmd(a *app) *cobra.Command {
	var opts convOptions
	cmd := &cobra.Command{
		Use:   "stop CONVERSATION",
		Short: "Stop the conversation's running task (its container is killed; queued messages still run)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res workflows.StopResult
			if err := update(cmd.Context(), a, opts, args[0], workflows.UpdateStop, &res); err != nil {
				return err
			}
			if !res.Stopped {
				fmt.Fprintf(a.stdout, "nothing running in conversation %s\n", args[0])
				return nil
			}
			fmt.Fprintf(a.stdout, "stopped task %s in conversation %s (%d queued message(s) will still run)\n", res.TaskID, args[0], res.Queued)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.repo, "repo", "", "repo ID")
	return cmd
}

func newRetryCmd(a *app) *cobra.Command {
	var opts convOptions
	cmd := &cobra.Command{
		Use:   "retry CONVERSATION",
		Short: "Run the conversation's last failed task again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res workflows.RetryResult
			if err := update(cmd.Context(), a, opts, args[0], workflows.UpdateRetry, &res); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "retrying the last failed task of conversation %s (%d message(s)); follow it with `airut status %s`\n", args[0], res.Messages, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.repo, "repo", "", "repo ID")
	return cmd
}

// locate finds the repo of a conversation: the --repo flag, else the
// configured repo whose workflow of that ID exists.
func locate(ctx context.Context, c client.Client, cfg *config.Config, repoFlag, conv string) (string, error) {
	if repoFlag != "" {
		return repoFlag, nil
	}
	for _, id := range cfg.RepoIDs() {
		_, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id, conv), "")
		if err == nil {
			return id, nil
		}
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			return "", withCode(exitRuntime, fmt.Errorf("look up conversation %s: %w", conv, err))
		}
	}
	return "", withCode(exitUsage, fmt.Errorf("no conversation %s in any configured repo (%s)", conv, strings.Join(cfg.RepoIDs(), ", ")))
}

func update(ctx context.Context, a *app, opts convOptions, conv, name string, out any) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	c, err := a.dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	repo, err := locate(ctx, c, cfg, opts.repo, conv)
	if err != nil {
		return err
	}
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID(repo, conv), UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(uctx, out)
	}
	if err != nil {
		return withCode(exitRuntime, fmt.Errorf("%s conversation %s: %w", name, conv, err))
	}
	return nil
}

func runStatus(ctx context.Context, a *app, opts convOptions, conv string) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	c, err := a.dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	repo, err := locate(ctx, c, cfg, opts.repo, conv)
	if err != nil {
		return err
	}
	st, err := queryStatus(ctx, c, repo, conv)
	if err != nil {
		return withCode(exitRuntime, fmt.Errorf("status of conversation %s: %w", conv, err))
	}
	if opts.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(a.stdout, st)
	return nil
}

func printStatus(w io.Writer, st workflows.Status) {
	fmt.Fprintf(w, "conversation %s  repo %s  state %s\n", st.ConversationID, st.RepoID, st.State)
	fmt.Fprintf(w, "model %s  session %s  host %s  queued %d\n", orDash(st.Model), orDash(st.SessionID), orDash(st.HostQueue), st.Queued)
	if st.Current != nil {
		fmt.Fprintf(w, "running task %s since %s\n", st.Current.TaskID, st.Current.StartedAt.Local().Format(time.DateTime))
	}
	if len(st.Tasks) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tFINISHED\tOUTCOME\tCOST\tREPLY")
	for _, t := range st.Tasks {
		cost := "-"
		if t.CostUSD > 0 {
			cost = fmt.Sprintf("$%.4f", t.CostUSD)
		}
		reply := firstLine(t.Reply, 60)
		if t.Error != "" && t.Outcome != workflows.OutcomeSuccess {
			reply = firstLine(t.Error, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.TaskID, t.FinishedAt.Local().Format(time.DateTime), t.Outcome, cost, reply)
	}
	tw.Flush()
	if st.CanRetry {
		fmt.Fprintf(w, "the last task failed: `airut retry %s` runs it again\n", st.ConversationID)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listed is one row of `airut status` without an ID.
type listed struct {
	Repo         string
	Conversation string
	Status       string
	Channel      string
	Sender       string
	Started      time.Time
}

func runList(ctx context.Context, a *app, opts convOptions) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	c, err := a.dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.WorkflowName)
	if opts.repo != "" {
		query += fmt.Sprintf(" AND %s = '%s'", workflows.AttrRepo.GetName(), opts.repo)
	}
	var rows []listed
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return withCode(exitRuntime, fmt.Errorf("list conversations: %w", err))
		}
		for _, e := range resp.Executions {
			if e.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				continue
			}
			r := listed{Started: e.StartTime.AsTime()}
			parts := strings.Split(e.Execution.WorkflowId, "/")
			if len(parts) == 3 {
				r.Repo, r.Conversation = parts[1], parts[2]
			}
			if sa := e.SearchAttributes.GetIndexedFields(); sa != nil {
				r.Status = payloadString(sa[workflows.AttrStatus.GetName()].GetData())
				r.Channel = payloadString(sa[workflows.AttrChannel.GetName()].GetData())
				r.Sender = payloadString(sa[workflows.AttrSender.GetName()].GetData())
			}
			rows = append(rows, r)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	if opts.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "no open conversations")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONVERSATION\tREPO\tSTATUS\tCHANNEL\tSENDER\tSTARTED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Conversation, r.Repo, orDash(r.Status), r.Channel, r.Sender, r.Started.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func payloadString(data []byte) string {
	var s string
	if json.Unmarshal(data, &s) != nil {
		return ""
	}
	return s
}
