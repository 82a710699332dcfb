package dashboard

import "time"

// WithTestTimings shortens the heartbeat, the read long-poll and the
// linger of idle tails, and turns the list cache off, for tests.
func WithTestTimings(o Options, heartbeat, readWait, linger time.Duration) Options {
	o.heartbeat, o.readWait, o.linger, o.noCache = heartbeat, readWait, linger, true
	return o
}
