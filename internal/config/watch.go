package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch loads the config file of current (the config in force) afresh,
// with LoadAgain, whenever the file or the .env beside it changes, and
// hands the result to onChange; a version that does not load (its error
// names file, line and key) goes to onError instead, and the caller keeps
// the config it has. Changes closer together than debounce are taken as
// one: editors write a file in steps. The directory is watched, not the
// file, because editors and config tools replace the file by renaming a
// new one over it. reload, if not nil, asks for a load now (SIGHUP).
// Watch returns when ctx ends.
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
	// refused is the hash of the last version that did not load, so it is
	// reported once, not again at every change in the directory.
	refused := ""
	load := func(force bool) {
		h := FileSHA256(abs)
		// A change elsewhere in the directory may still be a change of
		// the file: Kubernetes swaps a ConfigMap's files by renaming a
		// symlinked directory (..data), and the file's own name sees no
		// event. The bytes tell.
		if !force && (h == current().SHA256 || h == refused) {
			return
		}
		cfg, err := LoadAgain(current())
		if err != nil {
			refused = h
			onError(err)
			return
		}
		refused = ""
		onChange(cfg)
	}
	var due <-chan time.Time
	// named: an event named the file or its .env since the last load,
	// which loads whatever the bytes (a .env edit leaves them alone).
	named := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) == 0 {
				continue
			}
			if name := filepath.Clean(ev.Name); name == abs || name == dotEnv {
				named = true
			}
			due = time.After(debounce)
		case <-due:
			due = nil
			load(named)
			named = false
		case <-reload:
			load(true)
		case err := <-w.Errors:
			onError(fmt.Errorf("watch config %s: %w", path, err))
		}
	}
}

// FileSHA256 is the hex SHA-256 of the file's bytes ("" when it cannot be
// read), as Config.SHA256 is of the version loaded: equal hashes are the
// same version.
func FileSHA256(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return sha256Hex(data)
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
