package slacktest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/testing/slacktest"
)

const (
	botToken = "xoxb-test-bot-token"
	appToken = "xapp-1-test-app-token"
	wait     = 10 * time.Second
)

// client is a socketmode client, unmodified, running against the fake.
type client struct {
	sm   *socketmode.Client
	done chan error
}

func newAPI(fake *slacktest.Server, token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken(appToken))
}

// startClient runs a socketmode client until the test ends.
func startClient(t *testing.T, fake *slacktest.Server, opts ...socketmode.Option) *client {
	t.Helper()
	c := &client{
		sm:   socketmode.New(newAPI(fake, botToken), opts...),
		done: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { c.done <- c.sm.RunContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(wait):
			t.Error("socketmode client did not stop")
		}
	})
	return c
}

// next returns the next event of type typ, skipping others.
func (c *client) next(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case e := <-c.sm.Events:
			if e.Type == typ {
				return e
			}
			if e.Type == socketmode.EventTypeErrorBadMessage {
				t.Fatalf("bad message: %+v", e.Data)
			}
		case err := <-c.done:
			t.Fatalf("socketmode client stopped: %v", err)
		case <-timeout:
			t.Fatalf("no %s event within %v", typ, wait)
		}
	}
}

func TestSocketModeEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event map[string]any
		check func(t *testing.T, inner slackevents.EventsAPIInnerEvent)
	}{
		{
			name: "app_mention",
			event: map[string]any{
				"type": "app_mention", "user": "U1", "text": "<@U0BOT00001> hi",
				"ts": "1700000000.000100", "channel": "C1", "client_msg_id": "m1",
			},
			check: func(t *testing.T, inner slackevents.EventsAPIInnerEvent) {
				ev, ok := inner.Data.(*slackevents.AppMentionEvent)
				require.True(t, ok, "%T", inner.Data)
				assert.Equal(t, "U1", ev.User)
				assert.Equal(t, "C1", ev.Channel)
				assert.Equal(t, "1700000000.000100", ev.TimeStamp)
				assert.Equal(t, "1700000000.000100", ev.EventTimeStamp)
			},
		},
		{
			name: "message.im in a thread",
			event: map[string]any{
				"type": "message", "channel_type": "im", "user": "U2", "text": "hello",
				"ts": "1700000000.000300", "thread_ts": "1700000000.000200", "channel": "D1",
			},
			check: func(t *testing.T, inner slackevents.EventsAPIInnerEvent) {
				ev, ok := inner.Data.(*slackevents.MessageEvent)
				require.True(t, ok, "%T", inner.Data)
				assert.Equal(t, "im", ev.ChannelType)
				assert.Equal(t, "hello", ev.Text)
				assert.Equal(t, "1700000000.000200", ev.ThreadTimeStamp)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			c := startClient(t, fake)
			hello := c.next(t, socketmode.EventTypeHello)
			assert.Equal(t, 1, hello.Request.NumConnections)
			assert.Equal(t, slacktest.DefaultAppID, hello.Request.ConnectionInfo.AppID)

			id := fake.PushEvent(tt.event)
			e := c.next(t, socketmode.EventTypeEventsAPI)
			require.Equal(t, id, e.Request.EnvelopeID)
			assert.Equal(t, 0, e.Request.RetryAttempt)
			outer, ok := e.Data.(slackevents.EventsAPIEvent)
			require.True(t, ok, "%T", e.Data)
			assert.Equal(t, slackevents.CallbackEvent, outer.Type)
			assert.Equal(t, slacktest.DefaultTeamID, outer.TeamID)
			assert.Equal(t, slacktest.DefaultAppID, outer.APIAppID)
			cb, ok := outer.Data.(*slackevents.EventsAPICallbackEvent)
			require.True(t, ok, "%T", outer.Data)
			assert.NotEmpty(t, cb.EventID)
			assert.NotZero(t, cb.EventTime)
			tt.check(t, outer.InnerEvent)

			assert.False(t, fake.Acked(id))
			require.NoError(t, c.sm.Ack(*e.Request))
			fake.WaitAcked(t, id, wait)
			assert.True(t, fake.Acked(id))
			assert.Equal(t, []slacktest.Ack{{EnvelopeID: id}}, fake.Acks())

			// The message is now in the history.
			msgs := fake.Messages(tt.event["channel"].(string))
			require.Len(t, msgs, 1)
			assert.Equal(t, tt.event["ts"], msgs[0]["ts"])
			assert.Equal(t, "message", msgs[0]["type"])
		})
	}
}

