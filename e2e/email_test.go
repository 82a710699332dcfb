package e2e_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/dovecottest"
	"github.com/airut-go/airut/internal/testing/smtptest"
	"github.com/airut-go/airut/workflows"
)

const (
	mailbox   = "airut"
	mailboxPW = "mailbox-secret"
	userAddr  = "alice@example.com"
	authserv  = "mx.example.com"
)

// mailSite is an airut site with a real Dovecot mailbox and an SMTP sink.
type mailSite struct {
	*site
	imap *dovecottest.Server
	smtp *smtptest.Server
}

func newMailSite(t *testing.T, api *anthropictest.Server, opts siteOptions) *mailSite {
	dove := dovecottest.Start(t, map[string]string{mailbox: mailboxPW})
	sink := smtptest.NewServer(t)
	opts.repoYAML += mailYAML(dove, sink)
	return &mailSite{site: newSite(t, api, opts), imap: dove, smtp: sink}
}

// mailYAML is the email channel of the demo repo (under repos.demo) on
// the mailbox of dove, replying through sink; sites sharing the mailbox
// (an ingest and the workers that reply) all carry it.
func mailYAML(dove *dovecottest.Server, sink *smtptest.Server) string {
	host, tlsPort, _ := dove.Addr()
	shost, sport := sink.Addr()
	return fmt.Sprintf(`    email:
      account: {username: %s, from: "Airut <airut@example.com>", password: %s}
      imap: {server: %s, port: %d, tls: tls, ca_file: %s, poll_interval: 0.5}
      smtp: {server: %s, port: %d, tls: none, require_auth: false}
      auth: {authorized_senders: [%s, "*@corp.example"], trusted_authserv_id: %s}
`, mailbox, mailboxPW, host, tlsPort, filepath.Join(dove.Dir(), "cert.pem"), shost, sport, userAddr, authserv)
}

type mailOpts struct {
	from, subject, msgID, inReplyTo, references, body string
	authResults                                       []string // Authentication-Results headers, topmost first
	extraFrom                                         string
	attachName, attach                                string
}

func buildMail(o mailOpts) []byte {
	var b strings.Builder
	for _, ar := range o.authResults {
		fmt.Fprintf(&b, "Authentication-Results: %s\r\n", ar)
	}
	fmt.Fprintf(&b, "From: Alice <%s>\r\n", o.from)
	if o.extraFrom != "" {
		fmt.Fprintf(&b, "From: %s\r\n", o.extraFrom)
	}
	fmt.Fprintf(&b, "To: Airut <airut@example.com>\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n", o.subject, o.msgID)
	if o.inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", o.inReplyTo, o.references)
	}
	body := strings.ReplaceAll(o.body, "\n", "\r\n")
	if o.attachName == "" {
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
		return []byte(b.String())
	}
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	fmt.Fprintf(&b, "--XYZ\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--XYZ--\r\n",
		o.attachName, base64.StdEncoding.EncodeToString([]byte(o.attach)))
	return []byte(b.String())
}

func pass() []string {
	return []string{authserv + "; dkim=pass header.d=example.com; spf=pass; dmarc=pass header.from=example.com"}
}

