package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/syncbuf"
	"github.com/airut-go/airut/workflows"
)

// buildTags are the podman bindings' tags; the binary under test is built
// with them once per test run.
const buildTags = "remote,exclude_graphdriver_btrfs,btrfs_noversion,exclude_graphdriver_devicemapper,containers_image_openpgp"

// testImage is the Debian image agent containers run in (made by
// scripts/base-image.sh: no registry is reachable).
const testImage = "localhost/airut-base:latest"

var (
	airutBin     string // the airut binary under test
	fakeClaude   string // e2e/testdata/fakeclaude, a static stand-in agent
	podmanSocket string // a podman API service the tests start
	repoRoot     string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	tmp, err := os.MkdirTemp("", "airut-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	steps := []struct {
		name string
		cmd  *exec.Cmd
	}{
		{"build airut", exec.Command("go", "build", "-tags", buildTags, "-o", filepath.Join(tmp, "airut"), "./cmd/airut")},
		{"build airut-proxy", exec.Command("go", "build", "-o", filepath.Join(tmp, "airut-proxy"), "./cmd/airut-proxy")},
		{"build fake claude", exec.Command("go", "build", "-o", filepath.Join(tmp, "fakeclaude"), "./e2e/testdata/fakeclaude")},
		{"test image", exec.Command(filepath.Join(repoRoot, "scripts", "base-image.sh"))},
	}
	for _, s := range steps {
		s.cmd.Dir = repoRoot
		s.cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := s.cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e setup: %s: %v\n%s", s.name, err, out)
			return 1
		}
	}
	airutBin = filepath.Join(tmp, "airut")
	fakeClaude = filepath.Join(tmp, "fakeclaude")
	if _, err := exec.LookPath("podman"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup: podman not installed: run `make test-deps` (apt-get install podman runc)")
		return 1
	}
	podmanSocket = "unix://" + filepath.Join(tmp, "podman.sock")
	svc := exec.Command("podman", "system", "service", "--time=0", podmanSocket)
	svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := svc.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup: start podman service:", err)
		return 1
	}
	defer func() { svc.Process.Kill(); svc.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", strings.TrimPrefix(podmanSocket, "unix://")); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			fmt.Fprintln(os.Stderr, "e2e setup: podman service did not answer")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m.Run()
}

// portCursor is the last port freePort handed out in this test binary.
var portCursor atomic.Int32

// freePort returns a loopback port that airut will bind later. A port the
// kernel picked (":0") sits in the ephemeral range, where any outgoing
// connection made meanwhile (podman, git, Claude Code) may take it: that
// failed a CI run with "address already in use". So ports come from below
// the ephemeral range, each handed out once per test binary (the start is
// spread by PID for the other test binaries running alongside), and are
// checked to be free at the time.
func freePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	span := int32(low - 10000)
	portCursor.CompareAndSwap(0, int32(os.Getpid())%span)
	for range 1000 {
		p := int(10000 + portCursor.Add(7)%span)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatalf("no free port below %d", low)
	return 0
}

// ephemeralLow is the start of the kernel's ephemeral port range.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 11000 {
		return 32768
	}
	return n
}

func gitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// upstream creates the repository the agent works on.
func upstream(t testing.TB) string {
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# demo\n"), 0o644)
	gitRun(t, dir, "add", ".")
	gitRun(t, dir, "commit", "-qm", "init")
	return dir
}

// site is one airut installation: a config file, a state dir and the
// scripted model it talks to.
type site struct {
	t        testing.TB
	dir      string
	config   string
	stateDir string
	repoID   string
	api      *anthropictest.Server
	temporal string // frontend address
	// dashboardPort is where `airut run` serves the dashboard.
	dashboardPort int
	// metricsPort is where its processes serve /metrics.
	metricsPort int
	hostID      string
	// path, if set, replaces PATH for the daemons this site starts.
	path string
	// env is added to the environment of the daemons this site starts.
	env []string
}

