package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/workflows"
)

// How a worker stops (a restart, an upgrade, airut drain): it first
// stops taking conversations (ClaimHost declines, and a run arriving for
// a conversation already here is handed back at once), then gives the
// agent runs in progress (and those being prepared: an image build) the
// grace period to finish, with everything
// else on the host still working (their replies go out from here), and
// only then cuts the rest short: their containers are killed and the
// runs answer with an error, which reaches Temporal because the worker
// is still up. Last, it waits a little for the replies of runs that
// ended here: the workflow sends them through this host (where the
// outbox is), and a worker that stopped at once would leave them for
// its restart. The SDK's own WorkerStopTimeout cannot do this: when it
// runs out it cancels the runs and returns at once, and a run's answer
// is lost with the process.

// errShuttingDown is the cause of a run cut short by Shutdown.
var errShuttingDown = errors.New("the worker is shutting down")

// stopping reports whether Shutdown has begun.
func (a *Activities) stopping() bool {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	return a.stopBegun
}

// shutdownCh is closed when the grace period is over.
func (a *Activities) shutdownCh() <-chan struct{} {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	if a.shutdown == nil {
		a.shutdown = make(chan struct{})
	}
	return a.shutdown
}

// Running is the number of agent runs in progress here, being prepared
// included.
func (a *Activities) Running() int {
	a.load.mu.Lock()
	defer a.load.mu.Unlock()
	return a.load.running
}

// Shutdown stops taking conversations, waits up to grace for the agent
// runs in progress, then cuts the rest short. It returns when no run is
// left (or ctx ends); the caller then stops the workers.
func (a *Activities) Shutdown(ctx context.Context, grace time.Duration) {
	a.stopMu.Lock()
	a.stopBegun = true
	a.stopMu.Unlock()
	a.shutdownCh() // made, if no run made it yet
	wait := func(until time.Time) bool {
		for a.Running() > 0 && time.Now().Before(until) {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(200 * time.Millisecond):
			}
		}
		return a.Running() == 0
	}
	if n := a.Running(); n > 0 {
		a.log("", "").Info("stopping: agent runs in progress get the grace period", "runs", n, "grace", grace, "draining", a.draining())
	}
	if wait(time.Now().Add(grace)) {
		a.waitForReplies(ctx, replyWait)
		return
	}
	a.log("", "").Warn("stopping: grace period over; cutting the remaining runs short", "runs", a.Running(), "draining", a.draining())
	a.stopMu.Lock()
	close(a.shutdown)
	a.stopMu.Unlock()
	// A cut run kills its container (at most a few seconds) and answers.
	wait(time.Now().Add(time.Minute))
	a.waitForReplies(ctx, replyWait)
}

// replyWait bounds how long a stopping worker waits for the replies of
// runs that ended here: a reply normally follows its run within a
// second or two; one that fails to go out is retried from here after a
// restart.
const replyWait = 30 * time.Second

// replyForget is how long a run's reply is waited for at most: a
// conversation whose reply never came here (it was stopped, or the
// reply went from elsewhere) is not waited for at a later stop.
const replyForget = 10 * time.Minute

// awaitReply notes that conv's run ended here and its reply is due.
func (a *Activities) awaitReply(conv string) {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	if a.unreplied == nil {
		a.unreplied = map[string]time.Time{}
	}
	now := time.Now()
	for c, at := range a.unreplied {
		if now.Sub(at) > replyForget {
			delete(a.unreplied, c)
		}
	}
	a.unreplied[conv] = now
}

// replied notes that conv's reply went out.
func (a *Activities) replied(conv string) {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	delete(a.unreplied, conv)
}

// unrepliedRuns counts the runs that ended here within replyForget and
// whose reply has not gone out.
func (a *Activities) unrepliedRuns() int {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	n := 0
	for _, at := range a.unreplied {
		if time.Since(at) <= replyForget {
			n++
		}
	}
	return n
}

// waitForReplies waits up to limit for the replies of runs that ended
// here.
func (a *Activities) waitForReplies(ctx context.Context, limit time.Duration) {
	n := a.unrepliedRuns()
	if n == 0 {
		return
	}
	a.log("", "").Info("stopping: waiting for the replies of finished runs", "replies", n, "up_to", limit)
	until := time.Now().Add(limit)
	for a.unrepliedRuns() > 0 && time.Now().Before(until) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	if n := a.unrepliedRuns(); n > 0 {
		a.log("", "").Warn("stopping: replies still due go out after the restart", "replies", n)
	}
}

// untilShutdown is ctx, also ended (with errShuttingDown) when the grace
// period is over.
func (a *Activities) untilShutdown(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	ch := a.shutdownCh()
	go func() {
		select {
		case <-ch:
			cancel(errShuttingDown)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// declineWhileStopping is the answer to work that arrives while the host
// stops: a draining host hands it to another host at once; a restarting
// one asks Temporal to try again (here, once the worker is back).
func (a *Activities) declineWhileStopping() error {
	if a.draining() {
		return workflows.Fail(workflows.ErrHostDraining, "the machine for this task is being taken out of service; the task moves to another one", nil)
	}
	return temporal.NewApplicationError("host "+a.HostID+" is restarting", "HostRestarting")
}
