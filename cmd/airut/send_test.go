package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

// sent records what `airut send` handed to Temporal.
type sent struct {
	workflowID string
	msg        workflows.Message
	opts       client.StartWorkflowOptions
}

// accept makes Temporal take one message, recording it in s.
func (h *harness) accept(t *testing.T, s *sent, err error) {
	var run client.WorkflowRun
	if err == nil {
		run = mocks.NewWorkflowRun(t)
	}
	h.c.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, workflows.SignalMessage, mock.Anything,
		mock.Anything, workflows.WorkflowName, mock.Anything).
		Run(func(args mock.Arguments) {
			s.workflowID = args.String(1)
			s.msg = args.Get(3).(workflows.Message)
			s.opts = args.Get(4).(client.StartWorkflowOptions)
		}).
		Return(run, err).Once()
}

func TestSend(t *testing.T) {
	convID := regexp.MustCompile(`^[0-9a-f]{8}$`)
	for _, tc := range []struct {
		name    string
		repos   []string
		opts    sendOptions
		stdin   string
		refuse  error // Temporal's answer to the delivery
		code    int
		wantErr string
		// check looks at what was sent and printed.
		check func(t *testing.T, s sent, stdout, stderr string)
	}{
		{
			name:  "new conversation prints its ID",
			repos: []string{"web"},
			opts:  sendOptions{Prompt: "Fix the flaky login test\nIt fails one run in ten."},
			check: func(t *testing.T, s sent, stdout, stderr string) {
				conv := strings.TrimSuffix(stdout, "\n")
				if !convID.MatchString(conv) || stdout != conv+"\n" {
					t.Fatalf("stdout %q, want a conversation ID and nothing else", stdout)
				}
				if s.workflowID != workflows.WorkflowID("web", conv) {
					t.Errorf("sent to %s, want the printed conversation %s", s.workflowID, workflows.WorkflowID("web", conv))
				}
				if s.msg.Subject != "Fix the flaky login test" {
					t.Errorf("subject %q, want the prompt's first line", s.msg.Subject)
				}
				if s.msg.Body != "Fix the flaky login test\nIt fails one run in ten." || s.msg.Channel != workflows.ChannelLocal {
					t.Errorf("message %+v, want the whole prompt on the local channel", s.msg)
				}
				want := fmt.Sprintf("conversation %s (repo web): message queued; follow it with `airut status %s`\n", conv, conv)
				if stderr != want {
					t.Errorf("stderr %q, want %q", stderr, want)
				}
			},
		},
		{
			name:  "continuing a conversation keeps its subject",
			repos: []string{"api", "web"},
			opts:  sendOptions{Repo: "api", Conversation: "0a1b2c3d", Prompt: "and the docs too"},
			check: func(t *testing.T, s sent, stdout, stderr string) {
				if stdout != "0a1b2c3d\n" || s.workflowID != "airut/api/0a1b2c3d" {
					t.Errorf("stdout %q, sent to %s; want 0a1b2c3d in repo api", stdout, s.workflowID)
				}
				if s.msg.Subject != "" {
					t.Errorf("subject %q: a follow-up must not rename the conversation", s.msg.Subject)
				}
			},
		},
		{
			name:  "prompt from stdin",
			repos: []string{"web"},
			opts:  sendOptions{Prompt: "-"},
			stdin: "Bump the Go version\n",
			check: func(t *testing.T, s sent, stdout, stderr string) {
				if s.msg.Body != "Bump the Go version\n" {
					t.Errorf("body %q, want what stdin held", s.msg.Body)
				}
			},
		},
		{
			name:    "conversation that is not an ID",
			repos:   []string{"web"},
			opts:    sendOptions{Conversation: "ABC", Prompt: "hi"},
			code:    exitUsage,
			wantErr: `--conversation "ABC": want 8 lowercase hex characters`,
		},
		{
			name:    "empty prompt",
			repos:   []string{"web"},
			opts:    sendOptions{Prompt: "-"},
			stdin:   " \n",
			code:    exitUsage,
			wantErr: "empty prompt: say what the agent should do",
		},
		{
			name:    "several repos and no --repo",
			repos:   []string{"api", "web"},
			opts:    sendOptions{Prompt: "hi"},
			code:    exitUsage,
			wantErr: "several repos configured (api, web): choose one with --repo",
		},
		{
			name:    "unknown repo",
			repos:   []string{"web"},
			opts:    sendOptions{Repo: "wbe", Prompt: "hi"},
			code:    exitUsage,
			wantErr: `unknown repo "wbe" (configured: web)`,
		},
		{
			name:    "Temporal does not take the message",
			repos:   []string{"web"},
			opts:    sendOptions{Conversation: "0a1b2c3d", Prompt: "hi"},
			refuse:  errUnavailable,
			code:    exitRuntime,
			wantErr: "deliver message %s to airut/web/0a1b2c3d: connection refused",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.repos...)
			h.stdin = tc.stdin
			var s sent
			// Only a valid request reaches Temporal.
			if tc.wantErr == "" || tc.refuse != nil {
				h.accept(t, &s, tc.refuse)
			}
			opts := tc.opts
			opts.deps = h.deps()
			err := runSend(context.Background(), opts)
			wantErr := tc.wantErr
			if strings.Contains(wantErr, "%s") {
				wantErr = fmt.Sprintf(wantErr, s.msg.ID)
			}
			checkExit(t, err, tc.code, wantErr)
			if tc.wantErr != "" && tc.refuse == nil && h.dialed {
				t.Errorf("dialled Temporal for a request that was refused")
			}
			if tc.check != nil {
				tc.check(t, s, h.stdout.String(), h.stderr.String())
			}
		})
	}
}

