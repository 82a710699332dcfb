// Package workers wires Airut's workflow and activities onto Temporal
// workers, dials the Temporal service (embedded or remote), and hosts the
// embedded server in its embedded subpackage.
//
// A host runs three workers: the shared queue (workflow tasks and the
// first activity of new conversations, which claims them for this host),
// the host queue (workspace, reply and cleanup activities that must run
// where the conversation's files are), and the host's run queue (agent
// containers, limited to execution.max_concurrent at once).
package workers

import (
	"context"
	"errors"
	"fmt"
	"github.com/airut-go/airut/internal/metrics"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/airut-go/airut/activities"
	"github.com/airut-go/airut/ingest/schedule"
	"github.com/airut-go/airut/internal/config"
	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// Options configure Start.
type Options struct {
	Client client.Client
	Config func() *config.Config
	// Sandbox runs the agents (NewSandbox makes it from the config).
	Sandbox *sandbox.Sandbox
	Log     *slog.Logger
	// Metrics counts the host's tasks; nil counts nothing.
	Metrics *metrics.Metrics
}

// draining reports whether the host's drain file is there (airut drain).
func draining(cfg *config.Config, hostID string) func() bool {
	path := cfg.DrainFile(hostID)
	return func() bool {
		_, err := os.Stat(path)
		return err == nil
	}
}

// NewSandbox is the host's sandbox as the configuration describes it. A
// podman API service already listening is used as it is; else one is
// started that ends with this process, however it ends. Its settings
// (podman socket, network section) are read once: changing them needs a
// restart.
func NewSandbox(ctx context.Context, cfg *config.Config, log *slog.Logger) (*sandbox.Sandbox, error) {
	hostID := cfg.Worker.HostID
	return sandbox.New(ctx, sandbox.Options{
		PodmanURI:          cfg.PodmanSocket,
		StartPodmanService: true,
		StateDir:           cfg.SandboxDir(hostID),
		CADir:              cfg.CADir(),
		ProxyBinary:        cfg.Network.ProxyBinary,
		EgressNetwork:      cfg.Network.EgressNetwork,
		UpstreamDNS:        cfg.Network.UpstreamDNS,
		UpstreamCAFile:     cfg.Network.UpstreamCAFile,
		// Everything a task starts carries the host's label, by which a
		// restarted worker removes what its predecessor left.
		Labels:      map[string]string{parts.LabelHost: hostID},
		KeepNetwork: time.Duration(cfg.Network.KeepWarmSeconds) * time.Second,
		Log:         log,
	})
}

// Host is the set of running workers of this host.
type Host struct {
	workers []worker.Worker
	stopGC  context.CancelFunc
	// stopBacklog ends the backlog gauges' updates.
	stopBacklog context.CancelFunc
	acts        *activities.Activities
	grace       time.Duration
}

// Start removes the containers, sandbox networks and sandbox files (which
// hold real secret values) a previous, dead worker of this host left
// behind, hands the agent runs it was in the middle of back to Temporal
// for an immediate retry (they resume), then starts polling the shared,
// host and run queues.
func Start(ctx context.Context, opts Options) (*Host, error) {
	cfg := opts.Config()
	hostID := cfg.Worker.HostID
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	// A namespace without Airut's search attributes would refuse every
	// conversation's start; better said now, once, than per message.
	switch missing, err := MissingSearchAttributes(ctx, opts.Client, cfg.Temporal.Namespace); {
	case err != nil:
		log.Warn("search attributes not checked", "error", err)
	case len(missing) > 0:
		return nil, fmt.Errorf("namespace %s lacks the search attributes %s, so no conversation could start; %s",
			cfg.Temporal.Namespace, strings.Join(missing, ", "), SearchAttributesFix(cfg.Temporal.Namespace, missing))
	}
	// A worker killed while Podman was still creating or starting a
	// container leaves one Podman cannot remove for a moment; that is
	// retried, then only warned about: a host that refused to start over
	// it would restart in a loop, and a run that meets the container
	// fails and is retried like any other.
	var err error
	for attempt := 1; ; attempt++ {
		var removed, nets []string
		removed, nets, err = opts.Sandbox.RemoveLabelled(ctx, parts.LabelHost, hostID)
		for _, name := range removed {
			log.Info("removed orphaned container of a previous run", "container", name)
		}
		for _, name := range nets {
			log.Info("removed orphaned sandbox network of a previous run", "network", name)
		}
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	if err != nil {
		log.Warn("could not remove what a previous worker left; starting anyway", "error", err)
	}
	if err := os.RemoveAll(cfg.SandboxDir(hostID)); err != nil {
		return nil, fmt.Errorf("remove orphaned sandbox files: %w", err)
	}
	// Agent runs the dead predecessor was in the middle of are handed back
	// now, so they resume within seconds rather than after their
	// heartbeat timeout.
	if _, err := activities.FailOrphanedRuns(ctx, opts.Client, cfg.Temporal.Namespace, cfg.RunningDir(hostID), log); err != nil {
		log.Warn("interrupted agent runs not handed back; they resume after their heartbeat timeout", "error", err)
	}
	// A drain file left by an earlier drain of this host is over: the
	// host is back.
	if err := os.Remove(cfg.DrainFile(hostID)); err == nil {
		log.Info("host was drained before; taking tasks again", "host", hostID)
	}
	acts := &activities.Activities{Config: opts.Config, Sandbox: opts.Sandbox, HostID: hostID, Log: log, Metrics: opts.Metrics,
		Draining: draining(cfg, hostID)}
	opts.Metrics.Slots(hostID, cfg.Execution.MaxConcurrent)
	hostQueue := workflows.HostQueue(hostID)

	// Work a worker has taken when it stops (a reply, a workspace being
	// prepared) is finished, not dropped: dropped, it would wait for its
	// timeout before another worker retried it.
	const finishOnStop = 30 * time.Second
	shared := worker.New(opts.Client, workflows.SharedQueue, worker.Options{WorkerStopTimeout: finishOnStop})
	shared.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	register(shared, acts.ClaimHost, workflows.ActivityClaimHost)
	// PrepareWorkspace on the shared queue places the conversations of
	// workflows started by the previous release.
	register(shared, acts.PrepareWorkspace, workflows.ActivityPrepareWorkspace)
	register(shared, acts.DeliverReply, workflows.ActivityDeliverReply)
	register(shared, acts.PollPullRequest, workflows.ActivityPollPullRequest)
	// Scheduled tasks: the firing runs on any host, its trigger command
	// in this host's sandbox.
	shared.RegisterWorkflowWithOptions(workflows.FiringWorkflow, workflow.RegisterOptions{Name: workflows.FiringWorkflowName})
	register(shared, acts.RunTrigger, workflows.ActivityRunTrigger)
	register(shared, acts.SendScheduleNotice, workflows.ActivityScheduleNotice)
	sched := &schedule.Activities{Config: opts.Config, Temporal: opts.Client, Log: log}
	register(shared, sched.OpenThread, workflows.ActivityOpenThread)
	register(shared, sched.StartConversation, workflows.ActivityStartScheduled)
	register(shared, sched.Streak, workflows.ActivityFiringStreak)

	// A stop during workspace preparation reaches the host the same way
	// (see the run worker below).
	host := worker.New(opts.Client, hostQueue, worker.Options{
		WorkerStopTimeout:                finishOnStop,
		MaxHeartbeatThrottleInterval:     time.Second,
		DefaultHeartbeatThrottleInterval: time.Second,
	})
	register(host, acts.PrepareWorkspace, workflows.ActivityPrepareWorkspace)
	register(host, acts.DeliverReply, workflows.ActivityDeliverReply)
	register(host, acts.CleanupWorkspace, workflows.ActivityCleanup)
	register(host, acts.FindPullRequest, workflows.ActivityFindPullRequest)
	register(host, acts.ReadConversationFile, workflows.ActivityReadFile)

	run := worker.New(opts.Client, workflows.RunQueue(hostQueue), worker.Options{
		MaxConcurrentActivityExecutionSize: cfg.Execution.MaxConcurrent,
		// Host.Stop gives running agents their grace period and cuts
		// the rest short before the workers stop; this is only the time
		// for a cut run to kill its container and answer.
		WorkerStopTimeout: finishOnStop,
		// A stop reaches a running agent only in the answer to a
		// heartbeat. The SDK sends one at most every 80% of the heartbeat
		// timeout (24 s for 30 s), which left stopped containers running
		// that long; the runs heartbeat every second (activities'
		// heartbeatEvery) and are sent at that pace, so a stop arrives
		// within about a second, whatever the heartbeat timeout.
		MaxHeartbeatThrottleInterval:     time.Second,
		DefaultHeartbeatThrottleInterval: time.Second,
	})
	register(run, acts.RunAgent, workflows.ActivityRunAgent)

	h := &Host{acts: acts, grace: time.Duration(cfg.Execution.ShutdownTimeout) * time.Second}
	for _, w := range []worker.Worker{shared, host, run} {
		if err := w.Start(); err != nil {
			h.Stop()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		h.workers = append(h.workers, w)
	}
	if opts.Metrics != nil {
		bctx, cancel := context.WithCancel(context.Background())
		h.stopBacklog = cancel
		go watchBacklog(bctx, opts.Client, cfg.Temporal.Namespace, []string{workflows.SharedQueue, hostQueue, workflows.RunQueue(hostQueue)}, opts.Metrics, log)
	}
	if cfg.Execution.ImagePrune {
		gcCtx, cancel := context.WithCancel(context.Background())
		h.stopGC = cancel
		go pruneImages(gcCtx, acts, log)
	}
	log.Info("worker ready", "host", hostID, "queues", fmt.Sprintf("%s, %s, %s", workflows.SharedQueue, hostQueue, workflows.RunQueue(hostQueue)),
		"max_concurrent", cfg.Execution.MaxConcurrent)
	return h, nil
}

// backlogEvery is how often the queues' backlogs are read for /metrics.
const backlogEvery = 15 * time.Second

// watchBacklog keeps the backlog gauges of the shared queue and this
// host's queues current: how much work waits for a worker (Temporal's
// approximate count; the server computes it, so asking costs little).
func watchBacklog(ctx context.Context, c client.Client, namespace string, queues []string, m *metrics.Metrics, log *slog.Logger) {
	kinds := map[string]enums.TaskQueueType{"workflow": enums.TASK_QUEUE_TYPE_WORKFLOW, "activity": enums.TASK_QUEUE_TYPE_ACTIVITY}
	for {
		for _, q := range queues {
			for kind, tqt := range kinds {
				resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
					Namespace: namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: q}, TaskQueueType: tqt, ReportStats: true,
				})
				if err != nil {
					if ctx.Err() == nil {
						log.Debug("task queue backlog not read", "queue", q, "error", err)
					}
					continue
				}
				m.QueueBacklog(q, kind, resp.GetStats().GetApproximateBacklogCount())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backlogEvery):
		}
	}
}

// pruneImages removes stale images now and once a day, as the
// reference's housekeeping job does (execution.image_prune).
func pruneImages(ctx context.Context, acts *activities.Activities, log *slog.Logger) {
	for {
		removed, err := acts.PruneImages(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("image prune", "error", err)
		}
		if len(removed) > 0 {
			log.Info("removed stale images", "images", removed)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}

func register(w worker.Worker, fn any, name string) {
	w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
}

// Stop takes the host out of service: no new conversation comes here,
// agent runs in progress get execution.shutdown_timeout to finish (their
// replies still go out from here), the rest are cut short and answer
// (handed back), then the workers stop.
func (h *Host) Stop() {
	if h.stopGC != nil {
		h.stopGC()
	}
	if h.stopBacklog != nil {
		h.stopBacklog()
	}
	if h.acts != nil {
		h.acts.Shutdown(context.Background(), h.grace)
	}
	// The shared queue's worker first: it takes what could go to any
	// host (new conversations, replies), so it should take no more.
	for _, w := range h.workers {
		w.Stop()
	}
	h.workers = nil
}

// ErrUnreachable means the Temporal service did not answer.
var ErrUnreachable = errors.New("temporal service unreachable")
