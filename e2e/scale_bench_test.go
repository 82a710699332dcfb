package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

// These benchmarks run one whole scenario each, whatever b.N is: run
// them with -benchtime 1x.

// BenchmarkScaleOutWorkers measures tasks per minute with one and then two
// `airut worker` processes ("hosts" alpha and beta, each with its own
// state directory and max_concurrent 2) on one `airut server`. Each task
// is the first of a fresh conversation (placement, clone, container,
// reply) whose stand-in agent waits scaleSleep, as an agent waiting on a
// model would, so the figure is how many agent slots the engine keeps
// busy, not how fast the CPU runs the agent (goal: 2 workers ≥ 1.8× one).
// Both workers share this 2-core machine: the ratio measures the engine's
// scale-out of slots, not more hardware. The conversations of a phase
// arrive together, so a host's slots are filled by their placement
// retries (ClaimHost, backing off to 10 s), which run in step: the
// share of slot time an agent ran is reported beside the rates.
func BenchmarkScaleOutWorkers(b *testing.B) {
	const (
		slots      = 2
		tasks      = 24
		scaleSleep = 5 * time.Second
	)
	api := anthropictest.NewServer(b)
	repo := upstream(b)
	addr := startServer(b, api, siteOptions{repoURL: repo})
	opts := func(host string) siteOptions {
		return siteOptions{repoURL: repo, hostID: host, temporalRemote: addr, maxConcurrent: slots, claudeBinary: fakeClaude}
	}
	alpha, beta := newSite(b, api, opts("alpha")), newSite(b, api, opts("beta"))
	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		b.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	ctx := context.Background()

	// startAll delivers one message to each of n fresh conversations, all
	// at once, and returns them with the time the first delivery began.
	startAll := func(n int, body string) ([]string, time.Time) {
		convs := make([]string, n)
		for i := range convs {
			convs[i], _ = ingest.NewConversationID()
		}
		t0 := time.Now()
		errs := make(chan error, n)
		for _, conv := range convs {
			go func() {
				m := workflows.Message{ID: "scale-" + conv, Channel: workflows.ChannelLocal, Sender: "bench", Subject: "scale " + conv, Body: body}
				_, err := ingest.Deliver(ctx, c, ingest.Target{RepoID: alpha.repoID, ConversationID: conv}, m)
				errs <- err
			}()
		}
		for range convs {
			if err := <-errs; err != nil {
				b.Fatalf("deliver: %v", err)
			}
		}
		return convs, t0
	}
	// finish waits until every conversation has its reply on one of the
	// sites, and returns when the last was sent, how many each site ran
	// and the agents' total run time (for how busy the slots were).
	finish := func(what string, convs []string, sites ...*site) (last time.Time, ran map[string]int, agents time.Duration) {
		ran = map[string]int{}
		left := slices.Clone(convs)
		deadline := time.Now().Add(15 * time.Minute)
		for len(left) > 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %d of %d conversations without a reply after 15 min (e.g. %s)", what, len(left), len(convs), left[0])
			}
			time.Sleep(200 * time.Millisecond)
			left = slices.DeleteFunc(left, func(conv string) bool {
				for _, s := range sites {
					if r := s.replies(conv, "reply"); len(r) > 0 {
						ran[s.hostID]++
						st := lastStamps(b, s.layout(conv).Events())
						agents += st.exited.Sub(st.started)
						if r[0].SentAt.After(last) {
							last = r[0].SentAt
						}
						return true
					}
				}
				return false
			})
		}
		return last, ran, agents
	}
	// warm runs one conversation through s alone: its first task makes
	// the host's git mirror, which later conversations only refresh.
	warm := func(s *site) {
		convs, _ := startAll(1, "Warm up")
		if _, ran, _ := finish("warm-up of "+s.hostID, convs, s); ran[s.hostID] != 1 {
			b.Fatalf("warm-up ran on %v, want %s", ran, s.hostID)
		}
	}
	body := "Scripted task\nSLEEP: " + scaleSleep.String()

	// Beta is warmed first and stopped (SIGTERM: it drains and exits), so
	// that phase 1 has alpha alone and phase 2 starts with both warm.
	betaProc := beta.start("worker")
	warm(beta)
	if err := betaProc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatalf("stop beta: %v", err)
	}
	select {
	case <-betaProc.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("beta did not exit within 2 min of SIGTERM:\n%s", betaProc.logs.String())
	}
	alpha.start("worker")
	warm(alpha)

	b.ResetTimer()
	convs1, t1 := startAll(tasks, body)
	end1, ran1, agents1 := finish("phase 1 (alpha)", convs1, alpha, beta)
	one := end1.Sub(t1)

	beta.start("worker")
	convs2, t2 := startAll(tasks, body)
	end2, ran2, agents2 := finish("phase 2 (alpha+beta)", convs2, alpha, beta)
	two := end2.Sub(t2)
	b.StopTimer()

	perMin := func(d time.Duration) float64 { return tasks / d.Minutes() }
	// busy is the share of the slots' time an agent ran: what the engine
	// left idle between tasks (placement, workspace, container, reply)
	// is the rest.
	busy := func(agents, wall time.Duration, workers int) float64 {
		return 100 * agents.Seconds() / (wall.Seconds() * float64(workers*slots))
	}
	b.ReportMetric(perMin(one), "tasks/min-1-worker")
	b.ReportMetric(perMin(two), "tasks/min-2-workers")
	b.ReportMetric(perMin(two)/perMin(one), "x-2-vs-1")
	b.ReportMetric(busy(agents1, one, 1), "%slots-busy-1-worker")
	b.ReportMetric(busy(agents2, two, 2), "%slots-busy-2-workers")
	b.ReportMetric(float64(ran2["alpha"]), "tasks-alpha-phase2")
	b.ReportMetric(float64(ran2["beta"]), "tasks-beta-phase2")
	b.Logf("%d tasks of %s, %d slots per worker: 1 worker %.1f tasks/min (%s, ran %v, slots %.0f%% busy); 2 workers %.1f tasks/min (%s, ran %v, slots %.0f%% busy); ratio %.2f× (goal ≥ 1.8×; slots always busy would be %.1f tasks/min per worker)",
		tasks, scaleSleep, slots, perMin(one), one.Round(100*time.Millisecond), ran1, busy(agents1, one, 1),
		perMin(two), two.Round(100*time.Millisecond), ran2, busy(agents2, two, 2),
		perMin(two)/perMin(one), slots*60/scaleSleep.Seconds())
}

