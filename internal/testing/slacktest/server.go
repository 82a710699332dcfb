package slacktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Default workspace identity, changed with [Server.SetBot].
const (
	DefaultBotUserID = "U0BOT00001"
	DefaultBotID     = "B0BOT00001"
	DefaultTeamID    = "T0TEAM0001"
	DefaultAppID     = "A0APP00001"
)

// User is a workspace member answered by users.info.
type User struct {
	ID                string
	Name              string // the legacy username (handle)
	RealName          string
	DisplayName       string
	TeamID            string // defaults to the workspace's team
	NoTeam            bool   // answer no team_id at all, whatever TeamID says
	BotID             string // for bot users; defaults to the bot's ID for the bot user itself
	IsBot             bool
	Deleted           bool
	IsRestricted      bool // multi-channel guest
	IsUltraRestricted bool // single-channel guest
}

// Channel is a conversation answered by conversations.info. Channels need
// not be added to be posted to; conversations.info answers
// channel_not_found for channels that were not.
type Channel struct {
	ID         string
	Name       string // empty for IMs
	IsIM       bool
	IsMpIM     bool
	IsPrivate  bool
	IsArchived bool
	User       string // the other member of an IM
}

// Post is one chat.postMessage or chat.update call that succeeded.
type Post struct {
	Method      string // "chat.postMessage" or "chat.update"
	Channel     string
	ThreadTS    string // thread_ts sent (for an update: the edited message's thread)
	TS          string // the message's ts (as answered; the same for an update)
	Text        string
	Blocks      json.RawMessage // the blocks argument as sent; nil if none
	Attachments json.RawMessage
	Metadata    json.RawMessage
	Update      bool
	// UnfurlLinks and UnfurlMedia are the unfurl_links and unfurl_media
	// arguments as sent ("true", "false"), "" when not sent; Slack then
	// applies its own default, which may unfurl.
	UnfurlLinks string
	UnfurlMedia string
}

// Reaction is one reactions.add or reactions.remove call that succeeded.
type Reaction struct {
	Channel string
	TS      string
	Name    string
	Removed bool
}

// Upload is one file shared with files.completeUploadExternal.
type Upload struct {
	FileID         string
	Name           string // filename given to files.getUploadURLExternal
	Title          string
	Data           []byte
	Channel        string // channel_id (or the first of channels); empty if not shared
	ThreadTS       string
	InitialComment string
	TS             string // ts of the file_share message; empty if not shared
}

// Call is one Web API request, recorded whatever its outcome.
type Call struct {
	Method string
	Form   url.Values     // query and form/multipart fields
	JSON   map[string]any // the body, for application/json requests
	Token  string
	Error  string // the Slack error answered; "" when ok
}

// Arg returns an argument of the call, from the form or the JSON body (a
// non-string JSON value is returned JSON-encoded).
func (c Call) Arg(name string) string {
	return args{form: c.Form, json: c.JSON}.get(name)
}

// Ack is one acknowledgement received over a Socket Mode WebSocket.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil if the ack carried none
}

type userGroup struct {
	id, handle string
	members    []string
}

type fileRec struct {
	id, name, title string
	data            []byte
	uploaded        bool // data is present
	created         int64
	channels        []string
	user            string
}

type failure struct {
	slackErr string
	status   int // when not 0: answer this HTTP status with no Slack body
}

// Server is a fake Slack. Create it with [NewServer].
type Server struct {
	t   testing.TB
	srv *httptest.Server

	wg      sync.WaitGroup // socket goroutines, which outlive their hijacked requests
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of what Wait* waits for
	closed  bool

	botUserID, botID, teamID, appID string
	botToken, appToken              string // required tokens when not empty
	retryAfter                      int
	parentOnEveryPage               bool
	pingInterval                    time.Duration

	users    map[string]User
	groups   []userGroup
	channels map[string]Channel
	history  map[string][]map[string]any // channel -> messages in ts order
	files    map[string]*fileRec
	tickets  map[string]string // upload ticket -> file ID
	failures map[string][]failure

	posts     []Post
	reactions []Reaction
	calls     []Call
	uploads   []Upload

	wsTickets map[string]bool
	conns     []*wsConn
	envelopes map[string]*envelope
	queue     [][]byte // envelopes to send when a socket opens
	acks      []Ack

	seq            int
	lastSec, lastU int64
}

// NewServer starts a fake Slack on the loopback interface; it is closed by
// t.Cleanup.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:            t,
		changed:      make(chan struct{}),
		botUserID:    DefaultBotUserID,
		botID:        DefaultBotID,
		teamID:       DefaultTeamID,
		appID:        DefaultAppID,
		retryAfter:   1,
		pingInterval: time.Second,
		users:        map[string]User{},
		channels:     map[string]Channel{},
		history:      map[string][]map[string]any{},
		files:        map[string]*fileRec{},
		tickets:      map[string]string{},
		failures:     map[string][]failure{},
		wsTickets:    map[string]bool{},
		envelopes:    map[string]*envelope{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("/link/", s.serveSocket)
	mux.HandleFunc("POST /upload/v1/{ticket}", s.serveUpload)
	mux.HandleFunc("GET /files-pri/{teamfile}/{name}", s.serveFile)
	mux.HandleFunc("GET /files-pri/{teamfile}/download/{name}", s.serveFile)
	mux.HandleFunc("GET /{$}", s.serveSignIn)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		_ = c.ws.Close()
	}
	s.conns = nil
	s.notify()
	s.mu.Unlock()
	s.wg.Wait()
	s.srv.Close()
}

