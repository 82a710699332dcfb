package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

// Bounds of one read: a read result is a Temporal payload (2 MB limit),
// and a reader waits on a worker slot.
const (
	maxReadBytes = 256 << 10
	maxReadWait  = 10 * time.Second
)

// ReadConversationFile reads one of a conversation's logs (events,
// network, replies) on this host, for the dashboard: whole lines from
// the offset, waiting a few seconds for new ones when there are none.
//
// Why an activity: a conversation's files live on the worker host that
// ran it, and the dashboard may run anywhere (another host, a split
// setup) without shared storage. Temporal already routes work to that
// host (its host queue), so the dashboard starts this activity there
// directly (a standalone activity: no workflow, no history of the
// conversation's), and the worker's long-poll wait turns it into a live
// tail. The path is the worker's own: the caller names a conversation and
// a kind, never a file.
func (a *Activities) ReadConversationFile(ctx context.Context, in workflows.ReadFileInput) (workflows.ReadFileResult, error) {
	_, _, l, err := a.conversation(in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.ReadFileResult{}, err
	}
	path, ok := l.LogFile(in.Kind)
	if !ok {
		return workflows.ReadFileResult{}, workflows.Fail(workflows.ErrConfig, fmt.Sprintf("no conversation log of kind %q", in.Kind), nil)
	}
	max := in.Max
	if max <= 0 || max > maxReadBytes {
		max = maxReadBytes
	}
	wait := min(time.Duration(in.WaitMS)*time.Millisecond, maxReadWait)
	c, err := conversation.WaitChunk(ctx, path, in.Offset, max, wait)
	if err != nil {
		return workflows.ReadFileResult{}, err
	}
	return workflows.ReadFileResult{Data: c.Data, Next: c.Next, Size: c.Size, Gone: c.Gone}, nil
}
