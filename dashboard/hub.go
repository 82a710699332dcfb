package dashboard

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/airut-go/airut/workflows"
)

// Bounds of the hub.
const (
	maxChunk    = 256 << 10 // bytes asked of one Source.Read
	maxBuffered = 1 << 20   // bytes a tail keeps for late joiners
	maxCatchUp  = 2 << 20   // bytes a viewer may read behind the tail before the rest is skipped
	statusEvery = time.Second
	errorPause  = time.Second
	quickWait   = time.Second
	quickFor    = 15 * time.Second
)

// fileKey names one watched file.
type fileKey struct {
	repo, conv string
	kind       FileKind
}

// hub runs one reader (a tail) per watched conversation file and shares
// what it reads with every viewer of that file, so N open pages cost one
// long-polling Source.Read, not N. A tail starts with its first viewer
// and stops a while (Options.linger) after its last one leaves, or when
// the conversation is no longer busy and the file is read to its end.
type hub struct {
	s     *Server
	mu    sync.Mutex
	tails map[fileKey]*tail
}

func newHub(s *Server) *hub { return &hub{s: s, tails: map[fileKey]*tail{}} }

// segment is a piece of the file the tail read: bytes [start, next). Data
// may be shorter than next-start when the Source skipped a line too long
// to send.
type segment struct {
	start, next int64
	data        []byte
}

// tail follows one file.
type tail struct {
	h      *hub
	key    fileKey
	ctx    context.Context
	cancel context.CancelFunc

	// Guarded by h.mu.
	refs   int
	linger *time.Timer
	exited bool

	mu       sync.Mutex
	file     File
	known    bool // the status was read: file.HostQueue is set
	readOnce bool
	segs     []segment
	base     int64 // where segs begin
	pos      int64 // where the next read starts
	size     int64 // the file's size at the last read
	buffered int
	state    string
	done     bool
	errText  string
	changed  chan struct{}
}

// maxTails bounds the files followed at once (streams are bounded by
// MaxStreams, polls only by this).
func (h *hub) maxTails() int { return max(64, 4*h.s.o.MaxStreams) }

// acquire joins (or starts) the tail of key; a new tail reads from from.
// Every successful acquire needs a release; it fails when too many files
// are followed already.
func (h *hub) acquire(key fileKey, from int64) (*tail, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tails[key]; t != nil {
		t.refs++
		if t.linger != nil {
			t.linger.Stop()
			t.linger = nil
		}
		return t, true
	}
	if len(h.tails) >= h.maxTails() {
		return nil, false
	}
	ctx, cancel := context.WithCancel(h.s.ctx)
	t := &tail{
		h: h, key: key, ctx: ctx, cancel: cancel, refs: 1,
		file:    File{RepoID: key.repo, ConversationID: key.conv, Kind: key.kind},
		base:    from,
		pos:     from,
		changed: make(chan struct{}),
	}
	h.tails[key] = t
	go t.run()
	return t, true
}

// release leaves the tail; the last viewer out starts the linger timer.
func (h *hub) release(t *tail) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.refs--
	if t.refs > 0 || t.exited {
		return
	}
	t.linger = time.AfterFunc(h.s.o.linger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if t.refs == 0 && !t.exited {
			h.drop(t)
		}
	})
}

// drop stops t and forgets it (h.mu held); the next viewer starts afresh.
func (h *hub) drop(t *tail) {
	t.exited = true
	if h.tails[t.key] == t {
		delete(h.tails, t.key)
	}
	t.cancel()
}

// active reports whether a conversation in st may still write its files.
func active(st workflows.Status) bool {
	return st.Busy || st.State == workflows.StateQueued
}

