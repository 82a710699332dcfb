package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

func TestStatus(t *testing.T) {
	finished := time.Date(2026, 3, 4, 10, 30, 0, 0, time.Local)
	st := workflows.Status{
		RepoID: "web", ConversationID: "0a1b2c3d", State: workflows.StateFailed, Model: "opus", SessionID: "s-1",
		HostQueue: "airut-host-h1", Queued: 1, CanRetry: true,
		Tasks: []workflows.TaskSummary{
			{TaskID: "t1", FinishedAt: finished, Outcome: workflows.OutcomeSuccess, CostUSD: 0.5, Reply: "Renamed the package.\nDetails follow."},
			{TaskID: "t2", FinishedAt: finished, Outcome: workflows.OutcomeTimeout, Reply: "Timed out", Error: "no output for 30m"},
		},
	}
	for _, tc := range []struct {
		name    string
		opts    statusOptions
		setup   func(h *harness)
		code    int
		wantErr string
		stdout  []string // lines stdout must have
	}{
		{
			name: "one conversation, repo found",
			opts: statusOptions{Conversation: "0a1b2c3d"},
			setup: func(h *harness) {
				h.missing("api", "0a1b2c3d")
				h.exists("web", "0a1b2c3d")
				h.status("web", "0a1b2c3d", func() workflows.Status { return st })
			},
			stdout: []string{
				"conversation 0a1b2c3d  repo web  state failed",
				"model opus  session s-1  host airut-host-h1  queued 1",
				"TASK  FINISHED             OUTCOME  COST     REPLY",
				"t1    2026-03-04 10:30:00  success  $0.5000  Renamed the package.",
				"t2    2026-03-04 10:30:00  timeout  -        no output for 30m",
				"the last task failed: `airut retry 0a1b2c3d` runs it again",
			},
		},
		{
			name: "a stopped conversation says so",
			opts: statusOptions{Conversation: "0a1b2c3d", Repo: "web"},
			setup: func(h *harness) {
				h.exists("web", "0a1b2c3d")
				stopped := st
				stopped.State = workflows.StateStopped
				h.status("web", "0a1b2c3d", func() workflows.Status { return stopped })
			},
			stdout: []string{
				"conversation 0a1b2c3d  repo web  state stopped",
				"the last task was stopped: `airut retry 0a1b2c3d` runs it again",
			},
		},
		{
			name: "one conversation, repo given",
			opts: statusOptions{Conversation: "0a1b2c3d", Repo: "web"},
			setup: func(h *harness) {
				h.exists("web", "0a1b2c3d")
				h.status("web", "0a1b2c3d", func() workflows.Status { return st })
			},
			stdout: []string{"conversation 0a1b2c3d  repo web  state failed"},
		},
		{
			name: "conversation that does not exist",
			opts: statusOptions{Conversation: "0badc0de"},
			setup: func(h *harness) {
				h.missing("api", "0badc0de")
				h.missing("web", "0badc0de")
			},
			code:    exitUsage,
			wantErr: "no conversation 0badc0de in any configured repo (api, web)",
		},
		{
			name:    "conversation that does not exist in the repo given",
			opts:    statusOptions{Conversation: "0badc0de", Repo: "web"},
			setup:   func(h *harness) { h.missing("web", "0badc0de") },
			code:    exitUsage,
			wantErr: "no conversation 0badc0de in repo web",
		},
		{
			name:    "not a conversation ID",
			opts:    statusOptions{Conversation: "0BADC0DE"},
			code:    exitUsage,
			wantErr: `"0BADC0DE" is not a conversation ID: want 8 lowercase hex characters`,
		},
		{
			name: "server unreachable",
			opts: statusOptions{Conversation: "0a1b2c3d"},
			setup: func(h *harness) {
				h.c.On("DescribeWorkflowExecution", mock.Anything, "airut/api/0a1b2c3d", "").Return(nil, errUnavailable).Once()
			},
			code:    exitRuntime,
			wantErr: "look up conversation 0a1b2c3d in repo api: connection refused",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "api", "web")
			if tc.setup != nil {
				tc.setup(h)
			}
			opts := tc.opts
			opts.deps = h.deps()
			err := runStatus(context.Background(), opts)
			checkExit(t, err, tc.code, tc.wantErr)
			out := h.stdout.String()
			for _, line := range tc.stdout {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("stdout lacks %q", line)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s", out)
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	h := newHarness(t, "web")
	want := workflows.Status{RepoID: "web", ConversationID: "0a1b2c3d", State: workflows.StateIdle, Tasks: []workflows.TaskSummary{{TaskID: "t1", Reply: "ok"}}}
	h.exists("web", "0a1b2c3d")
	h.status("web", "0a1b2c3d", func() workflows.Status { return want })
	if err := runStatus(context.Background(), statusOptions{deps: h.deps(), Conversation: "0a1b2c3d", JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got workflows.Status
	if err := json.Unmarshal(h.stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, h.stdout.String())
	}
	if got.ConversationID != want.ConversationID || got.State != want.State || len(got.Tasks) != 1 || got.Tasks[0].Reply != "ok" {
		t.Errorf("JSON status %+v, want %+v", got, want)
	}
}

// The most recent task's reply is shown whole after the task table, with
// its footer and where its attached files were saved, as recorded in
// replies.jsonl on this host; the table keeps only each reply's first line.
func TestStatusLastReply(t *testing.T) {
	finished := time.Date(2026, 3, 4, 10, 30, 0, 0, time.Local)
	const conv = "0a1b2c3d"
	for _, tc := range []struct {
		name     string
		replies  []conversation.Reply
		task     workflows.TaskSummary
		canRetry bool
		stdout   string // after the conversation's two header lines
		stderr   string
	}{
		{
			name: "reply with footer and files",
			replies: []conversation.Reply{
				{TaskID: "t1", Kind: "reply", Text: "Older answer."},
				{TaskID: "t2", Kind: "ack", Text: "On it."},
				{TaskID: "t2", Kind: "reply", Text: longReply, Footer: "Cost: $0.5000 · Web searches: 2", Files: []string{"/srv/airut/web/0a1b2c3d/sent/t2/report.pdf"}},
			},
			task: workflows.TaskSummary{TaskID: "t2", FinishedAt: finished, Outcome: workflows.OutcomeSuccess, CostUSD: 0.5, Reply: truncated},
			stdout: "TASK  FINISHED             OUTCOME  COST     REPLY\n" +
				"t1    2026-03-04 10:30:00  success  -        Older answer.\n" +
				"t2    2026-03-04 10:30:00  success  $0.5000  All 412 tests pass; here is what changed.\n" +
				"\n" +
				"reply of task t2:\n" +
				longReply +
				"\n" +
				"Cost: $0.5000 · Web searches: 2\n" +
				"\n" +
				"attached: /srv/airut/web/0a1b2c3d/sent/t2/report.pdf\n",
		},
		{
			name: "failed task's error reply, before the retry hint",
			replies: []conversation.Reply{
				{TaskID: "t2", Kind: "error", Text: "The agent failed: exit 1", Footer: "Network sandbox blocked 1 request(s): GET x.test/ (allow them in .airut/network-allowlist.yaml)"},
			},
			task:     workflows.TaskSummary{TaskID: "t2", FinishedAt: finished, Outcome: workflows.OutcomeContainerFailed, Reply: "The agent failed: exit 1", Error: "exit 1"},
			canRetry: true,
			stdout: "TASK  FINISHED             OUTCOME           COST  REPLY\n" +
				"t1    2026-03-04 10:30:00  success           -     Older answer.\n" +
				"t2    2026-03-04 10:30:00  container_failed  -     exit 1\n" +
				"\n" +
				"reply of task t2:\n" +
				"The agent failed: exit 1\n" +
				"\n" +
				"Network sandbox blocked 1 request(s): GET x.test/ (allow them in .airut/network-allowlist.yaml)\n" +
				"\n" +
				"the last task failed: `airut retry 0a1b2c3d` runs it again\n",
		},
		{
			name: "worker on another host",
			task: workflows.TaskSummary{TaskID: "t2", FinishedAt: finished, Outcome: workflows.OutcomeSuccess, Reply: truncated},
			stdout: "TASK  FINISHED             OUTCOME  COST  REPLY\n" +
				"t1    2026-03-04 10:30:00  success  -     Older answer.\n" +
				"t2    2026-03-04 10:30:00  success  -     All 412 tests pass; here is what changed.\n" +
				"\n" +
				"reply of task t2:\n" +
				truncated + "\n",
			stderr: "the reply above was shortened to 32 KiB; the full text, its footer and any attached files are in %s (task t2) on worker host h2\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "web")
			l, err := conversation.For(filepath.Join(h.cfg.StateDir, "web"), conv)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.replies {
				if _, err := l.AppendReply(r); err != nil {
					t.Fatal(err)
				}
			}
			st := workflows.Status{
				RepoID: "web", ConversationID: conv, State: workflows.StateIdle, HostQueue: workflows.HostQueue("h2"), CanRetry: tc.canRetry,
				Tasks: []workflows.TaskSummary{{TaskID: "t1", FinishedAt: finished, Outcome: workflows.OutcomeSuccess, Reply: "Older answer."}, tc.task},
			}
			h.exists("web", conv)
			h.status("web", conv, func() workflows.Status { return st })
			if err := runStatus(context.Background(), statusOptions{deps: h.deps(), Conversation: conv}); err != nil {
				t.Fatal(err)
			}
			_, got, _ := strings.Cut(h.stdout.String(), "queued 0\n")
			if got != tc.stdout {
				if len(got) < 2000 {
					t.Errorf("stdout after the header:\n%s\nwant:\n%s", got, tc.stdout)
				} else {
					t.Errorf("stdout after the header: %d bytes ending %q, want %d bytes ending %q", len(got), tail(got), len(tc.stdout), tail(tc.stdout))
				}
			}
			wantErr := tc.stderr
			if strings.Contains(wantErr, "%s") {
				wantErr = fmt.Sprintf(wantErr, l.Replies())
			}
			if got := h.stderr.String(); got != wantErr {
				t.Errorf("stderr %q, want %q", got, wantErr)
			}
		})
	}
}

// execution is one running conversation as the visibility store lists it.
func execution(t *testing.T, repo, conv, status, channel, sender string, started time.Time) *workflowpb.WorkflowExecutionInfo {
	t.Helper()
	attr := func(s string) *commonpb.Payload {
		p, err := converter.GetDefaultDataConverter().ToPayload(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(repo, conv), RunId: "r"},
		Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime: timestamppb.New(started),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			workflows.AttrStatus.GetName():  attr(status),
			workflows.AttrChannel.GetName(): attr(channel),
			workflows.AttrSender.GetName():  attr(sender),
		}},
	}
}

