package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest/email"
	"github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/metrics"
	"github.com/airut-go/airut/internal/operate"
)

// startListeners starts a channel listener for every channel account in
// the config and returns a function that waits for them to stop.
func startListeners(ctx context.Context, cfg *config.Config, c client.Client, m *metrics.Metrics, log *slog.Logger) (count int, wait func()) {
	var wg sync.WaitGroup
	opts := operate.ConversationOptions(cfg)
	for _, id := range cfg.RepoIDs() {
		r := cfg.Repos[id]
		var runs []func(context.Context) error
		if r.Email != nil {
			runs = append(runs, (&email.Listener{
				RepoID: id, Email: *r.Email, Temporal: c, Options: opts, Log: log, Metrics: m,
				AttachmentsDir: cfg.RepoAttachmentsDir(id),
				RejectedDir:    cfg.RejectedMailDir(),
			}).Run)
		}
		if r.Slack != nil {
			runs = append(runs, (&slack.Listener{
				RepoID: id, Slack: *r.Slack, Temporal: c, Options: opts, Log: log, Metrics: m,
				AttachmentsDir: cfg.RepoAttachmentsDir(id),
			}).Run)
		}
		for _, run := range runs {
			wg.Add(1)
			count++
			go func() {
				defer wg.Done()
				if err := run(ctx); err != nil {
					log.Error("channel listener stopped", "repo", id, "error", err)
				}
			}()
		}
	}
	return count, wg.Wait
}

func newIngestCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ingest",
		Short: "Run only the channel listeners (email, Slack), against temporal.address or a local `airut server`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd.Context(), a, serveOptions{listen: true})
		},
	}
}
