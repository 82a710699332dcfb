package activities_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airut-go/airut/activities"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/testing/mstokentest"
	"github.com/airut-go/airut/internal/testing/smtptest"
	"github.com/airut-go/airut/workflows"
)

const (
	testRepo = "demo"
	testConv = "0123abcd"
	// synthetic is the de-duplication key the listener gives a message
	// without a Message-ID; conversations of earlier releases carry it as
	// the message to answer.
	synthetic = "sha256:3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"
)

// emailRepo is a repo whose replies go out through s, as the config file
// would describe it: SMTP with a login, unencrypted because s is on
// loopback.
func emailRepo(t *testing.T, s *smtptest.Server) *config.Config {
	t.Helper()
	host, port := s.Addr()
	return &config.Config{
		StateDir: t.TempDir(),
		Repos: map[string]*config.Repo{testRepo: {ID: testRepo, Email: &config.Email{
			Account: config.EmailAccount{Username: "airut", Password: "s3cret", From: "Airut <airut@example.com>"},
			SMTP:    config.SMTP{Server: host, Port: port, TLS: "none"},
		}}},
	}
}

// layout is the conversation's directory, made ready as PrepareWorkspace
// leaves it.
func layout(t *testing.T, cfg *config.Config) conversation.Layout {
	t.Helper()
	l, err := conversation.For(cfg.RepoStateDir(testRepo), testConv)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	return l
}

// checkDeliveryError checks that a failed delivery says whether it is for
// good (ErrDelivery) without deciding retries itself: the workflow's
// retry policy does, by type.
func checkDeliveryError(t *testing.T, err error, permanent bool) {
	t.Helper()
	if got := workflows.IsKind(err, workflows.ErrDelivery); got != permanent {
		t.Errorf("error %v: of type %s = %v, want %v", err, workflows.ErrDelivery, got, permanent)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		t.Errorf("error %v is marked non-retryable; the workflow's retry policy decides by type", err)
	}
}

// deliver runs DeliverReply as a worker would.
func deliver(t *testing.T, cfg *config.Config, in workflows.ReplyInput) (workflows.ReplyResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &activities.Activities{Config: func() *config.Config { return cfg }, HostID: "test"}
	env.RegisterActivity(a.DeliverReply)
	val, err := env.ExecuteActivity(a.DeliverReply, in)
	var res workflows.ReplyResult
	if err == nil {
		if gerr := val.Get(&res); gerr != nil {
			t.Fatalf("decode result: %v", gerr)
		}
	}
	return res, err
}

func emailReply(kind workflows.ReplyKind, thread workflows.EmailThread) workflows.ReplyInput {
	return workflows.ReplyInput{
		RepoID: testRepo, ConversationID: testConv, TaskID: "t1", Kind: kind, Channel: workflows.ChannelEmail,
		ReplyTo: workflows.ReplyTo{EmailThread: &thread},
		Text:    "Fixed the **build**.", Footer: "Cost: $0.0123",
	}
}