// noProcesses ends the list when no airut process runs (the harness's
// config file does not exist).
const noProcesses = "config /etc/airut/airut.yaml (sha256 -)\n  no airut process of this state dir is running\n"

func TestStatusList(t *testing.T) {
	started := time.Date(2026, 3, 4, 9, 0, 0, 0, time.Local)
	all := "WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Running'"
	for _, tc := range []struct {
		name    string
		repo    string
		query   string
		pages   [][]*workflowpb.WorkflowExecutionInfo
		listErr error
		stdout  string
		code    int
		wantErr string
	}{
		{
			name:  "open conversations over two pages",
			query: all,
			pages: [][]*workflowpb.WorkflowExecutionInfo{
				{execution(t, "web", "0a1b2c3d", "busy", "email", "ann@example.com", started)},
				{execution(t, "api", "11223344", "", "local", "bob", started)},
			},
			stdout: "CONVERSATION  REPO  STATUS  CHANNEL  SENDER           STARTED\n" +
				"0a1b2c3d      web   busy    email    ann@example.com  2026-03-04 09:00:00\n" +
				"11223344      api   -       local    bob              2026-03-04 09:00:00\n" + noProcesses,
		},
		{
			name:   "one repo, none open",
			repo:   "web",
			query:  all + " AND AirutRepo = 'web'",
			pages:  [][]*workflowpb.WorkflowExecutionInfo{nil},
			stdout: "no open conversations\n" + noProcesses,
		},
		{
			name:    "visibility store down",
			query:   all,
			listErr: errUnavailable,
			code:    exitRuntime,
			wantErr: "list conversations: connection refused",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "api", "web")
			if tc.listErr != nil {
				h.c.On("ListWorkflow", mock.Anything, mock.Anything).Return(nil, tc.listErr).Once()
			}
			for i, page := range tc.pages {
				var token, next []byte
				if i > 0 {
					token = []byte{byte(i)}
				}
				if i < len(tc.pages)-1 {
					next = []byte{byte(i + 1)}
				}
				req := &workflowservice.ListWorkflowExecutionsRequest{Query: tc.query, NextPageToken: token}
				h.c.On("ListWorkflow", mock.Anything, mock.MatchedBy(func(r *workflowservice.ListWorkflowExecutionsRequest) bool {
					return r.Query == req.Query && string(r.NextPageToken) == string(req.NextPageToken)
				})).Return(&workflowservice.ListWorkflowExecutionsResponse{Executions: page, NextPageToken: next}, nil).Once()
			}
			err := runStatus(context.Background(), statusOptions{deps: h.deps(), Repo: tc.repo})
			checkExit(t, err, tc.code, tc.wantErr)
			if got := h.stdout.String(); got != tc.stdout {
				t.Errorf("stdout\n%s\nwant\n%s", got, tc.stdout)
			}
		})
	}
}

