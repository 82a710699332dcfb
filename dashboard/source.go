package dashboard

import (
	"context"
	"time"

	"github.com/airut-go/airut/workflows"
)

// Source is where the dashboard's data comes from and where its actions
// go. Temporal is the source of truth (temporalSource, in temporal.go):
// nothing is kept only in the dashboard's memory, so a restart loses
// nothing and two dashboards show the same. Tests use a double.
type Source interface {
	// List returns the conversations that match f, running ones first,
	// then by last activity, newest first.
	List(ctx context.Context, f Filter) ([]Row, error)
	// Status is one conversation's state (the workflow's status query);
	// ErrNotFound when there is no such conversation.
	Status(ctx context.Context, repoID, convID string) (workflows.Status, error)
	// Read returns a conversation file's bytes from offset (whole lines
	// only, at most max bytes), waiting up to wait for new ones when there
	// are none yet. The file lives on the host that ran the conversation.
	Read(ctx context.Context, f File, offset int64, max int, wait time.Duration) (Chunk, error)
	// Hosts are the worker hosts with their agent slots.
	Hosts(ctx context.Context) ([]Host, error)
	// Stop, Retry and Send act on a conversation, recording who asked.
	Stop(ctx context.Context, repoID, convID, actor string) (workflows.StopResult, error)
	Retry(ctx context.Context, repoID, convID, actor string) (workflows.RetryResult, error)
	Send(ctx context.Context, repoID, convID, text, actor string) error
}

// Filter narrows the overview. Empty fields match everything.
type Filter struct {
	Repo    string
	Channel string
	Sender  string
	// Status is a conversation state (workflows.StateBusy, ...) or
	// "closed" for finished conversations.
	Status string
	// Text is matched, case-insensitively, against the subject.
	Text string
	// Limit caps the rows (0: the source's default, 1,000).
	Limit int
}

// Row is one conversation in the overview.
type Row struct {
	RepoID         string
	ConversationID string
	Subject        string
	Channel        string
	Sender         string
	// Status is the conversation's state; "closed" once its workflow has
	// completed (idle expiry).
	Status    string
	PR        string
	StartedAt time.Time
	// UpdatedAt is the last change the visibility store saw.
	UpdatedAt time.Time
}

// FileKind is which of a conversation's files to read.
type FileKind string

const (
	// FileEvents is events.jsonl: the agent's stream-json output, runs
	// separated by a blank line.
	FileEvents FileKind = "events"
	// FileNetwork is network.log: the proxy's decisions, one JSON object
	// (proxy.LogLine) per line.
	FileNetwork FileKind = "network"
	// FileReplies is replies.jsonl: the replies sent, one per line.
	FileReplies FileKind = "replies"
)

// File names one conversation file.
type File struct {
	RepoID         string
	ConversationID string
	Kind           FileKind
	// HostQueue is the conversation's host (Status.HostQueue), where the
	// file lives.
	HostQueue string
}

// Chunk is a piece of a conversation file.
type Chunk struct {
	Data []byte
	// Next is the offset after Data: where the next read starts.
	Next int64
	// Size is the file's size when read; Gone is set when the file no
	// longer exists (the conversation was cleaned up).
	Size int64
	Gone bool
}

// Host is one worker host.
type Host struct {
	ID        string
	Busy      int
	Free      int
	LastSeen  time.Time
	Reachable bool
}

// ErrNotFound is returned for a conversation that does not exist.
var ErrNotFound = errNotFound{}

type errNotFound struct{}

func (errNotFound) Error() string { return "no such conversation" }
