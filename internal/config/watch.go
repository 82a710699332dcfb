package config

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch loads the config file of current (the config in force) afresh,
// with LoadAgain, whenever the file changes and
// hands the result to onChange (so does a change to the .env file beside
// it); a file that does not load (its error
// names file, line and key) goes to onError instead, and the caller
// keeps the config it has. Changes closer together than debounce are
// taken as one: editors write a file in steps. The directory is watched,
// not the file, because editors and config tools replace the file by
// renaming a new one over it. reload, if not nil, asks for a load now
// (SIGHUP). Watch returns when ctx ends.
func Watch(ctx context.Context, current func() *Config, debounce time.Duration, reload <-chan struct{}, onChange func(*Config), onError func(error)) error {
	path := current().Path
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch config %s: %w", path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config %s: %w", path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch config %s: %w", path, err)
	}
	// The .env beside the file holds values its !env tags name.
	dotEnv := filepath.Join(filepath.Dir(abs), ".env")
	load := func() {
		cfg, err := LoadAgain(current())
		if err != nil {
			onError(err)
			return
		}
		onChange(cfg)
	}
	var due <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			if name := filepath.Clean(ev.Name); (name == abs || name == dotEnv) && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				due = time.After(debounce)
			}
		case err := <-w.Errors:
			onError(fmt.Errorf("watch config %s: %w", path, err))
		case <-due:
			due = nil
			load()
		case <-reload:
			load()
		}
	}
}
