package ingest

import (
	"context"
	"sync"
	"time"
)

// HandOffGrace bounds how long a stopping listener takes to finish the
// hand-off it is in.
const HandOffGrace = 30 * time.Second

// HandOffContext is the context of one hand-off (a message on its way to
// Temporal and acknowledged at its source) by a listener whose life is
// ctx: a stop (shutdown, or a reload that restarts or removes the
// listener) lets the hand-off finish rather than cut it, since a cut one
// is only handed off again by whoever reads the source next. The grace
// counts from the stop: a hand-off that takes long (a large attachment)
// is not cut while the listener runs.
func HandOffContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return handOffContext(ctx, HandOffGrace)
}

func handOffContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stopWatching := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(grace, cancel)
	})
	return hctx, func() {
		stopWatching()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}
