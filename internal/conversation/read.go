package conversation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// The conversation files another process may read (the dashboard, from
// any host through its worker): append-only logs, by kind.
const (
	FileEvents  = "events"
	FileNetwork = "network"
	FileReplies = "replies"
)

// LogFile is the path of the log of a kind; ok is false for any other
// kind, so a caller never names a path of its own.
func (l Layout) LogFile(kind string) (path string, ok bool) {
	switch kind {
	case FileEvents:
		return l.Events(), true
	case FileNetwork:
		return l.NetworkLog(), true
	case FileReplies:
		return l.Replies(), true
	}
	return "", false
}

// Chunk is a piece of a log.
type Chunk struct {
	Data []byte
	// Next is where the next read starts.
	Next int64
	// Size is the file's size when read; Gone: there is no file (yet, or
	// any more).
	Size int64
	Gone bool
}

// ReadChunk reads the log at path from offset: whole lines only, at most
// max bytes, unless the first line alone is longer (then its first max
// bytes, so a reader always gets on). An offset past the end (the file
// was replaced) reads from the start.
func ReadChunk(path string, offset int64, max int) (Chunk, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Chunk{Next: offset, Gone: true}, nil
	}
	if err != nil {
		return Chunk{}, fmt.Errorf("read conversation log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Chunk{}, fmt.Errorf("read conversation log: %w", err)
	}
	c := Chunk{Size: st.Size(), Next: offset}
	if offset > c.Size || offset < 0 {
		offset, c.Next = 0, 0
	}
	n := min(int64(max), c.Size-offset)
	if n <= 0 {
		return c, nil
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, offset); err != nil && !errors.Is(err, io.EOF) {
		return Chunk{}, fmt.Errorf("read conversation log: %w", err)
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i+1]
	} else if n < int64(max) {
		// An unfinished last line: it is still being written.
		return c, nil
	}
	c.Data, c.Next = buf, offset+int64(len(buf))
	return c, nil
}

// WaitChunk is ReadChunk, waiting up to wait for data when there is none
// yet (the file is polled every 100 ms; a log is written a line at a
// time).
func WaitChunk(ctx context.Context, path string, offset int64, max int, wait time.Duration) (Chunk, error) {
	deadline := time.Now().Add(wait)
	for {
		c, err := ReadChunk(path, offset, max)
		if err != nil || len(c.Data) > 0 || !time.Now().Before(deadline) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return c, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