// TestEmailDeliverReply checks the reply as the user's mail client shows
// it: to the sender, in the thread of the message it answers, with the
// text and the outbox files.
func TestEmailDeliverReply(t *testing.T) {
	tests := []struct {
		name        string
		thread      workflows.EmailThread
		wantSubject string
		// wantInReplyTo and wantRefs are the IDs without brackets; "" and
		// nil: the header is absent.
		wantInReplyTo string
		wantRefs      []string
	}{
		{
			name:        "first message",
			thread:      workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build", MessageID: "m1@example.org"},
			wantSubject: "Re: [ID:0123abcd] Fix the build", wantInReplyTo: "m1@example.org", wantRefs: []string{"m1@example.org"},
		},
		{
			name: "follow-up in the thread",
			thread: workflows.EmailThread{To: "pat@example.org", Subject: "RE: Re: [ID:0123abcd] Fix the build", MessageID: "m3@example.org",
				References: workflows.IDList{"m1@example.org", "airut.0123abcd.1700000000.0badcafe@example.com", "m1@example.org"}},
			wantSubject:   "Re: [ID:0123abcd] Fix the build",
			wantInReplyTo: "m3@example.org",
			wantRefs:      []string{"m1@example.org", "airut.0123abcd.1700000000.0badcafe@example.com", "m3@example.org"},
		},
		{
			// The listener stores no ID for a message that had none.
			name:        "message without Message-ID",
			thread:      workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build"},
			wantSubject: "Re: [ID:0123abcd] Fix the build",
		},
		{
			// Conversations of earlier releases stored the synthetic key.
			name:        "message without Message-ID, synthetic key stored",
			thread:      workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build", MessageID: synthetic},
			wantSubject: "Re: [ID:0123abcd] Fix the build",
		},
		{
			// A scheduled task's reply starts its thread.
			name:        "scheduled task's reply opens the thread",
			thread:      workflows.EmailThread{To: "pat@example.org", Subject: "Nightly deps", Opens: true},
			wantSubject: "[ID:0123abcd] Nightly deps",
		},
		{
			name:        "message without Message-ID in a foreign thread",
			thread:      workflows.EmailThread{To: "pat@example.org", Subject: "Re: notes", MessageID: synthetic, References: workflows.IDList{"n1@example.org"}},
			wantSubject: "Re: [ID:0123abcd] notes", wantRefs: []string{"n1@example.org"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.NewServer(t, smtptest.WithAuth("airut", "s3cret"))
			cfg := emailRepo(t, s)
			l := layout(t, cfg)
			if err := os.WriteFile(filepath.Join(l.Outbox(), "report.csv"), []byte("a,b\n1,2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			in := emailReply(workflows.ReplyFinal, tt.thread)
			in.AttachOutbox = true
			res, err := deliver(t, cfg, in)
			if err != nil {
				t.Fatalf("DeliverReply: %v", err)
			}
			if !slices.Equal(res.Attached, []string{"report.csv"}) || len(res.Failed) != 0 {
				t.Errorf("result attached %q, failed %q; want report.csv attached", res.Attached, res.Failed)
			}

			msgs := s.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages sent, want 1", len(msgs))
			}
			m := msgs[0]
			if !slices.Equal(m.To, []string{"pat@example.org"}) || m.From != "airut@example.com" {
				t.Errorf("envelope %s -> %q, want airut@example.com -> pat@example.org", m.From, m.To)
			}
			p, err := m.Parse()
			if err != nil {
				t.Fatal(err)
			}
			h := p.Header
			if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "pat@example.org" {
				t.Errorf("To = %v (%v), want pat@example.org", to, err)
			}
			if subj, _ := h.Subject(); subj != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", subj, tt.wantSubject)
			}
			if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<airut."+testConv+".") || !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("Message-ID = %q, want ours, naming the conversation", id)
			}
			gotInReplyTo, _ := h.MsgIDList("In-Reply-To")
			if want := nonNil(tt.wantInReplyTo); !slices.Equal(gotInReplyTo, want) {
				t.Errorf("In-Reply-To = %q, want %q", gotInReplyTo, want)
			}
			if gotRefs, _ := h.MsgIDList("References"); !slices.Equal(gotRefs, tt.wantRefs) {
				t.Errorf("References = %q, want %q", gotRefs, tt.wantRefs)
			}
			head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
			if strings.Contains(head, "sha256") {
				t.Errorf("the header names the synthetic key:\n%s", head)
			}
			if text := strings.ReplaceAll(p.Text, "\r\n", "\n"); text != "Fixed the **build**.\n\n*Cost: $0.0123*" {
				t.Errorf("text = %q", text)
			}
			if !strings.Contains(p.HTML, "<strong>build</strong>") {
				t.Errorf("HTML part does not render the Markdown: %q", p.HTML)
			}
			if len(p.Attachments) != 1 || p.Attachments[0].Name != "report.csv" || string(p.Attachments[0].Data) != "a,b\n1,2\n" {
				t.Errorf("attachments = %+v, want report.csv with its content", p.Attachments)
			}
			if left, _ := l.OutboxFiles(); len(left) != 0 {
				t.Errorf("outbox still holds %q after sending", left)
			}
		})
	}
}

func nonNil(id string) []string {
	if id == "" {
		return nil
	}
	return []string{id}
}

// A retried or repeated delivery of the same task and kind sends nothing
// more: the reply log says it went out.
func TestEmailDeliverReplyOnce(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithAuth("airut", "s3cret"))
	cfg := emailRepo(t, s)
	layout(t, cfg)
	thread := workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build", MessageID: "m1@example.org"}
	steps := []struct {
		kind workflows.ReplyKind
		sent int // messages in the sink after the step
	}{
		{workflows.ReplyAck, 1},
		{workflows.ReplyFinal, 2},
		{workflows.ReplyFinal, 2},
		{workflows.ReplyAck, 2},
	}
	for i, st := range steps {
		if _, err := deliver(t, cfg, emailReply(st.kind, thread)); err != nil {
			t.Fatalf("step %d (%s): %v", i, st.kind, err)
		}
		if got := len(s.Messages()); got != st.sent {
			t.Fatalf("after step %d (%s) %d messages sent, want %d", i, st.kind, got, st.sent)
		}
	}
}