// URL is the base URL of the server, with no trailing slash.
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base for slack.OptionAPIURL, with a trailing slash:
// http://127.0.0.1:port/api/.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// notify wakes up the Wait* helpers. s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// SetBot sets the identity auth.test answers and that the fake gives to the
// bot's messages. The bot user is answered by users.info unless a user with
// that ID was added.
func (s *Server) SetBot(userID, botID, teamID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botUserID, s.botID, s.teamID = userID, botID, teamID
}

// SetAppID sets the app ID given in hello envelopes, event payloads and the
// bot's messages (default [DefaultAppID]).
func (s *Server) SetAppID(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appID = appID
}

// AddUser adds or replaces a user answered by users.info.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddUserGroup adds or replaces a user group (its name is its handle).
func (s *Server) AddUserGroup(id, handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := userGroup{id: id, handle: handle, members: slices.Clone(members)}
	for i := range s.groups {
		if s.groups[i].id == id {
			s.groups[i] = g
			return
		}
	}
	s.groups = append(s.groups, g)
}

// AddChannel adds or replaces a conversation answered by conversations.info.
func (s *Server) AddChannel(c Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[c.ID] = c
}

// AddThreadMessage adds a message to the history read by
// conversations.replies and returns its ts. threadTS is the ts of the
// thread's parent; for the parent itself (or a message outside any thread)
// pass its own ts or "". msg is copied; "type" defaults to "message" and
// "ts" is assigned when missing. A message with the same ts replaces the
// earlier one.
func (s *Server) AddThreadMessage(channel, threadTS string, msg map[string]any) string {
	m := deepCopy(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := m["type"]; !ok {
		m["type"] = "message"
	}
	ts, _ := m["ts"].(string)
	if ts == "" {
		ts = s.nextTS()
		m["ts"] = ts
	}
	if threadTS != "" && threadTS != ts {
		m["thread_ts"] = threadTS
	}
	s.putMessage(channel, m, true)
	return ts
}

// RequireBotToken makes every Web API method but apps.connections.open (and
// private file downloads) accept only this token. By default any token that
// is not an app-level (xapp-) token is accepted.
func (s *Server) RequireBotToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botToken = tok
}

// RequireAppToken makes apps.connections.open accept only this token. By
// default any xapp- token is accepted.
func (s *Server) RequireAppToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appToken = tok
}

// FailNext makes the next n calls of a Web API method (after the token
// check) answer {"ok": false, "error": slackErr}. For "ratelimited" the answer
// is HTTP 429 with Retry-After (see [Server.SetRetryAfter]), as on Slack.
// Failures queue up behind earlier ones for the same method.
func (s *Server) FailNext(method, slackErr string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[method] = append(s.failures[method], failure{slackErr: slackErr})
	}
}

// FailNextStatus makes the next n calls of a Web API method answer the bare
// HTTP status (e.g. 500 or 503, which slack-go reports as
// slack.StatusCodeError).
func (s *Server) FailNextStatus(method string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[method] = append(s.failures[method], failure{status: status})
	}
}

// SetRetryAfter sets the Retry-After seconds of "ratelimited" answers
// (default 1).
func (s *Server) SetRetryAfter(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = seconds
}

// SetRepliesParentOnEveryPage makes conversations.replies repeat the thread's
// parent message at the top of every page, not only the first. Slack has
// been seen doing both; clients should cope with either.
func (s *Server) SetRepliesParentOnEveryPage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parentOnEveryPage = on
}

// SetPingInterval sets how often the server pings each socket (default 1 s);
// it applies to sockets opened afterwards. It must be shorter than the
// client's socketmode.OptionPingInterval.
func (s *Server) SetPingInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingInterval = d
}

// Posts returns every successful chat.postMessage and chat.update, in order.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// Reactions returns every successful reactions.add and reactions.remove, in
// order.
func (s *Server) Reactions() []Reaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reactions)
}

// Calls returns every call of a Web API method, in order, failed ones
// included; with method "" every call of every method.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Uploads returns every file completed with files.completeUploadExternal, in
// order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// Acks returns every acknowledgement received, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// Messages returns a copy of a channel's history, in ts order.
func (s *Server) Messages(channel string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.history[channel]))
	for _, m := range s.history[channel] {
		out = append(out, deepCopy(m))
	}
	return out
}

