package conversation

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Reply is one line of replies.jsonl, the local channel's outbox: what the
// user was sent, once per task and kind.
type Reply struct {
	TaskID string    `json:"task_id"`
	Kind   string    `json:"kind"`
	Text   string    `json:"text"`
	Footer string    `json:"footer,omitempty"`
	Files  []string  `json:"files,omitempty"`
	SentAt time.Time `json:"sent_at"`
}

// AppendReply records r unless a reply of the same task and kind is
// already there, so a retried delivery activity never sends twice. It
// reports whether it wrote.
func (l Layout) AppendReply(r Reply) (bool, error) {
	existing, err := l.ReadReplies()
	if err != nil {
		return false, err
	}
	for _, e := range existing {
		if e.TaskID == r.TaskID && e.Kind == r.Kind {
			return false, nil
		}
	}
	if err := os.MkdirAll(l.Root, 0o755); err != nil {
		return false, fmt.Errorf("record reply: %w", err)
	}
	f, err := os.OpenFile(l.Replies(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("record reply: %w", err)
	}
	line, _ := json.Marshal(r)
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return false, fmt.Errorf("record reply: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("record reply: %w", err)
	}
	return true, f.Close()
}

// ReadReplies reads every recorded reply, oldest first.
func (l Layout) ReadReplies() ([]Reply, error) {
	f, err := os.Open(l.Replies())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replies: %w", err)
	}
	defer f.Close()
	var out []Reply
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r Reply
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}
