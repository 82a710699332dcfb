package activities

import (
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
}
