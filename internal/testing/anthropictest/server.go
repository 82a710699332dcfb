package anthropictest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a scripted Messages API server listening on 127.0.0.1.
type Server struct {
	t      testing.TB
	srv    *http.Server
	ln     net.Listener
	url    string
	delay  time.Duration
	apiKey string

	mu     sync.Mutex
	closed bool
	reqs   []Request
	others []Request
}

// Option configures a Server.
type Option func(*Server)

// WithDelay makes the server wait d before answering each API request
// (messages, count_tokens, models). The wait ends early when the client
// goes away.
func WithDelay(d time.Duration) Option {
	return func(s *Server) { s.delay = d }
}

// WithAPIKey makes the server reject, with the real API's 401
// authentication_error body, every API request whose x-api-key header is not
// key (an "Authorization: Bearer key" header is accepted too).
func WithAPIKey(key string) Option {
	return func(s *Server) { s.apiKey = key }
}

// Request is one HTTP request the server received.
type Request struct {
	Time     time.Time
	Method   string
	Host     string // Host header (for CONNECT: the target)
	Path     string // URL path, e.g. "/v1/messages"
	RawQuery string // e.g. "beta=true"
	Header   http.Header
	Body     []byte // raw request body

	// Convenience copies of headers.
	APIKey           string // x-api-key
	Authorization    string
	AnthropicVersion string
	AnthropicBeta    string

	// Decoded body of a messages request.
	Model     string
	System    string // system prompt; text blocks joined by "\n"
	Messages  []Message
	Tools     []string // names of the offered tools
	MaxTokens int
	Stream    bool

	// Side is true for messages requests without tools, which the server
	// answers as a side call rather than by the prompt's script.
	Side bool
	// Answer summarises what the server answered, e.g. "tool_use Bash: ls",
	// "text: Done.", "error 400: prompt is too long…".
	Answer string
}

// Message is one decoded message of a messages request.
type Message struct {
	Role    string  `json:"role"`
	Content []Block `json:"content"`
}

// Block is one content block of a message.
type Block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"` // tool_result content: a string or blocks
	IsError   bool            `json:"is_error,omitempty"`
}

// UnmarshalJSON accepts content given as a plain string as well as blocks.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Role = raw.Role
	m.Content = decodeContent(raw.Content)
	return nil
}

func decodeContent(raw json.RawMessage) []Block {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []Block{{Type: "text", Text: s}}
		}
		return nil
	}
	var blocks []Block
	_ = json.Unmarshal(raw, &blocks)
	return blocks
}

// Text returns the message's text blocks joined by "\n".
func (m Message) Text() string {
	var parts []string
	for _, b := range m.Content {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// ResultText returns the text of a tool_result block's content.
func (b Block) ResultText() string {
	var parts []string
	for _, c := range decodeContent(b.Content) {
		if c.Type == "text" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// WithTLSListener serves HTTPS with cert on ln (a listener the test made,
// e.g. inside a test container's network namespace) instead of plain HTTP
// on loopback; baseURL is what URL returns.
func WithTLSListener(ln net.Listener, cert tls.Certificate, baseURL string) Option {
	return func(s *Server) {
		s.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
		s.url = baseURL
	}
}

// NewServer starts a server on a free port of 127.0.0.1 (or on the
// listener of WithTLSListener). It is closed when the test and its
// subtests finish.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t}
	for _, o := range opts {
		o(s)
	}
	ln := s.ln
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("anthropictest: listen on 127.0.0.1: %v", err)
		}
		s.url = "http://" + ln.Addr().String()
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		_ = s.srv.Close()
	})
	return s
}

// URL returns the base URL, e.g. "http://127.0.0.1:40123", for
// ANTHROPIC_BASE_URL.
func (s *Server) URL() string { return s.url }

// Requests returns every POST /v1/messages request received so far, in
// order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// OtherRequests returns every request to any other path or method (HEAD /,
// count_tokens, models, …) received so far.
func (s *Server) OtherRequests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.others...)
}