func TestRedeliver(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	c := startClient(t, fake)
	c.next(t, socketmode.EventTypeHello)

	event := map[string]any{"type": "app_mention", "user": "U1", "text": "x", "ts": "1700000000.000001", "channel": "C1"}
	id := fake.PushEvent(event)
	first := c.next(t, socketmode.EventTypeEventsAPI)
	require.Equal(t, id, first.Request.EnvelopeID)
	// Not acknowledged: Slack sends it again.
	for attempt := 1; attempt <= 2; attempt++ {
		fake.Redeliver(id)
		again := c.next(t, socketmode.EventTypeEventsAPI)
		assert.Equal(t, id, again.Request.EnvelopeID)
		assert.Equal(t, attempt, again.Request.RetryAttempt)
		assert.Equal(t, "timeout", again.Request.RetryReason)
		firstCB := first.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent)
		againCB := again.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent)
		assert.Equal(t, firstCB.EventID, againCB.EventID, "a retry carries the same event_id")
	}
	assert.False(t, fake.Acked(id))
	require.NoError(t, c.sm.Ack(*first.Request, map[string]string{"k": "v"}))
	fake.WaitAcked(t, id, wait)
	assert.JSONEq(t, `{"k":"v"}`, string(fake.Acks()[0].Payload))
	fake.Redeliver("no-such-envelope") // ignored
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cut  func(*slacktest.Server)
	}{
		{"DropConnections", (*slacktest.Server).DropConnections},
		{"Disconnect", func(s *slacktest.Server) { s.Disconnect("refresh_requested") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			c := startClient(t, fake)
			c.next(t, socketmode.EventTypeHello)
			fake.WaitConnections(t, 1, wait)

			tt.cut(fake)
			// Pushed while the client reconnects: queued or sent on the new socket.
			id := fake.PushEvent(map[string]any{"type": "app_mention", "user": "U1", "text": "after", "ts": "1700000001.000001", "channel": "C1"})
			connected := c.next(t, socketmode.EventTypeConnected)
			assert.Equal(t, 1, connected.Data.(*socketmode.ConnectedEvent).ConnectionCount)
			c.next(t, socketmode.EventTypeHello)
			e := c.next(t, socketmode.EventTypeEventsAPI)
			assert.Equal(t, id, e.Request.EnvelopeID)
			require.NoError(t, c.sm.Ack(*e.Request))
			fake.WaitAcked(t, id, wait)
			fake.WaitConnections(t, 1, wait)
			assert.Len(t, fake.Calls("apps.connections.open"), 2)
		})
	}
}

func TestPushBeforeConnect(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	id := fake.PushEvent(map[string]any{"type": "message", "channel_type": "im", "user": "U1", "text": "early", "ts": "1700000000.000001", "channel": "D1"})
	c := startClient(t, fake)
	c.next(t, socketmode.EventTypeHello)
	e := c.next(t, socketmode.EventTypeEventsAPI)
	assert.Equal(t, id, e.Request.EnvelopeID)
}

// TestPingKeepsConnection is not parallel: it measures time, which the
// other tests would skew.
func TestPingKeepsConnection(t *testing.T) {
	fake := slacktest.NewServer(t)
	fake.SetPingInterval(20 * time.Millisecond)
	c := startClient(t, fake, socketmode.OptionPingInterval(500*time.Millisecond))
	c.next(t, socketmode.EventTypeHello)
	time.Sleep(1500 * time.Millisecond)
	assert.Len(t, fake.Calls("apps.connections.open"), 1, "socketmode reconnected: pings did not arrive")
	assert.Equal(t, 1, fake.Connections())
}

func TestConnectionsOpenAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		require  string // RequireAppToken
		appToken string
		wantErr  string
	}{
		{"any xapp token", "", "xapp-anything", ""},
		{"required token", appToken, appToken, ""},
		{"wrong token", appToken, "xapp-other", "invalid_auth"},
		{"bot token", "", botToken, "not_allowed_token_type"},
		{"no token", "", "", "not_authed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			if tt.require != "" {
				fake.RequireAppToken(tt.require)
			}
			api := slack.New(botToken, slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken(tt.appToken))
			_, url, err := api.StartSocketModeContext(context.Background())
			if tt.wantErr != "" {
				var se slack.SlackErrorResponse
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.wantErr, se.Err)
				return
			}
			require.NoError(t, err)
			assert.Regexp(t, `^ws://127\.0\.0\.1:\d+/link/\?ticket=`, url)
		})
	}
}