// run reads the file: the status first (for the file's host and to know
// whether to wait), then long polls while the conversation is active, and
// reads to the end and finishes once it is not.
func (t *tail) run() {
	s := t.h.s
	defer func() {
		t.h.mu.Lock()
		t.h.drop(t)
		t.h.mu.Unlock()
	}()
	var lastStatus, quickUntil time.Time
	busy := false
	for t.ctx.Err() == nil {
		if !t.known || time.Since(lastStatus) >= statusEvery {
			st, err := s.src.Status(t.ctx, t.key.repo, t.key.conv)
			if err != nil {
				if t.ctx.Err() != nil {
					return
				}
				if errors.Is(err, ErrNotFound) {
					t.finish("no such conversation")
					return
				}
				s.log.Debug("dashboard: status for a live view failed", "conversation", t.key.conv, "error", err)
				t.setErr(err)
				sleep(t.ctx, errorPause)
				continue
			}
			lastStatus = time.Now()
			busy = active(st)
			t.setStatus(st)
		}
		wait := time.Duration(0)
		if busy {
			wait = s.o.readWait
			if time.Now().Before(quickUntil) {
				wait = min(wait, quickWait)
			}
		}
		t.mu.Lock()
		f, pos := t.file, t.pos
		t.mu.Unlock()
		began := time.Now()
		c, err := s.src.Read(t.ctx, f, pos, maxChunk, wait)
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			s.log.Debug("dashboard: read for a live view failed", "conversation", t.key.conv, "file", t.key.kind, "error", err)
			t.setErr(err)
			sleep(t.ctx, errorPause)
			continue
		}
		progressed := t.add(pos, c)
		if progressed && t.key.kind == FileEvents && containsResult(c.Data) {
			// The run ended: look at the status soon, so the viewers hear
			// "done" within a second or two rather than a long poll later.
			quickUntil = time.Now().Add(quickFor)
		}
		switch {
		case c.Gone && busy:
			// Not there yet (a conversation not placed on a host yet) or
			// not any more: the status will tell.
			sleep(t.ctx, min(errorPause, wait))
		case c.Gone:
			t.finish("")
			return
		case !busy && !progressed:
			t.finish("")
			return
		case busy && !progressed && time.Since(began) < wait/10:
			// A Source that does not wait must not make us spin.
			sleep(t.ctx, min(errorPause, wait))
		}
	}
}

func containsResult(b []byte) bool {
	return bytes.Contains(b, []byte(`"type":"result"`)) || bytes.Contains(b, []byte(`"type": "result"`))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// broadcast wakes every viewer (t.mu held).
func (t *tail) broadcast() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *tail) setStatus(st workflows.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.file.HostQueue = st.HostQueue
	changed := !t.known || st.State != t.state || t.errText != ""
	t.known, t.state, t.errText = true, st.State, ""
	if changed {
		t.broadcast()
	}
}

func (t *tail) setErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errText = err.Error()
}

func (t *tail) finish(errText string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done, t.errText = true, errText
	t.broadcast()
}

// add takes what a read at pos returned; it reports whether the tail moved.
func (t *tail) add(pos int64, c Chunk) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	first := !t.readOnce
	t.readOnce = true
	t.size = max(c.Size, c.Next)
	if t.pos != pos {
		return false
	}
	if c.Next <= pos {
		if c.Size < pos {
			// An offset past the end (a viewer's made-up offset, or a
			// file that was replaced): start again at the end.
			t.segs, t.buffered, t.base, t.pos = nil, 0, c.Size, c.Size
			t.broadcast()
		} else if first {
			t.broadcast()
		}
		return false
	}
	data := c.Data
	if int64(len(data)) > c.Next-pos {
		data = data[:c.Next-pos]
	}
	t.segs = append(t.segs, segment{start: pos, next: c.Next, data: data})
	t.buffered += len(data)
	t.pos = c.Next
	for t.buffered > maxBuffered && len(t.segs) > 1 {
		t.buffered -= len(t.segs[0].data)
		t.segs = t.segs[1:]
		t.base = t.segs[0].start
	}
	t.broadcast()
	return true
}

// look is what a viewer at offset o can have now.
type look struct {
	data []byte
	// next is where the viewer is after data (it may move without data:
	// past a skipped line, or back to the end of a file it was beyond).
	next int64
	// behind: o is before what the tail holds; the viewer reads
	// [o, base) itself.
	behind  bool
	base    int64
	file    File
	known   bool
	state   string
	done    bool
	errText string
	changed <-chan struct{}
}

func (t *tail) look(o int64, max int) look {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := look{next: o, base: t.base, file: t.file, known: t.known, state: t.state, done: t.done,
		errText: t.errText, changed: t.changed}
	switch {
	case o < t.base:
		l.behind = t.known
		return l
	case o >= t.pos:
		if t.readOnce && o > t.size {
			// Past the end of the file: a made-up offset. Follow the
			// tail from where it is.
			l.next = t.pos
		}
		return l
	}
	for _, sg := range t.segs {
		if sg.next <= o {
			continue
		}
		if len(l.data) > 0 && len(l.data)+len(sg.data) > max {
			break
		}
		d := sg.data
		if sg.start < o {
			if skip := o - sg.start; skip < int64(len(d)) {
				d = d[skip:]
			} else {
				d = nil
			}
		}
		l.data = append(l.data, d...)
		l.next = sg.next
	}
	return l
}
