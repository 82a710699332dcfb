package activities

import (
	"context"
	"sync"
	"time"
)

// reservationTTL bounds how long a claimed but not yet running
// conversation counts against this host's capacity.
const reservationTTL = 2 * time.Minute

// load tracks this host's agent slots so that a busy host leaves new
// conversations to idle ones: a conversation is placed by the first
// activity that accepts it from the shared queue, and a host that already
// has max_concurrent agents running or about to run declines.
type load struct {
	mu       sync.Mutex
	running  int
	reserved map[string]time.Time // conversation → when claimed
	// freed is closed, and replaced, whenever an agent ends, to wake the
	// claims waiting for its slot.
	freed chan struct{}
	// waiting counts the claims waiting here.
	waiting int
}

// claim reserves a slot for conv unless the host is full.
func (l *load) claim(conv string, capacity int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reserved == nil {
		l.reserved = map[string]time.Time{}
	}
	for c, at := range l.reserved {
		if now.Sub(at) > reservationTTL {
			delete(l.reserved, c)
		}
	}
	if _, ok := l.reserved[conv]; ok {
		return true
	}
	if l.running+len(l.reserved) >= capacity {
		return false
	}
	l.reserved[conv] = now
	return true
}

// start turns conv's reservation (if any) into a running agent.
func (l *load) start(conv string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.reserved, conv)
	l.running++
}

func (l *load) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	if l.freed != nil {
		close(l.freed)
		l.freed = nil
	}
}

// await waits up to maxWait for a slot for conv on this full host and
// claims it. At most capacity claims wait at once (one per slot that can
// free next); others are declined at once, as is every claim once ctx
// ends. Without it a full host only declined, and the conversation's
// next try came after its retry backoff (up to 10 s), while the freed
// slot sat idle: under a burst, slots were busy about half the time.
// stopping is asked every second: a host that begins to stop declines.
func (l *load) await(ctx context.Context, conv string, capacity int, maxWait time.Duration, stopping func() bool) bool {
	l.mu.Lock()
	if l.waiting >= capacity {
		l.mu.Unlock()
		return false
	}
	l.waiting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
	}()
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if stopping() {
			return false
		}
		l.mu.Lock()
		if l.freed == nil {
			l.freed = make(chan struct{})
		}
		freed := l.freed
		l.mu.Unlock()
		if l.claim(conv, capacity, time.Now()) {
			return true
		}
		select {
		case <-freed:
		case <-tick.C:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
