// Package listeners runs the channel listeners (a mailbox, a Slack app)
// that a config asks for, and changes the running set to match a new
// version of the config: a listener whose settings changed is restarted,
// one the config dropped is stopped, one it added is started, and the
// others are left running untouched.
//
// A listener is stopped by ending its context; it finishes the hand-off
// it is in (ingest.HandOffContext) before it returns, so
// a reload drops no message: mail not yet fetched waits in the mailbox
// for the listener that follows, and a Slack event not yet acknowledged
// is delivered again by Slack.
//
// The package starts and stops goroutines only; what a listener does is
// in ingest/email and ingest/slack.
package listeners

import (
	"cmp"
	"context"
	"log/slog"
	"reflect"
	"slices"
	"sync"

	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest/email"
	"github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/metrics"
	"github.com/airut-go/airut/workflows"
)

// Kind is a channel a listener serves.
type Kind string

const (
	Email Kind = "email"
	Slack Kind = "slack"
)

// Key names one listener: a repo's mailbox or its Slack app.
type Key struct {
	Repo string
	Kind Kind
}

func (k Key) String() string { return k.Repo + "/" + string(k.Kind) }

// Report is what one Apply did, by listener.
type Report struct {
	Started, Restarted, Stopped []Key
}

// spec is everything a listener is built from: equal specs make the
// same listener, so a running one is left alone.
type spec struct {
	email          *config.Email
	slack          *config.Slack
	options        workflows.Options
	attachmentsDir string
	rejectedDir    string
}

// running is a started listener.
type running struct {
	spec spec
	stop context.CancelFunc
	done chan struct{}
}

// Set is the running listeners of a process.
type Set struct {
	Temporal client.Client
	Metrics  *metrics.Metrics
	Log      *slog.Logger
	// Options are the conversation options of the config (its idle
	// timeout); operate.ConversationOptions in production.
	Options func(*config.Config) workflows.Options

	mu  sync.Mutex
	run map[Key]*running
}

// Apply makes the running listeners match cfg and returns what it
// changed. Listeners run until ctx ends or a later Apply stops them; a
// listener being replaced finishes its hand-offs before its successor
// starts, so one mailbox never has two readers.
func (s *Set) Apply(ctx context.Context, cfg *config.Config) Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		s.run = map[Key]*running{}
	}
	want := s.specs(cfg)
	var rep Report
	for _, k := range sortedKeys(s.run) {
		r := s.run[k]
		next, keep := want[k]
		if keep && reflect.DeepEqual(next, r.spec) {
			continue
		}
		r.stop()
		<-r.done
		delete(s.run, k)
		if keep {
			rep.Restarted = append(rep.Restarted, k)
		} else {
			rep.Stopped = append(rep.Stopped, k)
			s.log().Info("channel listener stopped: the config no longer has it", "listener", k.String())
		}
	}
	for _, k := range sortedKeys(want) {
		if _, ok := s.run[k]; ok {
			continue
		}
		s.start(ctx, k, want[k])
		if !slices.Contains(rep.Restarted, k) {
			rep.Started = append(rep.Started, k)
		}
	}
	return rep
}

// Count is how many listeners run.
func (s *Set) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.run)
}

// Wait waits for every listener to return (after ctx of Apply ended).
func (s *Set) Wait() {
	s.mu.Lock()
	rs := make([]*running, 0, len(s.run))
	for _, r := range s.run {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		<-r.done
	}
}

func (s *Set) specs(cfg *config.Config) map[Key]spec {
	want := map[Key]spec{}
	opts := s.Options(cfg)
	for _, id := range cfg.RepoIDs() {
		r := cfg.Repos[id]
		base := spec{options: opts, attachmentsDir: cfg.RepoAttachmentsDir(id)}
		if r.Email != nil {
			sp := base
			sp.email, sp.rejectedDir = r.Email, cfg.RejectedMailDir()
			want[Key{id, Email}] = sp
		}
		if r.Slack != nil {
			sp := base
			sp.slack = r.Slack
			want[Key{id, Slack}] = sp
		}
	}
	return want
}

func (s *Set) start(ctx context.Context, k Key, sp spec) {
	lctx, stop := context.WithCancel(ctx)
	r := &running{spec: sp, stop: stop, done: make(chan struct{})}
	s.run[k] = r
	var run func(context.Context) error
	switch k.Kind {
	case Email:
		run = (&email.Listener{
			RepoID: k.Repo, Email: *sp.email, Temporal: s.Temporal, Options: sp.options, Log: s.Log, Metrics: s.Metrics,
			AttachmentsDir: sp.attachmentsDir, RejectedDir: sp.rejectedDir,
		}).Run
	case Slack:
		run = (&slack.Listener{
			RepoID: k.Repo, Slack: *sp.slack, Temporal: s.Temporal, Options: sp.options, Log: s.Log, Metrics: s.Metrics,
			AttachmentsDir: sp.attachmentsDir,
		}).Run
	}
	go func() {
		defer close(r.done)
		if err := run(lctx); err != nil {
			s.log().Error("channel listener stopped", "listener", k.String(), "error", err)
		}
	}()
}

func (s *Set) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func sortedKeys[V any](m map[Key]V) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Kind, b.Kind))
	})
	return keys
}
