package e2e_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

const commitPrompt = "Please record your visit.\nRUN: git -c user.name=agent -c user.email=agent@example.com commit --allow-empty -m from-agent\nREPLY: committed the visit"

// The walking skeleton, end to end: `airut send --wait` starts a
// conversation on the embedded Temporal server, the real Claude Code CLI
// runs in a Podman container and really commits in the workspace, the reply
// is printed; a second send resumes the same Claude session.
func TestSendRunsAgentInContainerAndResumesSession(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t)})
	s.start("run")

	out, errOut, err := s.airut(5*time.Minute, "send", "--wait", commitPrompt)
	if err != nil {
		t.Fatalf("send: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if replyText(out) != "committed the visit" {
		t.Fatalf("reply = %q, want the agent's final text", out)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
	if !strings.Contains(errOut, "task ") || !strings.Contains(errOut, "success") {
		t.Errorf("stderr lacks the task summary line:\n%s", errOut)
	}
	l := s.layout(conv)
	if log := gitRun(t, l.Workspace(), "log", "--format=%s"); !strings.Contains(log, "from-agent") {
		t.Errorf("workspace git log = %q, want the agent's commit", log)
	}
	events, err := os.ReadFile(l.Events())
	if err != nil || !strings.Contains(string(events), `"type":"result"`) || !strings.Contains(string(events), `"name":"Bash"`) {
		t.Errorf("events.jsonl lacks the stream-json of the run (%v):\n%.500s", err, events)
	}
	acks := s.replies(conv, "ack")
	if len(acks) != 1 || acks[0].Text != workflows.AckText {
		t.Errorf("acks = %+v, want one acknowledgement", acks)
	}
	first := s.status(conv)
	if first.SessionID == "" || first.Model != "claude-sonnet-4-5" || len(first.Tasks) != 1 || first.Tasks[0].CostUSD <= 0 {
		t.Fatalf("status after first task = %+v", first)
	}
	for _, r := range api.Requests() {
		if r.APIKey != "sk-test-key" {
			t.Errorf("API request with key %q, want the configured key", r.APIKey)
		}
	}

	// The follow-up resumes the session: same session ID, and the model
	// receives the first turn.
	before := len(api.Requests())
	out2, errOut2, err := s.airut(5*time.Minute, "send", "--wait", "--conversation", conv, "What did I ask before?\nRECALL")
	if err != nil {
		t.Fatalf("second send: %v\n%s\n%s", err, out2, errOut2)
	}
	if !strings.HasPrefix(strings.TrimSpace(out2), "I remember:") {
		t.Errorf("second reply = %q", out2)
	}
	second := s.status(conv)
	if len(second.Tasks) != 2 || second.Tasks[1].SessionID != first.SessionID || second.Tasks[1].Outcome != workflows.OutcomeSuccess {
		t.Fatalf("second task = %+v, want success in session %s", second.Tasks, first.SessionID)
	}
	sawFirstTurn := false
	for _, r := range api.Requests()[before:] {
		for _, m := range r.Messages {
			if strings.Contains(m.Text(), "from-agent") {
				sawFirstTurn = true
			}
		}
	}
	if !sawFirstTurn {
		t.Errorf("the resumed session did not send the first turn to the model")
	}
	if n := len(s.replies(conv, "ack")); n != 1 {
		t.Errorf("acks = %d after a follow-up, want still 1", n)
	}
	if n := len(s.replies(conv, "reply")); n != 2 {
		t.Errorf("replies = %d, want 2", n)
	}

	s.recordHistory(conv, "two-tasks-resumed")

	// status without an ID lists the open conversation.
	// Listing filters on the AirutRepo search attribute, as the Web UI can.
	list := s.mustAirut(30*time.Second, "status", "--repo", "demo")
	if !strings.Contains(list, conv) || !strings.Contains(list, "idle") || !strings.Contains(list, "local") {
		t.Errorf("status list:\n%s", list)
	}
	if other := s.mustAirut(30*time.Second, "status", "--repo", "other"); !strings.Contains(other, "no open conversations") {
		t.Errorf("status --repo other:\n%s", other)
	}
}

// A broken config names the file, line and key, and nothing starts.
func TestBrokenConfigStartsNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "airut.yaml")
	os.WriteFile(cfg, []byte("config_version: 5\nrepos:\n  demo:\n    repo_url: /x\n    modle: opus\n"), 0o600)
	s := &site{t: t, dir: dir, config: cfg}
	out, errOut, err := s.airut(30*time.Second, "run")
	if err == nil {
		t.Fatalf("run with a broken config succeeded:\n%s%s", out, errOut)
	}
	want := cfg + `:5: repos.demo.modle: unknown key (did you mean "model"?)`
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing started") {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("a state dir was created for a config that does not load")
	}
}

