package config

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch loads the config at path afresh whenever the file changes and
// hands the result to onChange; a file that does not load (its error
// names file, line and key) goes to onError instead, and the caller
// keeps the config it has. Changes closer together than debounce are
// taken as one: editors write a file in steps. The directory is watched,
// not the file, because editors and config tools replace the file by
// renaming a new one over it. reload, if not nil, asks for a load now
// (SIGHUP). Watch returns when ctx ends.
func Watch(ctx context.Context, path string, debounce time.Duration, reload <-chan struct{}, onChange func(*Config), onError func(error)) error {
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
	load := func() {
		cfg, err := Load(abs)
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
			if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
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
