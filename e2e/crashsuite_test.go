package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
)

// crashSteps is how many Bash steps the agent's task has; crashKills how
// many times `airut run` is killed while it works.
const (
	crashSteps = 8
	crashKills = 10
)

// The crash suite kills `airut run` (server, worker, everything) with
// SIGKILL at random moments while the agent works through a task of
// several Bash steps, restarting it each time. Whatever the kill points
// (the seed is printed; AIRUT_CRASH_SEED=N replays a run):
//   - the user gets exactly one reply;
//   - the agent is not redone: the Bash calls the model asked for are the
//     steps, plus at most the one in flight at each kill; a run redone
//     from the start would ask for the early steps again;
//   - every step ran, and the interrupted runs resumed their session (the
//     scripted model saw the resume note after the original prompt).
func TestCrashSuiteRandomKillPoints(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AIRUT_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("crash suite seed %d (replay with AIRUT_CRASH_SEED=%d)", seed, seed)

	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 60})
	var b strings.Builder
	b.WriteString("Work through the steps.\n")
	for i := 1; i <= crashSteps; i++ {
		fmt.Fprintf(&b, "RUN: sleep 1 && echo step-%d >> /workspace/steps.txt\n", i)
	}
	b.WriteString("REPLY: all steps done")

	p := s.start("run")
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", b.String()))
	s.waitForCall(conv, "step-1")
	var points []string
	for k := 1; k <= crashKills; k++ {
		wait := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		time.Sleep(wait)
		p.kill()
		done := len(s.replies(conv, "reply")) > 0
		points = append(points, fmt.Sprintf("%d: %v after start, %d step line(s), replied=%v", k, wait, strings.Count(readFile(t, s.layout(conv).Workspace()+"/steps.txt"), "step-"), done))
		p = s.start("run")
	}
	t.Logf("kill points:\n  %s", strings.Join(points, "\n  "))

	eventually(t, 4*time.Minute, "the reply after the last restart", func() bool { return len(s.replies(conv, "reply")) > 0 })
	time.Sleep(3 * time.Second) // a second reply, if any, would land now
	if r := s.replies(conv, "reply"); len(r) != 1 || r[0].Text != "all steps done" {
		t.Fatalf("replies = %+v, want exactly one, 'all steps done'", r)
	}

	steps := readFile(t, s.layout(conv).Workspace()+"/steps.txt")
	events := readFile(t, s.layout(conv).Events())
	asked, ran := 0, 0
	for i := 1; i <= crashSteps; i++ {
		a := strings.Count(events, fmt.Sprintf(`"command":"sleep 1 && echo step-%d >> /workspace/steps.txt"`, i))
		r := strings.Count(steps, fmt.Sprintf("step-%d\n", i))
		if r == 0 {
			t.Errorf("step %d never ran (asked %d times)", i, a)
		}
		if a < r {
			t.Errorf("step %d ran %d times but was asked for %d times", i, r, a)
		}
		asked += a
		ran += r
	}
	t.Logf("Bash calls asked %d, step lines written %d, steps %d, kills %d", asked, ran, crashSteps, crashKills)
	if asked > crashSteps+crashKills {
		t.Errorf("the model asked for %d Bash calls for %d steps and %d kills: runs were redone, not resumed", asked, crashSteps, crashKills)
	}
	resumed := 0
	for _, r := range api.Requests() {
		if body := string(r.Body); strings.Contains(body, "Work through the steps.") && strings.Contains(body, anthropictest.ResumeNotePrefix) {
			resumed++
		}
	}
	if resumed == 0 {
		t.Errorf("no request carried a resumed session")
	}
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("containers left behind: %s", left)
	}
}
