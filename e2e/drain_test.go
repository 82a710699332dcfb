package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

// airut drain on a worker of a two-host setup, with the real Claude Code
// CLI: the task that can finish within execution.shutdown_timeout (15 s
// here, so that a slow machine still makes it) finishes on the draining host and replies from there; the one
// that cannot is handed back and its conversation moves to the other
// host at once, with a notice to the user, and replies from there; no
// new task starts on the drained host; every message gets exactly one
// reply.
func TestDrainFinishesWhatItCanAndMovesTheRest(t *testing.T) {
	api := anthropictest.NewServer(t)
	repo := upstream(t)
	addr := startServer(t, api, siteOptions{repoURL: repo})
	alpha := newSite(t, api, siteOptions{repoURL: repo, hostID: "alpha", temporalRemote: addr, maxConcurrent: 3, shutdownTimeout: 15})
	alphaProc := alpha.start("worker")

	// Beta is not up yet: both tasks go to alpha.
	short := strings.TrimSpace(alpha.mustAirut(time.Minute, "send", "Short job\nRUN: sleep 3\nREPLY: short done"))
	long := strings.TrimSpace(alpha.mustAirut(time.Minute, "send", "Long job\nRUN: sleep 40\nREPLY: long done"))
	alpha.waitForCall(short, "sleep 3")
	alpha.waitForCall(long, "sleep 40")
	beta := newSite(t, api, siteOptions{repoURL: repo, hostID: "beta", temporalRemote: addr, maxConcurrent: 3})
	beta.start("worker")

	began := time.Now()
	out := alpha.mustAirut(3*time.Minute, "drain")
	t.Logf("airut drain (%s):\n%s", time.Since(began).Round(time.Second), out)
	for _, want := range []string{"draining host alpha: 2 task(s) running get up to 15s to finish", "drained: the worker stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("drain output lacks %q", want)
		}
	}
	select {
	case <-alphaProc.done:
	default:
		t.Fatal("the drained worker is still running")
	}

	// The short task finished on alpha within the grace period.
	if r := alpha.replies(short, "reply"); len(r) != 1 || !strings.Contains(r[0].Text, "short done") {
		t.Errorf("short task's replies on alpha = %+v, want its one reply from there", r)
	}
	// The long one moved to beta, told the user, and replied from there.
	checkMoved(t, long, "long done", beta, alpha)

	// Nothing new starts on the drained host.
	reply, errOut, err := beta.airut(5*time.Minute, "send", "--wait", "After the drain\nREPLY: after")
	if err != nil || replyText(reply) != "after" {
		t.Fatalf("send after the drain: %v %q %s", err, reply, errOut)
	}
	after := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
	if st := beta.status(after); st.HostQueue != workflows.HostQueue("beta") {
		t.Errorf("new conversation on %s, want beta", st.HostQueue)
	}

	// Restarted, alpha is back in service: the drain mark is gone.
	mark := filepath.Join(alpha.stateDir, "drain", "alpha")
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the drain mark is missing while alpha is drained: %v", err)
	}
	alpha.start("worker")
	if _, err := os.Stat(mark); !os.IsNotExist(err) {
		t.Errorf("the drain mark outlived the restart: %v", err)
	}
}

// A worker killed with SIGKILL mid-task: its run's heartbeats stop, the
// retry finds no worker on the host within execution.host_timeout, and
// the conversation moves to the surviving host with a notice; one reply.
func TestKilledHostsRunMovesToTheSurvivor(t *testing.T) {
	api := anthropictest.NewServer(t)
	repo := upstream(t)
	addr := startServer(t, api, siteOptions{repoURL: repo})
	opts := func(host string) siteOptions {
		return siteOptions{repoURL: repo, hostID: host, temporalRemote: addr, maxConcurrent: 3, heartbeat: 5, hostTimeout: 10}
	}
	alpha := newSite(t, api, opts("alpha"))
	alphaProc := alpha.start("worker")
	conv := strings.TrimSpace(alpha.mustAirut(time.Minute, "send", "Long job\nRUN: sleep 20\nREPLY: survived"))
	alpha.waitForCall(conv, "sleep 20")
	beta := newSite(t, api, opts("beta"))
	beta.start("worker")

	alphaProc.kill()
	checkMoved(t, conv, "survived", beta, alpha)
}

// checkMoved: conv's task moved to the host of to, which replied once
// with want after one move notice; from (the host it left) sent no reply.
func checkMoved(t *testing.T, conv, want string, to, from *site) {
	t.Helper()
	eventually(t, 3*time.Minute, "the reply from the new host", func() bool { return len(to.replies(conv, "reply")) > 0 })
	if r := to.replies(conv, "reply"); len(r) != 1 || !strings.Contains(r[0].Text, want) {
		t.Errorf("replies on the new host = %+v, want one saying %q", r, want)
	}
	if r := from.replies(conv, "reply"); len(r) != 0 {
		t.Errorf("the host it left replied too: %+v", r)
	}
	var notices int
	for _, s := range []*site{to, from} {
		for _, r := range s.replies(conv, "notice") {
			if r.Text == workflows.MovedText {
				notices++
			}
		}
	}
	if notices != 1 {
		t.Errorf("%d move notices, want 1", notices)
	}
	st := to.status(conv)
	if last := st.Tasks[len(st.Tasks)-1]; st.HostQueue != workflows.HostQueue(to.hostID) || !last.Rehomed || last.Outcome != workflows.OutcomeSuccess {
		t.Errorf("conversation: host %s, task %+v; want it on %s, rehomed, successful", st.HostQueue, last, to.hostID)
	}
}