type siteOptions struct {
	repoURL        string
	hostID         string
	frontendPort   int
	heartbeat      int
	hostTimeout    int // execution.host_timeout (default 600 s)
	maxConcurrent  int
	claudeBinary   string
	downloadURL    string
	temporalRemote string
	repoYAML       string // more keys under repos.demo, indented by 4 spaces
	timeout        int    // resource_limits.timeout (default 300 s)
	limits         string // more resource_limits keys, e.g. ", memory: 512m"
	imageMaxAge    *int   // execution.image_max_age_hours
	keepWarm       string // network.keep_warm_seconds ("" for the default)
	// shutdownTimeout is execution.shutdown_timeout, the drain's grace
	// (default 5 s).
	shutdownTimeout int
	// persistence is temporal.embedded.persistence as a YAML flow map
	// ("" for the SQLite file).
	persistence string
	// sandbox turns the network sandbox on: the API key becomes a masked
	// secret scoped to the API's host.
	sandbox *sandboxSite
}

// sandboxSite is what a sandboxed site needs: the egress network the
// test's upstream host is on, the CA its certificate chains to, and the
// real API key.
type sandboxSite struct {
	egress, upstreamCA, apiHost, realKey string
}

func newSite(t testing.TB, api *anthropictest.Server, o siteOptions) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{t: t, dir: dir, config: filepath.Join(dir, "airut.yaml"), stateDir: filepath.Join(dir, "state"), repoID: "demo", api: api}
	if o.hostID == "" {
		o.hostID = "host-" + filepath.Base(dir)
	}
	if o.frontendPort == 0 {
		o.frontendPort = freePort(t)
	}
	if o.timeout == 0 {
		o.timeout = 300
	}
	if o.heartbeat == 0 {
		o.heartbeat = 30
	}
	if o.maxConcurrent == 0 {
		o.maxConcurrent = 3
	}
	if o.shutdownTimeout == 0 {
		o.shutdownTimeout = 5
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config_version: 5\nstate_dir: %s\npodman_socket: %s\ncontainer_network: host\n", s.stateDir, podmanSocket)
	maxAge := ""
	if o.imageMaxAge != nil {
		maxAge = fmt.Sprintf(", image_max_age_hours: %d", *o.imageMaxAge)
	}
	if o.hostTimeout != 0 {
		maxAge += fmt.Sprintf(", host_timeout: %d", o.hostTimeout)
	}
	fmt.Fprintf(&b, "execution: {max_concurrent: %d, heartbeat_timeout: %d, shutdown_timeout: %d%s}\n", o.maxConcurrent, o.heartbeat, o.shutdownTimeout, maxAge)
	fmt.Fprintf(&b, "worker: {host_id: %s}\n", o.hostID)
	s.hostID = o.hostID
	s.dashboardPort = freePort(t)
	fmt.Fprintf(&b, "dashboard: {port: %d}\n", s.dashboardPort)
	s.metricsPort = freePort(t)
	fmt.Fprintf(&b, "metrics: {port: %d}\n", s.metricsPort)
	if o.downloadURL != "" {
		fmt.Fprintf(&b, "claude_download_url: %s\n", o.downloadURL)
	}
	s.temporal = fmt.Sprintf("127.0.0.1:%d", o.frontendPort)
	if o.temporalRemote != "" {
		s.temporal = o.temporalRemote
		fmt.Fprintf(&b, "temporal: {address: %q}\n", o.temporalRemote)
	} else {
		store := "database_file: " + filepath.Join(s.stateDir, "temporal.db")
		if o.persistence != "" {
			store = "persistence: " + o.persistence
		}
		fmt.Fprintf(&b, "temporal: {embedded: {frontend_port: %d, ui_port: %d, %s}}\n", o.frontendPort, freePort(t), store)
	}
	if o.sandbox != nil {
		keep := ""
		if o.keepWarm != "" {
			keep = ", keep_warm_seconds: " + o.keepWarm
		}
		fmt.Fprintf(&b, "network: {egress_network: %s, upstream_ca_file: %s%s}\n", o.sandbox.egress, o.sandbox.upstreamCA, keep)
	}
	fmt.Fprintf(&b, "repos:\n  demo:\n    repo_url: %s\n    model: claude-sonnet-4-5\n    image: %s\n    network: {sandbox_enabled: %v}\n    resource_limits: {timeout: %d%s}\n",
		o.repoURL, testImage, o.sandbox != nil, o.timeout, o.limits)
	if o.claudeBinary != "" {
		fmt.Fprintf(&b, "    claude_binary: %s\n", o.claudeBinary)
	}
	b.WriteString(o.repoYAML)
	if o.sandbox != nil {
		fmt.Fprintf(&b, "    masked_secrets:\n      ANTHROPIC_API_KEY: {value: %q, scopes: [%q], headers: [x-api-key]}\n", o.sandbox.realKey, o.sandbox.apiHost)
	}
	b.WriteString("    secrets:\n")
	for _, kv := range anthropictest.ClientEnv(api.URL(), "sk-test-key") {
		k, v, _ := strings.Cut(kv, "=")
		if o.sandbox != nil && k == "ANTHROPIC_API_KEY" {
			continue
		}
		// The product turns Claude Code's non-essential traffic off itself
		// (claude.Env); setting it here would hide a reply footer full of
		// blocked telemetry calls if it stopped doing so.
		if productSetsTraffic[k] {
			continue
		}
		fmt.Fprintf(&b, "      %s: %q\n", k, v)
	}
	if err := os.WriteFile(s.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// productSetsTraffic are the switches of Claude Code's non-essential
// traffic that anthropictest.ClientEnv sets for bare CLI runs and the
// product must set for its own: CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
// and the ones it implies.
var productSetsTraffic = map[string]bool{
	"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": true,
	"DISABLE_TELEMETRY":                        true,
	"DISABLE_ERROR_REPORTING":                  true,
	"DISABLE_AUTOUPDATER":                      true,
}

// process is a running `airut run|worker|server`.
type process struct {
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan struct{}
}

// start runs an airut daemon command and waits for its ready line.
func (s *site) start(args ...string) *process {
	s.t.Helper()
	cmd := exec.Command(airutBin, append([]string{"--config", s.config}, args...)...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	if s.path != "" {
		cmd.Env = append(cmd.Env, "PATH="+s.path)
	}
	logs := &syncbuf.Buffer{}
	pr, pw := io.Pipe()
	cmd.Stdout = logs
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start airut %v: %v", args, err)
	}
	p := &process{cmd: cmd, logs: logs, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), "airut ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	s.t.Cleanup(func() {
		p.kill()
		if s.t.Failed() {
			logs := p.logs.String()
			if len(logs) > 6000 {
				logs = "…" + logs[len(logs)-6000:]
			}
			s.t.Logf("airut %v logs:\n%s", args, logs)
		}
	})
	select {
	case <-ready:
	case <-p.done:
		s.t.Fatalf("airut %v exited before ready:\n%s", args, logs)
	case <-time.After(90 * time.Second):
		s.t.Fatalf("airut %v not ready after 90s:\n%s", args, logs)
	}
	return p
}

