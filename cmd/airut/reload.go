package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/config"
)

// reloadDebounce takes an editor's steps of one save as one change.
const reloadDebounce = 500 * time.Millisecond

// watchConfig follows the config file (and SIGHUP) in a process that
// owns the schedules: an edit that loads makes Temporal's schedules match
// it; a broken edit is logged with its file, line and key, and the
// config in force stays. Only the schedules follow the file so far;
// everything else in it applies at the next start, which the log says.
func watchConfig(ctx context.Context, path string, c client.Client, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	err := config.Watch(ctx, path, reloadDebounce, reload,
		func(cfg *config.Config) {
			log.Info("config file changed: the schedules follow it; other changes apply at the next restart", "config", path)
			syncSchedules(ctx, c, cfg, log)
		},
		func(err error) {
			log.Error("config change refused; the config in force stays", "error", err)
		})
	if err != nil {
		log.Warn("config file not watched; schedules follow it at the next start", "error", err)
	}
}
