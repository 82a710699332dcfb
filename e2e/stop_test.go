package e2e_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

// Stop means stopped: the agent's container is gone within two seconds of
// `airut stop` answering, with the default 30 s heartbeat timeout (with
// which it used to run on for 20-24 s). The conversation then says
// "stopped", the reply says how to go on, and the next message resumes
// the stopped task's session, even though it was the conversation's first.
func TestStopKillsTheAgentWithinTwoSeconds(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 30})
	s.start("run")
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Count the sheep.\nRUN: sleep 120\nREPLY: counted"))
	s.waitForCall(conv, "sleep 120")
	name := "airut-" + s.repoID + "-" + conv
	if !containerExists(t, conv, name) {
		t.Fatalf("agent container %s not running while the agent runs", name)
	}

	out := s.mustAirut(time.Minute, "stop", conv)
	answered := time.Now()
	if !strings.Contains(out, "stopped task") {
		t.Fatalf("stop said %q", out)
	}
	for containerExists(t, conv, name) {
		if time.Since(answered) > time.Minute {
			t.Fatalf("agent container still there a minute after the stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(answered)
	t.Logf("from `airut stop` answering to the agent container gone: %v", took.Round(10*time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("the agent container was gone %v after the stop answered, want within 2s", took.Round(10*time.Millisecond))
	}

	eventually(t, 30*time.Second, "the stopped reply", func() bool { return len(s.replies(conv, "error")) == 1 })
	if r := s.replies(conv, "error")[0]; r.Text != workflows.StoppedText(conv) {
		t.Errorf("stop reply = %q, want %q", r.Text, workflows.StoppedText(conv))
	}
	st := s.status(conv)
	if st.State != workflows.StateStopped || !st.CanRetry || len(st.Tasks) != 1 || st.Tasks[0].Outcome != workflows.OutcomeCancelled {
		t.Fatalf("status after stop = %+v, want state stopped, retryable, the task cancelled", st)
	}
	session := st.Tasks[0].SessionID
	if session == "" || st.SessionID != session {
		t.Fatalf("stopped task's session %q, conversation's %q: want the session the agent ran in, kept", session, st.SessionID)
	}
	if list := s.mustAirut(30*time.Second, "status", "--repo", s.repoID); !strings.Contains(list, "stopped") {
		t.Errorf("status list does not say stopped:\n%s", list)
	}

	// The next message continues in the stopped session: the model gets
	// the stopped task's turn.
	before := len(api.Requests())
	reply, errOut, err := s.airut(5*time.Minute, "send", "--wait", "--conversation", conv, "Where were we?\nRECALL")
	if err != nil {
		t.Fatalf("follow-up: %v\n%s\n%s", err, reply, errOut)
	}
	next := s.status(conv)
	if len(next.Tasks) != 2 || next.Tasks[1].Outcome != workflows.OutcomeSuccess || next.Tasks[1].SessionID != session || next.State != workflows.StateIdle {
		t.Fatalf("after the follow-up: state %q tasks %+v, want success in session %s", next.State, next.Tasks, session)
	}
	sawStopped := false
	for _, r := range api.Requests()[before:] {
		for _, m := range r.Messages {
			if strings.Contains(m.Text(), "Count the sheep.") {
				sawStopped = true
			}
		}
	}
	if !sawStopped {
		t.Errorf("the follow-up did not resume the stopped session: the model never saw the stopped task's message")
	}
	s.replay(conv)
}

// replay replays the conversation's history so far against the workflow
// code, as a worker picking it up would: the commands a stop issues must
// be the same every time (the replay tests in workflows/ guard the
// histories of earlier versions).
func (s *site) replay(conv string) {
	s.t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		s.t.Fatalf("replay: %v", err)
	}
	defer c.Close()
	var h historypb.History
	it := c.GetWorkflowHistory(context.Background(), workflows.WorkflowID(s.repoID, conv), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatalf("replay: %v", err)
		}
		h.Events = append(h.Events, ev)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	if err := r.ReplayWorkflowHistory(nil, &h); err != nil {
		s.t.Errorf("the history (%d events) does not replay: %v", len(h.Events), err)
	}
}

// containerExists reports whether podman still has the container name
// (running or not) among the conversation's.
func containerExists(t testing.TB, conv, name string) bool {
	t.Helper()
	b, err := exec.Command("podman", "--url", podmanSocket, "ps", "-a", "--format", "{{.Names}}",
		"--filter", "label=airut.conversation="+conv).CombinedOutput()
	if err != nil {
		t.Fatalf("podman ps: %v\n%s", err, b)
	}
	for _, n := range strings.Fields(string(b)) {
		if n == name {
			return true
		}
	}
	return false
}