// kill ends the process at once, as a crash would.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// airut runs one CLI command and returns its stdout and stderr.
func (s *site) airut(timeout time.Duration, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, airutBin, append([]string{"--config", s.config}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (s *site) mustAirut(timeout time.Duration, args ...string) string {
	s.t.Helper()
	out, errOut, err := s.airut(timeout, args...)
	if err != nil {
		s.t.Fatalf("airut %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
	}
	return out
}

func (s *site) status(conv string) workflows.Status {
	s.t.Helper()
	out := s.mustAirut(30*time.Second, "status", "--json", conv)
	var st workflows.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

func (s *site) layout(conv string) conversation.Layout {
	s.t.Helper()
	l, err := conversation.For(filepath.Join(s.stateDir, s.repoID), conv)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

func (s *site) replies(conv, kind string) []conversation.Reply {
	s.t.Helper()
	all, err := s.layout(conv).ReadReplies()
	if err != nil {
		s.t.Fatal(err)
	}
	var out []conversation.Reply
	for _, r := range all {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// eventually polls f until it is true or the timeout passes.
// waitForCall waits until the agent of conv has started a tool call
// containing command (it is in events.jsonl).
func (s *site) waitForCall(conv, command string) {
	s.t.Helper()
	l := s.layout(conv)
	eventually(s.t, 2*time.Minute, "the agent to start "+command, func() bool {
		b, _ := os.ReadFile(l.Events())
		return strings.Contains(string(b), command)
	})
}

func eventually(t testing.TB, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// recordHistory saves the conversation's workflow history (every run of
// it) to workflows/testdata/<name>-<n>.json when AIRUT_RECORD_HISTORIES is
// set, for the replay tests that guard determinism.
func (s *site) recordHistory(conv, name string) {
	s.t.Helper()
	s.recordHistories(fmt.Sprintf("WorkflowId = '%s'", workflows.WorkflowID(s.repoID, conv)), name)
}

// recordHistories saves the history of every workflow run the visibility
// query finds, as recordHistory does.
func (s *site) recordHistories(query, name string) {
	s.t.Helper()
	// AIRUT_RECORD_HISTORIES=1 writes <name>-<n>.json; any other value is
	// a tag (<name>-<tag>-<n>.json), to add histories of a new workflow
	// version beside those of the previous ones, which must keep replaying.
	tag := os.Getenv("AIRUT_RECORD_HISTORIES")
	if tag == "" {
		return
	}
	if tag != "1" {
		name += "-" + tag
	}
	c, err := client.Dial(client.Options{HostPort: s.temporal})
	if err != nil {
		s.t.Fatalf("record history: %v", err)
	}
	defer c.Close()
	ctx := context.Background()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		s.t.Fatalf("record history: %v", err)
	}
	for i, e := range resp.Executions {
		var h historypb.History
		it := c.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				s.t.Fatalf("record history: %v", err)
			}
			h.Events = append(h.Events, ev)
		}
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
		if err != nil {
			s.t.Fatal(err)
		}
		file := filepath.Join(repoRoot, "workflows", "testdata", fmt.Sprintf("%s-%d.json", name, i))
		if err := os.WriteFile(file, b, 0o644); err != nil {
			s.t.Fatal(err)
		}
		s.t.Logf("recorded %s (%d events)", file, len(h.Events))
	}
}

// leftovers lists the containers (agent, proxy) and sandbox networks
// podman still has for a conversation, found by its label (other tests
// may be running theirs).
func leftovers(t testing.TB, conv string) []string {
	t.Helper()
	var out []string
	for _, args := range [][]string{
		{"ps", "-a", "--format", "{{.Names}}"},
		{"network", "ls", "--format", "{{.Name}}"},
	} {
		args = append(args, "--filter", "label=airut.conversation="+conv)
		b, err := exec.Command("podman", append([]string{"--url", podmanSocket}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %v: %v\n%s", args, err, b)
		}
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

// replyText is the reply in `airut send --wait`'s output, without the
// footer paragraph (cost, blocked requests) and the attached-file lines
// that follow it.
func replyText(out string) string {
	paras := strings.Split(strings.TrimSpace(out), "\n\n")
	for len(paras) > 1 {
		last := paras[len(paras)-1]
		if !strings.HasPrefix(last, "Cost:") && !strings.HasPrefix(last, "Network sandbox") && !strings.HasPrefix(last, "attached:") {
			break
		}
		paras = paras[:len(paras)-1]
	}
	return strings.Join(paras, "\n\n")
}

// metrics scrapes the site's /metrics and returns the samples of the
// named metrics (name{labels} -> value), failing the test if the
// endpoint does not answer.
func (s *site) metrics(names ...string) map[string]float64 {
	s.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", s.metricsPort))
	if err != nil {
		s.t.Fatalf("scrape /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics answered %d: %s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The value follows the last space (label values may hold spaces).
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		key, val := line[:i], line[i+1:]
		for _, n := range names {
			if key == n || strings.HasPrefix(key, n+"{") {
				v, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
				out[key] = v
			}
		}
	}
	return out
}

// startServer runs `airut server` (the embedded Temporal server, on the
// store o names) for workers of other sites to share, and returns its
// frontend address.
func startServer(t testing.TB, api *anthropictest.Server, o siteOptions) string {
	t.Helper()
	o.frontendPort = freePort(t)
	newSite(t, api, o).start("server")
	return fmt.Sprintf("127.0.0.1:%d", o.frontendPort)
}
