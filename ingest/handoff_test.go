package ingest

import (
	"context"
	"testing"
	"time"
)

// A hand-off runs as long as it needs while its listener runs, and for
// the grace, counted from the stop, once the listener stops.
func TestHandOffContext(t *testing.T) {
	const grace = 200 * time.Millisecond
	life, stop := context.WithCancel(context.Background())
	defer stop()
	hctx, cancel := handOffContext(life, grace)
	defer cancel()

	select {
	case <-hctx.Done():
		t.Fatal("a hand-off was cut while its listener ran")
	case <-time.After(3 * grace):
	}
	stop()
	select {
	case <-hctx.Done():
		t.Fatal("a hand-off was cut at the stop, before its grace")
	case <-time.After(grace / 4):
	}
	select {
	case <-hctx.Done():
	case <-time.After(10 * grace):
		t.Fatal("a hand-off outlived its grace after the stop")
	}

	// Ended by its own cancel, with the listener still running.
	other, cancelOther := handOffContext(context.Background(), grace)
	cancelOther()
	if other.Err() == nil {
		t.Fatal("cancel did not end the hand-off")
	}
}