// waitFor calls cond with a snapshot taken under the lock until it is true
// or timeout passes; it reports whether it became true.
func (s *Server) waitFor(timeout time.Duration, snapshot func() any, cond func(any) bool) (any, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		v := snapshot()
		ch := s.changed
		s.mu.Unlock()
		if cond(v) {
			return v, true
		}
		select {
		case <-ch:
		case <-timer.C:
			return v, false
		}
	}
}

// WaitPosts waits until pred is true of the posts so far and returns them;
// it fails the test after timeout.
func (s *Server) WaitPosts(t testing.TB, pred func([]Post) bool, timeout time.Duration) []Post {
	t.Helper()
	v, ok := s.waitFor(timeout,
		func() any { return slices.Clone(s.posts) },
		func(v any) bool { return pred(v.([]Post)) })
	posts := v.([]Post)
	if !ok {
		t.Fatalf("slacktest: posts did not match within %v; posts: %s", timeout, dump(posts))
	}
	return posts
}

// WaitCalls waits until a Web API method has been called at least n times
// and returns its calls; it fails the test after timeout.
func (s *Server) WaitCalls(t testing.TB, method string, n int, timeout time.Duration) []Call {
	t.Helper()
	v, ok := s.waitFor(timeout,
		func() any {
			var out []Call
			for _, c := range s.calls {
				if c.Method == method {
					out = append(out, c)
				}
			}
			return out
		},
		func(v any) bool { return len(v.([]Call)) >= n })
	calls := v.([]Call)
	if !ok {
		t.Fatalf("slacktest: %d calls of %s within %v, want %d", len(calls), method, timeout, n)
	}
	return calls
}

// Acked reports whether the envelope has been acknowledged.
func (s *Server) Acked(envelopeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked(envelopeID)
}

func (s *Server) acked(envelopeID string) bool {
	return slices.ContainsFunc(s.acks, func(a Ack) bool { return a.EnvelopeID == envelopeID })
}

// WaitAcked waits until the envelope is acknowledged; it fails the test
// after timeout.
func (s *Server) WaitAcked(t testing.TB, envelopeID string, timeout time.Duration) {
	t.Helper()
	if _, ok := s.waitFor(timeout,
		func() any { return s.acked(envelopeID) },
		func(v any) bool { return v.(bool) }); !ok {
		t.Fatalf("slacktest: envelope %s not acknowledged within %v", envelopeID, timeout)
	}
}

// Connections returns the number of open Socket Mode WebSockets.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnections waits until exactly n Socket Mode WebSockets are open (a
// hello having been sent on each); it fails the test after timeout.
func (s *Server) WaitConnections(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	v, ok := s.waitFor(timeout,
		func() any { return len(s.conns) },
		func(v any) bool { return v.(int) == n })
	if !ok {
		t.Fatalf("slacktest: %d sockets open after %v, want %d", v.(int), timeout, n)
	}
}

// nextTS returns a new message timestamp, later than any returned before.
// s.mu must be held.
func (s *Server) nextTS() string {
	now := time.Now()
	sec, u := now.Unix(), int64(now.Nanosecond()/1000)
	if sec < s.lastSec || (sec == s.lastSec && u <= s.lastU) {
		sec, u = s.lastSec, s.lastU+1
		if u >= 1e6 {
			sec, u = sec+1, 0
		}
	}
	s.lastSec, s.lastU = sec, u
	return fmt.Sprintf("%d.%06d", sec, u)
}

// nextID returns prefix followed by a sequence number, Slack-ID style.
// s.mu must be held.
func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08d", prefix, s.seq)
}

// tsKey turns "1712345678.000123" into a comparable pair; anything else
// sorts first.
func tsKey(ts string) [2]int64 {
	sec, frac, _ := strings.Cut(ts, ".")
	a, _ := strconv.ParseInt(sec, 10, 64)
	frac = (frac + "000000")[:6]
	b, _ := strconv.ParseInt(frac, 10, 64)
	return [2]int64{a, b}
}

func tsCompare(a, b string) int {
	ka, kb := tsKey(a), tsKey(b)
	if c := compareInt(ka[0], kb[0]); c != 0 {
		return c
	}
	return compareInt(ka[1], kb[1])
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// putMessage inserts m (which has a ts) into a channel's history in ts
// order. An existing message with the same ts is replaced when replace is
// set and kept otherwise. s.mu must be held.
func (s *Server) putMessage(channel string, m map[string]any, replace bool) {
	ts, _ := m["ts"].(string)
	h := s.history[channel]
	i, found := slices.BinarySearchFunc(h, ts, func(e map[string]any, ts string) int {
		ets, _ := e["ts"].(string)
		return tsCompare(ets, ts)
	})
	switch {
	case found && replace:
		h[i] = m
	case found:
	default:
		h = slices.Insert(h, i, m)
	}
	s.history[channel] = h
}

// message returns the stored message of a channel with that ts, or nil.
// s.mu must be held.
func (s *Server) message(channel, ts string) map[string]any {
	for _, m := range s.history[channel] {
		if m["ts"] == ts {
			return m
		}
	}
	return nil
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("slacktest: message is not JSON: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uuid returns a random version 4 UUID, the form of Slack's envelope IDs.
func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