func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.t.Logf("anthropictest: "+format, args...)
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	req := Request{
		Time:             time.Now(),
		Method:           r.Method,
		Host:             r.Host,
		Path:             r.URL.Path,
		RawQuery:         r.URL.RawQuery,
		Header:           r.Header.Clone(),
		Body:             body,
		APIKey:           r.Header.Get("X-Api-Key"),
		Authorization:    r.Header.Get("Authorization"),
		AnthropicVersion: r.Header.Get("Anthropic-Version"),
		AnthropicBeta:    r.Header.Get("Anthropic-Beta"),
	}
	isMessages := r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/v1/messages"
	record := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if isMessages {
			s.reqs = append(s.reqs, req)
		} else {
			s.others = append(s.others, req)
		}
	}

	var mb *messagesBody
	if isMessages {
		mb = decodeMessages(&req)
	}

	path := strings.TrimSuffix(r.URL.Path, "/")
	isAPI := strings.HasPrefix(path, "/v1/")
	if isAPI {
		if !s.wait(r.Context()) {
			record()
			return
		}
		if s.apiKey != "" && req.APIKey != s.apiKey && req.Authorization != "Bearer "+s.apiKey {
			req.Answer = "error 401: invalid x-api-key"
			record()
			writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
			return
		}
	}

	switch {
	case isMessages:
		respond := answerMessages(&req, mb)
		record()
		respond(w)
	case r.Method == http.MethodPost && path == "/v1/messages/count_tokens":
		record()
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": estimateTokens(len(body))})
	case r.Method == http.MethodGet && path == "/v1/models":
		record()
		var data []any
		for _, id := range knownModels {
			data = append(data, modelInfo(id))
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"data": data, "has_more": false,
			"first_id": knownModels[0], "last_id": knownModels[len(knownModels)-1],
		})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/models/"):
		record()
		writeJSON(w, http.StatusOK, modelInfo(strings.TrimPrefix(path, "/v1/models/")))
	case path == "" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		// The CLI pre-connects with HEAD / at start-up.
		record()
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(path, "/api/") && r.Method == http.MethodPost:
		// Telemetry and event logging: accept and ignore.
		record()
		s.logf("side call %s %s answered with {}", r.Method, r.URL)
		writeJSON(w, http.StatusOK, map[string]any{})
	default:
		record()
		s.logf("unhandled %s %s: 404", r.Method, r.URL)
		writeError(w, http.StatusNotFound, "not_found_error", "Not found: "+r.URL.Path)
	}
}

// wait sleeps for the configured delay; false if the client went away.
func (s *Server) wait(ctx context.Context) bool {
	if s.delay <= 0 {
		return true
	}
	tm := time.NewTimer(s.delay)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var knownModels = []string{
	"claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5",
}

func modelInfo(id string) map[string]any {
	return map[string]any{
		"type": "model", "id": id, "display_name": id,
		"created_at": "2025-01-01T00:00:00Z",
	}
}

type messagesBody struct {
	Model     string                  `json:"model"`
	System    json.RawMessage         `json:"system"`
	Messages  []Message               `json:"messages"`
	Tools     []struct{ Name string } `json:"tools"`
	MaxTokens int                     `json:"max_tokens"`
	Stream    bool                    `json:"stream"`
	// Structured output, old and new spelling.
	OutputFormat *outputFormat `json:"output_format"`
	OutputConfig *struct {
		Format *outputFormat `json:"format"`
	} `json:"output_config"`
}

type outputFormat struct {
	Type   string         `json:"type"`
	Schema map[string]any `json:"schema"`
}

// decodeMessages fills req's decoded fields from its body; nil if the body
// is not JSON.
func decodeMessages(req *Request) *messagesBody {
	var b messagesBody
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return nil
	}
	req.Model = b.Model
	req.System = systemText(b.System)
	req.Messages = b.Messages
	req.MaxTokens = b.MaxTokens
	req.Stream = b.Stream
	for _, t := range b.Tools {
		req.Tools = append(req.Tools, t.Name)
	}
	req.Side = len(req.Tools) == 0
	return &b
}

// answerMessages decides the answer to a messages request, sets req.Answer,
// and returns the function that writes it.
func answerMessages(req *Request, b *messagesBody) func(http.ResponseWriter) {
	fail := func(status int, typ, msg string) func(http.ResponseWriter) {
		req.Answer = fmt.Sprintf("error %d: %s", status, msg)
		return func(w http.ResponseWriter) { writeError(w, status, typ, msg) }
	}
	if b == nil {
		return fail(http.StatusBadRequest, "invalid_request_error", "There was an error parsing the body of your request as JSON.")
	}
	if b.Model == "" {
		return fail(http.StatusBadRequest, "invalid_request_error", "model: Field required")
	}

	var turn modelTurn
	if req.Side {
		format := b.OutputFormat
		if b.OutputConfig != nil && b.OutputConfig.Format != nil {
			format = b.OutputConfig.Format
		}
		turn = sideTurn(format)
	} else {
		turn = scriptTurn(b.Messages, req.Tools)
	}
	if turn.failStatus != 0 {
		return fail(turn.failStatus, turn.failType, turn.failMessage)
	}

	req.Answer = turn.summary()
	msg := assistantMessage{
		id:           "msg_" + randomID(12),
		model:        b.Model,
		blocks:       turn.blocks,
		inputTokens:  estimateTokens(len(req.Body)),
		outputTokens: turn.outputTokens(),
	}
	if b.Stream {
		return msg.stream
	}
	return func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, msg.json()) }
}

