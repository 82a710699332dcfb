package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

// Killing `airut run` (server, worker and all) while the agent works loses
// nothing: after a restart the task is re-run, the queued follow-up runs
// too, and the user gets exactly one reply per task.
func TestCrashDuringTaskLosesNothingAndRepliesOnce(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 4})
	p := s.start("run")

	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Take a nap.\nRUN: sleep 5 && date >> /workspace/naps.txt\nREPLY: slept well"))
	s.waitForCall(conv, "sleep 5")
	second := strings.TrimSpace(s.mustAirut(time.Minute, "send", "--conversation", conv, "And then?\nREPLY: second done"))
	if second != conv {
		t.Fatalf("follow-up went to conversation %q, want %q", second, conv)
	}
	time.Sleep(time.Second) // let the signal be persisted before the crash
	p.kill()
	if n := len(s.replies(conv, "reply")); n != 0 {
		t.Fatalf("a reply was recorded before the crash; the test did not crash mid-task")
	}

	s.start("run")
	eventually(t, 3*time.Minute, "both tasks to finish after the restart", func() bool {
		return len(s.replies(conv, "reply")) >= 2
	})
	time.Sleep(2 * time.Second) // a duplicate, if any, would land now
	replies := s.replies(conv, "reply")
	if len(replies) != 2 || replies[0].Text != "slept well" || replies[1].Text != "second done" {
		t.Fatalf("replies = %+v, want exactly 'slept well' then 'second done'", replies)
	}
	if acks := s.replies(conv, "ack"); len(acks) != 1 {
		t.Errorf("acks = %d, want 1", len(acks))
	}
	st := s.status(conv)
	if len(st.Tasks) != 2 || st.Tasks[0].Outcome != workflows.OutcomeSuccess || st.Queued != 0 {
		t.Errorf("status = %+v", st)
	}
	s.recordHistory(conv, "crash-retried")
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("containers left behind: %s", left)
	}
}

// Two workers on one Temporal server share six concurrent conversations;
// each conversation's follow-up runs on the host that has its workspace.
func TestTwoWorkersShareConversationsAndKeepAffinity(t *testing.T) {
	api := anthropictest.NewServer(t)
	repo := upstream(t)
	addr := startServer(t, api, siteOptions{repoURL: repo})
	hosts := map[string]*site{}
	for _, id := range []string{"alpha", "beta"} {
		w := newSite(t, api, siteOptions{repoURL: repo, hostID: id, temporalRemote: addr, maxConcurrent: 3})
		w.start("worker")
		hosts[workflows.HostQueue(id)] = w
	}
	client := hosts[workflows.HostQueue("alpha")]

	convs := make([]string, 6)
	var wg sync.WaitGroup
	for i := range convs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, errOut, err := client.airut(5*time.Minute, "send", "--wait", fmt.Sprintf("Job %d\nRUN: sleep 3\nREPLY: done %d", i, i))
			if err != nil || replyText(out) != fmt.Sprintf("done %d", i) {
				t.Errorf("job %d: %v %q %s", i, err, out, errOut)
				return
			}
			convs[i] = strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	perHost := map[string]int{}
	home := map[string]string{}
	for _, c := range convs {
		st := client.status(c)
		home[c] = st.HostQueue
		perHost[st.HostQueue]++
		if hosts[st.HostQueue] == nil {
			t.Fatalf("conversation %s on unknown host %q", c, st.HostQueue)
		}
	}
	if len(perHost) != 2 || perHost[workflows.HostQueue("alpha")] > 3 || perHost[workflows.HostQueue("beta")] > 3 {
		t.Errorf("conversations per host = %v, want both hosts used, at most 3 each", perHost)
	}

	for _, c := range convs {
		if _, errOut, err := client.airut(5*time.Minute, "send", "--wait", "--conversation", c, "Again\nREPLY: again"); err != nil {
			t.Fatalf("follow-up %s: %v\n%s", c, err, errOut)
		}
		st := client.status(c)
		if st.HostQueue != home[c] {
			t.Errorf("conversation %s moved from %s to %s", c, home[c], st.HostQueue)
		}
		own := hosts[home[c]]
		if n := len(own.replies(c, "reply")); n != 2 {
			t.Errorf("conversation %s: %d replies on its host, want 2", c, n)
		}
		for q, other := range hosts {
			if q == home[c] {
				continue
			}
			if _, err := os.Stat(filepath.Join(other.stateDir, "demo", "conversations", c)); err == nil {
				t.Errorf("conversation %s has files on %s too", c, q)
			}
		}
	}
}
