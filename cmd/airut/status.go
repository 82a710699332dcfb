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
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/operate"
	"github.com/airut-go/airut/internal/visibility"
	"github.com/airut-go/airut/workflows"
)

// statusOptions are the inputs of `airut status`.
type statusOptions struct {
	deps
	Repo string
	JSON bool
	// Conversation is the one to show; empty lists the open ones.
	Conversation string
}

func newStatusCmd(a *app) *cobra.Command {
	opts := statusOptions{deps: a.deps()}
	cmd := &cobra.Command{
		Use:   "status [CONVERSATION]",
		Short: "Show one conversation, or list the open ones",
		Long: `Without an ID, list the open conversations. With one, show the
conversation: its state, a line per recent task with its outcome, cost and
the start of its reply, and then the most recent task's reply whole, with
its footer (cost, web searches, requests the network sandbox blocked) and a
line "attached: PATH" for each file attached to it. The whole reply, footer
and files are read from the conversation's replies.jsonl, kept on the
worker host; run elsewhere, a note on standard error says where they are.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Conversation = args[0]
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", "", "repo ID (default: found among the configured repos)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// stopOptions are the inputs of `airut stop`.
type stopOptions struct {
	deps
	Repo         string
	Conversation string
}

func newStopCmd(a *app) *cobra.Command {
	opts := stopOptions{deps: a.deps()}
	cmd := &cobra.Command{
		Use:   "stop CONVERSATION",
		Short: "Stop the conversation's running task (its container is killed; queued messages still run)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Conversation = args[0]
			return runStop(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", "", "repo ID (default: found among the configured repos)")
	return cmd
}

func runStop(ctx context.Context, opts stopOptions) error {
	var res workflows.StopResult
	err := update(ctx, opts.deps, opts.Repo, opts.Conversation, "stop", func(c client.Client, repo string) (err error) {
		res, err = operate.Stop(ctx, c, repo, opts.Conversation, localUser())
		return err
	})
	if err != nil {
		return err
	}
	if !res.Stopped {
		fmt.Fprintf(opts.IO.Out, "nothing running in conversation %s\n", opts.Conversation)
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "stopped task %s in conversation %s (%d queued message(s) will still run)\n", res.TaskID, opts.Conversation, res.Queued)
	return nil
}

// retryOptions are the inputs of `airut retry`.
type retryOptions struct {
	deps
	Repo         string
	Conversation string
}

func newRetryCmd(a *app) *cobra.Command {
	opts := retryOptions{deps: a.deps()}
	cmd := &cobra.Command{
		Use:   "retry CONVERSATION",
		Short: "Run the conversation's last failed task again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Conversation = args[0]
			return runRetry(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", "", "repo ID (default: found among the configured repos)")
	return cmd
}

func runRetry(ctx context.Context, opts retryOptions) error {
	var res workflows.RetryResult
	err := update(ctx, opts.deps, opts.Repo, opts.Conversation, "retry", func(c client.Client, repo string) (err error) {
		res, err = operate.Retry(ctx, c, repo, opts.Conversation, localUser())
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "retrying the last failed task of conversation %s (%d message(s)); follow it with `airut status %s`\n", opts.Conversation, res.Messages, opts.Conversation)
	return nil
}

// locate finds the repo of a conversation: the --repo flag, else the
// configured repo that has a workflow of that ID. Either way the
// conversation must exist, so a mistyped ID is named as such rather than
// surfacing as Temporal's "workflow not found".
func locate(ctx context.Context, c client.Client, cfg *config.Config, repoFlag, conv string) (string, error) {
	repos := cfg.RepoIDs()
	if repoFlag != "" {
		repos = []string{repoFlag}
	}
	for _, id := range repos {
		ok, err := ingest.ConversationExists(ctx, c, id, conv)
		if err != nil {
			return "", withCode(exitRuntime, err)
		}
		if ok {
			return id, nil
		}
	}
	if repoFlag != "" {
		return "", withCode(exitUsage, fmt.Errorf("no conversation %s in repo %s", conv, repoFlag))
	}
	return "", withCode(exitUsage, fmt.Errorf("no conversation %s in any configured repo (%s)", conv, strings.Join(repos, ", ")))
}

// checkID rejects what cannot be a conversation ID before anything is
// dialled.
func checkID(conv string) error {
	if !conversation.ValidID(conv) {
		return withCode(exitUsage, fmt.Errorf("%q is not a conversation ID: want 8 lowercase hex characters", conv))
	}
	return nil
}

// update runs a workflow update (stop, retry) on a conversation and
// decodes its result into out.
// update runs do (a stop or retry) on the conversation's repo, and says
// a refusal by the workflow ("nothing to retry: ...") as an answer.
func update(ctx context.Context, d deps, repoFlag, conv, name string, do func(c client.Client, repo string) error) error {
	if err := checkID(conv); err != nil {
		return err
	}
	cfg, err := d.Config()
	if err != nil {
		return err
	}
	c, err := d.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	repo, err := locate(ctx, c, cfg, repoFlag, conv)
	if err != nil {
		return err
	}
	err = do(c, repo)
	var refused *operate.Refused
	if errors.As(err, &refused) {
		return withCode(exitRuntime, fmt.Errorf("cannot %s conversation %s: %s", name, conv, refused.Reason))
	}
	if err != nil {
		return withCode(exitRuntime, err)
	}
	return nil
}

func runStatus(ctx context.Context, opts statusOptions) error {
	if opts.Conversation != "" {
		if err := checkID(opts.Conversation); err != nil {
			return err
		}
	}
	cfg, err := opts.Config()
	if err != nil {
		if opts.Conversation == "" && !opts.JSON && opts.ConfigPath != nil {
			// The running processes keep the version in force; say
			// which, next to what is wrong with the file.
			path := opts.ConfigPath()
			printConfigStatus(opts.IO.Out, path, config.StateDirOf(path))
		}
		return err
	}
	c, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.Conversation == "" {
		if err := runList(ctx, c, cfg.Temporal.Namespace, opts); err != nil {
			return err
		}
		if !opts.JSON {
			if cfg.Dashboard.Enabled {
				fmt.Fprintf(opts.IO.Out, "dashboard: %s\n", cfg.Dashboard.URL())
			}
			printConfigStatus(opts.IO.Out, cfg.Path, cfg.StateDir)
		}
		return nil
	}
	conv := opts.Conversation
	repo, err := locate(ctx, c, cfg, opts.Repo, conv)
	if err != nil {
		return err
	}
	st, err := operate.Status(ctx, c, repo, conv)
	if err != nil {
		return withCode(exitRuntime, fmt.Errorf("status of conversation %s: %w", conv, err))
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	var last *sentReply
	if n := len(st.Tasks); n > 0 {
		r := fullReply(cfg, repo, conv, st.Tasks[n-1], st.HostQueue)
		last = &r
	}
	printStatus(opts.IO.Out, st, last)
	if cfg.Dashboard.Enabled {
		fmt.Fprintf(opts.IO.Out, "dashboard: %s/conversation/%s\n", cfg.Dashboard.URL(), conv)
	}
	if last != nil && last.Note != "" {
		fmt.Fprintln(opts.IO.ErrOut, last.Note)
	}
	return nil
}

// printStatus shows the conversation, a line per task and last, the
// reply of the most recent task (nil: none finished).
func printStatus(w io.Writer, st workflows.Status, last *sentReply) {
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
		reply := ingest.FirstLine(t.Reply, 60)
		if t.Error != "" && t.Outcome != workflows.OutcomeSuccess {
			reply = ingest.FirstLine(t.Error, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.TaskID, t.FinishedAt.Local().Format(time.DateTime), t.Outcome, cost, reply)
	}
	tw.Flush()
	shown := last != nil && (last.Text != "" || last.Footer != "" || len(last.Files) > 0)
	if shown {
		fmt.Fprintf(w, "\nreply of task %s:\n", st.Tasks[len(st.Tasks)-1].TaskID)
		last.print(w)
	}
	if st.CanRetry {
		if shown {
			fmt.Fprintln(w)
		}
		what := "failed"
		if st.State == workflows.StateStopped {
			what = "was stopped"
		}
		fmt.Fprintf(w, "the last task %s: `airut retry %s` runs it again\n", what, st.ConversationID)
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

// runList prints the open conversations, of one repo with --repo.
func runList(ctx context.Context, c client.Client, namespace string, opts statusOptions) error {
	convs, err := visibility.List(ctx, c, namespace, visibility.Filter{Open: true, Repo: opts.Repo})
	if err != nil {
		return withCode(exitRuntime, err)
	}
	rows := make([]listed, 0, len(convs))
	for _, cv := range convs {
		rows = append(rows, listed{Repo: cv.RepoID, Conversation: cv.ConversationID, Status: cv.Status,
			Channel: cv.Channel, Sender: cv.Sender, Started: cv.StartedAt})
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(opts.IO.Out, "no open conversations")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONVERSATION\tREPO\tSTATUS\tCHANNEL\tSENDER\tSTARTED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Conversation, r.Repo, orDash(r.Status), r.Channel, r.Sender, r.Started.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// printConfigStatus says which version of the config file each running
// process of this state dir has in force, and what is pending: a refused
// reload, an edit not yet loaded, settings that wait for a restart.
func printConfigStatus(w io.Writer, path, stateDir string) {
	if path == "" {
		return
	}
	onDisk := config.FileSHA256(path)
	procs := runningProcesses(stateDir)
	fmt.Fprintf(w, "config %s (sha256 %s)\n", path, orDash(shortHash(onDisk)))
	if len(procs) == 0 {
		fmt.Fprintln(w, "  no airut process of this state dir is running")
	}
	for _, ps := range procs {
		summary, pending := describeProcess(ps, onDisk)
		fmt.Fprintf(w, "  %s\n", summary)
		for _, p := range pending {
			fmt.Fprintf(w, "    %s\n", p)
		}
	}
}