func systemText(raw json.RawMessage) string {
	var parts []string
	for _, b := range decodeContent(raw) {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// estimateTokens guesses a token count from a byte count (about 4 bytes a
// token), at least 1.
func estimateTokens(n int) int {
	return max(1, n/4)
}

// assistantMessage is one answer of the model.
type assistantMessage struct {
	id           string
	model        string
	blocks       []outBlock
	inputTokens  int
	outputTokens int
}

type outBlock struct {
	typ   string // "text" or "tool_use"
	text  string
	id    string
	name  string
	input any
}

func (m assistantMessage) stopReason() string {
	for _, b := range m.blocks {
		if b.typ == "tool_use" {
			return "tool_use"
		}
	}
	return "end_turn"
}

func (m assistantMessage) usage(output int) map[string]any {
	return map[string]any{
		"input_tokens":                m.inputTokens,
		"cache_creation_input_tokens": 0,
		"cache_read_input_tokens":     0,
		"output_tokens":               output,
		"service_tier":                "standard",
	}
}

func (b outBlock) json() map[string]any {
	if b.typ == "tool_use" {
		return map[string]any{"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
	}
	return map[string]any{"type": "text", "text": b.text}
}

func (m assistantMessage) json() map[string]any {
	content := make([]any, 0, len(m.blocks))
	for _, b := range m.blocks {
		content = append(content, b.json())
	}
	return map[string]any{
		"id": m.id, "type": "message", "role": "assistant", "model": m.model,
		"content": content, "stop_reason": m.stopReason(), "stop_sequence": nil,
		"usage": m.usage(m.outputTokens),
	}
}

// stream writes the message as server-sent events, the way the real API
// does: message_start, ping, per block content_block_start / _delta… /
// _stop, message_delta (stop_reason, usage), message_stop.
func (m assistantMessage) stream(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Request-Id", "req_"+randomID(12))
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	event := func(name string, data map[string]any) {
		data["type"] = name
		enc, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, enc)
		if flusher != nil {
			flusher.Flush()
		}
	}
	event("message_start", map[string]any{"message": map[string]any{
		"id": m.id, "type": "message", "role": "assistant", "model": m.model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": m.usage(1),
	}})
	event("ping", map[string]any{})
	for i, b := range m.blocks {
		switch b.typ {
		case "tool_use":
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{
				"type": "tool_use", "id": b.id, "name": b.name, "input": map[string]any{},
			}})
			in, _ := json.Marshal(b.input)
			for _, part := range split(string(in), 2) {
				event("content_block_delta", map[string]any{"index": i, "delta": map[string]any{
					"type": "input_json_delta", "partial_json": part,
				}})
			}
		default:
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{
				"type": "text", "text": "",
			}})
			for _, part := range split(b.text, 3) {
				event("content_block_delta", map[string]any{"index": i, "delta": map[string]any{
					"type": "text_delta", "text": part,
				}})
			}
		}
		event("content_block_stop", map[string]any{"index": i})
	}
	event("message_delta", map[string]any{
		"delta": map[string]any{"stop_reason": m.stopReason(), "stop_sequence": nil},
		"usage": m.usage(m.outputTokens),
	})
	event("message_stop", map[string]any{})
}

// split cuts s into at most n non-empty pieces on rune boundaries (one piece
// when s is short).
func split(s string, n int) []string {
	r := []rune(s)
	if len(r) < 2*n {
		return []string{s}
	}
	var out []string
	size := (len(r) + n - 1) / n
	for len(r) > 0 {
		k := min(size, len(r))
		out = append(out, string(r[:k]))
		r = r[k:]
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_"+randomID(12))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the real API's error shape:
// {"type":"error","error":{"type":…,"message":…},"request_id":…}.
func writeError(w http.ResponseWriter, status int, typ, message string) {
	id := "req_" + randomID(12)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", id)
	if status == http.StatusTooManyRequests || status == 529 {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": typ, "message": message},
		"request_id": id,
	})
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.Join(errors.New("anthropictest: random"), err))
	}
	return hex.EncodeToString(b)
}
