// Package metrics is what an Airut process tells Prometheus: the Temporal
// SDK's own metrics (through the SDK's tally adapter) and Airut's
// (tasks by outcome and repo, task duration, agent cost, busy agent
// slots, sandbox requests allowed and refused, messages accepted and
// rejected by the channels), served as /metrics on a port the operator
// opts into (loopback by default).
//
// Metrics are counted where the effect happens, in activities and
// listeners, never in workflow code: a workflow replays, and would count
// again. A nil *Metrics counts nothing, so code that records metrics
// needs no check. The package keeps no state outside a Metrics value.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Metrics holds one process's metrics in its own registry.
type Metrics struct {
	reg *prometheus.Registry

	tasksStarted   *prometheus.CounterVec
	tasksFinished  *prometheus.CounterVec
	taskDuration   *prometheus.HistogramVec
	agentCost      *prometheus.CounterVec
	busySlots      *prometheus.GaugeVec
	slots          *prometheus.GaugeVec
	proxyRequests  *prometheus.CounterVec
	ingestMessages *prometheus.CounterVec
	queueBacklog   *prometheus.GaugeVec

	temporal client.MetricsHandler
	closer   func() error
}

// New makes a process's metrics: Airut's, the Go runtime's and the
// process's, and a handler for the Temporal SDK's.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg,
		tasksStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "airut_tasks_started_total",
			Help: "Agent tasks started, by repo."}, []string{"repo"}),
		tasksFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "airut_tasks_finished_total",
			Help: "Agent tasks finished, by repo and outcome (success, error, timeout, cancelled, ...)."}, []string{"repo", "outcome"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "airut_task_duration_seconds",
			Help:    "How long agent tasks ran, by repo and outcome.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}, []string{"repo", "outcome"}),
		agentCost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "airut_agent_cost_usd_total",
			Help: "What the agent reported its runs cost, in US dollars, by repo (0 on a subscription)."}, []string{"repo"}),
		busySlots: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "airut_agent_slots_busy",
			Help: "Agent runs in progress on this host."}, []string{"host"}),
		slots: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "airut_agent_slots",
			Help: "Agent runs this host takes at once (execution.max_concurrent)."}, []string{"host"}),
		proxyRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "airut_sandbox_requests_total",
			Help: "Requests from agent containers through the network sandbox, by repo and decision (allowed, refused)."}, []string{"repo", "decision"}),
		ingestMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "airut_ingest_messages_total",
			Help: "Messages the channels received, by channel, result (accepted, rejected) and reason."}, []string{"channel", "result", "reason"}),
		queueBacklog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "airut_queue_backlog",
			Help: "Tasks waiting in a task queue (Temporal's approximate backlog), by queue and kind (workflow, activity)."}, []string{"queue", "kind"}),
	}
	reg.MustRegister(m.tasksStarted, m.tasksFinished, m.taskDuration, m.agentCost, m.busySlots, m.slots,
		m.proxyRequests, m.ingestMessages, m.queueBacklog,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The SDK reports through tally; tally's Prometheus reporter puts
	// them in the same registry, named as the SDK documents them
	// (temporal_request, temporal_activity_execution_latency, ...).
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	m.temporal = sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
	m.closer = closer.Close
	return m
}

// Temporal is the handler for the SDK client's MetricsHandler option; nil
// for a nil Metrics (the SDK then records nothing).
func (m *Metrics) Temporal() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return m.temporal
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// TaskStarted counts an agent run starting on host for repo.
func (m *Metrics) TaskStarted(repo, host string) {
	if m == nil {
		return
	}
	m.tasksStarted.WithLabelValues(repo).Inc()
	m.busySlots.WithLabelValues(host).Inc()
}

// TaskFinished counts the end of a run TaskStarted counted: its outcome,
// how long it took and what it cost.
func (m *Metrics) TaskFinished(repo, host, outcome string, took time.Duration, costUSD float64) {
	if m == nil {
		return
	}
	m.busySlots.WithLabelValues(host).Dec()
	m.tasksFinished.WithLabelValues(repo, outcome).Inc()
	m.taskDuration.WithLabelValues(repo, outcome).Observe(took.Seconds())
	if costUSD > 0 {
		m.agentCost.WithLabelValues(repo).Add(costUSD)
	}
}

// Slots records how many agent runs host takes at once.
func (m *Metrics) Slots(host string, n int) {
	if m == nil {
		return
	}
	m.slots.WithLabelValues(host).Set(float64(n))
	m.busySlots.WithLabelValues(host).Add(0) // shown as 0 before the first run
}

// SandboxRequests counts a run's requests through the network sandbox.
func (m *Metrics) SandboxRequests(repo string, allowed, refused int) {
	if m == nil {
		return
	}
	m.proxyRequests.WithLabelValues(repo, "allowed").Add(float64(allowed))
	m.proxyRequests.WithLabelValues(repo, "refused").Add(float64(refused))
}

// Message counts a message a channel received: accepted (reason ""), or
// rejected for reason (a short, fixed phrase: "unauthorized sender",
// "dmarc", not free text, which would make a series per message).
func (m *Metrics) Message(channel string, accepted bool, reason string) {
	if m == nil {
		return
	}
	result := "accepted"
	if !accepted {
		result = "rejected"
	}
	m.ingestMessages.WithLabelValues(channel, result, reason).Inc()
}

// QueueBacklog records how many tasks of kind wait in queue.
func (m *Metrics) QueueBacklog(queue, kind string, n int64) {
	if m == nil {
		return
	}
	m.queueBacklog.WithLabelValues(queue, kind).Set(float64(n))
}

// Serve serves /metrics on addr until ctx ends; it returns the address
// listened on (addr may have port 0).
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		m.closer()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	return ln.Addr(), nil
}
