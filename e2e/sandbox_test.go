package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/netnstest"
	"github.com/airut-go/airut/internal/testing/testcert"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/workflows"
)

const sandboxAllowlist = `# The scripted Anthropic API only.
url_prefixes:
  - host: api.anthropic.test
    path: /v1/*
    methods: [GET, POST, HEAD]
`

// sandboxed is a site whose agent runs behind the network sandbox and
// whose scripted API is a test host on the sandbox's egress network,
// reached over HTTPS through the proxy.
type sandboxed struct {
	*site
	api     *anthropictest.Server
	realKey string
	conf    *sandboxSite
}

func newSandboxed(t testing.TB, o siteOptions) *sandboxed {
	t.Helper()
	return newSandboxedWith(t, o, sandboxAllowlist)
}

// newSandboxedWith commits allowlist (none when empty) to the repo.
func newSandboxedWith(t testing.TB, o siteOptions, allowlist string) *sandboxed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := podman.Connect(ctx, podman.ConnectOptions{URI: podmanSocket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b := make([]byte, 4)
	rand.Read(b)
	egress := "airut-e2e-egress-" + hex.EncodeToString(b)
	if err := c.CreateNetwork(ctx, podman.NetworkSpec{Name: egress, DNS: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), egress) })
	host := netnstest.StartHost(t, c, egress, testImage, "api.anthropic.test")
	cert, err := testcert.New("scripted api", "api.anthropic.test")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	os.WriteFile(caFile, cert.CertPEM, 0o644)
	realKey := "sk-ant-api03-" + strings.Repeat("Rk", 20) + hex.EncodeToString(b)
	api := anthropictest.NewServer(t, anthropictest.WithTLSListener(host.Listen(t, ":443"), cert.TLS, "https://api.anthropic.test"),
		anthropictest.WithAPIKey(realKey))

	up := upstream(t)
	if allowlist != "" {
		os.MkdirAll(filepath.Join(up, ".airut"), 0o755)
		os.WriteFile(filepath.Join(up, ".airut", "network-allowlist.yaml"), []byte(allowlist), 0o644)
		gitRun(t, up, "add", ".")
		gitRun(t, up, "commit", "-qm", "network allowlist")
	}
	conf := &sandboxSite{egress: egress, upstreamCA: caFile, apiHost: "api.anthropic.test", realKey: realKey}
	o.repoURL, o.sandbox = up, conf
	s := newSite(t, api, o)
	return &sandboxed{site: s, api: api, realKey: realKey, conf: conf}
}

var keyRE = regexp.MustCompile(`sk-ant-[A-Za-z0-9_-]+`)

