package e2e_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
)

// Killing `airut run` while the agent works does not redo the agent's
// work: on restart the interrupted attempt is handed back at once (not
// after the heartbeat timeout, set long here) and the retry resumes the
// same Claude Code session with a note, so the scripted model goes on
// from the tool calls it already made instead of starting over.
func TestCrashMidRunResumesTheSessionQuickly(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 60})
	p := s.start("run")

	prompt := "Count.\nRUN: sleep 8\nRUN: echo second >> /workspace/count.txt\nREPLY: counted"
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", prompt))
	s.waitForCall(conv, "sleep 8")
	before := len(api.Requests())
	p.kill()
	killed := time.Now()

	s.start("run")
	eventually(t, time.Minute, "the agent to run again after the restart", func() bool { return len(api.Requests()) > before })
	recovery := time.Since(killed)
	t.Logf("kill → agent running again: %.1f s (goal: under 5 s; the heartbeat timeout is 60 s)", recovery.Seconds())

	eventually(t, 2*time.Minute, "the reply", func() bool { return len(s.replies(conv, "reply")) > 0 })
	time.Sleep(2 * time.Second) // a second reply, if any, would land now
	if r := s.replies(conv, "reply"); len(r) != 1 || r[0].Text != "counted" {
		t.Fatalf("replies = %+v, want exactly one, 'counted'", r)
	}
	resumed := false
	for _, r := range api.Requests()[before:] {
		body := string(r.Body)
		if !strings.Contains(body, "Count.") {
			continue // not the main loop (titles, summaries)
		}
		if !strings.Contains(body, anthropictest.ResumeNotePrefix) {
			t.Errorf("after the restart the model got the original prompt without the resume note: the run was redone in a new session")
		}
		resumed = true
	}
	if !resumed {
		t.Errorf("no request after the restart carried the interrupted session")
	}
	events := readFile(t, s.layout(conv).Events())
	// The call in flight at the kill may be asked for again (Claude Code
	// drops a tool call without a result when it resumes); nothing before
	// or after it is.
	if n := strings.Count(events, `"command":"sleep 8"`); n < 1 || n > 2 {
		t.Errorf("the model asked for `sleep 8` %d times, want once, or twice if the one in flight at the kill was dropped", n)
	}
	if got := strings.Count(readFile(t, s.layout(conv).Workspace()+"/count.txt"), "second"); got != 1 {
		t.Errorf("count.txt has %d lines, want 1: the command after the resume ran once", got)
	}
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("containers left behind: %s", left)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// A run killed after the agent printed its final result (while the
// worker was still collecting the run) is not run again: the retry takes
// the result from the stream, and the scripted model gets no request
// after the kill.
func TestCrashAfterTheFinalResultIsNotRunAgain(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 60})
	p := s.start("run")
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Finish.\nRUN: echo once >> /workspace/once.txt\nREPLY: finished once"))
	eventually(t, 2*time.Minute, "the agent's final result", func() bool {
		return strings.Contains(readFile(t, s.layout(conv).Events()), `"type":"result"`)
	})
	p.kill()
	before := len(api.Requests())

	q := s.start("run")
	eventually(t, time.Minute, "the reply", func() bool { return len(s.replies(conv, "reply")) > 0 })
	time.Sleep(2 * time.Second) // a second run, if any, would ask the model now
	if r := s.replies(conv, "reply"); len(r) != 1 || r[0].Text != "finished once" {
		t.Fatalf("replies = %+v, want exactly one, 'finished once'", r)
	}
	if n := len(api.Requests()) - before; n != 0 {
		t.Errorf("the model got %d request(s) after the kill: the finished run was run again", n)
	}
	if got := strings.Count(readFile(t, s.layout(conv).Workspace()+"/once.txt"), "once"); got != 1 {
		t.Errorf("once.txt has %d lines, want 1", got)
	}
	if strings.Contains(q.logs.String(), "its result is used") {
		t.Logf("the kill landed while the worker collected the run: the retry took the result from the stream")
	} else {
		t.Logf("the run had been collected before the kill: no retry was needed")
	}
}
