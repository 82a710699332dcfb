package email

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/imapbox"
)

// TestRejectedStoreCapped fills the rejected-mail store past its caps:
// the oldest messages go, the newest stay, and the store stays within
// both caps.
func TestRejectedStoreCapped(t *testing.T) {
	tests := []struct {
		name     string
		maxMsgs  int
		maxBytes int64
		prefill  int // messages already there, named as before the cap existed
		n        int // messages rejected
		size     int // bytes of each
		keep     int // newest messages expected to remain
	}{
		{name: "under both caps", maxMsgs: 10, maxBytes: 1 << 20, n: 6, size: 1000, keep: 6},
		{name: "count cap", maxMsgs: 5, maxBytes: 1 << 20, n: 12, size: 1000, keep: 5},
		{name: "byte cap", maxMsgs: 100, maxBytes: 3500, n: 12, size: 1000, keep: 3},
		{name: "both caps, bytes tighter", maxMsgs: 4, maxBytes: 2500, n: 9, size: 1000, keep: 2},
		{name: "one message above the byte cap", maxMsgs: 5, maxBytes: 500, n: 3, size: 1000, keep: 0},
		{name: "store over the cap from before", maxMsgs: 4, maxBytes: 1 << 20, prefill: 7, n: 2, size: 1000, keep: 4},
		{name: "store under the cap from before", maxMsgs: 10, maxBytes: 1 << 20, prefill: 3, n: 9, size: 1000, keep: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			l := &Listener{
				RepoID: "demo", RejectedDir: t.TempDir(), RejectedMaxMessages: tt.maxMsgs, RejectedMaxBytes: tt.maxBytes,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				// Several rejections in one second, as in a flood.
				now: func() time.Time { clock = clock.Add(time.Millisecond); return clock },
			}
			dir := filepath.Join(l.RejectedDir, "demo")
			raw := func(i int) []byte {
				return []byte(fmt.Sprintf("Subject: %04d\r\n\r\n%s", i, strings.Repeat("x", tt.size))[:tt.size])
			}
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for i := range tt.prefill {
				// Named to the second, as the store was before it was capped.
				base := filepath.Join(dir, clock.Add(time.Duration(i-tt.prefill)*time.Second).Format("20060102T150405")+fmt.Sprintf("-%012x", i))
				require.NoError(t, os.WriteFile(base+".eml", raw(i), 0o600))
				require.NoError(t, os.WriteFile(base+".reason", fmt.Appendf(nil, "reason %04d\n", i), 0o600))
			}
			all := tt.prefill + tt.n
			for i := tt.prefill; i < all; i++ {
				require.NoError(t, l.reject(imapbox.Message{UID: uint32(i), Raw: raw(i)}, "", fmt.Sprintf("reason %04d", i)))
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			var kept []int
			var total int64
			for _, e := range entries {
				info, err := e.Info()
				require.NoError(t, err)
				total += info.Size()
				if base, ok := strings.CutSuffix(e.Name(), ".reason"); ok {
					var i int
					b, err := os.ReadFile(filepath.Join(dir, e.Name()))
					require.NoError(t, err)
					_, err = fmt.Sscanf(string(b), "reason %d", &i)
					require.NoError(t, err)
					kept = append(kept, i)
					assert.FileExists(t, filepath.Join(dir, base+".eml"))
				}
			}
			var want []int
			for i := all - tt.keep; i < all; i++ {
				want = append(want, i)
			}
			assert.Equal(t, want, kept, "kept messages")
			assert.Len(t, entries, 2*tt.keep, "files")
			assert.LessOrEqual(t, total, tt.maxBytes, "bytes kept")
		})
	}
}

// TestRejectedStoreCaps checks the defaults of the caps.
func TestRejectedStoreCaps(t *testing.T) {
	tests := []struct {
		name      string
		msgs      int
		bytes     int64
		wantMsgs  int
		wantBytes int64
	}{
		{name: "unset", wantMsgs: 1000, wantBytes: 100 << 20},
		{name: "negative", msgs: -1, bytes: -1, wantMsgs: DefaultRejectedMaxMessages, wantBytes: DefaultRejectedMaxBytes},
		{name: "set", msgs: 7, bytes: 4096, wantMsgs: 7, wantBytes: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, bytes := (&Listener{RejectedMaxMessages: tt.msgs, RejectedMaxBytes: tt.bytes}).rejectedCaps()
			assert.Equal(t, tt.wantMsgs, msgs)
			assert.Equal(t, tt.wantBytes, bytes)
		})
	}
}
