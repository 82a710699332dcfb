package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/smtptest"
	"github.com/airut-go/airut/workflows"
)

// stamps are the fake agent's start and exit times from its events.
type stamps struct{ started, exited time.Time }

func lastStamps(t testing.TB, events string) stamps {
	t.Helper()
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	var st stamps
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e struct {
			StartedNS int64 `json:"started_ns"`
			ExitedNS  int64 `json:"exited_ns"`
		}
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		if e.StartedNS > 0 {
			st.started = time.Unix(0, e.StartedNS)
		}
		if e.ExitedNS > 0 {
			st.exited = time.Unix(0, e.ExitedNS)
		}
	}
	return st
}

// BenchmarkTaskOverhead measures, on a warm host, what Airut adds around
// an agent run: message durably accepted → agent process started, and
// agent exit → reply recorded. A bare `podman run` of the same image and
// binary in the same run is the yardstick (goal: overhead within 1.2× of
// it, sandboxed). The agent is a static stand-in that exits at once, so the figures
// are Airut's and Podman's, not a model's.
func BenchmarkTaskOverhead(b *testing.B) {
	api := anthropictest.NewServer(b)
	s := newSite(b, api, siteOptions{repoURL: upstream(b), claudeBinary: fakeClaude})
	taskOverhead(b, s)
}

// BenchmarkTaskOverheadSandboxed is the same with the network sandbox on,
// as configured by default: the conversation's network and proxy, made
// for its first task, wait for the next one (network.keep_warm_seconds).
func BenchmarkTaskOverheadSandboxed(b *testing.B) {
	s := newSandboxed(b, siteOptions{claudeBinary: fakeClaude})
	taskOverhead(b, s.site)
}

// BenchmarkTaskOverheadSandboxedNoKeep is the sandbox with
// keep_warm_seconds: 0, side by side with the above: the network and
// proxy are made before, and removed after, every run, as for the first
// task of every conversation.
func BenchmarkTaskOverheadSandboxedNoKeep(b *testing.B) {
	s := newSandboxed(b, siteOptions{claudeBinary: fakeClaude, keepWarm: "0"})
	taskOverhead(b, s.site)
}

func taskOverhead(b *testing.B, s *site) {
	s.start("run")
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	conv, _ := ingest.NewConversationID()
	target := ingest.Target{RepoID: s.repoID, ConversationID: conv}
	send := func(i int) (accepted time.Time) {
		m := workflows.Message{ID: "bench-" + strings.Repeat("x", i%3) + time.Now().Format(time.RFC3339Nano), Channel: workflows.ChannelLocal, Sender: "bench", Body: "go"}
		if _, err := ingest.Deliver(ctx, c, target, m); err != nil {
			b.Fatal(err)
		}
		return time.Now()
	}
	waitReplies := func(n int) {
		for len(s.replies(conv, "reply")) < n {
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Warm up: the first task clones the workspace and sends the ack.
	send(0)
	waitReplies(1)

	var toStart, fromExit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		accepted := send(i + 1)
		waitReplies(i + 2)
		st := lastStamps(b, s.layout(conv).Events())
		replies := s.replies(conv, "reply")
		toStart += st.started.Sub(accepted)
		fromExit += replies[len(replies)-1].SentAt.Sub(st.exited)
	}
	b.StopTimer()

	var bare time.Duration
	for i := 0; i < b.N; i++ {
		cmd := exec.Command("podman", "--url", podmanSocket, "run", "--rm", "-i", "-v", fakeClaude+":/opt/claude/claude:ro", testImage, "/opt/claude/claude")
		cmd.Stdin = strings.NewReader("go")
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("podman run: %v\n%s", err, out)
		}
		bare += time.Since(t0)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / n }
	b.ReportMetric(ms(toStart), "ms-accept-to-start")
	b.ReportMetric(ms(fromExit), "ms-exit-to-reply")
	b.ReportMetric(ms(toStart+fromExit), "ms-overhead")
	b.ReportMetric(ms(bare), "ms-bare-podman-run")
	b.ReportMetric(float64(toStart+fromExit)/float64(bare), "overhead/bare")
}

