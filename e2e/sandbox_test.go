package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/anthropictest"
	"github.com/airut-go/airut/internal/netnstest"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testcert"
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

func newSandboxed(t *testing.T, timeout int) *sandboxed {
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
	os.MkdirAll(filepath.Join(up, ".airut"), 0o755)
	os.WriteFile(filepath.Join(up, ".airut", "network-allowlist.yaml"), []byte(sandboxAllowlist), 0o644)
	gitRun(t, up, "add", ".")
	gitRun(t, up, "commit", "-qm", "network allowlist")
	conf := &sandboxSite{egress: egress, upstreamCA: caFile, apiHost: "api.anthropic.test", realKey: realKey}
	s := newSite(t, api, siteOptions{repoURL: up, sandbox: conf, timeout: timeout})
	return &sandboxed{site: s, api: api, realKey: realKey, conf: conf}
}

// leftovers lists the containers and networks podman still has for a
// conversation (other tests may be running theirs).
func leftovers(t *testing.T, conv string) []string {
	t.Helper()
	var out []string
	for _, args := range [][]string{
		{"ps", "-a", "--format", "{{.Names}}"},
		{"network", "ls", "--format", "{{.Name}}"},
	} {
		cmd := exec.Command("podman", append([]string{"--url", podmanSocket}, args...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %v: %v\n%s", args, err, b)
		}
		for _, n := range strings.Fields(string(b)) {
			if strings.HasSuffix(n, "-"+conv) {
				out = append(out, n)
			}
		}
	}
	return out
}

var keyRE = regexp.MustCompile(`sk-ant-[A-Za-z0-9_-]+`)

// The real Claude Code CLI runs behind the sandbox: its API calls go
// through the proxy (DNS → proxy, TLS intercepted with the installation's
// CA), the scripted API receives the real key, while the container only
// ever held a surrogate. A non-allowlisted host gets the explanatory 403,
// and both show in the conversation's network log.
func TestSandboxedAgentUsesMaskedKeyThroughProxy(t *testing.T) {
	s := newSandboxed(t, 300)
	s.start("run")
	prompt := "Show the key and try a blocked host.\n" +
		"RUN: printenv ANTHROPIC_API_KEY; curl -sS https://blocked.test/upload; echo; curl -sS -o /dev/null -w 'api:%{http_code}' -H \"x-api-key: $ANTHROPIC_API_KEY\" https://api.anthropic.test/v1/models"
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

	logData, err := os.ReadFile(filepath.Join(l.Root, "network.log"))
	if err != nil {
		t.Fatalf("network log: %v", err)
	}
	if strings.Contains(string(logData), s.realKey) || strings.Contains(string(logData), got) {
		t.Errorf("network log holds a secret value")
	}
	var sawAPI, sawBlocked bool
	for _, line := range strings.Split(strings.TrimSpace(string(logData)), "\n") {
		var ll proxy.LogLine
		if err := json.Unmarshal([]byte(line), &ll); err != nil {
			t.Fatalf("network log line %q: %v", line, err)
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
	if st := s.status(conv); st.Tasks[0].Outcome != workflows.OutcomeSuccess {
		t.Errorf("task outcome %s", st.Tasks[0].Outcome)
	}
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("left behind after the task: %v", left)
	}
	if dirs, _ := os.ReadDir(filepath.Join(s.stateDir, "sandbox")); len(dirs) > 0 {
		if files, _ := filepath.Glob(filepath.Join(s.stateDir, "sandbox", "*", "*")); len(files) > 0 {
			t.Errorf("sandbox files (with the real key) left behind: %v", files)
		}
	}
}

// A task that runs past its timeout is killed, and its container, proxy
// and network are all removed.
func TestSandboxedTimeoutLeavesNothing(t *testing.T) {
	s := newSandboxed(t, 10)
	s.start("run")
	out, errOut, err := s.airut(5*time.Minute, "send", "--wait", "Sleep.\nRUN: sleep 120")
	if err == nil {
		t.Fatalf("send succeeded past the timeout: %s", out)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
	if st := s.status(conv); len(st.Tasks) != 1 || st.Tasks[0].Outcome != workflows.OutcomeTimeout {
		t.Errorf("status = %+v, want one timed-out task", st.Tasks)
	}
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("left behind after the timeout: %v", left)
	}
}
