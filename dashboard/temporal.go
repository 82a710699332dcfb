package dashboard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/operate"
	"github.com/airut-go/airut/internal/visibility"
	"github.com/airut-go/airut/workflows"
)

// TemporalSource is the dashboard's Source over Temporal: lists from the
// visibility API, details from the status query, actions through
// operate, files from the host that has them.
type TemporalSource struct {
	Client    client.Client
	Namespace string
	// Config is the configuration in force (the repo state dirs and
	// options for messages sent from the dashboard).
	Config func() *config.Config
	// LocalHost is the ID of the worker host this process is (airut run);
	// its conversations' files are read from disk directly. "" for a
	// dashboard without a worker (airut dashboard).
	LocalHost string
}

var _ Source = (*TemporalSource)(nil)

// List lists through the visibility store; the free text is matched
// here, against the subject (the store's text search matches tokens, not
// substrings).
func (s *TemporalSource) List(ctx context.Context, f Filter) ([]Row, error) {
	vf := visibility.Filter{Repo: f.Repo, Channel: f.Channel, Sender: f.Sender, Status: f.Status, Limit: f.Limit}
	if f.Text != "" {
		vf.Limit = 0 // the text filter is applied to all
	}
	convs, err := visibility.List(ctx, s.Client, s.Namespace, vf)
	if err != nil {
		return nil, err
	}
	text := strings.ToLower(f.Text)
	rows := make([]Row, 0, len(convs))
	for _, c := range convs {
		if text != "" && !strings.Contains(strings.ToLower(c.Subject), text) {
			continue
		}
		r := Row{RepoID: c.RepoID, ConversationID: c.ConversationID, Subject: c.Subject, Channel: c.Channel,
			Sender: c.Sender, Status: c.Status, PR: c.PR, StartedAt: c.StartedAt, UpdatedAt: c.StartedAt}
		if !c.ClosedAt.IsZero() {
			r.UpdatedAt = c.ClosedAt
		}
		rows = append(rows, r)
		if f.Limit > 0 && len(rows) == f.Limit {
			break
		}
	}
	return rows, nil
}

// Status is the conversation's status query.
func (s *TemporalSource) Status(ctx context.Context, repoID, convID string) (workflows.Status, error) {
	st, err := operate.Status(ctx, s.Client, repoID, convID)
	if errors.Is(err, operate.ErrNotFound) {
		return st, ErrNotFound
	}
	return st, err
}

// hostReadWait bounds how long a read waits for the conversation's host
// to pick it up: a host that does not answer by then is down (or runs a
// release without the read activity).
const hostReadWait = 5 * time.Second

// Read reads the file on its host: from disk when that is this process's
// host, else through the host's worker (the ReadConversationFile
// activity, started directly on the host's queue, which waits there for
// new lines). Several viewers of one offset share one read: the
// activity's ID names the file and offset, and a second start joins the
// running one.
func (s *TemporalSource) Read(ctx context.Context, f File, offset int64, max int, wait time.Duration) (Chunk, error) {
	if f.HostQueue == "" {
		return Chunk{Next: offset, Gone: true}, nil // never placed on a host
	}
	if s.LocalHost != "" && f.HostQueue == workflows.HostQueue(s.LocalHost) {
		l, err := conversation.For(s.Config().RepoStateDir(f.RepoID), f.ConversationID)
		if err != nil {
			return Chunk{}, err
		}
		path, ok := l.LogFile(string(f.Kind))
		if !ok {
			return Chunk{}, fmt.Errorf("no conversation log of kind %q", f.Kind)
		}
		c, err := conversation.WaitChunk(ctx, path, offset, max, wait)
		return Chunk(c), err
	}
	in := workflows.ReadFileInput{RepoID: f.RepoID, ConversationID: f.ConversationID, Kind: string(f.Kind),
		Offset: offset, Max: max, WaitMS: wait.Milliseconds()}
	h, err := s.Client.ExecuteActivity(ctx, client.StartActivityOptions{
		ID:                       fmt.Sprintf("airut-read/%s/%s/%s/%d", f.RepoID, f.ConversationID, f.Kind, offset),
		TaskQueue:                f.HostQueue,
		ScheduleToStartTimeout:   hostReadWait,
		StartToCloseTimeout:      wait + 10*time.Second,
		RetryPolicy:              &temporal.RetryPolicy{MaximumAttempts: 1},
		ActivityIDConflictPolicy: enumspb.ACTIVITY_ID_CONFLICT_POLICY_USE_EXISTING,
		ActivityIDReusePolicy:    enumspb.ACTIVITY_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.ActivityReadFile, in)
	if err != nil {
		return Chunk{}, fmt.Errorf("read %s of conversation %s on %s: %w", f.Kind, f.ConversationID, f.HostQueue, err)
	}
	var res workflows.ReadFileResult
	if err := h.Get(ctx, &res); err != nil {
		var timeout *temporal.TimeoutError
		if errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
			return Chunk{}, fmt.Errorf("host %s did not answer within %s (down, or a release without live reads)",
				strings.TrimPrefix(f.HostQueue, workflows.HostQueue("")), hostReadWait)
		}
		return Chunk{}, fmt.Errorf("read %s of conversation %s on %s: %w", f.Kind, f.ConversationID, f.HostQueue, err)
	}
	return Chunk{Data: res.Data, Next: res.Next, Size: res.Size, Gone: res.Gone}, nil
}

