package activities

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// never is a host that does not stop.
func never() bool { return false }

// A claim waiting on a full host takes the slot the moment an agent
// ends; only as many claims wait as the host has slots; a claim that
// finds no slot in time, whose activity ends or whose host begins to
// stop is declined.
func TestLoadAwait(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, l *load)
	}{
		{"takes a freed slot at once", func(t *testing.T, l *load) {
			got := make(chan bool, 1)
			began := time.Now()
			go func() { got <- l.await(context.Background(), "c2", 1, 10*time.Second, never) }()
			time.Sleep(100 * time.Millisecond)
			l.done()
			if !<-got {
				t.Fatal("the waiting claim was declined although a slot freed")
			}
			if waited := time.Since(began); waited > 5*time.Second {
				t.Errorf("claimed after %v, want at once after the slot freed", waited)
			}
			if l.claim("c3", 1, time.Now()) {
				t.Error("the slot was claimed twice")
			}
		}},
		{"declined when nothing frees", func(t *testing.T, l *load) {
			if l.await(context.Background(), "c2", 1, 200*time.Millisecond, never) {
				t.Fatal("claimed a slot on a full host")
			}
		}},
		{"one waiter per slot", func(t *testing.T, l *load) {
			first := make(chan bool, 1)
			go func() { first <- l.await(context.Background(), "c2", 1, 2*time.Second, never) }()
			time.Sleep(100 * time.Millisecond)
			began := time.Now()
			if l.await(context.Background(), "c3", 1, 2*time.Second, never) {
				t.Fatal("a second waiter claimed the only slot")
			}
			if waited := time.Since(began); waited > time.Second {
				t.Errorf("the waiter beyond the host's slots waited %v, want declined at once", waited)
			}
			l.done()
			if !<-first {
				t.Error("the first waiter did not get the freed slot")
			}
		}},
		{"declined when the host begins to stop", func(t *testing.T, l *load) {
			var stop atomic.Bool
			got := make(chan bool, 1)
			go func() { got <- l.await(context.Background(), "c2", 1, 10*time.Second, stop.Load) }()
			time.Sleep(100 * time.Millisecond)
			stop.Store(true)
			select {
			case ok := <-got:
				if ok {
					t.Fatal("a stopping host claimed a slot")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the claim kept waiting on a stopping host")
			}
		}},
		{"declined when the activity ends", func(t *testing.T, l *load) {
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan bool, 1)
			go func() { got <- l.await(ctx, "c2", 1, 10*time.Second, never) }()
			time.Sleep(100 * time.Millisecond)
			cancel()
			if <-got {
				t.Fatal("claimed after the activity ended")
			}
			if l.waiting != 0 {
				t.Errorf("%d waiters left", l.waiting)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &load{}
			if !l.claim("c1", 1, time.Now()) {
				t.Fatal("first claim declined")
			}
			l.start("c1")
			tt.run(t, l)
		})
	}
}