// The real Claude Code CLI runs behind the sandbox: its API calls go
// through the proxy (DNS → proxy, TLS intercepted with the installation's
// CA), the scripted API receives the real key, while the container only
// ever held a surrogate. A non-allowlisted host gets the explanatory 403,
// and both show in the conversation's network log.
func TestSandboxedAgentUsesMaskedKeyThroughProxy(t *testing.T) {
	s := newSandboxed(t, siteOptions{limits: ", memory: 512m, cpus: 1.5, pids_limit: 100", keepWarm: "3"})
	s.start("run")
	prompt := "Show the key and try a blocked host.\n" +
		"RUN: printenv ANTHROPIC_API_KEY; env -u CURL_CA_BUNDLE -u SSL_CERT_FILE curl -sS https://blocked.test/upload; echo; curl -sS -o /dev/null -w 'api:%{http_code}' -H \"x-api-key: $ANTHROPIC_API_KEY\" https://api.anthropic.test/v1/models; echo; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; echo limits $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max) $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)"
	out, errOut, err := s.airut(5*time.Minute, "send", "--wait", prompt)
	if err != nil {
		t.Fatalf("send: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]

	// What the agent saw: a surrogate of the key's shape, never the key.
	keys := keyRE.FindAllString(out, -1)
	if len(keys) == 0 {
		t.Fatalf("reply = %q, want the key the container holds", out)
	}
	got := keys[0]
	if got == s.realKey || len(got) != len(s.realKey) {
		t.Errorf("container held %q, want a same-length surrogate of the real key", got)
	}
	if !strings.Contains(out, "Network sandbox blocked GET blocked.test/upload") || !strings.Contains(out, "network-allowlist.yaml") {
		t.Errorf("reply = %q, want curl to show the sandbox's 403 (the CA trusted via the system store)", out)
	}
	if !strings.Contains(out, "api:200") {
		t.Errorf("reply = %q, want the allowlisted API reachable with curl, the surrogate swapped for the key", out)
	}

	// The container keeps only CHOWN, DAC_OVERRIDE, FOWNER, SETGID and
	// SETUID, and cannot gain privileges.
	if !regexp.MustCompile(`CapEff:\s+00000000000000cb`).MatchString(out) || !regexp.MustCompile(`NoNewPrivs:\s+1`).MatchString(out) {
		t.Errorf("reply = %q, want CapEff 0xcb and NoNewPrivs 1", out)
	}

	// resource_limits reach the container's cgroup (v1 or v2).
	if !strings.Contains(out, "limits 536870912 100 150000") {
		t.Errorf("reply = %q, want memory 512m, pids 100 and 1.5 CPUs in the container's cgroup", out)
	}

	// What the API received: the real key on every request.
	reqs := s.api.Requests()
	if len(reqs) == 0 {
		t.Fatal("the scripted API received no messages request")
	}
	for _, r := range reqs {
		if r.APIKey != s.realKey {
			t.Errorf("API request with key %q, want the real key", r.APIKey)
		}
	}
	// The surrogate went out in the tool result; it reached the API only
	// as text, never as a credential.
	l := s.layout(conv)
	events, _ := os.ReadFile(l.Events())
	if strings.Contains(string(events), s.realKey) {
		t.Errorf("events.jsonl holds the real key")
	}

	logData, err := os.ReadFile(l.NetworkLog())
	if err != nil {
		t.Fatalf("network log: %v", err)
	}
	if strings.Contains(string(logData), s.realKey) || strings.Contains(string(logData), got) {
		t.Errorf("network log holds a secret value")
	}
	var sawAPI, sawBlocked bool
	var allowed, refused float64
	for _, line := range strings.Split(strings.TrimSpace(string(logData)), "\n") {
		var ll proxy.LogLine
		if err := json.Unmarshal([]byte(line), &ll); err != nil {
			t.Fatalf("network log line %q: %v", line, err)
		}
		switch {
		case ll.Kind == "http" && ll.Allowed:
			allowed++
		case ll.Kind != "dns" && !ll.Allowed:
			refused++
		}
		if ll.Kind == "http" && ll.Method == "POST" && ll.Host == "api.anthropic.test" && ll.Path == "/v1/messages" && ll.Allowed &&
			strings.Join(ll.Swapped, ",") == "ANTHROPIC_API_KEY" {
			sawAPI = true
		}
		if ll.Kind == "http" && ll.Host == "blocked.test" && ll.Path == "/upload" && !ll.Allowed && ll.Status == 403 {
			sawBlocked = true
		}
	}
	if !sawAPI || !sawBlocked {
		t.Errorf("network log lacks the API call with the swap (%v) or the blocked request (%v):\n%s", sawAPI, sawBlocked, logData)
	}
	// The reply's footer tells the user what the sandbox refused.
	if r := s.replies(conv, "reply"); len(r) != 1 || !strings.Contains(r[0].Footer, "Network sandbox blocked") || !strings.Contains(r[0].Footer, "GET blocked.test/upload") {
		t.Errorf("replies = %+v, want the footer naming the blocked request", r)
	}
	if st := s.status(conv); st.Tasks[0].Outcome != workflows.OutcomeSuccess {
		t.Errorf("task outcome %s", st.Tasks[0].Outcome)
	}
	// The agent's container goes with the task; the network and proxy
	// wait keep_warm_seconds for the conversation's next task, then go
	// too, with the files holding the real key.
	if left := leftovers(t, conv); slices.Contains(left, "airut-demo-"+conv) {
		t.Errorf("the agent container is left after the task: %v", left)
	}
	eventually(t, time.Minute, "the kept network, proxy and their files to go after keep_warm_seconds", func() bool {
		files, _ := filepath.Glob(filepath.Join(s.stateDir, "sandbox", "*", "tasks", "*"))
		return len(leftovers(t, conv)) == 0 && len(files) == 0
	})

	// /metrics counted the task, its sandbox traffic and the SDK's work.
	m := s.metrics("airut_tasks_started_total", "airut_tasks_finished_total", "airut_agent_slots_busy",
		"airut_agent_slots", "airut_sandbox_requests_total", "airut_task_duration_seconds_count", "temporal_activity_execution_latency_seconds_count")
	for key, want := range map[string]float64{
		`airut_tasks_started_total{repo="demo"}`:                           1,
		`airut_tasks_finished_total{outcome="success",repo="demo"}`:        1,
		`airut_task_duration_seconds_count{outcome="success",repo="demo"}`: 1,
		`airut_sandbox_requests_total{decision="refused",repo="demo"}`:     refused,
		`airut_sandbox_requests_total{decision="allowed",repo="demo"}`:     allowed,
		`airut_agent_slots_busy{host="` + s.hostID + `"}`:                  0,
		`airut_agent_slots{host="` + s.hostID + `"}`:                       3,
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("/metrics %s = %v (present %v), want %v (as in the network log:\n%s)", key, got, ok, want, logData)
		}
	}
	if allowed < 2 || refused < 1 {
		t.Errorf("the network log has %v allowed and %v refused requests, want the API calls and curl's, and the blocked upload", allowed, refused)
	}
	// The backlog of the shared queue and this host's queues, read from
	// Temporal: nothing waits once the task is done.
	backlog := s.metrics("airut_queue_backlog")
	for _, q := range []string{workflows.SharedQueue, workflows.HostQueue(s.hostID), workflows.RunQueue(workflows.HostQueue(s.hostID))} {
		key := `airut_queue_backlog{kind="activity",queue="` + q + `"}`
		if v, ok := backlog[key]; !ok || v != 0 {
			t.Errorf("/metrics %s = %v (present %v), want 0: %v", key, v, ok, backlog)
		}
	}
	var sdk bool
	for key := range m {
		sdk = sdk || strings.HasPrefix(key, "temporal_activity_execution_latency_seconds_count{")
	}
	if !sdk {
		t.Errorf("/metrics lacks the Temporal SDK's activity metrics: %v", m)
	}
}

// Fail closed: without a usable allowlist on the default branch the agent
// does not run, and the reply says what to fix.
func TestSandboxFailsClosedWithAReply(t *testing.T) {
	tests := []struct {
		name, allowlist string
		want            []string
	}{
		{"no allowlist", "", []string{"has no .airut/network-allowlist.yaml", "the task did not run", "sandbox_enabled: false"}},
		{"broken allowlist", "url_prefixes:\n  - {path: /v1/*}\n", []string{"network allowlist .airut/network-allowlist.yaml on the default branch is invalid", "host"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandboxedWith(t, siteOptions{}, tc.allowlist)
			s.start("run")
			out, errOut, err := s.airut(3*time.Minute, "send", "--wait", "Hello.\nREPLY: should not run")
			if err == nil {
				t.Fatalf("send succeeded: %s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("reply lacks %q:\n%s", w, out)
				}
			}
			conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
			if n := len(s.api.Requests()); n != 0 {
				t.Errorf("the agent ran: the API got %d requests", n)
			}
			if b, _ := os.ReadFile(s.layout(conv).Events()); len(b) > 0 {
				t.Errorf("events.jsonl is not empty: the agent ran")
			}
			if left := leftovers(t, conv); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// A task that runs past its timeout is killed, and its container (and,
// with the sandbox, its proxy and network) are all removed.
func TestTimeoutLeavesNothing(t *testing.T) {
	for _, sandboxed := range []bool{true, false} {
		t.Run(map[bool]string{true: "sandboxed", false: "open network"}[sandboxed], func(t *testing.T) {
			var s *site
			if sandboxed {
				s = newSandboxed(t, siteOptions{timeout: 10, keepWarm: "0"}).site
			} else {
				s = newSite(t, anthropictest.NewServer(t), siteOptions{repoURL: upstream(t), timeout: 10})
			}
			s.start("run")
			began := time.Now()
			out, errOut, err := s.airut(5*time.Minute, "send", "--wait", "Sleep.\nRUN: sleep 120")
			if err == nil {
				t.Fatalf("send succeeded past the timeout: %s", out)
			}
			if took := time.Since(began); took > 60*time.Second {
				t.Errorf("the task ended after %s; the 10 s timeout did not stop it", took)
			}
			conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
			if st := s.status(conv); len(st.Tasks) != 1 || st.Tasks[0].Outcome != workflows.OutcomeTimeout {
				t.Errorf("status = %+v, want one timed-out task", st.Tasks)
			}
			if left := leftovers(t, conv); len(left) > 0 {
				t.Errorf("left behind after the timeout: %v", left)
			}
		})
	}
}

// A worker killed mid-task leaves its proxy and network behind; the next
// worker of that host removes them at start (and nothing of another
// host's), and the task is run again behind a fresh sandbox.
func TestSandboxOrphansRemovedAtWorkerStart(t *testing.T) {
	s := newSandboxed(t, siteOptions{heartbeat: 4, keepWarm: "0"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := podman.Connect(ctx, podman.ConnectOptions{URI: podmanSocket})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	decoy := "airut-conv-decoy-" + filepath.Base(t.TempDir())
	if err := c.CreateNetwork(ctx, podman.NetworkSpec{Name: decoy, Internal: true, Labels: map[string]string{"airut.host": "another-host"}}); err != nil {
		t.Fatal(err)
	}
	defer c.RemoveNetwork(context.Background(), decoy)

	p := s.start("run")
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Nap.\nRUN: sleep 6 && echo rested\nREPLY: rested"))
	s.waitForCall(conv, "sleep 6")
	p.kill()
	if left := leftovers(t, conv); len(left) < 2 {
		t.Fatalf("after the crash podman has %v, want the orphaned agent, proxy and network", left)
	}

	p2 := s.start("run")
	logs := p2.logs.String()
	for _, want := range []string{"removed orphaned sandbox network of a previous run", "airut-conv-demo-" + conv, "airut-proxy-demo-" + conv} {
		if !strings.Contains(logs, want) {
			t.Errorf("restart logs lack %q:\n%s", want, logs)
		}
	}
	if ok, err := c.NetworkExists(ctx, decoy); err != nil || !ok {
		t.Errorf("another host's network was removed (%v)", err)
	}
	eventually(t, 3*time.Minute, "the task to finish after the restart", func() bool {
		return len(s.replies(conv, "reply")) >= 1
	})
	if r := s.replies(conv, "reply"); r[0].Text != "rested" {
		t.Errorf("reply = %+v", r)
	}
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("left behind after the retried task: %v", left)
	}
}
