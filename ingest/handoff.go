package ingest

import (
	"context"
	"time"
)

// HandOffGrace bounds how long a stopping listener takes to finish the
// hand-off it is in.
const HandOffGrace = 30 * time.Second

// HandOffContext is the context of one hand-off (a message on its way to
// Temporal and acknowledged at its source) by a listener whose life is
// ctx: a stop (shutdown, or a reload that restarts or removes the
// listener) lets the hand-off finish rather than cut it, since a cut one
// is only handed off again by whoever reads the source next.
func HandOffContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), HandOffGrace)
}
