package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

type sendOptions struct {
	repo         string
	conversation string
	wait         bool
	timeout      time.Duration
	prompt       string
}

func newSendCmd(a *app) *cobra.Command {
	var opts sendOptions
	cmd := &cobra.Command{
		Use:   "send [--repo ID] [--conversation ID] [--wait] PROMPT|-",
		Short: "Start or continue a conversation from the command line",
		Long: `Send a task to the agent. Without --conversation a new conversation starts
and its ID is printed; with it, the message continues that conversation
(and its Claude session). With --wait, the reply is printed when it comes.
A prompt of "-" is read from standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.prompt = args[0]
			if opts.prompt == "-" {
				b, err := io.ReadAll(a.stdin)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("read prompt from stdin: %w", err))
				}
				opts.prompt = string(b)
			}
			return runSend(cmd.Context(), a, opts)
		},
	}
	cmd.Flags().StringVar(&opts.repo, "repo", "", "repo ID (default: the only configured repo)")
	cmd.Flags().StringVar(&opts.conversation, "conversation", "", "conversation ID to continue")
	cmd.Flags().BoolVar(&opts.wait, "wait", false, "wait for the reply and print it")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 3*time.Hour, "with --wait: give up waiting after this long")
	return cmd
}

func pickRepo(cfg *config.Config, flag string) (string, error) {
	if flag != "" {
		if _, err := cfg.Repo(flag); err != nil {
			return "", withCode(exitUsage, err)
		}
		return flag, nil
	}
	ids := cfg.RepoIDs()
	switch len(ids) {
	case 0:
		return "", withCode(exitConfig, fmt.Errorf("no repos configured in %s; add one or run `make run` in a checkout", cfg.Path))
	case 1:
		return ids[0], nil
	}
	return "", withCode(exitUsage, fmt.Errorf("several repos configured (%s): choose one with --repo", strings.Join(ids, ", ")))
}

func runSend(ctx context.Context, a *app, opts sendOptions) error {
	if strings.TrimSpace(opts.prompt) == "" {
		return withCode(exitUsage, errors.New("empty prompt: say what the agent should do"))
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	repo, err := pickRepo(cfg, opts.repo)
	if err != nil {
		return err
	}
	conv := opts.conversation
	if conv == "" {
		if conv, err = ingest.NewConversationID(); err != nil {
			return err
		}
	} else if !conversation.ValidID(conv) {
		return withCode(exitUsage, fmt.Errorf("--conversation %q: want 8 lowercase hex characters", conv))
	}
	c, err := a.dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	sender := "local"
	if u, err := user.Current(); err == nil {
		sender = u.Username
	}
	msgID, err := localMessageID()
	if err != nil {
		return err
	}
	subject := firstLine(opts.prompt, 60)
	msg := workflows.Message{
		ID: msgID, Channel: workflows.ChannelLocal, Sender: sender, SenderDisplay: sender,
		Body: opts.prompt, ReceivedAt: time.Now().UTC(),
	}
	if opts.conversation == "" {
		msg.Subject = subject
	}
	target := ingest.Target{RepoID: repo, ConversationID: conv,
		Options: workflows.Options{IdleTimeout: time.Duration(cfg.Execution.ConversationMaxAgeDays) * 24 * time.Hour}}
	if _, err := ingest.Deliver(ctx, c, target, msg); err != nil {
		return withCode(exitRuntime, err)
	}
	if !opts.wait {
		fmt.Fprintf(a.stdout, "%s\n", conv)
		fmt.Fprintf(a.stderr, "conversation %s (repo %s): message queued; follow it with `airut status %s`\n", conv, repo, conv)
		return nil
	}
	fmt.Fprintf(a.stderr, "conversation %s (repo %s): waiting for the reply\n", conv, repo)
	wctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	t, err := waitForTask(wctx, a, c, repo, conv, msgID)
	if err != nil {
		return withCode(exitRuntime, err)
	}
	fmt.Fprintln(a.stdout, t.Reply)
	fmt.Fprintf(a.stderr, "task %s: %s%s · conversation %s\n", t.TaskID, t.Outcome, costNote(t), conv)
	if t.Outcome != workflows.OutcomeSuccess {
		return withCode(exitRuntime, fmt.Errorf("task %s ended %s; `airut retry %s` runs it again", t.TaskID, t.Outcome, conv))
	}
	return nil
}

func costNote(t workflows.TaskSummary) string {
	if t.CostUSD <= 0 {
		return ""
	}
	return fmt.Sprintf(" · $%.4f · %d turns", t.CostUSD, t.NumTurns)
}

// waitForTask polls the status query until the task that ran msgID has
// finished, printing state changes to stderr as it goes.
func waitForTask(ctx context.Context, a *app, c client.Client, repo, conv, msgID string) (workflows.TaskSummary, error) {
	last := ""
	silentSince := time.Now()
	for {
		st, err := queryStatus(ctx, c, repo, conv)
		if err == nil {
			silentSince = time.Now()
			for _, t := range st.Tasks {
				if slices.Contains(t.MessageIDs, msgID) {
					return t, nil
				}
			}
			now := st.State
			if st.Current != nil && slices.Contains(st.Current.MessageIDs, msgID) {
				now = "running task " + st.Current.TaskID
			}
			if now != last {
				fmt.Fprintf(a.stderr, "  %s\n", now)
				last = now
			}
		} else if time.Since(silentSince) > 15*time.Second {
			fmt.Fprintf(a.stderr, "  no answer from the conversation yet (%v); is a worker running?\n", err)
			silentSince = time.Now()
		}
		select {
		case <-ctx.Done():
			return workflows.TaskSummary{}, fmt.Errorf("gave up waiting for the reply: %w (the task goes on; see `airut status %s`)", ctx.Err(), conv)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func queryStatus(ctx context.Context, c client.Client, repo, conv string) (workflows.Status, error) {
	var st workflows.Status
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, workflows.WorkflowID(repo, conv), "", workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	err = v.Get(&st)
	return st, err
}

func localMessageID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return "local-" + hex.EncodeToString(b), nil
}

func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}
