package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/claudebin"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/internal/testing/netnstest"
	"github.com/airut-go/airut/internal/testing/testcert"
)

// A CI job runs `claude -p` through airut-sandbox with its API key as a
// masked secret: the real Claude Code CLI (mounted into the container)
// talks to the scripted Anthropic API on a host of the test's own, the
// API receives the real key on every request, and the container only
// ever holds a surrogate (the agent prints its environment's key, and
// that is what reaches the model and the job's output).
func TestRunClaudeCodeWithMaskedKey(t *testing.T) {
	bin, err := claudebin.Resolve("")
	if err != nil {
		t.Fatalf("the Claude Code CLI is needed (make test-deps): %v", err)
	}
	real := "sk-ant-api03-" + strings.Repeat("Ci", 20) + randHex(8)
	e := newEnv(t, map[string]string{
		".airut/network-allowlist.yaml": "domains:\n  - api.anthropic.test\n",
		".airut/sandbox.yaml": `env:
  ANTHROPIC_BASE_URL: https://api.anthropic.test
  IS_SANDBOX: "1"
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"
masked_secrets:
  ANTHROPIC_API_KEY:
    value: !env ANTHROPIC_API_KEY
    scopes: [api.anthropic.test]
    headers: [x-api-key]
`})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.egress = "airut-cli-test-egress-" + randHex(4)
	if err := pm.CreateNetwork(ctx, podman.NetworkSpec{Name: e.egress, DNS: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pm.RemoveNetwork(context.Background(), e.egress) })
	host := netnstest.StartHost(t, pm, e.egress, baseImage, "api.anthropic.test")
	cert, err := testcert.New("scripted api", "api.anthropic.test")
	if err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(e.caFile, cert.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	api := anthropictest.NewServer(t, anthropictest.WithTLSListener(host.Listen(t, ":443"), cert.TLS, "https://api.anthropic.test"),
		anthropictest.WithAPIKey(real))
	e.extra = []string{"ANTHROPIC_API_KEY=" + real}

	r := e.run("run", "Show the key.\nRUN: printenv ANTHROPIC_API_KEY\n",
		"--mount", bin+":/usr/local/bin/claude:ro", "--", "claude", "-p", "--dangerously-skip-permissions")
	if r.code != 0 {
		t.Fatalf("claude -p through airut-sandbox: want exit 0\n%s", r)
	}
	keys := regexp.MustCompile(`sk-ant-[A-Za-z0-9_-]+`).FindAllString(r.stdout, -1)
	if len(keys) == 0 {
		t.Fatalf("the reply does not show the key the container holds\n%s", r)
	}
	if keys[0] == real || len(keys[0]) != len(real) {
		t.Errorf("the container held %q; want a surrogate as long as the real key", keys[0])
	}
	if strings.Contains(r.stdout, real) || strings.Contains(r.stderr, real) {
		t.Errorf("the real key shows in the job's output\n%s", r)
	}
	reqs := api.Requests()
	if len(reqs) < 2 {
		t.Fatalf("the scripted API got %d requests, want the run's two turns", len(reqs))
	}
	for _, q := range reqs {
		if q.APIKey != real {
			t.Errorf("API request with key %q, want the real key, put in by the proxy", q.APIKey)
		}
		if strings.Contains(string(q.Body), real) {
			t.Error("the real key reached the model: the container saw it")
		}
	}
}