// Hosts are the worker hosts, from the workers' heartbeats to the
// server: each host's run queue worker has its agent slots.
func (s *TemporalSource) Hosts(ctx context.Context) ([]Host, error) {
	byID := map[string]*Host{}
	var token []byte
	for {
		resp, err := s.Client.WorkflowService().ListWorkers(ctx, &workflowservice.ListWorkersRequest{
			Namespace: s.Namespace, PageSize: 200, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		for _, w := range resp.GetWorkers() {
			id, ok := runQueueHost(w.GetTaskQueue())
			if !ok {
				continue
			}
			// The list has no slots; the worker's last heartbeat does.
			d, err := s.Client.WorkflowService().DescribeWorker(ctx, &workflowservice.DescribeWorkerRequest{
				Namespace: s.Namespace, WorkerInstanceKey: w.GetWorkerInstanceKey(),
			})
			if err != nil {
				continue // gone since the list
			}
			hb := d.GetWorkerInfo().GetWorkerHeartbeat()
			if hb.GetStatus() == enumspb.WORKER_STATUS_SHUTDOWN {
				continue
			}
			h := byID[id]
			if h == nil {
				h = &Host{ID: id}
				byID[id] = h
			}
			slots := hb.GetActivityTaskSlotsInfo()
			h.Busy += int(slots.GetCurrentUsedSlots())
			h.Free += int(slots.GetCurrentAvailableSlots())
			if t := hb.GetHeartbeatTime().AsTime(); t.After(h.LastSeen) {
				h.LastSeen = t
			}
			h.Reachable = true
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	hosts := make([]Host, 0, len(byID))
	for _, h := range byID {
		hosts = append(hosts, *h)
	}
	slices.SortFunc(hosts, func(a, b Host) int { return strings.Compare(a.ID, b.ID) })
	return hosts, nil
}

// runQueueHost is the host ID of a run queue (workflows.RunQueue).
func runQueueHost(queue string) (string, bool) {
	prefix, suffix := workflows.HostQueue(""), workflows.RunQueue("")
	id, ok := strings.CutPrefix(queue, prefix)
	if !ok {
		return "", false
	}
	id, ok = strings.CutSuffix(id, suffix)
	return id, ok && id != ""
}

// Stop stops the running task.
func (s *TemporalSource) Stop(ctx context.Context, repoID, convID, actor string) (workflows.StopResult, error) {
	return operate.Stop(ctx, s.Client, repoID, convID, actor)
}

// Retry runs the last failed task again.
func (s *TemporalSource) Retry(ctx context.Context, repoID, convID, actor string) (workflows.RetryResult, error) {
	return operate.Retry(ctx, s.Client, repoID, convID, actor)
}

// Send sends a follow-up as `airut send` does, from the actor.
func (s *TemporalSource) Send(ctx context.Context, repoID, convID, text, actor string) error {
	cfg := s.Config()
	_, _, err := operate.Send(ctx, s.Client, operate.Message{
		RepoID: repoID, ConversationID: convID, Sender: actor, Text: text,
		Options: operate.ConversationOptions(cfg),
	})
	return err
}
