// Package dashboardtest is an in-memory dashboard.Source for tests: rows,
// statuses, hosts and files set by the test, reads that long-poll like the
// real one, and a record of every call.
package dashboardtest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/workflows"
)

// Call is one action the Source was asked to do.
type Call struct {
	Method string // "Stop", "Retry" or "Send"
	Repo   string
	Conv   string
	Text   string
	Actor  string
}

type convKey struct{ repo, conv string }

type fileKey struct {
	repo, conv string
	kind       dashboard.FileKind
}

type file struct {
	data []byte
	gone bool
}

// Source is the test double. The zero value is not ready: use New.
type Source struct {
	mu       sync.Mutex
	rows     []dashboard.Row
	statuses map[convKey]workflows.Status
	files    map[fileKey]*file
	hosts    []dashboard.Host
	changed  chan struct{}
	calls    []Call
	filters  []dashboard.Filter
	reads    int

	// Results and errors the actions answer with.
	StopResult  workflows.StopResult
	RetryResult workflows.RetryResult
	ActionErr   error
	ListErr     error
}

// New returns an empty Source.
func New() *Source {
	return &Source{statuses: map[convKey]workflows.Status{}, files: map[fileKey]*file{},
		changed: make(chan struct{})}
}

var _ dashboard.Source = (*Source)(nil)

// wake tells waiting reads that something changed (s.mu held).
func (s *Source) wake() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Add adds a conversation to the list with its status (the status's repo
// and conversation IDs are taken from the row).
func (s *Source) Add(r dashboard.Row, st workflows.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.RepoID, st.ConversationID = r.RepoID, r.ConversationID
	if st.State == "" {
		st.State = r.Status
	}
	s.rows = append(s.rows, r)
	s.statuses[convKey{r.RepoID, r.ConversationID}] = st
	s.wake()
}

// SetStatus replaces a conversation's status (and its row's status).
func (s *Source) SetStatus(repo, conv string, st workflows.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.RepoID, st.ConversationID = repo, conv
	s.statuses[convKey{repo, conv}] = st
	for i := range s.rows {
		if s.rows[i].RepoID == repo && s.rows[i].ConversationID == conv {
			s.rows[i].Status = st.State
		}
	}
	s.wake()
}

// SetHosts sets the hosts.
func (s *Source) SetHosts(h []dashboard.Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosts = h
}

// Append appends to a conversation file and wakes the reads waiting on it.
func (s *Source) Append(repo, conv string, kind dashboard.FileKind, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := fileKey{repo, conv, kind}
	f := s.files[k]
	if f == nil {
		f = &file{}
		s.files[k] = f
	}
	f.data = append(f.data, data...)
	f.gone = false
	s.wake()
}

// Remove makes a file gone (the conversation was cleaned up).
func (s *Source) Remove(repo, conv string, kind dashboard.FileKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[fileKey{repo, conv, kind}] = &file{gone: true}
	s.wake()
}

// Calls returns the actions asked for so far.
func (s *Source) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Filters returns the filters List was called with.
func (s *Source) Filters() []dashboard.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.filters)
}

// Reads counts the Read calls.
func (s *Source) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// List filters the rows as the real source does.
func (s *Source) List(_ context.Context, f dashboard.Filter) ([]dashboard.Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filters = append(s.filters, f)
	if s.ListErr != nil {
		return nil, s.ListErr
	}
	var out []dashboard.Row
	for _, r := range s.rows {
		if (f.Repo != "" && r.RepoID != f.Repo) || (f.Channel != "" && r.Channel != f.Channel) ||
			(f.Sender != "" && r.Sender != f.Sender) || (f.Status != "" && r.Status != f.Status) ||
			(f.Text != "" && !strings.Contains(strings.ToLower(r.Subject), strings.ToLower(f.Text))) {
			continue
		}
		out = append(out, r)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Status answers a conversation's status, or dashboard.ErrNotFound.
func (s *Source) Status(_ context.Context, repo, conv string) (workflows.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.statuses[convKey{repo, conv}]
	if !ok {
		return workflows.Status{}, dashboard.ErrNotFound
	}
	return st, nil
}

// Read returns whole lines from offset, at most max bytes, waiting up to
// wait for some. As the real source does, a line longer than max comes in
// pieces of max bytes, and an unfinished last line is not returned.
func (s *Source) Read(ctx context.Context, f dashboard.File, offset int64, max int, wait time.Duration) (dashboard.Chunk, error) {
	deadline := time.Now().Add(wait)
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	for {
		s.mu.Lock()
		fl := s.files[fileKey{f.RepoID, f.ConversationID, f.Kind}]
		ch := s.changed
		var c dashboard.Chunk
		if fl != nil {
			c = chunk(fl, offset, max)
		} else {
			c = dashboard.Chunk{Next: offset}
		}
		s.mu.Unlock()
		if len(c.Data) > 0 || c.Next > offset || c.Gone || wait <= 0 {
			return c, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return c, nil
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return dashboard.Chunk{}, ctx.Err()
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func chunk(f *file, offset int64, max int) dashboard.Chunk {
	c := dashboard.Chunk{Next: offset, Size: int64(len(f.data)), Gone: f.gone}
	if f.gone || offset >= int64(len(f.data)) {
		return c
	}
	rest := f.data[offset:]
	end := bytes.LastIndexByte(rest[:min(len(rest), max)], '\n')
	if end < 0 {
		if len(rest) < max {
			return c // an unfinished line
		}
		end = max - 1 // a piece of a line longer than max
	}
	c.Data = slices.Clone(rest[:end+1])
	c.Next = offset + int64(end) + 1
	return c
}

// Hosts answers the hosts set.
func (s *Source) Hosts(context.Context) ([]dashboard.Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hosts), nil
}

func (s *Source) record(c Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.statuses[convKey{c.Repo, c.Conv}]; !ok {
		return dashboard.ErrNotFound
	}
	s.calls = append(s.calls, c)
	return s.ActionErr
}

// Stop records the call and answers StopResult.
func (s *Source) Stop(_ context.Context, repo, conv, actor string) (workflows.StopResult, error) {
	if err := s.record(Call{Method: "Stop", Repo: repo, Conv: conv, Actor: actor}); err != nil {
		return workflows.StopResult{}, err
	}
	return s.StopResult, nil
}

// Retry records the call and answers RetryResult.
func (s *Source) Retry(_ context.Context, repo, conv, actor string) (workflows.RetryResult, error) {
	if err := s.record(Call{Method: "Retry", Repo: repo, Conv: conv, Actor: actor}); err != nil {
		return workflows.RetryResult{}, err
	}
	return s.RetryResult, nil
}

// Send records the call.
func (s *Source) Send(_ context.Context, repo, conv, text, actor string) error {
	return s.record(Call{Method: "Send", Repo: repo, Conv: conv, Text: text, Actor: actor})
}

// ErrTest is an error for tests to make the Source fail with.
var ErrTest = errors.New("dashboardtest: failure")
