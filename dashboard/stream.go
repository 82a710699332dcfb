package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sseWriteTimeout bounds one write to a stream: a client that stops
// reading is dropped instead of holding a stream slot forever.
const sseWriteTimeout = 10 * time.Second

// maxPollWait is how long a poll waits for something new (less when
// the read long-poll is shorter).
const maxPollWait = 2 * time.Second

// liveTarget resolves a live request's conversation: the id in the path,
// the repo from ?repo= or, without it, from the list.
func (s *Server) liveTarget(w http.ResponseWriter, r *http.Request, kind FileKind) (fileKey, bool) {
	id := r.PathValue("id")
	repo := r.URL.Query().Get("repo")
	if !validConvID(id) || (repo != "" && !validRepoID(repo)) {
		http.NotFound(w, r)
		return fileKey{}, false
	}
	if repo == "" {
		row, err := s.findRow(r.Context(), "", id)
		if err != nil || row == nil {
			http.NotFound(w, r)
			return fileKey{}, false
		}
		repo = row.RepoID
	}
	return fileKey{repo: repo, conv: id, kind: kind}, true
}

// startOffset is where a viewer resumes: Last-Event-ID (sent by a
// reconnecting EventSource) or ?offset=.
func startOffset(r *http.Request) int64 {
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("offset")} {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return 0
}

// sseWriter writes Server-Sent Events, each flushed at once.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	b  strings.Builder
}

func (e *sseWriter) write(s string) error {
	// A write deadline per write (an http.Server WriteTimeout would end
	// every stream after that long; see the handler).
	_ = e.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := e.w.Write([]byte(s)); err != nil {
		return err
	}
	return e.rc.Flush()
}

// event sends one event; data may hold newlines (one data field per line,
// which EventSource joins back) but no CR, which would end a field.
func (e *sseWriter) event(id int64, name, data string) error {
	e.b.Reset()
	fmt.Fprintf(&e.b, "id: %d\nevent: %s\n", id, name)
	data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
	for _, l := range strings.Split(data, "\n") {
		e.b.WriteString("data: ")
		e.b.WriteString(l)
		e.b.WriteByte('\n')
	}
	e.b.WriteByte('\n')
	return e.write(e.b.String())
}

// viewer is one stream's or poll's place in a file and its renderer.
type viewer struct {
	s   *Server
	t   *tail
	o   int64
	evs evState
	// cut: the last bytes rendered ended inside a line (one longer than
	// a read returns); the rest of it is skipped.
	cut bool
}

// render renders the whole lines of data. A Source returns a line longer
// than its read limit in pieces; such a line is skipped, with a note.
func (v *viewer) render(data []byte) string {
	if v.cut {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return ""
		}
		data, v.cut = data[i+1:], false
	}
	note := ""
	if len(data) > 0 && data[len(data)-1] != '\n' {
		i := bytes.LastIndexByte(data, '\n')
		data, v.cut = data[:i+1], true
		note = v.s.skippedLine(v.t.key.kind)
	}
	return v.s.fragment(v.t.key.kind, &v.evs, data) + note
}

// step moves the viewer on by what is there now: the html for new lines
// (possibly empty when the lines show nothing) and whether it moved.
func (v *viewer) step(ctx context.Context, l look) (string, bool, error) {
	if l.behind {
		from := v.o
		if l.base-v.o > maxCatchUp {
			// Too far behind to replay: skip to what the tail holds.
			v.o = l.base
			return v.s.skipped(v.t.key.kind, l.base-from), true, nil
		}
		c, err := v.s.src.Read(ctx, l.file, v.o, maxChunk, 0)
		if err != nil {
			return "", false, err
		}
		if c.Next <= v.o {
			v.o = l.base
			return "", true, nil
		}
		v.o = c.Next
		return v.render(c.Data), true, nil
	}
	if l.next == v.o {
		return "", false, nil
	}
	v.o = l.next
	return v.render(l.data), true, nil
}

// stream serves a file's new lines as Server-Sent Events.
func (s *Server) stream(kind FileKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.streams <- struct{}{}:
			defer func() { <-s.streams }()
		default:
			tooBusy(w)
			return
		}
		key, ok := s.liveTarget(w, r, kind)
		if !ok {
			return
		}
		v := &viewer{s: s, o: startOffset(r)}
		if v.t, ok = s.hub.acquire(key, v.o); !ok {
			tooBusy(w)
			return
		}
		defer s.hub.release(v.t)
		rc := http.NewResponseController(w)
		// No deadline for the stream as a whole; each write sets its own.
		_ = rc.SetWriteDeadline(time.Time{})
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		out := &sseWriter{w: w, rc: rc}
		if out.write("retry: 1000\n\n") != nil {
			return
		}
		ctx := r.Context()
		beat := time.NewTicker(s.o.heartbeat)
		defer beat.Stop()
		lastState := ""
		for {
			l := v.t.look(v.o, maxChunk)
			html, moved, err := v.step(ctx, l)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Debug("dashboard: catch-up read failed", "conversation", key.conv, "error", err)
				sleep(ctx, errorPause)
				continue
			}
			if moved {
				if out.event(v.o, "html", html) != nil {
					return
				}
				continue
			}
			if l.known && l.state != lastState {
				lastState = l.state
				if out.event(v.o, "status", l.state) != nil {
					return
				}
			}
			if l.done {
				_ = out.event(v.o, "done", l.errText)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-s.ctx.Done():
				return
			case <-beat.C:
				if out.write(": ping\n\n") != nil {
					return
				}
			case <-l.changed:
			}
		}
	}
}

// tooBusy refuses a live request: too many streams (or followed files).
// EventSource gives up on it for good; the page script then polls.
func tooBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "too many live views; try again shortly", http.StatusTooManyRequests)
}

// pollAnswer is the polling fallback's answer.
type pollAnswer struct {
	Offset int64  `json:"offset"`
	HTML   string `json:"html"`
	Done   bool   `json:"done"`
	State  string `json:"state,omitempty"`
}

// poll answers GET .../poll?offset=N with what follows offset N, waiting
// a moment when there is nothing yet. Polls share the tail with streams.
func (s *Server) poll(kind FileKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := s.liveTarget(w, r, kind)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), min(maxPollWait, s.o.readWait/5))
		defer cancel()
		v := &viewer{s: s, o: startOffset(r)}
		if v.t, ok = s.hub.acquire(key, v.o); !ok {
			tooBusy(w)
			return
		}
		defer s.hub.release(v.t)
		var html strings.Builder
		var l look
		settled := false // the last look had nothing more
		for {
			l = v.t.look(v.o, maxChunk)
			frag, moved, err := v.step(r.Context(), l)
			if err != nil {
				http.Error(w, "could not read the file", http.StatusBadGateway)
				return
			}
			html.WriteString(frag)
			if moved {
				if html.Len() < maxChunk {
					continue
				}
				break
			}
			settled = true
			if l.done || html.Len() > 0 || !waitChange(ctx, l.changed) {
				break
			}
			settled = false
		}
		ans := pollAnswer{Offset: v.o, HTML: html.String(), Done: settled && l.done, State: l.state}
		etag := fmt.Sprintf(`"o%d-%t"`, ans.Offset, ans.Done)
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == etag && ans.HTML == "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeJSON(w, ans)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// waitChange waits for changed; false when ctx ended first.
func waitChange(ctx context.Context, changed <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-changed:
		return true
	}
}