// BenchmarkColdStart measures `airut run` from exec to ready: embedded
// Temporal server (on an existing database), Web UI, podman connection and
// workers. Goal: under 3 s.
func BenchmarkColdStart(b *testing.B) {
	api := anthropictest.NewServer(b)
	s := newSite(b, api, siteOptions{repoURL: upstream(b)})
	s.start("run").kill() // first start creates the database
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := s.start("run")
		b.StopTimer()
		p.kill()
		b.StartTimer()
	}
}

// BenchmarkEmailIngest measures mail from a real Dovecot mailbox to
// durably accepted signals on the embedded server (parse, DMARC check,
// signal-with-start, delete), in messages per second. No worker runs, so
// only the hand-off is timed.
func BenchmarkEmailIngest(b *testing.B) {
	const batch = 200
	api := anthropictest.NewServer(b)
	port := freePort(b)
	dove := dovecottest.Start(b, map[string]string{mailbox: mailboxPW})
	sink := smtptest.NewServer(b)
	host, tlsPort, _ := dove.Addr()
	shost, sport := sink.Addr()
	yaml := fmt.Sprintf(`    email:
      account: {username: %s, from: "Airut <airut@example.com>", password: %s}
      imap: {server: %s, port: %d, tls: tls, ca_file: %s, poll_interval: 0.2}
      smtp: {server: %s, port: %d, tls: none, require_auth: false}
      auth: {authorized_senders: [%s], trusted_authserv_id: %s}
`, mailbox, mailboxPW, host, tlsPort, filepath.Join(dove.Dir(), "cert.pem"), shost, sport, userAddr, authserv)
	s := newSite(b, api, siteOptions{repoURL: upstream(b), frontendPort: port, repoYAML: yaml})
	s.start("server")
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := 0; j < batch; j++ {
			dove.Deliver(b, mailbox, buildMail(mailOpts{from: userAddr, subject: "bench", msgID: fmt.Sprintf("bench-%d-%d@example.com", i, j), authResults: pass(), body: "REPLY: x"}))
		}
		p := s.start("ingest")
		b.StartTimer()
		t0 := time.Now()
		for dove.Count(b, mailbox) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		total += time.Since(t0)
		b.StopTimer()
		p.kill()
	}
	b.ReportMetric(float64(batch*b.N)/total.Seconds(), "msgs/s")
}

// BenchmarkCrashRecovery measures kill → agent running again: `airut run`
// is killed (SIGKILL) while the real Claude Code CLI runs a long command,
// then restarted; the clock stops when the resumed run's first request
// reaches the scripted API. Goal: under 5 s. The same run reports the
// restart alone (kill → ready) as the floor, and the heartbeat timeout,
// which is what recovery waited for before interrupted runs were handed
// back at worker start.
func BenchmarkCrashRecovery(b *testing.B) {
	const heartbeat = 60
	api := anthropictest.NewServer(b)
	s := newSite(b, api, siteOptions{repoURL: upstream(b), heartbeat: heartbeat})
	p := s.start("run")
	var recovery, restart time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", fmt.Sprintf("Nap %d.\nRUN: sleep 30\nREPLY: napped", i)))
		s.waitForCall(conv, "sleep 30")
		before := len(api.Requests())
		b.StartTimer()
		p.kill()
		killed := time.Now()
		p = s.start("run")
		restart += time.Since(killed)
		eventually(b, time.Minute, "the agent to run again", func() bool { return len(api.Requests()) > before })
		recovery += time.Since(killed)
		b.StopTimer()
		s.mustAirut(time.Minute, "stop", conv)
		b.StartTimer()
	}
	p.kill()
	b.ReportMetric(recovery.Seconds()/float64(b.N), "s-kill-to-agent-running")
	b.ReportMetric(restart.Seconds()/float64(b.N), "s-kill-to-ready")
	b.ReportMetric(heartbeat, "s-heartbeat-timeout")
}