// A reply longer than what the status query carries (32 KiB).
var longReply = strings.Repeat("All 412 tests pass; here is what changed.\n", 1200)

// truncated is longReply as the workflow keeps it in its state.
var truncated = longReply[:32<<10] + "\n" + workflows.TruncatedMarker

func TestSendWait(t *testing.T) {
	const conv = "0a1b2c3d"
	for _, tc := range []struct {
		name string
		// replies are written to the conversation's replies.jsonl here, as
		// the worker of `airut run` on this host does.
		replies []conversation.Reply
		// hostID is this host's worker.host_id.
		hostID  string
		outcome workflows.Outcome
		reply   string // the task's reply in the status query
		// running: the first status answer shows the task running.
		running    bool
		stdout     string
		stderr     []string // lines stderr must have
		notStderr  string
		code       int
		wantErrFmt string
	}{
		{
			name:    "long reply printed whole from replies.jsonl",
			replies: []conversation.Reply{{TaskID: "t1", Kind: "ack", Text: "On it."}, {TaskID: "t1", Kind: "reply", Text: longReply, Footer: "Cost: $0.1200"}},
			outcome: workflows.OutcomeSuccess,
			reply:   truncated,
			stdout:  longReply + "\nCost: $0.1200\n",
			stderr: []string{
				"conversation 0a1b2c3d (repo web): waiting for the reply",
				"task t1: success · $0.1200 · 7 turns · conversation 0a1b2c3d",
			},
			notStderr: "shortened",
		},
		{
			name: "footer and attached files after the reply",
			replies: []conversation.Reply{{
				TaskID: "t1", Kind: "reply", Text: "Here is the report.",
				Footer: "Cost: $0.1200 · Network sandbox blocked 1 request(s): GET pypi.org/simple/ (allow them in .airut/network-allowlist.yaml)",
				Files:  []string{"/var/lib/airut/web/0a1b2c3d/sent/t1/report.pdf", "/var/lib/airut/web/0a1b2c3d/sent/t1/data.csv"},
			}},
			outcome: workflows.OutcomeSuccess,
			reply:   "Here is the report.",
			stdout: "Here is the report.\n" +
				"\n" +
				"Cost: $0.1200 · Network sandbox blocked 1 request(s): GET pypi.org/simple/ (allow them in .airut/network-allowlist.yaml)\n" +
				"\n" +
				"attached: /var/lib/airut/web/0a1b2c3d/sent/t1/report.pdf\n" +
				"attached: /var/lib/airut/web/0a1b2c3d/sent/t1/data.csv\n",
			stderr:    []string{"task t1: success · $0.1200 · 7 turns · conversation 0a1b2c3d"},
			notStderr: "attached",
		},
		{
			name:    "long reply from a worker on another host",
			outcome: workflows.OutcomeSuccess,
			reply:   truncated,
			stdout:  truncated + "\n",
			stderr: []string{
				"the reply above was shortened to 32 KiB; the full text, its footer and any attached files are in %s (task t1) on worker host h2",
				"task t1: success · $0.1200 · 7 turns · conversation 0a1b2c3d",
			},
		},
		{
			name:    "short reply from another host says where its footer and files are",
			outcome: workflows.OutcomeSuccess,
			reply:   "Done.",
			stdout:  "Done.\n",
			stderr: []string{
				"the reply's footer and any attached files are in %s (task t1) on worker host h2",
				"task t1: success · $0.1200 · 7 turns · conversation 0a1b2c3d",
			},
			running: true,
		},
		{
			name:      "short reply of this host without a record needs no note",
			hostID:    "h2",
			outcome:   workflows.OutcomeSuccess,
			reply:     "Done.",
			stdout:    "Done.\n",
			stderr:    []string{"task t1: success · $0.1200 · 7 turns · conversation 0a1b2c3d"},
			notStderr: "replies.jsonl",
		},
		{
			name:       "failed task",
			replies:    []conversation.Reply{{TaskID: "t1", Kind: "error", Text: "The agent failed: out of memory", Footer: "Network sandbox blocked 2 request(s): GET a.test/, GET b.test/ (allow them in .airut/network-allowlist.yaml)"}},
			outcome:    workflows.OutcomeContainerFailed,
			reply:      "The agent failed: out of memory",
			stdout:     "The agent failed: out of memory\n\nNetwork sandbox blocked 2 request(s): GET a.test/, GET b.test/ (allow them in .airut/network-allowlist.yaml)\n",
			stderr:     []string{"task t1: container_failed · $0.1200 · 7 turns · conversation 0a1b2c3d"},
			code:       exitRuntime,
			wantErrFmt: "task t1 ended container_failed; `airut retry 0a1b2c3d` runs it again",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "web")
			h.cfg.Worker.HostID = tc.hostID
			l, err := conversation.For(filepath.Join(h.cfg.StateDir, "web"), conv)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.replies {
				if _, err := l.AppendReply(r); err != nil {
					t.Fatal(err)
				}
			}
			var s sent
			h.accept(t, &s, nil)
			asked := 0
			h.status("web", conv, func() workflows.Status {
				asked++
				st := workflows.Status{RepoID: "web", ConversationID: conv, HostQueue: workflows.HostQueue("h2")}
				task := workflows.TaskSummary{TaskID: "t1", MessageIDs: []string{s.msg.ID}}
				if tc.running && asked == 1 {
					st.State, st.Busy, st.Current = workflows.StateBusy, true, &task
					return st
				}
				task.Outcome, task.Reply, task.CostUSD, task.NumTurns = tc.outcome, tc.reply, 0.12, 7
				st.State, st.Tasks = workflows.StateIdle, []workflows.TaskSummary{{TaskID: "t0", MessageIDs: []string{"earlier"}}, task}
				return st
			})
			err = runSend(context.Background(), sendOptions{deps: h.deps(), Conversation: conv, Prompt: "run the tests", Wait: true, Timeout: time.Minute})
			checkExit(t, err, tc.code, tc.wantErrFmt)
			if got := h.stdout.String(); got != tc.stdout {
				if len(got) < 1000 && len(tc.stdout) < 1000 {
					t.Errorf("stdout:\n%s\nwant:\n%s", got, tc.stdout)
				} else {
					t.Errorf("stdout: %d bytes ending %q, want %d bytes ending %q", len(got), tail(got), len(tc.stdout), tail(tc.stdout))
				}
			}
			stderr := h.stderr.String()
			t.Logf("stderr:\n%s", stderr)
			for _, line := range tc.stderr {
				if strings.Contains(line, "%s") {
					line = fmt.Sprintf(line, l.Replies())
				}
				if !strings.Contains(stderr, line+"\n") {
					t.Errorf("stderr lacks %q", line)
				}
			}
			if tc.notStderr != "" && strings.Contains(stderr, tc.notStderr) {
				t.Errorf("stderr says %q", tc.notStderr)
			}
			if tc.running && !strings.Contains(stderr, "  running task t1\n") {
				t.Errorf("stderr does not show the task running")
			}
		})
	}
}

// A --wait that outlives its timeout says the task goes on.
func TestSendWaitTimeout(t *testing.T) {
	h := newHarness(t, "web")
	var s sent
	h.accept(t, &s, nil)
	h.status("web", "0a1b2c3d", func() workflows.Status {
		return workflows.Status{State: workflows.StateQueued}
	})
	err := runSend(context.Background(), sendOptions{deps: h.deps(), Conversation: "0a1b2c3d", Prompt: "hi", Wait: true, Timeout: 100 * time.Millisecond})
	checkExit(t, err, exitRuntime, "gave up waiting for the reply: context deadline exceeded (the task goes on; see `airut status 0a1b2c3d`)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap the deadline")
	}
	if !strings.Contains(h.stderr.String(), "  queued\n") {
		t.Errorf("stderr %q does not show the conversation queued", h.stderr.String())
	}
}

func tail(s string) string {
	if len(s) > 40 {
		return s[len(s)-40:]
	}
	return s
}