func TestStop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		result  workflows.StopResult
		missing bool
		stdout  string
		code    int
		wantErr string
	}{
		{
			name:   "running task stopped",
			result: workflows.StopResult{Stopped: true, TaskID: "t7", Queued: 2},
			stdout: "stopped task t7 in conversation 0a1b2c3d (2 queued message(s) will still run)\n",
		},
		{
			name:   "nothing running",
			result: workflows.StopResult{Queued: 0},
			stdout: "nothing running in conversation 0a1b2c3d\n",
		},
		{
			name:    "no such conversation",
			missing: true,
			code:    exitUsage,
			wantErr: "no conversation 0a1b2c3d in repo web",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "web")
			if tc.missing {
				h.missing("web", "0a1b2c3d")
			} else {
				h.exists("web", "0a1b2c3d")
				h.updated(t, "web", "0a1b2c3d", workflows.UpdateStop, tc.result, nil)
			}
			err := runStop(context.Background(), stopOptions{deps: h.deps(), Repo: "web", Conversation: "0a1b2c3d"})
			checkExit(t, err, tc.code, tc.wantErr)
			if got := h.stdout.String(); got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name string
		// refusal is the workflow validator's error.
		refusal error
		stdout  string
		code    int
		wantErr string
	}{
		{
			name:   "last failed task queued again",
			stdout: "retrying the last failed task of conversation 0a1b2c3d (1 message(s)); follow it with `airut status 0a1b2c3d`\n",
		},
		{
			name:    "nothing to retry",
			refusal: errors.New("nothing to retry: the last task did not fail"),
			code:    exitRuntime,
			wantErr: "cannot retry conversation 0a1b2c3d: nothing to retry: the last task did not fail",
		},
		{
			name:    "a task is running",
			refusal: errors.New("a task is running; stop it first or wait for it to finish"),
			code:    exitRuntime,
			wantErr: "cannot retry conversation 0a1b2c3d: a task is running; stop it first or wait for it to finish",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "web")
			h.exists("web", "0a1b2c3d")
			h.updated(t, "web", "0a1b2c3d", workflows.UpdateRetry, workflows.RetryResult{Messages: 1}, tc.refusal)
			err := runRetry(context.Background(), retryOptions{deps: h.deps(), Conversation: "0a1b2c3d"})
			checkExit(t, err, tc.code, tc.wantErr)
			if got := h.stdout.String(); got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
		})
	}
}

