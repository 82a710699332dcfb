package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airut-go/airut/proxy"
)

// The command runs in the checkout at /workspace, read-write; its own
// exit code, stdout and stderr come through, and piped stdin reaches it.
func TestRunPassesExitCodeOutputAndStdin(t *testing.T) {
	e := newEnv(t, map[string]string{"marker.txt": "from the checkout\n"}).withUpstream()
	r := e.run("run", "line from stdin\n", "--", "sh", "-c",
		`read l; echo "stdin: $l"; echo "pwd: $(pwd)"; cat marker.txt; echo written > made-inside.txt; echo "to stderr" >&2; exit 7`)
	if r.code != 7 {
		t.Fatalf("want exit 7, the command's own\n%s", r)
	}
	for _, want := range []string{"stdin: line from stdin\n", "pwd: /workspace\n", "from the checkout\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "to stderr") {
		t.Errorf("stderr lacks the command's own\n%s", r)
	}
	if strings.Contains(r.stderr, "airut-sandbox:") {
		t.Errorf("a command's own failure needs no words of airut-sandbox\n%s", r)
	}
	if data, err := os.ReadFile(filepath.Join(e.dir, "made-inside.txt")); err != nil || string(data) != "written\n" {
		t.Errorf("file written in /workspace: %q, %v; want it in the checkout", data, err)
	}

	if r := e.run("run", "", "--", "true"); r.code != 0 || r.stderr != "" {
		t.Errorf("want exit 0 and nothing on stderr without --verbose\n%s", r)
	}
}

// --timeout stops the command: exit 124, and the run's container, proxy
// and network are gone.
func TestRunTimeout(t *testing.T) {
	e := newEnv(t, nil).withUpstream()
	r := e.run("run", "", "--verbose", "--timeout", "2s", "--", "sleep", "60")
	if r.code != 124 {
		t.Fatalf("want exit 124\n%s", r)
	}
	if !strings.Contains(r.stderr, "timed out after 2s") {
		t.Errorf("stderr should say it timed out\n%s", r)
	}
	if r.took > 30*time.Second {
		t.Errorf("took %s for a 2s timeout", r.took)
	}
	assertGone(t, startedContainer(t, r.stderr))
}

// A broken allowlist stops the run before anything starts: exit 125 and
// a message naming the file and what is wrong with it. So does a missing
// one.
func TestRunBrokenAllowlist(t *testing.T) {
	e := newEnv(t, map[string]string{".airut/network-allowlist.yaml": "domains: example.com\n"})
	r := e.run("run", "", "--", "echo", "must not run")
	if r.code != 125 {
		t.Fatalf("want exit 125\n%s", r)
	}
	if !strings.Contains(r.stderr, ".airut/network-allowlist.yaml") || !strings.Contains(r.stderr, "domains: must be a list") {
		t.Errorf("stderr should name the allowlist file and the broken key\n%s", r)
	}
	if strings.Contains(r.stdout, "must not run") {
		t.Errorf("the command ran\n%s", r)
	}

	os.Remove(filepath.Join(e.dir, ".airut/network-allowlist.yaml"))
	r = e.run("run", "", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, ".airut/network-allowlist.yaml: no such file") || !strings.Contains(r.stderr, "network_sandbox: false") {
		t.Errorf("missing allowlist: want exit 125 naming the file and the way out\n%s", r)
	}
}