// Mail with an attachment starts a conversation: an acknowledgement, the
// agent reads the attachment and leaves a file in the outbox, the threaded
// reply carries it; the reply to that reply continues the same session.
func TestEmailConversationEndToEnd(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newMailSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")

	s.imap.Deliver(t, mailbox, buildMail(mailOpts{
		from: userAddr, subject: "Summarise my notes", msgID: "first@example.com", authResults: pass(),
		body:       "Please look at the notes.\nRUN: wc -l < /inbox/notes.txt > /outbox/count.txt\nREPLY: Counted the lines.",
		attachName: "notes.txt", attach: "one\ntwo\nthree\n",
	}))
	msgs := s.smtp.WaitFor(t, 2, 3*time.Minute)
	ack, reply := msgs[0], msgs[1]
	subject := reply.Header("Subject")
	if !strings.HasPrefix(subject, "Re: [ID:") || !strings.HasSuffix(subject, "] Summarise my notes") {
		t.Fatalf("reply subject = %q", subject)
	}
	conv := subject[len("Re: [ID:") : len("Re: [ID:")+8]
	if !strings.Contains(ack.TextBody(), workflows.AckText) || ack.Header("Subject") != subject {
		t.Errorf("ack = %q / %q", ack.Header("Subject"), ack.TextBody())
	}
	for _, m := range msgs {
		if m.Header("In-Reply-To") != "<first@example.com>" || !strings.Contains(m.Header("References"), "<first@example.com>") {
			t.Errorf("threading headers: In-Reply-To %q References %q", m.Header("In-Reply-To"), m.Header("References"))
		}
		if len(m.To) != 1 || m.To[0] != userAddr {
			t.Errorf("sent to %v, want %s", m.To, userAddr)
		}
	}
	if !strings.Contains(reply.TextBody(), "Counted the lines.") || !strings.Contains(reply.HTMLBody(), "Counted the lines.") {
		t.Errorf("reply bodies: text %q html %q", reply.TextBody(), reply.HTMLBody())
	}
	atts := reply.Attachments()
	if len(atts) != 1 || atts[0].Name != "count.txt" || strings.TrimSpace(string(atts[0].Data)) != "3" {
		t.Errorf("reply attachments = %+v, want count.txt with 3", atts)
	}
	// The outbox is cleared right after the SMTP server accepted the mail.
	eventually(t, 30*time.Second, "the outbox to be cleared after delivery", func() bool {
		left, _ := os.ReadDir(s.layout(conv).Outbox())
		return len(left) == 0
	})
	if n := s.imap.Count(t, mailbox); n != 0 {
		t.Errorf("mailbox still holds %d messages after hand-off", n)
	}

	// The user answers the reply: same conversation, same session.
	first := s.status(conv)
	s.imap.Deliver(t, mailbox, buildMail(mailOpts{
		from: userAddr, subject: "Re: " + subject, msgID: "second@example.com", authResults: pass(),
		inReplyTo: reply.Header("Message-ID"), references: "<first@example.com> " + reply.Header("Message-ID"),
		body: "Thanks! What did I ask first?\nRECALL\n\nOn Sun, Nov 22, 2026 at 10:05 AM Airut <airut@example.com> wrote:\n> Counted the lines.\n",
	}))
	msgs = s.smtp.WaitFor(t, 3, 3*time.Minute)
	third := msgs[2]
	if !strings.HasPrefix(strings.TrimSpace(third.TextBody()), "I remember:") || third.Header("Subject") != subject {
		t.Errorf("second reply = %q / %q", third.Header("Subject"), third.TextBody())
	}
	st := s.status(conv)
	if len(st.Tasks) != 2 || st.Tasks[1].SessionID != first.SessionID || st.Model != "claude-sonnet-4-5" {
		t.Errorf("status = %+v", st)
	}
	s.recordHistory(conv, "email")
}

// Spoofed or unauthorised mail starts nothing, is kept with its reason,
// and leaves the mailbox.
func TestEmailSpoofingStartsNothing(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newMailSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")
	cases := map[string]mailOpts{
		"no auth results":   {from: userAddr},
		"other authserv-id": {from: userAddr, authResults: []string{"evil.example; dmarc=pass header.from=example.com"}},
		"dmarc fail":        {from: userAddr, authResults: []string{authserv + "; dmarc=fail header.from=example.com"}},
		"pass only below":   {from: userAddr, authResults: []string{authserv + "; dmarc=fail", authserv + "; dmarc=pass"}},
		"two From headers":  {from: userAddr, authResults: pass(), extraFrom: "mallory@evil.example"},
		"unknown sender":    {from: "mallory@example.com", authResults: pass()},
	}
	i := 0
	for name, o := range cases {
		i++
		o.subject, o.msgID, o.body = "Delete everything ("+name+")", fmt.Sprintf("spoof-%d@example.com", i), "RUN: touch /workspace/pwned"
		s.imap.Deliver(t, mailbox, buildMail(o))
	}
	eventually(t, time.Minute, "the listener to take every message", func() bool { return s.imap.Count(t, mailbox) == 0 })
	reasons, _ := filepath.Glob(filepath.Join(s.stateDir, "rejected-mail", "demo", "*.reason"))
	if len(reasons) != len(cases) {
		t.Errorf("rejected messages kept = %d, want %d", len(reasons), len(cases))
	}
	time.Sleep(2 * time.Second)
	if list := s.mustAirut(30*time.Second, "status"); !strings.Contains(list, "no open conversations") {
		t.Errorf("a rejected message started a conversation:\n%s", list)
	}
	if n := len(s.smtp.Messages()); n != 0 {
		t.Errorf("%d mails sent in answer to rejected mail", n)
	}
	if n := len(api.Requests()); n != 0 {
		t.Errorf("the agent ran %d requests for rejected mail", n)
	}
	m := s.metrics("airut_ingest_messages_total")
	if got := m[`airut_ingest_messages_total{channel="email",reason="unauthorized sender",result="rejected"}`]; got != 1 {
		t.Errorf("/metrics counts %v unauthorized senders, want 1: %v", got, m)
	}
	if got := m[`airut_ingest_messages_total{channel="email",reason="authentication",result="rejected"}`]; got != float64(len(cases)-1) {
		t.Errorf("/metrics counts %v authentication failures, want %d: %v", got, len(cases)-1, m)
	}
}