// BenchmarkIdleConversationsMemory measures the memory of `airut run`
// (embedded Temporal server and the workers in one process) holding
// 10,000 idle conversations (goal: under 500 MB RSS). One real
// conversation runs a task first and continues as new; its next run's
// input is a realistic idle state, which 10,000 more conversations are
// started with, as continue-as-new would start them. Once the worker has
// handled every one's first workflow task (it then holds them, waiting on
// their idle timers), RSS is read after 15 s and 150 s idle, next to the
// same reading with no conversation and with the one.
func BenchmarkIdleConversationsMemory(b *testing.B) {
	const (
		idle     = 10000
		parallel = 16
		settle   = 15 * time.Second
		// longSettle is past the Go runtime's forced GC (every 2 min).
		longSettle = 150 * time.Second
	)
	api := anthropictest.NewServer(b)
	s := newSite(b, api, siteOptions{repoURL: upstream(b), claudeBinary: fakeClaude})
	p := s.start("run")
	pid := p.cmd.Process.Pid
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		b.Fatalf("dial %s: %v", s.temporal, err)
	}
	defer c.Close()
	ctx := context.Background()

	// read takes the process's memory once it has been idle for settle
	// (the Go runtime returns freed heap to the OS gradually), with the
	// figures that tell what holds it.
	type reading struct {
		rss, hwm float64 // MB
		extra    string
	}
	read := func(what string, settle time.Duration) reading {
		time.Sleep(settle)
		rss, hwm, err := procMemory(pid)
		if err != nil {
			b.Fatalf("memory of airut run (pid %d): %v", pid, err)
		}
		m := s.metrics("go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "temporal_sticky_cache_size")
		var extra []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			k, _, _ = strings.Cut(k, "{") // the SDK's labels say nothing here
			if strings.HasSuffix(k, "_bytes") {
				extra = append(extra, fmt.Sprintf("%s=%.0fMB", k, v/1e6))
			} else {
				extra = append(extra, fmt.Sprintf("%s=%.0f", k, v))
			}
		}
		r := reading{rss, hwm, strings.Join(extra, " ")}
		b.Logf("%s: VmRSS %.0f MB, VmHWM %.0f MB; %s", what, r.rss, r.hwm, r.extra)
		return r
	}
	zero := read("0 conversations", settle)

	// One real conversation, one task; MaxTasksPerRun 1 makes it continue
	// as new at once, and the new run's input is the state to copy.
	conv, _ := ingest.NewConversationID()
	m := workflows.Message{ID: "idle-" + conv, Channel: workflows.ChannelLocal, Sender: "bench", Subject: "An idle conversation", Body: "go"}
	if _, err := ingest.Deliver(ctx, c, ingest.Target{RepoID: s.repoID, ConversationID: conv, Options: workflows.Options{MaxTasksPerRun: 1}}, m); err != nil {
		b.Fatalf("deliver: %v", err)
	}
	eventually(b, 3*time.Minute, "the first conversation's reply", func() bool { return len(s.replies(conv, "reply")) > 0 })
	var start workflows.Start
	eventually(b, time.Minute, "the first conversation to continue as new", func() bool {
		st, err := runInput(ctx, c, workflows.WorkflowID(s.repoID, conv))
		if err != nil {
			b.Fatalf("read the continued run's input: %v", err)
		}
		start = st
		return st.State != nil
	})
	stateJSON, _ := json.Marshal(start.State)
	b.Logf("idle state copied from %s: %d bytes as JSON, %d task(s), host %s", conv, len(stateJSON), len(start.State.Tasks), start.State.HostQueue)
	one := read("1 conversation", settle)

	// Progress goes to stderr as it happens: a benchmark's log is shown
	// only at its end, cut to 10 lines, which the readings need.
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "    BenchmarkIdleConversationsMemory: "+format+"\n", args...)
	}
	b.ResetTimer()
	// IDs are drawn up front, distinct: a start on a taken ID would
	// return the existing run and leave one conversation short.
	convs := map[string]bool{conv: true}
	ids := make([]string, 0, idle)
	for len(ids) < idle {
		id, err := ingest.NewConversationID()
		if err != nil {
			b.Fatalf("conversation ID: %v", err)
		}
		if !convs[id] {
			convs[id] = true
			ids = append(ids, id)
		}
	}
	var (
		next    atomic.Int64
		started atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, parallel)
	)
	t0 := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= idle {
					return
				}
				id := ids[i]
				in := workflows.Start{RepoID: s.repoID, ConversationID: id, Channel: start.Channel, State: start.State}
				opts := ingest.StartOptions(ingest.Target{RepoID: s.repoID, ConversationID: id}, m)
				// A continued run carries its predecessor's search
				// attributes (idle by then) and no start summary.
				opts.TypedSearchAttributes = temporal.NewSearchAttributes(
					workflows.AttrRepo.ValueSet(s.repoID),
					workflows.AttrChannel.ValueSet(string(m.Channel)),
					workflows.AttrSender.ValueSet(m.Sender),
					workflows.AttrStatus.ValueSet(workflows.StateIdle),
				)
				opts.StaticSummary = ""
				if _, err := c.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in); err != nil {
					errs <- fmt.Errorf("start conversation %d (%s): %w", i, id, err)
					return
				}
				if n := started.Add(1); n%1000 == 0 {
					progress("%d conversations started (%s)", n, time.Since(t0).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("%v", err)
	}
	startedIn := time.Since(t0)

	// Every run's first workflow task must have been handled by the
	// worker (it then sits in the worker's cache, waiting on its idle
	// timer), or the reading would miss what idle conversations cost. A
	// run whose history has a completed workflow task and none pending is
	// one; each is checked, not a sample, until none is left.
	left := ids
	deadline := time.Now().Add(20 * time.Minute)
	for len(left) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d conversations had no completed workflow task after 20 min (e.g. %s)", len(left), idle, left[0])
		}
		var mu sync.Mutex
		var pending []string
		var firstErr error
		work := make(chan string)
		var wg sync.WaitGroup
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range work {
					done, err := firstTaskDone(ctx, c, workflows.WorkflowID(s.repoID, id))
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if !done {
						pending = append(pending, id)
					}
					mu.Unlock()
				}
			}()
		}
		for _, id := range left {
			work <- id
		}
		close(work)
		wg.Wait()
		if firstErr != nil {
			b.Fatalf("describe conversation: %v", firstErr)
		}
		progress("%d of %d conversations idle on the worker (%s)", idle-len(pending), idle, time.Since(t0).Round(time.Second))
		left = pending
		if len(left) > 0 {
			time.Sleep(5 * time.Second)
		}
	}
	idleIn := time.Since(t0)
	b.StopTimer()
	b.Logf("%d conversations started in %s (%.0f/s), all idle on the worker after %s", idle, startedIn.Round(time.Second), idle/startedIn.Seconds(), idleIn.Round(time.Second))
	full := read(fmt.Sprintf("%d idle conversations", idle+1), settle)
	// Past the Go runtime's forced GC (every 2 min) and some scavenging:
	// what the process keeps while the conversations stay idle.
	later := read(fmt.Sprintf("%d idle conversations, %s later", idle+1, longSettle), longSettle-settle)

	b.ReportMetric(zero.rss, "MB-rss-idle-0")
	b.ReportMetric(one.rss, "MB-rss-1-idle")
	b.ReportMetric(full.rss, "MB-rss-10000-idle")
	b.ReportMetric(later.rss, "MB-rss-10000-idle-150s")
	b.ReportMetric(later.hwm, "MB-hwm")
	b.ReportMetric((full.rss-one.rss)*1000/idle, "KB-rss/conversation")
	b.Logf("airut run RSS: 0 conversations %.0f MB, 1 conversation %.0f MB, %d idle conversations %.0f MB (%.0f MB %s later; %.1f× the empty process, %.1f KB each; peak %.0f MB); goal < 500 MB",
		zero.rss, one.rss, idle+1, full.rss, later.rss, longSettle, full.rss/zero.rss, (full.rss-one.rss)*1000/idle, later.hwm)
}