func TestInvalidAppTokenStopsSocketMode(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	fake.RequireAppToken("xapp-the-right-one")
	sm := socketmode.New(newAPI(fake, botToken))
	err := sm.RunContext(context.Background())
	require.Error(t, err)
	assert.Equal(t, "invalid_auth", err.Error())
	assert.False(t, errors.Is(err, context.Canceled))
}

func TestPushEnvelopeAndHistory(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	c := startClient(t, fake)
	c.next(t, socketmode.EventTypeHello)

	id := fake.PushEnvelope("slash_commands", map[string]any{"command": "/airut", "text": "status", "user_id": "U1", "channel_id": "C1"}, true)
	e := c.next(t, socketmode.EventTypeSlashCommand)
	assert.Equal(t, id, e.Request.EnvelopeID)
	assert.True(t, e.Request.AcceptsResponsePayload)
	assert.Equal(t, "/airut", e.Data.(slack.SlashCommand).Command)

	// The app_mention and the message event of one message make one history entry;
	// a message_changed event is not a new message.
	msg := map[string]any{"user": "U1", "text": "<@U0BOT00001> go", "ts": "1700000000.000001", "channel": "C1"}
	for _, typ := range []string{"app_mention", "message"} {
		ev := map[string]any{"type": typ}
		for k, v := range msg {
			ev[k] = v
		}
		fake.PushEvent(ev)
	}
	fake.PushEvent(map[string]any{"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "1700000000.000002",
		"message": map[string]any{"type": "message", "user": "U1", "text": "edited", "ts": "1700000000.000001"}})
	msgs := fake.Messages("C1")
	require.Len(t, msgs, 1)
	assert.Equal(t, "<@U0BOT00001> go", msgs[0]["text"])
	assert.NotContains(t, msgs[0], "channel")
	assert.NotContains(t, msgs[0], "event_ts")
}

// fatalRecorder is a testing.TB whose Fatalf only records.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }
func (f *fatalRecorder) Helper()                           {}

func TestWaitTimeouts(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	const short = 50 * time.Millisecond
	tests := []struct {
		name string
		wait func(tb testing.TB)
		want string
	}{
		{"WaitPosts", func(tb testing.TB) {
			fake.WaitPosts(tb, func(p []slacktest.Post) bool { return len(p) > 0 }, short)
		}, "posts did not match"},
		{"WaitAcked", func(tb testing.TB) { fake.WaitAcked(tb, "nope", short) }, "not acknowledged"},
		{"WaitCalls", func(tb testing.TB) { fake.WaitCalls(tb, "chat.update", 1, short) }, "0 calls of chat.update"},
		{"WaitConnections", func(tb testing.TB) { fake.WaitConnections(tb, 1, short) }, "0 sockets open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			start := time.Now()
			tt.wait(rec)
			assert.Contains(t, rec.msg, tt.want)
			assert.GreaterOrEqual(t, time.Since(start), short)
		})
	}
}

func TestConnectionsOpenFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*slacktest.Server)
	}{
		{"internal_error", func(s *slacktest.Server) { s.FailNext("apps.connections.open", "internal_error", 2) }},
		{"ratelimited", func(s *slacktest.Server) {
			s.SetRetryAfter(0)
			s.FailNext("apps.connections.open", "ratelimited", 1)
		}},
		{"HTTP 502", func(s *slacktest.Server) { s.FailNextStatus("apps.connections.open", 502, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			tt.setup(fake)
			c := startClient(t, fake)
			e := c.next(t, socketmode.EventTypeConnectionError)
			assert.Error(t, e.Data.(*slack.ConnectionErrorEvent).ErrorObj)
			c.next(t, socketmode.EventTypeHello) // socketmode retried
			calls := fake.Calls("apps.connections.open")
			assert.NotEmpty(t, calls[0].Error)
			assert.Empty(t, calls[len(calls)-1].Error)
		})
	}
}