// With no server running, the CLI says so and how to start one.
func TestUnreachableTemporalIsExplained(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t)})
	_, errOut, err := s.airut(30*time.Second, "send", "hello")
	if err == nil {
		t.Fatal("send without a server succeeded")
	}
	if !strings.Contains(errOut, "temporal service unreachable") || !strings.Contains(errOut, "airut run") {
		t.Errorf("stderr = %q", errOut)
	}
}

// airut stop kills the running agent and tells the user; the conversation
// is "stopped", and airut retry runs the stopped task again.
func TestStopThenRetryFromTheCommandLine(t *testing.T) {
	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), heartbeat: 4})
	s.start("run")
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Wait for the flag.\nRUN: test -f /workspace/flag || sleep 120\nREPLY: flag seen"))
	s.waitForCall(conv, "sleep 120")
	if out, _, _ := s.airut(30*time.Second, "retry", conv); strings.Contains(out, "retrying") {
		t.Errorf("retry accepted while a task runs: %s", out)
	}
	began := time.Now()
	out := s.mustAirut(time.Minute, "stop", conv)
	if !strings.Contains(out, "stopped task") {
		t.Fatalf("stop said %q", out)
	}
	eventually(t, 30*time.Second, "the stopped reply", func() bool { return len(s.replies(conv, "error")) == 1 })
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("stop took %v to reach the user", took)
	}
	if r := s.replies(conv, "error")[0]; r.Text != workflows.StoppedText(conv) {
		t.Errorf("stop reply = %q", r.Text)
	}
	st := s.status(conv)
	if st.State != workflows.StateStopped || !st.CanRetry || st.Tasks[0].Outcome != workflows.OutcomeCancelled {
		t.Errorf("status after stop = %+v", st)
	}
	if left := leftovers(t, conv); len(left) > 0 {
		t.Errorf("container still there after stop: %s", left)
	}

	os.WriteFile(filepath.Join(s.layout(conv).Workspace(), "flag"), nil, 0o644)
	if out := s.mustAirut(time.Minute, "retry", conv); !strings.Contains(out, "retrying") {
		t.Fatalf("retry said %q", out)
	}
	eventually(t, 2*time.Minute, "the retried task's reply", func() bool { return len(s.replies(conv, "reply")) == 1 })
	if r := s.replies(conv, "reply")[0]; r.Text != "flag seen" {
		t.Errorf("retried reply = %q", r.Text)
	}
	s.recordHistory(conv, "stop-retry")
}

// The agent image comes from .airut/container/Dockerfile on the default
// branch; a Dockerfile that does not build reaches the user with the build
// log's tail.
func TestRepoDockerfileIsBuiltAndItsFailureReported(t *testing.T) {
	up := upstream(t)
	dir := filepath.Join(up, ".airut", "container")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testImage+"\nCOPY marker.txt /etc/airut-marker\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "marker.txt"), []byte("built-from-main-"+filepath.Base(t.TempDir())+"\n"), 0o644)
	gitRun(t, up, "add", ".")
	gitRun(t, up, "commit", "-qm", "agent image")
	marker, _ := os.ReadFile(filepath.Join(dir, "marker.txt"))

	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: up})
	s.start("run")
	out, errOut, err := s.airut(5*time.Minute, "send", "--wait", "Show the marker.\nRUN: cat /etc/airut-marker")
	if err != nil {
		t.Fatalf("send: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(out, strings.TrimSpace(string(marker))) {
		t.Fatalf("reply = %q, want the marker baked into the repo's image", out)
	}
	conv := strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]

	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testImage+"\nRUN echo about to fail && exit 7\n"), 0o644)
	gitRun(t, up, "commit", "-qam", "broken image")
	out, _, err = s.airut(5*time.Minute, "send", "--wait", "--conversation", conv, "Again.\nREPLY: unreachable")
	if err == nil {
		t.Fatalf("send succeeded with a broken Dockerfile: %s", out)
	}
	if !strings.Contains(out, "image build failed") || !strings.Contains(out, "about to fail") || !strings.Contains(out, "To retry") {
		t.Errorf("reply = %q, want the build failure with the log tail", out)
	}
	if st := s.status(conv); st.Tasks[1].Outcome != workflows.OutcomeInternalError || !st.CanRetry {
		t.Errorf("status = %+v", st.Tasks[1])
	}
}

