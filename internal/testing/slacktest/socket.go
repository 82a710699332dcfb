package slacktest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds every write to a socket, so that a client that stopped
// reading cannot hang the server (which writes under its mutex).
const writeTimeout = 5 * time.Second

type wsConn struct {
	ws   *websocket.Conn
	done chan struct{} // closed when the reader exits
}

// envelope is a Socket Mode envelope the test pushed.
type envelope struct {
	id                     string
	typ                    string
	payload                any
	acceptsResponsePayload bool
	retryAttempt           int
	retryReason            string
}

func (e *envelope) json() []byte {
	b, err := json.Marshal(obj{
		"envelope_id":              e.id,
		"type":                     e.typ,
		"payload":                  e.payload,
		"accepts_response_payload": e.acceptsResponsePayload,
		"retry_attempt":            e.retryAttempt,
		"retry_reason":             e.retryReason,
	})
	if err != nil {
		panic("slacktest: envelope payload is not JSON: " + err.Error())
	}
	return b
}

var upgrader = websocket.Upgrader{
	// socketmode sends Origin: https://api.slack.com, which the default
	// same-origin check would refuse.
	CheckOrigin: func(*http.Request) bool { return true },
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.wsTickets[ticket] && !s.closed
	delete(s.wsTickets, ticket) // tickets are single-use
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	hello, _ := json.Marshal(obj{
		"type":            "hello",
		"num_connections": len(s.conns) + 1,
		"debug_info": obj{
			"host":                        "applink-slacktest",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
		"connection_info": obj{"app_id": s.appID},
	})
	if err := write(ws, hello); err != nil {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.conns = append(s.conns, c)
	queued := s.queue
	s.queue = nil
	for i, msg := range queued {
		if err := write(ws, msg); err != nil {
			s.queue = append(s.queue, queued[i:]...)
			break
		}
	}
	pingEvery := s.pingInterval
	s.wg.Add(2)
	s.notify()
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		pinger(c, pingEvery)
	}()
	defer s.wg.Done()
	s.readAcks(c)
}

func write(ws *websocket.Conn, msg []byte) error {
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ws.WriteMessage(websocket.TextMessage, msg)
}

// pinger pings the client, which socketmode requires to keep a connection.
func pinger(c *wsConn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(writeTimeout)); err != nil {
				return
			}
		}
	}
}

// readAcks records the acknowledgements a client sends until the socket
// fails or is closed.
func (s *Server) readAcks(c *wsConn) {
	defer close(c.done)
	defer s.drop(c)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(msg, &ack) != nil || ack.EnvelopeID == "" {
			s.t.Logf("slacktest: ignoring socket message %q", msg)
			continue
		}
		if string(ack.Payload) == "null" {
			ack.Payload = nil
		}
		s.mu.Lock()
		s.acks = append(s.acks, Ack{EnvelopeID: ack.EnvelopeID, Payload: ack.Payload})
		s.notify()
		s.mu.Unlock()
	}
}

// drop forgets and closes a socket.
func (s *Server) drop(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeConn(c)
}

// removeConn forgets and closes a socket. s.mu must be held.
func (s *Server) removeConn(c *wsConn) {
	if i := slices.Index(s.conns, c); i >= 0 {
		s.conns = slices.Delete(s.conns, i, i+1)
		s.notify()
	}
	_ = c.ws.Close()
}

// send delivers an envelope on the newest socket, or queues it until a
// socket opens. s.mu must be held.
func (s *Server) send(e *envelope) {
	msg := e.json()
	for len(s.conns) > 0 {
		c := s.conns[len(s.conns)-1]
		if write(c.ws, msg) == nil {
			return
		}
		s.removeConn(c)
	}
	s.queue = append(s.queue, msg)
}

// PushEnvelope sends a Socket Mode envelope of any type (events_api,
// slash_commands, interactive, …) with the payload and returns its envelope
// ID.
func (s *Server) PushEnvelope(typ string, payload any, acceptsResponsePayload bool) (envelopeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushEnvelope(typ, payload, acceptsResponsePayload)
}