// An update that fails for another reason than the workflow's refusal
// keeps Temporal's error.
func TestUpdateTransportError(t *testing.T) {
	h := newHarness(t, "web")
	h.exists("web", "0a1b2c3d")
	h.c.On("SignalWorkflow", mock.Anything, mock.Anything, "", workflows.SignalAction, mock.Anything).Return(nil).Once()
	h.c.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, errUnavailable).Once()
	err := runStop(context.Background(), stopOptions{deps: h.deps(), Conversation: "0a1b2c3d"})
	checkExit(t, err, exitRuntime, "stop conversation 0a1b2c3d: connection refused")
	if !errors.Is(err, errUnavailable) {
		t.Errorf("error does not wrap Temporal's")
	}
}

// The cobra commands fill the options from the command line: a bad
// argument is refused before any config is read or server dialled.
func TestCommandsRefuseBadIDs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "--conversation", "nope", "hi"}, `airut: --conversation "nope": want 8 lowercase hex characters`},
		{[]string{"status", "nope"}, `airut: "nope" is not a conversation ID: want 8 lowercase hex characters`},
		{[]string{"stop", "nope"}, `airut: "nope" is not a conversation ID: want 8 lowercase hex characters`},
		{[]string{"retry", "nope"}, `airut: "nope" is not a conversation ID: want 8 lowercase hex characters`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// A config path that does not parse: reading it would fail.
			args := append([]string{"--config", "/dev/null/airut.yaml"}, tc.args...)
			out, code := runAirutErr(t, args...)
			if code != exitUsage || out != tc.want+"\n" {
				t.Errorf("exit %d, output %q; want %d, %q", code, out, exitUsage, tc.want+"\n")
			}
		})
	}
}