// A request to a host the allowlist does not name is refused with 403,
// logged in the --network-log file as refused and, with
// --network-log-live, shown on stderr as it happens; the allowed request
// is shown too.
func TestRunBlockedRequestLogged(t *testing.T) {
	e := newEnv(t, nil).withUpstream()
	logFile := filepath.Join(t.TempDir(), "net.log")
	r := e.run("run", "", "--network-log", logFile, "--network-log-live", "--",
		"sh", "-c", `curl -sS -o /dev/null -w "blocked:%{http_code}\n" https://blocked.cli.test/exfil; curl -sS -w "\n" https://api.cli.test/v1/ok`)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	if !strings.Contains(r.stdout, "blocked:403") || !strings.Contains(r.stdout, "upstream ok") {
		t.Errorf("want the blocked request refused with 403 and the allowed one answered\n%s", r)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var refused, allowed bool
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var l proxy.LogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("network log line %q: %v", line, err)
		}
		if l.Kind == "http" && l.Host == "blocked.cli.test" && l.Path == "/exfil" && !l.Allowed && l.Status == 403 {
			refused = true
		}
		if l.Kind == "http" && l.Host == upstreamHost && l.Allowed && l.Status == 200 {
			allowed = true
		}
	}
	if !refused || !allowed {
		t.Errorf("network log: refused line %v, allowed line %v; want both:\n%s", refused, allowed, data)
	}
	for _, want := range []string{"[net] BLOCKED GET blocked.cli.test/exfil -> 403", "[net] ALLOWED GET api.cli.test/v1/ok -> 200"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks the live line %q\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "blocked 1 request(s): GET blocked.cli.test/exfil") {
		t.Errorf("stderr lacks the summary of blocked requests\n%s", r)
	}
	if uris, _ := e.requests(); len(uris) != 1 || uris[0] != "/v1/ok" {
		t.Errorf("upstream saw %v, want only /v1/ok", uris)
	}
}

