package e2e_test

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/pgtest"
	"github.com/airut-go/airut/internal/testing/smtptest"
	"github.com/airut-go/airut/workflows"
)

// The split layout of a production cluster on one machine, with the real
// Claude Code CLI: `airut server` on PostgreSQL (execution state and SQL
// visibility), one `airut ingest` on a real mailbox, and two `airut
// worker` hosts with their own state directories. Six conversations
// arrive by mail. Alpha gets SIGTERM mid-task (as systemd stops it for a
// restart or an upgrade): its running task finishes and replies from
// there, the conversations that arrive meanwhile all go to beta, and
// alpha comes back. Beta is then killed with SIGKILL mid-task: its
// conversations, running or idle, move to alpha with a notice. Every
// message gets exactly one reply.
func TestClusterOnPostgresDrainsAndSurvivesAKill(t *testing.T) {
	api := anthropictest.NewServer(t)
	repo := upstream(t)
	pg := pgtest.Start(t)
	const pgPassword = "cluster-db-secret"
	if _, err := pg.Connect(t, "postgres").Exec(t.Context(), "CREATE ROLE airut LOGIN CREATEDB PASSWORD '"+pgPassword+"'"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	addr := startServer(t, api, siteOptions{repoURL: repo,
		persistence: fmt.Sprintf("{driver: postgres, host: %s, port: %d, user: airut, password: %s}", pg.Host, pg.Port, pgPassword)})
	if dbs := strings.Join(pg.Databases(t), " "); !strings.Contains(dbs, "temporal") {
		t.Fatalf("the server made no database on PostgreSQL (databases: %s)", dbs)
	}

	mail := &userMail{t: t, imap: dovecottest.Start(t, map[string]string{mailbox: mailboxPW}), smtp: smtptest.NewServer(t)}
	opts := func(host string) siteOptions {
		// The grace outlasts c1's task; a lost host is given up on after
		// 10 s without heartbeats or a worker to pick its runs up.
		return siteOptions{repoURL: repo, hostID: host, temporalRemote: addr, maxConcurrent: 4,
			heartbeat: 5, hostTimeout: 10, shutdownTimeout: 60, repoYAML: mailYAML(mail.imap, mail.smtp)}
	}
	newSite(t, api, opts("ingest")).start("ingest")
	alpha := newSite(t, api, opts("alpha"))
	alphaProc := alpha.start("worker")

	// c1 is mid-task when alpha is stopped; c2 is done by then.
	c2 := mail.send("Done before the stop", "REPLY: c2 done")
	mail.waitReplies(c2, 1)
	beta := newSite(t, api, opts("beta"))
	c1 := mail.send("Mid-task at the stop", "RUN: sleep 20\nREPLY: c1 done")
	alpha.waitForCall(c1, "sleep 20")
	betaProc := beta.start("worker")

	// SIGTERM to airut alone, as systemd's KillMode=mixed sends it.
	if err := alphaProc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// What arrives while alpha drains goes to beta: alpha has free slots
	// but takes nothing new. c3 and c5 will be mid-task when beta dies.
	c3 := mail.send("Long one on beta", "RUN: sleep 40\nREPLY: c3 done")
	c4 := mail.send("Quick one on beta", "REPLY: c4 done")
	c5 := mail.send("Another long one on beta", "RUN: sleep 40\nREPLY: c5 done")
	c6 := mail.send("Another quick one on beta", "REPLY: c6 done")
	for _, conv := range []string{c3, c4, c5, c6} {
		eventually(t, time.Minute, conv+" placed", func() bool { return beta.status(conv).HostQueue != "" })
		if st := beta.status(conv); st.HostQueue != workflows.HostQueue("beta") {
			t.Errorf("%s arrived during alpha's drain and went to %s, want beta", conv, st.HostQueue)
		}
	}
	select {
	case <-alphaProc.done:
		t.Fatal("alpha exited before the new conversations were placed: its refusal to take them was not put to the test")
	default:
	}
	<-alphaProc.done
	t.Logf("alpha stopped %s after SIGTERM", time.Since(stopped).Round(time.Second))
	if r := alpha.replies(c1, "reply"); len(r) != 1 || !strings.Contains(r[0].Text, "c1 done") {
		t.Errorf("c1's replies from alpha = %+v, want its one reply, sent before alpha stopped", r)
	}
	if st := alpha.status(c1); st.Tasks[0].Outcome != workflows.OutcomeSuccess || st.Tasks[0].Rehomed {
		t.Errorf("c1's task = %+v, want it finished where it ran", st.Tasks[0])
	}
	alpha.start("worker")

	// Beta dies with c3 and c5 mid-task and c4 and c6 idle.
	mail.waitReplies(c4, 1)
	mail.waitReplies(c6, 1)
	beta.waitForCall(c3, "sleep 40")
	beta.waitForCall(c5, "sleep 40")
	betaProc.kill()
	checkMoved(t, c3, "c3 done", alpha, beta)
	checkMoved(t, c5, "c5 done", alpha, beta)

	// Follow-ups: c4's host is gone, so it moves too; c2 continues on
	// alpha, restarted, in the same session.
	mail.followUp(c4, "REPLY: c4 again")
	mail.followUp(c2, "REPLY: c2 again")
	mail.waitReplies(c4, 2)
	mail.waitReplies(c2, 2)
	if st := alpha.status(c4); st.HostQueue != workflows.HostQueue("alpha") || !st.Tasks[len(st.Tasks)-1].Rehomed {
		t.Errorf("c4 after beta died: host %s, last task %+v; want it moved to alpha", st.HostQueue, st.Tasks[len(st.Tasks)-1])
	}
	if st := alpha.status(c2); len(st.Tasks) != 2 || st.Tasks[1].SessionID != st.Tasks[0].SessionID || st.Tasks[1].Rehomed {
		t.Errorf("c2 after alpha's restart: %+v; want its second task in the same session on alpha", st.Tasks)
	}

	// Every message got exactly one reply, and each conversation that
	// moved told its user once; nothing else goes out afterwards.
	time.Sleep(3 * time.Second)
	// A run that moved says so (MovedText); so does an idle conversation
	// whose host was gone when its next message came (RehomedText).
	want := map[string]struct{ replies, notices []string }{
		c1: {[]string{"c1 done"}, nil},
		c2: {[]string{"c2 done", "c2 again"}, nil},
		c3: {[]string{"c3 done"}, []string{"moved"}},
		c4: {[]string{"c4 done", "c4 again"}, []string{"rehomed"}},
		c5: {[]string{"c5 done"}, []string{"moved"}},
		c6: {[]string{"c6 done"}, nil},
	}
	for conv, w := range want {
		replies, notices := mail.sent(conv)
		if fmt.Sprint(replies) != fmt.Sprint(w.replies) || fmt.Sprint(notices) != fmt.Sprint(w.notices) {
			t.Errorf("conversation %s: replies %q and notices %q by mail; want %q and %q", conv, replies, notices, w.replies, w.notices)
		}
	}
}

// userMail is the users' side of a shared mailbox: what they send to it
// and what airut's workers sent them back.
type userMail struct {
	t    *testing.T
	imap *dovecottest.Server
	smtp *smtptest.Server
	n    int
}

var convInSubject = regexp.MustCompile(`^Re: \[ID:([0-9a-z]+)\] `)

// send mails a new request and returns its conversation's ID, read from
// the subject of the acknowledgement.
func (m *userMail) send(subject, body string) string {
	m.t.Helper()
	m.n++
	m.imap.Deliver(m.t, mailbox, buildMail(mailOpts{from: userAddr, subject: subject, msgID: fmt.Sprintf("cluster-%d@example.com", m.n), authResults: pass(), body: body}))
	var conv string
	eventually(m.t, 2*time.Minute, "the acknowledgement of "+subject, func() bool {
		for _, msg := range m.smtp.Messages() {
			s := msg.Header("Subject")
			if sub := convInSubject.FindStringSubmatch(s); sub != nil && strings.TrimPrefix(s, sub[0]) == subject {
				conv = sub[1]
				return true
			}
		}
		return false
	})
	return conv
}

// followUp answers the last mail of conv.
func (m *userMail) followUp(conv, body string) {
	m.t.Helper()
	var last smtptest.Message
	for _, msg := range m.of(conv) {
		last = msg
	}
	m.n++
	m.imap.Deliver(m.t, mailbox, buildMail(mailOpts{from: userAddr, subject: last.Header("Subject"), msgID: fmt.Sprintf("cluster-%d@example.com", m.n),
		inReplyTo: last.Header("Message-ID"), references: last.Header("Message-ID"), authResults: pass(), body: body}))
}

// of is the mail sent to the user in conv, in order.
func (m *userMail) of(conv string) []smtptest.Message {
	var out []smtptest.Message
	for _, msg := range m.smtp.Messages() {
		if strings.HasPrefix(msg.Header("Subject"), "Re: [ID:"+conv+"] ") {
			out = append(out, msg)
		}
	}
	return out
}

// sent sorts conv's mail: the replies' first lines and the move notices
// ("moved" for a run, "rehomed" for an idle conversation);
// acknowledgements are neither.
func (m *userMail) sent(conv string) (replies, notices []string) {
	for _, msg := range m.of(conv) {
		body := strings.TrimSpace(msg.TextBody())
		switch {
		case strings.Contains(body, workflows.AckText):
		case strings.Contains(body, workflows.MovedText):
			notices = append(notices, "moved")
		case strings.Contains(body, workflows.RehomedText):
			notices = append(notices, "rehomed")
		default:
			replies = append(replies, strings.SplitN(body, "\n", 2)[0])
		}
	}
	return replies, notices
}

// waitReplies waits until conv has n replies by mail.
func (m *userMail) waitReplies(conv string, n int) {
	m.t.Helper()
	eventually(m.t, 4*time.Minute, fmt.Sprintf("reply %d in %s", n, conv), func() bool {
		r, _ := m.sent(conv)
		return len(r) >= n
	})
}