// The list ends with each running process's config: the version in force
// (generation, hash), a refused reload with its line, an edit not loaded
// yet, and what waits for a restart. Records of processes that are gone
// are not shown.
func TestStatusConfig(t *testing.T) {
	loaded := time.Date(2026, 12, 6, 18, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		name   string
		record func(inForce string) config.Status
		want   string
	}{
		{
			name:   "the file in force",
			record: func(h string) config.Status { return config.Status{Generation: 1, SHA256: h, LoadedAt: loaded} },
			want:   "  run-h1 (pid PID): generation 1, sha256 HASH, loaded 2026-12-06 18:00:00\n",
		},
		{
			name: "a refused edit and a setting waiting for a restart",
			record: func(h string) config.Status {
				return config.Status{Generation: 3, SHA256: h, LoadedAt: loaded, LastError: "airut.yaml:7: repos.web.model: must be a string",
					LastErrorAt: loaded.Add(time.Minute), NeedsRestart: []string{"temporal.embedded.ui_port"}}
			},
			want: "  run-h1 (pid PID): generation 3, sha256 HASH, loaded 2026-12-06 18:00:00\n" +
				"    last reload refused at 2026-12-06 18:01:00; the version in force stays: airut.yaml:7: repos.web.model: must be a string\n" +
				"    needs restart to apply: temporal.embedded.ui_port\n",
		},
		{
			name: "an edit not loaded yet",
			record: func(string) config.Status {
				return config.Status{Generation: 2, SHA256: "0123456789abcdef", LoadedAt: loaded}
			},
			want: "  run-h1 (pid PID): generation 2, sha256 0123456789ab, loaded 2026-12-06 18:00:00\n" +
				"    the file on disk (sha256 HASH) is newer than the version in force: reload pending\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "web")
			h.cfg.Path = filepath.Join(t.TempDir(), "airut.yaml")
			if err := os.WriteFile(h.cfg.Path, []byte("config_version: 5\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			hash := config.FileSHA256(h.cfg.Path)
			write := func(name string, pid int) {
				data, err := json.Marshal(processStatus{Process: name, PID: pid, Status: tc.record(hash)})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(h.cfg.ProcessStatusDir(), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(h.cfg.ProcessStatusFile(name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("run-h1", os.Getpid())
			write("worker-gone", 1<<22+7) // no such process
			h.c.On("ListWorkflow", mock.Anything, mock.Anything).Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil).Once()
			if err := runStatus(context.Background(), statusOptions{deps: h.deps()}); err != nil {
				t.Fatal(err)
			}
			want := "no open conversations\nconfig " + h.cfg.Path + " (sha256 HASH)\n" + tc.want
			want = strings.NewReplacer("HASH", hash[:12], "PID", strconv.Itoa(os.Getpid())).Replace(want)
			if got := h.stdout.String(); got != want {
				t.Errorf("stdout\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// A file that does not load fails the command with its errors, and the
// processes still running say which version they keep in force.
func TestStatusOfABrokenFile(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "airut.yaml")
	if err := os.WriteFile(path, []byte("state_dir: "+h.cfg.StateDir+"\nrepos: {demo: {model: [x]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := processStatus{Process: "run-h1", PID: os.Getpid(), Status: config.Status{Generation: 4, SHA256: "0123456789abcdef",
		LoadedAt: time.Date(2026, 12, 6, 18, 0, 0, 0, time.Local), LastError: path + ":2: repos.demo.model: must be a string, got a list",
		LastErrorAt: time.Date(2026, 12, 6, 18, 5, 0, 0, time.Local)}}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.cfg.ProcessStatusDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.cfg.ProcessStatusFile("run-h1"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d := h.deps()
	d.ConfigPath = func() string { return path }
	d.Config = func() (*config.Config, error) {
		return nil, withCode(exitConfig, errors.New("config not loaded, nothing started:\n"+rec.LastError))
	}
	err = runStatus(context.Background(), statusOptions{deps: d})
	checkExit(t, err, exitConfig, "config not loaded, nothing started:\n"+rec.LastError)
	want := fmt.Sprintf("config %s (sha256 %s)\n  run-h1 (pid %d): generation 4, sha256 0123456789ab, loaded 2026-12-06 18:00:00\n"+
		"    last reload refused at 2026-12-06 18:05:00; the version in force stays: %s\n", path, config.FileSHA256(path)[:12], os.Getpid(), rec.LastError)
	if got := h.stdout.String(); got != want {
		t.Errorf("stdout\n%s\nwant\n%s", got, want)
	}
}