// A crash between fetch and hand-off, or between hand-off and delete,
// loses nothing and runs nothing twice.
func TestEmailCrashAtEveryStepOfTheHandOff(t *testing.T) {
	for _, at := range []string{"after-fetch", "after-handoff"} {
		t.Run(at, func(t *testing.T) {
			api := anthropictest.NewServer(t)
			s := newMailSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 4})
			s.env = []string{"AIRUT_DEBUG_EMAIL_PAUSE=" + at}
			p := s.start("run")
			s.imap.Deliver(t, mailbox, buildMail(mailOpts{from: userAddr, subject: "Crash test", msgID: "crash-" + at + "@example.com",
				authResults: pass(), body: "REPLY: done once"}))
			eventually(t, time.Minute, "the listener to pause "+at, func() bool { return strings.Contains(p.logs.String(), "debug pause") })
			p.kill()
			if n := s.imap.Count(t, mailbox); n != 1 {
				t.Fatalf("mailbox holds %d messages after the crash, want the message still there", n)
			}
			s.env = nil
			s.start("run")
			s.smtp.WaitFor(t, 2, 3*time.Minute)
			time.Sleep(3 * time.Second) // a second run, if any, would answer now
			msgs := s.smtp.Messages()
			replies := containing(msgs, "done once")
			if len(msgs) != 2 || replies != 1 {
				t.Errorf("sent %d mails (%d replies), want one ack and one reply", len(msgs), replies)
			}
			if n := s.imap.Count(t, mailbox); n != 0 {
				t.Errorf("mailbox holds %d messages after restart", n)
			}
		})
	}
}

// A transient SMTP failure (451) is retried and the reply arrives; a
// permanent one (550) is recorded on the task, and the user is not sent
// the reply twice.
func TestEmailSMTPFailures(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newMailSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")
	s.smtp.FailNext(451) // the acknowledgement's first try
	s.imap.Deliver(t, mailbox, buildMail(mailOpts{from: userAddr, subject: "Flaky relay", msgID: "flaky@example.com", authResults: pass(), body: "REPLY: delivered anyway"}))
	msgs := s.smtp.WaitFor(t, 2, 3*time.Minute)
	if !strings.Contains(msgs[0].TextBody(), workflows.AckText) || !strings.Contains(msgs[1].TextBody(), "delivered anyway") {
		t.Fatalf("after a 451: %q / %q", msgs[0].TextBody(), msgs[1].TextBody())
	}
	subject := msgs[1].Header("Subject")
	conv := subject[len("Re: [ID:") : len("Re: [ID:")+8]

	s.smtp.FailNext(550)
	s.imap.Deliver(t, mailbox, buildMail(mailOpts{from: userAddr, subject: "Re: " + subject, msgID: "rejected@example.com", authResults: pass(),
		inReplyTo: msgs[1].Header("Message-ID"), references: msgs[1].Header("Message-ID"), body: "REPLY: never arrives"}))
	eventually(t, 3*time.Minute, "the second task to finish", func() bool { return len(s.status(conv).Tasks) == 2 })
	st := s.status(conv)
	if !strings.Contains(st.Tasks[1].Error, "reply not delivered") || !strings.Contains(st.Tasks[1].Error, "550") {
		t.Errorf("task error = %q, want the permanent delivery failure recorded", st.Tasks[1].Error)
	}
	if n := len(s.smtp.Messages()); n != 2 {
		t.Errorf("messages sent = %d, want 2 (a permanent failure is not retried)", n)
	}
}

// A worker killed while its reply is on the wire (the relay has the
// message but has not answered) is noticed within the heartbeat timeout:
// after a restart the reply goes out once, well before the activity's
// two-minute time limit would have let it be retried.
func TestReplyInterruptedByWorkerCrash(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newMailSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 4})
	held, release := s.smtp.Hold("answered after the crash")
	p := s.start("run")
	s.imap.Deliver(t, mailbox, buildMail(mailOpts{from: userAddr, subject: "Crash mid-reply", msgID: "mid-reply@example.com",
		authResults: pass(), body: "REPLY: answered after the crash"}))
	select {
	case <-held:
	case <-time.After(3 * time.Minute):
		t.Fatal("the reply never reached the relay")
	}
	p.kill()
	release()
	s.start("run")
	s.smtp.WaitFor(t, 2, time.Minute)
	time.Sleep(3 * time.Second) // a duplicate, if any, would arrive now
	msgs := s.smtp.Messages()
	replies := containing(msgs, "answered after the crash")
	if len(msgs) != 2 || replies != 1 {
		t.Errorf("sent %d mails (%d replies), want the ack and one reply", len(msgs), replies)
	}
}

// containing counts the mails whose text says text.
func containing(msgs []smtptest.Message, text string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m.TextBody(), text) {
			n++
		}
	}
	return n
}