func (s *Server) pushEnvelope(typ string, payload any, acceptsResponsePayload bool) string {
	e := &envelope{id: uuid(), typ: typ, payload: payload, acceptsResponsePayload: acceptsResponsePayload}
	s.envelopes[e.id] = e
	s.send(e)
	return e.id
}

// historySubtypes are the message subtypes that are new messages, which
// PushEvent adds to the channel's history.
var historySubtypes = []string{"", "bot_message", "file_share", "thread_broadcast", "me_message"}

// PushEvent sends an Events API event in an events_api envelope, as Slack
// does:
//
//	{"type": "events_api", "envelope_id": …, "accepts_response_payload": false,
//	 "retry_attempt": 0, "retry_reason": "",
//	 "payload": {"type": "event_callback", "team_id": …, "api_app_id": …,
//	   "event": event, "event_id": …, "event_time": …, "authorizations": […], …}}
//
// The event is sent as given, with event_ts added when missing (the event's
// ts, or a new one). A message event that is a new message (no subtype, or
// bot_message, file_share, thread_broadcast, me_message) and an app_mention
// are also added to the channel's history, unless a message with that ts is
// already there.
func (s *Server) PushEvent(event map[string]any) (envelopeID string) {
	ev := deepCopy(event)
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, _ := ev["ts"].(string)
	if _, ok := ev["event_ts"]; !ok {
		if ts != "" {
			ev["event_ts"] = ts
		} else {
			ev["event_ts"] = s.nextTS()
		}
	}
	typ, _ := ev["type"].(string)
	subtype, _ := ev["subtype"].(string)
	channel, _ := ev["channel"].(string)
	if channel != "" && ts != "" && (typ == "app_mention" || typ == "message" && slices.Contains(historySubtypes, subtype)) {
		m := deepCopy(ev)
		delete(m, "channel")
		delete(m, "channel_type")
		delete(m, "event_ts")
		m["type"] = "message"
		s.putMessage(channel, m, false)
	}
	eventID := s.nextID("Ev")
	payload := obj{
		"token":                 "slacktest-verification-token",
		"team_id":               s.teamID,
		"context_team_id":       s.teamID,
		"context_enterprise_id": nil,
		"api_app_id":            s.appID,
		"event":                 ev,
		"type":                  "event_callback",
		"event_id":              eventID,
		"event_time":            time.Now().Unix(),
		"authorizations": []obj{{
			"enterprise_id":         nil,
			"team_id":               s.teamID,
			"user_id":               s.botUserID,
			"is_bot":                true,
			"is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + base64.RawURLEncoding.EncodeToString([]byte(`{"et":"`+typ+`","tid":"`+s.teamID+`","aid":"`+s.appID+`"}`)),
	}
	return s.pushEnvelope("events_api", payload, false)
}

// Redeliver sends an envelope again with retry_attempt one higher and
// retry_reason "timeout", as Slack does when it was not acknowledged in
// time. It does nothing for an unknown envelope ID.
func (s *Server) Redeliver(envelopeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.envelopes[envelopeID]
	if !ok {
		return
	}
	e.retryAttempt++
	e.retryReason = "timeout"
	s.send(e)
}

// DropConnections closes every open socket without a close frame, as a
// network failure would; socketmode reconnects.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.conns) > 0 {
		s.removeConn(s.conns[0])
	}
}

// Disconnect sends every open socket Slack's disconnect envelope
// ({"type": "disconnect", "reason": reason}; Slack uses "warning",
// "refresh_requested" and "link_disabled") and closes it; socketmode
// reconnects.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, _ := json.Marshal(obj{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": obj{"host": "applink-slacktest"},
	})
	for len(s.conns) > 0 {
		c := s.conns[0]
		_ = write(c.ws, msg)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(writeTimeout))
		s.removeConn(c)
	}
}
