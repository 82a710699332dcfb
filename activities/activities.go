// Package activities holds the side effects of a conversation as Temporal
// activity methods on one struct: claiming a host, preparing the
// workspace, running the agent in a container, delivering replies,
// following the pull request and cleaning up. Each method is a short
// orchestration: it reads the current configuration, calls the library
// packages that do the work (gitmirror, conversation, sandbox, claude,
// github) and says what went wrong in the error types of
// workflows/errors.go. Domain logic (image policy, allowlists, paths,
// names) belongs in those packages, not here; and whether a failure is
// retried is the workflow's decision, not the activity's.
//
// Activities are retried by Temporal, so each one is safe to run twice:
// a workspace is cloned only if missing, a container of the same name is
// replaced, and a reply is recorded once per task.
package activities

import (
	"context"
	"errors"
	"fmt"
	"github.com/airut-go/airut/internal/metrics"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/gitmirror"
	"github.com/airut-go/airut/internal/mailauth"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// Activities is registered on a worker; one instance serves every
// conversation of this host.
type Activities struct {
	// Config returns the configuration in force; it is read at the start of
	// every activity so edits apply to the next task.
	Config func() *config.Config
	// Sandbox runs the agents: one per host, shared by every conversation.
	Sandbox *sandbox.Sandbox
	HostID  string
	Log     *slog.Logger
	// Metrics counts tasks, their outcomes and cost; nil counts nothing.
	Metrics *metrics.Metrics
	// Draining reports whether the host is leaving (airut drain): runs
	// cut short then move to another host. Nil: never.
	Draining func() bool

	load   load
	github githubClients

	// stopMu guards the shutdown state (see shutdown.go).
	stopMu    sync.Mutex
	stopBegun bool
	shutdown  chan struct{}
	// unreplied: conversations whose agent run ended here and whose
	// reply has not gone out yet, with when the run ended.
	unreplied map[string]time.Time
	// mailAuths keeps Microsoft 365 mailboxes' tokens between replies.
	mailAuths mailauth.Cache
}

func (a *Activities) draining() bool { return a.Draining != nil && a.Draining() }

// HostQueue is this host's task queue.
func (a *Activities) HostQueue() string { return workflows.HostQueue(a.HostID) }

func (a *Activities) repo(id string) (*config.Config, *config.Repo, error) {
	cfg := a.Config()
	r, err := cfg.Repo(id)
	if err != nil {
		return nil, nil, workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	return cfg, r, nil
}

func (a *Activities) layout(cfg *config.Config, repoID, convID string) (conversation.Layout, error) {
	l, err := conversation.For(cfg.RepoStateDir(repoID), convID)
	if err != nil {
		return l, workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	return l, nil
}

// conversation is what every conversation's activity starts from: the
// configuration in force, the repo's settings and the conversation's files.
func (a *Activities) conversation(repoID, convID string) (*config.Config, *config.Repo, conversation.Layout, error) {
	cfg, r, err := a.repo(repoID)
	if err != nil {
		return nil, nil, conversation.Layout{}, err
	}
	l, err := a.layout(cfg, repoID, convID)
	return cfg, r, l, err
}

// mirror is the repo's git mirror; its default branch is what the agent
// cannot change without review (Dockerfile, allowlist).
func mirror(cfg *config.Config, r *config.Repo) *gitmirror.Mirror {
	return &gitmirror.Mirror{URL: r.RepoURL, Dir: cfg.MirrorDir(r.ID)}
}

func (a *Activities) log(convID, taskID string) *slog.Logger {
	l := a.Log
	if l == nil {
		l = slog.Default()
	}
	return l.With("conversation", convID, "task", taskID)
}

// ClaimHost makes this host a new conversation's home if it has a free
// agent slot, which it reserves for a while. It runs on the shared queue,
// so the first host with room takes the conversation; a full host
// declines with the retryable ErrHostBusy and the task goes back to the
// queue for another.
func (a *Activities) ClaimHost(ctx context.Context, in workflows.ClaimInput) (workflows.ClaimResult, error) {
	if err := a.claim(a.Config(), in.ConversationID); err != nil {
		return workflows.ClaimResult{}, err
	}
	a.log(in.ConversationID, "").Debug("conversation claimed", "repo", in.RepoID)
	return workflows.ClaimResult{HostQueue: a.HostQueue()}, nil
}

// claim reserves an agent slot for conv, or says the host is full.
func (a *Activities) claim(cfg *config.Config, conv string) error {
	if a.stopping() {
		return temporal.NewApplicationError("host "+a.HostID+" is stopping", workflows.ErrHostBusy)
	}
	if !a.load.claim(conv, cfg.Execution.MaxConcurrent, time.Now()) {
		return temporal.NewApplicationError("host "+a.HostID+" is at capacity", workflows.ErrHostBusy)
	}
	return nil
}

// PrepareWorkspace refreshes the mirror, clones the workspace if this host
// does not have it (a new conversation, or one that moved here), creates
// the mounted directories and saves attachments into the inbox.
func (a *Activities) PrepareWorkspace(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
	cfg, r, l, err := a.conversation(in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	// Legacy path: workflows started by the previous release place a new
	// conversation by running this activity on the shared queue (not
	// ClaimHost), so here it claims the host as ClaimHost does.
	if activity.GetInfo(ctx).TaskQueue == workflows.SharedQueue {
		if err := a.claim(cfg, in.ConversationID); err != nil {
			return workflows.PrepareResult{}, err
		}
	}
	// Heartbeat while fetching and cloning (which can take minutes), so a
	// worker that dies here is noticed within the heartbeat timeout, not
	// at the activity's time limit.
	defer keepAlive(ctx, nil)()
	created, err := ensureWorkspace(ctx, mirror(cfg, r), l)
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	inbox, err := a.saveAttachments(cfg.RepoAttachmentsDir(r.ID), l, in)
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	a.log(in.ConversationID, in.TaskID).Info("workspace ready", "repo", r.ID, "cloned", created, "moved_here", in.Rehome, "attachments", len(inbox))
	return workflows.PrepareResult{
		HostQueue:        a.HostQueue(),
		Created:          created,
		Model:            r.Model,
		Effort:           r.Effort,
		TimeoutSeconds:   r.ResourceLimits.Timeout,
		HeartbeatSeconds: cfg.Execution.HeartbeatTimeout,
		HostTimeoutSecs:  cfg.Execution.HostTimeout,
		Inbox:            inbox,
	}, nil
}

// ensureWorkspace refreshes the mirror and clones the workspace from it
// unless this host has it; created says it was cloned now. A mirror that
// cannot be refreshed is a transient error (the remote may be down).
func ensureWorkspace(ctx context.Context, m *gitmirror.Mirror, l conversation.Layout) (created bool, err error) {
	if err := m.Update(ctx); err != nil {
		return false, fmt.Errorf("refresh git mirror: %w", err)
	}
	if !l.HasWorkspace() {
		// A clone cut short by a dead worker leaves a partial directory.
		if err := os.RemoveAll(l.Workspace()); err != nil {
			return false, fmt.Errorf("remove partial workspace: %w", err)
		}
		if err := m.Clone(ctx, l.Workspace()); err != nil {
			return false, workflows.Fail(workflows.ErrWorkspace, "The conversation's workspace could not be created: "+err.Error(), err)
		}
		created = true
	}
	if err := l.EnsureDirs(); err != nil {
		return created, fmt.Errorf("prepare workspace: %w", err)
	}
	return created, nil
}

// saveAttachments copies the task's attachments into the inbox and
// returns the names they got there. Only files the repo's channel
// listeners stored (under attDir) are taken: a message can come from
// anyone who reaches the Temporal frontend, and the path it names would
// otherwise let the agent read any host file.
func (a *Activities) saveAttachments(attDir string, l conversation.Layout, in workflows.PrepareInput) ([]string, error) {
	var inbox []string
	for _, att := range in.Attachments {
		name, err := l.SaveAttachment(attDir, att.Name, att.Path)
		if errors.Is(err, conversation.ErrAttachmentRefused) {
			a.log(in.ConversationID, in.TaskID).Warn("attachment refused", "name", att.Name, "path", att.Path, "attachments_dir", attDir, "error", err)
			return nil, workflows.Fail(workflows.ErrWorkspace, err.Error(), err)
		}
		if err != nil {
			return nil, err
		}
		inbox = append(inbox, name)
	}
	return inbox, nil
}

// CleanupWorkspace removes an expired conversation's files from this host.
func (a *Activities) CleanupWorkspace(ctx context.Context, in workflows.CleanupInput) error {
	defer keepAlive(ctx, nil)()
	_, _, l, err := a.conversation(in.RepoID, in.ConversationID)
	if err != nil {
		return err
	}
	if err := l.Remove(); err != nil {
		return err
	}
	a.log(in.ConversationID, "").Info("expired conversation removed", "repo", in.RepoID)
	return nil
}