// A mail server that refuses the reply for good (5xx) fails the delivery
// with ErrDelivery, saying so in words; one that asks to try later (4xx)
// gives an ordinary error, which the workflow retries. Either way nothing
// counts as sent and the outbox is kept for the next attempt.
func TestEmailDeliverReplyRefused(t *testing.T) {
	tests := []struct {
		code      int
		permanent bool
	}{
		{550, true},
		{554, true},
		{451, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			s := smtptest.NewServer(t, smtptest.WithAuth("airut", "s3cret"), smtptest.WithFailures(tt.code))
			cfg := emailRepo(t, s)
			l := layout(t, cfg)
			if err := os.WriteFile(filepath.Join(l.Outbox(), "report.csv"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			in := emailReply(workflows.ReplyFinal, workflows.EmailThread{To: "pat@example.org", Subject: "Fix the build", MessageID: "m1@example.org"})
			in.AttachOutbox = true
			_, err := deliver(t, cfg, in)
			if err == nil {
				t.Fatal("DeliverReply succeeded, want an error")
			}
			checkDeliveryError(t, err, tt.permanent)
			if tt.permanent {
				want := "The mail server refused the reply to pat@example.org (SMTP " + strconv.Itoa(tt.code) + "); it was not sent."
				if got := workflows.ProblemText(err); got != want {
					t.Errorf("the user reads %q, want %q", got, want)
				}
			}
			if files, _ := l.OutboxFiles(); len(files) != 1 {
				t.Errorf("outbox holds %d files after a failed send, want the 1 to send again", len(files))
			}
			if sent, _ := l.ReadReplies(); len(sent) != 0 {
				t.Errorf("reply log holds %d entries after a failed send, want none", len(sent))
			}
			// The next attempt, with the server willing, sends the reply.
			if tt.permanent {
				return
			}
			if _, err := deliver(t, cfg, in); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if msgs := s.WaitFor(t, 1, 5*time.Second); len(msgs) != 1 {
				t.Errorf("%d messages after the retry, want 1", len(msgs))
			}
		})
	}
}

// A Microsoft 365 mailbox (microsoft_oauth2, no password) replies over
// SMTP with XOAUTH2; replies share the mailbox's token while it is good.
func TestEmailDeliverReplyWithMicrosoftOAuth2(t *testing.T) {
	ep := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 3599)
	s := smtptest.NewServer(t, smtptest.WithXOAUTH2("airut@contoso.example", ep.Valid))
	cfg := emailRepo(t, s)
	e := cfg.Repos[testRepo].Email
	e.Account.Username, e.Account.Password = "airut@contoso.example", ""
	e.SMTP.RequireAuth = nil
	e.MicrosoftOAuth2 = &config.MicrosoftOAuth2{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", Authority: ep.URL()}
	layout(t, cfg)
	var sv testsuite.WorkflowTestSuite
	env := sv.NewTestActivityEnvironment()
	a := &activities.Activities{Config: func() *config.Config { return cfg }, HostID: "test"}
	env.RegisterActivity(a.DeliverReply)
	for i, task := range []string{"t1", "t2"} {
		in := emailReply(workflows.ReplyFinal, workflows.EmailThread{To: "alice@example.com", Subject: "Fix", MessageID: "<m1@example.com>"})
		in.TaskID = task
		if _, err := env.ExecuteActivity(a.DeliverReply, in); err != nil {
			t.Fatalf("reply %d: %v", i+1, err)
		}
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages arrived, want 2", n)
	}
	if got := ep.Issued(); len(got) != 1 {
		t.Errorf("tokens issued %v, want one shared by both replies", got)
	}
}

// A schedule's notice is a mail of its own to the recipient.
func TestScheduleNoticeByEmail(t *testing.T) {
	s := smtptest.NewServer(t, smtptest.WithAuth("airut", "s3cret"))
	cfg := emailRepo(t, s)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	a := &activities.Activities{Config: func() *config.Config { return cfg }, HostID: "test"}
	env.RegisterActivity(a.SendScheduleNotice)
	text := workflows.FailingText("nightly", 3, "timeout", "0123abcd")
	if _, err := env.ExecuteActivity(a.SendScheduleNotice, workflows.ScheduleNotice{RepoID: testRepo, Schedule: "nightly", Subject: "Nightly deps",
		Deliver: workflows.Delivery{Channel: workflows.ChannelEmail, To: "pat@example.org"}, Text: text}); err != nil {
		t.Fatalf("SendScheduleNotice: %v", err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"pat@example.org"}) || msgs[0].Header("Subject") != "[schedule nightly] Nightly deps" ||
		!strings.Contains(msgs[0].TextBody(), "has failed 3 times in a row") || msgs[0].Header("In-Reply-To") != "" {
		t.Fatalf("sent %d message(s); first: to %v subject %q body %q", len(msgs), msgs[0].To, msgs[0].Header("Subject"), msgs[0].TextBody())
	}
}
