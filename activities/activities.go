// Package activities holds the side effects of a conversation as Temporal
// activity methods on one struct: preparing the workspace, running the
// agent in a container, delivering replies and cleaning up. Each method is
// thin: it reads the current configuration and calls the library packages
// (gitmirror, conversation, podman, claude) that do the work.
//
// Activities are retried by Temporal, so each one is safe to run twice:
// a workspace is cloned only if missing, a container of the same name is
// replaced, and a reply is recorded once per task.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/gitmirror"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/workflows"
)

// Activities is registered on a worker; one instance serves every
// conversation of this host.
type Activities struct {
	// Config returns the configuration in force; it is read at the start of
	// every activity so edits apply to the next task.
	Config func() *config.Config
	Podman *podman.Client
	HostID string
	Log    *slog.Logger

	load        load
	github      githubClients
	builds      imageBuilds
	proxyImages sandbox.ProxyImages
}

// ErrHostBusy is the retryable error of a host that declines a new
// conversation because its agent slots are taken.
const ErrHostBusy = "HostBusy"

// HostQueue is this host's task queue.
func (a *Activities) HostQueue() string { return workflows.HostQueue(a.HostID) }

func (a *Activities) repo(id string) (*config.Config, *config.Repo, error) {
	cfg := a.Config()
	r, err := cfg.Repo(id)
	if err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrConfig, err)
	}
	return cfg, r, nil
}

// RepoStateDir is the per-repo state directory.
func RepoStateDir(cfg *config.Config, repoID string) string {
	return filepath.Join(cfg.StateDir, repoID)
}

// AttachmentsDir is where the channel listeners store a repo's inbound
// attachments (they write under <attachments_dir>/<repo>/); attachments
// are taken from there only. It is "" (nothing is accepted) when no
// attachments directory is configured.
func AttachmentsDir(cfg *config.Config, repoID string) string {
	if cfg.AttachmentsDir == "" {
		return ""
	}
	return filepath.Join(cfg.AttachmentsDir, repoID)
}

func (a *Activities) mirror(cfg *config.Config, r *config.Repo) *gitmirror.Mirror {
	return Mirror(cfg, r)
}

// Mirror is a repo's git mirror in the state dir.
func Mirror(cfg *config.Config, r *config.Repo) *gitmirror.Mirror {
	return &gitmirror.Mirror{URL: r.RepoURL, Dir: filepath.Join(RepoStateDir(cfg, r.ID), "git-mirror")}
}

func (a *Activities) layout(cfg *config.Config, repoID, convID string) (conversation.Layout, error) {
	l, err := conversation.For(RepoStateDir(cfg, repoID), convID)
	if err != nil {
		return l, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrConfig, err)
	}
	return l, nil
}

func (a *Activities) log(convID, taskID string) *slog.Logger {
	l := a.Log
	if l == nil {
		l = slog.Default()
	}
	return l.With("conversation", convID, "task", taskID)
}

// PrepareWorkspace refreshes the mirror, clones the workspace if this host
// does not have it (a new conversation, or one that moved here), creates
// the mounted directories and saves attachments into the inbox.
func (a *Activities) PrepareWorkspace(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
	log := a.log(in.ConversationID, in.TaskID)
	cfg, r, err := a.repo(in.RepoID)
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	l, err := a.layout(cfg, in.RepoID, in.ConversationID)
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	if activity.GetInfo(ctx).TaskQueue == workflows.SharedQueue && !a.load.claim(in.ConversationID, cfg.Execution.MaxConcurrent, time.Now()) {
		// Declining sends the task back to the shared queue (the workflow
		// retries it), where a host with a free slot takes it.
		return workflows.PrepareResult{}, temporal.NewApplicationError("host "+a.HostID+" is at capacity", ErrHostBusy)
	}
	// Heartbeat while fetching and cloning (which can take minutes), so a
	// worker that dies here is noticed within the heartbeat timeout, not
	// at the activity's time limit.
	defer keepAlive(ctx, nil)()
	m := a.mirror(cfg, r)
	if err := m.Update(ctx); err != nil {
		if activity.GetInfo(ctx).Attempt >= 3 {
			return workflows.PrepareResult{}, temporal.NewNonRetryableApplicationError("refresh git mirror: "+err.Error(), workflows.ErrWorkspace, err)
		}
		return workflows.PrepareResult{}, fmt.Errorf("refresh git mirror: %w", err)
	}
	created := false
	if !l.HasWorkspace() {
		if err := removeAll(l.Workspace()); err != nil {
			return workflows.PrepareResult{}, err
		}
		if err := m.Clone(ctx, l.Workspace()); err != nil {
			return workflows.PrepareResult{}, temporal.NewApplicationErrorWithCause(err.Error(), workflows.ErrWorkspace, err)
		}
		created = true
	}
	if err := l.EnsureDirs(); err != nil {
		return workflows.PrepareResult{}, err
	}
	// Only files the repo's channel listeners stored are taken: a message
	// can come from anyone who reaches the Temporal frontend, and the path
	// it names would otherwise let the agent read any host file.
	attDir := AttachmentsDir(cfg, r.ID)
	var inbox []string
	for _, att := range in.Attachments {
		name, err := l.SaveAttachment(attDir, att.Name, att.Path)
		if errors.Is(err, conversation.ErrAttachmentRefused) {
			log.Warn("attachment refused", "name", att.Name, "path", att.Path, "attachments_dir", attDir, "error", err)
			return workflows.PrepareResult{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrWorkspace, err)
		}
		if err != nil {
			return workflows.PrepareResult{}, err
		}
		inbox = append(inbox, name)
	}
	log.Info("workspace ready", "repo", r.ID, "cloned", created, "moved_here", in.Rehome, "attachments", len(inbox))
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

// CleanupWorkspace removes an expired conversation's files from this host.
func (a *Activities) CleanupWorkspace(ctx context.Context, in workflows.CleanupInput) error {
	defer keepAlive(ctx, nil)()
	cfg, _, err := a.repo(in.RepoID)
	if err != nil {
		return err
	}
	l, err := a.layout(cfg, in.RepoID, in.ConversationID)
	if err != nil {
		return err
	}
	if err := l.Remove(); err != nil {
		return err
	}
	a.log(in.ConversationID, "").Info("expired conversation removed", "repo", in.RepoID)
	return nil
}

func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove partial workspace: %w", err)
	}
	return nil
}