// An image older than execution.image_max_age_hours is rebuilt without
// the layer cache before the next task (0: before every task), and the
// worker prunes Airut's images older than that.
func TestStaleRepoImageIsRebuilt(t *testing.T) {
	up := upstream(t)
	dir := filepath.Join(up, ".airut", "container")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testImage+"\nRUN echo "+filepath.Base(t.TempDir())+" && date +%s%N > /etc/built-at\n"), 0o644)
	gitRun(t, up, "add", ".")
	gitRun(t, up, "commit", "-qm", "agent image")

	// Image GC at worker start: with a maximum age of 0 every image under
	// Airut's repositories goes, and nothing else.
	suffix := filepath.Base(t.TempDir())
	ours, theirs := "localhost/airut-overlay:gc-"+suffix, "localhost/not-airut:gc-"+suffix
	for _, tag := range []string{ours, theirs} {
		if out, err := exec.Command("podman", "--url", podmanSocket, "tag", testImage, tag).CombinedOutput(); err != nil {
			t.Fatalf("podman tag: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() { exec.Command("podman", "--url", podmanSocket, "rmi", ours, theirs).Run() })

	api := anthropictest.NewServer(t)
	zero := 0
	s := newSite(t, api, siteOptions{repoURL: up, imageMaxAge: &zero})
	p := s.start("run")
	eventually(t, time.Minute, "the stale image to be pruned", func() bool {
		return strings.Contains(p.logs.String(), ours)
	})
	exists := func(tag string) bool {
		return exec.Command("podman", "--url", podmanSocket, "image", "exists", tag).Run() == nil
	}
	if exists(ours) || !exists(theirs) {
		t.Errorf("after the prune: %s exists=%v (want gone), %s exists=%v (want kept)", ours, exists(ours), theirs, exists(theirs))
	}
	var built []string
	conv := ""
	for i := 0; i < 2; i++ {
		args := []string{"send", "--wait"}
		if conv != "" {
			args = append(args, "--conversation", conv)
		}
		out, errOut, err := s.airut(5*time.Minute, append(args, "When was the image built?\nRUN: cat /etc/built-at")...)
		if err != nil {
			t.Fatalf("send: %v\n%s\n%s", err, out, errOut)
		}
		conv = strings.Fields(strings.TrimPrefix(errOut, "conversation "))[0]
		built = append(built, replyText(out))
	}
	if built[0] == "" || built[0] == built[1] {
		t.Errorf("build stamps %q, want two different builds", built)
	}
}

// With no claude_binary and no claude on PATH, the worker downloads
// claude_version from the release host, verifies its checksum, caches it
// and runs it.
func TestAgentBinaryIsDownloadedWhenNotOnPath(t *testing.T) {
	bin, err := os.ReadFile(fakeClaude)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	var downloads atomic.Int32
	rel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest":
			io.WriteString(w, "9.9.9\n")
		case "/9.9.9/manifest.json":
			fmt.Fprintf(w, `{"version":"9.9.9","platforms":{"linux-x64":{"checksum":"%x","size":%d}}}`, sum, len(bin))
		case "/9.9.9/linux-x64/claude":
			downloads.Add(1)
			w.Write(bin)
		default:
			http.NotFound(w, r)
		}
	}))
	defer rel.Close()
	pathDir := t.TempDir()
	os.Symlink("/usr/bin/git", filepath.Join(pathDir, "git"))

	api := anthropictest.NewServer(t)
	s := newSite(t, api, siteOptions{repoURL: upstream(t), downloadURL: rel.URL})
	s.path = pathDir
	s.start("run")
	for i := 0; i < 2; i++ {
		out, errOut, err := s.airut(5*time.Minute, "send", "--wait", "hello")
		if err != nil || replyText(out) != "ok" {
			t.Fatalf("send %d: %v %q\n%s", i, err, out, errOut)
		}
	}
	if n := downloads.Load(); n != 1 {
		t.Errorf("binary downloaded %d times, want once (then cached)", n)
	}
	cached, err := os.ReadFile(filepath.Join(s.stateDir, "claude-binaries", "9.9.9", "claude"))
	if err != nil || sha256.Sum256(cached) != sum {
		t.Errorf("cache does not hold the verified binary: %v", err)
	}
}

// airut init writes a commented example once; airut check names what is
// missing, with a fix, and fails until it is there.
func TestInitAndCheck(t *testing.T) {
	dir := t.TempDir()
	s := &site{t: t, dir: dir, config: filepath.Join(dir, "cfg", "airut.yaml")}
	out := s.mustAirut(30*time.Second, "init")
	if !strings.Contains(out, "wrote "+s.config) {
		t.Fatalf("init said %q", out)
	}
	if out := s.mustAirut(30*time.Second, "init"); !strings.Contains(out, "already exists") {
		t.Errorf("second init said %q", out)
	}
	os.Unsetenv("ANTHROPIC_API_KEY")
	out, _, err := s.airut(time.Minute, "check")
	if err == nil {
		t.Fatalf("check passed with the example's placeholder repo and no API key:\n%s", out)
	}
	for _, want := range []string{
		"ok    config", "FAIL  environment            repos.my-project.masked_secrets.ANTHROPIC_API_KEY.value: $ANTHROPIC_API_KEY is not set",
		"fix: export ANTHROPIC_API_KEY", "ok    git", "FAIL  repo my-project",
		// the sandbox is ready (the harness built airut-proxy next to airut)
		"ok    repo my-project sandbox proxy " + filepath.Join(filepath.Dir(airutBin), "airut-proxy"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}