// A masked secret's real value (from !env) reaches the allowlisted
// upstream over HTTPS in Authorization, while the container holds only a
// surrogate of the same shape and the real value shows nowhere. env,
// pass_env and surrogates apply in that order.
func TestRunMaskedSecret(t *testing.T) {
	real := "tok-" + randHex(20)
	e := newEnv(t, map[string]string{".airut/sandbox.yaml": `env:
  FROM_FILE: file-value
  BOTH: from-env
  VIA_ENV_TAG: !env CLI_TEST_PLAIN
pass_env: [BOTH, CLI_TEST_PASSED, CLI_TEST_NOT_SET]
masked_secrets:
  API_TOKEN:
    value: !env CLI_TEST_TOKEN
    scopes: [api.cli.test]
    headers: [Authorization]
`}).withUpstream()
	e.extra = []string{"CLI_TEST_TOKEN=" + real, "CLI_TEST_PLAIN=plain-value", "BOTH=from-host", "CLI_TEST_PASSED=passed"}
	r := e.run("run", "", "--", "sh", "-c", `echo "token=$API_TOKEN"
echo "FROM_FILE=$FROM_FILE BOTH=$BOTH VIA_ENV_TAG=$VIA_ENV_TAG CLI_TEST_PASSED=$CLI_TEST_PASSED CLI_TEST_NOT_SET=${CLI_TEST_NOT_SET-unset} CLI_TEST_TOKEN=${CLI_TEST_TOKEN-unset}"
curl -sS -w "\n" -H "Authorization: Bearer $API_TOKEN" https://api.cli.test/v1/check`)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	m := regexp.MustCompile(`token=(\S*)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no token line\n%s", r)
	}
	if m[1] == real || len(m[1]) != len(real) {
		t.Errorf("container holds %q; want a surrogate as long as the real value (%d)", m[1], len(real))
	}
	if strings.Contains(r.stdout, real) || strings.Contains(r.stderr, real) {
		t.Errorf("the real value shows in the command's output\n%s", r)
	}
	if want := "FROM_FILE=file-value BOTH=from-host VIA_ENV_TAG=plain-value CLI_TEST_PASSED=passed CLI_TEST_NOT_SET=unset CLI_TEST_TOKEN=unset"; !strings.Contains(r.stdout, want) {
		t.Errorf("environment: want %q\n%s", want, r)
	}
	if !strings.Contains(r.stdout, "upstream ok") {
		t.Errorf("the upstream did not answer\n%s", r)
	}
	_, headers := e.requests()
	if len(headers) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(headers))
	}
	if got := headers[0].Get("Authorization"); got != "Bearer "+real {
		t.Errorf("upstream got Authorization %q, want the real value", got)
	}
}

// A command killed at its memory limit exits 137, with a hint to raise
// resource_limits.memory.
func TestRunOutOfMemory(t *testing.T) {
	e := newEnv(t, map[string]string{".airut/sandbox.yaml": "resource_limits: {memory: 64m}\n"}).withUpstream()
	r := e.run("run", "", "--", "sh", "-c", "head -c 400000000 /dev/zero | tail -n 1 >/dev/null")
	if r.code != 137 {
		t.Fatalf("want exit 137\n%s", r)
	}
	if !strings.Contains(r.stderr, "out of memory") || !strings.Contains(r.stderr, "raise resource_limits.memory") {
		t.Errorf("stderr lacks the out-of-memory hint\n%s", r)
	}
}

// SIGTERM stops the run: the container is killed and removed, the
// network and proxy too, and airut-sandbox exits 143.
func TestRunStoppedBySignal(t *testing.T) {
	e := newEnv(t, nil).withUpstream()
	cmd := e.command(t.Context(), "run", "--verbose", "--", "sleep", "300")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(stderr)
	started := lines.waitFor(t, `msg="sandbox started"`, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // the container is being started
	begun := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	<-lines.done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("want exit 143 after SIGTERM, got %v\n%s", err, lines)
	}
	t.Logf("stopped %s after SIGTERM", time.Since(begun).Round(time.Millisecond))
	if !strings.Contains(lines.String(), "stopped by SIGTERM") {
		t.Errorf("stderr should say it was stopped\n%s", lines)
	}
	assertGone(t, startedContainer(t, started))
}

// Settings that cannot work stop the run with exit 125 and say what to
// fix: an unset !env variable, an unknown key, a bad --mount, a missing
// airut-proxy.
func TestRunBadSettings(t *testing.T) {
	e := newEnv(t, map[string]string{".airut/sandbox.yaml": `masked_secrets:
  API_TOKEN:
    value: !env CLI_TEST_SURELY_UNSET
    scopes: [api.cli.test]
`})
	os.Unsetenv("CLI_TEST_SURELY_UNSET")
	r := e.run("run", "", "--", "echo", "must not run")
	if r.code != 125 || !strings.Contains(r.stderr, "masked_secrets.API_TOKEN.value") || !strings.Contains(r.stderr, "CLI_TEST_SURELY_UNSET") {
		t.Errorf("unset !env: want exit 125 naming the key and the variable\n%s", r)
	}
	if strings.Contains(r.stdout, "must not run") {
		t.Errorf("the command ran\n%s", r)
	}

	os.WriteFile(filepath.Join(e.dir, ".airut/sandbox.yaml"), []byte("env: {A: b}\nnetwork_sanbox: false\n"), 0o644)
	r = e.run("run", "", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, `.airut/sandbox.yaml:2: network_sanbox: unknown key (did you mean "network_sandbox"?)`) {
		t.Errorf("unknown key: want exit 125 naming it\n%s", r)
	}
	os.Remove(filepath.Join(e.dir, ".airut/sandbox.yaml"))

	for spec, want := range map[string]string{
		"nocolon":               `--mount "nocolon": want SRC:DST or SRC:DST:ro`,
		"/does/not/exist:/data": "the host path /does/not/exist does not exist",
		".:relative":            "the container path relative must be absolute",
		".:/data:rx":            `unknown option "rx" (want ro or rw)`,
		".:/workspace":          "/workspace is taken",
		filepath.Join(e.dir, ".airut") + ":/cfg:ro:extra": "want SRC:DST or SRC:DST:ro",
	} {
		r := e.run("run", "", "--mount", spec, "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, want) {
			t.Errorf("--mount %s: want exit 125 and %q\n%s", spec, want, r)
		}
	}

	// airut-sandbox alone, without airut-proxy beside it or on PATH.
	lone := filepath.Join(t.TempDir(), "airut-sandbox")
	data, err := os.ReadFile(filepath.Join(binDir, "airut-sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lone, "run", "--podman-url="+podmanURI, "--state-dir="+stateDir, "--", "true")
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), "airut-proxy") || !strings.Contains(string(out), "--proxy-binary") {
		t.Errorf("no airut-proxy: want exit 125 saying where it was looked for and --proxy-binary, got %v\n%s", err, out)
	}
}
