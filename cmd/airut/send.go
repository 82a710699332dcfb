package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/operate"
	"github.com/airut-go/airut/workflows"
)

// sendOptions are the inputs of `airut send`.
type sendOptions struct {
	deps
	Repo         string
	Conversation string
	Wait         bool
	Timeout      time.Duration
	// Prompt is the task; "-" reads it from IO.In.
	Prompt string
}

func newSendCmd(a *app) *cobra.Command {
	opts := sendOptions{deps: a.deps()}
	cmd := &cobra.Command{
		Use:   "send [--repo ID] [--conversation ID] [--wait] PROMPT|-",
		Short: "Start or continue a conversation from the command line",
		Long: `Send a task to the agent. Without --conversation a new conversation starts
and its ID is printed; with it, the message continues that conversation
(and its Claude session). A prompt of "-" is read from standard input.

With --wait, the answer is printed on standard output when it comes: the
whole reply, then, after a blank line, its footer (cost, web searches,
requests the network sandbox blocked), then a line "attached: PATH" for
each file the agent left in its outbox, where the file now is. Progress,
the task's outcome and notes go to standard error, so
"airut send --wait ... > answer.txt" keeps just the answer. The exit
status is not 0 when the task did not succeed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Prompt = args[0]
			return runSend(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", "", "repo ID (default: the only configured repo)")
	cmd.Flags().StringVar(&opts.Conversation, "conversation", "", "conversation ID to continue")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait for the reply and print it")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 3*time.Hour, "with --wait: give up waiting after this long")
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

func runSend(ctx context.Context, opts sendOptions) error {
	prompt := opts.Prompt
	if prompt == "-" {
		b, err := io.ReadAll(opts.IO.In)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("read prompt from stdin: %w", err))
		}
		prompt = string(b)
	}
	if strings.TrimSpace(prompt) == "" {
		return withCode(exitUsage, errors.New("empty prompt: say what the agent should do"))
	}
	if opts.Conversation != "" && !conversation.ValidID(opts.Conversation) {
		return withCode(exitUsage, fmt.Errorf("--conversation %q: want 8 lowercase hex characters", opts.Conversation))
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	repo, err := pickRepo(cfg, opts.Repo)
	if err != nil {
		return err
	}
	c, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	conv, msgID, err := operate.Send(ctx, c, operate.Message{
		RepoID: repo, ConversationID: opts.Conversation, Sender: localUser(), Text: prompt, Options: operate.ConversationOptions(cfg),
	})
	if err != nil {
		return withCode(exitRuntime, err)
	}
	stdout, stderr := opts.IO.Out, opts.IO.ErrOut
	if !opts.Wait {
		fmt.Fprintf(stdout, "%s\n", conv)
		fmt.Fprintf(stderr, "conversation %s (repo %s): message queued; follow it with `airut status %s`\n", conv, repo, conv)
		return nil
	}
	fmt.Fprintf(stderr, "conversation %s (repo %s): waiting for the reply\n", conv, repo)
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	t, hostQueue, err := waitForTask(wctx, stderr, c, repo, conv, msgID)
	if err != nil {
		return withCode(exitRuntime, err)
	}
	r := fullReply(cfg, repo, conv, t, hostQueue)
	r.print(stdout)
	if r.Note != "" {
		fmt.Fprintln(stderr, r.Note)
	}
	fmt.Fprintf(stderr, "task %s: %s%s · conversation %s\n", t.TaskID, t.Outcome, costNote(t), conv)
	if t.Outcome != workflows.OutcomeSuccess {
		return withCode(exitRuntime, fmt.Errorf("task %s ended %s; `airut retry %s` runs it again", t.TaskID, t.Outcome, conv))
	}
	return nil
}

// sentReply is what the user was sent at the end of a task, as `airut
// send --wait` and `airut status` print it.
type sentReply struct {
	Text   string
	Footer string
	// Files are where the files attached to the reply were saved.
	Files []string
	// Note, when set, says that part of the reply is not at hand here and
	// where it is; it goes to stderr.
	Note string
}

// print writes the reply as the email and Slack channels show it: the
// text, then the footer after a blank line, then where each attached file
// is.
func (r sentReply) print(w io.Writer) {
	fmt.Fprintln(w, strings.TrimRight(r.Text, "\n"))
	if r.Footer != "" {
		fmt.Fprintf(w, "\n%s\n", r.Footer)
	}
	if len(r.Files) > 0 {
		fmt.Fprintln(w)
	}
	for _, f := range r.Files {
		fmt.Fprintf(w, "attached: %s\n", f)
	}
}

// fullReply returns the task's reply whole, with its footer and attached
// files. The status query carries at most 32 KiB of the text and neither
// of the others, since workflow state must stay small, but the local
// channel wrote all of it to the conversation's replies.jsonl on the
// worker host, which is this host when `airut run` runs here. When only
// the status copy is at hand, Note says what is missing and where it is.
func fullReply(cfg *config.Config, repo, conv string, t workflows.TaskSummary, hostQueue string) sentReply {
	l, err := conversation.For(cfg.RepoStateDir(repo), conv)
	if err != nil {
		// The ID was validated before sending; keep the status text.
		return sentReply{Text: t.Reply}
	}
	// A task ends with one reply or one error (AppendReply keeps one
	// record per task and kind); its ack is not the answer.
	replies, err := l.ReadReplies()
	for i := len(replies) - 1; i >= 0; i-- {
		r := replies[i]
		if r.TaskID == t.TaskID && (r.Kind == string(workflows.ReplyFinal) || r.Kind == string(workflows.ReplyError)) {
			return sentReply{Text: r.Text, Footer: r.Footer, Files: r.Files}
		}
	}
	host := "the worker host"
	id := strings.TrimPrefix(hostQueue, workflows.HostQueue(""))
	if id != "" {
		host = "worker host " + id
	}
	shortened := strings.HasSuffix(t.Reply, workflows.TruncatedMarker)
	// A reply of this host that is not in its replies.jsonl was not
	// delivered; the task's error says so.
	elsewhere := id != "" && id != cfg.Worker.HostID
	out := sentReply{Text: t.Reply}
	switch {
	case shortened:
		out.Note = fmt.Sprintf("the reply above was shortened to %d KiB; the full text, its footer and any attached files are in %s (task %s) on %s", workflows.MaxReplyInState>>10, l.Replies(), t.TaskID, host)
	case elsewhere:
		out.Note = fmt.Sprintf("the reply's footer and any attached files are in %s (task %s) on %s", l.Replies(), t.TaskID, host)
	default:
		return out
	}
	if err != nil {
		out.Note += fmt.Sprintf(" (reading it here failed: %v)", err)
	}
	return out
}

func costNote(t workflows.TaskSummary) string {
	if t.CostUSD <= 0 {
		return ""
	}
	return fmt.Sprintf(" · $%.4f · %d turns", t.CostUSD, t.NumTurns)
}

// pollInterval is how often `airut send --wait` asks for the status.
const pollInterval = 300 * time.Millisecond

// waitForTask polls the status query until the task that ran msgID has
// finished, printing state changes to stderr as it goes. It returns the
// task and the queue of the host that ran it.
func waitForTask(ctx context.Context, stderr io.Writer, c client.Client, repo, conv, msgID string) (workflows.TaskSummary, string, error) {
	last := ""
	silentSince := time.Now()
	for {
		st, err := operate.Status(ctx, c, repo, conv)
		if err == nil {
			silentSince = time.Now()
			for _, t := range st.Tasks {
				if slices.Contains(t.MessageIDs, msgID) {
					return t, st.HostQueue, nil
				}
			}
			now := st.State
			if st.Current != nil && slices.Contains(st.Current.MessageIDs, msgID) {
				now = "running task " + st.Current.TaskID
			}
			if now != last {
				fmt.Fprintf(stderr, "  %s\n", now)
				last = now
			}
		} else if time.Since(silentSince) > 15*time.Second {
			fmt.Fprintf(stderr, "  no answer from the conversation yet (%v); is a worker running?\n", err)
			silentSince = time.Now()
		}
		select {
		case <-ctx.Done():
			return workflows.TaskSummary{}, "", fmt.Errorf("gave up waiting for the reply: %w (the task goes on; see `airut status %s`)", ctx.Err(), conv)
		case <-time.After(pollInterval):
		}
	}
}

// localUser names the person at this terminal, for what the conversation
// records (a message's sender, who stopped a task).
func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "local"
}