// procMemory is a process's resident set and its peak, in MB.
func procMemory(pid int) (rss, hwm float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", k, line)
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc status")
	}
	return rss, hwm, nil
}

// runInput is the input of the workflow's current run.
func runInput(ctx context.Context, c client.Client, workflowID string) (workflows.Start, error) {
	var in workflows.Start
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return in, errors.New("empty history")
	}
	ev, err := it.Next()
	if err != nil {
		return in, err
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return in, fmt.Errorf("first event is %s", ev.GetEventType())
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in); err != nil {
		return in, fmt.Errorf("decode input: %w", err)
	}
	return in, nil
}

// firstTaskDone reports whether the workflow's current run has had a
// workflow task completed and has none pending.
func firstTaskDone(ctx context.Context, c client.Client, workflowID string) (bool, error) {
	resp, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return false, fmt.Errorf("%s: %w", workflowID, err)
	}
	// Started, task scheduled, started, completed: four events at least.
	return resp.GetPendingWorkflowTask() == nil && resp.GetWorkflowExecutionInfo().GetHistoryLength() >= 4, nil
}

// BenchmarkSignalToTaskStartLatency measures a message durably accepted
// (ingest.Deliver returned) → its task's agent started (the stand-in
// agent's start stamp, taken inside the container), on `airut run` with
// max_concurrent 32: one sender alone, sending one message after another
// to its conversation, then 32 senders at once, each doing the same on
// its own conversation. Every conversation's first task (clone, ack) is
// run before and left out.
func BenchmarkSignalToTaskStartLatency(b *testing.B) {
	const (
		senders   = 32
		perAlone  = 30
		perLoaded = 10
	)
	api := anthropictest.NewServer(b)
	s := newSite(b, api, siteOptions{repoURL: upstream(b), claudeBinary: fakeClaude, maxConcurrent: senders})
	pid := s.start("run").cmd.Process.Pid
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		b.Fatalf("dial %s: %v", s.temporal, err)
	}
	defer c.Close()
	ctx := context.Background()

	// sender is one conversation, sent one message at a time.
	type sender struct {
		conv   string
		layout conversation.Layout
		sent   int
	}
	// send delivers the sender's next message, waits for its reply and
	// returns the latency from accepted to agent start. It runs in the
	// senders' goroutines, so it returns errors rather than failing.
	send := func(sd *sender) (time.Duration, error) {
		m := workflows.Message{ID: fmt.Sprintf("lat-%s-%d", sd.conv, sd.sent), Channel: workflows.ChannelLocal, Sender: "bench", Subject: "latency " + sd.conv, Body: "go"}
		if _, err := ingest.Deliver(ctx, c, ingest.Target{RepoID: s.repoID, ConversationID: sd.conv}, m); err != nil {
			return 0, err
		}
		accepted := time.Now()
		sd.sent++
		deadline := accepted.Add(5 * time.Minute)
		for {
			replies, err := sd.layout.ReadReplies()
			if err != nil {
				return 0, err
			}
			n := 0
			for _, r := range replies {
				if r.Kind == "reply" {
					n++
				}
			}
			if n >= sd.sent {
				break
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("conversation %s: no reply to message %d within 5 min", sd.conv, sd.sent)
			}
			time.Sleep(20 * time.Millisecond)
		}
		started, err := lastStart(sd.layout.Events())
		if err != nil {
			return 0, fmt.Errorf("conversation %s: %w", sd.conv, err)
		}
		return started.Sub(accepted), nil
	}
	// runAll has each sender send n messages one after another, all
	// senders at once, and returns every latency and the wall time.
	runAll := func(all []*sender, n int) ([]time.Duration, time.Duration) {
		var mu sync.Mutex
		var lats []time.Duration
		var firstErr error
		var wg sync.WaitGroup
		t0 := time.Now()
		for _, sd := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					d, err := send(sd)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					lats = append(lats, d)
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			b.Fatalf("%v", firstErr)
		}
		return lats, time.Since(t0)
	}

	all := make([]*sender, senders+1)
	for i := range all {
		conv, _ := ingest.NewConversationID()
		all[i] = &sender{conv: conv, layout: s.layout(conv)}
	}
	alone, loaded := all[:1], all[1:]
	runAll(all, 1) // warm-up: each conversation's first task

	// The CPU airut run (with its embedded Temporal) spent per task, and
	// how busy the whole machine was, tell whether Airut or the
	// containers (podman, conmon, the runtime) held the tasks back.
	cpu := func() (airut, busy, total float64) {
		airut, err := procCPU(pid)
		if err != nil {
			b.Fatalf("CPU time of airut run: %v", err)
		}
		busy, total, err = machineCPU()
		if err != nil {
			b.Fatalf("machine CPU time: %v", err)
		}
		return airut, busy, total
	}
	b.ResetTimer()
	a0, busy0, total0 := cpu()
	lat1, _ := runAll(alone, perAlone)
	a1, busy1, total1 := cpu()
	lat32, wall := runAll(loaded, perLoaded)
	a2, busy2, total2 := cpu()
	b.StopTimer()

	p := func(lats []time.Duration, q float64) float64 {
		return float64(percentile(lats, q).Microseconds()) / 1000
	}
	b.ReportMetric(p(lat1, 0.50), "ms-p50-1-sender")
	b.ReportMetric(p(lat1, 0.99), "ms-p99-1-sender")
	b.ReportMetric(p(lat32, 0.50), "ms-p50-32-senders")
	b.ReportMetric(p(lat32, 0.99), "ms-p99-32-senders")
	tps := float64(len(lat32)) / wall.Seconds()
	b.ReportMetric(tps, "tasks/s-32-senders")
	cpu1, cpu32 := 1000*(a1-a0)/float64(len(lat1)), 1000*(a2-a1)/float64(len(lat32))
	b.ReportMetric(cpu1, "ms-airut-cpu/task-1-sender")
	b.ReportMetric(cpu32, "ms-airut-cpu/task-32-senders")
	b.Logf("signal → agent start: 1 sender (%d tasks) p50 %.0f ms p99 %.0f ms; 32 senders (%d tasks, %.2f tasks/s) p50 %.0f ms p99 %.0f ms; ratio p50 %.1f× p99 %.1f×",
		len(lat1), p(lat1, 0.50), p(lat1, 0.99), len(lat32), tps, p(lat32, 0.50), p(lat32, 0.99),
		p(lat32, 0.50)/p(lat1, 0.50), p(lat32, 0.99)/p(lat1, 0.99))
	b.Logf("CPU per task in airut run: 1 sender %.0f ms, 32 senders %.0f ms; machine busy (all processes, %d cores): 1 sender %.0f%%, 32 senders %.0f%%",
		cpu1, cpu32, runtime.NumCPU(), 100*(busy1-busy0)/(total1-total0), 100*(busy2-busy1)/(total2-total1))
}

// percentile is the q-quantile of lats (nearest rank).
func percentile(lats []time.Duration, q float64) time.Duration {
	s := slices.Clone(lats)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// lastStart is the last start stamp of the stand-in agent in an events
// file (lastStamps without failing the benchmark, for other goroutines).
func lastStart(events string) (time.Time, error) {
	data, err := os.ReadFile(events)
	if err != nil {
		return time.Time{}, err
	}
	var last int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			StartedNS int64 `json:"started_ns"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.StartedNS > 0 {
			last = e.StartedNS
		}
	}
	if last == 0 {
		return time.Time{}, fmt.Errorf("no agent start stamp in %s", filepath.Base(events))
	}
	return time.Unix(0, last), nil
}

// clockTick is the kernel's USER_HZ, the unit of /proc CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 100

// procCPU is the CPU time (user and system) a process has used, in seconds.
func procCPU(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces), from field 3:
	// utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	var sum float64
	for _, v := range f[11:13] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum / clockTick, nil
}

// machineCPU is the machine's busy and total CPU time so far, in ticks.
func machineCPU() (busy, total float64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, 0, err
		}
		// Guest time is counted in user time already.
		if i >= 8 {
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}
