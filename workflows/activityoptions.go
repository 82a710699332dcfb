package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The activity table: where each activity runs, how long it may take and
// how it is retried, in one place. Activities only say what went wrong
// (an error type from errors.go); whether that is worth another attempt is
// decided here, by type:
//
//	activity              queue        time limit          retries
//	ClaimHost             shared       24 h to be claimed  until a host has a free slot (ErrHostBusy)
//	PrepareWorkspace      host         15 min              3 attempts
//	PrepareWorkspace*     shared       24 h                until a host has a free slot (*runs before versionClaimHost)
//	RunAgent              host's run   task timeout+5 min  3 attempts; a stop cancels it
//	                                                       (all 3 lost to dead workers: runs again, resuming; up to 10 times)
//	DeliverReply          host/shared  2 min               10 attempts over ~15 min (ack: 3)
//	CleanupWorkspace      host         5 min               3 attempts
//	FindPullRequest       host         2 min               3 attempts
//	PollPullRequest       shared       2 min               3 attempts
//
// A stop cancels whichever of ClaimHost, PrepareWorkspace and RunAgent
// the task is in (versionStopTask). Only RunAgent is waited for
// (WaitForCancellation): it answers with the session it ran in.
//
// Host-bound activities give up waiting for their host after the
// configured host timeout (ScheduleToStart), which is how a dead host is
// noticed. Every activity heartbeats, so a worker killed mid-activity is
// noticed within the heartbeat timeout.

// neverRetried are the error types no further attempt can fix.
func neverRetried() []string { return []string{ErrConfig, ErrWorkspace, ErrDelivery} }

// untilAHostIsFree retries a placement for as long as it takes a host to
// have room, as a message waits for a free worker in the reference's pool.
func untilAHostIsFree() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     1.5,
		MaximumInterval:        10 * time.Second,
		NonRetryableErrorTypes: neverRetried(),
	}
}

// attempts is a policy of n attempts, the first retry after a second or two.
func attempts(n int32, initial time.Duration) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: initial, MaximumAttempts: n, NonRetryableErrorTypes: neverRetried()}
}

func (c *conversation) claimOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              SharedQueue,
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy:            untilAHostIsFree(),
	}
}

// prepareOptions runs PrepareWorkspace on host.
func (c *conversation) prepareOptions(host string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              host,
		ScheduleToStartTimeout: c.hostTimeout(),
		StartToCloseTimeout:    15 * time.Minute,
		HeartbeatTimeout:       c.heartbeatTimeout(),
		RetryPolicy:            attempts(3, 2*time.Second),
	}
}

// legacyPrepareOptions placed a conversation by running PrepareWorkspace on
// the shared queue, retried while hosts declined; runs recorded before
// versionClaimHost replay with it.
func (c *conversation) legacyPrepareOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              SharedQueue,
		ScheduleToCloseTimeout: 24 * time.Hour,
		StartToCloseTimeout:    15 * time.Minute,
		HeartbeatTimeout:       c.heartbeatTimeout(),
		RetryPolicy:            untilAHostIsFree(),
	}
}

// agentOptions: the run may take the repo's task timeout, plus time for
// the image and the sandbox; WaitForCancellation lets a stopped run report
// back after its container is gone.
//
// With moving (versionMoveRuns), a run whose host does not pick it up
// within the host timeout, or whose host drains, gives up on the host:
// the conversation moves (see running).
func (c *conversation) agentOptions(timeoutSeconds int, moving bool) workflow.ActivityOptions {
	o := workflow.ActivityOptions{
		TaskQueue:           RunQueue(c.st.HostQueue),
		StartToCloseTimeout: time.Duration(timeoutSeconds)*time.Second + 5*time.Minute,
		HeartbeatTimeout:    c.heartbeatTimeout(),
		WaitForCancellation: true,
		RetryPolicy:         attempts(3, time.Second),
	}
	if moving {
		o.ScheduleToStartTimeout = c.hostTimeout()
		o.RetryPolicy.NonRetryableErrorTypes = append(o.RetryPolicy.NonRetryableErrorTypes, ErrHostDraining)
	}
	return o
}

// replyOptions: replies go from the host (where the outbox is), or from
// any worker before the conversation has one. An acknowledgement is not
// worth a long wait; a reply is.
func (c *conversation) replyOptions(kind ReplyKind) workflow.ActivityOptions {
	queue := c.st.HostQueue
	if queue == "" {
		queue = SharedQueue
	}
	n := int32(10)
	if kind.Interim() {
		n = 3
	}
	return workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    c.heartbeatTimeout(),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			MaximumAttempts:        n,
			NonRetryableErrorTypes: neverRetried(),
		},
	}
}

// hostOptions are those of the short activities bound to the
// conversation's host (cleanup, PR lookup).
func (c *conversation) hostOptions(limit time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              c.st.HostQueue,
		ScheduleToStartTimeout: c.hostTimeout(),
		StartToCloseTimeout:    limit,
		HeartbeatTimeout:       c.heartbeatTimeout(),
		RetryPolicy:            attempts(3, time.Second),
	}
}

// pollOptions: a PR poll needs no workspace, so any worker does it.
func (c *conversation) pollOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           SharedQueue,
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    c.heartbeatTimeout(),
		RetryPolicy:         attempts(3, time.Second),
	}
}

// heartbeatTimeout is the configured heartbeat timeout as last reported
// by the host (30 s before the first task).
func (c *conversation) heartbeatTimeout() time.Duration {
	if c.st.HeartbeatTimeout > 0 {
		return c.st.HeartbeatTimeout
	}
	return 30 * time.Second
}

// hostTimeout is how long a host-bound activity waits for its host before
// the host is presumed gone.
func (c *conversation) hostTimeout() time.Duration {
	if c.st.HostTimeout > 0 {
		return c.st.HostTimeout
	}
	return 10 * time.Minute
}
