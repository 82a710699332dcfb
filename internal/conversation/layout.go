// Package conversation owns a conversation's files on a worker host:
// workspace, Claude session state, inbox, outbox, storage, the event log
// and the local reply log. The workflow holds the metadata; this package
// holds the bulk data, and it knows nothing of Temporal.
package conversation

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

var idPattern = regexp.MustCompile(`^[0-9a-f]{8}$`)

// ValidID reports whether id is a conversation ID (8 lowercase hex).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Layout is the directory tree of one conversation:
//
//	<repo state>/conversations/<id>/workspace  → /workspace
//	                                claude     → /root/.claude
//	                                inbox outbox storage
//	                                events.jsonl replies.jsonl
type Layout struct{ Root string }

// For returns the layout of conversation id under a repo's state dir.
func For(repoStateDir, id string) (Layout, error) {
	if !ValidID(id) {
		return Layout{}, fmt.Errorf("invalid conversation id %q: want 8 lowercase hex characters", id)
	}
	return Layout{Root: filepath.Join(repoStateDir, "conversations", id)}, nil
}

func (l Layout) Workspace() string { return filepath.Join(l.Root, "workspace") }
func (l Layout) Claude() string    { return filepath.Join(l.Root, "claude") }
func (l Layout) Inbox() string     { return filepath.Join(l.Root, "inbox") }
func (l Layout) Outbox() string    { return filepath.Join(l.Root, "outbox") }
func (l Layout) Storage() string   { return filepath.Join(l.Root, "storage") }
func (l Layout) Events() string    { return filepath.Join(l.Root, "events.jsonl") }
func (l Layout) Replies() string   { return filepath.Join(l.Root, "replies.jsonl") }

// NetworkLog is the sandbox proxy's log of the conversation's requests.
func (l Layout) NetworkLog() string { return filepath.Join(l.Root, "network.log") }

// HasWorkspace reports whether the workspace clone exists.
func (l Layout) HasWorkspace() bool {
	_, err := os.Stat(filepath.Join(l.Workspace(), ".git"))
	return err == nil
}

// EnsureDirs creates the mounted directories that do not exist yet.
func (l Layout) EnsureDirs() error {
	for _, d := range []string{l.Claude(), l.Inbox(), l.Outbox(), l.Storage()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	return nil
}

// ErrAttachmentRefused marks an attachment whose source is not a regular
// file inside the attachments directory. A message (any Temporal client
// can signal one) names its attachments by host path, and whatever is
// copied into the inbox the agent can read and mail out: a path outside
// the directory the channel listeners write to could be the worker's
// configuration, keys or another conversation's files. Retrying does not
// change the answer.
var ErrAttachmentRefused = errors.New("attachment refused")

// SaveAttachment copies src, which must resolve to a regular file inside
// attachmentsDir (symlinks followed, so a link inside the directory that
// points out is refused too), into the inbox under its base name, adding
// -1, -2, … before the extension when the name is taken. It returns the
// name used. A src outside attachmentsDir, or not a regular file, is an
// error wrapping ErrAttachmentRefused.
func (l Layout) SaveAttachment(attachmentsDir, name, src string) (string, error) {
	base := filepath.Base(filepath.Clean("/" + name))
	if base == "/" || base == "." || base == ".." {
		base = "attachment"
	}
	in, err := openConfined(attachmentsDir, name, src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for i := 0; ; i++ {
		cand := base
		if i > 0 {
			cand = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		out, err := os.OpenFile(filepath.Join(l.Inbox(), cand), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("save attachment %s: %w", name, err)
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return "", fmt.Errorf("save attachment %s: %w", name, err)
		}
		return cand, out.Close()
	}
}

// openConfined opens src for reading if it is a regular file inside dir.
// The path is checked twice: as written (made absolute and cleaned, so
// ".." cannot climb out, and a path plainly outside is refused without
// being touched), then with every symlink resolved. The resolved path is
// what is opened, with O_NOFOLLOW so its last element cannot have been
// swapped for a symlink in between.
func openConfined(dir, name, src string) (*os.File, error) {
	refuse := func(why string) error {
		return fmt.Errorf("%w: %q %s", ErrAttachmentRefused, name, why)
	}
	if dir == "" {
		return nil, refuse("cannot be checked: no attachments directory is configured")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve attachments directory: %w", err)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, fmt.Errorf("resolve attachment %s: %w", name, err)
	}
	if !within(root, abs) {
		return nil, refuse("is not stored in the attachments directory")
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("resolve attachments directory: %w", err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("open attachment %s: %w", name, err)
	}
	if !within(root, abs) {
		return nil, refuse("links outside the attachments directory")
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open attachment %s: %w", name, err)
	}
	// A FIFO or device would block or never end; a directory has nothing
	// to copy. O_NONBLOCK above keeps opening a FIFO from hanging.
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("open attachment %s: %w", name, err)
		}
		return nil, refuse("is not a regular file")
	}
	return f, nil
}

// within reports whether path is strictly below root; both are absolute
// and clean.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// OutboxFiles lists regular files in the outbox root, sorted by name.
// Subdirectories and symlinks are skipped: a symlink could point at a host
// file.
func (l Layout) OutboxFiles() ([]string, error) {
	entries, err := os.ReadDir(l.Outbox())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(l.Outbox(), e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// ClearOutbox removes the given files, and any symlinks in the outbox
// root, after they were delivered.
func (l Layout) ClearOutbox(sent []string) error {
	for _, f := range sent {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clear outbox: %w", err)
		}
	}
	entries, _ := os.ReadDir(l.Outbox())
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			os.Remove(filepath.Join(l.Outbox(), e.Name()))
		}
	}
	return nil
}

// Sent is where the local channel keeps the outbox files delivered with
// a task's reply.
func (l Layout) Sent(taskID string) string { return filepath.Join(l.Root, "sent", taskID) }

// MoveOutbox moves the outbox files into Sent(taskID), as the local
// channel delivers them. It returns the new paths of those moved and the
// names of those that could not be; an outbox emptied by an earlier call
// moves nothing.
func (l Layout) MoveOutbox(taskID string) (moved, failed []string, err error) {
	files, err := l.OutboxFiles()
	if err != nil || len(files) == 0 {
		return nil, nil, err
	}
	dir := l.Sent(taskID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("deliver outbox: %w", err)
	}
	for _, f := range files {
		dest := filepath.Join(dir, filepath.Base(f))
		if err := os.Rename(f, dest); err != nil {
			failed = append(failed, filepath.Base(f))
			continue
		}
		moved = append(moved, dest)
	}
	return moved, failed, nil
}

// Remove deletes the whole conversation directory.
func (l Layout) Remove() error {
	if err := os.RemoveAll(l.Root); err != nil {
		return fmt.Errorf("remove conversation %s: %w", filepath.Base(l.Root), err)
	}
	return nil
}
